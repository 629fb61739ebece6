/* OpenAI Chat Completions adapter: response decoding (SSE stream or one JSON body), error
 * mapping and the provider table. OpenRouter and OpenAI-compatible servers (vLLM, llama-server,
 * LM Studio, MLX, TGI) are this adapter with another lx_provider_config; the decoder tolerates
 * what they omit (id, model, usage, [DONE]) or add (role on every chunk, keep-alive comments,
 * reasoning fields, usage chunks with non-empty choices). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/emitter.h"
#include "core/error.h"
#include "core/utf8.h"
#include "providers/dates.h"
#include "providers/embed_models.h"
#include "providers/errors.h"
#include "providers/json_util.h"
#include "providers/openai_fast_chunk.h"
#include "providers/openai_internal.h"
#include "providers/ratelimit.h"
#include "providers/redact.h"
#include "transport/sse.h"

/* ------------------------------------------------------------ errors */

typedef struct code_class {
    const char *code;
    llmux_status status;
} code_class;

/* Codes that decide the class whatever the HTTP status says. */
static const code_class k_specific[] = {
    {"context_length_exceeded", LLMUX_E_CONTEXT_LENGTH},
    {"string_above_max_length", LLMUX_E_CONTEXT_LENGTH},
    {"content_filter", LLMUX_E_CONTENT_FILTERED},
    {"content_policy_violation", LLMUX_E_CONTENT_FILTERED},
    {"moderation", LLMUX_E_CONTENT_FILTERED},
    {"model_not_found", LLMUX_E_MODEL_NOT_FOUND},
    /* A billing problem: same 429 as rate limiting, but waiting does not help. */
    {"insufficient_quota", LLMUX_E_PERMISSION},
    {"billing_hard_limit_reached", LLMUX_E_PERMISSION},
    {"invalid_api_key", LLMUX_E_AUTHENTICATION},
};

/* Codes that classify an error that came without an HTTP status (inside a stream / 200 body). */
static const code_class k_statusless[] = {
    {"rate_limit_exceeded", LLMUX_E_RATE_LIMITED}, {"rate_limited", LLMUX_E_RATE_LIMITED},
    {"capacity_exhausted", LLMUX_E_RATE_LIMITED},  {"server_error", LLMUX_E_UPSTREAM_SERVER},
    {"provider_unavailable", LLMUX_E_OVERLOADED},  {"overloaded", LLMUX_E_OVERLOADED},
    {"timeout", LLMUX_E_TIMEOUT},                  {"invalid_request", LLMUX_E_INVALID_REQUEST},
    {"invalid_request_error", LLMUX_E_INVALID_REQUEST},
};

static bool lookup(const code_class *t, size_t n, const char *code, llmux_status *out) {
    if (!code) return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].code, code) == 0) {
            *out = t[i].status;
            return true;
        }
    return false;
}

static const char *find_ci(const char *h, const char *n) {
    size_t nl = strlen(n);
    for (; h && *h; h++) {
        size_t i = 0;
        while (i < nl && h[i] && tolower((unsigned char)h[i]) == n[i]) i++;
        if (i == nl) return h;
    }
    return NULL;
}

/* "Please try again in 644ms." / "try again in 1.5s" / "Retry after 40 seconds." -> ms, -1 if
 * none. OpenAI puts its retry hint only in the message text. */
static int64_t retry_hint_from_message(const char *msg) {
    static const char *const k_lead[] = {"try again in ", "retry after ", "retry in "};
    for (size_t i = 0; msg && i < sizeof k_lead / sizeof k_lead[0]; i++) {
        const char *p = find_ci(msg, k_lead[i]);
        if (!p) continue;
        p += strlen(k_lead[i]);
        char tok[32];
        size_t n = 0;
        while (n + 1 < sizeof tok && p[n] && (isalnum((unsigned char)p[n]) || p[n] == '.')) {
            tok[n] = p[n];
            n++;
        }
        while (n > 0 && tok[n - 1] == '.') n--; /* the sentence's full stop */
        tok[n] = '\0';
        int64_t ms = lx_parse_duration_ms(tok);
        if (ms >= 0) return ms;
        /* "40 seconds" / "2 minutes" */
        char *end = NULL;
        double v = strtod(tok, &end);
        if (end != tok && *end == '\0' && v >= 0 && v < 1e7) {
            const char *unit = p + n;
            while (*unit == ' ') unit++;
            if (strncmp(unit, "second", 6) == 0 || strncmp(unit, "sec", 3) == 0) return (int64_t)(v * 1000.0 + 0.5);
            if (strncmp(unit, "minute", 6) == 0) return (int64_t)(v * 60000.0 + 0.5);
            if (strncmp(unit, "ms", 2) == 0 || strncmp(unit, "millisecond", 11) == 0) return (int64_t)(v + 0.5);
        }
    }
    return -1;
}

