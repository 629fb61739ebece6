/* `llmux ipc`: one request through a running `llmux serve --unix PATH` (docs/ipc.md), printed
 * like `llmux run` prints it, with the same exit codes. The server's runtime does the work: the
 * model, keys and engine settings are the server's. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "out.h"
#include "req_opts.h"
#include "server/ipc/endpoint.h"
#include "core/ipc_frame.h"
#include "server/ipc/frame_io.h"
#include "core/ipc_message.h"

/* How long after the request's deadline the client gives up waiting (the server enforces the
 * deadline itself; this only keeps a stuck server from holding the client forever). */
#define DEADLINE_GRACE_MS 2000
/* The one request's id on the connection. */
#define REQ_ID "1"

static void ipc_usage(FILE *f) {
    fputs("usage: llmux ipc --socket PATH [options] [PROMPT]\n"
          "\n"
          "Sends one request to a running `llmux serve --unix PATH` and streams the answer to\n"
          "stdout, like `llmux run`. The prompt is read from stdin when PROMPT is absent. The token\n"
          "is read from PATH.token (written by the server), or from --token-file.\n"
          "\n"
          "options:\n"
          "      --socket PATH        the server's Unix socket (required)\n"
          "      --token-file FILE    the token file (default: PATH.token)\n"
          "  -m, --model SPEC         model spec (default: the server's default model)\n"
          "  -s, --system TEXT        system prompt\n"
          "  -t, --temperature X, --top-p X, --top-k N, --min-p X, -n, --max-tokens N, --stop TEXT,\n"
          "      --seed N, --repeat-penalty X   sampling, as for `llmux run`\n"
          "      --timeout SECONDS    total wall-clock budget (default 600 or timeouts.total_ms)\n"
          "      --config FILE        llmux.yaml (for timeouts.total_ms)\n"
          "      --json               print the final response as canonical JSON instead of text\n"
          "      --events             print every canonical event as one JSON line\n"
          "  -h, --help               show this help\n"
          "\n"
          "Errors are printed as `llmux: <class>: <message>`; the exit status is 10 + the class\n"
          "number (docs/errors.md), 2 for a usage error, 3 when stdin cannot be read or stdout\n"
          "cannot be written. SIGINT/SIGTERM cancel the request (exit 22, cancelled). A server that\n"
          "cannot be reached is `network`; a wrong token `authentication`.\n",
          f);
}


enum { OPT_SOCKET = CLI_OPT_COMMAND, OPT_TOKEN_FILE, OPT_JSON, OPT_EVENTS };

typedef struct ipc_client {
    int fd;
    size_t max_frame;
    char session[LX_IPC_SESSION_HEX + 1];
    out_state out;
} ipc_client;

static int connect_to(const char *path, int *fd) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) return cli_usage_error("--socket: path longer than %zu bytes", sizeof a.sun_path - 1);
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0 || connect(*fd, (struct sockaddr *)&a, sizeof a) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "cannot connect to %s: %s (is `llmux serve --unix %s` running?)", path,
                 strerror(errno), path);
        if (*fd >= 0) close(*fd);
        *fd = -1;
        return cli_fail(LLMUX_E_NETWORK, msg);
    }
    return 0;
}

/* Reads one message; on failure prints the error and returns its exit code (else 0). */
static int read_msg(ipc_client *c, lx_ipc_msg *m) {
    char *p = NULL;
    size_t n = 0;
    lx_frame_status st = lx_frame_read_fd(c->fd, c->max_frame, &p, &n);
    if (st != LX_FRAME_OK) {
        char msg[128];
        snprintf(msg, sizeof msg, "the server %s",
                 st == LX_FRAME_EOF || st == LX_FRAME_TRUNCATED ? "closed the connection" : "sent an unreadable frame");
        return cli_fail(LLMUX_E_NETWORK, msg);
    }
    char err[256];
    bool ok = lx_ipc_msg_parse(p, n, m, err, sizeof err);
    free(p);
    if (!ok) {
        lx_ipc_msg_clear(m);
        char msg[320];
        snprintf(msg, sizeof msg, "malformed message from the server: %s", err);
        return cli_fail(LLMUX_E_UPSTREAM_PROTOCOL, msg);
    }
    return 0;
}

static int fail_with_error_msg(const lx_ipc_msg *m) {
    llmux_status st;
    if (!llmux_status_from_name(m->err_status, &st) || st == LLMUX_OK) st = LLMUX_E_INTERNAL;
    return cli_fail(st, m->err_message);
}

