/* The execution log (src/telemetry/exec_log.c, telemetry.c): one JSON object per line with the
 * documented fields, the level filter, whole lines under concurrent writers, the line cap, and
 * a file that cannot be opened. Each line written is parsed back with jansson. */
#define _DEFAULT_SOURCE
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "telemetry/exec_log.h"
#include "telemetry/telemetry.h"

static char g_dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/lx_tel_log_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Every line of the file, parsed; fails the test on a line that is not a JSON object. */
static json_t *read_lines(const char *path) {
    FILE *f = fopen(path, "r");
    json_t *all = json_array();
    if (!f) return all;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        assert_int_equal(line[n - 1], '\n');
        json_error_t e;
        json_t *o = json_loadb(line, (size_t)n - 1, 0, &e);
        if (!o) fail_msg("not JSON: %s (%s)", line, e.text);
        assert_true(json_is_object(o));
        json_array_append_new(all, o);
    }
    free(line);
    fclose(f);
    return all;
}

static const lx_tel_attempt k_attempts[] = {
    {.target = "a/m", .provider = "a", .model = "m", .started_at_ms = 1700000000000, .duration_ms = 5,
     .ttft_ms = -1, .status = LLMUX_E_OVERLOADED, .http_status = 503, .error = "overloaded"},
    {.target = "a/m", .provider = "a", .model = "m", .started_at_ms = 1700000000010, .duration_ms = 5,
     .ttft_ms = -1, .status = LLMUX_E_OVERLOADED, .http_status = 503, .error = "overloaded"},
    {.target = "b/m", .provider = "b", .model = "m", .started_at_ms = 1700000000020, .duration_ms = 30,
     .ttft_ms = 12, .status = LLMUX_OK, .http_status = 200, .error = ""},
};

static lx_tel_execution ok_execution(void) {
    return (lx_tel_execution){.accepted = true, .execution_id = "exec_1", .request_id = "req-1", .key_name = "team-a",
                              .requested_model = "smart", .model = "m", .provider = "b", .operation = "chat",
                              .stream = true, .status = LLMUX_OK, .started_at_ms = 1700000000000,
                              .latency_ms = 50.25, .ttft_ms = 32.5, .queued_ms = -1, .input_tokens = 11,
                              .output_tokens = 4, .cost_known = true, .cost_usd = 0.00125, .attempts = k_attempts,
                              .n_attempts = 3};
}

static lx_tel_execution failed_execution(void) {
    return (lx_tel_execution){.accepted = true, .execution_id = "exec_2", .requested_model = "a/m", .provider = "a",
                              .model = "m", .status = LLMUX_E_RATE_LIMITED, .error = "rate limited \"quoted\"\nline",
                              .started_at_ms = 1700000000000, .latency_ms = 3, .ttft_ms = -1, .queued_ms = -1,
                              .input_tokens = -1, .output_tokens = -1, .attempts = k_attempts, .n_attempts = 1};
}

static lx_telemetry *open_tel(const char *log, llmux_log_level level) {
    lx_telemetry_params p = {.log = log, .log_level = level};
    lx_telemetry *t = NULL;
    llmux_error_info err;
    assert_int_equal(lx_telemetry_create(&p, &t, &err), LLMUX_OK);
    return t;
}

static void test_lines_and_fields(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/exec.log", g_dir);
    lx_telemetry *t = open_tel(path, LLMUX_LOG_INFO);
    lx_tel_execution a = ok_execution(), b = failed_execution(), c = failed_execution();
    c.requested_model = "bad\xff-model"; /* a refused request's model need not be UTF-8 */
    lx_telemetry_execution(t, &a);
    lx_telemetry_execution(t, &b);
    lx_telemetry_execution(t, &c);
    lx_telemetry_destroy(t);
    json_t *lines = read_lines(path);
    assert_int_equal(json_array_size(lines), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 2), "model")), "bad?-model");
    json_t *o = json_array_get(lines, 0);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "execution");
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "execution_id")), "exec_1");
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), "req-1");
    assert_string_equal(json_string_value(json_object_get(o, "key_name")), "team-a");
    assert_string_equal(json_string_value(json_object_get(o, "model")), "smart");
    assert_string_equal(json_string_value(json_object_get(o, "response_model")), "m");
    assert_string_equal(json_string_value(json_object_get(o, "provider")), "b");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
    assert_null(json_object_get(o, "error"));
    assert_true(json_is_true(json_object_get(o, "stream")));
    assert_true(json_number_value(json_object_get(o, "latency_ms")) == 50.25);
    assert_true(json_number_value(json_object_get(o, "ttft_ms")) == 32.5);
    assert_null(json_object_get(o, "queued_ms")); /* not measured: left out */
    assert_int_equal(json_integer_value(json_object_get(o, "input_tokens")), 11);
    assert_int_equal(json_integer_value(json_object_get(o, "output_tokens")), 4);
    assert_true(json_number_value(json_object_get(o, "cost_usd")) == 0.00125);
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "retries")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "fallbacks")), 1);
    assert_null(json_object_get(o, "attempt_list")); /* debug only */
    const char *ts = json_string_value(json_object_get(o, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24); /* 2026-12-01T05:30:00.123Z */
    assert_int_equal(ts[23], 'Z');
    o = json_array_get(lines, 1);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "rate_limited");
    assert_string_equal(json_string_value(json_object_get(o, "error")), "rate limited \"quoted\"\nline");
    assert_null(json_object_get(o, "input_tokens")); /* unknown: left out */
    assert_null(json_object_get(o, "ttft_ms"));
    assert_null(json_object_get(o, "request_id"));
    json_decref(lines);
}

