/* Executions: the producer/consumer hand-over of execution.h. */
#include "runtime/execution.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cancel.h"
#include "core/clock.h"
#include "core/error.h"

/* One queued event: the event and copies of everything it points to, in one allocation. */
typedef struct qev {
    struct qev *next;
    size_t size;             /* bytes accounted against LX_EXEC_QUEUE_MAX */
    llmux_event ev;
    llmux_error_info error;  /* ev.error points here when set */
    char data[];             /* text, id, name, provider, signature */
} qev;

/* The consumer's state (only the consuming thread touches it). */
typedef struct consumer {
    llmux_aggregator *agg;
    llmux_event_cb on_event;
    void *user_data;
    bool closed;             /* the terminal event was delivered */
    bool provider_cost;      /* a USAGE event carried the provider's own cost */
    llmux_status status;
    /* status's details, allocated when the stream closes with an error or a cancellation: every
     * execution in flight holds a consumer, and a normal end needs none. NULL otherwise (also
     * when out of memory: lx_exec_consume_end then says so). */
    llmux_error_info *err;
} consumer;

struct lx_exec {
    llmux_cancel *cancel;    /* follows the caller's token */

    pthread_mutex_t mu;      /* guards everything below */
    pthread_cond_t cv;       /* the consumer waits here */
    qev *head, *tail;
    size_t queued_bytes;
    bool ended;              /* lx_exec_end ran */
    bool overflow;           /* the queue cap stopped the producer */
    lx_gen_stats stats;
    bool has_stats;
    int64_t t_run_ns;        /* when the producer started working (after any queue) */

    void (*notify)(void *arg); /* lx_exec_set_notify */
    void *notify_arg;
    bool notify_pending;     /* notify ran and the consumer has not taken the queue since */

    consumer c;              /* lx_exec_consume_begin .. lx_exec_consume_end */

    /* Producer side (one thread at a time, no lock needed). */
    bool p_terminal;         /* a terminal event was queued */
    int64_t t_first_ns;      /* written by the producer, read by the consumer after `ended` */
};

lx_exec *lx_exec_create(const llmux_cancel *caller_cancel) {
    lx_exec *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->cancel = lx_cancel_create_linked(caller_cancel);
    if (!x->cancel) {
        free(x);
        return NULL;
    }
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    return x;
}

