/* GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items and item_reference: the
 * Responses API's kept responses (response_store.h), as the OpenAI SDKs' responses.retrieve,
 * responses.delete and responses.inputItems.list call them, and as stateful clients refer to
 * the items of earlier responses by id instead of resending them.
 * Reference: platform.openai.com/docs/api-reference/responses (list input items: limit 1..100,
 * default 20; order asc|desc, default desc; after/before an item id; a cursor page
 * {object: list, data, first_id, last_id, has_more}). */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server/http/call.h"
#include "server/http/response_store.h"

#define MAX_ID 128

/* OpenAI's 404 for an id it does not have (or that another key's requests made). */
static void not_found(struct evhttp_request *req, const char *id) {
    json_t *m = json_sprintf("Response with id '%s' not found.", id); /* NULL for an id that is not UTF-8 */
    if (!m) m = json_string("Response not found.");
    json_t *e = json_pack("{s:{s:o,s:s,s:n,s:n}}", "error", "message", m, "type", "invalid_request_error", "param", "code");
    char *body = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    lx_call_reply_json(req, 404, body ? body : "{}", -1);
    free(body);
}

/* The input items of a kept response (its conversation before its own answer); NULL when it is
 * not kept for owner, cannot be read back, or memory runs out. */
static json_t *input_items_of(lx_server *s, const char *id, const char *owner) {
    const char *hist = NULL;
    size_t n_input = 0;
    if (!s->resp_store || !lx_resp_store_get(s->resp_store, id, owner, &hist, &n_input, NULL)) return NULL;
    llmux_request *h = NULL;
    llmux_error_info err;
    if (llmux_request_from_json(hist, strlen(hist), &h, &err) != LLMUX_OK) return NULL;
    json_t *items = lx_srv_responses_input_items(h->messages, n_input < h->n_messages ? n_input : h->n_messages, id);
    llmux_request_free(h);
    return items;
}

/* The index of the item with this id in items, or -1. */
static long index_of(const json_t *items, const char *item_id) {
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *x = json_string_value(json_object_get(it, "id"));
        if (x && strcmp(x, item_id) == 0) return (long)i;
    }
    return -1;
}

/* The kept response's output items (inputs false) or input items (true), each list read once per
 * request for all the references into it (the last response referred to is kept: references
 * come in runs), and only when one names it. NULL when it is not kept for the owner. */
static const json_t *response_items(lx_item_lookup *l, const char *id, bool inputs) {
    if (strcmp(l->id, id) != 0) {
        lx_item_lookup_release(l);
        snprintf(l->id, sizeof l->id, "%s", id);
    }
    if (inputs) {
        if (!l->inputs) l->inputs = input_items_of(l->s, id, l->owner);
        return l->inputs;
    }
    const char *object = NULL;
    if (!l->output && lx_resp_store_get(l->s->resp_store, id, l->owner, NULL, NULL, &object)) {
        json_t *o = json_loads(object, 0, NULL);
        l->output = json_incref(json_object_get(o, "output"));
        json_decref(o);
    }
    return l->output;
}

void lx_item_lookup_release(lx_item_lookup *l) {
    json_decref(l->output);
    json_decref(l->inputs);
    l->output = l->inputs = NULL;
    l->id[0] = '\0';
}

json_t *lx_responses_stored_item(void *ctx, const char *item_id, const char *previous_response_id,
                                 llmux_error_info *err) {
    lx_item_lookup *l = ctx;
    if (!l->s->resp_store) {
        lx_srv_fail(err,
                    "item_reference '%s': this server keeps no responses (server.limits.responses_store_mb is 0)", item_id);
        return NULL;
    }
    /* "<kind>_<hex>_<n>" or "<kind>_<hex>_in<n>" names response "resp_<hex>" (responses.c). */
    const char *a = strchr(item_id, '_'), *b = a ? strchr(a + 1, '_') : NULL;
    char id[MAX_ID + 8];
    if (a && b && b - a - 1 > 0 && b - a - 1 <= MAX_ID) {
        snprintf(id, sizeof id, "resp_%.*s", (int)(b - a - 1), a + 1);
        if (previous_response_id && strcmp(id, previous_response_id) == 0) {
            lx_srv_fail(err,
                        "Duplicate item found with id %s: previous_response_id already puts it in the conversation", item_id);
            return NULL;
        }
        const json_t *list = response_items(l, id, strncmp(b + 1, "in", 2) == 0);
        long i = list ? index_of(list, item_id) : -1;
        if (i >= 0) return json_incref(json_array_get(list, (size_t)i));
    }
    lx_srv_fail(err,
                "item_reference '%s' names no item of a stored response (only responses created with store are kept, in "
                "memory, until evicted)",
                item_id);
    return NULL;
}

