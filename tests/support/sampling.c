#include "support/sampling.h"

llmux_sampling sampling_seeded(int64_t seed, int32_t max_tokens) {
    llmux_sampling s = llmux_sampling_default();
    s.temperature = 1.0;
    s.top_k = 200;
    s.top_p = 1.0;
    s.min_p = 0.0;
    s.seed = seed;
    s.max_tokens = max_tokens;
    return s;
}

llmux_sampling sampling_greedy(int32_t max_tokens) {
    llmux_sampling s = llmux_sampling_default();
    s.temperature = 0.0;
    s.max_tokens = max_tokens;
    return s;
}
