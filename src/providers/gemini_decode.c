/* Gemini responses -> canonical events. A stream (alt=sse) is a series of `data:` events, each
 * a whole GenerateContentResponse; a non-streaming body is one such object (or, from the
 * non-SSE streaming mode, an array of them). Parts arrive whole: text pieces, thought pieces,
 * complete function calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/emitter.h"
#include "core/error.h"
#include "providers/errors.h"
#include "providers/gemini_internal.h"
#include "providers/json_util.h"
#include "providers/redact.h"
#include "transport/sse.h"

#define RAW_TAIL_MAX (64u * 1024u) /* a bare JSON error appended to a stream */

typedef enum last_kind { LAST_NONE = 0, LAST_TEXT, LAST_THOUGHT } last_kind;

typedef struct gdec {
    lx_emitter em;
    lx_sse_parser sse;
    lx_buf body;            /* non-streaming body */
    lx_buf raw;             /* stream bytes after a line that is not SSE (a bare JSON error) */
    bool stream;
    bool at_line_start;
    bool raw_mode;
    char provider[64];
    last_kind last;         /* kind of the open canonical text/reasoning part */
    uint32_t n_calls;       /* function calls so far: ids and the tool_calls finish reason */
    bool have_usage;
    int64_t prompt, candidates, cached, thoughts, total;
    bool have_finish;
    llmux_finish_reason finish;
    llmux_status failed;
    llmux_error_info failure;
    char *key;              /* the configured key, masked in every error (lx_secret_dup) */
} gdec;

lx_decoder *lx_gemini_decoder_create(const lx_provider_config *cfg, bool stream, lx_event_sink sink) {
    gdec *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    lx_copy_field(d->provider, sizeof d->provider, cfg && cfg->name ? cfg->name : "gemini");
    lx_emitter_init(&d->em, sink, d->provider);
    lx_sse_parser_init(&d->sse, LX_WIRE_MAX_LINE);
    lx_buf_init(&d->body, LX_WIRE_MAX_BODY);
    lx_buf_init(&d->raw, RAW_TAIL_MAX);
    d->stream = stream;
    d->key = lx_secret_dup(cfg ? cfg->api_key : NULL);
    d->at_line_start = true;
    return (lx_decoder *)d;
}

void lx_gemini_decoder_destroy(lx_decoder *dec) {
    gdec *d = (gdec *)dec;
    if (!d) return;
    lx_emitter_free(&d->em);
    lx_secret_free(d->key);
    lx_sse_parser_free(&d->sse);
    lx_buf_free(&d->body);
    lx_buf_free(&d->raw);
    free(d);
}

static llmux_status protocol(gdec *d, llmux_error_info *err, const char *what) {
    return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %s", d->provider, what);
}

static void break_parts(gdec *d) {
    lx_emitter_break_text(&d->em);
    lx_emitter_break_reasoning(&d->em);
    d->last = LAST_NONE;
}

static llmux_status function_call(gdec *d, const json_t *fc, llmux_error_info *err) {
    const char *name = lx_json_str(fc, "name");
    if (!name) return protocol(d, err, "functionCall without a name");
    /* The Developer API sends no call ids; Vertex and some clients do. */
    char idbuf[32];
    const char *id = lx_json_str(fc, "id");
    if (!id || !*id) {
        snprintf(idbuf, sizeof idbuf, "call_%u", (unsigned)d->n_calls);
        id = idbuf;
    }
    int64_t key = d->n_calls++;
    llmux_status st = lx_emit_tool_start(&d->em, key, id, name, err);
    if (st != LLMUX_OK) return st;
    json_t *args = json_object_get(fc, "args");
    lx_buf tmp;
    lx_buf_init(&tmp, LX_WIRE_MAX_LINE);
    bool ok = json_is_object(args) ? lx_json_dump_buf(args, &tmp) : lx_buf_append_str(&tmp, "{}");
    st = ok ? lx_emit_tool_delta(&d->em, key, tmp.data, tmp.len, err)
            : lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
    lx_buf_free(&tmp);
    return st == LLMUX_OK ? lx_emit_tool_end(&d->em, key, err) : st;
}

