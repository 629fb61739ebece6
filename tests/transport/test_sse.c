/* SSE parser: every WHATWG parsing rule, chunking at every byte, caps, malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/sse.h"

/* Events serialised as "event|data|id|retry\n" so sequences compare as one string. */
typedef struct collect {
    lx_buf out;
    int stop_after; /* return CANCELLED on this event number (1-based); 0 = never */
    int n;
} collect;

static llmux_status on_event(void *ud, const lx_sse_event *ev) {
    collect *c = ud;
    c->n++;
    assert_int_equal(strlen(ev->event), ev->event_len);
    assert_true(lx_buf_append(&c->out, ev->event, ev->event_len));
    assert_true(lx_buf_append(&c->out, "|", 1));
    assert_true(lx_buf_append(&c->out, ev->data, ev->data_len));
    assert_true(lx_buf_printf(&c->out, "|%s|%lld\n", ev->id, (long long)ev->retry_ms));
    if (c->stop_after && c->n == c->stop_after) return LLMUX_E_CANCELLED;
    return LLMUX_OK;
}

static void collect_init(collect *c) {
    memset(c, 0, sizeof *c);
    lx_buf_init(&c->out, 1u << 24);
    lx_buf_append(&c->out, "", 0);
}

/* Parses `in` in chunks of the given sizes (cycled; 0 = whole), returns the serialised events;
 * *pending receives lx_sse_finish's report. */
static char *parse_chunks(const char *in, size_t len, const size_t *sizes, size_t n_sizes, size_t max,
                          bool *pending, llmux_status *st_out) {
    lx_sse_parser p;
    lx_sse_parser_init(&p, max);
    collect c;
    collect_init(&c);
    llmux_error_info err;
    llmux_status st = LLMUX_OK;
    size_t off = 0, k = 0;
    while (off < len && st == LLMUX_OK) {
        size_t n = n_sizes ? sizes[k++ % n_sizes] : len;
        if (n == 0 || n > len - off) n = len - off;
        st = lx_sse_feed(&p, in + off, n, on_event, &c, &err);
        off += n;
    }
    bool pend = false;
    if (st == LLMUX_OK) st = lx_sse_finish(&p, &pend, &err);
    if (pending) *pending = pend;
    if (st_out) *st_out = st;
    lx_sse_parser_free(&p);
    return lx_buf_steal(&c.out);
}

static char *parse_all(const char *in, bool *pending) {
    llmux_status st;
    char *r = parse_chunks(in, strlen(in), NULL, 0, 1u << 20, pending, &st);
    assert_int_equal(st, LLMUX_OK);
    return r;
}

#define EXPECT_EVENTS(input, expected)                                                                                 \
    do {                                                                                                               \
        char *got_ = parse_all(input, NULL);                                                                           \
        assert_string_equal(got_, expected);                                                                           \
        free(got_);                                                                                                    \
    } while (0)

static void test_basic_data(void **s) {
    (void)s;
    EXPECT_EVENTS("data: hello\n\n", "message|hello||-1\n");
    EXPECT_EVENTS("data: a\n\ndata: b\n\n", "message|a||-1\nmessage|b||-1\n");
}

static void test_multiline_data_joined(void **s) {
    (void)s;
    EXPECT_EVENTS("data: one\ndata: two\ndata:three\n\n", "message|one\ntwo\nthree||-1\n");
    /* An empty data line still contributes a line. */
    EXPECT_EVENTS("data\ndata\n\n", "message|\n||-1\n");
    EXPECT_EVENTS("data:\n\n", "message|||-1\n");
}

static void test_event_field(void **s) {
    (void)s;
    EXPECT_EVENTS("event: ping\ndata: {}\n\n", "ping|{}||-1\n");
    /* The type resets after dispatch. */
    EXPECT_EVENTS("event: a\ndata: 1\n\ndata: 2\n\n", "a|1||-1\nmessage|2||-1\n");
    /* An event type with no data is never dispatched, and is cleared by the blank line. */
    EXPECT_EVENTS("event: lonely\n\ndata: x\n\n", "message|x||-1\n");
    /* Last event line wins. */
    EXPECT_EVENTS("event: a\nevent: b\ndata: x\n\n", "b|x||-1\n");
}

