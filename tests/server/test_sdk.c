/* The official `openai` and `@anthropic-ai/sdk` npm packages (versions pinned in
 * tests/server/sdk/package-lock.json, installed by scripts/install-sdk-clients.sh) as real
 * clients of the server, run with node: model lists, chat streamed and not, tool calls through
 * both formats from OpenAI and Anthropic backends (the fake provider server) and their round trips
 * (the tool result sent back reaches the other format's backend under the call's id),
 * embeddings (the SDK's default base64 encoding, decoded by the SDK), legacy completions,
 * countTokens, errors surfacing as the SDKs' own error classes with our Retry-After, and an
 * aborted stream (which closes the upstream connection) followed by a working request; with API
 * keys, a wrong key as each SDK's AuthenticationError and its retry waiting our Retry-After.
 * Skipped (77) only when node is absent. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "server_fixture.h"

#define SDK_CHECKS 24

static json_t *upstream_body(sf *f, int i) {
    lx_fake_request rq;
    assert_true(lx_fake_server_request(f->up, i, &rq));
    json_error_t e;
    json_t *j = json_loads(rq.body, 0, &e);
    if (!j) fprintf(stderr, "upstream body %d is not JSON: %s\n", i, rq.body);
    free(rq.body);
    assert_non_null(j);
    return j;
}

static void test_sdks(void **state) {
    if (access(LLMUX_SOURCE_DIR "/tests/server/sdk/node_modules/openai/package.json", R_OK) != 0 ||
        access(LLMUX_SOURCE_DIR "/tests/server/sdk/node_modules/@anthropic-ai/sdk/package.json", R_OK) != 0)
        assert_int_equal(system(LLMUX_SOURCE_DIR "/scripts/install-sdk-clients.sh"), 0);
    sf f;
    sf_start(&f);
    /* The upstream answers, in the order clients.mjs makes its remote requests. */
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_tool.sse", NULL, 0, 0);
    sf_push(&f, "/v1/chat/completions", 429, "application/json", "tests/data/fake/openai/error_429.json", "Retry-After: 7\r\n", 0, 0);
    sf_push(&f, "/v1/messages", 200, "text/event-stream", "tests/data/fake/anthropic/stream_tool.sse", NULL, 0, 0);
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_tool.sse", NULL, 0, 0);
    sf_push(&f, "/v1/embeddings", 200, "application/json", "tests/data/embed/openai_embeddings.json", NULL, 0, 0);
    /* Tool-call round trips: the call (streamed), then the answer to its result. */
    sf_push(&f, "/v1/messages", 200, "text/event-stream", "tests/data/fake/anthropic/stream_tool.sse", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_text.json", NULL, 0, 0);
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_tool.sse", NULL, 0, 0);
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    /* The Responses API client's tool-call round trip on the anthropic backend. */
    sf_push(&f, "/v1/messages", 200, "text/event-stream", "tests/data/fake/anthropic/stream_tool.sse", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_text.json", NULL, 0, 0);
    /* Claude Code's web search: the server tool's turn (streamed), then the next turn. */
    sf_push(&f, "/v1/messages", 200, "text/event-stream", "tests/data/fake/anthropic/stream_web_search.sse", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_text.json", NULL, 0, 0);
    /* The aborted stream: ~1 KiB in 32-byte writes 250 ms apart (keep-alive: only a cancel closes
     * its connection before the test ends). */
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 32, 250);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "node " LLMUX_SOURCE_DIR "/tests/server/sdk/clients.mjs http://127.0.0.1:%d 2>&1",
             lx_server_port(f.srv));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[4096];
    int ok = 0, failed = 0;
    while (fgets(line, sizeof line, p)) {
        fputs(line, stderr);
        if (strncmp(line, "ok ", 3) == 0) ok++;
        if (strncmp(line, "FAIL ", 5) == 0) failed++;
    }
    int status = pclose(p);
    assert_int_equal(failed, 0);
    assert_int_equal(ok, SDK_CHECKS);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(lx_fake_server_requests(f.up), 14);
    assert_int_equal(lx_fake_server_mismatches(f.up), 0);
    /* The embeddings call: the SDK's default encoding reached the server, not the provider. */
    json_t *up = upstream_body(&f, 4);
    assert_string_equal(json_string_value(json_object_get(up, "encoding_format")), "float");
    json_decref(up);
    /* The OpenAI client's tool result reached the Anthropic backend as tool_use + tool_result
     * blocks under the same id. */
    up = upstream_body(&f, 6);
    json_t *msgs = json_object_get(up, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    json_t *use = json_array_get(json_object_get(json_array_get(msgs, 1), "content"), 0);
    json_t *res = json_array_get(json_object_get(json_array_get(msgs, 2), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(use, "type")), "tool_use");
    assert_string_equal(json_string_value(json_object_get(use, "id")), "toolu_fk");
    assert_string_equal(json_string_value(json_object_get(json_object_get(use, "input"), "city")), "Paris");
    assert_string_equal(json_string_value(json_object_get(res, "type")), "tool_result");
    assert_string_equal(json_string_value(json_object_get(res, "tool_use_id")), "toolu_fk");
    json_decref(up);
    /* The Anthropic client's tool_result reached the OpenAI backend as a tool message answering
     * the assistant's tool call. */
    up = upstream_body(&f, 8);
    msgs = json_object_get(up, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    json_t *call = json_array_get(json_object_get(json_array_get(msgs, 1), "tool_calls"), 0);
    assert_string_equal(json_string_value(json_object_get(call, "id")), "call_fk");
    json_t *tool = json_array_get(msgs, 2);
    assert_string_equal(json_string_value(json_object_get(tool, "role")), "tool");
    assert_string_equal(json_string_value(json_object_get(tool, "tool_call_id")), "call_fk");
    assert_string_equal(json_string_value(json_object_get(tool, "content")), "18 C and sunny");
    json_decref(up);
    /* The Responses client's function_call_output reached the Anthropic backend as tool_use +
     * tool_result under the call's id. */
    up = upstream_body(&f, 10);
    msgs = json_object_get(up, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    use = json_array_get(json_object_get(json_array_get(msgs, 1), "content"), json_array_size(json_object_get(json_array_get(msgs, 1), "content")) - 1);
    res = json_array_get(json_object_get(json_array_get(msgs, 2), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(use, "type")), "tool_use");
    assert_string_equal(json_string_value(json_object_get(use, "id")), "toolu_fk");
    assert_string_equal(json_string_value(json_object_get(res, "tool_use_id")), "toolu_fk");
    json_decref(up);
    /* The SDK sent the server tool's blocks back as it got them; they reached Anthropic whole. */
    up = upstream_body(&f, 12);
    json_t *blocks = json_object_get(json_array_get(json_object_get(up, "messages"), 1), "content");
    assert_int_equal(json_array_size(blocks), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 1), "type")), "server_tool_use");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(blocks, 1), "input"), "query")),
                        "weather Paris today");
    assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 2), "type")), "web_search_tool_result");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(up, "tools"), 0), "type")),
                        "web_search_20250305");
    json_decref(up);
    /* The SDK's abort closed its connection, the server cancelled the execution, and the runtime
     * closed the upstream socket (the answer would otherwise have ended on a kept-alive one). */
    assert_true(lx_fake_server_wait_closed(f.up, 1, 10000));
    sf_stop(&f);
}

