/* `llmux engine`: the sandboxed engine process (src/sandbox/engine.h, docs/sandbox.md). This file
 * only parses the flags; everything else happens in lx_engine_run, which must run while the
 * process is still single-threaded (nothing before it here starts a thread). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sandbox/engine.h"

#define MAX_DIRS 16

static void engine_usage(FILE *f) {
    fputs("usage: llmux engine (--socket PATH | --fd N) --model-dir DIR... [options]\n"
          "\n"
          "Runs the sandboxed engine process: it applies its sandbox (no network, no new\n"
          "programs, read-only model directories, an empty environment) before it reads any model,\n"
          "then serves local models only over llmux's IPC protocol (docs/ipc.md). Normally the\n"
          "runtime starts it with --fd; --socket is for running it by hand.\n"
          "\n"
          "options:\n"
          "      --socket PATH        listen on this Unix socket and write PATH.token (debug mode)\n"
          "      --fd N               serve the connected socket N inherited from the parent; no\n"
          "                           token (only the parent holds the other end); exits when it closes\n"
          "      --model-dir DIR      a directory of GGUF models, read-only (repeatable, at least one)\n"
          "      --cache-dir DIR      a directory the engine may write: its prompt cache files\n"
          "                           (local.prompt_cache_dir), restored by the next engine\n"
          "      --prompt-cache-dir-mb N  bytes of all cache files there (default 1024)\n"
          "      --threads N, --ctx N engine threads and context size\n"
          "      --max-frame BYTES    frame payload cap (default 4194304)\n"
          "      --grace SECONDS      on SIGINT/SIGTERM, how long in-flight requests may finish\n"
          "                           (default 0: they are cancelled at once)\n"
          "      --slots N, --prompt-cache-mb N, --max-waiting N, --max-wait-ms N,\n"
          "      --memory-budget-mb N, --idle-unload-s N\n"
          "                           the local: settings of llmux.yaml (docs/configuration.md); the\n"
          "                           runtime passes its own when it starts the engine\n"
          "      --require-sandbox    refuse to start when a sandbox layer is missing (a kernel\n"
          "                           without Landlock) instead of running with a warning\n"
          "      --user UID:GID       started as root: the user and group to become (default\n"
          "                           65534:65534, nobody); never 0\n"
          "      --test-hooks         for tests only: a request with metadata llmux_test_hook =\n"
          "                           abort | hang | exec crashes, hangs or breaks the sandbox\n"
          "  -h, --help               show this help\n"
          "\n"
          "Exit status: 0 after SIGTERM/SIGINT (or the parent closing --fd), 2 for a usage error,\n"
          "10 + the error class when the socket, the sandbox or the runtime cannot be set up.\n",
          f);
}

enum {
    OPT_SOCKET = 600,
    OPT_FD,
    OPT_MODEL_DIR,
    OPT_CACHE_DIR,
    OPT_THREADS,
    OPT_CTX,
    OPT_MAX_FRAME,
    OPT_GRACE,
    OPT_SLOTS,
    OPT_PROMPT_CACHE,
    OPT_MAX_WAITING,
    OPT_MAX_WAIT_MS,
    OPT_MEMORY_BUDGET,
    OPT_IDLE_UNLOAD,
    OPT_TEST_HOOKS,
    OPT_PROMPT_CACHE_DIR_MB,
    OPT_REQUIRE_SANDBOX,
    OPT_USER
};

/* "UID:GID", both in [1, 2^31): the user the engine becomes when started as root. */
static int user_arg(const char *arg, uint32_t *uid, uint32_t *gid) {
    char *end;
    errno = 0;
    long u = strtol(arg, &end, 10);
    if (errno || end == arg || *end != ':' || u < 1 || u > 0x7fffffffL)
        return cli_usage_error("--user: expected UID:GID, two numbers from 1 (root is refused), got \"%s\"", arg);
    const char *g0 = end + 1;
    long g = strtol(g0, &end, 10);
    if (errno || end == g0 || *end || g < 1 || g > 0x7fffffffL)
        return cli_usage_error("--user: expected UID:GID, two numbers from 1 (root is refused), got \"%s\"", arg);
    *uid = (uint32_t)u;
    *gid = (uint32_t)g;
    return 0;
}

static int int_arg(const char *opt, const char *arg, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || errno || v < lo || v > hi)
        return cli_usage_error("%s: expected an integer in %ld..%ld, got \"%s\"", opt, lo, hi, arg);
    *out = v;
    return 0;
}

/* The sandbox clears the environment (clearenv), but the kernel still shows the strings the
 * process started with in /proc/PID/environ, and they stay in its memory, readable by code that
 * a malicious model gets to run. So the engine starts over once with an environment that holds
 * no secret: only the sanitizers' options (their runtimes read them at start; a sanitizer build
 * is a test build) survive. Returns only when the exec failed (no /proc: the sandbox's clearenv
 * still empties environ). */
static void reexec_without_environment(int argc, char **argv) {
    extern char **environ;
    char *keep[8];
    size_t n_keep = 0, n_env = 0;
    for (char **e = environ; e && *e; e++, n_env++) {
        const char *eq = strchr(*e, '=');
        if (eq && eq - *e >= 11 && strncmp(eq - 11, "SAN_OPTIONS", 11) == 0 && n_keep < 7) keep[n_keep++] = *e;
    }
    keep[n_keep] = NULL;
    if (n_env == n_keep) return; /* already clean (this is the second start) */
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) return;
    args[0] = "llmux";
    for (int i = 0; i < argc; i++) args[i + 1] = argv[i];
    fflush(NULL);
    execve("/proc/self/exe", args, keep);
    free(args);
}

