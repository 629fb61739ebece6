/* The model registry over HTTP (src/server/http/models_admin.c), real loopback sockets with
 * libcurl as the client, on generated models (tools/gguf_gen): POST /models/load and
 * /models/unload, GET /api/ps (Ollama's shape) and GET /models (llama-server router's status
 * objects), malformed bodies, keys (a key loads, unloads and sees only the models it may use),
 * hot swap under load (four concurrent streams while a new file is renamed over their model:
 * every one succeeds, later requests get the new model), and a corrupt model whose requests fail
 * with configuration while another model's requests finish normally. */
#define _GNU_SOURCE /* strcasestr, mkdtemp */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "server_fixture.h"
#include "server/http/endpoints.h"
#include "support/local_runtime.h"
#include "support/model_dir.h"

static char g_dir[PATH_MAX];
static char g_text_a[4096], g_text_b[4096];

#define ALICE "sk-alice-0123456789abcdef"
#define BOB "sk-bob-0123456789abcdefgh"

static int gen(const char *name, int seed, int n_ff) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return gguf_gen(p, "--arch llama --n-layer 2 --n-embd 64 --n-head 2 --n-ff %d --ctx 256 --type f16 --seed %d", n_ff,
                    seed);
}

static int copy_file(const char *from, const char *to) {
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/%s'", g_dir, from, g_dir, to);
    return system(cmd) == 0 ? 0 : -1;
}

static json_t *load_json(const char *s) {
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j) fprintf(stderr, "not JSON (%s): %s\n", e.text, s);
    assert_non_null(j);
    return j;
}

/* ------------------------------------------------------------------ server */

static void start(sf *f, const lx_server_params *sp_in) {
    memset(f, 0, sizeof *f);
    signal(SIGPIPE, SIG_IGN);
    local_rt l;
    local_rt_init(&l, g_dir, 1, 256);
    l.rp.local_slots = 4;
    llmux_alias_target target = {.model = "local/a"};
    llmux_alias alias = {.name = "smart", .targets = &target, .n_targets = 1};
    l.rp.aliases = &alias;
    l.rp.n_aliases = 1;
    f->rt = local_rt_create(&l);
    llmux_error_info err;
    lx_server_params sp = sp_in ? *sp_in : lx_server_default_params();
    sp.port = 0;
    const char *ids[] = {"local/a", "local/b", "local/good", "smart"};
    sp.models = ids;
    sp.n_models = 4;
    assert_int_equal(lx_server_start(f->rt, &sp, &f->srv, &err), LLMUX_OK);
}

static void stop(sf *f) {
    lx_server_stop(f->srv, 0);
    llmux_runtime_destroy(f->rt);
}

static void get(sf *f, const char *path, const char *extra, sf_reply *r) {
    memset(r, 0, sizeof *r);
    assert_int_equal(sf_http(f, "GET", path, NULL, 0, extra, r), CURLE_OK);
}

static void post(sf *f, const char *path, const char *body, const char *extra, sf_reply *r) {
    memset(r, 0, sizeof *r);
    assert_int_equal(sf_http(f, "POST", path, body, strlen(body), extra, r), CURLE_OK);
}

/* An OpenAI error body with this status and code (llmux_status_name), its message holding needle. */
static void assert_error(const sf_reply *r, long status, const char *code, const char *needle) {
    if (r->status != status) fprintf(stderr, "status %ld: %s\n", r->status, r->body);
    assert_int_equal(r->status, status);
    json_t *j = load_json(r->body);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (needle && (!msg || !strstr(msg, needle))) fprintf(stderr, "message without \"%s\": %s\n", needle, msg);
    if (needle) assert_non_null(strstr(msg, needle));
    json_decref(j);
}

#define CHAT_BODY(model, stream)                                                                                   \
    "{\"model\":\"" model "\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],"            \
    "\"temperature\":0,\"max_tokens\":24" stream "}"

/* The text of a non-streamed chat answer. */
static void chat_text(sf *f, const char *body, char *out, size_t size) {
    sf_reply r;
    post(f, "/v1/chat/completions", body, NULL, &r);
    if (r.status != 200) fprintf(stderr, "chat: %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    json_t *j = load_json(r.body);
    json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    snprintf(out, size, "%s", json_string_value(json_object_get(msg, "content")));
    json_decref(j);
    free(r.body);
}

/* The content deltas of an SSE chat stream, joined; false when the stream carried an error or
 * never ended with [DONE]. */
static bool sse_text(const char *body, char *out, size_t size) {
    out[0] = 0;
    size_t len = 0;
    bool done = false;
    for (const char *p = body; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n > 6 && strncmp(p, "data: ", 6) == 0) {
            if (strncmp(p + 6, "[DONE]", 6) == 0) {
                done = true;
            } else {
                char *line = strndup(p + 6, n - 6);
                json_t *j = json_loads(line, 0, NULL);
                free(line);
                if (!j || json_object_get(j, "error")) {
                    json_decref(j);
                    return false;
                }
                json_t *c = json_object_get(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta"),
                                            "content");
                if (json_is_string(c)) {
                    size_t k = json_string_length(c);
                    if (len + k < size) {
                        memcpy(out + len, json_string_value(c), k);
                        len += k;
                        out[len] = 0;
                    }
                }
                json_decref(j);
            }
        }
        p = eol ? eol + 1 : NULL;
    }
    return done;
}

