/* IPC messages (ipc_message.h): parsing with every field checked, and the builders. */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ipc_message.h"

static const char *const k_types[] = {"hello", "welcome", "request", "event", "response", "error", "cancel", "ping", "pong", "call", "result"};

const char *lx_ipc_type_name(lx_ipc_type t) {
    return (unsigned)t < sizeof k_types / sizeof *k_types ? k_types[t] : "unknown";
}

bool lx_ipc_id_ok(const char *v) {
    size_t n = strlen(v);
    if (n < 1 || n > LX_IPC_MAX_ID) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == ':' || ch == '-'))
            return false;
    }
    return true;
}

bool lx_ipc_token_equal(const char *expected, const char *given, size_t given_len) {
    /* Every byte of the expected token is looked at whatever the input: the time depends only on
     * whether the length is right, which is public anyway. */
    unsigned diff = given_len != LX_IPC_TOKEN_HEX;
    for (size_t i = 0; i < LX_IPC_TOKEN_HEX; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)expected[i] ^ g;
    }
    return diff == 0;
}

void lx_ipc_msg_clear(lx_ipc_msg *m) {
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

static bool fail(lx_ipc_msg *m, char *err, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    /* Keep root (and a valid id) so the answer can be tagged; everything else is dropped. */
    const char *id = m->id;
    json_t *root = m->root;
    memset(m, 0, sizeof *m);
    m->root = root;
    m->id = id;
    return false;
}

/* A string member: *out set (NULL when absent and optional). False when present but not a
 * string, too long, or absent while required. */
static bool str_field(json_t *o, const char *key, bool required, size_t max, const char **out, size_t *len) {
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v) return !required;
    if (!json_is_string(v) || json_string_length(v) > max) return false;
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return true;
}

