/* The router's pure decisions: alias validation, plans (order, seeded weighted pick and its
 * distribution, JSON round trip), backoff bounds and Retry-After, fallback classes, cooldown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "llmux.h"
#include "router/router.h"

static lx_aliases *make(const llmux_alias *a, size_t n) {
    lx_aliases *set = NULL;
    llmux_error_info err;
    llmux_status st = lx_aliases_create(a, n, &set, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    return set;
}

static void expect_refused(const llmux_alias *a, size_t n, const char *needle) {
    lx_aliases *set = NULL;
    llmux_error_info err;
    assert_int_equal(lx_aliases_create(a, n, &set, &err), LLMUX_E_CONFIGURATION);
    assert_null(set);
    if (!strstr(err.message, needle)) fprintf(stderr, "message: %s\n", err.message);
    assert_non_null(strstr(err.message, needle));
}

static void test_validation(void **state) {
    (void)state;
    llmux_alias_target t = {.model = "openai/gpt-4o"};
    llmux_alias a = {.name = "smart", .targets = &t, .n_targets = 1};
    llmux_alias two[2] = {a, a};
    expect_refused(two, 2, "defined twice");
    llmux_alias slash = a;
    slash.name = "a/b";
    expect_refused(&slash, 1, "without '/'");
    llmux_alias none = a;
    none.n_targets = 0;
    expect_refused(&none, 1, "1 to 16 targets");
    llmux_alias_target bad = {.model = "openai/x", .overrides = "[1,2]"};
    llmux_alias over = {.name = "o", .targets = &bad, .n_targets = 1};
    expect_refused(&over, 1, "overrides: not a JSON object");
    llmux_alias_target self = {.model = "loop"};
    llmux_alias loop = {.name = "loop", .targets = &self, .n_targets = 1};
    expect_refused(&loop, 1, "cannot name itself");
    llmux_status bogus = (llmux_status)99;
    llmux_alias fb = a;
    fb.fallback_on = &bogus;
    fb.n_fallback_on = 1;
    expect_refused(&fb, 1, "unknown class");
    llmux_alias neg = a;
    neg.retry.attempts = -1;
    expect_refused(&neg, 1, "attempts");
}

static void test_plan_order_and_defaults(void **state) {
    (void)state;
    llmux_alias_target t[3] = {{.model = "anthropic/c"}, {.model = "openai/g", .overrides = "{\"sampling\":{}}"},
                               {.model = "local/m"}};
    llmux_alias a = {.name = "smart", .targets = t, .n_targets = 3};
    lx_aliases *set = make(&a, 1);
    const lx_alias *al = lx_aliases_find(set, "smart");
    assert_non_null(al);
    assert_null(lx_aliases_find(set, "other"));
    lx_plan p;
    lx_plan_for_alias(al, 42, &p);
    assert_int_equal(p.n_steps, 3);
    assert_int_equal(p.picked, -1);
    assert_string_equal(p.steps[0].model, "anthropic/c");
    assert_string_equal(p.steps[1].model, "openai/g");
    assert_string_equal(p.steps[1].overrides, "{\"sampling\":{}}");
    assert_string_equal(p.steps[2].model, "local/m");
    assert_int_equal(p.retry.attempts, LX_RETRY_ATTEMPTS);
    assert_int_equal(p.retry.backoff_ms, LX_RETRY_BACKOFF_MS);
    /* Default fallback classes: the retryable ones. */
    assert_true(lx_plan_falls_back(&p, set, LLMUX_E_RATE_LIMITED));
    assert_true(lx_plan_falls_back(&p, set, LLMUX_E_UPSTREAM_SERVER));
    assert_false(lx_plan_falls_back(&p, set, LLMUX_E_INVALID_REQUEST));
    assert_false(lx_plan_falls_back(&p, set, LLMUX_E_CONTEXT_LENGTH));
    /* A plain model: one step, one attempt, never a fallback. */
    lx_plan m;
    lx_plan_for_model("openai/x", &m);
    assert_int_equal(m.n_steps, 1);
    assert_int_equal(m.retry.attempts, 1);
    assert_false(lx_plan_falls_back(&m, set, LLMUX_E_RATE_LIMITED));
    lx_aliases_destroy(set);
}

static void test_configured_fallback_classes(void **state) {
    (void)state;
    llmux_alias_target t[2] = {{.model = "a/x"}, {.model = "b/y"}};
    llmux_status fb[] = {LLMUX_E_CONTEXT_LENGTH, LLMUX_E_CONTENT_FILTERED};
    llmux_alias a = {.name = "big", .targets = t, .n_targets = 2, .fallback_on = fb, .n_fallback_on = 2};
    lx_aliases *set = make(&a, 1);
    lx_plan p;
    lx_plan_for_alias(lx_aliases_find(set, "big"), 1, &p);
    assert_true(lx_plan_falls_back(&p, set, LLMUX_E_CONTEXT_LENGTH));
    assert_true(lx_plan_falls_back(&p, set, LLMUX_E_CONTENT_FILTERED));
    assert_false(lx_plan_falls_back(&p, set, LLMUX_E_RATE_LIMITED)); /* only what was configured */
    lx_aliases_destroy(set);
}

