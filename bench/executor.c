/* Executor benchmark: what an execution costs on one runtime against an in-process upstream
 * (a libevent HTTP server on its own thread answering with a recorded OpenAI stream).
 *   1. memory per in-flight remote execution: N executions submitted to an upstream (in a forked
 *      child process, so its own buffers are not counted) that holds every request; RSS and heap
 *      growth / N once all N requests arrived (includes libcurl's per-transfer and per-connection
 *      state);
 *   2. latency of one execution alone, submit -> first event and submit -> done, p50/p99;
 *   3. executions per second with 256 in flight on the one loop thread.
 * Prints numbers; not a test. Run from the repository root:
 *   build/bin/bench_executor [N_INFLIGHT=2000] [N_LATENCY=2000] [N_THROUGHPUT=20000] */
#define _DEFAULT_SOURCE
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "llmux.h"

typedef struct upstream {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    char *body;
    size_t body_len;
    atomic_int requests;
    int hold;                        /* hold requests instead of answering */
    struct evhttp_request **held;
    int n_held, cap_held;
    int ctl_fd;                      /* commands from the parent: 'h' hold, 'r' release */
    int note_fd;                     /* to the parent: one byte when cap_held requests are held */
} upstream;

static void answer(upstream *u, struct evhttp_request *req) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/event-stream");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, u->body, u->body_len);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg) {
    upstream *u = arg;
    atomic_fetch_add(&u->requests, 1);
    if (u->hold && u->n_held < u->cap_held) {
        u->held[u->n_held++] = req;
        if (u->n_held == u->cap_held && write(u->note_fd, "n", 1) != 1) abort();
        return;
    }
    answer(u, req);
}

static void on_ctl(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    upstream *u = arg;
    char c;
    if (read(fd, &c, 1) != 1) {
        event_base_loopbreak(u->base);
        return;
    }
    if (c == 'h') u->hold = 1;
    if (c == 'r') {
        u->hold = 0;
        for (int i = 0; i < u->n_held; i++) answer(u, u->held[i]);
        u->n_held = 0;
    }
}


static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = malloc(1 << 20);
    *len = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    return b;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = atol(line + 6);
    if (f) fclose(f);
    return kib;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct timing {
    double t_submit, t_first;
    atomic_int first_seen;
} timing;

static bool on_event(const llmux_event *ev, void *ud) {
    timing *t = ud;
    if (t && ev->type == LLMUX_EVENT_TEXT_DELTA && !atomic_exchange(&t->first_seen, 1)) t->t_first = now_ms();
    return true;
}

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msg = {.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1};

static llmux_status submit(llmux_runtime *rt, timing *t, llmux_execution **ex) {
    llmux_request req = llmux_request_default();
    req.model = "up/m";
    req.messages = &k_msg;
    req.n_messages = 1;
    req.stream = true;
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_event = on_event;
    sp.user_data = t;
    return llmux_submit(rt, &req, &sp, ex, NULL);
}

static void finish(llmux_execution *ex) {
    llmux_response *r = NULL;
    if (llmux_execution_wait(ex, &r, NULL) != LLMUX_OK) {
        fprintf(stderr, "bench_executor: an execution failed\n");
        exit(1);
    }
    llmux_response_free(r);
    llmux_execution_free(ex);
}

