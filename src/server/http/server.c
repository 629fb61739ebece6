/* The HTTP server's lifecycle and routes on the runtime's loop (see server.h). Every function
 * here except lx_server_start / lx_server_stop / lx_server_active runs on the loop thread, so the
 * server's state needs no lock; the counter of requests in flight is also read by the stopping
 * thread and is guarded by mu. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server/loop_sync.h"
#include "server/http/call.h"
#include "server/http/endpoints.h"
#include "server/http/metrics_route.h"
#include "server/http/offload.h"
#include "server/http/response_store.h"
#include "server/http/server.h"

lx_server_params lx_server_default_params(void) {
    return (lx_server_params){.host = "127.0.0.1",
                              .port = LX_SERVER_DEFAULT_PORT,
                              .max_body_bytes = LX_SERVER_DEFAULT_MAX_BODY,
                              .max_header_bytes = LX_SERVER_DEFAULT_MAX_HEADERS,
                              .max_requests = LX_SERVER_DEFAULT_MAX_REQUESTS,
                              .keepalive_ms = LX_SERVER_DEFAULT_KEEPALIVE_MS,
                              .max_unsent_bytes = LX_SERVER_DEFAULT_MAX_UNSENT,
                              .idle_timeout_s = LX_SERVER_DEFAULT_IDLE_TIMEOUT_S,
                              .responses_store_bytes = LX_SERVER_DEFAULT_RESPONSES_STORE};
}

int lx_server_port(const lx_server *s) { return s->port; }

int lx_server_active(lx_server *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->active;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ------------------------------------------------------------ small routes */

/* One model as GET /v1/models lists it: OpenAI's shape, or Anthropic's for its SDK. */
static json_t *model_entry(bool anthropic, const char *id, const char *owner) {
    return anthropic ? json_pack("{s:s,s:s,s:s,s:s}", "type", "model", "id", id, "display_name", id, "created_at",
                                 "1970-01-01T00:00:00Z")
                     : json_pack("{s:s,s:s,s:i,s:s}", "id", id, "object", "model", "created", 0, "owned_by",
                                 owner ? owner : "llmux");
}

static void reply_object(struct evhttp_request *req, bool anthropic, json_t *o) {
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) {
        lx_call_reply_error(req, anthropic ? LX_SRV_ANTHROPIC : LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    lx_call_reply_json(req, 200, body, -1);
    free(body);
}

/* GET /v1/models, or GET /v1/models/{id} when one is given (want: the id, decoded): what the
 * SDKs' models.list and models.retrieve call. Anthropic's SDK sends anthropic-version on both and
 * gets its own shapes. A key sees only the models it may use; another is "not found". */
static void models_route(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g, const char *want) {
    bool anthropic = evhttp_find_header(evhttp_request_get_input_headers(req), "anthropic-version") != NULL;
    json_t *data = want ? NULL : json_array();
    json_t *found = NULL;
    llmux_model_list *cat = NULL;
    llmux_error_info err;
    if (llmux_catalog_list(s->rt, &cat, &err) != LLMUX_OK) cat = NULL;
    size_t n = s->p.n_models + (cat ? cat->n : 0);
    bool oom = !want && !data;
    for (size_t i = 0; !oom && !found && i < n; i++) {
        const char *id = i < s->p.n_models ? s->p.models[i] : cat->models[i - s->p.n_models].id;
        const char *owner = i < s->p.n_models ? "llmux" : cat->models[i - s->p.n_models].provider;
        if (want && strcmp(id, want) != 0) continue;
        if (!lx_auth_allows(s->auth, g, id)) continue;
        json_t *m = model_entry(anthropic, id, owner);
        if (want) oom = !(found = m);
        else if (!m || json_array_append_new(data, m) != 0) oom = true;
    }
    llmux_model_list_free(cat);
    if (want) {
        if (!found && !oom) {
            char msg[320];
            snprintf(msg, sizeof msg, "no model \"%.256s\" is served here", want);
            lx_call_reply_error(req, anthropic ? LX_SRV_ANTHROPIC : LX_SRV_OPENAI, LLMUX_E_MODEL_NOT_FOUND, msg, -1);
            return;
        }
        reply_object(req, anthropic, found);
        return;
    }
    if (oom) {
        json_decref(data);
        data = NULL;
    }
    size_t nd = data ? json_array_size(data) : 0;
    json_t *o = !data ? NULL
                : anthropic ? json_pack("{s:o,s:b,s:o,s:o}", "data", data, "has_more", 0, "first_id",
                                        nd ? json_incref(json_object_get(json_array_get(data, 0), "id")) : json_null(),
                                        "last_id", nd ? json_incref(json_object_get(json_array_get(data, nd - 1), "id")) : json_null())
                            : json_pack("{s:s,s:o}", "object", "list", "data", data);
    reply_object(req, anthropic, o);
}

/* The OpenAI routes also answer without their /v1 prefix, as llama-server and LiteLLM do (a
 * client configured with a base URL that lacks it). */
static const char *with_v1(const char *path, char *buf, size_t size) {
    static const char *const bare[] = {"/chat/completions", "/completions", "/embeddings", "/responses"};
    for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++)
        if (strcmp(path, bare[i]) == 0) {
            snprintf(buf, size, "/v1%s", bare[i]);
            return buf;
        }
    return path;
}

