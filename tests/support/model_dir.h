/* A test's scratch directory of generated GGUF models: mkdtemp under /tmp, models written into
 * it by the built tools/gguf_gen, removed with everything in it at the end. One copy of what
 * every model-loading test (engine, runtime, server) set up by hand. */
#ifndef LX_TEST_MODEL_DIR_H
#define LX_TEST_MODEL_DIR_H

#include <stddef.h>

/* gguf_gen arguments of the small llama the engine and scheduler tests share (2 layers, 64 wide,
 * 4 query heads over 2 KV heads, f16, seed 7); the caller adds its --ctx. */
#define TINY_LLAMA_ARGS "--arch llama --n-layer 2 --n-embd 64 --n-head 4 --n-head-kv 2 --n-ff 128 --type f16 --seed 7"

/* Creates /tmp/<prefix>-XXXXXX; its path into out (size bytes). 0 on success, -1 on failure, so
 * it can serve as a cmocka group setup body. */
int model_dir_create(const char *prefix, char *out, size_t size);
/* Removes dir and everything in it (rm -rf). 0 on success. */
int model_dir_remove(const char *dir);
/* Runs `gguf_gen <args> --out '<out_path>'` (args: printf format; its output discarded). 0 when
 * gguf_gen exited 0, -1 otherwise (the command could not be built or gguf_gen failed). */
int gguf_gen(const char *out_path, const char *args_fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes text to path (created or truncated): a file that is not GGUF, whatever its name says.
 * 0 on success. */
int write_text_file(const char *path, const char *text);

#endif