int main(int argc, char **argv) {
    int n_inflight = argc > 1 ? atoi(argv[1]) : 2000;
    int n_latency = argc > 2 ? atoi(argv[2]) : 2000;
    int n_tput = argc > 3 ? atoi(argv[3]) : 20000;
    upstream u;
    memset(&u, 0, sizeof u);
    u.body = read_file("tests/data/fake/openai/stream_text.sse", &u.body_len);
    if (!u.body) return 1;
    int ctl[2], note[2];
    if (pipe(ctl) != 0 || pipe(note) != 0) return 1;
    u.base = event_base_new();
    u.http = evhttp_new(u.base);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(u.http, "127.0.0.1", 0);
    if (!bs) return 1;
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl);
    u.port = ntohs(sa.sin_port);
    u.cap_held = n_inflight;
    u.held = calloc((size_t)n_inflight, sizeof *u.held);
    evhttp_set_gencb(u.http, on_request, &u);
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) { /* the upstream: its own process, its own memory */
        close(ctl[1]);
        close(note[0]);
        u.ctl_fd = ctl[0];
        u.note_fd = note[1];
        event_reinit(u.base);
        struct event *ctl_ev = event_new(u.base, u.ctl_fd, EV_READ | EV_PERSIST, on_ctl, &u);
        event_add(ctl_ev, NULL);
        event_base_dispatch(u.base);
        _exit(0);
    }
    close(ctl[0]);
    close(note[1]);
    evhttp_free(u.http); /* the parent's copies: the child serves */
    event_base_free(u.base);
    free(u.body);
    free(u.held);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", u.port);
    llmux_provider_params p = {.name = "up", .protocol = "openai", .base_url = url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &p;
    rp.n_providers = 1;
    llmux_runtime *rt = NULL;
    if (llmux_runtime_create(&rp, &rt, NULL) != LLMUX_OK) return 1;

    /* Warm up (the upstream's and our first allocations). */
    for (int i = 0; i < 50; i++) {
        llmux_execution *ex;
        submit(rt, NULL, &ex);
        finish(ex);
    }

    /* 1. Memory per in-flight execution. */
    if (write(ctl[1], "h", 1) != 1) return 1;
    usleep(100000);
    long rss0 = rss_kib();
    size_t heap0 = mallinfo2().uordblks;
    llmux_execution **exs = calloc((size_t)n_inflight, sizeof *exs);
    for (int i = 0; i < n_inflight; i++) submit(rt, NULL, &exs[i]);
    char note_byte;
    if (read(note[0], &note_byte, 1) != 1) return 1; /* all N requests are held upstream */
    usleep(100000);
    long rss1 = rss_kib();
    size_t heap1 = mallinfo2().uordblks;
    if (write(ctl[1], "r", 1) != 1) return 1;
    for (int i = 0; i < n_inflight; i++) finish(exs[i]);
    printf("in_flight_executions %d\n", n_inflight);
    printf("rss_per_in_flight_kib %.2f\n", (double)(rss1 - rss0) / n_inflight);
    printf("heap_per_in_flight_kib %.2f\n", (double)(heap1 - heap0) / 1024.0 / n_inflight);

    /* 2. One at a time: submit -> first text event, submit -> done. */
    double *first = calloc((size_t)n_latency, sizeof *first), *done = calloc((size_t)n_latency, sizeof *done);
    for (int i = 0; i < n_latency; i++) {
        timing t = {.t_submit = now_ms()};
        llmux_execution *ex;
        submit(rt, &t, &ex);
        finish(ex);
        done[i] = now_ms() - t.t_submit;
        first[i] = t.t_first - t.t_submit;
    }
    qsort(first, (size_t)n_latency, sizeof *first, cmp_double);
    qsort(done, (size_t)n_latency, sizeof *done, cmp_double);
    printf("first_event_ms_p50 %.3f\nfirst_event_ms_p99 %.3f\n", first[n_latency / 2], first[n_latency * 99 / 100]);
    printf("done_ms_p50 %.3f\ndone_ms_p99 %.3f\n", done[n_latency / 2], done[n_latency * 99 / 100]);

    /* 3. Throughput: 256 in flight, refilled as they complete. */
    enum { WINDOW = 256 };
    llmux_execution *win[WINDOW];
    double t0 = now_ms();
    int started = 0, completed = 0;
    for (; started < WINDOW && started < n_tput; started++) submit(rt, NULL, &win[started % WINDOW]);
    while (completed < n_tput) {
        finish(win[completed % WINDOW]);
        completed++;
        if (started < n_tput) {
            submit(rt, NULL, &win[started % WINDOW]);
            started++;
        }
    }
    double secs = (now_ms() - t0) / 1e3;
    printf("executions_per_second %.0f\n", n_tput / secs);

    llmux_runtime_destroy(rt);
    close(ctl[1]); /* the child's loop ends on EOF */
    waitpid(child, NULL, 0);
    return 0;
}
