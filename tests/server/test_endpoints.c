/* The server's endpoints beyond chat and messages, over real loopback sockets with libcurl as the
 * client: POST /v1/embeddings (the bundled model; the OpenAI provider through the fake upstream: float and base64
 * encodings, refusals, upstream errors, the loop staying free while the call blocks, the bound
 * on calls in flight, a client that hangs up), POST /v1/completions (the bundled model and an
 * OpenAI backend: the text_completion object, its SSE chunks with usage and [DONE], refusals)
 * and POST /v1/messages/count_tokens (exact: equal to the input tokens the same request reports
 * when it runs; remote models refused in Anthropic's error shape). */
#define _GNU_SOURCE /* strcasestr */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "server_fixture.h"

static json_t *load(const char *s) {
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j) fprintf(stderr, "not JSON (%s): %s\n", e.text, s);
    assert_non_null(j);
    return j;
}

static bool has_header(const sf_reply *r, const char *line) { return strcasestr(r->headers, line) != NULL; }

static void assert_error(const sf_reply *r, bool anthropic, long status, const char *type, const char *needle) {
    if (r->status != status) fprintf(stderr, "status %ld: %s\n", r->status, r->body);
    assert_int_equal(r->status, status);
    json_t *j = load(r->body);
    if (anthropic) assert_string_equal(json_string_value(json_object_get(j, "type")), "error");
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(msg);
    if (needle && !strstr(msg, needle)) fprintf(stderr, "message without \"%s\": %s\n", needle, msg);
    if (needle) assert_non_null(strstr(msg, needle));
    json_decref(j);
}

/* The upstream request i's body as JSON. */
static json_t *upstream_body(sf *f, int i) {
    lx_fake_request rq;
    assert_true(lx_fake_server_request(f->up, i, &rq));
    json_t *j = load(rq.body);
    free(rq.body);
    return j;
}

static void wait_active(sf *f, int n) {
    for (int i = 0; i < 1000 && lx_server_active(f->srv) != n; i++) usleep(10000);
    assert_int_equal(lx_server_active(f->srv), n);
}

/* A client on its own thread (the request the test keeps in flight). */
typedef struct client {
    sf *f;
    const char *path, *body;
    size_t abort_after;
    sf_reply r;
    CURLcode rc;
} client;

static void *client_run(void *arg) {
    client *c = arg;
    memset(&c->r, 0, sizeof c->r);
    c->r.abort_after = c->abort_after;
    c->rc = sf_http(c->f, "POST", c->path, c->body, strlen(c->body), NULL, &c->r);
    return NULL;
}

/* ------------------------------------------------------------ embeddings */

#define EMBED_FIXTURE "tests/data/embed/openai_embeddings.json"
static const float k_want[2][3] = {{0.125f, 2.0f, -3.5f}, {0.5f, -0.25f, 1e-3f}};

static void test_embeddings_float(void **state) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/embeddings", 200, "application/json", EMBED_FIXTURE, NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/embeddings",
            "{\"model\":\"openai/text-embedding-3-small\",\"input\":[\"alpha\",\"beta\"],\"dimensions\":3,"
            "\"encoding_format\":\"float\",\"user\":\"u1\"}",
            &r);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: application/json"));
    json_t *j = load(r.body);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "list");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "openai/text-embedding-3-small");
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *d = json_array_get(data, i);
        assert_string_equal(json_string_value(json_object_get(d, "object")), "embedding");
        assert_int_equal(json_integer_value(json_object_get(d, "index")), (json_int_t)i);
        json_t *v = json_object_get(d, "embedding");
        assert_int_equal(json_array_size(v), 3);
        for (size_t k = 0; k < 3; k++) assert_true((float)json_number_value(json_array_get(v, k)) == k_want[i][k]);
    }
    json_t *u = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "prompt_tokens")), 7);
    assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")), 7);
    json_decref(j);
    free(r.body);
    /* What the provider got: the model without its prefix, the inputs and dimensions. */
    json_t *up = upstream_body(&f, 0);
    assert_string_equal(json_string_value(json_object_get(up, "model")), "text-embedding-3-small");
    assert_int_equal(json_integer_value(json_object_get(up, "dimensions")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(up, "input"), 1)), "beta");
    json_decref(up);
    sf_stop(&f);
}