llmux_status lx_openai_error_from_object(const char *provider, const json_t *e, int http_status,
                                         const char *retry_after, llmux_error_info *err) {
    const char *message = lx_json_str(e, "message");
    json_t *meta = lx_json_obj(e, "metadata");
    json_t *avail = lx_json_obj(e, "availability");
    const char *raw = lx_json_str(meta, "raw");
    json_t *code_v = json_is_object(e) ? json_object_get(e, "code") : NULL;
    const char *code = json_is_string(code_v) ? json_string_value(code_v) : NULL;
    const char *type = lx_json_str(e, "type");
    const char *error_type = lx_json_str(e, "error_type");
    const char *meta_type = lx_json_str(meta, "error_type");
    const char *avail_code = lx_json_str(avail, "code");
    int64_t num = 0;
    int status = http_status;
    /* OpenRouter puts the HTTP status in `code` (a number), newer errors in `http_status`. */
    if (status < 400 && lx_json_i64(e, "code", &num) && num >= 400 && num <= 599) status = (int)num;
    if (status < 400 && lx_json_i64(e, "http_status", &num) && num >= 400 && num <= 599) status = (int)num;

    const char *ids[] = {code, avail_code, error_type, meta_type, type};
    const char *provider_code = NULL;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && !provider_code; i++) provider_code = ids[i];
    char num_code[24];
    if (!provider_code && json_is_integer(code_v)) {
        snprintf(num_code, sizeof num_code, "%lld", (long long)json_integer_value(code_v));
        provider_code = num_code;
    }

    llmux_status st = LLMUX_E_UPSTREAM_SERVER;
    bool decided = false;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && !decided; i++)
        decided = lookup(k_specific, sizeof k_specific / sizeof k_specific[0], ids[i], &st);
    if (!decided && status >= 400) {
        st = lx_http_status_class(status);
        decided = true;
    }
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && !decided; i++)
        decided = lookup(k_statusless, sizeof k_statusless / sizeof k_statusless[0], ids[i], &st);
    if (!decided) st = LLMUX_E_UPSTREAM_SERVER;
    /* Providers behind OpenRouter and compatible servers say "context length" only in prose. */
    if ((st == LLMUX_E_INVALID_REQUEST || st == LLMUX_E_UPSTREAM_SERVER || st == LLMUX_E_CONTEXT_LENGTH) &&
        (lx_mentions_context_length(message) || lx_mentions_context_length(raw)))
        st = LLMUX_E_CONTEXT_LENGTH;
    else if (st == LLMUX_E_INVALID_REQUEST && lx_mentions_content_filter(message))
        st = LLMUX_E_CONTENT_FILTERED;

    int64_t retry = -1;
    if (st == LLMUX_E_RATE_LIMITED || st == LLMUX_E_OVERLOADED || st == LLMUX_E_UPSTREAM_SERVER) {
        /* Without Retry-After the runtime hands over the exhausted limits' x-ratelimit-reset-*
         * values (Go durations): wait for the latest. */
        retry = lx_parse_retry_hint(retry_after);
        double secs;
        json_t *ra = json_object_get(avail, "retry_after");
        if (retry < 0 && json_is_number(ra) && (secs = json_number_value(ra)) >= 0 && secs < 1e7)
            retry = (int64_t)(secs * 1000.0 + 0.5);
        if (retry < 0) retry = retry_hint_from_message(message);
    }

    char full[512];
    if (raw && message)
        snprintf(full, sizeof full, "%s: %s", message, raw);
    else
        snprintf(full, sizeof full, "%s", message ? message : raw ? raw : "");
    full[lx_utf8_complete_len(full, strlen(full))] = '\0'; /* snprintf may cut inside a character */
    return lx_provider_error(err, st, provider, http_status, provider_code, full, retry);
}

