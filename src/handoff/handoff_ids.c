/* Tool-call ids in the form each target accepts, unique within a conversation.
 *
 * Limits, from what the providers reject (docs/handoff.md cites the reports):
 *  - Anthropic: tool_use ids must match ^[a-zA-Z0-9_-]+$ (a 400 "String should match pattern"
 *    otherwise). No length limit is documented; 64 keeps ids short like every other target.
 *  - OpenAI Chat Completions: tool_calls[].id at most 40 characters ("string_above_max_length").
 *  - Gemini: functionCall ids are optional and our encoder does not send them (calls and
 *    responses pair by name and order); Ollama and the local engine do not check them. Their ids
 *    only pair results with calls inside llmux, so any printable ASCII up to 64 bytes is kept.
 * Anthropic also refuses two tool_use blocks with one id, and Gemini's decoder numbers calls
 * "call_0", "call_1"... in every response, so ids repeat across turns: uniqueness is enforced for
 * every target. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/handoff_internal.h"

typedef struct id_rule {
    size_t max_len;
    bool strict; /* [A-Za-z0-9_-] only; else printable ASCII without space */
} id_rule;

static const id_rule k_rules[LX_HANDOFF_PROTOCOL_COUNT] = {
    [LX_HANDOFF_OPENAI] = {40, false}, [LX_HANDOFF_ANTHROPIC] = {64, true}, [LX_HANDOFF_GEMINI] = {64, false},
    [LX_HANDOFF_OLLAMA] = {64, false}, [LX_HANDOFF_LOCAL] = {64, false},
};

static bool byte_ok(const id_rule *r, unsigned char c) {
    if (!r->strict) return c > 0x20 && c < 0x7f;
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool lx_handoff_id_valid(lx_handoff_protocol p, const char *id) {
    if ((unsigned)p >= LX_HANDOFF_PROTOCOL_COUNT || !id || !*id) return false;
    const id_rule *r = &k_rules[p];
    size_t n = strlen(id);
    if (n > r->max_len) return false;
    for (size_t i = 0; i < n; i++)
        if (!byte_ok(r, (unsigned char)id[i])) return false;
    return true;
}

/* ---------------------------------------------------------------- id set */

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

bool lx_idset_init(lx_idset *s, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 1) cap *= 2;
    s->slots = calloc(cap, sizeof *s->slots);
    s->cap = s->slots ? cap : 0;
    s->n = 0;
    return s->slots != NULL;
}

void lx_idset_free(lx_idset *s) {
    free(s->slots);
    s->slots = NULL;
    s->cap = s->n = 0;
}

bool lx_idset_has(const lx_idset *s, const char *id) {
    if (!s->cap) return false;
    for (size_t i = hash(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slots[i]) return false;
        if (strcmp(s->slots[i], id) == 0) return true;
    }
}

void lx_idset_add(lx_idset *s, const char *id) {
    if (s->n + 1 >= s->cap) return; /* sized by init; never reached when the caller counted */
    size_t i = hash(id) & (s->cap - 1);
    while (s->slots[i]) {
        if (strcmp(s->slots[i], id) == 0) return;
        i = (i + 1) & (s->cap - 1);
    }
    s->slots[i] = id;
    s->n++;
}

/* ------------------------------------------------------------ assignment */

const char *lx_handoff_assign_id(lx_idset *s, lx_arena *a, lx_handoff_protocol p, const char *orig, size_t ordinal) {
    const id_rule *r = &k_rules[p];
    const char *id = NULL;
    if (lx_handoff_id_valid(p, orig) && !lx_idset_has(s, orig)) {
        id = lx_arena_strdup(a, orig);
    } else {
        /* The base: the original with every refused byte replaced, cut to the limit. */
        char base[72];
        size_t n = 0;
        if (orig && *orig) {
            for (; orig[n] && n < r->max_len && n < sizeof base - 1; n++)
                base[n] = byte_ok(r, (unsigned char)orig[n]) ? orig[n] : '_';
            base[n] = '\0';
        } else {
            n = (size_t)snprintf(base, sizeof base, "call_%zu", ordinal);
        }
        if (!lx_idset_has(s, base)) {
            id = lx_arena_strndup(a, base, n);
        } else {
            /* Taken: the first free "<base>_<k>", the base cut so the whole fits the limit. */
            char cand[96];
            for (size_t k = 2;; k++) {
                char suffix[24];
                size_t sl = (size_t)snprintf(suffix, sizeof suffix, "_%zu", k);
                size_t keep = n + sl <= r->max_len ? n : r->max_len - sl;
                memcpy(cand, base, keep);
                memcpy(cand + keep, suffix, sl + 1);
                if (!lx_idset_has(s, cand)) break;
            }
            id = lx_arena_strdup(a, cand);
        }
    }
    if (id) lx_idset_add(s, id);
    return id;
}