static int b64val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes base64 of little-endian float32 values (what the openai SDK does). */
static size_t decode_floats(const char *s, float *out, size_t max) {
    unsigned char bytes[256];
    size_t nb = 0, len = strlen(s);
    assert_int_equal(len % 4, 0);
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) v[k] = s[i + (size_t)k] == '=' ? 0 : b64val(s[i + (size_t)k]);
        for (int k = 0; k < 4; k++) assert_true(v[k] >= 0);
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        bytes[nb++] = (unsigned char)(w >> 16);
        if (s[i + 2] != '=') bytes[nb++] = (unsigned char)(w >> 8);
        if (s[i + 3] != '=') bytes[nb++] = (unsigned char)w;
    }
    assert_int_equal(nb % 4, 0);
    size_t n = nb / 4;
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)bytes[4 * i] | (uint32_t)bytes[4 * i + 1] << 8 | (uint32_t)bytes[4 * i + 2] << 16 |
                     (uint32_t)bytes[4 * i + 3] << 24;
        memcpy(&out[i], &u, 4);
    }
    return n;
}

static void test_embeddings_base64(void **state) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/embeddings", 200, "application/json", EMBED_FIXTURE, NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/embeddings", "{\"model\":\"openai/text-embedding-3-small\",\"input\":[\"alpha\",\"beta\"],\"encoding_format\":\"base64\"}", &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    for (size_t i = 0; i < 2; i++) {
        const char *b = json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), i), "embedding"));
        assert_non_null(b);
        float v[8];
        assert_int_equal(decode_floats(b, v, 8), 3);
        for (size_t k = 0; k < 3; k++) assert_true(v[k] == k_want[i][k]);
    }
    json_decref(j);
    free(r.body);
    sf_stop(&f);
}

