/* The store tests, run unchanged against each backend: test_store_sqlite.c and test_store_pg.c
 * include this file and provide fresh_url() (an empty database) and the backend-specific
 * failure test. Everything here goes through src/store/store.h. */
#ifndef LX_STORE_SUITE_H
#define LX_STORE_SUITE_H

#define _XOPEN_SOURCE 700
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/error.h"
#include "store/store.h"

/* Provided by the including file: the URL of an empty database (a new one, or wiped), and the
 * URL fresh_url() returned last (to reopen the same database). */
static const char *fresh_url(void);
static const char *current_url(void);

static char *xstrdup(const char *s) {
    if (!s) return NULL;
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/* A heap record with every field set (or the given outcome's shape). */
static lx_exec_record *make_record(const char *id, int64_t started, const char *model, llmux_status status,
                                   size_t n_attempts) {
    lx_exec_record *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->id = xstrdup(id);
    r->started_at_ms = started;
    r->ended_at_ms = started + 1234;
    r->requested_model = xstrdup(model);
    r->model = xstrdup(model);
    r->provider = xstrdup("openai");
    r->status = status;
    r->finish_reason = status == LLMUX_OK ? LLMUX_FINISH_STOP
                       : status == LLMUX_E_CANCELLED ? LLMUX_FINISH_CANCELLED
                                                     : LLMUX_FINISH_ERROR;
    if (status != LLMUX_OK) r->error_message = xstrdup(llmux_strerror(status));
    r->usage = llmux_usage_default();
    r->usage.input_tokens = 10;
    r->usage.output_tokens = 20;
    r->cost.known = true;
    r->cost.input = 0.25;
    r->cost.output = 0.5;
    r->cost.cache_read = 0;
    r->cost.cache_write = 0;
    r->cost.total = 0.75;
    r->cost_source = xstrdup("catalog");
    if (n_attempts) {
        r->attempts = calloc(n_attempts, sizeof *r->attempts);
        assert_non_null(r->attempts);
        r->n_attempts = n_attempts;
        for (size_t i = 0; i < n_attempts; i++) {
            lx_attempt_record *a = &r->attempts[i];
            bool last = i + 1 == n_attempts;
            a->n = (int32_t)i;
            a->target = xstrdup(i % 2 ? "anthropic/claude-sonnet-4-5" : "openai/gpt-4o");
            a->started_at_ms = started + (int64_t)i * 100;
            a->status = last ? status : LLMUX_E_RATE_LIMITED;
            a->http_status = a->status == LLMUX_OK ? 200 : a->status == LLMUX_E_RATE_LIMITED ? 429 : 0;
            if (a->status != LLMUX_OK) a->error_message = xstrdup("slow down");
            a->retry_delay_ms = last ? -1 : 250 * (int64_t)(i + 1);
            a->ttft_ms = a->status == LLMUX_OK ? 12.5 : -1;
            a->duration_ms = 40.125 + (double)i;
        }
    }
    return r;
}

static void assert_str_eq_or_null(const char *a, const char *b) {
    if (!a || !b) assert_ptr_equal(a, b);
    else assert_string_equal(a, b);
}

static void assert_real_eq(double a, double b) {
    if (isnan(a) || isnan(b)) {
        assert_true(isnan(a) && isnan(b));
    } else {
        assert_true(a == b);
    }
}

static void assert_record_eq(const lx_exec_record *a, const lx_exec_record *b, bool attempts) {
    assert_string_equal(a->id, b->id);
    assert_str_eq_or_null(a->replay_of, b->replay_of);
    assert_str_eq_or_null(a->request_id, b->request_id);
    assert_str_eq_or_null(a->caller, b->caller);
    assert_int_equal(a->started_at_ms, b->started_at_ms);
    assert_int_equal(a->ended_at_ms, b->ended_at_ms);
    assert_str_eq_or_null(a->requested_model, b->requested_model);
    assert_str_eq_or_null(a->plan_json, b->plan_json);
    assert_str_eq_or_null(a->model, b->model);
    assert_str_eq_or_null(a->provider, b->provider);
    assert_int_equal(a->status, b->status);
    assert_str_eq_or_null(a->error_message, b->error_message);
    assert_int_equal(a->finish_reason, b->finish_reason);
    assert_memory_equal(&a->usage, &b->usage, sizeof a->usage);
    assert_int_equal(a->cost.known, b->cost.known);
    assert_real_eq(a->cost.input, b->cost.input);
    assert_real_eq(a->cost.output, b->cost.output);
    assert_real_eq(a->cost.cache_read, b->cost.cache_read);
    assert_real_eq(a->cost.cache_write, b->cost.cache_write);
    assert_real_eq(a->cost.total, b->cost.total);
    assert_real_eq(a->cost.tools, b->cost.tools);
    assert_str_eq_or_null(a->cost_source, b->cost_source);
    assert_str_eq_or_null(a->warnings_json, b->warnings_json);
    assert_str_eq_or_null(a->request_json, b->request_json);
    assert_str_eq_or_null(a->response_text, b->response_text);
    if (!attempts) return;
    assert_int_equal(a->n_attempts, b->n_attempts);
    for (size_t i = 0; i < a->n_attempts; i++) {
        const lx_attempt_record *x = &a->attempts[i], *y = &b->attempts[i];
        assert_int_equal(x->n, y->n);
        assert_string_equal(x->target, y->target);
        assert_int_equal(x->started_at_ms, y->started_at_ms);
        assert_int_equal(x->http_status, y->http_status);
        assert_int_equal(x->status, y->status);
        assert_str_eq_or_null(x->error_message, y->error_message);
        assert_int_equal(x->retry_delay_ms, y->retry_delay_ms);
        assert_real_eq(x->ttft_ms, y->ttft_ms);
        assert_real_eq(x->duration_ms, y->duration_ms);
    }
}

static lx_store *open_fresh(void) {
    lx_store *s = NULL;
    llmux_error_info e;
    llmux_status st = lx_store_open(fresh_url(), &s, &e);
    if (st != LLMUX_OK) fprintf(stderr, "open: %s\n", e.message);
    assert_int_equal(st, LLMUX_OK);
    return s;
}

static void insert1(lx_store *s, lx_exec_record *r) {
    llmux_error_info e;
    llmux_status st = lx_store_insert(s, &r, 1, &e);
    if (st != LLMUX_OK) fprintf(stderr, "insert: %s\n", e.message);
    assert_int_equal(st, LLMUX_OK);
}

static size_t count_all(lx_store *s) {
    lx_record_filter f = {.limit = LX_RECORD_LIST_MAX};
    lx_exec_record **v;
    size_t n;
    llmux_error_info e;
    assert_int_equal(lx_store_list(s, &f, &v, &n, &e), LLMUX_OK);
    lx_exec_record_list_free(v, n);
    return n;
}

/* ------------------------------------------------------------------ tests */

static void test_migrations_idempotent(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    assert_int_equal(lx_store_schema_version(s), lx_store_schema_latest());
    lx_exec_record *r = make_record("exec-keep", 1000, "m", LLMUX_OK, 1);
    insert1(s, r);
    lx_exec_record_free(r);
    lx_store_close(s);
    /* Opening an up-to-date database again runs no migration and keeps the data. Twice, to also
     * cover a third open after a no-op one. */
    for (int i = 0; i < 2; i++) {
        llmux_error_info e;
        assert_int_equal(lx_store_open(current_url(), &s, &e), LLMUX_OK);
        assert_int_equal(lx_store_schema_version(s), lx_store_schema_latest());
        assert_int_equal(count_all(s), 1);
        lx_store_close(s);
    }
}

static void *open_close(void *arg) {
    lx_store *s = NULL;
    llmux_error_info e;
    llmux_status st = lx_store_open(arg, &s, &e);
    if (st != LLMUX_OK) fprintf(stderr, "concurrent open: %s\n", e.message);
    lx_store_close(s);
    return (void *)(intptr_t)st;
}

/* Several processes starting at once on a new database (here: threads with their own
 * connections): every open succeeds and the migrations ran once. */
static void test_concurrent_first_open(void **state) {
    (void)state;
    char url[512];
    snprintf(url, sizeof url, "%s", fresh_url());
    pthread_t t[6];
    for (int i = 0; i < 6; i++) assert_int_equal(pthread_create(&t[i], NULL, open_close, url), 0);
    for (int i = 0; i < 6; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_int_equal((intptr_t)res, LLMUX_OK);
    }
    lx_store *s = NULL;
    llmux_error_info e;
    assert_int_equal(lx_store_open(url, &s, &e), LLMUX_OK);
    assert_int_equal(lx_store_schema_version(s), lx_store_schema_latest());
    lx_exec_record *r = make_record("after-race", 1, "m", LLMUX_OK, 1);
    insert1(s, r);
    lx_exec_record_free(r);
    assert_int_equal(count_all(s), 1);
    lx_store_close(s);
}

static void test_round_trip_every_field(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    /* Everything set, unicode in every text, a 1 MiB response, NaN cost parts, unknown usage. */
    lx_exec_record *full = make_record("exec-full.1:a_b-c", 1700000000123, "smart", LLMUX_OK, 3);
    full->replay_of = xstrdup("exec-original");
    full->request_id = xstrdup("req-Ω-42");
    full->caller = xstrdup("team-ü");
    full->plan_json = xstrdup("{\"targets\":[\"openai/gpt-4o\",\"anthropic/claude-sonnet-4-5\"],\"seed\":7}");
    full->warnings_json = xstrdup("[{\"code\":\"price_approximate\",\"message\":\"近似\"}]");
    full->request_json = xstrdup("{\"model\":\"smart\",\"messages\":[{\"role\":\"user\",\"content\":\"héllo 🌍\"}]}");
    full->usage.cached_input_tokens = 3;
    full->usage.cache_write_tokens = 5;
    full->usage.cache_write_1h_tokens = 4; /* schema v2's column */
    full->usage.web_search_requests = 2;   /* schema v3's columns */
    full->cost.tools = 0.02;
    full->usage.total_tokens = 30;
    full->cost.cache_write = NAN;
    full->cost.total = 0.1 + 0.2; /* not representable in short decimal: must read back bit-exact */
    size_t big = 1u << 20;
    full->response_text = malloc(big + 1);
    assert_non_null(full->response_text);
    /* Whole copies of a unit only, so the text stays valid UTF-8 (PostgreSQL checks). */
    const char *unit = "héllo wörld 日本語 🌍\n";
    size_t ul = strlen(unit), at = 0;
    while (at + ul <= big) {
        memcpy(full->response_text + at, unit, ul);
        at += ul;
    }
    full->response_text[at] = '\0';
    /* Nothing set: every optional field NULL, no attempts. */
    lx_exec_record *bare = calloc(1, sizeof *bare);
    bare->id = xstrdup("exec-bare");
    bare->status = LLMUX_E_ROUTING;
    bare->finish_reason = LLMUX_FINISH_ERROR;
    bare->usage = llmux_usage_default();
    bare->cost.input = bare->cost.output = bare->cost.cache_read = bare->cost.cache_write = bare->cost.total = NAN;
    lx_exec_record *both[] = {full, bare};
    llmux_error_info e;
    assert_int_equal(lx_store_insert(s, both, 2, &e), LLMUX_OK);

    for (int i = 0; i < 2; i++) {
        lx_exec_record *got = NULL;
        assert_int_equal(lx_store_get(s, both[i]->id, &got, &e), LLMUX_OK);
        assert_record_eq(both[i], got, true);
        /* JSON and back keeps every field too (the plan and warnings are compact JSON). */
        char *json = lx_exec_record_to_json(got, true);
        assert_non_null(json);
        lx_exec_record *back = NULL;
        if (lx_exec_record_from_json(json, strlen(json), &back, &e) != LLMUX_OK) fprintf(stderr, "%s\n", e.message);
        assert_non_null(back);
        assert_record_eq(both[i], back, true);
        free(json);
        lx_exec_record_free(back);
        lx_exec_record_free(got);
    }
    /* The list returns the same rows without attempts unless asked. */
    lx_record_filter f = {0};
    lx_exec_record **v;
    size_t n;
    assert_int_equal(lx_store_list(s, &f, &v, &n, &e), LLMUX_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0]->id, "exec-full.1:a_b-c"); /* newer */
    assert_int_equal(v[0]->n_attempts, 0);
    assert_record_eq(full, v[0], false);
    lx_exec_record_list_free(v, n);
    f.with_attempts = true;
    assert_int_equal(lx_store_list(s, &f, &v, &n, &e), LLMUX_OK);
    assert_record_eq(full, v[0], true);
    lx_exec_record_list_free(v, n);
    lx_exec_record_free(full);
    lx_exec_record_free(bare);
    lx_store_close(s);
}

