#define _POSIX_C_SOURCE 200809L /* clock_gettime */
/* The pure parts of API-key checking (src/server/http/keys.c): the constant-time comparison, the
 * key lookup by digest, model patterns, the credential headers and the per-key token bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "server/http/keys.h"

static void test_ct_equal(void **state) {
    unsigned char a[32], b[32];
    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(lx_ct_equal(a, b, sizeof a));
    assert_true(lx_ct_equal(a, b, 0));
    /* A difference anywhere, in any bit, is found (a first-byte-only or last-byte-only compare
     * would pass one of these). */
    for (size_t i = 0; i < sizeof a; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            assert_false(lx_ct_equal(a, b, sizeof a));
            b[i] ^= (unsigned char)(1u << bit);
        }
    assert_true(lx_ct_equal(a, b, sizeof a));
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The time does not depend on where the inputs differ: on 4 KiB buffers an early-exit compare
 * takes a small fraction of the time for a difference in the first byte as for one in the last;
 * here the fastest of many interleaved rounds (noise from other processes only ever adds time)
 * stay within 1.5x of each other. */
static void test_ct_equal_timing(void **state) {
    enum { N = 4096, ROUNDS = 101, REPS = 100 };
    static unsigned char a[N], first[N], last[N];
    memset(a, 7, N);
    memcpy(first, a, N);
    memcpy(last, a, N);
    first[0] ^= 1;
    last[N - 1] ^= 1;
    int64_t tf[ROUNDS], tl[ROUNDS];
    volatile bool sink = false;
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = now_ns();
        for (int i = 0; i < REPS; i++) sink ^= lx_ct_equal(a, first, N);
        int64_t t1 = now_ns();
        for (int i = 0; i < REPS; i++) sink ^= lx_ct_equal(a, last, N);
        int64_t t2 = now_ns();
        tf[r] = t1 - t0;
        tl[r] = t2 - t1;
    }
    qsort(tf, ROUNDS, sizeof *tf, cmp_i64);
    qsort(tl, ROUNDS, sizeof *tl, cmp_i64);
    double ratio = (double)tf[0] / (double)(tl[0] ? tl[0] : 1);
    print_message("lx_ct_equal, 4 KiB: fastest %lld ns (first byte differs) vs %lld ns (last byte), ratio %.2f\n",
                  (long long)tf[0] / REPS, (long long)tl[0] / REPS, ratio);
    assert_true(ratio > 1 / 1.5 && ratio < 1.5);
    (void)sink;
}

static void test_key_find(void **state) {
    static const char *const secrets[] = {"alice-0123456789abcdef", "ci-fedcba9876543210", "carol-aaaaaaaaaaaaaaaa"};
    static const char *const all[] = {"*"};
    lx_config_key keys[3];
    memset(keys, 0, sizeof keys);
    for (int i = 0; i < 3; i++) {
        keys[i].name = secrets[i];
        keys[i].models = all;
        keys[i].n_models = 1;
        lx_sha256(secrets[i], strlen(secrets[i]), keys[i].sha256);
    }
    for (int i = 0; i < 3; i++) assert_int_equal(lx_key_find(keys, 3, secrets[i], strlen(secrets[i])), i);
    assert_int_equal(lx_key_find(keys, 3, "alice-0123456789abcdeF", 22), -1); /* one character off */
    assert_int_equal(lx_key_find(keys, 3, secrets[0], strlen(secrets[0]) - 1), -1); /* a prefix */
    assert_int_equal(lx_key_find(keys, 3, "", 0), -1);
    assert_int_equal(lx_key_find(keys, 0, secrets[0], strlen(secrets[0])), -1);
    /* Oversized input is refused without hashing it. */
    static char big[LX_CONFIG_KEY_MAX_BYTES + 2];
    memset(big, 'k', sizeof big - 1);
    assert_int_equal(lx_key_find(keys, 3, big, sizeof big - 1), -1);
}

static void test_glob(void **state) {
    assert_true(lx_glob_match("*", "anything/at/all"));
    assert_true(lx_glob_match("*", ""));
    assert_true(lx_glob_match("smart", "smart"));
    assert_false(lx_glob_match("smart", "smarter"));
    assert_false(lx_glob_match("smart", "smar"));
    assert_true(lx_glob_match("local/*", "local/llmux-fortunes"));
    assert_false(lx_glob_match("local/*", "openai/gpt-4o"));
    assert_false(lx_glob_match("local/*", "local")); /* the slash is part of the pattern */
    assert_true(lx_glob_match("openai/gpt-4o*", "openai/gpt-4o-mini"));
    assert_true(lx_glob_match("*/gpt-?o", "openai/gpt-4o"));
    assert_true(lx_glob_match("a*b*c", "a--b--b--c"));
    assert_false(lx_glob_match("a*b*c", "a--b--b--"));
    assert_false(lx_glob_match("Smart", "smart")); /* case-sensitive, like model ids */
    /* Many stars against a long non-matching text stays fast (one backtrack point). */
    char s[4097];
    memset(s, 'a', 4096);
    s[4096] = 0;
    assert_false(lx_glob_match("*a*a*a*a*a*a*a*a*b", s));
    static const char *const pats[] = {"smart", "local/*"};
    lx_config_key k = {.name = "k", .models = pats, .n_models = 2};
    assert_true(lx_key_allows(&k, "smart"));
    assert_true(lx_key_allows(&k, "local/x"));
    assert_false(lx_key_allows(&k, "openai/gpt-4o"));
    assert_false(lx_key_allows(&k, NULL));
}

