/* The real `llmux serve` process: it prints where it listens and a curl example, answers on its
 * port (bundled model and a provider reached through OPENAI_BASE_URL = the fake server), and on
 * SIGTERM / SIGINT stops accepting, lets a stream in flight finish within --grace (or cancels it
 * with an in-stream error when the grace is 0), flushes its execution records and exits 0. Local
 * models run in a sandboxed `llmux engine` child by default (generations, token counts and the
 * model list through it); local.isolation: in_process keeps them in the server. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "llmux.h"
#include "support/fake_server.h"

typedef struct proc {
    pid_t pid;
    int out_fd;
    int port;
    char out[8192];
    char dir[64];
} proc;

/* Starts `llmux serve --listen 127.0.0.1:0 --grace G [--max-requests N]` with a scratch HOME and
 * records database and the openai provider at upstream_url; waits for the "serving on" line.
 * max_requests NULL = the default. */
static void serve_start_args(proc *p, const char *upstream_url, int grace_s, const char *config_text,
                             const char *max_requests) {
    memset(p, 0, sizeof *p);
    snprintf(p->dir, sizeof p->dir, "/tmp/llmux-serve-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        char rec[128], grace[16];
        snprintf(rec, sizeof rec, "sqlite:%s/records.db", p->dir);
        snprintf(grace, sizeof grace, "%d", grace_s);
        setenv("HOME", p->dir, 1);
        setenv("LLMUX_RECORDS", rec, 1);
        unsetenv("LLMUX_CONFIG");
        setenv("OPENAI_BASE_URL", upstream_url, 1);
        setenv("OPENAI_API_KEY", "k", 1);
        if (config_text) { /* the address comes from the file */
            char cfg[128];
            snprintf(cfg, sizeof cfg, "%s/llmux.yaml", p->dir);
            FILE *f = fopen(cfg, "w");
            if (!f || fputs(config_text, f) < 0 || fclose(f) != 0) _exit(126);
            execl(LLMUX_TEST_BIN_DIR "/llmux", "llmux", "serve", "--config", cfg, "--grace", grace, "--threads", "2",
                  "--ctx", "256", (char *)NULL);
        }
        if (max_requests)
            execl(LLMUX_TEST_BIN_DIR "/llmux", "llmux", "serve", "--listen", "127.0.0.1:0", "--grace", grace,
                  "--threads", "2", "--ctx", "256", "--max-requests", max_requests, (char *)NULL);
        execl(LLMUX_TEST_BIN_DIR "/llmux", "llmux", "serve", "--listen", "127.0.0.1:0", "--grace", grace, "--threads",
              "2", "--ctx", "256", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    p->out_fd = fds[0];
    size_t n = 0;
    const char *at = NULL;
    while (!(at = strstr(p->out, "\ntry:")) && n + 1 < sizeof p->out) {
        ssize_t k = read(p->out_fd, p->out + n, sizeof p->out - 1 - n);
        assert_true(k > 0); /* the server printed its address before anything else */
        n += (size_t)k;
        p->out[n] = 0;
    }
    const char *s = strstr(p->out, "serving on http://");
    assert_non_null(s);
    s = strchr(s + strlen("serving on http://"), ':'); /* an IPv4 host: 127.0.0.1 or 0.0.0.0 */
    assert_non_null(s);
    p->port = atoi(s + 1);
    assert_true(p->port > 0);
}

static void serve_start_cfg(proc *p, const char *upstream_url, int grace_s, const char *config_text) {
    serve_start_args(p, upstream_url, grace_s, config_text, NULL);
}

static void serve_start(proc *p, const char *upstream_url, int grace_s) { serve_start_cfg(p, upstream_url, grace_s, NULL); }

/* Signals the server and returns its exit status (asserts it exits within 60 s). */
static int serve_stop(proc *p, int sig) {
    kill(p->pid, sig);
    int status = 0;
    for (int i = 0; i < 600; i++) {
        pid_t w = waitpid(p->pid, &status, WNOHANG);
        if (w == p->pid) break;
        assert_true(i < 599);
        usleep(100000);
    }
    close(p->out_fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void serve_cleanup(proc *p) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", p->dir);
    assert_int_equal(system(cmd), 0);
}

typedef struct req {
    const char *header; /* one extra request header line, or NULL */
    int port;
    const char *path, *body;
    long status;
    char buf[16384];
    size_t len;
    CURLcode rc;
} req;

static size_t on_body(char *d, size_t size, size_t n, void *ud) {
    req *r = ud;
    size_t k = size * n;
    size_t room = sizeof r->buf - 1 - r->len;
    memcpy(r->buf + r->len, d, k < room ? k : room);
    r->len += k < room ? k : room;
    r->buf[r->len] = 0;
    return k;
}

static void *do_req(void *arg) {
    req *r = arg;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", r->port, r->path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (r->body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
    struct curl_slist *h = r->header ? curl_slist_append(NULL, r->header) : NULL;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    r->rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    return NULL;
}

static bool records_contain(const proc *p, const char *needle) {
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/records.db", p->dir);
    llmux_records *rec = NULL;
    assert_int_equal(llmux_records_open(url, &rec, NULL), LLMUX_OK);
    char *jsonl = NULL;
    assert_int_equal(llmux_records_list(rec, NULL, &jsonl, NULL), LLMUX_OK);
    bool found = strstr(jsonl, needle) != NULL;
    llmux_free(jsonl);
    llmux_records_close(rec);
    return found;
}

static int count_records(const proc *p) {
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/records.db", p->dir);
    llmux_records *rec = NULL;
    assert_int_equal(llmux_records_open(url, &rec, NULL), LLMUX_OK);
    char *jsonl = NULL;
    assert_int_equal(llmux_records_list(rec, NULL, &jsonl, NULL), LLMUX_OK);
    int n = 0;
    for (const char *s = jsonl; (s = strchr(s, '\n')); s++) n++;
    llmux_free(jsonl);
    llmux_records_close(rec);
    return n;
}

static void test_serve_answers_and_stops(void **state) {
    proc p;
    serve_start(&p, "http://127.0.0.1:1/v1", 5);
    assert_non_null(strstr(p.out, "curl http://127.0.0.1:"));
    assert_non_null(strstr(p.out, "local/llmux-fortunes"));
    req h = {.port = p.port, .path = "/health"};
    do_req(&h);
    assert_int_equal(h.status, 200);
    req r = {.port = p.port, .path = "/v1/chat/completions", .header = "X-Request-Id: trace-7",
             .body = "{\"model\":\"local/llmux-fortunes\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"};
    do_req(&r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.buf, "\"object\":\"chat.completion\""));
    assert_int_equal(serve_stop(&p, SIGTERM), 0);
    assert_int_equal(count_records(&p), 1); /* flushed by the runtime on the way out */
    assert_true(records_contain(&p, "\"request_id\":\"trace-7\""));
    serve_cleanup(&p);
}

/* The children of pid whose command line is `llmux engine --fd ...`: how many, and one's pid. */
static int engine_children(pid_t parent, pid_t *one) {
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        int ppid = 0;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        const char *rp = strrchr(buf, ')'); /* the command name may hold spaces */
        if (!rp || sscanf(rp + 2, "%*c %d", &ppid) != 1 || ppid != (int)parent) continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        f = fopen(path, "r");
        if (!f) continue;
        k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        if (k > 12 && memcmp(buf, "llmux\0engine\0--fd", 17) == 0) {
            n++;
            *one = (pid_t)atoi(e->d_name);
        }
    }
    closedir(d);
    return n;
}

static long status_field(pid_t pid, const char *key) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') v = strtol(line + strlen(key) + 1, NULL, 10);
    fclose(f);
    return v;
}

