/* The configured API key never reaches an error (issue 7, item 4): an upstream that echoes the
 * key (401 bodies do, so do mid-stream error events) must not get it printed through
 * llmux_error_info's message, provider_message or provider_code, nor the response's error. Keys
 * that look like nothing in particular ("zz-custom-...", like Groq's gsk_ or xAI's xai-) are the
 * point: only the configured value identifies them. Every provider, through llmux_run (stream and
 * non-stream), llmux_embed and llmux_list_models against the fake server. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmux.h"
#include "support/fake_server.h"

#define KEY "zz-custom-0123456789"

typedef struct sfx {
    lx_fake_server *srv;
    llmux_runtime *rt;
    char url[256];
    llmux_provider_params p;
} sfx;

static void start(sfx *f, const char *name) {
    memset(f, 0, sizeof *f);
    f->srv = lx_fake_server_start();
    assert_non_null(f->srv);
    lx_fake_server_url(f->srv, "", f->url, sizeof f->url);
    f->p = (llmux_provider_params){.name = name, .base_url = f->url, .api_key = KEY};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &f->p;
    rp.n_providers = 1;
    rp.first_byte_timeout_ms = 10000;
    rp.idle_timeout_ms = 10000;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &f->rt, &err), LLMUX_OK);
}

static void stop(sfx *f) {
    llmux_runtime_destroy(f->rt);
    lx_fake_server_stop(f->srv);
}

static void push(sfx *f, int status, const char *ctype, const char *body) {
    char headers[128];
    snprintf(headers, sizeof headers, "Content-Type: %s\r\n", ctype);
    lx_fake_response r = {.status = status, .headers = headers, .body = body};
    assert_true(lx_fake_server_push(f->srv, &r));
}

/* No field holds the key, nor a recognisable piece of it. */
static void assert_no_key(const llmux_error_info *e, const char *what) {
    const char *fields[] = {e->message, e->provider_message, e->provider_code};
    for (size_t i = 0; i < 3; i++) {
        if (strstr(fields[i], KEY) || strstr(fields[i], "zz-custom"))
            fail_msg("%s: the key is printed in field %zu: \"%s\"", what, i, fields[i]);
    }
}

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1}};

static llmux_status run(sfx *f, const char *model, bool stream, llmux_error_info *err) {
    llmux_request r = llmux_request_default();
    r.model = model;
    r.messages = k_msgs;
    r.n_messages = 1;
    r.stream = stream;
    r.sampling.max_tokens = 8;
    llmux_run_params rp = llmux_run_default_params();
    llmux_response *out = NULL;
    memset(err, 0, sizeof *err);
    llmux_status st = llmux_run(f->rt, &r, &rp, &out, err);
    if (out) {
        assert_no_key(&out->error, model);
        llmux_response_free(out);
    }
    assert_no_key(err, model);
    return st;
}

typedef struct provider_case {
    const char *name;
    const char *model;
    const char *err_body;    /* the provider's 401 envelope, echoing the key */
    const char *stream_ctype;
    const char *stream_err;  /* a mid-stream error event echoing the key */
    bool embeddings;
} provider_case;

