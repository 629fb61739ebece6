/* Paginated model lists end to end against the fake provider server: llmux_list_models follows
 * Anthropic's after_id and Gemini's pageToken (percent-encoded on the wire) and returns every
 * page in order; a repeated cursor, more than LX_MODELS_MAX_PAGES pages or more than
 * LX_MODELS_MAX models in all are upstream protocol errors; an error on a later page fails the
 * call with the provider's own mapping and no partial list; one deadline and one cancel token
 * cover the whole walk (lx_remote_list_models, which takes the deadline). */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/models.h"
#include "llmux.h"
#include "runtime/remote.h"
#include "remote_fixture.h"
#include "runtime/shared_http.h"

#define FAKE "tests/data/fake/"

static void start(fx *f, const char *name, const char *suffix) { fx_start(f, name, NULL, suffix, 0); }

static void push_full(fx *f, const char *path, int status, const char *body, const char *file, int delay_ms) {
    fx_push(f, "GET", path, status, "application/json", body, file, delay_ms);
}

static void push(fx *f, const char *path, const char *body, const char *file) { push_full(f, path, 200, body, file, 0); }

/* The recorded request i: GET, this exact path, no body, the provider's key header. */
static void assert_request(fx *f, int i, const char *path, const char *hname) {
    lx_fake_request rq;
    assert_true(lx_fake_server_request(f->srv, i, &rq));
    assert_string_equal(rq.method, "GET");
    assert_string_equal(rq.path, path);
    assert_int_equal(rq.body_len, 0);
    char v[64];
    assert_true(lx_fake_request_header(&rq, hname, v, sizeof v));
    assert_string_equal(v, "k");
    free(rq.body);
}

static void list_fails(fx *f, const char *provider, llmux_cancel *cancel, llmux_status want, const char *msg) {
    llmux_model_list *l = (llmux_model_list *)(uintptr_t)1;
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    llmux_call_params cp = llmux_call_default_params();
    cp.cancel = cancel;
    llmux_status st = llmux_list_models(f->rt, provider, &cp, &l, &err);
    if (st != want || !strstr(err.message, msg))
        fprintf(stderr, "got %d \"%s\", want %d \"%s\"\n", st, err.message, want, msg);
    assert_int_equal(st, want);
    assert_null(l);
    assert_non_null(strstr(err.message, msg));
}

/* ------------------------------------------------------------- following */