/* One part. A thoughtSignature belongs to its part: on a thought it travels on that reasoning
 * part; on anything else it becomes a signature-only REASONING part placed just before the
 * part's own, which the encoder puts back onto the following part. A signed part is never
 * merged with its neighbours (Gemini's rule for signatures). */
static llmux_status on_part(gdec *d, const json_t *part, llmux_error_info *err) {
    if (!json_is_object(part)) return protocol(d, err, "a part is not an object");
    const char *sig = lx_json_str(part, "thoughtSignature");
    if (sig && !*sig) sig = NULL;
    json_t *text = json_object_get(part, "text");
    json_t *fc = lx_json_obj(part, "functionCall");
    llmux_status st = LLMUX_OK;
    if (json_is_true(json_object_get(part, "thought"))) {
        if (d->last != LAST_THOUGHT) break_parts(d);
        st = lx_emit_reasoning(&d->em, json_is_string(text) ? json_string_value(text) : NULL,
                               json_is_string(text) ? json_string_length(text) : 0, sig, false, err);
        d->last = LAST_THOUGHT;
        if (sig) break_parts(d);
        return st;
    }
    if (sig) {
        break_parts(d);
        st = lx_emit_reasoning(&d->em, NULL, 0, sig, false, err);
        break_parts(d);
        if (st != LLMUX_OK) return st;
    }
    if (fc) {
        break_parts(d);
        return function_call(d, fc, err);
    }
    if (json_is_string(text)) {
        if (d->last != LAST_TEXT) break_parts(d);
        st = lx_emit_text(&d->em, json_string_value(text), json_string_length(text), err);
        d->last = LAST_TEXT;
        if (sig) break_parts(d);
        return st;
    }
    return LLMUX_OK; /* inlineData, executableCode...: no canonical part */
}

static llmux_finish_reason map_finish(const gdec *d, const char *r) {
    static const char *const filtered[] = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                                           "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"};
    if (strcmp(r, "MAX_TOKENS") == 0) return LLMUX_FINISH_LENGTH;
    for (size_t i = 0; i < sizeof filtered / sizeof filtered[0]; i++)
        if (strcmp(r, filtered[i]) == 0) return LLMUX_FINISH_CONTENT_FILTER;
    /* STOP and everything else (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, later additions). */
    return d->n_calls > 0 ? LLMUX_FINISH_TOOL_CALLS : LLMUX_FINISH_STOP;
}

/* usageMetadata is repeated in every chunk and the last one is right; proto3 JSON omits zero
 * counts, so an absent count is 0 once the object is there. */
static void read_usage(gdec *d, const json_t *u) {
    if (!json_is_object(u)) return;
    d->have_usage = true;
    d->prompt = d->candidates = d->cached = d->thoughts = 0;
    d->total = -1;
    lx_json_i64(u, "promptTokenCount", &d->prompt);
    lx_json_i64(u, "candidatesTokenCount", &d->candidates);
    lx_json_i64(u, "cachedContentTokenCount", &d->cached);
    lx_json_i64(u, "thoughtsTokenCount", &d->thoughts);
    lx_json_i64(u, "totalTokenCount", &d->total);
}

