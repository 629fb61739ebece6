#define _XOPEN_SOURCE 700
#include "support/model_dir.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int model_dir_create(const char *prefix, char *out, size_t size) {
    char tmpl[PATH_MAX];
    int n = snprintf(tmpl, sizeof tmpl, "/tmp/%s-XXXXXX", prefix);
    if (n < 0 || (size_t)n >= sizeof tmpl || !mkdtemp(tmpl)) return -1;
    n = snprintf(out, size, "%s", tmpl);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int model_dir_remove(const char *dir) {
    char cmd[PATH_MAX + 16];
    int n = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (n < 0 || (size_t)n >= sizeof cmd) return -1;
    return system(cmd) == 0 ? 0 : -1;
}

int gguf_gen(const char *out_path, const char *args_fmt, ...) {
    /* Arguments can carry a whole chat template through "$(cat file)": room for long ones. */
    char args[PATH_MAX * 2];
    va_list ap;
    va_start(ap, args_fmt);
    int n = vsnprintf(args, sizeof args, args_fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof args) return -1;
    char cmd[PATH_MAX * 4];
    n = snprintf(cmd, sizeof cmd, "'%s/gguf_gen' %s --out '%s' >/dev/null", LLMUX_TEST_BIN_DIR, args, out_path);
    if (n < 0 || (size_t)n >= sizeof cmd) return -1;
    return system(cmd) == 0 ? 0 : -1;
}

int write_text_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}