static void test_anthropic_three_pages(void **state) {
    (void)state;
    fx f;
    start(&f, "anthropic", "/v1");
    push(&f, "/v1/models", NULL, FAKE "anthropic/models_page1.json");
    push(&f, "/v1/models", NULL, FAKE "anthropic/models_page2.json");
    push(&f, "/v1/models", NULL, FAKE "anthropic/models_page3.json");
    llmux_model_list *l = NULL;
    llmux_error_info err;
    llmux_status st = llmux_list_models(f.rt, "anthropic", NULL, &l, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_int_equal(lx_fake_server_requests(f.srv), 3);
    assert_int_equal(lx_fake_server_mismatches(f.srv), 0);
    assert_request(&f, 0, "/v1/models?limit=1000", "x-api-key");
    assert_request(&f, 1, "/v1/models?limit=1000&after_id=claude-fake-sonnet-2", "x-api-key");
    assert_request(&f, 2, "/v1/models?limit=1000&after_id=claude-fake-opus-1", "x-api-key");
    const char *ids[] = {"anthropic/claude-fake-opus-2", "anthropic/claude-fake-sonnet-2", "anthropic/claude-fake-haiku-2",
                         "anthropic/claude-fake-opus-1", "anthropic/claude-fake-haiku-1"};
    assert_int_equal(l->n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(l->models[i].id, ids[i]);
        assert_string_equal(l->models[i].provider, "anthropic");
    }
    /* What each entry carried survives the join: page 1's limits, page 3's names and limits. */
    assert_string_equal(l->models[0].name, "Claude Fake Opus 2");
    assert_int_equal(l->models[0].context_length, 200000);
    assert_int_equal(l->models[0].max_output_tokens, 128000);
    assert_int_equal(l->models[1].context_length, -1);
    assert_string_equal(l->models[4].name, "Claude Fake Haiku 1");
    assert_int_equal(l->models[4].context_length, 100000);
    assert_int_equal(l->models[4].max_output_tokens, 8192);
    llmux_model_list_free(l);
    /* The pages went over one pooled connection. */
    assert_int_equal(lx_fake_server_connections(f.srv), 1);
    fx_stop(&f);
}

static void test_gemini_two_pages(void **state) {
    (void)state;
    fx f;
    start(&f, "gemini", "/v1beta");
    push(&f, "/v1beta/models", NULL, FAKE "gemini/models_page1.json");
    push(&f, "/v1beta/models", NULL, FAKE "gemini/models_page2.json");
    llmux_model_list *l = NULL;
    llmux_error_info err;
    llmux_status st = llmux_list_models(f.rt, "gemini", NULL, &l, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_int_equal(lx_fake_server_requests(f.srv), 2);
    assert_request(&f, 0, "/v1beta/models?pageSize=1000", "x-goog-api-key");
    /* The token "Ch1tb2RlbHMv+Z2VtaW5p/LWZha2UtZmxhc2g=" with '+', '/' and '=' escaped. */
    assert_request(&f, 1, "/v1beta/models?pageSize=1000&pageToken=Ch1tb2RlbHMv%2BZ2VtaW5p%2FLWZha2UtZmxhc2g%3D",
                   "x-goog-api-key");
    assert_int_equal(l->n, 3);
    assert_string_equal(l->models[0].id, "gemini/gemini-fake-pro");
    assert_string_equal(l->models[1].id, "gemini/gemini-fake-flash");
    assert_int_equal(l->models[1].max_output_tokens, 8192);
    assert_string_equal(l->models[2].id, "gemini/gemini-fake-embedding");
    assert_string_equal(l->models[2].name, "Gemini Fake Embedding");
    assert_int_equal(l->models[2].context_length, 2048);
    llmux_model_list_free(l);
    fx_stop(&f);
}

/* ----------------------------------------------------------------- guards */

static void test_repeated_cursor(void **state) {
    (void)state;
    fx f;
    start(&f, "gemini", "/v1beta");
    /* A server that answers every page with the same token would be listed forever. */
    const char *same = "{\"models\":[{\"name\":\"models/g\"}],\"nextPageToken\":\"same\"}";
    for (int i = 0; i < 3; i++) push(&f, "/v1beta/models", same, NULL);
    list_fails(&f, "gemini", NULL, LLMUX_E_UPSTREAM_PROTOCOL, "gemini: model list: page 2 repeats the previous page's cursor");
    assert_int_equal(lx_fake_server_requests(f.srv), 2);
    assert_request(&f, 1, "/v1beta/models?pageSize=1000&pageToken=same", "x-goog-api-key");
    fx_stop(&f);

    start(&f, "anthropic", "/v1");
    push(&f, "/v1/models", "{\"data\":[{\"id\":\"a\"}],\"has_more\":true,\"last_id\":\"a\"}", NULL);
    push(&f, "/v1/models", "{\"data\":[{\"id\":\"a\"}],\"has_more\":true,\"last_id\":\"a\"}", NULL);
    list_fails(&f, "anthropic", NULL, LLMUX_E_UPSTREAM_PROTOCOL, "anthropic: model list: page 2 repeats");
    assert_int_equal(lx_fake_server_requests(f.srv), 2);
    fx_stop(&f);
}

/* Page i of an endless Anthropic listing: one model, a fresh cursor, has_more forever. */
static void push_endless_page(fx *f, int i) {
    char body[160];
    snprintf(body, sizeof body, "{\"data\":[{\"id\":\"m%d\"}],\"has_more\":true,\"first_id\":\"m%d\",\"last_id\":\"m%d\"}", i,
             i, i);
    push(f, "/v1/models", body, NULL);
}

static void test_page_cap(void **state) {
    (void)state;
    fx f;
    start(&f, "anthropic", "/v1");
    for (int i = 0; i < LX_MODELS_MAX_PAGES + 2; i++) push_endless_page(&f, i);
    list_fails(&f, "anthropic", NULL, LLMUX_E_UPSTREAM_PROTOCOL, "anthropic: model list: more than 50 pages");
    /* The 50th page's cursor is never followed. */
    assert_int_equal(lx_fake_server_requests(f.srv), LX_MODELS_MAX_PAGES);
    assert_request(&f, LX_MODELS_MAX_PAGES - 1, "/v1/models?limit=1000&after_id=m48", "x-api-key");
    fx_stop(&f);

    /* Exactly 50 pages are fine. */
    start(&f, "anthropic", "/v1");
    for (int i = 0; i < LX_MODELS_MAX_PAGES - 1; i++) push_endless_page(&f, i);
    push(&f, "/v1/models", "{\"data\":[{\"id\":\"last\"}],\"has_more\":false,\"first_id\":\"last\",\"last_id\":\"last\"}",
         NULL);
    llmux_model_list *l = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_list_models(f.rt, "anthropic", NULL, &l, &err), LLMUX_OK);
    assert_int_equal(l->n, LX_MODELS_MAX_PAGES);
    assert_string_equal(l->models[0].id, "anthropic/m0");
    assert_string_equal(l->models[48].id, "anthropic/m48");
    assert_string_equal(l->models[49].id, "anthropic/last");
    llmux_model_list_free(l);
    fx_stop(&f);
}

/* A Gemini page of n models named "<tag>i", with a next token or none. */
static char *big_page(const char *tag, unsigned n, const char *token) {
    lx_buf b;
    lx_buf_init(&b, 1u << 24);
    assert_true(lx_buf_append_str(&b, "{\"models\":["));
    for (unsigned i = 0; i < n; i++) assert_true(lx_buf_printf(&b, "%s{\"name\":\"models/%s%u\"}", i ? "," : "", tag, i));
    assert_true(lx_buf_append_str(&b, "]"));
    if (token) assert_true(lx_buf_printf(&b, ",\"nextPageToken\":\"%s\"", token));
    assert_true(lx_buf_append_str(&b, "}"));
    return lx_buf_steal(&b);
}

static void test_total_cap(void **state) {
    (void)state;
    fx f;
    start(&f, "gemini", "/v1beta");
    /* Each page is under LX_MODELS_MAX; together they pass it. */
    char *p1 = big_page("a", 15000, "t1"), *p2 = big_page("b", 5001, NULL);
    push(&f, "/v1beta/models", p1, NULL);
    push(&f, "/v1beta/models", p2, NULL);
    list_fails(&f, "gemini", NULL, LLMUX_E_UPSTREAM_PROTOCOL, "gemini: more than 20000 models in the list");
    free(p2);
    /* 20000 in all is the cap itself: accepted. */
    p2 = big_page("b", 5000, NULL);
    push(&f, "/v1beta/models", p1, NULL);
    push(&f, "/v1beta/models", p2, NULL);
    llmux_model_list *l = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_list_models(f.rt, "gemini", NULL, &l, &err), LLMUX_OK);
    assert_int_equal(l->n, LX_MODELS_MAX);
    assert_string_equal(l->models[14999].id, "gemini/a14999");
    assert_string_equal(l->models[15000].id, "gemini/b0");
    assert_string_equal(l->models[19999].id, "gemini/b4999");
    llmux_model_list_free(l);
    free(p1);
    free(p2);
    fx_stop(&f);
}

