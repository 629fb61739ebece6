/* Metadata checks that run before a GGUF file reaches llama.cpp. llama.cpp fails cleanly on most
 * malformed files, but a few values make it abort the whole process (GGML_ASSERT) at load or at
 * the first decode; this refuses them with an error instead. */
#ifndef LX_GGUF_CHECK_H
#define LX_GGUF_CHECK_H

#include <stdbool.h>

#include "llmux.h"

/* Parses path's GGUF header and key-value metadata with ggml's own parser (no tensor data) and
 * refuses what llama.cpp asserts on: `<arch>.block_count` outside [1, 512], next-n, posnet or
 * convnext layer counts above it, inconsistent expert counts, a NaN, infinite or negative
 * `<arch>.*epsilon`, an unknown `<arch>.rope.scaling.type`, a vocabulary without tokenizer
 * ("none"), and an SPM vocabulary without byte-fallback tokens (its tokenizer throws on the
 * first character it cannot map). vocab_only: only the vocabulary will be loaded, so the
 * hyper-parameters are not checked. Errors: CONFIGURATION naming the key, or quoting ggml's
 * reason when the file is not valid GGUF. */
llmux_status lx_gguf_check(const char *path, bool vocab_only, llmux_error_info *err);

#endif
