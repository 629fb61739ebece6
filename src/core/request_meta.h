/* A request's metadata tag by key: what records, reports and the provider adapters read (a
 * server's request_id and key_name; the caller fields OpenAI and Anthropic take). */
#ifndef LX_REQUEST_META_H
#define LX_REQUEST_META_H

#include "llmux.h"

/* The value of the last tag named key (a server appends its own tags after any the caller sent),
 * or NULL. req may be NULL, and a refused request may carry a NULL array with a count: then NULL. */
const char *lx_request_meta(const llmux_request *req, const char *key);

#endif
