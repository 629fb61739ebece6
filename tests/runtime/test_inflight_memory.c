/* Memory per in-flight remote execution: N streamed executions are submitted to an upstream that
 * holds every request, and the heap growth once all N requests arrived, divided by N, must stay
 * under a bound. Then the upstream answers and every execution completes with the right text.
 *
 * A memory bound, not a timing: nothing here depends on speed. It guards the work that brought an
 * execution from ~84 KiB of heap to under 16 KiB (docs/benchmarks.md, "Executor"): the adapter's
 * wire request (~18 KiB of fixed header slots) freed once the transfer is set up, the decoded
 * request copy in a small arena block instead of a 16 KiB one, libcurl's receive buffer at its
 * 1 KiB minimum instead of its 16 KiB default, the emitter's tool table (6 KiB) allocated on the
 * first tool call, the 4 KiB resolved target released after the start, error details (1.2 KiB
 * each: the transfer's among them) allocated only when needed, the driver's plan sized to its
 * steps.
 *
 * Why 16 KiB: the executor issue's goal. 15.8 KiB is measured here (N = 200) with libcurl 7.88 and
 * glibc 2.36, ~11 KiB of it libcurl's own (easy handle, connection, receive buffer); the figure is
 * stable to a few bytes from run to run, so the small margin holds on this toolchain, and each of
 * the items above crosses the bound on its own if it comes back (the smallest, the transfer's
 * error details, by ~1 KiB). Another libcurl may need the bound revisited: its own share is what
 * moves.
 *
 * The figure is glibc's mallinfo2().uordblks, which counts every thread's arena, so the upstream
 * runs in a forked child process and its own buffers are not counted (what the target excludes).
 * Under AddressSanitizer the allocator and allocation sizes differ (redzones), so there the
 * executions still run and are checked but the bound is not asserted. */
#define _DEFAULT_SOURCE
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <malloc.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "llmux.h"
#include "support/fake_server.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define N_INFLIGHT 200
#define BOUND_BYTES (16 * 1024)

/* The upstream, in the child: answers at once until told to hold ('h'), then keeps requests
 * until released ('r'), writing one byte to the parent when N_INFLIGHT are held. */
typedef struct holder {
    struct event_base *base;
    char *body;
    size_t body_len;
    bool hold;
    struct evhttp_request *held[N_INFLIGHT];
    int n_held;
    int note_fd;
} holder;

static void answer(holder *h, struct evhttp_request *req) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/event-stream");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, h->body, h->body_len);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg) {
    holder *h = arg;
    if (h->hold && h->n_held < N_INFLIGHT) {
        h->held[h->n_held++] = req;
        if (h->n_held == N_INFLIGHT && write(h->note_fd, "n", 1) != 1) _exit(3);
        return;
    }
    answer(h, req);
}

static void on_ctl(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    holder *h = arg;
    char c;
    if (read(fd, &c, 1) != 1) {
        event_base_loopbreak(h->base); /* the parent is done */
        return;
    }
    if (c == 'h') {
        h->hold = true;
        if (write(h->note_fd, "a", 1) != 1) _exit(3); /* the parent measures from here */
    }
    if (c == 'r') {
        h->hold = false;
        for (int i = 0; i < h->n_held; i++) answer(h, h->held[i]);
        h->n_held = 0;
    }
}

typedef struct upstream {
    pid_t child;
    int port;
    int ctl_fd;  /* to the child */
    int note_fd; /* from the child */
} upstream;

static void upstream_start(upstream *u) {
    int ctl[2], note[2];
    assert_int_equal(pipe(ctl), 0);
    assert_int_equal(pipe(note), 0);
    /* Bound before the fork so the parent knows the port; served only by the child. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 1024), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    u->port = ntohs(sa.sin_port);
    u->child = fork();
    assert_true(u->child >= 0);
    if (u->child == 0) {
        close(ctl[1]);
        close(note[0]);
        static holder h;
        h.body = lx_fake_read_file("tests/data/fake/openai/stream_text.sse", &h.body_len);
        if (!h.body) _exit(2);
        h.note_fd = note[1];
        h.base = event_base_new();
        struct evhttp *http = evhttp_new(h.base);
        if (!http || evutil_make_socket_nonblocking(fd) != 0 || !evhttp_accept_socket_with_handle(http, fd)) _exit(2);
        evhttp_set_gencb(http, on_request, &h);
        struct event *ctl_ev = event_new(h.base, ctl[0], EV_READ | EV_PERSIST, on_ctl, &h);
        event_add(ctl_ev, NULL);
        event_base_dispatch(h.base);
        _exit(0);
    }
    close(fd);
    close(ctl[0]);
    close(note[1]);
    u->ctl_fd = ctl[1];
    u->note_fd = note[0];
}

static void upstream_stop(upstream *u) {
    close(u->ctl_fd); /* EOF ends the child's loop */
    close(u->note_fd);
    int status = 0;
    assert_int_equal(waitpid(u->child, &status, 0), u->child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msg = {.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1};

static llmux_execution *submit(llmux_runtime *rt) {
    llmux_request req = llmux_request_default();
    req.model = "up/m";
    req.messages = &k_msg;
    req.n_messages = 1;
    req.stream = true;
    llmux_submit_params sp = llmux_submit_default_params();
    llmux_execution *ex = NULL;
    assert_int_equal(llmux_submit(rt, &req, &sp, &ex, NULL), LLMUX_OK);
    return ex;
}

/* Waits for ex and checks it streamed the recorded answer. */
static void finish(llmux_execution *ex) {
    llmux_response *r = NULL;
    llmux_error_info e;
    assert_int_equal(llmux_execution_wait(ex, &r, &e), LLMUX_OK);
    assert_non_null(r);
    assert_int_equal(r->finish_reason, LLMUX_FINISH_STOP);
    assert_string_equal(llmux_response_text(r), "Hello, world!");
    llmux_response_free(r);
    llmux_execution_free(ex);
}

static void test_heap_per_inflight_execution(void **state) {
    (void)state;
    upstream u;
    upstream_start(&u);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", u.port);
    llmux_provider_params p = {.name = "up", .protocol = "openai", .base_url = url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &p;
    rp.n_providers = 1;
    llmux_runtime *rt = NULL;
    assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);

    /* Warm up: the runtime's, libcurl's and the allocator's one-time allocations. */
    for (int i = 0; i < 20; i++) finish(submit(rt));

    char c;
    assert_int_equal(write(u.ctl_fd, "h", 1), 1);
    assert_int_equal(read(u.note_fd, &c, 1), 1); /* holding from now on */
    size_t heap0 = mallinfo2().uordblks;
    static llmux_execution *exs[N_INFLIGHT];
    for (int i = 0; i < N_INFLIGHT; i++) exs[i] = submit(rt);
    assert_int_equal(read(u.note_fd, &c, 1), 1); /* all N_INFLIGHT requests are held upstream */
    size_t heap1 = mallinfo2().uordblks;
    double per = heap1 > heap0 ? (double)(heap1 - heap0) / N_INFLIGHT : 0;
    print_message("heap per in-flight execution: %.0f bytes (bound %d)%s\n", per, BOUND_BYTES,
                  UNDER_ASAN ? "; not asserted under AddressSanitizer" : "");
    if (!UNDER_ASAN) assert_true(per < BOUND_BYTES);

    assert_int_equal(write(u.ctl_fd, "r", 1), 1);
    for (int i = 0; i < N_INFLIGHT; i++) finish(exs[i]);
    llmux_runtime_destroy(rt);
    upstream_stop(&u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_per_inflight_execution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
