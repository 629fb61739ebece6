/* llmux command-line interface: shared helpers of the subcommands. Uses the public API only. */
#ifndef LLMUX_CLI_H
#define LLMUX_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "config/config.h"
#include "llmux.h"

/* Exit codes: 0 success, 2 usage error, 3 an I/O error on the CLI's own stdin/stdout (a read
 * error on stdin, stdout full or its reader gone), 10 + llmux_status for a failed request
 * (docs/errors.md lists them). */
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_IO 3
#define CLI_EXIT_BASE 10

/* Prints "llmux: <class>: <message>" to stderr and returns the exit code for the class. */
int cli_fail(llmux_status st, const char *message);
/* Prints "llmux: <message>" and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Prints "llmux: <what>: <target>: <strerror>" (without target when NULL) and returns
 * CLI_EXIT_IO. */
int cli_io_error(const char *what, const char *target, int err_no);
/* Flushes stdout and reports whether everything written to it so far reached it; on false,
 * errno says why. */
bool cli_stdout_ok(void);

/* All of stdin, read in bounded memory. */
typedef enum cli_input_status {
    CLI_INPUT_OK = 0,
    CLI_INPUT_CLOSED,     /* fd 0 is not open */
    CLI_INPUT_READ_ERROR, /* read(2) failed: *err_no says why (EISDIR for a directory) */
    CLI_INPUT_TOO_BIG,    /* more than cap bytes (reading stopped at cap + 1) */
    CLI_INPUT_NUL,        /* a NUL byte at offset *len; *out holds the text (freed by the caller) */
    CLI_INPUT_NOMEM
} cli_input_status;
/* On OK (and NUL) *out is a malloc'd NUL-terminated copy of the input and *len its length (the
 * NUL's offset for NUL); otherwise *out is NULL. */
cli_input_status cli_read_stdin(size_t cap, char **out, size_t *len, int *err_no);
/* Reports a failed read: usage error for a closed stdin ("no <what>: stdin is closed"),
 * CLI_EXIT_IO for a read error, invalid_request past the cap or for a NUL byte (naming the cap
 * or the offset nul_at). Returns the exit code. */
int cli_input_fail(cli_input_status s, int err_no, size_t nul_at, const char *what, size_t cap);
/* Largest prompt read from stdin. */
#define CLI_MAX_STDIN_PROMPT ((size_t)16 * 1024 * 1024)
/* The prompt of `run` and `ipc`: arg when given (an explicit "" is allowed), else stdin, where an
 * empty read is refused (most likely a mistake: `< /dev/null`, a producer that failed). Returns 0
 * with *prompt set and *owned the copy to free (NULL for arg), else the exit code after printing
 * the error. */
int cli_read_prompt(const char *arg, char **owned, const char **prompt);

/* The overall deadline of a command (--timeout SECONDS). The default matches llmux.yaml's
 * timeouts.total_ms; the cap keeps a typo from meaning "forever". */
#define CLI_TIMEOUT_DEFAULT_MS 600000
#define CLI_TIMEOUT_MAX_S 604800
/* Parses --timeout's value into milliseconds: 0 on success, else prints the usage error and
 * returns CLI_EXIT_USAGE. */
int cli_parse_timeout(const char *s, int64_t *ms);
/* A timer thread that triggers `cancel` ms from now (llmux_run's backstop). NULL when cancel is NULL or ms <= 0 or on
 * failure (then there is no backstop; the request's own deadline still applies). */
typedef struct cli_deadline cli_deadline;
cli_deadline *cli_deadline_start(llmux_cancel *cancel, int64_t ms);
/* Stops and frees the timer (accepts NULL); true when it fired. */
bool cli_deadline_stop(cli_deadline *d);
/* st, or LLMUX_E_TIMEOUT (with a message written into msg) when the cancel came from the timer
 * and not from a signal. */
llmux_status cli_deadline_status(llmux_status st, bool fired, int64_t ms, char *msg, size_t size);
/* Monotonic milliseconds, to time a call made with llmux_call_params.deadline_ms. */
int64_t cli_now_ms(void);
/* For a call that ran under deadline_ms = ms from started_ms (llmux_embed, llmux_list_models):
 * when it timed out because that deadline passed (not an earlier connect or idle timeout), the
 * message names --timeout, as for `llmux run`. Returns st. */
llmux_status cli_deadline_named(llmux_status st, int64_t started_ms, int64_t ms, char *msg, size_t size);

/* Path of the bundled default model, or NULL when it cannot be found. Static storage. */
const char *cli_default_model_path(void);

/* A progress bar on stderr for model loading; draws nothing when stderr is not a terminal. */
void cli_progress(float progress, void *user_data);

/* A cancel token that SIGINT and SIGTERM trigger (cancel.c); NULL when out of memory (the
 * request then cannot be cancelled). One at a time: the handlers reach it through a global. */