static void test_credential(void **state) {
    const char *k;
    size_t n;
    assert_true(lx_key_credential("Bearer sk-abc", NULL, &k, &n));
    assert_int_equal(n, 6);
    assert_memory_equal(k, "sk-abc", 6);
    assert_true(lx_key_credential("  bearer   sk-abc  ", NULL, &k, &n)); /* scheme case, blanks */
    assert_int_equal(n, 6);
    assert_memory_equal(k, "sk-abc", 6);
    assert_true(lx_key_credential(NULL, " sk-xyz ", &k, &n));
    assert_int_equal(n, 6);
    assert_memory_equal(k, "sk-xyz", 6);
    /* Authorization wins; another scheme is no credential, so x-api-key is used. */
    assert_true(lx_key_credential("Bearer one", "two", &k, &n));
    assert_memory_equal(k, "one", 3);
    assert_true(lx_key_credential("Basic dXNlcjpwYXNz", "two", &k, &n));
    assert_memory_equal(k, "two", 3);
    assert_false(lx_key_credential("Basic dXNlcjpwYXNz", NULL, &k, &n));
    assert_false(lx_key_credential("Bearer", NULL, &k, &n));
    assert_false(lx_key_credential("Bearer    ", NULL, &k, &n));
    assert_false(lx_key_credential("Bearersk-abc", NULL, &k, &n));
    assert_false(lx_key_credential(NULL, "", &k, &n));
    assert_false(lx_key_credential(NULL, NULL, &k, &n));
}

static void test_rate(void **state) {
    lx_rate r = {0};
    int64_t t = 1000000;
    /* rpm 2: a burst of two, then one more every 30 s. */
    assert_int_equal(lx_rate_take(&r, 2, t), 0);
    assert_int_equal(lx_rate_take(&r, 2, t), 0);
    int64_t wait = lx_rate_take(&r, 2, t);
    assert_true(wait >= 29999 && wait <= 30001);
    wait = lx_rate_take(&r, 2, t + 15000); /* half a token back */
    assert_true(wait >= 14999 && wait <= 15001);
    assert_int_equal(lx_rate_take(&r, 2, t + 30000), 0);
    assert_true(lx_rate_take(&r, 2, t + 30000) > 0);
    /* A long pause refills to the cap, no more. */
    assert_int_equal(lx_rate_take(&r, 2, t + 3600000), 0);
    assert_int_equal(lx_rate_take(&r, 2, t + 3600000), 0);
    assert_true(lx_rate_take(&r, 2, t + 3600000) > 0);
    /* No limit. */
    lx_rate u = {0};
    for (int i = 0; i < 1000; i++) assert_int_equal(lx_rate_take(&u, 0, t), 0);
    /* A clock that goes backwards takes nothing back. */
    lx_rate b = {0};
    assert_int_equal(lx_rate_take(&b, 1, t), 0);
    assert_true(lx_rate_take(&b, 1, t - 5000) > 0);
}

static void expect_window(lx_budget_period p, int64_t now, int64_t start, int64_t end) {
    int64_t s = -1, e = -1;
    lx_budget_window(p, now, &s, &e);
    assert_int_equal(s, start);
    assert_int_equal(e, end);
}

/* Calendar windows in UTC; the expected instants were computed with Python's datetime. */
static void test_budget_window(void **state) {
    int64_t now = INT64_C(1796113800000); /* 2026-12-01T08:30Z, a Tuesday */
    expect_window(LX_BUDGET_TOTAL, now, 0, INT64_MAX);
    expect_window(LX_BUDGET_DAILY, now, INT64_C(1796083200000), INT64_C(1796169600000));
    expect_window(LX_BUDGET_WEEKLY, now, INT64_C(1795996800000), INT64_C(1796601600000)); /* Mon 11-30 .. Mon 12-07 */
    expect_window(LX_BUDGET_MONTHLY, now, INT64_C(1796083200000), INT64_C(1798761600000)); /* .. 2027-01-01 */
    /* The first instant of a window belongs to it; the last millisecond of the one before does not. */
    expect_window(LX_BUDGET_DAILY, INT64_C(1796083200000), INT64_C(1796083200000), INT64_C(1796169600000));
    expect_window(LX_BUDGET_DAILY, INT64_C(1796083199999), INT64_C(1796083200000) - 86400000, INT64_C(1796083200000));
    /* A leap day: 2024-02-29T23:59:59Z. */
    int64_t leap = INT64_C(1709251199000);
    expect_window(LX_BUDGET_MONTHLY, leap, INT64_C(1706745600000), INT64_C(1709251200000));
    expect_window(LX_BUDGET_WEEKLY, leap, INT64_C(1708905600000), INT64_C(1709510400000));
    /* Before 1970 (a clock set wrong must not crash the arithmetic): 1969-12-31T12:00Z, a Wednesday. */
    expect_window(LX_BUDGET_DAILY, -43200000, -86400000, 0);
    expect_window(LX_BUDGET_WEEKLY, -43200000, -259200000, 345600000);
    expect_window(LX_BUDGET_MONTHLY, -43200000, INT64_C(-2678400000), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ct_equal), cmocka_unit_test(test_ct_equal_timing), cmocka_unit_test(test_key_find), cmocka_unit_test(test_glob),
        cmocka_unit_test(test_credential), cmocka_unit_test(test_rate), cmocka_unit_test(test_budget_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