/* One GenerateContentResponse (or an error object in its place). */
static llmux_status on_chunk(gdec *d, const json_t *c, llmux_error_info *err) {
    if (!json_is_object(c)) return protocol(d, err, "a response chunk is not an object");
    json_t *e = lx_json_obj(c, "error");
    if (e) return lx_gemini_error(e, 0, -1, d->provider, err);
    llmux_status st = lx_emit_start(&d->em, lx_json_str(c, "responseId"), lx_json_str(c, "modelVersion"), err);
    if (st != LLMUX_OK) return st;
    read_usage(d, lx_json_obj(c, "usageMetadata"));
    json_t *cands = json_object_get(c, "candidates");
    json_t *fb = lx_json_obj(c, "promptFeedback");
    const char *block = lx_json_str(fb, "blockReason");
    /* A blocked prompt: no candidates, only promptFeedback (blockReason may be missing). */
    if (block || (fb && json_is_array(cands) && json_array_size(cands) == 0)) {
        const char *msg = lx_json_str(fb, "blockReasonMessage");
        return lx_provider_error(err, LLMUX_E_CONTENT_FILTERED, d->provider, 0, block ? block : "BLOCKED",
                                 msg ? msg : "the prompt was blocked", -1);
    }
    if (cands && !json_is_array(cands)) return protocol(d, err, "candidates is not an array");
    json_t *cand = json_array_get(cands, 0); /* llmux asks for one candidate */
    if (!cand) return LLMUX_OK;
    json_t *parts = lx_json_arr(lx_json_obj(cand, "content"), "parts");
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p) {
        st = on_part(d, p, err);
        if (st != LLMUX_OK) return st;
    }
    const char *fr = lx_json_str(cand, "finishReason");
    if (fr) {
        d->have_finish = true;
        d->finish = map_finish(d, fr);
    }
    return LLMUX_OK;
}

/* USAGE then FINISH. Canonical output counts the thinking tokens Gemini reports apart. */
static llmux_status finish(gdec *d, llmux_error_info *err) {
    if (d->have_usage) {
        llmux_usage u = llmux_usage_default();
        u.input_tokens = d->prompt;
        u.output_tokens = d->candidates + d->thoughts;
        u.cached_input_tokens = d->cached;
        u.reasoning_tokens = d->thoughts;
        u.total_tokens = d->total >= 0 ? d->total : u.input_tokens + u.output_tokens;
        llmux_status st = lx_emit_usage(&d->em, &u, err);
        if (st != LLMUX_OK) return st;
    }
    return lx_emit_finish(&d->em, d->finish, err);
}

static llmux_status on_sse(void *user, const lx_sse_event *sse) {
    gdec *d = user;
    json_t *c = lx_json_parse_upstream(sse->data, sse->data_len, LX_WIRE_MAX_LINE, "gemini stream chunk", &d->failure);
    if (!c) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st = on_chunk(d, c, &d->failure);
    json_decref(c);
    return st;
}

static llmux_status fail(gdec *d, llmux_status st, llmux_error_info *err) {
    d->failed = st;
    if (err) *err = d->failure;
    return st;
}

static llmux_status sticky(gdec *d, llmux_error_info *err) {
    if (err) *err = d->failure;
    return d->failed;
}

/* A bare JSON error after the SSE events (seen from Vertex): once complete, it is the outcome. */
static llmux_status check_raw(gdec *d, bool at_end) {
    json_t *j = json_loadb(d->raw.data ? d->raw.data : "", d->raw.len, 0, NULL);
    if (!j) {
        return at_end ? lx_error(&d->failure, LLMUX_E_UPSTREAM_PROTOCOL, "%s: the stream holds data that is not SSE",
                                 d->provider)
                      : LLMUX_OK;
    }
    json_t *e = lx_json_obj(json_is_array(j) ? json_array_get(j, 0) : j, "error");
    llmux_status st = e ? lx_gemini_error(e, 0, -1, d->provider, &d->failure)
                        : lx_error(&d->failure, LLMUX_E_UPSTREAM_PROTOCOL, "%s: the stream holds data that is not SSE",
                                   d->provider);
    json_decref(j);
    return st;
}

