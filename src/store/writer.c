/* The records writer thread (DESIGN.md §5): producers append to a bounded ring and only wait when
 * it is full; the thread takes up to batch_max records at a time and commits them in one
 * transaction, after lingering a moment for more when it woke to only a few (group commit: each
 * commit costs a WAL append and its system calls, whatever it holds). A failed transaction is
 * retried with a doubling backoff. When the database refused a record (a duplicate id) the batch
 * is tried record by record, so that record costs only itself.
 * What still cannot be written is counted and named in the log: never dropped silently. */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "store.h"

struct lx_record_writer {
    lx_store *store;
    lx_record_writer_params p;

    pthread_mutex_t mu;
    pthread_cond_t not_empty;  /* the thread waits for records or stop */
    pthread_cond_t not_full;   /* producers wait for room */
    pthread_cond_t progress;   /* flush waits for done == submitted */
    pthread_cond_t linger_end; /* ends the thread's group-commit linger: a flush, stop, a full batch */
    lx_exec_record **ring;     /* queue_cap slots */
    size_t head, count;
    bool stopping;
    bool exited;               /* the thread drained the queue and left */
    int flush_waiters;         /* flushes waiting: the thread does not linger for them */
    uint64_t submitted, done;  /* done: written or lost */
    lx_record_writer_stats stats;
    pthread_t thread;
};

lx_record_writer_params lx_record_writer_default_params(void) {
    return (lx_record_writer_params){
        .queue_cap = 1024, .batch_max = 256, .retries = 4, .retry_backoff_ms = 50, .linger_us = 2000};
}

static void sleep_us(int64_t us) {
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void sleep_ms(int64_t ms) { sleep_us(ms * 1000); }

static void wlog(lx_record_writer *w, llmux_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void wlog(lx_record_writer *w, llmux_log_level level, const char *fmt, ...) {
    if (!w->p.log) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->p.log(level, msg, w->p.log_user_data);
}

static void note_failure(lx_record_writer *w, const llmux_error_info *e) {
    pthread_mutex_lock(&w->mu);
    w->stats.failed_transactions++;
    w->stats.last_error = *e;
    pthread_mutex_unlock(&w->mu);
}

/* Commits batch[0..n), retrying up to `retries` times; returns the last status. A record the
 * database refuses (LLMUX_E_INVALID_REQUEST: a duplicate id) would be refused again, so that
 * failure is not retried. */
static llmux_status commit_with_retries(lx_record_writer *w, lx_exec_record **batch, size_t n, int retries) {
    int64_t backoff = w->p.retry_backoff_ms;
    for (int attempt = 0;; attempt++) {
        llmux_error_info e;
        lx_error_clear(&e);
        llmux_status st = lx_store_insert(w->store, batch, n, &e);
        if (st == LLMUX_OK) return st;
        note_failure(w, &e);
        if (attempt >= retries || st == LLMUX_E_INVALID_REQUEST) {
            wlog(w, LLMUX_LOG_ERROR, "records: write of %zu record(s) failed: %s", n, e.message);
            return st;
        }
        wlog(w, LLMUX_LOG_WARN, "records: write failed, retrying in %lld ms: %s", (long long)backoff, e.message);
        sleep_ms(backoff);
        if (backoff < 5000) backoff *= 2;
    }
}

static void write_batch(lx_record_writer *w, lx_exec_record **batch, size_t n) {
    uint64_t written = 0;
    int retries = w->p.retries < 0 ? 0 : w->p.retries;
    llmux_status st = commit_with_retries(w, batch, n, retries);
    bool *ok = NULL;
    if (st == LLMUX_OK) {
        written = n;
    } else if (st == LLMUX_E_INVALID_REQUEST && n > 1 && (ok = calloc(n, sizeof *ok)) != NULL) {
        /* Some record was refused: the others still land, one transaction each. A failure of the
         * store itself (not of a record) ends this: the rest would fail the same way. */
        for (size_t i = 0; i < n; i++) {
            st = commit_with_retries(w, &batch[i], 1, 0);
            ok[i] = st == LLMUX_OK;
            written += ok[i];
            if (st != LLMUX_OK && st != LLMUX_E_INVALID_REQUEST) break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (written == n || (ok && ok[i])) continue;
        wlog(w, LLMUX_LOG_ERROR, "records: execution %s not recorded", batch[i]->id ? batch[i]->id : "?");
    }
    free(ok);
    for (size_t i = 0; i < n; i++) lx_exec_record_free(batch[i]);
    pthread_mutex_lock(&w->mu);
    w->stats.written += written;
    w->stats.lost += n - written;
    w->done += n;
    pthread_cond_broadcast(&w->progress);
    pthread_mutex_unlock(&w->mu);
}

static void *writer_main(void *arg) {
    lx_record_writer *w = arg;
    lx_exec_record **batch = malloc(w->p.batch_max * sizeof *batch);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->count == 0 && !w->stopping) pthread_cond_wait(&w->not_empty, &w->mu);
        if (w->count == 0 && w->stopping) {
            w->exited = true;
            pthread_cond_broadcast(&w->not_full);
            pthread_mutex_unlock(&w->mu);
            break;
        }
        /* Without a batch buffer (out of memory at start) records go one at a time. */
        size_t max = batch ? w->p.batch_max : 1;
        /* Group commit. On its own condition variable, which submit signals only when a batch
         * is full (not_empty, signalled by every submit, would wake it per record). Not when the
         * batch or the queue is already full (producers may be waiting), nor while a flush or
         * stop waits for this write. */
        if (w->p.linger_us > 0 && w->count < max && w->count < w->p.queue_cap && !w->stopping &&
            w->flush_waiters == 0) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            int64_t ns = (int64_t)until.tv_nsec + w->p.linger_us * 1000;
            until.tv_sec += (time_t)(ns / 1000000000);
            until.tv_nsec = (long)(ns % 1000000000);
            while (w->count < max && w->count < w->p.queue_cap && !w->stopping && w->flush_waiters == 0) {
                if (pthread_cond_timedwait(&w->linger_end, &w->mu, &until) != 0) break; /* timed out */
            }
        }
        size_t n = 0;
        lx_exec_record *single = NULL;
        while (w->count > 0 && n < max) {
            lx_exec_record *r = w->ring[w->head];
            w->head = (w->head + 1) % w->p.queue_cap;
            w->count--;
            if (batch) batch[n] = r;
            else single = r;
            n++;
        }
        pthread_cond_broadcast(&w->not_full);
        pthread_mutex_unlock(&w->mu);
        write_batch(w, batch ? batch : &single, n);
    }
    free(batch);
    return NULL;
}

