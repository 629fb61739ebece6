// The C++ shim over llama.cpp's `common` library (json_grammar.h). It holds no state and no logic
// beyond the calls it wraps: parsing the schema text (common_json), converting it
// (json_schema_to_grammar, common/json-schema-to-grammar.h) and the grammar sampler's C entry
// points, which are C++ underneath and may throw. Nothing thrown here leaves this file.
#include "json_grammar.h"
#include "gbnf_check.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "json-schema-to-grammar.h"
#include "json.h"
#include "llama.h"

namespace {

// A malloc'd copy the C side frees with free(); NULL when out of memory.
char *c_copy(const std::string &s) {
    char *p = static_cast<char *>(std::malloc(s.size() + 1));
    if (p) {
        std::memcpy(p, s.data(), s.size());
        p[s.size()] = '\0';
    }
    return p;
}

lx_jg_status refuse(char **error, const char *what) {
    *error = c_copy(what ? what : "unknown error");
    return *error ? LX_JG_INVALID : LX_JG_NO_MEMORY;
}

}  // namespace

extern "C" lx_jg_status lx_json_schema_to_gbnf(const char *schema, size_t len, char **grammar, char **error) {
    *grammar = nullptr;
    *error = nullptr;
    try {
        const common_json doc = common_json::parse(std::string(schema, len));
        // force_gbnf: GBNF even in a build with LLGuidance (ours has none), for llama.cpp's own
        // grammar sampler.
        const std::string gbnf = json_schema_to_grammar(doc, /* force_gbnf = */ true);
        *grammar = c_copy(gbnf);
        return *grammar ? LX_JG_OK : LX_JG_NO_MEMORY;
    } catch (const std::bad_alloc &) {
        return LX_JG_NO_MEMORY;
    } catch (const std::exception &e) {
        return refuse(error, e.what());
    } catch (...) {
        return refuse(error, "the converter failed");
    }
}

extern "C" struct llama_sampler *lx_grammar_sampler_init(const struct llama_vocab *vocab, const char *gbnf,
                                                         char **error) {
    *error = nullptr;
    char why[128];
    if (!lx_gbnf_repetitions_ordered(gbnf, why, sizeof why)) {
        refuse(error, why);
        return nullptr;
    }
    try {
        struct llama_sampler *s = llama_sampler_init_grammar(vocab, gbnf, "root");
        // llama.cpp logs the parse error itself and returns NULL.
        if (!s) refuse(error, "llama.cpp could not parse the grammar");
        return s;
    } catch (const std::bad_alloc &) {
        return nullptr;
    } catch (const std::exception &e) {
        refuse(error, e.what());
        return nullptr;
    } catch (...) {
        refuse(error, "llama.cpp could not build the grammar sampler");
        return nullptr;
    }
}

extern "C" bool lx_grammar_sampler_accept(struct llama_sampler *grammar, int32_t token) {
    try {
        llama_sampler_accept(grammar, token);
        return true;
    } catch (...) {
        return false;
    }
}
