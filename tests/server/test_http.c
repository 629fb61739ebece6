/* llmux serve's HTTP server over real loopback sockets, with libcurl as the client: backed by the
 * bundled local model and by the fake provider server speaking OpenAI and Anthropic. Proves the
 * response shapes and exact SSE order of both client formats, tool calls crossing formats
 * (an OpenAI backend's tool call as Anthropic tool_use and the reverse), errors with the class's
 * status and the client's error shape, the body cap, cancellation of the upstream when a client
 * hangs up mid-stream, the bound on requests in flight and the graceful stop. */
#define _GNU_SOURCE /* strcasestr */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <jansson.h>

#include "server_fixture.h"

/* ----------------------------------------------------------------- SSE */

/* One SSE frame: its event name ("" when none) and data. */
typedef struct frame {
    char event[64];
    char *data;
} frame;

/* Splits an SSE body into frames; asserts the framing (each frame ends with a blank line, each
 * line is `event: ` or `data: ` or a comment). Returns the count; frames are freed by frames_free. */
static size_t parse_sse(const char *body, frame *out, size_t max) {
    size_t n = 0;
    const char *p = body;
    while (*p) {
        const char *end = strstr(p, "\n\n");
        assert_non_null(end); /* every frame is terminated */
        assert_true(n < max);
        frame *fr = &out[n];
        memset(fr, 0, sizeof *fr);
        const char *line = p;
        bool comment_only = true;
        while (line < end) {
            const char *nl = memchr(line, '\n', (size_t)(end - line));
            if (!nl) nl = end;
            size_t len = (size_t)(nl - line);
            if (strncmp(line, "event: ", 7) == 0) {
                snprintf(fr->event, sizeof fr->event, "%.*s", (int)(len - 7), line + 7);
                comment_only = false;
            } else if (strncmp(line, "data: ", 6) == 0) {
                fr->data = strndup(line + 6, len - 6);
                comment_only = false;
            } else {
                assert_true(line[0] == ':'); /* nothing else is allowed in a frame */
            }
            line = nl + 1;
        }
        if (!comment_only) {
            assert_non_null(fr->data);
            n++;
        }
        p = end + 2;
    }
    return n;
}

static void frames_free(frame *f, size_t n) {
    for (size_t i = 0; i < n; i++) free(f[i].data);
}

static json_t *load(const char *s) {
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j) fprintf(stderr, "not JSON (%s): %s\n", e.text, s);
    assert_non_null(j);
    return j;
}

/* The text an OpenAI SSE fixture streams (its content deltas joined). */
static void fixture_openai_text(const char *file, char *out, size_t size) {
    char *body = lx_fake_read_file(file, NULL);
    assert_non_null(body);
    frame fr[64];
    size_t n = parse_sse(body, fr, 64);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fr[i].data, "[DONE]") == 0) continue;
        json_t *j = load(fr[i].data);
        const char *t = json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta"), "content"));
        if (t) strncat(out, t, size - strlen(out) - 1);
        json_decref(j);
    }
    frames_free(fr, n);
    free(body);
}

static bool has_header(const sf_reply *r, const char *line) { return strcasestr(r->headers, line) != NULL; }

static void wait_active(sf *f, int n) {
    for (int i = 0; i < 1000 && lx_server_active(f->srv) != n; i++) usleep(10000);
    assert_int_equal(lx_server_active(f->srv), n);
}

/* ---------------------------------------------------------- local model */

static void test_openai_local_plain(void **state) {
    sf f;
    sf_start(&f);
    sf_reply r;
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"" SF_LOCAL "\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello\"}]}],\"max_tokens\":8,\"seed\":7}",
            &r);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: application/json"));
    json_t *j = load(r.body);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
    assert_string_equal(json_string_value(json_object_get(j, "model")), SF_LOCAL);
    assert_true(strncmp(json_string_value(json_object_get(j, "id")), "chatcmpl-", 9) == 0);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    json_t *msg = json_object_get(ch, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    assert_true(strlen(json_string_value(json_object_get(msg, "content"))) > 0);
    const char *fin = json_string_value(json_object_get(ch, "finish_reason"));
    assert_true(strcmp(fin, "stop") == 0 || strcmp(fin, "length") == 0);
    json_int_t out = json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens"));
    assert_true(out >= 1 && out <= 8);
    json_decref(j);
    free(r.body);
    sf_stop(&f);
}

static void test_anthropic_local_stream(void **state) {
    sf f;
    sf_start(&f);
    sf_reply r;
    sf_post(&f, "/v1/messages",
            "{\"model\":\"" SF_LOCAL "\",\"max_tokens\":6,\"stream\":true,\"system\":[{\"type\":\"text\",\"text\":\"x\"}],"
            "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
            &r);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: text/event-stream"));
    frame fr[64];
    size_t n = parse_sse(r.body, fr, 64);
    /* message_start, content_block_start, deltas..., content_block_stop, message_delta, message_stop */
    assert_true(n >= 6);
    assert_string_equal(fr[0].event, "message_start");
    assert_string_equal(fr[1].event, "content_block_start");
    for (size_t i = 2; i < n - 3; i++) assert_string_equal(fr[i].event, "content_block_delta");
    assert_string_equal(fr[n - 3].event, "content_block_stop");
    assert_string_equal(fr[n - 2].event, "message_delta");
    assert_string_equal(fr[n - 1].event, "message_stop");
    for (size_t i = 0; i < n; i++) { /* each data's type names its event */
        json_t *j = load(fr[i].data);
        assert_string_equal(json_string_value(json_object_get(j, "type")), fr[i].event);
        json_decref(j);
    }
    json_t *md = load(fr[n - 2].data);
    const char *stop = json_string_value(json_object_get(json_object_get(md, "delta"), "stop_reason"));
    assert_true(strcmp(stop, "end_turn") == 0 || strcmp(stop, "max_tokens") == 0);
    json_decref(md);
    frames_free(fr, n);
    free(r.body);
    sf_stop(&f);
}

/* ---------------------------------------------------------- fake upstream */

static void test_openai_stream_exact_order(void **state) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
            "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
            &r);
    assert_int_equal(r.status, 200);
    frame fr[64];
    size_t n = parse_sse(r.body, fr, 64);
    assert_true(n >= 5);
    assert_string_equal(fr[n - 1].data, "[DONE]");
    char text[1024] = "", want[1024];
    fixture_openai_text("tests/data/fake/openai/stream_text.sse", want, sizeof want);
    const char *id = NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *j = load(fr[i].data);
        assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion.chunk");
        if (!id) id = strdup(json_string_value(json_object_get(j, "id")));
        assert_string_equal(json_string_value(json_object_get(j, "id")), id); /* one id for the stream */
        assert_true(json_object_get(j, "usage") != NULL);                      /* null or the usage */
        json_t *choices = json_object_get(j, "choices");
        json_t *c0 = json_array_get(choices, 0);
        json_t *delta = json_object_get(c0, "delta");
        if (i == 0) {
            assert_string_equal(json_string_value(json_object_get(delta, "role")), "assistant");
        } else if (i < n - 3) {
            assert_null(json_object_get(delta, "role"));
            assert_true(json_is_null(json_object_get(c0, "finish_reason")));
            strcat(text, json_string_value(json_object_get(delta, "content")));
        } else if (i == n - 3) {
            assert_int_equal(json_object_size(delta), 0);
            assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "stop");
        } else { /* the usage chunk */
            assert_int_equal(json_array_size(choices), 0);
            assert_true(json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens")) > 0);
        }
        json_decref(j);
    }
    assert_string_equal(text, want);
    free((void *)id);
    frames_free(fr, n);
    free(r.body);
    sf_stop(&f);
}

/* The upstream dies after content went out: the client's stream ends with an in-stream error in
 * its own format and nothing after it (no [DONE] / message_stop). */
static void test_failure_mid_stream(void **state) {
    sf f;
    sf_start(&f);
    for (int i = 0; i < 2; i++) {
        lx_fake_response fr;
        memset(&fr, 0, sizeof fr);
        fr.path_prefix = i == 0 ? "/v1/chat/completions" : "/v1/messages";
        fr.headers = "Content-Type: text/event-stream\r\n";
        fr.body_file = i == 0 ? "tests/data/fake/openai/stream_text.sse" : "tests/data/fake/anthropic/stream_text.sse";
        fr.chunked = true;
        fr.chunk_size = 64;
        fr.end = LX_FAKE_END_BREAK;
        fr.end_after = 700; /* past the first content deltas of both fixtures */
        assert_true(lx_fake_server_push(f.up, &fr));
    }
    sf_reply r;
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_int_equal(r.status, 200);
    frame fr[64];
    size_t n = parse_sse(r.body, fr, 64);
    assert_true(n >= 3);
    assert_non_null(strstr(fr[1].data, "\"content\":")); /* content went out first */
    json_t *j = load(fr[n - 1].data);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_string_equal(json_string_value(json_object_get(e, "type")), "server_error");
    json_decref(j);
    assert_null(strstr(r.body, "[DONE]"));
    frames_free(fr, n);
    free(r.body);
    sf_post(&f, "/v1/messages",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"max_tokens\":5,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_int_equal(r.status, 200);
    n = parse_sse(r.body, fr, 64);
    assert_string_equal(fr[0].event, "message_start");
    assert_string_equal(fr[n - 1].event, "error");
    j = load(fr[n - 1].data);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "error");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "type")), "api_error");
    json_decref(j);
    assert_null(strstr(r.body, "message_stop"));
    frames_free(fr, n);
    free(r.body);
    sf_stop(&f);
}

