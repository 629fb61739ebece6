/* Reading all of stdin in bounded memory, with every way it can go wrong told apart: a closed
 * descriptor, a read error (a directory, an I/O error), more than the cap, a NUL byte. Before,
 * `llmux run < DIR` and `llmux run <&-` silently ran an empty prompt and a NUL cut the prompt. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

cli_input_status cli_read_stdin(size_t cap, char **out, size_t *len, int *err_no) {
    *out = NULL;
    *len = 0;
    *err_no = 0;
    /* A closed fd 0 must be caught before anything else opens a file: the next open() would get
     * descriptor 0 and we would read that file as the prompt. */
    if (fcntl(STDIN_FILENO, F_GETFD) == -1 && errno == EBADF) return CLI_INPUT_CLOSED;
    size_t size = 4096, n = 0;
    char *buf = malloc(size);
    if (!buf) return CLI_INPUT_NOMEM;
    for (;;) {
        /* Read at most cap + 1 bytes: one past the cap proves the input is too large without
         * holding more of it (an endless `yes |` stops here). */
        if (n == size - 1) {
            size_t want = size * 2;
            if (want > cap + 2) want = cap + 2;
            char *nb = realloc(buf, want);
            if (!nb) {
                free(buf);
                return CLI_INPUT_NOMEM;
            }
            buf = nb;
            size = want;
        }
        ssize_t got = read(STDIN_FILENO, buf + n, size - 1 - n);
        if (got < 0) {
            if (errno == EINTR) continue;
            *err_no = errno;
            free(buf);
            return errno == EBADF ? CLI_INPUT_CLOSED : CLI_INPUT_READ_ERROR;
        }
        if (got == 0) break;
        n += (size_t)got;
        if (n > cap) {
            free(buf);
            return CLI_INPUT_TOO_BIG;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    const char *nul = memchr(buf, '\0', n);
    if (nul) {
        /* The C-string prompt would end there; the offset tells the caller where. */
        *len = (size_t)(nul - buf);
        return CLI_INPUT_NUL;
    }
    return CLI_INPUT_OK;
}

int cli_input_fail(cli_input_status s, int err_no, size_t nul_at, const char *what, size_t cap) {
    switch (s) {
    case CLI_INPUT_OK: return 0;
    case CLI_INPUT_CLOSED: return cli_usage_error("no %s: stdin is closed", what);
    case CLI_INPUT_READ_ERROR: return cli_io_error("read error", "stdin", err_no);
    case CLI_INPUT_NOMEM: return cli_fail(LLMUX_E_OUT_OF_MEMORY, "out of memory reading stdin");
    case CLI_INPUT_TOO_BIG: {
        char msg[128];
        snprintf(msg, sizeof msg, "%s from stdin exceeds the %zu MiB cap", what, cap >> 20);
        return cli_fail(LLMUX_E_INVALID_REQUEST, msg);
    }
    case CLI_INPUT_NUL: {
        char msg[128];
        snprintf(msg, sizeof msg, "%s contains a NUL byte at offset %zu", what, nul_at);
        return cli_fail(LLMUX_E_INVALID_REQUEST, msg);
    }
    }
    return cli_fail(LLMUX_E_INTERNAL, "unknown stdin status");
}

int cli_read_prompt(const char *arg, char **owned, const char **prompt) {
    *owned = NULL;
    *prompt = arg;
    if (arg) return 0;
    size_t len;
    int err_no;
    cli_input_status in = cli_read_stdin(CLI_MAX_STDIN_PROMPT, owned, &len, &err_no);
    if (in != CLI_INPUT_OK) {
        free(*owned);
        *owned = NULL;
        return cli_input_fail(in, err_no, len, "prompt", CLI_MAX_STDIN_PROMPT);
    }
    if (len == 0) {
        free(*owned);
        *owned = NULL;
        return cli_fail(LLMUX_E_INVALID_REQUEST, "empty prompt: stdin was empty (give PROMPT or pipe one in)");
    }
    *prompt = *owned;
    return 0;
}
