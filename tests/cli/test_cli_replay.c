/* `llmux run` records every execution (here into a scratch SQLite file through $LLMUX_RECORDS)
 * and `llmux replay ID` runs it again: the same answer for a greedy local run, a new execution
 * id, and a record that links to the original. */
#define _DEFAULT_SOURCE
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/cli_run.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"

static char g_env[600];

static json_t *run_json(const char *args, cli_result *r) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s %s %s", g_env, LLMUX, args);
    cli_run(cmd, r);
    if (r->code != 0) fprintf(stderr, "%s: %s", args, r->err);
    assert_int_equal(r->code, 0);
    json_t *o = json_loads(r->out, 0, NULL);
    assert_non_null(o);
    return o;
}

static void test_run_then_replay(void **state) {
    (void)state;
    cli_result *r = malloc(sizeof *r);
    json_t *first = run_json("run --json -t 0 -n 12 'A fool'", r);
    const char *id = json_string_value(json_object_get(first, "execution_id"));
    assert_non_null(id);
    assert_int_equal(strncmp(id, "exec_", 5), 0);
    char args[256];
    snprintf(args, sizeof args, "replay --json %s", id);
    json_t *again = run_json(args, r);
    const char *id2 = json_string_value(json_object_get(again, "execution_id"));
    assert_string_not_equal(id2, id);
    /* Greedy, same request, same model: the same answer. */
    assert_true(json_equal(json_object_get(again, "content"), json_object_get(first, "content")));
    snprintf(args, sizeof args, "records show --json %s", id2);
    json_t *rec = run_json(args, r);
    assert_string_equal(json_string_value(json_object_get(rec, "replay_of")), id);
    assert_true(json_array_size(json_object_get(rec, "attempts")) >= 1);
    json_decref(rec);
    json_decref(first);
    json_decref(again);
    /* An unknown id: invalid_request (exit 11), nothing run. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s %s replay exec_000000000000000000000000", g_env, LLMUX);
    cli_run(cmd, r);
    assert_int_equal(r->code, 11);
    assert_non_null(strstr(r->err, "exec_000000000000000000000000"));
    free(r);
}

static int setup(void **state) {
    (void)state;
    if (cli_scratch_create("llmux-replay") != 0) return -1;
    snprintf(g_env, sizeof g_env, "LLMUX_RECORDS=sqlite:%s/records.db", cli_scratch());
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run_then_replay)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
