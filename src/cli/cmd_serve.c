/* `llmux serve`: the OpenAI- and Anthropic-compatible HTTP server (src/server/http/) on a runtime
 * built like `llmux run`'s (llmux.yaml, model directories, the bundled model, records). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "req_opts.h"
#include "server/http/server.h"
#include "serve_ipc.h"
#include "server/ipc/ipc.h"

#define SERVE_GRACE_DEFAULT_S 10

enum { OPT_LISTEN = CLI_OPT_COMMAND, OPT_GRACE, OPT_MAX_BODY, OPT_MAX_REQUESTS, OPT_INSECURE, OPT_UNIX, OPT_MAX_FRAME, OPT_ISOLATION };

/* --max-requests: each request in flight holds two sockets (client and upstream) and ~tens of KiB,
 * so the ceiling is the file-descriptor limit long before this. */
#define SERVE_MAX_REQUESTS_CAP 1000000

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: llmux serve [--listen HOST:PORT] [--config FILE] [options]\n"
            "\n"
            "Serves the OpenAI Chat Completions API (POST /v1/chat/completions) and the Anthropic\n"
            "Messages API (POST /v1/messages), with streaming (SSE), plus POST /v1/completions,\n"
            "POST /v1/embeddings, POST /v1/messages/count_tokens, GET /v1/models, GET /health and\n"
            "GET /metrics (Prometheus; docs/telemetry.md). Models: the bundled one as local/<name>,\n"
            "the aliases of llmux.yaml, local models in the model directories (local/NAME) and every\n"
            "provider whose key is set (provider/model). Local models: POST /models/load and\n"
            "/models/unload, GET /models and GET /api/ps (`llmux models load|unload|ps`); a model file\n"
            "renamed over is swapped in on the next request. docs/server.md describes the API.\n"
            "\n"
            "options:\n"
            "      --listen HOST:PORT   address to listen on (default: server.listen of llmux.yaml,\n"
            "                           else 127.0.0.1:%d)\n"
            "      --grace SECONDS      on SIGINT/SIGTERM, how long in-flight requests may finish\n"
            "                           before they are cancelled (default %d)\n"
            "      --max-body BYTES     largest request body (default %zu; larger: 413)\n"
            "      --max-requests N     generations in flight at once (default %d; more: 429)\n"
            "      --model-dir DIR      a directory local models may be loaded from (repeatable)\n"
            "      --threads N, --ctx N local engine threads and context size\n"
            "      --isolation MODE     process (default, unless local.isolation of llmux.yaml says\n"
            "                           otherwise): local models run in a sandboxed child process\n"
            "                           that can read only the model directories, reaches no network\n"
            "                           and is restarted when it crashes or hangs (docs/sandbox.md);\n"
            "                           in_process: in this process, one engine thread per model\n"
            "      --config FILE        llmux.yaml to use\n"
            "      --unix PATH          also serve llmux's IPC on a Unix socket, token in PATH.token\n"
            "                           (docs/ipc.md); without --listen only the socket is served\n"
            "      --max-frame BYTES    largest IPC frame (default %zu)\n"
            "      --insecure-no-auth   allow a non-loopback --listen address without API keys\n"
            "                           (anyone who reaches it can use every provider)\n"
            "  -h, --help               show this help\n"
            "\n"
            "API keys, their model lists, budgets and rates: server.keys of llmux.yaml (clients send\n"
            "\"Authorization: Bearer KEY\" or \"x-api-key: KEY\"); CORS: server.cors_origins. Without\n"
            "keys the server accepts every request, so it only listens on loopback unless\n"
            "--insecure-no-auth.\n",
            LX_SERVER_DEFAULT_PORT, SERVE_GRACE_DEFAULT_S, LX_SERVER_DEFAULT_MAX_BODY, LX_SERVER_DEFAULT_MAX_REQUESTS,
            LX_FRAME_DEFAULT_MAX);
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT". */
static int parse_listen(const char *s, char *host, size_t size, int *port) {
    const char *colon = strrchr(s, ':');
    const char *p = colon ? colon + 1 : s;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (!*p || *end || errno || v < 0 || v > 65535) return cli_usage_error("--listen: expected HOST:PORT, got \"%s\"", s);
    *port = (int)v;
    size_t n = colon ? (size_t)(colon - s) : 0;
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0) snprintf(host, size, "127.0.0.1");
    else if (n >= size) return cli_usage_error("--listen: host too long");
    else snprintf(host, size, "%.*s", (int)n, s);
    return 0;
}

