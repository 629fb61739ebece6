/* Rate-limit reset values into a retry delay: the RFC 3339 parser (Anthropic's reset instants),
 * the "latest exhausted reset" list parser, and each adapter's map_error using them when
 * Retry-After is absent. Exact millisecond values against a fixed "now". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "providers/common.h"
#include "providers/provider.h"

extern const lx_provider lx_provider_openai;
extern const lx_provider lx_provider_anthropic;
extern const lx_provider lx_provider_gemini;

/* 2026-01-01T00:00:00Z in Unix milliseconds. */
#define NEW_YEAR_2026 1767225600000LL

static void test_rfc3339_exact(void **state) {
    (void)state;
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T00:00:15Z", NEW_YEAR_2026), 15000);
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T00:00:00Z", NEW_YEAR_2026), 0);
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T00:00:15Z", NEW_YEAR_2026 + 14500), 500);
    /* In the past: no wait. */
    assert_int_equal(lx_parse_rfc3339_ms("2025-12-31T23:59:59Z", NEW_YEAR_2026), 0);
    /* Lower-case separators, a space separator, surrounding blanks. */
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01t00:01:00z", NEW_YEAR_2026), 60000);
    assert_int_equal(lx_parse_rfc3339_ms(" 2026-01-01 00:00:02Z ", NEW_YEAR_2026), 2000);
    /* Offsets: 01:00:15+01:00 is 00:00:15Z; 23:00:30-01:00 the day before is 00:00:30Z. */
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T01:00:15+01:00", NEW_YEAR_2026), 15000);
    assert_int_equal(lx_parse_rfc3339_ms("2025-12-31T23:00:30-01:00", NEW_YEAR_2026), 30000);
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T05:30:01+05:30", NEW_YEAR_2026), 1000);
    /* Fractions: milliseconds kept, anything finer rounded up. */
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T00:00:01.25Z", NEW_YEAR_2026), 1250);
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T00:00:01.123Z", NEW_YEAR_2026), 1123);
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T00:00:01.123000Z", NEW_YEAR_2026), 1123);
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T00:00:01.1230001Z", NEW_YEAR_2026), 1124);
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T00:00:00.5Z", NEW_YEAR_2026), 500);
    /* Calendar: a leap day, and the end of a year. */
    assert_int_equal(lx_parse_rfc3339_ms("2028-02-29T00:00:00Z", NEW_YEAR_2026), (int64_t)789 * 86400 * 1000);
    assert_int_equal(lx_parse_rfc3339_ms("2026-12-31T23:59:59Z", NEW_YEAR_2026), (int64_t)(365 * 86400 - 1) * 1000);
    /* A leap second is accepted (as the next second). */
    assert_int_equal(lx_parse_rfc3339_ms("2026-01-01T00:00:60Z", NEW_YEAR_2026), 60000);
}

static void test_rfc3339_malformed(void **state) {
    (void)state;
    static const char *const bad[] = {
        NULL, "", "   ", "2026-01-01", "2026-01-01T00:00:15", /* no offset */
        "2026-01-01T00:00:15+01", "2026-01-01T00:00:15+0100", "2026-01-01T00:00Z", "2026-1-01T00:00:15Z",
        "26-01-01T00:00:15Z", "2026-13-01T00:00:15Z", "2026-00-01T00:00:15Z", "2026-02-30T00:00:15Z",
        "2027-02-29T00:00:15Z", "2026-04-31T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:61Z", "2026-01-01T00:00:15.Z", "2026-01-01T00:00:15ZZ", "2026-01-01T00:00:15Z x",
        "2026-01-01X00:00:15Z", "2026-01-01T00:00:15+24:00", "2026-01-01T00:00:15+01:60", "1969-12-31T23:59:59Z",
        "Wed, 21 Oct 2015 07:28:00 GMT", "6m0s", "15", "2026-01-01T00:00:1Z", "\xff\xfe",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (lx_parse_rfc3339_ms(bad[i], NEW_YEAR_2026) != -1) fprintf(stderr, "accepted: %s\n", bad[i]);
        assert_int_equal(lx_parse_rfc3339_ms(bad[i], NEW_YEAR_2026), -1);
    }
}

