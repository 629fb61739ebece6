/* GET and DELETE /v1/responses/{id}: the Responses API's kept responses (response_store.h), as
 * the OpenAI SDKs' responses.retrieve and responses.delete call them. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "server/http/call.h"
#include "server/http/response_store.h"

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

void lx_responses_stored_route(lx_server *s, struct evhttp_request *req, const char *rest, const lx_auth_grant *g) {
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (strchr(rest, '/')) { /* /input_items and other sub-resources */
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_MODEL_NOT_FOUND, "no such route", -1);
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_DELETE) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_INVALID_REQUEST, "this route takes GET or DELETE", -1);
        return;
    }
    char *id = evhttp_uridecode(rest, 0, NULL);
    if (!id) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    const char *owner = lx_auth_key_name(s->auth, g), *object = NULL;
    if (strlen(id) > 128 || !s->resp_store) {
        not_found(req, strlen(id) > 128 ? "(too long)" : id);
    } else if (cmd == EVHTTP_REQ_GET) {
        if (lx_resp_store_get(s->resp_store, id, owner, NULL, &object)) lx_call_reply_json(req, 200, object, -1);
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