llmux_cancel *cli_cancel_begin(void);
/* True when SIGINT or SIGTERM arrived since cli_cancel_begin. */
bool cli_cancel_signalled(void);
/* The first of those signals (SIGINT or SIGTERM); 0 when none arrived. */
int cli_cancel_signal(void);
/* Restores the default SIGINT/SIGTERM handlers, then destroys the token. */
void cli_cancel_end(void);

/* A runtime for remote commands: with base_url or api_key, `provider` is configured with them
 * (the runtime copies them); otherwise the runtime's defaults. */
llmux_status cli_runtime_for_provider(const char *provider, const char *base_url, const char *api_key,
                                      llmux_runtime **rt, llmux_error_info *err);
/* The same with a configuration file's settings (cfg may be NULL), its prices added to the
 * catalog; the flags win over the file. */
llmux_status cli_runtime_with_config(const lx_config *cfg, const char *provider, const char *base_url,
                                     const char *api_key, llmux_runtime **rt, llmux_error_info *err);

/* llmux.yaml (config_use.c). The file named by `llmux --config FILE <command>`; a command's own
 * --config wins. */
void cli_config_set_global(const char *path);
/* Finds (lx_config_find: path, else the global --config, else $LLMUX_CONFIG, ...) and loads the
 * configuration. 0 with *out NULL when there is no file; else *out is owned by the caller
 * (lx_config_free). On error prints it and returns the exit code (with *out NULL). */
int cli_config_open(const char *path, lx_config **out);
/* Overlays cfg (NULL = none) onto rp, then lets --base-url / --api-key (when given) override the
 * entry of `provider`. *owned is a provider array the caller frees after llmux_runtime_create
 * (NULL when none was needed). */
llmux_status cli_config_runtime_params(const lx_config *cfg, const char *provider, const char *base_url,
                                       const char *api_key, llmux_runtime_params *rp, llmux_provider_params **owned,
                                       llmux_error_info *err);
/* Adds the file's prices: to the runtime's catalog. */
llmux_status cli_config_prices(llmux_runtime *rt, const lx_config *cfg, llmux_error_info *err);
/* The default of --timeout: timeouts.total_ms of the file, else CLI_TIMEOUT_DEFAULT_MS. */
int64_t cli_config_timeout_ms(const lx_config *cfg);

int cli_cmd_run(int argc, char **argv);
int cli_cmd_replay(int argc, char **argv);
int cli_cmd_config(int argc, char **argv);
int cli_cmd_models(int argc, char **argv);
/* `llmux models load|unload|ps` against a running server (cmd_models_admin.c); argv[0] is the verb. */
int cli_cmd_models_admin(int argc, char **argv);
/* `llmux info` (cmd_info.c). */
int cli_cmd_info(int argc, char **argv);
/* `llmux models --catalog [--json]` (cmd_models_catalog.c); returns the exit code. */
int cli_models_catalog(const lx_config *cfg, int json);
int cli_cmd_embed(int argc, char **argv);
int cli_cmd_chat(int argc, char **argv);
int cli_cmd_records(int argc, char **argv);
int cli_cmd_serve(int argc, char **argv);
int cli_cmd_ipc(int argc, char **argv);
int cli_cmd_engine(int argc, char **argv);

/* The execution records database (records_url.c): flag (--records) if set, else $LLMUX_RECORDS,
 * else "sqlite:$XDG_DATA_HOME/llmux/records.db" (~/.local/share/llmux/records.db). The default is
 * written into buf. NULL when no default can be formed (no HOME). */
const char *cli_records_url(const char *flag, char *buf, size_t size);
/* The same with llmux.yaml's `records:` between the environment and the default: flag, then
 * $LLMUX_RECORDS, then the file, then the default (*is_default set, when not NULL). NULL when
 * the first of those that is set says "none" (cli_records_off). */
const char *cli_records_url_cfg(const char *flag, const lx_config *cfg, char *buf, size_t size, bool *is_default);
/* True when records are turned off: the first of flag, $LLMUX_RECORDS and llmux.yaml's
 * `records:` that is set is "none". cfg may be NULL. */
bool cli_records_off(const char *flag, const lx_config *cfg);
/* --since's value (since.c): RFC 3339, a date, or a duration before now_ms ("30m", "7d"); unix
 * epoch ms into *out. 0 on success, else prints the usage error and returns CLI_EXIT_USAGE. */
int cli_parse_since(const char *s, int64_t now_ms, int64_t *out);

/* JSON output helpers (json_out.c): a quoted, escaped string (NULL as ""); a number in its
 * shortest round-trip form, null when not finite; the same for a float. */
void cli_json_string(FILE *f, const char *s);
void cli_json_number(FILE *f, double v);
void cli_json_float(FILE *f, float v);

#endif
