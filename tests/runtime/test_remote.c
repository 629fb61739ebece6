/* Remote execution end to end, per provider, against the fake server replaying
 * tests/data/fake/: the exact wire request, the exact events (streaming and not), error statuses,
 * broken streams before and after the first event, cancellation. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "runtime/remote.h"
#include "support/event_log.h"
#include "support/fake_server.h"
#include "runtime/shared_http.h"

/* ------------------------------------------------------------ providers */

typedef struct prov {
    const char *name;
    const char *spec;
    const char *key_env;        /* NULL: no key */
    const char *auth_header;
    const char *auth_value;
    const char *base_suffix;    /* appended to the fake server's URL to form base_url */
    const char *stream_path;
    const char *plain_path;
    const char *dir;
    const char *stream_ext;     /* "sse" or "ndjson" */
    const char *stream_ctype;
    const char *model_in_body;  /* NULL: the model travels in the path */
    const char *stream_flag;    /* body substring of a streaming request; NULL: in the path */
    /* Expected events. */
    const char *ev_stream_text;
    const char *ev_stream_tool;
    const char *ev_text;
    const char *ev_tool;
    const char *error_file;     /* NULL = dir/error_429.json */
    const char *stream_text_file;
    const char *text_file;
    const char *tool_file;
    const char *stream_tool_file;
} prov;

static const prov k_openai = {
    .name = "openai", .spec = "openai/gpt-4o-mini", .key_env = "OPENAI_API_KEY",
    .auth_header = "authorization", .auth_value = "Bearer sk-fake-openai-0123456789", .base_suffix = "/v1",
    .stream_path = "/v1/chat/completions", .plain_path = "/v1/chat/completions", .dir = "openai",
    .stream_ext = "sse", .stream_ctype = "text/event-stream", .model_in_body = "\"model\":\"gpt-4o-mini\"",
    .stream_flag = "\"stream\":true",
    .ev_stream_text = "start \"chatcmpl-fk1\" \"gpt-4o-mini-2024-07-18\" \"openai\"\n"
                      "text_delta 0 \"Hello\"\n"
                      "text_delta 0 \", world\"\n"
                      "text_delta 0 \"!\"\n"
                      "usage in=11 out=4 total=15\n"
                      "finish stop\n",
    .ev_stream_tool = "start \"chatcmpl-fk2\" \"gpt-4o-mini-2024-07-18\" \"openai\"\n"
                      "tool_call_start 0 \"call_fk\" \"get_weather\"\n"
                      "tool_call_delta 0 \"{\\\"city\\\":\"\n"
                      "tool_call_delta 0 \"\\\"Paris\\\"}\"\n"
                      "usage in=40 out=9 total=49\n"
                      "tool_call_end 0\n"
                      "finish tool_calls\n",
    .ev_text = "start \"chatcmpl-fk3\" \"gpt-4o-mini-2024-07-18\" \"openai\"\n"
               "text_delta 0 \"Hello, world!\"\n"
               "usage in=11 out=4 total=15\n"
               "finish stop\n",
    .ev_tool = "start \"chatcmpl-fk4\" \"gpt-4o-mini-2024-07-18\" \"openai\"\n"
               "tool_call_start 0 \"call_fk\" \"get_weather\"\n"
               "tool_call_delta 0 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
               "usage in=40 out=9 total=49\n"
               "tool_call_end 0\n"
               "finish tool_calls\n",
};

