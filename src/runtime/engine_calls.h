/* local_isolation PROCESS: the public calls on local models that do not generate (llmux_embed,
 * llmux_count_tokens, llmux_model_load / _unload, llmux_models_loaded), answered by the sandboxed
 * engine child through `call` frames (core/ipc_call.h, engine_sup.h). The runtime resolves the
 * model spec itself (the same refusals as in-process: not found, outside the model directories),
 * the child loads and runs it and answers with the error the same public call gives in-process.
 * Blocking; not on the loop thread; thread-safe. */
#ifndef LX_ENGINE_CALLS_H
#define LX_ENGINE_CALLS_H

#include <stdint.h>

#include "llmux.h"

/* req is checked already (lx_embed_check_request); *out as llmux_embed's. */
llmux_status lx_engine_embed(llmux_runtime *rt, const llmux_embed_request *req, const llmux_cancel *cancel,
                             int64_t deadline_ns, llmux_embeddings **out, llmux_error_info *err);
/* req is validated already and names a local model. */
llmux_status lx_engine_count_tokens(llmux_runtime *rt, const llmux_request *req, const llmux_cancel *cancel,
                                    int64_t deadline_ns, int64_t *n_tokens, llmux_error_info *err);
llmux_status lx_engine_model_load(llmux_runtime *rt, const char *spec, const llmux_cancel *cancel,
                                  llmux_error_info *err);
/* No child running: INVALID_REQUEST "not loaded", as in-process for a model that is not. */
llmux_status lx_engine_model_unload(llmux_runtime *rt, const char *spec, llmux_error_info *err);
/* The child's llmux_models_loaded array (malloc'd JSON text); "[]" when no child runs. */
llmux_status lx_engine_models_loaded(llmux_runtime *rt, char **json, llmux_error_info *err);

#endif
