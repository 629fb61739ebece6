/* `llmux chat`: a conversation with a model, one streamed answer per line typed (or piped in). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"
#include "cli.h"
#include "req_opts.h"

/* How long after an answer's deadline the backstop timer cancels it (as in `llmux run`). */
#define DEADLINE_GRACE_MS 2000
#define PROMPT "you> "

static void chat_usage(FILE *f) {
    fputs("usage: llmux chat [options]\n"
          "\n"
          "A conversation with a model: each line you type is sent with the conversation so far and\n"
          "the answer is streamed as it arrives. Lines can be edited (emacs keys, ~/.editrc) and\n"
          "recalled; the history is kept in $XDG_STATE_HOME/llmux/chat_history (else\n"
          "~/.local/state/llmux/chat_history), at most 1000 lines.\n"
          "\n"
          "options:\n",
          f);
    cli_req_opts_help(f);
    fputs("  -h, --help               show this help\n"
          "\n"
          "--timeout applies to each answer. Lines starting with / are commands:\n",
          f);
    chat_commands_help(f);
    fputs("\n"
          "Ctrl-C while an answer streams stops it: the session goes on, and the text the answer had\n"
          "so far stays in the conversation (as a shorter answer). Ctrl-C at the prompt throws the\n"
          "line away; Ctrl-D leaves. A second Ctrl-C before the answer stopped (a model that is still\n"
          "loading) ends llmux at once, as in `llmux run`.\n"
          "\n"
          "A failed answer prints `llmux: <class>: <message>` and the session goes on without that\n"
          "question (retype or recall it). Input lines are at most 1 MiB.\n"
          "\n"
          "When stdin is not a terminal there is no prompt and no line editing: each line read is one\n"
          "question (or command), its answer is printed, blank lines are skipped.\n"
          "\n"
          "The exit status is 0, or 3 when stdin cannot be read or stdout cannot be written, 2 for a\n"
          "usage error on the command line.\n",
          f);
}

bool chat_write(chat_session *s, const char *p, size_t n) {
    if (s->write_errno) return false;
    errno = 0;
    if (fwrite(p, 1, n, stdout) == n && fflush(stdout) == 0 && !ferror(stdout)) return true;
    s->write_errno = errno ? errno : EIO;
    return false;
}

