/* `llmux serve --unix`'s IPC server (src/server/ipc/, docs/ipc.md) against real clients on a real
 * Unix socket in a temporary directory: an in-process lx_ipc_server on a runtime whose "openai"
 * provider is the fake provider server and whose model directory holds the bundled model.
 *
 * Covered: the files' modes and the directory rules, the handshake (ok, wrong token, no hello,
 * timeout), a wrong session id, an oversized frame, malformed frames, two executions multiplexed
 * on one connection, cancel of one while the other goes on, a client disconnect cancelling its
 * execution (the upstream socket closes), a client that stops reading (and catches up), the
 * per-connection and connection caps, and the stop with and without a grace period; calls
 * (core/ipc_call.h): malformed calls get non-fatal errors tagged with their id, a token count and
 * the model list answer with results, a result for a result-less op, a call's error carries the
 * public call's class, and the connection serves generations between them. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "llmux.h"
#include "server/ipc/endpoint.h"
#include "core/ipc_frame.h"
#include "server/ipc/frame_io.h"
#include "server/ipc/ipc.h"
#include "core/ipc_call.h"
#include "core/ipc_message.h"
#include "server/ipc/pong_stats.h"
#include "support/fake_server.h"

#define MODEL_DIR LLMUX_SOURCE_DIR "/models"
#define LOCAL "local/llmux-fortunes"
#define STREAM_FIXTURE "tests/data/fake/openai/stream_text.sse"

typedef struct fx {
    lx_fake_server *up;
    llmux_runtime *rt;
    lx_ipc_server *ipc;
    char dir[64];
    char path[128];
    char token[LX_IPC_TOKEN_HEX + 1];
    char url[256];
    llmux_provider_params prov;
} fx;

static void fx_start_with(fx *f, const lx_ipc_params *in) {
    memset(f, 0, sizeof *f);
    signal(SIGPIPE, SIG_IGN);
    f->up = lx_fake_server_start();
    assert_non_null(f->up);
    lx_fake_server_url(f->up, "/v1", f->url, sizeof f->url);
    f->prov = (llmux_provider_params){.name = "openai", .base_url = f->url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &f->prov;
    rp.n_providers = 1;
    const char *dirs[] = {MODEL_DIR};
    rp.model_dirs = dirs;
    rp.n_model_dirs = 1;
    rp.n_threads = 2;
    rp.n_ctx = 256;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &f->rt, &err), LLMUX_OK);
    snprintf(f->dir, sizeof f->dir, "/tmp/lx-ipc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    /* A directory the server creates itself (0700). */
    snprintf(f->path, sizeof f->path, "%s/run/llmux.sock", f->dir);
    lx_ipc_params p = in ? *in : lx_ipc_default_params();
    p.path = f->path;
    assert_int_equal(lx_ipc_server_start(f->rt, &p, &f->ipc, &err), LLMUX_OK);
    char e[256];
    assert_true(lx_ipc_token_read(lx_ipc_server_token_path(f->ipc), f->token, e, sizeof e));
}

static void fx_start(fx *f) { fx_start_with(f, NULL); }

static void fx_stop(fx *f) {
    lx_ipc_server_stop(f->ipc, 0);
    llmux_runtime_destroy(f->rt);
    lx_fake_server_stop(f->up);
    char run[160];
    snprintf(run, sizeof run, "%s/run", f->dir);
    rmdir(run);
    rmdir(f->dir);
}

static void wait_active(fx *f, int n) {
    for (int i = 0; i < 1000 && lx_ipc_server_active(f->ipc) != n; i++) usleep(10000);
    assert_int_equal(lx_ipc_server_active(f->ipc), n);
}

static void push_stream(fx *f, size_t chunk, int delay_ms) {
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = "/v1/chat/completions";
    r.headers = "Content-Type: text/event-stream\r\n";
    r.body_file = STREAM_FIXTURE;
    r.chunk_size = chunk;
    r.chunk_delay_ms = delay_ms;
    assert_true(lx_fake_server_push(f->up, &r));
}

/* ------------------------------------------------------------ the client */

static int cl_connect(const fx *f) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Writes a frame by hand (the wire format, not the codec under test). */
static void cl_send_raw(int fd, const char *json) {
    size_t n = strlen(json);
    uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    assert_int_equal(write(fd, h, 4), 4);
    assert_int_equal(write(fd, json, n), (ssize_t)n);
}

static void cl_send(int fd, char *json) {
    assert_non_null(json);
    cl_send_raw(fd, json);
    free(json);
}

/* Reads one message (within 20 s). Returns the frame status; on OK *m is parsed. */
static lx_frame_status cl_read(int fd, lx_ipc_msg *m) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 20000), 1);
    char *buf = NULL;
    size_t n = 0;
    lx_frame_status st = lx_frame_read_fd(fd, LX_FRAME_DEFAULT_MAX, &buf, &n);
    if (st != LX_FRAME_OK) return st;
    char err[256];
    if (!lx_ipc_msg_parse(buf, n, m, err, sizeof err)) fail_msg("server sent a malformed message: %s: %s", err, buf);
    free(buf);
    return LX_FRAME_OK;
}

/* Handshake; the session id into session. */
static int cl_open(const fx *f, char session[LX_IPC_SESSION_HEX + 1]) {
    int fd = cl_connect(f);
    cl_send(fd, lx_ipc_hello(f->token));
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_WELCOME);
    assert_int_equal(strlen(m.session), LX_IPC_SESSION_HEX);
    snprintf(session, LX_IPC_SESSION_HEX + 1, "%s", m.session);
    lx_ipc_msg_clear(&m);
    return fd;
}

