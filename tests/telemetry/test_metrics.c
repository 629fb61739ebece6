/* The metrics registry (src/telemetry/metrics.c): the Prometheus text format, label escaping,
 * histogram buckets, the label cardinality cap, the series cap, invalid definitions and
 * concurrent updates. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "telemetry/metrics.h"

static char *render(lx_metrics *m) {
    size_t len = 0;
    char *t = lx_metrics_render(m, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

static void test_text_format(void **state) {
    (void)state;
    lx_metrics *m = lx_metrics_create(16);
    const char *const labels[] = {"model", "status", NULL};
    int c = lx_metrics_define(m, "llmux_requests_total", "Requests.", LX_METRIC_COUNTER, labels, NULL, 0);
    int g = lx_metrics_define(m, "llmux_in_flight", "In flight.", LX_METRIC_GAUGE, NULL, NULL, 0);
    int v = lx_metrics_define(m, "vllm:prompt_tokens_total", "Prompt tokens.", LX_METRIC_COUNTER, NULL, NULL, 0);
    assert_true(c >= 0 && g >= 0 && v >= 0);
    const char *a[] = {"gpt", "ok"}, *b[] = {"gpt", "rate_limited"};
    lx_metrics_add(m, c, a, 1);
    lx_metrics_add(m, c, a, 2);
    lx_metrics_add(m, c, b, 1);
    lx_metrics_add(m, c, b, -5); /* a counter never goes down */
    lx_metrics_add(m, g, NULL, 3);
    lx_metrics_add(m, g, NULL, -1);
    lx_metrics_add(m, v, NULL, 0.5);
    char *t = render(m);
    const char *want = "# HELP llmux_requests_total Requests.\n"
                       "# TYPE llmux_requests_total counter\n"
                       "llmux_requests_total{model=\"gpt\",status=\"ok\"} 3\n"
                       "llmux_requests_total{model=\"gpt\",status=\"rate_limited\"} 1\n"
                       "# HELP llmux_in_flight In flight.\n"
                       "# TYPE llmux_in_flight gauge\n"
                       "llmux_in_flight 2\n"
                       "# HELP vllm:prompt_tokens_total Prompt tokens.\n"
                       "# TYPE vllm:prompt_tokens_total counter\n"
                       "vllm:prompt_tokens_total 0.5\n"
                       "# HELP llmux_metrics_series_dropped_total";
    assert_memory_equal(t, want, strlen(want));
    assert_non_null(strstr(t, "\nllmux_metrics_series_dropped_total 0\n"));
    free(t);
    lx_metrics_destroy(m);
}

static void test_escaping(void **state) {
    (void)state;
    lx_metrics *m = lx_metrics_create(16);
    const char *const labels[] = {"model", NULL};
    int c = lx_metrics_define(m, "x_total", "Back\\slash and\nnewline \"quoted\".", LX_METRIC_COUNTER, labels, NULL, 0);
    const char *v[] = {"a\"b\\c\nd}e"};
    lx_metrics_add(m, c, v, 1);
    char *t = render(m);
    /* HELP escapes \ and line feed only; label values also escape ". */
    assert_non_null(strstr(t, "# HELP x_total Back\\\\slash and\\nnewline \"quoted\".\n"));
    assert_non_null(strstr(t, "x_total{model=\"a\\\"b\\\\c\\nd}e\"} 1\n"));
    /* Every line of the output is one sample or comment: no raw line feed leaked from a value. */
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"))
        assert_true(line[0] == '#' || strncmp(line, "x_total", 7) == 0 || strncmp(line, "llmux_", 6) == 0);
    free(t);
    char out[64];
    assert_int_equal(lx_metrics_escape_label("\\\"\n", out), 6);
    assert_string_equal(out, "\\\\\\\"\\n");
    lx_metrics_destroy(m);
}

static void test_histogram(void **state) {
    (void)state;
    lx_metrics *m = lx_metrics_create(16);
    const char *const labels[] = {"model_name", NULL};
    const double bounds[] = {0.1, 1, 10};
    int h = lx_metrics_define(m, "lat_seconds", "Latency.", LX_METRIC_HISTOGRAM, labels, bounds, 3);
    assert_true(h >= 0);
    const char *v[] = {"m"};
    const double obs[] = {0.05, 0.1, 0.5, 10, 100};
    for (size_t i = 0; i < 5; i++) lx_metrics_observe(m, h, v, obs[i]);
    lx_metrics_observe(m, h, v, NAN); /* ignored */
    char *t = render(m);
    const char *want = "# TYPE lat_seconds histogram\n"
                       "lat_seconds_bucket{model_name=\"m\",le=\"0.1\"} 2\n" /* le is inclusive */
                       "lat_seconds_bucket{model_name=\"m\",le=\"1\"} 3\n"
                       "lat_seconds_bucket{model_name=\"m\",le=\"10\"} 4\n"
                       "lat_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 5\n"
                       "lat_seconds_sum{model_name=\"m\"} 110.65\n"
                       "lat_seconds_count{model_name=\"m\"} 5\n";
    assert_non_null(strstr(t, want));
    free(t);
    /* A histogram without labels puts le alone in the braces. */
    int h2 = lx_metrics_define(m, "plain_seconds", "P.", LX_METRIC_HISTOGRAM, NULL, bounds, 1);
    lx_metrics_observe(m, h2, NULL, 0.01);
    t = render(m);
    assert_non_null(strstr(t, "plain_seconds_bucket{le=\"0.1\"} 1\nplain_seconds_bucket{le=\"+Inf\"} 1\n"
                              "plain_seconds_sum 0.01\nplain_seconds_count 1\n"));
    free(t);
    lx_metrics_destroy(m);
}

