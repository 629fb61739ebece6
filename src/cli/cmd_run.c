/* `llmux run`: one request, streamed to stdout. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_STOPS 16
#define MAX_MODEL_DIRS 16
#define MAX_STDIN_PROMPT ((size_t)16 * 1024 * 1024)
/* How long after the request's deadline the backstop timer cancels it. */
#define DEADLINE_GRACE_MS 2000

static void run_usage(FILE *f) {
    fputs("usage: llmux run [options] [PROMPT]\n"
          "\n"
          "Runs one request and streams the answer to stdout. The prompt is read from stdin when\n"
          "PROMPT is absent.\n"
          "\n"
          "options:\n"
          "  -m, --model MODEL        PROVIDER/MODEL (openai/gpt-4o-mini, anthropic/claude-sonnet-4-5,\n"
          "                           gemini/gemini-2.5-flash, openrouter/..., ollama/llama3.2),\n"
          "                           local/NAME (looked up in the model directories) or a .gguf path;\n"
          "                           default: the bundled model\n"
          "      --base-url URL       base URL of the model's provider (any OpenAI-compatible server\n"
          "                           with -m openai/MODEL); default: the SDK's environment variable\n"
          "      --api-key KEY        API key for the model's provider; default: the SDK's environment\n"
          "                           variable (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, ...)\n"
          "      --model-dir DIR      allow loading local models from DIR (repeatable)\n"
          "  -s, --system TEXT        system prompt\n"
          "  -t, --temperature X      sampling temperature (0 = greedy)\n"
          "      --top-p X            nucleus sampling probability, in (0, 1]\n"
          "      --top-k N            sample among the N most likely tokens\n"
          "      --min-p X            minimum probability relative to the top token\n"
          "  -n, --max-tokens N       stop after N generated tokens\n"
          "      --stop TEXT          stop sequence, never printed (repeatable, up to 16)\n"
          "      --seed N             seed for reproducible sampling\n"
          "      --repeat-penalty X   penalty for repeated tokens (1 = off)\n"
          "      --threads N          CPU threads for the local engine\n"
          "      --ctx N              context size for local models\n"
          "      --timeout SECONDS    total wall-clock budget of the request, fractional allowed,\n"
          "                           at most 604800 (7 days); default: 600, or timeouts.total_ms\n"
          "                           of llmux.yaml\n"
          "      --config FILE        llmux.yaml to use (docs/configuration.md); default:\n"
          "                           $LLMUX_CONFIG, ./llmux.yaml, ~/.config/llmux/llmux.yaml;\n"
          "                           the options above win over the file\n"
          "      --json               print the final response as canonical JSON instead of text\n"
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

typedef enum { OUT_TEXT, OUT_JSON, OUT_EVENTS } out_mode;

typedef struct out_state {
    out_mode mode;
    bool wrote_text;
    char last;
    int write_errno; /* the first failed write's errno; 0 while stdout works */
} out_state;

/* Writes and flushes (the reader sees each event as it comes). A failure (a full disk, a reader
 * that left with SIGPIPE ignored) is remembered: there is no point generating what nobody can
 * receive, so the event callback then returns false and the runtime cancels the request. */
static bool emit(out_state *o, const char *p, size_t n, bool newline) {
    if (o->write_errno) return false;
    errno = 0;
    bool ok = fwrite(p, 1, n, stdout) == n && (!newline || fputc('\n', stdout) != EOF) && fflush(stdout) == 0;
    if (!ok) o->write_errno = errno ? errno : EIO;
    return ok;
}

static bool print_event(const llmux_event *ev, void *ud) {
    out_state *o = ud;
    if (o->mode == OUT_EVENTS) {
        char *j = llmux_event_to_json(ev);
        bool ok = !j || emit(o, j, strlen(j), true);
        llmux_free(j);
        return ok;
    }
    if (o->mode == OUT_TEXT && ev->type == LLMUX_EVENT_TEXT_DELTA && ev->text_len) {
        if (!emit(o, ev->text, ev->text_len, false)) return false;
        o->wrote_text = true;
        o->last = ev->text[ev->text_len - 1];
    }
    return true;
}

static bool parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Directory part of a path, into out. */
static void dir_of(const char *path, char *out, size_t size) {
    char canon[PATH_MAX];
    const char *p = realpath(path, canon) ? canon : path;
    const char *slash = strrchr(p, '/');
    if (!slash) {
        snprintf(out, size, ".");
    } else if (slash == p) {
        snprintf(out, size, "/");
    } else {
        snprintf(out, size, "%.*s", (int)(slash - p), p);
    }
}

/* A local model spec: "local/NAME", or a path ("/x", "./x", "../x", "x.gguf"). */
static bool is_local_spec(const char *m) {
    size_t n = strlen(m);
    return strncmp(m, "local/", 6) == 0 || m[0] == '/' || m[0] == '.' || (n > 5 && strcmp(m + n - 5, ".gguf") == 0);
}

enum {
    OPT_TOP_P = 256,
    OPT_TOP_K,
    OPT_MIN_P,
    OPT_STOP,
    OPT_SEED,
    OPT_REPEAT,
    OPT_THREADS,
    OPT_CTX,
    OPT_JSON,
    OPT_EVENTS,
    OPT_MODEL_DIR,
    OPT_BASE_URL,
    OPT_API_KEY,
    OPT_TIMEOUT,
    OPT_CONFIG
};

int cli_cmd_run(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},       {"system", required_argument, NULL, 's'},
        {"temperature", required_argument, NULL, 't'}, {"top-p", required_argument, NULL, OPT_TOP_P},
        {"top-k", required_argument, NULL, OPT_TOP_K}, {"min-p", required_argument, NULL, OPT_MIN_P},
        {"max-tokens", required_argument, NULL, 'n'},  {"stop", required_argument, NULL, OPT_STOP},
        {"seed", required_argument, NULL, OPT_SEED},   {"repeat-penalty", required_argument, NULL, OPT_REPEAT},
        {"threads", required_argument, NULL, OPT_THREADS}, {"ctx", required_argument, NULL, OPT_CTX},
        {"json", no_argument, NULL, OPT_JSON},         {"events", no_argument, NULL, OPT_EVENTS},
        {"model-dir", required_argument, NULL, OPT_MODEL_DIR}, {"help", no_argument, NULL, 'h'},
        {"base-url", required_argument, NULL, OPT_BASE_URL}, {"api-key", required_argument, NULL, OPT_API_KEY},
        {"timeout", required_argument, NULL, OPT_TIMEOUT}, {"config", required_argument, NULL, OPT_CONFIG},
        {NULL, 0, NULL, 0}};

    llmux_request req = llmux_request_default();
    const char *model = NULL;
    const char *base_url = NULL, *api_key = NULL;
    const char *stops[MAX_STOPS];
    size_t n_stops = 0;
    /* --model-dir, then llmux.yaml's local.model_dirs, then an explicit model's directory and the
     * bundled model's. */
    const char *dirs[MAX_MODEL_DIRS + LX_CONFIG_MAX_MODEL_DIRS + 2];
    size_t n_dirs = 0;
    long threads = 0, n_ctx = 0;
    out_state out = {OUT_TEXT, false, '\n', 0};
    int64_t timeout_ms = -1; /* not given: timeouts.total_ms of llmux.yaml, else the default */
    const char *config_path = NULL;
    long lv;
    double dv;

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:s:t:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 's': req.system = optarg; break;
        case 't':
            if (!parse_double(optarg, &dv) || dv < 0) return cli_usage_error("--temperature: expected a number >= 0, got \"%s\"", optarg);
            req.sampling.temperature = dv;
            break;
        case OPT_TOP_P:
            if (!parse_double(optarg, &dv) || dv <= 0 || dv > 1) return cli_usage_error("--top-p: expected a number in (0, 1], got \"%s\"", optarg);
            req.sampling.top_p = dv;
            break;
        case OPT_MIN_P:
            if (!parse_double(optarg, &dv) || dv < 0 || dv > 1) return cli_usage_error("--min-p: expected a number in [0, 1], got \"%s\"", optarg);
            req.sampling.min_p = dv;
            break;
        case OPT_TOP_K:
            if (!parse_int(optarg, 1, INT32_MAX, &lv)) return cli_usage_error("--top-k: expected an integer >= 1, got \"%s\"", optarg);
            req.sampling.top_k = (int32_t)lv;
            break;
        case 'n':
            if (!parse_int(optarg, 1, INT32_MAX, &lv)) return cli_usage_error("--max-tokens: expected an integer >= 1, got \"%s\"", optarg);
            req.sampling.max_tokens = (int32_t)lv;
            break;
        case OPT_STOP:
            if (!*optarg) return cli_usage_error("--stop: the stop sequence is empty");
            if (n_stops == MAX_STOPS) return cli_usage_error("--stop: at most %d stop sequences", MAX_STOPS);
            stops[n_stops++] = optarg;
            break;
        case OPT_SEED:
            if (!parse_int(optarg, 0, LONG_MAX, &lv)) return cli_usage_error("--seed: expected an integer >= 0, got \"%s\"", optarg);
            req.sampling.seed = lv;
            break;
        case OPT_REPEAT:
            if (!parse_double(optarg, &dv) || dv <= 0) return cli_usage_error("--repeat-penalty: expected a number > 0, got \"%s\"", optarg);
            req.sampling.repeat_penalty = dv;
            break;
        case OPT_THREADS:
            if (!parse_int(optarg, 1, 1024, &threads)) return cli_usage_error("--threads: expected an integer in [1, 1024], got \"%s\"", optarg);
            break;
        case OPT_CTX:
            if (!parse_int(optarg, 16, 1 << 20, &n_ctx)) return cli_usage_error("--ctx: expected an integer in [16, 1048576], got \"%s\"", optarg);
            break;
        case OPT_JSON: out.mode = OUT_JSON; break;
        case OPT_EVENTS: out.mode = OUT_EVENTS; break;
        case OPT_MODEL_DIR:
            if (n_dirs == MAX_MODEL_DIRS) return cli_usage_error("--model-dir: at most %d directories", MAX_MODEL_DIRS);
            dirs[n_dirs++] = optarg;
            break;
        case OPT_BASE_URL: base_url = optarg; break;
        case OPT_API_KEY: api_key = optarg; break;
        case OPT_TIMEOUT:
            if (cli_parse_timeout(optarg, &timeout_ms) != 0) return CLI_EXIT_USAGE;
            break;
        case OPT_CONFIG: config_path = optarg; break;
        case 'h': run_usage(stdout); return 0;
        case ':': return cli_usage_error("option %s needs a value (see `llmux run --help`)", argv[optind - 1]);
        default: return cli_usage_error("unknown option %s (see `llmux run --help`)", argv[optind - 1]);
        }
    }
    if (optind < argc - 1) return cli_usage_error("expected one PROMPT argument, got %d (quote the prompt)", argc - optind);
    req.sampling.stop = stops;
    req.sampling.n_stop = n_stops;

    /* Before stdin is read: a broken llmux.yaml fails at once, not after a pasted prompt. */
    lx_config *cfg = NULL;
    int cfg_code = cli_config_open(config_path, &cfg);
    if (cfg_code != 0) return cfg_code;
    if (timeout_ms < 0) timeout_ms = cli_config_timeout_ms(cfg);

    char *stdin_prompt = NULL;
    const char *prompt;
    if (optind < argc) {
        prompt = argv[optind];
    } else {
        size_t len;
        int err_no;
        cli_input_status in = cli_read_stdin(MAX_STDIN_PROMPT, &stdin_prompt, &len, &err_no);
        if (in != CLI_INPUT_OK) {
            free(stdin_prompt);
            lx_config_free(cfg);
            return cli_input_fail(in, err_no, len, "prompt", MAX_STDIN_PROMPT);
        }
        /* Most likely a mistake (`< /dev/null`, a pipeline whose producer failed); an explicit
         * PROMPT argument "" stays allowed (the bundled model then writes a fortune of its own). */
        if (len == 0) {
            free(stdin_prompt);
            lx_config_free(cfg);
            return cli_fail(LLMUX_E_INVALID_REQUEST, "empty prompt: stdin was empty (give PROMPT or pipe one in)");
        }
        prompt = stdin_prompt;
    }

    /* Whoever runs the CLI owns the machine: an explicit path is allowed as given (its directory
     * becomes an allowed model directory); the bundled model's directory is always allowed. */
    char model_dir[PATH_MAX], default_dir[PATH_MAX];
    const char *def = cli_default_model_path();
    /* --base-url / --api-key configure the provider named by the model's prefix. */
    char provider_name[64] = "";
    if (base_url || api_key) {
        const char *slash = model ? strchr(model, '/') : NULL;
        if (!slash || slash == model || (size_t)(slash - model) >= sizeof provider_name || is_local_spec(model)) {
            free(stdin_prompt);
            lx_config_free(cfg);
            return cli_usage_error("--base-url/--api-key need a remote model PROVIDER/MODEL (e.g. -m openai/gpt-4o-mini)");
        }
        memcpy(provider_name, model, (size_t)(slash - model));
    }
    /* llmux.yaml's directories are allowed too (after --model-dir's). */
    llmux_runtime_params rp = llmux_runtime_default_params();
    llmux_provider_params *owned_providers = NULL;
    llmux_error_info err;
    llmux_status st = cli_config_runtime_params(cfg, provider_name[0] ? provider_name : NULL, base_url, api_key, &rp,
                                                &owned_providers, &err);
    if (st != LLMUX_OK) {
        free(stdin_prompt);
        lx_config_free(cfg);
        return cli_fail(st, err.message);
    }
    for (size_t i = 0; i < rp.n_model_dirs; i++) dirs[n_dirs++] = rp.model_dirs[i];
    if (model && is_local_spec(model) && strncmp(model, "local/", 6) != 0) {
        dir_of(model, model_dir, sizeof model_dir);
        dirs[n_dirs++] = model_dir;
    }
    if (def) {
        dir_of(def, default_dir, sizeof default_dir);
        dirs[n_dirs++] = default_dir;
    }
    if (!model && !def) {
        free(stdin_prompt);
        free(owned_providers);
        lx_config_free(cfg);
        return cli_fail(LLMUX_E_CONFIGURATION, "the bundled default model was not found; pass --model PATH");
    }

    rp.model_dirs = dirs;
    rp.n_model_dirs = n_dirs;
    rp.default_model = def;
    /* The flags win over local.threads / local.ctx. */
    if (threads) rp.n_threads = (int32_t)threads;
    if (n_ctx) rp.n_ctx = (int32_t)n_ctx;
    rp.progress = cli_progress;
    llmux_runtime *rt = NULL;
    st = llmux_runtime_create(&rp, &rt, &err);
    free(owned_providers); /* copied by the runtime */
    if (st == LLMUX_OK && (st = cli_config_prices(rt, cfg, &err)) != LLMUX_OK) {
        llmux_runtime_destroy(rt);
        rt = NULL;
    }
    if (st != LLMUX_OK) {
        free(stdin_prompt);
        lx_config_free(cfg);
        return cli_fail(st, err.message);
    }

    llmux_part part = {0};
    part.type = LLMUX_PART_TEXT;
    part.text = prompt;
    llmux_message msg = {LLMUX_ROLE_USER, &part, 1, NULL};
    req.model = model;
    req.messages = &msg;
    req.n_messages = 1;
    req.stream = out.mode != OUT_JSON;
    req.deadline_ms = timeout_ms;

    llmux_cancel *cancel = cli_cancel_begin();
    /* The runtime enforces deadline_ms; the timer, armed a little later, is the backstop for a
     * step that does not look at it, so that nothing keeps `llmux run` alive forever. */
    cli_deadline *timer = cli_deadline_start(cancel, timeout_ms + DEADLINE_GRACE_MS);

    llmux_run_params run = llmux_run_default_params();
    run.on_event = print_event;
    run.user_data = &out;
    run.cancel = cancel;
    llmux_response *resp = NULL;
    st = llmux_run(rt, &req, &run, &resp, &err);
    bool fired = cli_deadline_stop(timer);
    st = cli_deadline_status(st, fired, timeout_ms, err.message, sizeof err.message);

    int code = 0;
    if (!out.write_errno) {
        if (out.mode == OUT_TEXT && out.wrote_text && out.last != '\n') fputc('\n', stdout);
        /* Whenever there is a response, also a failed one (an accepted request that got an
         * upstream 429): scripts read the error's class and retry hint from it. */
        if (out.mode == OUT_JSON && resp) {
            char *j = llmux_response_to_json(resp);
            if (j) {
                puts(j);
                llmux_free(j);
            }
        }
        if (!cli_stdout_ok()) out.write_errno = errno;
    }
    /* A write error ends the request (the callback cancelled it): report that, not "cancelled". */
    if (out.write_errno) code = cli_io_error("write error", NULL, out.write_errno);
    else if (st != LLMUX_OK) code = cli_fail(st, err.message);
    llmux_response_free(resp);
    llmux_runtime_destroy(rt);
    lx_config_free(cfg);
    cli_cancel_end();
    free(stdin_prompt);
    return code;
}
