/* Tools on local models: the model's own chat template (Jinja, through llama.cpp's common library:
 * common/chat.h) renders the tools into the prompt and says how the model writes a tool call; its
 * parser turns the generated text back into content, reasoning and tool calls. C++ underneath
 * (chat_tools.cpp); like json_grammar.h, nothing thrown ever crosses into C: every function reports
 * a status and a malloc'd message.
 *
 * One lx_chat_tools per request, used by one thread at a time. */
#ifndef LX_CHAT_TOOLS_H
#define LX_CHAT_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_grammar.h"

#ifdef __cplusplus
extern "C" {
#endif

struct llama_model;
struct llama_sampler;
struct llama_vocab;

typedef struct lx_ct_call {
    const char *id;        /* may be empty */
    const char *name;
    const char *arguments; /* JSON text */
} lx_ct_call;

/* One message as the template sees it; content is replaced per rendering (see
 * lx_chat_tools_render). */
typedef struct lx_ct_message {
    const char *role;          /* system, user, assistant, tool */
    const char *content;
    const lx_ct_call *calls;   /* assistant: the tool calls it made */
    size_t n_calls;
    const char *tool_call_id;  /* tool: the call answered; NULL = none */
    const char *tool_name;     /* tool: optional */
} lx_ct_message;

typedef struct lx_ct_tool {
    const char *name;
    const char *description;   /* NULL = none */
    const char *parameters;    /* JSON Schema text; NULL = no arguments */
} lx_ct_tool;

typedef struct lx_chat_tools lx_chat_tools;

/* Prepares a request's tools on model (which must outlive the result): its chat template
 * (tokenizer.chat_template; template_override instead when not NULL: the fuzzer's) must support
 * tool calls; required: the model must call a tool (tool_choice required, or a named tool the
 * caller offers alone); single_call: at most one call (else several where the template supports
 * them, llama-server's default). LX_JG_INVALID with *error: no template, a template without tool calls,
 * one llama.cpp cannot render or parse with tools. */
lx_jg_status lx_chat_tools_init(const struct llama_model *model, const char *template_override,
                                const lx_ct_message *msgs, size_t n_msgs,
                                const lx_ct_tool *tools, size_t n_tools, bool required, bool single_call,
                                lx_chat_tools **out,
                                char **error);
void lx_chat_tools_free(lx_chat_tools *ct);

/* Renders the messages given to lx_chat_tools_init, message i's content replaced by contents[i],
 * with the tools and the assistant prefix, into *prompt (malloc'd, *len bytes). */
lx_jg_status lx_chat_tools_render(const lx_chat_tools *ct, const char *const *contents, char **prompt, size_t *len,
                                  char **error);

/* The grammar of the template's tool-call syntax as llama-server builds it (common/sampling.cpp,
 * common_sampler_init): lazy, waiting for its trigger words or tokens, when the model may answer
 * in text; else strict, with the assistant prefix fed to it first. NULL with *error NULL when
 * the template gives no grammar. */
struct llama_sampler *lx_chat_tools_grammar(const lx_chat_tools *ct, const struct llama_vocab *vocab, char **error);

/* Stop strings the template adds (e.g. its end-of-turn text), and the special tokens whose text
 * the parser needs to see in the output (e.g. "<tool_call>"). */
size_t lx_chat_tools_n_stops(const lx_chat_tools *ct);
const char *lx_chat_tools_stop(const lx_chat_tools *ct, size_t i);
size_t lx_chat_tools_n_preserved(const lx_chat_tools *ct);
const char *lx_chat_tools_preserved(const lx_chat_tools *ct, size_t i);

/* What the model wrote, parsed with the template's parser. Strings malloc'd, NUL-terminated. */
typedef struct lx_ct_parsed_call {
    char *id;        /* "" when the model gave none */
    char *name;
    char *arguments; /* JSON text */
} lx_ct_parsed_call;

typedef struct lx_ct_output {
    char *content;
    char *reasoning;
    lx_ct_parsed_call *calls;
    size_t n_calls;
} lx_ct_output;

/* Parses the output text (len bytes). partial: the output so far, while the model still writes
 * (llama.cpp's partial mode, as llama-server streams: a trigger begun at the end is held back, the
 * last call's arguments are a prefix of their JSON text, its name may still grow); else the
 * complete output, every call's arguments a JSON object. LX_JG_INVALID with *error when it does
 * not follow the template's format. */
lx_jg_status lx_chat_tools_parse(const lx_chat_tools *ct, const char *text, size_t len, bool partial,
                                 lx_ct_output *out, char **error);
/* Accepts a zeroed output. */
void lx_ct_output_free(lx_ct_output *out);

#ifdef __cplusplus
}
#endif

#endif