static void test_cardinality_cap(void **state) {
    (void)state;
    lx_metrics *m = lx_metrics_create(3);
    const char *a = lx_metrics_bound(m, "a");
    assert_string_equal(a, "a");
    assert_string_equal(lx_metrics_bound(m, "b"), "b");
    assert_string_equal(lx_metrics_bound(m, "c"), "c");
    assert_string_equal(lx_metrics_bound(m, "d"), "other");
    assert_string_equal(lx_metrics_bound(m, "e"), "other");
    assert_ptr_equal(lx_metrics_bound(m, "a"), a); /* a known value stays itself */
    assert_string_equal(lx_metrics_bound(m, NULL), "other");
    lx_metrics_destroy(m);
    /* Many values: the set grows past its first index size and keeps the first cap values. */
    m = lx_metrics_create(256);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "model-%d", i);
        assert_string_equal(lx_metrics_bound(m, name), i < 256 ? name : "other");
    }
    assert_string_equal(lx_metrics_bound(m, "model-7"), "model-7");
    lx_metrics_destroy(m);
}

static void test_series_cap_and_cut(void **state) {
    (void)state;
    lx_metrics *m = lx_metrics_create(16);
    const char *const labels[] = {"k", NULL};
    int c = lx_metrics_define(m, "many_total", "Many.", LX_METRIC_COUNTER, labels, NULL, 0);
    char v[32];
    const char *vals[] = {v};
    for (int i = 0; i < LX_METRICS_MAX_SERIES + 10; i++) {
        snprintf(v, sizeof v, "%d", i);
        lx_metrics_add(m, c, vals, 1);
    }
    snprintf(v, sizeof v, "%d", 5);
    lx_metrics_add(m, c, vals, 1); /* an existing series still updates */
    char *t = render(m);
    assert_non_null(strstr(t, "\nllmux_metrics_series_dropped_total 10\n"));
    assert_non_null(strstr(t, "many_total{k=\"5\"} 2\n"));
    assert_null(strstr(t, "many_total{k=\"16384\"}"));
    free(t);
    lx_metrics_destroy(m);

    /* A long value is cut at a UTF-8 boundary: "é" is two bytes, 300 of them cut to LX_METRICS_MAX_VALUE bytes. */
    m = lx_metrics_create(16);
    c = lx_metrics_define(m, "cut_total", "Cut.", LX_METRIC_COUNTER, labels, NULL, 0);
    char big[700], big2[700];
    for (int i = 0; i < 300; i++) memcpy(big + 2 * i, "\xc3\xa9", 2);
    big[600] = 0;
    memcpy(big2, big, 601);
    big2[400] = 'x'; /* differs only past the cut: the same series */
    const char *b1[] = {big}, *b2[] = {big2};
    lx_metrics_add(m, c, b1, 1);
    lx_metrics_add(m, c, b2, 1);
    t = render(m);
    char *open = strstr(t, "cut_total{k=\"");
    assert_non_null(open);
    char *close = strstr(open, "\"}");
    assert_int_equal(close - (open + 13), LX_METRICS_MAX_VALUE);
    assert_non_null(strstr(close, "\"} 2\n"));
    free(t);
    lx_metrics_destroy(m);
}

/* The exposition format is UTF-8: a value that is not has its high bytes shown as '?', and the
 * same bytes always land in the same series. */
static void test_invalid_utf8(void **state) {
    (void)state;
    lx_metrics *m = lx_metrics_create(16);
    const char *const labels[] = {"model", NULL};
    int c = lx_metrics_define(m, "u_total", "U.", LX_METRIC_COUNTER, labels, NULL, 0);
    const char *bad[] = {"a\xff\xfe"}, *good[] = {"caf\xc3\xa9"};
    lx_metrics_add(m, c, bad, 1);
    lx_metrics_add(m, c, bad, 1);
    lx_metrics_add(m, c, good, 1);
    assert_string_equal(lx_metrics_bound(m, "x\xc3"), "x?");
    char *t = render(m);
    assert_non_null(strstr(t, "u_total{model=\"a??\"} 2\n"));
    assert_non_null(strstr(t, "u_total{model=\"caf\xc3\xa9\"} 1\n"));
    free(t);
    lx_metrics_destroy(m);
}

