/* The HTTP client's event loop; see http_loop.h. */
#include "transport/http_loop.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <stdlib.h>

#include "transport/http.h"

/* A curl socket and the event watching it. Kept in a list so that any socket libcurl never told
 * us to forget is still freed at the end. */
typedef struct sock {
    curl_socket_t fd;
    struct event *ev;
    lx_http_loop *loop;
    struct sock *next, *prev;
} sock;

typedef struct post {
    void (*fn)(void *arg);
    void *arg;
    struct post *next;
} post;

struct lx_http_loop {
    struct event_base *base;
    CURLM *multi;
    struct event *curl_timer; /* libcurl's single timeout */
    struct event *wake;       /* activated from other threads: the queue changed or stopping */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;       /* guards queue, stopping, users, each job's done */
    pthread_cond_t users_cv;
    lx_http_job *queue;       /* submitted, not yet added (LIFO order does not matter: all run at once) */
    struct post *posts, *posts_tail; /* lx_http_loop_post calls not yet run (FIFO) */
    bool stopping;
    int users;                /* callers between enter and leave */

    /* Loop-thread only. */
    lx_http_job *active;
    size_t n_active;          /* jobs in `active` */
    long max_conns;           /* CURLMOPT_MAXCONNECTS as last set (pool_follow) */
    sock *socks;
};

/* The bounds of libcurl's pool (connections idle and in use together; pool_follow). */
#define LX_HTTP_POOL_MIN 64
#define LX_HTTP_POOL_MAX 1024

static pthread_once_t g_evthread_once = PTHREAD_ONCE_INIT;
static int g_evthread_result = -1;

static void evthread_init(void) { g_evthread_result = evthread_use_pthreads(); }

/* ------------------------------------------------------------ job endings */

static void job_finish(lx_http_loop *l, lx_http_job *job, lx_http_job_end end) {
    if (job->timer) {
        event_free(job->timer);
        job->timer = NULL;
    }
    if (end != LX_HTTP_JOB_ADD_FAILED && end != LX_HTTP_JOB_SHUTDOWN) {
        /* Removing an unfinished transfer makes libcurl close its HTTP/1.1 connection (never
         * reused) or reset its HTTP/2 stream. */
        curl_multi_remove_handle(l->multi, job->easy);
    }
    bool linked = job->prev || l->active == job;
    if (job->prev) job->prev->next = job->next;
    else if (l->active == job) l->active = job->next;
    if (job->next) job->next->prev = job->prev;
    job->next = job->prev = NULL;
    if (linked) l->n_active--;
    if (job->on_end) {
        job->end = end;
        job->done = true;
        job->on_end(job); /* the job may be gone after this */
        return;
    }
    pthread_mutex_lock(&l->mu);
    job->end = end;
    job->done = true;
    pthread_cond_signal(&job->cv);
    pthread_mutex_unlock(&l->mu);
}

static void check_done(lx_http_loop *l) {
    CURLMsg *msg;
    int queued;
    while ((msg = curl_multi_info_read(l->multi, &queued)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        char *priv = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv) continue;
        lx_http_job *job = (lx_http_job *)(void *)priv;
        job->result = result;
        job_finish(l, job, LX_HTTP_JOB_COMPLETED);
    }
}

/* ------------------------------------------------------- curl <-> libevent */

static void on_socket_event(evutil_socket_t fd, short what, void *arg) {
    lx_http_loop *l = arg;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(l->multi, fd, flags, &running);
    check_done(l);
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_http_loop *l = arg;
    int running;
    curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(l);
}

static void sock_free(lx_http_loop *l, sock *s) {
    if (s->prev) s->prev->next = s->next;
    else l->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    event_free(s->ev);
    free(s);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    lx_http_loop *l = userp;
    sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(l->multi, fd, NULL);
            sock_free(l, s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return -1;
        s->fd = fd;
        s->loop = l;
        s->next = l->socks;
        if (l->socks) l->socks->prev = s;
        l->socks = s;
        curl_multi_assign(l->multi, fd, s);
    }
    short ev = (short)(EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0));
    if (s->ev) {
        event_del(s->ev);
        if (event_assign(s->ev, l->base, fd, ev, on_socket_event, l) != 0) return -1;
    } else {
        s->ev = event_new(l->base, fd, ev, on_socket_event, l);
        if (!s->ev) return -1;
    }
    return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    lx_http_loop *l = userp;
    if (timeout_ms < 0) return evtimer_del(l->curl_timer) == 0 ? 0 : -1;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    return evtimer_add(l->curl_timer, &tv) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------- job timers */

