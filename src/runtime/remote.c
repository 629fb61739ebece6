/* Remote execution: provider resolution (names, environment, base URLs) and one request through
 * an adapter and the HTTP client, with the terminal-event guarantee of remote.h. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "runtime/remote.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/emitter.h"
#include "core/error.h"
#include "providers/errors.h"
#include "transport/http.h"

/* The hosted providers llmux knows without configuration. */
typedef struct builtin {
    const char *name;
    const char *protocol;
    const char *base_url;   /* public endpoint */
    const char *key_env;    /* the official SDK's variable; NULL = no key needed */
    const char *key_env2;   /* a second accepted variable; NULL = none */
    const char *url_env;    /* base URL variable; NULL = none */
} builtin;

static const builtin k_builtins[] = {
    {"openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", NULL, "OPENAI_BASE_URL"},
    {"anthropic", "anthropic", "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY", NULL, "ANTHROPIC_BASE_URL"},
    {"gemini", "gemini", "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY", "GOOGLE_API_KEY", NULL},
    {"openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", NULL, NULL},
    /* OpenAI through its Responses API: the models served only there (-pro, -codex). */
    {"openai-responses", "openai_responses", "https://api.openai.com/v1", "OPENAI_API_KEY", NULL, "OPENAI_BASE_URL"},
    /* Ollama's own client default (envconfig.Host): 127.0.0.1, not "localhost", so an IPv6-first
     * resolver never sends us to ::1 where ollama does not listen by default. */
    {"ollama", "ollama", "http://127.0.0.1:11434", NULL, NULL, "OLLAMA_HOST"},
};
#define N_BUILTINS (sizeof k_builtins / sizeof k_builtins[0])

static const builtin *find_builtin(const char *name, size_t len) {
    for (size_t i = 0; i < N_BUILTINS; i++)
        if (strlen(k_builtins[i].name) == len && memcmp(k_builtins[i].name, name, len) == 0) return &k_builtins[i];
    return NULL;
}

static const llmux_provider_params *find_params(const char *name, size_t len, const llmux_provider_params *p,
                                                size_t n) {
    for (size_t i = 0; p && i < n; i++)
        if (p[i].name && strlen(p[i].name) == len && memcmp(p[i].name, name, len) == 0) return &p[i];
    return NULL;
}

static const lx_provider *adapter_for(const char *protocol) {
    if (!protocol) return NULL;
    if (strcmp(protocol, "openai") == 0) return &lx_provider_openai;
    if (strcmp(protocol, "anthropic") == 0) return &lx_provider_anthropic;
    if (strcmp(protocol, "gemini") == 0) return &lx_provider_gemini;
    if (strcmp(protocol, "ollama") == 0) return &lx_provider_ollama;
    if (strcmp(protocol, "openai_responses") == 0) return &lx_provider_openai_responses;
    return NULL;
}


/* Packs strings into target->storage. */
typedef struct packer {
    lx_remote_target *t;
    size_t off;
    bool full;
} packer;

static const char *pack(packer *p, const char *s, size_t n) {
    if (p->full || n >= sizeof p->t->storage - p->off) {
        p->full = true;
        return NULL;
    }
    char *dst = p->t->storage + p->off;
    memcpy(dst, s, n);
    dst[n] = '\0';
    p->off += n + 1;
    return dst;
}

static const char *env_nonempty(const char *name) {
    const char *v = name ? getenv(name) : NULL;
    return v && *v ? v : NULL;
}

/* OLLAMA_HOST as Ollama's client reads it: "host", "host:port", ":port", "scheme://host[:port]".
 * Without a scheme it is http and the port defaults to 11434. */