static bool session_ok(const char *s) {
    if (strlen(s) != LX_IPC_SESSION_HEX) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

static bool count_ok(const json_t *v) { return json_is_integer(v) && json_integer_value(v) >= 0; }

/* A pong's "models": what lx_ipc_pong_models copies without further checks. */
static bool models_ok(const json_t *models) {
    if (!json_is_array(models) || json_array_size(models) > LX_IPC_MAX_MODEL_STATS) return false;
    size_t i;
    const json_t *e;
    json_array_foreach(models, i, e) {
        const json_t *name = json_object_get(e, "model");
        if (!json_is_object(e) || json_object_size(e) != 3 || !json_is_string(name) ||
            json_string_length(name) == 0 || json_string_length(name) > LX_IPC_MAX_FIELD ||
            strlen(json_string_value(name)) != json_string_length(name) || !count_ok(json_object_get(e, "queued")) ||
            !count_ok(json_object_get(e, "prompt_cache_bytes")))
            return false;
    }
    return true;
}

size_t lx_ipc_pong_models(const lx_ipc_msg *m, lx_ipc_model_stat *out, size_t cap, bool *present) {
    *present = m->type == LX_IPC_PONG && m->body;
    if (!*present) return 0;
    size_t n = 0, i;
    const json_t *e;
    json_array_foreach(m->body, i, e) {
        if (n == cap) break;
        snprintf(out[n].model, sizeof out[n].model, "%s", json_string_value(json_object_get(e, "model")));
        out[n].queued = (long long)json_integer_value(json_object_get(e, "queued"));
        out[n].prompt_cache_bytes = (long long)json_integer_value(json_object_get(e, "prompt_cache_bytes"));
        n++;
    }
    return n;
}

bool lx_ipc_msg_parse(const char *json, size_t len, lx_ipc_msg *m, char *err, size_t size) {
    memset(m, 0, sizeof *m);
    json_error_t je;
    /* jansson refuses invalid UTF-8 and NUL bytes in strings by default, and nests at most 2048
     * levels deep (its own recursion bound). */
    m->root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!m->root) return fail(m, err, size, "malformed JSON at byte %d: %s", je.position, je.text);
    if (!json_is_object(m->root)) return fail(m, err, size, "a message is a JSON object");
    /* The id first, so that any later complaint can be tagged with it. */
    const char *id;
    if (!str_field(m->root, "id", false, LX_IPC_MAX_ID, &id, NULL) || (id && !lx_ipc_id_ok(id)))
        return fail(m, err, size, "id: expected 1..%d characters of A-Z a-z 0-9 . _ : -", LX_IPC_MAX_ID);
    m->id = id;
    const char *type;
    if (!str_field(m->root, "type", true, LX_IPC_MAX_FIELD, &type, NULL))
        return fail(m, err, size, "type: expected a string");
    size_t t = 0;
    while (t < sizeof k_types / sizeof *k_types && strcmp(k_types[t], type) != 0) t++;
    if (t == sizeof k_types / sizeof *k_types) return fail(m, err, size, "type: unknown message type \"%.64s\"", type);
    m->type = (lx_ipc_type)t;
    /* Only a welcome's session is checked for shape here: any other wrong session is the
     * server's to refuse (fatally), not a malformed message. */
    if (!str_field(m->root, "session", false, LX_IPC_MAX_FIELD, &m->session, NULL) ||
        (m->session && m->type == LX_IPC_WELCOME && !session_ok(m->session)))
        return fail(m, err, size, "session: expected the session id of the welcome message");
    json_t *ver = json_object_get(m->root, "version");
    if (ver && (!json_is_integer(ver) || json_integer_value(ver) != LX_IPC_VERSION))
        return fail(m, err, size, "version: only protocol version %d is spoken", LX_IPC_VERSION);
    bool needs_id = m->type == LX_IPC_REQUEST || m->type == LX_IPC_CANCEL || m->type == LX_IPC_EVENT ||
                    m->type == LX_IPC_RESPONSE || m->type == LX_IPC_CALL || m->type == LX_IPC_RESULT;
    if (needs_id && !m->id) return fail(m, err, size, "id: required in a %s message", type);
    /* The server checks the session of a request or cancel itself: a missing one is a wrong one
     * (fatal), not a malformed message. */
    bool needs_session = m->type == LX_IPC_WELCOME || m->type == LX_IPC_EVENT || m->type == LX_IPC_RESPONSE ||
                         m->type == LX_IPC_PONG || m->type == LX_IPC_RESULT;
    if (needs_session && !m->session) return fail(m, err, size, "session: required in a %s message", type);
    const char *body_key = NULL;
    switch (m->type) {
    case LX_IPC_HELLO:
        if (!str_field(m->root, "token", true, LX_IPC_MAX_FIELD, &m->token, &m->token_len))
            return fail(m, err, size, "token: expected a string");
        break;
    case LX_IPC_WELCOME: m->body = json_object_get(m->root, "limits"); break;
    case LX_IPC_REQUEST: body_key = "request"; break;
    case LX_IPC_EVENT: body_key = "event"; break;
    case LX_IPC_RESPONSE: body_key = "response"; break;
    case LX_IPC_CALL: body_key = "call"; break;
    case LX_IPC_RESULT: body_key = "result"; break;
    case LX_IPC_ERROR: {
        body_key = "error";
        json_t *e = json_object_get(m->root, "error");
        json_t *fatal = json_object_get(m->root, "fatal");
        if (!json_is_object(e) || !str_field(e, "status", true, LX_IPC_MAX_FIELD, &m->err_status, NULL) ||
            !json_is_string(json_object_get(e, "message")) || (fatal && !json_is_boolean(fatal)))
            return fail(m, err, size, "error: expected {\"status\": NAME, \"message\": TEXT}");
        m->err_message = json_string_value(json_object_get(e, "message"));
        m->fatal = json_is_true(fatal);
        break;
    }
    case LX_IPC_CANCEL:
    case LX_IPC_PING: break;
    case LX_IPC_PONG: {
        json_t *a = json_object_get(m->root, "active");
        if (!json_is_integer(a) || json_integer_value(a) < 0)
            return fail(m, err, size, "active: expected a count of executions");
        m->active = (long long)json_integer_value(a);
        json_t *models = json_object_get(m->root, "models");
        if (models && !models_ok(models))
            return fail(m, err, size, "models: expected at most %d objects {\"model\": NAME, \"queued\": N, "
                        "\"prompt_cache_bytes\": N}", LX_IPC_MAX_MODEL_STATS);
        m->body = models;
        break;
    }
    }
    if (body_key) {
        m->body = json_object_get(m->root, body_key);
        if (!json_is_object(m->body)) return fail(m, err, size, "%s: expected a JSON object", body_key);
    }
    return true;
}

