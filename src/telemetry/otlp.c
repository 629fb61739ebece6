/* The OTLP/HTTP JSON trace exporter (otlp.h). The protocol: POST {endpoint}/v1/traces with
 * Content-Type application/json and an ExportTraceServiceRequest in the protobuf JSON mapping
 * (trace and span ids as hex, 64-bit integers as decimal strings, enums as numbers), answered
 * 2xx on success (OTLP specification, "OTLP/HTTP"). */
#define _DEFAULT_SOURCE
#include "telemetry/otlp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

typedef struct queued {
    void *item;
    size_t n_spans;
} queued;

struct lx_otlp {
    /* set once */
    char *url;                 /* {endpoint}/v1/traces */
    char *service_name;
    char *ca_bundle;
    lx_http_client *client;
    size_t max_queue, max_batch;
    int64_t flush_ms, timeout_ms;
    lx_otlp_item_ops ops;
    pthread_t thread;
    /* guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    queued *ring;              /* max_queue slots (an item makes at least one span) */
    size_t head, n;            /* items */
    size_t n_spans;            /* spans the queued items make */
    bool stopping;
    bool joined;               /* the thread was joined (lx_otlp_halt) */
    struct timespec oldest;    /* when the oldest queued span arrived (CLOCK_MONOTONIC) */
    lx_otlp_stats stats;
};

char *lx_otlp_body(json_t *spans, const char *service_name, size_t *len) {
    json_t *req = json_pack("{s:[{s:{s:[{s:s,s:{s:s}}]},s:[{s:{s:s,s:s},s:O}]}]}", "resourceSpans", "resource",
                            "attributes", "key", "service.name", "value", "stringValue",
                            service_name ? service_name : "llmux", "scopeSpans", "scope", "name", "llmux", "version",
                            llmux_version(), "spans", spans);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body && len) *len = strlen(body);
    return body;
}

/* POSTs one batch. True when the collector answered 2xx. */
static bool post_batch(lx_otlp *o, json_t *spans) {
    size_t len = 0;
    char *body = lx_otlp_body(spans, o->service_name, &len);
    if (!body) return false;
    if (len > LX_OTLP_MAX_BODY) {
        free(body);
        return false;
    }
    lx_http_header h[] = {{.name = "Content-Type", .value = "application/json"}};
    lx_http_request req = lx_http_request_default();
    req.method = "POST";
    req.url = o->url;
    req.headers = h;
    req.n_headers = 1;
    req.body = body;
    req.body_len = len;
    req.timeouts = (lx_http_timeouts){.connect_ms = o->timeout_ms, .first_byte_ms = o->timeout_ms,
                                      .idle_ms = o->timeout_ms, .total_ms = o->timeout_ms};
    req.max_error_body = 4096;
    req.ca_bundle = o->ca_bundle;
    lx_http_response resp;
    llmux_error_info err;
    llmux_status st = lx_http_request_run(o->client, &req, &resp, &err);
    bool ok = st == LLMUX_OK && resp.status >= 200 && resp.status < 300;
    lx_http_response_free(&resp);
    free(body);
    return ok;
}

