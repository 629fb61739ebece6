#define _XOPEN_SOURCE 700
#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

/* Whether canonical `file` lies below canonical `dir` (a path-component boundary, not a string
 * prefix: "/models2/x" is not inside "/models"). */
static int inside(const char *dir, const char *file) {
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return file[0] == '/' && file[1] != '\0';
    return strncmp(dir, file, n) == 0 && file[n] == '/' && file[n + 1] != '\0';
}

llmux_status lx_path_check_allowed(const char *const *dirs, size_t n_dirs, const char *path, char *out,
                                   size_t out_size, llmux_error_info *err) {
    if (!path || !*path) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model path is empty");
    char canon[PATH_MAX];
    if (!realpath(path, canon)) {
        if (errno == ENOENT || errno == ENOTDIR)
            return lx_error(err, LLMUX_E_MODEL_NOT_FOUND, "model file not found: %s", path);
        return lx_error(err, LLMUX_E_PERMISSION, "cannot resolve model path %s: %s", path, strerror(errno));
    }
    bool allowed = false;
    for (size_t i = 0; i < n_dirs && !allowed; i++) {
        char cdir[PATH_MAX];
        if (dirs[i] && realpath(dirs[i], cdir)) allowed = inside(cdir, canon);
    }
    if (!allowed) return lx_error(err, LLMUX_E_PERMISSION, "model path %s is outside the allowed model directories", path);
    /* Only now, for a path that is allowed, say what it is; stat() opens nothing, so a FIFO
     * cannot block here. */
    struct stat st;
    if (stat(canon, &st) != 0)
        return lx_error(err, errno == ENOENT ? LLMUX_E_MODEL_NOT_FOUND : LLMUX_E_PERMISSION, "cannot stat model %s: %s",
                        path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return lx_error(err, LLMUX_E_CONFIGURATION, "model %s is not a regular file", path);
    size_t n = strlen(canon);
    if (n + 1 > out_size)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "buffer too small for model path (%zu bytes needed)", n + 1);
    memcpy(out, canon, n + 1);
    return LLMUX_OK;
}
