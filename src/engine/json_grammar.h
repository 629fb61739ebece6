/* The engine's only C++: a shim over llama.cpp's `common` library (json_grammar.cpp), whose
 * JSON-Schema-to-grammar converter and grammar sampler are C++ that may throw. Every function
 * here catches every exception and reports it as a status and a malloc'd message, so no
 * exception ever crosses into the C code that calls it.
 *
 * Thread-safety: each call uses only its arguments; a sampler is used by one thread at a time. */
#ifndef LX_JSON_GRAMMAR_H
#define LX_JSON_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct llama_sampler;
struct llama_vocab;

typedef enum lx_jg_status {
    LX_JG_OK = 0,
    LX_JG_INVALID = 1,  /* the input was refused; *error says why */
    LX_JG_NO_MEMORY = 2 /* out of memory; *error stays NULL */
} lx_jg_status;

/* Converts a JSON Schema (schema, len bytes of JSON text) into a GBNF grammar whose root rule
 * accepts exactly the JSON texts the converter models the schema with (llama.cpp's
 * json_schema_to_grammar, GBNF form). On LX_JG_OK *grammar is a NUL-terminated malloc'd string;
 * on LX_JG_INVALID *error is a malloc'd NUL-terminated message (the converter's words, e.g. an
 * unsupported $ref or an invalid pattern). The caller frees both with free(). The caller bounds
 * len and the schema's nesting (the converter recurses on it): see constrain.c. */
lx_jg_status lx_json_schema_to_gbnf(const char *schema, size_t len, char **grammar, char **error);

/* llama_sampler_init_grammar(vocab, gbnf, "root") with exceptions caught: NULL with *error (a
 * malloc'd message, or NULL when out of memory) when llama.cpp refuses the grammar. */
struct llama_sampler *lx_grammar_sampler_init(const struct llama_vocab *vocab, const char *gbnf, char **error);

/* llama_sampler_accept(grammar, token) with exceptions caught: false when the grammar cannot
 * accept the token (llama.cpp throws "Unexpected empty grammar stack" then). */
bool lx_grammar_sampler_accept(struct llama_sampler *grammar, int32_t token);

#ifdef __cplusplus
}
#endif

#endif