static void test_reset_list_latest(void **state) {
    (void)state;
    /* OpenAI-style durations: the latest wins. */
    assert_int_equal(lx_parse_ratelimit_reset("6m0s", NEW_YEAR_2026), 360000);
    assert_int_equal(lx_parse_ratelimit_reset("1s, 6m0s", NEW_YEAR_2026), 360000);
    assert_int_equal(lx_parse_ratelimit_reset("6m0s, 1s", NEW_YEAR_2026), 360000);
    assert_int_equal(lx_parse_ratelimit_reset("12ms,1.5s", NEW_YEAR_2026), 1500);
    /* Anthropic-style instants. */
    assert_int_equal(lx_parse_ratelimit_reset("2026-01-01T00:00:15Z", NEW_YEAR_2026), 15000);
    assert_int_equal(lx_parse_ratelimit_reset("2026-01-01T00:00:15Z, 2026-01-01T00:00:40Z, 2026-01-01T00:00:01Z",
                                              NEW_YEAR_2026),
                     40000);
    /* Malformed items are skipped; none valid = -1. */
    assert_int_equal(lx_parse_ratelimit_reset("soon, 2s", NEW_YEAR_2026), 2000);
    assert_int_equal(lx_parse_ratelimit_reset("2s, , 2026-99-01T00:00:00Z", NEW_YEAR_2026), 2000);
    assert_int_equal(lx_parse_ratelimit_reset("soon", NEW_YEAR_2026), -1);
    assert_int_equal(lx_parse_ratelimit_reset("", NEW_YEAR_2026), -1);
    assert_int_equal(lx_parse_ratelimit_reset(",,,", NEW_YEAR_2026), -1);
    assert_int_equal(lx_parse_ratelimit_reset(NULL, NEW_YEAR_2026), -1);
    /* An instant in the past is a valid zero wait. */
    assert_int_equal(lx_parse_ratelimit_reset("2025-01-01T00:00:00Z", NEW_YEAR_2026), 0);
    /* Only the first 16 items are read. */
    char many[512] = "";
    for (int i = 0; i < 16; i++) strcat(many, "1s,");
    strcat(many, "9s");
    assert_int_equal(lx_parse_ratelimit_reset(many, NEW_YEAR_2026), 1000);
}

/* The hint reaches err->retry_after_ms through each adapter's map_error. */
static void map(const lx_provider *p, const char *body, const char *hint, llmux_error_info *err) {
    lx_error_clear(err);
    p->map_error(429, body, strlen(body), hint, err);
    assert_int_equal(err->status, LLMUX_E_RATE_LIMITED);
}

static void test_map_error_uses_reset(void **state) {
    (void)state;
    llmux_error_info err;
    const char *oai = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}";
    map(&lx_provider_openai, oai, "1s, 6m0s", &err);
    assert_int_equal(err.retry_after_ms, 360000);
    map(&lx_provider_openai, "<html>busy</html>", "250ms", &err);
    assert_int_equal(err.retry_after_ms, 250);
    /* Retry-After still wins when the runtime passes it. */
    map(&lx_provider_openai, oai, "3", &err);
    assert_int_equal(err.retry_after_ms, 3000);

    const char *ant = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}";
    int64_t now = lx_now_unix_ms();
    /* A reset 20 s ahead (whole seconds, like Anthropic's headers). */
    int64_t at_s = now / 1000 + 20;
    int64_t days = at_s / 86400, rem = at_s % 86400;
    /* Civil date from days since the epoch (inverse of days_from_civil). */
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    char stamp[64];
    snprintf(stamp, sizeof stamp, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y, (long long)m,
             (long long)d, (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60));
    map(&lx_provider_anthropic, ant, stamp, &err);
    int64_t want = at_s * 1000 - now;
    assert_true(err.retry_after_ms <= want && err.retry_after_ms >= want - 1000);
    assert_true(err.retry_after_ms > 18000);
    map(&lx_provider_anthropic, ant, "2020-01-01T00:00:00Z", &err);
    assert_int_equal(err.retry_after_ms, 0);
    map(&lx_provider_anthropic, ant, "garbage", &err);
    assert_int_equal(err.retry_after_ms, -1);
    map(&lx_provider_anthropic, ant, NULL, &err);
    assert_int_equal(err.retry_after_ms, -1);

    const char *gem = "{\"error\":{\"code\":429,\"message\":\"Resource exhausted\",\"status\":\"RESOURCE_EXHAUSTED\"}}";
    map(&lx_provider_gemini, gem, "45s", &err);
    assert_int_equal(err.retry_after_ms, 45000);
    map(&lx_provider_gemini, gem, NULL, &err);
    assert_int_equal(err.retry_after_ms, -1);

    const char *oll = "{\"error\":\"too many requests\"}";
    map(&lx_provider_ollama, oll, "2s, 1m30s", &err);
    assert_int_equal(err.retry_after_ms, 90000);
    map(&lx_provider_ollama, oll, "7", &err);
    assert_int_equal(err.retry_after_ms, 7000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_exact),
        cmocka_unit_test(test_rfc3339_malformed),
        cmocka_unit_test(test_reset_list_latest),
        cmocka_unit_test(test_map_error_uses_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
