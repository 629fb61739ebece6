/* Ollama native adapter: POST /api/chat, NDJSON streaming (one JSON object per line, the last
 * one with "done": true), tool calls that arrive complete with arguments as an object, and
 * errors as {"error": "<string>"}, both as an HTTP error body and as a final stream line. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/emitter.h"
#include "core/error.h"
#include "core/utf8.h"
#include "providers/reasoning.h"
#include "providers/chat.h"
#include "providers/embed_models.h"
#include "providers/errors.h"
#include "providers/json_util.h"
#include "providers/ratelimit.h"
#include "providers/redact.h"
#include "providers/wire.h"
#include "transport/ndjson.h"

/* ------------------------------------------------------------ encode */

static bool set_new(json_t *obj, const char *key, json_t *v) { return v && json_object_set_new(obj, key, v) == 0; }

static llmux_status oom(llmux_error_info *err) { return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "ollama: out of memory"); }

static llmux_status add_message(json_t *msgs, const llmux_message *m, size_t mi, llmux_error_info *err) {
    static const char *const roles[] = {"system", "user", "assistant", "tool"};
    if ((unsigned)m->role > LLMUX_ROLE_TOOL)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].role: unknown role %d", mi, (int)m->role);
    lx_buf text;
    lx_buf_init(&text, LLMUX_JSON_MAX_BYTES);
    bool ok = lx_buf_append(&text, "", 0);
    json_t *images = NULL, *calls = NULL;
    size_t n_text = 0;
    llmux_status st = LLMUX_OK;
    for (size_t i = 0; ok && st == LLMUX_OK && i < m->n_parts; i++) {
        const llmux_part *p = &m->parts[i];
        switch (p->type) {
        case LLMUX_PART_TEXT:
            /* A system prompt's blocks read as one text, a line apart. */
            if (m->role == LLMUX_ROLE_SYSTEM && n_text) ok = lx_buf_append_str(&text, "\n");
            ok = ok && lx_buf_append_str(&text, p->text ? p->text : "");
            n_text++;
            break;
        case LLMUX_PART_IMAGE:
            /* Ollama takes raw base64 only: it cannot fetch URLs. */
            if (!p->data) {
                st = lx_error(err, LLMUX_E_INVALID_REQUEST,
                              "messages[%zu].content[%zu]: ollama accepts images as base64 data, not URLs", mi, i);
                break;
            }
            if (!images) ok = (images = json_array()) != NULL;
            ok = ok && json_array_append_new(images, json_string(p->data)) == 0;
            break;
        case LLMUX_PART_TOOL_CALL: {
            if (m->role != LLMUX_ROLE_ASSISTANT) {
                st = lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: tool calls belong to assistant messages", mi, i);
                break;
            }
            /* Arguments travel as an object. */
            char field[64];
            snprintf(field, sizeof field, "messages[%zu].content[%zu].arguments", mi, i);
            json_t *args = lx_json_parse_request(p->arguments && *p->arguments ? p->arguments : "{}", field, err);
            if (!args) {
                st = LLMUX_E_INVALID_REQUEST;
                break;
            }
            if (!calls) ok = (calls = json_array()) != NULL;
            json_t *c = json_pack("{s:{s:s, s:o}}", "function", "name", p->name ? p->name : "", "arguments", args);
            if (c && p->id) ok = ok && set_new(c, "id", json_string(p->id));
            ok = ok && c && json_array_append_new(calls, c) == 0;
            break;
        }
        case LLMUX_PART_TOOL_RESULT: {
            /* One "tool" message per result; matched by tool_name (newer servers also read tool_call_id). */
            json_t *o = json_pack("{s:s, s:s}", "role", "tool", "content", p->text ? p->text : "");
            ok = o != NULL;
            if (ok && p->name) ok = set_new(o, "tool_name", json_string(p->name));
            if (ok && p->id) ok = set_new(o, "tool_call_id", json_string(p->id));
            ok = ok && json_array_append_new(msgs, o) == 0;
            break;
        }
        case LLMUX_PART_REASONING:
        case LLMUX_PART_NATIVE: /* another provider's own block */
            break; /* not sent back */
        case LLMUX_PART_FILE:
            st = lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: ollama does not accept files (documents)",
                          mi, i);
            break;
        }
    }
    if (st == LLMUX_OK && ok && m->role != LLMUX_ROLE_TOOL && (n_text > 0 || images || calls)) {
        json_t *o = json_pack("{s:s, s:s#}", "role", roles[m->role], "content", text.data, text.len);
        ok = o != NULL;
        if (ok && images) ok = set_new(o, "images", json_incref(images));
        if (ok && calls) ok = set_new(o, "tool_calls", json_incref(calls));
        ok = ok && json_array_append_new(msgs, o) == 0;
    } else if (st == LLMUX_OK && m->role == LLMUX_ROLE_TOOL && (n_text > 0 || images)) {
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu]: a tool message holds tool_result parts only", mi);
    }
    json_decref(images);
    json_decref(calls);
    lx_buf_free(&text);
    if (st == LLMUX_OK && !ok) st = oom(err);
    return st;
}

