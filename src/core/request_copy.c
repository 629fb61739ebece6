/* lx_request_copy (request_copy.h): one walk over the request that copies what the canonical
 * codec would keep. It replaced llmux_submit's encode + parse + decode + validate, ~7% of the
 * server's CPU per proxied request (docs/benchmarks.md, "Gateway"). */
#include "request_copy.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "request_box.h"
#include "utf8.h"

/* Below these the JSON form of any request stays under LLMUX_JSON_MAX_BYTES (a string byte
 * takes at most 6 bytes escaped, an item well under 256 bytes of syntax), so the round trip
 * could not have refused it for size. */
#define COPY_MAX_STRING_BYTES (LLMUX_JSON_MAX_BYTES / 8u)
#define COPY_MAX_ITEMS 65536u

llmux_status lx_request_copy_via_json(const llmux_request *req, llmux_request **out, llmux_error_info *err) {
    *out = NULL;
    char *json = llmux_request_to_json(req);
    if (!json) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory copying the request");
    llmux_status st = llmux_request_from_json(json, strlen(json), out, err);
    llmux_free(json);
    return st;
}

/* ------------------------------------------------ can the direct copy match? */

typedef struct scan {
    size_t string_bytes;
    size_t items;
    bool exact; /* still reproducible without the round trip */
} scan;

static void scan_str(scan *s, const char *p) {
    if (!p || !s->exact) return;
    size_t n = strlen(p);
    s->string_bytes += n;
    if (!lx_utf8_valid(p, n)) s->exact = false;
}

static void scan_real(scan *s, double v) {
    if (isinf(v) || (v == 0 && signbit(v))) s->exact = false;
}

static void scan_part(scan *s, const llmux_part *p) {
    s->items++;
    scan_str(s, p->text);
    scan_str(s, p->image_url);
    scan_str(s, p->data);
    scan_str(s, p->mime_type);
    scan_str(s, p->id);
    scan_str(s, p->name);
    scan_str(s, p->arguments);
    scan_str(s, p->signature);
}

static bool metadata_keys_unique(const llmux_request *r) {
    /* n_metadata <= LX_REQ_MAX_METADATA (256) after validation: quadratic is fine. */
    for (size_t i = 0; i < r->n_metadata; i++)
        for (size_t j = i + 1; j < r->n_metadata; j++)
            if (strcmp(r->metadata[i].key, r->metadata[j].key) == 0) return false;
    return true;
}

static bool direct_copy_is_exact(const llmux_request *r) {
    scan s = {.exact = true};
    scan_str(&s, r->model);
    scan_str(&s, r->system);
    for (size_t i = 0; i < r->n_messages; i++) {
        const llmux_message *m = &r->messages[i];
        s.items++;
        scan_str(&s, m->name);
        for (size_t j = 0; j < m->n_parts; j++) scan_part(&s, &m->parts[j]);
    }
    for (size_t i = 0; i < r->n_tools; i++) {
        s.items++;
        scan_str(&s, r->tools[i].name);
        scan_str(&s, r->tools[i].description);
        scan_str(&s, r->tools[i].parameters);
    }
    scan_str(&s, r->tool_choice_name);
    scan_str(&s, r->schema_name);
    scan_str(&s, r->schema);
    for (size_t i = 0; i < r->n_metadata; i++) {
        s.items++;
        scan_str(&s, r->metadata[i].key);
        scan_str(&s, r->metadata[i].value);
    }
    scan_str(&s, r->provider_options);
    const llmux_sampling *sp = &r->sampling;
    for (size_t i = 0; i < sp->n_stop; i++) {
        s.items++;
        scan_str(&s, sp->stop[i]);
    }
    scan_real(&s, sp->temperature);
    scan_real(&s, sp->top_p);
    scan_real(&s, sp->min_p);
    scan_real(&s, sp->presence_penalty);
    scan_real(&s, sp->frequency_penalty);
    scan_real(&s, sp->repeat_penalty);
    return s.exact && s.string_bytes <= COPY_MAX_STRING_BYTES && s.items <= COPY_MAX_ITEMS &&
           metadata_keys_unique(r);
}

/* ------------------------------------------------------------- the copy */

typedef struct copier {
    lx_arena *arena;
    bool failed; /* out of memory, sticky */
} copier;

/* NULL stays NULL (an optional field the encoder omits). */
static const char *opt(copier *c, const char *s) {
    if (!s) return NULL;
    char *d = lx_arena_strdup(c->arena, s);
    if (!d) c->failed = true;
    return d;
}

/* A field the encoder always writes: NULL becomes `dflt`. */
static const char *req_str(copier *c, const char *s, const char *dflt) { return opt(c, s ? s : dflt); }

/* JSON object text, compact in the writer's spelling (as lx_jr_json_object stores it).
 * Validation already parsed it as an object; a failure here is out of memory. */
static const char *json_text(copier *c, const char *text) {
    if (!text || c->failed) return NULL;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    const char *out = NULL;
    if (v && json_is_object(v)) {
        lx_jw w;
        lx_jw_init(&w);
        lx_jw_json(&w, v);
        if (!w.failed) out = lx_arena_strndup(c->arena, w.buf.data, w.buf.len);
        lx_buf_free(&w.buf);
    }
    json_decref(v);
    if (!out) c->failed = true;
    return out;
}

static void *copy_array(copier *c, size_t n, size_t size) {
    if (!n || c->failed) return NULL;
    void *p = lx_arena_alloc(c->arena, n * size);
    if (!p) c->failed = true;
    return p;
}

