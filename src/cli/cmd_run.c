/* `llmux run`: one request, streamed to stdout. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "out.h"
#include "req_opts.h"

/* How long after the request's deadline the backstop timer cancels it. */
#define DEADLINE_GRACE_MS 2000

static void run_usage(FILE *f) {
    fputs("usage: llmux run [options] [PROMPT]\n"
          "\n"
          "Runs one request and streams the answer to stdout. The prompt is read from stdin when\n"
          "PROMPT is absent.\n"
          "\n"
          "options:\n",
          f);
    cli_req_opts_help(f);
    fputs("      --json               print the final response as canonical JSON instead of text\n"
          "                           (also when the request failed after it was accepted)\n"
          "      --events             print every canonical event as one JSON line\n"
          "  -h, --help               show this help\n"
          "\n"
          "A prompt read from stdin must not be empty, contain a NUL byte or exceed 16 MiB\n"
          "(invalid_request).\n"
          "\n"
          "Errors are printed as `llmux: <class>: <message>`; the exit status is 10 + the class\n"
          "number (docs/errors.md), 2 for a usage error, 3 when stdin cannot be read or stdout\n"
          "cannot be written (`llmux: write error: ...`: generation stops at the first failed\n"
          "write).\n",
          f);
}

static bool print_event(const llmux_event *ev, void *ud) {
    out_state *o = ud;
    if (o->mode == OUT_EVENTS) {
        char *j = llmux_event_to_json(ev);
        bool ok = !j || cli_out_emit(o, j, strlen(j), true);
        llmux_free(j);
        return ok;
    }
    /* A failed write returns false: the runtime then cancels the request. */
    if (o->mode == OUT_TEXT && ev->type == LLMUX_EVENT_TEXT_DELTA && ev->text_len)
        return cli_out_text(o, ev->text, ev->text_len);
    return true;
}

/* Ends the output of a run or a replay and returns the exit code. */
static int report(out_state *out, const llmux_response *resp, llmux_status st, const llmux_error_info *err) {
    if (!out->write_errno) {
        if (out->mode == OUT_TEXT && out->wrote_text && out->last != '\n') fputc('\n', stdout);
        /* Whenever there is a response, also a failed one (an accepted request that got an
         * upstream 429): scripts read the error's class and retry hint from it. */
        if (out->mode == OUT_JSON && resp) {
            char *j = llmux_response_to_json(resp);
            if (j) {
                puts(j);
                llmux_free(j);
            }
        }
        if (!cli_stdout_ok()) out->write_errno = errno;
    }
    /* A write error ends the request (the callback cancelled it): report that, not "cancelled". */
    if (out->write_errno) return cli_io_error("write error", NULL, out->write_errno);
    if (st != LLMUX_OK) return cli_fail(st, err->message);
    return 0;
}

enum { OPT_JSON = CLI_OPT_COMMAND, OPT_EVENTS };

/* The options of `run` and `replay`: the shared request options, --json, --events, --help.
 * 0 to go on; -1 when the help was printed (exit 0); else the exit code of a usage error. */
static int parse_args(int argc, char **argv, const char *cmd, void (*usage)(FILE *), cli_req_opts *o,
                      out_state *out) {
    static const struct option opts[] = {CLI_REQ_LONG_OPTS,
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"events", no_argument, NULL, OPT_EVENTS},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cli_req_opts_init(o);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":" CLI_REQ_SHORT_OPTS "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON: out->mode = OUT_JSON; break;
        case OPT_EVENTS: out->mode = OUT_EVENTS; break;
        case 'h': usage(stdout); return -1;
        case ':': return cli_usage_error("option %s needs a value (see `llmux %s --help`)", argv[optind - 1], cmd);
        case '?': return cli_usage_error("unknown option %s (see `llmux %s --help`)", argv[optind - 1], cmd);
        default: {
            int r = cli_req_opt(o, c, optarg);
            if (r == CLI_REQ_OPT_NOT_MINE)
                return cli_usage_error("unknown option %s (see `llmux %s --help`)", argv[optind - 1], cmd);
            if (r != CLI_REQ_OPT_TAKEN) return r;
        }
        }
    }
    return 0;
}

