/* `llmux records list/show/export` on a SQLite file populated through the store: filters, the
 * text and JSON forms, every attempt in show, paged export of more records than one page, the
 * database's resolution (--records, $LLMUX_RECORDS, $XDG_DATA_HOME), records turned off with
 * "none" (llmux.yaml, $LLMUX_RECORDS, --records) and input validation. */
#define _XOPEN_SOURCE 700
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "store/store.h"
#include "support/cli_run.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define BULK 250 /* more than one export page (200) */

/* 2026-11-30T22:00:00Z, the instant "2026-12-01T00:00:00+02:00" names. */
#define T_MIDNIGHT_PLUS2 1796076000000LL

static char g_db[512], g_url[600];
static int64_t g_now;

static char *dup_(const char *s) { return s ? strdup(s) : NULL; }

static lx_exec_record *rec(const char *id, int64_t t, const char *model, llmux_status st, size_t n_attempts) {
    lx_exec_record *r = calloc(1, sizeof *r);
    r->id = dup_(id);
    r->started_at_ms = t;
    r->ended_at_ms = t + 321;
    r->requested_model = dup_(model);
    if (st == LLMUX_OK) {
        r->model = dup_("gpt-4o");
        r->provider = dup_("openai");
    }
    r->status = st;
    r->finish_reason = st == LLMUX_OK ? LLMUX_FINISH_STOP : st == LLMUX_E_CANCELLED ? LLMUX_FINISH_CANCELLED : LLMUX_FINISH_ERROR;
    if (st != LLMUX_OK) r->error_message = dup_("upstream said no");
    r->usage = llmux_usage_default();
    r->usage.input_tokens = 11;
    r->usage.output_tokens = 22;
    r->cost = (llmux_cost){.known = true, .input = 0.25, .output = 0.5, .total = 0.75};
    r->cost_source = dup_("catalog");
    r->plan_json = dup_("{\"targets\":[\"openai/gpt-4o\",\"anthropic/claude-sonnet-4-5\"]}");
    r->request_json = dup_("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    r->response_text = st == LLMUX_OK ? dup_("hello\x1b[31m there") : NULL;
    r->n_attempts = n_attempts;
    r->attempts = n_attempts ? calloc(n_attempts, sizeof *r->attempts) : NULL;
    for (size_t i = 0; i < n_attempts; i++) {
        lx_attempt_record *a = &r->attempts[i];
        bool last = i + 1 == n_attempts;
        a->n = (int32_t)i;
        a->target = dup_(i % 2 ? "anthropic/claude-sonnet-4-5" : "openai/gpt-4o");
        a->started_at_ms = t + (int64_t)i * 10;
        a->status = last ? st : LLMUX_E_RATE_LIMITED;
        a->http_status = a->status == LLMUX_E_RATE_LIMITED ? 429 : a->status == LLMUX_OK ? 200 : 0;
        a->error_message = a->status == LLMUX_OK ? NULL : dup_("slow down");
        a->retry_delay_ms = last ? -1 : 250;
        a->ttft_ms = a->status == LLMUX_OK ? 80 : -1;
        a->duration_ms = 100.5;
    }
    return r;
}

static int setup(void **state) {
    if (cli_scratch_create("llmux-cli-records") != 0) return -1;
    snprintf(g_db, sizeof g_db, "%s/data/llmux/records.db", cli_scratch());
    snprintf(g_url, sizeof g_url, "sqlite:%s", g_db);
    g_now = (int64_t)time(NULL) * 1000;
    lx_store *s;
    llmux_error_info e;
    if (lx_store_open(g_url, &s, &e) != LLMUX_OK) return -1;
    lx_exec_record *v[BULK + 6];
    size_t n = 0;
    v[n++] = rec("exec-ok", g_now - 30 * 60000, "smart", LLMUX_OK, 1);
    v[n++] = rec("exec-err", g_now - 40 * 60000, "smart", LLMUX_E_OVERLOADED, 3);
    v[n++] = rec("exec-cancel", g_now - 50 * 60000, "cheap", LLMUX_E_CANCELLED, 2);
    v[n++] = rec("exec-old", g_now - 3 * 3600000, "cheap", LLMUX_OK, 1);
    v[n++] = rec("exec-before-midnight", T_MIDNIGHT_PLUS2 - 1, "dated", LLMUX_OK, 1);
    v[n++] = rec("exec-at-midnight", T_MIDNIGHT_PLUS2, "dated", LLMUX_OK, 1);
    for (int i = 0; i < BULK; i++) {
        char id[32];
        snprintf(id, sizeof id, "bulk-%03d", i);
        v[n++] = rec(id, 1000000 + i, "bulk", LLMUX_OK, 1);
    }
    llmux_status st = lx_store_insert(s, v, n, &e);
    for (size_t i = 0; i < n; i++) lx_exec_record_free(v[i]);
    lx_store_close(s);
    return st == LLMUX_OK ? 0 : -1;
}

static int teardown(void **state) { return cli_scratch_remove(); }

static void run(const char *args, cli_result *r) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "LLMUX_RECORDS= %s records %s --records '%s'", LLMUX, args, g_url);
    cli_run(cmd, r);
}

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_list_text(void **state) {
    cli_result r;
    run("list --limit 3", &r);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 3);
    /* Newest first: the two 2026-11-30 ones are older than "now" only if the clock is past
     * them; the recent ones are always newer than bulk. */
    assert_non_null(strstr(r.out, "exec-ok\t"));
    const char *ok = strstr(r.out, "exec-ok\t");
    assert_non_null(strstr(ok, "\tok\tsmart -> openai/gpt-4o\t321ms\tin=11 out=22\tcost=$0.75\n"));
    assert_true(strstr(r.out, "exec-ok") < strstr(r.out, "exec-err"));
    /* Default limit: 100. */
    run("list", &r);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 100);
}

