/* `llmux serve --unix` (src/server/ipc/): what the IPC layer costs. An in-process IPC server on a
 * runtime with the bundled model, a C client on the real socket:
 *   1. connect + hello + welcome, per connection;
 *   2. pipelined requests the runtime refuses at once (unknown provider): the round trip of a frame
 *      through parsing, llmux_request_from_json, llmux_submit and the error frame;
 *   3. the codec and parser alone on a typical request frame;
 *   4. the bundled model generating N tokens through llmux_run directly and through IPC (streamed),
 *      so the IPC overhead per token shows next to decoding.
 * Each figure is the median of 5 runs. Run from the repository root:
 *   build/bin/bench_ipc [N_TOKENS] */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "llmux.h"
#include "server/ipc/endpoint.h"
#include "core/ipc_frame.h"
#include "server/ipc/frame_io.h"
#include "server/ipc/ipc.h"
#include "core/ipc_message.h"

#define RUNS 5

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v) {
    qsort(v, RUNS, sizeof *v, cmp);
    return v[RUNS / 2];
}

static void die(const char *what) {
    fprintf(stderr, "bench_ipc: %s\n", what);
    exit(1);
}

static int connect_to(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
    return fd;
}

static void send_msg(int fd, char *json) {
    if (!json || lx_frame_write_fd(fd, json, strlen(json), LX_FRAME_DEFAULT_MAX) != LX_FRAME_OK) die("write");
    free(json);
}

static void read_msg(int fd, lx_ipc_msg *m) {
    char *p;
    size_t n;
    char err[256];
    if (lx_frame_read_fd(fd, LX_FRAME_DEFAULT_MAX, &p, &n) != LX_FRAME_OK) die("read");
    if (!lx_ipc_msg_parse(p, n, m, err, sizeof err)) die(err);
    free(p);
}

static int open_session(const char *path, const char *token, char *session) {
    int fd = connect_to(path);
    send_msg(fd, lx_ipc_hello(token));
    lx_ipc_msg m;
    read_msg(fd, &m);
    if (m.type != LX_IPC_WELCOME) die("no welcome");
    snprintf(session, LX_IPC_SESSION_HEX + 1, "%s", m.session);
    lx_ipc_msg_clear(&m);
    return fd;
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int events;
} waiter;

static bool submit_event(const llmux_event *ev, void *ud) {
    ((waiter *)ud)->events++;
    return true;
}

