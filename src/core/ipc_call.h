/* The bodies of the IPC protocol's `call` and `result` messages (ipc_message.h; docs/ipc.md,
 * "Calls"): the blocking operations a runtime asks its sandboxed engine child for besides
 * generations. A call names an op and its arguments; its answer is one `result` frame, or an
 * `error` frame tagged with the call's id (the same classes as the public call in-process).
 *
 *   embed          {model, inputs [1..LX_EMBED_MAX_VECTORS strings], dimensions?, deadline_ms?}
 *                  -> {model, n, dim, data: base64 of n*dim float32 (host byte order: both ends
 *                     run on one machine), input_tokens}
 *   count_tokens   {request: a canonical request, deadline_ms?} -> {input_tokens}
 *   model_load     {model, deadline_ms?} -> {}
 *   model_unload   {model} -> {}
 *   models_loaded  {} -> {models: llmux_models_loaded's array}
 *
 * Both sides parse what the other sent with every field checked (unknown keys, wrong types and
 * sizes over the caps are refused with a reason): the child is untrusted, and the runtime's calls
 * arrive on a socket. Sizes are bounded by the frame cap the JSON was parsed under and by
 * LX_EMBED_MAX_* (core/embeddings.h). Pure: no I/O. */
#ifndef LX_IPC_CALL_H
#define LX_IPC_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Longest model string in a call (a canonical path fits). */
#define LX_IPC_CALL_MAX_MODEL 4096

typedef enum lx_ipc_op {
    LX_IPC_OP_EMBED = 0,
    LX_IPC_OP_COUNT_TOKENS,
    LX_IPC_OP_MODEL_LOAD,
    LX_IPC_OP_MODEL_UNLOAD,
    LX_IPC_OP_MODELS_LOADED
} lx_ipc_op;

/* "embed", "count_tokens", ... */
const char *lx_ipc_op_name(lx_ipc_op op);

/* A parsed call. Strings and request are borrowed from the body parsed; inputs is malloc'd
 * (released by lx_ipc_call_clear). */
typedef struct lx_ipc_call {
    lx_ipc_op op;
    const char *model;          /* embed, model_load, model_unload */
    const char **inputs;        /* embed: n_inputs borrowed strings */
    size_t n_inputs;
    int32_t dimensions;         /* embed: 0 = the model's */
    const json_t *request;      /* count_tokens: the canonical request object */
    int64_t deadline_ms;        /* 0 = none */
} lx_ipc_call;

/* Parses a call message's "call" object. False with why set on anything malformed (*c cleared). */
bool lx_ipc_call_parse(const json_t *body, lx_ipc_call *c, char *why, size_t why_size);
void lx_ipc_call_clear(lx_ipc_call *c);

/* Builders of a call's body (malloc'd JSON text, free(); NULL when out of memory or when a string
 * is not UTF-8). deadline_ms 0 = none. request_json: a canonical request (llmux_request_to_json). */
char *lx_ipc_call_embed(const char *model, const char *const *inputs, size_t n, int32_t dimensions,
                        int64_t deadline_ms);
char *lx_ipc_call_count_tokens(const char *request_json, int64_t deadline_ms);
/* op: MODEL_LOAD, MODEL_UNLOAD (deadline ignored) or MODELS_LOADED (model ignored, may be NULL). */
char *lx_ipc_call_model(lx_ipc_op op, const char *model, int64_t deadline_ms);

/* Builders of the results (malloc'd JSON text, NULL when out of memory). */
char *lx_ipc_result_embed(const char *model, size_t n, size_t dim, const float *data, int64_t input_tokens);
char *lx_ipc_result_count(int64_t input_tokens);
char *lx_ipc_result_empty(void);
/* models_json: llmux_models_loaded's array text. */
char *lx_ipc_result_models(const char *models_json);

/* A parsed embed result: *model borrowed from v, *data malloc'd (n * dim floats, free()). False
 * with why set when malformed, when n is not expect_n, or over the caps. */
bool lx_ipc_result_embed_parse(const json_t *v, size_t expect_n, const char **model, size_t *dim, float **data,
                               int64_t *input_tokens, char *why, size_t why_size);
bool lx_ipc_result_count_parse(const json_t *v, int64_t *input_tokens, char *why, size_t why_size);
/* *models borrowed from v: a JSON array. */
bool lx_ipc_result_models_parse(const json_t *v, const json_t **models, char *why, size_t why_size);
/* {} and nothing else. */
bool lx_ipc_result_empty_parse(const json_t *v, char *why, size_t why_size);

#endif
