/* Rate-limit headers: how long a rate-limited request should wait, read from the per-limit header
 * pairs providers send, and the retry hint an adapter's map_error gets.
 *
 * A limit is a pair of headers: x-ratelimit-remaining-<k> / x-ratelimit-reset-<k> (OpenAI and
 * compatible servers; resets are Go durations) or anthropic-ratelimit-<k>-remaining / -reset
 * (Anthropic; RFC 3339 instants). A limit is exhausted when its remaining count is 0: that is the
 * limit a 429 is about, so the wait it asks for is the LATEST reset among the exhausted limits
 * (every one must have reset before a retry can pass). Limits with requests left give no delay.
 * The transport only collects the raw header lines an adapter asks for (lx_provider.keep_headers,
 * lx_http_request.keep_header_prefixes); this is where they are interpreted. */
#ifndef LX_PROVIDERS_RATELIMIT_H
#define LX_PROVIDERS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "transport/http.h"

/* Limits (header pairs) tracked per response; more are ignored. */
#define LX_RATELIMIT_MAX_LIMITS 8
/* A limit's name (<k>) and its reset value are kept below these lengths (bytes with the NUL);
 * a longer name is ignored, a longer reset is left out whole (a cut one would lie). */
#define LX_RATELIMIT_KEY_MAX 32
#define LX_RATELIMIT_RESET_MAX 64
/* Room for the reset list lx_ratelimit_exhausted_resets writes, as lx_ratelimit_retry_hint uses it. */
#define LX_RATELIMIT_LIST_MAX 192

/* Header-name prefixes for lx_provider.keep_headers (NULL-terminated). The OpenAI family alone
 * ("x-ratelimit-"): OpenAI, OpenRouter and other compatible servers send it, so do gateways in
 * front of any API (the gemini and ollama adapters use it for them). Anthropic's family and the
 * OpenAI one a gateway may add ("anthropic-ratelimit-", "x-ratelimit-"). */
extern const char *const lx_ratelimit_headers_openai[];
extern const char *const lx_ratelimit_headers_anthropic[];

/* Reads header lines ("name: value", one per line, as lx_http_response.kept_headers holds them;
 * len bytes, other headers are skipped) and writes into out the reset values of the limits they
 * report exhausted, raw and comma-separated in the order the limits first appear ("1s, 6m0s" or
 * "2026-01-01T00:00:15Z"); "" when none is. Names compare without regard to case; a remaining
 * count counts as 0 only when it parses whole as a number equal to 0 ("0", "0.0", "00"). Bounded:
 * at most LX_RATELIMIT_MAX_LIMITS limits; values that do not fit in out are left out whole. size
 * must be at least 1. */
void lx_ratelimit_exhausted_resets(const char *headers, size_t len, char *out, size_t size);

/* Parses a reset list (lx_ratelimit_exhausted_resets): comma-separated reset values, each a Go
 * duration (lx_parse_duration_ms) or an RFC 3339 instant (lx_parse_rfc3339_ms). Returns the
 * LATEST of them in milliseconds from now; malformed items are skipped; -1 when no item parses.
 * At most 16 items are read. */
int64_t lx_parse_ratelimit_reset(const char *list, int64_t now_unix_ms);

/* The retry hint a map_error gets for a non-2xx response: resp->retry_after when present
 * (Retry-After, or retry-after-ms converted by the transport), else the exhausted limits' reset
 * list from resp->kept_headers (written into buf), else NULL. Points into resp or buf. */
const char *lx_ratelimit_retry_hint(const lx_http_response *resp, char *buf, size_t size);

/* The retry delay a map_error gets from its hint (lx_ratelimit_retry_hint): a Retry-After value,
 * else a reset list (lx_parse_ratelimit_reset), both relative to the current time. Milliseconds;
 * -1 when hint is NULL or neither form parses. */
int64_t lx_parse_retry_hint(const char *hint);

#endif