static void test_levels(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/errors.log", g_dir);
    lx_telemetry *t = open_tel(path, LLMUX_LOG_ERROR);
    lx_tel_execution a = ok_execution(), b = failed_execution();
    lx_telemetry_execution(t, &a);
    lx_telemetry_execution(t, &b);
    lx_telemetry_destroy(t);
    json_t *lines = read_lines(path);
    assert_int_equal(json_array_size(lines), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "execution_id")), "exec_2");
    json_decref(lines);

    snprintf(path, sizeof path, "%s/debug.log", g_dir);
    t = open_tel(path, LLMUX_LOG_DEBUG);
    lx_telemetry_execution(t, &a);
    lx_telemetry_destroy(t);
    lines = read_lines(path);
    assert_int_equal(json_array_size(lines), 1);
    json_t *list = json_object_get(json_array_get(lines, 0), "attempt_list");
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "status")), "overloaded");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "http_status")), 503);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "target")), "b/m");
    json_decref(lines);

    /* off: nothing is opened or written */
    t = open_tel("off", LLMUX_LOG_DEBUG);
    lx_telemetry_execution(t, &a);
    lx_telemetry_destroy(t);
}

typedef struct writer_arg {
    lx_telemetry *t;
    int id;
} writer_arg;

static void *writer(void *p) {
    writer_arg *w = p;
    lx_tel_execution x = ok_execution();
    char id[32];
    x.execution_id = id;
    for (int i = 0; i < 500; i++) {
        snprintf(id, sizeof id, "exec_%d_%d", w->id, i);
        lx_telemetry_execution(w->t, &x);
    }
    return NULL;
}

static void test_concurrent_whole_lines(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/many.log", g_dir);
    lx_telemetry *t = open_tel(path, LLMUX_LOG_INFO);
    pthread_t th[8];
    writer_arg w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (writer_arg){.t = t, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, writer, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    lx_telemetry_destroy(t);
    json_t *lines = read_lines(path); /* every line parses: none interleaved */
    assert_int_equal(json_array_size(lines), 4000);
    json_decref(lines);
}

static void test_caps_and_errors(void **state) {
    (void)state;
    lx_exec_log *l = NULL;
    llmux_error_info err;
    assert_int_equal(lx_exec_log_open("/nonexistent-dir/x.log", LLMUX_LOG_INFO, &l, &err), LLMUX_E_CONFIGURATION);
    assert_null(l);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x.log"));
    char path[128];
    snprintf(path, sizeof path, "%s/cap.log", g_dir);
    assert_int_equal(lx_exec_log_open(path, LLMUX_LOG_INFO, &l, &err), LLMUX_OK);
    size_t big = LX_EXEC_LOG_MAX_LINE;
    char *line = malloc(big);
    memset(line, 'x', big);
    assert_false(lx_exec_log_write(l, LLMUX_LOG_INFO, line, big));             /* past the cap */
    assert_false(lx_exec_log_write(l, LLMUX_LOG_INFO, "a\nb", 3));             /* would split */
    assert_false(lx_exec_log_write(l, LLMUX_LOG_DEBUG, "{}", 2));              /* filtered: not counted */
    assert_true(lx_exec_log_write(l, LLMUX_LOG_INFO, line, 8192));             /* larger than the stack buffer */
    assert_int_equal(lx_exec_log_failed(l), 2);
    lx_exec_log_close(l);
    free(line);
    llmux_log_level lv;
    assert_true(lx_log_level_parse("warn", &lv));
    assert_int_equal(lv, LLMUX_LOG_WARN);
    assert_false(lx_log_level_parse("verbose", &lv));
    assert_false(lx_log_level_parse(NULL, &lv));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_and_fields),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_concurrent_whole_lines),
        cmocka_unit_test(test_caps_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
