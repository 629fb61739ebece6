/* Calendar arithmetic (core/civil.h): known dates (the epoch, leap days, century rules, before
 * 1970) and a round trip over every day from 1900 to 2200 against a day-by-day walk of the
 * calendar. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/civil.h"

static void test_known_dates(void **state) {
    (void)state;
    assert_int_equal(lx_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(lx_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(lx_days_from_civil(2000, 3, 1), 11017);   /* 2000 is a leap year (÷400) */
    assert_int_equal(lx_days_from_civil(2000, 2, 29), 11016);
    assert_int_equal(lx_days_from_civil(2100, 3, 1) - lx_days_from_civil(2100, 2, 28), 1); /* 2100 is not */
    assert_int_equal(lx_days_from_civil(2026, 12, 2), 20789);
    int64_t y, m;
    lx_civil_from_days(20789, &y, &m);
    assert_int_equal(y, 2026);
    assert_int_equal(m, 12);
    lx_civil_from_days(-1, &y, &m);
    assert_int_equal(y, 1969);
    assert_int_equal(m, 12);
}

static int days_in(int64_t y, int64_t m) {
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

static void test_every_day_1900_to_2200(void **state) {
    (void)state;
    int64_t day = lx_days_from_civil(1900, 1, 1);
    for (int64_t y = 1900; y < 2200; y++)
        for (int64_t m = 1; m <= 12; m++)
            for (int64_t d = 1; d <= days_in(y, m); d++, day++) {
                if (lx_days_from_civil(y, m, d) != day) fail_msg("%lld-%lld-%lld", (long long)y, (long long)m, (long long)d);
                int64_t yy, mm;
                lx_civil_from_days(day, &yy, &mm);
                if (yy != y || mm != m) fail_msg("day %lld", (long long)day);
            }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_dates),
        cmocka_unit_test(test_every_day_1900_to_2200),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