static llmux_status feed_inner(lx_decoder *dec, const char *data, size_t len, llmux_error_info *err) {
    gdec *d = (gdec *)dec;
    if (d->failed != LLMUX_OK) return sticky(d, err);
    if (!d->stream) {
        if (!lx_buf_append(&d->body, data, len))
            return fail(d, lx_error(&d->failure, LLMUX_E_UPSTREAM_PROTOCOL, "%s: response body over %u bytes",
                                    d->provider, LX_WIRE_MAX_BODY),
                        err);
        return LLMUX_OK;
    }
    size_t sse_len = len;
    if (!d->raw_mode) {
        /* SSE lines start with a field name; a line starting with '{' or '[' is raw JSON. */
        for (size_t i = 0; i < len; i++) {
            char ch = data[i];
            if (d->at_line_start && (ch == '{' || ch == '[')) {
                d->raw_mode = true;
                sse_len = i;
                break;
            }
            d->at_line_start = ch == '\n' || ch == '\r';
        }
    } else {
        sse_len = 0;
    }
    llmux_status st = lx_sse_feed(&d->sse, data, sse_len, on_sse, d, &d->failure);
    if (st != LLMUX_OK) return fail(d, st, err);
    if (d->raw_mode) {
        if (!lx_buf_append(&d->raw, data + sse_len, len - sse_len))
            return fail(d, lx_error(&d->failure, LLMUX_E_UPSTREAM_PROTOCOL, "%s: non-SSE data in the stream",
                                    d->provider),
                        err);
        st = check_raw(d, false);
        if (st != LLMUX_OK) return fail(d, st, err);
    }
    return LLMUX_OK;
}

static llmux_status decode_body(gdec *d, llmux_error_info *err) {
    json_t *j = lx_json_parse_upstream(d->body.data, d->body.len, LX_WIRE_MAX_BODY, "gemini response", err);
    if (!j) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st = LLMUX_OK;
    if (json_is_array(j)) {
        size_t i;
        json_t *c;
        json_array_foreach(j, i, c) {
            st = on_chunk(d, c, err);
            if (st != LLMUX_OK) break;
        }
    } else {
        st = on_chunk(d, j, err);
    }
    json_decref(j);
    if (st != LLMUX_OK) return st;
    if (!d->have_finish) return protocol(d, err, "the response has no candidate with a finishReason");
    return finish(d, err);
}

static llmux_status end_inner(lx_decoder *dec, llmux_error_info *err) {
    gdec *d = (gdec *)dec;
    if (d->failed != LLMUX_OK) return sticky(d, err);
    if (d->em.finished) return LLMUX_OK;
    llmux_status st;
    if (!d->stream) {
        st = decode_body(d, &d->failure);
        return st == LLMUX_OK ? LLMUX_OK : fail(d, st, err);
    }
    /* Dispatch a last event that lacks its blank line; a cut inside it fails as invalid JSON. */
    st = lx_sse_feed(&d->sse, "\n\n", 2, on_sse, d, &d->failure);
    if (st == LLMUX_OK) st = lx_sse_finish(&d->sse, NULL, &d->failure);
    if (st == LLMUX_OK && d->raw_mode) st = check_raw(d, true);
    if (st == LLMUX_OK && !d->have_finish)
        st = lx_error(&d->failure, LLMUX_E_UPSTREAM_PROTOCOL,
                      "%s: the stream ended without a finishReason (truncated)", d->provider);
    if (st == LLMUX_OK) st = finish(d, &d->failure);
    return st == LLMUX_OK ? LLMUX_OK : fail(d, st, err);
}

/* Upstream text reaches errors here (an echoed key in an error event): mask the key. */
llmux_status lx_gemini_decoder_feed(lx_decoder *dec, const char *data, size_t len, llmux_error_info *err) {
    gdec *d = (gdec *)dec;
    return lx_redact_status(feed_inner(dec, data, len, err), err, &d->failure, d->key);
}

llmux_status lx_gemini_decoder_end(lx_decoder *dec, llmux_error_info *err) {
    gdec *d = (gdec *)dec;
    return lx_redact_status(end_inner(dec, err), err, &d->failure, d->key);
}

/* Canonical events so far, plus the bytes of a non-streaming body (decoded only at its end). */
struct lx_emitter *lx_gemini_decoder_emitter(lx_decoder *dec) { return &((gdec *)dec)->em; }

uint64_t lx_gemini_decoder_progress(const lx_decoder *dec) {
    const gdec *d = (const gdec *)dec;
    return d->em.n_events + d->body.len;
}