/* The fields lx_jw_part writes for the part's type, and its defaults for NULL. */
static void copy_part(copier *c, const llmux_part *in, llmux_part *out) {
    memset(out, 0, sizeof *out);
    out->type = in->type;
    switch (in->type) {
    case LLMUX_PART_TEXT: out->text = req_str(c, in->text, ""); break;
    case LLMUX_PART_IMAGE:
        out->image_url = opt(c, in->image_url);
        out->data = opt(c, in->data);
        out->mime_type = opt(c, in->mime_type);
        break;
    case LLMUX_PART_TOOL_CALL:
        out->id = req_str(c, in->id, "");
        out->name = req_str(c, in->name, "");
        out->arguments = req_str(c, in->arguments, "{}");
        break;
    case LLMUX_PART_TOOL_RESULT:
        out->id = req_str(c, in->id, "");
        out->name = opt(c, in->name);
        out->text = req_str(c, in->text, "");
        out->is_error = in->is_error;
        break;
    case LLMUX_PART_REASONING:
        out->text = opt(c, in->text);
        out->signature = opt(c, in->signature);
        out->redacted = in->redacted;
        break;
    case LLMUX_PART_FILE:
        out->image_url = opt(c, in->image_url);
        out->data = opt(c, in->data);
        out->mime_type = opt(c, in->mime_type);
        out->name = opt(c, in->name);
        break;
    case LLMUX_PART_NATIVE:
        out->name = req_str(c, in->name, "");
        out->text = json_text(c, in->text);
        break;
    }
    if (in->type != LLMUX_PART_REASONING && in->type != LLMUX_PART_NATIVE) out->cache = in->cache;
}

static void copy_messages(copier *c, const llmux_request *in, llmux_request *out) {
    llmux_message *msgs = copy_array(c, in->n_messages, sizeof *msgs);
    for (size_t i = 0; msgs && i < in->n_messages; i++) {
        const llmux_message *m = &in->messages[i];
        msgs[i].role = m->role;
        msgs[i].name = opt(c, m->name);
        llmux_part *parts = copy_array(c, m->n_parts, sizeof *parts);
        for (size_t j = 0; parts && j < m->n_parts; j++) copy_part(c, &m->parts[j], &parts[j]);
        msgs[i].parts = parts;
        msgs[i].n_parts = parts ? m->n_parts : 0;
    }
    out->messages = msgs;
    out->n_messages = msgs ? in->n_messages : 0;
}

static void copy_tools(copier *c, const llmux_request *in, llmux_request *out) {
    llmux_tool *tools = copy_array(c, in->n_tools, sizeof *tools);
    for (size_t i = 0; tools && i < in->n_tools; i++) {
        tools[i].name = req_str(c, in->tools[i].name, "");
        tools[i].description = opt(c, in->tools[i].description);
        tools[i].parameters = json_text(c, in->tools[i].parameters);
        tools[i].cache = in->tools[i].cache;
    }
    out->tools = tools;
    out->n_tools = tools ? in->n_tools : 0;
}

static void copy_metadata(copier *c, const llmux_request *in, llmux_request *out) {
    llmux_kv *kv = copy_array(c, in->n_metadata, sizeof *kv);
    for (size_t i = 0; kv && i < in->n_metadata; i++) {
        kv[i].key = req_str(c, in->metadata[i].key, "");
        kv[i].value = req_str(c, in->metadata[i].value, "");
    }
    out->metadata = kv;
    out->n_metadata = kv ? in->n_metadata : 0;
}

static void copy_sampling(copier *c, const llmux_sampling *in, llmux_sampling *out) {
    const char **stop = copy_array(c, in->n_stop, sizeof *stop);
    *out = *in;
    memset(out->reserved, 0, sizeof out->reserved);
    for (size_t i = 0; stop && i < in->n_stop; i++) stop[i] = req_str(c, in->stop[i], "");
    out->stop = stop;
    out->n_stop = stop ? in->n_stop : 0;
}

llmux_status lx_request_copy(const llmux_request *req, llmux_request **out, llmux_error_info *err) {
    *out = NULL;
    if (!direct_copy_is_exact(req)) return lx_request_copy_via_json(req, out, err);
    lx_arena *arena = NULL;
    llmux_request *r = lx_request_box_new(&arena);
    if (!r) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory copying the request");
    copier c = {.arena = arena};
    r->model = opt(&c, req->model);
    r->system = opt(&c, req->system);
    copy_messages(&c, req, r);
    copy_tools(&c, req, r);
    r->tool_choice = req->tool_choice;
    if (req->tool_choice == LLMUX_TOOL_CHOICE_TOOL) r->tool_choice_name = req_str(&c, req->tool_choice_name, "");
    r->response_format = req->response_format;
    if (req->response_format == LLMUX_FORMAT_JSON_SCHEMA) {
        r->schema_name = opt(&c, req->schema_name);
        r->schema = json_text(&c, req->schema ? req->schema : "{}");
        r->schema_strict = req->schema_strict;
    }
    r->stream = req->stream;
    r->priority = req->priority;
    r->deadline_ms = req->deadline_ms;
    r->reasoning_effort = req->reasoning_effort;
    r->reasoning_budget = req->reasoning_budget;
    r->single_tool_call = req->single_tool_call;
    copy_metadata(&c, req, r);
    r->provider_options = json_text(&c, req->provider_options);
    copy_sampling(&c, &req->sampling, &r->sampling);
    if (c.failed) {
        llmux_request_free(r);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory copying the request");
    }
    lx_error_clear(err);
    *out = r;
    return LLMUX_OK;
}
