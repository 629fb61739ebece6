/* The local model registry over HTTP, in the shapes clients of llama-server's router mode and of
 * Ollama already speak (docs/server.md, "Model management"):
 *
 *   POST /models/load   {"model": "local/NAME"}  llmux_model_load on the offload pool
 *   POST /models/unload {"model": "local/NAME"}  llmux_model_unload on the offload pool
 *   GET  /models        the server's local models with {"status": {"value": "loaded" |
 *                       "loading" | "unloaded"}} (llama-server's router listing)
 *   GET  /api/ps        the loaded models with their memory (Ollama's running-model list)
 *
 * Access: with API keys configured, a key may load and unload exactly the models its patterns
 * allow it to use (403 otherwise), and the listings show only those; without keys (loopback
 * only, or --insecure-no-auth) everyone may. Loading blocks for seconds and unloading may join an
 * engine thread, so both run on the offload pool, never on the loop. The listings run there too:
 * in-process they only copy the registry's state, but with local.isolation: process the registry
 * is the engine child's, and llmux_models_loaded asks it over IPC, whose answer arrives on the
 * loop. The listings never show a server path: a client names models. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "server/http/call.h"
#include "server/http/endpoints.h"
#include "server/http/offload.h"
#include "server/http/translate.h"

llmux_status lx_srv_models_admin_body(const char *body, size_t len, char *model, size_t model_size,
                                      llmux_error_info *err) {
    if (model_size) model[0] = '\0';
    if (len > LX_MODELS_ADMIN_MAX_BODY)
        return lx_srv_fail(err, "request body too large (at most %d bytes)", LX_MODELS_ADMIN_MAX_BODY);
    json_t *root = lx_srv_parse_object(body, len, err);
    if (!root) return LLMUX_E_INVALID_REQUEST;
    llmux_status st = LLMUX_OK;
    json_t *m = json_object_get(root, "model");
    size_t n = json_is_string(m) ? json_string_length(m) : 0;
    if (!m) st = lx_srv_fail(err, "model: missing");
    else if (!json_is_string(m)) st = lx_srv_fail(err, "model: expected a string");
    else if (n == 0) st = lx_srv_fail(err, "model: empty");
    else if (n >= model_size || n > LX_MODELS_ADMIN_MAX_MODEL)
        st = lx_srv_fail(err, "model: longer than %d bytes", LX_MODELS_ADMIN_MAX_MODEL);
    else if (strlen(json_string_value(m)) != n) st = lx_srv_fail(err, "model: contains a NUL character");
    else if (llmux_model_kind_of(json_string_value(m)) == LLMUX_MODEL_REMOTE)
        st = lx_srv_fail(err, "model \"%.200s\": only local models are loaded and unloaded", json_string_value(m));
    else memcpy(model, json_string_value(m), n + 1);
    json_decref(root);
    return st;
}

/* ------------------------------------------------------- load and unload */

typedef struct admin_job {
    lx_offload o; /* first: the pool hands it back */
    bool unload;
    char model[LX_MODELS_ADMIN_MAX_MODEL + 1];
    llmux_status st;
    llmux_error_info err;
} admin_job;

static void run(lx_offload *o, llmux_cancel *cancel) {
    admin_job *j = (admin_job *)o;
    if (j->unload) {
        j->st = llmux_model_unload(o->s->rt, j->model, &j->err);
        return;
    }
    llmux_call_params cp = llmux_call_default_params();
    cp.cancel = cancel;
    j->st = llmux_model_load(o->s->rt, j->model, &cp, &j->err);
}

static void reply(lx_offload *o, struct evhttp_request *req) {
    admin_job *j = (admin_job *)o;
    if (j->st != LLMUX_OK) {
        lx_call_reply_error(req, LX_SRV_OPENAI, j->st, j->err.message, j->err.retry_after_ms);
        return;
    }
    json_t *r = json_pack("{s:b,s:s,s:{s:s}}", "success", 1, "model", j->model, "status", "value",
                          j->unload ? "unloaded" : "loaded");
    char *body = r ? json_dumps(r, JSON_COMPACT) : NULL;
    json_decref(r);
    if (!body) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    lx_call_reply_json(req, 200, body, -1);
    free(body);
}

