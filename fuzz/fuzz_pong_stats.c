/* The reader of an engine's local-engine gauges from Prometheus text (src/server/ipc/pong_stats.h)
 * on arbitrary bytes: no crash, no read past len, at most cap entries, each with a non-empty
 * label that fits and counts >= 0, no label twice; the entries go into a pong that parses back. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ipc_message.h"
#include "server/ipc/pong_stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so that a read past size is caught by ASan. */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    lx_ipc_model_stat st[4];
    size_t n = lx_ipc_stats_from_metrics(text, size, st, 4);
    if (n > 4) abort();
    for (size_t i = 0; i < n; i++) {
        size_t len = strnlen(st[i].model, sizeof st[i].model);
        if (len == 0 || len > LX_IPC_MAX_FIELD || st[i].queued < 0 || st[i].prompt_cache_bytes < 0) abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(st[i].model, st[j].model) == 0) abort();
    }
    char *p = lx_ipc_pong_with_models("0123456789abcdef0123456789abcdef", NULL, 0, st, n);
    if (p) {
        lx_ipc_msg m;
        char err[256];
        /* Labels that are not UTF-8 are left out of the pong; the rest must parse. */
        if (!lx_ipc_msg_parse(p, strlen(p), &m, err, sizeof err)) abort();
        lx_ipc_msg_clear(&m);
        free(p);
    }
    free(text);
    return 0;
}