static void test_embeddings_refusals(void **state) {
    sf f;
    sf_start(&f);
    sf_reply r;
    static const struct {
        const char *body, *needle;
    } bad[] = {
        {"{\"model\":\"openai/text-embedding-3-small\",\"input\":[[1,2,3]]}", "token arrays are not supported"},
        {"{\"model\":\"openai/text-embedding-3-small\",\"input\":[1,2,3]}", "token arrays are not supported"},
        {"{\"model\":\"openai/text-embedding-3-small\"}", "input: expected a string"},
        {"{\"model\":\"openai/text-embedding-3-small\",\"input\":[]}", "at least one input"},
        {"{\"model\":\"openai/text-embedding-3-small\",\"input\":\"\"}", "must not be empty"},
        {"{\"model\":\"openai/text-embedding-3-small\",\"input\":\"x\",\"encoding_format\":\"hex\"}", "encoding_format"},
        {"{\"model\":\"openai/text-embedding-3-small\",\"input\":\"x\",\"dimensions\":0}", "dimensions"},
        {"{\"input\":\"x\"}", "model: required"},
        {"[1]", NULL},
        /* llmux_embed's own refusal, from the pool thread. */
        {"{\"model\":\"" SF_LOCAL "\",\"input\":\"x\",\"dimensions\":3}", "dimensions: the local model"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sf_post(&f, "/v1/embeddings", bad[i].body, &r);
        assert_error(&r, false, 400, "invalid_request_error", bad[i].needle);
        free(r.body);
    }
    /* An upstream 429 keeps its class and Retry-After. */
    sf_push(&f, "/v1/embeddings", 429, "application/json", "tests/data/fake/openai/error_429.json", "Retry-After: 7\r\n", 0, 0);
    sf_post(&f, "/v1/embeddings", "{\"model\":\"openai/text-embedding-3-small\",\"input\":\"x\"}", &r);
    assert_error(&r, false, 429, "rate_limit_error", NULL);
    assert_true(has_header(&r, "Retry-After: 7"));
    free(r.body);
    /* GET is not this route's method. */
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/v1/embeddings", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 400);
    free(r.body);
    assert_int_equal(lx_fake_server_requests(f.up), 1);
    sf_stop(&f);
}

/* The bundled model embeds on its engine thread: unit vectors of its hidden size, in order. */
static void test_embeddings_local(void **state) {
    sf f;
    sf_start(&f);
    sf_reply r;
    sf_post(&f, "/v1/embeddings", "{\"model\":\"" SF_LOCAL "\",\"input\":[\"the quick brown fox\",\"taxes\",\"the quick brown fox\"]}", &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 3);
    size_t dim = json_array_size(json_object_get(json_array_get(data, 0), "embedding"));
    assert_true(dim >= 8);
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(json_array_get(data, i), "embedding");
        assert_int_equal(json_array_size(v), dim);
        double norm = 0;
        for (size_t k = 0; k < dim; k++) norm += pow(json_number_value(json_array_get(v, k)), 2);
        assert_true(fabs(sqrt(norm) - 1) < 1e-4);
    }
    assert_true(json_equal(json_object_get(json_array_get(data, 0), "embedding"),
                           json_object_get(json_array_get(data, 2), "embedding")));
    assert_true(json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")) >= 5);
    assert_string_equal(json_string_value(json_object_get(j, "model")), SF_LOCAL);
    json_decref(j);
    free(r.body);
    assert_int_equal(lx_fake_server_requests(f.up), 0);
    sf_stop(&f);
}

/* While llmux_embed blocks on a slow upstream, the loop keeps serving (health, a chat on the
 * local model); with max_requests 1 a second call is 429; the first still completes. */
static void test_embeddings_do_not_block_the_loop(void **state) {
    lx_server_params sp = lx_server_default_params();
    sp.max_requests = 1;
    sf f;
    sf_start_with(&f, &sp);
    /* The 300-byte fixture in 16-byte writes 100 ms apart: about 2 s. */
    sf_push(&f, "/v1/embeddings", 200, "application/json", EMBED_FIXTURE, NULL, 16, 100);
    client c = {.f = &f, .path = "/v1/embeddings", .body = "{\"model\":\"openai/text-embedding-3-small\",\"input\":[\"alpha\",\"beta\"]}"};
    pthread_t t;
    pthread_create(&t, NULL, client_run, &c);
    wait_active(&f, 1);
    sf_reply r;
    memset(&r, 0, sizeof r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(sf_http(&f, "GET", "/health", NULL, 0, NULL, &r), CURLE_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(r.status, 200);
    free(r.body);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "health while an embedding call blocks: %.1f ms\n", ms);
    assert_true(ms < 500);
    sf_post(&f, "/v1/embeddings", "{\"model\":\"openai/text-embedding-3-small\",\"input\":\"x\"}", &r);
    assert_error(&r, false, 429, "rate_limit_error", NULL);
    assert_true(has_header(&r, "Retry-After: 1"));
    free(r.body);
    pthread_join(t, NULL);
    assert_int_equal(c.rc, CURLE_OK);
    assert_int_equal(c.r.status, 200);
    assert_non_null(strstr(c.r.body, "\"prompt_tokens\":7"));
    free(c.r.body);
    wait_active(&f, 0);
    sf_stop(&f);
}

/* A client that hangs up: its call is cancelled (the upstream socket closes long before the slow
 * answer would end) and the server forgets it. */
static void test_embeddings_client_leaves(void **state) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/embeddings", 200, "application/json", EMBED_FIXTURE, NULL, 8, 300);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", lx_server_port(f.srv));
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"model\":\"openai/text-embedding-3-small\",\"input\":\"x\"}");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 600L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    assert_int_equal(curl_easy_perform(c), CURLE_OPERATION_TIMEDOUT);
    curl_easy_cleanup(c);
    assert_true(lx_fake_server_wait_closed(f.up, 1, 10000));
    wait_active(&f, 0);
    sf_stop(&f);
}

