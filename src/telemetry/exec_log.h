/* The execution log: one JSON object per line, one line per execution, appended to stderr or a
 * file. Each line goes out in one write(2) on a descriptor opened with O_APPEND, so lines from
 * several threads (or processes sharing the file) never interleave and a reader never sees half
 * a line from a writer that finished. No buffering in between: a line is on its way when the
 * call returns, and the call costs one system call. */
#ifndef LX_TELEMETRY_EXEC_LOG_H
#define LX_TELEMETRY_EXEC_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmux.h"

/* Longest line written; a longer one is refused (counted in lx_exec_log_failed). */
#define LX_EXEC_LOG_MAX_LINE ((size_t)64 * 1024)

typedef struct lx_exec_log lx_exec_log;

/* where: "stderr", or a file path (created 0600 when missing, appended to). min_level: the
 * least severe level written. LLMUX_E_CONFIGURATION when the file cannot be opened (the message
 * names it and why). */
llmux_status lx_exec_log_open(const char *where, llmux_log_level min_level, lx_exec_log **out, llmux_error_info *err);
/* Accepts NULL. */
void lx_exec_log_close(lx_exec_log *l);

/* Whether a line of this level would be written. */
bool lx_exec_log_wants(const lx_exec_log *l, llmux_log_level level);
/* Writes line (without its line feed: one is added) when level passes. False when it was not
 * written (level filtered out: not counted; too long or a write error: counted). Any thread. */
bool lx_exec_log_write(lx_exec_log *l, llmux_log_level level, const char *line, size_t len);
/* Lines lost to write errors or the line cap. */
uint64_t lx_exec_log_failed(const lx_exec_log *l);

/* "debug", "info", "warn", "error" -> level; false for anything else. */
bool lx_log_level_parse(const char *s, llmux_log_level *out);
const char *lx_log_level_name(llmux_log_level level);

#endif