static const prov k_openrouter = {
    .name = "openrouter", .spec = "openrouter/meta-llama/llama-3.1-8b-instruct", .key_env = "OPENROUTER_API_KEY",
    .auth_header = "authorization", .auth_value = "Bearer sk-or-v1-fake-0123456789", .base_suffix = "/api/v1",
    .stream_path = "/api/v1/chat/completions", .plain_path = "/api/v1/chat/completions", .dir = "openrouter",
    .stream_ext = "sse", .stream_ctype = "text/event-stream",
    .model_in_body = "\"model\":\"meta-llama/llama-3.1-8b-instruct\"", .stream_flag = "\"stream\":true",
    .ev_stream_text = "start \"gen-fk1\" \"meta-llama/llama-3.1-8b-instruct\" \"openrouter\"\n"
                      "text_delta 0 \"Hello\"\n"
                      "text_delta 0 \", world\"\n"
                      "text_delta 0 \"!\"\n"
                      "usage in=11 out=4 total=15 cost=2.1e-06\n"
                      "finish stop\n",
    .ev_stream_tool = "start \"chatcmpl-fk2\" \"gpt-4o-mini-2024-07-18\" \"openrouter\"\n"
                      "tool_call_start 0 \"call_fk\" \"get_weather\"\n"
                      "tool_call_delta 0 \"{\\\"city\\\":\"\n"
                      "tool_call_delta 0 \"\\\"Paris\\\"}\"\n"
                      "usage in=40 out=9 total=49\n"
                      "tool_call_end 0\n"
                      "finish tool_calls\n",
    .ev_text = "start \"chatcmpl-fk3\" \"gpt-4o-mini-2024-07-18\" \"openrouter\"\n"
               "text_delta 0 \"Hello, world!\"\n"
               "usage in=11 out=4 total=15\n"
               "finish stop\n",
    .ev_tool = "start \"gen-fk2\" \"meta-llama/llama-3.1-8b-instruct\" \"openrouter\"\n"
               "tool_call_start 0 \"call_or\" \"get_weather\"\n"
               "tool_call_delta 0 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
               "usage in=40 out=9 total=49 cost=4.9e-06\n"
               "tool_call_end 0\n"
               "finish tool_calls\n",
    .stream_tool_file = "tests/data/fake/openai/stream_tool.sse",
    .text_file = "tests/data/fake/openai/response_text.json",
};

static const prov k_anthropic = {
    .name = "anthropic", .spec = "anthropic/claude-sonnet-4-5", .key_env = "ANTHROPIC_API_KEY",
    .auth_header = "x-api-key", .auth_value = "sk-ant-api03-fake-0123456789", .base_suffix = "",
    .stream_path = "/v1/messages", .plain_path = "/v1/messages", .dir = "anthropic", .stream_ext = "sse",
    .stream_ctype = "text/event-stream", .model_in_body = "\"model\":\"claude-sonnet-4-5\"",
    .stream_flag = "\"stream\":true",
    .ev_stream_text = "start \"msg_fk1\" \"claude-sonnet-4-5-20250929\" \"anthropic\"\n"
                      "usage in=11 out=-1 total=-1\n" /* message_start's: the prompt, counted first */
                      "text_delta 0 \"Hello\"\n"
                      "text_delta 0 \", world\"\n"
                      "text_delta 0 \"!\"\n"
                      "usage in=11 out=4 total=15\n"
                      "finish stop\n",
    .ev_stream_tool = "start \"msg_fk2\" \"claude-sonnet-4-5-20250929\" \"anthropic\"\n"
                      "usage in=40 out=-1 total=-1\n"
                      "tool_call_start 0 \"toolu_fk\" \"get_weather\"\n"
                      "tool_call_delta 0 \"{\\\"city\\\":\"\n"
                      "tool_call_delta 0 \"\\\"Paris\\\"}\"\n"
                      "tool_call_end 0\n"
                      "usage in=40 out=9 total=49\n"
                      "finish tool_calls\n",
    .ev_text = "start \"msg_fk3\" \"claude-sonnet-4-5-20250929\" \"anthropic\"\n"
               "text_delta 0 \"Hello, world!\"\n"
               "usage in=11 out=4 total=15\n"
               "finish stop\n",
    .ev_tool = "start \"msg_fk4\" \"claude-sonnet-4-5-20250929\" \"anthropic\"\n"
               "tool_call_start 0 \"toolu_fk\" \"get_weather\"\n"
               "tool_call_delta 0 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
               "tool_call_end 0\n"
               "usage in=40 out=9 total=49\n"
               "finish tool_calls\n",
};

