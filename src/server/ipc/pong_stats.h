/* The local-engine gauges `llmux engine`'s pongs carry to its supervisor (docs/ipc.md, "pong";
 * docs/sandbox.md, "Supervision"): for each loaded model, the requests waiting for a sequence
 * slot and the host prompt cache's bytes, so the parent's /metrics shows the child's
 * llmux_local_queue_depth and llmux_local_prompt_cache_bytes as in-process. They are read from
 * the runtime's own Prometheus text (llmux_metrics_prometheus: this server uses the public API
 * only). Loop thread. */
#ifndef LX_IPC_PONG_STATS_H
#define LX_IPC_PONG_STATS_H

#include <stddef.h>

#include "core/ipc_message.h"
#include "llmux.h"

/* Text read at most: past it the rest of the metrics is ignored (the two families come early,
 * and a runtime with many series must not make every pong slow). */
#define LX_IPC_STATS_MAX_TEXT ((size_t)1 << 20)

/* rt's local models' gauges into out[0..cap); returns how many (0 when the metrics cannot be
 * rendered). */
size_t lx_ipc_local_stats(llmux_runtime *rt, lx_ipc_model_stat *out, size_t cap);

/* The reader alone (tests, fuzz/fuzz_pong_stats.c): the samples of llmux_local_queue_depth and
 * llmux_local_prompt_cache_bytes in text (len bytes, not NUL-terminated; at most
 * LX_IPC_STATS_MAX_TEXT read), merged by their model label. Lines that are not such a sample, a
 * label that does not unescape into LX_IPC_MAX_FIELD bytes, or a value that is not a finite
 * number >= 0 are skipped. */
size_t lx_ipc_stats_from_metrics(const char *text, size_t len, lx_ipc_model_stat *out, size_t cap);

#endif
