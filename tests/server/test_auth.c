/* API keys, per-key limits and CORS of llmux serve's HTTP server (src/server/http/auth.c) over
 * real loopback sockets with libcurl as the client: 401 / 403 / 429 bodies and headers in both
 * client formats, Bearer and x-api-key, /v1/models filtered per key, requests per minute, requests
 * in flight per key, a budget counted from real SQLite execution records (a priced request on the
 * fake upstream spends it; the next is refused, also after a restart that reloads the spending
 * from the records), and CORS preflight and response headers. */
#define _GNU_SOURCE /* strcasestr, mkdtemp */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "server_fixture.h"

#define ALICE "sk-alice-0123456789abcdef"
#define BOB "sk-bob-0123456789abcdefgh"
#define CAROL "sk-carol-0123456789abcdef"
#define CHAT "/v1/chat/completions"
#define MINI_BODY "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"

static const char *const alice_models[] = {"openai/*", "smart"};
static const char *const every_model[] = {"*"};

/* alice: openai/ models and smart; bob: every model, 2 requests a minute; carol: every model, 10 USD. */
static void make_keys(lx_config_key k[3]) {
    memset(k, 0, 3 * sizeof *k);
    k[0] = (lx_config_key){.name = "alice", .models = alice_models, .n_models = 2, .budget_usd = -1};
    k[1] = (lx_config_key){.name = "bob", .models = every_model, .n_models = 1, .budget_usd = -1, .rpm = 2};
    k[2] = (lx_config_key){.name = "carol", .models = every_model, .n_models = 1, .budget_usd = 10};
    lx_sha256(ALICE, strlen(ALICE), k[0].sha256);
    lx_sha256(BOB, strlen(BOB), k[1].sha256);
    lx_sha256(CAROL, strlen(CAROL), k[2].sha256);
}

/* The fixture's runtime and server, with execution records at records_url and a price that makes
 * openai/gpt-4o-mini cost 15 USD for the fake answer (11 input + 4 output tokens at 1 USD each). */
static void start(sf *f, lx_server_params *sp, const char *records_url) {
    local_rt l;
    sf_upstream_start(f, &l);
    l.rp.records = records_url;
    f->rt = local_rt_create(&l);
    llmux_error_info err;
    llmux_model_info price = {.id = "openai/gpt-4o-mini", .context_length = -1, .max_output_tokens = -1,
                              .input_price = 1e6, .output_price = 1e6, .cache_read_price = 1e6, .cache_write_price = 1e6};
    assert_int_equal(llmux_catalog_add(f->rt, &price, 1, &err), LLMUX_OK);
    sp->port = 0;
    sp->records = records_url;
    const char *ids[] = {SF_LOCAL, "smart"};
    sp->models = ids;
    sp->n_models = 2;
    llmux_status st = lx_server_start(f->rt, sp, &f->srv, &err);
    if (st != LLMUX_OK) fail_msg("%s", err.message);
}

static lx_server_params keyed(lx_config_key keys[3]) {
    make_keys(keys);
    lx_server_params sp = lx_server_default_params();
    sp.keys = keys;
    sp.n_keys = 3;
    return sp;
}

/* A request with any number of header lines (NULL-terminated); method GET, POST, DELETE or
 * OPTIONS. */