static void list_ids(lx_store *s, const lx_record_filter *f, const char *expect) {
    lx_exec_record **v;
    size_t n;
    llmux_error_info e;
    llmux_status st = lx_store_list(s, f, &v, &n, &e);
    if (st != LLMUX_OK) fprintf(stderr, "list: %s\n", e.message);
    assert_int_equal(st, LLMUX_OK);
    char got[512] = "";
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(got, ",");
        strcat(got, v[i]->id);
    }
    lx_exec_record_list_free(v, n);
    assert_string_equal(got, expect);
}

static void test_filters_and_order(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    struct {
        const char *id;
        int64_t t;
        const char *model;
        llmux_status st;
    } rows[] = {
        {"e1", 1000, "smart", LLMUX_OK},          {"e2", 2000, "cheap", LLMUX_E_RATE_LIMITED},
        {"e3", 3000, "smart", LLMUX_E_CANCELLED}, {"e4", 3000, "local/fortunes", LLMUX_OK},
        {"e5", 5000, "smart", LLMUX_OK},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        lx_exec_record *r = make_record(rows[i].id, rows[i].t, rows[i].model, rows[i].st, 1);
        insert1(s, r);
        lx_exec_record_free(r);
    }
    lx_record_filter f = {0};
    list_ids(s, &f, "e5,e4,e3,e2,e1"); /* newest first; same time: id descending */
    f.since_ms = 3000;
    list_ids(s, &f, "e5,e4,e3");
    f.model = "smart";
    list_ids(s, &f, "e5,e3");
    f.status = "ok";
    list_ids(s, &f, "e5");
    f = (lx_record_filter){.status = "rate_limited"};
    list_ids(s, &f, "e2");
    f = (lx_record_filter){.model = "nope"};
    list_ids(s, &f, "");
    /* Filter text is data, never SQL. */
    f = (lx_record_filter){.model = "x' OR '1'='1"};
    list_ids(s, &f, "");
    /* The model filter also matches what answered when the request named an alias. */
    lx_exec_record *r = make_record("e6", 6000, "chain", LLMUX_OK, 1);
    free(r->model);
    r->model = xstrdup("gpt-4o");
    insert1(s, r);
    lx_exec_record_free(r);
    f = (lx_record_filter){.model = "gpt-4o"};
    list_ids(s, &f, "e6");
    /* Limit and paging: each page starts after the previous page's last record. */
    f = (lx_record_filter){.limit = 2};
    list_ids(s, &f, "e6,e5");
    f.before_id = "e5";
    list_ids(s, &f, "e4,e3");
    f.before_id = "e3";
    list_ids(s, &f, "e2,e1");
    f.before_id = "e1";
    list_ids(s, &f, "");
    lx_store_close(s);
}