/* An OpenAI-format backend's tool call reaches an Anthropic client as a tool_use block. */
static void test_openai_tool_call_as_tool_use(void **state) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_tool.sse", NULL, 0, 0);
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_tool.json", NULL, 0, 0);
    const char *req = "{\"model\":\"openai/gpt-4o-mini\",\"max_tokens\":100,%s\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
                      "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}]}";
    char body[512];
    snprintf(body, sizeof body, req, "\"stream\":true,");
    sf_reply r;
    sf_post(&f, "/v1/messages", body, &r);
    assert_int_equal(r.status, 200);
    frame fr[64];
    size_t n = parse_sse(r.body, fr, 64);
    assert_true(n >= 6);
    assert_string_equal(fr[0].event, "message_start");
    assert_string_equal(fr[1].event, "content_block_start");
    json_t *start = load(fr[1].data);
    json_t *cb = json_object_get(start, "content_block");
    assert_string_equal(json_string_value(json_object_get(cb, "type")), "tool_use");
    assert_string_equal(json_string_value(json_object_get(cb, "id")), "call_fk");
    assert_string_equal(json_string_value(json_object_get(cb, "name")), "get_weather");
    json_decref(start);
    char args[256] = "";
    size_t i = 2;
    for (; i < n && strcmp(fr[i].event, "content_block_delta") == 0; i++) {
        json_t *d = load(fr[i].data);
        json_t *delta = json_object_get(d, "delta");
        assert_string_equal(json_string_value(json_object_get(delta, "type")), "input_json_delta");
        strcat(args, json_string_value(json_object_get(delta, "partial_json")));
        json_decref(d);
    }
    assert_string_equal(args, "{\"city\":\"Paris\"}");
    assert_int_equal(n, i + 3);
    assert_string_equal(fr[i].event, "content_block_stop");
    assert_string_equal(fr[i + 1].event, "message_delta");
    assert_non_null(strstr(fr[i + 1].data, "\"stop_reason\":\"tool_use\""));
    assert_string_equal(fr[i + 2].event, "message_stop");
    frames_free(fr, n);
    free(r.body);

    snprintf(body, sizeof body, req, "");
    sf_post(&f, "/v1/messages", body, &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "message");
    assert_string_equal(json_string_value(json_object_get(j, "stop_reason")), "tool_use");
    json_t *b0 = json_array_get(json_object_get(j, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(b0, "type")), "tool_use");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b0, "input"), "city")), "Paris");
    json_decref(j);
    free(r.body);
    /* The upstream saw the Anthropic tool as an OpenAI function tool. */
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    assert_non_null(strstr(up.body, "\"get_weather\""));
    assert_non_null(strstr(up.body, "\"function\""));
    free(up.body);
    sf_stop(&f);
}

/* An OpenAI client's reasoning_effort and parallel_tool_calls: false reach an Anthropic backend
 * as its thinking budget and disable_parallel_tool_use; an Anthropic client's thinking budget
 * reaches an OpenAI backend as reasoning_effort. */
static void test_reasoning_across_formats(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_text.json", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"reasoning_effort\":\"medium\",\"parallel_tool_calls\":false,"
            "\"max_completion_tokens\":8000,\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}]}",
            &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    json_t *j = load(up.body);
    json_t *thinking = json_object_get(j, "thinking");
    assert_string_equal(json_string_value(json_object_get(thinking, "type")), "enabled");
    assert_int_equal(json_integer_value(json_object_get(thinking, "budget_tokens")), 2048);
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 8000);
    assert_true(json_is_true(json_object_get(json_object_get(j, "tool_choice"), "disable_parallel_tool_use")));
    json_decref(j);
    free(up.body);

    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    sf_post(&f, "/v1/messages",
            "{\"model\":\"openai/o4-mini\",\"max_tokens\":9000,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":6000},"
            "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
            &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_true(lx_fake_server_request(f.up, 1, &up));
    j = load(up.body);
    assert_string_equal(json_string_value(json_object_get(j, "reasoning_effort")), "high");
    assert_null(json_object_get(j, "thinking")); /* the Anthropic object went nowhere else */
    json_decref(j);
    free(up.body);
    sf_stop(&f);
}

/* A model behind the Responses API (openai-responses/...) answers an Anthropic client: the
 * reasoning item comes back as a thinking block whose signature is the encrypted item, the text
 * as text, the usage in Anthropic's terms; the upstream got a stateless request. The thinking
 * block sent back in the next turn reaches the upstream as the reasoning item it came from. */
static void test_responses_backend(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/responses", 200, "text/event-stream", "tests/providers/data/openai_responses/stream_text.sse", NULL,
            0, 0);
    sf_reply r;
    sf_post(&f, "/v1/messages",
            "{\"model\":\"openai-responses/gpt-5-codex\",\"max_tokens\":900,\"stream\":true,"
            "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
            &r);
    assert_int_equal(r.status, 200);
    if (!strstr(r.body, "\"signature_delta\",\"signature\":\"rs_1|gAAAAenc\"")) fail_msg("%s", r.body);
    assert_non_null(strstr(r.body, "\"thinking\":\"Thinking\""));
    assert_non_null(strstr(r.body, "\"text\":\"Hello\""));
    assert_non_null(strstr(r.body, "\"stop_reason\":\"end_turn\""));
    assert_non_null(strstr(r.body, "\"cache_read_input_tokens\":8"));
    free(r.body);
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    assert_string_equal(up.path, "/v1/responses");
    json_t *j = load(up.body);
    assert_true(json_is_false(json_object_get(j, "store")));
    assert_int_equal(json_integer_value(json_object_get(j, "max_output_tokens")), 900);
    json_decref(j);
    free(up.body);

    sf_push(&f, "/v1/responses", 200, "application/json", "tests/providers/data/openai_responses/response_mixed.json",
            NULL, 0, 0);
    sf_post(&f, "/v1/messages",
            "{\"model\":\"openai-responses/gpt-5-codex\",\"max_tokens\":900,\"messages\":["
            "{\"role\":\"user\",\"content\":\"Hi\"},"
            "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"Thinking\","
            "\"signature\":\"rs_1|gAAAAenc\"},{\"type\":\"text\",\"text\":\"Hello, world\"}]},"
            "{\"role\":\"user\",\"content\":\"Again\"}]}",
            &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"stop_reason\":\"tool_use\""));
    free(r.body);
    assert_true(lx_fake_server_request(f.up, 1, &up));
    j = load(up.body);
    json_t *rs = json_array_get(json_object_get(j, "input"), 1);
    assert_string_equal(json_string_value(json_object_get(rs, "type")), "reasoning");
    assert_string_equal(json_string_value(json_object_get(rs, "id")), "rs_1");
    assert_string_equal(json_string_value(json_object_get(rs, "encrypted_content")), "gAAAAenc");
    json_decref(j);
    free(up.body);
    sf_stop(&f);
}

/* Codex with web search on an OpenAI Responses backend: the hosted tool reaches OpenAI as sent,
 * its web_search_call item comes back to the client (output_item.added / .done, and in the final
 * output before the message), and the next turn sends it back to OpenAI as it came (stateless,
 * store false, as Codex runs). */