/* Expects a fatal error frame of class status, then the connection's end. */
static void expect_fatal(int fd, const char *status, const char *needle) {
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_ERROR);
    assert_string_equal(m.err_status, status);
    assert_true(m.fatal);
    if (needle && !strstr(m.err_message, needle)) fail_msg("\"%s\" not in \"%s\"", needle, m.err_message);
    lx_ipc_msg_clear(&m);
    char *b = NULL;
    size_t n;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(lx_frame_read_fd(fd, LX_FRAME_DEFAULT_MAX, &b, &n), LX_FRAME_EOF);
}

/* A canonical request; the local model's answer is capped at 40 tokens. */
static char *request(const char *model, bool stream, bool capped) {
    char *s = malloc(512);
    snprintf(s, 512,
             "{\"model\":\"%s\",\"stream\":%s,%s\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
             "\"text\":\"Hi\"}]}]}",
             model, stream ? "true" : "false", capped ? "\"max_tokens\":40," : "");
    return s;
}

static void send_request(int fd, const char *session, const char *id, const char *model, bool stream) {
    char *r = request(model, stream, strncmp(model, "local/", 6) == 0);
    cl_send(fd, lx_ipc_wrap(LX_IPC_REQUEST, session, id, r));
    free(r);
}

/* What one execution produced. */
typedef struct outcome {
    int events, text_events;
    char text[4096];
    char last_event[32];
    char last_error_status[32];
    bool responded;
    char finish[32];
} outcome;

static void note(outcome *o, const lx_ipc_msg *m) {
    if (m->type == LX_IPC_EVENT) {
        assert_false(o->responded); /* nothing after the response */
        o->events++;
        const char *type = json_string_value(json_object_get(m->body, "type"));
        snprintf(o->last_event, sizeof o->last_event, "%s", type);
        if (strcmp(type, "text_delta") == 0) {
            o->text_events++;
            strncat(o->text, json_string_value(json_object_get(m->body, "text")), sizeof o->text - strlen(o->text) - 1);
        }
        if (strcmp(type, "error") == 0)
            snprintf(o->last_error_status, sizeof o->last_error_status, "%s",
                     json_string_value(json_object_get(json_object_get(m->body, "error"), "status")));
    } else if (m->type == LX_IPC_RESPONSE) {
        o->responded = true;
        snprintf(o->finish, sizeof o->finish, "%s", json_string_value(json_object_get(m->body, "finish_reason")));
    } else {
        fail_msg("unexpected %s message (%s)", lx_ipc_type_name(m->type), m->err_message ? m->err_message : "");
    }
}

/* ------------------------------------------------------------------ tests */