/* ----------------------------------------------------------------- builders */

static char *dump(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *lx_ipc_hello(const char *token) {
    return dump(json_pack("{s:s,s:s,s:i}", "type", "hello", "token", token, "version", LX_IPC_VERSION));
}

char *lx_ipc_welcome(const char *session, size_t max_frame_bytes, int max_executions) {
    return dump(json_pack("{s:s,s:s,s:i,s:{s:I,s:i}}", "type", "welcome", "session", session, "version",
                          LX_IPC_VERSION, "limits", "max_frame_bytes", (json_int_t)max_frame_bytes,
                          "max_executions", max_executions));
}

char *lx_ipc_welcome_sandboxed(const char *session, size_t max_frame_bytes, int max_executions, int landlock_abi,
                               const char *warning) {
    json_t *o = json_pack("{s:s,s:s,s:i,s:{s:I,s:i},s:{s:i}}", "type", "welcome", "session", session, "version",
                          LX_IPC_VERSION, "limits", "max_frame_bytes", (json_int_t)max_frame_bytes, "max_executions",
                          max_executions, "sandbox", "landlock_abi", landlock_abi);
    if (o && warning && *warning)
        json_object_set_new(json_object_get(o, "sandbox"), "warning", json_string(warning));
    return dump(o);
}

char *lx_ipc_wrap(lx_ipc_type type, const char *session, const char *id, const char *payload_json) {
    /* Concatenated, not re-encoded: an event is wrapped as it streams, and session and id need no
     * escaping (they were checked when they came in). */
    const char *key = type == LX_IPC_REQUEST ? "request"
                      : type == LX_IPC_EVENT ? "event"
                      : type == LX_IPC_CALL  ? "call"
                      : type == LX_IPC_RESULT ? "result"
                                              : "response";
    const char *name = lx_ipc_type_name(type);
    size_t n = strlen(name) + strlen(session) + strlen(id) + strlen(key) + strlen(payload_json) + 48;
    char *s = malloc(n);
    if (s) snprintf(s, n, "{\"type\":\"%s\",\"session\":\"%s\",\"id\":\"%s\",\"%s\":%s}", name, session, id, key, payload_json);
    return s;
}

char *lx_ipc_cancel(const char *session, const char *id) {
    return dump(json_pack("{s:s,s:s,s:s}", "type", "cancel", "session", session, "id", id));
}

char *lx_ipc_ping(const char *session, const char *id) {
    json_t *o = json_pack("{s:s,s:s}", "type", "ping", "session", session);
    if (o && id) json_object_set_new(o, "id", json_string(id));
    return dump(o);
}

char *lx_ipc_pong(const char *session, const char *id, int active) {
    json_t *o = json_pack("{s:s,s:s,s:i}", "type", "pong", "session", session, "active", active);
    if (o && id) json_object_set_new(o, "id", json_string(id));
    return dump(o);
}

char *lx_ipc_pong_with_models(const char *session, const char *id, int active, const lx_ipc_model_stat *models,
                              size_t n) {
    json_t *o = json_pack("{s:s,s:s,s:i,s:[]}", "type", "pong", "session", session, "active", active, "models");
    if (o && id) json_object_set_new(o, "id", json_string(id));
    json_t *arr = o ? json_object_get(o, "models") : NULL;
    for (size_t i = 0; arr && i < n && i < LX_IPC_MAX_MODEL_STATS; i++) {
        /* A name jansson refuses (not UTF-8) is left out rather than costing the pong. */
        json_t *e = json_pack("{s:s,s:I,s:I}", "model", models[i].model, "queued", (json_int_t)models[i].queued,
                              "prompt_cache_bytes", (json_int_t)models[i].prompt_cache_bytes);
        if (e) json_array_append_new(arr, e);
    }
    return dump(o);
}

char *lx_ipc_error(const char *session, const char *id, const char *status, const char *message, bool fatal) {
    json_t *o = json_pack("{s:s,s:{s:s,s:s},s:b}", "type", "error", "error", "status", status, "message",
                          message ? message : "", "fatal", fatal);
    if (o && session) json_object_set_new(o, "session", json_string(session));
    if (o && id) json_object_set_new(o, "id", json_string(id));
    return dump(o);
}