static void test_responses_hosted_web_search(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/responses", 200, "text/event-stream", "tests/providers/data/openai_responses/stream_web_search.sse",
            NULL, 0, 0);
    sf_push(&f, "/v1/responses", 200, "application/json", "tests/providers/data/openai_responses/response_mixed.json",
            NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/responses",
            "{\"model\":\"openai-responses/gpt-5-codex\",\"stream\":true,\"store\":false,\"input\":\"llmux news?\","
            "\"tools\":[{\"type\":\"web_search\",\"external_web_access\":true},{\"type\":\"function\",\"name\":\"shell\","
            "\"parameters\":{\"type\":\"object\"}}]}",
            &r);
    assert_int_equal(r.status, 200);
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    json_t *u = load(up.body);
    free(up.body);
    json_t *tools = json_object_get(u, "tools");
    assert_int_equal(json_array_size(tools), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tools, 1), "type")), "web_search");
    json_decref(u);
    frame fr[64];
    size_t n = parse_sse(r.body, fr, 64);
    int added = 0, done = 0;
    json_t *output = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *j = load(fr[i].data);
        json_t *it = json_object_get(j, "item");
        const char *t = json_string_value(json_object_get(it, "type"));
        if (t && strcmp(t, "web_search_call") == 0) {
            assert_int_equal(json_integer_value(json_object_get(j, "output_index")), 0);
            if (strcmp(fr[i].event, "response.output_item.added") == 0) added++;
            if (strcmp(fr[i].event, "response.output_item.done") == 0) done++;
            assert_string_equal(json_string_value(json_object_get(json_object_get(it, "action"), "query")),
                                "llmux release notes");
        }
        if (strcmp(fr[i].event, "response.completed") == 0)
            output = json_incref(json_object_get(json_object_get(j, "response"), "output"));
        json_decref(j);
    }
    assert_int_equal(added, 1);
    assert_int_equal(done, 1);
    assert_int_equal(json_array_size(output), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(output, 0), "id")), "ws_1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(output, 1), "type")), "message");
    frames_free(fr, n);
    free(r.body);

    /* The next turn, stateless: the whole history with the search item goes back to OpenAI. */
    json_t *next = json_pack("{s:s,s:b,s:[{s:s,s:s},O,O,{s:s,s:s}]}", "model", "openai-responses/gpt-5-codex", "store", 0,
                             "input", "role", "user", "content", "llmux news?", json_array_get(output, 0),
                             json_array_get(output, 1), "role", "user", "content", "More?");
    char *text = json_dumps(next, JSON_COMPACT);
    sf_post(&f, "/v1/responses", text, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_true(lx_fake_server_request(f.up, 1, &up));
    u = load(up.body);
    free(up.body);
    json_t *in = json_object_get(u, "input");
    bool sent = false;
    for (size_t i = 0; i < json_array_size(in); i++)
        sent = sent || json_equal(json_array_get(in, i), json_array_get(output, 0));
    assert_true(sent);
    json_decref(u);
    free(text);
    json_decref(next);
    json_decref(output);
    sf_stop(&f);
}

/* Starts f and makes the first turn both Responses tests build on: a kept response whose answer
 * is a get_weather call (call_fk). Its response object. */
static json_t *weather_turn(sf *f) {
    sf_start(f);
    sf_push(f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_tool.json", NULL, 0, 0);
    sf_reply r;
    sf_post(f, "/v1/responses",
            "{\"model\":\"openai/gpt-4o-mini\",\"instructions\":\"Be brief.\",\"input\":\"Weather?\","
            "\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}]}",
            &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    free(r.body);
    return j;
}

/* The Responses API's kept responses: a tool call answered by previous_response_id with only the
 * tool's output (the upstream gets the whole conversation back), streamed; GET returns the kept
 * object (the streamed one's ids); DELETE removes it, and continuing from it is then OpenAI's
 * previous_response_not_found; store: false keeps nothing. */
static void test_responses_previous_response_id(void **state) {
    (void)state;
    sf f;
    sf_reply r;
    json_t *j = weather_turn(&f);
    char id1[128];
    snprintf(id1, sizeof id1, "%s", json_string_value(json_object_get(j, "id")));
    assert_true(json_is_true(json_object_get(j, "store")));
    assert_true(json_is_null(json_object_get(j, "previous_response_id")));
    json_t *call = json_array_get(json_object_get(j, "output"), 0);
    assert_string_equal(json_string_value(json_object_get(call, "type")), "function_call");
    assert_string_equal(json_string_value(json_object_get(call, "call_id")), "call_fk");
    json_decref(j);

    /* The client sends only the tool's output, streamed this time. */
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 0, 0);
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,\"previous_response_id\":\"%s\",\"input\":["
             "{\"type\":\"function_call_output\",\"call_id\":\"call_fk\",\"output\":\"sunny\"}]}",
             id1);
    sf_post(&f, "/v1/responses", body, &r);
    assert_int_equal(r.status, 200);
    frame fr[64];
    size_t n = parse_sse(r.body, fr, 64);
    assert_true(n >= 3);
    assert_string_equal(fr[n - 1].event, "response.completed");
    j = load(fr[n - 1].data);
    json_t *streamed = json_incref(json_object_get(j, "response"));
    json_decref(j);
    frames_free(fr, n);
    free(r.body);
    assert_string_equal(json_string_value(json_object_get(streamed, "previous_response_id")), id1);
    char id2[128];
    snprintf(id2, sizeof id2, "%s", json_string_value(json_object_get(streamed, "id")));
    /* Upstream: the first turn (without its instructions: they are not carried over), the tool
     * call, then the new tool result. */
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 1, &up));
    j = load(up.body);
    free(up.body);
    json_t *msgs = json_object_get(j, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "user");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "content")), "Weather?");
    json_t *asst = json_array_get(msgs, 1);
    assert_string_equal(json_string_value(json_object_get(asst, "role")), "assistant");
    json_t *tc = json_array_get(json_object_get(asst, "tool_calls"), 0);
    assert_string_equal(json_string_value(json_object_get(tc, "id")), "call_fk");
    assert_string_equal(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")), "{\"city\":\"Paris\"}");
    json_t *tool = json_array_get(msgs, 2);
    assert_string_equal(json_string_value(json_object_get(tool, "role")), "tool");
    assert_string_equal(json_string_value(json_object_get(tool, "tool_call_id")), "call_fk");
    json_decref(j);

    /* GET returns the kept object: the streamed response.completed's (also without /v1). */
    char path[256];
    snprintf(path, sizeof path, "/v1/responses/%s", id2);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", path, NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    j = load(r.body);
    free(r.body);
    assert_true(json_equal(j, streamed));
    json_decref(j);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", path + 3, NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    free(r.body);
    json_decref(streamed);

    /* A third turn continues from the second: the whole conversation, the second answer last. */
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    snprintf(body, sizeof body, "{\"model\":\"openai/gpt-4o-mini\",\"previous_response_id\":\"%s\",\"input\":\"Thanks\"}", id2);
    sf_post(&f, "/v1/responses", body, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_true(lx_fake_server_request(f.up, 2, &up));
    j = load(up.body);
    free(up.body);
    msgs = json_object_get(j, "messages");
    assert_int_equal(json_array_size(msgs), 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 3), "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 4), "content")), "Thanks");
    json_decref(j);

    /* DELETE, then the id is gone for GET, DELETE and continuation. */
    snprintf(path, sizeof path, "/v1/responses/%s", id1);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "DELETE", path, NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    j = load(r.body);
    free(r.body);
    assert_string_equal(json_string_value(json_object_get(j, "id")), id1);
    assert_true(json_is_true(json_object_get(j, "deleted")));
    json_decref(j);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", path, NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "DELETE", path, NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    free(r.body);
    snprintf(body, sizeof body, "{\"model\":\"openai/gpt-4o-mini\",\"previous_response_id\":\"%s\",\"input\":\"Again\"}", id1);
    sf_post(&f, "/v1/responses", body, &r);
    assert_int_equal(r.status, 400);
    j = load(r.body);
    free(r.body);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "previous_response_not_found");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "previous_response_id");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    json_decref(j);

    /* store: false keeps nothing. */
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    sf_post(&f, "/v1/responses", "{\"model\":\"openai/gpt-4o-mini\",\"store\":false,\"input\":\"Hi\"}", &r);
    assert_int_equal(r.status, 200);
    j = load(r.body);
    free(r.body);
    assert_true(json_is_false(json_object_get(j, "store")));
    snprintf(path, sizeof path, "/v1/responses/%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", path, NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    free(r.body);
    /* A malformed previous_response_id is the client's error. */
    sf_post(&f, "/v1/responses", "{\"model\":\"openai/gpt-4o-mini\",\"previous_response_id\":7,\"input\":\"Hi\"}", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "previous_response_id"));
    free(r.body);
    sf_stop(&f);
}

/* GET the path; the parsed body (status checked). */
static json_t *get_json(sf *f, const char *path, int status) {
    sf_reply r;
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(f, "GET", path, NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, status);
    json_t *j = load(r.body);
    free(r.body);
    return j;
}

static const char *item_id_at(const json_t *page, size_t i) {
    return json_string_value(json_object_get(json_array_get(json_object_get(page, "data"), i), "id"));
}

/* Stateless clients refer to an earlier response's items by id (item_reference) instead of
 * resending them; GET /v1/responses/{id}/input_items pages through what a response was given. */