/* The same for a non-streamed chat completion: before this, libevent noticed the hang-up only when
 * the answer was written, so the generation ran to its end for nobody. */
static void test_chat_client_leaves(void **state) {
    sf f;
    sf_start(&f);
    /* ~1 KiB in 16-byte writes 200 ms apart: about 13 s if it ran to the end. */
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 16, 200);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", lx_server_port(f.srv));
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 600L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(curl_easy_perform(c), CURLE_OPERATION_TIMEDOUT);
    curl_easy_cleanup(c);
    assert_true(lx_fake_server_wait_closed(f.up, 1, 10000));
    wait_active(&f, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "non-streamed chat: upstream closed %.0f ms after the request began\n", ms);
    assert_true(ms < 5000);
    sf_stop(&f);
}

/* Stopping the server: with grace the call in flight completes; without, it is cancelled (the
 * client gets 499 from its class), the pool's threads are joined and nothing leaks. */
static void embed_stop_case(int64_t grace_ms, long want_status) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/embeddings", 200, "application/json", EMBED_FIXTURE, NULL, 32, 150);
    client c = {.f = &f, .path = "/v1/embeddings", .body = "{\"model\":\"openai/text-embedding-3-small\",\"input\":[\"alpha\",\"beta\"]}"};
    pthread_t t;
    pthread_create(&t, NULL, client_run, &c);
    wait_active(&f, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lx_server_stop(f.srv, grace_ms);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(t, NULL);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "stop (grace %lld ms) took %.0f ms; client got %ld\n", (long long)grace_ms, ms, c.r.status);
    assert_int_equal(c.rc, CURLE_OK);
    assert_int_equal(c.r.status, want_status);
    if (want_status != 200) assert_true(ms < 3000);
    free(c.r.body);
    llmux_runtime_destroy(f.rt);
    lx_fake_server_stop(f.up);
}

static void test_embeddings_graceful_stop(void **state) { embed_stop_case(20000, 200); }
static void test_embeddings_stop_cancels(void **state) { embed_stop_case(0, 499); }

/* ----------------------------------------------------------- completions */

