/* Execution records written by the runtime, against SQLite and a real PostgreSQL server: one
 * record per outcome (answered after a fallback, failed, cancelled, refused) with its attempts,
 * plan and cost source; none lost when 1,000 executions run concurrently and the runtime is
 * destroyed right after; replay follows the recorded plan and links the new record to the old. */
#define _DEFAULT_SOURCE
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "llmux.h"
#include "ev_upstream.h"
#include "support/fake_server.h"
#include "support/pg_server.h"
#include "two_providers.h"

#define STREAM "tests/data/fake/openai/stream_text.sse"
#define ERR429 "tests/data/fake/openai/error_429.json"

static char g_sqlite_url[512];
static pg_server *g_pg;
static const char *g_url; /* the backend of the current group */

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msg = {.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1};

static llmux_request request(const char *model) {
    llmux_request req = llmux_request_default();
    req.model = model;
    req.messages = &k_msg;
    req.n_messages = 1;
    req.stream = true;
    return req;
}

/* The record of id as a JSON object (with attempts). */
static json_t *get_record(const char *id) {
    llmux_records *rec = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_records_open(g_url, &rec, &err), LLMUX_OK);
    char *json = NULL;
    llmux_status st = llmux_records_get(rec, id, &json, &err);
    if (st != LLMUX_OK) fprintf(stderr, "get %s: %s\n", id, err.message);
    assert_int_equal(st, LLMUX_OK);
    json_t *o = json_loads(json, 0, NULL);
    assert_non_null(o);
    llmux_free(json);
    llmux_records_close(rec);
    return o;
}

static const char *str(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void records_two_start(two *f) {
    two_opts o = {.attempts = 1, .records = g_url};
    two_start_opts(f, &o);
}

static void push(lx_fake_server *s, int status, const char *file) {
    lx_fake_response r = {.status = status,
                          .headers = status == 200 ? "Content-Type: text/event-stream\r\n" : "Content-Type: application/json\r\n",
                          .body_file = file};
    assert_true(lx_fake_server_push(s, &r));
}

static bool stop_at_text(const llmux_event *ev, void *ud) {
    (void)ud;
    return ev->type != LLMUX_EVENT_TEXT_DELTA;
}

static void test_one_record_per_outcome(void **state) {
    (void)state;
    two f;
    records_two_start(&f);
    char ids[4][64];
    llmux_response *resp = NULL;
    llmux_error_info err;

    /* 1. Answered by b after a's 503. */
    push(f.sa, 503, ERR429);
    push(f.sb, 200, STREAM);
    llmux_request req = request("duo");
    assert_int_equal(llmux_run(f.rt, &req, NULL, &resp, &err), LLMUX_OK);
    assert_non_null(resp->execution_id);
    snprintf(ids[0], sizeof ids[0], "%s", resp->execution_id);
    llmux_response_free(resp);

    /* 2. Failed: both targets rate limited. */
    push(f.sa, 429, ERR429);
    push(f.sb, 429, ERR429);
    assert_int_equal(llmux_run(f.rt, &req, NULL, &resp, &err), LLMUX_E_RATE_LIMITED);
    snprintf(ids[1], sizeof ids[1], "%s", resp->execution_id);
    llmux_response_free(resp);

    /* 3. Cancelled by the consumer at the first text. */
    push(f.sa, 200, STREAM);
    llmux_run_params rp = llmux_run_default_params();
    rp.on_event = stop_at_text;
    assert_int_equal(llmux_run(f.rt, &req, &rp, &resp, &err), LLMUX_E_CANCELLED);
    snprintf(ids[2], sizeof ids[2], "%s", resp->execution_id);
    llmux_response_free(resp);

    /* 4. Refused: an unknown provider (no response, still a record). */
    llmux_request bad = request("nosuch/model");
    assert_int_equal(llmux_run(f.rt, &bad, NULL, &resp, &err), LLMUX_E_MODEL_NOT_FOUND);
    assert_null(resp);
    two_stop(&f); /* flushes the writer */

    json_t *r = get_record(ids[0]);
    assert_string_equal(str(r, "status"), "ok");
    assert_string_equal(str(r, "requested_model"), "duo");
    assert_string_equal(str(r, "provider"), "b");
    json_t *att = json_object_get(r, "attempts");
    assert_int_equal(json_array_size(att), 2);
    assert_string_equal(str(json_array_get(att, 0), "target"), "a/m");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(att, 0), "http_status")), 503);
    assert_string_equal(str(json_array_get(att, 1), "target"), "b/m");
    assert_string_equal(str(json_object_get(r, "plan"), "alias"), "duo");
    assert_true(json_is_object(json_object_get(r, "request"))); /* bodies on by default: replay uses it */
    assert_string_equal(str(r, "response_text"), "Hello, world!");
    assert_non_null(str(r, "cost_source"));
    json_decref(r);

    r = get_record(ids[1]);
    assert_string_equal(str(r, "status"), "rate_limited");
    assert_int_equal(json_array_size(json_object_get(r, "attempts")), 2);
    json_decref(r);

    r = get_record(ids[2]);
    assert_string_equal(str(r, "status"), "cancelled");
    assert_string_equal(str(r, "finish_reason"), "cancelled");
    json_decref(r);

    /* The refusal is listed too. */
    llmux_records *rec = NULL;
    assert_int_equal(llmux_records_open(g_url, &rec, &err), LLMUX_OK);
    llmux_records_filter flt = llmux_records_filter_default();
    flt.status = "model_not_found";
    char *jsonl = NULL;
    assert_int_equal(llmux_records_list(rec, &flt, &jsonl, &err), LLMUX_OK);
    assert_non_null(strstr(jsonl, "nosuch/model"));
    llmux_free(jsonl);
    llmux_records_close(rec);
}

