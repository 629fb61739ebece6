/* The IPC server's lifecycle (ipc.h): the listener on the runtime's loop, drain and stop. Every
 * function here except the exported ones runs on the loop thread. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/loop_sync.h"
#include "server/ipc/internal.h"

lx_ipc_params lx_ipc_default_params(void) {
    return (lx_ipc_params){.path = NULL,
                           .max_frame_bytes = LX_FRAME_DEFAULT_MAX,
                           .max_executions = LX_IPC_DEFAULT_MAX_EXECUTIONS,
                           .max_unsent_bytes = LX_IPC_DEFAULT_MAX_UNSENT,
                           .max_connections = LX_IPC_DEFAULT_MAX_CONNECTIONS,
                           .handshake_timeout_ms = LX_IPC_DEFAULT_HANDSHAKE_MS,
                           .opened = NULL,
                           .inherited_fd = -1,
                           .local_only = false,
                           .sandbox_landlock_abi = -1};
}

const char *lx_ipc_server_token_path(const lx_ipc_server *s) { return s->ep.token_path; }

int lx_ipc_server_active(lx_ipc_server *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->active;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int lx_ipc_server_connections(lx_ipc_server *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->n_conns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ------------------------------------------------------- loop hand-offs */

/* The loop-owned steps of start and stop run through one hop onto the loop (loop_sync.h). */
typedef struct on_loop {
    lx_ipc_server *s;
    void (*fn)(lx_ipc_server *s);
} on_loop;

static void on_loop_run(void *arg) {
    on_loop *o = arg;
    o->fn(o->s);
}

/* Runs fn on the loop thread and waits for it. False when the runtime refused the post. */
static bool run_on_loop(lx_ipc_server *s, void (*fn)(lx_ipc_server *s)) {
    on_loop o = {.s = s, .fn = fn};
    return lx_run_on_loop_wait(s->rt, on_loop_run, &o);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *a, int len, void *arg) {
    lx_ipc_conn_accept(arg, fd, false);
}

static void setup(lx_ipc_server *s) {
    s->base = llmux_runtime_event_base(s->rt);
    if (s->p.inherited_fd >= 0) {
        /* One connection, no listener: the server is its peer's alone. */
        s->accepting = true;
        s->ok = true;
        lx_ipc_conn_accept(s, s->p.inherited_fd, true);
        return;
    }
    /* The endpoint made the socket listen already (backlog 0 = leave it as it is). */
    s->listener = evconnlistener_new(s->base, on_accept, s, LEV_OPT_CLOSE_ON_EXEC, 0, s->ep.fd);
    if (!s->listener) {
        snprintf(s->setup_msg, sizeof s->setup_msg, "out of memory creating the IPC listener");
        return;
    }
    s->accepting = true;
    s->ok = true;
}

static void drain(lx_ipc_server *s) {
    s->accepting = false;
    if (s->listener) evconnlistener_free(s->listener);
    s->listener = NULL;
    lx_ipc_endpoint_close(&s->ep);
}

static void cancel_all(lx_ipc_server *s) { lx_ipc_conn_cancel_all(s); }
static void teardown(lx_ipc_server *s) {
    lx_ipc_conn_close_all(s);
    lx_ipc_calls_free(s);
}
static void count_unsent(lx_ipc_server *s) { s->unsent = lx_ipc_conn_unsent(s); }

static void fill_err(llmux_error_info *err, llmux_status st, const char *msg) {
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->status = st;
    err->retry_after_ms = -1;
    snprintf(err->message, sizeof err->message, "%s", msg);
}

llmux_status lx_ipc_server_start(llmux_runtime *rt, const lx_ipc_params *p, lx_ipc_server **out, llmux_error_info *err) {
    *out = NULL;
    if (!p || p->max_frame_bytes < 1024 || p->max_frame_bytes > LLMUX_JSON_MAX_BYTES || p->max_executions < 1 ||
        p->max_connections < 1 || p->handshake_timeout_ms < 1 || p->max_unsent_bytes < 1) {
        fill_err(err, LLMUX_E_INVALID_REQUEST, "IPC server: a limit is out of range");
        return LLMUX_E_INVALID_REQUEST;
    }
    lx_ipc_server *s = calloc(1, sizeof *s);
    if (!s) {
        fill_err(err, LLMUX_E_OUT_OF_MEMORY, "out of memory starting the IPC server");
        return LLMUX_E_OUT_OF_MEMORY;
    }
    s->rt = rt;
    s->p = *p;
    s->ep.fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    char msg[300];
    if (p->inherited_fd >= 0) {
        if (!run_on_loop(s, setup)) {
            close(p->inherited_fd); /* owned from the call on */
            snprintf(s->setup_msg, sizeof s->setup_msg, "the runtime is shutting down");
        }
    } else if (p->opened) {
        s->ep = *p->opened; /* taken over: the caller's copy must not be closed */
        p->opened->fd = -1;
        p->opened->path[0] = 0;
        if (!run_on_loop(s, setup)) snprintf(s->setup_msg, sizeof s->setup_msg, "the runtime is shutting down");
    } else if (!lx_ipc_endpoint_open(p->path, &s->ep, msg, sizeof msg)) {
        snprintf(s->setup_msg, sizeof s->setup_msg, "%s", msg);
    } else if (!run_on_loop(s, setup)) {
        snprintf(s->setup_msg, sizeof s->setup_msg, "the runtime is shutting down");
    }
    s->p.path = s->ep.path;
    s->p.opened = NULL;
    if (!s->ok) {
        fill_err(err, LLMUX_E_CONFIGURATION, s->setup_msg);
        if (!run_on_loop(s, drain)) lx_ipc_endpoint_close(&s->ep);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return LLMUX_E_CONFIGURATION;
    }
    *out = s;
    return LLMUX_OK;
}

void lx_ipc_server_drain(lx_ipc_server *s) {
    if (s) run_on_loop(s, drain);
}

/* Waits until no execution is in flight or the deadline passed; true when idle. */
static bool wait_idle(lx_ipc_server *s, int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (s->active > 0 && rc == 0) rc = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    bool idle = s->active == 0;
    pthread_mutex_unlock(&s->mu);
    return idle;
}

void lx_ipc_server_stop(lx_ipc_server *s, int64_t grace_ms) {
    if (!s) return;
    run_on_loop(s, drain);
    if (!wait_idle(s, grace_ms > 0 ? grace_ms : 0)) {
        run_on_loop(s, cancel_all);
        /* Cancelled executions end within a loop turn or a decode step; the bound only keeps a
         * bug from hanging the process forever. */
        wait_idle(s, 30000);
    }
    /* The last responses may still be queued: a client that reads gets them; one that does not
     * cannot hold the process for more than a moment. */
    for (int i = 0; i < 200; i++) {
        if (!run_on_loop(s, count_unsent) || s->unsent == 0) break;
        usleep(10000);
    }
    /* Calls still running were cancelled above; their threads end once the blocking calls
     * return, and their answers were posted before the teardown below (FIFO). */
    run_on_loop(s, cancel_all);
    lx_ipc_calls_join(s);
    run_on_loop(s, teardown);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
