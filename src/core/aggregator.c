/* The one aggregator: canonical events in, a llmux_response out. Every provider adapter and the
 * local engine feed it, so the rules about indexes, terminal events and caps live only here. */
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "llmux.h"
#include "response.h"

/* Total content bytes (text, reasoning, signatures, tool ids, names, arguments). */
#define AGG_MAX_CONTENT ((size_t)64 * 1024 * 1024)
/* Distinct part indexes; each costs a slot even when empty, so they are capped too. */
#define AGG_MAX_PARTS ((size_t)65536)

/* One content part under construction, identified by its event index. */
typedef struct slot {
    uint32_t index;
    llmux_part_type type;
    lx_buf text;    /* TEXT text, REASONING text, TOOL_CALL arguments, NATIVE block */
    lx_buf sig;     /* REASONING signature */
    bool has_text;  /* REASONING: some text arrived (else the part's text stays NULL) */
    bool has_sig;
    bool redacted;
    bool closed;    /* TOOL_CALL: its end event arrived */
    char *id;       /* TOOL_CALL */
    char *name;     /* TOOL_CALL name, NATIVE format */
} slot;

struct llmux_aggregator {
    char *id;
    char *model;
    char *provider;
    slot *slots; /* sorted by index: the response lists parts in index order, without holes */
    size_t n_slots;
    size_t cap_slots;
    size_t content_bytes;
    llmux_usage usage;
    bool cost_known;      /* a USAGE event carried the provider's own cost figure */
    double cost_usd;
    llmux_finish_reason finish;
    char *stop;           /* the stop sequence FINISH named; NULL = none */
    /* The terminal error (ERROR, or CANCELLED), allocated when it arrives: every execution in
     * flight holds an aggregator, and most never need these 1.2 KiB. NULL = none. */
    llmux_error_info *error;
    bool done;
    const char *terminal; /* name of the terminal event, for error messages */
};

llmux_aggregator *llmux_aggregator_create(void) {
    llmux_aggregator *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->usage = llmux_usage_default();
    a->finish = LLMUX_FINISH_NONE;
    return a;
}

static void slot_free(slot *s) {
    lx_buf_free(&s->text);
    lx_buf_free(&s->sig);
    free(s->id);
    free(s->name);
}

void llmux_aggregator_destroy(llmux_aggregator *agg) {
    if (!agg) return;
    for (size_t i = 0; i < agg->n_slots; i++) slot_free(&agg->slots[i]);
    free(agg->slots);
    free(agg->id);
    free(agg->model);
    free(agg->provider);
    free(agg->error);
    free(agg->stop);
    free(agg);
}

bool llmux_aggregator_done(const llmux_aggregator *agg) { return agg && agg->done; }

/* Position of index in the sorted slots, or where it would be inserted. */
static size_t find_pos(const llmux_aggregator *a, uint32_t index, bool *found) {
    *found = false;
    /* Indexes almost always arrive in order: check the end first. */
    if (a->n_slots == 0 || a->slots[a->n_slots - 1].index < index) return a->n_slots;
    size_t lo = 0, hi = a->n_slots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->slots[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < a->n_slots && a->slots[lo].index == index;
    return lo;
}

static slot *find_slot(const llmux_aggregator *a, uint32_t index) {
    bool found;
    size_t pos = find_pos(a, index, &found);
    return found ? &a->slots[pos] : NULL;
}

/* Inserts an empty slot; NULL when out of memory or past the part cap (err filled). */
static slot *insert_slot(llmux_aggregator *a, uint32_t index, llmux_part_type type, llmux_error_info *err,
                         llmux_status *st) {
    if (a->n_slots >= AGG_MAX_PARTS) {
        *st = lx_error(err, LLMUX_E_INVALID_REQUEST, "response has more than %zu content parts", AGG_MAX_PARTS);
        return NULL;
    }
    if (a->n_slots == a->cap_slots) {
        /* From one: a streamed answer in flight is usually one text part (every open stream holds this). */
        size_t ncap = a->cap_slots ? a->cap_slots * 2 : 1;
        slot *ns = realloc(a->slots, ncap * sizeof *ns);
        if (!ns) {
            *st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory aggregating the response");
            return NULL;
        }
        a->slots = ns;
        a->cap_slots = ncap;
    }
    bool found;
    size_t pos = find_pos(a, index, &found);
    memmove(&a->slots[pos + 1], &a->slots[pos], (a->n_slots - pos) * sizeof *a->slots);
    a->n_slots++;
    slot *s = &a->slots[pos];
    memset(s, 0, sizeof *s);
    s->index = index;
    s->type = type;
    lx_buf_init(&s->text, AGG_MAX_CONTENT);
    lx_buf_init(&s->sig, AGG_MAX_CONTENT);
    return s;
}

/* Undoes insert_slot when the event that created the slot fails afterwards. */
static void remove_slot(llmux_aggregator *a, slot *s) {
    size_t pos = (size_t)(s - a->slots);
    slot_free(s);
    memmove(&a->slots[pos], &a->slots[pos + 1], (a->n_slots - pos - 1) * sizeof *a->slots);
    a->n_slots--;
}

static llmux_status oom(llmux_error_info *err) {
    return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory aggregating the response");
}

static llmux_status protocol(llmux_error_info *err, const char *msg_fmt, const llmux_event *ev, const char *extra) {
    return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, msg_fmt, llmux_event_type_name(ev->type), ev->index, extra);
}