static llmux_status add_options(json_t *body, const llmux_sampling *s, llmux_error_info *err) {
    json_t *o = json_object();
    if (!o) return oom(err);
    bool ok = true;
    if (!llmux_is_unset(s->temperature)) ok = ok && set_new(o, "temperature", json_real(s->temperature));
    if (!llmux_is_unset(s->top_p)) ok = ok && set_new(o, "top_p", json_real(s->top_p));
    if (s->top_k != LLMUX_UNSET_INT) ok = ok && set_new(o, "top_k", json_integer(s->top_k));
    if (!llmux_is_unset(s->min_p)) ok = ok && set_new(o, "min_p", json_real(s->min_p));
    if (s->max_tokens != LLMUX_UNSET_INT) {
        if (s->max_tokens < 1) {
            json_decref(o);
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "sampling.max_tokens: must be >= 1");
        }
        ok = ok && set_new(o, "num_predict", json_integer(s->max_tokens));
    }
    if (s->n_stop > 0) {
        json_t *stop = json_array();
        ok = ok && set_new(o, "stop", stop);
        for (size_t i = 0; ok && i < s->n_stop; i++) ok = s->stop[i] && json_array_append_new(stop, json_string(s->stop[i])) == 0;
    }
    if (s->seed != LLMUX_UNSET_INT) ok = ok && set_new(o, "seed", json_integer(s->seed));
    if (!llmux_is_unset(s->repeat_penalty)) ok = ok && set_new(o, "repeat_penalty", json_real(s->repeat_penalty));
    if (!llmux_is_unset(s->presence_penalty)) ok = ok && set_new(o, "presence_penalty", json_real(s->presence_penalty));
    if (!llmux_is_unset(s->frequency_penalty)) ok = ok && set_new(o, "frequency_penalty", json_real(s->frequency_penalty));
    if (!ok) {
        json_decref(o);
        return oom(err);
    }
    if (json_object_size(o) == 0) {
        json_decref(o);
        return LLMUX_OK;
    }
    return set_new(body, "options", o) ? LLMUX_OK : oom(err);
}