int cli_cmd_run(int argc, char **argv) {
    cli_req_opts o;
    out_state out = OUT_STATE_INIT;
    int parsed = parse_args(argc, argv, "run", run_usage, &o, &out);
    if (parsed != 0) return parsed < 0 ? 0 : parsed;
    if (optind < argc - 1) return cli_usage_error("expected one PROMPT argument, got %d (quote the prompt)", argc - optind);

    /* Before stdin is read: a broken llmux.yaml fails at once, not after a pasted prompt. */
    int cfg_code = cli_req_config(&o);
    if (cfg_code != 0) {
        cli_req_opts_free(&o);
        return cfg_code;
    }

    /* An explicit PROMPT "" is allowed (the bundled model then writes a fortune of its own). */
    char *stdin_prompt = NULL;
    const char *prompt;
    int prc = cli_read_prompt(optind < argc ? argv[optind] : NULL, &stdin_prompt, &prompt);
    if (prc) {
        cli_req_opts_free(&o);
        return prc;
    }

    llmux_runtime *rt = NULL;
    int rc = cli_req_runtime(&o, o.model, &rt);
    if (rc != 0) {
        free(stdin_prompt);
        cli_req_opts_free(&o);
        return rc;
    }

    llmux_part part;
    llmux_message msg;
    llmux_request req = cli_req_request(&o, prompt, out.mode != OUT_JSON, &part, &msg);

    llmux_cancel *cancel = cli_cancel_begin();
    /* The runtime enforces deadline_ms; the timer, armed a little later, is the backstop for a
     * step that does not look at it, so that nothing keeps `llmux run` alive forever. */
    cli_deadline *timer = cli_deadline_start(cancel, o.timeout_ms + DEADLINE_GRACE_MS);

    llmux_run_params run = llmux_run_default_params();
    run.on_event = print_event;
    run.user_data = &out;
    run.cancel = cancel;
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = llmux_run(rt, &req, &run, &resp, &err);
    bool fired = cli_deadline_stop(timer);
    st = cli_deadline_status(st, fired, o.timeout_ms, err.message, sizeof err.message);

    int code = report(&out, resp, st, &err);
    llmux_response_free(resp);
    llmux_runtime_destroy(rt);
    cli_req_opts_free(&o);
    cli_cancel_end();
    free(stdin_prompt);
    return code;
}

/* ------------------------------------------------------------------ replay */

static void replay_usage(FILE *f) {
    fputs("usage: llmux replay [options] EXECUTION_ID\n"
          "\n"
          "Runs a recorded execution again: the recorded request with the recorded routing plan (for\n"
          "an alias: the same targets in the same order with the same weighted pick; the seed is in\n"
          "the request). The new execution is recorded with a link to the original (replay_of).\n"
          "Ids come from `llmux records list` or a response's execution_id.\n"
          "\n"
          "options:\n"
          "      --config FILE        llmux.yaml (providers, aliases, records)\n"
          "      --model-dir DIR      allow loading local models from DIR (repeatable)\n"
          "      --timeout SECONDS    total wall-clock budget (default 600 or timeouts.total_ms)\n"
          "      --json               print the final response as canonical JSON instead of text\n"
          "      --events             print every canonical event as one JSON line\n"
          "  -h, --help               show this help\n"
          "\n"
          "The records database is $LLMUX_RECORDS, else llmux.yaml's records:, else\n"
          "~/.local/share/llmux/records.db; none (in either) turns records off (docs/records.md).\n",
          f);
}

int cli_cmd_replay(int argc, char **argv) {
    cli_req_opts o;
    out_state out = OUT_STATE_INIT;
    int parsed = parse_args(argc, argv, "replay", replay_usage, &o, &out);
    if (parsed != 0) return parsed < 0 ? 0 : parsed;
    if (optind != argc - 1) return cli_usage_error("expected one EXECUTION_ID (see `llmux records list`)");
    const char *id = argv[optind];
    llmux_runtime *rt = NULL;
    int rc = cli_req_runtime(&o, NULL, &rt);
    if (rc != 0) {
        cli_req_opts_free(&o);
        return rc;
    }
    llmux_cancel *cancel = cli_cancel_begin();
    cli_deadline *timer = cli_deadline_start(cancel, o.timeout_ms);
    llmux_run_params run = llmux_run_default_params();
    run.on_event = print_event;
    run.user_data = &out;
    run.cancel = cancel;
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = llmux_replay(rt, id, &run, &resp, &err);
    bool fired = cli_deadline_stop(timer);
    st = cli_deadline_status(st, fired, o.timeout_ms, err.message, sizeof err.message);
    int code = report(&out, resp, st, &err);
    llmux_response_free(resp);
    llmux_runtime_destroy(rt);
    cli_req_opts_free(&o);
    cli_cancel_end();
    return code;
}
