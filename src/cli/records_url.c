/* Where the execution records live, for every command that reads or writes them. One function so
 * llmux.yaml's `records:` key can slot in (between the environment and the default). "none" at
 * any level (the flag, $LLMUX_RECORDS, `records: none`) turns records off: the lower levels,
 * the default database included, are then not consulted. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config/config.h"

const char *cli_records_url(const char *flag, char *buf, size_t size) {
    return cli_records_url_cfg(flag, NULL, buf, size, NULL);
}

bool cli_records_off(const char *flag, const lx_config *cfg) {
    if (flag && *flag) return strcmp(flag, "none") == 0;
    const char *env = getenv("LLMUX_RECORDS");
    if (env && *env) return strcmp(env, "none") == 0;
    return lx_config_records_off(cfg);
}

const char *cli_records_url_cfg(const char *flag, const lx_config *cfg, char *buf, size_t size, bool *is_default) {
    if (is_default) *is_default = false;
    if (cli_records_off(flag, cfg)) return NULL;
    if (flag && *flag) return flag;
    const char *env = getenv("LLMUX_RECORDS");
    if (env && *env) return env;
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    if (rp.records && *rp.records) return rp.records; /* llmux.yaml's records: */
    if (is_default) *is_default = true;
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
