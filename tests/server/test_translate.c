/* The server's translators on their own: OpenAI and Anthropic request bodies → canonical
 * requests (every mapped field, the refused ones, malformed input and the caps), and canonical
 * events → each format's SSE bytes in the exact order. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/http/translate.h"

static lx_srv_req *openai_ok(const char *body) {
    lx_srv_req *r = NULL;
    llmux_error_info err;
    llmux_status st = lx_srv_openai_request(body, strlen(body), &r, &err);
    if (st != LLMUX_OK) fprintf(stderr, "refused: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    return r;
}

static lx_srv_req *anthropic_ok(const char *body) {
    lx_srv_req *r = NULL;
    llmux_error_info err;
    llmux_status st = lx_srv_anthropic_request(body, strlen(body), &r, &err);
    if (st != LLMUX_OK) fprintf(stderr, "refused: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    return r;
}

/* Refused with invalid_request and a message that contains `names`. */
static void refused(llmux_status (*fn)(const char *, size_t, lx_srv_req **, llmux_error_info *), const char *body,
                    size_t len, const char *names) {
    lx_srv_req *r = (lx_srv_req *)1;
    llmux_error_info err;
    llmux_status st = fn(body, len, &r, &err);
    if (st != LLMUX_E_INVALID_REQUEST) fprintf(stderr, "accepted: %.*s\n", (int)(len > 200 ? 200 : len), body);
    assert_int_equal(st, LLMUX_E_INVALID_REQUEST);
    assert_null(r);
    if (!strstr(err.message, names)) fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.message, names);
    assert_non_null(strstr(err.message, names));
}

/* The Responses parser without a response store: an item_reference names nothing. */
static llmux_status responses_no_store(const char *body, size_t len, lx_srv_req **out, llmux_error_info *err) {
    return lx_srv_responses_request(body, len, NULL, NULL, out, err);
}

static void test_openai_full_request(void **state) {
    lx_srv_req *r = openai_ok(
        "{\"model\":\"openai/gpt-4o\",\"messages\":["
        "{\"role\":\"developer\",\"content\":\"Be terse.\"},"
        "{\"role\":\"user\",\"name\":\"ann\",\"content\":[{\"type\":\"text\",\"text\":\"What is this?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.test/a.png\"}}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
        "\"function\":{\"name\":\"look\",\"arguments\":\"{\\\"q\\\":1}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":[{\"type\":\"text\",\"text\":\"a \"},{\"type\":\"text\",\"text\":\"cat\"}]}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"look\",\"description\":\"d\",\"parameters\":{\"type\":\"object\"}}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"look\"}},"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\",\"strict\":true,\"schema\":{\"type\":\"object\"}}},"
        "\"stop\":[\"END\",\"STOP\"],\"seed\":42,\"temperature\":0.5,\"top_p\":0.9,\"max_tokens\":10,"
        "\"max_completion_tokens\":20,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":\"ignored\"}");
    const llmux_request *q = &r->req;
    assert_string_equal(q->model, "openai/gpt-4o");
    assert_int_equal(q->n_messages, 4);
    assert_int_equal(q->messages[0].role, LLMUX_ROLE_SYSTEM);
    assert_string_equal(q->messages[0].parts[0].text, "Be terse.");
    const llmux_message *u = &q->messages[1];
    assert_int_equal(u->role, LLMUX_ROLE_USER);
    assert_string_equal(u->name, "ann");
    assert_int_equal(u->n_parts, 3);
    assert_int_equal(u->parts[1].type, LLMUX_PART_IMAGE);
    assert_string_equal(u->parts[1].mime_type, "image/png");
    assert_string_equal(u->parts[1].data, "AAAA");
    assert_string_equal(u->parts[2].image_url, "https://x.test/a.png");
    const llmux_message *a = &q->messages[2];
    assert_int_equal(a->n_parts, 1);
    assert_int_equal(a->parts[0].type, LLMUX_PART_TOOL_CALL);
    assert_string_equal(a->parts[0].arguments, "{\"q\":1}");
    const llmux_message *t = &q->messages[3];
    assert_int_equal(t->role, LLMUX_ROLE_TOOL);
    assert_string_equal(t->parts[0].id, "c1");
    assert_string_equal(t->parts[0].text, "a cat");
    assert_int_equal(q->n_tools, 1);
    assert_string_equal(q->tools[0].parameters, "{\"type\":\"object\"}");
    assert_int_equal(q->tool_choice, LLMUX_TOOL_CHOICE_TOOL);
    assert_string_equal(q->tool_choice_name, "look");
    assert_int_equal(q->response_format, LLMUX_FORMAT_JSON_SCHEMA);
    assert_string_equal(q->schema_name, "s");
    assert_true(q->schema_strict);
    assert_int_equal(q->sampling.n_stop, 2);
    assert_string_equal(q->sampling.stop[1], "STOP");
    assert_int_equal(q->sampling.seed, 42);
    assert_true(q->sampling.temperature == 0.5);
    assert_int_equal(q->sampling.max_tokens, 20); /* max_completion_tokens wins */
    assert_true(q->stream);
    assert_true(r->include_usage);
    lx_srv_req_free(r);
    /* Defaults stay unset. */
    r = openai_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":\"Z\",\"tool_choice\":\"none\"}");
    assert_true(llmux_is_unset(r->req.sampling.temperature));
    assert_int_equal(r->req.sampling.max_tokens, LLMUX_UNSET_INT);
    assert_int_equal(r->req.sampling.n_stop, 1);
    assert_int_equal(r->req.tool_choice, LLMUX_TOOL_CHOICE_NONE);
    assert_false(r->req.stream);
    lx_srv_req_free(r);
    /* An empty content array (found by fuzz_server_request: it once overflowed the parts). */
    r = openai_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":[]},{\"role\":\"user\",\"content\":[]}]}");
    assert_int_equal(r->req.messages[0].n_parts, 1);
    assert_string_equal(r->req.messages[0].parts[0].text, "");
    assert_int_equal(r->req.messages[1].n_parts, 0);
    lx_srv_req_free(r);
}