static void test_id_field(void **s) {
    (void)s;
    EXPECT_EVENTS("id: 7\ndata: x\n\ndata: y\n\n", "message|x|7|-1\nmessage|y|7|-1\n");
    /* An id containing NUL is ignored (keeps the previous one). */
    char *got = NULL;
    const char in[] = "id: 1\ndata: a\n\nid: 2\0z\ndata: b\n\n";
    llmux_status st;
    got = parse_chunks(in, sizeof in - 1, NULL, 0, 1024, NULL, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_string_equal(got, "message|a|1|-1\nmessage|b|1|-1\n");
    free(got);
    /* An empty id resets the last event id. */
    EXPECT_EVENTS("id: 5\ndata: a\n\nid\ndata: b\n\n", "message|a|5|-1\nmessage|b||-1\n");
}

static void test_retry_field(void **s) {
    (void)s;
    EXPECT_EVENTS("retry: 3000\ndata: x\n\n", "message|x||3000\n");
    EXPECT_EVENTS("retry: 30s\ndata: x\n\n", "message|x||-1\n");
    EXPECT_EVENTS("retry: -1\ndata: x\n\n", "message|x||-1\n");
    EXPECT_EVENTS("retry:\ndata: x\n\n", "message|x||-1\n");
    EXPECT_EVENTS("retry: 99999999999999999999999\ndata: x\n\n", "message|x||-1\n");
    EXPECT_EVENTS("retry: 10\ndata: x\n\nretry: bad\ndata: y\n\n", "message|x||10\nmessage|y||10\n");
}

static void test_comments_and_unknown_fields(void **s) {
    (void)s;
    EXPECT_EVENTS(": OPENROUTER PROCESSING\n\n: ping\ndata: x\n: mid\n\n", "message|x||-1\n");
    EXPECT_EVENTS("foo: bar\ndata: x\nDATA: upper\n\n", "message|x||-1\n");
    EXPECT_EVENTS(":\n\n", "");
}

static void test_colon_and_space_rules(void **s) {
    (void)s;
    /* Only one leading space is removed. */
    EXPECT_EVENTS("data:  two spaces\n\n", "message| two spaces||-1\n");
    EXPECT_EVENTS("data:no space\n\n", "message|no space||-1\n");
    /* Later colons belong to the value. */
    EXPECT_EVENTS("data: a:b: c\n\n", "message|a:b: c||-1\n");
    /* A field name without colon: whole line is the name, value empty. */
    EXPECT_EVENTS("data\n\n", "message|||-1\n");
    EXPECT_EVENTS("event\ndata: x\n\n", "message|x||-1\n");
    /* A tab is not a space. */
    EXPECT_EVENTS("data:\tx\n\n", "message|\tx||-1\n");
}

static void test_line_endings(void **s) {
    (void)s;
    EXPECT_EVENTS("data: a\r\rdata: b\r\n\r\ndata: c\n\n", "message|a||-1\nmessage|b||-1\nmessage|c||-1\n");
    EXPECT_EVENTS("data: a\r\ndata: b\r\n\r\n", "message|a\nb||-1\n");
    /* "\n\r" is two line breaks: LF ends the data line, CR is a blank line. */
    EXPECT_EVENTS("data: a\n\rdata: b\n\n", "message|a||-1\nmessage|b||-1\n");
}

static void test_crlf_split_across_chunks(void **s) {
    (void)s;
    /* CR at the end of one chunk, LF at the start of the next: one break, not two. With two
     * breaks the first event would be dispatched early and "b" would be a second event. */
    const char *in = "data: a\r\ndata: b\r\n\r\n";
    size_t sizes[] = {8, 100};
    llmux_status st;
    char *got = parse_chunks(in, strlen(in), sizes, 2, 1024, NULL, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_string_equal(got, "message|a\nb||-1\n");
    free(got);
    /* A CR ending the last chunk followed by a chunk starting with a non-LF byte. */
    in = "data: a\rdata: b\r\r";
    got = parse_chunks(in, strlen(in), sizes, 2, 1024, NULL, &st);
    assert_string_equal(got, "message|a\nb||-1\n");
    free(got);
}

static void test_bom(void **s) {
    (void)s;
    EXPECT_EVENTS("\xEF\xBB\xBF" "data: x\n\n", "message|x||-1\n");
    /* Only one BOM is stripped: the second one is part of the field name, which is then unknown. */
    EXPECT_EVENTS("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\ndata: y\n\n", "message|y||-1\n");
    /* A BOM later in the stream is content. */
    EXPECT_EVENTS("data: a\n\ndata: \xEF\xBB\xBF" "b\n\n", "message|a||-1\nmessage|\xEF\xBB\xBF" "b||-1\n");
    /* Split inside the BOM. */
    const char *in = "\xEF\xBB\xBF" "data: x\n\n";
    size_t one[] = {1};
    llmux_status st;
    char *got = parse_chunks(in, strlen(in), one, 1, 1024, NULL, &st);
    assert_string_equal(got, "message|x||-1\n");
    free(got);
    /* A partial BOM followed by other bytes: the bytes are kept as content. */
    in = "\xEF\xBB" "data: x\n\n"; /* the field name becomes "\xEF\xBB" "data": unknown */
    got = parse_chunks(in, strlen(in), one, 1, 1024, NULL, &st);
    assert_string_equal(got, "");
    free(got);
    in = "\xEF" ":c\ndata: x\n\n";
    got = parse_chunks(in, strlen(in), one, 1, 1024, NULL, &st);
    assert_string_equal(got, "message|x||-1\n");
    free(got);
}

static void test_empty_data_not_dispatched(void **s) {
    (void)s;
    EXPECT_EVENTS("\n\n\n", "");
    EXPECT_EVENTS("id: 3\n\nretry: 5\n\n", "");
}

static void test_eof_incomplete_event_discarded(void **s) {
    (void)s;
    bool pending = false;
    char *got = parse_all("data: a\n\ndata: b\n", &pending);
    assert_string_equal(got, "message|a||-1\n");
    assert_true(pending);
    free(got);
    got = parse_all("data: a\n\ndata: b", &pending);
    assert_string_equal(got, "message|a||-1\n");
    assert_true(pending);
    free(got);
    got = parse_all("data: a\n\n", &pending);
    assert_false(pending);
    free(got);
    got = parse_all("data: a\n\n: trailing comment\n", &pending);
    assert_false(pending);
    free(got);
}

static void test_flush_pending_event(void **s) {
    (void)s;
    lx_sse_parser p;
    lx_sse_parser_init(&p, 1024);
    collect c;
    collect_init(&c);
    llmux_error_info err;
    /* A terminated line without the closing blank line: flushed on request. */
    assert_int_equal(lx_sse_feed(&p, "data: a\n\ndata: b\ndata: c\n", 25, on_event, &c, &err), LLMUX_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(lx_sse_flush(&p, on_event, &c, &err), LLMUX_OK);
    assert_string_equal(c.out.data, "message|a||-1\nmessage|b\nc||-1\n");
    bool pending = true;
    assert_int_equal(lx_sse_finish(&p, &pending, &err), LLMUX_OK);
    assert_false(pending);
    lx_sse_parser_free(&p);
    /* An unterminated line is never flushed. */
    lx_sse_parser_init(&p, 1024);
    assert_int_equal(lx_sse_feed(&p, "data: b\ndata: c", 15, on_event, &c, &err), LLMUX_OK);
    assert_int_equal(lx_sse_flush(&p, on_event, &c, &err), LLMUX_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(lx_sse_finish(&p, &pending, &err), LLMUX_OK);
    assert_true(pending);
    lx_sse_parser_free(&p);
    lx_buf_free(&c.out);
}

static void test_utf8_passthrough(void **s) {
    (void)s;
    /* "é" and an emoji, split inside the characters by byte-by-byte feeding. */
    const char *in = "data: caf\xC3\xA9 \xF0\x9F\x98\x80\n\n";
    size_t one[] = {1};
    llmux_status st;
    char *got = parse_chunks(in, strlen(in), one, 1, 1024, NULL, &st);
    assert_string_equal(got, "message|caf\xC3\xA9 \xF0\x9F\x98\x80||-1\n");
    free(got);
}

/* A stream that exercises every rule at once, for the split tests. */
static const char k_stream[] =
    "\xEF\xBB\xBF: comment first\r\n"
    "retry: 1500\r\n"
    "event: message_start\r\n"
    "data: {\"type\":\"message_start\"}\r\n"
    "\r\n"
    "id: 42\n"
    "data: line1\n"
    "data:line2\n"
    "data\n"
    "\n"
    ": OPENROUTER PROCESSING\r"
    "data: caf\xC3\xA9 \xF0\x9F\x98\x80\r"
    "\r"
    "id: bad\0id\n"
    "event: ping\n"
    "\n"
    "unknown: field\n"
    "data:  spaced\r\n"
    "\r\n"
    "data: [DONE]\n"
    "\n";

static void test_split_at_every_byte(void **s) {
    (void)s;
    size_t len = sizeof k_stream - 1;
    llmux_status st;
    char *ref = parse_chunks(k_stream, len, NULL, 0, 4096, NULL, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_string_equal(ref, "message_start|{\"type\":\"message_start\"}||1500\n"
                             "message|line1\nline2\n|42|1500\n"
                             "message|caf\xC3\xA9 \xF0\x9F\x98\x80|42|1500\n"
                             "message| spaced|42|1500\n"
                             "message|[DONE]|42|1500\n");
    for (size_t k = 1; k < len; k++) {
        size_t sizes[] = {k, len};
        char *got = parse_chunks(k_stream, len, sizes, 2, 4096, NULL, &st);
        assert_int_equal(st, LLMUX_OK);
        if (strcmp(got, ref) != 0) fail_msg("split at byte %zu differs:\n%s", k, got);
        free(got);
    }
    for (size_t k = 1; k <= 7; k++) { /* byte-by-byte and other strides */
        size_t sizes[] = {k};
        char *got = parse_chunks(k_stream, len, sizes, 1, 4096, NULL, &st);
        assert_string_equal(got, ref);
        free(got);
    }
    free(ref);
}

/* The recorded OpenAI stream from the shared fixtures, when present, split at every byte. */
static void test_split_recorded_fixture(void **s) {
    (void)s;
    const char *path = "../shared/fixtures/providers/openai_chat/stream_tool_call.sse";
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("skipping: %s not present\n", path);
        skip();
    }
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    llmux_status st;
    bool pending = true;
    char *ref = parse_chunks(buf, len, NULL, 0, 1u << 20, &pending, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_false(pending);
    assert_non_null(strstr(ref, "message|[DONE]||-1\n"));
    for (size_t k = 1; k < len; k++) {
        size_t sizes[] = {k, len};
        char *got = parse_chunks(buf, len, sizes, 2, 1u << 20, NULL, &st);
        if (strcmp(got, ref) != 0) fail_msg("split at byte %zu differs", k);
        free(got);
    }
    size_t one[] = {1};
    char *got = parse_chunks(buf, len, one, 1, 1u << 20, NULL, &st);
    assert_string_equal(got, ref);
    free(got);
    free(ref);
}

static void test_line_cap(void **s) {
    (void)s;
    llmux_status st;
    /* 20-byte cap: a 21-byte line fails, whole or split. */
    const char *in = "data: 123456789012345\n\n"; /* line is 21 bytes */
    char *got = parse_chunks(in, strlen(in), NULL, 0, 20, NULL, &st);
    assert_int_equal(st, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_string_equal(got, "");
    free(got);
    size_t three[] = {3};
    got = parse_chunks(in, strlen(in), three, 1, 20, NULL, &st);
    assert_int_equal(st, LLMUX_E_UPSTREAM_PROTOCOL);
    free(got);
    /* Exactly at the cap is fine. */
    in = "data: 12345678901234\n\n"; /* 20 bytes */
    got = parse_chunks(in, strlen(in), three, 1, 20, NULL, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_string_equal(got, "message|12345678901234||-1\n");
    free(got);
    /* An endless line without terminator fails instead of growing. */
    lx_sse_parser p;
    lx_sse_parser_init(&p, 1000);
    llmux_error_info err;
    char chunk[100];
    memset(chunk, 'x', sizeof chunk);
    st = LLMUX_OK;
    int i;
    for (i = 0; i < 100 && st == LLMUX_OK; i++) st = lx_sse_feed(&p, chunk, sizeof chunk, NULL, NULL, &err);
    assert_int_equal(st, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(i, 11);
    assert_non_null(strstr(err.message, "1000-byte cap"));
    assert_true(p.line.cap <= 2048);
    /* A failed parser stays failed. */
    assert_int_equal(lx_sse_feed(&p, "\n\n", 2, NULL, NULL, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    lx_sse_parser_free(&p);
}

static void test_event_cap(void **s) {
    (void)s;
    /* Each line is under the cap, the joined event is not. */
    llmux_status st;
    const char *in = "data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n";
    llmux_error_info err;
    lx_sse_parser p;
    lx_sse_parser_init(&p, 25);
    collect c;
    collect_init(&c);
    st = lx_sse_feed(&p, in, strlen(in), on_event, &c, &err);
    assert_int_equal(st, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "SSE event longer"));
    assert_int_equal(c.n, 0);
    lx_sse_parser_free(&p);
    lx_buf_free(&c.out);
}

static void test_callback_stops(void **s) {
    (void)s;
    lx_sse_parser p;
    lx_sse_parser_init(&p, 1024);
    collect c;
    collect_init(&c);
    c.stop_after = 2;
    llmux_error_info err;
    const char *in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    assert_int_equal(lx_sse_feed(&p, in, strlen(in), on_event, &c, &err), LLMUX_E_CANCELLED);
    assert_int_equal(c.n, 2);
    assert_int_not_equal(lx_sse_feed(&p, "data: 4\n\n", 9, on_event, &c, &err), LLMUX_OK);
    assert_int_equal(c.n, 2);
    lx_sse_parser_free(&p);
    lx_buf_free(&c.out);
}

static void test_malformed_bytes(void **s) {
    (void)s;
    /* Binary garbage, NULs and lone CRs never crash; lines without known fields yield nothing. */
    const char in[] = "\x00\x01\x02\xff\xfe\r\r\n\x80:\x00\ndata\x00: x\n\n\xff";
    llmux_status st;
    bool pending = false;
    char *got = parse_chunks(in, sizeof in - 1, NULL, 0, 1024, &pending, &st);
    assert_int_equal(st, LLMUX_OK);
    assert_string_equal(got, "");
    assert_true(pending);
    free(got);
    /* NUL inside data is kept with its length. */
    const char in2[] = "data: a\0b\n\n";
    got = parse_chunks(in2, sizeof in2 - 1, NULL, 0, 1024, NULL, &st);
    assert_int_equal(memcmp(got, "message|a\0b||-1\n", 16), 0);
    free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_data),
        cmocka_unit_test(test_multiline_data_joined),
        cmocka_unit_test(test_event_field),
        cmocka_unit_test(test_id_field),
        cmocka_unit_test(test_retry_field),
        cmocka_unit_test(test_comments_and_unknown_fields),
        cmocka_unit_test(test_colon_and_space_rules),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_crlf_split_across_chunks),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_empty_data_not_dispatched),
        cmocka_unit_test(test_eof_incomplete_event_discarded),
        cmocka_unit_test(test_flush_pending_event),
        cmocka_unit_test(test_utf8_passthrough),
        cmocka_unit_test(test_split_at_every_byte),
        cmocka_unit_test(test_split_recorded_fixture),
        cmocka_unit_test(test_line_cap),
        cmocka_unit_test(test_event_cap),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_malformed_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
