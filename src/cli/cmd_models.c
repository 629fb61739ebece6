/* `llmux models PROVIDER`: the models a remote provider offers; `llmux models --catalog`: the
 * merged model catalog (cmd_models_catalog.c). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void models_usage(FILE *f) {
    fputs("usage: llmux models [options] PROVIDER\n"
          "       llmux models --catalog [--json]\n"
          "       llmux models load|unload NAME [--server URL]   (see `llmux models load --help`)\n"
          "       llmux models ps [--server URL]                  the models a server has loaded\n"
          "\n"
          "Lists the models of a remote provider (openai, anthropic, gemini, openrouter, ollama, or any\n"
          "OpenAI-compatible server given with --base-url), one per line: the id to pass as -m, then\n"
          "what the provider says about it: context=TOKENS, max_output=TOKENS, and prices in USD per\n"
          "million tokens (input, output, cache_read, cache_write; OpenRouter publishes them).\n"
          "\n"
          "With --catalog, prints the model catalog instead: the data shipped with llmux (prices\n"
          "read from the providers' pages, with the day they were read), overridden by configured\n"
          "prices: id, context, max output, prices per million tokens (input, cached input, cache\n"
          "write, output), the day a shipped price was read and where each price comes from. With\n"
          "--json, a JSON array that adds the pages read, capabilities and notes.\n"
          "\n"
          "options:\n"
          "      --catalog            print the model catalog (no PROVIDER)\n"
          "      --base-url URL       the provider's base URL (required for a custom name)\n"
          "      --api-key KEY        API key; default: the SDK's environment variable\n"
          "      --json               print a JSON array of objects (unknown values are null)\n"
          "      --timeout SECONDS    total wall-clock budget (all pages), fractional allowed, at most\n"
          "                           604800 (7 days); default: 600, or timeouts.total_ms of llmux.yaml\n"
          "      --config FILE        llmux.yaml to use (docs/configuration.md); default:\n"
          "                           $LLMUX_CONFIG, ./llmux.yaml, ~/.config/llmux/llmux.yaml\n"
          "  -h, --help               show this help\n",
          f);
}

static void print_price(const char *label, double v) {
    if (isnan(v)) return;
    printf("\t%s=$", label);
    cli_json_number(stdout, v);
    fputs("/M", stdout);
}

static void print_text(const llmux_model_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        const llmux_model_info *m = &l->models[i];
        fputs(m->id, stdout);
        if (m->context_length >= 0) printf("\tcontext=%lld", (long long)m->context_length);
        if (m->max_output_tokens >= 0) printf("\tmax_output=%lld", (long long)m->max_output_tokens);
        print_price("input", m->input_price);
        print_price("output", m->output_price);
        print_price("cache_read", m->cache_read_price);
        print_price("cache_write", m->cache_write_price);
        fputc('\n', stdout);
    }
}

static void json_count(const char *key, int64_t v) {
    printf(",\"%s\":", key);
    if (v < 0) fputs("null", stdout);
    else printf("%lld", (long long)v);
}

static void json_price(const char *key, double v) {
    printf(",\"%s\":", key);
    cli_json_number(stdout, v); /* NaN (unknown) prints null */
}

static void print_json(const llmux_model_list *l) {
    fputc('[', stdout);
    for (size_t i = 0; i < l->n; i++) {
        const llmux_model_info *m = &l->models[i];
        fputs(i ? ",\n{\"id\":" : "\n{\"id\":", stdout);
        cli_json_string(stdout, m->id);
        fputs(",\"name\":", stdout);
        if (m->name) cli_json_string(stdout, m->name);
        else fputs("null", stdout);
        fputs(",\"provider\":", stdout);
        cli_json_string(stdout, m->provider);
        json_count("context_length", m->context_length);
        json_count("max_output_tokens", m->max_output_tokens);
        json_price("input_price", m->input_price);
        json_price("output_price", m->output_price);
        json_price("cache_read_price", m->cache_read_price);
        json_price("cache_write_price", m->cache_write_price);
        fputc('}', stdout);
    }
    fputs(l->n ? "\n]\n" : "]\n", stdout);
}