static void release(lx_offload *o) { free(o); }

static void admin_start(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g, bool unload) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    admin_job *j = calloc(1, sizeof *j);
    if (!j) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    llmux_error_info err;
    const char *body = len && len <= LX_MODELS_ADMIN_MAX_BODY ? (const char *)evbuffer_pullup(in, -1) : "";
    if (lx_srv_models_admin_body(body, len, j->model, sizeof j->model, &err) != LLMUX_OK) {
        free(j);
        lx_call_reply_error(req, LX_SRV_OPENAI, err.status, err.message, -1);
        return;
    }
    if (!lx_auth_allows(s->auth, g, j->model)) {
        char msg[400];
        const char *key = lx_auth_key_name(s->auth, g);
        snprintf(msg, sizeof msg, "the API key \"%s\" may not %s the model \"%.200s\"", key ? key : "", unload ? "unload" : "load",
                 j->model);
        free(j);
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_PERMISSION, msg, -1);
        return;
    }
    j->unload = unload;
    j->o.run = run;
    j->o.reply = reply;
    j->o.release = release;
    lx_offload_start(s, req, LX_SRV_OPENAI, &j->o);
}

/* --------------------------------------------------------------- listings */

/* A listing: llmux_models_loaded on the offload pool, the reply built on the loop. */
typedef struct list_job {
    lx_offload o; /* first: the pool hands it back */
    bool ps;      /* GET /api/ps, else GET /models */
    lx_auth_grant g;
    llmux_status st;
    llmux_error_info err;
    char *text;   /* llmux_models_loaded's array */
} list_job;

/* The registry's entries a client may see: local names its key allows (never paths). NULL when
 * out of memory or the registry could not be read (the reply is then written). */
static json_t *visible_models(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g, list_job *j) {
    if (j->st != LLMUX_OK) {
        lx_call_reply_error(req, LX_SRV_OPENAI, j->st, j->err.message, j->err.retry_after_ms);
        return NULL;
    }
    json_t *all = json_loads(j->text, 0, NULL);
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m) {
        const char *id = json_string_value(json_object_get(m, "model"));
        if (!id || strncmp(id, "local/", 6) != 0 || !lx_auth_allows(s->auth, g, id)) continue;
        json_object_del(m, "path");
        if (out && json_array_append(out, m) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    json_decref(all);
    if (!all || !out) {
        json_decref(out);
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return NULL;
    }
    return out;
}

static void reply_object(struct evhttp_request *req, json_t *o) {
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    lx_call_reply_json(req, 200, body, -1);
    free(body);
}

/* RFC 3339 UTC of a unix time in ms. */
static void rfc3339(int64_t ms, char *buf, size_t size) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GET /api/ps: Ollama's fields (size is the budget's estimate; size_vram 0: models run on the
 * CPU; expires_at from local.idle_unload_s, null when the model never expires or is in use),
 * llmux's own under "llmux". */
static void ps_route(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g, list_job *j) {
    json_t *models = visible_models(s, req, g, j);
    if (!models) return;
    json_t *out = json_array();
    size_t i;
    json_t *m;
    int64_t now = wall_ms();
    json_array_foreach(models, i, m) {
        const char *id = json_string_value(json_object_get(m, "model"));
        json_t *unload_in = json_object_get(m, "unload_in_ms");
        char expires[40];
        if (json_is_integer(unload_in)) rfc3339(now + json_integer_value(unload_in), expires, sizeof expires);
        json_t *e = json_pack("{s:s,s:s,s:O,s:i,s:s,s:{s:s,s:s,s:s,s:s},s:o,s:O,s:O}", "name", id, "model", id, "size",
                              json_object_get(m, "memory_bytes"), "size_vram", 0, "digest", "", "details", "format",
                              "gguf", "family", "", "parameter_size", "", "quantization_level", "", "expires_at",
                              json_is_integer(unload_in) ? json_string(expires) : json_null(), "context_length",
                              json_object_get(m, "context_length"), "llmux", m);
        /* m stays models'; the pack above took its own reference ("O"). */
        if (!e || !out || json_array_append_new(out, e) != 0) {
            json_decref(out);
            out = NULL;
            break;
        }
    }
    json_decref(models);
    reply_object(req, out ? json_pack("{s:o}", "models", out) : NULL);
}

