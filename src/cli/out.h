/* The output of one request on stdout (`llmux run`, `llmux replay`, `llmux ipc`): text, the
 * final response as JSON, or every event as a JSON line; writes flushed one by one (the reader
 * sees each event as it comes) and the first failed write remembered. */
#ifndef LLMUX_CLI_OUT_H
#define LLMUX_CLI_OUT_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { OUT_TEXT, OUT_JSON, OUT_EVENTS } out_mode;

typedef struct out_state {
    out_mode mode;
    bool wrote_text; /* OUT_TEXT: some text was written */
    char last;       /* the last byte of text written ('\n' before any) */
    int write_errno; /* the first failed write's errno; 0 while stdout works */
} out_state;

#define OUT_STATE_INIT {OUT_TEXT, false, '\n', 0}

/* Writes p[0..n) (and a newline) and flushes. A failure (a full disk, a reader that left with
 * SIGPIPE ignored) is remembered, and every later call fails at once: there is no point
 * generating what nobody can receive, so callers then cancel the request. */
bool cli_out_emit(out_state *o, const char *p, size_t n, bool newline);
/* Writes a text delta (n > 0) and notes it (wrote_text, last). False after a failed write. */
bool cli_out_text(out_state *o, const char *text, size_t n);

#endif
