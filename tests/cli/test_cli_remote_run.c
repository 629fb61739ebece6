/* `llmux run -m <provider>/<model> --base-url ...` end to end for every provider, streaming
 * (text and --events) and not (--json), against the fake provider server: exact output, the wire
 * path the binary called, and the exit code and message of an upstream error. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/cli_run.h"
#include <jansson.h>

#include "support/fake_server.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define FAKE "tests/data/fake/"

/* No provider key or base URL may leak in from the environment of whoever runs the tests. */
static void run(const char *cmdline, cli_result *r) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u OPENROUTER_API_KEY "
             "-u OPENAI_BASE_URL -u ANTHROPIC_BASE_URL -u OLLAMA_HOST %s",
             cmdline);
    cli_run(cmd, r);
}

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli-remote");
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

/* One provider's wiring: how its URLs look and which fixture files it replays. */
typedef struct provider_case {
    const char *model;        /* -m value */
    const char *base;         /* base URL suffix after http://127.0.0.1:PORT */
    const char *stream_path;  /* path the streaming request must hit */
    const char *plain_path;   /* path the non-streaming request must hit */
    const char *stream_text, *plain_text, *stream_tool, *error_429;
    bool sse;                 /* text/event-stream (else NDJSON) */
} provider_case;

static const provider_case k_cases[] = {
    {"openai/gpt-4o-mini", "/v1", "/v1/chat/completions", "/v1/chat/completions", FAKE "openai/stream_text.sse",
     FAKE "openai/response_text.json", FAKE "openai/stream_tool.sse", FAKE "openai/error_429.json", true},
    {"openrouter/meta-llama/llama-3.1-8b-instruct", "/api/v1", "/api/v1/chat/completions", "/api/v1/chat/completions",
     FAKE "openrouter/stream_text.sse", FAKE "openai/response_text.json", FAKE "openai/stream_tool.sse",
     FAKE "openrouter/error_429.json", true},
    {"anthropic/claude-sonnet-4-5", "/v1", "/v1/messages", "/v1/messages", FAKE "anthropic/stream_text.sse",
     FAKE "anthropic/response_text.json", FAKE "anthropic/stream_tool.sse", FAKE "anthropic/error_429.json", true},
    {"gemini/gemini-2.5-flash", "/v1beta", "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
     "/v1beta/models/gemini-2.5-flash:generateContent", FAKE "gemini/stream_text.sse", FAKE "gemini/response_text.json",
     FAKE "gemini/stream_tool.sse", FAKE "gemini/error_429.json", true},
    {"ollama/llama3.2", "", "/api/chat", "/api/chat", FAKE "ollama/stream_text.ndjson", FAKE "ollama/response_text.json",
     FAKE "ollama/stream_tool.ndjson", FAKE "ollama/error_429.json", false},
};

static void push(lx_fake_server *s, const char *path, int status, const char *file, bool stream, bool sse) {
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = path;
    r.status = status;
    r.body_file = file;
    r.headers = !stream ? "Content-Type: application/json\r\nRetry-After: 3\r\n"
                : sse   ? "Content-Type: text/event-stream\r\n"
                        : "Content-Type: application/x-ndjson\r\n";
    r.chunked = stream;
    r.chunk_size = stream ? 7 : 0; /* split events at odd places */
    assert_true(lx_fake_server_push(s, &r));
}

static void command(const provider_case *c, lx_fake_server *s, const char *flags, char *cmd, size_t size) {
    char url[256];
    lx_fake_server_url(s, c->base, url, sizeof url);
    snprintf(cmd, size, LLMUX " run -m %s --base-url %s --api-key test-key %s 'Say hello'", c->model, url, flags);
}

static void check_path(lx_fake_server *s, int i, const char *want) {
    lx_fake_request rq;
    assert_true(lx_fake_server_request(s, i, &rq));
    if (strncmp(rq.path, want, strlen(want)) != 0) fail_msg("path %s, want %s", rq.path, want);
    free(rq.body);
}

static void test_all_providers(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        const provider_case *c = &k_cases[i];
        print_message("provider %s\n", c->model);
        lx_fake_server *s = lx_fake_server_start();
        assert_non_null(s);
        char cmd[2048];
        cli_result r;

        /* 1. Streamed text to stdout. */
        push(s, c->stream_path, 200, c->stream_text, true, c->sse);
        command(c, s, "", cmd, sizeof cmd);
        run(cmd, &r);
        if (r.code != 0) fail_msg("%s: exit %d: %s", c->model, r.code, r.err);
        assert_string_equal(r.out, "Hello, world!\n");
        check_path(s, 0, c->stream_path);

        /* 2. Not streamed: the final response as canonical JSON. */
        push(s, c->plain_path, 200, c->plain_text, false, c->sse);
        command(c, s, "--json", cmd, sizeof cmd);
        run(cmd, &r);
        if (r.code != 0) fail_msg("%s: exit %d: %s", c->model, r.code, r.err);
        json_error_t je;
        json_t *j = json_loads(r.out, 0, &je);
        assert_non_null(j);
        json_t *part = json_array_get(json_object_get(j, "content"), 0);
        assert_string_equal(json_string_value(json_object_get(part, "text")), "Hello, world!");
        assert_string_equal(json_string_value(json_object_get(j, "finish_reason")), "stop");
        json_decref(j);
        check_path(s, 1, c->plain_path);

        /* 3. A streamed tool call as events: start ... tool_call_start ... finish(tool_calls). */
        push(s, c->stream_path, 200, c->stream_tool, true, c->sse);
        command(c, s, "--events", cmd, sizeof cmd);
        run(cmd, &r);
        if (r.code != 0) fail_msg("%s: exit %d: %s", c->model, r.code, r.err);
        assert_non_null(strstr(r.out, "{\"type\":\"start\""));
        assert_non_null(strstr(r.out, "{\"type\":\"tool_call_start\""));
        assert_non_null(strstr(r.out, "\"finish_reason\":\"tool_calls\"}\n"));
        const char *last = r.out + strlen(r.out) - 1;
        while (last > r.out && last[-1] != '\n') last--;
        assert_true(strncmp(last, "{\"type\":\"finish\"", 16) == 0);

        /* 4. An upstream 429: class rate_limited, exit 10 + 5, key never printed. */
        push(s, c->stream_path, 429, c->error_429, false, c->sse);
        command(c, s, "", cmd, sizeof cmd);
        run(cmd, &r);
        assert_int_equal(r.code, 15);
        assert_non_null(strstr(r.err, "llmux: rate_limited: "));
        assert_null(strstr(r.err, "test-key"));
        assert_string_equal(r.out, "");

        assert_int_equal(lx_fake_server_mismatches(s), 0);
        lx_fake_server_stop(s);
    }
}

static void test_missing_key(void **state) {
    (void)state;
    cli_result r;
    run(LLMUX " run -m anthropic/claude-sonnet-4-5 'hi'", &r);
    assert_int_equal(r.code, 12); /* authentication */
    assert_non_null(strstr(r.err, "ANTHROPIC_API_KEY"));
}

static void test_flags_need_remote_model(void **state) {
    (void)state;
    cli_result r;
    run(LLMUX " run --base-url http://127.0.0.1:9 'hi'", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--base-url/--api-key need a remote model"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_providers),
        cmocka_unit_test(test_missing_key),
        cmocka_unit_test(test_flags_need_remote_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
