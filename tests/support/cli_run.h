/* Running the built `llmux` binary from tests: one shell command line, its stdout, stderr (both
 * bounded) and exit code. Each test program makes one scratch directory for stderr capture and
 * whatever files it writes. */
#ifndef LX_CLI_RUN_H
#define LX_CLI_RUN_H

typedef struct cli_result {
    int code;            /* exit status; -1 when killed by a signal */
    char out[1 << 16];   /* stdout, NUL-terminated, truncated past the buffer */
    char err[8192];      /* stderr, likewise */
} cli_result;

/* Creates the scratch directory (mkdtemp under /tmp with the given prefix). 0 on success, so it
 * can serve as a cmocka group setup body. */
int cli_scratch_create(const char *prefix);
/* Removes it (rm -rf). 0 on success. */
int cli_scratch_remove(void);
/* The scratch directory's path. */
const char *cli_scratch(void);
/* Runs `cmdline` through /bin/sh; stderr is captured through a file in the scratch directory. */
void cli_run(const char *cmdline, cli_result *r);

#endif
