/* `llmux embed -m PROVIDER/MODEL TEXT...`: embedding vectors as one JSON object. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_STDIN ((size_t)64 * 1024 * 1024)
#define MAX_INPUTS 4096

static void embed_usage(FILE *f) {
    fputs("usage: llmux embed [options] -m PROVIDER/MODEL [TEXT...]\n"
          "\n"
          "Embeds each TEXT (or, without TEXT, each non-empty line of stdin) with a remote provider or a\n"
          "local model (local/NAME from local.model_dirs of llmux.yaml: an embedding model pools as its\n"
          "metadata says, a generative model's hidden states are mean-pooled) and\n"
          "prints one JSON object: {\"model\",\"provider\",\"dim\",\"embeddings\":[[...],...],\"usage\"},\n"
          "vectors in input order.\n"
          "\n"
          "options:\n"
          "  -m, --model MODEL        PROVIDER/MODEL: openai/text-embedding-3-small,\n"
          "                           gemini/gemini-embedding-001, ollama/nomic-embed-text, ...\n"
          "  -d, --dimensions N       ask for N dimensions (where the model supports it)\n"
          "      --base-url URL       the provider's base URL (any OpenAI-compatible server)\n"
          "      --api-key KEY        API key; default: the SDK's environment variable\n"
          "      --timeout SECONDS    total wall-clock budget, fractional allowed, at most 604800\n"
          "                           (7 days); default: 600, or timeouts.total_ms of llmux.yaml\n"
          "      --config FILE        llmux.yaml to use (docs/configuration.md); default:\n"
          "                           $LLMUX_CONFIG, ./llmux.yaml, ~/.config/llmux/llmux.yaml\n"
          "  -h, --help               show this help\n"
          "\n"
          "Stdin is capped at 64 MiB and must not contain NUL bytes (invalid_request). Exit status:\n"
          "as `llmux run --help` says (3: stdin unreadable or stdout unwritable).\n",
          f);
}

/* Splits buf into non-empty lines in place (a trailing \r dropped); false past MAX_INPUTS. */
static bool split_lines(char *buf, const char **lines, size_t *n) {
    *n = 0;
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[--l] = '\0';
        if (l) {
            if (*n == MAX_INPUTS) return false;
            lines[(*n)++] = p;
        }
        if (!nl) break;
        p = nl + 1;
    }
    return true;
}

static void print_usage_field(const char *key, int64_t v, bool *first) {
    if (v < 0) return;
    printf("%s\"%s\":%lld", *first ? "" : ",", key, (long long)v);
    *first = false;
}

static void print_embeddings(const llmux_embeddings *e) {
    fputs("{\"model\":", stdout);
    cli_json_string(stdout, e->model);
    fputs(",\"provider\":", stdout);
    cli_json_string(stdout, e->provider);
    printf(",\"dim\":%zu,\"embeddings\":[", e->dim);
    for (size_t i = 0; i < e->n; i++) {
        fputs(i ? ",\n[" : "\n[", stdout);
        for (size_t j = 0; j < e->dim; j++) {
            if (j) fputc(',', stdout);
            cli_json_float(stdout, e->data[i * e->dim + j]);
        }
        fputc(']', stdout);
    }
    fputs("],\n\"usage\":{", stdout);
    bool first = true;
    print_usage_field("input_tokens", e->usage.input_tokens, &first);
    print_usage_field("total_tokens", e->usage.total_tokens, &first);
    fputs("}}\n", stdout);
}

enum { OPT_BASE_URL = 256, OPT_API_KEY, OPT_TIMEOUT, OPT_CONFIG };