static void test_outcomes_with_attempts(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    lx_exec_record *ok = make_record("exec-ok", 100, "openai/gpt-4o", LLMUX_OK, 1);
    /* Failed everywhere: three attempts, each failure with its retry delay, none answered. */
    lx_exec_record *failed = make_record("exec-err", 200, "smart", LLMUX_E_OVERLOADED, 3);
    free(failed->model);
    free(failed->provider);
    failed->model = failed->provider = NULL;
    /* Cancelled during the second attempt, after a 429. */
    lx_exec_record *cancelled = make_record("exec-cancel", 300, "smart", LLMUX_E_CANCELLED, 2);
    lx_exec_record *all[] = {ok, failed, cancelled};
    llmux_error_info e;
    assert_int_equal(lx_store_insert(s, all, 3, &e), LLMUX_OK);
    for (int i = 0; i < 3; i++) {
        lx_exec_record *got;
        assert_int_equal(lx_store_get(s, all[i]->id, &got, &e), LLMUX_OK);
        assert_record_eq(all[i], got, true);
        lx_exec_record_free(got);
    }
    lx_exec_record *got;
    assert_int_equal(lx_store_get(s, "exec-err", &got, &e), LLMUX_OK);
    assert_int_equal(got->n_attempts, 3);
    assert_int_equal(got->attempts[0].http_status, 429);
    assert_int_equal(got->attempts[1].retry_delay_ms, 500);
    assert_int_equal(got->attempts[2].status, LLMUX_E_OVERLOADED);
    assert_null(got->model);
    lx_exec_record_free(got);
    assert_int_equal(lx_store_get(s, "exec-cancel", &got, &e), LLMUX_OK);
    assert_int_equal(got->finish_reason, LLMUX_FINISH_CANCELLED);
    assert_int_equal(got->attempts[1].status, LLMUX_E_CANCELLED);
    lx_exec_record_free(got);
    for (int i = 0; i < 3; i++) lx_exec_record_free(all[i]);
    /* Values with no SQL form: an unknown time reads back as -1, an infinite cost as unknown. */
    lx_exec_record *odd = make_record("exec-odd", 400, "m", LLMUX_OK, 1);
    odd->attempts[0].ttft_ms = NAN;
    odd->attempts[0].duration_ms = INFINITY;
    odd->cost.total = INFINITY;
    insert1(s, odd);
    lx_exec_record_free(odd);
    assert_int_equal(lx_store_get(s, "exec-odd", &got, &e), LLMUX_OK);
    assert_true(got->attempts[0].ttft_ms == -1);
    assert_true(got->attempts[0].duration_ms == -1);
    assert_true(isnan(got->cost.total));
    assert_true(got->cost.input == 0.25);
    lx_exec_record_free(got);
    lx_store_close(s);
}