static llmux_status check_cap(const llmux_aggregator *a, size_t add, llmux_error_info *err) {
    if (add > AGG_MAX_CONTENT || a->content_bytes > AGG_MAX_CONTENT - add)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "response content exceeds the cap of %zu bytes (64 MiB)",
                        AGG_MAX_CONTENT);
    return LLMUX_OK;
}

static char *dup_or_null(const char *s, bool *oom_flag) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    if (!d) *oom_flag = true;
    return d;
}

static llmux_status add_start(llmux_aggregator *a, const llmux_event *ev, llmux_error_info *err) {
    bool failed = false;
    char *id = dup_or_null(ev->id, &failed);
    char *model = dup_or_null(ev->name, &failed);
    char *prov = dup_or_null(ev->provider, &failed);
    if (failed) {
        free(id);
        free(model);
        free(prov);
        return oom(err);
    }
    /* A later start may fill in what an earlier one did not know; absent fields keep theirs. */
    if (id) {
        free(a->id);
        a->id = id;
    }
    if (model) {
        free(a->model);
        a->model = model;
    }
    if (prov) {
        free(a->provider);
        a->provider = prov;
    }
    return LLMUX_OK;
}

/* TEXT_DELTA and REASONING_DELTA: append to the part at the index, creating it on first use. */
static llmux_status add_content_delta(llmux_aggregator *a, const llmux_event *ev, llmux_part_type type,
                                      llmux_error_info *err) {
    size_t tlen = ev->text ? ev->text_len : 0;
    if (!ev->text && ev->text_len)
        return protocol(err, "%s at index %u: text is NULL but text_len is not 0%s", ev, "");
    size_t slen = (type == LLMUX_PART_REASONING && ev->signature) ? strlen(ev->signature) : 0;
    slot *s = find_slot(a, ev->index);
    if (s && s->type != type)
        return protocol(err, "%s at index %u: that index holds a %s part", ev, lx_part_type_name(s->type));
    llmux_status st = check_cap(a, tlen + slen, err);
    if (st) return st;
    bool created = false;
    if (!s) {
        s = insert_slot(a, ev->index, type, err, &st);
        if (!s) return st;
        created = true;
    }
    size_t old_len = s->text.len;
    if (!lx_buf_append(&s->text, ev->text ? ev->text : "", tlen) ||
        (slen && !lx_buf_append(&s->sig, ev->signature, slen))) {
        /* Leave the part as it was: the event is rejected as a whole. */
        s->text.len = old_len;
        if (s->text.data) s->text.data[old_len] = '\0';
        if (created) remove_slot(a, s);
        return oom(err);
    }
    if (type == LLMUX_PART_REASONING) {
        if (tlen) s->has_text = true;
        if (ev->signature) s->has_sig = true;
        if (ev->redacted) s->redacted = true;
    }
    a->content_bytes += tlen + slen;
    return LLMUX_OK;
}

static llmux_status add_tool_start(llmux_aggregator *a, const llmux_event *ev, llmux_error_info *err) {
    slot *s = find_slot(a, ev->index);
    if (s) return protocol(err, "%s at index %u: that index already holds a %s part", ev, lx_part_type_name(s->type));
    size_t add = (ev->id ? strlen(ev->id) : 0) + (ev->name ? strlen(ev->name) : 0);
    llmux_status st = check_cap(a, add, err);
    if (st) return st;
    bool failed = false;
    char *id = dup_or_null(ev->id, &failed);
    char *name = dup_or_null(ev->name, &failed);
    if (failed) {
        free(id);
        free(name);
        return oom(err);
    }
    s = insert_slot(a, ev->index, LLMUX_PART_TOOL_CALL, err, &st);
    if (!s) {
        free(id);
        free(name);
        return st;
    }
    s->id = id;
    s->name = name;
    a->content_bytes += add;
    return LLMUX_OK;
}