void lx_openai_map_error(int http_status, const char *body, size_t len, const char *retry_after,
                             llmux_error_info *err) {
    llmux_error_info tmp;
    json_t *j = body && len ? lx_json_parse_upstream(body, len, LX_WIRE_MAX_BODY, "openai error body", &tmp) : NULL;
    json_t *e = lx_json_obj(j, "error");
    if (!e && json_is_object(j) && (lx_json_str(j, "message") || lx_json_str(j, "detail"))) e = j; /* TGI, some proxies */
    if (e) {
        lx_openai_error_from_object("openai", e, http_status, retry_after, err);
        if (!lx_json_str(e, "message") && lx_json_str(e, "detail") && err)
            lx_copy_field(err->provider_message, sizeof err->provider_message, lx_json_str(e, "detail"));
    } else {
        /* Not JSON (an HTML page from a proxy) or a bare string: keep the text. */
        char text[512];
        size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
        if (body) memcpy(text, body, n);
        text[n] = '\0';
        text[lx_utf8_complete_len(text, n)] = '\0';
        if (json_is_string(j)) snprintf(text, sizeof text, "%s", json_string_value(j));
        llmux_status st = lx_http_status_class(http_status);
        if ((st == LLMUX_E_INVALID_REQUEST) && lx_mentions_context_length(text)) st = LLMUX_E_CONTEXT_LENGTH;
        lx_provider_error(err, st, "openai", http_status, NULL, text, lx_parse_retry_hint(retry_after));
    }
    json_decref(j);
}

/* ------------------------------------------------------------ decoder */

#define MAX_PROVIDER_NAME 64

/* The longest START id / model kept (bytes with the NUL), as the fixed fields held before. */
#define ID_MAX 256

struct lx_decoder {
    char provider[MAX_PROVIDER_NAME];
    bool stream;
    bool sniffed;          /* first non-space byte seen (a JSON body on a stream request) */
    bool json_body;        /* decode the body as one JSON document */
    lx_emitter em;
    lx_sse_parser sse;
    lx_buf body;           /* the JSON body, capped at LX_WIRE_MAX_BODY */
    llmux_finish_reason finish; /* NONE until a finish_reason arrived */
    bool done;             /* [DONE] seen */
    bool finished;         /* FINISH emitted */
    bool failed;
    bool refusal;          /* text came as `refusal` */
    char *key;             /* the configured key, masked in every error (lx_secret_dup) */
    /* The first non-empty id / model of the stream, for START. Azure OpenAI opens with a
     * prompt-filter chunk whose id and model are "" (and choices []): START waits for real
     * values or for the first content, whichever comes first. */
    char *id;              /* NULL until known; at most ID_MAX - 1 bytes (sized to the value) */
    char *model;
    /* The failure that stopped the decoder, repeated by later calls: allocated when it happens,
     * since every stream in flight holds a decoder and most never fail (NULL until then). */
    llmux_error_info *last_err;
    /* Where on_sse reports, for the duration of one lx_sse_feed / lx_sse_flush (on the stack). */
    llmux_error_info *work;
};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static llmux_finish_reason map_finish(const char *r) {
    if (!r) return LLMUX_FINISH_NONE;
    if (strcmp(r, "stop") == 0 || strcmp(r, "end_turn") == 0 || strcmp(r, "eos") == 0 ||
        strcmp(r, "stop_sequence") == 0)
        return LLMUX_FINISH_STOP;
    if (strcmp(r, "length") == 0 || strcmp(r, "max_tokens") == 0) return LLMUX_FINISH_LENGTH;
    if (strcmp(r, "tool_calls") == 0 || strcmp(r, "function_call") == 0 || strcmp(r, "tool_use") == 0)
        return LLMUX_FINISH_TOOL_CALLS;
    if (strcmp(r, "content_filter") == 0) return LLMUX_FINISH_CONTENT_FILTER;
    if (strcmp(r, "error") == 0) return LLMUX_FINISH_ERROR;
    return LLMUX_FINISH_STOP; /* unknown reasons of compatible servers: the turn ended */
}

static llmux_usage map_usage(const json_t *u) {
    llmux_usage out = llmux_usage_default();
    int64_t v;
    if (lx_json_i64(u, "prompt_tokens", &v)) out.input_tokens = v;
    if (lx_json_i64(u, "completion_tokens", &v)) out.output_tokens = v;
    if (lx_json_i64(u, "total_tokens", &v)) out.total_tokens = v;
    json_t *pd = lx_json_obj(u, "prompt_tokens_details");
    if (lx_json_i64(pd, "cached_tokens", &v)) out.cached_input_tokens = v;
    if (lx_json_i64(pd, "cache_write_tokens", &v)) out.cache_write_tokens = v;
    json_t *cd = lx_json_obj(u, "completion_tokens_details");
    if (lx_json_i64(cd, "reasoning_tokens", &v)) out.reasoning_tokens = v;
    return out;
}