/* With API keys (tests/server/sdk/keys.mjs): wrong keys surface as each SDK's
 * AuthenticationError, and each SDK's retry waits our Retry-After before succeeding. */
#define SDK_KEY "sk-sdk-test-0123456789abcdef"
#define SPENDER_KEY "sk-sdk-spender-0123456789"
#define SDK_KEY_CHECKS 7

static void test_sdks_with_keys(void **state) {
    static const char *const all[] = {"*"};
    lx_config_key keys[2] = {
        {.name = "sdk", .models = all, .n_models = 1, .budget_usd = -1, .rpm = 60},
        {.name = "spender", .models = all, .n_models = 1, .budget_usd = 1},
    };
    lx_sha256(SDK_KEY, strlen(SDK_KEY), keys[0].sha256);
    lx_sha256(SPENDER_KEY, strlen(SPENDER_KEY), keys[1].sha256);
    /* The budget's spending so far comes from an (empty) records database; what the priced
     * request below costs is then counted in memory. */
    char dir[] = "/tmp/llmux-sdk-XXXXXX", records[128];
    assert_non_null(mkdtemp(dir));
    snprintf(records, sizeof records, "sqlite:%s/records.db", dir);
    lx_server_params sp = lx_server_default_params();
    sp.keys = keys;
    sp.n_keys = 2;
    sp.records = records;
    sf f;
    sf_start_with(&f, &sp);
    /* 1 USD per token: the fake answer (11 + 4 tokens) costs 15 USD, past spender's 1 USD. */
    llmux_model_info price = {.id = "openai/gpt-4o-mini", .context_length = -1, .max_output_tokens = -1,
                              .input_price = 1e6, .output_price = 1e6, .cache_read_price = 1e6, .cache_write_price = 1e6};
    assert_int_equal(llmux_catalog_add(f.rt, &price, 1, NULL), LLMUX_OK);
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "node " LLMUX_SOURCE_DIR "/tests/server/sdk/keys.mjs http://127.0.0.1:%d %s %s 2>&1",
             lx_server_port(f.srv), SDK_KEY, SPENDER_KEY);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[4096];
    int ok = 0, failed = 0;
    while (fgets(line, sizeof line, p)) {
        fputs(line, stderr);
        if (strncmp(line, "ok ", 3) == 0) ok++;
        if (strncmp(line, "FAIL ", 5) == 0) failed++;
    }
    int status = pclose(p);
    assert_int_equal(failed, 0);
    assert_int_equal(ok, SDK_KEY_CHECKS);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(lx_fake_server_requests(f.up), 1); /* only the priced request went upstream */
    sf_stop(&f);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    if (system("command -v node >/dev/null 2>&1") != 0) {
        fprintf(stderr, "node is not installed: the SDK tests are skipped\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sdks), cmocka_unit_test(test_sdks_with_keys)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
