/* `llmux records list|show|export`: reading execution records through the public API
 * (llmux_records_*). The API speaks JSON; records_text.c renders the text forms from it. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "config/config.h"

/* records_text.c */
void cli_records_print_line(const json_t *rec);
void cli_records_print_show(const json_t *rec);

#define EXPORT_PAGE 200

static void records_usage(FILE *f) {
    fputs("usage: llmux records list [--since T] [--model M] [--status S] [--limit N] [--json]\n"
          "       llmux records show ID [--json]\n"
          "       llmux records export --jsonl [--since T] [--model M] [--status S]\n"
          "\n"
          "Reads the execution records: every execution with its attempts, usage and cost.\n"
          "  list     newest first, one per line: id, start time, status, model, duration, tokens, cost\n"
          "  show     one execution with every attempt, the plan, the request and the response\n"
          "  export   every matching record with its attempts, one JSON object per line\n"
          "\n"
          "options:\n"
          "      --records URL     the database: sqlite:PATH or postgresql://...; default: $LLMUX_RECORDS,\n"
          "                        else llmux.yaml's records:, else sqlite:$XDG_DATA_HOME/llmux/records.db\n"
          "                        (~/.local/share/llmux/); none (at any of these) = records off\n"
          "      --since T         started at or after T: RFC 3339 (2026-12-01T03:00:00Z), a date, or a\n"
          "                        duration before now (90s, 30m, 1h, 7d, 2w)\n"
          "      --model M         requested model or alias, or the model that answered\n"
          "      --status S        final status: ok, cancelled, rate_limited, timeout, ... (llmux_status names)\n"
          "      --limit N         most records listed, 1..10000; default 100\n"
          "      --json            JSON lines (list) or one JSON object (show)\n"
          "      --jsonl           (export) JSON lines, the only export format\n"
          "  -h, --help            show this help\n",
          f);
}

/* -------------------------------------------------------------- commands */

typedef struct opts {
    const char *records;
    int64_t since_ms;
    const char *model, *status;
    long limit;
    bool json, jsonl;
} opts;

enum { OPT_RECORDS = 256, OPT_SINCE, OPT_MODEL, OPT_STATUS, OPT_LIMIT, OPT_JSON, OPT_JSONL };

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses options after the subcommand; the positional arguments stay in argv[optind..). */
static int parse(int argc, char **argv, opts *o) {
    static const struct option longopts[] = {{"records", required_argument, NULL, OPT_RECORDS},
                                             {"since", required_argument, NULL, OPT_SINCE},
                                             {"model", required_argument, NULL, OPT_MODEL},
                                             {"status", required_argument, NULL, OPT_STATUS},
                                             {"limit", required_argument, NULL, OPT_LIMIT},
                                             {"json", no_argument, NULL, OPT_JSON},
                                             {"jsonl", no_argument, NULL, OPT_JSONL},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_RECORDS: o->records = optarg; break;
        case OPT_SINCE:
            if (cli_parse_since(optarg, now_ms(), &o->since_ms) != 0) return CLI_EXIT_USAGE;
            break;
        case OPT_MODEL: o->model = optarg; break;
        case OPT_STATUS:
            if (!llmux_status_from_name(optarg, NULL))
                return cli_usage_error("--status %s: not a status name (ok, cancelled, rate_limited, timeout, ...)",
                                       optarg);
            o->status = optarg;
            break;
        case OPT_LIMIT: {
            char *end;
            errno = 0;
            o->limit = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || o->limit < 1 || o->limit > 10000)
                return cli_usage_error("--limit %s: expected a number from 1 to 10000", optarg);
            break;
        }
        case OPT_JSON: o->json = true; break;
        case OPT_JSONL: o->jsonl = true; break;
        case 'h': records_usage(stdout); return -1;
        case ':': return cli_usage_error("option %s needs a value (see `llmux records --help`)", argv[optind - 1]);
        default: return cli_usage_error("unknown option %s (see `llmux records --help`)", argv[optind - 1]);
        }
    }
    return 0;
}

/* Opens the database. A SQLite file that does not exist is an error rather than an empty database
 * created by a read command (a typo in --records would otherwise look like "no records"). */
static int open_records(const opts *o, llmux_records **rec) {
    char buf[4096];
    lx_config *cfg = NULL; /* llmux.yaml's records:, when the flag and the environment say nothing */
    int cfg_code = cli_config_open(NULL, &cfg);
    if (cfg_code != 0) return cfg_code;
    char chosen[4096];
    bool off = cli_records_off(o->records, cfg);
    const char *found = cli_records_url_cfg(o->records, cfg, buf, sizeof buf, NULL);
    const char *url = found ? (snprintf(chosen, sizeof chosen, "%s", found), chosen) : NULL;
    lx_config_free(cfg);
    if (off)
        return cli_fail(LLMUX_E_CONFIGURATION,
                        "records: off (\"none\" in --records, $LLMUX_RECORDS or llmux.yaml); nothing is recorded");
    if (!url) return cli_fail(LLMUX_E_CONFIGURATION, "records: no database: pass --records URL or set LLMUX_RECORDS");
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        if (strncmp(path, "//", 2) == 0) path += 2;
        struct stat st;
        if (*path && stat(path, &st) != 0) {
            char msg[4200];
            snprintf(msg, sizeof msg, "records: no database at %s (nothing recorded there yet)", path);
            return cli_fail(LLMUX_E_CONFIGURATION, msg);
        }
    }
    llmux_error_info err;
    llmux_status st = llmux_records_open(url, rec, &err);
    return st == LLMUX_OK ? 0 : cli_fail(st, err.message);
}

