/* The loop gate; see loop_gate.h. */
#define _POSIX_C_SOURCE 200809L
#include "transport/loop_gate.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct lx_loop_gate {
    pthread_mutex_t mu;          /* guards everything below; held while base is inspected */
    pthread_cond_t cv;
    struct event_base *base;     /* NULL once closed */
    uint64_t asked, done;        /* zero timers scheduled, and run */
};

typedef struct gate_fds {
    struct pollfd fds[LX_LOOP_GATE_MAX_FDS];
    int n;
    bool too_many;
} gate_fds;

/* Runs under base's lock (event_base_foreach_event): only collects. */
static int collect(const struct event_base *base, const struct event *ev, void *arg) {
    (void)base;
    gate_fds *g = arg;
    evutil_socket_t fd = event_get_fd(ev);
    /* The iteration lists added (or active) events only: a bufferevent whose reading is disabled
     * (backpressure) has deleted its read event, so its unread bytes do not count. */
    if (fd < 0 || !(event_get_events(ev) & EV_READ)) return 0;
    if (g->n == LX_LOOP_GATE_MAX_FDS) {
        g->too_many = true;
        return 1; /* stop */
    }
    g->fds[g->n++] = (struct pollfd){.fd = fd, .events = POLLIN};
    return 0;
}

static bool input_pending(struct event_base *base) {
    gate_fds g;
    g.n = 0;
    g.too_many = false;
    if (event_base_foreach_event(base, collect, &g) < 0 || g.too_many || g.n == 0) return false;
    return poll(g.fds, (nfds_t)g.n, 0) > 0;
}

/* On the loop thread, after the descriptors its turn found ready were dispatched. */
static void on_turn(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_loop_gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->done++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

lx_loop_gate *lx_loop_gate_create(struct event_base *base) {
    lx_loop_gate *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_init(&g->mu, NULL);
    g->base = base;
    return g;
}

bool lx_loop_gate_settle(lx_loop_gate *g, int64_t timeout_ns) {
    if (!g) return false;
    pthread_mutex_lock(&g->mu);
    bool wait = g->base && input_pending(g->base);
    uint64_t want = g->asked + 1;
    /* The timer's callback gets g, which outlives base (the owner closes the gate, frees the
     * loop, and only then destroys the gate; a timer still pending dies with base). Not a zero
     * timeout: event_base_once activates that at once, ahead of the descriptors the next poll
     * finds ready; a timer due in 1 us goes through the timer heap, which libevent processes
     * after the poll, so its callback runs after theirs. */
    static const struct timeval soon = {0, 1};
    if (wait) wait = event_base_once(g->base, -1, EV_TIMEOUT, on_turn, g, &soon) == 0;
    if (wait) {
        g->asked = want;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += timeout_ns / 1000000000;
        until.tv_nsec += timeout_ns % 1000000000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (g->done < want && g->base)
            if (pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0) break;
    }
    pthread_mutex_unlock(&g->mu);
    return wait;
}

void lx_loop_gate_close(lx_loop_gate *g) {
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->base = NULL;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void lx_loop_gate_destroy(lx_loop_gate *g) {
    if (!g) return;
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