static int send_msg(ipc_client *c, char *payload) {
    lx_frame_status st = payload ? lx_frame_write_fd(c->fd, payload, strlen(payload), c->max_frame) : LX_FRAME_NOMEM;
    free(payload);
    if (st == LX_FRAME_TOO_LARGE) return cli_fail(LLMUX_E_INVALID_REQUEST, "the request exceeds the server's frame cap");
    if (st != LX_FRAME_OK) return cli_fail(st == LX_FRAME_NOMEM ? LLMUX_E_OUT_OF_MEMORY : LLMUX_E_NETWORK,
                                           "cannot send to the server");
    return 0;
}

static int handshake(ipc_client *c, const char *token) {
    int code = send_msg(c, lx_ipc_hello(token));
    if (code) return code;
    lx_ipc_msg m;
    if ((code = read_msg(c, &m)) != 0) return code;
    if (m.type == LX_IPC_ERROR) code = fail_with_error_msg(&m);
    else if (m.type != LX_IPC_WELCOME) code = cli_fail(LLMUX_E_UPSTREAM_PROTOCOL, "the server did not welcome us");
    else {
        snprintf(c->session, sizeof c->session, "%s", m.session);
        json_t *cap = m.body ? json_object_get(m.body, "max_frame_bytes") : NULL;
        if (json_is_integer(cap) && json_integer_value(cap) > 0) c->max_frame = (size_t)json_integer_value(cap);
    }
    lx_ipc_msg_clear(&m);
    return code;
}

static void print_event(ipc_client *c, json_t *ev) {
    if (c->out.mode == OUT_EVENTS) {
        char *j = json_dumps(ev, JSON_COMPACT);
        if (j) cli_out_emit(&c->out, j, strlen(j), true);
        free(j);
        return;
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *text = json_object_get(ev, "text");
    if (c->out.mode == OUT_TEXT && type && strcmp(type, "text_delta") == 0 && json_is_string(text) &&
        json_string_length(text) > 0)
        cli_out_text(&c->out, json_string_value(text), json_string_length(text));
}

/* The response frame: printed (--json), then its outcome as an exit status. */
static int finish(ipc_client *c, json_t *body, bool timed_out, int64_t timeout_ms) {
    char *j = json_dumps(body, JSON_COMPACT);
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = j ? llmux_response_from_json(j, strlen(j), &resp, &err) : LLMUX_E_OUT_OF_MEMORY;
    if (st != LLMUX_OK) {
        free(j);
        return cli_fail(LLMUX_E_UPSTREAM_PROTOCOL, "the server's response is not canonical JSON");
    }
    if (!c->out.write_errno) {
        if (c->out.mode == OUT_TEXT && c->out.wrote_text && c->out.last != '\n')
            cli_out_emit(&c->out, "\n", 1, false);
        if (c->out.mode == OUT_JSON) cli_out_emit(&c->out, j, strlen(j), true);
    }
    free(j);
    st = resp->error.status;
    if (st == LLMUX_OK && resp->finish_reason == LLMUX_FINISH_CANCELLED) st = LLMUX_E_CANCELLED;
    if (st == LLMUX_OK && (resp->finish_reason == LLMUX_FINISH_ERROR || resp->finish_reason == LLMUX_FINISH_NONE))
        st = LLMUX_E_INTERNAL;
    char msg[sizeof resp->error.message];
    snprintf(msg, sizeof msg, "%s", resp->error.message[0] ? resp->error.message : llmux_strerror(st));
    llmux_response_free(resp);
    st = cli_deadline_status(st, timed_out, timeout_ms, msg, sizeof msg);
    if (c->out.write_errno) return cli_io_error("write error", NULL, c->out.write_errno);
    if (!cli_stdout_ok()) return cli_io_error("write error", NULL, errno);
    return st == LLMUX_OK ? 0 : cli_fail(st, msg);
}

/* Sends the request, then prints its events until its response (or an error) arrives. SIGINT,
 * SIGTERM, a failed write to stdout or the backstop deadline send a cancel; the server then ends
 * the execution and its response says so. */
static int converse(ipc_client *c, const char *request_json, int64_t timeout_ms) {
    int code = send_msg(c, lx_ipc_wrap(LX_IPC_REQUEST, c->session, REQ_ID, request_json));
    if (code) return code;
    int64_t give_up = cli_now_ms() + timeout_ms + DEADLINE_GRACE_MS;
    bool cancel_sent = false, timed_out = false;
    for (;;) {
        bool want_cancel = cli_cancel_signalled() || c->out.write_errno;
        if (!timed_out && cli_now_ms() > give_up) want_cancel = timed_out = true;
        if (want_cancel && !cancel_sent) {
            cancel_sent = true;
            if ((code = send_msg(c, lx_ipc_cancel(c->session, REQ_ID))) != 0) return code;
        }
        if (timed_out && cli_now_ms() > give_up + DEADLINE_GRACE_MS)
            return cli_fail(LLMUX_E_TIMEOUT, "the server did not end the request after its deadline");
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR) return cli_fail(LLMUX_E_NETWORK, "poll failed");
        if (r <= 0) continue;
        lx_ipc_msg m;
        if ((code = read_msg(c, &m)) != 0) return code;
        if (m.type == LX_IPC_EVENT) {
            print_event(c, m.body);
        } else if (m.type == LX_IPC_RESPONSE) {
            code = finish(c, m.body, timed_out, timeout_ms);
            lx_ipc_msg_clear(&m);
            return code;
        } else if (m.type == LX_IPC_ERROR) {
            code = fail_with_error_msg(&m);
            lx_ipc_msg_clear(&m);
            return code;
        }
        lx_ipc_msg_clear(&m);
    }
}