static llmux_status build_body(const llmux_request *req, const char *model, json_t *body, llmux_error_info *err) {
    if (!set_new(body, "model", json_string(model))) return oom(err);
    llmux_status st = lx_chat_messages(body, req, add_message, "ollama", err);
    if (st != LLMUX_OK) return st;
    st = lx_chat_tools(body, req, "ollama", err);
    if (st != LLMUX_OK) return st;
    /* Ollama has no tool_choice: "none" is honoured by not sending tools; forcing a tool cannot
     * be expressed and would change the meaning, so it is refused. */
    if (req->tool_choice == LLMUX_TOOL_CHOICE_NONE) json_object_del(body, "tools");
    if (req->tool_choice == LLMUX_TOOL_CHOICE_REQUIRED || req->tool_choice == LLMUX_TOOL_CHOICE_TOOL)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "tool_choice: ollama cannot force a tool call");
    if (req->response_format == LLMUX_FORMAT_JSON_OBJECT) {
        if (!set_new(body, "format", json_string("json"))) return oom(err);
    } else if (req->response_format == LLMUX_FORMAT_JSON_SCHEMA) {
        json_t *schema = lx_json_parse_request(req->schema, "schema", err);
        if (!schema) return LLMUX_E_INVALID_REQUEST;
        if (!set_new(body, "format", schema)) return oom(err);
    }
    st = add_options(body, &req->sampling, err);
    if (st != LLMUX_OK) return st;
    /* Streaming is Ollama's default: always say which one we want. */
    if (!set_new(body, "stream", json_boolean(req->stream))) return oom(err);
    /* Ollama's think is on/off (an effort name only for gpt-oss models): any budget or effort
     * turns it on, NONE off; provider_options.ollama.think, merged below, wins. */
    int64_t budget = lx_reasoning_budget(req);
    if (budget >= 0 && !set_new(body, "think", json_boolean(budget > 0))) return oom(err);
    /* keep_alive, think, options overrides... from provider_options.ollama. An "options" object
     * there is merged into ours rather than replacing it. */
    json_t *po = NULL;
    st = lx_provider_options_get(req->provider_options, "ollama", &po, err);
    if (st != LLMUX_OK) return st;
    if (po && !json_is_object(po)) {
        json_decref(po);
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider_options.ollama: must be a JSON object");
    }
    if (po) {
        json_t *po_opts = lx_json_obj(po, "options");
        json_t *ours = lx_json_obj(body, "options");
        if (po_opts && ours) {
            json_object_update(ours, po_opts);
            json_object_del(po, "options");
        }
        int rc = json_object_update(body, po);
        json_decref(po);
        if (rc != 0) return oom(err);
    }
    return LLMUX_OK;
}

static llmux_status ollama_encode(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                                  llmux_error_info *err) {
    if (!cfg || !req || !out) return lx_error(err, LLMUX_E_INTERNAL, "ollama: encode called with NULL");
    const char *model = cfg->model && *cfg->model ? cfg->model : req->model;
    if (!model || !*model) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: missing");
    if (!lx_wire_set(out, "POST", "/api/chat")) return lx_error(err, LLMUX_E_INTERNAL, "ollama: path too long");
    out->stream = req->stream;
    /* Ollama streams NDJSON as application/x-ndjson; a proxy may relabel it JSON. */
    out->accept_types = req->stream ? "application/x-ndjson,application/json" : NULL;
    bool ok = lx_wire_add_header(out, "Content-Type", "application/json", false) &&
              lx_wire_add_header(out, "Accept", req->stream ? "application/x-ndjson" : "application/json", false);
    /* ollama.com cloud models take a key */
    if (ok && !lx_wire_add_bearer(out, cfg))
        return lx_error(err, LLMUX_E_CONFIGURATION, "api key: too long or contains a line break");
    if (!ok) return lx_error(err, LLMUX_E_INTERNAL, "ollama: too many headers");
    json_t *body = json_object();
    if (!body) return oom(err);
    lx_error_clear(err);
    llmux_status st = build_body(req, model, body, err);
    if (st == LLMUX_OK && !lx_json_dump_buf(body, &out->body))
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "ollama: request body exceeds %zu bytes", out->body.max);
    json_decref(body);
    return st;
}

/* ------------------------------------------------------------ errors */

static llmux_status classify(int http_status, const char *msg) {
    llmux_status st = http_status >= 400 ? lx_http_status_class(http_status) : LLMUX_E_UPSTREAM_SERVER;
    /* "model \"llama3.2\" not found, try pulling it first" */
    if (lx_contains_ci(msg, "not found") && lx_contains_ci(msg, "model")) return LLMUX_E_MODEL_NOT_FOUND;
    if (lx_mentions_context_length(msg) || lx_contains_ci(msg, "exceeds the context length")) return LLMUX_E_CONTEXT_LENGTH;
    if (http_status == 0 && lx_contains_ci(msg, "unauthorized")) return LLMUX_E_AUTHENTICATION;
    return st;
}