llmux_status lx_record_writer_start_ex(lx_store *s, const lx_record_writer_params *params, lx_record_writer **out,
                                       llmux_error_info *err) {
    *out = NULL;
    if (!s) return lx_error(err, LLMUX_E_INTERNAL, "records writer: no store");
    lx_record_writer_params p = params ? *params : lx_record_writer_default_params();
    if (p.queue_cap == 0) p.queue_cap = 1024;
    if (p.batch_max == 0) p.batch_max = 256;
    if (p.retries == 0) p.retries = 4;
    if (p.retry_backoff_ms <= 0) p.retry_backoff_ms = 50;
    if (p.linger_us == 0) p.linger_us = 2000;
    if (p.linger_us > 1000000) p.linger_us = 1000000;
    if (p.queue_cap > (1u << 24) || p.batch_max > 100000) {
        lx_store_close(s);
        return lx_error(err, LLMUX_E_CONFIGURATION, "records writer: queue_cap or batch_max too large");
    }
    lx_record_writer *w = calloc(1, sizeof *w);
    if (w) w->ring = calloc(p.queue_cap, sizeof *w->ring);
    if (!w || !w->ring) {
        if (w) free(w->ring);
        free(w);
        lx_store_close(s);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    }
    w->store = s;
    w->p = p;
    lx_error_clear(&w->stats.last_error);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->not_empty, NULL);
    pthread_cond_init(&w->not_full, NULL);
    pthread_cond_init(&w->progress, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the linger's deadline ignores clock changes */
    pthread_cond_init(&w->linger_end, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->not_empty);
        pthread_cond_destroy(&w->not_full);
        pthread_cond_destroy(&w->progress);
        pthread_cond_destroy(&w->linger_end);
        free(w->ring);
        free(w);
        lx_store_close(s);
        return lx_error(err, LLMUX_E_INTERNAL, "records writer: cannot start its thread");
    }
    *out = w;
    return LLMUX_OK;
}

llmux_status lx_record_writer_start(lx_store *s, size_t queue_cap, lx_record_writer **out, llmux_error_info *err) {
    lx_record_writer_params p = lx_record_writer_default_params();
    p.queue_cap = queue_cap;
    return lx_record_writer_start_ex(s, &p, out, err);
}

void lx_record_writer_submit(lx_record_writer *w, lx_exec_record *r) {
    if (!w || !r) {
        lx_exec_record_free(r);
        return;
    }
    pthread_mutex_lock(&w->mu);
    /* A producer that was waiting for room when stop began is still served: the thread drains
     * until the queue is empty. Only one that arrives after the thread left is refused. */
    if (w->count == w->p.queue_cap) w->stats.submit_waits++;
    while (w->count == w->p.queue_cap && !w->exited) pthread_cond_wait(&w->not_full, &w->mu);
    if (w->exited) {
        w->stats.submitted++;
        w->stats.lost++;
        pthread_mutex_unlock(&w->mu);
        wlog(w, LLMUX_LOG_ERROR, "records: execution %s submitted after the writer stopped; not recorded",
             r->id ? r->id : "?");
        lx_exec_record_free(r);
        return;
    }
    w->ring[(w->head + w->count) % w->p.queue_cap] = r;
    w->count++;
    w->submitted++;
    w->stats.submitted++;
    pthread_cond_signal(&w->not_empty);
    if (w->count >= w->p.batch_max || w->count == w->p.queue_cap) pthread_cond_signal(&w->linger_end);
    pthread_mutex_unlock(&w->mu);
}

void lx_record_writer_flush(lx_record_writer *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    uint64_t target = w->submitted;
    w->flush_waiters++;
    pthread_cond_signal(&w->linger_end);
    while (w->done < target) pthread_cond_wait(&w->progress, &w->mu);
    w->flush_waiters--;
    pthread_mutex_unlock(&w->mu);
}

void lx_record_writer_get_stats(lx_record_writer *w, lx_record_writer_stats *out) {
    memset(out, 0, sizeof *out);
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    out->queued = w->count;
    pthread_mutex_unlock(&w->mu);
}

void lx_record_writer_stop(lx_record_writer *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->not_empty);
    pthread_cond_signal(&w->linger_end);
    pthread_mutex_unlock(&w->mu);
    /* The thread drains the queue before it exits (its loop only ends on an empty queue). */
    pthread_join(w->thread, NULL);
    lx_store_close(w->store);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->not_empty);
    pthread_cond_destroy(&w->not_full);
    pthread_cond_destroy(&w->progress);
    pthread_cond_destroy(&w->linger_end);
    free(w->ring);
    free(w);
}