int cli_cmd_ipc(int argc, char **argv) {
    static const struct option opts[] = {CLI_REQ_LONG_OPTS,
                                         {"socket", required_argument, NULL, OPT_SOCKET},
                                         {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"events", no_argument, NULL, OPT_EVENTS},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cli_req_opts o;
    cli_req_opts_init(&o);
    ipc_client c = {.fd = -1, .max_frame = LX_FRAME_DEFAULT_MAX, .out = OUT_STATE_INIT};
    const char *socket_path = NULL, *token_file = NULL;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":" CLI_REQ_SHORT_OPTS "h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_SOCKET: socket_path = optarg; break;
        case OPT_TOKEN_FILE: token_file = optarg; break;
        case OPT_JSON: c.out.mode = OUT_JSON; break;
        case OPT_EVENTS: c.out.mode = OUT_EVENTS; break;
        case 'h': ipc_usage(stdout); return 0;
        case ':': return cli_usage_error("option %s needs a value (see `llmux ipc --help`)", argv[optind - 1]);
        case '?': return cli_usage_error("unknown option %s (see `llmux ipc --help`)", argv[optind - 1]);
        default: {
            int r = cli_req_opt(&o, ch, optarg);
            if (r == CLI_REQ_OPT_NOT_MINE) return cli_usage_error("unknown option %s (see `llmux ipc --help`)", argv[optind - 1]);
            if (r != CLI_REQ_OPT_TAKEN) return r;
        }
        }
    }
    if (o.n_dirs || o.threads || o.n_ctx || o.base_url || o.api_key)
        return cli_usage_error("--model-dir, --threads, --ctx, --base-url and --api-key are the server's settings "
                               "(give them to `llmux serve`)");
    if (!socket_path) return cli_usage_error("ipc needs --socket PATH (the socket of `llmux serve --unix PATH`)");
    if (optind < argc - 1) return cli_usage_error("expected one PROMPT argument, got %d (quote the prompt)", argc - optind);
    int code = cli_req_config(&o);
    if (code != 0) {
        cli_req_opts_free(&o);
        return code;
    }
    char token_buf[LX_IPC_MAX_PATH + 16];
    if (!token_file) {
        if (!lx_ipc_token_path(socket_path, token_buf, sizeof token_buf)) {
            cli_req_opts_free(&o);
            return cli_usage_error("--socket: path too long");
        }
        token_file = token_buf;
    }
    char *stdin_prompt = NULL;
    const char *prompt;
    int prc = cli_read_prompt(optind < argc ? argv[optind] : NULL, &stdin_prompt, &prompt);
    if (prc) {
        cli_req_opts_free(&o);
        return prc;
    }
    char token[LX_IPC_TOKEN_HEX + 1], err[512];
    if (!lx_ipc_token_read(token_file, token, err, sizeof err)) {
        free(stdin_prompt);
        cli_req_opts_free(&o);
        return cli_fail(LLMUX_E_CONFIGURATION, err);
    }

    llmux_part part;
    llmux_message msg;
    llmux_request req = cli_req_request(&o, prompt, c.out.mode != OUT_JSON, &part, &msg);
    char *request_json = llmux_request_to_json(&req);
    free(stdin_prompt);

    signal(SIGPIPE, SIG_IGN); /* a server that left is a failed write, not a signal */
    llmux_cancel *cancel = cli_cancel_begin();
    code = !request_json ? cli_fail(LLMUX_E_OUT_OF_MEMORY, "out of memory") : connect_to(socket_path, &c.fd);
    if (code == 0) code = handshake(&c, token);
    explicit_bzero(token, sizeof token);
    if (code == 0) code = converse(&c, request_json, o.timeout_ms);
    (void)cancel;
    if (c.fd >= 0) close(c.fd);
    llmux_free(request_json);
    cli_cancel_end();
    cli_req_opts_free(&o);
    return code;
}