static void bad_param(struct evhttp_request *req, const char *param, const char *message) {
    json_t *e = json_pack("{s:{s:s,s:s,s:s,s:n}}", "error", "message", message, "type", "invalid_request_error",
                          "param", param, "code");
    char *body = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    lx_call_reply_json(req, 400, body ? body : "{}", -1);
    free(body);
}

/* GET .../input_items: one page of the kept response's input items. */
static void list_input_items(lx_server *s, struct evhttp_request *req, const char *id, const char *owner) {
    struct evkeyvalq q = {0};
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        bad_param(req, "query", "the query string is malformed");
        return;
    }
    const char *limit_s = evhttp_find_header(&q, "limit"), *order = evhttp_find_header(&q, "order");
    const char *after = evhttp_find_header(&q, "after"), *before = evhttp_find_header(&q, "before");
    char *end = NULL;
    long limit = limit_s ? strtol(limit_s, &end, 10) : 20;
    json_t *items = NULL, *page = NULL;
    if (limit_s && (!*limit_s || *end || limit < 1 || limit > 100)) {
        bad_param(req, "limit", "limit: expected an integer from 1 to 100");
    } else if (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) {
        bad_param(req, "order", "order: expected asc or desc");
    } else if (!(items = input_items_of(s, id, owner))) {
        not_found(req, id);
    } else {
        bool desc = !order || strcmp(order, "desc") == 0;
        long n = (long)json_array_size(items);
        /* Positions in the requested order: p ↦ items[desc ? n-1-p : p]. The page starts after
         * `after` and ends before `before` (each an item id of this list). */
        long from = 0, to = n;
        long ai = after ? index_of(items, after) : -1, bi = before ? index_of(items, before) : -1;
        if (after && ai < 0) {
            bad_param(req, "after", "after: no input item of this response has that id");
            goto out;
        }
        if (before && bi < 0) {
            bad_param(req, "before", "before: no input item of this response has that id");
            goto out;
        }
        if (after) from = (desc ? n - 1 - ai : ai) + 1;
        if (before) to = desc ? n - 1 - bi : bi;
        /* after (or neither): the first `limit` of the range, more when it goes on past them;
         * before alone: the page just before the cursor, more when the range begins earlier. */
        long start = from, stop = to < from + limit ? to : from + limit;
        if (before && !after && to - limit > from) start = to - limit, stop = to;
        bool more = before && !after ? start > from : stop < to;
        json_t *data = json_array();
        for (long p = start; data && p < stop; p++)
            json_array_append(data, json_array_get(items, (size_t)(desc ? n - 1 - p : p)));
        size_t got = data ? json_array_size(data) : 0;
        json_t *first = got ? json_object_get(json_array_get(data, 0), "id") : NULL;
        json_t *last = got ? json_object_get(json_array_get(data, got - 1), "id") : NULL;
        page = data ? json_pack("{s:s,s:o,s:O?,s:O?,s:b}", "object", "list", "data", data, "first_id", first, "last_id",
                                last, "has_more", more)
                    : NULL;
        char *body = page ? json_dumps(page, JSON_COMPACT) : NULL;
        if (body) lx_call_reply_json(req, 200, body, -1);
        else lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        free(body);
    }
out:
    json_decref(page);
    json_decref(items);
    evhttp_clear_headers(&q);
}

void lx_responses_stored_route(lx_server *s, struct evhttp_request *req, const char *rest, const lx_auth_grant *g) {
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *slash = strchr(rest, '/');
    bool items = slash && strcmp(slash, "/input_items") == 0;
    if (slash && !items) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_MODEL_NOT_FOUND, "no such route", -1);
        return;
    }
    if (cmd != EVHTTP_REQ_GET && (items || cmd != EVHTTP_REQ_DELETE)) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_INVALID_REQUEST,
                            items ? "this route takes GET" : "this route takes GET or DELETE", -1);
        return;
    }
    char *raw = strndup(rest, slash ? (size_t)(slash - rest) : strlen(rest));
    char *id = raw ? evhttp_uridecode(raw, 0, NULL) : NULL;
    free(raw);
    if (!id) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    const char *owner = lx_auth_key_name(s->auth, g), *object = NULL;
    if (strlen(id) > MAX_ID || !s->resp_store) {
        not_found(req, strlen(id) > MAX_ID ? "(too long)" : id);
    } else if (items) {
        list_input_items(s, req, id, owner);
    } else if (cmd == EVHTTP_REQ_GET) {
        if (lx_resp_store_get(s->resp_store, id, owner, NULL, NULL, &object)) lx_call_reply_json(req, 200, object, -1);
        else not_found(req, id);
    } else if (lx_resp_store_delete(s->resp_store, id, owner)) {
        json_t *o = json_pack("{s:s,s:s,s:b}", "id", id, "object", "response", "deleted", 1);
        char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        lx_call_reply_json(req, 200, body ? body : "{}", -1);
        free(body);
    } else {
        not_found(req, id);
    }
    free(id);
}
