/* `llmux`: dispatches subcommands. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f) {
    fputs("usage: llmux <command> [options]\n"
          "       llmux --config FILE <command> [options]\n"
          "\n"
          "commands:\n"
          "  run [options] [PROMPT]   run one request and stream the answer (see `llmux run --help`)\n"
          "  models PROVIDER          list a remote provider's models, context lengths and prices\n"
          "  models --catalog         the model catalog: shipped prices (with dates) and configured ones\n"
          "  models load|unload NAME  load or unload a local model of a running server (also: models ps)\n"
          "  embed -m MODEL [TEXT...] embedding vectors of the texts, as JSON\n"
          "  chat [options]           a conversation with a model (see `llmux chat --help`)\n"
          "  records list|show|export execution records: attempts, usage, cost (see `llmux records --help`)\n"
          "  replay EXECUTION_ID      run a recorded execution again with its recorded plan\n"
          "  config check [FILE]      validate llmux.yaml and print what it resolves to\n"
          "  serve                    OpenAI- and Anthropic-compatible HTTP server (see `llmux serve --help`)\n"
          "  ipc --socket PATH PROMPT one request through `llmux serve --unix PATH` (see `llmux ipc --help`)\n"
          "  engine --socket PATH     the sandboxed engine process, local models over IPC (see `llmux engine --help`)\n"
          "  info [--server URL]      backends, CPU features, threads and loaded models (see `llmux info --help`)\n"
          "  help [COMMAND]           show help\n"
          "\n"
          "options:\n"
          "      --config FILE        the configuration file (docs/configuration.md); default:\n"
          "                           $LLMUX_CONFIG, ./llmux.yaml, ~/.config/llmux/llmux.yaml\n"
          "  -V, --version            print the version\n"
          "  -h, --help               show this help\n"
          "\n"
          "Without --model, `llmux run` uses the bundled default model (a tiny model trained on\n"
          "the Debian `fortunes` corpus), so it works without an API key or a download.\n",
          f);
}

static int dispatch(int argc, char **argv) {
    /* `llmux --config FILE <command> ...` (or --config=FILE): for every command that reads it. */
    while (argc >= 2 && strncmp(argv[1], "--config", 8) == 0 && (argv[1][8] == '\0' || argv[1][8] == '=')) {
        if (argv[1][8] == '=') {
            cli_config_set_global(argv[1] + 9);
            argv[1] = argv[0];
            argc -= 1;
            argv += 1;
        } else {
            if (argc < 3) return cli_usage_error("option --config needs a value");
            cli_config_set_global(argv[2]);
            argv[2] = argv[0];
            argc -= 2;
            argv += 2;
        }
    }
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        printf("llmux %s\n", llmux_version());
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (strcmp(cmd, "help") == 0 && argc > 2) {
            if (strcmp(argv[2], "run") == 0) {
                char *args[] = {"run", "--help", NULL};
                return cli_cmd_run(2, args);
            }
            if (strcmp(argv[2], "models") == 0) {
                char *args[] = {"models", "--help", NULL};
                return cli_cmd_models(2, args);
            }
            if (strcmp(argv[2], "embed") == 0) {
                char *args[] = {"embed", "--help", NULL};
                return cli_cmd_embed(2, args);
            }
            if (strcmp(argv[2], "chat") == 0) {
                char *args[] = {"chat", "--help", NULL};
                return cli_cmd_chat(2, args);
            }
            if (strcmp(argv[2], "replay") == 0) {
                char *args[] = {"replay", "--help", NULL};
                return cli_cmd_replay(2, args);
            }
            if (strcmp(argv[2], "records") == 0) {
                char *args[] = {"records", "--help", NULL};
                return cli_cmd_records(2, args);
            }
            if (strcmp(argv[2], "serve") == 0) {
                char *args[] = {"serve", "--help", NULL};
                return cli_cmd_serve(2, args);
            }
            if (strcmp(argv[2], "ipc") == 0) {
                char *args[] = {"ipc", "--help", NULL};
                return cli_cmd_ipc(2, args);
            }
            if (strcmp(argv[2], "engine") == 0) {
                char *args[] = {"engine", "--help", NULL};
                return cli_cmd_engine(2, args);
            }
            if (strcmp(argv[2], "info") == 0) {
                char *args[] = {"info", "--help", NULL};
                return cli_cmd_info(2, args);
            }
            if (strcmp(argv[2], "config") == 0) {
                char *args[] = {"config", "--help", NULL};
                return cli_cmd_config(2, args);
            }
            return cli_usage_error("unknown command \"%s\" (try `llmux help`)", argv[2]);
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0) return cli_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "models") == 0) return cli_cmd_models(argc - 1, argv + 1);
    if (strcmp(cmd, "embed") == 0) return cli_cmd_embed(argc - 1, argv + 1);
    if (strcmp(cmd, "chat") == 0) return cli_cmd_chat(argc - 1, argv + 1);
    if (strcmp(cmd, "records") == 0) return cli_cmd_records(argc - 1, argv + 1);
    if (strcmp(cmd, "replay") == 0) return cli_cmd_replay(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0) return cli_cmd_config(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return cli_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "ipc") == 0) return cli_cmd_ipc(argc - 1, argv + 1);
    if (strcmp(cmd, "engine") == 0) return cli_cmd_engine(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0) return cli_cmd_info(argc - 1, argv + 1);
    return cli_usage_error("unknown command \"%s\" (try `llmux help`)", cmd);
}

/* A closed fd 1 or 2 would be handed to the next open(): the runtime's model file or a log would
 * then receive the answer or the error messages. */
static bool fd_closed(int fd) { return fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

int main(int argc, char **argv) {
    if (fd_closed(STDERR_FILENO)) {
        /* Nobody to tell; keep the descriptor taken so nothing else lands on it. */
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0 && fd != STDERR_FILENO) {
            /* open() took a lower closed descriptor (0 or 1): move it to 2 and leave that one
             * closed, as it was, so its own check still sees it. */
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
    }
    if (fd_closed(STDOUT_FILENO)) {
        fputs("llmux: write error: stdout is closed\n", stderr);
        return CLI_EXIT_IO;
    }
    int code = dispatch(argc, argv);
    /* What a command printed last may still sit in stdio's buffer: a full disk or a closed pipe
     * must not turn into exit 0 (`llmux --version > /dev/full`). */
    if (code == 0 && !cli_stdout_ok()) code = cli_io_error("write error", NULL, errno);
    return code;
}