static void test_thousand_then_destroy_loses_none(void **state) {
    (void)state;
    ev_upstream u;
    ev_upstream_start(&u, 200, "text/event-stream", STREAM);
    char url[64];
    ev_upstream_url(&u, url, sizeof url);
    llmux_provider_params p = {.name = "up", .protocol = "openai", .base_url = url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &p;
    rp.n_providers = 1;
    rp.records = g_url;
    llmux_runtime *rt = NULL;
    assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);
    enum { N = 1000 };
    llmux_execution **ex = calloc(N, sizeof *ex);
    static char model[64];
    snprintf(model, sizeof model, "up/batch-%d", (int)getpid()); /* this run's records only */
    for (int i = 0; i < N; i++) {
        llmux_request req = request(model);
        assert_int_equal(llmux_submit(rt, &req, NULL, &ex[i], NULL), LLMUX_OK);
    }
    for (int i = 0; i < N; i++) {
        llmux_response *r = NULL;
        assert_int_equal(llmux_execution_wait(ex[i], &r, NULL), LLMUX_OK);
        llmux_response_free(r);
        llmux_execution_free(ex[i]);
    }
    llmux_runtime_destroy(rt); /* right after: everything queued must still be written */
    free(ex);
    ev_upstream_stop(&u);

    llmux_records *rec = NULL;
    assert_int_equal(llmux_records_open(g_url, &rec, NULL), LLMUX_OK);
    size_t count = 0;
    char before[128] = "";
    for (;;) {
        llmux_records_filter flt = llmux_records_filter_default();
        flt.model = model;
        flt.limit = 400;
        flt.before_id = before[0] ? before : NULL;
        char *jsonl = NULL;
        assert_int_equal(llmux_records_list(rec, &flt, &jsonl, NULL), LLMUX_OK);
        size_t page = 0;
        for (char *line = strtok(jsonl, "\n"); line; line = strtok(NULL, "\n")) {
            json_t *o = json_loads(line, 0, NULL);
            assert_non_null(o);
            assert_string_equal(str(o, "status"), "ok");
            snprintf(before, sizeof before, "%s", str(o, "id"));
            json_decref(o);
            page++;
        }
        llmux_free(jsonl);
        count += page;
        if (page == 0) break;
    }
    llmux_records_close(rec);
    assert_int_equal(count, N);
}