static void test_modes_and_handshake(void **state) {
    fx f;
    fx_start(&f);
    struct stat st;
    assert_int_equal(lstat(f.path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(lstat(lx_ipc_server_token_path(f.ipc), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, LX_IPC_TOKEN_HEX + 1);
    char run[160];
    snprintf(run, sizeof run, "%s/run", f.dir);
    assert_int_equal(lstat(run, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    int fd = cl_connect(&f);
    cl_send(fd, lx_ipc_hello(f.token));
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_WELCOME);
    assert_int_equal(strlen(m.session), LX_IPC_SESSION_HEX);
    assert_int_equal(json_integer_value(json_object_get(m.body, "max_frame_bytes")), LX_FRAME_DEFAULT_MAX);
    assert_int_equal(json_integer_value(json_object_get(m.body, "max_executions")), LX_IPC_DEFAULT_MAX_EXECUTIONS);
    char s1[LX_IPC_SESSION_HEX + 1];
    snprintf(s1, sizeof s1, "%s", m.session);
    lx_ipc_msg_clear(&m);
    /* Every connection gets its own session. */
    char s2[LX_IPC_SESSION_HEX + 1];
    int fd2 = cl_open(&f, s2);
    assert_string_not_equal(s1, s2);
    assert_int_equal(lx_ipc_server_connections(f.ipc), 2);
    close(fd);
    close(fd2);
    for (int i = 0; i < 500 && lx_ipc_server_connections(f.ipc) != 0; i++) usleep(10000);
    assert_int_equal(lx_ipc_server_connections(f.ipc), 0);
    char token_path[200];
    snprintf(token_path, sizeof token_path, "%s", lx_ipc_server_token_path(f.ipc));
    fx_stop(&f);
    /* The stop removed both files. */
    assert_int_not_equal(lstat(f.path, &st), 0);
    assert_int_not_equal(lstat(token_path, &st), 0);
}

/* The heartbeat: a ping is answered with a pong carrying its id (if any) and the connection's
 * executions in flight; before the hello it is a handshake violation like any other frame. */
static void test_ping(void **state) {
    fx f;
    fx_start(&f);
    push_stream(&f, 16, 100);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    cl_send(fd, lx_ipc_ping(s, "hb-1"));
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_PONG);
    assert_string_equal(m.id, "hb-1");
    assert_string_equal(m.session, s);
    assert_int_equal(m.active, 0);
    lx_ipc_msg_clear(&m);
    send_request(fd, s, "r1", "openai/gpt-4o-mini", true);
    wait_active(&f, 1);
    cl_send(fd, lx_ipc_ping(s, NULL));
    /* The pong arrives among r1's events. */
    for (;;) {
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        if (m.type == LX_IPC_PONG) break;
        assert_int_equal(m.type, LX_IPC_EVENT);
        lx_ipc_msg_clear(&m);
    }
    assert_null(m.id);
    assert_int_equal(m.active, 1);
    lx_ipc_msg_clear(&m);
    close(fd); /* cancels r1 */
    wait_active(&f, 0);

    fd = cl_open(&f, s);
    cl_send(fd, lx_ipc_ping("00000000000000000000000000000000", NULL));
    expect_fatal(fd, "authentication", "session");
    close(fd);

    fd = cl_connect(&f);
    cl_send(fd, lx_ipc_ping(s, NULL));
    expect_fatal(fd, "authentication", "hello");
    close(fd);
    fx_stop(&f);
}

static void test_wrong_token(void **state) {
    fx f;
    fx_start(&f);
    char bad[LX_IPC_TOKEN_HEX + 1];
    snprintf(bad, sizeof bad, "%s", f.token);
    bad[10] = bad[10] == '0' ? '1' : '0';
    int fd = cl_connect(&f);
    cl_send(fd, lx_ipc_hello(bad));
    expect_fatal(fd, "authentication", "wrong token");
    close(fd);
    /* A shorter token, and a request before any hello. */
    fd = cl_connect(&f);
    cl_send_raw(fd, "{\"type\":\"hello\",\"token\":\"abc\"}");
    expect_fatal(fd, "authentication", "wrong token");
    close(fd);
    fd = cl_connect(&f);
    send_request(fd, "00000000000000000000000000000000", "r1", LOCAL, true);
    expect_fatal(fd, "authentication", "hello");
    close(fd);
    /* Garbage before the handshake. */
    fd = cl_connect(&f);
    cl_send_raw(fd, "not json");
    expect_fatal(fd, "authentication", "malformed JSON");
    close(fd);
    fx_stop(&f);
}

static void test_handshake_timeout(void **state) {
    lx_ipc_params p = lx_ipc_default_params();
    p.handshake_timeout_ms = 200;
    fx f;
    fx_start_with(&f, &p);
    int fd = cl_connect(&f);
    expect_fatal(fd, "timeout", "handshake");
    close(fd);
    fx_stop(&f);
}

static void test_wrong_session(void **state) {
    fx f;
    fx_start(&f);
    push_stream(&f, 16, 100);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    /* One execution in flight: the violation must cancel it too. */
    send_request(fd, s, "r1", "openai/gpt-4o-mini", true);
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_EVENT);
    lx_ipc_msg_clear(&m);
    char other[LX_IPC_SESSION_HEX + 1];
    snprintf(other, sizeof other, "%s", s);
    other[0] = other[0] == 'a' ? 'b' : 'a';
    cl_send(fd, lx_ipc_cancel(other, "r1"));
    /* Events of r1 may come before the error; the error is the last frame. */
    for (;;) {
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        if (m.type != LX_IPC_EVENT) break;
        lx_ipc_msg_clear(&m);
    }
    assert_int_equal(m.type, LX_IPC_ERROR);
    assert_string_equal(m.err_status, "authentication");
    assert_true(m.fatal);
    lx_ipc_msg_clear(&m);
    char *b;
    size_t n;
    assert_int_equal(lx_frame_read_fd(fd, LX_FRAME_DEFAULT_MAX, &b, &n), LX_FRAME_EOF);
    assert_true(lx_fake_server_wait_closed(f.up, 1, 5000));
    wait_active(&f, 0);
    close(fd);
    /* A frame without any session is refused the same way. */
    fd = cl_open(&f, s);
    cl_send_raw(fd, "{\"type\":\"cancel\",\"id\":\"x\"}");
    expect_fatal(fd, "authentication", "wrong session id");
    close(fd);
    fd = cl_open(&f, s);
    cl_send(fd, lx_ipc_cancel("not-a-session", "x"));
    expect_fatal(fd, "authentication", "wrong session id");
    close(fd);
    fx_stop(&f);
}

static void test_oversized_frame(void **state) {
    lx_ipc_params p = lx_ipc_default_params();
    p.max_frame_bytes = 4096;
    fx f;
    fx_start_with(&f, &p);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    /* Only the header of a 1 MiB frame: refused before any payload is buffered. */
    uint8_t h[4];
    lx_frame_put_header(h, 1u << 20);
    assert_int_equal(write(fd, h, 4), 4);
    expect_fatal(fd, "invalid_request", "exceeds the cap of 4096");
    close(fd);
    /* Also before the handshake; a header with the top bit set too. */
    fd = cl_connect(&f);
    uint8_t big[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(write(fd, big, 4), 4);
    expect_fatal(fd, "invalid_request", "exceeds the cap");
    close(fd);
    fx_stop(&f);
}

static void test_malformed_frames(void **state) {
    fx f;
    fx_start(&f);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    static const char *const bad[] = {"{not json", "[1,2]", "", "{\"type\":\"nonsense\"}", "{\"type\":7}",
                                      "{\"type\":\"request\",\"id\":\"bad id!\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cl_send_raw(fd, bad[i]);
        lx_ipc_msg m;
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        assert_int_equal(m.type, LX_IPC_ERROR);
        assert_string_equal(m.err_status, "invalid_request");
        assert_false(m.fatal);
        lx_ipc_msg_clear(&m);
    }
    /* A well-formed frame whose canonical request is invalid: tagged with its id. */
    char *req = lx_ipc_wrap(LX_IPC_REQUEST, s, "r9", "{\"model\":\"x/y\",\"messages\":[{\"role\":\"robot\"}]}");
    cl_send(fd, req);
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_ERROR);
    assert_string_equal(m.id, "r9");
    assert_string_equal(m.err_status, "invalid_request");
    lx_ipc_msg_clear(&m);
    /* A server message type from the client. */
    char *ev = lx_ipc_wrap(LX_IPC_EVENT, s, "r9", "{\"type\":\"finish\"}");
    cl_send(fd, ev);
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_ERROR);
    assert_false(m.fatal);
    lx_ipc_msg_clear(&m);
    /* The connection still works. */
    send_request(fd, s, "ok", LOCAL, true);
    outcome o = {0};
    while (!o.responded) {
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        assert_string_equal(m.id, "ok");
        note(&o, &m);
        lx_ipc_msg_clear(&m);
    }
    assert_true(o.text_events > 0);
    close(fd);
    fx_stop(&f);
}

/* Reads the one frame answering a call (results and errors only). */
static void call_answer(int fd, const char *id, lx_ipc_msg *m) {
    assert_int_equal(cl_read(fd, m), LX_FRAME_OK);
    assert_true(m->type == LX_IPC_RESULT || m->type == LX_IPC_ERROR);
    assert_non_null(m->id);
    assert_string_equal(m->id, id);
}

static void test_calls(void **state) {
    fx f;
    fx_start(&f);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    /* Malformed calls: each answered by a non-fatal invalid_request tagged with its id. */
    static const char *const bad[] = {"{}", "{\"op\":\"fly\"}", "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":[]}",
                                      "{\"op\":\"models_loaded\",\"x\":1}", "{\"op\":\"count_tokens\",\"request\":1}"};
    lx_ipc_msg m;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char id[16];
        snprintf(id, sizeof id, "bad%zu", i);
        cl_send(fd, lx_ipc_wrap(LX_IPC_CALL, s, id, bad[i]));
        call_answer(fd, id, &m);
        assert_int_equal(m.type, LX_IPC_ERROR);
        assert_string_equal(m.err_status, "invalid_request");
        assert_false(m.fatal);
        lx_ipc_msg_clear(&m);
    }
    /* A call without an id is a malformed message. */
    cl_send_raw(fd, "{\"type\":\"call\",\"session\":\"00\",\"call\":{\"op\":\"models_loaded\"}}");
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_ERROR);
    assert_false(m.fatal);
    lx_ipc_msg_clear(&m);

    /* A token count on the bundled model. */
    char *r = request(LOCAL, false, false);
    char *call = lx_ipc_call_count_tokens(r, 0);
    free(r);
    cl_send(fd, lx_ipc_wrap(LX_IPC_CALL, s, "count", call));
    free(call);
    call_answer(fd, "count", &m);
    if (m.type != LX_IPC_RESULT) fail_msg("count: %s: %s", m.err_status, m.err_message);
    char why[256];
    int64_t n = 0;
    assert_true(lx_ipc_result_count_parse(m.body, &n, why, sizeof why));
    assert_true(n > 0);
    lx_ipc_msg_clear(&m);
    /* The same count as the public call in this process. */
    llmux_request *req = NULL;
    llmux_error_info err;
    r = request(LOCAL, false, false);
    assert_int_equal(llmux_request_from_json(r, strlen(r), &req, &err), LLMUX_OK);
    free(r);
    int64_t direct = 0;
    assert_int_equal(llmux_count_tokens(f.rt, req, NULL, &direct, &err), LLMUX_OK);
    llmux_request_free(req);
    assert_int_equal(n, direct);

    /* The model list holds the model the count loaded. */
    call = lx_ipc_call_model(LX_IPC_OP_MODELS_LOADED, NULL, 0);
    cl_send(fd, lx_ipc_wrap(LX_IPC_CALL, s, "list", call));
    free(call);
    call_answer(fd, "list", &m);
    assert_int_equal(m.type, LX_IPC_RESULT);
    const json_t *models;
    assert_true(lx_ipc_result_models_parse(m.body, &models, why, sizeof why));
    assert_int_equal(json_array_size(models), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(models, 0), "model")), LOCAL);
    lx_ipc_msg_clear(&m);

    /* Errors carry the public call's class: unloading a model that is not loaded, a model that
     * does not exist. */
    call = lx_ipc_call_model(LX_IPC_OP_MODEL_UNLOAD, "local/nope", 0);
    cl_send(fd, lx_ipc_wrap(LX_IPC_CALL, s, "unload", call));
    free(call);
    call_answer(fd, "unload", &m);
    assert_int_equal(m.type, LX_IPC_ERROR);
    assert_string_equal(m.err_status, "invalid_request");
    assert_false(m.fatal);
    lx_ipc_msg_clear(&m);
    static const char *const one[] = {"hello"};
    call = lx_ipc_call_embed("local/nope", one, 1, 0, 0);
    cl_send(fd, lx_ipc_wrap(LX_IPC_CALL, s, "embed", call));
    free(call);
    call_answer(fd, "embed", &m);
    assert_int_equal(m.type, LX_IPC_ERROR);
    assert_string_equal(m.err_status, "model_not_found");
    lx_ipc_msg_clear(&m);

    /* The connection still generates. */
    send_request(fd, s, "ok", LOCAL, true);
    outcome o = {0};
    while (!o.responded) {
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        assert_string_equal(m.id, "ok");
        note(&o, &m);
        lx_ipc_msg_clear(&m);
    }
    assert_true(o.text_events > 0);
    wait_active(&f, 0);
    close(fd);
    fx_stop(&f);
}

