/* lx_make_id: the shape of an id, uniqueness, and the time order the records' indexes rely on. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"

static void check_shape(const char *id, const char *prefix) {
    size_t p = strlen(prefix);
    assert_int_equal(strncmp(id, prefix, p), 0);
    assert_int_equal(strlen(id), p + 24);
    for (size_t i = p; id[i]; i++) assert_non_null(strchr("0123456789abcdef", id[i]));
}

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

static void test_shape_and_unique(void **state) {
    (void)state;
    enum { N = 20000 };
    char(*ids)[40] = malloc(N * sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        lx_make_id(ids[i], sizeof ids[i], "exec_");
        check_shape(ids[i], "exec_");
    }
    qsort(ids, N, sizeof *ids, cmp);
    for (int i = 1; i < N; i++) assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static void test_time_ordered(void **state) {
    (void)state;
    char a[40], b[40];
    lx_make_id(a, sizeof a, "exec_");
    struct timespec ts = {0, 3 * 1000 * 1000};
    nanosleep(&ts, NULL);
    lx_make_id(b, sizeof b, "exec_");
    assert_true(strcmp(a, b) < 0);
    /* The leading digits are the wall clock's milliseconds. */
    int64_t now = lx_wall_ms();
    char ms[12];
    memcpy(ms, b + 5, 11);
    ms[11] = '\0';
    int64_t t = (int64_t)strtoll(ms, NULL, 16);
    assert_true(t <= now && now - t < 5000);
}

static void test_truncated(void **state) {
    (void)state;
    char small[8];
    lx_make_id(small, sizeof small, "exec_");
    assert_int_equal(strlen(small), 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_and_unique),
        cmocka_unit_test(test_time_ordered),
        cmocka_unit_test(test_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