static int setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (model_dir_create("llmux-srvreg", g_dir, sizeof g_dir)) return -1;
    if (gen("a.gguf", 11, 128) || gen("b.gguf", 29, 192) || gen("good.gguf", 5, 128)) return -1;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/corrupt.gguf", g_dir);
    if (write_text_file(p, "GGUF but then nothing a parser could read")) return -1;
    sf srv;
    start(&srv, NULL);
    chat_text(&srv, CHAT_BODY("local/a", ""), g_text_a, sizeof g_text_a);
    chat_text(&srv, CHAT_BODY("local/b", ""), g_text_b, sizeof g_text_b);
    stop(&srv);
    return g_text_a[0] && strcmp(g_text_a, g_text_b) != 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    curl_global_cleanup();
    return model_dir_remove(g_dir);
}

/* -------------------------------------------------------------- the routes */

static const char *status_of(json_t *list, const char *id) {
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(list, "data"), i, m) {
        if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0)
            return json_string_value(json_object_get(json_object_get(m, "status"), "value"));
    }
    return NULL;
}

static void test_load_ps_unload(void **state) {
    (void)state;
    sf f;
    start(&f, NULL);
    sf_reply r;
    get(&f, "/api/ps", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"models\":[]}");
    free(r.body);

    post(&f, "/models/load", "{\"model\":\"local/a\"}", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = load_json(r.body);
    assert_true(json_is_true(json_object_get(j, "success")));
    assert_string_equal(json_string_value(json_object_get(j, "model")), "local/a");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "status"), "value")), "loaded");
    json_decref(j);
    free(r.body);

    get(&f, "/api/ps", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, g_dir)); /* no server path reaches a client */
    j = load_json(r.body);
    json_t *models = json_object_get(j, "models");
    assert_int_equal(json_array_size(models), 1);
    json_t *m = json_array_get(models, 0);
    assert_string_equal(json_string_value(json_object_get(m, "name")), "local/a");
    assert_string_equal(json_string_value(json_object_get(m, "model")), "local/a");
    assert_true(json_integer_value(json_object_get(m, "size")) > 0);
    assert_int_equal(json_integer_value(json_object_get(m, "size_vram")), 0);
    assert_int_equal(json_integer_value(json_object_get(m, "context_length")), 256);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "details"), "format")), "gguf");
    assert_true(json_is_null(json_object_get(m, "expires_at")));
    json_t *x = json_object_get(m, "llmux");
    assert_string_equal(json_string_value(json_object_get(x, "state")), "loaded");
    assert_int_equal(json_integer_value(json_object_get(x, "memory_bytes")), json_integer_value(json_object_get(m, "size")));
    assert_int_equal(json_integer_value(json_object_get(x, "slots")), 4);
    json_decref(j);
    free(r.body);

    get(&f, "/models", NULL, &r);
    assert_int_equal(r.status, 200);
    j = load_json(r.body);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "list");
    assert_string_equal(status_of(j, "local/a"), "loaded");
    assert_string_equal(status_of(j, "local/b"), "unloaded");
    assert_null(status_of(j, "smart")); /* aliases are not local models */
    json_decref(j);
    free(r.body);

    /* Loading what is loaded is fine; unloading twice is not. */
    post(&f, "/models/load", "{\"model\":\"local/a\",\"keep_alive\":-1}", NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    post(&f, "/models/unload", "{\"model\":\"local/a\"}", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"unloaded\""));
    free(r.body);
    get(&f, "/api/ps", NULL, &r);
    assert_string_equal(r.body, "{\"models\":[]}");
    free(r.body);
    post(&f, "/models/unload", "{\"model\":\"local/a\"}", NULL, &r);
    assert_error(&r, 400, "invalid_request", "not loaded");
    free(r.body);

    /* What cannot be loaded. */
    post(&f, "/models/load", "{\"model\":\"local/corrupt\"}", NULL, &r);
    assert_error(&r, 500, "configuration", "corrupt.gguf");
    free(r.body);
    post(&f, "/models/load", "{\"model\":\"local/nope\"}", NULL, &r);
    assert_error(&r, 404, "model_not_found", "nope");
    free(r.body);
    post(&f, "/models/load", "{\"model\":\"openai/gpt-4o\"}", NULL, &r);
    assert_error(&r, 400, "invalid_request", "only local models");
    free(r.body);
    post(&f, "/models/load", "{\"model\":\"smart\"}", NULL, &r);
    assert_error(&r, 400, "invalid_request", "alias");
    free(r.body);
    stop(&f);
}