/* A client's X-Request-Id is echoed and recorded, so it must be a harmless token. */
static bool request_id_ok(const char *v) {
    size_t n = strlen(v);
    if (n < 1 || n > 128) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == ':' || ch == '-'))
            return false;
    }
    return true;
}

static void route(struct evhttp_request *req, void *arg) {
    lx_server *s = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    lx_srv_format f = path && strncmp(path, "/v1/messages", 12) == 0 ? LX_SRV_ANTHROPIC : LX_SRV_OPENAI;
    lx_route_stats_track(&s->route_stats, req);
    if (!path) {
        lx_call_reply_error(req, f, LLMUX_E_INVALID_REQUEST, "malformed request target", -1);
        return;
    }
    if (lx_cors_handle(s, req)) return; /* a CORS preflight, answered */
    const char *rid = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
    if (rid && !request_id_ok(rid)) {
        lx_call_reply_error(req, f, LLMUX_E_INVALID_REQUEST,
                            "X-Request-Id: expected 1..128 characters of A-Z a-z 0-9 . _ : -", -1);
        return;
    }
    if (rid) evhttp_add_header(evhttp_request_get_output_headers(req), "X-Request-Id", rid);
    if (!s->accepting) {
        lx_call_reply_error(req, f, LLMUX_E_OVERLOADED, "the server is shutting down", 1000);
        return;
    }
    if (strcmp(path, "/health") == 0 && cmd == EVHTTP_REQ_GET) {
        lx_call_reply_json(req, 200, "{\"status\":\"ok\"}", -1);
        return;
    }
    /* /metrics with its own key (telemetry.metrics_key) is governed by that key alone, so a
     * scraper needs no API key; without one it is guarded like the API below. */
    bool metrics = strcmp(path, "/metrics") == 0 && cmd == EVHTTP_REQ_GET;
    if (metrics && s->p.metrics_key) {
        lx_metrics_route(s, req);
        return;
    }
    /* Everything but /health needs a key when keys are configured; Anthropic's SDK lists models
     * with anthropic-version, so its refusals there come in its format. */
    lx_auth_grant g = LX_AUTH_GRANT_NONE;
    lx_srv_format af = strncmp(path, "/v1/models", 10) == 0 && (path[10] == 0 || path[10] == '/') &&
                               evhttp_find_header(evhttp_request_get_input_headers(req), "anthropic-version")
                           ? LX_SRV_ANTHROPIC
                           : f;
    if (!lx_auth_check(s, req, af, NULL, &g)) return;
    if (metrics) {
        lx_metrics_route(s, req);
        return;
    }
    if (strcmp(path, "/v1/models") == 0 && cmd == EVHTTP_REQ_GET) {
        models_route(s, req, &g, NULL);
        return;
    }
    if (strncmp(path, "/v1/models/", 11) == 0 && path[11] && cmd == EVHTTP_REQ_GET) {
        char *id = evhttp_uridecode(path + 11, 0, NULL); /* ids hold '/', sent raw or as %2F */
        if (!id) lx_call_reply_error(req, f, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        else models_route(s, req, &g, id);
        free(id);
        return;
    }
    if (lx_models_admin_route(s, req, path, &g)) return; /* /models/load|unload, /models, /api/ps */
    /* GET / DELETE /v1/responses/{id}, also without the prefix (as with_v1 below). */
    const char *resp_id = lx_route_response_rest(path);
    if (resp_id) {
        lx_responses_stored_route(s, req, resp_id, &g);
        return;
    }
    char v1[32];
    path = with_v1(path, v1, sizeof v1);
    bool chat = strcmp(path, "/v1/chat/completions") == 0, messages = strcmp(path, "/v1/messages") == 0;
    bool completions = strcmp(path, "/v1/completions") == 0, embeddings = strcmp(path, "/v1/embeddings") == 0;
    bool count_tokens = strcmp(path, "/v1/messages/count_tokens") == 0;
    bool responses = strcmp(path, "/v1/responses") == 0;
    if (!chat && !messages && !completions && !embeddings && !count_tokens && !responses) {
        lx_call_reply_error(req, f, LLMUX_E_MODEL_NOT_FOUND, "no such route", -1);
        return;
    }
    if (cmd != EVHTTP_REQ_POST) {
        lx_call_reply_error(req, f, LLMUX_E_INVALID_REQUEST, "this route takes POST", -1);
        return;
    }
    /* Anthropic's API refuses a Messages request without the header that pins its version; so do
     * we, with its message (any version string is accepted: the shapes served are 2023-06-01's). */
    const char *av = evhttp_find_header(evhttp_request_get_input_headers(req), "anthropic-version");
    if ((messages || count_tokens) && (!av || !*av)) {
        lx_call_reply_error(req, f, LLMUX_E_INVALID_REQUEST, "anthropic-version: header is required", -1);
        return;
    }
    if (embeddings) lx_embeddings_start(s, req, &g);
    else if (count_tokens) lx_count_tokens_start(s, req, &g);
    else lx_call_start(s, req, completions ? LX_SRV_OPENAI_TEXT : responses ? LX_SRV_OPENAI_RESPONSES : f, rid, &g);
}

/* --------------------------------------------------------- loop hand-offs */

/* The loop-owned steps of start and stop run through one hop onto the loop (loop_sync.h). */
typedef struct on_loop {
    lx_server *s;
    void (*fn)(lx_server *s);
} on_loop;

static void on_loop_run(void *arg) {
    on_loop *o = arg;
    o->fn(o->s);
}

/* Runs fn on the loop thread and waits for it. False when the runtime refused the post. */
static bool run_on_loop(lx_server *s, void (*fn)(lx_server *s)) {
    on_loop o = {.s = s, .fn = fn};
    return lx_run_on_loop_wait(s->rt, on_loop_run, &o);
}

static void setup(lx_server *s) {
    s->base = llmux_runtime_event_base(s->rt);
    if (!(s->http = evhttp_new(s->base))) {
        snprintf(s->setup_msg, sizeof s->setup_msg, "out of memory creating the HTTP server");
        return;
    }
    evhttp_set_max_body_size(s->http, (ev_ssize_t)s->p.max_body_bytes);
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)s->p.max_header_bytes);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_DELETE);
    /* A client that sends nothing for this long loses its connection (slowloris). */
    evhttp_set_timeout(s->http, s->p.idle_timeout_s > 0 ? s->p.idle_timeout_s : LX_SERVER_DEFAULT_IDLE_TIMEOUT_S);
    evhttp_set_gencb(s->http, route, s);
    if (!(s->sock = evhttp_bind_socket_with_handle(s->http, s->p.host, (ev_uint16_t)s->p.port))) {
        snprintf(s->setup_msg, sizeof s->setup_msg, "cannot listen on %.200s:%d (address in use or not local)", s->p.host,
                 s->p.port);
        return;
    }
    evutil_socket_t fd = evhttp_bound_socket_get_fd(s->sock);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    s->accepting = true;
    s->ok = true;
}

