/* The engine thread of one local model: a continuous-batching scheduler loop; see
 * local_worker.h and engine/sched.h. */
#include "runtime/local_worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "engine/sched.h"

/* Longest an engine thread waits for its loop to read pending input before a step: the loop
 * normally takes tens of microseconds; past this the step goes ahead without it. */
#define SETTLE_MAX_NS ((int64_t)2 * 1000000)

typedef struct job {
    lx_worker_job j;
    int64_t queued_ns;   /* when submitted: max_wait_ms counts from here */
    int64_t started_ns;  /* when it took a slot: how long jobs hold one (avg_hold_ns) */
    struct job *next;
} job;

struct lx_worker {
    lx_model *model;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *queue;          /* by priority, FIFO among equals */
    size_t n_queued;
    int32_t n_running;   /* sequences in slots (written by the engine thread under mu) */
    bool stopping;
    size_t max_waiting;
    int64_t max_wait_ns; /* 0 = no limit */
    int64_t avg_hold_ns; /* moving average of how long a generation held its slot; 0 = none yet */
    lx_worker_cache_stats cache; /* under mu, refreshed after each step */
    lx_telemetry *telemetry;
    char label[300];
    lx_loop_gate *gate;          /* lx_worker_params.gate */
};

/* Retry-After for a refusal: the estimated wait, at least LX_WORKER_RETRY_AFTER_MS, at most 60 s. */
static int64_t retry_after_ms(int64_t wait_ns) {
    int64_t ms = wait_ns / 1000000 + 1;
    return ms < LX_WORKER_RETRY_AFTER_MS ? LX_WORKER_RETRY_AFTER_MS : ms > 60000 ? 60000 : ms;
}

/* Removes from the queue the jobs whose request was cancelled or whose deadline passed while
 * they waited (under w->mu); returns them as a list to end outside the lock. */
static job *take_dead_jobs(lx_worker *w) {
    job *dead = NULL;
    int64_t now = lx_now_ns();
    for (job **at = &w->queue; *at;) {
        job *j = *at;
        if (llmux_cancel_is_triggered(j->j.cancel) || (j->j.deadline_ns && now >= j->j.deadline_ns) ||
            (w->max_wait_ns && now - j->queued_ns >= w->max_wait_ns)) {
            *at = j->next;
            w->n_queued--;
            j->next = dead;
            dead = j;
        } else {
            at = &j->next;
        }
    }
    return dead;
}

static void end_dead_jobs(lx_worker *w, job *dead) {
    int64_t now = lx_now_ns();
    while (dead) {
        job *j = dead;
        dead = j->next;
        llmux_error_info e;
        llmux_status st;
        if (llmux_cancel_is_triggered(j->j.cancel)) {
            st = lx_error(&e, LLMUX_E_CANCELLED, "cancelled while waiting for a sequence slot");
        } else if (j->j.deadline_ns && now >= j->j.deadline_ns) {
            st = lx_error(&e, LLMUX_E_TIMEOUT, "the deadline expired while waiting for a sequence slot");
        } else {
            /* Waited max_wait_ms (local.queue.max_wait_ms): the model is saturated; better an
             * early retryable answer than a wait without bound. */
            st = lx_error(&e, LLMUX_E_OVERLOADED, "local model %s: no sequence slot within %lld ms",
                          lx_model_name(w->model), (long long)(w->max_wait_ns / 1000000));
            e.retry_after_ms = retry_after_ms(w->avg_hold_ns);
        }
        j->j.done(j->j.user_data, st, &e, NULL);
        free(j);
    }
}

/* Starts j in a free slot; a request refused before START ends here. */
static void start_job(lx_worker *w, job *q) {
    const lx_worker_job *j = &q->j;
    if (j->task) {
        /* Tasks run here, on the engine thread, like generations: the model (and its
         * vocabulary, which a reload replaces) is only ever touched from this thread. */
        llmux_error_info err;
        lx_error_clear(&err);
        llmux_status st = llmux_cancel_is_triggered(j->cancel) ? lx_error(&err, LLMUX_E_CANCELLED, "cancelled while queued")
                                                               : j->task(w->model, j, j->task_data, &err);
        j->done(j->user_data, st, &err, NULL);
        free(q);
        return;
    }
    if (j->started) j->started(j->user_data);
    q->started_ns = lx_now_ns();
    lx_seq *s = NULL;
    llmux_error_info err;
    lx_error_clear(&err);
    llmux_status st = lx_seq_start(w->model, j->req, j->cancel, j->deadline_ns, j->sink, q, &s, &err);
    if (st != LLMUX_OK) {
        pthread_mutex_lock(&w->mu);
        w->n_running--; /* not running after all, before anyone hears it ended */
        pthread_mutex_unlock(&w->mu);
        lx_gen_stats stats = {0};
        j->done(j->user_data, st, &err, &stats);
        free(q);
    }
}