/* The tool call must have started and not ended: fragments are keyed by index, so a delta for
 * an index without a live tool call means the adapter lost track of its calls. */
static llmux_status live_tool(const llmux_aggregator *a, const llmux_event *ev, slot **out, llmux_error_info *err) {
    slot *s = find_slot(a, ev->index);
    if (!s) return protocol(err, "%s at index %u before its tool_call_start%s", ev, "");
    if (s->type != LLMUX_PART_TOOL_CALL)
        return protocol(err, "%s at index %u: that index holds a %s part", ev, lx_part_type_name(s->type));
    if (s->closed) return protocol(err, "%s at index %u after its tool_call_end%s", ev, "");
    *out = s;
    return LLMUX_OK;
}

static llmux_status add_tool_delta(llmux_aggregator *a, const llmux_event *ev, llmux_error_info *err) {
    if (!ev->text && ev->text_len)
        return protocol(err, "%s at index %u: text is NULL but text_len is not 0%s", ev, "");
    slot *s;
    llmux_status st = live_tool(a, ev, &s, err);
    if (st) return st;
    size_t tlen = ev->text ? ev->text_len : 0;
    if ((st = check_cap(a, tlen, err))) return st;
    if (tlen && !lx_buf_append(&s->text, ev->text, tlen)) return oom(err);
    a->content_bytes += tlen;
    return LLMUX_OK;
}

static llmux_status add_tool_end(llmux_aggregator *a, const llmux_event *ev, llmux_error_info *err) {
    slot *s;
    llmux_status st = live_tool(a, ev, &s, err);
    if (st) return st;
    s->closed = true;
    return LLMUX_OK;
}

/* NATIVE: one whole part in one event (a provider's own block, passed on as it came). */
static llmux_status add_native(llmux_aggregator *a, const llmux_event *ev, llmux_error_info *err) {
    slot *s = find_slot(a, ev->index);
    if (s) return protocol(err, "%s at index %u: that index already holds a %s part", ev, lx_part_type_name(s->type));
    if (!ev->text || !ev->text_len || !ev->name || !*ev->name)
        return protocol(err, "%s at index %u without a format or a block%s", ev, "");
    size_t add = ev->text_len + strlen(ev->name);
    llmux_status st = check_cap(a, add, err);
    if (st) return st;
    bool failed = false;
    char *name = dup_or_null(ev->name, &failed);
    if (failed) return oom(err);
    s = insert_slot(a, ev->index, LLMUX_PART_NATIVE, err, &st);
    if (!s) {
        free(name);
        return st;
    }
    s->name = name;
    if (!lx_buf_append(&s->text, ev->text, ev->text_len)) {
        remove_slot(a, s);
        return oom(err);
    }
    a->content_bytes += add;
    return LLMUX_OK;
}

static llmux_status add_usage(llmux_aggregator *a, const llmux_event *ev, llmux_error_info *err) {
    if (ev->cost_known) {
        if (!isfinite(ev->cost_usd) || ev->cost_usd < 0)
            return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "usage event with a cost that is not a finite number >= 0");
        /* A later figure replaces an earlier one, like the token counts: it covers more. */
        a->cost_known = true;
        a->cost_usd = ev->cost_usd;
    }
    llmux_usage_merge(&a->usage, &ev->usage);
    return LLMUX_OK;
}

static llmux_status add_finish(llmux_aggregator *a, const llmux_event *ev, llmux_error_info *err) {
    llmux_finish_reason r = ev->finish_reason;
    /* NONE is not an end, and ERROR needs the error an error event carries. */
    if ((unsigned)r > LLMUX_FINISH_PAUSED || r == LLMUX_FINISH_NONE || r == LLMUX_FINISH_ERROR)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL,
                        "finish event with finish reason \"%s\" (failures end with an error event)",
                        llmux_finish_reason_name(r));
    if (r == LLMUX_FINISH_CANCELLED) {
        if (!a->error && !(a->error = malloc(sizeof *a->error)))
            return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory ending the response");
        lx_error(a->error, LLMUX_E_CANCELLED, "%s", llmux_strerror(LLMUX_E_CANCELLED));
    }
    if (r == LLMUX_FINISH_STOP && ev->text && ev->text_len && !a->stop) {
        if (!(a->stop = malloc(ev->text_len + 1))) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory ending the response");
        memcpy(a->stop, ev->text, ev->text_len);
        a->stop[ev->text_len] = '\0';
    }
    a->finish = r;
    a->done = true;
    a->terminal = "finish";
    return LLMUX_OK;
}

