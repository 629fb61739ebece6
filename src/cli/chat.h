/* `llmux chat`: the conversation it keeps (chat_conv.c) and the lines it reads (chat_input.c). */
#ifndef LLMUX_CLI_CHAT_H
#define LLMUX_CLI_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "llmux.h"
#include "req_opts.h"

/* ------------------------------------------------------------ conversation */

/* The turns so far: each user text and the assistant's answer as the response that carried it
 * (its parts, reasoning signatures and tool calls included, travel back unchanged). */
typedef struct chat_conv chat_conv;

/* At most this many turns; then the user is told to /clear. Bounds memory with the input cap. */
#define CHAT_MAX_TURNS 4096

/* NULL when out of memory. */
chat_conv *chat_conv_create(void);
/* Accepts NULL. */
void chat_conv_destroy(chat_conv *c);
/* Starts a turn with a copy of text. False when out of memory or at CHAT_MAX_TURNS. */
bool chat_conv_ask(chat_conv *c, const char *text);
/* Completes the open turn with resp (ownership passes to the conversation, also on failure).
 * text_only keeps just its TEXT parts (a stopped answer: its tool calls or reasoning may be cut
 * mid-way). An answer with nothing to keep closes the turn by removing it, question included:
 * an unanswered question followed by the next one would break the user/assistant alternation
 * providers require. Returns whether the turn was kept. */
bool chat_conv_answer(chat_conv *c, llmux_response *resp, bool text_only);
/* Removes the open turn (a failed request). */
void chat_conv_drop_open(chat_conv *c);
/* Forgets every turn. */
void chat_conv_clear(chat_conv *c);
/* Completed turns (the open one not counted). */
size_t chat_conv_turns(const chat_conv *c);
/* The messages of every turn, open one included: an array owned by the conversation, valid until
 * the next call that changes it. *n receives the count. NULL (and *n 0) when empty or out of
 * memory (*oom then true). */
const llmux_message *chat_conv_messages(chat_conv *c, size_t *n, bool *oom);

/* ------------------------------------------------------------------ input */

typedef enum chat_line_status {
    CHAT_LINE_OK = 0,
    CHAT_LINE_EOF,         /* Ctrl-D on an empty line, or the end of stdin */
    CHAT_LINE_INTERRUPTED, /* Ctrl-C at the prompt: the line was thrown away */
    CHAT_LINE_TOO_LONG,    /* longer than CHAT_MAX_LINE: skipped whole */
    CHAT_LINE_NUL,         /* held a NUL byte (not a terminal): skipped */
    CHAT_LINE_ERROR        /* reading failed; *err_no says why */
} chat_line_status;

/* The cap on one input line (bytes, without its newline). */
#define CHAT_MAX_LINE ((size_t)1024 * 1024)

typedef struct chat_input chat_input;

/* Reads stdin: with libedit (prompt, line editing, history loaded from history_path when not
 * NULL) when interactive, else plain lines without a prompt. NULL when out of memory or libedit
 * cannot start. */
chat_input *chat_input_open(bool interactive, const char *prompt, const char *history_path);
/* Saves nothing more; frees (accepts NULL). */
void chat_input_close(chat_input *in);
/* The next line, without its line ending, in *line (owned by in, valid until the next call). */
chat_line_status chat_input_read(chat_input *in, const char **line, size_t *len, int *err_no);
/* Adds line to the history and saves the history file (bounded to CHAT_HISTORY_SIZE entries);
 * nothing when not interactive. */
void chat_input_remember(chat_input *in, const char *line);

#define CHAT_HISTORY_SIZE 1000

/* The history file: $XDG_STATE_HOME/llmux/chat_history, else ~/.local/state/llmux/chat_history;
 * its directory is created (0700). False (nothing written) when neither variable helps or the
 * directory cannot be made. */
bool chat_history_path(char *buf, size_t size);

/* ---------------------------------------------------------------- session */

/* Tokens and cost summed over every response received (stopped ones included: they were
 * billed); answers without counts or without a price are counted, not guessed. */
typedef struct chat_totals {
    int64_t input_tokens, output_tokens;
    size_t answers;          /* responses summed */
    size_t without_tokens;   /* responses that reported no token counts */
    double cost_usd;         /* sum of the known costs */
    size_t without_cost;     /* responses whose cost is unknown */
} chat_totals;

typedef struct chat_session {
    cli_req_opts opts;       /* the command line's options (sampling, timeout, provider) */
    llmux_runtime *rt;       /* owned */
    char *model;             /* owned; NULL = the bundled model */
    char *system;            /* owned; NULL = none */
    chat_conv *conv;         /* owned */
    chat_totals totals;
    bool interactive;
    int write_errno;         /* the first failed write to stdout; 0 while it works */
    int fatal_signal;        /* SIGTERM arrived during an answer: the session ends with it */
} chat_session;

/* Writes to stdout and flushes; a failure is remembered in s->write_errno (the session then
 * ends with exit 3). */
bool chat_write(chat_session *s, const char *p, size_t n);
bool chat_printf(chat_session *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The request the next turn sends (model, system, sampling, every message). False when out of
 * memory. Pointers are borrowed from s and its conversation. */
bool chat_request(chat_session *s, llmux_request *req);
/* Runs a "/..." line (chat_commands.c). Returns false for /exit. */
bool chat_command(chat_session *s, const char *line);
/* What /help prints. */
void chat_commands_help(FILE *f);

#endif
