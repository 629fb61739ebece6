/* NDJSON framer: line rules, chunking at every byte, caps, malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/ndjson.h"

typedef struct collect {
    lx_buf out;
    int n;
    int stop_after;
} collect;

static llmux_status on_line(void *ud, const char *line, size_t len) {
    collect *c = ud;
    c->n++;
    assert_true(lx_buf_append(&c->out, "[", 1));
    assert_true(lx_buf_append(&c->out, line, len));
    assert_true(lx_buf_append(&c->out, "]", 1));
    return c->stop_after && c->n == c->stop_after ? LLMUX_E_CANCELLED : LLMUX_OK;
}

static char *frame(const char *in, size_t len, const size_t *sizes, size_t n_sizes, size_t max, llmux_status *st_out) {
    lx_ndjson_framer f;
    lx_ndjson_init(&f, max);
    collect c;
    memset(&c, 0, sizeof c);
    lx_buf_init(&c.out, 1u << 24);
    lx_buf_append(&c.out, "", 0);
    llmux_error_info err;
    llmux_status st = LLMUX_OK;
    size_t off = 0, k = 0;
    while (off < len && st == LLMUX_OK) {
        size_t n = n_sizes ? sizes[k++ % n_sizes] : len;
        if (n == 0 || n > len - off) n = len - off;
        st = lx_ndjson_feed(&f, in + off, n, on_line, &c, &err);
        off += n;
    }
    if (st == LLMUX_OK) st = lx_ndjson_finish(&f, on_line, &c, &err);
    *st_out = st;
    lx_ndjson_free(&f);
    return lx_buf_steal(&c.out);
}

#define EXPECT_LINES(input, expected)                                                                                  \
    do {                                                                                                               \
        llmux_status st_;                                                                                              \
        char *got_ = frame(input, strlen(input), NULL, 0, 1024, &st_);                                                 \
        assert_int_equal(st_, LLMUX_OK);                                                                               \
        assert_string_equal(got_, expected);                                                                           \
        free(got_);                                                                                                    \
    } while (0)

static void test_lines(void **s) {
    (void)s;
    EXPECT_LINES("{\"a\":1}\n{\"b\":2}\n", "[{\"a\":1}][{\"b\":2}]");
    EXPECT_LINES("{\"a\":1}\r\n{\"b\":2}\r\n", "[{\"a\":1}][{\"b\":2}]");
    /* Only one trailing CR is stripped; a CR alone is not a line break. */
    EXPECT_LINES("a\rb\n", "[a\rb]");
    EXPECT_LINES("a\r\r\n", "[a\r]");
}

static void test_blank_lines_skipped(void **s) {
    (void)s;
    EXPECT_LINES("\n\n{}\n\r\n \t\n{}\n", "[{}][{}]");
    EXPECT_LINES("", "");
    EXPECT_LINES("\n", "");
}

static void test_final_line_without_lf(void **s) {
    (void)s;
    EXPECT_LINES("{\"a\":1}\n{\"done\":true}", "[{\"a\":1}][{\"done\":true}]");
    EXPECT_LINES("{\"done\":true}\r", "[{\"done\":true}]");
}