static void test_replay_follows_the_plan(void **state) {
    (void)state;
    ev_pair e;
    ev_pair_start(&e, STREAM, "coin", 1, 1, g_url);
    llmux_runtime *rt = e.rt;
    char id1[64] = "", id2[64] = "";
    /* Until both weighted picks occurred (a fair coin: 40 rounds miss one with probability 2^-39). */
    for (int round = 0; round < 40 && !(atomic_load(&e.ua.requests) > 2 && atomic_load(&e.ub.requests) > 2); round++) {
        llmux_request req = request("coin");
        req.sampling.seed = 7;
        llmux_response *first = NULL, *again = NULL;
        assert_int_equal(llmux_run(rt, &req, NULL, &first, NULL), LLMUX_OK);
        llmux_error_info err;
        llmux_status st = llmux_replay(rt, first->execution_id, NULL, &again, &err);
        if (st != LLMUX_OK) fprintf(stderr, "replay: %s\n", err.message);
        assert_int_equal(st, LLMUX_OK);
        assert_string_equal(again->provider, first->provider); /* the same weighted pick */
        assert_string_not_equal(again->execution_id, first->execution_id);
        snprintf(id1, sizeof id1, "%s", first->execution_id);
        snprintf(id2, sizeof id2, "%s", again->execution_id);
        llmux_response_free(first);
        llmux_response_free(again);
    }
    assert_true(atomic_load(&e.ua.requests) > 2 && atomic_load(&e.ub.requests) > 2);
    llmux_runtime_destroy(rt); /* flushes the records */
    e.rt = NULL;
    /* The replay links to the original and carries the same plan (targets, seed, pick). */
    json_t *o1 = get_record(id1), *o2 = get_record(id2);
    assert_string_equal(str(o2, "replay_of"), id1);
    assert_true(json_equal(json_object_get(o2, "plan"), json_object_get(o1, "plan")));
    assert_non_null(str(json_object_get(o1, "plan"), "seed"));
    json_decref(o1);
    json_decref(o2);
    ev_pair_stop(&e);
}

static void test_replay_errors(void **state) {
    (void)state;
    llmux_runtime_params rp = llmux_runtime_default_params();
    llmux_runtime *rt = NULL;
    assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);
    llmux_response *r = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_replay(rt, "exec_123", NULL, &r, &err), LLMUX_E_CONFIGURATION); /* no records */
    llmux_runtime_destroy(rt);
    rp.records = g_url;
    assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);
    assert_int_equal(llmux_replay(rt, "exec_doesnotexist", NULL, &r, &err), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(llmux_replay(rt, "not an id; drop table", NULL, &r, &err), LLMUX_E_INVALID_REQUEST);
    assert_null(r);
    llmux_runtime_destroy(rt);
}

static int use_sqlite(void **state) {
    (void)state;
    g_url = g_sqlite_url;
    return 0;
}

static int use_pg(void **state) {
    (void)state;
    g_url = pg_server_url(g_pg);
    return 0;
}

int main(void) {
    char dir[] = "/tmp/llmux-exec-records.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    snprintf(g_sqlite_url, sizeof g_sqlite_url, "sqlite:%s/records.db", dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_record_per_outcome),
        cmocka_unit_test(test_thousand_then_destroy_loses_none),
        cmocka_unit_test(test_replay_follows_the_plan),
        cmocka_unit_test(test_replay_errors),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, use_sqlite, NULL);
    int pg = pg_server_start("llmux_exec", &g_pg);
    if (pg == 0) {
        failed += cmocka_run_group_tests_name("postgresql", tests, use_pg, NULL);
        pg_server_destroy(g_pg);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failed) return 1;
    if (pg == PG_SERVER_SKIP) {
        printf("SKIP: PostgreSQL binaries not installed; the SQLite half passed\n");
        return PG_SERVER_SKIP;
    }
    return pg == 0 ? 0 : 1;
}