static void test_multiplexed(void **state) {
    fx f;
    fx_start(&f);
    push_stream(&f, 64, 20);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    send_request(fd, s, "remote", "openai/gpt-4o-mini", true);
    send_request(fd, s, "local", LOCAL, true);
    outcome remote = {0}, local = {0};
    while (!remote.responded || !local.responded) {
        lx_ipc_msg m;
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        assert_string_equal(m.session, s);
        note(strcmp(m.id, "remote") == 0 ? &remote : &local, &m);
        lx_ipc_msg_clear(&m);
    }
    assert_string_equal(remote.text, "Hello, world!");
    assert_string_equal(remote.last_event, "finish");
    assert_string_equal(remote.finish, "stop");
    assert_true(local.text_events > 0);
    assert_string_equal(local.last_event, "finish");
    assert_true(strcmp(local.finish, "stop") == 0 || strcmp(local.finish, "length") == 0);
    wait_active(&f, 0);
    /* A non-streamed request: only its response. */
    send_request(fd, s, "plain", LOCAL, false);
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_RESPONSE);
    assert_string_equal(m.id, "plain");
    assert_true(json_array_size(json_object_get(m.body, "content")) > 0);
    lx_ipc_msg_clear(&m);
    close(fd);
    fx_stop(&f);
}