void lx_exec_destroy(lx_exec *x) {
    if (!x) return;
    while (x->head) {
        qev *q = x->head;
        x->head = q->next;
        free(q);
    }
    free(x->c.err);
    llmux_cancel_destroy(x->cancel);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

const llmux_cancel *lx_exec_cancel(const lx_exec *x) { return x->cancel; }

static size_t slen(const char *s) { return s ? strlen(s) + 1 : 0; }

static const char *put(char **p, const char *s, size_t n) {
    if (!s) return NULL;
    char *d = *p;
    memcpy(d, s, n);
    d[n] = '\0';
    *p += n + 1;
    return d;
}

static qev *copy_event(const llmux_event *ev) {
    size_t tl = ev->text ? ev->text_len + 1 : 0;
    size_t n = tl + slen(ev->id) + slen(ev->name) + slen(ev->provider) + slen(ev->signature);
    qev *q = malloc(sizeof *q + n);
    if (!q) return NULL;
    q->next = NULL;
    q->size = sizeof *q + n;
    q->ev = *ev;
    char *p = q->data;
    q->ev.text = put(&p, ev->text, ev->text_len);
    q->ev.id = put(&p, ev->id, ev->id ? strlen(ev->id) : 0);
    q->ev.name = put(&p, ev->name, ev->name ? strlen(ev->name) : 0);
    q->ev.provider = put(&p, ev->provider, ev->provider ? strlen(ev->provider) : 0);
    q->ev.signature = put(&p, ev->signature, ev->signature ? strlen(ev->signature) : 0);
    if (ev->error) {
        q->error = *ev->error;
        q->ev.error = &q->error;
    }
    return q;
}

static bool is_terminal(const llmux_event *ev) {
    return ev->type == LLMUX_EVENT_FINISH || ev->type == LLMUX_EVENT_ERROR;
}

/* Under x->mu: the consumer has something to do. */
/* Wakes a blocking consumer; true when the notify callback is due. The caller runs it (notify_out)
 * after unlocking x->mu: a notify that cannot post drains the execution on the spot (run.c),
 * which takes x->mu itself. The order stays safe: only the drain a notify posts can see the
 * stream ended and free it, and that drain starts after this notify. */
static bool wake(lx_exec *x) {
    pthread_cond_signal(&x->cv);
    if (x->notify && !x->notify_pending) {
        x->notify_pending = true;
        return true;
    }
    return false;
}

static void notify_out(lx_exec *x, bool due) {
    if (due) x->notify(x->notify_arg);
}

static bool push(lx_exec *x, qev *q) {
    if (x->tail) x->tail->next = q;
    else x->head = q;
    x->tail = q;
    x->queued_bytes += q->size;
    return wake(x);
}

void lx_exec_set_notify(lx_exec *x, void (*fn)(void *arg), void *arg) {
    pthread_mutex_lock(&x->mu);
    x->notify = fn;
    x->notify_arg = arg;
    pthread_mutex_unlock(&x->mu);
}

/* Queues a terminal event built from an outcome, outside the producer's own stream. */
static bool push_terminal(lx_exec *x, llmux_status st, const llmux_error_info *err) {
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    llmux_error_info e;
    if (st == LLMUX_E_CANCELLED) {
        ev.type = LLMUX_EVENT_FINISH;
        ev.finish_reason = LLMUX_FINISH_CANCELLED;
    } else {
        if (err && err->status != LLMUX_OK) e = *err;
        else lx_error(&e, st != LLMUX_OK ? st : LLMUX_E_INTERNAL, "the execution ended without a terminal event");
        ev.type = LLMUX_EVENT_ERROR;
        ev.error = &e;
    }
    qev *q = copy_event(&ev);
    if (!q) {
        /* No memory for the last event: the consumer synthesizes it from `ended` alone. */
        return false;
    }
    return push(x, q);
}

static bool sink_emit(void *ud, const llmux_event *ev) {
    lx_exec *x = ud;
    if (x->p_terminal) return false; /* nothing after the terminal event */
    if (!x->t_first_ns && (ev->type == LLMUX_EVENT_TEXT_DELTA || ev->type == LLMUX_EVENT_REASONING_DELTA ||
                           ev->type == LLMUX_EVENT_TOOL_CALL_START || ev->type == LLMUX_EVENT_NATIVE))
        x->t_first_ns = lx_now_ns();
    pthread_mutex_lock(&x->mu);
    if (x->overflow && ev->type == LLMUX_EVENT_FINISH && ev->finish_reason == LLMUX_FINISH_CANCELLED) {
        /* The producer stopped because of the cap, not because anyone cancelled: say so. */
        llmux_error_info e;
        lx_error(&e, LLMUX_E_INVALID_REQUEST,
                 "the response exceeds the %zu MiB cap on undelivered events (the consumer reads too slowly)",
                 LX_EXEC_QUEUE_MAX >> 20);
        x->p_terminal = true;
        bool due = push_terminal(x, e.status, &e);
        pthread_mutex_unlock(&x->mu);
        notify_out(x, due);
        return false;
    }
    qev *q = copy_event(ev);
    if (!q) {
        pthread_mutex_unlock(&x->mu);
        llmux_cancel_trigger(x->cancel); /* the producer ends; lx_exec_end reports it */
        return false;
    }
    if (is_terminal(ev)) x->p_terminal = true;
    bool due = push(x, q);
    bool keep = true;
    if (!x->p_terminal && x->queued_bytes > LX_EXEC_QUEUE_MAX) {
        x->overflow = true;
        keep = false;
    }
    pthread_mutex_unlock(&x->mu);
    notify_out(x, due);
    return keep && !llmux_cancel_is_triggered(x->cancel);
}

void lx_exec_started(lx_exec *x) {
    pthread_mutex_lock(&x->mu);
    x->t_run_ns = lx_now_ns();
    pthread_mutex_unlock(&x->mu);
}

lx_event_sink lx_exec_sink(lx_exec *x) { return (lx_event_sink){sink_emit, x}; }

void lx_exec_end(lx_exec *x, llmux_status st, const llmux_error_info *err, const lx_gen_stats *stats) {
    pthread_mutex_lock(&x->mu);
    bool due = false;
    if (!x->p_terminal) {
        x->p_terminal = true;
        if (st == LLMUX_OK && !(err && err->status != LLMUX_OK)) st = LLMUX_E_INTERNAL;
        due = push_terminal(x, st, err);
    }
    if (stats) {
        x->stats = *stats;
        x->has_stats = true;
    }
    x->ended = true;
    due |= wake(x);
    pthread_mutex_unlock(&x->mu);
    notify_out(x, due); /* the last touch of x: the drain it starts may free it */
}

/* Ends the consumer's stream early with a terminal event of its own (the producer is cancelled
 * and what it still sends is drained silently): ERROR with e, or FINISH(CANCELLED) when e is
 * NULL. st/msg: the outcome recorded for the caller. */
/* c->err, allocated on first use; NULL when out of memory. */
static llmux_error_info *err_slot(consumer *c) {
    if (!c->err) c->err = malloc(sizeof *c->err);
    return c->err;
}

static void close_early(consumer *c, lx_exec *x, const llmux_error_info *e, llmux_status st, const char *msg) {
    llmux_cancel_trigger(x->cancel);
    llmux_event t;
    memset(&t, 0, sizeof t);
    t.type = e ? LLMUX_EVENT_ERROR : LLMUX_EVENT_FINISH;
    t.finish_reason = e ? LLMUX_FINISH_NONE : LLMUX_FINISH_CANCELLED;
    t.error = e;
    if (c->agg && !llmux_aggregator_done(c->agg)) llmux_aggregator_add(c->agg, &t, NULL);
    if (c->on_event) c->on_event(&t, c->user_data);
    c->closed = true;
    llmux_error_info *slot = err_slot(c);
    if (slot && e) *slot = *e;
    else if (slot) lx_error(slot, st, "%s", msg);
    c->status = st;
}

/* Delivers ev to the aggregator and the callback; closes the consumer at the terminal event, or
 * earlier when it stops (then FINISH(CANCELLED)) or the aggregator refuses the event (its cap, or
 * a contradicting event: then ERROR with the aggregator's error). */
static void deliver(consumer *c, lx_exec *x, const llmux_event *ev) {
    if (c->closed) return;
    llmux_error_info agg_err;
    if (c->agg && llmux_aggregator_add(c->agg, ev, &agg_err) != LLMUX_OK) {
        close_early(c, x, &agg_err, agg_err.status, NULL);
        return;
    }
    if (ev->type == LLMUX_EVENT_USAGE && ev->cost_known) c->provider_cost = true;
    bool keep = c->on_event ? c->on_event(ev, c->user_data) : true;
    if (is_terminal(ev)) {
        c->closed = true;
        if (ev->type == LLMUX_EVENT_ERROR) {
            llmux_error_info e;
            if (ev->error) e = *ev->error;
            else lx_error(&e, LLMUX_E_UPSTREAM_PROTOCOL, "error event without details");
            c->status = e.status;
            llmux_error_info *slot = err_slot(c);
            if (slot) *slot = e;
        } else if (ev->finish_reason == LLMUX_FINISH_CANCELLED) {
            c->status = LLMUX_E_CANCELLED;
            llmux_error_info *slot = err_slot(c);
            if (slot) lx_error(slot, LLMUX_E_CANCELLED, "cancelled");
        }
        return;
    }
    if (!keep) close_early(c, x, NULL, LLMUX_E_CANCELLED, "cancelled by the event consumer");
}

void lx_exec_consume_begin(lx_exec *x, llmux_event_cb on_event, void *user_data) {
    consumer *c = &x->c;
    *c = (consumer){.agg = llmux_aggregator_create(), .on_event = on_event, .user_data = user_data};
    if (!c->agg) llmux_cancel_trigger(x->cancel); /* nothing can be aggregated: stop the producer */
}

bool lx_exec_consume_some(lx_exec *x, bool block) {
    pthread_mutex_lock(&x->mu);
    while (block && !x->head && !x->ended) pthread_cond_wait(&x->cv, &x->mu);
    qev *batch = x->head;
    bool finished = x->ended; /* then the batch taken now is the rest of the stream */
    x->head = x->tail = NULL;
    x->queued_bytes = 0;
    x->notify_pending = false;
    pthread_mutex_unlock(&x->mu);
    while (batch) {
        qev *q = batch;
        batch = q->next;
        deliver(&x->c, x, &q->ev);
        free(q);
    }
    return finished;
}

void lx_exec_consume_end(lx_exec *x, lx_exec_result *out) {
    consumer *c = &x->c;
    memset(out, 0, sizeof *out);
    if (!c->closed) {
        /* Only when memory ran out for the terminal event itself. */
        llmux_error_info oom;
        lx_error(&oom, LLMUX_E_OUT_OF_MEMORY, "out of memory ending the stream");
        close_early(c, x, &oom, oom.status, NULL);
    }
    out->status = c->status;
    if (c->err) out->err = *c->err;
    else if (c->status != LLMUX_OK) lx_error(&out->err, c->status, "out of memory keeping the error details");
    else lx_error_clear(&out->err);
    free(c->err);
    c->err = NULL;
    out->t_first_ns = x->t_first_ns;
    out->t_run_ns = x->t_run_ns;
    out->provider_cost = c->provider_cost;
    out->has_stats = x->has_stats;
    out->stats = x->stats;
    if (c->agg) out->resp = llmux_aggregator_response(c->agg);
    if (!out->resp) out->status = lx_error(&out->err, LLMUX_E_OUT_OF_MEMORY, "out of memory building the response");
    llmux_aggregator_destroy(c->agg);
    c->agg = NULL;
}