static void test_responses_input_items_and_references(void **state) {
    (void)state;
    sf f;
    sf_reply r;
    json_t *j = weather_turn(&f);
    char id1[128], fc[160];
    snprintf(id1, sizeof id1, "%s", json_string_value(json_object_get(j, "id")));
    snprintf(fc, sizeof fc, "%s", json_string_value(json_object_get(json_array_get(json_object_get(j, "output"), 0), "id")));
    json_decref(j);

    /* The first response's input: the user's message (instructions are not an item). */
    char path[512];
    snprintf(path, sizeof path, "/v1/responses/%s/input_items", id1);
    j = get_json(&f, path, 200);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "list");
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    json_t *it = json_array_get(json_object_get(j, "data"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "role")), "user");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(it, "content"), 0), "text")),
                        "Weather?");
    assert_string_equal(json_string_value(json_object_get(j, "first_id")), item_id_at(j, 0));
    assert_string_equal(json_string_value(json_object_get(j, "last_id")), item_id_at(j, 0));
    assert_true(json_is_false(json_object_get(j, "has_more")));
    char user_item[160];
    snprintf(user_item, sizeof user_item, "%s", item_id_at(j, 0));
    json_decref(j);

    /* The second turn resends nothing it got from the server: both earlier items by reference. */
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"model\":\"openai/gpt-4o-mini\",\"input\":[{\"type\":\"item_reference\",\"id\":\"%s\"},"
             "{\"type\":\"item_reference\",\"id\":\"%s\"},"
             "{\"type\":\"function_call_output\",\"call_id\":\"call_fk\",\"output\":\"sunny\"}]}",
             user_item, fc);
    sf_post(&f, "/v1/responses", body, &r);
    assert_int_equal(r.status, 200);
    j = load(r.body);
    free(r.body);
    char id2[128];
    snprintf(id2, sizeof id2, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 1, &up));
    j = load(up.body);
    free(up.body);
    json_t *msgs = json_object_get(j, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "content")), "Weather?");
    json_t *tc = json_array_get(json_object_get(json_array_get(msgs, 1), "tool_calls"), 0);
    assert_string_equal(json_string_value(json_object_get(tc, "id")), "call_fk");
    assert_string_equal(json_string_value(json_object_get(json_object_get(tc, "function"), "name")), "get_weather");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 2), "tool_call_id")), "call_fk");
    json_decref(j);

    /* Its three input items: newest first by default; pages of two in ascending order. */
    snprintf(path, sizeof path, "/v1/responses/%s/input_items", id2);
    j = get_json(&f, path, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "type")),
                        "function_call_output");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 1), "type")),
                        "function_call");
    json_decref(j);
    snprintf(path, sizeof path, "/v1/responses/%s/input_items?order=asc&limit=2", id2);
    j = get_json(&f, path, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    assert_true(json_is_true(json_object_get(j, "has_more")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "role")), "user");
    char after[160];
    snprintf(after, sizeof after, "%s", json_string_value(json_object_get(j, "last_id")));
    json_decref(j);
    snprintf(path, sizeof path, "/v1/responses/%s/input_items?order=asc&limit=2&after=%s", id2, after);
    j = get_json(&f, path, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_true(json_is_false(json_object_get(j, "has_more")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "output")), "sunny");
    /* An input item of a kept response can be referred to as well. */
    char out_item[160];
    snprintf(out_item, sizeof out_item, "%s", item_id_at(j, 0));
    json_decref(j);
    snprintf(path, sizeof path, "/v1/responses/%s/input_items?before=%s", id2, out_item);
    j = get_json(&f, path, 200); /* descending: nothing comes before the newest */
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
    assert_true(json_is_null(json_object_get(j, "first_id")));
    json_decref(j);
    /* before alone pages backwards: the one item just before the cursor, more further back. */
    snprintf(path, sizeof path, "/v1/responses/%s/input_items?order=asc&limit=1&before=%s", id2, out_item);
    j = get_json(&f, path, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "type")),
                        "function_call");
    assert_true(json_is_true(json_object_get(j, "has_more")));
    json_decref(j);
    /* Referring to previous_response_id's own items would put them in twice: OpenAI's 400. */
    snprintf(body, sizeof body,
             "{\"model\":\"openai/gpt-4o-mini\",\"previous_response_id\":\"%s\",\"input\":["
             "{\"type\":\"item_reference\",\"id\":\"%s\"},{\"role\":\"user\",\"content\":\"more\"}]}",
             id2, out_item);
    sf_post(&f, "/v1/responses", body, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "Duplicate item"));
    free(r.body);

    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    snprintf(body, sizeof body,
             "{\"model\":\"openai/gpt-4o-mini\",\"store\":false,\"input\":[{\"type\":\"item_reference\",\"id\":\"%s\"}]}",
             out_item);
    sf_post(&f, "/v1/responses", body, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_true(lx_fake_server_request(f.up, 2, &up));
    j = load(up.body);
    free(up.body);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "messages"), 0), "role")),
                        "tool");
    json_decref(j);

    /* Unknown references and responses, bad parameters, a POST to the list. */
    sf_post(&f, "/v1/responses", "{\"model\":\"openai/gpt-4o-mini\",\"input\":[{\"type\":\"item_reference\",\"id\":\"fc_nope_0\"}]}",
            &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "fc_nope_0"));
    free(r.body);
    j = get_json(&f, "/v1/responses/resp_nope/input_items", 404);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/responses/%s/input_items?limit=0", id2);
    j = get_json(&f, path, 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "param")), "limit");
    json_decref(j);
    snprintf(path, sizeof path, "/v1/responses/%s/input_items?order=up", id2);
    json_decref(get_json(&f, path, 400));
    snprintf(path, sizeof path, "/v1/responses/%s/input_items?after=msg_x_in9", id2);
    json_decref(get_json(&f, path, 400));
    snprintf(path, sizeof path, "/v1/responses/%s/input_items", id2);
    sf_post(&f, path, "{}", &r);
    assert_int_equal(r.status, 400);
    free(r.body);
    sf_stop(&f);
}

/* Codex (0.131 and later) declares apply_patch as a custom (freeform) tool, with a Lark grammar:
 * the backend gets a function taking one string, and the call comes back to Codex as a
 * custom_tool_call whose input is the raw patch; the next turn sends it back as
 * custom_tool_call and custom_tool_call_output items. */
static void test_responses_codex_apply_patch(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_apply_patch.sse", NULL, 0, 0);
    const char *first =
        "{\"model\":\"openai/gpt-4o-mini\",\"instructions\":\"You are Codex.\",\"stream\":true,\"store\":false,"
        "\"include\":[\"reasoning.encrypted_content\"],\"prompt_cache_key\":\"conv-1\",\"tool_choice\":\"auto\","
        "\"parallel_tool_calls\":false,\"reasoning\":{\"effort\":\"medium\",\"summary\":\"auto\"},"
        "\"text\":{\"verbosity\":\"medium\"},"
        "\"input\":[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"add hello.txt\"}]}],"
        "\"tools\":[{\"type\":\"function\",\"name\":\"shell\",\"description\":\"Runs a command\",\"strict\":false,"
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
        "\"required\":[\"command\"],\"additionalProperties\":false}},"
        "{\"type\":\"web_search\",\"external_web_access\":false},"
        "{\"type\":\"custom\",\"name\":\"apply_patch\",\"description\":\"Use the `apply_patch` tool to edit files. This is a "
        "FREEFORM tool, so do not wrap the patch in JSON.\",\"format\":{\"type\":\"grammar\",\"syntax\":\"lark\","
        "\"definition\":\"start: begin_patch hunk+ end_patch\\nbegin_patch: \\\"*** Begin Patch\\\" LF\"}}]}";
    sf_reply r;
    sf_post(&f, "/v1/responses", first, &r);
    assert_int_equal(r.status, 200);
    frame fr[64];
    size_t n = parse_sse(r.body, fr, 64);
    assert_true(n >= 4);
    assert_string_equal(fr[n - 1].event, "response.completed");
    bool input_done = false;
    for (size_t i = 0; i < n; i++) {
        assert_null(strstr(fr[i].data, "function_call_arguments"));
        if (strcmp(fr[i].event, "response.custom_tool_call_input.done") == 0) input_done = true;
    }
    assert_true(input_done);
    json_t *j = load(fr[n - 1].data);
    frames_free(fr, n);
    free(r.body);
    json_t *call = json_array_get(json_object_get(json_object_get(j, "response"), "output"), 0);
    assert_string_equal(json_string_value(json_object_get(call, "type")), "custom_tool_call");
    assert_string_equal(json_string_value(json_object_get(call, "name")), "apply_patch");
    assert_string_equal(json_string_value(json_object_get(call, "call_id")), "call_ap");
    assert_string_equal(json_string_value(json_object_get(call, "input")),
                        "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch");
    json_decref(j);
    /* Upstream: apply_patch as a function of one string, its grammar in the description. */
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    j = load(up.body);
    free(up.body);
    assert_int_equal(json_array_size(json_object_get(j, "tools")), 2); /* shell, apply_patch: no hosted search */
    json_t *fn = json_object_get(json_array_get(json_object_get(j, "tools"), 1), "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "apply_patch");
    assert_non_null(strstr(json_string_value(json_object_get(fn, "description")), "lark grammar:\nstart: begin_patch"));
    assert_non_null(json_object_get(json_object_get(json_object_get(fn, "parameters"), "properties"), "input"));
    json_decref(j);

    /* The next turn: the call and its output, as Codex sends them back. */
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    const char *second =
        "{\"model\":\"openai/gpt-4o-mini\",\"store\":false,\"input\":["
        "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"add hello.txt\"}]},"
        "{\"type\":\"custom_tool_call\",\"call_id\":\"call_ap\",\"name\":\"apply_patch\","
        "\"input\":\"*** Begin Patch\\n*** Add File: hello.txt\\n+hello\\n*** End Patch\"},"
        "{\"type\":\"custom_tool_call_output\",\"call_id\":\"call_ap\",\"output\":\"Success. Updated: A hello.txt\"}],"
        "\"tools\":[{\"type\":\"custom\",\"name\":\"apply_patch\",\"format\":{\"type\":\"text\"}}]}";
    sf_post(&f, "/v1/responses", second, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_true(lx_fake_server_request(f.up, 1, &up));
    j = load(up.body);
    free(up.body);
    json_t *msgs = json_object_get(j, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    json_t *tc = json_array_get(json_object_get(json_array_get(msgs, 1), "tool_calls"), 0);
    json_t *args = load(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")));
    assert_string_equal(json_string_value(json_object_get(args, "input")),
                        "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch");
    json_decref(args);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 2), "content")), "Success. Updated: A hello.txt");
    json_decref(j);
    sf_stop(&f);
}