static int each_line(const char *jsonl, void (*fn)(const json_t *)) {
    for (const char *p = jsonl; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_t *v = json_loadb(p, n, 0, NULL);
        if (!v) return cli_fail(LLMUX_E_INTERNAL, "records: the library returned a line that is not JSON");
        fn(v);
        json_decref(v);
        p += n + (nl ? 1 : 0);
    }
    return 0;
}

static int cmd_list(const opts *o, llmux_records *rec) {
    llmux_records_filter f = llmux_records_filter_default();
    f.since_ms = o->since_ms;
    f.model = o->model;
    f.status = o->status;
    f.limit = (size_t)o->limit;
    char *jsonl = NULL;
    llmux_error_info err;
    llmux_status st = llmux_records_list(rec, &f, &jsonl, &err);
    if (st != LLMUX_OK) return cli_fail(st, err.message);
    int code = 0;
    if (o->json) fputs(jsonl, stdout);
    else code = each_line(jsonl, cli_records_print_line);
    llmux_free(jsonl);
    return code;
}

static int cmd_show(const opts *o, llmux_records *rec, const char *id) {
    char *json = NULL;
    llmux_error_info err;
    llmux_status st = llmux_records_get(rec, id, &json, &err);
    if (st != LLMUX_OK) return cli_fail(st, err.message);
    int code = 0;
    if (o->json) {
        fputs(json, stdout);
        fputc('\n', stdout);
    } else {
        code = each_line(json, cli_records_print_show);
    }
    llmux_free(json);
    return code;
}

/* Pages of EXPORT_PAGE records, each page starting after the previous page's last id, so memory
 * stays bounded whatever the database holds. */
static int cmd_export(const opts *o, llmux_records *rec) {
    llmux_records_filter f = llmux_records_filter_default();
    f.since_ms = o->since_ms;
    f.model = o->model;
    f.status = o->status;
    f.limit = EXPORT_PAGE;
    f.with_attempts = true;
    char last[256] = "";
    for (;;) {
        char *jsonl = NULL;
        llmux_error_info err;
        f.before_id = *last ? last : NULL;
        llmux_status st = llmux_records_list(rec, &f, &jsonl, &err);
        if (st != LLMUX_OK) return cli_fail(st, err.message);
        fputs(jsonl, stdout);
        /* The last line's id is the next page's cursor. */
        size_t lines = 0;
        const char *last_line = NULL;
        for (const char *p = jsonl; *p; p = strchr(p, '\n') + 1) {
            last_line = p;
            lines++;
        }
        if (last_line) {
            json_t *v = json_loadb(last_line, strcspn(last_line, "\n"), 0, NULL);
            const char *id = json_string_value(json_object_get(v, "id"));
            snprintf(last, sizeof last, "%s", id ? id : "");
            json_decref(v);
        }
        llmux_free(jsonl);
        if (lines < EXPORT_PAGE || !*last) break;
        if (!cli_stdout_ok()) return cli_io_error("write error", NULL, errno);
    }
    return 0;
}

int cli_cmd_records(int argc, char **argv) {
    if (argc < 2) {
        records_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        records_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "export") != 0)
        return cli_usage_error("unknown records command \"%s\" (list, show, export)", sub);
    opts o = {0};
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc != 0) return rc < 0 ? 0 : rc;
    int positional = argc - 1 - optind;
    const char *id = NULL;
    if (strcmp(sub, "show") == 0) {
        if (positional != 1) return cli_usage_error("records show needs one execution ID");
        id = argv[1 + optind];
        if (o.since_ms || o.model || o.status || o.limit || o.jsonl)
            return cli_usage_error("records show takes only ID, --json and --records");
    } else if (positional != 0) {
        return cli_usage_error("unexpected argument \"%s\"", argv[1 + optind]);
    }
    if (strcmp(sub, "export") == 0) {
        if (!o.jsonl) return cli_usage_error("records export needs --jsonl (the only export format)");
        if (o.limit || o.json) return cli_usage_error("records export takes --jsonl, not --limit or --json");
    } else if (strcmp(sub, "list") == 0 && o.jsonl) {
        return cli_usage_error("records list: use --json for JSON lines");
    }
    llmux_records *rec = NULL;
    int code = open_records(&o, &rec);
    if (code != 0) return code;
    if (strcmp(sub, "list") == 0) code = cmd_list(&o, rec);
    else if (strcmp(sub, "show") == 0) code = cmd_show(&o, rec, id);
    else code = cmd_export(&o, rec);
    llmux_records_close(rec);
    if (code == 0 && !cli_stdout_ok()) code = cli_io_error("write error", NULL, errno);
    return code;
}