/* `llmux serve` defaults to local.isolation: process: a local request starts one sandboxed engine
 * child, which also answers token counts and the model list; llmux.yaml's in_process keeps the
 * models in the server (no child). */
static void test_default_isolation_process(void **state) {
    (void)state;
    proc p;
    serve_start(&p, "http://127.0.0.1:1/v1", 0);
    pid_t child = 0;
    assert_non_null(strstr(p.out, "local models run in a sandboxed engine process"));
    assert_int_equal(engine_children(p.pid, &child), 0); /* started at first use */
    req r = {.port = p.port, .path = "/v1/chat/completions",
             .body = "{\"model\":\"local/llmux-fortunes\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"};
    do_req(&r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.buf, "\"object\":\"chat.completion\""));
    assert_int_equal(engine_children(p.pid, &child), 1);
    assert_int_equal(status_field(child, "Seccomp"), 2);
    assert_int_equal(status_field(child, "NoNewPrivs"), 1);
    req c = {.port = p.port, .path = "/v1/messages/count_tokens", .header = "anthropic-version: 2023-06-01",
             .body = "{\"model\":\"local/llmux-fortunes\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi there\"}]}"};
    do_req(&c);
    if (c.status != 200) fail_msg("count_tokens: %ld %s", c.status, c.buf);
    assert_non_null(strstr(c.buf, "\"input_tokens\":"));
    req ps = {.port = p.port, .path = "/api/ps"};
    do_req(&ps);
    assert_int_equal(ps.status, 200);
    assert_non_null(strstr(ps.buf, "\"name\":\"local/llmux-fortunes\""));
    pid_t again = 0;
    assert_int_equal(engine_children(p.pid, &again), 1);
    assert_int_equal(again, child); /* the same child served all three */
    assert_int_equal(serve_stop(&p, SIGTERM), 0);
    assert_int_equal(kill(child, 0), -1); /* gone with the server */
    serve_cleanup(&p);

    serve_start_cfg(&p, "http://127.0.0.1:1/v1", 0, "server:\n  listen: 127.0.0.1:0\nlocal:\n  isolation: in_process\n");
    assert_null(strstr(p.out, "sandboxed engine process"));
    req r2 = {.port = p.port, .path = "/v1/chat/completions",
              .body = "{\"model\":\"local/llmux-fortunes\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"};
    do_req(&r2);
    assert_int_equal(r2.status, 200);
    assert_int_equal(engine_children(p.pid, &child), 0);
    assert_int_equal(serve_stop(&p, SIGTERM), 0);
    serve_cleanup(&p);
}

