/* Compatibility of /v1/chat/completions and /v1/messages across backends, with the recorded
 * provider traffic of ../shared/fixtures (real OpenAI, Anthropic and Gemini streams) served by the
 * fake upstream: every client format gets its own shapes and the right finish/stop reason from
 * every backend (a tool call is tool_calls / tool_use, also from Gemini, whose finishReason is
 * STOP), reasoning comes back as reasoning_content / thinking blocks with their signature, the
 * Anthropic stream follows Anthropic's event grammar exactly, and request fields (tool_choice,
 * response_format, sampling, thinking) reach each backend in its own spelling. Without the
 * fixtures (a fresh clone) the test reports SKIP (77); with LLMUX_REQUIRE_FIXTURES=1 (CI) it fails. */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "server_fixture.h"

#define FIX "../shared/fixtures/providers/"

/* The fixture's runtime plus a "gemini" provider on the same fake upstream. */
static void start(sf *f) {
    sf_start(f);
    /* sf_start's runtime has openai and anthropic; rebuild it with gemini as well. */
    lx_server_stop(f->srv, 0);
    llmux_runtime_destroy(f->rt);
    static char gem_url[256];
    lx_fake_server_url(f->up, "/v1beta", gem_url, sizeof gem_url);
    static llmux_provider_params p[3];
    p[0] = f->p[0];
    p[1] = f->p[1];
    p[2] = (llmux_provider_params){.name = "gemini", .base_url = gem_url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = p;
    rp.n_providers = 3;
    const char *dirs[] = {SF_MODEL_DIR};
    rp.model_dirs = dirs;
    rp.n_model_dirs = 1;
    rp.n_threads = 2;
    rp.n_ctx = 256;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &f->rt, &err), LLMUX_OK);
    lx_server_params sp = lx_server_default_params();
    sp.port = 0;
    assert_int_equal(lx_server_start(f->rt, &sp, &f->srv, &err), LLMUX_OK);
}

static json_t *load(const char *s) {
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j) fprintf(stderr, "not JSON (%s): %s\n", e.text, s);
    assert_non_null(j);
    return j;
}

static json_t *upstream_body(sf *f, int i) {
    lx_fake_request rq;
    assert_true(lx_fake_server_request(f->up, i, &rq));
    json_t *j = load(rq.body);
    free(rq.body);
    return j;
}

