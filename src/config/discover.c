/* Which llmux.yaml applies: --config, $LLMUX_CONFIG, ./llmux.yaml, then the user's config
 * directory as the XDG Base Directory specification places it
 * (https://specifications.freedesktop.org/basedir-spec/latest/: $XDG_CONFIG_HOME, "If
 * $XDG_CONFIG_HOME is either not set or empty, a default equal to $HOME/.config should be used";
 * a relative value is invalid and ignored). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/internal.h"
#include "core/error.h"

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static llmux_status put(char *buf, size_t size, const char *p, llmux_error_info *err) {
    if (snprintf(buf, size, "%s", p) >= (int)size)
        return lx_error(err, LLMUX_E_CONFIGURATION, "configuration path too long (%zu bytes)", strlen(p));
    return LLMUX_OK;
}

llmux_status lx_config_find(const char *explicit_path, char *buf, size_t size, llmux_error_info *err) {
    lx_error_clear(err);
    if (size) buf[0] = '\0';
    /* Named on purpose: a missing file is a mistake, never "use the defaults". */
    if (explicit_path) {
        if (!*explicit_path) return lx_error(err, LLMUX_E_CONFIGURATION, "--config: empty file name");
        if (!exists(explicit_path))
            return lx_error(err, LLMUX_E_CONFIGURATION, "%.400s: no such file", explicit_path);
        return put(buf, size, explicit_path, err);
    }
    const char *env = getenv("LLMUX_CONFIG");
    if (env && *env) {
        if (!exists(env)) return lx_error(err, LLMUX_E_CONFIGURATION, "LLMUX_CONFIG=%.400s: no such file", env);
        return put(buf, size, env, err);
    }
    if (exists("llmux.yaml")) return put(buf, size, "llmux.yaml", err);
    char path[4096];
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n = -1;
    if (xdg && xdg[0] == '/') n = snprintf(path, sizeof path, "%s/llmux/llmux.yaml", xdg);
    else if (home && *home) n = snprintf(path, sizeof path, "%s/.config/llmux/llmux.yaml", home);
    if (n > 0 && (size_t)n < sizeof path && exists(path)) return put(buf, size, path, err);
    return LLMUX_OK;
}