static void ollama_map_error(int http_status, const char *body, size_t len, const char *retry_after,
                             llmux_error_info *err) {
    llmux_error_info tmp;
    json_t *j = body && len ? lx_json_parse_upstream(body, len, LX_WIRE_MAX_BODY, "ollama error body", &tmp) : NULL;
    const char *msg = lx_json_str(j, "error");
    char text[512];
    if (!msg) {
        json_t *eo = lx_json_obj(j, "error"); /* proxies that wrap it OpenAI-style */
        msg = lx_json_str(eo, "message");
    }
    if (!msg) {
        size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
        if (body) memcpy(text, body, n);
        text[n] = '\0';
        text[lx_utf8_complete_len(text, n)] = '\0';
        msg = text;
    }
    llmux_status st = classify(http_status, msg);
    int64_t retry = -1;
    /* Hosted Ollama or a gateway in front of it may send only rate-limit reset headers. */
    if (st == LLMUX_E_RATE_LIMITED || st == LLMUX_E_OVERLOADED || st == LLMUX_E_UPSTREAM_SERVER)
        retry = lx_parse_retry_hint(retry_after);
    lx_provider_error(err, st, "ollama", http_status, NULL, msg, retry);
    json_decref(j);
}

/* ------------------------------------------------------------ decode */

struct lx_decoder {
    bool stream;
    lx_emitter em;
    lx_ndjson_framer nd;
    lx_buf body;           /* non-stream: the one JSON object */
    bool done;             /* the "done": true object arrived */
    bool failed;
    llmux_error_info last_err;
    char *key;             /* the configured key, masked in every error (lx_secret_dup) */
};

static llmux_finish_reason map_done_reason(const char *r, bool tools) {
    llmux_finish_reason f = LLMUX_FINISH_STOP;
    if (r && strcmp(r, "length") == 0) f = LLMUX_FINISH_LENGTH;
    /* Ollama says "stop" also when the model called tools. "load"/"unload" (an empty request
     * that only loaded the model) are a normal end. */
    if (f == LLMUX_FINISH_STOP && tools) f = LLMUX_FINISH_TOOL_CALLS;
    return f;
}

static llmux_status decode_tool_calls(lx_decoder *d, const json_t *calls, llmux_error_info *err) {
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *fn = lx_json_obj(c, "function");
        if (!fn) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "ollama: tool call without function");
        const char *name = lx_json_str(fn, "name");
        const char *id = lx_json_str(c, "id");
        char gen[32];
        int64_t key = (int64_t)d->em.n_tools; /* calls arrive complete: one key per call */
        if (!id || !*id) {
            snprintf(gen, sizeof gen, "call_%lld", (long long)key);
            id = gen;
        }
        llmux_status st = lx_emit_tool_start(&d->em, key, id, name, err);
        if (st != LLMUX_OK) return st;
        json_t *args = json_object_get(fn, "arguments");
        if (json_is_string(args)) {
            st = lx_emit_tool_delta(&d->em, key, json_string_value(args), json_string_length(args), err);
        } else {
            char *txt = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            if (args && !txt) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "ollama: out of memory");
            st = lx_emit_tool_delta(&d->em, key, txt ? txt : "{}", txt ? strlen(txt) : 2, err);
            free(txt);
        }
        if (st == LLMUX_OK) st = lx_emit_tool_end(&d->em, key, err);
        if (st != LLMUX_OK) return st;
    }
    return LLMUX_OK;
}