static const char *sget(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* ----------------------------------------------------- Anthropic grammar */

typedef struct ablock {
    char type[32];
    char id[128], name[64];
    char text[4096];     /* joined text / thinking / partial_json */
    int n_deltas, n_signatures;
} ablock;

typedef struct astream {
    ablock b[16];
    int n;
    char stop_reason[32];
    json_int_t input_tokens, output_tokens;
    char message_id[128];
} astream;

static void cat(char *dst, size_t size, const char *s) {
    if (s) strncat(dst, s, size - strlen(dst) - 1);
}

/* Parses an Anthropic SSE body and asserts Anthropic's grammar (docs.anthropic.com streaming):
 * message_start first; each block content_block_start (indices 0, 1, ... in order), its deltas
 * (of the block's kind, same index), content_block_stop; one block open at a time; then one
 * message_delta and message_stop last; `ping` anywhere; `event:` names equal the data's type. */
static void parse_anthropic(const char *body, astream *a) {
    memset(a, 0, sizeof *a);
    enum { START, BLOCKS, DELTA_DONE, STOPPED } state = START;
    int open = -1;
    char *copy = strdup(body);
    char *save = NULL;
    char event[64] = "";
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "event: ", 7) == 0) {
            snprintf(event, sizeof event, "%s", line + 7);
            continue;
        }
        assert_true(strncmp(line, "data: ", 6) == 0);
        json_t *d = load(line + 6);
        const char *type = sget(d, "type");
        assert_non_null(type);
        assert_string_equal(type, event);
        assert_true(state != STOPPED);
        if (strcmp(type, "ping") == 0) {
        } else if (strcmp(type, "message_start") == 0) {
            assert_int_equal(state, START);
            json_t *m = json_object_get(d, "message");
            assert_string_equal(sget(m, "type"), "message");
            assert_string_equal(sget(m, "role"), "assistant");
            assert_true(json_is_array(json_object_get(m, "content")));
            assert_true(json_is_null(json_object_get(m, "stop_reason")));
            assert_true(json_is_object(json_object_get(m, "usage")));
            snprintf(a->message_id, sizeof a->message_id, "%s", sget(m, "id"));
            state = BLOCKS;
        } else if (strcmp(type, "content_block_start") == 0) {
            assert_int_equal(state, BLOCKS);
            assert_int_equal(open, -1);
            assert_int_equal(json_integer_value(json_object_get(d, "index")), a->n);
            assert_true(a->n < 16);
            json_t *cb = json_object_get(d, "content_block");
            ablock *b = &a->b[a->n];
            snprintf(b->type, sizeof b->type, "%s", sget(cb, "type"));
            if (strcmp(b->type, "tool_use") == 0) {
                snprintf(b->id, sizeof b->id, "%s", sget(cb, "id"));
                snprintf(b->name, sizeof b->name, "%s", sget(cb, "name"));
                assert_true(json_is_object(json_object_get(cb, "input")));
            }
            open = a->n++;
        } else if (strcmp(type, "content_block_delta") == 0) {
            assert_true(open >= 0);
            assert_int_equal(json_integer_value(json_object_get(d, "index")), open);
            ablock *b = &a->b[open];
            json_t *dl = json_object_get(d, "delta");
            const char *dt = sget(dl, "type");
            b->n_deltas++;
            if (strcmp(b->type, "text") == 0) {
                assert_string_equal(dt, "text_delta");
                cat(b->text, sizeof b->text, sget(dl, "text"));
            } else if (strcmp(b->type, "thinking") == 0) {
                if (strcmp(dt, "signature_delta") == 0) {
                    assert_true(strlen(sget(dl, "signature")) > 0);
                    b->n_signatures++;
                } else {
                    assert_string_equal(dt, "thinking_delta");
                    assert_int_equal(b->n_signatures, 0); /* the signature comes last */
                    cat(b->text, sizeof b->text, sget(dl, "thinking"));
                }
            } else if (strcmp(b->type, "tool_use") == 0) {
                assert_string_equal(dt, "input_json_delta");
                cat(b->text, sizeof b->text, sget(dl, "partial_json"));
            } else {
                fail_msg("a delta for a %s block", b->type);
            }
        } else if (strcmp(type, "content_block_stop") == 0) {
            assert_true(open >= 0);
            assert_int_equal(json_integer_value(json_object_get(d, "index")), open);
            open = -1;
        } else if (strcmp(type, "message_delta") == 0) {
            assert_int_equal(state, BLOCKS);
            assert_int_equal(open, -1);
            json_t *dl = json_object_get(d, "delta");
            snprintf(a->stop_reason, sizeof a->stop_reason, "%s", sget(dl, "stop_reason"));
            assert_true(json_object_get(dl, "stop_sequence") != NULL);
            json_t *u = json_object_get(d, "usage");
            a->input_tokens = json_integer_value(json_object_get(u, "input_tokens"));
            a->output_tokens = json_integer_value(json_object_get(u, "output_tokens"));
            state = DELTA_DONE;
        } else if (strcmp(type, "message_stop") == 0) {
            assert_int_equal(state, DELTA_DONE);
            state = STOPPED;
        } else {
            fail_msg("unexpected event %s", type);
        }
        json_decref(d);
    }
    assert_int_equal(state, STOPPED);
    free(copy);
}

static const ablock *find_block(const astream *a, const char *type) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->b[i].type, type) == 0) return &a->b[i];
    return NULL;
}

/* -------------------------------------------------------- OpenAI chunks */

typedef struct ostream {
    char content[4096], reasoning[8192];
    char tool_id[128], tool_name[64], tool_args[1024];
    int n_tools, n_finish, n_usage;
    char finish[32];
    json_int_t prompt_tokens;
} ostream;