static llmux_status fail_with(lx_decoder *d, llmux_status st, llmux_error_info *err) {
    d->failed = true;
    if (err && !d->last_err) d->last_err = malloc(sizeof *d->last_err); /* NULL: failed_again says less */
    if (err && d->last_err) *d->last_err = *err;
    return st;
}

/* Tool call fragments keyed by `index`: the first one (id and/or name) opens the call, later
 * ones carry argument pieces. A fragment with a new id on an open index starts a new call (some
 * compatible servers send every call at index 0). */
static llmux_status decode_tool_calls(lx_decoder *d, const json_t *calls, llmux_error_info *err) {
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        if (!json_is_object(c)) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: tool_calls[%zu] is not an object", d->provider, i);
        int64_t key;
        if (!lx_json_i64(c, "index", &key)) key = (int64_t)i;
        if (key < 0 || key > 1000000) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: tool call index %lld out of range", d->provider, (long long)key);
        const char *id = lx_json_str(c, "id");
        json_t *fn = lx_json_obj(c, "function");
        const char *name = lx_json_str(fn, "name");
        json_t *args_v = fn ? json_object_get(fn, "arguments") : NULL;
        llmux_status st;
        bool open = lx_emitter_tool_open(&d->em, key);
        if (open && id && *id) {
            for (size_t s = d->em.n_tools; s-- > 0;) {
                if (d->em.tools[s].key != key) continue;
                if (d->em.tools[s].tag != fnv1a(id)) { /* the tag: a hash of the call's id */
                    if ((st = lx_emit_tool_end(&d->em, key, err)) != LLMUX_OK) return st;
                    open = false;
                }
                break;
            }
        }
        if (!open) {
            char gen[32];
            if (!id || !*id) {
                snprintf(gen, sizeof gen, "call_%zu", d->em.n_tools);
                id = gen;
            }
            if ((st = lx_emit_tool_start(&d->em, key, id, name, err)) != LLMUX_OK) return st;
            d->em.tools[d->em.n_tools - 1].tag = fnv1a(id);
        }
        if (json_is_string(args_v)) {
            st = lx_emit_tool_delta(&d->em, key, json_string_value(args_v), json_string_length(args_v), err);
        } else if (json_is_object(args_v) || json_is_array(args_v)) {
            /* Some servers send arguments already parsed: pass them on as JSON text. */
            char *txt = json_dumps(args_v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!txt) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
            st = lx_emit_tool_delta(&d->em, key, txt, strlen(txt), err);
            free(txt);
        } else {
            st = LLMUX_OK;
        }
        if (st != LLMUX_OK) return st;
    }
    return LLMUX_OK;
}

/* Text-like fields of a delta (stream) or message (non-stream). */
static llmux_status decode_content(lx_decoder *d, const json_t *m, llmux_error_info *err) {
    llmux_status st = LLMUX_OK;
    /* reasoning_content: DeepSeek, vLLM; reasoning: OpenRouter, LM Studio, Ollama's /v1. */
    const char *rk[] = {"reasoning_content", "reasoning"};
    for (size_t i = 0; i < 2 && st == LLMUX_OK; i++) {
        json_t *r = json_object_get(m, rk[i]);
        if (json_is_string(r)) st = lx_emit_reasoning(&d->em, json_string_value(r), json_string_length(r), NULL, false, err);
    }
    /* OpenRouter's reasoning_details repeat the text of `reasoning`; only their signatures are new. */
    json_t *details = lx_json_arr(m, "reasoning_details");
    size_t i;
    json_t *det;
    json_array_foreach(details, i, det) {
        const char *sig = lx_json_str(det, "signature");
        if (st == LLMUX_OK && sig && *sig) st = lx_emit_reasoning(&d->em, NULL, 0, sig, false, err);
    }
    json_t *c = json_object_get(m, "content");
    if (st == LLMUX_OK && json_is_string(c)) st = lx_emit_text(&d->em, json_string_value(c), json_string_length(c), err);
    if (st == LLMUX_OK && json_is_array(c)) { /* content as typed parts (some compatible servers) */
        json_t *p;
        json_array_foreach(c, i, p) {
            const char *t = lx_json_str(p, "text");
            if (t && st == LLMUX_OK) st = lx_emit_text(&d->em, t, json_string_length(json_object_get(p, "text")), err);
        }
    }
    json_t *refusal = json_object_get(m, "refusal");
    if (st == LLMUX_OK && json_is_string(refusal) && json_string_length(refusal) > 0) {
        d->refusal = true;
        st = lx_emit_text(&d->em, json_string_value(refusal), json_string_length(refusal), err);
    }
    json_t *calls = lx_json_arr(m, "tool_calls");
    if (st == LLMUX_OK && calls) st = decode_tool_calls(d, calls, err);
    /* Legacy function_call (one call, no index). */
    json_t *fc = lx_json_obj(m, "function_call");
    if (st == LLMUX_OK && fc) {
        json_t *arr = json_pack("[{s:i, s:O}]", "index", 0, "function", fc);
        if (!arr) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
        st = decode_tool_calls(d, arr, err);
        json_decref(arr);
    }
    return st;
}

