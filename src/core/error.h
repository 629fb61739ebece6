/* Internal helpers for llmux_error_info. */
#ifndef LX_ERROR_H
#define LX_ERROR_H

#include "llmux.h"

/* Fills err (when not NULL) with status and a formatted message; clears the provider fields.
 * Returns status, so callers can `return lx_error(err, LLMUX_E_..., "...")`. */
llmux_status lx_error(llmux_error_info *err, llmux_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Clears err to LLMUX_OK. */
void lx_error_clear(llmux_error_info *err);
/* Copies a bounded string into a fixed field, truncating on a UTF-8 character boundary. */
void lx_copy_field(char *dst, size_t dst_size, const char *src);

#endif