/* Folds a finished generation's slot time into avg_hold_ns (under mu): weight 1/4, so the estimate
 * follows the load within a few requests. */
static void note_hold(lx_worker *w, int64_t held_ns) {
    if (held_ns <= 0) return;
    w->avg_hold_ns = w->avg_hold_ns ? (3 * w->avg_hold_ns + held_ns) / 4 : held_ns;
}

static void end_done(lx_worker *w, lx_seq **done, int32_t n) {
    int64_t now = lx_now_ns();
    for (int32_t i = 0; i < n; i++) {
        job *q = lx_seq_user_data(done[i]);
        lx_gen_stats stats;
        llmux_error_info err;
        llmux_status st = lx_seq_outcome(done[i], &stats, &err);
        pthread_mutex_lock(&w->mu);
        note_hold(w, now - q->started_ns);
        if (stats.n_reused > 0) {
            w->cache.hits++;
            w->cache.reused_tokens += (uint64_t)stats.n_reused;
        }
        pthread_mutex_unlock(&w->mu);
        if (stats.n_reused > 0) lx_telemetry_prompt_cache_hit(w->telemetry, w->label, stats.n_reused);
        q->j.done(q->j.user_data, st, &err, &stats);
        lx_seq_free(done[i]);
        free(q);
    }
}

static void *worker_main(void *arg) {
    lx_worker *w = arg;
    lx_seq *done[LX_MAX_SLOTS];
    bool settled = false; /* the loop had its turn before the coming step */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->queue && w->n_running == 0 && !w->stopping) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stopping) break;
        job *dead = take_dead_jobs(w);
        /* Admission: queued requests fill free slots, highest priority first. A model file
         * changed on disk is reloaded once the running sequences ended: admit nothing until then. */
        int32_t n_slots = lx_model_n_slots(w->model);
        if (n_slots < 1) n_slots = 1; /* unloaded after a failed reload: lx_seq_start retries */
        while (w->queue && w->n_running < n_slots &&
               !(w->n_running > 0 && lx_model_needs_reload(w->model))) {
            job *q = w->queue;
            w->queue = q->next;
            w->n_queued--;
            w->n_running++; /* counted as running from here (lx_worker_load) */
            pthread_mutex_unlock(&w->mu);
            start_job(w, q);
            pthread_mutex_lock(&w->mu);
            w->n_running = lx_model_n_active(w->model);
            n_slots = lx_model_n_slots(w->model);
            if (n_slots < 1) n_slots = 1;
        }
        /* A free slot and nothing queued: input the runtime's loop has not read yet (a request
         * frame, an HTTP request) gets a loop turn to become requests that join this step, as a
         * request submitted directly would (loop_gate.h). Once per step. */
        bool gate = w->gate && !settled && !w->queue && w->n_running > 0 && w->n_running < n_slots;
        pthread_mutex_unlock(&w->mu);
        end_dead_jobs(w, dead);
        if (gate && lx_loop_gate_settle(w->gate, SETTLE_MAX_NS)) {
            settled = true;
            pthread_mutex_lock(&w->mu);
            continue;
        }
        settled = false;
        int32_t n_done = lx_model_step(w->model, done, LX_MAX_SLOTS);
        pthread_mutex_lock(&w->mu);
        w->n_running = lx_model_n_active(w->model);
        w->cache.bytes = lx_model_prompt_cache_bytes(w->model);
        pthread_mutex_unlock(&w->mu);
        end_done(w, done, n_done);
        pthread_mutex_lock(&w->mu);
    }
    /* Stopping: what is still queued never started; what runs is cancelled. */
    job *left = w->queue;
    w->queue = NULL;
    w->n_queued = 0;
    pthread_mutex_unlock(&w->mu);
    int32_t n_done = lx_model_cancel_all(w->model, done, LX_MAX_SLOTS);
    end_done(w, done, n_done);
    while (left) {
        job *j = left;
        left = j->next;
        llmux_error_info e;
        lx_error(&e, LLMUX_E_CANCELLED, "cancelled: the model is being unloaded");
        j->j.done(j->j.user_data, LLMUX_E_CANCELLED, &e, NULL);
        free(j);
    }
    return NULL;
}