/* Parses an OpenAI chat SSE body: chat.completion.chunk objects, a role chunk first, one finish
 * chunk, the usage chunk (empty choices) after it when asked for, `[DONE]` last. */
static void parse_openai(const char *body, ostream *o, bool usage_expected) {
    memset(o, 0, sizeof *o);
    char *copy = strdup(body), *save = NULL;
    bool done = false, first = true;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == ':') continue;
        assert_false(done);
        assert_true(strncmp(line, "data: ", 6) == 0);
        if (strcmp(line + 6, "[DONE]") == 0) {
            done = true;
            continue;
        }
        json_t *c = load(line + 6);
        assert_string_equal(sget(c, "object"), "chat.completion.chunk");
        json_t *chs = json_object_get(c, "choices");
        if (json_array_size(chs) == 0) {
            assert_true(usage_expected);
            assert_int_equal(o->n_finish, 1);
            o->n_usage++;
            o->prompt_tokens = json_integer_value(json_object_get(json_object_get(c, "usage"), "prompt_tokens"));
            json_decref(c);
            continue;
        }
        assert_int_equal(o->n_usage, 0);
        json_t *ch = json_array_get(chs, 0), *d = json_object_get(ch, "delta");
        if (first) assert_string_equal(sget(d, "role"), "assistant");
        first = false;
        cat(o->content, sizeof o->content, sget(d, "content"));
        cat(o->reasoning, sizeof o->reasoning, sget(d, "reasoning_content"));
        json_t *tc = json_array_get(json_object_get(d, "tool_calls"), 0);
        if (tc) {
            if (sget(tc, "id")) {
                o->n_tools++;
                snprintf(o->tool_id, sizeof o->tool_id, "%s", sget(tc, "id"));
                snprintf(o->tool_name, sizeof o->tool_name, "%s", sget(json_object_get(tc, "function"), "name"));
                assert_string_equal(sget(tc, "type"), "function");
            }
            cat(o->tool_args, sizeof o->tool_args, sget(json_object_get(tc, "function"), "arguments"));
        }
        const char *fin = sget(ch, "finish_reason");
        if (fin) {
            o->n_finish++;
            snprintf(o->finish, sizeof o->finish, "%s", fin);
        }
        json_decref(c);
    }
    assert_true(done);
    assert_int_equal(o->n_finish, 1);
    assert_int_equal(o->n_usage, usage_expected ? 1 : 0);
    free(copy);
}

/* ------------------------------------------------------------------ tests */

#define USER "\"messages\":[{\"role\":\"user\",\"content\":\"What is the weather in Paris?\"}]"
#define OAI_TOOLS                                                                                                 \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"," \
    "\"properties\":{\"location\":{\"type\":\"string\"}}}}}]"
#define ANT_TOOLS                                                                                                   \
    "\"tools\":[{\"name\":\"get_capital\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"country\":{\"type\":" \
    "\"string\"}}}}]"

