/* API keys, per-key limits and CORS of the HTTP server (auth.h). Everything but create/destroy
 * runs on the runtime's loop thread with the rest of the server, so the per-key counters need no
 * lock. Budgets: what a key spent is loaded once at start (llmux_records_caller_cost, an aggregate
 * over the records whose caller is the key's name) and then grows in memory with the cost of each
 * execution that ends (llmux_execution_cost in call.c): no database query per request. A key with
 * a budget_period counts only its current calendar window: when the window ends, the spending
 * restarts at zero (the executions of the new window are all in memory already). */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "server/http/auth.h"
#include "server/http/call.h"
#include "server/http/keys.h"

typedef struct key_state {
    double spent_usd;           /* in the budget window: from the records at start, plus what
                                   ended since */
    int64_t window_end_ms;      /* unix ms when the budget window ends and spent_usd restarts */
    lx_rate rate;
    int in_flight;              /* generations holding a slot */
} key_state;

struct lx_auth {
    lx_config_key *cfg;         /* deep copy (name and patterns owned here), contiguous for
                                   lx_key_find */
    key_state *keys;            /* parallel to cfg */
    size_t n_keys;
    int max_in_flight;          /* per key */
    char **cors;                /* allowed origins, exact; "*" = any */
    size_t n_cors;
};

/* ----------------------------------------------------------------- life */

static void keys_free(lx_auth *a) {
    for (size_t i = 0; a->cfg && i < a->n_keys; i++) {
        lx_config_key *k = &a->cfg[i];
        explicit_bzero(k->sha256, sizeof k->sha256); /* not a secret, but nothing of a key outlives the server */
        for (size_t j = 0; j < k->n_models; j++) free((char *)k->models[j]);
        free((void *)k->models);
        free((char *)k->name);
    }
    free(a->cfg);
    free(a->keys);
}

void lx_auth_destroy(lx_auth *a) {
    if (!a) return;
    keys_free(a);
    for (size_t i = 0; i < a->n_cors; i++) free(a->cors[i]);
    free(a->cors);
    free(a);
}

