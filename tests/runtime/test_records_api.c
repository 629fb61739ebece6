/* The public read API of execution records (llmux_records_*): what a program that only includes
 * llmux.h gets — JSON lines newest first, one record with its attempts, paging with before_id,
 * errors for bad input, NULL handling, and one handle shared by several threads. The database is
 * populated through the writer, as the runtime does. */
#define _XOPEN_SOURCE 700
#include <jansson.h>
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

#include "llmux.h"
#include "store/store.h"

#define N_RECORDS 40

static char g_dir[128], g_url[256];

static lx_exec_record *rec(int i) {
    lx_exec_record *r = calloc(1, sizeof *r);
    char id[32];
    snprintf(id, sizeof id, "api-%02d", i);
    r->id = strdup(id);
    r->started_at_ms = 1000 + i;
    r->ended_at_ms = 2000 + i;
    r->requested_model = strdup(i % 2 ? "odd" : "even");
    r->status = i % 4 == 3 ? LLMUX_E_TIMEOUT : LLMUX_OK;
    r->finish_reason = r->status == LLMUX_OK ? LLMUX_FINISH_STOP : LLMUX_FINISH_ERROR;
    r->usage = llmux_usage_default();
    r->cost = (llmux_cost){.known = false, .input = NAN, .output = NAN, .cache_read = NAN, .cache_write = NAN, .total = NAN};
    r->n_attempts = 2;
    r->attempts = calloc(2, sizeof *r->attempts);
    for (int k = 0; k < 2; k++) {
        r->attempts[k].n = k;
        r->attempts[k].target = strdup("openai/gpt-4o");
        r->attempts[k].status = k == 0 ? LLMUX_E_RATE_LIMITED : r->status;
        r->attempts[k].retry_delay_ms = k == 0 ? 100 : -1;
        r->attempts[k].ttft_ms = -1;
    }
    return r;
}

static int setup(void **state) {
    snprintf(g_dir, sizeof g_dir, "/tmp/llmux-records-api-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_url, sizeof g_url, "sqlite:%s/r.db", g_dir);
    lx_store *s;
    lx_record_writer *w;
    llmux_error_info e;
    if (lx_store_open(g_url, &s, &e) != LLMUX_OK) return -1;
    if (lx_record_writer_start(s, 4, &w, &e) != LLMUX_OK) return -1;
    for (int i = 0; i < N_RECORDS; i++) lx_record_writer_submit(w, rec(i));
    lx_record_writer_stop(w);
    return 0;
}

static int teardown(void **state) {
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t lines(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_list_and_get(void **state) {
    llmux_records *r = NULL;
    llmux_error_info e;
    assert_int_equal(llmux_records_open(g_url, &r, &e), LLMUX_OK);
    char *jsonl = NULL;
    assert_int_equal(llmux_records_list(r, NULL, &jsonl, &e), LLMUX_OK);
    assert_int_equal(lines(jsonl), N_RECORDS);
    assert_memory_equal(jsonl, "{\"id\":\"api-39\"", 14); /* newest first */
    llmux_free(jsonl);

    llmux_records_filter f = llmux_records_filter_default();
    f.status = "timeout";
    f.model = "odd";
    f.limit = 3;
    f.with_attempts = true;
    assert_int_equal(llmux_records_list(r, &f, &jsonl, &e), LLMUX_OK);
    assert_int_equal(lines(jsonl), 3);
    json_t *first = json_loadb(jsonl, strcspn(jsonl, "\n"), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(first, "id")), "api-39");
    assert_int_equal(json_array_size(json_object_get(first, "attempts")), 2);
    json_decref(first);
    llmux_free(jsonl);
    f.before_id = "api-31"; /* the page after api-39, api-35, api-31 */
    assert_int_equal(llmux_records_list(r, &f, &jsonl, &e), LLMUX_OK);
    assert_memory_equal(jsonl, "{\"id\":\"api-27\"", 14);
    llmux_free(jsonl);
    f = llmux_records_filter_default();
    f.model = "none";
    assert_int_equal(llmux_records_list(r, &f, &jsonl, &e), LLMUX_OK);
    assert_string_equal(jsonl, "");
    llmux_free(jsonl);

    char *json = NULL;
    assert_int_equal(llmux_records_get(r, "api-07", &json, &e), LLMUX_OK);
    json_t *v = json_loads(json, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "timeout");
    const json_t *a0 = json_array_get(json_object_get(v, "attempts"), 0);
    assert_string_equal(json_string_value(json_object_get(a0, "status")), "rate_limited");
    assert_int_equal(json_integer_value(json_object_get(a0, "retry_delay_ms")), 100);
    assert_true(json_is_null(json_object_get(json_object_get(v, "cost"), "total"))); /* unknown cost */
    json_decref(v);
    llmux_free(json);
    llmux_records_close(r);
}

static void test_errors(void **state) {
    llmux_records *r = (llmux_records *)1;
    llmux_error_info e;
    assert_int_equal(llmux_records_open("ftp://x", &r, &e), LLMUX_E_CONFIGURATION);
    assert_null(r);
    assert_int_equal(llmux_records_open(NULL, &r, &e), LLMUX_E_CONFIGURATION);
    assert_int_equal(llmux_records_open(g_url, &r, &e), LLMUX_OK);
    char *out = (char *)1;
    assert_int_equal(llmux_records_get(r, "api-99", &out, &e), LLMUX_E_INVALID_REQUEST);
    assert_null(out);
    assert_string_equal(e.message, "no record api-99");
    assert_int_equal(llmux_records_get(r, "a/b", &out, &e), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(llmux_records_get(r, NULL, &out, &e), LLMUX_E_INVALID_REQUEST);
    llmux_records_filter f = llmux_records_filter_default();
    f.limit = 10001;
    assert_int_equal(llmux_records_list(r, &f, &out, &e), LLMUX_E_INVALID_REQUEST);
    assert_null(out);
    f = llmux_records_filter_default();
    f.before_id = "no spaces allowed";
    assert_int_equal(llmux_records_list(r, &f, &out, &e), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(llmux_records_list(NULL, NULL, &out, &e), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(llmux_records_get(r, "api-01", NULL, &e), LLMUX_E_INVALID_REQUEST);
    llmux_records_close(r);
    llmux_records_close(NULL);
}

static void *reader(void *arg) {
    llmux_records *r = arg;
    for (int i = 0; i < 50; i++) {
        char *json = NULL;
        llmux_error_info e;
        if (llmux_records_get(r, "api-10", &json, &e) != LLMUX_OK || !strstr(json, "\"api-10\"")) return (void *)1;
        llmux_free(json);
    }
    return NULL;
}

static void test_shared_handle(void **state) {
    llmux_records *r;
    llmux_error_info e;
    assert_int_equal(llmux_records_open(g_url, &r, &e), LLMUX_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, reader, r), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    llmux_records_close(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_and_get),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_shared_handle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