/* ------------------------------------------------------ errors on page N */

static void test_error_on_later_page(void **state) {
    (void)state;
    fx f;
    start(&f, "anthropic", "/v1");
    /* Page 2 answers with Anthropic's overloaded status: its mapping, and nothing of page 1. */
    push(&f, "/v1/models", NULL, FAKE "anthropic/models_page1.json");
    push_full(&f, "/v1/models", 529,
              "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", NULL, 0);
    llmux_model_list *l = (llmux_model_list *)(uintptr_t)1;
    llmux_error_info err;
    assert_int_equal(llmux_list_models(f.rt, "anthropic", NULL, &l, &err), LLMUX_E_OVERLOADED);
    assert_null(l);
    assert_int_equal(err.provider_status, 529);
    assert_int_equal(lx_fake_server_requests(f.srv), 2);
    /* Page 3 is malformed. */
    push(&f, "/v1/models", NULL, FAKE "anthropic/models_page1.json");
    push(&f, "/v1/models", NULL, FAKE "anthropic/models_page2.json");
    push(&f, "/v1/models", "{\"data\":[{\"id\":\"x\"}],\"has_more\":\"no\"}", NULL);
    list_fails(&f, "anthropic", NULL, LLMUX_E_UPSTREAM_PROTOCOL, "anthropic: model list: has_more: not a boolean");
    /* An error body inside a 200 page keeps the adapter's classification. */
    push(&f, "/v1/models", NULL, FAKE "anthropic/models_page1.json");
    push(&f, "/v1/models", "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}", NULL);
    list_fails(&f, "anthropic", NULL, LLMUX_E_RATE_LIMITED, "anthropic");
    assert_int_equal(lx_fake_server_mismatches(f.srv), 0);
    fx_stop(&f);
}

