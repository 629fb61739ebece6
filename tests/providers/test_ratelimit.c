/* Rate-limit reset values into a retry delay: the RFC 3339 parser (Anthropic's reset instants),
 * the header lines into the resets of the exhausted limits, the "latest exhausted reset" list
 * parser, the hint lx_provider_map_response hands map_error, and each adapter's map_error using
 * it when Retry-After is absent. Exact millisecond values against a fixed "now". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "providers/dates.h"
#include "providers/errors.h"
#include "providers/provider.h"
#include "providers/ratelimit.h"

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

/* The resets lx_ratelimit_exhausted_resets finds in a header block (as the transport keeps it). */
static const char *resets(const char *headers, size_t len, size_t size) {
    static char out[LX_RATELIMIT_LIST_MAX];
    assert_true(size <= sizeof out);
    memset(out, 'X', sizeof out);
    lx_ratelimit_exhausted_resets(headers, len, out, size);
    assert_true(strlen(out) < size);
    return out;
}
#define RESETS(h) resets((h), strlen(h), LX_RATELIMIT_LIST_MAX)

static void test_exhausted_resets(void **state) {
    (void)state;
    /* Both families, names in any case, arrival order of the limits; -limit lines ignored. */
    assert_string_equal(RESETS("x-ratelimit-limit-tokens: 150000\nx-ratelimit-remaining-tokens: 0\n"
                               "x-ratelimit-reset-tokens: 6m0s\n"),
                        "6m0s");
    assert_string_equal(RESETS("X-RateLimit-Reset-Requests: 1s\nX-RateLimit-Remaining-Requests: 0\n"
                               "X-RATELIMIT-REMAINING-TOKENS: 0\nx-ratelimit-reset-tokens: 6m0s\n"),
                        "1s, 6m0s");
    assert_string_equal(RESETS("anthropic-ratelimit-tokens-limit: 10\nanthropic-ratelimit-tokens-remaining: 0\n"
                               "anthropic-ratelimit-tokens-reset: 2026-01-01T00:00:20Z\n"),
                        "2026-01-01T00:00:20Z");
    /* Raw header lines work too: CRLF, no blank after the colon, blanks around the value, no final
     * line break, lines that are not headers. */
    assert_string_equal(RESETS("x-ratelimit-remaining-a:0\r\nx-ratelimit-reset-a:\t 2s \r\n\r\nnot a header\n"
                               ": 0\nx-ratelimit-remaining-b: 0\nx-ratelimit-reset-b: 3s"),
                        "2s, 3s");
    /* Not exhausted: requests left, an unparsable count, a count with trailing bytes, no count. */
    assert_string_equal(RESETS("x-ratelimit-remaining-a: 1\nx-ratelimit-reset-a: 2s\n"
                               "x-ratelimit-remaining-b: none\nx-ratelimit-reset-b: 2s\n"
                               "x-ratelimit-remaining-c: 0 left\nx-ratelimit-reset-c: 2s\n"
                               "x-ratelimit-reset-d: 2s\n"),
                        "");
    /* Exhausted without a reset, or with one holding a comma: nothing to add. */
    assert_string_equal(RESETS("x-ratelimit-remaining-a: 0\nx-ratelimit-remaining-b: 0\nx-ratelimit-reset-b: 1s,2s\n"),
                        "");
    /* A reset of LX_RATELIMIT_RESET_MAX bytes or more is left out whole; one just below is kept. */
    char h[512], v[LX_RATELIMIT_RESET_MAX + 1];
    memset(v, '1', sizeof v);
    v[LX_RATELIMIT_RESET_MAX - 2] = 's';
    v[LX_RATELIMIT_RESET_MAX - 1] = '\0';
    snprintf(h, sizeof h, "x-ratelimit-remaining-a: 0\nx-ratelimit-reset-a: %s\n", v);
    assert_string_equal(RESETS(h), v);
    v[LX_RATELIMIT_RESET_MAX - 2] = '1';
    v[LX_RATELIMIT_RESET_MAX - 1] = 's';
    v[LX_RATELIMIT_RESET_MAX] = '\0';
    snprintf(h, sizeof h, "x-ratelimit-remaining-a: 0\nx-ratelimit-reset-a: %s\n", v);
    assert_string_equal(RESETS(h), "");
    /* A limit name of LX_RATELIMIT_KEY_MAX bytes or more is ignored. */
    char key[LX_RATELIMIT_KEY_MAX + 1];
    memset(key, 'k', sizeof key - 1);
    key[LX_RATELIMIT_KEY_MAX] = '\0';
    snprintf(h, sizeof h, "x-ratelimit-remaining-%s: 0\nx-ratelimit-reset-%s: 1s\n", key, key);
    assert_string_equal(RESETS(h), "");
    key[LX_RATELIMIT_KEY_MAX - 1] = '\0';
    snprintf(h, sizeof h, "x-ratelimit-remaining-%s: 0\nx-ratelimit-reset-%s: 1s\n", key, key);
    assert_string_equal(RESETS(h), "1s");
    /* At most LX_RATELIMIT_MAX_LIMITS limits: later ones are ignored, known ones still update. */
    char many[2048] = "", want[256] = "";
    for (int i = 0; i < 12; i++) {
        char line[128];
        snprintf(line, sizeof line, "x-ratelimit-reset-k%d: %ds\nx-ratelimit-remaining-k%d: 0\n", i, 10 + i, i);
        strcat(many, line);
        if (i < LX_RATELIMIT_MAX_LIMITS) {
            snprintf(line, sizeof line, "%s%ds", i ? ", " : "", 10 + i);
            strcat(want, line);
        }
    }
    assert_string_equal(RESETS(many), want);
    /* Only len bytes are read (the block need not be NUL-terminated there). */
    const char *two = "x-ratelimit-remaining-a: 0\nx-ratelimit-reset-a: 2s\nx-ratelimit-reset-a: 9s\n";
    assert_string_equal(resets(two, strlen(two) - strlen("x-ratelimit-reset-a: 9s\n"), LX_RATELIMIT_LIST_MAX), "2s");
    /* The same key again: the later value wins. */
    assert_string_equal(RESETS(two), "9s");
    /* Values that do not fit in out are left out whole. */
    const char *three = "x-ratelimit-remaining-a: 0\nx-ratelimit-reset-a: 10s\n"
                        "x-ratelimit-remaining-b: 0\nx-ratelimit-reset-b: 200s\n"
                        "x-ratelimit-remaining-c: 0\nx-ratelimit-reset-c: 3s\n";
    assert_string_equal(resets(three, strlen(three), 9), "10s, 3s");
    assert_string_equal(resets(three, strlen(three), 10), "10s, 200s");
    assert_string_equal(resets(three, strlen(three), 1), "");
    /* NULL or empty: nothing. */
    assert_string_equal(resets(NULL, 0, 8), "");
    assert_string_equal(resets("", 0, 8), "");
}