static void test_openai_client_anthropic_backend(void **state) {
    sf f;
    start(&f);
    sf_push(&f, "/v1/messages", 200, "text/event-stream", FIX "anthropic_messages/stream_tool_call.sse", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"stream\":true,\"stream_options\":{\"include_usage\":true}," USER
            "," OAI_TOOLS "}",
            &r);
    assert_int_equal(r.status, 200);
    ostream o;
    parse_openai(r.body, &o, true);
    assert_true(strncmp(o.content, "I'll check the current weather in Paris", 39) == 0);
    assert_int_equal(o.n_tools, 1);
    assert_string_equal(o.tool_id, "toolu_01NRLabsLyVHZPKxbKvkfSMn");
    assert_string_equal(o.tool_name, "get_weather");
    json_t *args = load(o.tool_args);
    assert_non_null(strstr(sget(args, "location"), "Paris"));
    json_decref(args);
    assert_string_equal(o.finish, "tool_calls");
    assert_int_equal(o.prompt_tokens, 377);
    free(r.body);
    /* Not streamed: the same call as message.tool_calls. */
    sf_push(&f, "/v1/messages", 200, "application/json", FIX "anthropic_messages/response_tool_call.json", NULL, 0, 0);
    sf_post(&f, "/v1/chat/completions", "{\"model\":\"anthropic/claude-sonnet-4-5\"," USER "," OAI_TOOLS "}", &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(sget(ch, "finish_reason"), "tool_calls");
    json_t *call = json_array_get(json_object_get(json_object_get(ch, "message"), "tool_calls"), 0);
    assert_string_equal(sget(call, "type"), "function");
    assert_true(strncmp(sget(call, "id"), "toolu_", 6) == 0);
    json_t *a2 = load(sget(json_object_get(call, "function"), "arguments"));
    assert_true(json_is_object(a2));
    json_decref(a2);
    json_decref(j);
    free(r.body);
    sf_stop(&f);
}

static void test_anthropic_client_openai_backend(void **state) {
    sf f;
    start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", FIX "openai_chat/stream_tool_call.sse", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/messages", "{\"model\":\"openai/gpt-4o-mini\",\"max_tokens\":100,\"stream\":true," USER "," ANT_TOOLS "}", &r);
    assert_int_equal(r.status, 200);
    astream a;
    parse_anthropic(r.body, &a);
    const ablock *t = find_block(&a, "tool_use");
    assert_non_null(t);
    assert_string_equal(t->id, "call_ZR5UUuTt3pf61kjwAJIYdVMj");
    assert_string_equal(t->name, "get_capital");
    assert_string_equal(t->text, "{\"country\":\"UK\"}");
    assert_string_equal(a.stop_reason, "tool_use");
    assert_int_equal(a.input_tokens, 53);
    assert_int_equal(a.output_tokens, 15);
    free(r.body);
    sf_stop(&f);
}