/* The ids /v1/models lists before the catalog: the bundled model, the aliases, then every
 * other *.gguf in the model directories as local/<name>. Strings are owned by the list. */
#define SERVE_MAX_LISTED 4096

typedef struct id_list {
    char **ids;
    size_t n;
} id_list;

static void ids_add(id_list *l, const char *id, size_t len) {
    if (l->n == SERVE_MAX_LISTED) return;
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->ids[i]) == len && strncmp(l->ids[i], id, len) == 0) return;
    char *s = malloc(len + 1);
    if (!s) return;
    memcpy(s, id, len);
    s[len] = 0;
    l->ids[l->n++] = s;
}

static void ids_add_dir(id_list *l, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 5 || strcmp(e->d_name + n - 5, ".gguf") != 0 || e->d_name[0] == '.') continue;
        char id[512];
        int k = snprintf(id, sizeof id, "local/%.*s", (int)(n - 5), e->d_name);
        if (k > 0 && (size_t)k < sizeof id) ids_add(l, id, (size_t)k);
    }
    closedir(d);
}

static void ids_free(id_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->ids[i]);
    free(l->ids);
}

/* Whether host is a loopback address (127.0.0.0/8, ::1, localhost): the only addresses a server
 * without API keys may listen on by default. */
static bool loopback(const char *host) {
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0;
}

/* "local/<file name without .gguf>" of the bundled model, into buf; "" when there is none. */
static void bundled_id(char *buf, size_t size) {
    buf[0] = 0;
    const char *path = cli_default_model_path();
    if (!path) return;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".gguf") == 0) n -= 5;
    snprintf(buf, size, "local/%.*s", (int)n, base);
}

