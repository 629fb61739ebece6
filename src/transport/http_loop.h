/* The HTTP client's event loop: one thread running a libevent base that drives one curl multi
 * handle through the multi-socket API (a libevent event per curl socket, one evtimer for curl's
 * timeout). Every transfer of a client runs on that thread, so one thread carries any number of
 * concurrent streams, and the multi handle's connection cache (which libcurl lets only one thread
 * use) serves them all.
 *
 * A caller prepares an easy handle in its own thread and hands it over with lx_http_loop_run,
 * which blocks until the transfer ended. From then until it returns, the easy handle and
 * everything its callbacks touch belong to the loop thread: write/header callbacks and the
 * job's tick run there. */
#ifndef LX_HTTP_LOOP_H
#define LX_HTTP_LOOP_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>

#include "llmux.h"

typedef struct lx_http_loop lx_http_loop;

/* How a job ended. */
typedef enum lx_http_job_end {
    LX_HTTP_JOB_COMPLETED = 0, /* libcurl finished it: `result` says how */
    LX_HTTP_JOB_ABORTED,       /* the tick returned `aborted` (it filled its error) */
    LX_HTTP_JOB_SHUTDOWN,      /* the loop is stopping (the client is being destroyed) */
    LX_HTTP_JOB_ADD_FAILED     /* curl_multi_add_handle refused it */
} lx_http_job_end;

typedef struct lx_http_job {
    CURL *easy;
    /* Runs on the loop thread, first LX_HTTP_POLL_MS after the start and then after *next_ms
     * (which it sets; >= 1): LLMUX_OK keeps the transfer going, anything else aborts it (removed
     * from the multi handle unfinished, so libcurl does not keep its connection). */
    llmux_status (*tick)(void *ud, int *next_ms);
    void *ud;

    /* Asynchronous jobs (lx_http_loop_start): runs on the loop thread once the job ended, with
     * the results below set; the job is the callback's from then on (it may free it). NULL for
     * lx_http_loop_run. */
    void (*on_end)(struct lx_http_job *job);

    /* Results, valid once lx_http_loop_run returned or on_end runs. */
    lx_http_job_end end;
    CURLcode result;
    llmux_status aborted;

    /* The loop's own. */
    lx_http_loop *loop;
    bool done;
    pthread_cond_t cv;
    struct event *timer;
    struct lx_http_job *next, *prev;
} lx_http_job;

/* Starts the loop thread. NULL when out of memory or when libevent/libcurl fail to set up. */
lx_http_loop *lx_http_loop_create(void);
/* Stops the thread (running and queued jobs end with LX_HTTP_JOB_SHUTDOWN), waits until every
 * caller inside lx_http_loop_run has returned, closes the cached connections, frees. NULL ok. */
void lx_http_loop_destroy(lx_http_loop *l);

/* Runs job->easy on the loop thread; blocks until it ended (job->end says how). False without
 * running it when the loop is stopping. Must not be called from the loop thread itself. */
bool lx_http_loop_run(lx_http_loop *l, lx_http_job *job);
/* Hands job->easy to the loop and returns at once; job->on_end (required) runs on the loop
 * thread when it ended. False without running it when the loop is stopping. Callable from any
 * thread, the loop thread included. */
bool lx_http_loop_start(lx_http_loop *l, lx_http_job *job);

/* Runs fn(arg) on the loop thread soon (FIFO among posts); callable from any thread. False when
 * the loop is stopping or out of memory (fn will not run). */
bool lx_http_loop_post(lx_http_loop *l, void (*fn)(void *arg), void *arg);

struct event_base;
/* The loop's libevent base, for watchers that must run on the loop thread (the server). */
struct event_base *lx_http_loop_base(lx_http_loop *l);

/* Marks a caller as using the loop (and what the loop's owner shares with its easy handles)
 * until lx_http_loop_leave; false when the loop is stopping. Destroy waits for every leave. */
bool lx_http_loop_enter(lx_http_loop *l);
void lx_http_loop_leave(lx_http_loop *l);

/* True on the loop thread (a callback): a blocking request from there would deadlock. */
bool lx_http_loop_is_current(const lx_http_loop *l);

#endif