static int64_t ms_since(const struct timespec *t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Takes the oldest item off the queue. Under mu, with n > 0. */
static queued pop(lx_otlp *o) {
    queued q = o->ring[o->head];
    o->head = (o->head + 1) % o->max_queue;
    o->n--;
    o->n_spans -= q.n_spans;
    return q;
}

static void *exporter_main(void *arg) {
    lx_otlp *o = arg;
    bool last_failed = false;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->stopping && o->n == 0) pthread_cond_wait(&o->cv, &o->mu);
        /* A partial batch waits for more spans until its oldest one is flush_ms old. */
        while (!o->stopping && o->n > 0 && o->n_spans < o->max_batch) {
            int64_t left = o->flush_ms - ms_since(&o->oldest);
            if (left <= 0) break;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += left / 1000;
            until.tv_nsec += (left % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&o->cv, &o->mu, &until);
        }
        if (o->n == 0) {
            if (o->stopping) break;
            continue;
        }
        /* Stopping after a failed POST: the collector is not answering; drop the rest at once
         * instead of waiting out a timeout per batch. */
        if (o->stopping && last_failed) {
            while (o->n) {
                queued q = pop(o);
                o->stats.dropped += q.n_spans;
                o->ops.release(q.item);
            }
            break;
        }
        /* Up to max_batch spans' worth of items (always at least one item). */
        queued batch[LX_OTLP_DEFAULT_BATCH * 4];
        size_t n_items = 0, taken = 0;
        size_t cap = sizeof batch / sizeof batch[0];
        while (o->n && n_items < cap && (n_items == 0 || taken + o->ring[o->head].n_spans <= o->max_batch)) {
            batch[n_items] = pop(o);
            taken += batch[n_items++].n_spans;
        }
        clock_gettime(CLOCK_MONOTONIC, &o->oldest); /* the rest waits a full period from now */
        pthread_mutex_unlock(&o->mu);
        /* The JSON is made here, off the threads that run executions. */
        json_t *spans = json_array();
        bool ok = spans != NULL;
        for (size_t i = 0; i < n_items; i++) {
            if (ok) ok = o->ops.to_spans(batch[i].item, spans);
            o->ops.release(batch[i].item);
        }
        ok = ok && post_batch(o, spans);
        json_decref(spans);
        pthread_mutex_lock(&o->mu);
        last_failed = !ok;
        if (ok) {
            o->stats.exported += taken;
        } else {
            o->stats.dropped += taken;
            o->stats.failed_batches++;
        }
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

static void otlp_free(lx_otlp *o) {
    free(o->url);
    free(o->service_name);
    free(o->ca_bundle);
    free(o->ring);
    free(o);
}

llmux_status lx_otlp_start(const lx_otlp_params *p, lx_otlp **out, llmux_error_info *err) {
    *out = NULL;
    const char *ep = p->endpoint;
    if (!ep || !(strncmp(ep, "http://", 7) == 0 || strncmp(ep, "https://", 8) == 0) || strlen(ep) > 2000)
        return lx_error(err, LLMUX_E_CONFIGURATION, "telemetry.otlp_endpoint: expected an http:// or https:// URL");
    if (!p->client || !p->ops.to_spans || !p->ops.release)
        return lx_error(err, LLMUX_E_CONFIGURATION, "the OTLP exporter needs an HTTP client and item operations");
    lx_otlp *o = calloc(1, sizeof *o);
    if (!o) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory starting the OTLP exporter");
    size_t n = strlen(ep);
    while (n > 0 && ep[n - 1] == '/') n--;
    o->url = malloc(n + sizeof "/v1/traces");
    if (o->url) {
        memcpy(o->url, ep, n);
        memcpy(o->url + n, "/v1/traces", sizeof "/v1/traces");
    }
    o->service_name = dup_str(p->service_name ? p->service_name : "llmux");
    o->client = p->client;
    o->ops = p->ops;
    o->max_queue = p->max_queue ? p->max_queue : LX_OTLP_DEFAULT_QUEUE;
    o->max_batch = p->max_batch ? p->max_batch : LX_OTLP_DEFAULT_BATCH;
    o->flush_ms = p->flush_ms > 0 ? p->flush_ms : LX_OTLP_DEFAULT_FLUSH_MS;
    o->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : LX_OTLP_DEFAULT_TIMEOUT_MS;
    o->ring = calloc(o->max_queue, sizeof *o->ring);
    if (p->ca_bundle && *p->ca_bundle) o->ca_bundle = dup_str(p->ca_bundle);
    if (!o->url || !o->service_name || !o->ring) {
        otlp_free(o);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory starting the OTLP exporter");
    }
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    if (pthread_create(&o->thread, NULL, exporter_main, o) != 0) {
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
        otlp_free(o);
        return lx_error(err, LLMUX_E_INTERNAL, "cannot start the OTLP exporter thread");
    }
    *out = o;
    return LLMUX_OK;
}

void lx_otlp_halt(lx_otlp *o) {
    if (!o) return;
    pthread_mutex_lock(&o->mu);
    bool joined = o->joined;
    o->stopping = true;
    o->joined = true;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    if (!joined) pthread_join(o->thread, NULL);
}

void lx_otlp_stop(lx_otlp *o) {
    if (!o) return;
    lx_otlp_halt(o);
    while (o->n) o->ops.release(pop(o).item); /* the thread drained the queue; only for safety */
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    otlp_free(o);
}

bool lx_otlp_enqueue(lx_otlp *o, void *item, size_t n_spans) {
    if (!o) return false;
    if (n_spans == 0) n_spans = 1;
    if (!item) { /* the caller could not copy its execution (out of memory): count the loss */
        pthread_mutex_lock(&o->mu);
        o->stats.dropped += n_spans;
        pthread_mutex_unlock(&o->mu);
        return false;
    }
    pthread_mutex_lock(&o->mu);
    bool ok = !o->stopping && o->n < o->max_queue && o->n_spans + n_spans <= o->max_queue;
    if (ok) {
        if (o->n == 0) clock_gettime(CLOCK_MONOTONIC, &o->oldest);
        o->ring[(o->head + o->n) % o->max_queue] = (queued){.item = item, .n_spans = n_spans};
        o->n++;
        o->n_spans += n_spans;
        if (o->n == 1 || o->n_spans >= o->max_batch) pthread_cond_signal(&o->cv);
    } else {
        o->stats.dropped += n_spans;
    }
    pthread_mutex_unlock(&o->mu);
    if (!ok) o->ops.release(item);
    return ok;
}

lx_otlp_stats lx_otlp_get_stats(lx_otlp *o) {
    lx_otlp_stats s = {0};
    if (!o) return s;
    pthread_mutex_lock(&o->mu);
    s = o->stats;
    s.queued = o->n_spans;
    pthread_mutex_unlock(&o->mu);
    return s;
}