/* Prompt-cache breakpoints reach an Anthropic backend where the client put them: an Anthropic
 * client's system blocks, tools and content blocks, and an OpenAI-format client's content parts
 * (LiteLLM's and OpenRouter's convention). Without them every turn of a long conversation would
 * be billed at the full input price. */
static void test_cache_control_to_anthropic(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_text.json", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_text.json", NULL, 0, 0);
    sf_reply r;
    memset(&r, 0, sizeof r);
    const char *first =
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"max_tokens\":100,\"metadata\":{\"user_id\":\"user_42\"},"
            "\"service_tier\":\"auto\",\"system\":[{\"type\":\"text\",\"text\":\"You are Claude Code.\"},"
            "{\"type\":\"text\",\"text\":\"Project rules.\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
            "\"tools\":[{\"name\":\"Read\",\"input_schema\":{\"type\":\"object\"},\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}],"
            "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\",\"cache_control\":{\"type\":\"ephemeral\"}}]}]}";
    /* Claude Code's betas ride along to the provider. */
    assert_int_equal(sf_http(&f, "POST", "/v1/messages", first, strlen(first),
                             "anthropic-beta: interleaved-thinking-2025-05-14, context-1m-2025-08-07", &r),
                     CURLE_OK);
    assert_int_equal(r.status, 200);
    free(r.body);
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    if (!strcasestr(up.headers, "anthropic-beta: interleaved-thinking-2025-05-14,context-1m-2025-08-07\r\n"))
        fail_msg("%s", up.headers);
    assert_null(strstr(up.body, "betas"));
    json_t *j = load(up.body);
    free(up.body);
    /* Claude Code's metadata.user_id and the service tier reach Anthropic as sent. */
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "user_id")), "user_42");
    assert_string_equal(json_string_value(json_object_get(j, "service_tier")), "auto");
    json_t *sys = json_object_get(j, "system");
    assert_int_equal(json_array_size(sys), 2);
    assert_null(json_object_get(json_array_get(sys, 0), "cache_control"));
    json_t *cc = json_object_get(json_array_get(sys, 1), "cache_control");
    assert_string_equal(json_string_value(json_object_get(cc, "type")), "ephemeral");
    cc = json_object_get(json_array_get(json_object_get(j, "tools"), 0), "cache_control");
    assert_string_equal(json_string_value(json_object_get(cc, "ttl")), "1h");
    json_t *content = json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content");
    assert_non_null(json_object_get(json_array_get(content, 0), "cache_control"));
    json_decref(j);

    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\","
            "\"text\":\"Rules.\",\"cache_control\":{\"type\":\"ephemeral\"}}]},{\"role\":\"user\",\"content\":\"Hi\"}]}",
            &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_true(lx_fake_server_request(f.up, 1, &up));
    j = load(up.body);
    free(up.body);
    sys = json_object_get(j, "system");
    assert_true(json_is_array(sys));
    assert_non_null(json_object_get(json_array_get(sys, 0), "cache_control"));
    json_decref(j);
    /* A local model reads cached system blocks as the one prompt they are without breakpoints
     * (a line apart): the same count. */
    json_int_t counts[2];
    const char *systems[2] = {"\"You are Claude Code.\\nProject rules.\"",
                              "[{\"type\":\"text\",\"text\":\"You are Claude Code.\"},{\"type\":\"text\",\"text\":"
                              "\"Project rules.\",\"cache_control\":{\"type\":\"ephemeral\"}}]"};
    for (int i = 0; i < 2; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"model\":\"" SF_LOCAL "\",\"system\":%s,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
                 systems[i]);
        sf_post(&f, "/v1/messages/count_tokens", body, &r);
        assert_int_equal(r.status, 200);
        j = load(r.body);
        free(r.body);
        counts[i] = json_integer_value(json_object_get(j, "input_tokens"));
        json_decref(j);
    }
    assert_true(counts[0] > 0);
    assert_int_equal(counts[0], counts[1]);
    sf_stop(&f);
}

/* A PDF from an Anthropic client (Claude Code reading a PDF) reaches an OpenAI backend as a
 * Chat Completions file part, and an Anthropic backend as the document block it was. */
static void test_document_across_formats(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_text.json", NULL, 0, 0);
    const char *models[] = {"openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"};
    for (int i = 0; i < 2; i++) {
        char body[768];
        snprintf(body, sizeof body,
                 "{\"model\":\"%s\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":["
                 "{\"type\":\"document\",\"title\":\"report.pdf\",\"source\":{\"type\":\"base64\","
                 "\"media_type\":\"application/pdf\",\"data\":\"JVBERi0xLjQK\"}},{\"type\":\"text\",\"text\":\"Summarize.\"}]}]}",
                 models[i]);
        sf_reply r;
        sf_post(&f, "/v1/messages", body, &r);
        if (r.status != 200) fail_msg("%s", r.body);
        free(r.body);
    }
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    json_t *j = load(up.body);
    free(up.body);
    json_t *part = json_array_get(json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(part, "type")), "file");
    assert_string_equal(json_string_value(json_object_get(json_object_get(part, "file"), "filename")), "report.pdf");
    assert_string_equal(json_string_value(json_object_get(json_object_get(part, "file"), "file_data")),
                        "data:application/pdf;base64,JVBERi0xLjQK");
    json_decref(j);
    assert_true(lx_fake_server_request(f.up, 1, &up));
    j = load(up.body);
    free(up.body);
    part = json_array_get(json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(part, "type")), "document");
    assert_string_equal(json_string_value(json_object_get(json_object_get(part, "source"), "data")), "JVBERi0xLjQK");
    json_decref(j);
    sf_stop(&f);
}

/* response_format json_schema from an OpenAI client on an Anthropic backend: the forced tool
 * went upstream, the answer comes back as the message's JSON content with finish_reason stop
 * (not a tool call), streamed too. */
static void test_json_schema_on_anthropic(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/providers/data/anthropic/message_json_output.json", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "text/event-stream", "tests/providers/data/anthropic/stream_json_output.sse", NULL, 0, 0);
    const char *body = "{\"model\":\"anthropic/claude-sonnet-4-5\",%s\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
                       "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"w\",\"schema\":"
                       "{\"type\":\"object\",\"properties\":{\"temp\":{\"type\":\"number\"}}}}}}";
    char b[512];
    snprintf(b, sizeof b, body, "");
    sf_reply r;
    sf_post(&f, "/v1/chat/completions", b, &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "stop");
    json_t *msg = json_object_get(c0, "message");
    assert_null(json_object_get(msg, "tool_calls"));
    json_t *answer = load(json_string_value(json_object_get(msg, "content")));
    assert_true(json_real_value(json_object_get(answer, "temp")) == 21.5);
    json_decref(answer);
    json_decref(j);
    free(r.body);
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    assert_non_null(strstr(up.body, "\"llmux_json_response\""));
    free(up.body);
    snprintf(b, sizeof b, body, "\"stream\":true,");
    sf_post(&f, "/v1/chat/completions", b, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"finish_reason\":\"stop\""));
    assert_null(strstr(r.body, "tool_calls"));
    assert_non_null(strstr(r.body, "21.5}"));
    free(r.body);
    sf_stop(&f);
}

/* A local model stopped by one of the client's stop sequences: Anthropic's stop_reason
 * "stop_sequence" naming it, whole and streamed (the bundled model writes spaces early). */