static const provider_case k_cases[] = {
    {"openai", "openai/gpt-4o-mini",
     "{\"error\":{\"message\":\"Incorrect API key provided: " KEY ". You can find your API key at "
     "https://platform.openai.com/account/api-keys.\",\"type\":\"invalid_request_error\",\"param\":null,"
     "\"code\":\"" KEY "\"}}",
     "text/event-stream",
     "data: {\"error\":{\"message\":\"key '" KEY "' revoked\",\"type\":\"server_error\",\"code\":\"" KEY "\"}}\n\n",
     true},
    {"anthropic", "anthropic/claude-sonnet-4-5",
     "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key: " KEY "\"}}",
     "text/event-stream",
     "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"" KEY "\",\"message\":\"key " KEY "\"}}\n\n",
     false},
    {"gemini", "gemini/gemini-2.5-flash",
     "{\"error\":{\"code\":400,\"message\":\"API key not valid: " KEY "\",\"status\":\"INVALID_ARGUMENT\"}}",
     "text/event-stream",
     "data: {\"error\":{\"code\":401,\"message\":\"key " KEY " revoked\",\"status\":\"" KEY "\"}}\n\n", true},
    {"ollama", "ollama/llama3.2", "{\"error\":\"unauthorized: key " KEY "\"}", "application/x-ndjson",
     "{\"error\":\"key " KEY " revoked\"}\n", true},
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

static void test_run_error_bodies(void **state) {
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        const provider_case *c = &k_cases[i];
        sfx f;
        start(&f, c->name);
        push(&f, 401, "application/json", c->err_body);
        push(&f, 401, "text/plain", "Unauthorized: " KEY);
        push(&f, 200, c->stream_ctype, c->stream_err);
        llmux_error_info err;
        llmux_status st = run(&f, c->model, true, &err);
        if (st != LLMUX_E_AUTHENTICATION && st != LLMUX_E_INVALID_REQUEST)
            fail_msg("%s: %s (%s)", c->name, llmux_status_name(st), err.message);
        assert_int_equal(run(&f, c->model, false, &err), LLMUX_E_AUTHENTICATION);
        st = run(&f, c->model, true, &err);
        if (st == LLMUX_OK) fail_msg("%s: a mid-stream error passed", c->name);
        stop(&f);
    }
}

static void test_embed_and_models(void **state) {
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        const provider_case *c = &k_cases[i];
        sfx f;
        start(&f, c->name);
        llmux_error_info err;
        if (c->embeddings) {
            push(&f, 401, "application/json", c->err_body);
            static const char *const inputs[] = {"a"};
            llmux_embed_request er = llmux_embed_request_default();
            char model[64];
            snprintf(model, sizeof model, "%s/embed-model", c->name);
            er.model = model;
            er.inputs = inputs;
            er.n_inputs = 1;
            llmux_embeddings *emb = NULL;
            memset(&err, 0, sizeof err);
            llmux_status st = llmux_embed(f.rt, &er, NULL, &emb, &err);
            assert_null(emb);
            if (st == LLMUX_OK) fail_msg("%s: embed passed", c->name);
            assert_no_key(&err, "embed");
        }
        push(&f, 401, "application/json", c->err_body);
        llmux_model_list *list = NULL;
        memset(&err, 0, sizeof err);
        llmux_status st = llmux_list_models(f.rt, c->name, NULL, &list, &err);
        assert_null(list);
        if (st == LLMUX_OK) fail_msg("%s: list_models passed", c->name);
        assert_no_key(&err, "list_models");
        stop(&f);
    }
}

/* A one-letter key still never shows as a token, and does not mangle the words around it. */
static void test_short_key(void **state) {
    (void)state;
    sfx f;
    memset(&f, 0, sizeof f);
    f.srv = lx_fake_server_start();
    assert_non_null(f.srv);
    lx_fake_server_url(f.srv, "", f.url, sizeof f.url);
    f.p = (llmux_provider_params){.name = "openai", .base_url = f.url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &f.p;
    rp.n_providers = 1;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &f.rt, &err), LLMUX_OK);
    push(&f, 401, "application/json", "{\"error\":{\"message\":\"bad key k (chunked check)\",\"code\":\"k\"}}");
    llmux_request r = llmux_request_default();
    r.model = "openai/m";
    r.messages = k_msgs;
    r.n_messages = 1;
    llmux_run_params runp = llmux_run_default_params();
    llmux_response *out = NULL;
    assert_int_equal(llmux_run(f.rt, &r, &runp, &out, &err), LLMUX_E_AUTHENTICATION);
    llmux_response_free(out);
    assert_non_null(strstr(err.provider_message, "bad key * (chunked check)"));
    assert_string_equal(err.provider_code, "*");
    stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_error_bodies),
        cmocka_unit_test(test_embed_and_models),
        cmocka_unit_test(test_short_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