static void test_cancel_one(void **state) {
    fx f;
    fx_start(&f);
    /* ~1 KiB in 16-byte writes 100 ms apart: about 7 s if it ran to the end. */
    push_stream(&f, 16, 100);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    send_request(fd, s, "slow", "openai/gpt-4o-mini", true);
    send_request(fd, s, "other", LOCAL, true);
    outcome slow = {0}, other = {0};
    bool cancelled = false;
    while (!slow.responded || !other.responded) {
        lx_ipc_msg m;
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        note(strcmp(m.id, "slow") == 0 ? &slow : &other, &m);
        lx_ipc_msg_clear(&m);
        if (!cancelled && slow.events > 0) {
            cl_send(fd, lx_ipc_cancel(s, "slow"));
            cancelled = true;
        }
    }
    assert_string_equal(slow.last_event, "error");
    assert_string_equal(slow.last_error_status, "cancelled");
    assert_string_equal(slow.finish, "cancelled");
    assert_string_not_equal(slow.text, "Hello, world!");
    assert_string_equal(other.last_event, "finish");
    assert_true(other.text_events > 0);
    assert_true(lx_fake_server_wait_closed(f.up, 1, 5000));
    /* Cancelling an id that is no longer in flight is ignored; the connection goes on. */
    cl_send(fd, lx_ipc_cancel(s, "slow"));
    send_request(fd, s, "after", LOCAL, false);
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_RESPONSE);
    assert_string_equal(m.id, "after");
    lx_ipc_msg_clear(&m);
    close(fd);
    fx_stop(&f);
}

static void test_disconnect_cancels(void **state) {
    fx f;
    fx_start(&f);
    push_stream(&f, 16, 100);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    send_request(fd, s, "r1", "openai/gpt-4o-mini", true);
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_EVENT);
    lx_ipc_msg_clear(&m);
    assert_int_equal(lx_ipc_server_active(f.ipc), 1);
    close(fd);
    /* The server freed the execution; the runtime closed the upstream socket well before the
     * ~7 s the stream would take. */
    assert_true(lx_fake_server_wait_closed(f.up, 1, 3000));
    wait_active(&f, 0);
    assert_int_equal(lx_ipc_server_connections(f.ipc), 0);
    fx_stop(&f);
}

static void test_unread_client_cancelled(void **state) {
    lx_ipc_params p = lx_ipc_default_params();
    p.max_unsent_bytes = 64 * 1024;
    fx f;
    fx_start_with(&f, &p);
    /* An endless-looking stream of content chunks. */
    static const char chunk[] =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},\"finish_reason\":null}]}\n\n";
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/chat/completions";
    fr.headers = "Content-Type: text/event-stream\r\n";
    fr.body = chunk;
    fr.repeat = 100000;
    fr.chunk_size = 65536;
    assert_true(lx_fake_server_push(f.up, &fr));
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    send_request(fd, s, "flood", "openai/gpt-4o-mini", true);
    /* Never read: the server cancels the execution, the runtime closes the upstream socket. */
    assert_true(lx_fake_server_wait_closed(f.up, 1, 20000));
    wait_active(&f, 0);
    /* Reading now: the stream ends with the cancelled error and the response. */
    outcome o = {0};
    while (!o.responded) {
        lx_ipc_msg m;
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        note(&o, &m);
        lx_ipc_msg_clear(&m);
    }
    assert_string_equal(o.last_error_status, "cancelled");
    assert_string_equal(o.finish, "cancelled");
    /* Caught up: the connection runs new executions again. */
    send_request(fd, s, "after", LOCAL, false);
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    assert_int_equal(m.type, LX_IPC_RESPONSE);
    assert_string_equal(m.id, "after");
    lx_ipc_msg_clear(&m);
    close(fd);
    fx_stop(&f);
}

static void test_max_executions(void **state) {
    lx_ipc_params p = lx_ipc_default_params();
    p.max_executions = 1;
    fx f;
    fx_start_with(&f, &p);
    push_stream(&f, 16, 100);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    send_request(fd, s, "a", "openai/gpt-4o-mini", true);
    send_request(fd, s, "b", LOCAL, true);
    send_request(fd, s, "a", LOCAL, true); /* refused either way: the cap, or the duplicate id */
    int refused_b = 0, refused_a = 0;
    outcome a = {0};
    while (!a.responded || refused_b + refused_a < 2) {
        lx_ipc_msg m;
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        if (m.type == LX_IPC_ERROR) {
            assert_false(m.fatal);
            if (strcmp(m.id, "b") == 0) {
                assert_string_equal(m.err_status, "queue_full");
                refused_b++;
            } else {
                assert_string_equal(m.id, "a");
                refused_a++;
            }
            if (refused_a + refused_b == 2 && !a.responded) cl_send(fd, lx_ipc_cancel(s, "a"));
        } else {
            assert_string_equal(m.id, "a");
            note(&a, &m);
        }
        lx_ipc_msg_clear(&m);
    }
    assert_int_equal(refused_b, 1);
    close(fd);
    fx_stop(&f);
}

