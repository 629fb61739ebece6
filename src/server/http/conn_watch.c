/* See conn_watch.h. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>

#include "server/http/conn_watch.h"

struct lx_conn_watch {
    struct evhttp_connection *evcon;
    struct event *timer;
    void (*gone)(void *arg);
    void *arg;
};

static void arm(lx_conn_watch *w) {
    struct timeval tv = {.tv_sec = 0, .tv_usec = LX_CONN_WATCH_MS * 1000};
    evtimer_add(w->timer, &tv);
}

static void tick(evutil_socket_t unused, short what, void *arg) {
    (void)unused;
    (void)what;
    lx_conn_watch *w = arg;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(w->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0) return;
    char c;
    ssize_t k = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        w->gone(w->arg); /* once: the timer is not armed again */
        return;
    }
    arm(w);
}

lx_conn_watch *lx_conn_watch_start(struct event_base *base, struct evhttp_connection *evcon, void (*gone)(void *arg),
                                   void *arg) {
    if (!evcon) return NULL;
    lx_conn_watch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    *w = (lx_conn_watch){.evcon = evcon, .gone = gone, .arg = arg};
    if (!(w->timer = evtimer_new(base, tick, w))) {
        free(w);
        return NULL;
    }
    arm(w);
    return w;
}

void lx_conn_watch_stop(lx_conn_watch *w) {
    if (!w) return;
    event_free(w->timer);
    free(w);
}
