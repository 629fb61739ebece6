/* NDJSON framer (newline-delimited JSON, as Ollama streams it), push style.
 *
 * Feed raw body bytes split anywhere; each complete line is delivered to a callback. Lines end
 * with LF; a CR before the LF is stripped; lines that are empty or only spaces/tabs are skipped;
 * a leading UTF-8 BOM is stripped once (even when split across chunks); the last line may lack
 * its LF and is delivered by lx_ndjson_finish. A line longer than `max` bytes fails with
 * LLMUX_E_UPSTREAM_PROTOCOL: memory never grows past the cap. A line complete inside one chunk
 * is passed straight from the caller's bytes (no copy). */
#ifndef LX_NDJSON_H
#define LX_NDJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "llmux.h"

/* Receives one line (without LF/CR, not NUL-terminated, borrowed). A status other than LLMUX_OK
 * stops the framer and is returned by the feed (the callback fills err itself). */
typedef llmux_status (*lx_ndjson_cb)(void *user_data, const char *line, size_t len);

typedef struct lx_ndjson_framer {
    size_t max;          /* cap on one line, in bytes */
    lx_buf line;         /* the incomplete line carried over from the previous chunk */
    uint8_t bom_matched;
    bool bom_done;
    bool failed;
    uint64_t n_lines;    /* lines delivered */
} lx_ndjson_framer;

void lx_ndjson_init(lx_ndjson_framer *f, size_t max);
void lx_ndjson_free(lx_ndjson_framer *f);

/* Returns LLMUX_OK, the callback's status, LLMUX_E_UPSTREAM_PROTOCOL past the cap, or
 * LLMUX_E_OUT_OF_MEMORY. After a failure every later call fails. */
llmux_status lx_ndjson_feed(lx_ndjson_framer *f, const char *data, size_t len, lx_ndjson_cb cb, void *user_data,
                            llmux_error_info *err);
/* End of stream: delivers a final line that had no LF. */
llmux_status lx_ndjson_finish(lx_ndjson_framer *f, lx_ndjson_cb cb, void *user_data, llmux_error_info *err);

#endif