static void test_list_filters(void **state) {
    cli_result r;
    run("list --status cancelled", &r);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_non_null(strstr(r.out, "exec-cancel\t"));
    run("list --model smart --json", &r);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 2);
    json_error_t je;
    json_t *first = json_loadb(r.out, strcspn(r.out, "\n"), 0, &je);
    assert_non_null(first);
    assert_string_equal(json_string_value(json_object_get(first, "id")), "exec-ok");
    assert_null(json_object_get(first, "attempts")); /* list leaves attempts out */
    json_decref(first);
    /* Answered-by model matches too. */
    run("list --model gpt-4o --since 2h", &r);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_non_null(strstr(r.out, "exec-ok\t"));
    /* A duration: the last hour holds the three recent ones, not the 3-hour-old one. */
    run("list --since 1h", &r);
    assert_int_equal(count_lines(r.out), 3);
    assert_null(strstr(r.out, "exec-old"));
    run("list --since 4h --model cheap", &r);
    assert_int_equal(count_lines(r.out), 2);
    /* RFC 3339 with an offset: the exact instant, to the millisecond. */
    run("list --model dated --since 2026-12-01T00:00:00+02:00", &r);
    assert_int_equal(r.code, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_non_null(strstr(r.out, "exec-at-midnight\t"));
    run("list --model dated --since 2026-11-30T21:59:59.999Z", &r);
    assert_int_equal(count_lines(r.out), 2);
    run("list --model nothing-like-this", &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "");
}

static void test_show(void **state) {
    cli_result r;
    run("show exec-err", &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "status:         overloaded\n"));
    assert_non_null(strstr(r.out, "attempts:       3\n"));
    assert_non_null(strstr(r.out, "  #0  openai/gpt-4o  "));
    assert_non_null(strstr(r.out, "rate_limited  http=429  duration=100.5ms  then waited 250ms  error: slow down\n"));
    assert_non_null(strstr(r.out, "  #2  openai/gpt-4o  "));
    assert_non_null(strstr(r.out, "plan:           {\"targets\":[\"openai/gpt-4o\",\"anthropic/claude-sonnet-4-5\"]}"));
    /* The response's escape sequence never reaches the terminal. */
    run("show exec-ok", &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "response:\nhello?[31m there\n"));
    assert_non_null(strstr(r.out, "ttft=80ms"));
    run("show exec-cancel --json", &r);
    assert_int_equal(r.code, 0);
    json_t *v = json_loads(r.out, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "finish_reason")), "cancelled");
    assert_int_equal(json_array_size(json_object_get(v, "attempts")), 2);
    json_decref(v);
}