static void test_stop_sequence_reported(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_reply r;
    sf_post(&f, "/v1/messages",
            "{\"model\":\"" SF_LOCAL "\",\"max_tokens\":64,\"stop_sequences\":[\"zzz\",\" \"],"
            "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
            &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    if (strcmp(json_string_value(json_object_get(j, "stop_reason")), "stop_sequence") != 0) fail_msg("%s", r.body);
    assert_string_equal(json_string_value(json_object_get(j, "stop_sequence")), " ");
    const char *text = json_string_value(json_object_get(json_array_get(json_object_get(j, "content"), 0), "text"));
    assert_null(strchr(text ? text : "", ' '));
    json_decref(j);
    free(r.body);
    sf_post(&f, "/v1/messages",
            "{\"model\":\"" SF_LOCAL "\",\"max_tokens\":64,\"stream\":true,\"stop_sequences\":[\" \"],"
            "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
            &r);
    assert_int_equal(r.status, 200);
    if (!strstr(r.body, "\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\" \"")) fail_msg("%s", r.body);
    free(r.body);
    /* Without a stop sequence in play: end_turn or max_tokens, stop_sequence null. */
    sf_post(&f, "/v1/messages",
            "{\"model\":\"" SF_LOCAL "\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}", &r);
    assert_non_null(strstr(r.body, "\"stop_sequence\":null"));
    free(r.body);
    sf_stop(&f);
}

/* An Anthropic backend's tool_use reaches an OpenAI client as tool_calls. */
static void test_anthropic_tool_use_as_tool_calls(void **state) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/messages", 200, "text/event-stream", "tests/data/fake/anthropic/stream_tool.sse", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_tool.json", NULL, 0, 0);
    const char *req = "{\"model\":\"anthropic/claude-sonnet-4-5\",%s\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
                      "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}],"
                      "\"tool_choice\":\"required\"}";
    char body[512];
    snprintf(body, sizeof body, req, "\"stream\":true,");
    sf_reply r;
    sf_post(&f, "/v1/chat/completions", body, &r);
    assert_int_equal(r.status, 200);
    frame fr[64];
    size_t n = parse_sse(r.body, fr, 64);
    assert_string_equal(fr[n - 1].data, "[DONE]");
    char args[256] = "";
    int firsts = 0;
    const char *finish = NULL;
    for (size_t i = 1; i + 1 < n; i++) {
        json_t *j = load(fr[i].data);
        json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
        json_t *tc = json_array_get(json_object_get(json_object_get(c0, "delta"), "tool_calls"), 0);
        if (tc) {
            assert_int_equal(json_integer_value(json_object_get(tc, "index")), 0);
            json_t *fn = json_object_get(tc, "function");
            if (json_object_get(tc, "id")) { /* the first fragment: id, type and name, only there */
                firsts++;
                assert_string_equal(json_string_value(json_object_get(tc, "id")), "toolu_fk");
                assert_string_equal(json_string_value(json_object_get(tc, "type")), "function");
                assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_weather");
            } else {
                assert_null(json_object_get(fn, "name"));
            }
            strcat(args, json_string_value(json_object_get(fn, "arguments")));
        }
        if (json_is_string(json_object_get(c0, "finish_reason"))) finish = strdup(json_string_value(json_object_get(c0, "finish_reason")));
        json_decref(j);
    }
    assert_int_equal(firsts, 1);
    json_t *parsed = load(args);
    assert_string_equal(json_string_value(json_object_get(parsed, "city")), "Paris");
    json_decref(parsed);
    assert_non_null(finish);
    assert_string_equal(finish, "tool_calls");
    free((void *)finish);
    frames_free(fr, n);
    free(r.body);
    /* tool_choice "required" went upstream as Anthropic's {"type":"any"}. */
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    assert_non_null(strstr(up.body, "\"any\""));
    free(up.body);

    snprintf(body, sizeof body, req, "");
    sf_post(&f, "/v1/chat/completions", body, &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "tool_calls");
    json_t *tc = json_array_get(json_object_get(json_object_get(c0, "message"), "tool_calls"), 0);
    assert_string_equal(json_string_value(json_object_get(tc, "type")), "function");
    assert_string_equal(json_string_value(json_object_get(json_object_get(tc, "function"), "name")), "get_weather");
    json_decref(j);
    free(r.body);
    sf_stop(&f);
}

/* A vLLM user's request through llmux: the fields llmux does not read (chat_template_kwargs,
 * guided_json) reach the OpenAI-compatible backend as sent. */
static void test_chat_extras_reach_backend(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"openai/qwen3\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"top_k\":20,"
            "\"chat_template_kwargs\":{\"enable_thinking\":false},\"guided_json\":{\"type\":\"object\"}}",
            &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    json_t *u = load(up.body);
    free(up.body);
    assert_true(json_is_false(json_object_get(json_object_get(u, "chat_template_kwargs"), "enable_thinking")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(u, "guided_json"), "type")), "object");
    assert_null(json_object_get(u, "openai_chat"));
    json_decref(u);
    sf_stop(&f);
}

/* Claude Code's web search through llmux to Anthropic: the server tool reaches the upstream as
 * declared; its server_tool_use and web_search_tool_result blocks come back to the Anthropic
 * client whole, streamed (block indexes in order, every start closed) and not; the next turn
 * sends them back to the upstream unchanged. An OpenAI client of the same backend gets the text. */
static void test_anthropic_server_tools(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/messages", 200, "text/event-stream", "tests/data/fake/anthropic/stream_web_search.sse", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_web_search.json", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_text.json", NULL, 0, 0);
    sf_push(&f, "/v1/messages", 200, "application/json", "tests/data/fake/anthropic/response_web_search.json", NULL, 0, 0);
    const char *req = "{\"model\":\"anthropic/claude-sonnet-4-5\",\"max_tokens\":1000,%s"
                      "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\",\"max_uses\":8}],"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}]}";
    char body[1024];
    snprintf(body, sizeof body, req, "\"stream\":true,");
    sf_reply r;
    sf_post(&f, "/v1/messages", body, &r);
    assert_int_equal(r.status, 200);
    lx_fake_request up;
    assert_true(lx_fake_server_request(f.up, 0, &up));
    json_t *u = load(up.body);
    free(up.body);
    json_t *t0 = json_array_get(json_object_get(u, "tools"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "type")), "web_search_20250305");
    assert_int_equal(json_integer_value(json_object_get(t0, "max_uses")), 8);
    json_decref(u);
    frame fr[64];
    size_t n = parse_sse(r.body, fr, 64);
    const char *types[8];
    size_t nb = 0, stops = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *j = load(fr[i].data);
        if (strcmp(fr[i].event, "content_block_start") == 0) {
            assert_int_equal(json_integer_value(json_object_get(j, "index")), (json_int_t)nb);
            json_t *cb = json_object_get(j, "content_block");
            assert_true(nb < 8);
            types[nb++] = strdup(json_string_value(json_object_get(cb, "type")));
            if (strcmp(types[nb - 1], "server_tool_use") == 0) {
                assert_string_equal(json_string_value(json_object_get(cb, "id")), "srvtoolu_fk1");
                assert_string_equal(json_string_value(json_object_get(json_object_get(cb, "input"), "query")),
                                    "weather Paris today");
            }
            if (strcmp(types[nb - 1], "web_search_tool_result") == 0)
                assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(cb, "content"), 0), "url")),
                                    "https://weather.example/paris");
        }
        if (strcmp(fr[i].event, "content_block_stop") == 0) {
            assert_int_equal(json_integer_value(json_object_get(j, "index")), (json_int_t)stops);
            stops++;
        }
        if (strcmp(fr[i].event, "message_delta") == 0)
            assert_string_equal(json_string_value(json_object_get(json_object_get(j, "delta"), "stop_reason")), "end_turn");
        json_decref(j);
    }
    assert_int_equal(nb, 4);
    assert_int_equal(stops, 4);
    const char *want[] = {"text", "server_tool_use", "web_search_tool_result", "text"};
    for (size_t i = 0; i < nb; i++) {
        assert_string_equal(types[i], want[i]);
        free((void *)types[i]);
    }
    frames_free(fr, n);
    free(r.body);

    /* Not streamed: the same blocks in the message's content. */
    snprintf(body, sizeof body, req, "");
    sf_post(&f, "/v1/messages", body, &r);
    assert_int_equal(r.status, 200);
    json_t *m = load(r.body);
    free(r.body);
    json_t *content = json_object_get(m, "content");
    assert_int_equal(json_array_size(content), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(content, i), "type")), want[i]);
    assert_string_equal(json_string_value(json_object_get(m, "stop_reason")), "end_turn");
    /* The search is counted as Anthropic counts it (and priced: pricing.h). */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(m, "usage"), "server_tool_use"),
                                                        "web_search_requests")),
                     1);

    /* The next turn sends the answer back: the server blocks reach Anthropic as they came. */
    json_t *next = json_pack("{s:s,s:i,s:[{s:s,s:s},{s:s,s:O},{s:s,s:s}]}", "model", "anthropic/claude-sonnet-4-5",
                             "max_tokens", 100, "messages", "role", "user", "content", "Weather in Paris?", "role",
                             "assistant", "content", content, "role", "user", "content", "Thanks");
    char *next_text = json_dumps(next, JSON_COMPACT);
    sf_post(&f, "/v1/messages", next_text, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_true(lx_fake_server_request(f.up, 2, &up));
    u = load(up.body);
    free(up.body);
    json_t *sent = json_object_get(json_array_get(json_object_get(u, "messages"), 1), "content");
    assert_int_equal(json_array_size(sent), 4);
    for (size_t i = 1; i < 3; i++) assert_true(json_equal(json_array_get(sent, i), json_array_get(content, i)));
    json_decref(u);
    json_decref(next);
    free(next_text);
    json_decref(m);

    /* An OpenAI-format client of the same backend gets the answer's text. */
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}]}", &r);
    assert_int_equal(r.status, 200);
    m = load(r.body);
    json_t *msg = json_object_get(json_array_get(json_object_get(m, "choices"), 0), "message");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "Let me look that up.It is sunny in Paris.");
    assert_null(json_object_get(msg, "tool_calls"));
    json_decref(m);
    free(r.body);
    sf_stop(&f);
}

