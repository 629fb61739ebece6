/* `llmux models load|unload NAME` and `llmux models ps`: the local model registry of a running
 * `llmux serve` (POST /models/load, POST /models/unload, GET /api/ps; docs/server.md). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "server_http.h"

static void admin_usage(FILE *f) {
    fputs("usage: llmux models load NAME [--server URL] [--api-key KEY] [--timeout SECONDS]\n"
          "       llmux models unload NAME [--server URL] [--api-key KEY]\n"
          "       llmux models ps [--server URL] [--api-key KEY] [--json]\n"
          "\n"
          "Manages the local models of a running `llmux serve`. load loads local/NAME now (the next\n"
          "request does not wait for it) and returns when it is ready; unload frees it once the\n"
          "requests running on it have finished (a later request loads it again); ps lists the\n"
          "loaded models, one per line: the model, its state (loaded, loading, or retiring: replaced\n"
          "or unloaded while requests finish on it), then memory=MiB (file + KV cache, what\n"
          "local.memory_budget_mb counts), context=TOKENS, slots=N, running=N, queued=N, and\n"
          "idle=SECONDS or unload_in=SECONDS when local.idle_unload_s applies. With --json, the\n"
          "server's reply (Ollama's /api/ps shape).\n"
          "\n"
          "options:\n"
          "      --server URL         the server; default: $LLMUX_SERVER, else http://127.0.0.1:4000\n"
          "      --api-key KEY        a key of server.keys allowed to use NAME; default: $LLMUX_API_KEY\n"
          "      --json               ps: print the reply as JSON\n"
          "      --timeout SECONDS    how long to wait for the server (default 600)\n"
          "  -h, --help               show this help\n",
          f);
}

enum { OPT_SERVER = 256, OPT_API_KEY, OPT_JSON, OPT_TIMEOUT };

static void print_model(json_t *m) {
    json_t *x = json_object_get(m, "llmux");
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *state = json_string_value(json_object_get(x, "state"));
    printf("%s\t%s\tmemory=%.1fMiB\tcontext=%lld\tslots=%lld\trunning=%lld\tqueued=%lld", name ? name : "?",
           state ? state : "?", (double)json_integer_value(json_object_get(m, "size")) / (1024.0 * 1024.0),
           (long long)json_integer_value(json_object_get(m, "context_length")),
           (long long)json_integer_value(json_object_get(x, "slots")),
           (long long)json_integer_value(json_object_get(x, "running")),
           (long long)json_integer_value(json_object_get(x, "queued")));
    json_t *unload_in = json_object_get(x, "unload_in_ms");
    if (json_is_integer(unload_in)) printf("\tunload_in=%.1fs", (double)json_integer_value(unload_in) / 1000.0);
    else if (json_integer_value(json_object_get(x, "in_use")) == 0 && state && strcmp(state, "loaded") == 0)
        printf("\tidle=%.1fs", (double)json_integer_value(json_object_get(x, "idle_ms")) / 1000.0);
    fputc('\n', stdout);
}

/* Prints GET /api/ps's reply; returns the exit code. */
int cli_print_ps(const cli_server_reply *r, int json) {
    if (json) {
        fputs(r->body, stdout);
        fputc('\n', stdout);
        return 0;
    }
    json_t *j = json_loads(r->body, 0, NULL);
    json_t *models = json_object_get(j, "models");
    if (!json_is_array(models)) {
        json_decref(j);
        return cli_fail(LLMUX_E_UPSTREAM_PROTOCOL, "the server's /api/ps reply has no \"models\" array");
    }
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) print_model(m);
    json_decref(j);
    return 0;
}

int cli_cmd_models_admin(int argc, char **argv) {
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"api-key", required_argument, NULL, OPT_API_KEY},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *verb = argv[0];
    const char *server_flag = NULL, *key_flag = NULL;
    int json = 0;
    int64_t timeout_ms = CLI_TIMEOUT_DEFAULT_MS;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER: server_flag = optarg; break;
        case OPT_API_KEY: key_flag = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_TIMEOUT:
            if (cli_parse_timeout(optarg, &timeout_ms) != 0) return CLI_EXIT_USAGE;
            break;
        case 'h': admin_usage(stdout); return 0;
        case ':': return cli_usage_error("option %s needs a value (see `llmux models %s --help`)", argv[optind - 1], verb);
        default: return cli_usage_error("unknown option %s (see `llmux models %s --help`)", argv[optind - 1], verb);
        }
    }
    bool ps = strcmp(verb, "ps") == 0;
    if (ps && optind != argc) return cli_usage_error("`llmux models ps` takes no NAME (got \"%s\")", argv[optind]);
    if (!ps && optind != argc - 1) return cli_usage_error("expected one NAME (e.g. `llmux models %s local/NAME`)", verb);
    if (!ps && json) return cli_usage_error("--json is for `llmux models ps`");
    const char *name = ps ? NULL : argv[optind];
    if (name && (!*name || strlen(name) > 1024))
        return cli_usage_error("NAME: expected a local model name of 1..1024 bytes");
    if (name && llmux_model_kind_of(name) == LLMUX_MODEL_REMOTE)
        return cli_usage_error("NAME: only local models are loaded and unloaded (local/NAME), got \"%s\"", name);
    const char *server = cli_server_url(server_flag);
    if (!server) return CLI_EXIT_USAGE;

    char *body = NULL;
    if (name) {
        json_t *b = json_pack("{s:s}", "model", name);
        body = b ? json_dumps(b, JSON_COMPACT) : NULL;
        json_decref(b);
        if (!body) return cli_fail(LLMUX_E_OUT_OF_MEMORY, "out of memory");
    }
    cli_cancel_begin();
    cli_server_reply r;
    const char *path = ps ? "/api/ps" : strcmp(verb, "load") == 0 ? "/models/load" : "/models/unload";
    int code = cli_server_call(server, ps ? "GET" : "POST", path, body, cli_server_key(key_flag), timeout_ms, &r);
    free(body);
    if (code == 0) {
        if (r.status < 200 || r.status > 299) code = cli_server_fail(&r);
        else if (ps) code = cli_print_ps(&r, json);
        else printf("%s\t%s\n", name, strcmp(verb, "load") == 0 ? "loaded" : "unloaded");
        if (code == 0 && !cli_stdout_ok()) code = cli_io_error("write error", NULL, errno);
    }
    free(r.body);
    cli_cancel_end();
    return code;
}
