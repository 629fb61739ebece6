/* llmux.yaml in the subcommands: finding and loading it, and merging it with command-line flags
 * (flags win). */
#define _XOPEN_SOURCE 700
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config/config.h"

/* `llmux --config FILE <command>`: set by main before the command runs; a command's own
 * --config wins. */
static const char *g_config_path;

void cli_config_set_global(const char *path) { g_config_path = path; }

int cli_config_open(const char *path, lx_config **out) {
    *out = NULL;
    char found[4096];
    llmux_error_info err;
    llmux_status st = lx_config_find(path ? path : g_config_path, found, sizeof found, &err);
    if (st != LLMUX_OK) return cli_fail(st, err.message);
    if (!*found) return 0; /* no file anywhere: the defaults */
    st = lx_config_load(found, out, &err);
    if (st != LLMUX_OK) return cli_fail(st, err.message);
    return 0;
}

llmux_status cli_config_runtime_params(const lx_config *cfg, const char *provider, const char *base_url,
                                       const char *api_key, llmux_runtime_params *rp, llmux_provider_params **owned,
                                       llmux_error_info *err) {
    *owned = NULL;
    lx_config_runtime_params(cfg, rp);
    if (!provider || (!base_url && !api_key)) return LLMUX_OK;
    /* The flags configure one provider: start from the file's entry for it (so a key from the
     * file stays when only --base-url is given), add one when the file has none. */
    size_t n = rp->n_providers;
    llmux_provider_params *ps = calloc(n + 1, sizeof *ps);
    if (!ps) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return LLMUX_E_OUT_OF_MEMORY;
    }
    if (n) memcpy(ps, rp->providers, n * sizeof *ps);
    size_t i = 0;
    while (i < n && strcmp(ps[i].name, provider) != 0) i++;
    if (i == n) {
        ps[i].name = provider;
        n++;
    }
    if (base_url) ps[i].base_url = base_url;
    if (api_key) ps[i].api_key = api_key;
    rp->providers = ps;
    rp->n_providers = n;
    *owned = ps;
    return LLMUX_OK;
}

llmux_status cli_config_prices(llmux_runtime *rt, const lx_config *cfg, llmux_error_info *err) {
    const llmux_model_info *prices;
    size_t n;
    lx_config_prices(cfg, &prices, &n);
    if (!n) return LLMUX_OK;
    llmux_status st = llmux_catalog_add(rt, prices, n, err);
    if (st != LLMUX_OK) {
        /* Name the file: the entry is the config's "prices:", not anything the user typed here. */
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "%s: prices: %s", lx_config_path(cfg), err->message);
        memcpy(err->message, msg, sizeof msg);
    }
    return st;
}

int64_t cli_config_timeout_ms(const lx_config *cfg) {
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    return cfg && rp.total_timeout_ms > 0 ? rp.total_timeout_ms : CLI_TIMEOUT_DEFAULT_MS;
}
