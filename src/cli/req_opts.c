/* Parsing, runtime setup and the one-shot request shared by `llmux run`, `llmux chat` and `llmux ipc`. */
#define _XOPEN_SOURCE 700
#include "req_opts.h"

#include "config/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cli_req_opts_init(cli_req_opts *o) {
    memset(o, 0, sizeof *o);
    o->sampling = llmux_sampling_default();
    o->timeout_ms = -1; /* settled by cli_req_config */
    o->isolation = -1;
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

int cli_req_opt(cli_req_opts *o, int c, const char *arg) {
    llmux_sampling *s = &o->sampling;
    long lv;
    double dv;
    switch (c) {
    case 'm': o->model = arg; break;
    case 's': o->system = arg; break;
    case 't':
        if (!parse_double(arg, &dv) || dv < 0) return cli_usage_error("--temperature: expected a number >= 0, got \"%s\"", arg);
        s->temperature = dv;
        break;
    case CLI_OPT_TOP_P:
        if (!parse_double(arg, &dv) || dv <= 0 || dv > 1) return cli_usage_error("--top-p: expected a number in (0, 1], got \"%s\"", arg);
        s->top_p = dv;
        break;
    case CLI_OPT_MIN_P:
        if (!parse_double(arg, &dv) || dv < 0 || dv > 1) return cli_usage_error("--min-p: expected a number in [0, 1], got \"%s\"", arg);
        s->min_p = dv;
        break;
    case CLI_OPT_TOP_K:
        if (!parse_int(arg, 1, INT32_MAX, &lv)) return cli_usage_error("--top-k: expected an integer >= 1, got \"%s\"", arg);
        s->top_k = (int32_t)lv;
        break;
    case 'n':
        if (!parse_int(arg, 1, INT32_MAX, &lv)) return cli_usage_error("--max-tokens: expected an integer >= 1, got \"%s\"", arg);
        s->max_tokens = (int32_t)lv;
        break;
    case CLI_OPT_STOP:
        if (!*arg) return cli_usage_error("--stop: the stop sequence is empty");
        if (s->n_stop == CLI_MAX_STOPS) return cli_usage_error("--stop: at most %d stop sequences", CLI_MAX_STOPS);
        o->stops[s->n_stop++] = arg;
        s->stop = o->stops;
        break;
    case CLI_OPT_SEED:
        if (!parse_int(arg, 0, LONG_MAX, &lv)) return cli_usage_error("--seed: expected an integer >= 0, got \"%s\"", arg);
        s->seed = lv;
        break;
    case CLI_OPT_REPEAT:
        if (!parse_double(arg, &dv) || dv <= 0) return cli_usage_error("--repeat-penalty: expected a number > 0, got \"%s\"", arg);
        s->repeat_penalty = dv;
        break;
    case CLI_OPT_THREADS:
        if (!parse_int(arg, 1, 1024, &o->threads)) return cli_usage_error("--threads: expected an integer in [1, 1024], got \"%s\"", arg);
        break;
    case CLI_OPT_CTX:
        if (!parse_int(arg, 16, 1 << 20, &o->n_ctx)) return cli_usage_error("--ctx: expected an integer in [16, 1048576], got \"%s\"", arg);
        break;
    case CLI_OPT_MODEL_DIR:
        if (o->n_dirs == CLI_MAX_MODEL_DIRS) return cli_usage_error("--model-dir: at most %d directories", CLI_MAX_MODEL_DIRS);
        o->dirs[o->n_dirs++] = arg;
        break;
    case CLI_OPT_BASE_URL: o->base_url = arg; break;
    case CLI_OPT_API_KEY: o->api_key = arg; break;
    case CLI_OPT_TIMEOUT:
        if (cli_parse_timeout(arg, &o->timeout_ms) != 0) return CLI_EXIT_USAGE;
        break;
    case CLI_OPT_CONFIG: o->config_path = arg; break;
    default: return CLI_REQ_OPT_NOT_MINE;
    }
    return CLI_REQ_OPT_TAKEN;
}

void cli_req_opts_help(FILE *f) {
    fputs("  -m, --model MODEL        PROVIDER/MODEL (openai/gpt-4o-mini, anthropic/claude-sonnet-4-5,\n"
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
          "                           the options above win over the file\n",
          f);
}

bool cli_is_local_spec(const char *m) { return llmux_model_kind_of(m) != LLMUX_MODEL_REMOTE; }

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

void cli_req_opts_free(cli_req_opts *o) {
    lx_config_free(o->cfg);
    o->cfg = NULL;
    o->cfg_loaded = false;
}

int cli_req_config(cli_req_opts *o) {
    if (!o->cfg_loaded) {
        int code = cli_config_open(o->config_path, &o->cfg);
        if (code != 0) return code;
        o->cfg_loaded = true;
    }
    if (o->timeout_ms < 0) o->timeout_ms = cli_config_timeout_ms(o->cfg);
    return 0;
}

