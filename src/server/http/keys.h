/* The pure parts of API-key checking (keys.c): finding a presented key among the configured
 * digests in constant time, model patterns, the credential headers, the per-key request rate.
 * No I/O and no server state, so tests/server/test_keys.c checks each directly. */
#ifndef LX_SERVER_KEYS_H
#define LX_SERVER_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* Whether a and b (n bytes each) are equal, in time that depends only on n: every byte is
 * compared, with no branch on the data. */
bool lx_ct_equal(const unsigned char *a, const unsigned char *b, size_t n);

/* The index of the key whose digest matches the presented key (len bytes), or -1. The key is
 * hashed and compared with every configured digest in constant time (all of them, whatever
 * matched), so neither the time nor the memory accessed depends on which key, if any, matched. A
 * presented key longer than LX_CONFIG_KEY_MAX_BYTES is never hashed (-1). */
int lx_key_find(const lx_config_key *keys, size_t n, const char *presented, size_t len);

/* Whether model matches pattern: '*' matches any run of characters ('/' included), '?' one
 * character; everything else itself, case-sensitively. Linear in practice (one backtrack point). */
bool lx_glob_match(const char *pattern, const char *s);
/* Whether any of the key's patterns matches model. */
bool lx_key_allows(const lx_config_key *k, const char *model);

/* The credential of a request from its header values (either may be NULL): "Authorization:
 * Bearer <key>" (scheme case-insensitive), else "x-api-key: <key>". *out points into the
 * header value and *len is its length (surrounding blanks excluded); false when neither header
 * carries one (an Authorization with another scheme counts as none). */
bool lx_key_credential(const char *authorization, const char *x_api_key, const char **out, size_t *len);

/* A token bucket for requests per minute: `rpm` tokens at most, refilled at rpm per 60 s. */
typedef struct lx_rate {
    double tokens;
    int64_t last_ms;            /* CLOCK_MONOTONIC of the last refill; 0 = never used (full) */
} lx_rate;

/* Takes a token at now_ms (monotonic) and returns 0, or returns how long (ms, >= 1) until one
 * is available and takes nothing. rpm <= 0: always 0. */
int64_t lx_rate_take(lx_rate *r, int64_t rpm, int64_t now_ms);

/* The budget window of `period` that holds now_ms (unix ms, UTC): [*start_ms, *end_ms). Calendar
 * windows: a day from 00:00 UTC, a week from Monday 00:00 UTC, a month from the 1st 00:00 UTC.
 * LX_BUDGET_TOTAL: [0, INT64_MAX). */
void lx_budget_window(lx_budget_period period, int64_t now_ms, int64_t *start_ms, int64_t *end_ms);

#endif