static llmux_status fail(llmux_error_info *err, llmux_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static llmux_status fail(llmux_error_info *err, llmux_status st, const char *fmt, ...) {
    if (err) {
        memset(err, 0, sizeof *err);
        err->status = st;
        err->retry_after_ms = -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return st;
}

static bool copy_keys(lx_auth *a, const lx_server_params *p) {
    a->keys = calloc(p->n_keys ? p->n_keys : 1, sizeof *a->keys);
    a->cfg = calloc(p->n_keys ? p->n_keys : 1, sizeof *a->cfg);
    if (!a->keys || !a->cfg) return false;
    for (size_t i = 0; i < p->n_keys; i++) {
        lx_config_key *k = &a->cfg[a->n_keys++];
        *k = p->keys[i];
        k->name = NULL;
        k->models = NULL;
        k->n_models = 0;
        char **m = calloc(p->keys[i].n_models ? p->keys[i].n_models : 1, sizeof *m);
        if (!m || !(k->name = strdup(p->keys[i].name))) {
            free(m);
            return false;
        }
        k->models = (const char *const *)m;
        for (size_t j = 0; j < p->keys[i].n_models; j++) {
            if (!(m[j] = strdup(p->keys[i].models[j]))) return false;
            k->n_models++;
        }
    }
    return true;
}

static int64_t wall_ms(void);

/* What each key with a budget spent in its current window, from the records. */
static llmux_status load_spending(lx_auth *a, const char *records, llmux_error_info *err) {
    size_t with_budget = 0;
    for (size_t i = 0; i < a->n_keys; i++) with_budget += a->cfg[i].budget_usd >= 0;
    if (!with_budget) return LLMUX_OK;
    for (size_t i = 0; !records && i < a->n_keys; i++)
        if (a->cfg[i].budget_usd >= 0)
            return fail(err, LLMUX_E_CONFIGURATION,
                        "server.keys: key \"%s\" has a budget, but execution records are off (records: none); a budget "
                        "is counted from the records",
                        a->cfg[i].name);
    llmux_records *rec = NULL;
    llmux_error_info e;
    llmux_status st = llmux_records_open(records, &rec, &e);
    if (st != LLMUX_OK)
        return fail(err, st, "server.keys: budgets are counted from the execution records, which cannot be opened: %.700s",
                    e.message);
    int64_t now = wall_ms();
    for (size_t i = 0; st == LLMUX_OK && i < a->n_keys; i++) {
        if (a->cfg[i].budget_usd < 0) continue;
        int64_t since;
        lx_budget_window(a->cfg[i].budget_period, now, &since, &a->keys[i].window_end_ms);
        st = llmux_records_caller_cost(rec, a->cfg[i].name, since, &a->keys[i].spent_usd, &e);
    }
    llmux_records_close(rec);
    if (st != LLMUX_OK)
        return fail(err, st, "server.keys: reading what the keys spent from the execution records failed: %.700s",
                    e.message);
    return LLMUX_OK;
}

lx_auth *lx_auth_create(const lx_server_params *p, llmux_error_info *err) {
    lx_auth *a = calloc(1, sizeof *a);
    if (!a) goto oom;
    a->max_in_flight = p->max_streams_per_key > 0 ? p->max_streams_per_key : LX_SERVER_DEFAULT_MAX_STREAMS_PER_KEY;
    if (!copy_keys(a, p)) goto oom;
    a->cors = calloc(p->n_cors_origins ? p->n_cors_origins : 1, sizeof *a->cors);
    if (!a->cors) goto oom;
    for (size_t i = 0; i < p->n_cors_origins; i++) {
        if (!(a->cors[i] = strdup(p->cors_origins[i]))) goto oom;
        a->n_cors++;
    }
    if (load_spending(a, p->records, err) != LLMUX_OK) {
        lx_auth_destroy(a);
        return NULL;
    }
    return a;
oom:
    lx_auth_destroy(a);
    fail(err, LLMUX_E_OUT_OF_MEMORY, "out of memory loading the server's keys");
    return NULL;
}

bool lx_auth_enabled(const lx_auth *a) { return a && a->n_keys > 0; }

double lx_auth_spent(const lx_auth *a, int key) {
    return a && key >= 0 && (size_t)key < a->n_keys ? a->keys[key].spent_usd : 0.0;
}

/* ------------------------------------------------------------- refusals */

static const char *input(struct evhttp_request *req, const char *name) {
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* A refusal no retry can cure (a spent budget): 429 without Retry-After, and the header both
 * official SDKs read before retrying (x-should-retry: false), so a client fails at once instead of
 * retrying a request that will be refused again. */
static void refuse_final(struct evhttp_request *req, lx_srv_format f, llmux_status st, const char *msg) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "x-should-retry", "false");
    char *body = lx_srv_error_body(f, st, msg);
    struct evbuffer *b = evbuffer_new();
    if (b && body) evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, llmux_status_http(st), "Too Many Requests", b);
    if (b) evbuffer_free(b);
    free(body);
}

