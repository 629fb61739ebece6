/* Handoff: prepares a canonical conversation produced on one provider for another one (the
 * executor's fallback across providers). Pure and deterministic: no I/O, no clock, no global
 * state; the same input and options always give the same output, and applying it to its own
 * output changes nothing. The rules, with the provider constraints behind them, are in
 * docs/handoff.md. */
#ifndef LX_HANDOFF_H
#define LX_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>

#include "llmux.h"

typedef struct lx_handoff_opts {
    const char *origin;          /* provider that produced the assistant turns ("anthropic",
                                    "openrouter"...); NULL = unknown, so every reasoning part
                                    counts as foreign */
    const char *target_protocol; /* "openai", "anthropic", "gemini", "ollama" or "local" */
    const char *target_provider; /* provider name of the target; NULL = target_protocol (the
                                    built-in providers are named after their protocol) */
    bool reasoning_as_text;      /* foreign reasoning becomes assistant text instead of being
                                    dropped (redacted and signature-only parts are dropped) */
} lx_handoff_opts;

/* The wire protocols handoff knows, in the order of lx_handoff_protocol_name(). */
typedef enum lx_handoff_protocol {
    LX_HANDOFF_OPENAI = 0,
    LX_HANDOFF_ANTHROPIC = 1,
    LX_HANDOFF_GEMINI = 2,
    LX_HANDOFF_OLLAMA = 3,
    LX_HANDOFF_LOCAL = 4
} lx_handoff_protocol;
#define LX_HANDOFF_PROTOCOL_COUNT 5

/* "openai", ... for a protocol value (static storage); NULL when out of range. */
const char *lx_handoff_protocol_name(lx_handoff_protocol p);
/* Parses a target_protocol name; false when unknown or NULL. */
bool lx_handoff_protocol_from_name(const char *name, lx_handoff_protocol *out);

/* Prepares `in` for opts->target_protocol. On success *out is a new request owned by the caller,
 * released with llmux_request_free(); `in` is only read (the caller keeps it). Fields other than
 * the conversation (model, tools, sampling, metadata, provider options...) are copied unchanged.
 * Fails with LLMUX_E_INVALID_REQUEST (unknown protocol, NULL arguments, a role or part type out
 * of range) or LLMUX_E_OUT_OF_MEMORY, *out NULL and err filled. */
llmux_status lx_handoff(const llmux_request *in, const lx_handoff_opts *opts, llmux_request **out,
                        llmux_error_info *err);

/* Convenience for the executor: lx_handoff with origin and target names only
 * (target_provider = target_protocol, reasoning dropped). */
llmux_status lx_handoff_simple(const llmux_request *in, const char *origin, const char *target_protocol,
                               llmux_request **out, llmux_error_info *err);

/* Whether a tool-call id is already in the form the protocol accepts (see docs/handoff.md). */
bool lx_handoff_id_valid(lx_handoff_protocol p, const char *id);

/* Checks the promises lx_handoff makes about its output for these options: no empty message or
 * blank text, system placement, alternation where the target demands it, every tool result
 * answering a call of the turn just before (and every call answered), ids valid for the target
 * and unique, no reasoning unless the target is the origin. Returns true when they hold; else
 * false with the first violation described in why (may be NULL). Used by tests and the fuzzer,
 * and usable as a debug assertion by callers. */
bool lx_handoff_check(const llmux_request *out, const lx_handoff_opts *opts, char *why, size_t why_size);

#endif
