/* Model-list pagination in the adapters: the next-page cursor decode_models reports (Anthropic's
 * has_more/last_id, Gemini's nextPageToken; none for OpenAI and Ollama), the exact path
 * encode_models builds from it (percent-encoded), malformed and over-long cursors, and
 * lx_model_list_append which the runtime uses to join pages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "core/buf.h"
#include "core/models.h"
#include "providers/embed_models.h"
#include "support/fake_server.h"

#define FAKE "tests/data/fake/"

static lx_provider_config config(const char *name) {
    lx_provider_config c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.api_key = "k";
    c.base_url = "http://127.0.0.1:1";
    return c;
}

/* Decodes body as one page; returns the list and copies the cursor into want-checked next. */
static llmux_model_list *page_ok(const lx_provider *p, const char *name, const char *body, const char *want_next) {
    lx_provider_config cfg = config(name);
    llmux_model_list *l = NULL;
    llmux_error_info err;
    char next[LX_MODELS_CURSOR_MAX + 1];
    memset(next, 'x', sizeof next);
    llmux_status st = p->decode_models(&cfg, body, strlen(body), next, sizeof next, &l, &err);
    if (st != LLMUX_OK) fprintf(stderr, "decode_models: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_non_null(l);
    assert_string_equal(next, want_next);
    return l;
}

static void page_fails(const lx_provider *p, const char *name, const char *body, size_t next_size, const char *msg) {
    lx_provider_config cfg = config(name);
    llmux_model_list *l = (llmux_model_list *)(uintptr_t)1;
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    char next[LX_MODELS_CURSOR_MAX + 1];
    memset(next, 'x', sizeof next);
    llmux_status st = p->decode_models(&cfg, body, strlen(body), next, next_size, &l, &err);
    if (st != LLMUX_E_UPSTREAM_PROTOCOL || !strstr(err.message, msg))
        fprintf(stderr, "body %.100s: got %d \"%s\", want \"%s\"\n", body, st, err.message, msg);
    assert_int_equal(st, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(err.status, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_null(l);
    assert_string_equal(next, "");
    assert_non_null(strstr(err.message, msg));
}

/* encode_models with cursor: the exact path (NULL want = the call must fail with want_st). */
static void path_is(const lx_provider *p, const char *name, const char *cursor, const char *want,
                    llmux_status want_st) {
    lx_provider_config cfg = config(name);
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, 1024);
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    llmux_status st = p->encode_models(&cfg, cursor, &w, &err);
    if (st != want_st) fprintf(stderr, "encode_models(%.40s): %d \"%s\"\n", cursor ? cursor : "NULL", st, err.message);
    assert_int_equal(st, want_st);
    if (want) {
        assert_string_equal(w.method, "GET");
        assert_string_equal(w.path, want);
        assert_int_equal(w.body.len, 0);
    }
    lx_buf_free(&w.body);
}

/* n copies of c, NUL-terminated (malloc'd). */
static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* --------------------------------------------------------------- anthropic */

static void test_anthropic_cursor(void **state) {
    (void)state;
    const lx_provider *p = &lx_provider_anthropic;
    llmux_model_list *l = page_ok(p, "anthropic",
                                  "{\"data\":[{\"type\":\"model\",\"id\":\"claude-a\"},{\"type\":\"model\",\"id\":\"claude-b\"}],"
                                  "\"has_more\":true,\"first_id\":\"claude-a\",\"last_id\":\"claude-b\"}",
                                  "claude-b");
    assert_int_equal(l->n, 2);
    assert_string_equal(l->models[0].id, "anthropic/claude-a");
    assert_string_equal(l->models[1].id, "anthropic/claude-b");
    llmux_model_list_free(l);

    /* The last page names its last id too; has_more:false is what ends the walk. */
    l = page_ok(p, "anthropic",
                "{\"data\":[{\"type\":\"model\",\"id\":\"claude-c\"}],\"has_more\":false,\"first_id\":\"claude-c\","
                "\"last_id\":\"claude-c\"}",
                "");
    assert_int_equal(l->n, 1);
    llmux_model_list_free(l);
    /* An empty account: null ids. A proxy that drops has_more: one page. */
    l = page_ok(p, "anthropic", "{\"data\":[],\"has_more\":false,\"first_id\":null,\"last_id\":null}", "");
    assert_int_equal(l->n, 0);
    llmux_model_list_free(l);
    l = page_ok(p, "anthropic", "{\"data\":[{\"id\":\"claude-d\"}],\"last_id\":\"claude-d\"}", "");
    assert_int_equal(l->n, 1);
    llmux_model_list_free(l);
    /* Under a custom name the cursor is the same, the ids carry the name. */
    l = page_ok(p, "claude-proxy", "{\"data\":[{\"id\":\"x\"}],\"has_more\":true,\"last_id\":\"x\"}", "x");
    assert_string_equal(l->models[0].id, "claude-proxy/x");
    llmux_model_list_free(l);
}

static void test_anthropic_malformed(void **state) {
    (void)state;
    const lx_provider *p = &lx_provider_anthropic;
    const size_t full = LX_MODELS_CURSOR_MAX + 1;
    page_fails(p, "anthropic", "{\"data\":[],\"has_more\":\"yes\",\"last_id\":\"a\"}", full,
               "anthropic: model list: has_more: not a boolean");
    page_fails(p, "anthropic", "{\"data\":[],\"has_more\":1,\"last_id\":\"a\"}", full, "has_more: not a boolean");
    page_fails(p, "anthropic", "{\"data\":[{\"id\":\"a\"}],\"has_more\":true,\"last_id\":7}", full,
               "anthropic: model list: last_id: not a string");
    /* A wrong type is refused even on the last page: the body is not what the API documents. */
    page_fails(p, "anthropic", "{\"data\":[],\"has_more\":false,\"last_id\":[]}", full, "last_id: not a string");
    page_fails(p, "anthropic", "{\"data\":[{\"id\":\"a\"}],\"has_more\":true,\"last_id\":null}", full,
               "has_more is true but last_id is missing or empty");
    page_fails(p, "anthropic", "{\"data\":[{\"id\":\"a\"}],\"has_more\":true}", full,
               "has_more is true but last_id is missing or empty");
    page_fails(p, "anthropic", "{\"data\":[{\"id\":\"a\"}],\"has_more\":true,\"last_id\":\"\"}", full,
               "has_more is true but last_id is missing or empty");
    /* The entries are still checked first. */
    page_fails(p, "anthropic", "{\"data\":[{\"id\":5}],\"has_more\":true,\"last_id\":\"a\"}", full, "data[0].id");
}

/* ------------------------------------------------------------------ gemini */

static void test_gemini_cursor(void **state) {
    (void)state;
    const lx_provider *p = &lx_provider_gemini;
    llmux_model_list *l = page_ok(p, "gemini",
                                  "{\"models\":[{\"name\":\"models/gemini-a\",\"inputTokenLimit\":100}],"
                                  "\"nextPageToken\":\"Ch1tb2Rl+bHMv/Z2Vt=\"}",
                                  "Ch1tb2Rl+bHMv/Z2Vt=");
    assert_int_equal(l->n, 1);
    assert_string_equal(l->models[0].id, "gemini/gemini-a");
    assert_int_equal(l->models[0].context_length, 100);
    llmux_model_list_free(l);
    l = page_ok(p, "gemini", "{\"models\":[{\"name\":\"models/gemini-b\"}]}", "");
    llmux_model_list_free(l);
    l = page_ok(p, "gemini", "{\"models\":[{\"name\":\"models/gemini-b\"}],\"nextPageToken\":\"\"}", "");
    llmux_model_list_free(l);
    /* proto3 leaves the empty list out; a token can still come with it. */
    l = page_ok(p, "gemini", "{\"nextPageToken\":\"tok\"}", "tok");
    assert_int_equal(l->n, 0);
    llmux_model_list_free(l);

    const size_t full = LX_MODELS_CURSOR_MAX + 1;
    page_fails(p, "gemini", "{\"models\":[],\"nextPageToken\":5}", full, "gemini: model list: nextPageToken: not a string");
    page_fails(p, "gemini", "{\"models\":[],\"nextPageToken\":{\"t\":\"a\"}}", full, "nextPageToken: not a string");
    /* OpenAI and Ollama answer in one body: a cursor-looking field there is ignored. */
    l = page_ok(&lx_provider_openai, "openai", "{\"data\":[{\"id\":\"m\"}],\"has_more\":true,\"last_id\":\"m\"}", "");
    llmux_model_list_free(l);
    l = page_ok(&lx_provider_ollama, "ollama", "{\"models\":[{\"name\":\"m\"}],\"nextPageToken\":\"t\"}", "");
    llmux_model_list_free(l);
}

static void test_cursor_caps(void **state) {
    (void)state;
    lx_buf b;
    lx_buf_init(&b, 4096);
    char *at_cap = repeat('a', LX_MODELS_CURSOR_MAX);
    char *over = repeat('a', LX_MODELS_CURSOR_MAX + 1);
    /* Exactly the cap is accepted (and can be sent, below); one byte more is refused. */
    assert_true(lx_buf_printf(&b, "{\"models\":[],\"nextPageToken\":\"%s\"}", at_cap));
    llmux_model_list *l = page_ok(&lx_provider_gemini, "gemini", b.data, at_cap);
    llmux_model_list_free(l);
    lx_buf_reset(&b);
    assert_true(lx_buf_printf(&b, "{\"models\":[],\"nextPageToken\":\"%s\"}", over));
    page_fails(&lx_provider_gemini, "gemini", b.data, LX_MODELS_CURSOR_MAX + 1,
               "nextPageToken: 321 bytes, at most 320 accepted");
    lx_buf_reset(&b);
    assert_true(lx_buf_printf(&b, "{\"data\":[],\"has_more\":true,\"last_id\":\"%s\"}", over));
    page_fails(&lx_provider_anthropic, "anthropic", b.data, LX_MODELS_CURSOR_MAX + 1,
               "last_id: 321 bytes, at most 320 accepted");
    /* A caller buffer smaller than the cursor: refused, never truncated. */
    page_fails(&lx_provider_gemini, "gemini", "{\"nextPageToken\":\"abcd\"}", 4, "nextPageToken: 4 bytes, at most 3");
    l = page_ok(&lx_provider_gemini, "gemini", "{\"nextPageToken\":\"abc\"}", "abc");
    llmux_model_list_free(l);
    /* A NUL escaped inside the token: jansson refuses it when parsing (no JSON_ALLOW_NUL). */
    page_fails(&lx_provider_gemini, "gemini", "{\"nextPageToken\":\"a\\u0000b\"}", LX_MODELS_CURSOR_MAX + 1,
               "gemini");

    /* Every cursor that decodes can be sent, even when each byte needs %XX. */
    char *slashes = repeat('/', LX_MODELS_CURSOR_MAX);
    lx_buf_reset(&b);
    assert_true(lx_buf_append_str(&b, "/models?pageSize=1000&pageToken="));
    for (size_t i = 0; i < LX_MODELS_CURSOR_MAX; i++) assert_true(lx_buf_append_str(&b, "%2F"));
    path_is(&lx_provider_gemini, "gemini", slashes, b.data, LLMUX_OK);
    lx_buf_reset(&b);
    assert_true(lx_buf_printf(&b, "/models?limit=1000&after_id=%s", at_cap));
    path_is(&lx_provider_anthropic, "anthropic", at_cap, b.data, LLMUX_OK);
    path_is(&lx_provider_anthropic, "anthropic", over, NULL, LLMUX_E_UPSTREAM_PROTOCOL);
    path_is(&lx_provider_gemini, "gemini", over, NULL, LLMUX_E_UPSTREAM_PROTOCOL);
    free(slashes);
    free(at_cap);
    free(over);
    lx_buf_free(&b);
}

/* ------------------------------------------------------------------ encode */

static void test_encode_paths(void **state) {
    (void)state;
    path_is(&lx_provider_anthropic, "anthropic", NULL, "/models?limit=1000", LLMUX_OK);
    path_is(&lx_provider_anthropic, "anthropic", "", "/models?limit=1000", LLMUX_OK);
    path_is(&lx_provider_anthropic, "anthropic", "claude-sonnet-4-5-20250929",
            "/models?limit=1000&after_id=claude-sonnet-4-5-20250929", LLMUX_OK);
    path_is(&lx_provider_gemini, "gemini", NULL, "/models?pageSize=1000", LLMUX_OK);
    path_is(&lx_provider_gemini, "gemini", "Ch1tb2Rl+bHMv/Z2Vt=", "/models?pageSize=1000&pageToken=Ch1tb2Rl%2BbHMv%2FZ2Vt%3D",
            LLMUX_OK);
    /* Query syntax, spaces, a fragment mark, a percent sign, control and non-ASCII bytes are all
     * escaped; RFC 3986 unreserved characters are not. */
    path_is(&lx_provider_gemini, "gemini", "a&b=c d#e%f?g\r\n\xc3\xa9~-._",
            "/models?pageSize=1000&pageToken=a%26b%3Dc%20d%23e%25f%3Fg%0D%0A%C3%A9~-._", LLMUX_OK);
    path_is(&lx_provider_anthropic, "anthropic", "../../v1/messages", "/models?limit=1000&after_id=..%2F..%2Fv1%2Fmessages",
            LLMUX_OK);
    /* The single-body adapters never hand out a cursor; being given one is a caller bug. */
    path_is(&lx_provider_openai, "openai", NULL, "/models", LLMUX_OK);
    path_is(&lx_provider_openai, "openai", "x", NULL, LLMUX_E_INTERNAL);
    path_is(&lx_provider_ollama, "ollama", "", "/api/tags", LLMUX_OK);
    path_is(&lx_provider_ollama, "ollama", "x", NULL, LLMUX_E_INTERNAL);

    /* The shared helper refuses a path that cannot hold the encoded cursor. */
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    llmux_error_info err;
    char *first = repeat('p', sizeof w.path - 4);
    first[0] = '/';
    assert_int_equal(lx_models_page_path(&w, first, "t", "abc", "x", &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_string_equal(err.message, "x: model list: the page cursor does not fit in a request path once encoded");
    assert_int_equal(lx_models_page_path(&w, first, "t", "", "x", &err), LLMUX_OK);
    assert_string_equal(w.path, first);
    free(first);
}

/* ---------------------------------------------------------- fake-server pages */

/* The pages the runtime test replays decode as documented there (tests/data/fake/README.md). */
static void test_fake_pages(void **state) {
    (void)state;
    const char *files[] = {FAKE "anthropic/models_page1.json", FAKE "anthropic/models_page2.json",
                           FAKE "anthropic/models_page3.json", FAKE "gemini/models_page1.json",
                           FAKE "gemini/models_page2.json"};
    const char *nexts[] = {"claude-fake-sonnet-2", "claude-fake-opus-1", "", "Ch1tb2RlbHMv+Z2VtaW5p/LWZha2UtZmxhc2g=", ""};
    const size_t counts[] = {2, 2, 1, 2, 1};
    for (size_t i = 0; i < 5; i++) {
        size_t len;
        char *body = lx_fake_read_file(files[i], &len);
        assert_non_null(body);
        const lx_provider *p = i < 3 ? &lx_provider_anthropic : &lx_provider_gemini;
        llmux_model_list *l = page_ok(p, i < 3 ? "anthropic" : "gemini", body, nexts[i]);
        assert_int_equal(l->n, counts[i]);
        llmux_model_list_free(l);
        free(body);
    }
}

/* ------------------------------------------------------------------ append */

static void test_append(void **state) {
    (void)state;
    llmux_error_info err;
    llmux_model_list *a = lx_model_list_new(), *b = lx_model_list_new();
    assert_non_null(a);
    assert_non_null(b);
    llmux_model_info *m;
    assert_int_equal(lx_model_list_push(a, "p", "one", "p", &m, &err), LLMUX_OK);
    assert_int_equal(lx_model_list_push(b, "p", "two", "p", &m, &err), LLMUX_OK);
    m->name = lx_model_list_strdup(b, "Two");
    m->context_length = 4096;
    m->max_output_tokens = 512;
    m->input_price = 1.5;
    m->cache_write_price = 0.25;
    assert_int_equal(lx_model_list_push(b, "p", "three", "p", &m, &err), LLMUX_OK);
    assert_int_equal(lx_model_list_append(a, b, &err), LLMUX_OK);
    /* b's strings were copied: a stands alone once b is gone. */
    llmux_model_list_free(b);
    assert_int_equal(a->n, 3);
    assert_string_equal(a->models[0].id, "p/one");
    assert_string_equal(a->models[1].id, "p/two");
    assert_string_equal(a->models[1].name, "Two");
    assert_string_equal(a->models[1].provider, "p");
    assert_int_equal(a->models[1].context_length, 4096);
    assert_int_equal(a->models[1].max_output_tokens, 512);
    assert_true(a->models[1].input_price == 1.5);
    assert_true(isnan(a->models[1].output_price));
    assert_true(a->models[1].cache_write_price == 0.25);
    assert_string_equal(a->models[2].id, "p/three");
    assert_null(a->models[2].name);
    assert_int_equal(a->models[2].context_length, -1);
    /* Empty and NULL sources change nothing. */
    b = lx_model_list_new();
    assert_int_equal(lx_model_list_append(a, b, &err), LLMUX_OK);
    assert_int_equal(lx_model_list_append(a, NULL, &err), LLMUX_OK);
    assert_int_equal(a->n, 3);
    llmux_model_list_free(b);

    /* The total is capped: a list that would pass LX_MODELS_MAX is refused whole. */
    b = lx_model_list_new();
    char name[32];
    for (unsigned i = 0; i < LX_MODELS_MAX - 2; i++) {
        snprintf(name, sizeof name, "m%u", i);
        assert_int_equal(lx_model_list_push(b, "p", name, "p", NULL, &err), LLMUX_OK);
    }
    assert_int_equal(lx_model_list_append(a, b, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_string_equal(err.message, "p: more than 20000 models in the list");
    assert_int_equal(a->n, 3);
    llmux_model_list_free(b);
    b = lx_model_list_new();
    for (unsigned i = 0; i < LX_MODELS_MAX - 3; i++) {
        snprintf(name, sizeof name, "m%u", i);
        assert_int_equal(lx_model_list_push(b, "p", name, "p", NULL, &err), LLMUX_OK);
    }
    assert_int_equal(lx_model_list_append(a, b, &err), LLMUX_OK);
    assert_int_equal(a->n, LX_MODELS_MAX);
    assert_string_equal(a->models[LX_MODELS_MAX - 1].id, "p/m19996");
    llmux_model_list_free(b);
    llmux_model_list_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anthropic_cursor), cmocka_unit_test(test_anthropic_malformed),
        cmocka_unit_test(test_gemini_cursor),    cmocka_unit_test(test_cursor_caps),
        cmocka_unit_test(test_encode_paths),     cmocka_unit_test(test_fake_pages),
        cmocka_unit_test(test_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