static void test_export(void **state) {
    char path[600], cmd[2048];
    snprintf(path, sizeof path, "%s/export.jsonl", cli_scratch());
    snprintf(cmd, sizeof cmd, "LLMUX_RECORDS='%s' %s records export --jsonl > '%s'", g_url, LLMUX, path);
    cli_result r;
    cli_run(cmd, &r);
    assert_int_equal(r.code, 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1 << 14];
    size_t n = 0, bulk = 0;
    char prev[64] = "";
    while (fgets(line, sizeof line, f)) {
        json_t *v = json_loads(line, 0, NULL);
        assert_non_null(v);
        const char *id = json_string_value(json_object_get(v, "id"));
        assert_non_null(id);
        assert_true(json_is_array(json_object_get(v, "attempts")));
        if (strncmp(id, "bulk-", 5) == 0) {
            /* Pages join without a gap or a repeat: descending, one by one. */
            if (*prev) assert_int_equal(atoi(prev + 5) - 1, atoi(id + 5));
            snprintf(prev, sizeof prev, "%s", id);
            bulk++;
        }
        n++;
        json_decref(v);
    }
    fclose(f);
    assert_int_equal(bulk, BULK);
    assert_int_equal(n, BULK + 6);
    snprintf(cmd, sizeof cmd, "%s records export --records '%s' --status cancelled --jsonl", LLMUX, g_url);
    cli_run(cmd, &r);
    assert_int_equal(count_lines(r.out), 1);
}

static void test_database_resolution(void **state) {
    cli_result r;
    char cmd[2048];
    /* $XDG_DATA_HOME/llmux/records.db is the default (the test's file lives there). */
    snprintf(cmd, sizeof cmd, "env -u LLMUX_RECORDS XDG_DATA_HOME='%s/data' %s records list --status cancelled",
             cli_scratch(), LLMUX);
    cli_run(cmd, &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "exec-cancel"));
    /* $LLMUX_RECORDS wins over it, --records over both. */
    snprintf(cmd, sizeof cmd, "LLMUX_RECORDS='sqlite:%s/none.db' XDG_DATA_HOME='%s/data' %s records list", cli_scratch(),
             cli_scratch(), LLMUX);
    cli_run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(r.err, "none.db"));
    snprintf(cmd, sizeof cmd, "LLMUX_RECORDS='sqlite:%s/none.db' %s records list --records '%s' --status cancelled",
             cli_scratch(), LLMUX, g_url);
    cli_run(cmd, &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "exec-cancel"));
    /* A server URL's password never shows in an error. */
    snprintf(cmd, sizeof cmd, "%s records list --records 'postgresql://u:hunter2-secret@127.0.0.1:1/db'", LLMUX);
    cli_run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    assert_null(strstr(r.err, "hunter2"));
    assert_non_null(strstr(r.err, "u:***@"));
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* A `llmux run` (the bundled model, a few tokens) with HOME and XDG_DATA_HOME in a fresh
 * directory `name` of the scratch directory and the given environment; whether the default
 * database appeared there. */
static bool run_creates_default_db(const char *name, const char *env) {
    char home[700], data[700], cmd[3000], db[800], db_home[800];
    snprintf(home, sizeof home, "%s/%s-home", cli_scratch(), name);
    snprintf(data, sizeof data, "%s/%s-data", cli_scratch(), name);
    assert_int_equal(mkdir(home, 0700), 0);
    snprintf(cmd, sizeof cmd, "env -u LLMUX_RECORDS HOME='%s' XDG_DATA_HOME='%s' %s %s run -t 0 -n 4 'Hello'", home,
             data, env, LLMUX);
    cli_result *r = malloc(sizeof *r);
    cli_run(cmd, r);
    if (r->code != 0) fprintf(stderr, "%s: %s", cmd, r->err);
    assert_int_equal(r->code, 0);
    assert_null(strstr(r->err, "warning")); /* off is not a failure to open the database */
    free(r);
    snprintf(db, sizeof db, "%s/llmux/records.db", data);
    snprintf(db_home, sizeof db_home, "%s/.local/share/llmux/records.db", home);
    assert_false(exists(db_home)); /* XDG_DATA_HOME is set: never the home's */
    return exists(db);
}

/* The same for `llmux serve` (started, then stopped once it serves): the store is opened when the
 * runtime is created, so the file exists from then on when records are on. */