static void req(const sf *f, const char *method, const char *path, const char *body, const char *const *headers,
                sf_reply *r) {
    memset(r, 0, sizeof *r);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", lx_server_port(f->srv), path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; headers && headers[i]; i++) h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sf_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sf_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    } else if (strcmp(method, "DELETE") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else if (strcmp(method, "OPTIONS") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "OPTIONS");
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static bool has_header(const sf_reply *r, const char *line) { return strcasestr(r->headers, line) != NULL; }

/* The error's type in the OpenAI shape, or NULL when the body is not that shape. */
static void expect_openai_error(const sf_reply *r, long status, const char *type, const char *msg_part) {
    assert_int_equal(r->status, status);
    json_t *j = json_loads(r->body ? r->body : "", 0, NULL);
    assert_non_null(j);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    const char *m = json_string_value(json_object_get(e, "message"));
    assert_non_null(m);
    if (msg_part && !strstr(m, msg_part)) fail_msg("message \"%s\" lacks \"%s\"", m, msg_part);
    json_decref(j);
}

static void expect_anthropic_error(const sf_reply *r, long status, const char *type, const char *msg_part) {
    assert_int_equal(r->status, status);
    json_t *j = json_loads(r->body ? r->body : "", 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "error");
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    const char *m = json_string_value(json_object_get(e, "message"));
    assert_non_null(m);
    if (msg_part && !strstr(m, msg_part)) fail_msg("message \"%s\" lacks \"%s\"", m, msg_part);
    json_decref(j);
}

/* ------------------------------------------------------------------ 401 */

static void test_missing_or_wrong_key(void **state) {
    lx_config_key keys[3];
    lx_server_params sp = keyed(keys);
    sf f;
    start(&f, &sp, "sqlite::memory:");
    sf_reply r;
    req(&f, "POST", CHAT, MINI_BODY, NULL, &r);
    expect_openai_error(&r, 401, "authentication_error", "missing API key");
    assert_true(has_header(&r, "WWW-Authenticate: Bearer"));
    free(r.body);
    const char *wrong[] = {"Authorization: Bearer sk-alice-0123456789abcdeX", NULL};
    req(&f, "POST", CHAT, MINI_BODY, wrong, &r);
    expect_openai_error(&r, 401, "authentication_error", "invalid API key");
    assert_null(strstr(r.body, "sk-alice")); /* the presented key is never echoed */
    free(r.body);
    const char *wrong_x[] = {"x-api-key: nope", "anthropic-version: 2023-06-01", NULL};
    req(&f, "POST", "/v1/messages", "{}", wrong_x, &r);
    expect_anthropic_error(&r, 401, "authentication_error", "invalid API key");
    free(r.body);
    req(&f, "POST", "/v1/messages", "not even json", NULL, &r); /* refused before the body is read */
    expect_anthropic_error(&r, 401, "authentication_error", "missing API key");
    free(r.body);
    const char *anth[] = {"anthropic-version: 2023-06-01", NULL};
    req(&f, "GET", "/v1/models", NULL, anth, &r);
    expect_anthropic_error(&r, 401, "authentication_error", NULL);
    free(r.body);
    req(&f, "GET", "/v1/models", NULL, NULL, &r);
    expect_openai_error(&r, 401, "authentication_error", NULL);
    free(r.body);
    req(&f, "GET", "/v1/nowhere", NULL, NULL, &r); /* routes are not probed without a key */
    assert_int_equal(r.status, 401);
    free(r.body);
    req(&f, "GET", "/health", NULL, NULL, &r); /* health needs none */
    assert_int_equal(r.status, 200);
    free(r.body);
    sf_stop(&f);
}

/* ---------------------------------------------- keys, models, the record */

static void test_key_headers_models_and_record(void **state) {
    char dir[] = "/tmp/llmux-auth-XXXXXX", url[128];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/records.db", dir);
    lx_config_key keys[3];
    lx_server_params sp = keyed(keys);
    sf f;
    start(&f, &sp, url);
    sf_push(&f, CHAT, 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    sf_push(&f, CHAT, 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    sf_reply r;
    const char *bearer[] = {"Authorization: Bearer " ALICE, "X-Request-Id: auth-req-1", NULL};
    req(&f, "POST", CHAT, MINI_BODY, bearer, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* x-api-key on the Anthropic route, answered by the OpenAI backend. */
    const char *xkey[] = {"x-api-key: " ALICE, "anthropic-version: 2023-06-01", NULL};
    req(&f, "POST", "/v1/messages",
        "{\"model\":\"openai/gpt-4o-mini\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", xkey, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* A model outside alice's patterns: 403 in each format. */
    req(&f, "POST", "/v1/messages",
        "{\"model\":\"anthropic/claude-sonnet-4-5\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", xkey,
        &r);
    expect_anthropic_error(&r, 403, "permission_error", "may not use the model \"anthropic/claude-sonnet-4-5\"");
    free(r.body);
    req(&f, "POST", CHAT, "{\"model\":\"" SF_LOCAL "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", bearer, &r);
    expect_openai_error(&r, 403, "permission_error", "alice");
    free(r.body);
    /* The other model-taking routes admit the same way: completions, embeddings, count_tokens. */
    req(&f, "POST", "/v1/completions", "{\"model\":\"" SF_LOCAL "\",\"prompt\":\"Hi\"}", bearer, &r);
    expect_openai_error(&r, 403, "permission_error", "alice");
    free(r.body);
    req(&f, "POST", "/v1/embeddings", "{\"model\":\"" SF_LOCAL "\",\"input\":\"Hi\"}", bearer, &r);
    expect_openai_error(&r, 403, "permission_error", "alice");
    free(r.body);
    req(&f, "POST", "/v1/messages/count_tokens",
        "{\"model\":\"" SF_LOCAL "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", xkey, &r);
    expect_anthropic_error(&r, 403, "permission_error", "may not use the model");
    free(r.body);
    /* /v1/models: only what alice may use (smart, openai/...), in both shapes. */
    req(&f, "GET", "/v1/models", NULL, bearer, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    json_t *data = json_object_get(j, "data");
    assert_true(json_array_size(data) >= 2);
    bool smart = false;
    for (size_t i = 0; i < json_array_size(data); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(data, i), "id"));
        smart = smart || strcmp(id, "smart") == 0;
        if (strcmp(id, "smart") != 0 && strncmp(id, "openai/", 7) != 0) fail_msg("alice sees %s", id);
    }
    assert_true(smart);
    json_decref(j);
    free(r.body);
    /* One model (models.retrieve): a model alice may use, raw or with its '/' encoded; one she may
     * not use is "not found", as one that does not exist. */
    req(&f, "GET", "/v1/models/smart", NULL, bearer, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"id\":\"smart\""));
    assert_non_null(strstr(r.body, "\"object\":\"model\""));
    free(r.body);
    req(&f, "GET", "/v1/models/openai%2Fgpt-4o-mini", NULL, bearer, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"id\":\"openai/gpt-4o-mini\""));
    free(r.body);
    req(&f, "GET", "/v1/models/" SF_LOCAL, NULL, bearer, &r);
    expect_openai_error(&r, 404, "invalid_request_error", SF_LOCAL);
    free(r.body);
    const char *carol[] = {"x-api-key: " CAROL, "anthropic-version: 2023-06-01", NULL};
    req(&f, "GET", "/v1/models", NULL, carol, &r); /* every model */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"" SF_LOCAL "\""));
    assert_non_null(strstr(r.body, "anthropic/"));
    free(r.body);
    req(&f, "GET", "/v1/models/" SF_LOCAL, NULL, carol, &r); /* Anthropic's shape for its SDK */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"type\":\"model\""));
    assert_non_null(strstr(r.body, "\"id\":\"" SF_LOCAL "\""));
    free(r.body);
    req(&f, "GET", "/v1/models/no/such-model", NULL, carol, &r);
    expect_anthropic_error(&r, 404, "not_found_error", "no/such-model");
    free(r.body);
    sf_stop(&f); /* flushes the records */
    /* The record names the key (never the key itself) and carries the request id. */
    llmux_records *rec = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_records_open(url, &rec, &err), LLMUX_OK);
    char *jsonl = NULL;
    assert_int_equal(llmux_records_list(rec, NULL, &jsonl, &err), LLMUX_OK);
    assert_non_null(strstr(jsonl, "\"caller\":\"alice\""));
    assert_non_null(strstr(jsonl, "\"request_id\":\"auth-req-1\""));
    assert_null(strstr(jsonl, ALICE));
    llmux_free(jsonl);
    double usd = -1;
    assert_int_equal(llmux_records_caller_cost(rec, "alice", 0, &usd, &err), LLMUX_OK);
    assert_true(usd > 29.9 && usd < 30.1); /* two answers at 15 USD */
    assert_int_equal(llmux_records_caller_cost(rec, "nobody", 0, &usd, &err), LLMUX_OK);
    assert_true(usd == 0.0);
    assert_int_equal(llmux_records_caller_cost(rec, "", 0, &usd, &err), LLMUX_E_INVALID_REQUEST);
    llmux_records_close(rec);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------------ 429 */

