/* The lines `llmux chat` reads: through libedit on a terminal (prompt, editing, history; Ctrl-C
 * throws the line away), plain bounded lines otherwise. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <histedit.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "chat.h"

struct chat_input {
    bool interactive;
    EditLine *el;
    History *hist;
    char *prompt;
    char *history_path; /* NULL = no history file */
    bool interrupted;   /* set by the Ctrl-C key binding */
    bool eof_seen;      /* plain mode: stdin ended after a last line without a newline */
    char *buf;          /* the line handed out: CHAT_MAX_LINE + 1 bytes */
};

static const char *prompt_of(EditLine *el) {
    chat_input *in = NULL;
    el_get(el, EL_CLIENTDATA, &in);
    return in ? in->prompt : "> ";
}

/* Ctrl-C at the prompt. The terminal's own ^C handling (ISIG) is off while libedit edits, so the
 * key arrives here as a character instead of a SIGINT: no signal can race with the line editor
 * or land on another thread. Ends el_gets; the caller throws the line away. */
static unsigned char on_interrupt_key(EditLine *el, int ch) {
    (void)ch;
    chat_input *in = NULL;
    el_get(el, EL_CLIENTDATA, &in);
    if (in) in->interrupted = true;
    return CC_NEWLINE;
}

chat_input *chat_input_open(bool interactive, const char *prompt, const char *history_path) {
    chat_input *in = calloc(1, sizeof *in);
    if (!in) return NULL;
    in->interactive = interactive;
    in->buf = malloc(CHAT_MAX_LINE + 1);
    in->prompt = strdup(prompt ? prompt : "");
    if (!in->buf || !in->prompt) goto fail;
    if (!interactive) return in;

    /* With stdout redirected (`llmux chat > answers.txt`) the prompt and the echo of what is
     * typed belong on the terminal, not in the file. */
    in->el = el_init("llmux", stdin, isatty(STDOUT_FILENO) ? stdout : stderr, stderr);
    in->hist = history_init();
    if (!in->el || !in->hist) goto fail;
    HistEvent ev;
    history(in->hist, &ev, H_SETSIZE, CHAT_HISTORY_SIZE);
    history(in->hist, &ev, H_SETUNIQUE, 1);
    if (history_path) {
        in->history_path = strdup(history_path);
        if (!in->history_path) goto fail;
        history(in->hist, &ev, H_LOAD, in->history_path); /* a missing file is a first run */
    }
    el_set(in->el, EL_CLIENTDATA, in);
    el_set(in->el, EL_EDITOR, "emacs");
    el_set(in->el, EL_PROMPT, prompt_of);
    el_set(in->el, EL_HIST, history, in->hist);
    el_set(in->el, EL_SETTY, "-d", "-isig", NULL);
    /* The wide call: el_set's narrow EL_ADDFN copies both strings and never frees them. */
    el_wset(in->el, EL_ADDFN, L"llmux-interrupt", L"throw the line away", on_interrupt_key);
    el_set(in->el, EL_BIND, "^C", "llmux-interrupt", NULL);
    el_source(in->el, NULL); /* the user's ~/.editrc, as other libedit programs do */
    return in;
fail:
    chat_input_close(in);
    return NULL;
}

void chat_input_close(chat_input *in) {
    if (!in) return;
    if (in->el) el_end(in->el);
    if (in->hist) history_end(in->hist);
    free(in->history_path);
    free(in->prompt);
    free(in->buf);
    free(in);
}

void chat_input_remember(chat_input *in, const char *line) {
    if (!in->interactive || !*line) return;
    HistEvent ev;
    history(in->hist, &ev, H_ENTER, line);
    /* Saved at every line, so a session that ends abruptly (a second Ctrl-C during a model load
     * kills the process) still leaves its history; H_SETSIZE bounds the file. */
    if (in->history_path) history(in->hist, &ev, H_SAVE, in->history_path);
}

static chat_line_status read_edited(chat_input *in, const char **line, size_t *len, int *err_no) {
    for (;;) {
        in->interrupted = false;
        int count = 0;
        errno = 0;
        const char *s = el_gets(in->el, &count);
        if (in->interrupted) return CHAT_LINE_INTERRUPTED;
        if (!s || count <= 0) {
            if (count < 0 && errno == EINTR) continue; /* a signal that only wanted attention */
            if (count < 0) {
                *err_no = errno ? errno : EIO;
                return CHAT_LINE_ERROR;
            }
            return CHAT_LINE_EOF;
        }
        size_t n = (size_t)count;
        if (n && s[n - 1] == '\n') n--;
        if (n > CHAT_MAX_LINE) return CHAT_LINE_TOO_LONG;
        memcpy(in->buf, s, n);
        in->buf[n] = '\0';
        *line = in->buf;
        *len = n;
        return CHAT_LINE_OK;
    }
}

static chat_line_status read_plain(chat_input *in, const char **line, size_t *len, int *err_no) {
    if (in->eof_seen) return CHAT_LINE_EOF;
    size_t n = 0;
    bool too_long = false, nul = false;
    int ch;
    errno = 0;
    while ((ch = getc(stdin)) != EOF && ch != '\n') {
        if (ch == '\0') nul = true;
        if (n == CHAT_MAX_LINE) too_long = true; /* keep reading to the newline, storing nothing */
        else in->buf[n++] = (char)ch;
    }
    if (ch == EOF) {
        if (ferror(stdin)) {
            *err_no = errno ? errno : EIO;
            return CHAT_LINE_ERROR;
        }
        if (n == 0 && !too_long && !nul) return CHAT_LINE_EOF;
        in->eof_seen = true;
    }
    if (too_long) return CHAT_LINE_TOO_LONG;
    if (nul) return CHAT_LINE_NUL;
    if (n && in->buf[n - 1] == '\r') n--; /* a file written on Windows */
    in->buf[n] = '\0';
    *line = in->buf;
    *len = n;
    return CHAT_LINE_OK;
}

chat_line_status chat_input_read(chat_input *in, const char **line, size_t *len, int *err_no) {
    *line = NULL;
    *len = 0;
    *err_no = 0;
    return in->interactive ? read_edited(in, line, len, err_no) : read_plain(in, line, len, err_no);
}

/* mkdir -p: the XDG base directory itself may not exist yet. */
static bool make_dirs(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        bool ok = mkdir(path, 0700) == 0 || errno == EEXIST;
        *p = '/';
        if (!ok) return false;
    }
    return mkdir(path, 0700) == 0 || errno == EEXIST;
}

bool chat_history_path(char *buf, size_t size) {
    char dir[PATH_MAX];
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    /* The XDG spec ignores a relative XDG_STATE_HOME. */
    if (state && state[0] == '/') {
        if (snprintf(dir, sizeof dir, "%s/llmux", state) >= (int)sizeof dir) return false;
    } else if (home && home[0] == '/') {
        if (snprintf(dir, sizeof dir, "%s/.local/state/llmux", home) >= (int)sizeof dir) return false;
    } else {
        return false;
    }
    if (!make_dirs(dir)) return false;
    return snprintf(buf, size, "%s/chat_history", dir) < (int)size;
}
