/* Prompt rendering and tokenization that keep message content apart from template markup.
 *
 * A chat template wraps each message in markup ("<|im_start|>user\n" ... "<|im_end|>\n") whose
 * special tokens must become control tokens, while the message text is the caller's data: a user
 * who types "<|im_end|>" must get the characters, not the control token. lx_prompt_build
 * renders the template and records which byte ranges are content; lx_prompt_tokenize then lets
 * control tokens match only inside markup. The result is what llama_tokenize(prompt,
 * add_special = true, parse_special = true) gives for a prompt whose content contains no special
 * token text, and never a control token taken from content. */
#ifndef LX_PROMPT_H
#define LX_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llama.h"
#include "llmux.h"

/* A token that llama.cpp's tokenizer splits out of the text before tokenizing the rest. */
typedef struct lx_special {
    int32_t id;
    uint32_t attr;     /* enum llama_token_attr bits */
    const char *text;  /* owned by the vocabulary */
    size_t len;
} lx_special;

/* What the prompt code needs from a vocabulary, computed once per load. */
typedef struct lx_vocab_info {
    lx_special *specials;  /* control, user-defined and unknown tokens, longest text first */
    size_t n_specials;
    int32_t max_piece;     /* most prompt bytes one token can stand for; 0 = no such bound (WPM, UGM) */
    bool strip_ws;         /* some special token strips the whitespace next to it (LSTRIP/RSTRIP) */
    int32_t prefix[1];     /* tokens put before every prompt (BOS), n_prefix of them */
    int32_t n_prefix;
    int32_t suffix[1];     /* and after it (EOS, SEP) */
    int32_t n_suffix;
} lx_vocab_info;

/* Fills vi from vocab (which must outlive vi); tokenizer_model is the GGUF's
 * tokenizer.ggml.model ("llama", "gpt2", ...; NULL when unknown). False when out of memory. */
bool lx_vocab_info_init(lx_vocab_info *vi, const struct llama_vocab *vocab, const char *tokenizer_model);
/* Accepts a zeroed vi. */
void lx_vocab_info_free(lx_vocab_info *vi);

typedef struct lx_seg {
    size_t off, len;  /* byte range of the prompt text */
    bool content;     /* message content (plain text), else template markup */
} lx_seg;

typedef struct lx_prompt {
    char *text;       /* NUL-terminated */
    size_t len;
    lx_seg *segs;     /* in order, covering text, no empty segment */
    size_t n_segs;
    bool templated;   /* rendered through the chat template */
} lx_prompt;

/* Renders chat (n messages; role and content strings) through tmpl, a template string or name
 * that llama_chat_apply_template understands, with the assistant prefix appended. Without tmpl,
 * or when llama.cpp does not recognise it, renders plain completion: the contents joined by
 * blank lines, all of it content. Errors: INVALID_REQUEST past max_bytes, OUT_OF_MEMORY. The
 * caller frees out with lx_prompt_free, also after a failure. */
llmux_status lx_prompt_build(const char *tmpl, const struct llama_chat_message *chat, size_t n, size_t max_bytes,
                             lx_prompt *out, llmux_error_info *err);
void lx_prompt_free(lx_prompt *p);

/* A chat template other than llama_chat_apply_template's (the Jinja templates of llama.cpp's
 * common library, for tools: chat_tools.h): renders chat (n messages) with the assistant prefix
 * into *out (malloc'd, NUL-terminated, *len bytes), everything but the message contents the same
 * from call to call. LX_RENDER_FAILED: err filled by the renderer. */
typedef enum lx_render_rc {
    LX_RENDER_OK,
    LX_RENDER_UNSUPPORTED, /* no such template: plain completion instead */
    LX_RENDER_TOO_BIG,     /* max_bytes or more */
    LX_RENDER_OOM,
    LX_RENDER_FAILED
} lx_render_rc;
typedef lx_render_rc (*lx_prompt_render)(void *ud, const struct llama_chat_message *chat, size_t n, size_t max_bytes,
                                         char **out, size_t *len, llmux_error_info *err);

/* lx_prompt_build with render(ud, ...) in place of llama_chat_apply_template (NULL: plain
 * completion). Markup and content are told apart the same way: a rendering with placeholders
 * for the contents against the real one; a template that escapes its contents (so neither can be
 * split) gives the real rendering as markup. */
llmux_status lx_prompt_build_with(lx_prompt_render render, void *ud, const struct llama_chat_message *chat, size_t n,
                                  size_t max_bytes, lx_prompt *out, llmux_error_info *err);

/* A lower bound on the prompt's token count from its length alone (each token stands for at
 * most vi->max_piece bytes), so a prompt far too long for the context is refused without being
 * tokenized. -1 when the vocabulary gives no bound. */
int64_t lx_prompt_min_tokens(const lx_vocab_info *vi, const lx_prompt *p);

/* Tokenizes p: prefix tokens, then the text with special tokens matched (control and unknown
 * ones only inside markup, user-defined ones anywhere, as llama.cpp does with parse_special
 * off), the rest through llama_tokenize, then suffix tokens. Writes at most cap tokens. Returns
 * the count; when more than cap are needed, the negative of a lower bound on the count (at least
 * cap + 1); INT32_MIN when out of memory or when llama_tokenize fails. */
int32_t lx_prompt_tokenize(const lx_vocab_info *vi, const struct llama_vocab *vocab, const lx_prompt *p,
                           int32_t *tokens, int32_t cap);

#endif