static void ollama_url(const char *host, char *out, size_t size) {
    while (*host == ' ' || *host == '\t') host++;
    if (strstr(host, "://")) {
        snprintf(out, size, "%s", host);
        return;
    }
    size_t hl = strcspn(host, "/");
    const char *colon = memchr(host, ':', hl);
    bool bracket = host[0] == '['; /* an IPv6 literal: a port comes after the ']' */
    if (bracket) {
        const char *close = memchr(host, ']', hl);
        colon = close && (size_t)(close - host) + 1 < hl && close[1] == ':' ? close + 1 : NULL;
    }
    if (hl == 0) snprintf(out, size, "http://127.0.0.1:11434");
    else if (colon == host) snprintf(out, size, "http://127.0.0.1%.*s", (int)hl, host);
    else if (colon) snprintf(out, size, "http://%.*s", (int)hl, host);
    else snprintf(out, size, "http://%.*s:11434", (int)hl, host);
}

llmux_status lx_remote_resolve(const char *model_spec, const llmux_provider_params *providers, size_t n_providers,
                               lx_remote_target *out, llmux_error_info *err) {
    if (!model_spec || !out) return lx_error(err, LLMUX_E_INTERNAL, "remote: resolve called with NULL");
    memset(out, 0, sizeof *out);
    const char *slash = strchr(model_spec, '/');
    if (!slash || slash == model_spec)
        return lx_error(err, LLMUX_E_MODEL_NOT_FOUND, "model \"%.200s\": expected provider/model", model_spec);
    size_t name_len = (size_t)(slash - model_spec);
    const char *model = slash + 1;
    const builtin *b = find_builtin(model_spec, name_len);
    const llmux_provider_params *pp = find_params(model_spec, name_len, providers, n_providers);
    if (!b && !pp)
        return lx_error(err, LLMUX_E_MODEL_NOT_FOUND, "model \"%.200s\": unknown provider \"%.*s\"", model_spec,
                        (int)(name_len > 64 ? 64 : name_len), model_spec);
    if (!*model) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model \"%.200s\": no model name after the provider", model_spec);

    const char *name_for_msg = b ? b->name : pp->name;
    const char *protocol = pp && pp->protocol ? pp->protocol : b ? b->protocol : "openai";
    const lx_provider *adapter = adapter_for(protocol);
    if (!adapter)
        return lx_error(err, LLMUX_E_CONFIGURATION, "provider %.64s: unknown protocol \"%.64s\"", name_for_msg, protocol);

    /* Base URL: explicit params, then the SDK's variable, then the public endpoint. */
    const char *url = pp && pp->base_url && *pp->base_url ? pp->base_url : NULL;
    if (!url && b) url = env_nonempty(b->url_env);
    if (!url && b) url = b->base_url;
    if (!url)
        return lx_error(err, LLMUX_E_CONFIGURATION, "provider %.64s: base_url is required for a custom provider",
                        name_for_msg);
    char ubuf[1024];
    if (strcmp(protocol, "ollama") == 0) ollama_url(url, ubuf, sizeof ubuf);
    else snprintf(ubuf, sizeof ubuf, "%s", url);
    size_t ul = strlen(ubuf);
    while (ul && ubuf[ul - 1] == '/') ubuf[--ul] = '\0';
    /* Anthropic's SDK takes its base URL without the version (ANTHROPIC_BASE_URL=
     * "https://api.anthropic.com"); the adapter's paths start after "/v1". */
    if (strcmp(protocol, "anthropic") == 0 && (ul < 3 || strcmp(ubuf + ul - 3, "/v1") != 0)) {
        if (ul + 3 >= sizeof ubuf) return lx_error(err, LLMUX_E_CONFIGURATION, "provider %.64s: base_url too long", name_for_msg);
        memcpy(ubuf + ul, "/v1", 4);
        ul += 3;
    }
    if (strncmp(ubuf, "http://", 7) != 0 && strncmp(ubuf, "https://", 8) != 0)
        return lx_error(err, LLMUX_E_CONFIGURATION, "provider %.64s: base_url must start with http:// or https://",
                        name_for_msg);

    /* Key: explicit params, then the SDK's variables. */
    const char *key = pp && pp->api_key && *pp->api_key ? pp->api_key : NULL;
    if (!key && b) key = env_nonempty(b->key_env);
    if (!key && b) key = env_nonempty(b->key_env2);
    if (!key && b && b->key_env) {
        if (b->key_env2)
            return lx_error(err, LLMUX_E_AUTHENTICATION, "provider %s: no API key: set %s (or %s) or configure api_key",
                            b->name, b->key_env, b->key_env2);
        return lx_error(err, LLMUX_E_AUTHENTICATION, "provider %s: no API key: set %s or configure api_key", b->name,
                        b->key_env);
    }

    packer pk = {.t = out};
    out->provider = adapter;
    out->cfg.name = pack(&pk, model_spec, name_len);
    out->cfg.base_url = pack(&pk, ubuf, ul);
    out->cfg.model = pack(&pk, model, strlen(model));
    out->cfg.api_key = key ? pack(&pk, key, strlen(key)) : NULL;
    if (pp && pp->http_referer) out->cfg.referer = pack(&pk, pp->http_referer, strlen(pp->http_referer));
    if (pp && pp->app_title) out->cfg.title = pack(&pk, pp->app_title, strlen(pp->app_title));
    if (pk.full) {
        explicit_bzero(out, sizeof *out);
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "model \"%.200s\": name, base URL and key are too long",
                        model_spec);
    }
    return LLMUX_OK;
}