static bool serve_creates_default_db(const char *name, const char *cfg) {
    char home[700], data[700], out[800], cmd[4000], db[800];
    snprintf(home, sizeof home, "%s/%s-home", cli_scratch(), name);
    snprintf(data, sizeof data, "%s/%s-data", cli_scratch(), name);
    snprintf(out, sizeof out, "%s/%s.out", cli_scratch(), name);
    assert_int_equal(mkdir(home, 0700), 0);
    snprintf(cmd, sizeof cmd,
             "env -u LLMUX_RECORDS HOME='%s' XDG_DATA_HOME='%s' LLMUX_CONFIG='%s' "
             "%s serve --listen 127.0.0.1:0 >'%s' & "
             "p=$!; for i in $(seq 200); do grep -q 'serving on' '%s' && break; sleep 0.05; done; "
             "kill -TERM $p; wait $p; grep -q 'serving on' '%s'",
             home, data, cfg, LLMUX, out, out, out);
    cli_result *r = malloc(sizeof *r);
    cli_run(cmd, r);
    if (r->code != 0) fprintf(stderr, "%s: %s", cmd, r->err);
    assert_int_equal(r->code, 0);
    free(r);
    snprintf(db, sizeof db, "%s/llmux/records.db", data);
    return exists(db);
}

static void test_records_none(void **state) {
    char cfg_none[700], cfg_plain[700], env[1600];
    snprintf(cfg_none, sizeof cfg_none, "%s/none.yaml", cli_scratch());
    snprintf(cfg_plain, sizeof cfg_plain, "%s/plain.yaml", cli_scratch());
    FILE *f = fopen(cfg_none, "w");
    assert_non_null(f);
    fputs("records: none\n", f);
    fclose(f);
    f = fopen(cfg_plain, "w");
    assert_non_null(f);
    fputs("cooldown: {failures: 3}\n", f);
    fclose(f);
    /* Without `records:` a run lands in the default database: what the checks below would see. */
    snprintf(env, sizeof env, "LLMUX_CONFIG='%s'", cfg_plain);
    assert_true(run_creates_default_db("plain", env));
    /* `records: none`: no database anywhere. */
    snprintf(env, sizeof env, "LLMUX_CONFIG='%s'", cfg_none);
    assert_false(run_creates_default_db("cfg-none", env));
    /* And for `llmux serve`. */
    assert_true(serve_creates_default_db("serve-plain", cfg_plain));
    assert_false(serve_creates_default_db("serve-none", cfg_none));
    /* LLMUX_RECORDS=none likewise. */
    assert_false(run_creates_default_db("env-none", "LLMUX_RECORDS=none"));
    /* Reading records that are off says so rather than "no database at ...". */
    cli_result r;
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "env -u LLMUX_RECORDS LLMUX_CONFIG='%s' XDG_DATA_HOME='%s/data' %s records list",
             cfg_none, cli_scratch(), LLMUX);
    cli_run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(r.err, "records: off"));
    snprintf(cmd, sizeof cmd, "%s records list --records none", LLMUX);
    cli_run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(r.err, "records: off"));
    /* --records names a database: the file's none does not hide it. */
    snprintf(cmd, sizeof cmd, "LLMUX_CONFIG='%s' %s records list --records '%s' --status cancelled", cfg_none, LLMUX,
             g_url);
    cli_run(cmd, &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "exec-cancel"));
}

static void test_input_validation(void **state) {
    cli_result r;
    const char *usage_errors[] = {
        "list --limit 0",       "list --limit 10001",      "list --limit 5x",     "list --since yesterday",
        "list --since 1.5h",    "list --since 99999999d",  "list --status fine",  "list --since 2026-13-01",
        "list --since 2026-12-01T00:00:00", /* no offset */ "show",               "show a b",
        "export",               "export --jsonl --limit 3", "list extra",         "frobnicate",
    };
    for (size_t i = 0; i < sizeof usage_errors / sizeof usage_errors[0]; i++) {
        run(usage_errors[i], &r);
        if (r.code != 2) fprintf(stderr, "%s -> %d %s\n", usage_errors[i], r.code, r.err);
        assert_int_equal(r.code, 2);
    }
    run("show no-such-exec", &r);
    assert_int_equal(r.code, 10 + LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(r.err, "no record no-such-exec"));
    run("show 'bad id;'", &r);
    assert_int_equal(r.code, 10 + LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(r.err, "not a valid execution id"));
    char big[400];
    memset(big, 'm', 300);
    big[300] = '\0';
    char args[600];
    snprintf(args, sizeof args, "list --model %s", big);
    run(args, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_INVALID_REQUEST);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_text),   cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_show),        cmocka_unit_test(test_export),
        cmocka_unit_test(test_database_resolution), cmocka_unit_test(test_records_none),
        cmocka_unit_test(test_input_validation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
