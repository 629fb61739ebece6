/* `llmux config check [FILE]`: validates a llmux.yaml and prints what it resolves to. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void config_usage(FILE *f) {
    fputs("usage: llmux config check [FILE]\n"
          "\n"
          "Validates FILE (default: the file llmux would use: --config, $LLMUX_CONFIG, ./llmux.yaml,\n"
          "$XDG_CONFIG_HOME/llmux/llmux.yaml or ~/.config/llmux/llmux.yaml) and prints the resolved\n"
          "configuration: each model alias with its targets, weights, retry policy and fallback\n"
          "classes, the providers (where each key comes from, never the key), timeouts, cooldown,\n"
          "records and prices. docs/configuration.md describes every key.\n"
          "\n"
          "Exit status: 0 when the file is valid (or when there is none: the defaults apply), 24\n"
          "(configuration) with `llmux: configuration: FILE:LINE:COLUMN: KEY.PATH: problem`.\n",
          f);
}

static int check(const char *file) {
    lx_config *cfg = NULL;
    int code = cli_config_open(file, &cfg);
    if (code != 0) return code;
    if (!cfg) {
        printf("no configuration file (looked for $LLMUX_CONFIG, ./llmux.yaml, "
               "$XDG_CONFIG_HOME/llmux/llmux.yaml, ~/.config/llmux/llmux.yaml): the defaults apply\n");
        return 0;
    }
    lx_config_print(cfg, stdout);
    printf("%s: valid\n", lx_config_path(cfg));
    lx_config_free(cfg);
    return cli_stdout_ok() ? 0 : cli_io_error("write error", NULL, errno);
}

int cli_cmd_config(int argc, char **argv) {
    if (argc < 2) {
        config_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        config_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "check") != 0)
        return cli_usage_error("unknown config command \"%s\" (try `llmux config --help`)", argv[1]);
    const char *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && !file) {
            file = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("unknown option %s (see `llmux config --help`)", argv[i]);
        } else if (file) {
            return cli_usage_error("expected one FILE");
        } else {
            file = argv[i];
        }
    }
    return check(file);
}
