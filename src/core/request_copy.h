/* A deep copy of a validated request into one arena (llmux_submit's copy of the caller's
 * request), equal to what the canonical JSON round trip (llmux_request_to_json, then
 * llmux_request_from_json) gives, at a fraction of its cost. */
#ifndef LX_REQUEST_COPY_H
#define LX_REQUEST_COPY_H

#include "llmux.h"

/* *out receives a copy of req that owns all its memory (release with llmux_request_free()); req
 * is only read and may be freed once this returns. req must have passed
 * llmux_request_validate(). The copy is the round trip's result field for field: fields its
 * part type or format does not carry are dropped, the defaults the encoder writes for NULL
 * (a tool call's "{}" arguments, "" texts) are filled in, and JSON object texts (tool
 * parameters, schema, provider options) are stored compact in the writer's spelling. A request
 * the direct copy cannot reproduce exactly (invalid UTF-8, which the encoder replaces;
 * non-finite or negative-zero numbers; duplicate metadata keys, which decoding refuses; a size
 * near LLMUX_JSON_MAX_BYTES) goes through the round trip itself, with its errors. Returns
 * LLMUX_OK, LLMUX_E_OUT_OF_MEMORY, or the round trip's LLMUX_E_INVALID_REQUEST; *out is NULL on
 * failure. Thread-safe (touches nothing shared). */
llmux_status lx_request_copy(const llmux_request *req, llmux_request **out, llmux_error_info *err);

/* The round trip itself (the reference lx_request_copy matches; tests compare the two). */
llmux_status lx_request_copy_via_json(const llmux_request *req, llmux_request **out, llmux_error_info *err);

#endif