static void test_openai_refusals(void **state) {
#define REF(body, names) refused(lx_srv_openai_request, body, strlen(body), names)
    REF("", "invalid JSON");
    REF("[]", "expected a JSON object");
    REF("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model");
    REF("{\"model\":\"m\"}", "messages");
    REF("{\"model\":\"m\",\"messages\":[]}", "messages");
    REF("{\"model\":\"m\",\"n\":3,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "n: only n = 1");
    REF("{\"model\":\"m\",\"logprobs\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "logprobs");
    REF("{\"model\":\"m\",\"top_logprobs\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "logprobs");
    REF("{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", "messages[0].role");
    REF("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"audio\"}]}]}", "messages[0].content[0].type");
    REF("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:;base64,\"}}]}]}", "data URL");
    REF("{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "tool_call_id");
    REF("{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\"}]}", "content or tool_calls");
    REF("{\"model\":\"m\",\"temperature\":\"hot\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "temperature");
    REF("{\"model\":\"m\",\"temperature\":3,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "temperature");
    REF("{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens");
    REF("{\"model\":\"m\",\"stop\":[\"\"],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "stop[0]");
    REF("{\"model\":\"m\",\"tools\":[{\"type\":\"retrieval\"}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "tools[0]");
    REF("{\"model\":\"m\",\"tool_choice\":\"sometimes\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "tool_choice");
    REF("{\"model\":\"m\",\"response_format\":{\"type\":\"yaml\"},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "response_format");
    REF("{\"model\":\"m\",\"model\":\"n\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "invalid JSON");
    REF("{\"model\":\"m\\u0000x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "invalid JSON");
    /* Rules of the canonical request (llmux_request_validate), found by fuzz_server_request:
     * tool_choice "required" with no tools, and a named tool that is not among the tools. */
    REF("{\"model\":\"m\",\"tool_choice\":\"required\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "tool_choice");
    REF("{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "tool_choice");
#undef REF
}

static void test_caps(void **state) {
    /* Nesting past the cap is refused before it is parsed. */
    size_t depth = 10000;
    char *deep = malloc(2 * depth + 64);
    size_t n = (size_t)sprintf(deep, "{\"model\":\"m\",\"x\":");
    for (size_t i = 0; i < depth; i++) deep[n++] = '[';
    for (size_t i = 0; i < depth; i++) deep[n++] = ']';
    deep[n++] = '}';
    refused(lx_srv_openai_request, deep, n, "nested deeper");
    refused(lx_srv_anthropic_request, deep, n, "nested deeper");
    free(deep);
    /* Too many messages / tools / stop sequences. */
    size_t cap = 64 + (LX_SRV_MAX_MESSAGES + 1) * 40;
    char *many = malloc(cap);
    n = (size_t)sprintf(many, "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[");
    for (int i = 0; i <= LX_SRV_MAX_MESSAGES; i++) n += (size_t)sprintf(many + n, "%s{\"role\":\"user\",\"content\":\"x\"}", i ? "," : "");
    n += (size_t)sprintf(many + n, "]}");
    refused(lx_srv_openai_request, many, n, "more than 4096 messages");
    refused(lx_srv_anthropic_request, many, n, "more than 4096 messages");
    free(many);
    char stops[1024];
    n = (size_t)sprintf(stops, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[");
    for (int i = 0; i <= LX_SRV_MAX_STOP; i++) n += (size_t)sprintf(stops + n, "%s\"s%d\"", i ? "," : "", i);
    sprintf(stops + n, "]}");
    refused(lx_srv_openai_request, stops, strlen(stops), "stop");
    /* A body that is not NUL-terminated is read only up to len. */
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}GARBAGE";
    lx_srv_req *r = NULL;
    assert_int_equal(lx_srv_openai_request(body, strlen(body) - 7, &r, NULL), LLMUX_OK);
    lx_srv_req_free(r);
}

static void test_anthropic_request(void **state) {
    lx_srv_req *r = anthropic_ok(
        "{\"model\":\"anthropic/claude\",\"max_tokens\":64,\"system\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"text\",\"text\":\"B\"}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/jpeg\",\"data\":\"QQ==\"}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\",\"signature\":\"sig\"},"
        "{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{\"a\":1}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"is_error\":true,"
        "\"content\":[{\"type\":\"text\",\"text\":\"bad\"}]},{\"type\":\"text\",\"text\":\"and?\"}]}],"
        "\"tools\":[{\"name\":\"f\",\"description\":\"d\",\"input_schema\":{\"type\":\"object\"}}],"
        "\"tool_choice\":{\"type\":\"any\"},\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":32},"
        "\"stop_sequences\":[\"X\"],\"temperature\":0.3,\"top_k\":5,\"stream\":true,\"metadata\":{\"user_id\":\"u\"}}");
    const llmux_request *q = &r->req;
    assert_string_equal(q->system, "A\nB");
    assert_int_equal(q->sampling.max_tokens, 64);
    assert_int_equal(q->sampling.top_k, 5);
    /* user, assistant, then the tool result as its own TOOL message before the rest of the turn */
    assert_int_equal(q->n_messages, 4);
    assert_int_equal(q->messages[0].parts[1].type, LLMUX_PART_IMAGE);
    assert_string_equal(q->messages[0].parts[1].mime_type, "image/jpeg");
    assert_int_equal(q->messages[1].parts[0].type, LLMUX_PART_REASONING);
    assert_string_equal(q->messages[1].parts[0].signature, "sig");
    assert_string_equal(q->messages[1].parts[1].arguments, "{\"a\":1}");
    assert_int_equal(q->messages[2].role, LLMUX_ROLE_TOOL);
    assert_true(q->messages[2].parts[0].is_error);
    assert_string_equal(q->messages[2].parts[0].text, "bad");
    assert_int_equal(q->messages[3].role, LLMUX_ROLE_USER);
    assert_string_equal(q->messages[3].parts[0].text, "and?");
    assert_int_equal(q->tool_choice, LLMUX_TOOL_CHOICE_REQUIRED);
    assert_string_equal(q->provider_options, "{\"anthropic\":{\"metadata\":{\"user_id\":\"u\"},\"thinking\":{\"type\":\"enabled\","
                                              "\"budget_tokens\":32}}}");
    assert_int_equal(q->reasoning_budget, 32); /* for any backend too */
    assert_int_equal(q->reasoning_effort, LLMUX_REASONING_DEFAULT);
    assert_false(q->single_tool_call);
    assert_string_equal(q->sampling.stop[0], "X");
    assert_true(q->stream);
    lx_srv_req_free(r);
#define REF(body, names) refused(lx_srv_anthropic_request, body, strlen(body), names)
    REF("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens: required");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", "messages[0].role");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[]}]}", "messages[0].content");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"b\",\"input\":{}}]}]}", "unsupported user block");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"b\",\"input\":[]}]}]}", "input object");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"type\":\"web_search_20250305\"}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "tools[0].name");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"name\":\"f\"}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "tools[0]: a client tool");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"input_schema\":{}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "tools[0].type");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"txt\",\"text\":\"x\"}]}]}",
        "unsupported user block");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"tool_choice\":{\"type\":\"tool\"},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "tool_choice");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"temperature\":1.5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "temperature");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"thinking\":{\"type\":\"enabled\"},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "thinking.budget_tokens");
    REF("{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],"
        "\"tool_choice\":{\"type\":\"auto\",\"disable_parallel_tool_use\":1},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "disable_parallel_tool_use");
#undef REF
    /* thinking disabled, and one tool call at a time. */
    r = anthropic_ok("{\"model\":\"m\",\"max_tokens\":5,\"thinking\":{\"type\":\"disabled\"},"
                     "\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],"
                     "\"tool_choice\":{\"type\":\"auto\",\"disable_parallel_tool_use\":true},"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_int_equal(r->req.reasoning_effort, LLMUX_REASONING_NONE);
    assert_int_equal(r->req.reasoning_budget, 0);
    assert_true(r->req.single_tool_call);
    lx_srv_req_free(r);
    /* Server tools (web_search, web_fetch) reach an Anthropic backend with the tools and the
     * tool_choice as sent; the canonical request holds the client tools only, with auto for a
     * choice of a server tool, and names the others in its metadata. Their blocks in the history
     * (server_tool_use, web_search_tool_result) are NATIVE parts, kept whole. */
    r = anthropic_ok("{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"name\":\"Read\",\"input_schema\":{\"type\":\"object\"}},"
                     "{\"type\":\"web_search_20250305\",\"name\":\"web_search\",\"max_uses\":3},"
                     "{\"type\":\"web_fetch_20250910\",\"name\":\"web_fetch\"}],\"tool_choice\":{\"type\":\"tool\",\"name\":\"web_search\"},"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":["
                     "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{\"query\":\"q\"}},"
                     "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_1\",\"content\":[],"
                     "\"cache_control\":{\"type\":\"ephemeral\"}},{\"type\":\"text\",\"text\":\"Found.\"}]},"
                     "{\"role\":\"user\",\"content\":\"y\"}]}");
    assert_int_equal(r->req.n_tools, 1);
    assert_string_equal(r->req.tools[0].name, "Read");
    assert_int_equal(r->req.tool_choice, LLMUX_TOOL_CHOICE_AUTO);
    bool tagged = false;
    for (size_t i = 0; i < r->req.n_metadata; i++)
        tagged = tagged || (strcmp(r->req.metadata[i].key, "anthropic_tools") == 0 &&
                            strcmp(r->req.metadata[i].value, "web_search,web_fetch") == 0);
    assert_true(tagged);
    json_t *po = json_loads(r->req.provider_options, 0, NULL);
    json_t *a = json_object_get(po, "anthropic");
    assert_int_equal(json_array_size(json_object_get(a, "tools")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "tool_choice"), "name")), "web_search");
    json_decref(po);
    const llmux_message *am = &r->req.messages[1];
    assert_int_equal(am->n_parts, 3);
    assert_int_equal(am->parts[0].type, LLMUX_PART_NATIVE);
    assert_string_equal(am->parts[0].name, "anthropic");
    assert_non_null(strstr(am->parts[0].text, "\"server_tool_use\""));
    assert_int_equal(am->parts[1].type, LLMUX_PART_NATIVE);
    assert_int_equal(am->parts[1].cache, LLMUX_CACHE_NONE);
    assert_non_null(strstr(am->parts[1].text, "\"cache_control\""));
    lx_srv_req_free(r);
    /* metadata, service_tier and context_management go to an Anthropic backend as sent, with the
     * thinking object; nothing at all leaves provider_options unset. */
    r = anthropic_ok("{\"model\":\"m\",\"max_tokens\":5,\"metadata\":{\"user_id\":\"u1\"},\"service_tier\":\"auto\","
                     "\"context_management\":{\"edits\":[{\"type\":\"clear_tool_uses_20250919\"}]},"
                     "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    po = json_loads(r->req.provider_options, 0, NULL);
    a = json_object_get(po, "anthropic");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "metadata"), "user_id")), "u1");
    assert_string_equal(json_string_value(json_object_get(a, "service_tier")), "auto");
    assert_non_null(json_object_get(json_object_get(a, "context_management"), "edits"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "thinking"), "budget_tokens")), 1024);
    assert_int_equal(r->req.reasoning_budget, 1024);
    json_decref(po);
    lx_srv_req_free(r);
    /* Fields this server does not read (code execution's container, the MCP connector's servers)
     * reach an Anthropic backend as sent. */
    r = anthropic_ok("{\"model\":\"m\",\"max_tokens\":5,\"container\":\"container_1\",\"mcp_servers\":[{\"type\":\"url\","
                     "\"url\":\"https://mcp.example\",\"name\":\"ex\"}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    po = json_loads(r->req.provider_options, 0, NULL);
    a = json_object_get(po, "anthropic");
    assert_int_equal(json_object_size(a), 2);
    assert_string_equal(json_string_value(json_object_get(a, "container")), "container_1");
    assert_int_equal(json_array_size(json_object_get(a, "mcp_servers")), 1);
    json_decref(po);
    lx_srv_req_free(r);
    r = anthropic_ok("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_null(r->req.provider_options);
    lx_srv_req_free(r);
}

/* A tool_result holding an image (Claude Code reading an image file): the result keeps its text
 * with "[image]" where the image was, and the image goes into the user message that follows the
 * tool message, ahead of the turn's own text. */
static void test_anthropic_tool_result_image(void **state) {
    (void)state;
    lx_srv_req *r = anthropic_ok(
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":["
        "{\"role\":\"user\",\"content\":\"Read it\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Read\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":["
        "{\"type\":\"text\",\"text\":\"cat.png:\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"QQ==\"}}]},"
        "{\"type\":\"text\",\"text\":\"What is it?\"}]}]}");
    const llmux_request *q = &r->req;
    assert_int_equal(q->n_messages, 4);
    assert_int_equal(q->messages[2].role, LLMUX_ROLE_TOOL);
    assert_string_equal(q->messages[2].parts[0].text, "cat.png:[image]");
    const llmux_message *u = &q->messages[3];
    assert_int_equal(u->role, LLMUX_ROLE_USER);
    assert_int_equal(u->n_parts, 2);
    assert_int_equal(u->parts[0].type, LLMUX_PART_IMAGE);
    assert_string_equal(u->parts[0].mime_type, "image/png");
    assert_string_equal(u->parts[0].data, "QQ==");
    assert_string_equal(u->parts[1].text, "What is it?");
    lx_srv_req_free(r);
    /* Another kind of block in a tool result is still refused, naming it. */
    refused(lx_srv_anthropic_request,
            "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
            "\"tool_use_id\":\"t1\",\"content\":[{\"type\":\"document\"}]}]}]}",
            strlen("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                   "\"tool_use_id\":\"t1\",\"content\":[{\"type\":\"document\"}]}]}]}"),
            "content[0].content[0]");
}

/* OpenAI's reasoning_effort and parallel_tool_calls reach the canonical fields. */
/* Prompt-cache breakpoints from both client formats: Anthropic's cache_control on system blocks
 * (kept as blocks: a SYSTEM message first), content blocks and tools; the OpenAI-format
 * convention (LiteLLM, OpenRouter) on content parts and tools; OpenAI's prompt_cache_breakpoint.
 * A malformed one is a 400. */
static void test_cache_control(void **state) {
    (void)state;
    lx_srv_req *r = anthropic_ok(
        "{\"model\":\"m\",\"max_tokens\":5,\"system\":[{\"type\":\"text\",\"text\":\"A\"},"
        "{\"type\":\"text\",\"text\":\"B\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
        "\"tools\":[{\"name\":\"t\",\"input_schema\":{\"type\":\"object\"},\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"doc\",\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"type\":\"text\",\"text\":\"q\"}]}]}");
    const llmux_request *q = &r->req;
    assert_null(q->system);
    assert_int_equal(q->n_messages, 2);
    assert_int_equal(q->messages[0].role, LLMUX_ROLE_SYSTEM);
    assert_int_equal(q->messages[0].n_parts, 2);
    assert_int_equal(q->messages[0].parts[0].cache, LLMUX_CACHE_NONE);
    assert_string_equal(q->messages[0].parts[1].text, "B");
    assert_int_equal(q->messages[0].parts[1].cache, LLMUX_CACHE_5M);
    assert_int_equal(q->tools[0].cache, LLMUX_CACHE_1H);
    assert_int_equal(q->messages[1].parts[0].cache, LLMUX_CACHE_5M);
    assert_int_equal(q->messages[1].parts[1].cache, LLMUX_CACHE_NONE);
    lx_srv_req_free(r);
    /* Without breakpoints the system blocks are one prompt, as before. */
    r = anthropic_ok("{\"model\":\"m\",\"max_tokens\":5,\"system\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"text\",\"text\":\"B\"}],"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    assert_string_equal(r->req.system, "A\nB");
    assert_int_equal(r->req.n_messages, 1);
    lx_srv_req_free(r);

    r = openai_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"S1\"},"
                  "{\"type\":\"text\",\"text\":\"S2\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
                  "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"doc\",\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}]},"
                  "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"ok\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
                  "{\"role\":\"user\",\"content\":\"q\"}],"
                  "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"},\"cache_control\":{\"type\":\"ephemeral\"}}]}");
    q = &r->req;
    assert_int_equal(q->messages[0].n_parts, 2); /* kept apart: each part its own breakpoint */
    assert_int_equal(q->messages[0].parts[0].cache, LLMUX_CACHE_NONE);
    assert_int_equal(q->messages[0].parts[1].cache, LLMUX_CACHE_5M);
    assert_int_equal(q->messages[1].parts[0].cache, LLMUX_CACHE_1H);
    assert_int_equal(q->messages[2].parts[0].cache, LLMUX_CACHE_5M);
    assert_int_equal(q->messages[3].parts[0].cache, LLMUX_CACHE_NONE);
    assert_int_equal(q->tools[0].cache, LLMUX_CACHE_5M);
    lx_srv_req_free(r);
#define AREF(body, names) refused(lx_srv_anthropic_request, body, strlen(body), names)
#define OREF(body, names) refused(lx_srv_openai_request, body, strlen(body), names)
    AREF("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\","
         "\"cache_control\":{\"type\":\"persistent\"}}]}]}",
         "messages[0].content[0].cache_control");
    AREF("{\"model\":\"m\",\"max_tokens\":5,\"metadata\":\"u1\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "metadata");
    AREF("{\"model\":\"m\",\"max_tokens\":5,\"service_tier\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
         "service_tier");
    AREF("{\"model\":\"m\",\"max_tokens\":5,\"system\":[{\"type\":\"text\",\"text\":\"A\",\"cache_control\":{\"type\":\"ephemeral\","
         "\"ttl\":\"2h\"}}],\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
         "system[0].cache_control");
    OREF("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\",\"cache_control\":true}]}]}",
         "messages[0].content[0].cache_control");
    OREF("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\","
         "\"prompt_cache_breakpoint\":{\"mode\":\"implicit\"}}]}]}",
         "messages[0].content[0].prompt_cache_breakpoint");
    OREF("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\","
         "\"prompt_cache_breakpoint\":{\"mode\":\"explicit\",\"ttl\":\"1d\"}}]}]}",
         "prompt_cache_breakpoint");
    /* OpenAI's own explicit breakpoints (gpt-5.6 and later), in Chat Completions and Responses:
     * 30 minutes (the default) is llmux's default lifetime, 12 hours the hour. */
    r = openai_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\","
                  "\"prompt_cache_breakpoint\":{\"mode\":\"explicit\"}},{\"type\":\"text\",\"text\":\"b\","
                  "\"prompt_cache_breakpoint\":{\"mode\":\"explicit\",\"ttl\":\"12h\"}},{\"type\":\"text\",\"text\":\"c\"}]}]}");
    assert_int_equal(r->req.messages[0].parts[0].cache, LLMUX_CACHE_5M);
    assert_int_equal(r->req.messages[0].parts[1].cache, LLMUX_CACHE_1H);
    assert_int_equal(r->req.messages[0].parts[2].cache, LLMUX_CACHE_NONE);
    lx_srv_req_free(r);
    const char *rb = "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"a\","
                     "\"prompt_cache_breakpoint\":{\"mode\":\"explicit\",\"ttl\":\"30m\"}},{\"type\":\"input_text\",\"text\":\"b\","
                     "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}]}]}";
    llmux_error_info rerr;
    if (lx_srv_responses_request(rb, strlen(rb), NULL, NULL, &r, &rerr) != LLMUX_OK) fail_msg("%s", rerr.message);
    assert_int_equal(r->req.messages[0].parts[0].cache, LLMUX_CACHE_5M);
    assert_int_equal(r->req.messages[0].parts[1].cache, LLMUX_CACHE_1H);
    lx_srv_req_free(r);
#undef AREF
#undef OREF
    /* The anthropic-beta header joins the thinking object in provider_options.anthropic. */
    r = anthropic_ok("{\"model\":\"m\",\"max_tokens\":5000,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2000},"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}");
    llmux_error_info err;
    assert_true(lx_srv_anthropic_betas(r, " a-1 ,b.2,, c_3", &err));
    json_t *po = json_loads(r->req.provider_options, 0, NULL);
    json_t *an = json_object_get(po, "anthropic");
    assert_non_null(json_object_get(an, "thinking"));
    json_t *betas = json_object_get(an, "betas");
    assert_int_equal(json_array_size(betas), 3);
    assert_string_equal(json_string_value(json_array_get(betas, 2)), "c_3");
    json_decref(po);
    assert_false(lx_srv_anthropic_betas(r, "ok, bad;name", &err));
    assert_non_null(strstr(err.message, "anthropic-beta"));
    assert_true(lx_srv_anthropic_betas(r, NULL, &err));
    lx_srv_req_free(r);
    /* An Anthropic client sees the writes split by lifetime when the backend said. */
    llmux_usage u = llmux_usage_default();
    u.input_tokens = 2010;
    u.output_tokens = 3;
    u.cache_write_tokens = 2000;
    json_t *o = lx_srv_anthropic_usage(&u);
    assert_null(json_object_get(o, "cache_creation"));
    json_decref(o);
    u.cache_write_1h_tokens = 1500;
    o = lx_srv_anthropic_usage(&u);
    assert_int_equal(json_integer_value(json_object_get(o, "input_tokens")), 10);
    json_t *cc = json_object_get(o, "cache_creation");
    assert_int_equal(json_integer_value(json_object_get(cc, "ephemeral_5m_input_tokens")), 500);
    assert_int_equal(json_integer_value(json_object_get(cc, "ephemeral_1h_input_tokens")), 1500);
    json_decref(o);
}

/* Documents from every client format: Anthropic document blocks (a PDF as a FILE part, a text
 * source as its text, one inside a tool result moved out like an image), OpenAI's file part and
 * the Responses input_file; an uploaded file_id is refused. */
static void test_documents(void **state) {
    (void)state;
    lx_srv_req *r = anthropic_ok(
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"document\",\"title\":\"a.pdf\",\"source\":{\"type\":\"base64\",\"media_type\":\"application/pdf\",\"data\":\"JVBERi0=\"}},"
        "{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":\"plain words\"}},"
        "{\"type\":\"text\",\"text\":\"Summarize\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Read\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":["
        "{\"type\":\"document\",\"source\":{\"type\":\"url\",\"url\":\"https://x/b.pdf\"}}]}]}]}");
    const llmux_request *q = &r->req;
    assert_int_equal(q->messages[0].parts[0].type, LLMUX_PART_FILE);
    assert_string_equal(q->messages[0].parts[0].mime_type, "application/pdf");
    assert_string_equal(q->messages[0].parts[0].data, "JVBERi0=");
    assert_string_equal(q->messages[0].parts[0].name, "a.pdf");
    assert_int_equal(q->messages[0].parts[1].type, LLMUX_PART_TEXT);
    assert_string_equal(q->messages[0].parts[1].text, "plain words");
    assert_int_equal(q->n_messages, 4); /* user, assistant, the tool result, the document it held */
    assert_string_equal(q->messages[2].parts[0].text, "[document]");
    assert_int_equal(q->messages[3].parts[0].type, LLMUX_PART_FILE);
    assert_string_equal(q->messages[3].parts[0].image_url, "https://x/b.pdf");
    lx_srv_req_free(r);
    r = openai_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":"
                  "{\"filename\":\"a.pdf\",\"file_data\":\"data:application/pdf;base64,JVBERi0=\"}}]}]}");
    const llmux_part *p = &r->req.messages[0].parts[0];
    assert_int_equal(p->type, LLMUX_PART_FILE);
    assert_string_equal(p->mime_type, "application/pdf");
    assert_string_equal(p->data, "JVBERi0=");
    assert_string_equal(p->name, "a.pdf");
    lx_srv_req_free(r);
    const char *resp = "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\","
                       "\"file_url\":\"https://x/c.pdf\"},{\"type\":\"input_text\",\"text\":\"Sum\"}]}]}";
    llmux_error_info err;
    if (lx_srv_responses_request(resp, strlen(resp), NULL, NULL, &r, &err) != LLMUX_OK) fail_msg("%s", err.message);
    assert_int_equal(r->req.messages[0].parts[0].type, LLMUX_PART_FILE);
    assert_string_equal(r->req.messages[0].parts[0].image_url, "https://x/c.pdf");
    lx_srv_req_free(r);
    /* OpenAI's prompt_cache_key, safety_identifier, user and service_tier ride in the metadata
     * (for OpenAI's own API; user for Anthropic's metadata.user_id too). */
    r = openai_ok("{\"model\":\"m\",\"prompt_cache_key\":\"conv-1\",\"user\":\"u-1\",\"safety_identifier\":\"h-9\","
                  "\"service_tier\":\"flex\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_int_equal(r->req.n_metadata, 4);
    assert_string_equal(r->req.metadata[0].key, "prompt_cache_key");
    assert_string_equal(r->req.metadata[0].value, "conv-1");
    assert_string_equal(r->req.metadata[1].key, "safety_identifier");
    assert_string_equal(r->req.metadata[2].value, "u-1");
    assert_string_equal(r->req.metadata[3].value, "flex");
    lx_srv_req_free(r);
#define OREF(body, names) refused(lx_srv_openai_request, body, strlen(body), names)
    OREF("{\"model\":\"m\",\"prompt_cache_key\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "prompt_cache_key");
    OREF("{\"model\":\"m\",\"user\":\"\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "user");
    OREF("{\"model\":\"m\",\"service_tier\":\"priority-but-much-longer-than-32-chars\",\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         "service_tier");
    OREF("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{\"file_id\":\"file-1\"}}]}]}",
         "messages[0].content[0].file.file_id");
    OREF("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{\"file_data\":\"JVBERi0=\"}}]}]}",
         "file.file_data");
#undef OREF
}

/* What OpenAI-compatible servers add: top_k, min_p and repetition_penalty (or llama-server's
 * repeat_penalty) reach the canonical sampling; every other field this server does not read goes
 * to a Chat Completions backend as sent (provider_options.openai_chat). */
static void test_openai_vendor_fields(void **state) {
    (void)state;
    lx_srv_req *r = openai_ok("{\"model\":\"m\",\"top_k\":40,\"min_p\":0.05,\"repeat_penalty\":1.1,"
                              "\"chat_template_kwargs\":{\"enable_thinking\":false},\"provider\":{\"order\":[\"x\"]},"
                              "\"metadata\":{\"a\":\"b\"},\"store\":false,\"guided_json\":null,"
                              "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_int_equal(r->req.sampling.top_k, 40);
    assert_true(r->req.sampling.min_p == 0.05);
    assert_true(r->req.sampling.repeat_penalty == 1.1);
    json_t *po = json_loads(r->req.provider_options, 0, NULL);
    json_t *x = json_object_get(po, "openai_chat");
    assert_int_equal(json_object_size(x), 2); /* metadata and store are OpenAI's stored completions: not passed on */
    assert_true(json_is_false(json_object_get(json_object_get(x, "chat_template_kwargs"), "enable_thinking")));
    assert_non_null(json_object_get(json_object_get(x, "provider"), "order"));
    json_decref(po);
    lx_srv_req_free(r);
    /* -1 and 0 mean "off" for vLLM and llama-server: unset; vLLM's name wins over llama-server's. */
    r = openai_ok("{\"model\":\"m\",\"top_k\":-1,\"repetition_penalty\":1.3,\"repeat_penalty\":1.1,"
                  "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_int_equal(r->req.sampling.top_k, LLMUX_UNSET_INT);
    assert_true(r->req.sampling.repeat_penalty == 1.3);
    assert_null(r->req.provider_options);
    lx_srv_req_free(r);
    /* The text completions endpoint too, next to its own provider options. */
    llmux_error_info err;
    const char *c = "{\"model\":\"m\",\"prompt\":\"p\",\"min_p\":0.1,\"grammar\":\"root ::= \\\"a\\\"\"}";
    assert_int_equal(lx_srv_completions_request(c, strlen(c), &r, &err), LLMUX_OK);
    assert_true(r->req.sampling.min_p == 0.1);
    po = json_loads(r->req.provider_options, 0, NULL);
    assert_true(json_is_true(json_object_get(json_object_get(po, "local"), "raw_prompt")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(po, "openai_chat"), "grammar")), "root ::= \"a\"");
    json_decref(po);
    lx_srv_req_free(r);
#define OREF(body, names) refused(lx_srv_openai_request, body, strlen(body), names)
    OREF("{\"model\":\"m\",\"top_k\":-2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "top_k");
    OREF("{\"model\":\"m\",\"min_p\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "min_p");
    OREF("{\"model\":\"m\",\"repetition_penalty\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         "repetition_penalty");
    OREF("{\"model\":\"m\",\"repeat_penalty\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         "repeat_penalty");
#undef OREF
    /* More than LX_SRV_MAX_EXTRAS unread fields: a 400, not an unbounded pass-through. */
    char big[4096];
    size_t at = (size_t)snprintf(big, sizeof big, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]");
    for (int i = 0; i <= LX_SRV_MAX_EXTRAS; i++) at += (size_t)snprintf(big + at, sizeof big - at, ",\"x%d\":1", i);
    snprintf(big + at, sizeof big - at, "}");
    refused(lx_srv_openai_request, big, strlen(big), "more than 64 fields");
}

static void test_openai_reasoning_and_parallel(void **state) {
    (void)state;
    static const struct {
        const char *value;
        llmux_reasoning_effort want;
    } cases[] = {{"none", LLMUX_REASONING_NONE},     {"minimal", LLMUX_REASONING_NONE}, {"low", LLMUX_REASONING_LOW},
                 {"medium", LLMUX_REASONING_MEDIUM}, {"high", LLMUX_REASONING_HIGH},    {"xhigh", LLMUX_REASONING_HIGH}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"model\":\"m\",\"reasoning_effort\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                 cases[i].value);
        lx_srv_req *r = openai_ok(body);
        assert_int_equal(r->req.reasoning_effort, cases[i].want);
        assert_false(r->req.single_tool_call);
        lx_srv_req_free(r);
    }
    lx_srv_req *r = openai_ok("{\"model\":\"m\",\"parallel_tool_calls\":false,"
                              "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                              "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_true(r->req.single_tool_call);
    assert_int_equal(r->req.reasoning_effort, LLMUX_REASONING_DEFAULT);
    lx_srv_req_free(r);
    r = openai_ok("{\"model\":\"m\",\"parallel_tool_calls\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_false(r->req.single_tool_call);
    lx_srv_req_free(r);
#define REF(body, names) refused(lx_srv_openai_request, body, strlen(body), names)
    REF("{\"model\":\"m\",\"reasoning_effort\":\"max\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "reasoning_effort");
    REF("{\"model\":\"m\",\"reasoning_effort\":3,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "reasoning_effort");
    REF("{\"model\":\"m\",\"parallel_tool_calls\":\"no\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "parallel_tool_calls");
#undef REF
}

/* ------------------------------------------------------------- streams */

static char *feed(lx_srv_stream *s, const llmux_event *evs, size_t n) {
    size_t cap = 1, len = 0;
    char *all = calloc(1, 1);
    for (size_t i = 0; i < n; i++) {
        char *out = NULL;
        assert_true(lx_srv_stream_event(s, &evs[i], &out));
        if (!out) continue;
        cap = len + strlen(out) + 1;
        all = realloc(all, cap);
        memcpy(all + len, out, strlen(out) + 1);
        len += strlen(out);
        free(out);
    }
    return all;
}

#define TXT(i, t) {.type = LLMUX_EVENT_TEXT_DELTA, .index = i, .text = t, .text_len = sizeof t - 1}

static const llmux_event k_tool_events[] = {
    {.type = LLMUX_EVENT_START, .id = "up", .name = "m"},
    TXT(0, "Hi"),
    {.type = LLMUX_EVENT_TOOL_CALL_START, .index = 1, .id = "c1", .name = "f"},
    {.type = LLMUX_EVENT_TOOL_CALL_START, .index = 2, .id = "c2", .name = "g"},
    {.type = LLMUX_EVENT_TOOL_CALL_DELTA, .index = 2, .text = "{}", .text_len = 2},
    {.type = LLMUX_EVENT_TOOL_CALL_DELTA, .index = 1, .text = "{\"a\":1}", .text_len = 7},
    {.type = LLMUX_EVENT_TOOL_CALL_END, .index = 1},
    {.type = LLMUX_EVENT_TOOL_CALL_END, .index = 2},
    {.type = LLMUX_EVENT_USAGE, .usage = {.input_tokens = 3, .output_tokens = 4, .cached_input_tokens = -1,
                                          .cache_write_tokens = -1, .reasoning_tokens = -1, .total_tokens = 7}},
    /* A backend that says "stop" after a tool call: the client still sees a tool-call finish. */
    {.type = LLMUX_EVENT_FINISH, .finish_reason = LLMUX_FINISH_STOP},
};

static void test_openai_stream_bytes(void **state) {
    lx_srv_stream *s = lx_srv_stream_create(LX_SRV_OPENAI, "id1", "m", 5, false);
    char *all = feed(s, k_tool_events, sizeof k_tool_events / sizeof k_tool_events[0]);
#define CH(delta, fin) "data: {\"id\":\"id1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":" delta ",\"logprobs\":null,\"finish_reason\":" fin "}]}\n\n"
    const char *want =
        CH("{\"role\":\"assistant\",\"content\":\"\"}", "null")
        CH("{\"content\":\"Hi\"}", "null")
        CH("{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}", "null")
        CH("{\"tool_calls\":[{\"index\":1,\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"\"}}]}", "null")
        CH("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]}", "null")
        CH("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]}", "null")
        CH("{}", "\"tool_calls\"")
        "data: [DONE]\n\n";
#undef CH
    assert_string_equal(all, want);
    assert_true(lx_srv_stream_ended(s));
    free(all);
    lx_srv_stream_free(s);
}

static void test_anthropic_stream_bytes(void **state) {
    lx_srv_stream *s = lx_srv_stream_create(LX_SRV_ANTHROPIC, "msg1", "m", 5, false);
    char *all = feed(s, k_tool_events, sizeof k_tool_events / sizeof k_tool_events[0]);
#define EV(name, data) "event: " name "\ndata: " data "\n\n"
    const char *want =
        EV("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"output_tokens\":0,\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}}")
        EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
        EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}")
        EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
        EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"c1\",\"name\":\"f\",\"input\":{}}}")
        EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}")
        EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"c2\",\"name\":\"g\",\"input\":{}}}")
        EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}")
        EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}")
        EV("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":3,\"output_tokens\":4,\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}")
        EV("message_stop", "{\"type\":\"message_stop\"}");
#undef EV
    /* Anthropic blocks never interleave: the fragment of c1 that arrived while c2 was open is
     * where the canonical stream put it; llmux's adapters emit a call's fragments contiguously,
     * so this only shows the encoder never writes a delta into the wrong block. */
    assert_string_equal(all, want);
    free(all);
    lx_srv_stream_free(s);
}

/* A backend that counts the prompt before its first token (USAGE right after START): Anthropic's
 * message_start carries that count, as Anthropic's own does; the final usage completes it. On
 * the OpenAI side the one usage chunk has both. */
static void test_early_usage(void **state) {
    (void)state;
    const llmux_event evs[] = {
        {.type = LLMUX_EVENT_START, .id = "up", .name = "m"},
        {.type = LLMUX_EVENT_USAGE, .usage = {.input_tokens = 20, .output_tokens = -1, .cached_input_tokens = 5,
                                              .cache_write_tokens = -1, .reasoning_tokens = -1, .total_tokens = -1}},
        TXT(0, "Hi"),
        {.type = LLMUX_EVENT_USAGE, .usage = {.input_tokens = 20, .output_tokens = 3, .cached_input_tokens = -1,
                                              .cache_write_tokens = -1, .reasoning_tokens = -1, .total_tokens = 23}},
        {.type = LLMUX_EVENT_FINISH, .finish_reason = LLMUX_FINISH_STOP},
    };
    lx_srv_stream *s = lx_srv_stream_create(LX_SRV_ANTHROPIC, "msg1", "m", 5, false);
    char *all = feed(s, evs, sizeof evs / sizeof evs[0]);
    assert_non_null(strstr(all, "\"usage\":{\"input_tokens\":15,\"output_tokens\":0,\"cache_read_input_tokens\":5,"
                                "\"cache_creation_input_tokens\":0}}}\n\nevent: content_block_start"));
    /* The last usage's unknown cache figure does not erase the first one's. */
    assert_non_null(strstr(all, "\"usage\":{\"input_tokens\":15,\"output_tokens\":3,\"cache_read_input_tokens\":5,"));
    free(all);
    lx_srv_stream_free(s);
    s = lx_srv_stream_create(LX_SRV_OPENAI, "id1", "m", 5, true);
    all = feed(s, evs, sizeof evs / sizeof evs[0]);
    assert_non_null(strstr(all, "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":3,\"total_tokens\":23,"
                                "\"prompt_tokens_details\":{\"cached_tokens\":5}"));
    free(all);
    lx_srv_stream_free(s);
}

/* POST /v1/responses: input items to canonical messages (assistant-side items grouped into one
 * turn, reasoning items' signatures restored in both forms), and the refusals of what a
 * stateless server cannot do. */
static void test_responses_request(void **state) {
    (void)state;
    lx_srv_req *r = NULL;
    llmux_error_info err;
    const char *body =
        "{\"model\":\"m\",\"instructions\":\"Be brief.\",\"input\":["
        "{\"role\":\"developer\",\"content\":\"Rules.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"Look\"},"
        "{\"type\":\"input_image\",\"image_url\":\"data:image/png;base64,QQ==\"}]},"
        "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"hm\"}],"
        "\"encrypted_content\":\"gAAA\"},"
        "{\"type\":\"reasoning\",\"id\":\"rs_x\",\"summary\":[],\"encrypted_content\":\"llmux:anthropic-sig\"},"
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Checking.\"}]},"
        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"},"
        "{\"type\":\"function_call\",\"call_id\":\"c2\",\"name\":\"f\",\"arguments\":\"{}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"one\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"c2\",\"output\":[{\"type\":\"input_text\",\"text\":\"two\"}]}],"
        "\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}],"
        "\"tool_choice\":{\"type\":\"function\",\"name\":\"f\"},\"parallel_tool_calls\":false,"
        "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"x\",\"schema\":{\"type\":\"object\"},\"strict\":true}},"
        "\"reasoning\":{\"effort\":\"medium\"},\"max_output_tokens\":50,\"temperature\":0.5,\"stream\":true,\"store\":true}";
    if (lx_srv_responses_request(body, strlen(body), NULL, NULL, &r, &err) != LLMUX_OK) fail_msg("%s", err.message);
    const llmux_request *q = &r->req;
    assert_string_equal(q->system, "Be brief.");
    assert_int_equal(q->n_messages, 4); /* developer, user, assistant turn, tool results */
    assert_int_equal(q->messages[0].role, LLMUX_ROLE_SYSTEM);
    assert_int_equal(q->messages[1].n_parts, 2);
    assert_string_equal(q->messages[1].parts[1].mime_type, "image/png");
    const llmux_message *a = &q->messages[2];
    assert_int_equal(a->role, LLMUX_ROLE_ASSISTANT);
    assert_int_equal(a->n_parts, 5);
    assert_string_equal(a->parts[0].signature, "rs_1|gAAA");
    assert_string_equal(a->parts[0].text, "hm");
    assert_string_equal(a->parts[1].signature, "anthropic-sig");
    assert_string_equal(a->parts[2].text, "Checking.");
    assert_string_equal(a->parts[3].id, "c1");
    assert_string_equal(a->parts[4].id, "c2");
    assert_int_equal(q->messages[3].role, LLMUX_ROLE_TOOL);
    assert_int_equal(q->messages[3].n_parts, 2);
    assert_string_equal(q->messages[3].parts[1].text, "two");
    assert_int_equal(q->tool_choice, LLMUX_TOOL_CHOICE_TOOL);
    assert_true(q->single_tool_call);
    assert_int_equal(q->response_format, LLMUX_FORMAT_JSON_SCHEMA);
    assert_int_equal(q->reasoning_effort, LLMUX_REASONING_MEDIUM);
    assert_int_equal(q->sampling.max_tokens, 50);
    assert_true(q->stream);
    assert_true(r->store);
    assert_null(r->previous_response_id);
    lx_srv_req_free(r);
    /* previous_response_id and store are read, for the server to resolve. */
    const char *cont = "{\"model\":\"m\",\"previous_response_id\":\"resp_1\",\"store\":false,\"input\":\"hi\"}";
    if (lx_srv_responses_request(cont, strlen(cont), NULL, NULL, &r, &err) != LLMUX_OK) fail_msg("%s", err.message);
    assert_string_equal(r->previous_response_id, "resp_1");
    assert_false(r->store);
    lx_srv_req_free(r);
#define REF(body, names) refused(responses_no_store, body, strlen(body), names)
    REF("{\"model\":\"m\",\"previous_response_id\":\"\",\"input\":\"hi\"}", "previous_response_id");
    REF("{\"model\":\"m\",\"previous_response_id\":[1],\"input\":\"hi\"}", "previous_response_id");
    REF("{\"model\":\"m\",\"store\":\"yes\",\"input\":\"hi\"}", "store");
    REF("{\"model\":\"m\",\"background\":true,\"input\":\"hi\"}", "background");
    REF("{\"model\":\"m\",\"input\":[]}", "input");
    REF("{\"model\":\"m\",\"input\":[{\"type\":\"item_reference\",\"id\":\"x\"}]}", "item_reference");
    REF("{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"file_search\"}]}", "tools[0].type");
    REF("{\"model\":\"m\",\"input\":[{\"type\":\"function_call\",\"name\":\"f\"}]}", "call_id");
    REF("{\"model\":\"m\",\"input\":\"hi\",\"reasoning\":{\"effort\":\"max\"}}", "reasoning.effort");
    REF("{\"model\":\"m\",\"input\":\"hi\",\"max_output_tokens\":0}", "max_output_tokens");
    REF("{\"input\":\"hi\"}", "model");
#undef REF
}

/* A fake store of one item, for item_reference. */
static json_t *one_item(void *ctx, const char *id, const char *previous_response_id, llmux_error_info *err) {
    int *calls = ctx;
    ++*calls;
    (void)previous_response_id;
    if (strcmp(id, "fc_abc_1") != 0) {
        snprintf(err->message, sizeof err->message, "no item %s here", id);
        return NULL;
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "type", "function_call", "call_id", "c9", "name", "f",
                     "arguments", "{\"q\":2}");
}

/* item_reference: the stored item takes the reference's place; an unknown id is a 400 naming it.
 * Stored conversations come back as input items that read back into the same messages. */
static void test_responses_item_reference(void **state) {
    (void)state;
    lx_srv_req *r = NULL;
    llmux_error_info err;
    int calls = 0;
    const char *body = "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"go\"},"
                       "{\"type\":\"item_reference\",\"id\":\"fc_abc_1\"},"
                       "{\"type\":\"function_call_output\",\"call_id\":\"c9\",\"output\":\"done\"}]}";
    if (lx_srv_responses_request(body, strlen(body), one_item, &calls, &r, &err) != LLMUX_OK) fail_msg("%s", err.message);
    assert_int_equal(calls, 1);
    assert_int_equal(r->req.n_messages, 3);
    assert_int_equal(r->req.messages[1].role, LLMUX_ROLE_ASSISTANT);
    assert_int_equal(r->req.messages[1].parts[0].type, LLMUX_PART_TOOL_CALL);
    assert_string_equal(r->req.messages[1].parts[0].id, "c9");
    assert_string_equal(r->req.messages[1].parts[0].arguments, "{\"q\":2}");
    assert_string_equal(r->req.messages[2].parts[0].text, "done");

    /* The conversation as input items, and back: the same messages. */
    json_t *items = lx_srv_responses_input_items(r->req.messages, r->req.n_messages, "resp_abc");
    assert_non_null(items);
    assert_int_equal(json_array_size(items), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")), "msg_abc_in0");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "id")), "fc_abc_in1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 2), "id")), "fco_abc_in2");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 2), "type")), "function_call_output");
    json_t *again = json_pack("{s:s,s:O}", "model", "m", "input", items);
    char *text = json_dumps(again, JSON_COMPACT);
    json_decref(again);
    json_decref(items);
    lx_srv_req *r2 = NULL;
    if (lx_srv_responses_request(text, strlen(text), NULL, NULL, &r2, &err) != LLMUX_OK) fail_msg("%s", err.message);
    free(text);
    char *a = llmux_request_to_json(&r->req), *b = llmux_request_to_json(&r2->req);
    assert_string_equal(a, b);
    llmux_free(a);
    llmux_free(b);
    lx_srv_req_free(r2);
    lx_srv_req_free(r);

    /* Unknown ids, and no store at all. */
    const char *unknown = "{\"model\":\"m\",\"input\":[{\"type\":\"item_reference\",\"id\":\"fc_zzz_0\"}]}";
    assert_int_equal(lx_srv_responses_request(unknown, strlen(unknown), one_item, &calls, &r, &err),
                     LLMUX_E_INVALID_REQUEST);
    assert_null(r);
    assert_non_null(strstr(err.message, "no item fc_zzz_0 here")); /* the lookup's reason */
    assert_int_equal(lx_srv_responses_request(unknown, strlen(unknown), NULL, NULL, &r, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "fc_zzz_0"));
    const char *twice = "{\"model\":\"m\",\"input\":[{\"type\":\"item_reference\",\"id\":\"fc_abc_1\"},"
                        "{\"type\":\"item_reference\",\"id\":\"fc_abc_1\"}]}";
    assert_int_equal(lx_srv_responses_request(twice, strlen(twice), one_item, &calls, &r, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "Duplicate item"));
    const char *no_id = "{\"model\":\"m\",\"input\":[{\"type\":\"item_reference\"}]}";
    assert_int_equal(lx_srv_responses_request(no_id, strlen(no_id), one_item, &calls, &r, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "input[0].id"));
}

/* Codex's freeform apply_patch: a custom tool goes to the backend as a function taking one string
 * (its grammar in the description); the call comes back as a custom_tool_call with the raw text,
 * streamed or not; custom_tool_call and custom_tool_call_output items read back. */
static void test_responses_custom_tools(void **state) {
    (void)state;
    lx_srv_req *r = NULL;
    llmux_error_info err;
    const char *body =
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"fix it\"},"
        "{\"type\":\"custom_tool_call\",\"call_id\":\"c0\",\"name\":\"apply_patch\",\"input\":\"*** Begin Patch\\n*** End Patch\"},"
        "{\"type\":\"custom_tool_call_output\",\"call_id\":\"c0\",\"output\":\"Done!\"}],"
        "\"tools\":[{\"type\":\"custom\",\"name\":\"apply_patch\",\"description\":\"Edit files.\","
        "\"format\":{\"type\":\"grammar\",\"syntax\":\"lark\",\"definition\":\"start: begin_patch\"}},"
        "{\"type\":\"function\",\"name\":\"shell\",\"parameters\":{\"type\":\"object\"}}]}";
    if (lx_srv_responses_request(body, strlen(body), NULL, NULL, &r, &err) != LLMUX_OK) fail_msg("%s", err.message);
    assert_int_equal(r->req.n_tools, 2);
    assert_string_equal(r->req.tools[0].name, "apply_patch");
    assert_non_null(strstr(r->req.tools[0].description, "Edit files."));
    assert_non_null(strstr(r->req.tools[0].description, "lark grammar:\nstart: begin_patch"));
    json_t *params = json_loads(r->req.tools[0].parameters, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(params, "properties"), "input"), "type")),
                        "string");
    json_decref(params);
    assert_int_equal(r->n_custom_tools, 1);
    assert_string_equal(r->custom_tools[0], "apply_patch");
    const llmux_part *call = &r->req.messages[1].parts[0];
    assert_int_equal(call->type, LLMUX_PART_TOOL_CALL);
    assert_string_equal(call->arguments, "{\"input\":\"*** Begin Patch\\n*** End Patch\"}");
    assert_int_equal(r->req.messages[2].role, LLMUX_ROLE_TOOL);
    assert_string_equal(r->req.messages[2].parts[0].text, "Done!");
    lx_srv_names custom;
    assert_true(lx_srv_names_copy(&custom, r->custom_tools, r->n_custom_tools));
    lx_srv_req_free(r);

    /* Not streamed: the backend's function call back as a custom_tool_call; shell stays a function. */
    llmux_part parts[] = {{.type = LLMUX_PART_TOOL_CALL, .id = "c1", .name = "apply_patch",
                           .arguments = "{\"input\":\"*** Begin Patch\\n+x\\n*** End Patch\"}"},
                          {.type = LLMUX_PART_TOOL_CALL, .id = "c2", .name = "shell", .arguments = "{\"cmd\":\"ls\"}"}};
    llmux_response resp = {.parts = parts, .n_parts = 2, .finish_reason = LLMUX_FINISH_TOOL_CALLS,
                           .usage = llmux_usage_default()};
    char *text = lx_srv_responses_response(&resp, "resp_cu", "m", 1, NULL, false, &custom);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    json_t *c1 = json_array_get(json_object_get(j, "output"), 0), *c2 = json_array_get(json_object_get(j, "output"), 1);
    assert_string_equal(json_string_value(json_object_get(c1, "type")), "custom_tool_call");
    assert_string_equal(json_string_value(json_object_get(c1, "input")), "*** Begin Patch\n+x\n*** End Patch");
    assert_string_equal(json_string_value(json_object_get(c1, "call_id")), "c1");
    assert_string_equal(json_string_value(json_object_get(c2, "type")), "function_call");
    json_decref(j);
    /* A model that answered with raw text instead of the JSON form: that text is the input. */
    char *raw = lx_srv_custom_input("*** Begin Patch", 15);
    assert_string_equal(raw, "*** Begin Patch");
    free(raw);
    /* A call cut short (max_tokens): the input decoded as far as it goes. */
    const char *cut = "{\"input\":\"*** Begin Patch\\n+caf\\u00e9 \\\"q\\\" \\u12";
    raw = lx_srv_custom_input(cut, strlen(cut));
    assert_string_equal(raw, "*** Begin Patch\n+caf\xc3\xa9 \"q\" ");
    free(raw);

    /* Streamed: no argument deltas for it; its input whole when the call ends. */
    const llmux_event evs[] = {
        {.type = LLMUX_EVENT_START, .id = "up", .name = "m"},
        {.type = LLMUX_EVENT_TOOL_CALL_START, .index = 0, .id = "c1", .name = "apply_patch"},
        {.type = LLMUX_EVENT_TOOL_CALL_DELTA, .index = 0, .text = "{\"input\":\"*** Begin", .text_len = 19},
        {.type = LLMUX_EVENT_TOOL_CALL_DELTA, .index = 0, .text = " Patch\"}", .text_len = 8},
        {.type = LLMUX_EVENT_TOOL_CALL_END, .index = 0},
        {.type = LLMUX_EVENT_FINISH, .finish_reason = LLMUX_FINISH_TOOL_CALLS},
    };
    lx_srv_stream *s = lx_srv_stream_create(LX_SRV_OPENAI_RESPONSES, "resp_cs", "m", 5, true);
    const char *names[] = {"apply_patch"};
    assert_true(lx_srv_stream_custom_tools(s, names, 1));
    char *all = feed(s, evs, sizeof evs / sizeof evs[0]);
    assert_null(strstr(all, "function_call"));
    assert_non_null(strstr(all, "event: response.custom_tool_call_input.delta\n"));
    assert_non_null(strstr(all, "\"input\":\"*** Begin Patch\""));
    const char *done = strstr(all, "event: response.output_item.done\n");
    assert_non_null(done);
    assert_non_null(strstr(done, "\"type\":\"custom_tool_call\""));
    const char *completed = strstr(all, "event: response.completed\n");
    assert_non_null(completed);
    assert_non_null(strstr(completed, "\"input\":\"*** Begin Patch\""));
    free(all);
    lx_srv_stream_free(s);
    /* A call the backend never ended is ended at the finish, with its events. */
    const llmux_event open_call[] = {
        {.type = LLMUX_EVENT_TOOL_CALL_START, .index = 0, .id = "c1", .name = "apply_patch"},
        {.type = LLMUX_EVENT_TOOL_CALL_DELTA, .index = 0, .text = "{\"input\":\"x\"}", .text_len = 13},
        {.type = LLMUX_EVENT_FINISH, .finish_reason = LLMUX_FINISH_LENGTH},
    };
    s = lx_srv_stream_create(LX_SRV_OPENAI_RESPONSES, "resp_ct", "m", 5, true);
    assert_true(lx_srv_stream_custom_tools(s, names, 1));
    all = feed(s, open_call, 3);
    done = strstr(all, "event: response.custom_tool_call_input.done\n");
    assert_non_null(done);
    assert_non_null(strstr(done, "event: response.output_item.done\n"));
    assert_non_null(strstr(all, "event: response.incomplete\n"));
    free(all);
    lx_srv_stream_free(s);
    lx_srv_names_free(&custom);
    /* A hosted-search tool_choice goes with the tool: auto for a backend without it, as sent for a
     * Responses backend. */
    const char *wsc = "{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"web_search\"}],\"tool_choice\":{\"type\":\"web_search\"}}";
    if (lx_srv_responses_request(wsc, strlen(wsc), NULL, NULL, &r, &err) != LLMUX_OK) fail_msg("%s", err.message);
    assert_int_equal(r->req.tool_choice, LLMUX_TOOL_CHOICE_AUTO);
    assert_int_equal(r->req.n_tools, 0);
    assert_string_equal(r->req.provider_options,
                        "{\"openai_responses\":{\"hosted_tools\":[{\"type\":\"web_search\"}],\"tool_choice\":{\"type\":\"web_search\"}}}");
    lx_srv_req_free(r);
    /* Hosted web search (Codex declares it by default) is not a canonical tool: a Responses backend
     * gets it as sent, and the metadata names it; an earlier turn's web_search_call item is an
     * assistant turn's NATIVE part (for a Responses backend, as it came). */
    const char *ws = "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"q\"},"
                     "{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"completed\",\"action\":{\"type\":\"search\"}},"
                     "{\"role\":\"user\",\"content\":\"more\"}],"
                     "\"tools\":[{\"type\":\"web_search\",\"external_web_access\":false},{\"type\":\"function\",\"name\":\"f\"}]}";
    if (lx_srv_responses_request(ws, strlen(ws), NULL, NULL, &r, &err) != LLMUX_OK) fail_msg("%s", err.message);
    assert_int_equal(r->req.n_tools, 1);
    assert_string_equal(r->req.tools[0].name, "f");
    assert_int_equal(r->req.n_messages, 3);
    assert_int_equal(r->req.messages[1].role, LLMUX_ROLE_ASSISTANT);
    assert_int_equal(r->req.messages[1].parts[0].type, LLMUX_PART_NATIVE);
    assert_string_equal(r->req.messages[1].parts[0].name, "openai_responses");
    assert_non_null(strstr(r->req.messages[1].parts[0].text, "\"ws_1\""));
    bool noted = false;
    for (size_t i = 0; i < r->req.n_metadata; i++)
        if (strcmp(r->req.metadata[i].key, "openai_tools") == 0 && strcmp(r->req.metadata[i].value, "web_search") == 0)
            noted = true;
    assert_true(noted);
    assert_string_equal(r->req.provider_options,
                        "{\"openai_responses\":{\"hosted_tools\":[{\"type\":\"web_search\",\"external_web_access\":false}]}}");
    lx_srv_req_free(r);
#define REF(body, names) refused(responses_no_store, body, strlen(body), names)
    REF("{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"custom\"}]}", "tools[0].name");
    REF("{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"custom\",\"name\":\"p\",\"format\":{\"type\":\"grammar\"}}]}",
        "tools[0].format");
    REF("{\"model\":\"m\",\"input\":[{\"type\":\"custom_tool_call\",\"call_id\":\"c\",\"name\":\"p\"}]}", "input[0]");
    REF("{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"custom\",\"name\":\"p\"},{\"type\":\"function\",\"name\":\"p\"}]}",
        "declared twice");
#undef REF
}

/* The Responses stream: response.created first, an item's added/delta/done events keyed by its
 * output_index, interleaved call arguments kept apart, a reasoning item's signature as its
 * encrypted_content, sequence numbers rising by one, response.completed with every item and the
 * usage; a failure after the start as `error` then response.failed. */
static void test_responses_stream_bytes(void **state) {
    (void)state;
    const llmux_event evs[] = {
        {.type = LLMUX_EVENT_START, .id = "up", .name = "m"},
        {.type = LLMUX_EVENT_REASONING_DELTA, .index = 0, .text = "hm", .text_len = 2},
        {.type = LLMUX_EVENT_REASONING_DELTA, .index = 0, .signature = "rs_7|gAAA"},
        TXT(1, "Hi"),
        {.type = LLMUX_EVENT_TOOL_CALL_START, .index = 2, .id = "c1", .name = "f"},
        {.type = LLMUX_EVENT_TOOL_CALL_START, .index = 3, .id = "c2", .name = "g"},
        {.type = LLMUX_EVENT_TOOL_CALL_DELTA, .index = 3, .text = "{}", .text_len = 2},
        {.type = LLMUX_EVENT_TOOL_CALL_DELTA, .index = 2, .text = "{\"a\":1}", .text_len = 7},
        {.type = LLMUX_EVENT_TOOL_CALL_END, .index = 2},
        {.type = LLMUX_EVENT_TOOL_CALL_END, .index = 3},
        {.type = LLMUX_EVENT_USAGE, .usage = {.input_tokens = 3, .output_tokens = 4, .cached_input_tokens = 1,
                                              .cache_write_tokens = -1, .reasoning_tokens = 2, .total_tokens = 7}},
        {.type = LLMUX_EVENT_FINISH, .finish_reason = LLMUX_FINISH_TOOL_CALLS},
    };
    lx_srv_stream *s = lx_srv_stream_create(LX_SRV_OPENAI_RESPONSES, "resp_abc", "m", 5, true);
    char *all = feed(s, evs, sizeof evs / sizeof evs[0]);
    assert_true(lx_srv_stream_ended(s));
    /* Every data line parses; sequence numbers count 0, 1, 2, ... */
    long want_seq = 0;
    const char *types[64];
    size_t n = 0;
    for (const char *p = strstr(all, "data: "); p; p = strstr(p + 1, "data: ")) {
        const char *e = strchr(p, '\n');
        json_t *j = json_loadb(p + 6, (size_t)(e - p - 6), 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "sequence_number")), want_seq++);
        types[n++] = strdup(json_string_value(json_object_get(j, "type")));
        if (strcmp(types[n - 1], "response.completed") == 0) {
            json_t *out = json_object_get(json_object_get(j, "response"), "output");
            assert_int_equal(json_array_size(out), 4);
            json_t *rs = json_array_get(out, 0);
            assert_string_equal(json_string_value(json_object_get(rs, "id")), "rs_7");
            assert_string_equal(json_string_value(json_object_get(rs, "encrypted_content")), "gAAA");
            assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(rs, "summary"), 0), "text")), "hm");
            json_t *c1 = json_array_get(out, 2);
            assert_string_equal(json_string_value(json_object_get(c1, "call_id")), "c1");
            assert_string_equal(json_string_value(json_object_get(c1, "arguments")), "{\"a\":1}");
            assert_string_equal(json_string_value(json_object_get(json_array_get(out, 3), "arguments")), "{}");
            json_t *u = json_object_get(json_object_get(j, "response"), "usage");
            assert_int_equal(json_integer_value(json_object_get(json_object_get(u, "input_tokens_details"), "cached_tokens")), 1);
            assert_int_equal(json_integer_value(json_object_get(json_object_get(u, "output_tokens_details"), "reasoning_tokens")), 2);
        }
        json_decref(j);
    }
    assert_string_equal(types[0], "response.created");
    assert_string_equal(types[1], "response.in_progress");
    assert_string_equal(types[2], "response.output_item.added");
    assert_string_equal(types[n - 1], "response.completed");
    for (size_t i = 0; i < n; i++) free((void *)types[i]);
    /* Each call's arguments under its own output_index. */
    assert_non_null(strstr(all, "\"output_index\":3,\"delta\":\"{}\""));
    assert_non_null(strstr(all, "\"output_index\":2,\"delta\":\"{\\\"a\\\":1}\""));
    free(all);
    lx_srv_stream_free(s);

    /* A failure after the start: `error`, then response.failed, then nothing. */
    llmux_error_info e = {.status = LLMUX_E_OVERLOADED, .message = "busy"};
    const llmux_event bad[] = {TXT(0, "a"), {.type = LLMUX_EVENT_ERROR, .error = &e}, TXT(0, "late")};
    s = lx_srv_stream_create(LX_SRV_OPENAI_RESPONSES, "resp_abd", "m", 5, true);
    all = feed(s, bad, 3);
    const char *err_ev = strstr(all, "event: error\n");
    assert_non_null(err_ev);
    assert_non_null(strstr(err_ev, "\"message\":\"busy\""));
    assert_non_null(strstr(err_ev, "event: response.failed\n"));
    assert_null(strstr(all, "late"));
    free(all);
    lx_srv_stream_free(s);
}