static void test_bom(void **s) {
    (void)s;
    EXPECT_LINES("\xEF\xBB\xBF{}\n", "[{}]");
    EXPECT_LINES("\xEF\xBB\xBF\xEF\xBB\xBF{}\n", "[\xEF\xBB\xBF{}]");
    size_t one[] = {1};
    llmux_status st;
    char *got = frame("\xEF\xBB\xBF{}\n", 6, one, 1, 1024, &st);
    assert_string_equal(got, "[{}]");
    free(got);
    got = frame("\xEF\xBB", 2, one, 1, 1024, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_string_equal(got, "[\xEF\xBB]");
    free(got);
}

static const char k_stream[] =
    "\xEF\xBB\xBF{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"caf\xC3\xA9\"},\"done\":false}\r\n"
    "\n"
    "{\"message\":{\"content\":\"\xF0\x9F\x98\x80\"},\"done\":false}\n"
    "   \n"
    "{\"done\":true,\"done_reason\":\"stop\"}";

static void test_split_at_every_byte(void **s) {
    (void)s;
    size_t len = sizeof k_stream - 1;
    llmux_status st;
    char *ref = frame(k_stream, len, NULL, 0, 4096, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_string_equal(ref, "[{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"caf\xC3\xA9\"},"
                             "\"done\":false}][{\"message\":{\"content\":\"\xF0\x9F\x98\x80\"},\"done\":false}]"
                             "[{\"done\":true,\"done_reason\":\"stop\"}]");
    for (size_t k = 1; k < len; k++) {
        size_t sizes[] = {k, len};
        char *got = frame(k_stream, len, sizes, 2, 4096, &st);
        assert_int_equal(st, LLMUX_OK);
        if (strcmp(got, ref) != 0) fail_msg("split at %zu differs: %s", k, got);
        free(got);
    }
    for (size_t k = 1; k <= 5; k++) {
        size_t sizes[] = {k};
        char *got = frame(k_stream, len, sizes, 1, 4096, &st);
        assert_string_equal(got, ref);
        free(got);
    }
    free(ref);
}

static void test_cap(void **s) {
    (void)s;
    llmux_status st;
    char *got = frame("0123456789\n", 11, NULL, 0, 10, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_string_equal(got, "[0123456789]");
    free(got);
    got = frame("0123456789\r\n", 12, NULL, 0, 10, &st);
    assert_int_equal(st, LLMUX_OK);
    free(got);
    got = frame("01234567890\n", 12, NULL, 0, 10, &st);
    assert_int_equal(st, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_string_equal(got, "");
    free(got);
    size_t two[] = {2};
    got = frame("01234567890\n", 12, two, 1, 10, &st);
    assert_int_equal(st, LLMUX_E_UPSTREAM_PROTOCOL);
    free(got);
    /* Unterminated growth stops at the cap. */
    lx_ndjson_framer f;
    lx_ndjson_init(&f, 500);
    llmux_error_info err;
    char chunk[64];
    memset(chunk, '{', sizeof chunk);
    int i;
    st = LLMUX_OK;
    for (i = 0; i < 100 && st == LLMUX_OK; i++) st = lx_ndjson_feed(&f, chunk, sizeof chunk, NULL, NULL, &err);
    assert_int_equal(st, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(i, 8);
    assert_non_null(strstr(err.message, "500-byte cap"));
    assert_int_equal(lx_ndjson_finish(&f, NULL, NULL, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    lx_ndjson_free(&f);
}

static void test_callback_stops(void **s) {
    (void)s;
    lx_ndjson_framer f;
    lx_ndjson_init(&f, 100);
    collect c;
    memset(&c, 0, sizeof c);
    lx_buf_init(&c.out, 1024);
    c.stop_after = 1;
    llmux_error_info err;
    assert_int_equal(lx_ndjson_feed(&f, "a\nb\nc", 5, on_line, &c, &err), LLMUX_E_CANCELLED);
    assert_int_equal(c.n, 1);
    assert_int_not_equal(lx_ndjson_finish(&f, on_line, &c, &err), LLMUX_OK);
    assert_int_equal(c.n, 1);
    lx_ndjson_free(&f);
    lx_buf_free(&c.out);
}

static void test_binary(void **s) {
    (void)s;
    const char in[] = "\x00\xff\n\x80\x81\r\n";
    llmux_status st;
    char *got = frame(in, sizeof in - 1, NULL, 0, 100, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_int_equal(memcmp(got, "[\x00\xff][\x80\x81]", 8), 0);
    free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_blank_lines_skipped),
        cmocka_unit_test(test_final_line_without_lf),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_split_at_every_byte),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