/* GET /models: every local model the server lists (its model directories at start) and every
 * one loaded since, each with llama-server's status object. */
static void models_route(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g, list_job *j) {
    json_t *loaded = visible_models(s, req, g, j);
    if (!loaded) return;
    json_t *by_id = json_object(); /* id → status, in the order ids are first seen */
    json_t *order = json_array();
    for (size_t i = 0; by_id && order && i < s->p.n_models; i++) {
        const char *id = s->p.models[i];
        if (strncmp(id, "local/", 6) != 0 || !lx_auth_allows(s->auth, g, id) || json_object_get(by_id, id)) continue;
        json_object_set_new(by_id, id, json_string("unloaded"));
        json_array_append_new(order, json_string(id));
    }
    size_t i;
    json_t *m;
    json_array_foreach(loaded, i, m) {
        const char *id = json_string_value(json_object_get(m, "model"));
        const char *state = json_string_value(json_object_get(m, "state"));
        if (!by_id || !order || !id || !state) break;
        if (!json_object_get(by_id, id)) json_array_append_new(order, json_string(id));
        /* A retiring entry no longer serves its name: the name's status is its successor's. */
        if (strcmp(state, "retiring") == 0) {
            if (!json_object_get(by_id, id)) json_object_set_new(by_id, id, json_string("unloaded"));
        } else {
            json_object_set_new(by_id, id, json_string(state));
        }
    }
    json_t *data = json_array();
    json_t *v;
    json_array_foreach(order, i, v) {
        const char *id = json_string_value(v);
        json_t *e = json_pack("{s:s,s:s,s:i,s:s,s:{s:O}}", "id", id, "object", "model", "created", 0, "owned_by", "llmux",
                              "status", "value", json_object_get(by_id, id));
        if (!e || !data || json_array_append_new(data, e) != 0) {
            json_decref(data);
            data = NULL;
            break;
        }
    }
    json_decref(by_id);
    json_decref(order);
    json_decref(loaded);
    reply_object(req, data ? json_pack("{s:s,s:o}", "object", "list", "data", data) : NULL);
}

static void list_run(lx_offload *o, llmux_cancel *cancel) {
    (void)cancel;
    list_job *j = (list_job *)o;
    j->st = llmux_models_loaded(o->s->rt, &j->text, &j->err);
}

static void list_reply(lx_offload *o, struct evhttp_request *req) {
    list_job *j = (list_job *)o;
    if (j->ps) ps_route(o->s, req, &j->g, j);
    else models_route(o->s, req, &j->g, j);
}

static void list_release(lx_offload *o) {
    llmux_free(((list_job *)o)->text);
    free(o);
}

static void list_start(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g, bool ps) {
    list_job *j = calloc(1, sizeof *j);
    if (!j) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    j->ps = ps;
    j->g = *g;
    j->o.run = list_run;
    j->o.reply = list_reply;
    j->o.release = list_release;
    lx_offload_start(s, req, LX_SRV_OPENAI, &j->o);
}

bool lx_models_admin_route(lx_server *s, struct evhttp_request *req, const char *path, const lx_auth_grant *g) {
    bool load = strcmp(path, "/models/load") == 0, unload = strcmp(path, "/models/unload") == 0;
    bool list = strcmp(path, "/models") == 0, ps = strcmp(path, "/api/ps") == 0;
    if (!load && !unload && !list && !ps) return false;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if ((load || unload) && cmd != EVHTTP_REQ_POST) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_INVALID_REQUEST, "this route takes POST", -1);
    } else if ((list || ps) && cmd != EVHTTP_REQ_GET) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_INVALID_REQUEST, "this route takes GET", -1);
    } else if (load || unload) {
        admin_start(s, req, g, unload);
    } else {
        list_start(s, req, g, ps);
    }
    return true;
}