static void test_max_connections(void **state) {
    lx_ipc_params p = lx_ipc_default_params();
    p.max_connections = 2;
    fx f;
    fx_start_with(&f, &p);
    char s[LX_IPC_SESSION_HEX + 1];
    int a = cl_open(&f, s), b = cl_open(&f, s);
    /* The third is closed at once, before any frame. */
    int c = cl_connect(&f);
    char *buf;
    size_t n;
    struct pollfd pf = {.fd = c, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_int_equal(lx_frame_read_fd(c, LX_FRAME_DEFAULT_MAX, &buf, &n), LX_FRAME_EOF);
    close(c);
    /* A slot frees when a client leaves. */
    close(a);
    for (int i = 0; i < 500 && lx_ipc_server_connections(f.ipc) != 1; i++) usleep(10000);
    int d = cl_open(&f, s);
    close(b);
    close(d);
    fx_stop(&f);
}

static void test_stop_cancels_in_flight(void **state) {
    fx f;
    fx_start(&f);
    push_stream(&f, 16, 100);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    send_request(fd, s, "r1", "openai/gpt-4o-mini", true);
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    lx_ipc_msg_clear(&m);
    lx_ipc_server_stop(f.ipc, 0);
    f.ipc = NULL;
    outcome o = {0};
    o.events = 1;
    while (!o.responded) {
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        note(&o, &m);
        lx_ipc_msg_clear(&m);
    }
    assert_string_equal(o.last_error_status, "cancelled");
    assert_string_equal(o.finish, "cancelled");
    char *b;
    size_t n;
    assert_int_equal(lx_frame_read_fd(fd, LX_FRAME_DEFAULT_MAX, &b, &n), LX_FRAME_EOF);
    close(fd);
    fx_stop(&f);
}

typedef struct stopper {
    lx_ipc_server *ipc;
    int64_t grace_ms;
} stopper;

static void *stop_main(void *arg) {
    stopper *st = arg;
    lx_ipc_server_stop(st->ipc, st->grace_ms);
    return NULL;
}

/* A stop with a grace period: the stream in flight finishes normally, a new request on the open
 * connection is refused as overloaded, the socket file is gone at once. */
static void test_stop_grace_lets_finish(void **state) {
    fx f;
    fx_start(&f);
    push_stream(&f, 64, 100);
    char s[LX_IPC_SESSION_HEX + 1];
    int fd = cl_open(&f, s);
    send_request(fd, s, "r1", "openai/gpt-4o-mini", true);
    lx_ipc_msg m;
    assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
    lx_ipc_msg_clear(&m);
    stopper st = {.ipc = f.ipc, .grace_ms = 30000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_main, &st), 0);
    struct stat sb;
    for (int i = 0; i < 500 && lstat(f.path, &sb) == 0; i++) usleep(10000);
    assert_int_not_equal(lstat(f.path, &sb), 0);
    send_request(fd, s, "late", LOCAL, true);
    outcome o = {0};
    o.events = 1;
    bool refused = false;
    while (!o.responded || !refused) {
        assert_int_equal(cl_read(fd, &m), LX_FRAME_OK);
        if (m.type == LX_IPC_ERROR) {
            assert_string_equal(m.id, "late");
            assert_string_equal(m.err_status, "overloaded");
            refused = true;
        } else {
            note(&o, &m);
        }
        lx_ipc_msg_clear(&m);
    }
    assert_string_equal(o.finish, "stop");
    assert_string_equal(o.last_event, "finish");
    pthread_join(t, NULL);
    f.ipc = NULL;
    close(fd);
    fx_stop(&f);
}

static void test_directory_rules(void **state) {
    signal(SIGPIPE, SIG_IGN);
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    llmux_runtime_params rp = llmux_runtime_default_params();
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_OK);
    char dir[64] = "/tmp/lx-ipcd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    lx_ipc_params p = lx_ipc_default_params();
    char path[160];
    lx_ipc_server *s = NULL;
    /* Others may write to the directory: refused. */
    assert_int_equal(chmod(dir, 0770), 0);
    snprintf(path, sizeof path, "%s/llmux.sock", dir);
    p.path = path;
    assert_int_equal(lx_ipc_server_start(rt, &p, &s, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "others may write"));
    assert_null(s);
    /* /tmp itself (world-writable, and root's unless we are root). */
    p.path = "/tmp/lx-ipc-test.sock";
    assert_int_equal(lx_ipc_server_start(rt, &p, &s, &err), LLMUX_E_CONFIGURATION);
    assert_int_equal(chmod(dir, 0700), 0);
    /* A file that is not a socket at the path: refused, left alone. */
    p.path = path;
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(lx_ipc_server_start(rt, &p, &s, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "not a socket"));
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0); /* not removed by the refusal */
    assert_true(S_ISREG(sb.st_mode));
    unlink(path);
    /* A live server on the path: refused; a stale socket file: replaced. */
    assert_int_equal(lx_ipc_server_start(rt, &p, &s, &err), LLMUX_OK);
    lx_ipc_server *s2 = NULL;
    assert_int_equal(lx_ipc_server_start(rt, &p, &s2, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "another server"));
    /* The refusal left the live server's files alone. */
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(lstat(lx_ipc_server_token_path(s), &sb), 0);
    lx_ipc_server_stop(s, 0);
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    assert_int_equal(bind(stale, (struct sockaddr *)&a, sizeof a), 0);
    close(stale); /* the file stays, nobody listens */
    assert_int_equal(lx_ipc_server_start(rt, &p, &s, &err), LLMUX_OK);
    lx_ipc_server_stop(s, 0);
    /* A path too long for sun_path. */
    char longp[300];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    p.path = longp;
    assert_int_equal(lx_ipc_server_start(rt, &p, &s, &err), LLMUX_E_CONFIGURATION);
    rmdir(dir);
    llmux_runtime_destroy(rt);
}