int cli_cmd_serve(int argc, char **argv) {
    static const struct option longs[] = {CLI_REQ_LONG_OPTS,
                                          {"listen", required_argument, NULL, OPT_LISTEN},
                                          {"grace", required_argument, NULL, OPT_GRACE},
                                          {"max-body", required_argument, NULL, OPT_MAX_BODY},
                                          {"max-requests", required_argument, NULL, OPT_MAX_REQUESTS},
                                          {"insecure-no-auth", no_argument, NULL, OPT_INSECURE},
                                          {"unix", required_argument, NULL, OPT_UNIX},
                                          {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
                                          {"isolation", required_argument, NULL, OPT_ISOLATION},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    cli_req_opts o;
    cli_req_opts_init(&o);
    /* A server loads models for many users: their GGUF files and templates are parsed in the
     * sandboxed child unless --isolation or local.isolation say otherwise (issue 11). */
    o.default_isolation = LLMUX_ISOLATION_PROCESS;
    lx_server_params sp = lx_server_default_params();
    lx_ipc_params ipcp = lx_ipc_default_params();
    char host[256] = "127.0.0.1";
    bool listen_given = false, insecure = false, max_body_given = false;
    long grace_s = SERVE_GRACE_DEFAULT_S;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":" CLI_REQ_SHORT_OPTS "h", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'h': serve_usage(stdout); return 0;
        case OPT_LISTEN:
            if (parse_listen(optarg, host, sizeof host, &sp.port) != 0) return CLI_EXIT_USAGE;
            listen_given = true;
            break;
        case OPT_GRACE:
            errno = 0;
            grace_s = strtol(optarg, &end, 10);
            if (!*optarg || *end || errno || grace_s < 0 || grace_s > 3600)
                return cli_usage_error("--grace: expected 0..3600 seconds, got \"%s\"", optarg);
            break;
        case OPT_INSECURE: insecure = true; break;
        case OPT_UNIX: ipcp.path = optarg; break;
        case OPT_ISOLATION:
            if (strcmp(optarg, "process") == 0) o.isolation = LLMUX_ISOLATION_PROCESS;
            else if (strcmp(optarg, "in_process") == 0) o.isolation = LLMUX_ISOLATION_IN_PROCESS;
            else return cli_usage_error("--isolation: expected process or in_process, got \"%s\"", optarg);
            break;
        case OPT_MAX_FRAME:
            if (cli_serve_size_arg("--max-frame", optarg, &ipcp.max_frame_bytes) != 0) return CLI_EXIT_USAGE;
            break;
        case OPT_MAX_BODY: {
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!*optarg || *end || errno || v < 1024 || v > LLMUX_JSON_MAX_BYTES)
                return cli_usage_error("--max-body: expected 1024..%u bytes, got \"%s\"", LLMUX_JSON_MAX_BYTES, optarg);
            sp.max_body_bytes = (size_t)v;
            max_body_given = true;
            break;
        }
        case OPT_MAX_REQUESTS: {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || errno || v < 1 || v > SERVE_MAX_REQUESTS_CAP)
                return cli_usage_error("--max-requests: expected 1..%d, got \"%s\"", SERVE_MAX_REQUESTS_CAP, optarg);
            sp.max_requests = (int)v;
            break;
        }
        case ':': return cli_usage_error("option %s needs a value", argv[optind - 1]);
        case '?': return cli_usage_error("unknown option %s", argv[optind - 1]);
        default: {
            int r = cli_req_opt(&o, c, optarg);
            if (r == CLI_REQ_OPT_NOT_MINE) return cli_usage_error("option %s does not apply to serve", argv[optind - 1]);
            if (r != CLI_REQ_OPT_TAKEN) return r;
        }
        }
    }
    if (optind < argc) return cli_usage_error("serve takes no arguments (got \"%s\")", argv[optind]);
    sp.host = host;

    /* Signals are taken synchronously by this thread (sigwait); every thread started from here
     * on (the runtime's loop, engine threads) inherits the mask. A write to a client that left
     * must be an error, not a SIGPIPE. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    llmux_runtime *rt = NULL;
    o.telemetry = true; /* llmux.yaml's telemetry: section (docs/telemetry.md) */
    int code = cli_req_runtime(&o, NULL, &rt);
    if (code != 0) {
        cli_req_opts_free(&o);
        return code;
    }
    /* --listen wins over llmux.yaml's server.listen. */
    const char *cfg_listen = lx_config_server_listen(o.cfg);
    if (!listen_given && cfg_listen && parse_listen(cfg_listen, host, sizeof host, &sp.port) != 0) {
        llmux_runtime_destroy(rt);
        cli_req_opts_free(&o);
        return CLI_EXIT_USAGE;
    }
    /* server.keys, cors_origins, limits (borrowed from o.cfg, copied by the server). */
    lx_config_server_settings ss;
    lx_config_server(o.cfg, &ss);
    if (!loopback(host) && ss.n_keys == 0 && !insecure) {
        llmux_runtime_destroy(rt);
        cli_req_opts_free(&o);
        return cli_usage_error("refusing to listen on %s: no API keys are configured (server.keys in llmux.yaml), so "
                               "anyone who reaches it could use every configured provider; add keys, listen on "
                               "loopback, or pass --insecure-no-auth",
                               host);
    }
    sp.keys = ss.keys;
    sp.n_keys = ss.n_keys;
    sp.cors_origins = ss.cors_origins;
    sp.n_cors_origins = ss.n_cors_origins;
    if (ss.max_streams_per_key > 0) sp.max_streams_per_key = (int)ss.max_streams_per_key;
    if (ss.has_responses_store_mb) sp.responses_store_bytes = (size_t)ss.responses_store_mb * 1024 * 1024;
    if (!max_body_given && ss.max_body_bytes > 0) sp.max_body_bytes = (size_t)ss.max_body_bytes; /* the flag wins */
    /* Budgets are counted from the records the runtime writes: the same database. */
    char records_buf[4096];
    bool records_default = false;
    sp.records = cli_records_url_cfg(NULL, o.cfg, records_buf, sizeof records_buf, &records_default);
    /* /v1/models lists the bundled model and the aliases first. */
    char bundled[PATH_MAX];
    bundled_id(bundled, sizeof bundled);
    llmux_runtime_params cfgp = llmux_runtime_default_params();
    lx_config_runtime_params(o.cfg, &cfgp);
    id_list ids = {.ids = calloc(SERVE_MAX_LISTED, sizeof(char *))};
    if (ids.ids) {
        if (bundled[0]) ids_add(&ids, bundled, strlen(bundled));
        for (size_t i = 0; i < cfgp.n_aliases; i++) ids_add(&ids, cfgp.aliases[i].name, strlen(cfgp.aliases[i].name));
        for (size_t i = 0; i < o.n_dirs; i++) ids_add_dir(&ids, o.dirs[i]);
        for (size_t i = 0; i < cfgp.n_model_dirs; i++) ids_add_dir(&ids, cfgp.model_dirs[i]);
        const char *def = cli_default_model_path();
        if (def) {
            char dir[PATH_MAX];
            const char *slash = strrchr(def, '/');
            snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - def) : 1, slash ? def : ".");
            ids_add_dir(&ids, dir);
        }
    }
    sp.models = (const char *const *)ids.ids;
    sp.n_models = ids.n;
    sp.metrics_key = lx_config_metrics_key(o.cfg);

    lx_server *srv = NULL;
    lx_ipc_server *ipc = NULL;
    llmux_error_info err;
    /* --unix alone serves only the socket; with --listen, both. */
    llmux_status st = ipcp.path && !listen_given ? LLMUX_OK : lx_server_start(rt, &sp, &srv, &err);
    if (st == LLMUX_OK && ipcp.path && (st = cli_serve_ipc_start(rt, &ipcp, &ipc, &err)) != LLMUX_OK) lx_server_stop(srv, 0);
    ids_free(&ids); /* copied by the server */
    if (st != LLMUX_OK) {
        llmux_runtime_destroy(rt);
        cli_req_opts_free(&o);
        return cli_fail(st, err.message);
    }
    const char *shown = strchr(host, ':') ? "[%s]" : "%s";
    char hostbuf[300];
    snprintf(hostbuf, sizeof hostbuf, shown, host);
    if (srv)
        printf("llmux: serving on http://%s:%d (OpenAI /v1/chat/completions and /v1/responses, Anthropic /v1/messages)\n",
               hostbuf, lx_server_port(srv));
    if (srv && ss.n_keys) printf("llmux: %zu API key%s (server.keys); requests without one get 401\n", ss.n_keys, ss.n_keys == 1 ? "" : "s");
    else if (srv) printf("llmux: no API keys configured: every request is served\n");
    /* Where local models run, as the runtime was told (--isolation, local.isolation, the default). */
    int iso = o.isolation >= 0 ? o.isolation : lx_config_isolation(o.cfg) >= 0 ? lx_config_isolation(o.cfg) : o.default_isolation;
    if (iso == LLMUX_ISOLATION_PROCESS)
        printf("llmux: local models run in a sandboxed engine process (docs/sandbox.md; --isolation in_process "
               "keeps them in this one)\n");
    if (srv) printf("try:\n  curl http://%s:%d/v1/chat/completions -H 'Content-Type: application/json' \\\n"
           "%s    -d '{\"model\": \"%s\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'\n",
           hostbuf, lx_server_port(srv), ss.n_keys ? "    -H \"Authorization: Bearer $LLMUX_KEY\" \\\n" : "",
           bundled[0] ? bundled : "openai/gpt-4o-mini");
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "llmux: %s: stopping (in-flight requests have %lds to finish)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", grace_s);
    cli_serve_ipc_stop(ipc, srv, (int64_t)grace_s * 1000);
    llmux_runtime_destroy(rt); /* flushes the execution records */
    cli_req_opts_free(&o);
    return 0;
}
