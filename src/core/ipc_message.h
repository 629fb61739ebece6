/* The messages of llmux's IPC protocol (docs/ipc.md): one JSON object per frame (ipc_frame.h), with a
 * "type" and the fields of that type. This file parses a frame's payload into a checked view and
 * builds the payloads each side sends; it knows jansson but not the runtime (the canonical request,
 * event and response inside a message are the caller's to decode), so the CLI client and a test
 * use the same code as the server.
 *
 * Client -> server: hello {token, version?}, request {session, id, request}, cancel {session, id},
 * ping {session, id?}, call {session, id, call} (a blocking operation on a local model:
 * embeddings, token count, model load/unload/list; core/ipc_call.h).
 * Server -> client: welcome {session, version, limits}, event {session, id, event},
 * response {session, id, response}, error {session?, id?, error {status, message}, fatal},
 * pong {session, id?, active, models?}, result {session, id, result} (a call's answer). */
#ifndef LX_IPC_MESSAGE_H
#define LX_IPC_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define LX_IPC_VERSION 1
/* A request id: 1..LX_IPC_MAX_ID characters of A-Z a-z 0-9 . _ : - (chosen by the client). */
#define LX_IPC_MAX_ID 128
/* The token: 32 random bytes as 64 lowercase hex digits. A session id: 16 bytes, 32 digits. */
#define LX_IPC_TOKEN_BYTES 32
#define LX_IPC_TOKEN_HEX (2 * LX_IPC_TOKEN_BYTES)
#define LX_IPC_SESSION_BYTES 16
#define LX_IPC_SESSION_HEX (2 * LX_IPC_SESSION_BYTES)
/* Strings a message may carry besides the canonical payloads: more is malformed. */
#define LX_IPC_MAX_FIELD 256
/* Entries of a pong's "models" at most (the runtime's LX_MAX_MODELS is below it). */
#define LX_IPC_MAX_MODEL_STATS 64

typedef enum lx_ipc_type {
    LX_IPC_HELLO = 0,
    LX_IPC_WELCOME,
    LX_IPC_REQUEST,
    LX_IPC_EVENT,
    LX_IPC_RESPONSE,
    LX_IPC_ERROR,
    LX_IPC_CANCEL,
    LX_IPC_PING, /* a heartbeat: answered by a pong from the server's loop thread */
    LX_IPC_PONG,
    LX_IPC_CALL,  /* appended: a blocking operation (ipc_call.h), answered by a result or an error */
    LX_IPC_RESULT
} lx_ipc_type;

/* "hello", "welcome", ... */
const char *lx_ipc_type_name(lx_ipc_type t);

/* A parsed message. Strings and objects are borrowed from root and live until lx_ipc_msg_clear. */
typedef struct lx_ipc_msg {
    json_t *root;            /* owned */
    lx_ipc_type type;
    const char *token;       /* hello */
    size_t token_len;
    const char *session;     /* NULL when absent */
    const char *id;          /* request id; NULL when absent (optional on error) */
    json_t *body;            /* request: "request"; event: "event"; response: "response";
                                error: "error"; call: "call"; result: "result"; welcome:
                                "limits" (may be NULL) */
    const char *err_status;  /* error: error.status */
    const char *err_message; /* error: error.message */
    bool fatal;              /* error: the server closes the connection after it */
    long long active;        /* pong: the executions in flight on that connection */
} lx_ipc_msg;

/* One entry of an engine's pong "models" (llmux engine's local-engine gauges, forwarded to its
 * supervisor's metrics): a loaded model's label ("local/NAME", as the in-process metrics name
 * it), its requests waiting for a sequence slot, and the bytes its host prompt cache holds. */
typedef struct lx_ipc_model_stat {
    char model[LX_IPC_MAX_FIELD + 1];
    long long queued;
    long long prompt_cache_bytes;
} lx_ipc_model_stat;

/* Parses one payload (len bytes, at most the frame cap; need not be NUL-terminated) into *m.
 * False on anything malformed (not JSON, not an object, an unknown type, a missing or mistyped
 * field, a bad request id, an unsupported version): err gets a message naming the field and *m
 * is cleared, except that m->id is left pointing into m->root when the message had a valid id, so
 * an error answer can still be tagged with it; the caller calls lx_ipc_msg_clear in every case. */
bool lx_ipc_msg_parse(const char *json, size_t len, lx_ipc_msg *m, char *err, size_t err_size);
/* A parsed pong's "models" (checked by lx_ipc_msg_parse: at most LX_IPC_MAX_MODEL_STATS objects of
 * a model string and two counts >= 0): copied into out[0..cap); returns how many. 0 when the pong
 * had none; *present says whether it had the key (an engine with no model loaded sends []). */
size_t lx_ipc_pong_models(const lx_ipc_msg *m, lx_ipc_model_stat *out, size_t cap, bool *present);
/* Releases m->root and zeroes *m. */
void lx_ipc_msg_clear(lx_ipc_msg *m);

/* Whether s is a valid request id. */
bool lx_ipc_id_ok(const char *s);

/* Compares the token the client sent with the server's (exactly LX_IPC_TOKEN_HEX characters) in
 * time that does not depend on where they differ. */
bool lx_ipc_token_equal(const char *expected, const char *given, size_t given_len);

/* Builders: malloc'd NUL-terminated JSON (free()), NULL when out of memory. session and id must be
 * valid (lx_ipc_id_ok, or hex): they are written without escaping. payload_json is a complete
 * JSON value (a canonical request, event or response). */
char *lx_ipc_hello(const char *token);
char *lx_ipc_welcome(const char *session, size_t max_frame_bytes, int max_executions);
/* The sandboxed engine's welcome: the same, plus "sandbox": {"landlock_abi": N (0 = none),
 * "warning": TEXT (only when a layer could not be applied)}, so its supervisor can report a
 * weaker sandbox (a log line, a metric) without reading the child's stderr. warning may be NULL
 * or empty. */
char *lx_ipc_welcome_sandboxed(const char *session, size_t max_frame_bytes, int max_executions, int landlock_abi,
                               const char *warning);
/* type: REQUEST, EVENT, RESPONSE, CALL or RESULT; the payload's key is the type's name. */
char *lx_ipc_wrap(lx_ipc_type type, const char *session, const char *id, const char *payload_json);
char *lx_ipc_cancel(const char *session, const char *id);
/* id may be NULL (then the pong carries none). */
char *lx_ipc_ping(const char *session, const char *id);
char *lx_ipc_pong(const char *session, const char *id, int active);
/* The same with "models": [{"model", "queued", "prompt_cache_bytes"}, ...] (n <= LX_IPC_MAX_MODEL_STATS). */
char *lx_ipc_pong_with_models(const char *session, const char *id, int active, const lx_ipc_model_stat *models,
                              size_t n);
/* status: a llmux_status name ("invalid_request", ...); session and id may be NULL. */
char *lx_ipc_error(const char *session, const char *id, const char *status, const char *message, bool fatal);

#endif