/* ------------------------------------------------------------------ run */

/* The stream's rules (START first, exactly one terminal event, nothing after it) are the
 * adapter's emitter's (core/emitter.h): its decoder writes straight into the caller's sink, and
 * settle() below ends a stream the transport cut short through that same emitter. */

/* One attempt in flight: everything the transfer borrows lives here until it ended, and only
 * that. The encoded request (the adapter's lx_wire_request: a fixed table of 1 KiB header values,
 * about 18 KiB) is gone once the transfer is set up, since libcurl copies the URL and the header
 * lines then; the body stays (libcurl reads it in place) and the transfer keeps its own copies of
 * the secret header values. The target's configuration is copied (its strings, the key among
 * them, in `strings`, wiped before the attempt is freed), so the caller's target need not outlive
 * the call. */
typedef struct attempt {
    const lx_provider *provider;
    lx_decoder *dec;
    lx_provider_config cfg;
    lx_buf body;
    lx_http_request hr;
    lx_http_response resp;
    lx_remote_done_cb done;
    void *user_data;
    char method[sizeof ((lx_wire_request *)0)->method];
    size_t strings_size;
    char strings[];
} attempt;

static size_t cfg_strings_size(const lx_provider_config *c) {
    const char *f[] = {c->name, c->base_url, c->api_key, c->model, c->referer, c->title};
    size_t n = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) n += f[i] ? strlen(f[i]) + 1 : 0;
    return n;
}

static const char *copy_str(char **p, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = *p;
    memcpy(d, s, n);
    *p += n;
    return d;
}

static llmux_status feed(void *ud, const char *data, size_t len, llmux_error_info *err) {
    attempt *a = ud;
    return a->provider->decoder_feed(a->dec, data, len, err);
}

/* The idle timeout counts decoded events, not bytes (lx_http_request.progress): keep-alive
 * comments alone must not hold a stream open. */
static uint64_t progress(void *ud) {
    attempt *a = ud;
    return a->provider->decoder_progress(a->dec);
}

static void attempt_free(attempt *a) {
    if (a->dec) a->provider->decoder_destroy(a->dec);
    lx_http_response_free(&a->resp);
    lx_buf_free(&a->body);
    explicit_bzero(a->strings, a->strings_size);
    free(a);
}

/* The stream's outcome once the transport returned st: the terminal event decides when one went
 * out; otherwise the emitter ends a stream that delivered anything with exactly one terminal
 * event, and a failure before any event is returned silently so the caller may retry or fall
 * back. */
