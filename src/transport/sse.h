/* Server-Sent Events parser (WHATWG HTML "Parsing an event stream", push style).
 *
 * Feed raw body bytes split anywhere (inside a CRLF pair, inside a UTF-8 character, inside a
 * leading BOM); complete events are delivered to a callback. Rules implemented: fields `event`,
 * `data` (several lines joined with "\n"), `id` (a value containing NUL is ignored), `retry`
 * (ASCII digits only, else ignored), unknown fields ignored, comments (lines starting with ':'),
 * LF / CR / CRLF line endings (a CR ending one chunk and an LF starting the next are one break),
 * a leading UTF-8 BOM stripped once, a field with no colon (the whole line is the name, the value
 * is empty), one space after the colon removed, dispatch on a blank line, an event whose data
 * buffer is empty is not dispatched. Lines and events are capped at `max` bytes: past it the
 * parser fails with LLMUX_E_UPSTREAM_PROTOCOL instead of growing. The parser never validates
 * UTF-8: bytes pass through (the JSON decoder above it checks them). */
#ifndef LX_SSE_H
#define LX_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "llmux.h"

/* One dispatched event. Pointers are borrowed: valid only during the callback. Strings are
 * NUL-terminated (data may hold NUL bytes: use data_len). */
typedef struct lx_sse_event {
    const char *event;    /* event type; "message" when the stream named none */
    size_t event_len;
    const char *data;     /* the data lines joined with "\n" */
    size_t data_len;
    const char *id;       /* the last event id of the stream ("" when none) */
    int64_t retry_ms;     /* the stream's reconnection time from `retry:`, -1 when never set */
} lx_sse_event;

/* Receives an event. A status other than LLMUX_OK stops the parser; lx_sse_feed returns it (the
 * callback fills err itself). */
typedef llmux_status (*lx_sse_cb)(void *user_data, const lx_sse_event *ev);

typedef struct lx_sse_parser {
    size_t max;          /* cap on one line and on one event's data, in bytes */
    lx_buf line;         /* the incomplete line carried over from the previous chunk */
    lx_buf data;         /* data buffer of the event being built */
    lx_buf event;        /* event type buffer */
    lx_buf id;           /* last event id buffer (persists across events) */
    int64_t retry_ms;
    uint8_t bom_matched; /* leading BOM bytes seen so far */
    bool bom_done;       /* past the start of the stream */
    bool has_data;       /* at least one data line since the last dispatch */
    bool after_cr;       /* the last byte seen was a CR ending a line */
    bool failed;         /* a previous call failed: the stream is unusable */
    uint64_t n_events;   /* events dispatched */
} lx_sse_parser;

/* Initialises p with a cap on line and event size (e.g. LX_WIRE_MAX_LINE). Allocates nothing
 * until bytes arrive. Release with lx_sse_parser_free. */
void lx_sse_parser_init(lx_sse_parser *p, size_t max);
void lx_sse_parser_free(lx_sse_parser *p);

/* Parses len bytes. Returns LLMUX_OK, the callback's status, LLMUX_E_UPSTREAM_PROTOCOL past the
 * cap, or LLMUX_E_OUT_OF_MEMORY. After a failure every later call fails the same way. */
llmux_status lx_sse_feed(lx_sse_parser *p, const char *data, size_t len, lx_sse_cb cb, void *user_data,
                         llmux_error_info *err);

/* A deliberate, opt-in deviation for adapters: at end of stream, dispatches a pending event
 * whose lines were all terminated but whose closing blank line never came (documentation
 * examples and some servers end the body with a single "\n"). An unterminated last line is
 * still not dispatched. Call before lx_sse_finish. Returns like lx_sse_feed. */
llmux_status lx_sse_flush(lx_sse_parser *p, lx_sse_cb cb, void *user_data, llmux_error_info *err);

/* End of stream. Per the specification an incomplete event (data without the blank line that
 * dispatches it, or an unterminated line) is discarded, not dispatched; *pending (when not NULL)
 * says whether there was one, so callers can detect truncation. Returns LLMUX_OK or the error
 * of an earlier failure. */
llmux_status lx_sse_finish(lx_sse_parser *p, bool *pending, llmux_error_info *err);

#endif