/* The codec and message parser on their own: caps, truncation, field checks. */
/* An engine's pong "models" (core/ipc_message.h): built, parsed back, and every malformed shape
 * refused; and the reader of the gauges from Prometheus text (server/ipc/pong_stats.h). */
static void test_pong_models(void **state) {
    (void)state;
    const char *sid = "0123456789abcdef0123456789abcdef";
    lx_ipc_model_stat in[2] = {{.model = "local/a \"q\"", .queued = 3, .prompt_cache_bytes = 4096},
                               {.model = "local/b", .queued = 0, .prompt_cache_bytes = 0}};
    char *p = lx_ipc_pong_with_models(sid, "hb1", 2, in, 2);
    assert_non_null(p);
    lx_ipc_msg m;
    char err[256];
    assert_true(lx_ipc_msg_parse(p, strlen(p), &m, err, sizeof err));
    free(p);
    lx_ipc_model_stat out[LX_IPC_MAX_MODEL_STATS];
    bool present = false;
    assert_int_equal(lx_ipc_pong_models(&m, out, LX_IPC_MAX_MODEL_STATS, &present), 2);
    assert_true(present);
    assert_string_equal(out[0].model, "local/a \"q\"");
    assert_int_equal(out[0].queued, 3);
    assert_int_equal(out[0].prompt_cache_bytes, 4096);
    assert_int_equal(out[1].queued, 0);
    assert_int_equal(lx_ipc_pong_models(&m, out, 1, &present), 1); /* the cap */
    lx_ipc_msg_clear(&m);
    /* A plain pong has none. */
    p = lx_ipc_pong(sid, NULL, 0);
    assert_true(lx_ipc_msg_parse(p, strlen(p), &m, err, sizeof err));
    free(p);
    assert_int_equal(lx_ipc_pong_models(&m, out, LX_IPC_MAX_MODEL_STATS, &present), 0);
    assert_false(present);
    lx_ipc_msg_clear(&m);
    static const char *const bad[] = {
        "\"models\":{}",
        "\"models\":[1]",
        "\"models\":[{\"model\":\"m\",\"queued\":1}]",
        "\"models\":[{\"model\":\"m\",\"queued\":-1,\"prompt_cache_bytes\":0}]",
        "\"models\":[{\"model\":\"m\",\"queued\":1.5,\"prompt_cache_bytes\":0}]",
        "\"models\":[{\"model\":\"\",\"queued\":1,\"prompt_cache_bytes\":0}]",
        "\"models\":[{\"model\":7,\"queued\":1,\"prompt_cache_bytes\":0}]",
        "\"models\":[{\"model\":\"a\\u0000b\",\"queued\":1,\"prompt_cache_bytes\":0}]",
        "\"models\":[{\"model\":\"m\",\"queued\":1,\"prompt_cache_bytes\":0,\"x\":1}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char j[512];
        snprintf(j, sizeof j, "{\"type\":\"pong\",\"session\":\"%s\",\"active\":0,%s}", sid, bad[i]);
        if (lx_ipc_msg_parse(j, strlen(j), &m, err, sizeof err)) fail_msg("accepted %s", j);
        assert_true(err[0] != 0); /* "models: ..." (a NUL is already refused by the JSON reader) */
        lx_ipc_msg_clear(&m);
    }
    /* More entries than the cap. */
    char *big = malloc(65536);
    int o = snprintf(big, 65536, "{\"type\":\"pong\",\"session\":\"%s\",\"active\":0,\"models\":[", sid);
    for (int i = 0; i <= LX_IPC_MAX_MODEL_STATS; i++)
        o += snprintf(big + o, 65536 - (size_t)o, "%s{\"model\":\"m%d\",\"queued\":0,\"prompt_cache_bytes\":0}", i ? "," : "", i);
    snprintf(big + o, 65536 - (size_t)o, "]}");
    assert_false(lx_ipc_msg_parse(big, strlen(big), &m, err, sizeof err));
    lx_ipc_msg_clear(&m);
    free(big);

    /* The metrics reader: both families merged by label, escapes undone, the rest skipped. */
    const char *text = "# TYPE llmux_local_queue_depth gauge\n"
                       "llmux_local_queue_depth{model=\"local/x\"} 2\n"
                       "llmux_local_queue_depth{model=\"local/q\\\"\\\\\"} 0\n"
                       "llmux_local_prompt_cache_bytes{model=\"local/x\"} 1048576\n"
                       "llmux_local_prompt_cache_bytes{model=\"local/y\"} -1\n"
                       "llmux_local_prompt_cache_bytes{model=\"local/y\"} NaN\n"
                       "llmux_local_queue_depth{model=\"local/z\"}\n"
                       "llmux_local_queue_depth{model=\"local/w} 1\n"
                       "llmux_local_queue_depth_other{model=\"local/v\"} 1\n"
                       "llmux_requests_total{model=\"local/x\"} 9\n"
                       "llmux_local_queue_depth{model=\"local/e\\x\"} 1\n"
                       "llmux_local_queue_depth{model=\"local/last\"} 5";
    size_t n = lx_ipc_stats_from_metrics(text, strlen(text), out, LX_IPC_MAX_MODEL_STATS);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].model, "local/x");
    assert_int_equal(out[0].queued, 2);
    assert_int_equal(out[0].prompt_cache_bytes, 1048576);
    assert_string_equal(out[1].model, "local/q\"\\");
    assert_string_equal(out[2].model, "local/last"); /* no final line feed */
    assert_int_equal(out[2].queued, 5);
    assert_int_equal(lx_ipc_stats_from_metrics(text, strlen(text), out, 1), 1); /* the cap */
    assert_int_equal(lx_ipc_stats_from_metrics("", 0, out, 4), 0);
}