static void stop_mid_stream(int grace_s, bool completes) {
    lx_fake_server *up = lx_fake_server_start();
    assert_non_null(up);
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/chat/completions";
    fr.headers = "Content-Type: text/event-stream\r\n";
    fr.body_file = "tests/data/fake/openai/stream_text.sse";
    fr.chunk_size = 64;
    fr.chunk_delay_ms = 100; /* ~2 s in all */
    assert_true(lx_fake_server_push(up, &fr));
    char url[128];
    lx_fake_server_url(up, "/v1", url, sizeof url);
    proc p;
    serve_start(&p, url, grace_s);
    req r = {.port = p.port, .path = "/v1/chat/completions",
             .body = "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"};
    pthread_t t;
    pthread_create(&t, NULL, do_req, &r);
    for (int i = 0; i < 500 && lx_fake_server_requests(up) < 1; i++) usleep(10000);
    usleep(300000); /* the answer is streaming */
    assert_int_equal(serve_stop(&p, SIGINT), 0);
    pthread_join(t, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    if (completes) {
        assert_non_null(strstr(r.buf, "data: [DONE]\n\n"));
    } else {
        assert_null(strstr(r.buf, "[DONE]"));
        assert_non_null(strstr(r.buf, "\"code\":\"cancelled\""));
    }
    assert_int_equal(count_records(&p), 1);
    serve_cleanup(&p);
    lx_fake_server_stop(up);
}

static void test_sigint_lets_stream_finish(void **state) { stop_mid_stream(30, true); }
static void test_sigint_cancels_after_grace(void **state) { stop_mid_stream(0, false); }

/* server.listen of llmux.yaml picks the address when --listen is not given (port 0 here: any free
 * port, so not the default 4000); a malformed one is a configuration error naming it. */
static void test_listen_from_config(void **state) {
    proc p;
    /* Also: models in the configured model directories are listed as local/<name>. */
    assert_int_equal(system("mkdir -p /tmp/llmux-serve-models && ln -sf " LLMUX_SOURCE_DIR
                            "/models/llmux-fortunes.gguf /tmp/llmux-serve-models/extra-model.gguf"), 0);
    serve_start_cfg(&p, "http://127.0.0.1:1/v1", 1,
                    "server:\n  listen: \"127.0.0.1:0\"\nlocal:\n  model_dirs: [/tmp/llmux-serve-models]\n"
                    "models:\n  smart:\n    targets: [local/extra-model]\n");
    assert_true(p.port != 4000);
    req h = {.port = p.port, .path = "/health"};
    do_req(&h);
    assert_int_equal(h.status, 200);
    req m = {.port = p.port, .path = "/v1/models"};
    do_req(&m);
    const char *a = strstr(m.buf, "\"id\":\"local/llmux-fortunes\""), *b = strstr(m.buf, "\"id\":\"smart\""),
               *c = strstr(m.buf, "\"id\":\"local/extra-model\"");
    assert_true(a && b && c && a < b && b < c); /* bundled, aliases, then the directories */
    /* The alias runs on the extra model. */
    req r = {.port = p.port, .path = "/v1/chat/completions",
             .body = "{\"model\":\"smart\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"};
    do_req(&r);
    assert_int_equal(r.status, 200);
    assert_int_equal(system("rm -rf /tmp/llmux-serve-models"), 0);
    assert_int_equal(serve_stop(&p, SIGTERM), 0);
    serve_cleanup(&p);
    char dir[] = "/tmp/llmux-serve-cfg-XXXXXX", cmd[512];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "printf 'server:\\n  listen: nowhere\\n' > %s/bad.yaml && " LLMUX_TEST_BIN_DIR
             "/llmux serve --config %s/bad.yaml 2> %s/err; echo $? > %s/rc; grep -q 'server.listen' %s/err",
             dir, dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -qx 24 %s/rc && rm -rf %s", dir, dir); /* 10 + configuration */
    assert_int_equal(system(cmd), 0);
}

/* server.keys from llmux.yaml on the real process: with keys it may listen on every address
 * without --insecure-no-auth; a request needs the key (from env:VAR), the record names the key,
 * and server.limits.max_body_bytes applies. */
static void test_keys_from_config(void **state) {
    setenv("LLMUX_SERVE_TEST_KEY", "sk-serve-test-0123456789", 1);
    proc p;
    serve_start_cfg(&p, "http://127.0.0.1:1/v1", 1,
                    "server:\n  listen: \"0.0.0.0:0\"\n"
                    "  keys:\n    - {name: ci, key: env:LLMUX_SERVE_TEST_KEY, models: [\"local/*\"], rpm: 100}\n"
                    "  limits: {max_body_bytes: 2048}\n");
    assert_non_null(strstr(p.out, "1 API key (server.keys)"));
    assert_non_null(strstr(p.out, "Authorization: Bearer $LLMUX_KEY"));
    const char *body = "{\"model\":\"local/llmux-fortunes\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
    req r = {.port = p.port, .path = "/v1/chat/completions", .body = body};
    do_req(&r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.buf, "\"authentication_error\""));
    req ok = {.port = p.port, .path = "/v1/chat/completions", .header = "Authorization: Bearer sk-serve-test-0123456789",
              .body = body};
    do_req(&ok);
    assert_int_equal(ok.status, 200);
    static char big[4096];
    memset(big, ' ', sizeof big - 1);
    memcpy(big, "{\"model\":\"local/llmux-fortunes\"", 31);
    req large = {.port = p.port, .path = "/v1/chat/completions", .header = "x-api-key: sk-serve-test-0123456789",
                 .body = big};
    do_req(&large);
    assert_int_equal(large.status, 413);
    assert_int_equal(serve_stop(&p, SIGTERM), 0);
    assert_true(records_contain(&p, "\"caller\":\"ci\""));
    assert_false(records_contain(&p, "sk-serve-test"));
    serve_cleanup(&p);
    unsetenv("LLMUX_SERVE_TEST_KEY");
}