static void test_completions_local(void **state) {
    sf f;
    sf_start(&f);
    sf_reply r;
    sf_post(&f, "/v1/completions", "{\"model\":\"" SF_LOCAL "\",\"prompt\":[\"Once upon a time\"],\"max_tokens\":6,\"seed\":3,\"temperature\":0}", &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "text_completion");
    assert_true(strncmp(json_string_value(json_object_get(j, "id")), "cmpl-", 5) == 0);
    assert_string_equal(json_string_value(json_object_get(j, "model")), SF_LOCAL);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    assert_true(strlen(json_string_value(json_object_get(ch, "text"))) > 0);
    assert_true(json_is_null(json_object_get(ch, "logprobs")));
    assert_int_equal(json_integer_value(json_object_get(ch, "index")), 0);
    const char *fin = json_string_value(json_object_get(ch, "finish_reason"));
    assert_true(strcmp(fin, "stop") == 0 || strcmp(fin, "length") == 0);
    json_t *u = json_object_get(j, "usage");
    json_int_t out = json_integer_value(json_object_get(u, "completion_tokens"));
    assert_true(out >= 1 && out <= 6);
    assert_true(json_integer_value(json_object_get(u, "prompt_tokens")) > 0);
    char *text = strdup(json_string_value(json_object_get(ch, "text")));
    json_decref(j);
    free(r.body);
    /* Streamed: text_completion chunks, the finish chunk, the usage chunk (empty choices),
     * [DONE]. */
    sf_post(&f, "/v1/completions",
            "{\"model\":\"" SF_LOCAL "\",\"prompt\":\"Once upon a time\",\"max_tokens\":6,\"seed\":3,\"temperature\":0,"
            "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
            &r);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: text/event-stream"));
    char joined[512] = "";
    int finish_chunks = 0, usage_chunks = 0;
    bool done = false;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        assert_false(done); /* nothing after [DONE] */
        assert_true(strncmp(line, "data: ", 6) == 0);
        if (strcmp(line + 6, "[DONE]") == 0) {
            done = true;
            continue;
        }
        json_t *c = load(line + 6);
        assert_string_equal(json_string_value(json_object_get(c, "object")), "text_completion");
        assert_true(json_object_get(c, "usage") != NULL); /* null on the others, with include_usage */
        json_t *chs = json_object_get(c, "choices");
        if (json_array_size(chs) == 0) {
            usage_chunks++;
            assert_int_equal(finish_chunks, 1);
            assert_true(json_integer_value(json_object_get(json_object_get(c, "usage"), "completion_tokens")) >= 1);
        } else {
            json_t *c0 = json_array_get(chs, 0);
            strncat(joined, json_string_value(json_object_get(c0, "text")), sizeof joined - strlen(joined) - 1);
            if (!json_is_null(json_object_get(c0, "finish_reason"))) finish_chunks++;
        }
        json_decref(c);
    }
    assert_true(done);
    assert_int_equal(finish_chunks, 1);
    assert_int_equal(usage_chunks, 1);
    /* Not compared with the first answer byte for byte: the second request reuses the cached
     * prompt, and a different batch shape may move a near-tie of this random-weight model. */
    assert_true(strlen(joined) > 0);
    free(text);
    free(r.body);
    /* Without max_tokens: OpenAI's default for this endpoint, 16. */
    sf_post(&f, "/v1/completions", "{\"model\":\"" SF_LOCAL "\",\"prompt\":\"Tell me a long story\"}", &r);
    assert_int_equal(r.status, 200);
    j = load(r.body);
    out = json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens"));
    assert_true(out >= 1 && out <= 16);
    json_decref(j);
    free(r.body);
    sf_stop(&f);
}

/* An OpenAI backend: the prompt arrives as one user message with the sampling fields. */
static void test_completions_remote(void **state) {
    sf f;
    sf_start(&f);
    sf_push(&f, "/v1/chat/completions", 200, "application/json", "tests/data/fake/openai/response_text.json", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/completions",
            "{\"model\":\"openai/gpt-4o-mini\",\"prompt\":\"Say hi\",\"max_tokens\":20,\"temperature\":0.5,\"top_p\":0.9,"
            "\"stop\":[\"\\n\\n\",\"END\"],\"seed\":42}",
            &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "text_completion");
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    assert_true(strlen(json_string_value(json_object_get(ch, "text"))) > 0);
    assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "stop");
    json_decref(j);
    free(r.body);
    json_t *up = upstream_body(&f, 0);
    json_t *m0 = json_array_get(json_object_get(up, "messages"), 0);
    assert_int_equal(json_array_size(json_object_get(up, "messages")), 1);
    assert_string_equal(json_string_value(json_object_get(m0, "role")), "user");
    assert_string_equal(json_string_value(json_object_get(m0, "content")), "Say hi");
    json_t *mt = json_object_get(up, "max_completion_tokens");
    if (!mt) mt = json_object_get(up, "max_tokens");
    assert_int_equal(json_integer_value(mt), 20);
    assert_true(fabs(json_number_value(json_object_get(up, "top_p")) - 0.9) < 1e-9);
    assert_int_equal(json_integer_value(json_object_get(up, "seed")), 42);
    assert_string_equal(json_string_value(json_array_get(json_object_get(up, "stop"), 1)), "END");
    /* The local engine's option stays with llmux. */
    assert_null(json_object_get(up, "local"));
    assert_null(json_object_get(up, "raw_prompt"));
    json_decref(up);
    sf_stop(&f);
}