static void test_invalid_definitions(void **state) {
    (void)state;
    lx_metrics *m = lx_metrics_create(16);
    const char *const le[] = {"le", NULL};
    const char *const bad_label[] = {"a-b", NULL};
    const char *const colon_label[] = {"a:b", NULL};
    const char *const five[] = {"a", "b", "c", "d", "e", NULL};
    const double unsorted[] = {1, 0.5};
    const double inf[] = {1, INFINITY};
    assert_int_equal(lx_metrics_define(m, "", "h", LX_METRIC_COUNTER, NULL, NULL, 0), -1);
    assert_int_equal(lx_metrics_define(m, "1abc", "h", LX_METRIC_COUNTER, NULL, NULL, 0), -1);
    assert_int_equal(lx_metrics_define(m, "a b", "h", LX_METRIC_COUNTER, NULL, NULL, 0), -1);
    assert_int_equal(lx_metrics_define(m, "ok", "h", LX_METRIC_COUNTER, le, NULL, 0), -1);
    assert_int_equal(lx_metrics_define(m, "ok", "h", LX_METRIC_COUNTER, bad_label, NULL, 0), -1);
    assert_int_equal(lx_metrics_define(m, "ok", "h", LX_METRIC_COUNTER, colon_label, NULL, 0), -1);
    assert_int_equal(lx_metrics_define(m, "ok", "h", LX_METRIC_COUNTER, five, NULL, 0), -1);
    assert_int_equal(lx_metrics_define(m, "ok", "h", LX_METRIC_HISTOGRAM, NULL, unsorted, 2), -1);
    assert_int_equal(lx_metrics_define(m, "ok", "h", LX_METRIC_HISTOGRAM, NULL, inf, 2), -1);
    int g = lx_metrics_define(m, "ok", "h", LX_METRIC_GAUGE, NULL, NULL, 0);
    assert_int_equal(g, 0);
    /* Updates of the wrong kind or an unknown family change nothing. */
    lx_metrics_observe(m, g, NULL, 1);
    lx_metrics_add(m, 7, NULL, 1);
    lx_metrics_set(m, -1, NULL, 1);
    char *t = render(m);
    assert_non_null(strstr(t, "\nok 0\n"));
    free(t);
    lx_metrics_destroy(m);
    lx_metrics_destroy(NULL);
}

typedef struct worker_arg {
    lx_metrics *m;
    int fam;
    int hist;
} worker_arg;

static void *adder(void *p) {
    worker_arg *w = p;
    const char *v[] = {"m"};
    for (int i = 0; i < 20000; i++) {
        lx_metrics_add(w->m, w->fam, v, 1);
        lx_metrics_observe(w->m, w->hist, v, 0.5);
        if (i % 5000 == 0) free(lx_metrics_render(w->m, NULL)); /* scrapes while updating */
    }
    return NULL;
}

static void test_concurrent_updates(void **state) {
    (void)state;
    lx_metrics *m = lx_metrics_create(16);
    const char *const labels[] = {"model", NULL};
    const double b[] = {1};
    worker_arg w = {.m = m,
                    .fam = lx_metrics_define(m, "n_total", "N.", LX_METRIC_COUNTER, labels, NULL, 0),
                    .hist = lx_metrics_define(m, "h_seconds", "H.", LX_METRIC_HISTOGRAM, labels, b, 1)};
    pthread_t t[8];
    for (int i = 0; i < 8; i++) assert_int_equal(pthread_create(&t[i], NULL, adder, &w), 0);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    char *text = render(m);
    assert_non_null(strstr(text, "n_total{model=\"m\"} 160000\n"));
    assert_non_null(strstr(text, "h_seconds_count{model=\"m\"} 160000\n"));
    assert_non_null(strstr(text, "h_seconds_sum{model=\"m\"} 80000\n"));
    free(text);
    lx_metrics_destroy(m);
}

static void test_gauge_reset(void **state) {
    (void)state;
    lx_metrics *m = lx_metrics_create(16);
    const char *const labels[] = {"model", NULL};
    int g = lx_metrics_define(m, "q", "Q.", LX_METRIC_GAUGE, labels, NULL, 0);
    const char *a[] = {"a"}, *b[] = {"b"};
    lx_metrics_set(m, g, a, 4);
    lx_metrics_set(m, g, b, 2);
    lx_metrics_reset(m, g);
    lx_metrics_set(m, g, b, 1);
    char *t = render(m);
    assert_non_null(strstr(t, "q{model=\"a\"} 0\nq{model=\"b\"} 1\n"));
    free(t);
    lx_metrics_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_format),        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram),          cmocka_unit_test(test_cardinality_cap),
        cmocka_unit_test(test_series_cap_and_cut), cmocka_unit_test(test_invalid_definitions),
        cmocka_unit_test(test_concurrent_updates), cmocka_unit_test(test_gauge_reset),
        cmocka_unit_test(test_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