/* ---------------------------------------------- one deadline, one token */

typedef struct trigger_arg {
    llmux_cancel *c;
    int after_ms;
} trigger_arg;

static void *trigger_later(void *ud) {
    trigger_arg *a = ud;
    struct timespec ts = {a->after_ms / 1000, (long)(a->after_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    llmux_cancel_trigger(a->c);
    return NULL;
}

static void test_cancel_mid_walk(void **state) {
    (void)state;
    fx f;
    start(&f, "gemini", "/v1beta");
    /* Page 1 arrives at once; page 2 is held back while the token is triggered. */
    push(&f, "/v1beta/models", NULL, FAKE "gemini/models_page1.json");
    push_full(&f, "/v1beta/models", 200, NULL, FAKE "gemini/models_page2.json", 3000);
    llmux_cancel *c = llmux_cancel_create();
    assert_non_null(c);
    trigger_arg a = {c, 300};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, trigger_later, &a), 0);
    int64_t t0 = lx_now_ns();
    list_fails(&f, "gemini", c, LLMUX_E_CANCELLED, "");
    int64_t ms = (lx_now_ns() - t0) / 1000000;
    pthread_join(th, NULL);
    assert_true(ms < 2500); /* the held-back page was not waited for */
    assert_int_equal(lx_fake_server_requests(f.srv), 2);
    llmux_cancel_destroy(c);
    fx_stop(&f);
}

static void test_one_deadline(void **state) {
    (void)state;
    fx f;
    start(&f, "anthropic", "/v1");
    /* Each page takes 300 ms: one fits a 500 ms deadline, two do not. Per-page timeouts are far
     * longer, so only a deadline shared by the pages can stop the walk. */
    push_full(&f, "/v1/models", 200, NULL, FAKE "anthropic/models_page1.json", 300);
    push_full(&f, "/v1/models", 200, NULL, FAKE "anthropic/models_page2.json", 300);
    push_full(&f, "/v1/models", 200, NULL, FAKE "anthropic/models_page3.json", 300);
    lx_remote_target *t = malloc(sizeof *t);
    assert_non_null(t);
    llmux_error_info err;
    assert_int_equal(lx_remote_resolve_provider("anthropic", &f.p, 1, t, &err), LLMUX_OK);
    lx_remote_settings to = {.client = shared_http(), .connect_ms = 5000, .first_byte_ms = 5000, .idle_ms = 5000};
    llmux_model_list *l = (llmux_model_list *)(uintptr_t)1;
    llmux_status st = lx_remote_list_models(t, NULL, lx_now_ns() + 500 * 1000000LL, &to, &l, &err);
    if (st != LLMUX_E_TIMEOUT) fprintf(stderr, "got %d \"%s\"\n", st, err.message);
    assert_int_equal(st, LLMUX_E_TIMEOUT);
    assert_null(l);
    assert_int_equal(lx_fake_server_requests(f.srv), 2);
    free(t);
    fx_stop(&f);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anthropic_three_pages), cmocka_unit_test(test_gemini_two_pages),
        cmocka_unit_test(test_repeated_cursor),       cmocka_unit_test(test_page_cap),
        cmocka_unit_test(test_total_cap),             cmocka_unit_test(test_error_on_later_page),
        cmocka_unit_test(test_cancel_mid_walk),       cmocka_unit_test(test_one_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, shared_http_free);
}
