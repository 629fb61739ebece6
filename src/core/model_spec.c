/* The one classification of a model spec (llmux_model_kind_of): every layer (runtime, embeddings,
 * CLI) asks here instead of guessing from the string itself. */
#include <string.h>

#include "llmux.h"

llmux_model_kind llmux_model_kind_of(const char *spec) {
    if (!spec || !*spec) return LLMUX_MODEL_LOCAL_NAME;
    size_t n = strlen(spec);
    if (strncmp(spec, "local/", 6) == 0) return LLMUX_MODEL_LOCAL_NAME;
    if (spec[0] == '/' || spec[0] == '.' || (n > 5 && strcmp(spec + n - 5, ".gguf") == 0)) return LLMUX_MODEL_LOCAL_PATH;
    const char *slash = strchr(spec, '/');
    if (!slash || slash == spec) return LLMUX_MODEL_LOCAL_NAME;
    return LLMUX_MODEL_REMOTE;
}
