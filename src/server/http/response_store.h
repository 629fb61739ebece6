/* The Responses API's stored responses (POST /v1/responses with store, the default): what
 * previous_response_id continues from, GET /v1/responses/{id} returns and DELETE removes.
 *
 * In memory, bounded by bytes, least recently used first out, lost when the server stops (as
 * vLLM's store; OpenAI keeps them 30 days). Each entry holds the conversation up to and including
 * that response as canonical request JSON (its messages, not its instructions: OpenAI does not
 * carry instructions over to a continuation) and the response object a GET returns. An entry
 * belongs to the key that created it (its name; NULL when the server has no keys): another key
 * neither reads, continues nor deletes it, and is told it does not exist.
 *
 * Loop thread only (the server's callbacks): no locking. */
#ifndef LX_SERVER_RESPONSE_STORE_H
#define LX_SERVER_RESPONSE_STORE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lx_resp_store lx_resp_store;

/* NULL when out of memory. max_bytes: the budget for all entries' texts and bookkeeping. */
lx_resp_store *lx_resp_store_create(size_t max_bytes);
void lx_resp_store_free(lx_resp_store *st); /* accepts NULL */

/* Stores (or replaces) id. Takes history and object (malloc'd JSON texts) in every case: they
 * are freed when the entry is evicted, deleted or replaced, or at once when the entry cannot be
 * kept (larger than the whole budget, out of memory; then false). Older entries are evicted
 * until the new one fits. n_input: how many of history's messages were the response's input
 * (the rest is its own answer), for GET /v1/responses/{id}/input_items. */
bool lx_resp_store_put(lx_resp_store *st, const char *id, const char *owner, char *history, size_t n_input,
                       char *object);

/* The entry's texts, borrowed until the next put or delete, and its n_input; NULL (both) and 0
 * when id is not stored or belongs to another owner. Each out pointer may be NULL. A hit becomes
 * the most recently used. */
bool lx_resp_store_get(lx_resp_store *st, const char *id, const char *owner, const char **history, size_t *n_input,
                       const char **object);

/* Removes id; false when it is not stored or belongs to another owner. */
bool lx_resp_store_delete(lx_resp_store *st, const char *id, const char *owner);

/* Entries and bytes held (tests, metrics). */
size_t lx_resp_store_count(const lx_resp_store *st);
size_t lx_resp_store_bytes(const lx_resp_store *st);

#endif
