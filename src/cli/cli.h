/* llmux command-line interface: shared helpers of the subcommands. Uses the public API only. */
#ifndef LLMUX_CLI_H
#define LLMUX_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "llmux.h"

/* Exit codes: 0 success, 2 usage error, 10 + llmux_status for a failed request
 * (docs/errors.md lists them). */
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_BASE 10

/* Prints "llmux: <class>: <message>" to stderr and returns the exit code for the class. */
int cli_fail(llmux_status st, const char *message);
/* Prints "llmux: <message>" and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Path of the bundled default model, or NULL when it cannot be found. Static storage. */
const char *cli_default_model_path(void);

/* A progress bar on stderr for model loading; draws nothing when stderr is not a terminal. */
void cli_progress(float progress, void *user_data);

/* A cancel token that SIGINT and SIGTERM trigger (cancel.c); NULL when out of memory (the
 * request then cannot be cancelled). One at a time: the handlers reach it through a global. */
llmux_cancel *cli_cancel_begin(void);
/* Restores the default SIGINT/SIGTERM handlers, then destroys the token. */
void cli_cancel_end(void);

/* A runtime for remote commands: with base_url or api_key, `provider` is configured with them
 * (the runtime copies them); otherwise the runtime's defaults. */
llmux_status cli_runtime_for_provider(const char *provider, const char *base_url, const char *api_key,
                                      llmux_runtime **rt, llmux_error_info *err);

int cli_cmd_run(int argc, char **argv);
int cli_cmd_models(int argc, char **argv);
int cli_cmd_embed(int argc, char **argv);

/* JSON output helpers (json_out.c): a quoted, escaped string (NULL as ""); a number in its
 * shortest round-trip form, null when not finite; the same for a float. */
void cli_json_string(FILE *f, const char *s);
void cli_json_number(FILE *f, double v);
void cli_json_float(FILE *f, float v);

#endif