lx_worker *lx_worker_create(const lx_worker_params *p) {
    lx_worker *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->model = p->model;
    w->max_waiting = p->max_waiting > 0 ? (size_t)p->max_waiting : LX_WORKER_MAX_QUEUED;
    w->max_wait_ns = p->max_wait_ms > 0 ? p->max_wait_ms * 1000000 : 0;
    w->telemetry = p->telemetry;
    snprintf(w->label, sizeof w->label, "%.299s", p->label ? p->label : "");
    w->gate = p->gate;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void lx_worker_destroy(lx_worker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* Under mu: how long a job of priority prio submitted now would wait for a slot. Jobs of at least
 * its priority go first; the slots free in waves of n_slots, each lasting about avg_hold_ns. 0 while
 * there is a free slot for it or nothing has finished yet (no estimate: admit). */
static int64_t estimated_wait_ns(const lx_worker *w, int32_t prio) {
    if (!w->avg_hold_ns) return 0;
    int64_t ahead = w->n_running;
    for (const job *q = w->queue; q && q->j.req->priority >= prio; q = q->next) ahead++;
    int64_t n_slots = lx_model_n_slots(w->model);
    if (n_slots < 1) n_slots = 1;
    if (ahead < n_slots) return 0;
    return ((ahead - n_slots) / n_slots + 1) * w->avg_hold_ns;
}

llmux_status lx_worker_submit(lx_worker *w, const lx_worker_job *jb, llmux_error_info *err) {
    job *j = malloc(sizeof *j);
    if (!j) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory queueing the request");
    int64_t now = lx_now_ns();
    *j = (job){.j = *jb, .queued_ns = now};
    const llmux_request *req = jb->req;
    pthread_mutex_lock(&w->mu);
    llmux_status st = LLMUX_OK;
    int64_t wait = 0;
    if (w->stopping) {
        st = lx_error(err, LLMUX_E_CANCELLED, "cancelled: the model is being unloaded");
    } else if (w->n_queued >= w->max_waiting) {
        st = lx_error(err, LLMUX_E_QUEUE_FULL, "local model %s: all %d sequence slots are busy and %zu requests are waiting",
                      lx_model_name(w->model), (int)w->n_running, w->max_waiting);
        if (err) err->retry_after_ms = LX_WORKER_RETRY_AFTER_MS;
    } else if (!jb->task && (wait = estimated_wait_ns(w, req->priority)) > 0 &&
               ((w->max_wait_ns && wait > w->max_wait_ns) || (jb->deadline_ns && now + wait > jb->deadline_ns))) {
        /* Deadline-aware admission: refused now rather than after a wait that cannot end in time. */
        bool by_deadline = !(w->max_wait_ns && wait > w->max_wait_ns);
        st = lx_error(err, LLMUX_E_OVERLOADED, "local model %s: the estimated wait for a sequence slot (%lld ms) %s",
                      lx_model_name(w->model), (long long)(wait / 1000000),
                      by_deadline ? "ends after the request's deadline" : "exceeds local.queue.max_wait_ms");
        if (err) err->retry_after_ms = retry_after_ms(wait);
    } else {
        job **at = &w->queue;
        while (*at && (*at)->j.req->priority >= req->priority) at = &(*at)->next;
        j->next = *at;
        *at = j;
        w->n_queued++;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (st != LLMUX_OK) free(j);
    return st;
}

lx_worker_cache_stats lx_worker_cache(lx_worker *w) {
    pthread_mutex_lock(&w->mu);
    lx_worker_cache_stats c = w->cache;
    pthread_mutex_unlock(&w->mu);
    return c;
}

size_t lx_worker_load(lx_worker *w) {
    pthread_mutex_lock(&w->mu);
    size_t n = w->n_queued + (size_t)w->n_running;
    pthread_mutex_unlock(&w->mu);
    return n;
}

size_t lx_worker_queued(lx_worker *w) {
    pthread_mutex_lock(&w->mu);
    size_t n = w->n_queued;
    pthread_mutex_unlock(&w->mu);
    return n;
}

bool lx_worker_on_thread(const lx_worker *w) { return pthread_equal(pthread_self(), w->thread) != 0; }