static void arm(lx_http_job *job, int ms) {
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(job->timer, &tv);
}

static void on_job_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_http_job *job = arg;
    int next_ms = LX_HTTP_POLL_MS;
    llmux_status st = job->tick(job->ud, &next_ms);
    if (st != LLMUX_OK) {
        job->aborted = st;
        job_finish(job->loop, job, LX_HTTP_JOB_ABORTED);
        return;
    }
    arm(job, next_ms < 1 ? 1 : next_ms);
}

/* libcurl's pool keeps at most 4x the transfers added at the moment a connection falls idle
 * (curl lib/conncache.c, Curl_conncache_return_conn: maxconnects defaults to num_easy * 4,
 * counted over every connection, idle or not) and closes the oldest idle one beyond that. Under
 * a load whose concurrency dips between requests, that closes keep-alive connections made a
 * moment before: bench/gateway saw ~15% of proxied requests open a new upstream connection at
 * 32 client connections (docs/benchmarks.md, "Gateway", fourth pass). So the cap follows 4x
 * the most transfers ever in flight at once, between LX_HTTP_POOL_MIN and LX_HTTP_POOL_MAX, and
 * does not shrink with them. The upper bound keeps a burst (10,000 held streams) from leaving
 * that many idle sockets open: past it a finished transfer's connection closes as before; idle
 * connections still close after libcurl's CURLOPT_MAXAGE_CONN (118 s). */
static void pool_follow(lx_http_loop *l) {
    if (l->max_conns >= LX_HTTP_POOL_MAX || (long)l->n_active <= l->max_conns / 4) return;
    long want = (long)l->n_active * 4;
    if (want > LX_HTTP_POOL_MAX) want = LX_HTTP_POOL_MAX;
    if (curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, want) == CURLM_OK) l->max_conns = want;
}

/* Adds the submitted jobs to the multi handle, or ends everything when stopping. */
static void on_wake(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_http_loop *l = arg;
    pthread_mutex_lock(&l->mu);
    lx_http_job *q = l->queue;
    l->queue = NULL;
    post *posts = l->posts;
    l->posts = l->posts_tail = NULL;
    bool stopping = l->stopping;
    pthread_mutex_unlock(&l->mu);
    /* Posted functions first, in order; they run even when stopping so that what they own
     * (an execution waiting for its end) is released. */
    while (posts) {
        post *p = posts;
        posts = p->next;
        p->fn(p->arg);
        free(p);
    }
    while (q) {
        lx_http_job *job = q;
        q = q->next;
        job->next = job->prev = NULL;
        if (stopping) {
            job_finish(l, job, LX_HTTP_JOB_SHUTDOWN);
            continue;
        }
        job->timer = evtimer_new(l->base, on_job_tick, job);
        if (!job->timer || curl_easy_setopt(job->easy, CURLOPT_PRIVATE, (char *)job) != CURLE_OK ||
            curl_multi_add_handle(l->multi, job->easy) != CURLM_OK) {
            job_finish(l, job, LX_HTTP_JOB_ADD_FAILED);
            continue;
        }
        job->next = l->active;
        if (l->active) l->active->prev = job;
        l->active = job;
        l->n_active++;
        pool_follow(l);
        arm(job, LX_HTTP_POLL_MS);
    }
    if (stopping) {
        while (l->active) {
            lx_http_job *job = l->active;
            curl_multi_remove_handle(l->multi, job->easy);
            job->aborted = LLMUX_E_CANCELLED;
            job_finish(l, job, LX_HTTP_JOB_SHUTDOWN);
        }
        event_base_loopbreak(l->base);
    }
}