static llmux_finish_reason final_reason(const lx_decoder *d) {
    llmux_finish_reason r = d->finish;
    if (r == LLMUX_FINISH_NONE) r = LLMUX_FINISH_STOP;
    /* A known peer bug: tool calls reported with finish_reason "stop". */
    if (r == LLMUX_FINISH_STOP && d->em.n_tools > 0) r = LLMUX_FINISH_TOOL_CALLS;
    if (r == LLMUX_FINISH_STOP && d->refusal) r = LLMUX_FINISH_CONTENT_FILTER;
    return r;
}

/* START with what is known so far ("" = absent). */
static llmux_status emit_start(lx_decoder *d, llmux_error_info *err) {
    return lx_emit_start(&d->em, d->id, d->model, err);
}

/* Keeps the first non-empty value of a string field. */
/* Keeps the first non-empty value of key, cut to ID_MAX - 1 bytes; out of memory: stays unknown
 * (START then goes without it). */
static void remember(char **dst, const json_t *j, const char *key) {
    const char *v = lx_json_str(j, key);
    if (*dst || !v || !*v) return;
    size_t size = strlen(v) + 1;
    if (size > ID_MAX) size = ID_MAX;
    if ((*dst = malloc(size))) lx_copy_field(*dst, size, v);
}

/* remember() for raw string bytes without escapes (openai_fast_chunk.h): the same copy. */
static void remember_span(char **dst, const char *v, size_t n) {
    if (*dst || !v || !n) return;
    char tmp[ID_MAX + 1];
    size_t k = n < ID_MAX ? n : ID_MAX;
    memcpy(tmp, v, k);
    tmp[k] = '\0';
    size_t size = k + 1 > ID_MAX ? ID_MAX : k + 1;
    if ((*dst = malloc(size))) lx_copy_field(*dst, size, tmp);
}

/* A chunk's finish_reason: "error" fails the response; another one is kept for the end. */
static llmux_status take_finish(lx_decoder *d, llmux_finish_reason r, llmux_error_info *err) {
    if (r == LLMUX_FINISH_ERROR)
        return lx_provider_error(err, LLMUX_E_UPSTREAM_SERVER, d->provider, 0, "error",
                                 "the response ended with finish_reason \"error\"", -1);
    if (r != LLMUX_FINISH_NONE) d->finish = r;
    return LLMUX_OK;
}

static llmux_status emit_finish(lx_decoder *d, llmux_error_info *err) {
    if (d->finished) return LLMUX_OK;
    llmux_status st = emit_start(d, err);
    if (st != LLMUX_OK) return st;
    d->finished = true;
    return lx_emit_finish(&d->em, final_reason(d), err);
}