static void test_codec(void **state) {
    size_t len = 0;
    uint8_t buf[16] = {0, 0, 0, 3, 'a', 'b'};
    assert_int_equal(lx_frame_peek(buf, 2, 100, &len), LX_FRAME_NEED_MORE);
    assert_int_equal(lx_frame_peek(buf, 6, 100, &len), LX_FRAME_NEED_MORE);
    assert_int_equal(len, 3);
    buf[6] = 'c';
    assert_int_equal(lx_frame_peek(buf, 7, 100, &len), LX_FRAME_OK);
    assert_int_equal(lx_frame_peek(buf, 7, 2, &len), LX_FRAME_TOO_LARGE);
    assert_int_equal(lx_frame_peek(buf, 7, 3, &len), LX_FRAME_OK); /* exactly the cap */
    uint8_t *enc;
    size_t n;
    assert_int_equal(lx_frame_encode("xyz", 3, 100, &enc, &n), LX_FRAME_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(enc, "\0\0\0\3xyz", 7);
    free(enc);
    assert_int_equal(lx_frame_encode("xyz", 3, 2, &enc, &n), LX_FRAME_TOO_LARGE);
    /* Through a pipe: a frame, a truncated one, then the end. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(lx_frame_write_fd(p[1], "{}", 2, 100), LX_FRAME_OK);
    assert_int_equal(write(p[1], "\0\0\0\x09{\"a\"", 8), 8);
    close(p[1]);
    char *out;
    assert_int_equal(lx_frame_read_fd(p[0], 100, &out, &n), LX_FRAME_OK);
    assert_string_equal(out, "{}");
    free(out);
    assert_int_equal(lx_frame_read_fd(p[0], 100, &out, &n), LX_FRAME_TRUNCATED);
    assert_null(out);
    close(p[0]);

    lx_ipc_msg m;
    char err[256];
    static const char *const bad[] = {
        "{\"type\":\"hello\"}",                                        /* no token */
        "{\"type\":\"hello\",\"token\":\"t\",\"version\":2}",          /* version */
        "{\"type\":\"welcome\",\"session\":\"abc\"}",           /* session shape */
        "{\"type\":\"request\",\"session\":\"0123456789abcdef0123456789abcdef\",\"request\":{}}", /* no id */
        "{\"type\":\"request\",\"session\":\"0123456789abcdef0123456789abcdef\",\"id\":\"1\",\"request\":[]}",
        "{\"type\":\"hello\",\"token\":\"t\",\"token\":\"u\"}",        /* duplicate key */
        "{\"type\":\"error\",\"error\":{\"status\":1}}",
        "{\"type\":\"hello\",\"token\":\"a\\u0000b\"}",                /* NUL in a string */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (lx_ipc_msg_parse(bad[i], strlen(bad[i]), &m, err, sizeof err)) fail_msg("accepted %s", bad[i]);
        lx_ipc_msg_clear(&m);
    }
    const char *ok = "{\"type\":\"cancel\",\"session\":\"0123456789abcdef0123456789abcdef\",\"id\":\"r.1:x-y_z\"}";
    assert_true(lx_ipc_msg_parse(ok, strlen(ok), &m, err, sizeof err));
    assert_int_equal(m.type, LX_IPC_CANCEL);
    assert_string_equal(m.id, "r.1:x-y_z");
    lx_ipc_msg_clear(&m);
    char tok[LX_IPC_TOKEN_HEX + 1];
    memset(tok, 'a', LX_IPC_TOKEN_HEX);
    tok[LX_IPC_TOKEN_HEX] = 0;
    assert_true(lx_ipc_token_equal(tok, tok, LX_IPC_TOKEN_HEX));
    assert_false(lx_ipc_token_equal(tok, tok, LX_IPC_TOKEN_HEX - 1));
    assert_false(lx_ipc_token_equal(tok, "", 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_pong_models),
        cmocka_unit_test(test_modes_and_handshake),
        cmocka_unit_test(test_wrong_token),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_wrong_session),
        cmocka_unit_test(test_oversized_frame),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_malformed_frames),
        cmocka_unit_test(test_multiplexed),
        cmocka_unit_test(test_cancel_one),
        cmocka_unit_test(test_disconnect_cancels),
        cmocka_unit_test(test_unread_client_cancelled),
        cmocka_unit_test(test_max_executions),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_stop_cancels_in_flight),
        cmocka_unit_test(test_stop_grace_lets_finish),
        cmocka_unit_test(test_directory_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