bool chat_printf(chat_session *s, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return false;
    if ((size_t)n < sizeof small) return chat_write(s, small, (size_t)n);
    /* A long model name or file path: formatted again at its size. */
    char *big = malloc((size_t)n + 1);
    if (!big) return chat_write(s, small, sizeof small - 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bool ok = chat_write(s, big, (size_t)n);
    free(big);
    return ok;
}

bool chat_request(chat_session *s, llmux_request *req) {
    *req = llmux_request_default();
    req->model = s->model;
    req->system = s->system;
    req->sampling = s->opts.sampling;
    req->stream = true;
    req->deadline_ms = s->opts.timeout_ms;
    bool oom;
    req->messages = chat_conv_messages(s->conv, &req->n_messages, &oom);
    return !oom;
}

/* The answer as it streams: its text, with a newline added at the end when it lacks one. */
typedef struct answer_out {
    chat_session *s;
    bool wrote;
    char last;
} answer_out;

static bool on_event(const llmux_event *ev, void *ud) {
    answer_out *a = ud;
    if (ev->type != LLMUX_EVENT_TEXT_DELTA || ev->text_len == 0) return true;
    /* false cancels the request: nobody can read the rest. */
    if (!chat_write(a->s, ev->text, ev->text_len)) return false;
    a->wrote = true;
    a->last = ev->text[ev->text_len - 1];
    return true;
}

static void add_totals(chat_totals *t, const llmux_response *r) {
    t->answers++;
    if (r->usage.input_tokens >= 0 || r->usage.output_tokens >= 0) {
        if (r->usage.input_tokens > 0) t->input_tokens += r->usage.input_tokens;
        if (r->usage.output_tokens > 0) t->output_tokens += r->usage.output_tokens;
    } else {
        t->without_tokens++;
    }
    if (r->cost.known) t->cost_usd += r->cost.total;
    else t->without_cost++;
}

/* One question and its answer. The question stays in the conversation with a complete answer or
 * with the text of an answer stopped by Ctrl-C; after a failure it is removed. */
static void turn(chat_session *s, const char *text) {
    if (!chat_conv_ask(s->conv, text)) {
        if (chat_conv_turns(s->conv) >= CHAT_MAX_TURNS)
            cli_fail(LLMUX_E_INVALID_REQUEST, "the conversation has reached 4096 turns; /save it or /clear it");
        else
            cli_fail(LLMUX_E_OUT_OF_MEMORY, NULL);
        return;
    }
    llmux_request req;
    if (!chat_request(s, &req)) {
        chat_conv_drop_open(s->conv);
        cli_fail(LLMUX_E_OUT_OF_MEMORY, NULL);
        return;
    }
    answer_out out = {s, false, '\n'};
    llmux_cancel *cancel = cli_cancel_begin();
    cli_deadline *timer = cli_deadline_start(cancel, s->opts.timeout_ms + DEADLINE_GRACE_MS);
    llmux_run_params run = llmux_run_default_params();
    run.on_event = on_event;
    run.user_data = &out;
    run.cancel = cancel;
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = llmux_run(s->rt, &req, &run, &resp, &err);
    bool fired = cli_deadline_stop(timer);
    int sig = cli_cancel_signal();
    bool stopped = st == LLMUX_E_CANCELLED && sig != 0;
    st = cli_deadline_status(st, fired, s->opts.timeout_ms, err.message, sizeof err.message);
    cli_cancel_end();
    /* Outside an answer Ctrl-C has nothing to stop: at the prompt libedit takes the key itself,
     * and between the two a stray SIGINT must not end the session. */
    if (s->interactive) signal(SIGINT, SIG_IGN);
    if (sig == SIGTERM) s->fatal_signal = SIGTERM;

    if (out.wrote && out.last != '\n') chat_write(s, "\n", 1);
    if (resp) add_totals(&s->totals, resp);
    if (s->write_errno) {
        llmux_response_free(resp);
        chat_conv_drop_open(s->conv);
    } else if (st == LLMUX_OK) {
        chat_conv_answer(s->conv, resp, false);
    } else if (stopped) {
        bool kept = chat_conv_answer(s->conv, resp, true);
        fprintf(stderr, "llmux: cancelled: answer stopped; %s\n",
                kept ? "its text so far stays in the conversation" : "it had no text, the question was dropped");
    } else {
        cli_fail(st, err.message);
        llmux_response_free(resp);
        chat_conv_drop_open(s->conv);
    }
}

/* Ends the line the editor left open (after Ctrl-C or Ctrl-D), on the stream it draws on. */
static void editor_newline(chat_session *s) {
    if (isatty(STDOUT_FILENO)) chat_write(s, "\n", 1);
    else fputc('\n', stderr);
}

static bool blank(const char *s) { return s[strspn(s, " \t\r")] == '\0'; }

/* Reads and answers lines until EOF, /exit, or an I/O error; returns the exit code. */
static int session_loop(chat_session *s, chat_input *in) {
    for (;;) {
        const char *line;
        size_t len;
        int err_no;
        chat_line_status ls = chat_input_read(in, &line, &len, &err_no);
        switch (ls) {
        case CHAT_LINE_EOF:
            if (s->interactive) editor_newline(s);
            return s->write_errno ? cli_io_error("write error", NULL, s->write_errno) : 0;
        case CHAT_LINE_ERROR: return cli_io_error("read error", "stdin", err_no);
        case CHAT_LINE_INTERRUPTED: editor_newline(s); break;
        case CHAT_LINE_TOO_LONG: cli_fail(LLMUX_E_INVALID_REQUEST, "input line longer than 1 MiB; skipped"); break;
        case CHAT_LINE_NUL: cli_fail(LLMUX_E_INVALID_REQUEST, "input line holds a NUL byte; skipped"); break;
        case CHAT_LINE_OK:
            chat_input_remember(in, line);
            if (blank(line)) break;
            if (line[0] == '/') {
                if (!chat_command(s, line)) return s->write_errno ? cli_io_error("write error", NULL, s->write_errno) : 0;
            } else {
                turn(s, line);
            }
            break;
        }
        if (s->write_errno) return cli_io_error("write error", NULL, s->write_errno);
        if (s->fatal_signal) {
            /* SIGTERM stopped the answer; now it ends the session as it would any program. */
            signal(s->fatal_signal, SIG_DFL);
            raise(s->fatal_signal);
            return CLI_EXIT_BASE + (int)LLMUX_E_CANCELLED;
        }
    }
}

int cli_cmd_chat(int argc, char **argv) {
    static const struct option opts[] = {CLI_REQ_LONG_OPTS, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    chat_session s;
    memset(&s, 0, sizeof s);
    cli_req_opts_init(&s.opts);

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":" CLI_REQ_SHORT_OPTS "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': chat_usage(stdout); return 0;
        case ':': return cli_usage_error("option %s needs a value (see `llmux chat --help`)", argv[optind - 1]);
        case '?': return cli_usage_error("unknown option %s (see `llmux chat --help`)", argv[optind - 1]);
        default: {
            int r = cli_req_opt(&s.opts, c, optarg);
            if (r == CLI_REQ_OPT_NOT_MINE) return cli_usage_error("unknown option %s (see `llmux chat --help`)", argv[optind - 1]);
            if (r != CLI_REQ_OPT_TAKEN) return r;
        }
        }
    }
    if (optind < argc)
        return cli_usage_error("llmux chat takes no PROMPT argument: type at the prompt or pipe lines in (see `llmux chat --help`)");

    s.interactive = isatty(STDIN_FILENO) == 1;
    int code = cli_req_runtime(&s.opts, s.opts.model, &s.rt);
    if (code != 0) {
        cli_req_opts_free(&s.opts);
        return code;
    }
    s.conv = chat_conv_create();
    s.model = s.opts.model ? strdup(s.opts.model) : NULL;
    s.system = s.opts.system ? strdup(s.opts.system) : NULL;
    chat_input *in = NULL;
    if (s.interactive) {
        /* libedit reads multibyte characters by the locale's encoding. */
        setlocale(LC_CTYPE, "");
        signal(SIGINT, SIG_IGN);
    }
    char history[4096];
    bool has_history = s.interactive && chat_history_path(history, sizeof history);
    if (s.conv && (!s.opts.model || s.model) && (!s.opts.system || s.system))
        in = chat_input_open(s.interactive, PROMPT, has_history ? history : NULL);
    if (!in) {
        code = cli_fail(LLMUX_E_OUT_OF_MEMORY, "cannot start the chat session");
    } else {
        if (s.interactive && isatty(STDOUT_FILENO))
            chat_printf(&s, "llmux chat with %s. /help lists the commands; Ctrl-D leaves.\n",
                        s.model ? s.model : "the bundled model");
        code = session_loop(&s, in);
    }
    chat_input_close(in);
    if (s.interactive) signal(SIGINT, SIG_DFL);
    chat_conv_destroy(s.conv);
    free(s.model);
    free(s.system);
    llmux_runtime_destroy(s.rt);
    cli_req_opts_free(&s.opts);
    return code;
}
