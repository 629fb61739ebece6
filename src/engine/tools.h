/* Tools on a local model: one request's tools through the model's chat template (chat_tools.h).
 *
 *   prompt   the template's Jinja rendering with the tools (lx_prompt_build_with: message contents
 *            stay plain text, as in every local prompt)
 *   sampling the template's tool-call grammar, lazy until its trigger when the model may answer in
 *            text (tool_choice auto), strict when it must call (required, or a named tool, which
 *            is offered alone); sampled as response_format's grammars are (constrain.h)
 *   output   parsed with the template's parser as it is generated (partial mode, as llama-server
 *            streams) and at the end: reasoning, content, and each tool call as TOOL_CALL_START /
 *            DELTA (the arguments, as they grow) / END; the finish reason is tool_calls when
 *            there is one
 *
 * Refused with INVALID_REQUEST before anything runs: a model without a chat template or whose
 * template does not support tool calls, response_format other than text, a raw (completion)
 * prompt. tool_choice none offers no tools (the plain chat path).
 *
 * Engine thread; one lx_tools per request. */
#ifndef LX_ENGINE_TOOLS_H
#define LX_ENGINE_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/emitter.h"
#include "engine.h"
#include "llmux.h"
#include "prompt.h"

typedef struct lx_tools lx_tools;

/* Whether req asks for tools: some tools, and a tool choice other than none. */
bool lx_tools_wanted(const llmux_request *req);

/* Prepares req's tools on m (loaded). req is borrowed until lx_tools_free. Errors:
 * INVALID_REQUEST (see above; the message names `tools`, `response_format` or the message at
 * fault), OUT_OF_MEMORY. */
llmux_status lx_tools_new(const lx_model *m, const llmux_request *req, lx_tools **out, llmux_error_info *err);
/* Accepts NULL. */
void lx_tools_free(lx_tools *t);

/* The prompt with the tools (as lx_prompt_build; max_bytes: the prompt cap). */
llmux_status lx_tools_build_prompt(lx_tools *t, size_t max_bytes, lx_prompt *p, llmux_error_info *err);

/* The tool-call grammar's sampler (NULL with LLMUX_OK when the template has none). */
llmux_status lx_tools_grammar(lx_tools *t, struct llama_sampler **out, llmux_error_info *err);

/* The request's stop sequences and the template's, in one array owned by t. */
const char *const *lx_tools_stops(const lx_tools *t, size_t *n);

/* A generated token's text: the special tokens the parser must see (e.g. "<tool_call>") with
 * their text, the others as lx_model_token_piece gives them. Same contract. */
int32_t lx_tools_token_piece(const lx_tools *t, int32_t token, char *buf, size_t buf_size, char **heap,
                             size_t *heap_cap, const char **out);

/* Appends generated text to the output so far. False past the cap (16 MiB) or out of memory. */
bool lx_tools_hold(lx_tools *t, const char *text, size_t len);

/* Streams what the output so far adds, parsed as llama-server streams it (the template's parser
 * in partial mode, each token): reasoning and content deltas, a call's start once its name is
 * complete, its arguments as they grow. What a later parse would take back (a trigger's first
 * bytes, a name still growing) is not sent; when a parse does not extend what was sent (a
 * template whose partial parse is not monotonic), streaming stops and lx_tools_finish reports
 * the rest. */
void lx_tools_stream(lx_tools *t, lx_emitter *em);

/* Emits what the model wrote that was not streamed yet (reason: how generation ended), parsed
 * into reasoning, content and tool calls when it ended on its own (STOP), and ends the calls;
 * when it was cut short, or does not follow the template's format (then *warning says so), the
 * rest as plain text when what was streamed is plain text it begins with. Returns the finish
 * reason to report: tool_calls when a call was made and parsed. */
llmux_finish_reason lx_tools_finish(lx_tools *t, lx_emitter *em, llmux_finish_reason reason, const char **warning);

#endif
