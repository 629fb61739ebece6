/* The options of the commands that send requests (`llmux run`, `llmux chat`): the model and its
 * provider, sampling, local engine settings and the deadline. One parser and one runtime builder,
 * so the commands cannot drift apart. */
#ifndef LLMUX_CLI_REQ_OPTS_H
#define LLMUX_CLI_REQ_OPTS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

#define CLI_MAX_STOPS 16
#define CLI_MAX_MODEL_DIRS 16

typedef struct cli_req_opts {
    const char *model;    /* -m; NULL = the bundled model */
    const char *system;   /* -s */
    const char *base_url; /* with api_key: configures the provider named by the model's prefix */
    const char *api_key;
    llmux_sampling sampling; /* sampling.stop points into stops (borrowed argv strings) */
    const char *stops[CLI_MAX_STOPS];
    const char *dirs[CLI_MAX_MODEL_DIRS]; /* --model-dir, as given */
    size_t n_dirs;
    long threads; /* 0 = the engine's default */
    long n_ctx;   /* 0 = the model's default */
    int64_t timeout_ms;   /* -1 until given: then llmux.yaml's timeouts.total_ms, else the default */
    const char *config_path; /* --config; NULL = discovery (docs/configuration.md) */
    struct lx_config *cfg;   /* loaded by cli_req_config; NULL = no file; freed by cli_req_opts_free */
    bool cfg_loaded;
    bool telemetry;          /* apply llmux.yaml's telemetry: section (llmux serve) */
    int isolation;           /* --isolation (llmux serve): LLMUX_ISOLATION_*; -1 = llmux.yaml's
                                local.isolation, else default_isolation */
    int default_isolation;   /* when neither says: in_process (0) for every command but
                                `llmux serve`, which sets process */
} cli_req_opts;

/* Everything unset. */
void cli_req_opts_init(cli_req_opts *o);
/* Releases the loaded llmux.yaml. */
void cli_req_opts_free(cli_req_opts *o);
/* Finds and loads llmux.yaml once (a broken file fails here, before anything else happens) and
 * settles the timeout (--timeout, else timeouts.total_ms, else the default). 0 or an exit code
 * (the error printed). */
int cli_req_config(cli_req_opts *o);

/* getopt_long's values of the shared long options without a short form; a command numbers its
 * own from CLI_OPT_COMMAND on. */
enum {
    CLI_OPT_TOP_P = 256,
    CLI_OPT_TOP_K,
    CLI_OPT_MIN_P,
    CLI_OPT_STOP,
    CLI_OPT_SEED,
    CLI_OPT_REPEAT,
    CLI_OPT_THREADS,
    CLI_OPT_CTX,
    CLI_OPT_MODEL_DIR,
    CLI_OPT_BASE_URL,
    CLI_OPT_API_KEY,
    CLI_OPT_TIMEOUT,
    CLI_OPT_CONFIG,
    CLI_OPT_COMMAND = 512
};

/* The shared short options (without the leading ':'), and the shared entries of a struct option
 * table: a macro, so a command's table lists them followed by its own and the terminator. */
#define CLI_REQ_SHORT_OPTS "m:s:t:n:"
#define CLI_REQ_LONG_OPTS                                                                                         \
    {"model", required_argument, NULL, 'm'}, {"system", required_argument, NULL, 's'},                            \
        {"temperature", required_argument, NULL, 't'}, {"top-p", required_argument, NULL, CLI_OPT_TOP_P},        \
        {"top-k", required_argument, NULL, CLI_OPT_TOP_K}, {"min-p", required_argument, NULL, CLI_OPT_MIN_P},    \
        {"max-tokens", required_argument, NULL, 'n'}, {"stop", required_argument, NULL, CLI_OPT_STOP},           \
        {"seed", required_argument, NULL, CLI_OPT_SEED}, {"repeat-penalty", required_argument, NULL, CLI_OPT_REPEAT}, \
        {"threads", required_argument, NULL, CLI_OPT_THREADS}, {"ctx", required_argument, NULL, CLI_OPT_CTX},    \
        {"model-dir", required_argument, NULL, CLI_OPT_MODEL_DIR},                                               \
        {"base-url", required_argument, NULL, CLI_OPT_BASE_URL}, {"api-key", required_argument, NULL, CLI_OPT_API_KEY}, \
        {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT}, {"config", required_argument, NULL, CLI_OPT_CONFIG}

/* What cli_req_opt did with an option. */
#define CLI_REQ_OPT_TAKEN 0
#define CLI_REQ_OPT_NOT_MINE (-1)

/* Applies getopt's result c with its argument. Returns CLI_REQ_OPT_TAKEN, CLI_REQ_OPT_NOT_MINE
 * for an option the caller handles itself, or CLI_EXIT_USAGE after printing what is wrong with
 * the value. arg is borrowed (argv outlives the command). */
int cli_req_opt(cli_req_opts *o, int c, const char *arg);

/* Prints the shared options' lines of a command's --help. */
void cli_req_opts_help(FILE *f);

/* True for a local model spec: "local/NAME" or a path ("/x", "./x", "../x", "x.gguf"). */
bool cli_is_local_spec(const char *model);

/* The request of a one-shot command (`llmux run`, `llmux ipc`): o's model, system prompt,
 * sampling and deadline, and one user message whose text is prompt (borrowed). part and msg hold
 * that message and must outlive the request. */
llmux_request cli_req_request(const cli_req_opts *o, const char *prompt, bool stream, llmux_part *part,
                              llmux_message *msg);

/* Creates the runtime for o, allowed to load `model` (o->model, or another one a command switches
 * to): the --model-dir directories, the directory of a model given as a path, the bundled model's
 * directory; --base-url/--api-key configure the provider named by o->model's prefix. Returns 0,
 * or prints the error (usage or llmux class) and returns its exit code. */
int cli_req_runtime(cli_req_opts *o, const char *model, llmux_runtime **rt);

#endif