static void refuse(struct evhttp_request *req, lx_srv_format f, llmux_status st, const char *msg, int64_t retry_ms) {
    if (st == LLMUX_E_AUTHENTICATION)
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
    lx_call_reply_error(req, f, st, msg, retry_ms);
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --------------------------------------------------------------- checks */

bool lx_auth_check(lx_server *s, struct evhttp_request *req, lx_srv_format f, const char *model, lx_auth_grant *g) {
    lx_auth *a = s->auth;
    if (!lx_auth_enabled(a)) {
        g->key = -1;
        g->identified = true;
        return true;
    }
    if (!g->identified) {
        const char *cred;
        size_t len;
        if (!lx_key_credential(input(req, "Authorization"), input(req, "x-api-key"), &cred, &len)) {
            refuse(req, f, LLMUX_E_AUTHENTICATION,
                   "missing API key: send it as \"Authorization: Bearer <key>\" or \"x-api-key: <key>\"", -1);
            return false;
        }
        int found = lx_key_find(a->cfg, a->n_keys, cred, len);
        if (found < 0) {
            refuse(req, f, LLMUX_E_AUTHENTICATION, "invalid API key", -1);
            return false;
        }
        g->key = found;
        g->identified = true;
    }
    return model ? lx_auth_admit(s, req, f, model, g) : true;
}

/* Whether the key's budget is spent (then msg says so and when it restarts). A window that ended
 * restarts the count first. */
static void roll_window(const lx_config_key *k, key_state *ks) {
    int64_t now = wall_ms(), start;
    if (k->budget_period != LX_BUDGET_TOTAL && now >= ks->window_end_ms) {
        lx_budget_window(k->budget_period, now, &start, &ks->window_end_ms);
        ks->spent_usd = 0;
    }
}

static bool budget_spent(const lx_config_key *k, key_state *ks, char *msg, size_t size) {
    roll_window(k, ks);
    if (ks->spent_usd < k->budget_usd) return false;
    bool periodic = k->budget_period != LX_BUDGET_TOTAL;
    int n = snprintf(msg, size, "budget exceeded: the API key \"%s\" spent %.4f of its %.2f USD%s%s budget", k->name,
                     ks->spent_usd, k->budget_usd, periodic ? " " : "",
                     periodic ? lx_budget_period_name(k->budget_period) : "");
    if (periodic && n > 0 && (size_t)n < size) {
        time_t t = (time_t)(ks->window_end_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(msg + n, size - (size_t)n, "; it starts again at %Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return true;
}

bool lx_auth_admit(lx_server *s, struct evhttp_request *req, lx_srv_format f, const char *model, lx_auth_grant *g) {
    lx_auth *a = s->auth;
    if (!lx_auth_enabled(a) || g->key < 0) return true;
    key_state *ks = &a->keys[g->key];
    const lx_config_key *k = &a->cfg[g->key];
    char msg[512];
    if (!lx_key_allows(k, model)) {
        snprintf(msg, sizeof msg, "the API key \"%s\" may not use the model \"%.200s\"", k->name, model);
        refuse(req, f, LLMUX_E_PERMISSION, msg, -1);
        return false;
    }
    if (k->budget_usd >= 0 && budget_spent(k, ks, msg, sizeof msg)) {
        refuse_final(req, f, LLMUX_E_RATE_LIMITED, msg);
        return false;
    }
    if (ks->in_flight >= a->max_in_flight) {
        snprintf(msg, sizeof msg, "the API key \"%s\" already has %d requests in flight (server.limits.max_streams_per_key)",
                 k->name, ks->in_flight);
        refuse(req, f, LLMUX_E_RATE_LIMITED, msg, 1000);
        return false;
    }
    int64_t wait = lx_rate_take(&ks->rate, k->rpm, monotonic_ms());
    if (wait > 0) {
        snprintf(msg, sizeof msg, "rate limit: the API key \"%s\" may send %lld requests per minute", k->name,
                 (long long)k->rpm);
        refuse(req, f, LLMUX_E_RATE_LIMITED, msg, wait);
        return false;
    }
    ks->in_flight++;
    g->holding = true;
    return true;
}

void lx_auth_release(lx_auth *a, lx_auth_grant *g) {
    if (!a || !g->holding || g->key < 0 || (size_t)g->key >= a->n_keys) return;
    a->keys[g->key].in_flight--;
    g->holding = false;
}

void lx_auth_charge(lx_auth *a, const lx_auth_grant *g, double usd) {
    if (!a || g->key < 0 || (size_t)g->key >= a->n_keys || !isfinite(usd) || usd <= 0) return;
    /* Charged to the window in which the execution ended. */
    if (a->cfg[g->key].budget_usd >= 0) roll_window(&a->cfg[g->key], &a->keys[g->key]);
    a->keys[g->key].spent_usd += usd;
}

bool lx_auth_allows(const lx_auth *a, const lx_auth_grant *g, const char *model) {
    if (!lx_auth_enabled(a) || g->key < 0) return true;
    return lx_key_allows(&a->cfg[g->key], model);
}

const char *lx_auth_key_name(const lx_auth *a, const lx_auth_grant *g) {
    if (!lx_auth_enabled(a) || g->key < 0) return NULL;
    return a->cfg[g->key].name;
}

/* ----------------------------------------------------------------- CORS */

/* Headers a browser client may send: what the two APIs and their SDKs use. */
#define CORS_ALLOW_HEADERS                                                                                      \
    "authorization, x-api-key, content-type, anthropic-version, anthropic-beta, "                           \
    "anthropic-dangerous-direct-browser-access, x-request-id"
#define CORS_MAX_AGE "600"

static bool origin_allowed(const lx_auth *a, const char *origin) {
    for (size_t i = 0; i < a->n_cors; i++)
        if (strcmp(a->cors[i], "*") == 0 || strcmp(a->cors[i], origin) == 0) return true;
    return false;
}

static bool token_ok(const char *t, size_t n) {
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
    }
    return true;
}

/* The fixed list plus the SDKs' own telemetry headers (x-stainless-*) that the preflight asks for. */
static void allow_headers(const char *requested, char *out, size_t size) {
    snprintf(out, size, "%s", CORS_ALLOW_HEADERS);
    if (!requested) return;
    const char *p = requested;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        const char *t = p;
        while (*p && *p != ',') p++;
        size_t n = (size_t)(p - t);
        while (n && (t[n - 1] == ' ' || t[n - 1] == '\t')) n--;
        size_t have = strlen(out);
        if (n > 12 && strncasecmp(t, "x-stainless-", 12) == 0 && token_ok(t, n) && have + n + 3 < size)
            snprintf(out + have, size - have, ", %.*s", (int)n, t);
    }
}

bool lx_cors_handle(lx_server *s, struct evhttp_request *req) {
    lx_auth *a = s->auth;
    if (!a || a->n_cors == 0) return false;
    const char *origin = input(req, "Origin");
    bool allowed = origin && origin_allowed(a, origin);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_OPTIONS && origin && input(req, "Access-Control-Request-Method")) {
        if (!allowed) {
            const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
            const char *path = u ? evhttp_uri_get_path(u) : NULL;
            lx_srv_format f = path && strncmp(path, "/v1/messages", 12) == 0 ? LX_SRV_ANTHROPIC : LX_SRV_OPENAI;
            lx_call_reply_error(req, f, LLMUX_E_PERMISSION, "CORS: this origin is not allowed (server.cors_origins)", -1);
            return true;
        }
        char headers[1024];
        allow_headers(input(req, "Access-Control-Request-Headers"), headers, sizeof headers);
        evhttp_add_header(h, "Access-Control-Allow-Origin", origin);
        evhttp_add_header(h, "Vary", "Origin");
        evhttp_add_header(h, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
        evhttp_add_header(h, "Access-Control-Allow-Headers", headers);
        evhttp_add_header(h, "Access-Control-Max-Age", CORS_MAX_AGE);
        evhttp_send_reply(req, 204, "No Content", NULL);
        return true;
    }
    if (allowed) {
        /* The origin is echoed (not "*") so a cache keyed on Vary: Origin keeps answers apart. */
        evhttp_add_header(h, "Access-Control-Allow-Origin", origin);
        evhttp_add_header(h, "Vary", "Origin");
        evhttp_add_header(h, "Access-Control-Expose-Headers", "Retry-After, X-Request-Id");
    }
    return false;
}