static const prov k_gemini = {
    .name = "gemini", .spec = "gemini/gemini-2.5-flash", .key_env = "GEMINI_API_KEY",
    .auth_header = "x-goog-api-key", .auth_value = "AIzaSyFake0123456789", .base_suffix = "/v1beta",
    .stream_path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    .plain_path = "/v1beta/models/gemini-2.5-flash:generateContent", .dir = "gemini", .stream_ext = "sse",
    .stream_ctype = "text/event-stream", .model_in_body = NULL, .stream_flag = NULL,
    .ev_stream_text = "start \"resp-fk1\" \"gemini-2.5-flash\" \"gemini\"\n"
                      "text_delta 0 \"Hello\"\n"
                      "text_delta 0 \", world\"\n"
                      "text_delta 0 \"!\"\n"
                      "usage in=11 out=4 total=15\n"
                      "finish stop\n",
    .ev_stream_tool = "start \"resp-fk2\" \"gemini-2.5-flash\" \"gemini\"\n"
                      "tool_call_start 0 \"call_0\" \"get_weather\"\n"
                      "tool_call_delta 0 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
                      "tool_call_end 0\n"
                      "usage in=40 out=9 total=49\n"
                      "finish tool_calls\n",
    .ev_text = "start \"resp-fk3\" \"gemini-2.5-flash\" \"gemini\"\n"
               "text_delta 0 \"Hello, world!\"\n"
               "usage in=11 out=4 total=15\n"
               "finish stop\n",
    .ev_tool = "start \"resp-fk4\" \"gemini-2.5-flash\" \"gemini\"\n"
               "tool_call_start 0 \"call_0\" \"get_weather\"\n"
               "tool_call_delta 0 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
               "tool_call_end 0\n"
               "usage in=40 out=9 total=49\n"
               "finish tool_calls\n",
};

static const prov k_ollama = {
    .name = "ollama", .spec = "ollama/llama3.2", .key_env = NULL, .auth_header = NULL, .auth_value = NULL,
    .base_suffix = "", .stream_path = "/api/chat", .plain_path = "/api/chat", .dir = "ollama",
    .stream_ext = "ndjson", .stream_ctype = "application/x-ndjson", .model_in_body = "\"model\":\"llama3.2\"",
    .stream_flag = "\"stream\":true",
    .ev_stream_text = "start - \"llama3.2\" \"ollama\"\n"
                      "text_delta 0 \"Hello\"\n"
                      "text_delta 0 \", world\"\n"
                      "text_delta 0 \"!\"\n"
                      "usage in=11 out=4 total=15\n"
                      "finish stop\n",
    .ev_stream_tool = "start - \"llama3.2\" \"ollama\"\n"
                      "tool_call_start 0 \"call_0\" \"get_weather\"\n"
                      "tool_call_delta 0 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
                      "tool_call_end 0\n"
                      "usage in=40 out=9 total=49\n"
                      "finish tool_calls\n",
    .ev_text = "start - \"llama3.2\" \"ollama\"\n"
               "text_delta 0 \"Hello, world!\"\n"
               "usage in=11 out=4 total=15\n"
               "finish stop\n",
    .ev_tool = "start - \"llama3.2\" \"ollama\"\n"
               "tool_call_start 0 \"call_0\" \"get_weather\"\n"
               "tool_call_delta 0 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
               "tool_call_end 0\n"
               "usage in=40 out=9 total=49\n"
               "finish tool_calls\n",
};

/* ------------------------------------------------------------ fixture */

typedef struct fx {
    const prov *p;
    lx_fake_server *srv;
    llmux_provider_params params;
    char base_url[256];
    char key[128];
    lx_remote_target target;
} fx;

static void path_of(const prov *p, const char *file, const char *override, char *buf, size_t size) {
    if (override) snprintf(buf, size, "%s", override);
    else snprintf(buf, size, "tests/data/fake/%s/%s", p->dir, file);
}