int cli_cmd_embed(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"dimensions", required_argument, NULL, 'd'},
                                         {"base-url", required_argument, NULL, OPT_BASE_URL},
                                         {"api-key", required_argument, NULL, OPT_API_KEY},
                                         {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                         {"config", required_argument, NULL, OPT_CONFIG},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *model = NULL, *base_url = NULL, *api_key = NULL;
    long dims = 0;
    int64_t timeout_ms = -1; /* not given: timeouts.total_ms of llmux.yaml, else the default */
    const char *config_path = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': {
            char *end;
            errno = 0;
            dims = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || dims < 1 || dims > 65536)
                return cli_usage_error("--dimensions: expected an integer in [1, 65536], got \"%s\"", optarg);
            break;
        }
        case OPT_BASE_URL: base_url = optarg; break;
        case OPT_API_KEY: api_key = optarg; break;
        case OPT_TIMEOUT:
            if (cli_parse_timeout(optarg, &timeout_ms) != 0) return CLI_EXIT_USAGE;
            break;
        case OPT_CONFIG: config_path = optarg; break;
        case 'h': embed_usage(stdout); return 0;
        case ':': return cli_usage_error("option %s needs a value (see `llmux embed --help`)", argv[optind - 1]);
        default: return cli_usage_error("unknown option %s (see `llmux embed --help`)", argv[optind - 1]);
        }
    }
    if (!model) return cli_usage_error("embed needs -m PROVIDER/MODEL (e.g. -m openai/text-embedding-3-small)");
    const char *slash = strchr(model, '/');
    char provider_name[65];
    if (!slash || slash == model || (size_t)(slash - model) >= sizeof provider_name)
        return cli_usage_error("-m: expected PROVIDER/MODEL, got \"%s\"", model);
    memcpy(provider_name, model, (size_t)(slash - model));
    provider_name[slash - model] = '\0';

    static const char *lines[MAX_INPUTS];
    const char **inputs;
    size_t n_inputs;
    char *stdin_buf = NULL;
    if (optind < argc) {
        if ((size_t)(argc - optind) > MAX_INPUTS) return cli_usage_error("at most %d TEXT arguments", MAX_INPUTS);
        inputs = (const char **)(argv + optind);
        n_inputs = (size_t)(argc - optind);
    } else {
        size_t len;
        int err_no;
        cli_input_status in = cli_read_stdin(MAX_STDIN, &stdin_buf, &len, &err_no);
        if (in != CLI_INPUT_OK) {
            free(stdin_buf);
            return cli_input_fail(in, err_no, len, "input", MAX_STDIN);
        }
        if (!split_lines(stdin_buf, lines, &n_inputs)) {
            free(stdin_buf);
            return cli_fail(LLMUX_E_INVALID_REQUEST, "more than 4096 lines on stdin");
        }
        if (n_inputs == 0) {
            free(stdin_buf);
            return cli_usage_error("nothing to embed: give TEXT arguments or lines on stdin");
        }
        inputs = lines;
    }

    lx_config *cfg = NULL;
    int cfg_code = cli_config_open(config_path, &cfg);
    if (cfg_code != 0) {
        free(stdin_buf);
        return cfg_code;
    }
    if (timeout_ms < 0) timeout_ms = cli_config_timeout_ms(cfg);
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    llmux_status st = cli_runtime_with_config(cfg, provider_name, base_url, api_key, &rt, &err);
    if (st != LLMUX_OK) {
        lx_config_free(cfg);
        free(stdin_buf);
        return cli_fail(st, err.message);
    }
    llmux_cancel *cancel = cli_cancel_begin();
    llmux_call_params params = llmux_call_default_params();
    params.cancel = cancel;
    params.deadline_ms = timeout_ms;
    int64_t started_ms = cli_now_ms();

    llmux_embed_request req = llmux_embed_request_default();
    req.model = model;
    req.inputs = inputs;
    req.n_inputs = n_inputs;
    req.dimensions = (int32_t)dims;
    llmux_embeddings *e = NULL;
    st = llmux_embed(rt, &req, &params, &e, &err);
    st = cli_deadline_named(st, started_ms, timeout_ms, err.message, sizeof err.message);
    int code = 0;
    if (st != LLMUX_OK) {
        code = cli_fail(st, err.message);
    } else {
        print_embeddings(e);
        if (!cli_stdout_ok()) code = cli_io_error("write error", NULL, errno);
    }
    llmux_embeddings_free(e);
    llmux_runtime_destroy(rt);
    lx_config_free(cfg);
    cli_cancel_end();
    free(stdin_buf);
    return code;
}
