/* Pieces of the Gemini adapter shared between its encoder (gemini.c) and its decoder
 * (gemini_decode.c). Not for other modules. */
#ifndef LX_GEMINI_INTERNAL_H
#define LX_GEMINI_INTERNAL_H

#include <jansson.h>

#include "providers/provider.h"

/* Maps a google.rpc.Status object {"code", "message", "status", "details": [...]} (the value of
 * the envelope's "error" field) plus the HTTP status (0 inside a stream) and the Retry-After
 * delay (-1 = none; RetryInfo.retryDelay in the details is used then) to the taxonomy. Returns
 * the status it filled err with. */
llmux_status lx_gemini_error(const json_t *error, int http_status, int64_t retry_after_ms, const char *provider,
                             llmux_error_info *err);

/* The model id of a configured model name ("models/" dropped) in *id (NULL when configured is).
 * False when it is missing or holds anything but [A-Za-z0-9._-]: the id goes into the URL path,
 * where anything else could change the path or the query. */
bool lx_gemini_model_id(const char *configured, const char **id);

lx_decoder *lx_gemini_decoder_create(const lx_provider_config *cfg, bool stream, lx_event_sink sink);
llmux_status lx_gemini_decoder_feed(lx_decoder *d, const char *data, size_t len, llmux_error_info *err);
llmux_status lx_gemini_decoder_end(lx_decoder *d, llmux_error_info *err);
void lx_gemini_decoder_destroy(lx_decoder *d);
uint64_t lx_gemini_decoder_progress(const lx_decoder *d);
struct lx_emitter *lx_gemini_decoder_emitter(lx_decoder *d);

#endif