static void test_completions_refusals(void **state) {
    sf f;
    sf_start(&f);
    static const struct {
        const char *body, *needle;
    } bad[] = {
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":\"x\",\"echo\":true}", "echo"},
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":\"x\",\"best_of\":2}", "best_of"},
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":\"x\",\"n\":2}", "n: only n = 1"},
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":\"x\",\"logprobs\":2}", "logprobs"},
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":\"x\",\"suffix\":\"y\"}", "suffix"},
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":[\"a\",\"b\"]}", "one prompt per request"},
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":[[1,2]]}", "token arrays"},
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":[1,2]}", "token arrays"},
        {"{\"model\":\"" SF_LOCAL "\"}", "prompt: expected"},
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens"},
        {"{\"model\":\"" SF_LOCAL "\",\"prompt\":\"x\",\"stop\":[\"\"]}", "stop[0]"},
        {"{\"prompt\":\"x\"}", "model: required"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sf_reply r;
        sf_post(&f, "/v1/completions", bad[i].body, &r);
        assert_error(&r, false, 400, "invalid_request_error", bad[i].needle);
        free(r.body);
    }
    sf_stop(&f);
}

/* ----------------------------------------------------------- count_tokens */

#define COUNT_BODY                                                                                                   \
    "\"model\":\"" SF_LOCAL "\",\"system\":\"Be brief.\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}," \
    "{\"role\":\"assistant\",\"content\":\"Hi.\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"How are you?\"}]}]"

static void test_count_tokens_exact(void **state) {
    sf f;
    sf_start(&f);
    sf_reply r;
    sf_post(&f, "/v1/messages/count_tokens", "{" COUNT_BODY "}", &r);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    assert_int_equal(json_object_size(j), 1);
    json_int_t n = json_integer_value(json_object_get(j, "input_tokens"));
    json_decref(j);
    free(r.body);
    assert_true(n > 5);
    /* The same conversation, run: the model reports the same number of input tokens. */
    sf_post(&f, "/v1/messages", "{" COUNT_BODY ",\"max_tokens\":2}", &r);
    assert_int_equal(r.status, 200);
    j = load(r.body);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "usage"), "input_tokens")), n);
    json_decref(j);
    free(r.body);
    /* max_tokens and stream are accepted and ignored, as Anthropic's endpoint does. */
    const char *with_max = "{" COUNT_BODY ",\"max_tokens\":9,\"stream\":true}";
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "POST", "/v1/messages/count_tokens", with_max, strlen(with_max), "anthropic-version: 2023-06-01", &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    j = load(r.body);
    assert_int_equal(json_integer_value(json_object_get(j, "input_tokens")), n);
    json_decref(j);
    free(r.body);
    sf_stop(&f);
}

/* A remote Anthropic model is counted by Anthropic's own endpoint: the prompt's parts forwarded
 * (not max_tokens, which that endpoint refuses), the provider's count answered; its errors come
 * back in Anthropic's shape with their class. */