static void stop_accepting(lx_server *s) {
    s->accepting = false;
    if (s->sock) evhttp_del_accept_socket(s->http, s->sock);
    s->sock = NULL;
}

static void cancel_all(lx_server *s) {
    lx_call_cancel_all(s);
    lx_offload_cancel_all(s);
}

static void teardown(lx_server *s) {
    lx_call_abandon_all(s);
    lx_offload_abandon_all(s);
    if (s->http) evhttp_free(s->http);
    s->http = NULL;
}

static void params_free(lx_server *s) {
    lx_auth_destroy(s->auth);
    s->auth = NULL;
    lx_resp_store_free(s->resp_store);
    s->resp_store = NULL;
    for (size_t i = 0; i < s->p.n_models; i++) free((char *)s->p.models[i]);
    free((void *)s->p.models);
    free((char *)s->p.host);
    if (s->p.metrics_key) {
        volatile char *k = (volatile char *)s->p.metrics_key; /* a secret: not left in freed memory */
        while (*k) *k++ = 0;
        free((char *)s->p.metrics_key);
    }
}

llmux_status lx_server_start(llmux_runtime *rt, const lx_server_params *p, lx_server **out, llmux_error_info *err) {
    *out = NULL;
    lx_server *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->rt = rt;
    lx_route_stats_init(&s->route_stats);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->p = *p;
    s->p.host = strdup(p->host ? p->host : "127.0.0.1");
    s->p.models = p->n_models ? calloc(p->n_models, sizeof *s->p.models) : NULL;
    s->p.metrics_key = p->metrics_key ? strdup(p->metrics_key) : NULL;
    if (!s->p.host || (p->n_models && !s->p.models) || (p->metrics_key && !s->p.metrics_key)) goto oom_free;
    if (p->responses_store_bytes && !(s->resp_store = lx_resp_store_create(p->responses_store_bytes))) goto oom_free;
    for (size_t i = 0; i < p->n_models; i++)
        if (!(((char **)s->p.models)[i] = strdup(p->models[i]))) goto oom_free;
    /* The auth state copies the keys and origins; the params keep no pointer to the caller's. */
    s->p.keys = NULL;
    s->p.n_keys = 0;
    s->p.cors_origins = NULL;
    s->p.n_cors_origins = 0;
    s->p.records = NULL;
    if (!(s->auth = lx_auth_create(p, err))) {
        llmux_status ast = err ? err->status : LLMUX_E_CONFIGURATION;
        params_free(s);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return ast;
    }
    if (!run_on_loop(s, setup)) {
        snprintf(s->setup_msg, sizeof s->setup_msg, "the runtime is shutting down");
    }
    if (!s->ok) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->status = LLMUX_E_CONFIGURATION;
            err->retry_after_ms = -1;
            snprintf(err->message, sizeof err->message, "%s", s->setup_msg);
        }
        run_on_loop(s, teardown);
        params_free(s);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return LLMUX_E_CONFIGURATION;
    }
    *out = s;
    return LLMUX_OK;