static llmux_status decode_object(lx_decoder *d, const json_t *j, llmux_error_info *err) {
    if (!json_is_object(j)) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "ollama: expected a JSON object");
    if (d->done) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "ollama: data after the final \"done\" object");
    json_t *e = json_object_get(j, "error");
    if (e && !json_is_null(e)) {
        const char *msg = json_is_string(e) ? json_string_value(e) : lx_json_str(e, "message");
        return lx_provider_error(err, classify(0, msg), "ollama", 0, NULL, msg ? msg : "error", -1);
    }
    llmux_status st = lx_emit_start(&d->em, NULL, lx_json_str(j, "model"), err);
    if (st != LLMUX_OK) return st;
    json_t *m = lx_json_obj(j, "message");
    json_t *v;
    if ((v = json_object_get(m, "thinking")) && json_is_string(v))
        if ((st = lx_emit_reasoning(&d->em, json_string_value(v), json_string_length(v), NULL, false, err)) != LLMUX_OK) return st;
    if ((v = json_object_get(m, "content")) && json_is_string(v))
        if ((st = lx_emit_text(&d->em, json_string_value(v), json_string_length(v), err)) != LLMUX_OK) return st;
    /* /api/generate puts text in "response": accepted for servers that proxy it. */
    if (!m && (v = json_object_get(j, "response")) && json_is_string(v))
        if ((st = lx_emit_text(&d->em, json_string_value(v), json_string_length(v), err)) != LLMUX_OK) return st;
    json_t *calls = lx_json_arr(m, "tool_calls");
    if (calls && (st = decode_tool_calls(d, calls, err)) != LLMUX_OK) return st;
    json_t *done = json_object_get(j, "done");
    if (json_is_true(done)) {
        d->done = true;
        llmux_usage u = llmux_usage_default();
        int64_t n;
        if (lx_json_i64(j, "prompt_eval_count", &n)) u.input_tokens = n;
        if (lx_json_i64(j, "eval_count", &n)) u.output_tokens = n;
        if (u.input_tokens >= 0 && u.output_tokens >= 0) u.total_tokens = u.input_tokens + u.output_tokens;
        if (u.input_tokens >= 0 || u.output_tokens >= 0)
            if ((st = lx_emit_usage(&d->em, &u, err)) != LLMUX_OK) return st;
        return lx_emit_finish(&d->em, map_done_reason(lx_json_str(j, "done_reason"), d->em.n_tools > 0), err);
    }
    return LLMUX_OK;
}

static llmux_status on_line(void *ud, const char *line, size_t len) {
    lx_decoder *d = ud;
    json_t *j = lx_json_parse_upstream(line, len, LX_WIRE_MAX_LINE, "ollama stream line", &d->last_err);
    if (!j) return d->last_err.status;
    llmux_status st = decode_object(d, j, &d->last_err);
    json_decref(j);
    return st;
}

static lx_decoder *ollama_decoder_create(const lx_provider_config *cfg, bool stream, lx_event_sink sink) {
    lx_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->stream = stream;
    lx_emitter_init(&d->em, sink, "ollama");
    lx_ndjson_init(&d->nd, LX_WIRE_MAX_LINE);
    lx_buf_init(&d->body, LX_WIRE_MAX_BODY);
    lx_error_clear(&d->last_err);
    d->key = lx_secret_dup(cfg ? cfg->api_key : NULL);
    return d;
}

static void ollama_decoder_destroy(lx_decoder *d) {
    if (!d) return;
    lx_emitter_free(&d->em);
    lx_secret_free(d->key);
    lx_ndjson_free(&d->nd);
    lx_buf_free(&d->body);
    free(d);
}

static llmux_status fail(lx_decoder *d, llmux_status st, llmux_error_info *err) {
    d->failed = true;
    if (err) *err = d->last_err;
    return st;
}

