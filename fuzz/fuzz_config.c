/* llmux.yaml from untrusted bytes: libyaml's events, the tree (anchors, aliases, caps), the
 * schema and the report. Beyond "no crash, no leak, no hang": a failure always carries a
 * configuration (or out-of-memory) status and a message that starts with the file name, and a
 * success yields params whose every overrides text is canonical request JSON. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "llmux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static FILE *devnull;
    if (!devnull) devnull = fopen("/dev/null", "w");
    /* A variable for env: references to find (and one left unset). */
    setenv("LLMUX_FUZZ_KEY", "sk-fuzz", 0);
    setenv("LLMUX_FUZZ_SERVER_KEY", "sk-fuzz-server-0123456789", 0); /* long enough for server.keys */
    lx_config *cfg = NULL;
    llmux_error_info err;
    llmux_status st = lx_config_load_text("fuzz.yaml", NULL, (const char *)data, size, &cfg, &err);
    if (st != LLMUX_OK) {
        if (cfg || err.status != st) abort();
        if (st != LLMUX_E_CONFIGURATION && st != LLMUX_E_OUT_OF_MEMORY) abort();
        if (strncmp(err.message, "fuzz.yaml", 9) != 0) abort();
        return 0;
    }
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    for (size_t i = 0; i < rp.n_aliases; i++) {
        const llmux_alias *a = &rp.aliases[i];
        if (!a->name || strchr(a->name, '/') || a->n_targets == 0) abort();
        for (size_t t = 0; t < a->n_targets; t++) {
            const char *o = a->targets[t].overrides;
            llmux_request *req = NULL;
            if (o && llmux_request_from_json(o, strlen(o), &req, NULL) != LLMUX_OK) abort();
            llmux_request_free(req);
        }
    }
    /* server.keys: every loaded key has a valid name, a digest and at least one pattern; names and
     * digests are unique; no key's plaintext survives in the config. */
    lx_config_server_settings ss;
    lx_config_server(cfg, &ss);
    if (ss.n_keys > LX_CONFIG_MAX_KEYS || ss.n_cors_origins > LX_CONFIG_MAX_CORS_ORIGINS) abort();
    for (size_t i = 0; i < ss.n_keys; i++) {
        const lx_config_key *k = &ss.keys[i];
        if (!k->name || !*k->name || strlen(k->name) > 64 || k->n_models == 0 || !k->models) abort();
        for (size_t m = 0; m < k->n_models; m++)
            if (!k->models[m] || !*k->models[m]) abort();
        if (k->rpm < 0 || (k->budget_usd >= 0 && !(k->budget_usd > 0))) abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(ss.keys[j].name, k->name) == 0 || memcmp(ss.keys[j].sha256, k->sha256, 32) == 0) abort();
    }
    if (devnull) lx_config_print(cfg, devnull);
    lx_config_free(cfg);
    return 0;
}