/* A response as the transport leaves it: Retry-After and kept header lines. */
static lx_http_response response(int status, const char *retry_after, const char *kept) {
    lx_http_response r;
    memset(&r, 0, sizeof r);
    r.status = status;
    snprintf(r.retry_after, sizeof r.retry_after, "%s", retry_after ? retry_after : "");
    lx_buf_init(&r.kept_headers, 4096);
    if (kept) assert_true(lx_buf_append_str(&r.kept_headers, kept));
    return r;
}

static void test_retry_hint(void **state) {
    (void)state;
    char buf[LX_RATELIMIT_LIST_MAX];
    static const char exhausted[] = "x-ratelimit-remaining-tokens: 0\nx-ratelimit-reset-tokens: 6m0s\n";
    lx_http_response r = response(429, NULL, exhausted);
    assert_string_equal(lx_ratelimit_retry_hint(&r, buf, sizeof buf), "6m0s");
    lx_buf_free(&r.kept_headers);
    /* Retry-After wins over the resets. */
    r = response(429, "15", exhausted);
    assert_string_equal(lx_ratelimit_retry_hint(&r, buf, sizeof buf), "15");
    lx_buf_free(&r.kept_headers);
    /* Nothing exhausted, nothing kept. */
    r = response(429, NULL, "x-ratelimit-remaining-tokens: 5\nx-ratelimit-reset-tokens: 6m0s\n");
    assert_null(lx_ratelimit_retry_hint(&r, buf, sizeof buf));
    lx_buf_free(&r.kept_headers);
    r = response(429, NULL, NULL);
    assert_null(lx_ratelimit_retry_hint(&r, buf, sizeof buf));
    assert_null(lx_ratelimit_retry_hint(NULL, buf, sizeof buf));
    assert_null(lx_ratelimit_retry_hint(&r, NULL, 0));
}

/* lx_provider_map_response hands map_error the hint from the kept headers. */
static void test_map_response_reads_kept_headers(void **state) {
    (void)state;
    const char *body = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}";
    lx_provider_config cfg = {.name = "openai", .base_url = "http://127.0.0.1:1", .model = "gpt-4o-mini"};
    lx_http_response r = response(429, NULL,
                                  "x-ratelimit-remaining-requests: 0\nx-ratelimit-reset-requests: 20s\n"
                                  "x-ratelimit-remaining-tokens: 0\nx-ratelimit-reset-tokens: 1.5s\n");
    r.error_body = (char *)body;
    r.error_body_len = strlen(body);
    llmux_error_info err;
    assert_int_equal(lx_provider_map_response(&lx_provider_openai, &cfg, &r, &err), LLMUX_E_RATE_LIMITED);
    assert_int_equal(err.provider_status, 429);
    assert_int_equal(err.retry_after_ms, 20000);
    lx_buf_free(&r.kept_headers);
    /* What each adapter asks the transport to keep. */
    const lx_provider *const openai_style[] = {&lx_provider_openai, &lx_provider_gemini, &lx_provider_ollama};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(openai_style[i]->keep_headers[0], "x-ratelimit-");
        assert_null(openai_style[i]->keep_headers[1]);
    }
    assert_string_equal(lx_provider_anthropic.keep_headers[0], "anthropic-ratelimit-");
    assert_string_equal(lx_provider_anthropic.keep_headers[1], "x-ratelimit-");
    assert_null(lx_provider_anthropic.keep_headers[2]);
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
        cmocka_unit_test(test_exhausted_resets),
        cmocka_unit_test(test_retry_hint),
        cmocka_unit_test(test_map_response_reads_kept_headers),
        cmocka_unit_test(test_map_error_uses_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
