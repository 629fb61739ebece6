/* `llmux info`: what this build runs local models on (llama.cpp's ggml backends, their devices,
 * the CPU features in use), the engine threads and context llmux.yaml gives, and the loaded
 * models with their memory: this process's (a fresh runtime: none) or, with --server, those of a
 * running `llmux serve` (GET /api/ps). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "server_http.h"

static void info_usage(FILE *f) {
    fputs("usage: llmux info [--server URL] [--api-key KEY] [--json] [--config FILE]\n"
          "\n"
          "Prints the llmux version, llama.cpp's ggml version, each compute backend with its devices\n"
          "and memory, the CPU features the engine uses, the engine threads and context size (local:\n"
          "of llmux.yaml, else one thread per core), and the loaded local models with their memory:\n"
          "those of this process (none: it has just started), or with --server those of a running\n"
          "`llmux serve` (as `llmux models ps` prints them). With --json, one JSON object:\n"
          "{\"version\", \"system\" (llmux_system_info), \"threads\", \"threads_from\", \"context\",\n"
          "\"loaded\": {\"from\": \"process\" or the URL, \"models\": [...]}}.\n"
          "\n"
          "options:\n"
          "      --server URL         a running server to ask for its loaded models\n"
          "      --api-key KEY        a key of the server's server.keys; default: $LLMUX_API_KEY\n"
          "      --json               print JSON\n"
          "      --timeout SECONDS    how long to wait for the server (default 600)\n"
          "      --config FILE        llmux.yaml to use\n"
          "  -h, --help               show this help\n",
          f);
}

enum { OPT_SERVER = 256, OPT_API_KEY, OPT_JSON, OPT_TIMEOUT, OPT_CONFIG };

static const char *yes_no(json_t *v) { return json_is_true(v) ? "yes" : "no"; }

static void print_backend(json_t *b) {
    const char *name = json_string_value(json_object_get(b, "name"));
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(b, "devices"), i, d) {
        json_int_t total = json_integer_value(json_object_get(d, "memory_total_bytes"));
        json_int_t avail = json_integer_value(json_object_get(d, "memory_free_bytes"));
        printf("backend %s: %s (%s, %s), memory %.1f GiB, %.1f GiB free\n", name ? name : "?",
               json_string_value(json_object_get(d, "name")), json_string_value(json_object_get(d, "type")),
               json_string_value(json_object_get(d, "description")), (double)total / (1 << 30),
               (double)avail / (1 << 30));
    }
    json_t *features = json_object_get(b, "features");
    if (json_object_size(features) == 0) return;
    printf("%s features:", name ? name : "?");
    const char *k;
    json_t *v;
    json_object_foreach(features, k, v) {
        const char *s = json_string_value(v);
        if (s && strcmp(s, "1") == 0) printf(" %s", k);
        else printf(" %s=%s", k, s ? s : "");
    }
    fputc('\n', stdout);
}

static void print_text(json_t *sys, int32_t threads, const char *threads_from, int32_t ctx) {
    printf("llmux %s (ggml %s, commit %s)\n", json_string_value(json_object_get(sys, "version")),
           json_string_value(json_object_get(sys, "ggml_version")), json_string_value(json_object_get(sys, "ggml_commit")));
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(sys, "backends"), i, b) print_backend(b);
    printf("llama.cpp: %s\n", json_string_value(json_object_get(sys, "llama_system_info")));
    json_t *sup = json_object_get(sys, "supports");
    printf("supports: mmap %s, mlock %s, gpu offload %s, rpc %s\n", yes_no(json_object_get(sup, "mmap")),
           yes_no(json_object_get(sup, "mlock")), yes_no(json_object_get(sup, "gpu_offload")),
           yes_no(json_object_get(sup, "rpc")));
    printf("threads: %d (%s; %lld cores)\n", (int)threads, threads_from,
           (long long)json_integer_value(json_object_get(sys, "cpu_cores")));
    if (ctx > 0) printf("context: %d tokens (local.ctx)\n", (int)ctx);
    else printf("context: each model's training context, at most 4096 tokens\n");
}

int cli_cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"api-key", required_argument, NULL, OPT_API_KEY},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                         {"config", required_argument, NULL, OPT_CONFIG},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *server_flag = NULL, *key_flag = NULL, *config_path = NULL;
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
        case OPT_CONFIG: config_path = optarg; break;
        case 'h': info_usage(stdout); return 0;
        case ':': return cli_usage_error("option %s needs a value (see `llmux info --help`)", argv[optind - 1]);
        default: return cli_usage_error("unknown option %s (see `llmux info --help`)", argv[optind - 1]);
        }
    }
    if (optind != argc) return cli_usage_error("`llmux info` takes no arguments (got \"%s\")", argv[optind]);
    const char *server = NULL;
    if (server_flag && !(server = cli_server_url(server_flag))) return CLI_EXIT_USAGE;

    llmux_error_info err;
    char *sys_text = NULL;
    llmux_status st = llmux_system_info(&sys_text, &err);
    if (st != LLMUX_OK) return cli_fail(st, err.message);
    json_t *sys = json_loads(sys_text, 0, NULL);
    llmux_free(sys_text);
    if (!sys) return cli_fail(LLMUX_E_OUT_OF_MEMORY, "out of memory");

    /* What a runtime made from llmux.yaml uses. */
    lx_config *cfg = NULL;
    int code = cli_config_open(config_path, &cfg);
    if (code != 0) {
        json_decref(sys);
        return code;
    }
    llmux_runtime_params rp = llmux_runtime_default_params();
    llmux_provider_params *owned = NULL;
    st = cli_config_runtime_params(cfg, NULL, NULL, NULL, &rp, &owned, &err);
    int32_t threads = rp.n_threads > 0 ? rp.n_threads : (int32_t)json_integer_value(json_object_get(sys, "default_threads"));
    const char *threads_from = rp.n_threads > 0 ? "local.threads" : "one per core";
    int32_t ctx = rp.n_ctx;

    json_t *models = NULL;
    cli_server_reply r = {0};
    if (st != LLMUX_OK) {
        code = cli_fail(st, err.message);
    } else if (server) {
        cli_cancel_begin();
        code = cli_server_call(server, "GET", "/api/ps", NULL, cli_server_key(key_flag), timeout_ms, &r);
        cli_cancel_end();
        if (code == 0 && (r.status < 200 || r.status > 299)) code = cli_server_fail(&r);
        json_t *ps = code == 0 ? json_loads(r.body, 0, NULL) : NULL;
        models = json_incref(json_object_get(ps, "models"));
        json_decref(ps);
        if (code == 0 && !json_is_array(models))
            code = cli_fail(LLMUX_E_UPSTREAM_PROTOCOL, "the server's /api/ps reply has no \"models\" array");
    } else {
        /* This process's runtime: a fresh one, so nothing is loaded, as the listing shows. */
        llmux_runtime *rt = NULL;
        char *list = NULL;
        st = llmux_runtime_create(&rp, &rt, &err);
        if (st == LLMUX_OK) st = llmux_models_loaded(rt, &list, &err);
        if (st == LLMUX_OK) models = json_loads(list, 0, NULL);
        llmux_free(list);
        llmux_runtime_destroy(rt);
        if (st != LLMUX_OK) code = cli_fail(st, err.message);
    }
    free(owned);
    lx_config_free(cfg);
    if (code == 0 && json) {
        json_t *o = json_pack("{s:O,s:O,s:i,s:s,s:i,s:{s:s,s:O}}", "version", json_object_get(sys, "version"), "system",
                              sys, "threads", (int)threads, "threads_from", threads_from, "context", (int)ctx, "loaded",
                              "from", server ? server : "process", "models", models);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (text) printf("%s\n", text);
        else code = cli_fail(LLMUX_E_OUT_OF_MEMORY, "out of memory");
        free(text);
    } else if (code == 0) {
        print_text(sys, threads, threads_from, ctx);
        printf("loaded models (%s):%s\n", server ? server : "this process", json_array_size(models) ? "" : " none");
        if (server && json_array_size(models)) code = cli_print_ps(&r, 0);
        else if (json_array_size(models)) {
            size_t i;
            json_t *m;
            json_array_foreach(models, i, m)
                printf("%s\t%s\tmemory=%.1fMiB\n", json_string_value(json_object_get(m, "model")),
                       json_string_value(json_object_get(m, "state")),
                       (double)json_integer_value(json_object_get(m, "memory_bytes")) / (1024.0 * 1024.0));
        }
    }
    free(r.body);
    json_decref(models);
    json_decref(sys);
    if (code == 0 && !cli_stdout_ok()) code = cli_io_error("write error", NULL, errno);
    return code;
}
