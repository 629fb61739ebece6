/* Monotonic time. */
#ifndef LX_CLOCK_H
#define LX_CLOCK_H

#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC. */
int64_t lx_now_ns(void);
/* Unix epoch milliseconds (CLOCK_REALTIME): for records; durations use lx_now_ns. */
int64_t lx_wall_ms(void);
/* Milliseconds between two lx_now_ns() readings. */
double lx_ms_between(int64_t from_ns, int64_t to_ns);
/* The CLOCK_MONOTONIC instant ms milliseconds after from_ns, saturated at INT64_MAX (so a huge
 * budget means "no deadline in practice", never a wrapped one in the past); 0 when ms <= 0
 * ("no deadline"). */
int64_t lx_deadline_after(int64_t from_ns, int64_t ms);
/* Writes a unique identifier "<prefix><24 hex digits>" into buf (NUL-terminated, truncated to size):
 * 11 digits of wall-clock milliseconds, so ids sort by creation time, then 13 random-looking ones. */
void lx_make_id(char *buf, unsigned long size, const char *prefix);

#endif