enum { OPT_BASE_URL = 256, OPT_API_KEY, OPT_JSON, OPT_TIMEOUT, OPT_CATALOG, OPT_CONFIG };

int cli_cmd_models(int argc, char **argv) {
    static const struct option opts[] = {{"base-url", required_argument, NULL, OPT_BASE_URL},
                                         {"api-key", required_argument, NULL, OPT_API_KEY},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                         {"catalog", no_argument, NULL, OPT_CATALOG},
                                         {"config", required_argument, NULL, OPT_CONFIG},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    /* The registry of a running server: its own verbs (cmd_models_admin.c). */
    if (argc >= 2 && (strcmp(argv[1], "load") == 0 || strcmp(argv[1], "unload") == 0 || strcmp(argv[1], "ps") == 0))
        return cli_cmd_models_admin(argc - 1, argv + 1);
    const char *base_url = NULL, *api_key = NULL;
    int json = 0, catalog = 0;
    int64_t timeout_ms = -1; /* not given: timeouts.total_ms of llmux.yaml, else the default */
    const char *config_path = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_BASE_URL: base_url = optarg; break;
        case OPT_API_KEY: api_key = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_CATALOG: catalog = 1; break;
        case OPT_TIMEOUT:
            if (cli_parse_timeout(optarg, &timeout_ms) != 0) return CLI_EXIT_USAGE;
            break;
        case OPT_CONFIG: config_path = optarg; break;
        case 'h': models_usage(stdout); return 0;
        case ':': return cli_usage_error("option %s needs a value (see `llmux models --help`)", argv[optind - 1]);
        default: return cli_usage_error("unknown option %s (see `llmux models --help`)", argv[optind - 1]);
        }
    }
    if (catalog) {
        if (optind != argc) return cli_usage_error("--catalog takes no PROVIDER (got \"%s\")", argv[optind]);
        if (base_url || api_key) return cli_usage_error("--catalog asks no provider: drop --base-url and --api-key");
        lx_config *cfg = NULL; /* its prices: configured entries win over the shipped ones */
        int cfg_code = cli_config_open(config_path, &cfg);
        if (cfg_code != 0) return cfg_code;
        int code = cli_models_catalog(cfg, json);
        lx_config_free(cfg);
        return code;
    }
    if (optind != argc - 1) return cli_usage_error("expected one PROVIDER (e.g. `llmux models openai`)");
    const char *provider = argv[optind];
    if (!*provider || strchr(provider, '/'))
        return cli_usage_error("PROVIDER is a bare provider name such as openai or openrouter, got \"%s\"", provider);

    lx_config *cfg = NULL;
    int cfg_code = cli_config_open(config_path, &cfg);
    if (cfg_code != 0) return cfg_code;
    if (timeout_ms < 0) timeout_ms = cli_config_timeout_ms(cfg);
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    llmux_status st = cli_runtime_with_config(cfg, provider, base_url, api_key, &rt, &err);
    if (st != LLMUX_OK) {
        lx_config_free(cfg);
        return cli_fail(st, err.message);
    }

    llmux_cancel *cancel = cli_cancel_begin();
    llmux_call_params params = llmux_call_default_params();
    params.cancel = cancel;
    params.deadline_ms = timeout_ms;
    int64_t started_ms = cli_now_ms();

    llmux_model_list *list = NULL;
    st = llmux_list_models(rt, provider, &params, &list, &err);
    st = cli_deadline_named(st, started_ms, timeout_ms, err.message, sizeof err.message);
    int code = 0;
    if (st != LLMUX_OK) {
        code = cli_fail(st, err.message);
    } else {
        if (json) print_json(list);
        else print_text(list);
        if (!cli_stdout_ok()) code = cli_io_error("write error", NULL, errno);
    }
    llmux_model_list_free(list);
    llmux_runtime_destroy(rt);
    lx_config_free(cfg);
    cli_cancel_end();
    return code;
}