static void test_count_tokens_remote(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    lx_fake_response up = {.method = "POST", .path_prefix = "/v1/messages/count_tokens",
                           .headers = "Content-Type: application/json\r\n", .body = "{\"input_tokens\":2095}"};
    assert_true(lx_fake_server_push(f.up, &up));
    sf_reply r;
    sf_post(&f, "/v1/messages/count_tokens",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"max_tokens\":100,\"system\":\"Be brief.\","
            "\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}],"
            "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}]}",
            &r);
    if (r.status != 200) fprintf(stderr, "status %ld: %s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    json_t *j = load(r.body);
    assert_int_equal(json_integer_value(json_object_get(j, "input_tokens")), 2095);
    json_decref(j);
    free(r.body);
    lx_fake_request rq;
    assert_true(lx_fake_server_request(f.up, 0, &rq));
    assert_string_equal(rq.path, "/v1/messages/count_tokens");
    char v[128];
    assert_true(lx_fake_request_header(&rq, "x-api-key", v, sizeof v));
    assert_string_equal(v, "k");
    assert_true(lx_fake_request_header(&rq, "anthropic-version", v, sizeof v));
    json_t *b = load(rq.body);
    free(rq.body);
    assert_string_equal(json_string_value(json_object_get(b, "model")), "claude-sonnet-4-5");
    assert_non_null(json_object_get(b, "messages"));
    assert_non_null(json_object_get(b, "system"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(b, "tools"), 0), "name")),
                        "get_weather");
    assert_null(json_object_get(b, "max_tokens"));
    assert_null(json_object_get(b, "stream"));
    json_decref(b);
    /* The provider's refusal, in Anthropic's format with its class and Retry-After. */
    lx_fake_response limited = {.path_prefix = "/v1/messages/count_tokens", .status = 429,
                                .headers = "Content-Type: application/json\r\nRetry-After: 7\r\n",
                                .body = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}"};
    assert_true(lx_fake_server_push(f.up, &limited));
    sf_post(&f, "/v1/messages/count_tokens",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_error(&r, true, 429, "rate_limit_error", NULL);
    assert_non_null(strstr(r.headers, "Retry-After: 7"));
    free(r.body);
    /* A 200 without a count is the provider's protocol error, not a zero. */
    lx_fake_response odd = {.path_prefix = "/v1/messages/count_tokens", .headers = "Content-Type: application/json\r\n",
                            .body = "{\"tokens\":3}"};
    assert_true(lx_fake_server_push(f.up, &odd));
    sf_post(&f, "/v1/messages/count_tokens",
            "{\"model\":\"anthropic/claude-sonnet-4-5\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_int_equal(r.status, 502);
    free(r.body);
    assert_int_equal(lx_fake_server_mismatches(f.up), 0);
    sf_stop(&f);
}

static void test_count_tokens_refusals(void **state) {
    sf f;
    sf_start(&f);
    sf_reply r;
    /* An OpenAI-protocol model: that API has nothing to count with; refused before any request. */
    sf_post(&f, "/v1/messages/count_tokens",
            "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_error(&r, true, 400, "invalid_request_error", "no token counting endpoint");
    free(r.body);
    sf_post(&f, "/v1/messages/count_tokens", "{\"model\":\"" SF_LOCAL "\"}", &r);
    assert_error(&r, true, 400, "invalid_request_error", "messages");
    free(r.body);
    sf_post(&f, "/v1/messages/count_tokens", "{\"model\":\"local/nope\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
    assert_error(&r, true, 404, "not_found_error", NULL);
    free(r.body);
    sf_post(&f, "/v1/messages/count_tokens", "not json", &r);
    assert_error(&r, true, 400, "invalid_request_error", NULL);
    free(r.body);
    /* A conversation longer than the context (256 tokens here): the class says so. */
    char big[8192];
    int k = snprintf(big, sizeof big, "{\"model\":\"" SF_LOCAL "\",\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (int i = 0; i < 600; i++) k += snprintf(big + k, sizeof big - (size_t)k, "word ");
    snprintf(big + k, sizeof big - (size_t)k, "\"}]}");
    sf_post(&f, "/v1/messages/count_tokens", big, &r);
    assert_error(&r, true, 400, "invalid_request_error", "tokens");
    free(r.body);
    assert_int_equal(lx_fake_server_requests(f.up), 0);
    sf_stop(&f);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embeddings_float),
        cmocka_unit_test(test_embeddings_base64),
        cmocka_unit_test(test_embeddings_refusals),
        cmocka_unit_test(test_embeddings_local),
        cmocka_unit_test(test_embeddings_do_not_block_the_loop),
        cmocka_unit_test(test_embeddings_client_leaves),
        cmocka_unit_test(test_chat_client_leaves),
        cmocka_unit_test(test_embeddings_graceful_stop),
        cmocka_unit_test(test_embeddings_stop_cancels),
        cmocka_unit_test(test_completions_local),
        cmocka_unit_test(test_completions_remote),
        cmocka_unit_test(test_completions_refusals),
        cmocka_unit_test(test_count_tokens_exact),
        cmocka_unit_test(test_count_tokens_remote),
        cmocka_unit_test(test_count_tokens_refusals),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