int cli_req_runtime(cli_req_opts *o, const char *model, llmux_runtime **rt) {
    *rt = NULL;
    int code = cli_req_config(o);
    if (code != 0) return code;
    /* --base-url / --api-key configure the provider named by the model's prefix (over the
     * file's entry for it). */
    char provider_name[64] = "";
    if (o->base_url || o->api_key) {
        const char *m = o->model;
        const char *slash = m ? strchr(m, '/') : NULL;
        if (!slash || slash == m || (size_t)(slash - m) >= sizeof provider_name || cli_is_local_spec(m))
            return cli_usage_error("--base-url/--api-key need a remote model PROVIDER/MODEL (e.g. -m openai/gpt-4o-mini)");
        memcpy(provider_name, m, (size_t)(slash - m));
    }
    llmux_runtime_params rp = llmux_runtime_default_params();
    llmux_provider_params *owned = NULL;
    llmux_error_info err;
    llmux_status st = cli_config_runtime_params(o->cfg, provider_name[0] ? provider_name : NULL, o->base_url,
                                                o->api_key, &rp, &owned, &err);
    if (st != LLMUX_OK) return cli_fail(st, err.message);
    /* Whoever runs the CLI owns the machine: --model-dir, then llmux.yaml's model_dirs, then an
     * explicit path's directory (allowed as given) and the bundled model's. */
    const char *dirs[CLI_MAX_MODEL_DIRS + LX_CONFIG_MAX_MODEL_DIRS + 2];
    size_t n_dirs = o->n_dirs;
    memcpy(dirs, o->dirs, n_dirs * sizeof dirs[0]);
    for (size_t i = 0; i < rp.n_model_dirs && i < LX_CONFIG_MAX_MODEL_DIRS; i++) dirs[n_dirs++] = rp.model_dirs[i];
    char model_dir[PATH_MAX], default_dir[PATH_MAX];
    const char *def = cli_default_model_path();
    if (model && cli_is_local_spec(model) && strncmp(model, "local/", 6) != 0) {
        dir_of(model, model_dir, sizeof model_dir);
        /* A directory that does not exist holds no model: leave it out, so the lookup reports
         * model_not_found instead of the runtime refusing the directory as configuration. */
        struct stat dsb;
        if (stat(model_dir, &dsb) == 0 && S_ISDIR(dsb.st_mode)) dirs[n_dirs++] = model_dir;
    }
    if (def) {
        dir_of(def, default_dir, sizeof default_dir);
        dirs[n_dirs++] = default_dir;
    }
    if (!model && !def) {
        free(owned);
        return cli_fail(LLMUX_E_CONFIGURATION, "the bundled default model was not found; pass --model PATH");
    }
    rp.model_dirs = dirs;
    rp.n_model_dirs = n_dirs;
    rp.default_model = def;
    if (o->threads) rp.n_threads = (int32_t)o->threads; /* the flags win over local.threads / ctx */
    if (o->n_ctx) rp.n_ctx = (int32_t)o->n_ctx;
    rp.progress = cli_progress;
    /* local.isolation: process runs this very binary as the engine child. */
    rp.engine_path = "/proc/self/exe";
    if (o->isolation >= 0) rp.local_isolation = (llmux_isolation)o->isolation;
    else if (lx_config_isolation(o->cfg) < 0) rp.local_isolation = (llmux_isolation)o->default_isolation;
    if (o->telemetry) lx_config_telemetry_params(o->cfg, &rp);
    /* Every run is recorded (llmux records, llmux replay): the configured database, else the
     * default one. The default is best effort: when it cannot be opened (a read-only home), the
     * run goes on without records after a warning; a configured one that fails is an error. */
    char records_buf[4096];
    bool records_default = false;
    rp.records = cli_records_url_cfg(NULL, o->cfg, records_buf, sizeof records_buf, &records_default);
    st = llmux_runtime_create(&rp, rt, &err);
    if (st == LLMUX_E_CONFIGURATION && records_default && rp.records) {
        fprintf(stderr, "llmux: warning: execution records are off: %s\n", err.message);
        rp.records = NULL;
        st = llmux_runtime_create(&rp, rt, &err);
    }
    free(owned); /* copied by the runtime */
    if (st == LLMUX_OK && (st = cli_config_prices(*rt, o->cfg, &err)) != LLMUX_OK) {
        llmux_runtime_destroy(*rt);
        *rt = NULL;
    }
    if (st != LLMUX_OK) return cli_fail(st, err.message);
    return 0;
}

llmux_request cli_req_request(const cli_req_opts *o, const char *prompt, bool stream, llmux_part *part,
                              llmux_message *msg) {
    *part = (llmux_part){.type = LLMUX_PART_TEXT, .text = prompt};
    *msg = (llmux_message){LLMUX_ROLE_USER, part, 1, NULL};
    llmux_request req = llmux_request_default();
    req.model = o->model;
    req.system = o->system;
    req.sampling = o->sampling;
    req.messages = msg;
    req.n_messages = 1;
    req.stream = stream;
    req.deadline_ms = o->timeout_ms;
    return req;
}
