/* Where the execution records live, for every command that reads or writes them. One function so
 * llmux.yaml's `records:` key can slot in (between the environment and the default). */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

const char *cli_records_url(const char *flag, char *buf, size_t size) {
    if (flag && *flag) return flag;
    const char *env = getenv("LLMUX_RECORDS");
    if (env && *env) return env;
    /* XDG Base Directory: $XDG_DATA_HOME, else ~/.local/share
     * (https://specifications.freedesktop.org/basedir-spec/latest/). A relative XDG_DATA_HOME is
     * invalid per the spec and ignored. */
    const char *data = getenv("XDG_DATA_HOME");
    int n;
    if (data && data[0] == '/') {
        n = snprintf(buf, size, "sqlite:%s/llmux/records.db", data);
    } else {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/') return NULL;
        n = snprintf(buf, size, "sqlite:%s/.local/share/llmux/records.db", home);
    }
    return n > 0 && (size_t)n < size ? buf : NULL;
}