/* -------------------------------------------------------------- errors */

static void assert_openai_error(const sf_reply *r, long status, const char *type, const char *code) {
    assert_int_equal(r->status, status);
    json_t *j = load(r->body);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_true(strlen(json_string_value(json_object_get(e, "message"))) > 0);
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    if (code) assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    json_decref(j);
}

static void assert_anthropic_error(const sf_reply *r, long status, const char *type) {
    assert_int_equal(r->status, status);
    json_t *j = load(r->body);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "error");
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    assert_true(strlen(json_string_value(json_object_get(e, "message"))) > 0);
    json_decref(j);
}

static void test_errors(void **state) {
    sf f;
    sf_start(&f);
    sf_reply r;
    /* An upstream 429 before anything streamed: the client's status, shape and Retry-After. */
    sf_push(&f, "/v1/chat/completions", 429, "application/json", "tests/data/fake/openai/error_429.json",
            "Retry-After: 7\r\n", 0, 0);
    sf_post(&f, "/v1/chat/completions", "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_openai_error(&r, 429, "rate_limit_error", "rate_limited");
    assert_true(has_header(&r, "Retry-After: 7"));
    free(r.body);
    sf_push(&f, "/v1/messages", 429, "application/json", "tests/data/fake/anthropic/error_429.json", "retry-after: 3\r\n", 0, 0);
    sf_post(&f, "/v1/messages",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"max_tokens\":5,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_anthropic_error(&r, 429, "rate_limit_error");
    assert_true(has_header(&r, "Retry-After: 3"));
    free(r.body);
    /* Malformed bodies and refused fields. */
    sf_post(&f, "/v1/chat/completions", "{\"model\": ", &r);
    assert_openai_error(&r, 400, "invalid_request_error", "invalid_request");
    free(r.body);
    sf_post(&f, "/v1/chat/completions", "{\"model\":\"" SF_LOCAL "\",\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_openai_error(&r, 400, "invalid_request_error", NULL);
    assert_non_null(strstr(r.body, "n: only n = 1"));
    free(r.body);
    sf_post(&f, "/v1/chat/completions", "{\"model\":\"" SF_LOCAL "\",\"logprobs\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_openai_error(&r, 400, "invalid_request_error", NULL);
    free(r.body);
    sf_post(&f, "/v1/messages", "{\"model\":\"" SF_LOCAL "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_anthropic_error(&r, 400, "invalid_request_error");
    assert_non_null(strstr(r.body, "max_tokens"));
    free(r.body);
    /* An unknown local model: refused before anything runs, with its class's status. */
    sf_post(&f, "/v1/messages", "{\"model\":\"local/nope\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_anthropic_error(&r, 404, "not_found_error");
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/v1/nothing", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/v1/chat/completions", NULL, 0, NULL, &r), CURLE_OK);
    assert_openai_error(&r, 400, "invalid_request_error", NULL);
    free(r.body);
    assert_int_equal(lx_fake_server_mismatches(f.up), 0);
    sf_stop(&f);
}

static void test_body_cap(void **state) {
    lx_server_params sp = lx_server_default_params();
    sp.max_body_bytes = 4096;
    sf f;
    sf_start_with(&f, &sp);
    size_t n = 64 * 1024;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = 0;
    memcpy(big, "{\"model\":\"x\",\"messages\":[],\"pad\":\"", 35);
    sf_reply r;
    memset(&r, 0, sizeof r);
    sf_http(&f, "POST", "/v1/chat/completions", big, n, NULL, &r);
    assert_int_equal(r.status, 413);
    free(r.body);
    free(big);
    /* The server still answers afterwards. */
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/health", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    free(r.body);
    sf_stop(&f);
}

static void test_header_cap(void **state) {
    lx_server_params sp = lx_server_default_params();
    sp.max_header_bytes = 2048;
    sf f;
    sf_start_with(&f, &sp);
    char big[4096 + 16];
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', 4096);
    big[7 + 4096] = 0;
    sf_reply r;
    memset(&r, 0, sizeof r);
    sf_http(&f, "GET", "/health", NULL, 0, big, &r);
    assert_int_equal(r.status, 400);
    free(r.body);
    sf_stop(&f);
}

/* A stream whose upstream is quiet gets keep-alives: Anthropic `ping` events between its real
 * events, never before message_start. */
static void test_keepalive_pings(void **state) {
    lx_server_params sp = lx_server_default_params();
    sp.keepalive_ms = 50;
    sf f;
    sf_start_with(&f, &sp);
    sf_push(&f, "/v1/messages", 200, "text/event-stream", "tests/data/fake/anthropic/stream_text.sse", NULL, 256, 400);
    sf_reply r;
    sf_post(&f, "/v1/messages",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"max_tokens\":5,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_int_equal(r.status, 200);
    frame fr[128];
    size_t n = parse_sse(r.body, fr, 128);
    assert_string_equal(fr[0].event, "message_start");
    assert_string_equal(fr[n - 1].event, "message_stop");
    size_t pings = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(fr[i].event, "ping") == 0) {
            assert_string_equal(fr[i].data, "{\"type\":\"ping\"}");
            pings++;
        }
    assert_true(pings >= 1);
    frames_free(fr, n);
    free(r.body);
    sf_stop(&f);
}

/* The idle timeout is for clients that send nothing; an answer that takes longer than it (here a
 * 1 s timeout and an upstream that holds its status line 2.5 s) still arrives, streamed or not. */
static void test_idle_timeout_spares_slow_answers(void **state) {
    lx_server_params sp = lx_server_default_params();
    sp.idle_timeout_s = 1;
    sf f;
    sf_start_with(&f, &sp);
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/chat/completions";
    fr.headers = "Content-Type: application/json\r\n";
    fr.body_file = "tests/data/fake/openai/response_text.json";
    fr.status_delay_ms = 2500;
    assert_true(lx_fake_server_push(f.up, &fr));
    sf_reply r;
    sf_post(&f, "/v1/chat/completions", "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"chat.completion\""));
    free(r.body);
    sf_stop(&f);
}

/* X-Request-Id: a client's is echoed and recorded with the execution; without one the response
 * id is echoed; a malformed one is refused. */
static void test_request_id(void **state) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    sf_reply r;
    memset(&r, 0, sizeof r);
    const char *body = "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
    assert_int_equal(sf_http(&f, "POST", "/v1/chat/completions", body, strlen(body), "X-Request-Id: req-42.a:b_c", &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "X-Request-Id: req-42.a:b_c\r\n"));
    free(r.body);
    sf_post(&f, "/v1/chat/completions", "{\"model\":\"local/nope\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_int_equal(r.status, 404);
    assert_true(has_header(&r, "X-Request-Id: chatcmpl-"));
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/health", NULL, 0, "X-Request-Id: bad id!", &r), CURLE_OK);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "X-Request-Id"));
    free(r.body);
    sf_stop(&f);
}

/* A client that sends a streaming request and never reads: once the unread bytes pass the cap
 * the execution is cancelled (the upstream connection closes) instead of buffering the whole
 * answer in memory. */
static void test_slow_reader_cancelled(void **state) {
    lx_server_params sp = lx_server_default_params();
    sp.max_unsent_bytes = 64 * 1024;
    sf f;
    sf_start_with(&f, &sp);
    /* ~24 MB of content chunks and no [DONE]: far more than socket buffers hold. */
    static const char chunk[] =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"},\"finish_reason\":null}]}\n\n";
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/chat/completions";
    fr.headers = "Content-Type: text/event-stream\r\n";
    fr.body = chunk;
    fr.repeat = 120000;
    fr.chunk_size = 65536;
    assert_true(lx_fake_server_push(f.up, &fr));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lx_server_port(f.srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *body = "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    assert_int_equal(write(fd, head, (size_t)n), n);
    /* Never read. The runtime closes the upstream connection once the server cancels. */
    assert_true(lx_fake_server_wait_closed(f.up, 1, 20000));
    wait_active(&f, 0);
    close(fd);
    sf_stop(&f);
}

static void test_models_and_health(void **state) {
    sf f;
    sf_start(&f);
    sf_reply r;
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/v1/models", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "list");
    json_t *data = json_object_get(j, "data");
    assert_true(json_array_size(data) > 2); /* the two given ids and the catalog */
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 0), "id")), SF_LOCAL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 1), "id")), "smart");
    assert_non_null(strstr(r.body, "\"id\":\"anthropic/")); /* from the shipped catalog */
    json_decref(j);
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/v1/models", NULL, 0, "anthropic-version: 2023-06-01", &r), CURLE_OK);
    j = load(r.body);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "type")), "model");
    assert_true(json_is_false(json_object_get(j, "has_more")));
    json_decref(j);
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/health", NULL, 0, NULL, &r), CURLE_OK);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    free(r.body);
    /* The OpenAI routes without their /v1 prefix (a base URL that lacks it, as llama-server and
     * LiteLLM accept): the same handler; a path that is neither stays 404. */
    sf_post(&f, "/chat/completions",
            "{\"model\":\"" SF_LOCAL "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"object\":\"chat.completion\""));
    free(r.body);
    sf_post(&f, "/completions", "{\"model\":\"" SF_LOCAL "\",\"max_tokens\":2,\"prompt\":\"hi\"}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"object\":\"text_completion\""));
    free(r.body);
    sf_post(&f, "/chat/completion", "{}", &r);
    assert_int_equal(r.status, 404);
    free(r.body);
    sf_stop(&f);
}