/* Gemini ends a function call with finishReason STOP: the client still gets tool_use. */
static void test_anthropic_client_gemini_backend(void **state) {
    sf f;
    start(&f);
    sf_push(&f, "/v1beta/models/", 200, "text/event-stream", FIX "gemini/stream_tool_call.sse", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/messages", "{\"model\":\"gemini/gemini-2.5-flash\",\"max_tokens\":100,\"stream\":true," USER "," ANT_TOOLS "}", &r);
    assert_int_equal(r.status, 200);
    astream a;
    parse_anthropic(r.body, &a);
    const ablock *t = find_block(&a, "tool_use");
    assert_non_null(t);
    assert_string_equal(t->name, "get_country");
    assert_true(strlen(t->id) > 0);
    assert_string_equal(a.stop_reason, "tool_use");
    free(r.body);
    /* The OpenAI client: finish_reason tool_calls, never stop. */
    sf_push(&f, "/v1beta/models/", 200, "text/event-stream", FIX "gemini/stream_tool_call.sse", NULL, 0, 0);
    sf_post(&f, "/v1/chat/completions", "{\"model\":\"gemini/gemini-2.5-flash\",\"stream\":true," USER "," OAI_TOOLS "}", &r);
    assert_int_equal(r.status, 200);
    ostream o;
    parse_openai(r.body, &o, false);
    assert_string_equal(o.tool_name, "get_country");
    assert_string_equal(o.finish, "tool_calls");
    free(r.body);
    sf_stop(&f);
}

/* Extended thinking: thinking blocks with their signature for an Anthropic client (and the
 * thinking param reaches the backend), reasoning_content for an OpenAI client. */
static void test_thinking(void **state) {
    sf f;
    start(&f);
    sf_push(&f, "/v1/messages", 200, "text/event-stream", FIX "anthropic_messages/stream_thinking.sse", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/messages",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"max_tokens\":2048,\"stream\":true,"
            "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024}," USER "}",
            &r);
    assert_int_equal(r.status, 200);
    astream a;
    parse_anthropic(r.body, &a);
    assert_string_equal(a.b[0].type, "thinking");
    assert_true(strlen(a.b[0].text) > 0);
    assert_int_equal(a.b[0].n_signatures, 1);
    const ablock *t = find_block(&a, "text");
    assert_non_null(t);
    assert_true(strlen(t->text) > 0);
    assert_string_equal(a.stop_reason, "end_turn");
    free(r.body);
    json_t *up = upstream_body(&f, 0);
    json_t *th = json_object_get(up, "thinking");
    assert_string_equal(sget(th, "type"), "enabled");
    assert_int_equal(json_integer_value(json_object_get(th, "budget_tokens")), 1024);
    json_decref(up);
    sf_push(&f, "/v1/messages", 200, "text/event-stream", FIX "anthropic_messages/stream_thinking.sse", NULL, 0, 0);
    sf_post(&f, "/v1/chat/completions", "{\"model\":\"anthropic/claude-sonnet-4-5\",\"stream\":true," USER "}", &r);
    assert_int_equal(r.status, 200);
    ostream o;
    parse_openai(r.body, &o, false);
    assert_true(strlen(o.reasoning) > 0);
    assert_true(strlen(o.content) > 0);
    assert_string_equal(o.finish, "stop");
    free(r.body);
    sf_stop(&f);
}

/* Request fields reach each backend in its own spelling. */
static void test_request_fields(void **state) {
    sf f;
    start(&f);
    static const struct {
        const char *path, *body, *upstream;
    } cases[] = {
        {"/v1/chat/completions", "{\"model\":\"anthropic/claude-sonnet-4-5\",\"tool_choice\":\"required\"," USER "," OAI_TOOLS "}", "/v1/messages"},
        {"/v1/chat/completions", "{\"model\":\"anthropic/claude-sonnet-4-5\",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}," USER "," OAI_TOOLS "}", "/v1/messages"},
        {"/v1/chat/completions", "{\"model\":\"anthropic/claude-sonnet-4-5\",\"tool_choice\":\"none\"," USER "," OAI_TOOLS "}", "/v1/messages"},
        {"/v1/messages", "{\"model\":\"openai/gpt-4o-mini\",\"max_tokens\":50,\"tool_choice\":{\"type\":\"any\"}," USER "," ANT_TOOLS "}", "/v1/chat/completions"},
        {"/v1/chat/completions",
         "{\"model\":\"openai/gpt-4o-mini\",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"w\",\"strict\":true,"
         "\"schema\":{\"type\":\"object\",\"properties\":{\"t\":{\"type\":\"number\"}}}}},\"stop\":\"END\",\"seed\":5,\"temperature\":0.3,"
         "\"top_p\":0.5,\"max_tokens\":10,\"max_completion_tokens\":30," USER "}",
         "/v1/chat/completions"},
        {"/v1/chat/completions", "{\"model\":\"openai/gpt-4o-mini\",\"response_format\":{\"type\":\"json_object\"},\"stop\":[\"a\",\"b\"]," USER "}", "/v1/chat/completions"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        bool anthropic_up = strcmp(cases[i].upstream, "/v1/messages") == 0;
        sf_push(&f, cases[i].upstream, 200, "application/json",
                anthropic_up ? FIX "anthropic_messages/response_text.json" : FIX "openai_chat/response_text.json", NULL, 0, 0);
        sf_reply r;
        sf_post(&f, cases[i].path, cases[i].body, &r);
        if (r.status != 200) fprintf(stderr, "case %zu: %s\n", i, r.body);
        assert_int_equal(r.status, 200);
        free(r.body);
    }
    json_t *up = upstream_body(&f, 0);
    assert_string_equal(sget(json_object_get(up, "tool_choice"), "type"), "any");
    json_decref(up);
    up = upstream_body(&f, 1);
    assert_string_equal(sget(json_object_get(up, "tool_choice"), "type"), "tool");
    assert_string_equal(sget(json_object_get(up, "tool_choice"), "name"), "get_weather");
    json_decref(up);
    up = upstream_body(&f, 2);
    assert_string_equal(sget(json_object_get(up, "tool_choice"), "type"), "none");
    json_decref(up);
    up = upstream_body(&f, 3);
    assert_string_equal(sget(up, "tool_choice"), "required");
    json_decref(up);
    up = upstream_body(&f, 4);
    json_t *rf = json_object_get(up, "response_format");
    assert_string_equal(sget(rf, "type"), "json_schema");
    assert_string_equal(sget(json_object_get(rf, "json_schema"), "name"), "w");
    assert_true(json_is_true(json_object_get(json_object_get(rf, "json_schema"), "strict")));
    json_t *stop = json_object_get(up, "stop");
    assert_string_equal(json_string_value(json_is_array(stop) ? json_array_get(stop, 0) : stop), "END");
    assert_int_equal(json_integer_value(json_object_get(up, "seed")), 5);
    assert_true(fabs(json_number_value(json_object_get(up, "temperature")) - 0.3) < 1e-9);
    assert_true(fabs(json_number_value(json_object_get(up, "top_p")) - 0.5) < 1e-9);
    json_t *mt = json_object_get(up, "max_completion_tokens");
    if (!mt) mt = json_object_get(up, "max_tokens");
    assert_int_equal(json_integer_value(mt), 30); /* max_completion_tokens wins */
    json_decref(up);
    up = upstream_body(&f, 5);
    assert_string_equal(sget(json_object_get(up, "response_format"), "type"), "json_object");
    assert_int_equal(json_array_size(json_object_get(up, "stop")), 2);
    json_decref(up);
    sf_stop(&f);
}

/* Embeddings from a backend of another wire format: Gemini's batchEmbedContents as OpenAI's list
 * (project fixture tests/data/embed: the recorded traffic has no embeddings). */
static void test_gemini_embeddings(void **state) {
    sf f;
    start(&f);
    sf_push(&f, "/v1beta/models/gemini-embedding-001:batchEmbedContents", 200, "application/json",
            "tests/data/embed/gemini_embeddings.json", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/embeddings", "{\"model\":\"gemini/gemini-embedding-001\",\"input\":[\"alpha\",\"beta\"]}", &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    json_t *d1 = json_object_get(json_array_get(json_object_get(j, "data"), 1), "embedding");
    assert_int_equal(json_array_size(d1), 4);
    assert_true(json_number_value(json_array_get(d1, 3)) == 0.0625);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")), 0);
    json_decref(j);
    free(r.body);
    sf_stop(&f);
}

/* Refusals: fields whose answer cannot be given, and Anthropic's required version header. */
static void test_refusals(void **state) {
    sf f;
    start(&f);
    sf_reply r;
    sf_post(&f, "/v1/chat/completions", "{\"model\":\"" SF_LOCAL "\",\"top_logprobs\":2," USER "}", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "logprobs"));
    free(r.body);
    const char *m = "{\"model\":\"" SF_LOCAL "\",\"max_tokens\":4," USER "}";
    static const char *const paths[] = {"/v1/messages", "/v1/messages/count_tokens"};
    for (size_t i = 0; i < 2; i++) {
        memset(&r, 0, sizeof r);
        assert_int_equal(sf_http(&f, "POST", paths[i], m, strlen(m), "anthropic-version:", &r), CURLE_OK);
        assert_int_equal(r.status, 400);
        json_t *j = load(r.body);
        assert_string_equal(sget(j, "type"), "error");
        assert_string_equal(sget(json_object_get(j, "error"), "type"), "invalid_request_error");
        assert_string_equal(sget(json_object_get(j, "error"), "message"), "anthropic-version: header is required");
        json_decref(j);
        free(r.body);
    }
    assert_int_equal(lx_fake_server_requests(f.up), 0);
    sf_stop(&f);
}

int main(void) {
    struct stat st;
    if (stat(FIX, &st) != 0 || !S_ISDIR(st.st_mode)) {
        const char *req = getenv("LLMUX_REQUIRE_FIXTURES");
        if (req && strcmp(req, "1") == 0) {
            fprintf(stderr, "FAIL: %s is absent and LLMUX_REQUIRE_FIXTURES=1\n", FIX);
            return 1;
        }
        printf("SKIP: %s is absent (recorded provider fixtures; present in CI)\n", FIX);
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_client_anthropic_backend),
        cmocka_unit_test(test_anthropic_client_openai_backend),
        cmocka_unit_test(test_anthropic_client_gemini_backend),
        cmocka_unit_test(test_thinking),
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_gemini_embeddings),
        cmocka_unit_test(test_refusals),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