static void test_rpm(void **state) {
    lx_config_key keys[3];
    lx_server_params sp = keyed(keys);
    sf f;
    start(&f, &sp, "sqlite::memory:");
    const char *bob[] = {"Authorization: Bearer " BOB, NULL};
    const char *body = "{\"model\":\"local/nope\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
    sf_reply r;
    for (int i = 0; i < 2; i++) { /* admitted (then the model is unknown) */
        req(&f, "POST", CHAT, body, bob, &r);
        assert_int_equal(r.status, 404);
        free(r.body);
    }
    req(&f, "POST", CHAT, body, bob, &r);
    expect_openai_error(&r, 429, "rate_limit_error", "2 requests per minute");
    /* The next token is 30 s away at 2 a minute. */
    const char *ra = strcasestr(r.headers, "Retry-After: ");
    assert_non_null(ra);
    int secs = atoi(ra + 13);
    assert_true(secs >= 29 && secs <= 30);
    free(r.body);
    const char *bob_x[] = {"x-api-key: " BOB, "anthropic-version: 2023-06-01", NULL};
    req(&f, "POST", "/v1/messages", "{\"model\":\"local/nope\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
        bob_x, &r);
    expect_anthropic_error(&r, 429, "rate_limit_error", "requests per minute");
    assert_true(has_header(&r, "Retry-After: "));
    free(r.body);
    /* Another key is not affected. */
    const char *carol[] = {"Authorization: Bearer " CAROL, NULL};
    req(&f, "POST", CHAT, body, carol, &r);
    assert_int_equal(r.status, 404);
    free(r.body);
    sf_stop(&f);
}

