/* response_format on a local model through the server, over real loopback sockets with libcurl
 * as the client: POST /v1/chat/completions with response_format json_schema (non-streaming and
 * streaming) and json_object on local/llmux-fortunes answers JSON that parses and follows the
 * schema, with finish_reason "stop" and no warning; a schema the local engine cannot express is
 * a 400 invalid_request_error naming response_format.schema; tools on a local model whose chat
 * template cannot take them (the bundled model has none) are a 400 too, never silently ignored. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "server_fixture.h"

#define CHAT "/v1/chat/completions"
#define SCHEMA                                                                                               \
    "{\"type\":\"object\",\"properties\":{"                                                                  \
    "\"city\":{\"type\":\"string\",\"maxLength\":10},"                                                       \
    "\"temperature\":{\"type\":\"integer\",\"minimum\":-50,\"maximum\":60},"                                 \
    "\"sunny\":{\"type\":\"boolean\"}},"                                                                     \
    "\"required\":[\"city\",\"temperature\",\"sunny\"],\"additionalProperties\":false}"
#define USER "\"messages\":[{\"role\":\"user\",\"content\":\"The weather in Paris, as JSON.\"}]"

static json_t *load(const char *s, size_t len) {
    json_error_t e;
    json_t *j = json_loadb(s, len, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("not JSON (%s): %.*s", e.text, (int)len, s);
    return j;
}

static void assert_weather(const char *content) {
    json_t *v = load(content, strlen(content));
    if (!json_is_object(v) || json_object_size(v) != 3) fail_msg("not the schema's object: %s", content);
    assert_true(json_is_string(json_object_get(v, "city")));
    json_t *t = json_object_get(v, "temperature");
    assert_true(json_is_integer(t));
    assert_true(json_integer_value(t) >= -50 && json_integer_value(t) <= 60);
    assert_true(json_is_boolean(json_object_get(v, "sunny")));
    json_decref(v);
}

/* POSTs body to the chat endpoint and requires want_status; the reply's JSON (json_decref it). */
static json_t *post_chat(sf *f, const char *body, long want_status) {
    sf_reply r;
    sf_post(f, CHAT, body, &r);
    if (r.status != want_status) fail_msg("status %ld: %s", r.status, r.body);
    json_t *j = load(r.body, r.len);
    free(r.body);
    return j;
}

/* The first choice of a chat completion: finish_reason "stop"; its message content (owned by j). */
static const char *stopped_content(json_t *j) {
    json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")), "stop");
    const char *content = json_string_value(json_object_get(json_object_get(choice, "message"), "content"));
    assert_non_null(content);
    return content;
}

/* body is refused: 400, an OpenAI error of type invalid_request_error whose message names want. */
static void assert_refused(const char *body, const char *want) {
    sf f;
    sf_start(&f);
    json_t *j = post_chat(&f, body, 400);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!msg || !strstr(msg, want)) fail_msg("message: %s", msg ? msg : "(none)");
    json_decref(j);
    sf_stop(&f);
}

static void test_json_schema_chat(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    for (int seed = 1; seed <= 4; seed++) {
        char body[2048];
        snprintf(body, sizeof body,
                 "{\"model\":\"" SF_LOCAL "\",\"seed\":%d,\"max_tokens\":150," USER
                 ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"weather\",\"strict\":true,"
                 "\"schema\":" SCHEMA "}}}",
                 seed);
        json_t *j = post_chat(&f, body, 200);
        assert_weather(stopped_content(j));
        char *text = json_dumps(j, 0); /* every string of the reply: no warning among them */
        assert_null(strstr(text, "not enforced"));
        free(text);
        json_decref(j);
    }
    sf_stop(&f);
}

/* The SSE chunks' content deltas, joined. */
static void test_json_schema_chat_streaming(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    const char *body = "{\"model\":\"" SF_LOCAL "\",\"seed\":9,\"max_tokens\":150,\"stream\":true," USER
                       ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"weather\","
                       "\"schema\":" SCHEMA "}}}";
    sf_reply r;
    sf_post(&f, CHAT, body, &r);
    assert_int_equal(r.status, 200);
    char content[4096] = "";
    const char *finish = NULL;
    json_t *last = NULL;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "data: {", 7) != 0) continue;
        json_t *chunk = load(line + 6, strlen(line + 6));
        json_t *choice = json_array_get(json_object_get(chunk, "choices"), 0);
        const char *d = json_string_value(json_object_get(json_object_get(choice, "delta"), "content"));
        if (d) strncat(content, d, sizeof content - strlen(content) - 1);
        if (json_is_string(json_object_get(choice, "finish_reason"))) {
            json_decref(last);
            last = chunk;
            finish = json_string_value(json_object_get(choice, "finish_reason"));
            continue;
        }
        json_decref(chunk);
    }
    assert_non_null(finish);
    assert_string_equal(finish, "stop");
    assert_weather(content);
    json_decref(last);
    free(r.body);
    sf_stop(&f);
}

static void test_json_object_chat(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    const char *body = "{\"model\":\"" SF_LOCAL "\",\"seed\":2,\"max_tokens\":150," USER
                       ",\"response_format\":{\"type\":\"json_object\"}}";
    json_t *j = post_chat(&f, body, 200);
    const char *content = stopped_content(j);
    json_t *v = load(content, strlen(content));
    assert_true(json_is_object(v));
    json_decref(v);
    json_decref(j);
    sf_stop(&f);
}

static void test_unusable_schema_is_400(void **state) {
    (void)state;
    assert_refused("{\"model\":\"" SF_LOCAL "\"," USER
                   ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"remote\","
                   "\"schema\":{\"$ref\":\"https://example.com/weather.json\"}}}}",
                   "response_format.schema");
}

static void test_tools_without_template_is_400(void **state) {
    (void)state;
    assert_refused("{\"model\":\"" SF_LOCAL "\"," USER
                   ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                   "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]}",
                   "chat template");
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_schema_chat),
        cmocka_unit_test(test_json_schema_chat_streaming),
        cmocka_unit_test(test_json_object_chat),
        cmocka_unit_test(test_unusable_schema_is_400),
        cmocka_unit_test(test_tools_without_template_is_400),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
