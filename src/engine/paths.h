/* Allowed-directory checks for model files (DESIGN.md §6): a model is loaded only from inside a
 * configured directory, after canonicalisation, so ".." and symlinks cannot escape. */
#ifndef LX_PATHS_H
#define LX_PATHS_H

#include <stddef.h>

#include "llmux.h"

/* Canonicalises `path` into out (size out_size) and checks it lies strictly inside one of dirs
 * (each canonicalised too; missing dirs are skipped) and is a regular file. Errors:
 * MODEL_NOT_FOUND (no such file), PERMISSION (outside every dir), CONFIGURATION (inside, but not
 * a regular file: a directory, FIFO or device; nothing is opened), INVALID_REQUEST (out too
 * small). */
llmux_status lx_path_check_allowed(const char *const *dirs, size_t n_dirs, const char *path, char *out,
                                   size_t out_size, llmux_error_info *err);

#endif