/* One chunk (stream) or the whole completion (non-stream); both share a shape. */
static llmux_status decode_object(lx_decoder *d, const json_t *j, bool whole, llmux_error_info *err) {
    if (!json_is_object(j)) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: expected a JSON object", d->provider);
    json_t *e = json_object_get(j, "error");
    if (e && !json_is_null(e)) {
        if (json_is_object(e)) return lx_openai_error_from_object(d->provider, e, 0, NULL, err);
        if (json_is_string(e)) return lx_provider_error(err, LLMUX_E_UPSTREAM_SERVER, d->provider, 0, NULL, json_string_value(e), -1);
        return lx_provider_error(err, LLMUX_E_UPSTREAM_SERVER, d->provider, 0, NULL, "error", -1);
    }
    remember(&d->id, j, "id");
    remember(&d->model, j, "model");
    json_t *choices = json_object_get(j, "choices");
    /* A chunk with neither both identifiers nor anything to emit (Azure's prompt-filter
     * preamble) does not start the response yet. */
    llmux_status st = LLMUX_OK;
    if (whole || (d->id && d->model) || json_array_size(choices) > 0 || lx_json_obj(j, "usage"))
        st = emit_start(d, err);
    if (st != LLMUX_OK) return st;
    if (choices && !json_is_array(choices) && !json_is_null(choices))
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: choices is not an array", d->provider);
    if (whole && json_array_size(choices) == 0)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: response has no choices", d->provider);
    /* n > 1 is not part of the canonical contract: only choice 0 is decoded. */
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch) {
        int64_t idx = 0;
        if (lx_json_i64(ch, "index", &idx) && idx != 0) continue;
        json_t *ce = lx_json_obj(ch, "error");
        if (ce) return lx_openai_error_from_object(d->provider, ce, 0, NULL, err);
        json_t *m = lx_json_obj(ch, whole ? "message" : "delta");
        if (!m && whole) m = lx_json_obj(ch, "delta");
        if (m && (st = decode_content(d, m, err)) != LLMUX_OK) return st;
        if (!m && whole) { /* legacy completions-style {"text": "..."} */
            json_t *t = json_object_get(ch, "text");
            if (json_is_string(t) && (st = lx_emit_text(&d->em, json_string_value(t), json_string_length(t), err)) != LLMUX_OK)
                return st;
        }
        if ((st = take_finish(d, map_finish(lx_json_str(ch, "finish_reason")), err)) != LLMUX_OK) return st;
        break;
    }
    json_t *u = lx_json_obj(j, "usage");
    if (u) {
        llmux_usage usage = map_usage(u);
        /* OpenRouter bills in credits = USD and says how much in usage.cost; others omit it. */
        json_t *cost = json_object_get(u, "cost");
        double usd = json_is_number(cost) ? json_number_value(cost) : NAN;
        if ((st = lx_emit_usage_cost(&d->em, &usage, usd, err)) != LLMUX_OK) return st;
    }
    return LLMUX_OK;
}

/* map_usage's reading of the counts the fast reader found (openai_fast_chunk.h), emitted as
 * decode_object emits it (no usage.cost: the fast reader refuses one). */
static llmux_status emit_fast_usage(lx_decoder *d, const lx_openai_usage *fu, llmux_error_info *err) {
    llmux_usage u = llmux_usage_default();
    if (fu->set & LX_FAST_U_PROMPT) u.input_tokens = fu->v[0];
    if (fu->set & LX_FAST_U_COMPLETION) u.output_tokens = fu->v[1];
    if (fu->set & LX_FAST_U_TOTAL) u.total_tokens = fu->v[2];
    if (fu->set & LX_FAST_U_CACHED) u.cached_input_tokens = fu->v[3];
    if (fu->set & LX_FAST_U_CACHE_WRITE) u.cache_write_tokens = fu->v[4];
    if (fu->set & LX_FAST_U_REASONING) u.reasoning_tokens = fu->v[5];
    return lx_emit_usage_cost(&d->em, &u, NAN, err);
}

static llmux_status on_sse(void *ud, const lx_sse_event *ev) {
    lx_decoder *d = ud;
    llmux_error_info scratch;
    llmux_error_info *err = d->work ? d->work : &scratch;
    if (d->done) return LLMUX_OK; /* nothing counts after [DONE] */
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        d->done = true;
        return emit_finish(d, err);
    }
    bool error_event = strcmp(ev->event, "error") == 0;
    /* A plain chunk — a content delta, the role chunk, the finish chunk, the usage chunk — is read
     * without a DOM (openai_fast_chunk.h), doing what decode_object does with it: remember the id
     * and model, START, the text, the finish reason, the usage. Anything else takes the full path below, as does a
     * chunk whose id or model is still needed and holds an escape. */
    if (!error_event && ev->data_len <= LX_WIRE_MAX_LINE) {
        char small[1024];
        char *buf = ev->data_len <= sizeof small ? small : malloc(ev->data_len);
        lx_openai_delta fd;
        bool fast = buf && lx_openai_fast_delta(ev->data, ev->data_len, buf, &fd) &&
                    !(!d->id && fd.id_escaped) && !(!d->model && fd.model_escaped) &&
                    !(fd.finish && fd.finish_len >= 32);
        llmux_status st = LLMUX_OK;
        if (fast) {
            remember_span(&d->id, fd.id, fd.id_len);
            remember_span(&d->model, fd.model, fd.model_len);
            st = emit_start(d, err);
            if (st == LLMUX_OK && fd.has_content) st = lx_emit_text(&d->em, buf, fd.content_len, err);
            if (st == LLMUX_OK && fd.finish) {
                char r[32];
                memcpy(r, fd.finish, fd.finish_len);
                r[fd.finish_len] = '\0';
                st = take_finish(d, map_finish(r), err);
            }
            if (st == LLMUX_OK && fd.usage.present) st = emit_fast_usage(d, &fd.usage, err);
        }
        if (buf != small) free(buf);
        if (fast) return st;
    }
    json_t *j = lx_json_parse_upstream(ev->data, ev->data_len, LX_WIRE_MAX_LINE, "openai stream chunk", err);
    if (!j) return err->status;
    llmux_status st;
    if (error_event) { /* `event: error` as the official SDKs read it */
        json_t *e = lx_json_obj(j, "error");
        st = lx_openai_error_from_object(d->provider, e ? e : j, 0, NULL, err);
    } else {
        st = decode_object(d, j, false, err);
    }
    json_decref(j);
    return st;
}

