/* What this build of the engine can run on: llama.cpp's ggml backends, their devices and the CPU
 * features the CPU backend was built for and found, for `llmux info` (llmux_system_info). */
#ifndef LX_ENGINE_SYSTEM_INFO_H
#define LX_ENGINE_SYSTEM_INFO_H

/* A JSON object (text, free() it; NULL when out of memory):
 *   {"ggml_version", "ggml_commit", "llama_system_info" (llama_print_system_info's line),
 *    "cpu_cores" (online), "default_threads" (what n_threads 0 means),
 *    "supports": {"mmap", "mlock", "gpu_offload", "rpc"},
 *    "backends": [{"name", "features": {NAME: VALUE, ...}, "devices": [{"name", "description",
 *                  "type": "cpu"|"gpu"|"igpu"|"accel"|"meta"|"other", "memory_total_bytes",
 *                  "memory_free_bytes"}]}]}
 * Initialises llama.cpp's backends first (once per process). Any thread. */
char *lx_engine_system_info_json(void);

#endif