static void submit_done(llmux_execution *ex, void *ud) {
    waiter *w = ud;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The same generation through llmux_submit (callbacks on the loop thread), the server's path
 * without the socket; seconds. */
static double run_submit(llmux_runtime *rt, const llmux_request *req, int *events) {
    waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_event = submit_event;
    sp.on_done = submit_done;
    sp.user_data = &w;
    llmux_execution *ex;
    llmux_error_info err;
    double t0 = now_s();
    if (llmux_submit(rt, req, &sp, &ex, &err) != LLMUX_OK) die(err.message);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    double t = now_s() - t0;
    llmux_execution_free(ex);
    *events = w.events;
    return t;
}

static bool count_event(const llmux_event *ev, void *ud) {
    (*(int *)ud)++;
    return true;
}

int main(int argc, char **argv) {
    int n_tokens = argc > 1 ? atoi(argv[1]) : 64;
    signal(SIGPIPE, SIG_IGN);
    llmux_runtime_params rp = llmux_runtime_default_params();
    const char *dirs[] = {"models"};
    rp.model_dirs = dirs;
    rp.n_model_dirs = 1;
    /* BENCH_THREADS: the engine's decode threads (default: the runtime's). */
    if (getenv("BENCH_THREADS")) rp.n_threads = atoi(getenv("BENCH_THREADS"));
    llmux_runtime *rt;
    llmux_error_info err;
    if (llmux_runtime_create(&rp, &rt, &err) != LLMUX_OK) die(err.message);
    char dir[64] = "/tmp/bench-ipc-XXXXXX", path[128];
    if (!mkdtemp(dir)) die("mkdtemp");
    snprintf(path, sizeof path, "%s/llmux.sock", dir);
    lx_ipc_params p = lx_ipc_default_params();
    p.path = path;
    lx_ipc_server *srv;
    if (lx_ipc_server_start(rt, &p, &srv, &err) != LLMUX_OK) die(err.message);
    char token[LX_IPC_TOKEN_HEX + 1], msg[256];
    if (!lx_ipc_token_read(lx_ipc_server_token_path(srv), token, msg, sizeof msg)) die(msg);
    char session[LX_IPC_SESSION_HEX + 1];
    double v[RUNS];

    /* 1. handshakes */
    enum { N_HS = 500 };
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        for (int i = 0; i < N_HS; i++) close(open_session(path, token, session));
        v[r] = (now_s() - t0) / N_HS * 1e6;
    }
    printf("connect + hello + welcome: %.1f us per connection\n", median(v));

    /* 2. pipelined refused requests on one connection */
    enum { N_REQ = 5000, WINDOW = 32 };
    int fd = open_session(path, token, session);
    const char *req = "{\"model\":\"nope/x\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        int sent = 0, got = 0;
        while (got < N_REQ) {
            while (sent < N_REQ && sent - got < WINDOW) {
                char id[32];
                snprintf(id, sizeof id, "r%d", sent++);
                send_msg(fd, lx_ipc_wrap(LX_IPC_REQUEST, session, id, req));
            }
            lx_ipc_msg m;
            read_msg(fd, &m);
            if (m.type != LX_IPC_ERROR) die("expected a refusal");
            lx_ipc_msg_clear(&m);
            got++;
        }
        v[r] = N_REQ / (now_s() - t0);
    }
    printf("refused requests, %d in flight: %.0f round trips/s\n", WINDOW, median(v));

    /* 3. codec + parser alone */
    char *frame_json = lx_ipc_wrap(LX_IPC_REQUEST, session, "r1", req);
    uint8_t *enc;
    size_t enc_len;
    if (lx_frame_encode(frame_json, strlen(frame_json), LX_FRAME_DEFAULT_MAX, &enc, &enc_len) != LX_FRAME_OK) die("encode");
    enum { N_PARSE = 200000 };
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        for (int i = 0; i < N_PARSE; i++) {
            size_t len;
            lx_ipc_msg m;
            if (lx_frame_peek(enc, enc_len, LX_FRAME_DEFAULT_MAX, &len) != LX_FRAME_OK ||
                !lx_ipc_msg_parse((const char *)enc + 4, len, &m, msg, sizeof msg))
                die("parse");
            lx_ipc_msg_clear(&m);
        }
        v[r] = N_PARSE / (now_s() - t0);
    }
    printf("frame peek + message parse (%zu-byte request frame): %.0f frames/s\n", enc_len, median(v));
    free(enc);
    free(frame_json);

    /* 4. the bundled model: llmux_run vs IPC */
    char gen[256];
    snprintf(gen, sizeof gen,
             "{\"model\":\"local/llmux-fortunes\",\"stream\":true,\"max_tokens\":%d,\"temperature\":0,"
             "\"stop\":[\"\\u0001\"],\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
             n_tokens);
    llmux_request *lreq;
    if (llmux_request_from_json(gen, strlen(gen), &lreq, &err) != LLMUX_OK) die(err.message);
    double direct[RUNS], via[RUNS], submitted[RUNS];
    int events_direct = 0, events_ipc = 0, events_submit = 0;
    for (int r = 0; r < RUNS; r++) {
        llmux_run_params run = llmux_run_default_params();
        int n = 0;
        run.on_event = count_event;
        run.user_data = &n;
        llmux_response *resp = NULL;
        double t0 = now_s();
        if (llmux_run(rt, lreq, &run, &resp, &err) != LLMUX_OK) die(err.message);
        direct[r] = now_s() - t0;
        events_direct = n;
        llmux_response_free(resp);
        submitted[r] = run_submit(rt, lreq, &events_submit);
        t0 = now_s();
        send_msg(fd, lx_ipc_wrap(LX_IPC_REQUEST, session, "gen", gen));
        n = 0;
        for (;;) {
            lx_ipc_msg m;
            read_msg(fd, &m);
            bool done = m.type == LX_IPC_RESPONSE;
            if (m.type == LX_IPC_EVENT) n++;
            if (m.type == LX_IPC_ERROR) die(m.err_message);
            lx_ipc_msg_clear(&m);
            if (done) break;
        }
        via[r] = now_s() - t0;
        events_ipc = n;
    }
    double d = median(direct), i = median(via), sub = median(submitted);
    printf("bundled model, %d tokens: llmux_submit %.1f ms (%d events)\n", n_tokens, sub * 1e3, events_submit);
    printf("bundled model, %d tokens: llmux_run %.1f ms (%d events), IPC %.1f ms (%d events + response): "
           "%+.2f ms, %+.1f us per event\n",
           n_tokens, d * 1e3, events_direct, i * 1e3, events_ipc, (i - d) * 1e3,
           events_ipc ? (i - d) * 1e6 / events_ipc : 0.0);
    llmux_request_free(lreq);
    close(fd);
    lx_ipc_server_stop(srv, 0);
    llmux_runtime_destroy(rt);
    rmdir(dir);
    return 0;
}
