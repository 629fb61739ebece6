#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_fail(llmux_status st, const char *message) {
    fprintf(stderr, "llmux: %s: %s\n", llmux_status_name(st), message && *message ? message : llmux_strerror(st));
    return CLI_EXIT_BASE + (int)st;
}

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("llmux: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_io_error(const char *what, const char *target, int err_no) {
    if (target) fprintf(stderr, "llmux: %s: %s: %s\n", what, target, strerror(err_no));
    else fprintf(stderr, "llmux: %s: %s\n", what, strerror(err_no));
    return CLI_EXIT_IO;
}

bool cli_stdout_ok(void) {
    /* ferror catches a failure of an earlier write whose errno is long gone; EIO stands in then. */
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return true;
    if (errno == 0) errno = EIO;
    return false;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Looks next to the installed binary first (<prefix>/bin/../share/llmux/models), then in the
 * source tree the binary was built from, then in the configured install prefix. */
const char *cli_default_model_path(void) {
    static char path[PATH_MAX];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            if (snprintf(path, sizeof path, "%s/../share/llmux/models/%s", exe, LLMUX_DEFAULT_MODEL_NAME) <
                    (int)sizeof path &&
                is_file(path))
                return path;
        }
    }
    if (snprintf(path, sizeof path, "%s/%s", LLMUX_SOURCE_MODEL_DIR, LLMUX_DEFAULT_MODEL_NAME) < (int)sizeof path &&
        is_file(path))
        return path;
    if (snprintf(path, sizeof path, "%s/%s", LLMUX_INSTALL_MODEL_DIR, LLMUX_DEFAULT_MODEL_NAME) < (int)sizeof path &&
        is_file(path))
        return path;
    return NULL;
}

void cli_progress(float progress, void *user_data) {
    (void)user_data;
    if (!isatty(STDERR_FILENO) || !isatty(STDOUT_FILENO)) return;
    int width = 30;
    int done = (int)(progress * (float)width + 0.5f);
    if (done > width) done = width;
    fprintf(stderr, "\rloading model [");
    for (int i = 0; i < width; i++) fputc(i < done ? '#' : ' ', stderr);
    fprintf(stderr, "] %3d%%", (int)(progress * 100.0f + 0.5f));
    if (progress >= 1.0f) fputs("\r\033[K", stderr);
    fflush(stderr);
}

llmux_status cli_runtime_for_provider(const char *provider, const char *base_url, const char *api_key,
                                      llmux_runtime **rt, llmux_error_info *err) {
    return cli_runtime_with_config(NULL, provider, base_url, api_key, rt, err);
}

llmux_status cli_runtime_with_config(const lx_config *cfg, const char *provider, const char *base_url,
                                     const char *api_key, llmux_runtime **rt, llmux_error_info *err) {
    llmux_runtime_params rp = llmux_runtime_default_params();
    llmux_provider_params *owned = NULL;
    llmux_status st = cli_config_runtime_params(cfg, provider, base_url, api_key, &rp, &owned, err);
    if (st == LLMUX_OK) st = llmux_runtime_create(&rp, rt, err);
    free(owned);
    if (st == LLMUX_OK && (st = cli_config_prices(*rt, cfg, err)) != LLMUX_OK) {
        llmux_runtime_destroy(*rt);
        *rt = NULL;
    }
    return st;
}