typedef struct bg {
    const sf *f;
    sf_reply r;
} bg;

static void *stream_in_background(void *arg) {
    bg *b = arg;
    const char *carol[] = {"Authorization: Bearer " CAROL, NULL};
    req(b->f, "POST", CHAT,
        "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", carol, &b->r);
    return NULL;
}

/* Moves every recorded execution of `caller` `days` into the past, as if it had run then. */
static void backdate(const char *dir, const char *caller, int days) {
    char path[128], sql[256];
    snprintf(path, sizeof path, "%s/records.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof sql, "UPDATE executions SET started_at_ms = started_at_ms - %lld WHERE caller = '%s'",
             (long long)days * 86400000LL, caller);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_true(sqlite3_changes(db) >= 1);
    sqlite3_close(db);
}

/* A budget_period counts only its calendar window: carol's 15 USD spent this window exceeds a
 * daily budget (the message says when it starts again); once that spending is 40 days old, a
 * monthly budget admits her again while a budget for all time still refuses. */
static void test_budget_period(void **state) {
    char dir[] = "/tmp/llmux-auth-XXXXXX", url[128];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/records.db", dir);
    lx_config_key keys[3];
    lx_server_params sp = keyed(keys);
    keys[2].budget_period = LX_BUDGET_DAILY;
    sf f;
    start(&f, &sp, url);
    sf_push(&f, CHAT, 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    const char *carol[] = {"Authorization: Bearer " CAROL, NULL};
    sf_reply r;
    req(&f, "POST", CHAT, MINI_BODY, carol, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    req(&f, "POST", CHAT, MINI_BODY, carol, &r);
    expect_openai_error(&r, 429, "rate_limit_error", "15.0000 of its 10.00 USD daily budget; it starts again at ");
    assert_non_null(strstr(r.body, "T00:00:00Z"));
    free(r.body);
    sf_stop(&f);

    backdate(dir, "carol", 40);
    sp = keyed(keys);
    keys[2].budget_period = LX_BUDGET_MONTHLY;
    start(&f, &sp, url);
    sf_push(&f, CHAT, 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    req(&f, "POST", CHAT, MINI_BODY, carol, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* ... and this month's answer counts again. */
    req(&f, "POST", CHAT, MINI_BODY, carol, &r);
    expect_openai_error(&r, 429, "rate_limit_error", "monthly budget");
    free(r.body);
    sf_stop(&f);

    sp = keyed(keys); /* no period: both answers count */
    start(&f, &sp, url);
    req(&f, "POST", CHAT, MINI_BODY, carol, &r);
    expect_openai_error(&r, 429, "rate_limit_error", "30.0000 of its 10.00 USD budget");
    free(r.body);
    sf_stop(&f);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_streams_per_key(void **state) {
    lx_config_key keys[3];
    lx_server_params sp = keyed(keys);
    keys[2].budget_usd = -1;
    sp.max_streams_per_key = 1;
    sf f;
    start(&f, &sp, NULL);
    /* A stream that takes a few seconds (16-byte writes 50 ms apart). */
    sf_push(&f, CHAT, 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 16, 50);
    bg b = {.f = &f};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stream_in_background, &b), 0);
    for (int i = 0; i < 1000 && lx_server_active(f.srv) != 1; i++) usleep(5000);
    assert_int_equal(lx_server_active(f.srv), 1);
    const char *carol[] = {"Authorization: Bearer " CAROL, NULL};
    sf_reply r;
    req(&f, "POST", CHAT, MINI_BODY, carol, &r);
    expect_openai_error(&r, 429, "rate_limit_error", "in flight");
    assert_true(has_header(&r, "Retry-After: 1\r\n"));
    free(r.body);
    const char *alice[] = {"Authorization: Bearer " ALICE, NULL};
    req(&f, "POST", CHAT, "{\"model\":\"openai/nope\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", alice, &r);
    assert_true(r.status != 429); /* the limit is per key */
    free(r.body);
    pthread_join(t, NULL);
    assert_int_equal(b.r.status, 200);
    assert_non_null(strstr(b.r.body, "[DONE]"));
    free(b.r.body);
    /* The slot came back. */
    req(&f, "POST", CHAT, "{\"model\":\"local/nope\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", carol, &r);
    assert_int_equal(r.status, 404);
    free(r.body);
    sf_stop(&f);
}

/* A kept Responses API response belongs to the key that made it: another key can neither read,
 * list, refer to, continue nor delete it (to that key it does not exist). */
static void test_responses_owner(void **state) {
    (void)state;
    lx_config_key keys[3];
    lx_server_params sp = keyed(keys);
    keys[2].budget_usd = -1;
    sf f;
    start(&f, &sp, NULL);
    sf_push(&f, CHAT, 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    const char *alice[] = {"Authorization: Bearer " ALICE, NULL}, *carol[] = {"Authorization: Bearer " CAROL, NULL};
    sf_reply r;
    req(&f, "POST", "/v1/responses", "{\"model\":\"openai/gpt-4o-mini\",\"input\":\"Hi\"}", alice, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    free(r.body);
    char path[192], body[256], items[256], ref[384];
    snprintf(path, sizeof path, "/v1/responses/%s", json_string_value(json_object_get(j, "id")));
    snprintf(items, sizeof items, "%s/input_items", path);
    snprintf(body, sizeof body, "{\"model\":\"openai/gpt-4o-mini\",\"previous_response_id\":\"%s\",\"input\":\"Hi\"}",
             json_string_value(json_object_get(j, "id")));
    snprintf(ref, sizeof ref, "{\"model\":\"openai/gpt-4o-mini\",\"input\":[{\"type\":\"item_reference\",\"id\":\"%s\"}]}",
             json_string_value(json_object_get(json_array_get(json_object_get(j, "output"), 0), "id")));
    json_decref(j);
    req(&f, "GET", items, NULL, carol, &r);
    expect_openai_error(&r, 404, "invalid_request_error", "not found");
    free(r.body);
    req(&f, "POST", "/v1/responses", ref, carol, &r);
    expect_openai_error(&r, 400, "invalid_request_error", "item_reference");
    free(r.body);
    req(&f, "GET", items, NULL, alice, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    req(&f, "GET", path, NULL, carol, &r);
    expect_openai_error(&r, 404, "invalid_request_error", "not found");
    free(r.body);
    req(&f, "POST", "/v1/responses", body, carol, &r);
    expect_openai_error(&r, 400, "invalid_request_error", "not found");
    free(r.body);
    req(&f, "DELETE", path, NULL, carol, &r);
    assert_int_equal(r.status, 404);
    free(r.body);
    req(&f, "GET", path, NULL, alice, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    sf_stop(&f);
}

/* Carol's budget is 10 USD; one answer costs 15 (real SQLite records, the fake upstream, a
 * configured price): the next request is refused, and so it is after a restart, which loads what
 * she spent from the records. */
static void test_budget_from_records(void **state) {
    char dir[] = "/tmp/llmux-auth-XXXXXX", url[128];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/records.db", dir);
    lx_config_key keys[3];
    lx_server_params sp = keyed(keys);
    sf f;
    start(&f, &sp, url);
    sf_push(&f, CHAT, 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    const char *carol[] = {"Authorization: Bearer " CAROL, NULL};
    sf_reply r;
    req(&f, "POST", CHAT, MINI_BODY, carol, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    req(&f, "POST", CHAT, MINI_BODY, carol, &r);
    expect_openai_error(&r, 429, "rate_limit_error", "budget exceeded");
    assert_non_null(strstr(r.body, "15.0000 of its 10.00 USD"));
    assert_false(has_header(&r, "Retry-After:")); /* waiting does not help */
    assert_true(has_header(&r, "x-should-retry: false"));
    free(r.body);
    const char *carol_x[] = {"x-api-key: " CAROL, "anthropic-version: 2023-06-01", NULL};
    req(&f, "POST", "/v1/messages",
        "{\"model\":\"openai/gpt-4o-mini\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", carol_x, &r);
    expect_anthropic_error(&r, 429, "rate_limit_error", "budget exceeded");
    free(r.body);
    const char *alice[] = {"Authorization: Bearer " ALICE, NULL}; /* no budget */
    sf_push(&f, CHAT, 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    req(&f, "POST", CHAT, MINI_BODY, alice, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    sf_stop(&f);

    /* A new process, the same records: carol is still over. */
    sp = keyed(keys);
    start(&f, &sp, url);
    req(&f, "POST", CHAT, MINI_BODY, carol, &r);
    expect_openai_error(&r, 429, "rate_limit_error", "budget exceeded");
    free(r.body);
    sf_stop(&f);

    /* A budget without records is refused at start (it would forget its spending). */
    sp = keyed(keys);
    llmux_runtime *rt = NULL;
    llmux_runtime_params rp = llmux_runtime_default_params();
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_OK);
    sp.port = 0;
    lx_server *srv = NULL;
    assert_int_equal(lx_server_start(rt, &sp, &srv, &err), LLMUX_E_CONFIGURATION);
    assert_null(srv);
    assert_non_null(strstr(err.message, "carol"));
    assert_non_null(strstr(err.message, "records"));
    /* ... and so is a records database that cannot be opened. */
    sp = keyed(keys);
    sp.port = 0;
    sp.records = "sqlite:/proc/llmux-no-such-dir/records.db";
    assert_int_equal(lx_server_start(rt, &sp, &srv, &err), LLMUX_E_CONFIGURATION);
    assert_null(srv);
    assert_non_null(strstr(err.message, "budgets are counted from the execution records, which cannot be opened"));
    llmux_runtime_destroy(rt);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ----------------------------------------------------------------- CORS */

static void test_cors(void **state) {
    lx_config_key keys[3];
    lx_server_params sp = keyed(keys);
    const char *origins[] = {"https://app.example"};
    sp.cors_origins = origins;
    sp.n_cors_origins = 1;
    sf f;
    start(&f, &sp, "sqlite::memory:");
    sf_reply r;
    /* A preflight carries no key and needs none. */
    const char *pre[] = {"Origin: https://app.example", "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: authorization, content-type, x-stainless-os", NULL};
    req(&f, "OPTIONS", CHAT, NULL, pre, &r);
    assert_int_equal(r.status, 204);
    assert_true(has_header(&r, "Access-Control-Allow-Origin: https://app.example\r\n"));
    assert_true(has_header(&r, "Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS"));
    const char *ah = strcasestr(r.headers, "Access-Control-Allow-Headers: ");
    assert_non_null(ah);
    const char *want[] = {"authorization", "x-api-key", "content-type", "anthropic-version", "x-request-id", "x-stainless-os"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *eol = strstr(ah, "\r\n");
        const char *hit = strcasestr(ah, want[i]);
        if (!hit || hit > eol) fail_msg("Allow-Headers lacks %s", want[i]);
    }
    assert_true(has_header(&r, "Access-Control-Max-Age: 600"));
    free(r.body);
    const char *pre_bad[] = {"Origin: https://evil.example", "Access-Control-Request-Method: POST", NULL};
    req(&f, "OPTIONS", CHAT, NULL, pre_bad, &r);
    assert_int_equal(r.status, 403);
    assert_false(has_header(&r, "Access-Control-Allow-Origin"));
    free(r.body);
    /* Real responses: the header for an allowed origin only, also on a refusal. */
    const char *ok[] = {"Origin: https://app.example", "Authorization: Bearer " ALICE, NULL};
    req(&f, "GET", "/v1/models", NULL, ok, &r);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Access-Control-Allow-Origin: https://app.example\r\n"));
    assert_true(has_header(&r, "Access-Control-Expose-Headers: Retry-After, X-Request-Id"));
    free(r.body);
    const char *nokey[] = {"Origin: https://app.example", NULL};
    req(&f, "POST", CHAT, MINI_BODY, nokey, &r);
    assert_int_equal(r.status, 401); /* the browser can read why */
    assert_true(has_header(&r, "Access-Control-Allow-Origin: https://app.example\r\n"));
    free(r.body);
    const char *other[] = {"Origin: https://evil.example", "Authorization: Bearer " ALICE, NULL};
    req(&f, "GET", "/v1/models", NULL, other, &r);
    assert_int_equal(r.status, 200);
    assert_false(has_header(&r, "Access-Control-Allow-Origin"));
    free(r.body);
    sf_stop(&f);

    /* Off by default: no CORS header, whatever the origin. */
    sp = keyed(keys);
    start(&f, &sp, "sqlite::memory:");
    req(&f, "GET", "/v1/models", NULL, ok, &r);
    assert_int_equal(r.status, 200);
    assert_false(has_header(&r, "Access-Control-Allow-Origin"));
    free(r.body);
    req(&f, "OPTIONS", CHAT, NULL, pre, &r);
    assert_int_equal(r.status, 401); /* no preflight answer: an ordinary request without a key */
    assert_false(has_header(&r, "Access-Control-Allow-Origin"));
    free(r.body);
    sf_stop(&f);

    /* "*": any origin. */
    sp = keyed(keys);
    const char *any[] = {"*"};
    sp.cors_origins = any;
    sp.n_cors_origins = 1;
    start(&f, &sp, "sqlite::memory:");
    req(&f, "GET", "/v1/models", NULL, other, &r);
    assert_true(has_header(&r, "Access-Control-Allow-Origin: https://evil.example\r\n"));
    free(r.body);
    sf_stop(&f);
}

/* Without keys nothing changes: every request is served, the record has no caller. */
static void test_no_keys(void **state) {
    lx_server_params sp = lx_server_default_params();
    sf f;
    start(&f, &sp, NULL);
    sf_reply r;
    req(&f, "GET", "/v1/models", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"" SF_LOCAL "\""));
    free(r.body);
    const char *junk[] = {"Authorization: Bearer whatever-it-is", NULL};
    req(&f, "POST", CHAT, "{\"model\":\"local/nope\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", junk, &r);
    assert_int_equal(r.status, 404);
    free(r.body);
    sf_stop(&f);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_or_wrong_key), cmocka_unit_test(test_key_headers_models_and_record),
        cmocka_unit_test(test_rpm),                  cmocka_unit_test(test_streams_per_key),
        cmocka_unit_test(test_responses_owner),
        cmocka_unit_test(test_budget_from_records), cmocka_unit_test(test_budget_period),  cmocka_unit_test(test_cors),
        cmocka_unit_test(test_no_keys),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