static lx_decoder *openai_decoder_create(const lx_provider_config *cfg, bool stream, lx_event_sink sink) {
    lx_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    snprintf(d->provider, sizeof d->provider, "%s", cfg && cfg->name ? cfg->name : "openai");
    d->stream = stream;
    d->json_body = !stream;
    lx_emitter_init(&d->em, sink, d->provider);
    lx_sse_parser_init(&d->sse, LX_WIRE_MAX_LINE);
    lx_buf_init(&d->body, LX_WIRE_MAX_BODY);
    d->key = lx_secret_dup(cfg ? cfg->api_key : NULL);
    return d;
}

static void openai_decoder_destroy(lx_decoder *d) {
    if (!d) return;
    lx_emitter_free(&d->em);
    lx_secret_free(d->key);
    lx_sse_parser_free(&d->sse);
    lx_buf_free(&d->body);
    free(d->last_err);
    free(d->id);
    free(d->model);
    free(d);
}

static llmux_status failed_again(lx_decoder *d, llmux_error_info *err) {
    if (!d->last_err) {
        lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: the response already failed", d->provider);
        return LLMUX_E_UPSTREAM_PROTOCOL;
    }
    if (err) *err = *d->last_err;
    return d->last_err->status != LLMUX_OK ? d->last_err->status : LLMUX_E_UPSTREAM_PROTOCOL;
}

static llmux_status feed_inner(lx_decoder *d, const char *data, size_t len, llmux_error_info *err) {
    if (d->failed) return failed_again(d, err);
    llmux_error_info tmp;
    if (!err) err = &tmp;
    lx_error_clear(err);
    if (d->stream && !d->sniffed) {
        /* A server that ignores stream:true (or answers an error with 200) sends one JSON body. */
        size_t k = 0;
        while (k < len && isspace((unsigned char)data[k])) k++;
        if (k < len) {
            d->sniffed = true;
            d->json_body = data[k] == '{';
        }
    }
    if (d->json_body) {
        if (!lx_buf_append(&d->body, data, len)) {
            lx_error(err, d->body.len + len > d->body.max ? LLMUX_E_UPSTREAM_PROTOCOL : LLMUX_E_OUT_OF_MEMORY,
                     "%s: response body larger than %zu bytes", d->provider, (size_t)LX_WIRE_MAX_BODY);
            return fail_with(d, err->status, err);
        }
        return LLMUX_OK;
    }
    llmux_error_info work; /* the caller's err stays clear unless this call fails */
    lx_error_clear(&work);
    d->work = &work;
    llmux_status st = lx_sse_feed(&d->sse, data, len, on_sse, d, &work);
    d->work = NULL;
    if (st == LLMUX_OK) return st;
    *err = work;
    return fail_with(d, st, err);
}

/* A text-only chat.completion read without a DOM (openai_fast_chunk.h), doing what decode_object
 * (whole) and emit_finish do with it: remember the id and model, START, the text, the finish
 * reason, the usage, FINISH. 1: decoded; 0: decoding failed (err says why); -1: not that shape,
 * or its id or model holds an escape: the caller decodes it in full. */
