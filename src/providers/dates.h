/* Dates and durations as upstream headers send them: Retry-After (delta-seconds or an HTTP-date),
 * Go durations (OpenAI's x-ratelimit-reset-*), RFC 3339 instants (Anthropic's
 * anthropic-ratelimit-*-reset). Pure functions; "now" is a parameter so tests and fuzzers pin it. */
#ifndef LX_PROVIDERS_DATES_H
#define LX_PROVIDERS_DATES_H

#include <stdint.h>

/* Parses a Retry-After value: delta-seconds ("120", fractions accepted) or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT", also the obsolete RFC 850 and asctime forms), the latter
 * relative to now_unix_ms (a date in the past gives 0). Returns milliseconds, -1 when absent or
 * unparsable. */
int64_t lx_parse_retry_after(const char *value, int64_t now_unix_ms);

/* Parses a Go-style duration as OpenAI's x-ratelimit-reset-* headers send it ("1s", "6m0s",
 * "12ms", "1h2m3.5s", "250us"). Returns milliseconds (rounded up), -1 when unparsable. */
int64_t lx_parse_duration_ms(const char *value);

/* Parses an RFC 3339 instant as Anthropic's anthropic-ratelimit-*-reset headers send it
 * ("2026-01-01T00:00:15Z", "2026-01-01T01:00:15.250+01:00": 'T', 't' or a space between date and
 * time, optional fractional seconds, 'Z'/'z' or a +-hh:mm offset), relative to now_unix_ms.
 * Returns the milliseconds until then (fractions rounded up, an instant in the past gives 0), -1
 * when absent or malformed (field out of range, missing offset, trailing bytes). */
int64_t lx_parse_rfc3339_ms(const char *value, int64_t now_unix_ms);

/* Current wall-clock time in Unix milliseconds (for lx_parse_retry_after). */
int64_t lx_now_unix_ms(void);

#endif