oom_free:
    params_free(s);
    free(s);
oom:
    if (err) {
        memset(err, 0, sizeof *err);
        err->status = LLMUX_E_OUT_OF_MEMORY;
        err->retry_after_ms = -1;
        snprintf(err->message, sizeof err->message, "out of memory starting the server");
    }
    return LLMUX_E_OUT_OF_MEMORY;
}

/* Waits until no request is in flight and no final reply is still being written, or the
 * deadline passed; true when idle. */
static bool wait_idle(lx_server *s, int64_t ms) {
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
    while ((s->active > 0 || s->flushing > 0) && rc == 0) rc = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    bool idle = s->active == 0 && s->flushing == 0;
    pthread_mutex_unlock(&s->mu);
    return idle;
}

void lx_server_stop(lx_server *s, int64_t grace_ms) {
    if (!s) return;
    run_on_loop(s, stop_accepting);
    if (!wait_idle(s, grace_ms > 0 ? grace_ms : 0)) {
        run_on_loop(s, cancel_all);
        /* Cancelled executions end within a loop turn or a decode step; the bound only keeps a
         * bug from hanging the process forever. */
        wait_idle(s, 30000);
    }
    /* Replies of requests that ended during the grace period may still be on their way out:
     * a client that stopped reading must not keep the process alive for long. */
    wait_idle(s, 5000);
    run_on_loop(s, teardown);
    lx_offload_shutdown(s);
    params_free(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
