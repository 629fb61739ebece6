/* Stop-sequence holdback across token boundaries and UTF-8 boundary handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "engine/stop.h"

typedef struct sink {
    lx_buf all;
    size_t n_calls;
    bool split_char; /* a delta ended inside a UTF-8 character */
} sink;

static void collect(void *ud, const char *text, size_t len) {
    sink *s = ud;
    assert_true(lx_buf_append(&s->all, text, len));
    s->n_calls++;
    if (lx_utf8_complete_len(text, len) != len) s->split_char = true;
}

/* Feeds the pieces, flushes, returns the output. */
static void run(const char *const *stops, size_t n_stops, const char *const *pieces, size_t n, sink *s, bool *matched) {
    lx_buf_init(&s->all, 1 << 20);
    s->n_calls = 0;
    s->split_char = false;
    lx_stop_filter f;
    lx_stop_init(&f, stops, n_stops, collect, s);
    for (size_t i = 0; i < n && !lx_stop_matched(&f); i++) assert_true(lx_stop_feed(&f, pieces[i], strlen(pieces[i])));
    *matched = lx_stop_matched(&f);
    lx_stop_flush(&f);
    lx_stop_free(&f);
    if (!s->all.data) lx_buf_append(&s->all, "", 0);
}

static void test_no_stops_passthrough(void **state) {
    (void)state;
    const char *pieces[] = {"Hello", ", ", "world"};
    sink s;
    bool m;
    run(NULL, 0, pieces, 3, &s, &m);
    assert_false(m);
    assert_string_equal(s.all.data, "Hello, world");
    assert_int_equal(s.n_calls, 3); /* nothing held back without stops */
    lx_buf_free(&s.all);
}

static void test_stop_split_across_tokens(void **state) {
    (void)state;
    const char *stops[] = {"END"};
    const char *pieces[] = {"abc E", "N", "D more"};
    sink s;
    bool m;
    run(stops, 1, pieces, 3, &s, &m);
    assert_true(m);
    assert_string_equal(s.all.data, "abc ");
    lx_buf_free(&s.all);
}

/* Which stop sequence ended the output: the earliest in the text, whatever the list's order. */
static void test_which_stop(void **state) {
    (void)state;
    const char *stops[] = {"STOP", "END", "x"};
    lx_stop_filter f;
    sink s;
    lx_buf_init(&s.all, 1 << 10);
    lx_stop_init(&f, stops, 3, collect, &s);
    assert_true(lx_stop_feed(&f, "abc EN", 6));
    assert_false(lx_stop_matched(&f));
    assert_true(lx_stop_feed(&f, "D then STOP and x", 17));
    assert_true(lx_stop_matched(&f));
    assert_int_equal(f.which, 1);
    lx_stop_free(&f);
    lx_buf_free(&s.all);
}

static void test_partial_prefix_released(void **state) {
    (void)state;
    /* "EN" looked like the start of "END" but was not: it must come out, in order. */
    const char *stops[] = {"END"};
    const char *pieces[] = {"abc E", "N", "X", "yz"};
    sink s;
    bool m;
    run(stops, 1, pieces, 4, &s, &m);
    assert_false(m);
    assert_string_equal(s.all.data, "abc ENXyz");
    lx_buf_free(&s.all);
}

static void test_prefix_at_end_flushed(void **state) {
    (void)state;
    const char *stops[] = {"\n\n"};
    const char *pieces[] = {"line", "\n"};
    sink s;
    bool m;
    run(stops, 1, pieces, 2, &s, &m);
    assert_false(m);
    assert_string_equal(s.all.data, "line\n");
    lx_buf_free(&s.all);
}

static void test_earliest_of_several(void **state) {
    (void)state;
    const char *stops[] = {"world", "lo, w"};
    const char *pieces[] = {"Hel", "lo, world"};
    sink s;
    bool m;
    run(stops, 2, pieces, 2, &s, &m);
    assert_true(m);
    assert_string_equal(s.all.data, "Hel");
    lx_buf_free(&s.all);
}

static void test_stop_inside_one_piece(void **state) {
    (void)state;
    const char *stops[] = {"<|end|>"};
    const char *pieces[] = {"answer<|end|>trailing"};
    sink s;
    bool m;
    run(stops, 1, pieces, 1, &s, &m);
    assert_true(m);
    assert_string_equal(s.all.data, "answer");
    lx_buf_free(&s.all);
}

static void test_utf8_never_split(void **state) {
    (void)state;
    /* "é" = C3 A9, "€" = E2 82 AC, "😀" = F0 9F 98 80, delivered one byte per token. */
    const char *pieces[] = {"a", "\xC3", "\xA9", "\xE2", "\x82", "\xAC", "\xF0", "\x9F", "\x98", "\x80", "z"};
    sink s;
    bool m;
    run(NULL, 0, pieces, 11, &s, &m);
    assert_false(s.split_char);
    assert_string_equal(s.all.data, "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z");
    assert_int_equal(s.n_calls, 5); /* a, é, €, 😀, z */
    lx_buf_free(&s.all);
}

static void test_utf8_with_stop_prefix(void **state) {
    (void)state;
    /* A multibyte stop sequence split mid-character across tokens. */
    const char *stops[] = {"\xE2\x82\xAC!"};
    const char *pieces[] = {"cost 5", "\xE2\x82", "\xAC", "!", "ignored"};
    sink s;
    bool m;
    run(stops, 1, pieces, 5, &s, &m);
    assert_true(m);
    assert_false(s.split_char);
    assert_string_equal(s.all.data, "cost 5");
    lx_buf_free(&s.all);
}

static void test_utf8_complete_len(void **state) {
    (void)state;
    assert_int_equal(lx_utf8_complete_len("ab", 2), 2);
    assert_int_equal(lx_utf8_complete_len("a\xC3", 2), 1);
    assert_int_equal(lx_utf8_complete_len("a\xE2\x82", 3), 1);
    assert_int_equal(lx_utf8_complete_len("a\xF0\x9F\x98", 4), 1);
    assert_int_equal(lx_utf8_complete_len("a\xF0\x9F\x98\x80", 5), 5);
    /* Invalid bytes are passed on, never held forever. */
    assert_int_equal(lx_utf8_complete_len("a\xFF", 2), 2);
    assert_int_equal(lx_utf8_complete_len("\x80\x80", 2), 2);
    assert_int_equal(lx_utf8_complete_len("", 0), 0);
}

static void test_utf8_valid(void **state) {
    (void)state;
    assert_true(lx_utf8_valid("h\xC3\xA9llo", 6));
    assert_false(lx_utf8_valid("\xC0\xAF", 2));         /* overlong */
    assert_false(lx_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    assert_false(lx_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(lx_utf8_valid("\xE2\x82", 2));         /* truncated */
    assert_true(lx_utf8_valid("\xF0\x9F\x98\x80", 4));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_stops_passthrough),  cmocka_unit_test(test_stop_split_across_tokens),
        cmocka_unit_test(test_which_stop),
        cmocka_unit_test(test_partial_prefix_released), cmocka_unit_test(test_prefix_at_end_flushed),
        cmocka_unit_test(test_earliest_of_several),   cmocka_unit_test(test_stop_inside_one_piece),
        cmocka_unit_test(test_utf8_never_split),      cmocka_unit_test(test_utf8_with_stop_prefix),
        cmocka_unit_test(test_utf8_complete_len),     cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
