/* Masking the configured key (transport/redact.h, lx_redact_secrets, lx_redact_error): whole
 * tokens only, so a short key never rewrites the words that contain its letters, yet the key
 * never survives as a token of its own: at either end of the text, next to punctuation or
 * quotes, several times, and at the end of a message cut by its buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "providers/errors.h"
#include "providers/redact.h"
#include "transport/redact.h"

static void mask(const char *in, const char *key, const char *want) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", in);
    lx_redact_secrets(buf, key);
    if (strcmp(buf, want) != 0) fail_msg("key \"%s\" in \"%s\": got \"%s\", want \"%s\"", key, in, buf, want);
}

/* The libcurl message from the review: a one-letter key must not turn "chunked" into
 * "chun*ed" (the old plain substring replace did). */
static void test_short_key_leaves_words(void **s) {
    (void)s;
    mask("Illegal or missing hexadecimal sequence in chunked-encoding", "k",
         "Illegal or missing hexadecimal sequence in chunked-encoding");
    mask("key k is invalid", "k", "key * is invalid");
    mask("k", "k", "*");
    mask("kk k kk", "k", "kk * kk");
}

static void test_key_at_ends_and_punctuation(void **s) {
    (void)s;
    const char *key = "zz-custom-0123456789";
    mask("zz-custom-0123456789 is not a valid key", key, "******************** is not a valid key");
    mask("invalid key: zz-custom-0123456789", key, "invalid key: ********************");
    mask("invalid key \"zz-custom-0123456789\".", key, "invalid key \"********************\".");
    mask("(zz-custom-0123456789),'zz-custom-0123456789'", key,
         "(********************),'********************'");
    mask("{\"key\":\"zz-custom-0123456789\"}", key, "{\"key\":\"********************\"}");
    mask("key=zz-custom-0123456789&x=1", key, "key=********************&x=1");
    mask("zz-custom-0123456789/zz-custom-0123456789", key, "********************/********************");
    /* Keys holding characters outside the token set still match as a whole. */
    mask("bad key a.b/c+d= given", "a.b/c+d=", "bad key ******** given");
}

static void test_key_inside_word_not_masked(void **s) {
    (void)s;
    /* Glued to more key characters, the text is not the key as sent: left alone. */
    mask("xabc123 abc123x abc123_y", "abc123", "xabc123 abc123x abc123_y");
    mask("the token abc is short; abcdef is a word", "abc", "the token *** is short; abcdef is a word");
}

static void test_multiple_occurrences(void **s) {
    (void)s;
    mask("gsk_live0123 gsk_live0123 gsk_live0123", "gsk_live0123", "************ ************ ************");
    char buf[64] = "a gsk_live0123 b gsk_live0123";
    assert_int_equal(lx_redact_mask(buf, "gsk_live0123"), 2);
    assert_int_equal(lx_redact_mask(buf, NULL), 0);
    assert_int_equal(lx_redact_mask(buf, ""), 0);
}

/* A message cut inside the key by its buffer keeps only a prefix: that prefix is masked too. */
static void test_truncated_inside_key(void **s) {
    (void)s;
    const char *key = "xai-0123456789abcdef";
    char buf[40];
    int full = snprintf(buf, sizeof buf, "Incorrect API key provided: %s", key);
    assert_true(full >= (int)sizeof buf); /* cut inside the key */
    assert_non_null(strstr(buf, "xai-0"));
    lx_redact_mask(buf, key);
    assert_null(strstr(buf, "xai-"));
    assert_non_null(strstr(buf, "provided: ****"));
    /* The whole text is a cut key (shorter than the key itself). */
    snprintf(buf, sizeof buf, "xai-0123");
    lx_redact_mask(buf, key);
    assert_string_equal(buf, "********");
    /* A short tail that merely starts like the key is not taken for it. */
    snprintf(buf, sizeof buf, "text ends with xai");
    lx_redact_mask(buf, key);
    assert_string_equal(buf, "text ends with xai");
}

/* Long messages near the error buffers' size: every occurrence masked, nothing written past. */
static void test_long_messages(void **s) {
    (void)s;
    const char *key = "zz-custom-0123456789";
    char msg[2048];
    size_t n = 0;
    while (n + strlen(key) + 2 < sizeof msg - 1) n += (size_t)snprintf(msg + n, sizeof msg - n, "%s, ", key);
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    lx_provider_error(&err, LLMUX_E_AUTHENTICATION, "groq", 401, key, msg, -1);
    lx_redact_error(&err, key);
    assert_null(strstr(err.message, "zz-c"));
    assert_null(strstr(err.provider_message, "zz-c"));
    assert_null(strstr(err.provider_code, "zz-c"));
    assert_true(strlen(err.message) < sizeof err.message);
    /* The text around the key survives. */
    assert_non_null(strstr(err.message, "groq: HTTP 401"));
}

static void test_find_bounds(void **s) {
    (void)s;
    assert_int_equal(lx_redact_find("ab k", 4, 0, "k"), 3);
    assert_int_equal(lx_redact_find("kab", 3, 0, "k"), (size_t)-1);
    assert_int_equal(lx_redact_find("k k", 3, 1, "k"), 2);
    assert_int_equal(lx_redact_find("k", 1, 0, NULL), (size_t)-1);
    assert_int_equal(lx_redact_find("", 0, 0, "k"), (size_t)-1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_key_leaves_words), cmocka_unit_test(test_key_at_ends_and_punctuation),
        cmocka_unit_test(test_key_inside_word_not_masked), cmocka_unit_test(test_multiple_occurrences),
        cmocka_unit_test(test_truncated_inside_key), cmocka_unit_test(test_long_messages),
        cmocka_unit_test(test_find_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
