/* A check of GBNF text before llama.cpp's grammar parser sees it. Its parser bounds every
 * repetition count (MAX_REPETITION_THRESHOLD) but not their order: for x{m,n} with m > n it
 * computes n - m unsigned and tries to generate about 2^64 rules, so a JSON Schema pattern such as
 * "[a-z]{5,4}" (passed through by the schema converter) or a tool parameter's pattern would take
 * the whole memory of the process (found by fuzz/fuzz_json_grammar.c). */
#ifndef LX_ENGINE_GBNF_CHECK_H
#define LX_ENGINE_GBNF_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True when every {m,n} repetition of gbnf (outside its strings, character classes and comments)
 * has m <= n. Otherwise false, with the offending repetition described in why (why_len bytes,
 * NUL-terminated). Pure; any thread. */
bool lx_gbnf_repetitions_ordered(const char *gbnf, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