static void test_stream_errors(void **state) {
    llmux_error_info e = {.status = LLMUX_E_OVERLOADED, .message = "busy"};
    llmux_event evs[] = {TXT(0, "a"), {.type = LLMUX_EVENT_ERROR, .error = &e}, TXT(0, "late")};
    lx_srv_stream *s = lx_srv_stream_create(LX_SRV_OPENAI, "i", "m", 1, true);
    char *all = feed(s, evs, 3);
    const char *err = strstr(all, "data: {\"error\":{\"message\":\"busy\",\"type\":\"server_error\",\"param\":null,\"code\":\"overloaded\"}}\n\n");
    assert_non_null(err);
    assert_int_equal(strlen(err), strlen("data: {\"error\":{\"message\":\"busy\",\"type\":\"server_error\",\"param\":null,\"code\":\"overloaded\"}}\n\n")); /* last */
    assert_null(strstr(all, "late"));
    assert_null(strstr(all, "[DONE]"));
    free(all);
    lx_srv_stream_free(s);
    s = lx_srv_stream_create(LX_SRV_ANTHROPIC, "i", "m", 1, false);
    all = feed(s, evs, 3);
    assert_non_null(strstr(all, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n"));
    assert_null(strstr(all, "message_stop"));
    free(all);
    char *ping = lx_srv_stream_ping(s);
    assert_string_equal(ping, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    free(ping);
    lx_srv_stream_free(s);
}

/* Bytes that are not UTF-8 in model output become U+FFFD; the stream goes on. */
static void test_invalid_utf8_output(void **state) {
    llmux_event evs[] = {{.type = LLMUX_EVENT_TEXT_DELTA, .text = "a\xff\xc3", .text_len = 3},
                         {.type = LLMUX_EVENT_TEXT_DELTA, .text = "\xc3\xa9", .text_len = 2},
                         {.type = LLMUX_EVENT_FINISH, .finish_reason = LLMUX_FINISH_STOP}};
    lx_srv_stream *s = lx_srv_stream_create(LX_SRV_ANTHROPIC, "i", "m", 1, false);
    char *all = feed(s, evs, 3);
    assert_non_null(strstr(all, "\"text\":\"a\xef\xbf\xbd\xef\xbf\xbd\"}"));
    assert_non_null(strstr(all, "\"text\":\"\xc3\xa9\"}"));
    assert_non_null(strstr(all, "message_stop"));
    free(all);
    lx_srv_stream_free(s);
    json_t *j = lx_srv_json_text("x\0y\xed\xa0\x80", 6); /* a NUL (kept) and an encoded surrogate */
    assert_int_equal(json_string_length(j), 12);
    assert_memory_equal(json_string_value(j), "x\0y\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12);
    json_decref(j);
    /* An upstream message cut mid-character still makes an error body. */
    char *body = lx_srv_error_body(LX_SRV_OPENAI, LLMUX_E_UPSTREAM_SERVER, "boom \xe2\x82");
    assert_non_null(body);
    assert_non_null(strstr(body, "\"message\":\"boom \xef\xbf\xbd\xef\xbf\xbd\""));
    free(body);
}

/* OpenAI content deltas are written from a per-stream head and tail around the encoded text
 * (stream.c text_chunk): the bytes must be those of the chunk as a JSON object, whatever the
 * id and model (valid UTF-8: the model comes from the parsed request) and the text hold
 * (quotes, backslashes, control bytes, a NUL, bytes that are not UTF-8, "</script>"), with or
 * without include_usage. */
static void test_openai_text_chunk_bytes(void **state) {
    static const struct {
        const char *id, *model, *text;
        size_t text_len;
        bool usage;
    } cases[] = {
        {"id1", "m", "Hi", 2, false},
        {"chatcmpl-\"q\"\\", "up/gpt \xc3\xa9\x01", "a\"b\\c\n\t\x01\x7f</script>\xc3\xa9", 20, true},
        {"i", "m", "x\0y\xed\xa0\x80\xf0\x9f\x98\x80", 10, false},
        {"", "", " ", 1, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lx_srv_stream *s = lx_srv_stream_create(LX_SRV_OPENAI, cases[k].id, cases[k].model, 1700000000, cases[k].usage);
        assert_non_null(s);
        llmux_event evs[] = {{.type = LLMUX_EVENT_TEXT_DELTA, .text = cases[k].text, .text_len = cases[k].text_len},
                             {.type = LLMUX_EVENT_TEXT_DELTA, .text = cases[k].text, .text_len = cases[k].text_len}};
        char *all = feed(s, evs, 2);
        json_t *o = json_object();
        json_object_set_new(o, "id", lx_srv_json_text(cases[k].id, strlen(cases[k].id)));
        json_object_set_new(o, "object", json_string("chat.completion.chunk"));
        json_object_set_new(o, "created", json_integer(1700000000));
        json_object_set_new(o, "model", lx_srv_json_text(cases[k].model, strlen(cases[k].model)));
        json_t *choice = json_pack("{s:i,s:{s:o},s:n,s:n}", "index", 0, "delta", "content",
                                   lx_srv_json_text(cases[k].text, cases[k].text_len), "logprobs", "finish_reason");
        json_object_set_new(o, "choices", json_pack("[o]", choice));
        if (cases[k].usage) json_object_set_new(o, "usage", json_null());
        char *obj = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        assert_non_null(obj);
        size_t want_len = strlen(obj) + 8;
        char *want = malloc(want_len + 1);
        snprintf(want, want_len + 1, "data: %s\n\n", obj);
        /* The role chunk, then the same content chunk twice (the head is made once). */
        size_t n = strlen(all);
        assert_true(n > 2 * want_len);
        assert_memory_equal(all + n - 2 * want_len, want, want_len);
        assert_memory_equal(all + n - want_len, want, want_len);
        free(obj);
        free(want);
        free(all);
        lx_srv_stream_free(s);
    }
}

/* The role, finish and usage chunks are written as bytes too (stream.c chunk_head): each must be
 * the chunk's JSON object as jansson dumps it, for every finish reason, with usage counts known,
 * unknown (-1: written as 0) and large, and with an id and model that need escaping. */
static json_t *chunk_object(const char *id, const char *model, json_t *choices, bool usage_null) {
    json_t *o = json_object();
    json_object_set_new(o, "id", lx_srv_json_text(id, strlen(id)));
    json_object_set_new(o, "object", json_string("chat.completion.chunk"));
    json_object_set_new(o, "created", json_integer(1700000001));
    json_object_set_new(o, "model", lx_srv_json_text(model, strlen(model)));
    json_object_set_new(o, "choices", choices);
    if (usage_null) json_object_set_new(o, "usage", json_null());
    return o;
}

static void append_frame(char **want, json_t *o) {
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(t);
    size_t have = strlen(*want), n = strlen(t);
    *want = realloc(*want, have + n + 9);
    snprintf(*want + have, n + 9, "data: %s\n\n", t);
    free(t);
}

static void test_openai_plain_chunk_bytes(void **state) {
    static const llmux_finish_reason reasons[] = {LLMUX_FINISH_STOP, LLMUX_FINISH_LENGTH, LLMUX_FINISH_CONTENT_FILTER,
                                                  LLMUX_FINISH_TOOL_CALLS};
    static const llmux_usage usages[] = {
        {.input_tokens = 3, .output_tokens = 4, .cached_input_tokens = 1, .reasoning_tokens = 2, .total_tokens = 7},
        {.input_tokens = -1, .output_tokens = -1, .cached_input_tokens = -1, .reasoning_tokens = -1, .total_tokens = -1},
        {.input_tokens = 9000000000000000000LL, .output_tokens = 5, .cached_input_tokens = 0, .reasoning_tokens = 0,
         .total_tokens = -1},
    };
    const char *ids[] = {"c1", "chatcmpl-\"q\"\\\x01"}, *models[] = {"m", "up/gpt \xc3\xa9</script>"};
    for (size_t k = 0; k < 4 * 3 * 2 * 2; k++) {
        llmux_finish_reason r = reasons[k % 4];
        const llmux_usage *u = &usages[(k / 4) % 3];
        bool inc = (k / 12) % 2;
        const char *id = ids[k / 24], *model = models[k / 24];
        lx_srv_stream *s = lx_srv_stream_create(LX_SRV_OPENAI, id, model, 1700000001, inc);
        assert_non_null(s);
        llmux_event evs[] = {{.type = LLMUX_EVENT_START, .id = "up", .name = "m"},
                             {.type = LLMUX_EVENT_TEXT_DELTA, .text = "x", .text_len = 1},
                             {.type = LLMUX_EVENT_USAGE, .usage = *u},
                             {.type = LLMUX_EVENT_FINISH, .finish_reason = r}};
        char *all = feed(s, evs, 4);
        char *want = calloc(1, 1);
        append_frame(&want, chunk_object(id, model,
                                         json_pack("[{s:i,s:{s:s,s:s},s:n,s:n}]", "index", 0, "delta", "role", "assistant",
                                                   "content", "", "logprobs", "finish_reason"),
                                         inc));
        append_frame(&want, chunk_object(id, model,
                                         json_pack("[{s:i,s:{s:s},s:n,s:n}]", "index", 0, "delta", "content", "x",
                                                   "logprobs", "finish_reason"),
                                         inc));
        append_frame(&want, chunk_object(id, model,
                                         json_pack("[{s:i,s:{},s:n,s:s}]", "index", 0, "delta", "logprobs", "finish_reason",
                                                   lx_srv_openai_finish(r, false)),
                                         inc));
        if (inc) {
            json_t *o = chunk_object(id, model, json_array(), false);
            json_object_set_new(o, "usage", lx_srv_openai_usage(u));
            append_frame(&want, o);
        }
        size_t have = strlen(want);
        want = realloc(want, have + 15);
        memcpy(want + have, "data: [DONE]\n\n", 15);
        assert_string_equal(all, want);
        free(want);
        free(all);
        lx_srv_stream_free(s);
    }
}

/* A text-only chat.completion is written as bytes (response.c openai_text_response): the same
 * ones as the jansson object it replaced, whatever the text (escapes, invalid UTF-8 repaired,
 * empty), the finish reason and the usage; a redacted reasoning part does not change it. An id
 * that is not UTF-8 fails as json_pack did (NULL). */
static void test_openai_text_response_bytes(void **state) {
    static const struct {
        const char *text, *id, *model;
        llmux_finish_reason r;
        bool redacted_reasoning;
    } cases[] = {
        {"Hello", "chatcmpl-1", "up/gpt-bench", LLMUX_FINISH_STOP, false},
        {"a\"b\\c\n\t\x01\x7f</script>\xc3\xa9\xff", "id\"", "m\xc3\xa9", LLMUX_FINISH_LENGTH, true},
        {"", "i", "m", LLMUX_FINISH_CONTENT_FILTER, false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        llmux_aggregator *agg = llmux_aggregator_create();
        llmux_event evs[] = {
            {.type = LLMUX_EVENT_START, .id = "up", .name = "m"},
            {.type = LLMUX_EVENT_REASONING_DELTA, .index = 0, .text = "secret", .text_len = 6, .redacted = true},
            {.type = LLMUX_EVENT_TEXT_DELTA, .index = 1, .text = cases[k].text, .text_len = strlen(cases[k].text)},
            {.type = LLMUX_EVENT_USAGE, .usage = {.input_tokens = 11, .output_tokens = -1, .cached_input_tokens = 2,
                                                  .cache_write_tokens = -1, .reasoning_tokens = -1, .total_tokens = -1}},
            {.type = LLMUX_EVENT_FINISH, .finish_reason = cases[k].r}};
        for (size_t i = 0; i < 5; i++) {
            if (i == 1 && !cases[k].redacted_reasoning) continue;
            if (i == 2 && !*cases[k].text) continue;
            assert_int_equal(llmux_aggregator_add(agg, &evs[i], NULL), LLMUX_OK);
        }
        llmux_response *resp = llmux_aggregator_response(agg);
        assert_non_null(resp);
        char *got = lx_srv_openai_response(resp, cases[k].id, cases[k].model, 1700000002);
        const char *text = llmux_response_text(resp);
        json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:n,s:o},s:n,s:s}],s:o}", "id", cases[k].id, "object",
                              "chat.completion", "created", (json_int_t)1700000002, "model", cases[k].model, "choices",
                              "index", 0, "message", "role", "assistant", "refusal", "content",
                              lx_srv_json_text(text, strlen(text)), "logprobs", "finish_reason",
                              lx_srv_openai_finish(cases[k].r, false), "usage", lx_srv_openai_usage(&resp->usage));
        assert_non_null(o);
        char *want = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(want);
        free(got);
        assert_null(lx_srv_openai_response(resp, "bad\xff", "m", 1)); /* json_pack refused it too */
        llmux_response_free(resp);
        llmux_aggregator_destroy(agg);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_text_chunk_bytes),
        cmocka_unit_test(test_openai_plain_chunk_bytes),
        cmocka_unit_test(test_openai_text_response_bytes),
        cmocka_unit_test(test_openai_full_request), cmocka_unit_test(test_openai_refusals),
        cmocka_unit_test(test_caps),                cmocka_unit_test(test_anthropic_request),
        cmocka_unit_test(test_openai_reasoning_and_parallel),
        cmocka_unit_test(test_openai_vendor_fields),
        cmocka_unit_test(test_early_usage),
        cmocka_unit_test(test_anthropic_tool_result_image), cmocka_unit_test(test_cache_control), cmocka_unit_test(test_documents),
        cmocka_unit_test(test_responses_request),
        cmocka_unit_test(test_responses_item_reference),
        cmocka_unit_test(test_responses_custom_tools),
        cmocka_unit_test(test_responses_stream_bytes),
        cmocka_unit_test(test_openai_stream_bytes), cmocka_unit_test(test_anthropic_stream_bytes),
        cmocka_unit_test(test_stream_errors),       cmocka_unit_test(test_invalid_utf8_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