static llmux_status feed_inner(lx_decoder *d, const char *data, size_t len, llmux_error_info *err) {
    if (d->failed) {
        if (err) *err = d->last_err;
        return d->last_err.status != LLMUX_OK ? d->last_err.status : LLMUX_E_UPSTREAM_PROTOCOL;
    }
    lx_error_clear(err);
    lx_error_clear(&d->last_err);
    if (!d->stream) {
        if (!lx_buf_append(&d->body, data, len)) {
            lx_error(&d->last_err, d->body.len + len > d->body.max ? LLMUX_E_UPSTREAM_PROTOCOL : LLMUX_E_OUT_OF_MEMORY,
                     "ollama: response body larger than %zu bytes", (size_t)LX_WIRE_MAX_BODY);
            return fail(d, d->last_err.status, err);
        }
        return LLMUX_OK;
    }
    llmux_status st = lx_ndjson_feed(&d->nd, data, len, on_line, d, &d->last_err);
    return st == LLMUX_OK ? LLMUX_OK : fail(d, st, err);
}

static llmux_status end_inner(lx_decoder *d, llmux_error_info *err) {
    if (d->failed) {
        if (err) *err = d->last_err;
        return d->last_err.status != LLMUX_OK ? d->last_err.status : LLMUX_E_UPSTREAM_PROTOCOL;
    }
    lx_error_clear(err);
    lx_error_clear(&d->last_err);
    llmux_status st;
    if (!d->stream) {
        json_error_t je;
        json_t *j = json_loadb(d->body.data ? d->body.data : "", d->body.len, JSON_ALLOW_NUL, &je);
        if (j) {
            st = decode_object(d, j, &d->last_err);
            json_decref(j);
        } else {
            /* Not one document: a server that streamed anyway. Frame it as NDJSON. */
            st = lx_ndjson_feed(&d->nd, d->body.data ? d->body.data : "", d->body.len, on_line, d, &d->last_err);
        }
        if (st != LLMUX_OK) return fail(d, st, err);
    }
    st = lx_ndjson_finish(&d->nd, on_line, d, &d->last_err);
    if (st != LLMUX_OK) return fail(d, st, err);
    if (!d->done) {
        lx_error(&d->last_err, LLMUX_E_UPSTREAM_PROTOCOL, "ollama: stream ended before the \"done\" object (truncated)");
        return fail(d, LLMUX_E_UPSTREAM_PROTOCOL, err);
    }
    return LLMUX_OK;
}

/* Upstream text reaches errors here (an echoed key in an error line): mask the key. */
static llmux_status ollama_decoder_feed(lx_decoder *d, const char *data, size_t len, llmux_error_info *err) {
    return lx_redact_status(feed_inner(d, data, len, err), err, &d->last_err, d->key);
}

static llmux_status ollama_decoder_end(lx_decoder *d, llmux_error_info *err) {
    return lx_redact_status(end_inner(d, err), err, &d->last_err, d->key);
}

/* Canonical events so far, plus the bytes of a non-streaming body (decoded only at its end). */
static struct lx_emitter *ollama_decoder_emitter(lx_decoder *d) { return &d->em; }

static uint64_t ollama_decoder_progress(const lx_decoder *d) { return d->em.n_events + d->body.len; }

const lx_provider lx_provider_ollama = {
    .protocol = "ollama",
    .caps = LX_CAP_TOOLS | LX_CAP_VISION | LX_CAP_JSON_SCHEMA | LX_CAP_REASONING | LX_CAP_STREAM_USAGE |
            LX_CAP_EMBEDDINGS | LX_CAP_MODEL_LIST,
    .encode = ollama_encode,
    .decoder_create = ollama_decoder_create,
    .decoder_feed = ollama_decoder_feed,
    .decoder_end = ollama_decoder_end,
    .decoder_destroy = ollama_decoder_destroy,
    .decoder_progress = ollama_decoder_progress,
    .decoder_emitter = ollama_decoder_emitter,
    .map_error = ollama_map_error,
    .keep_headers = lx_ratelimit_headers_openai, /* a gateway's rate limits */
    .encode_embed = lx_ollama_encode_embed,
    .decode_embed = lx_ollama_decode_embed,
    .encode_models = lx_ollama_encode_models,
    .decode_models = lx_ollama_decode_models,
};
