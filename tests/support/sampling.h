/* The two samplings the engine and scheduler tests compare: seeded random draws over a wide
 * distribution, and greedy picks. */
#ifndef LX_TEST_SAMPLING_H
#define LX_TEST_SAMPLING_H

#include <stdint.h>

#include "llmux.h"

/* Temperature 1, top_k 200, top_p 1, min_p 0 (nearly the whole distribution), seed, max_tokens. */
llmux_sampling sampling_seeded(int64_t seed, int32_t max_tokens);
/* Temperature 0, max_tokens. */
llmux_sampling sampling_greedy(int32_t max_tokens);

#endif
