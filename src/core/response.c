#include "response.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* `pub` comes first so a llmux_response pointer is also a pointer to its box. */
typedef struct response_box {
    llmux_response pub;
    lx_arena arena;
    size_t parts_cap;
    size_t warnings_cap;
    const char *text; /* llmux_response_text() cache; reset whenever a part is added */
} response_box;

static const char *const k_part_names[] = {"text", "image", "tool_call", "tool_result", "reasoning", "file", "native"};
enum { N_PART_NAMES = sizeof k_part_names / sizeof k_part_names[0] };

const char *lx_part_type_name(llmux_part_type t) {
    return (unsigned)t < N_PART_NAMES ? k_part_names[t] : "unknown";
}

bool lx_part_type_from_name(const char *name, llmux_part_type *out) {
    for (unsigned i = 0; name && i < N_PART_NAMES; i++)
        if (strcmp(name, k_part_names[i]) == 0) {
            if (out) *out = (llmux_part_type)i;
            return true;
        }
    return false;
}

const char *lx_cache_name(llmux_cache c) { return c == LLMUX_CACHE_1H ? "1h" : c == LLMUX_CACHE_5M ? "5m" : ""; }

bool lx_cache_from_name(const char *name, llmux_cache *out) {
    if (!name) return false;
    if (strcmp(name, "5m") == 0) *out = LLMUX_CACHE_5M;
    else if (strcmp(name, "1h") == 0) *out = LLMUX_CACHE_1H;
    else return false;
    return true;
}

static response_box *box_of(const llmux_response *r) { return (response_box *)(void *)(uintptr_t)r; }

llmux_response *lx_response_new(void) {
    response_box *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    lx_arena_init(&b->arena);
    b->pub.finish_reason = LLMUX_FINISH_NONE;
    b->pub.usage = llmux_usage_default();
    b->pub.cost.known = false;
    lx_response_set_timing(&b->pub, -1, -1, -1);
    lx_error_clear(&b->pub.error);
    return &b->pub;
}

void llmux_response_free(llmux_response *resp) {
    if (!resp) return;
    response_box *b = box_of(resp);
    lx_arena_release(&b->arena);
    free(b);
}

lx_arena *lx_response_arena(llmux_response *r) { return &box_of(r)->arena; }

char *lx_response_strdup(llmux_response *r, const char *s) { return lx_arena_strdup(&box_of(r)->arena, s); }

char *lx_response_strndup(llmux_response *r, const char *s, size_t n) {
    if (!s) return NULL;
    return lx_arena_strndup(&box_of(r)->arena, s, n);
}

bool lx_response_set_meta(llmux_response *r, const char *id, const char *model, const char *provider) {
    const char *nid = id ? lx_response_strdup(r, id) : r->id;
    const char *nmodel = model ? lx_response_strdup(r, model) : r->model;
    const char *nprov = provider ? lx_response_strdup(r, provider) : r->provider;
    if ((id && !nid) || (model && !nmodel) || (provider && !nprov)) return false;
    r->id = nid;
    r->model = nmodel;
    r->provider = nprov;
    return true;
}

/* Arrays grow by doubling inside the arena; the old copy stays behind until the arena goes,
 * which costs at most as much again as the final array. */
static void *grow(lx_arena *a, const void *old, size_t n, size_t *cap, size_t elem) {
    if (n < *cap) return (void *)(uintptr_t)old;
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap > SIZE_MAX / elem) return NULL;
    void *p = lx_arena_alloc(a, ncap * elem);
    if (!p) return NULL;
    if (n) memcpy(p, old, n * elem);
    *cap = ncap;
    return p;
}

llmux_part *lx_response_push_part(llmux_response *r, llmux_part_type type) {
    response_box *b = box_of(r);
    llmux_part *parts = grow(&b->arena, r->parts, r->n_parts, &b->parts_cap, sizeof *parts);
    if (!parts) return NULL;
    r->parts = parts;
    llmux_part *p = &parts[r->n_parts++];
    memset(p, 0, sizeof *p);
    p->type = type;
    b->text = NULL;
    return p;
}

bool lx_response_add_part(llmux_response *r, const llmux_part *src) {
    llmux_part tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.type = src->type;
    bool ok = true;
#define COPY(f)                                   \
    do {                                          \
        tmp.f = lx_response_strdup(r, src->f);    \
        if (src->f && !tmp.f) ok = false;         \
    } while (0)
    switch (src->type) {
    case LLMUX_PART_TEXT: COPY(text); break;
    case LLMUX_PART_IMAGE:
        COPY(image_url);
        COPY(data);
        COPY(mime_type);
        break;
    case LLMUX_PART_TOOL_CALL:
        COPY(id);
        COPY(name);
        COPY(arguments);
        break;
    case LLMUX_PART_TOOL_RESULT:
        COPY(id);
        COPY(name);
        COPY(text);
        tmp.is_error = src->is_error;
        break;
    case LLMUX_PART_REASONING:
        COPY(text);
        COPY(signature);
        tmp.redacted = src->redacted;
        break;
    case LLMUX_PART_FILE:
        COPY(image_url);
        COPY(data);
        COPY(mime_type);
        COPY(name);
        break;
    case LLMUX_PART_NATIVE:
        COPY(name);
        COPY(text);
        break;
    }
#undef COPY
    if (!ok) return false;
    llmux_part *p = lx_response_push_part(r, src->type);
    if (!p) return false;
    *p = tmp;
    return true;
}

bool lx_response_add_warning(llmux_response *r, const char *code, const char *message) {
    response_box *b = box_of(r);
    const char *c = lx_response_strdup(r, code ? code : "");
    const char *m = lx_response_strdup(r, message ? message : "");
    if (!c || !m) return false;
    llmux_warning *w = grow(&b->arena, r->warnings, r->n_warnings, &b->warnings_cap, sizeof *w);
    if (!w) return false;
    r->warnings = w;
    w[r->n_warnings].code = c;
    w[r->n_warnings].message = m;
    r->n_warnings++;
    return true;
}

void lx_response_set_timing(llmux_response *r, double queued_ms, double ttft_ms, double total_ms) {
    r->timing.queued_ms = queued_ms;
    r->timing.ttft_ms = ttft_ms;
    r->timing.total_ms = total_ms;
}

void lx_response_set_error(llmux_response *r, const llmux_error_info *e) {
    if (e)
        r->error = *e;
    else
        lx_error_clear(&r->error);
}

const char *llmux_response_text(const llmux_response *resp) {
    if (!resp) return "";
    response_box *b = box_of(resp);
    if (b->text) return b->text;
    size_t total = 0;
    size_t n_text = 0;
    for (size_t i = 0; i < resp->n_parts; i++)
        if (resp->parts[i].type == LLMUX_PART_TEXT && resp->parts[i].text) {
            total += strlen(resp->parts[i].text);
            n_text++;
        }
    if (n_text == 0) return "";
    char *out = lx_arena_alloc(&b->arena, total + 1);
    if (!out) return ""; /* out of memory: documented as "" rather than NULL for callers' ease */
    size_t off = 0;
    for (size_t i = 0; i < resp->n_parts; i++)
        if (resp->parts[i].type == LLMUX_PART_TEXT && resp->parts[i].text) {
            size_t n = strlen(resp->parts[i].text);
            memcpy(out + off, resp->parts[i].text, n);
            off += n;
        }
    out[off] = '\0';
    b->text = out;
    return out;
}