/* --max-requests 1: while one stream is in flight, the next request is refused with 429. */
static void test_max_requests_flag(void **state) {
    lx_fake_server *up = lx_fake_server_start();
    assert_non_null(up);
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/chat/completions";
    fr.headers = "Content-Type: text/event-stream\r\n";
    fr.body_file = "tests/data/fake/openai/stream_text.sse";
    fr.chunk_size = 64;
    fr.chunk_delay_ms = 100; /* ~2 s in all */
    assert_true(lx_fake_server_push(up, &fr));
    char url[128];
    lx_fake_server_url(up, "/v1", url, sizeof url);
    proc p;
    serve_start_args(&p, url, 30, NULL, "1");
    req r = {.port = p.port, .path = "/v1/chat/completions",
             .body = "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"};
    pthread_t t;
    pthread_create(&t, NULL, do_req, &r);
    for (int i = 0; i < 500 && lx_fake_server_requests(up) < 1; i++) usleep(10000);
    req busy = {.port = p.port, .path = "/v1/chat/completions",
                .body = "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"};
    do_req(&busy);
    assert_int_equal(busy.status, 429);
    pthread_join(t, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.buf, "data: [DONE]\n\n"));
    assert_int_equal(serve_stop(&p, SIGTERM), 0);
    serve_cleanup(&p);
    lx_fake_server_stop(up);
}

static void test_usage_errors(void **state) {
    int rc = system(LLMUX_TEST_BIN_DIR "/llmux serve --listen nowhere >/dev/null 2>&1");
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    rc = system(LLMUX_TEST_BIN_DIR "/llmux serve --grace -1 >/dev/null 2>&1");
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    rc = system(LLMUX_TEST_BIN_DIR "/llmux serve --max-requests 0 >/dev/null 2>&1");
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    rc = system(LLMUX_TEST_BIN_DIR "/llmux serve --max-requests 12x >/dev/null 2>&1");
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    /* Without API keys a non-loopback address needs --insecure-no-auth; the message says so. */
    rc = system(LLMUX_TEST_BIN_DIR "/llmux serve --listen 0.0.0.0:0 2>&1 | grep -q -- 'no API keys are configured (server.keys.*--insecure-no-auth'");
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    rc = system(LLMUX_TEST_BIN_DIR "/llmux serve --listen 0.0.0.0:0 >/dev/null 2>&1");
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    rc = system(LLMUX_TEST_BIN_DIR "/llmux serve --help | grep -q -- --listen");
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_answers_and_stops),
        cmocka_unit_test(test_sigint_lets_stream_finish),
        cmocka_unit_test(test_sigint_cancels_after_grace),
        cmocka_unit_test(test_listen_from_config),
        cmocka_unit_test(test_keys_from_config),
        cmocka_unit_test(test_max_requests_flag),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_default_isolation_process),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