static void test_bad_bodies(void **state) {
    (void)state;
    sf f;
    start(&f, NULL);
    sf_reply r;
    static const struct {
        const char *body, *needle;
    } cases[] = {
        {"", NULL},
        {"not json", NULL},
        {"[\"local/a\"]", NULL},
        {"{}", "model: missing"},
        {"{\"model\":7}", "model: expected a string"},
        {"{\"model\":\"\"}", "model: empty"},
        {"{\"model\":\"local/a\\u0000x\"}", "NUL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        post(&f, "/models/load", cases[i].body, NULL, &r);
        assert_error(&r, 400, "invalid_request", cases[i].needle);
        free(r.body);
    }
    char big[LX_MODELS_ADMIN_MAX_BODY + 64];
    snprintf(big, sizeof big, "{\"model\":\"local/a\",\"pad\":\"%0*d\"}", LX_MODELS_ADMIN_MAX_BODY, 0);
    post(&f, "/models/unload", big, NULL, &r);
    assert_error(&r, 400, "invalid_request", "too large");
    free(r.body);
    char long_name[1200];
    snprintf(long_name, sizeof long_name, "{\"model\":\"local/%01100d\"}", 0);
    post(&f, "/models/load", long_name, NULL, &r);
    assert_error(&r, 400, "invalid_request", "longer than 1024");
    free(r.body);
    get(&f, "/models/load", NULL, &r);
    assert_error(&r, 400, "invalid_request", "POST");
    free(r.body);
    post(&f, "/api/ps", "{}", NULL, &r);
    assert_error(&r, 400, "invalid_request", "GET");
    free(r.body);
    stop(&f);
}

/* ------------------------------------------------------------------- keys */

static const char *const alice_models[] = {"local/a"};
static const char *const every_model[] = {"*"};

static void test_keys(void **state) {
    (void)state;
    lx_config_key k[2];
    memset(k, 0, sizeof k);
    k[0] = (lx_config_key){.name = "alice", .models = alice_models, .n_models = 1, .budget_usd = -1};
    k[1] = (lx_config_key){.name = "bob", .models = every_model, .n_models = 1, .budget_usd = -1};
    lx_sha256(ALICE, strlen(ALICE), k[0].sha256);
    lx_sha256(BOB, strlen(BOB), k[1].sha256);
    lx_server_params sp = lx_server_default_params();
    sp.keys = k;
    sp.n_keys = 2;
    sf f;
    start(&f, &sp);
    sf_reply r;
    post(&f, "/models/load", "{\"model\":\"local/a\"}", NULL, &r);
    assert_int_equal(r.status, 401);
    free(r.body);
    get(&f, "/api/ps", NULL, &r);
    assert_int_equal(r.status, 401);
    free(r.body);
    post(&f, "/models/load", "{\"model\":\"local/a\"}", "Authorization: Bearer " ALICE, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    post(&f, "/models/load", "{\"model\":\"local/b\"}", "Authorization: Bearer " ALICE, &r);
    assert_error(&r, 403, "permission", "may not load the model \"local/b\"");
    free(r.body);
    post(&f, "/models/load", "{\"model\":\"local/b\"}", "x-api-key: " BOB, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* Each key sees the models it may use. */
    get(&f, "/api/ps", "Authorization: Bearer " ALICE, &r);
    json_t *j = load_json(r.body);
    assert_int_equal(json_array_size(json_object_get(j, "models")), 1);
    assert_non_null(strstr(r.body, "\"local/a\""));
    assert_null(strstr(r.body, "local/b"));
    json_decref(j);
    free(r.body);
    get(&f, "/models", "Authorization: Bearer " ALICE, &r);
    assert_null(strstr(r.body, "local/b"));
    assert_null(strstr(r.body, "local/good"));
    free(r.body);
    get(&f, "/api/ps", "Authorization: Bearer " BOB, &r);
    j = load_json(r.body);
    assert_int_equal(json_array_size(json_object_get(j, "models")), 2);
    json_decref(j);
    free(r.body);
    post(&f, "/models/unload", "{\"model\":\"local/b\"}", "Authorization: Bearer " ALICE, &r);
    assert_error(&r, 403, "permission", "may not unload");
    free(r.body);
    post(&f, "/models/unload", "{\"model\":\"local/b\"}", "Authorization: Bearer " BOB, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    stop(&f);
}

/* ---------------------------------------------------------------- hot swap */

#define N_STREAMS 4

typedef struct client {
    sf *f;
    const char *body;
    atomic_int *started;  /* clients that received generated text (their request runs) */
    bool counted;
    sf_reply r;
    CURLcode rc;
} client;

/* Whether an SSE body holds a non-empty content delta: the request's generation has begun (the
 * response headers alone come as soon as the server accepted it, possibly still queued). */
static bool has_text(const char *body) {
    for (const char *p = body; (p = strstr(p, "\"content\":\"")) != NULL;) {
        p += 11;
        if (*p && *p != '"') return true;
    }
    return false;
}

static size_t client_body(char *p, size_t size, size_t n, void *ud) {
    client *c = ud;
    size_t k = sf_body_cb(p, size, n, &c->r);
    if (!c->counted && c->r.body && has_text(c->r.body)) {
        c->counted = true;
        atomic_fetch_add(c->started, 1);
    }
    return k;
}

static void *client_main(void *arg) {
    client *c = arg;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", lx_server_port(c->f->srv));
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->r.status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

/* Four streams of 160 tokens on swap.gguf (version a); once each has received text (so it runs,
 * rather than waits in the model's queue), b is renamed over the file. Every stream ends 200 with
 * [DONE] and no error chunk, with a's text; requests after the swap (past the registry's
 * once-a-second look at the file) answer with b's. */
static void test_hot_swap_streams(void **state) {
    (void)state;
    assert_int_equal(copy_file("a.gguf", "swap.gguf"), 0);
    sf f;
    start(&f, NULL);
    static const char long_body[] =
        "{\"model\":\"local/swap\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],"
        "\"temperature\":0,\"max_tokens\":160,\"stream\":true}";
    atomic_int started = 0;
    client c[N_STREAMS];
    pthread_t t[N_STREAMS];
    for (int i = 0; i < N_STREAMS; i++) {
        c[i] = (client){.f = &f, .body = long_body, .started = &started};
        assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
    }
    for (int i = 0; i < 6000 && atomic_load(&started) < N_STREAMS; i++) usleep(5000);
    assert_int_equal(atomic_load(&started), N_STREAMS);
    char from[PATH_MAX], to[PATH_MAX];
    snprintf(from, sizeof from, "%s/swap.tmp", g_dir);
    snprintf(to, sizeof to, "%s/swap.gguf", g_dir);
    assert_int_equal(copy_file("b.gguf", "swap.tmp"), 0);
    assert_int_equal(rename(from, to), 0);
    int still_running = lx_server_active(f.srv);
    nanosleep(&(struct timespec){1, 100 * 1000000L}, NULL);
    char text[4096];
    chat_text(&f, CHAT_BODY("local/swap", ""), text, sizeof text);
    assert_string_equal(text, g_text_b);
    char long_a[8192];
    for (int i = 0; i < N_STREAMS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].rc, CURLE_OK);
        assert_int_equal(c[i].r.status, 200);
        assert_true(sse_text(c[i].r.body, long_a, sizeof long_a));
        /* Greedy, so every stream gave the same text, which continues a's short answer. */
        assert_int_equal(strncmp(long_a, g_text_a, strlen(g_text_a)), 0);
        free(c[i].r.body);
    }
    print_message("streams still running when the file was swapped: %d of %d\n", still_running, N_STREAMS);
    chat_text(&f, CHAT_BODY("local/swap", ""), text, sizeof text);
    assert_string_equal(text, g_text_b);
    sf_reply r;
    get(&f, "/api/ps", NULL, &r);
    json_t *j = load_json(r.body);
    assert_int_equal(json_array_size(json_object_get(j, "models")), 1); /* the old one is gone */
    json_decref(j);
    free(r.body);
    stop(&f);
    unlink(to);
}

/* ---------------------------------------------------- load failure isolation */

static void test_corrupt_model_isolated(void **state) {
    (void)state;
    sf f;
    start(&f, NULL);
    enum { N = 6 };
    atomic_int started = 0;
    client c[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (client){.f = &f, .body = i % 2 ? CHAT_BODY("local/corrupt", ",\"stream\":true") : CHAT_BODY("local/good", ",\"stream\":true"),
                        .started = &started};
        assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
    }
    char text[4096];
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].rc, CURLE_OK);
        if (i % 2) {
            assert_error(&c[i].r, 500, "configuration", "corrupt.gguf");
        } else {
            assert_int_equal(c[i].r.status, 200);
            assert_true(sse_text(c[i].r.body, text, sizeof text));
        }
        free(c[i].r.body);
    }
    sf_reply r;
    get(&f, "/models", NULL, &r);
    json_t *j = load_json(r.body);
    assert_string_equal(status_of(j, "local/good"), "loaded");
    json_decref(j);
    free(r.body);
    stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_ps_unload),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_hot_swap_streams),
        cmocka_unit_test(test_corrupt_model_isolated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