static void *loop_main(void *arg) {
    lx_http_loop *l = arg;
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* --------------------------------------------------------------- lifecycle */

lx_http_loop *lx_http_loop_create(void) {
    pthread_once(&g_evthread_once, evthread_init);
    if (g_evthread_result != 0) return NULL;
    lx_http_loop *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->users_cv, NULL);
    l->base = event_base_new();
    l->multi = curl_multi_init();
    if (!l->base || !l->multi) goto fail;
    l->curl_timer = evtimer_new(l->base, on_curl_timer, l);
    l->wake = event_new(l->base, -1, 0, on_wake, l);
    if (!l->curl_timer || !l->wake) goto fail;
    if (curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
        curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l) != CURLM_OK ||
        curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
        curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l) != CURLM_OK ||
        curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, (long)LX_HTTP_POOL_MIN) != CURLM_OK)
        goto fail;
    l->max_conns = LX_HTTP_POOL_MIN;
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) goto fail;
    l->thread_started = true;
    return l;
fail:
    lx_http_loop_destroy(l);
    return NULL;
}

void lx_http_loop_destroy(lx_http_loop *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_mutex_unlock(&l->mu);
    if (l->thread_started) {
        event_active(l->wake, 0, 0);
        pthread_join(l->thread, NULL);
    }
    pthread_mutex_lock(&l->mu);
    while (l->users > 0) pthread_cond_wait(&l->users_cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    /* The loop thread is gone: the multi handle and the events are this thread's now. Cleaning
     * the multi handle closes the cached connections (and may still call socket_cb). */
    if (l->multi) curl_multi_cleanup(l->multi);
    while (l->posts) { /* only when the thread never ran: nothing to run them on */
        post *p = l->posts;
        l->posts = p->next;
        free(p);
    }
    while (l->socks) sock_free(l, l->socks);
    if (l->curl_timer) event_free(l->curl_timer);
    if (l->wake) event_free(l->wake);
    if (l->base) event_base_free(l->base);
    pthread_cond_destroy(&l->users_cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

bool lx_http_loop_enter(lx_http_loop *l) {
    pthread_mutex_lock(&l->mu);
    bool ok = !l->stopping;
    if (ok) l->users++;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void lx_http_loop_leave(lx_http_loop *l) {
    pthread_mutex_lock(&l->mu);
    if (--l->users == 0) pthread_cond_broadcast(&l->users_cv);
    pthread_mutex_unlock(&l->mu);
}

bool lx_http_loop_is_current(const lx_http_loop *l) {
    return l->thread_started && pthread_equal(pthread_self(), l->thread);
}

static bool enqueue(lx_http_loop *l, lx_http_job *job) {
    job->loop = l;
    job->done = false;
    job->end = LX_HTTP_JOB_SHUTDOWN;
    job->result = CURLE_OK;
    job->aborted = LLMUX_OK;
    job->timer = NULL;
    job->prev = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->stopping) {
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    job->next = l->queue;
    l->queue = job;
    pthread_mutex_unlock(&l->mu);
    event_active(l->wake, 0, 0);
    return true;
}

bool lx_http_loop_start(lx_http_loop *l, lx_http_job *job) {
    if (!job->on_end) return false;
    return enqueue(l, job);
}

bool lx_http_loop_post(lx_http_loop *l, void (*fn)(void *arg), void *arg) {
    post *p = malloc(sizeof *p);
    if (!p) return false;
    *p = (post){fn, arg, NULL};
    pthread_mutex_lock(&l->mu);
    if (l->stopping) {
        pthread_mutex_unlock(&l->mu);
        free(p);
        return false;
    }
    if (l->posts_tail) l->posts_tail->next = p;
    else l->posts = p;
    l->posts_tail = p;
    pthread_mutex_unlock(&l->mu);
    event_active(l->wake, 0, 0);
    return true;
}

struct event_base *lx_http_loop_base(lx_http_loop *l) { return l->base; }

bool lx_http_loop_run(lx_http_loop *l, lx_http_job *job) {
    job->on_end = NULL;
    pthread_cond_init(&job->cv, NULL);
    if (!enqueue(l, job)) {
        pthread_cond_destroy(&job->cv);
        return false;
    }
    pthread_mutex_lock(&l->mu);
    while (!job->done) pthread_cond_wait(&job->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    pthread_cond_destroy(&job->cv);
    return true;
}