static llmux_status settle(attempt *a, llmux_status st, llmux_error_info *e) {
    if (st == LLMUX_OK) {
        if (a->resp.status < 200 || a->resp.status > 299) {
            st = lx_provider_map_response(a->provider, &a->cfg, &a->resp, e); /* 3xx named, the key masked */
        } else {
            st = a->provider->decoder_end(a->dec, e);
        }
    }
    lx_emitter *em = a->provider->decoder_emitter(a->dec);
    if (em->finished) {
        /* The adapter's FINISH (adapters end streams with FINISH; failures are returned). */
        if (em->end_status == LLMUX_OK) lx_error_clear(e);
        else if (em->end_status == LLMUX_E_CANCELLED) lx_error(e, LLMUX_E_CANCELLED, "cancelled");
        else if (e->status != em->end_status) lx_error(e, em->end_status, "%s: the stream ended with an error", a->cfg.name);
        return em->end_status;
    }
    if (st == LLMUX_OK)
        st = lx_error(e, LLMUX_E_UPSTREAM_PROTOCOL, "%s: the response ended without a finish", a->cfg.name);
    lx_emitter_close(em, st, e);
    return st;
}

static void attempt_done(void *ud, llmux_status st, const llmux_error_info *err) {
    attempt *a = ud;
    llmux_error_info e = *err;
    st = settle(a, st, &e);
    lx_remote_done_cb done = a->done;
    void *user_data = a->user_data;
    attempt_free(a);
    done(user_data, st, &e);
}

/* The wire request's headers as the transport takes them (borrowed from w). */
static size_t http_headers(const lx_wire_request *w, lx_http_header *out) {
    size_t nh = w->n_headers < LX_WIRE_MAX_HEADERS ? w->n_headers : LX_WIRE_MAX_HEADERS;
    for (size_t i = 0; i < nh; i++) out[i] = (lx_http_header){w->headers[i].name, w->headers[i].value, w->headers[i].secret};
    return nh;
}

/* Wipes the secret header values of w, then frees it (and its body unless stolen). */
static void wire_free(lx_wire_request *w) {
    if (!w) return;
    for (size_t i = 0; i < LX_WIRE_MAX_HEADERS; i++)
        if (w->headers[i].secret) explicit_bzero(w->headers[i].value, sizeof w->headers[i].value);
    lx_buf_free(&w->body);
    free(w);
}