static void test_validation(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    llmux_error_info e;
    lx_exec_record *got = (lx_exec_record *)1;
    assert_int_equal(lx_store_get(s, "exec-missing", &got, &e), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(e.message, "no record exec-missing");
    assert_null(got);
    const char *bad_ids[] = {"", "a b", "../etc", "x'; DROP TABLE executions; --", "é"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++)
        assert_int_equal(lx_store_get(s, bad_ids[i], &got, &e), LLMUX_E_INVALID_REQUEST);
    char long_id[LX_RECORD_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(lx_store_get(s, long_id, &got, &e), LLMUX_E_INVALID_REQUEST);
    long_id[LX_RECORD_ID_MAX] = '\0';
    assert_int_equal(lx_store_get(s, long_id, &got, &e), LLMUX_E_INVALID_REQUEST); /* valid, absent */
    assert_non_null(strstr(e.message, "no record"));

    lx_exec_record **v;
    size_t n;
    lx_record_filter f = {.status = "okay"};
    assert_int_equal(lx_store_list(s, &f, &v, &n, &e), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(e.message, "okay"));
    f = (lx_record_filter){.limit = LX_RECORD_LIST_MAX + 1};
    assert_int_equal(lx_store_list(s, &f, &v, &n, &e), LLMUX_E_INVALID_REQUEST);
    char long_model[LX_RECORD_FILTER_TEXT_MAX + 2];
    memset(long_model, 'm', sizeof long_model - 1);
    long_model[sizeof long_model - 1] = '\0';
    f = (lx_record_filter){.model = long_model};
    assert_int_equal(lx_store_list(s, &f, &v, &n, &e), LLMUX_E_INVALID_REQUEST);
    f = (lx_record_filter){.since_ms = -5};
    assert_int_equal(lx_store_list(s, &f, &v, &n, &e), LLMUX_E_INVALID_REQUEST);

    /* A batch with a duplicate id is refused as a whole (one transaction) and names the id. */
    lx_exec_record *a = make_record("dup", 10, "m", LLMUX_OK, 1);
    lx_exec_record *b = make_record("fresh", 20, "m", LLMUX_OK, 1);
    lx_exec_record *c = make_record("dup", 30, "m", LLMUX_OK, 1);
    insert1(s, a);
    lx_exec_record *batch[] = {b, c};
    assert_int_equal(lx_store_insert(s, batch, 2, &e), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(e.message, "dup"));
    assert_int_equal(count_all(s), 1);
    /* A record past the caps or with a bad id is refused before anything is written. */
    free(b->id);
    b->id = xstrdup("has space");
    assert_int_equal(lx_store_insert(s, &b, 1, &e), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(e.message, "record.id"));
    free(b->id);
    b->id = xstrdup("ok-id");
    b->attempts[0].target[0] = '\0';
    assert_int_equal(lx_store_insert(s, &b, 1, &e), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(e.message, "attempts[0].target"));
    assert_int_equal(count_all(s), 1);
    lx_exec_record_free(a);
    lx_exec_record_free(b);
    lx_exec_record_free(c);
    lx_store_close(s);
}

/* ---------------------------------------------------------------- writer */

typedef struct producer {
    lx_record_writer *w;
    int thread, count;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (int i = 0; i < p->count; i++) {
        char id[64];
        snprintf(id, sizeof id, "w-%d-%04d", p->thread, i);
        lx_record_writer_submit(p->w, make_record(id, 1000 + i, "smart", LLMUX_OK, 1 + (size_t)(i % 3)));
    }
    return NULL;
}

static void test_writer_many_threads_tiny_queue(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    lx_record_writer_params p = lx_record_writer_default_params();
    p.queue_cap = 3; /* far fewer than the producers: submit must wait for room */
    p.batch_max = 16;
    lx_record_writer *w;
    llmux_error_info e;
    assert_int_equal(lx_record_writer_start_ex(s, &p, &w, &e), LLMUX_OK);
    pthread_t t[8];
    producer prod[8];
    for (int i = 0; i < 8; i++) {
        prod[i] = (producer){w, i, 125};
        assert_int_equal(pthread_create(&t[i], NULL, produce, &prod[i]), 0);
    }
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    lx_record_writer_stats st;
    lx_record_writer_get_stats(w, &st);
    assert_int_equal(st.submitted, 1000);
    assert_true(st.queued <= 3);
    assert_true(st.submit_waits > 0); /* the blocking path was taken */
    lx_record_writer_stop(w);

    lx_store *r = NULL;
    assert_int_equal(lx_store_open(current_url(), &r, &e), LLMUX_OK);
    assert_int_equal(count_all(r), 1000);
    lx_exec_record *got;
    assert_int_equal(lx_store_get(r, "w-7-0124", &got, &e), LLMUX_OK);
    assert_int_equal(got->n_attempts, 1 + 124 % 3);
    lx_exec_record_free(got);
    lx_store_close(r);
}

typedef struct log_acc {
    pthread_mutex_t mu;
    int errors, warnings;
    char text[8192];
} log_acc;

static void collect_log(llmux_log_level level, const char *message, void *ud) {
    log_acc *l = ud;
    pthread_mutex_lock(&l->mu);
    if (level == LLMUX_LOG_ERROR) l->errors++;
    if (level == LLMUX_LOG_WARN) l->warnings++;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s\n", message);
    pthread_mutex_unlock(&l->mu);
}

static void test_writer_stop_flushes(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    lx_record_writer *w;
    llmux_error_info e;
    /* A queue large enough for everything: stop, not back-pressure, must get them written. */
    assert_int_equal(lx_record_writer_start(s, 500, &w, &e), LLMUX_OK);
    for (int i = 0; i < 300; i++) {
        char id[32];
        snprintf(id, sizeof id, "flush-%03d", i);
        lx_record_writer_submit(w, make_record(id, i, "m", LLMUX_OK, 1));
    }
    lx_record_writer_stats st;
    lx_record_writer_get_stats(w, &st);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.submit_waits, 0);
    lx_record_writer_stop(w);
    assert_int_equal(lx_store_open(current_url(), &s, &e), LLMUX_OK);
    assert_int_equal(count_all(s), 300);
    lx_store_close(s);
}

/* A record the database refuses (duplicate id) costs only itself: the rest of its batch lands,
 * and the loss is counted and named in the log. */
static void test_writer_bad_record_isolated(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    lx_exec_record *first = make_record("same", 1, "m", LLMUX_OK, 0);
    insert1(s, first);
    lx_exec_record_free(first);
    log_acc log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    lx_record_writer_params p = lx_record_writer_default_params();
    p.batch_max = 64;
    p.retry_backoff_ms = 5;
    p.log = collect_log;
    p.log_user_data = &log;
    lx_record_writer *w;
    llmux_error_info e;
    assert_int_equal(lx_record_writer_start_ex(s, &p, &w, &e), LLMUX_OK);
    lx_record_writer_submit(w, make_record("before", 2, "m", LLMUX_OK, 1));
    lx_record_writer_submit(w, make_record("same", 3, "m", LLMUX_OK, 1));
    lx_record_writer_submit(w, make_record("after", 4, "m", LLMUX_OK, 1));
    lx_record_writer_flush(w);
    lx_record_writer_stats st;
    lx_record_writer_get_stats(w, &st);
    assert_int_equal(st.submitted, 3);
    assert_int_equal(st.written + st.lost, 3);
    assert_int_equal(st.lost, 1);
    assert_true(st.failed_transactions >= 1);
    assert_int_equal(st.last_error.status, LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(log.text, "execution same not recorded"));
    lx_record_writer_stop(w);
    assert_int_equal(lx_store_open(current_url(), &s, &e), LLMUX_OK);
    assert_int_equal(count_all(s), 3);
    lx_store_close(s);
}

/* Statements are prepared once per connection and reused (sqlite.c, pg.c): many inserts and
 * reads in turn on one connection each see their own parameters (a text, then NULL, in the same
 * column), a refused insert (duplicate id) leaves the kept statements usable, and a read made
 * between writes sees every write before it. */
static void test_statements_reused(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    llmux_error_info e;
    for (int i = 0; i < 40; i++) {
        char id[32], caller[32];
        snprintf(id, sizeof id, "reuse-%02d", i);
        snprintf(caller, sizeof caller, "key-%d", i);
        lx_exec_record *r = make_record(id, 1000 + i, i % 2 ? "m-odd" : "m-even", LLMUX_OK, (size_t)(i % 3));
        free(r->caller);
        r->caller = i % 2 ? NULL : strdup(caller);
        insert1(s, r);
        if (i % 10 == 9) {
            /* The same id again: refused, rolled back, and the next statements still work. */
            lx_exec_record *const one[] = {r};
            assert_int_equal(lx_store_insert(s, one, 1, &e), LLMUX_E_INVALID_REQUEST);
        }
        lx_exec_record_free(r);
        lx_exec_record *got = NULL;
        assert_int_equal(lx_store_get(s, id, &got, &e), LLMUX_OK);
        assert_non_null(got);
        assert_string_equal(got->id, id);
        if (i % 2) assert_null(got->caller);
        else assert_string_equal(got->caller, caller);
        assert_string_equal(got->requested_model, i % 2 ? "m-odd" : "m-even");
        lx_exec_record_free(got);
        assert_int_equal(count_all(s), (size_t)i + 1);
    }
    lx_store_close(s);
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The writer's group-commit linger (writer.c) holds a lone record back a moment for company, but
 * never a flush or a stop: with a linger of 2 s, both return at once; without a flush, the records
 * land once the linger ends, in one transaction with those submitted meanwhile. */
static void test_writer_linger(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    lx_store *reader = NULL;
    llmux_error_info e;
    assert_int_equal(lx_store_open(current_url(), &reader, &e), LLMUX_OK);
    lx_record_writer_params p = lx_record_writer_default_params();
    p.linger_us = 2000000;
    lx_record_writer *w;
    assert_int_equal(lx_record_writer_start_ex(s, &p, &w, &e), LLMUX_OK);
    double t0 = mono_s();
    lx_record_writer_submit(w, make_record("linger-1", 1, "m", LLMUX_OK, 1));
    lx_record_writer_flush(w);
    assert_true(mono_s() - t0 < 1.0);
    assert_int_equal(count_all(reader), 1);
    /* Unflushed: not yet written while the linger lasts, all written after it. */
    lx_record_writer_submit(w, make_record("linger-2", 2, "m", LLMUX_OK, 1));
    lx_record_writer_submit(w, make_record("linger-3", 3, "m", LLMUX_OK, 0));
    assert_int_equal(count_all(reader), 1);
    lx_record_writer_stats st;
    for (int i = 0; i < 400; i++) { /* up to 4 s */
        lx_record_writer_get_stats(w, &st);
        if (st.written == 3) break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(st.written, 3);
    assert_int_equal(count_all(reader), 3);
    /* Stop during a linger: prompt, and nothing lost. */
    lx_record_writer_submit(w, make_record("linger-4", 4, "m", LLMUX_OK, 0));
    t0 = mono_s();
    lx_record_writer_stop(w);
    assert_true(mono_s() - t0 < 1.0);
    assert_int_equal(count_all(reader), 4);
    lx_store_close(reader);
}

static void test_json_errors(void **state) {
    (void)state;
    lx_exec_record *r = NULL;
    llmux_error_info e;
    const char *bad[][2] = {
        {"[]", "must be an object"},
        {"{\"status\":\"ok\"}", "record.id: missing"},
        {"{\"id\":\"x\",\"status\":\"fine\"}", "record.status"},
        {"{\"id\":\"x\",\"status\":\"ok\",\"attempts\":[{\"target\":\"a/b\",\"status\":\"nah\"}]}",
         "record.attempts[0].status"},
        {"{\"id\":\"x\",\"status\":\"ok\",\"usage\":{\"input_tokens\":\"3\"}}", "record.usage.input_tokens"},
        {"{\"id\":\"x\",\"status\":\"ok\",\"finish_reason\":\"done\"}", "record.finish_reason"},
        {"{\"id\":1}", "record.id"},
        {"{", "line 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(lx_exec_record_from_json(bad[i][0], strlen(bad[i][0]), &r, &e), LLMUX_E_INVALID_REQUEST);
        assert_null(r);
        if (!strstr(e.message, bad[i][1])) fprintf(stderr, "%s -> %s\n", bad[i][0], e.message);
        assert_non_null(strstr(e.message, bad[i][1]));
    }
}

/* What a caller (an API key's name) spent: known costs only, from since_ms on; one aggregate. */
static void test_caller_cost(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    struct {
        const char *id, *caller;
        int64_t t;
        bool known;
        double total;
    } rows[] = {
        {"c1", "alice", 1000, true, 0.75}, {"c2", "alice", 2000, true, 1.5}, {"c3", "bob", 2000, true, 9.0},
        {"c4", "alice", 3000, false, 0.0}, {"c5", NULL, 3000, true, 4.0},  {"c6", "alice", 4000, true, 0.25},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        lx_exec_record *r = make_record(rows[i].id, rows[i].t, "smart", LLMUX_OK, 0);
        free(r->caller);
        r->caller = xstrdup(rows[i].caller);
        r->cost.known = rows[i].known;
        r->cost.total = rows[i].known ? rows[i].total : NAN;
        insert1(s, r);
        lx_exec_record_free(r);
    }
    llmux_error_info e;
    double usd = -1;
    assert_int_equal(lx_store_caller_cost(s, "alice", 0, &usd, &e), LLMUX_OK);
    assert_real_eq(usd, 2.5);
    assert_int_equal(lx_store_caller_cost(s, "alice", 2000, &usd, &e), LLMUX_OK);
    assert_real_eq(usd, 1.75);
    assert_int_equal(lx_store_caller_cost(s, "bob", 0, &usd, &e), LLMUX_OK);
    assert_real_eq(usd, 9.0);
    assert_int_equal(lx_store_caller_cost(s, "nobody", 0, &usd, &e), LLMUX_OK);
    assert_real_eq(usd, 0.0);
    assert_int_equal(lx_store_caller_cost(s, "", 0, &usd, &e), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(lx_store_caller_cost(s, NULL, 0, &usd, &e), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(lx_store_caller_cost(s, "alice", -1, &usd, &e), LLMUX_E_INVALID_REQUEST);
    lx_store_close(s);
}

#define STORE_SUITE_TESTS                                                                                          \
    cmocka_unit_test(test_caller_cost),                                                                            \
    cmocka_unit_test(test_migrations_idempotent), cmocka_unit_test(test_concurrent_first_open),                   \
        cmocka_unit_test(test_round_trip_every_field),                    \
        cmocka_unit_test(test_filters_and_order), cmocka_unit_test(test_outcomes_with_attempts),                    \
        cmocka_unit_test(test_validation), cmocka_unit_test(test_writer_many_threads_tiny_queue),                   \
        cmocka_unit_test(test_writer_stop_flushes), cmocka_unit_test(test_writer_bad_record_isolated),              \
        cmocka_unit_test(test_statements_reused), cmocka_unit_test(test_writer_linger),                            \
        cmocka_unit_test(test_json_errors)

#endif
