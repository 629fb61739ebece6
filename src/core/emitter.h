/* The event emitter and stream guard: turns what a producer sees into canonical events, with part
 * indices assigned in order of first appearance, and is the one place the rules of a stream are
 * enforced: START once and first, tool calls closed before FINISH, exactly one terminal event
 * (FINISH or ERROR) for a stream that delivered anything, nothing after it. Every producer emits
 * through one: the provider adapters' decoders embed one (the remote attempt ends their streams
 * through it: lx_emitter_close), and so does the local engine. It knows nothing of any provider:
 * the name it is given only labels START and its messages.
 *
 * When the sink returns false (the consumer stops), content events are no longer delivered;
 * USAGE (what was spent) and the terminal event still are, so a stopped stream ends like any
 * other, with FINISH(CANCELLED). */
#ifndef LX_CORE_EMITTER_H
#define LX_CORE_EMITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event_sink.h"
#include "llmux.h"

#define LX_EMITTER_MAX_TOOLS 256 /* tool calls per response; more is an upstream protocol error */

typedef struct lx_emitter_tool {
    int64_t key;     /* the adapter's own key for the call (OpenAI index, Anthropic block index...) */
    uint32_t index;  /* canonical part index */
    bool open;
    uint64_t tag;    /* the adapter's own value for the call (OpenAI: a hash of its id); 0 at start */
} lx_emitter_tool;

/* Turns adapter-level happenings into canonical events with part indices assigned in order of
 * first appearance. Embed it in a decoder or a generation; its only allocation is the tool-call
 * table, made at the first tool call (most responses have none, and every stream in flight holds
 * an emitter), released by lx_emitter_free. Every lx_emit_* returns LLMUX_OK, LLMUX_E_CANCELLED
 * (the sink returned false, now or before; err filled), LLMUX_E_OUT_OF_MEMORY (the tool table
 * could not grow) or LLMUX_E_UPSTREAM_PROTOCOL (an event that contradicts the stream: unknown tool
 * key, too many tools, anything after the terminal event). Not thread-safe: one producer. */
typedef struct lx_emitter {
    lx_event_sink sink;
    const char *provider;     /* START's provider (borrowed, static or config lifetime) */
    uint32_t next_index;
    int64_t text_index;       /* -1 = no open text part */
    int64_t reasoning_index;  /* -1 = no open reasoning part */
    lx_emitter_tool *tools;   /* n_tools used of cap_tools; NULL until the first tool call */
    size_t n_tools, cap_tools;
    bool started;             /* START was delivered (whatever the sink answered) */
    bool finished;            /* the terminal event (FINISH or ERROR) was delivered */
    bool cancelled;           /* the sink returned false */
    /* How the stream ended, once finished: LLMUX_OK for FINISH, LLMUX_E_CANCELLED for
     * FINISH(CANCELLED), the ERROR's status. */
    llmux_status end_status;
    uint64_t n_events;        /* events delivered, for benchmarks */
} lx_emitter;

void lx_emitter_init(lx_emitter *e, lx_event_sink sink, const char *provider);
/* Releases the tool table. Accepts an emitter that was only initialised (or zeroed). */
void lx_emitter_free(lx_emitter *e);

/* START once (later calls are no-ops); id / model may be NULL. Content emitters call it
 * implicitly with NULLs when it has not been sent. */
llmux_status lx_emit_start(lx_emitter *e, const char *id, const char *model, llmux_error_info *err);
/* TEXT_DELTA to the current text part (opened on first use). Empty text emits nothing. */
llmux_status lx_emit_text(lx_emitter *e, const char *text, size_t len, llmux_error_info *err);
/* REASONING_DELTA to the current reasoning part; text and/or signature; empty both = nothing. */
llmux_status lx_emit_reasoning(lx_emitter *e, const char *text, size_t len, const char *signature, bool redacted,
                               llmux_error_info *err);
/* NATIVE: one whole part of a provider's own format (block: a JSON object text of len bytes);
 * the next text or reasoning opens a new part after it. */
llmux_status lx_emit_native(lx_emitter *e, const char *format, const char *block, size_t len, llmux_error_info *err);
/* The next text / reasoning delta opens a new part (Anthropic-style separate blocks). */
void lx_emitter_break_text(lx_emitter *e);
void lx_emitter_break_reasoning(lx_emitter *e);
/* TOOL_CALL_START for a new call identified by key (a key seen before is a protocol error
 * unless that call was ended; then it opens a new call). id / name may be NULL (""). */
llmux_status lx_emit_tool_start(lx_emitter *e, int64_t key, const char *id, const char *name, llmux_error_info *err);
/* TOOL_CALL_DELTA for the open call `key`. Empty fragments emit nothing. */
llmux_status lx_emit_tool_delta(lx_emitter *e, int64_t key, const char *frag, size_t len, llmux_error_info *err);
/* TOOL_CALL_END for `key` (a no-op when already ended). */
llmux_status lx_emit_tool_end(lx_emitter *e, int64_t key, llmux_error_info *err);
/* Whether a call with this key was started (open or not). */
bool lx_emitter_has_tool(const lx_emitter *e, int64_t key);
/* Whether a call with this key is open. */
bool lx_emitter_tool_open(const lx_emitter *e, int64_t key);
llmux_status lx_emit_usage(lx_emitter *e, const llmux_usage *u, llmux_error_info *err);
/* USAGE with the provider's own cost figure for the request (OpenRouter's usage.cost), in US
 * dollars; NaN, negative or infinite = not reported (same as lx_emit_usage). */
llmux_status lx_emit_usage_cost(lx_emitter *e, const llmux_usage *u, double cost_usd, llmux_error_info *err);
/* Ends every open tool call, then FINISH (START first if never sent). After the sink asked to
 * stop, FINISH(CANCELLED) whatever reason says (the stream did not end on its own). */
llmux_status lx_emit_finish(lx_emitter *e, llmux_finish_reason reason, llmux_error_info *err);
/* The same, naming the stop sequence that ended the output (NULL or "": none). */
llmux_status lx_emit_finish_stop(lx_emitter *e, llmux_finish_reason reason, const char *stop, llmux_error_info *err);
/* ERROR with info (borrowed for the call; NULL or a status of LLMUX_OK = LLMUX_E_INTERNAL without
 * details): the terminal
 * event of a stream that failed (START first if never sent). */
llmux_status lx_emit_error(lx_emitter *e, const llmux_error_info *info, llmux_error_info *err);
/* Ends the stream from a producer's outcome unless its terminal event already went out: a
 * stream that delivered an event gets FINISH(CANCELLED) for LLMUX_E_CANCELLED, else ERROR with
 * info (st without details when info is NULL). A stream that delivered nothing stays silent, so
 * its caller may retry or fall back without the consumer having seen anything. Returns whether
 * a terminal event was delivered by this call. */
bool lx_emitter_close(lx_emitter *e, llmux_status st, const llmux_error_info *info);

#endif