static void test_weighted_pick(void **state) {
    (void)state;
    llmux_alias_target t[3] = {{.model = "a/x", .weight = 3}, {.model = "b/y", .weight = 1}, {.model = "c/z"}};
    llmux_alias a = {.name = "cheap", .targets = t, .n_targets = 3};
    lx_aliases *set = make(&a, 1);
    const lx_alias *al = lx_aliases_find(set, "cheap");
    int first_a = 0, n = 20000;
    for (int i = 0; i < n; i++) {
        lx_plan p;
        lx_plan_for_alias(al, (uint64_t)i * 7919u + 1, &p);
        assert_int_equal(p.n_steps, 3);
        assert_true(p.picked == 0 || p.picked == 1); /* never the unweighted one */
        assert_string_equal(p.steps[0].model, p.picked == 0 ? "a/x" : "b/y");
        /* The others follow in list order. */
        assert_string_equal(p.steps[1].model, p.picked == 0 ? "b/y" : "a/x");
        assert_string_equal(p.steps[2].model, "c/z");
        if (p.picked == 0) first_a++;
    }
    /* 3:1 -> 75 %; 20000 draws: sd ~0.3 %, allow 2 %. */
    double share = (double)first_a / n;
    assert_true(share > 0.73 && share < 0.77);
    /* Same seed, same plan. */
    lx_plan p1, p2;
    lx_plan_for_alias(al, 123456789, &p1);
    lx_plan_for_alias(al, 123456789, &p2);
    assert_int_equal(p1.picked, p2.picked);
    lx_aliases_destroy(set);
}

/* The plan's JSON as the jansson tree + json_dumps it was built with before (router.c now
 * writes it directly): the two must give the same bytes. */