static void on_ready(const char *path, const char *token_path, void *ud) {
    (void)ud;
    printf("llmux engine: serving local models on unix:%s (token in %s)\n", path, token_path);
    fflush(stdout);
}

int cli_cmd_engine(int argc, char **argv) {
    static const struct option opts[] = {{"socket", required_argument, NULL, OPT_SOCKET},
                                         {"fd", required_argument, NULL, OPT_FD},
                                         {"model-dir", required_argument, NULL, OPT_MODEL_DIR},
                                         {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
                                         {"threads", required_argument, NULL, OPT_THREADS},
                                         {"ctx", required_argument, NULL, OPT_CTX},
                                         {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
                                         {"grace", required_argument, NULL, OPT_GRACE},
                                         {"slots", required_argument, NULL, OPT_SLOTS},
                                         {"prompt-cache-mb", required_argument, NULL, OPT_PROMPT_CACHE},
                                         {"max-waiting", required_argument, NULL, OPT_MAX_WAITING},
                                         {"max-wait-ms", required_argument, NULL, OPT_MAX_WAIT_MS},
                                         {"memory-budget-mb", required_argument, NULL, OPT_MEMORY_BUDGET},
                                         {"idle-unload-s", required_argument, NULL, OPT_IDLE_UNLOAD},
                                         {"test-hooks", no_argument, NULL, OPT_TEST_HOOKS},
                                         {"prompt-cache-dir-mb", required_argument, NULL, OPT_PROMPT_CACHE_DIR_MB},
                                         {"require-sandbox", no_argument, NULL, OPT_REQUIRE_SANDBOX},
                                         {"user", required_argument, NULL, OPT_USER},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    reexec_without_environment(argc, argv);
    lx_engine_params p = {.inherited_fd = -1, .prompt_cache_mb = -1};
    const char *dirs[MAX_DIRS];
    long v;
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SOCKET: p.socket_path = optarg; break;
        case OPT_FD:
            if ((rc = int_arg("--fd", optarg, 3, 1 << 20, &v))) return rc;
            p.inherited_fd = (int)v;
            break;
        case OPT_MODEL_DIR:
            if (p.n_model_dirs == MAX_DIRS) return cli_usage_error("--model-dir: at most %d directories", MAX_DIRS);
            dirs[p.n_model_dirs++] = optarg;
            break;
        case OPT_CACHE_DIR: p.cache_dir = optarg; break;
        case OPT_THREADS:
            if ((rc = int_arg("--threads", optarg, 1, 1024, &v))) return rc;
            p.n_threads = (int32_t)v;
            break;
        case OPT_CTX:
            if ((rc = int_arg("--ctx", optarg, 16, 1 << 20, &v))) return rc;
            p.n_ctx = (int32_t)v;
            break;
        case OPT_MAX_FRAME:
            if ((rc = int_arg("--max-frame", optarg, 1024, LLMUX_JSON_MAX_BYTES, &v))) return rc;
            p.max_frame_bytes = (size_t)v;
            break;
        case OPT_GRACE:
            if ((rc = int_arg("--grace", optarg, 0, 3600, &v))) return rc;
            p.grace_ms = v * 1000;
            break;
        case OPT_SLOTS:
            if ((rc = int_arg("--slots", optarg, 0, 64, &v))) return rc;
            p.slots = (int32_t)v;
            break;
        case OPT_PROMPT_CACHE:
            if ((rc = int_arg("--prompt-cache-mb", optarg, 0, 1 << 20, &v))) return rc;
            p.prompt_cache_mb = (int32_t)v;
            break;
        case OPT_MAX_WAITING:
            if ((rc = int_arg("--max-waiting", optarg, 0, 65536, &v))) return rc;
            p.max_waiting = (int32_t)v;
            break;
        case OPT_MAX_WAIT_MS:
            if ((rc = int_arg("--max-wait-ms", optarg, 0, 604800000L, &v))) return rc;
            p.max_wait_ms = v;
            break;
        case OPT_MEMORY_BUDGET:
            if ((rc = int_arg("--memory-budget-mb", optarg, 0, 1L << 24, &v))) return rc;
            p.memory_budget_mb = v;
            break;
        case OPT_IDLE_UNLOAD:
            if ((rc = int_arg("--idle-unload-s", optarg, 0, 30L * 86400, &v))) return rc;
            p.idle_unload_s = v;
            break;
        case OPT_TEST_HOOKS: p.test_hooks = true; break;
        case OPT_REQUIRE_SANDBOX: p.require_sandbox = true; break;
        case OPT_USER:
            if ((rc = user_arg(optarg, &p.uid, &p.gid))) return rc;
            break;
        case OPT_PROMPT_CACHE_DIR_MB:
            if ((rc = int_arg("--prompt-cache-dir-mb", optarg, 1, 1L << 20, &v))) return rc;
            p.prompt_cache_dir_mb = v;
            break;
        case 'h': engine_usage(stdout); return 0;
        default: engine_usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_usage_error("engine: unexpected argument \"%s\"", argv[optind]);
    if (!p.socket_path == (p.inherited_fd < 0)) return cli_usage_error("engine: give exactly one of --socket and --fd");
    if (p.n_model_dirs == 0) return cli_usage_error("engine: --model-dir is required");
    p.model_dirs = dirs;
    p.on_ready = on_ready;
    llmux_error_info err;
    llmux_status st = lx_engine_run(&p, &err);
    if (st != LLMUX_OK) return cli_fail(st, err.message);
    return 0;
}