static int decode_fast_body(lx_decoder *d, llmux_error_info *err) {
    if (d->body.len > LX_WIRE_MAX_BODY) return -1;
    char small[2048];
    char *buf = d->body.len <= sizeof small ? small : malloc(d->body.len);
    lx_openai_body fb;
    bool fast = buf && lx_openai_fast_body(d->body.data, d->body.len, buf, &fb) && !fb.id_escaped &&
                !fb.model_escaped && !(fb.finish && fb.finish_len >= 32);
    if (!fast) {
        if (buf != small) free(buf);
        return -1;
    }
    remember_span(&d->id, fb.id, fb.id_len);
    remember_span(&d->model, fb.model, fb.model_len);
    llmux_status st = emit_start(d, err);
    if (st == LLMUX_OK && fb.has_content) st = lx_emit_text(&d->em, buf, fb.content_len, err);
    if (buf != small) free(buf);
    if (st == LLMUX_OK) {
        char r[32] = "";
        if (fb.finish) memcpy(r, fb.finish, fb.finish_len), r[fb.finish_len] = '\0';
        st = take_finish(d, map_finish(fb.finish ? r : NULL), err);
    }
    if (st == LLMUX_OK && fb.usage.present) st = emit_fast_usage(d, &fb.usage, err);
    if (st == LLMUX_OK) st = emit_finish(d, err);
    return st == LLMUX_OK ? 1 : 0;
}

static llmux_status end_inner(lx_decoder *d, llmux_error_info *err) {
    if (d->failed) return failed_again(d, err);
    lx_error_clear(err);
    llmux_error_info tmp;
    if (!err) err = &tmp;
    llmux_status st;
    if (d->json_body) {
        int fast = decode_fast_body(d, err);
        if (fast >= 0) return fast == 1 ? LLMUX_OK : fail_with(d, err->status, err);
        json_t *j = lx_json_parse_upstream(d->body.data, d->body.len, LX_WIRE_MAX_BODY, "openai response body", err);
        if (!j) return fail_with(d, err->status, err);
        st = decode_object(d, j, true, err);
        json_decref(j);
        if (st == LLMUX_OK) st = emit_finish(d, err);
        return st == LLMUX_OK ? LLMUX_OK : fail_with(d, st, err);
    }
    bool pending = false;
    llmux_error_info work;
    lx_error_clear(&work);
    d->work = &work;
    st = lx_sse_flush(&d->sse, on_sse, d, &work);
    d->work = NULL;
    if (st != LLMUX_OK) {
        *err = work;
        return fail_with(d, st, err);
    }
    st = lx_sse_finish(&d->sse, &pending, err);
    if (st != LLMUX_OK) return fail_with(d, st, err);
    if (d->finished) return LLMUX_OK;
    /* No [DONE]: servers that skip it still sent a finish_reason; without one the stream was cut. */
    if (d->finish == LLMUX_FINISH_NONE) {
        lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: stream ended without finish_reason or [DONE]%s (truncated)",
                 d->provider, pending ? " inside an event" : "");
        return fail_with(d, LLMUX_E_UPSTREAM_PROTOCOL, err);
    }
    st = emit_finish(d, err);
    return st == LLMUX_OK ? LLMUX_OK : fail_with(d, st, err);
}

/* Upstream text reaches errors here (an echoed key in a mid-stream error): mask the key. */
static llmux_status openai_decoder_feed(lx_decoder *d, const char *data, size_t len, llmux_error_info *err) {
    return lx_redact_status(feed_inner(d, data, len, err), err, d->last_err, d->key);
}

static llmux_status openai_decoder_end(lx_decoder *d, llmux_error_info *err) {
    return lx_redact_status(end_inner(d, err), err, d->last_err, d->key);
}

/* Canonical events so far, plus the bytes of a body decoded only at its end (a non-streaming
 * answer, or one JSON document on a stream request), which has no events before then. */
static struct lx_emitter *openai_decoder_emitter(lx_decoder *d) { return &d->em; }

static uint64_t openai_decoder_progress(const lx_decoder *d) { return d->em.n_events + d->body.len; }

const lx_provider lx_provider_openai = {
    .protocol = "openai",
    .caps = LX_CAP_TOOLS | LX_CAP_VISION | LX_CAP_JSON_SCHEMA | LX_CAP_REASONING | LX_CAP_STREAM_USAGE |
            LX_CAP_EMBEDDINGS | LX_CAP_MODEL_LIST,
    .encode = lx_openai_encode,
    .decoder_create = openai_decoder_create,
    .decoder_feed = openai_decoder_feed,
    .decoder_end = openai_decoder_end,
    .decoder_destroy = openai_decoder_destroy,
    .decoder_progress = openai_decoder_progress,
    .decoder_emitter = openai_decoder_emitter,
    .map_error = lx_openai_map_error,
    .keep_headers = lx_ratelimit_headers_openai,
    .encode_embed = lx_openai_encode_embed,
    .decode_embed = lx_openai_decode_embed,
    .encode_models = lx_openai_encode_models,
    .decode_models = lx_openai_decode_models,
};