static char *plan_json_jansson(const lx_plan *p) {
    json_t *o = json_object();
    json_t *targets = json_array();
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    json_object_set_new(o, "alias", p->alias ? json_string(p->alias) : json_null());
    json_object_set_new(o, "seed", json_string(seed));
    json_object_set_new(o, "picked", json_integer(p->picked));
    json_object_set_new(o, "retry", json_pack("{s:i,s:I,s:I}", "attempts", (int)p->retry.attempts, "backoff_ms",
                                              (json_int_t)p->retry.backoff_ms, "max_backoff_ms",
                                              (json_int_t)p->retry.max_backoff_ms));
    for (size_t i = 0; i < p->n_steps; i++)
        json_array_append_new(targets, json_pack("{s:s,s:i}", "model", p->steps[i].model, "index",
                                                 (int)p->steps[i].target_index));
    json_object_set_new(o, "targets", targets);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void test_plan_json_same_as_jansson(void **state) {
    (void)state;
    /* A plain model, and an alias whose names need escaping (quotes, backslash, a control
     * character, non-ASCII). */
    lx_plan p;
    lx_plan_for_model("openai/gpt-4o-mini", &p);
    char *a = lx_plan_to_json(&p), *b = plan_json_jansson(&p);
    assert_non_null(a);
    assert_string_equal(a, b);
    free(a);
    free(b);
    llmux_alias_target t[3] = {{.model = "a/\"x\"\\y", .weight = 1},
                               {.model = "b/caf\xc3\xa9\n\t\x01", .weight = 5},
                               {.model = "c/z"}};
    llmux_alias al = {.name = "w\"q", .targets = t, .n_targets = 3,
                      .retry = {.attempts = 3, .backoff_ms = 7, .max_backoff_ms = 3600000}};
    lx_aliases *set = make(&al, 1);
    lx_plan_for_alias(lx_aliases_find(set, "w\"q"), UINT64_MAX - 5, &p);
    a = lx_plan_to_json(&p);
    b = plan_json_jansson(&p);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(a);
    free(b);
    lx_aliases_destroy(set);
}

static void test_plan_json_round_trip(void **state) {
    (void)state;
    llmux_alias_target t[2] = {{.model = "a/x", .weight = 1}, {.model = "b/y", .weight = 5}};
    llmux_alias a = {.name = "w", .targets = t, .n_targets = 2, .retry = {.attempts = 3}};
    lx_aliases *set = make(&a, 1);
    lx_plan p;
    lx_plan_for_alias(lx_aliases_find(set, "w"), UINT64_MAX - 5, &p);
    char *json = lx_plan_to_json(&p);
    assert_non_null(json);
    lx_plan q;
    llmux_error_info err;
    assert_int_equal(lx_plan_from_json(json, set, &q, &err), LLMUX_OK);
    assert_int_equal(q.seed, p.seed); /* 64-bit seeds survive (kept as text) */
    assert_int_equal(q.picked, p.picked);
    assert_int_equal(q.n_steps, p.n_steps);
    for (size_t i = 0; i < p.n_steps; i++) assert_string_equal(q.steps[i].model, p.steps[i].model);
    assert_int_equal(q.retry.attempts, 3);
    free(json);
    /* Malformed or stale plans are refused. */
    assert_int_equal(lx_plan_from_json("{", set, &q, &err), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(lx_plan_from_json("{\"alias\":\"gone\",\"seed\":\"1\",\"targets\":[]}", set, &q, &err),
                     LLMUX_E_INVALID_REQUEST);
    assert_int_equal(
        lx_plan_from_json("{\"alias\":\"w\",\"seed\":\"1\",\"targets\":[{\"model\":\"z/z\",\"index\":0}]}", set, &q, &err),
        LLMUX_E_INVALID_REQUEST);
    lx_aliases_destroy(set);
}

static void test_backoff(void **state) {
    (void)state;
    llmux_retry_policy p = {.attempts = 5, .backoff_ms = 100, .max_backoff_ms = 1000};
    uint64_t rng = 7;
    for (int i = 0; i < 1000; i++) {
        int64_t d0 = lx_backoff_ms(&p, 0, lx_rng_next(&rng), -1);
        int64_t d3 = lx_backoff_ms(&p, 3, lx_rng_next(&rng), -1);
        int64_t d9 = lx_backoff_ms(&p, 9, lx_rng_next(&rng), -1);
        assert_true(d0 >= 0 && d0 <= 100);
        assert_true(d3 >= 0 && d3 <= 800);
        assert_true(d9 >= 0 && d9 <= 1000); /* capped */
    }
    /* Full jitter reaches the top of its range. */
    assert_int_equal(lx_backoff_ms(&p, 0, 100, -1), 100);
    /* A longer Retry-After wins; a shorter one does not shorten the backoff. */
    assert_int_equal(lx_backoff_ms(&p, 0, 50, 7000), 7000);
    assert_int_equal(lx_backoff_ms(&p, 0, 50, 10), 50);
}

static void test_cooldown(void **state) {
    (void)state;
    lx_cooldown c = {0};
    const int64_t s = 1000000000;
    assert_int_equal(lx_cooldown_check(&c, 0), LX_COOLDOWN_USE);
    lx_cooldown_record(&c, LLMUX_E_UPSTREAM_SERVER, 1 * s, 3, 30 * s);
    lx_cooldown_record(&c, LLMUX_E_INVALID_REQUEST, 1 * s, 3, 30 * s); /* the request's fault: not counted */
    lx_cooldown_record(&c, LLMUX_E_TIMEOUT, 2 * s, 3, 30 * s);
    assert_int_equal(lx_cooldown_check(&c, 2 * s), LX_COOLDOWN_USE);
    lx_cooldown_record(&c, LLMUX_E_NETWORK, 3 * s, 3, 30 * s); /* third in a row */
    assert_int_equal(lx_cooldown_check(&c, 4 * s), LX_COOLDOWN_SKIP);
    assert_int_equal(lx_cooldown_check(&c, 32 * s), LX_COOLDOWN_SKIP);
    assert_int_equal(lx_cooldown_check(&c, 33 * s), LX_COOLDOWN_PROBE); /* the period is over */
    assert_int_equal(lx_cooldown_check(&c, 33 * s), LX_COOLDOWN_SKIP);  /* one probe at a time */
    lx_cooldown_record(&c, LLMUX_E_RATE_LIMITED, 34 * s, 3, 30 * s);    /* failed probe: a new period */
    assert_int_equal(lx_cooldown_check(&c, 40 * s), LX_COOLDOWN_SKIP);
    assert_int_equal(lx_cooldown_check(&c, 64 * s), LX_COOLDOWN_PROBE);
    lx_cooldown_record(&c, LLMUX_OK, 65 * s, 3, 30 * s); /* healed */
    assert_int_equal(lx_cooldown_check(&c, 65 * s), LX_COOLDOWN_USE);
    assert_int_equal(c.failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),          cmocka_unit_test(test_plan_order_and_defaults),
        cmocka_unit_test(test_configured_fallback_classes), cmocka_unit_test(test_weighted_pick),
        cmocka_unit_test(test_plan_json_round_trip), cmocka_unit_test(test_plan_json_same_as_jansson), cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_cooldown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