/* ------------------------------------------------- disconnects, limits, stop */

typedef struct client {
    const sf *f;
    const char *path, *body;
    sf_reply r;
    CURLcode rc;
} client;

static void *client_run(void *arg) {
    client *c = arg;
    c->rc = sf_http(c->f, "POST", c->path, c->body, strlen(c->body), NULL, &c->r);
    return NULL;
}

static const char *k_slow_stream =
    "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";


static void test_disconnect_cancels_upstream(void **state) {
    sf f;
    sf_start(&f);
    /* ~1 KiB in 16-byte writes 100 ms apart: about 7 s if it ran to the end. */
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 16, 100);
    client c = {.f = &f, .path = "/v1/chat/completions", .body = k_slow_stream};
    c.r.abort_after = 1; /* hang up on the first byte of the answer */
    client_run(&c);
    assert_int_equal(c.rc, CURLE_WRITE_ERROR);
    /* The server noticed, freed the execution, and the runtime closed the upstream socket. */
    assert_true(lx_fake_server_wait_closed(f.up, 1, 5000));
    wait_active(&f, 0);
    free(c.r.body);
    sf_stop(&f);
}

static void test_busy_is_429(void **state) {
    lx_server_params sp = lx_server_default_params();
    sp.max_requests = 1;
    sf f;
    sf_start_with(&f, &sp);
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 64, 100);
    client c = {.f = &f, .path = "/v1/chat/completions", .body = k_slow_stream};
    pthread_t t;
    pthread_create(&t, NULL, client_run, &c);
    wait_active(&f, 1);
    sf_reply r;
    sf_post(&f, "/v1/chat/completions", k_slow_stream, &r);
    assert_openai_error(&r, 429, "rate_limit_error", "queue_full");
    assert_true(has_header(&r, "Retry-After: 1"));
    free(r.body);
    pthread_join(t, NULL);
    assert_int_equal(c.r.status, 200);
    assert_non_null(strstr(c.r.body, "data: [DONE]\n\n"));
    free(c.r.body);
    sf_stop(&f);
}

/* Stop with a grace period long enough: the stream in flight ends normally. Stop without one:
 * the stream is cancelled and ends with an in-stream error event. Both return. */
static void stop_case(int64_t grace_ms, bool completes) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 64, 100);
    client c = {.f = &f, .path = "/v1/chat/completions", .body = k_slow_stream};
    pthread_t t;
    pthread_create(&t, NULL, client_run, &c);
    wait_active(&f, 1);
    usleep(300000); /* the stream has begun */
    lx_server_stop(f.srv, grace_ms);
    pthread_join(t, NULL);
    assert_int_equal(c.rc, CURLE_OK);
    assert_int_equal(c.r.status, 200);
    if (completes) {
        assert_non_null(strstr(c.r.body, "data: [DONE]\n\n"));
    } else {
        assert_null(strstr(c.r.body, "[DONE]"));
        assert_non_null(strstr(c.r.body, "data: {\"error\":{"));
        assert_non_null(strstr(c.r.body, "\"code\":\"cancelled\""));
    }
    free(c.r.body);
    llmux_runtime_destroy(f.rt);
    lx_fake_server_stop(f.up);
}

static void test_graceful_stop_finishes(void **state) { stop_case(20000, true); }
static void test_stop_cancels_after_grace(void **state) { stop_case(0, false); }

/* ------------------------------------------------------ Connection: close */

/* Sends one raw HTTP/1.1 request on a fresh connection and reads until the server closes it
 * (recv gives 0). Returns the bytes read (malloc'd, NUL-terminated); NULL when the server did
 * not close the connection within 20 s (a receive timeout) or the socket failed. */
static char *raw_until_close(const sf *f, const char *request) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lx_server_port(f->srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t n = strlen(request);
    assert_int_equal(send(fd, request, n, 0), (ssize_t)n);
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    for (;;) {
        if (cap - len < 1024) out = realloc(out, cap *= 2);
        ssize_t k = recv(fd, out + len, cap - len - 1, 0);
        if (k == 0) break; /* the server closed the connection: what Connection: close asks */
        if (k < 0) {
            free(out);
            out = NULL;
            break;
        }
        len += (size_t)k;
    }
    close(fd);
    if (out) out[len] = 0;
    return out;
}

/* A client's `Connection: close` is honoured, streamed and not, although the server drops the
 * request's header lines once the call started (conn_trim.c keeps Connection for libevent's
 * reply): the answer is complete, says Connection: close, and the server closes the socket. */
static void test_connection_close(void **state) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 64, 5);
    for (int streamed = 0; streamed < 2; streamed++) {
        char body[256], req[1024];
        snprintf(body, sizeof body,
                 "{\"model\":\"openai/gpt-4o-mini\",\"stream\":%s,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
                 streamed ? "true" : "false");
        snprintf(req, sizeof req,
                 "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "X-Extra: dropped-by-conn-trim\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
        char *got = raw_until_close(&f, req);
        assert_non_null(got); /* closed by the server, not by the receive timeout */
        assert_true(strncmp(got, "HTTP/1.1 200", 12) == 0);
        char *end = strstr(got, "\r\n\r\n");
        assert_non_null(end);
        *end = 0; /* the headers */
        assert_non_null(strcasestr(got, "\r\nConnection: close"));
        const char *payload = end + 4;
        if (streamed) {
            assert_non_null(strcasestr(got, "\r\nTransfer-Encoding: chunked"));
            assert_non_null(strstr(payload, "data: [DONE]\n\n"));
            size_t pn = strlen(payload);
            assert_true(pn >= 5 && strcmp(payload + pn - 5, "0\r\n\r\n") == 0); /* the last chunk */
        } else {
            const char *cl = strcasestr(got, "\r\nContent-Length: ");
            assert_non_null(cl);
            assert_int_equal(strtoul(cl + 18, NULL, 10), strlen(payload));
            assert_non_null(strstr(payload, "\"object\":\"chat.completion\""));
        }
        free(got);
    }
    wait_active(&f, 0);
    sf_stop(&f);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_local_plain),
        cmocka_unit_test(test_anthropic_local_stream),
        cmocka_unit_test(test_openai_stream_exact_order),
        cmocka_unit_test(test_openai_tool_call_as_tool_use),
        cmocka_unit_test(test_anthropic_tool_use_as_tool_calls),
        cmocka_unit_test(test_reasoning_across_formats),
        cmocka_unit_test(test_responses_backend),
        cmocka_unit_test(test_responses_previous_response_id),
        cmocka_unit_test(test_responses_input_items_and_references),
        cmocka_unit_test(test_responses_codex_apply_patch),
        cmocka_unit_test(test_cache_control_to_anthropic),
        cmocka_unit_test(test_document_across_formats),
        cmocka_unit_test(test_stop_sequence_reported),
        cmocka_unit_test(test_json_schema_on_anthropic),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_failure_mid_stream),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_header_cap),
        cmocka_unit_test(test_keepalive_pings),
        cmocka_unit_test(test_idle_timeout_spares_slow_answers),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_slow_reader_cancelled),
        cmocka_unit_test(test_models_and_health),
        cmocka_unit_test(test_disconnect_cancels_upstream),
        cmocka_unit_test(test_busy_is_429),
        cmocka_unit_test(test_graceful_stop_finishes),
        cmocka_unit_test(test_stop_cancels_after_grace),
        cmocka_unit_test(test_connection_close),
        cmocka_unit_test(test_anthropic_server_tools),
        cmocka_unit_test(test_chat_extras_reach_backend),
        cmocka_unit_test(test_responses_hosted_web_search),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