llmux_status lx_remote_start(const lx_remote_target *t, const llmux_request *req, const llmux_cancel *cancel,
                             int64_t deadline_ns, const lx_remote_settings *timeouts, lx_event_sink sink,
                             lx_remote_done_cb done, void *user_data, llmux_error_info *err) {
    lx_http_client *client = timeouts ? timeouts->client : NULL;
    if (!client || !t || !t->provider || !req || !sink.emit || !done)
        return lx_error(err, LLMUX_E_INTERNAL, "remote: start called with NULL");
    if (llmux_cancel_is_triggered(cancel)) return lx_error(err, LLMUX_E_CANCELLED, "cancelled before the request");
    const lx_provider *p = t->provider;
    size_t ss = cfg_strings_size(&t->cfg);
    attempt *a = calloc(1, sizeof *a + ss);
    /* Only for the setup: freed before this returns. */
    lx_wire_request *w = calloc(1, sizeof *w);
    lx_http_header headers[LX_WIRE_MAX_HEADERS];
    lx_buf url;
    lx_buf_init(&url, 8192);
    if (!a || !w) {
        free(a);
        free(w);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", t->cfg.name);
    }
    a->provider = p;
    a->strings_size = ss;
    char *sp = a->strings;
    a->cfg.name = copy_str(&sp, t->cfg.name);
    a->cfg.base_url = copy_str(&sp, t->cfg.base_url);
    a->cfg.api_key = copy_str(&sp, t->cfg.api_key);
    a->cfg.model = copy_str(&sp, t->cfg.model);
    a->cfg.referer = copy_str(&sp, t->cfg.referer);
    a->cfg.title = copy_str(&sp, t->cfg.title);
    a->done = done;
    a->user_data = user_data;
    lx_buf_init(&a->body, LLMUX_JSON_MAX_BYTES);
    lx_buf_init(&w->body, LLMUX_JSON_MAX_BYTES);
    llmux_status st = p->encode(&a->cfg, req, w, err);
    if (st != LLMUX_OK) goto fail;
    if (!lx_buf_append_str(&url, a->cfg.base_url) || !lx_buf_append_str(&url, w->path)) {
        st = lx_error(err, LLMUX_E_CONFIGURATION, "%s: request URL too long", a->cfg.name);
        goto fail;
    }
    size_t nh = http_headers(w, headers);
    a->dec = p->decoder_create(&a->cfg, w->stream, sink);
    if (!a->dec) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", a->cfg.name);
        goto fail;
    }
    a->body = w->body; /* the transfer reads it until it ended */
    lx_buf_init(&w->body, LLMUX_JSON_MAX_BYTES);
    lx_http_request *hr = &a->hr;
    *hr = lx_http_request_default();
    memcpy(a->method, w->method, sizeof a->method);
    a->method[sizeof a->method - 1] = '\0';
    hr->method = a->method;
    hr->url = url.data;
    hr->headers = headers;
    hr->n_headers = nh;
    hr->body = a->body.len ? a->body.data : NULL;
    hr->body_len = a->body.len;
    hr->timeouts.connect_ms = lx_pick_ms(timeouts ? timeouts->connect_ms : 0, LX_DEFAULT_CONNECT_MS);
    hr->timeouts.first_byte_ms = lx_pick_ms(timeouts ? timeouts->first_byte_ms : 0, LX_DEFAULT_FIRST_BYTE_MS);
    hr->timeouts.idle_ms = lx_pick_ms(timeouts ? timeouts->idle_ms : 0, LX_DEFAULT_IDLE_MS);
    hr->ca_bundle = timeouts ? timeouts->ca_bundle : NULL;
    hr->deadline_ns = deadline_ns;
    hr->cancel = cancel;
    hr->on_data = feed;
    hr->progress = p->decoder_progress ? progress : NULL;
    hr->accept_types = w->accept_types; /* a static string */
    hr->keep_header_prefixes = p->keep_headers; /* what map_error reads: lx_provider_map_response */
    hr->user_data = a;
    st = lx_http_request_start(client, hr, &a->resp, attempt_done, a, err);
    /* From here on a belongs to the transfer (attempt_done may already have run on the loop
     * thread): only the setup's own copies are released. */
    wire_free(w);
    lx_buf_free(&url);
    if (st != LLMUX_OK) attempt_free(a);
    return st;
fail:
    wire_free(w);
    lx_buf_free(&url);
    attempt_free(a);
    return st;
}

/* The blocking form: start, then wait for the completion on this thread. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    llmux_status st;
    llmux_error_info err;
} waiter;

static void waiter_done(void *ud, llmux_status st, const llmux_error_info *err) {
    waiter *w = ud;
    pthread_mutex_lock(&w->mu);
    w->st = st;
    w->err = *err;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

llmux_status lx_remote_run(const lx_remote_target *t, const llmux_request *req, const llmux_cancel *cancel,
                           int64_t deadline_ns, const lx_remote_settings *timeouts, lx_event_sink sink,
                           llmux_error_info *err) {
    if (timeouts && timeouts->client && lx_http_client_on_loop(timeouts->client))
        return lx_error(err, LLMUX_E_INTERNAL, "remote: a blocking request from the HTTP loop thread would deadlock");
    waiter w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    llmux_status st = lx_remote_start(t, req, cancel, deadline_ns, timeouts, sink, waiter_done, &w, err);
    if (st == LLMUX_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        st = w.st;
        if (err) *err = w.err;
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return st;
}