static int setup(void **state) {
    const prov *p = *state;
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->p = p;
    /* The environment must not leak into the test: keys come from these values only. */
    unsetenv("OPENAI_BASE_URL");
    unsetenv("ANTHROPIC_BASE_URL");
    unsetenv("OLLAMA_HOST");
    unsetenv("GOOGLE_API_KEY");
    if (p->key_env) assert_int_equal(setenv(p->key_env, strchr(p->auth_value, ' ') ? strchr(p->auth_value, ' ') + 1 : p->auth_value, 1), 0);
    f->srv = lx_fake_server_start();
    assert_non_null(f->srv);
    lx_fake_server_url(f->srv, p->base_suffix, f->base_url, sizeof f->base_url);
    f->params.name = p->name;
    f->params.base_url = f->base_url;
    llmux_error_info err;
    assert_int_equal(lx_remote_resolve(p->spec, &f->params, 1, &f->target, &err), LLMUX_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    lx_fake_server_stop(f->srv);
    if (f->p->key_env) unsetenv(f->p->key_env);
    free(f);
    return 0;
}

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1}};
static const llmux_tool k_tools[] = {{.name = "get_weather", .description = "Weather for a city",
                                      .parameters = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}"}};

static llmux_request make_req(const fx *f, bool stream) {
    llmux_request r = llmux_request_default();
    r.model = f->p->spec;
    r.messages = k_msgs;
    r.n_messages = 1;
    r.tools = k_tools;
    r.n_tools = 1;
    r.stream = stream;
    r.sampling.max_tokens = 64;
    return r;
}

static lx_remote_settings k_to = {.connect_ms = 10000, .first_byte_ms = 30000, .idle_ms = 30000};

static llmux_status run(fx *f, bool stream, const llmux_cancel *cancel, log_t *l, llmux_error_info *err) {
    llmux_request r = make_req(f, stream);
    k_to.client = shared_http();
    return lx_remote_run(&f->target, &r, cancel, 0, &k_to, (lx_event_sink){log_emit, l}, err);
}

static void push_file(fx *f, const char *path, bool stream, int status, const char *headers, size_t chunk,
                      int delay, lx_fake_end end, size_t end_after) {
    char hdr[512];
    snprintf(hdr, sizeof hdr, "Content-Type: %s\r\n%s",
             stream && status == 200 ? f->p->stream_ctype : "application/json", headers ? headers : "");
    lx_fake_response r = {.method = "POST", .path_prefix = stream ? f->p->stream_path : f->p->plain_path,
                          .status = status, .headers = hdr, .body_file = path, .chunked = stream,
                          .chunk_size = chunk, .chunk_delay_ms = delay, .end = end, .end_after = end_after};
    assert_true(lx_fake_server_push(f->srv, &r));
}

static void check_wire(fx *f, int i, bool stream) {
    lx_fake_request rq;
    assert_true(lx_fake_server_request(f->srv, i, &rq));
    assert_string_equal(rq.method, "POST");
    assert_string_equal(rq.path, stream ? f->p->stream_path : f->p->plain_path);
    char v[512];
    if (f->p->auth_header) {
        assert_true(lx_fake_request_header(&rq, f->p->auth_header, v, sizeof v));
        assert_string_equal(v, f->p->auth_value);
    } else {
        assert_false(lx_fake_request_header(&rq, "authorization", v, sizeof v));
    }
    assert_true(lx_fake_request_header(&rq, "content-type", v, sizeof v));
    assert_string_equal(v, "application/json");
    if (f->p->model_in_body) assert_non_null(strstr(rq.body, f->p->model_in_body));
    if (f->p->stream_flag) {
        if (stream) assert_non_null(strstr(rq.body, f->p->stream_flag));
        else assert_null(strstr(rq.body, f->p->stream_flag));
    }
    assert_non_null(strstr(rq.body, "get_weather"));
    assert_non_null(strstr(rq.body, "\"Hi\""));
    free(rq.body);
}

static void expect_events(const log_t *l, const char *want) {
    if (strcmp(l->out.data, want) != 0) fprintf(stderr, "got:\n%s\nwant:\n%s\n", l->out.data, want);
    assert_string_equal(l->out.data, want);
    assert_int_equal(l->n_terminal, 1);
    assert_false(l->after_terminal);
}

/* ------------------------------------------------------------ tests */

static void scenario(void **state, bool stream, bool tool) {
    fx *f = *state;
    const prov *p = f->p;
    char path[256];
    char name[64];
    snprintf(name, sizeof name, "%s.%s", tool ? "stream_tool" : "stream_text", p->stream_ext);
    if (stream) path_of(p, name, tool ? p->stream_tool_file : p->stream_text_file, path, sizeof path);
    else path_of(p, tool ? "response_tool.json" : "response_text.json", tool ? p->tool_file : p->text_file, path,
                 sizeof path);
    /* Realistic delivery: small pieces, split anywhere, a little apart. */
    push_file(f, path, stream, 200, NULL, stream ? 7 : 50, 1, LX_FAKE_END_NORMAL, 0);
    log_t l;
    log_init(&l);
    llmux_error_info err;
    llmux_status st = run(f, stream, NULL, &l, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s: %s\n", llmux_status_name(st), err.message);
    assert_int_equal(st, LLMUX_OK);
    expect_events(&l, stream ? (tool ? p->ev_stream_tool : p->ev_stream_text) : (tool ? p->ev_tool : p->ev_text));
    check_wire(f, 0, stream);
    assert_int_equal(lx_fake_server_mismatches(f->srv), 0);
    log_free(&l);
}

static void test_stream_text(void **state) { scenario(state, true, false); }
static void test_stream_tool(void **state) { scenario(state, true, true); }
static void test_plain_text(void **state) { scenario(state, false, false); }
static void test_plain_tool(void **state) { scenario(state, false, true); }

static void test_rate_limited(void **state) {
    fx *f = *state;
    char path[256];
    path_of(f->p, "error_429.json", f->p->error_file, path, sizeof path);
    for (int i = 0; i < 2; i++) {
        push_file(f, path, i == 0, 429, "Retry-After: 7\r\n", 0, 0, LX_FAKE_END_NORMAL, 0);
        log_t l;
        log_init(&l);
        llmux_error_info err;
        assert_int_equal(run(f, i == 0, NULL, &l, &err), LLMUX_E_RATE_LIMITED);
        assert_int_equal(err.status, LLMUX_E_RATE_LIMITED);
        assert_int_equal(err.provider_status, 429);
        assert_int_equal(err.retry_after_ms, 7000);
        assert_true(strlen(err.provider_message) > 0);
        /* A failure before any event: returned, nothing emitted (the caller may retry). */
        assert_int_equal(l.n_events, 0);
        log_free(&l);
    }
}

static void test_server_error_no_key_leak(void **state) {
    fx *f = *state;
    /* An upstream that echoes the credential back: it must not reach the error. */
    char body[512];
    snprintf(body, sizeof body, "{\"error\":{\"message\":\"bad key %s\",\"type\":\"server_error\"}}",
             strchr(f->p->auth_value ? f->p->auth_value : "x", ' ') ? strchr(f->p->auth_value, ' ') + 1
                                                                     : (f->p->auth_value ? f->p->auth_value : "x"));
    lx_fake_response r = {.status = 500, .headers = "Content-Type: application/json\r\n", .body = body};
    assert_true(lx_fake_server_push(f->srv, &r));
    log_t l;
    log_init(&l);
    llmux_error_info err;
    llmux_status st = run(f, true, NULL, &l, &err);
    assert_int_equal(st, LLMUX_E_UPSTREAM_SERVER);
    assert_int_equal(err.provider_status, 500);
    if (f->p->auth_value) {
        const char *secret = strchr(f->p->auth_value, ' ') ? strchr(f->p->auth_value, ' ') + 1 : f->p->auth_value;
        assert_null(strstr(err.message, secret));
        assert_null(strstr(err.provider_message, secret));
    }
    assert_int_equal(l.n_events, 0);
    log_free(&l);
}

/* Byte offset just past the n-th complete event/line of a stream body. */
static size_t after_event(const char *body, const char *ext, int n) {
    const char *sep = strcmp(ext, "ndjson") == 0 ? "\n" : "\n\n";
    const char *p = body;
    for (int i = 0; i < n; i++) {
        const char *q = strstr(p, sep);
        assert_non_null(q);
        p = q + strlen(sep);
    }
    return (size_t)(p - body);
}

static void test_broken_before_first_event(void **state) {
    fx *f = *state;
    char path[256], name[64];
    snprintf(name, sizeof name, "stream_text.%s", f->p->stream_ext);
    path_of(f->p, name, f->p->stream_text_file, path, sizeof path);
    push_file(f, path, true, 200, NULL, 4, 0, LX_FAKE_END_BREAK, 12);
    log_t l;
    log_init(&l);
    llmux_error_info err;
    assert_int_equal(run(f, true, NULL, &l, &err), LLMUX_E_NETWORK);
    assert_int_equal(err.status, LLMUX_E_NETWORK);
    assert_int_equal(l.n_events, 0);
    log_free(&l);
}

static void test_broken_midway(void **state) {
    fx *f = *state;
    char path[256], name[64];
    snprintf(name, sizeof name, "stream_text.%s", f->p->stream_ext);
    path_of(f->p, name, f->p->stream_text_file, path, sizeof path);
    size_t len = 0;
    char *body = lx_fake_read_file(path, &len);
    assert_non_null(body);
    /* Cut after the event that carries "Hello" (plus a few bytes of the next one). */
    const char *hello = strstr(body, "Hello");
    assert_non_null(hello);
    int n = 0;
    while (after_event(body, f->p->stream_ext, n) <= (size_t)(hello - body)) n++;
    size_t cut = after_event(body, f->p->stream_ext, n) + 5;
    free(body);
    push_file(f, path, true, 200, NULL, 9, 0, LX_FAKE_END_BREAK, cut);
    log_t l;
    log_init(&l);
    llmux_error_info err;
    assert_int_equal(run(f, true, NULL, &l, &err), LLMUX_E_NETWORK);
    /* Everything decoded before the break, then exactly one terminal event: ERROR. */
    const char *want = f->p->ev_stream_text;
    const char *second = strstr(want, "text_delta 0 \", world\"");
    assert_non_null(second);
    char expect[1024];
    snprintf(expect, sizeof expect, "%.*serror network\n", (int)(second - want), want);
    expect_events(&l, expect);
    log_free(&l);
}

static void test_cancel_by_sink(void **state) {
    fx *f = *state;
    char path[256], name[64];
    snprintf(name, sizeof name, "stream_text.%s", f->p->stream_ext);
    path_of(f->p, name, f->p->stream_text_file, path, sizeof path);
    push_file(f, path, true, 200, NULL, 16, 1, LX_FAKE_END_NORMAL, 0);
    log_t l;
    log_init(&l);
    l.stop_at_text = 1;
    llmux_error_info err;
    assert_int_equal(run(f, true, NULL, &l, &err), LLMUX_E_CANCELLED);
    const char *want = f->p->ev_stream_text;
    const char *second = strstr(want, "text_delta 0 \", world\"");
    char expect[1024];
    snprintf(expect, sizeof expect, "%.*sfinish cancelled\n", (int)(second - want), want);
    expect_events(&l, expect);
    /* The upstream connection was closed, not kept. */
    assert_true(lx_fake_server_wait_closed(f->srv, 1, 5000));
    log_free(&l);
}

static void test_cancel_by_token(void **state) {
    fx *f = *state;
    char path[256], name[64];
    snprintf(name, sizeof name, "stream_text.%s", f->p->stream_ext);
    path_of(f->p, name, f->p->stream_text_file, path, sizeof path);
    /* A slow stream: 8 bytes every 40 ms would take many seconds to finish. */
    push_file(f, path, true, 200, NULL, 8, 40, LX_FAKE_END_NORMAL, 0);
    log_t l;
    log_init(&l);
    l.cancel_at_text_token = llmux_cancel_create();
    assert_non_null(l.cancel_at_text_token);
    llmux_error_info err;
    assert_int_equal(run(f, true, l.cancel_at_text_token, &l, &err), LLMUX_E_CANCELLED);
    int64_t ms = (lx_now_ns() - l.triggered_ns) / 1000000;
    assert_true(ms < 2000);
    /* The events so far are a prefix of the full stream up to a text delta, then FINISH(cancelled). */
    assert_int_equal(l.n_terminal, 1);
    assert_false(l.after_terminal);
    const char *last = l.out.data + l.out.len - strlen("finish cancelled\n");
    assert_string_equal(last, "finish cancelled\n");
    assert_memory_equal(l.out.data, f->p->ev_stream_text, (size_t)(last - l.out.data));
    assert_non_null(strstr(l.out.data, "text_delta 0 \"Hello\""));
    assert_null(strstr(strstr(l.out.data, "text_delta"), "usage")); /* no final usage */
    assert_true(lx_fake_server_wait_closed(f->srv, 1, 5000));
    llmux_cancel_destroy(l.cancel_at_text_token);
    log_free(&l);
}

static void test_missing_key(void **state) {
    fx *f = *state;
    if (!f->p->key_env) {
        /* Ollama needs no key: resolving without one succeeds and sends no Authorization. */
        lx_remote_target t;
        assert_int_equal(lx_remote_resolve(f->p->spec, &f->params, 1, &t, NULL), LLMUX_OK);
        assert_null(t.cfg.api_key);
        return;
    }
    unsetenv(f->p->key_env);
    lx_remote_target t;
    llmux_error_info err;
    assert_int_equal(lx_remote_resolve(f->p->spec, &f->params, 1, &t, &err), LLMUX_E_AUTHENTICATION);
    assert_non_null(strstr(err.message, f->p->key_env));
    assert_int_equal(lx_fake_server_requests(f->srv), 0);
}

#define PROVIDER_TESTS(P)                                                                      \
    cmocka_unit_test_prestate_setup_teardown(test_stream_text, setup, teardown, (void *)&P),   \
    cmocka_unit_test_prestate_setup_teardown(test_stream_tool, setup, teardown, (void *)&P),   \
    cmocka_unit_test_prestate_setup_teardown(test_plain_text, setup, teardown, (void *)&P),    \
    cmocka_unit_test_prestate_setup_teardown(test_plain_tool, setup, teardown, (void *)&P),    \
    cmocka_unit_test_prestate_setup_teardown(test_rate_limited, setup, teardown, (void *)&P),  \
    cmocka_unit_test_prestate_setup_teardown(test_server_error_no_key_leak, setup, teardown, (void *)&P), \
    cmocka_unit_test_prestate_setup_teardown(test_broken_before_first_event, setup, teardown, (void *)&P), \
    cmocka_unit_test_prestate_setup_teardown(test_broken_midway, setup, teardown, (void *)&P), \
    cmocka_unit_test_prestate_setup_teardown(test_cancel_by_sink, setup, teardown, (void *)&P), \
    cmocka_unit_test_prestate_setup_teardown(test_cancel_by_token, setup, teardown, (void *)&P), \
    cmocka_unit_test_prestate_setup_teardown(test_missing_key, setup, teardown, (void *)&P)


int main(void) {
    const struct CMUnitTest tests[] = {
        PROVIDER_TESTS(k_openai), PROVIDER_TESTS(k_openrouter), PROVIDER_TESTS(k_anthropic),
        PROVIDER_TESTS(k_gemini), PROVIDER_TESTS(k_ollama),
    };
    return cmocka_run_group_tests(tests, NULL, shared_http_free);
}
