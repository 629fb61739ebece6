/* The "/..." commands of `llmux chat`. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"

void chat_commands_help(FILE *f) {
    fputs("  /model NAME    switch to model NAME; the conversation is kept (/model alone shows it)\n"
          "  /system TEXT   set the system prompt (/system alone removes it)\n"
          "  /clear         forget the conversation (model, system prompt and /usage totals stay)\n"
          "  /save FILE     write the conversation as canonical request JSON; an existing FILE is\n"
          "                 never overwritten\n"
          "  /usage         tokens in and out and cost so far\n"
          "  /help          this list\n"
          "  /exit          leave (so does Ctrl-D)\n",
          f);
}

static const char *model_name(const chat_session *s) { return s->model ? s->model : "the bundled model"; }

static void cmd_model(chat_session *s, const char *arg) {
    if (!*arg) {
        chat_printf(s, "model: %s\n", model_name(s));
        return;
    }
    char *m = strdup(arg);
    if (!m) {
        cli_fail(LLMUX_E_OUT_OF_MEMORY, NULL);
        return;
    }
    /* A model given as a path needs its directory allowed: a runtime made for it. The old one
     * stays when that fails. Other names resolve on the current runtime at the next turn. */
    if (cli_is_local_spec(m) && strncmp(m, "local/", 6) != 0) {
        llmux_runtime *rt = NULL;
        if (cli_req_runtime(&s->opts, m, &rt) != 0) {
            free(m);
            return;
        }
        llmux_runtime_destroy(s->rt);
        s->rt = rt;
    }
    free(s->model);
    s->model = m;
    chat_printf(s, "model: %s (the conversation is kept)\n", m);
}

static void cmd_system(chat_session *s, const char *arg) {
    char *sys = NULL;
    if (*arg && !(sys = strdup(arg))) {
        cli_fail(LLMUX_E_OUT_OF_MEMORY, NULL);
        return;
    }
    free(s->system);
    s->system = sys;
    chat_printf(s, sys ? "system prompt set\n" : "system prompt removed\n");
}

static void cmd_save(chat_session *s, const char *path) {
    if (!*path) {
        cli_usage_error("/save: give a file name (/save FILE)");
        return;
    }
    if (chat_conv_turns(s->conv) == 0) {
        cli_fail(LLMUX_E_INVALID_REQUEST, "/save: the conversation is empty; nothing saved");
        return;
    }
    llmux_request req;
    char *json = chat_request(s, &req) ? llmux_request_to_json(&req) : NULL;
    if (!json) {
        cli_fail(LLMUX_E_OUT_OF_MEMORY, NULL);
        return;
    }
    /* O_EXCL: an existing file (a previous save, anything else) is refused, never replaced. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            fprintf(stderr, "llmux: /save: %s already exists; not overwritten (choose another name)\n", path);
        else
            cli_io_error("/save", path, errno);
        llmux_free(json);
        return;
    }
    size_t len = strlen(json), off = 0;
    int err = 0;
    while (off < len) {
        ssize_t w = write(fd, json + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
    if (!err && write(fd, "\n", 1) != 1) err = errno ? errno : EIO;
    if (close(fd) != 0 && !err) err = errno;
    llmux_free(json);
    if (err) {
        cli_io_error("/save", path, err);
        unlink(path); /* a truncated file would pass for a saved conversation */
        return;
    }
    chat_printf(s, "saved %zu turn%s to %s\n", chat_conv_turns(s->conv), chat_conv_turns(s->conv) == 1 ? "" : "s", path);
}

static void cmd_usage(chat_session *s) {
    const chat_totals *t = &s->totals;
    chat_printf(s, "tokens: %lld in, %lld out (%zu answer%s", (long long)t->input_tokens, (long long)t->output_tokens,
                t->answers, t->answers == 1 ? "" : "s");
    if (t->without_tokens) chat_printf(s, "; %zu without token counts", t->without_tokens);
    chat_printf(s, ")\n");
    if (t->answers == 0) chat_printf(s, "cost: $0\n");
    else if (t->without_cost == t->answers) chat_printf(s, "cost: unknown (no price for the model)\n");
    else if (t->without_cost) chat_printf(s, "cost: $%.6f + unknown (%zu answer%s without a price)\n", t->cost_usd,
                                          t->without_cost, t->without_cost == 1 ? "" : "s");
    else chat_printf(s, "cost: $%.6f\n", t->cost_usd);
}

/* A copy of s without trailing blanks: a file or model name typed with a stray space. NULL when
 * out of memory. */
static char *trimmed(const char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return strndup(s, n);
}

bool chat_command(chat_session *s, const char *line) {
    const char *name = line + 1;
    size_t n = strcspn(name, " \t");
    const char *arg = name + n;
    arg += strspn(arg, " \t");
    char *word = trimmed(arg);
    if (!word) {
        cli_fail(LLMUX_E_OUT_OF_MEMORY, NULL);
        return true;
    }
#define IS(cmd) (n == strlen(cmd) && strncmp(name, cmd, n) == 0)
    bool go_on = true;
    if (IS("exit") || IS("quit")) go_on = false;
    else if (IS("model")) cmd_model(s, word);
    else if (IS("system")) cmd_system(s, arg);
    else if (IS("clear")) {
        chat_conv_clear(s->conv);
        chat_printf(s, "conversation cleared\n");
    } else if (IS("save")) cmd_save(s, word);
    else if (IS("usage")) cmd_usage(s);
    else if (IS("help")) {
        chat_printf(s, "commands:\n");
        chat_commands_help(stdout);
        chat_printf(s, "Anything else is sent to the model.\n");
    } else {
        cli_usage_error("unknown command \"/%.*s\" (try /help)", (int)(n > 64 ? 64 : n), name);
    }
#undef IS
    free(word);
    return go_on;
}