static llmux_status add_error(llmux_aggregator *a, const llmux_event *ev, llmux_error_info *err) {
    if (!ev->error) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "error event without error details");
    if (ev->error->status == LLMUX_OK)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "error event with status \"ok\"");
    if (!a->error && !(a->error = malloc(sizeof *a->error)))
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory ending the response");
    *a->error = *ev->error;
    /* The fields are fixed arrays filled by others: make sure they end. */
    a->error->message[sizeof a->error->message - 1] = '\0';
    a->error->provider_code[sizeof a->error->provider_code - 1] = '\0';
    a->error->provider_message[sizeof a->error->provider_message - 1] = '\0';
    a->finish = LLMUX_FINISH_ERROR;
    a->done = true;
    a->terminal = "error";
    return LLMUX_OK;
}

llmux_status llmux_aggregator_add(llmux_aggregator *agg, const llmux_event *ev, llmux_error_info *err) {
    if (!agg || !ev) return lx_error(err, LLMUX_E_INTERNAL, "llmux_aggregator_add: NULL argument");
    if (agg->done)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s event after the terminal %s event",
                        llmux_event_type_name(ev->type), agg->terminal);
    switch (ev->type) {
    case LLMUX_EVENT_START: return add_start(agg, ev, err);
    case LLMUX_EVENT_TEXT_DELTA: return add_content_delta(agg, ev, LLMUX_PART_TEXT, err);
    case LLMUX_EVENT_REASONING_DELTA: return add_content_delta(agg, ev, LLMUX_PART_REASONING, err);
    case LLMUX_EVENT_TOOL_CALL_START: return add_tool_start(agg, ev, err);
    case LLMUX_EVENT_TOOL_CALL_DELTA: return add_tool_delta(agg, ev, err);
    case LLMUX_EVENT_TOOL_CALL_END: return add_tool_end(agg, ev, err);
    case LLMUX_EVENT_USAGE: return add_usage(agg, ev, err);
    case LLMUX_EVENT_FINISH: return add_finish(agg, ev, err);
    case LLMUX_EVENT_ERROR: return add_error(agg, ev, err);
    case LLMUX_EVENT_NATIVE: return add_native(agg, ev, err);
    }
    return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "unknown event type %d", (int)ev->type);
}

static bool build_part(llmux_response *r, const slot *s) {
    llmux_part *p = lx_response_push_part(r, s->type);
    if (!p) return false;
    const char *data = s->text.data ? s->text.data : "";
    switch (s->type) {
    case LLMUX_PART_TEXT:
        p->text = lx_response_strndup(r, data, s->text.len);
        return p->text != NULL;
    case LLMUX_PART_REASONING:
        p->redacted = s->redacted;
        if (s->has_text && !(p->text = lx_response_strndup(r, data, s->text.len))) return false;
        if (s->has_sig && !(p->signature = lx_response_strndup(r, s->sig.data ? s->sig.data : "", s->sig.len)))
            return false;
        return true;
    case LLMUX_PART_TOOL_CALL:
        if (s->id && !(p->id = lx_response_strdup(r, s->id))) return false;
        if (s->name && !(p->name = lx_response_strdup(r, s->name))) return false;
        /* A call without arguments still needs a JSON object for the tool. */
        p->arguments = s->text.len ? lx_response_strndup(r, data, s->text.len) : lx_response_strdup(r, "{}");
        return p->arguments != NULL;
    case LLMUX_PART_NATIVE:
        p->name = lx_response_strdup(r, s->name);
        p->text = lx_response_strndup(r, data, s->text.len);
        return p->name && p->text;
    default: return false;
    }
}

llmux_response *llmux_aggregator_response(const llmux_aggregator *agg) {
    if (!agg) return NULL;
    llmux_response *r = lx_response_new();
    if (!r) return NULL;
    if (!lx_response_set_meta(r, agg->id, agg->model, agg->provider)) goto fail;
    for (size_t i = 0; i < agg->n_slots; i++)
        if (!build_part(r, &agg->slots[i])) goto fail;
    r->finish_reason = agg->finish;
    if (agg->stop && !(r->stop_sequence = lx_response_strdup(r, agg->stop))) goto fail;
    r->usage = agg->usage;
    if (agg->cost_known) {
        /* Only the total is known here; the runtime may add a breakdown from catalog prices. */
        r->cost = (llmux_cost){.known = true, .input = NAN, .output = NAN, .cache_read = NAN, .cache_write = NAN,
                               .total = agg->cost_usd};
    }
    lx_response_set_error(r, agg->error); /* NULL: cleared */
    return r;
fail:
    llmux_response_free(r);
    return NULL;
}
