/* The executor against fake upstreams: a 429's Retry-After is honoured (measured), a 503 falls
 * back to the next target, nothing is retried once an event reached the caller (the upstream
 * sees exactly one request), a stream that dies before its first token still falls back, a
 * deadline ends a stalled stream, a cancel during a backoff returns at once, a failing target
 * cools down and is probed after the period, weighted picks follow their weights, and a target's
 * overrides reach its wire request. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "llmux.h"
#include "ev_upstream.h"
#include "support/fake_server.h"
#include "two_providers.h"

#define STREAM "tests/data/fake/openai/stream_text.sse"
#define ERR429 "tests/data/fake/openai/error_429.json"

typedef two fx;

static void fx_start(fx *f, int32_t attempts, int32_t cool_failures, int64_t cool_ms) {
    two_opts o = {.attempts = attempts, .cooldown_failures = cool_failures, .cooldown_ms = cool_ms};
    two_start_opts(f, &o);
}

static void fx_stop(fx *f) { two_stop(f); }

static void push(lx_fake_server *s, int status, const char *extra_headers, const char *file, lx_fake_end end,
                 size_t end_after) {
    char headers[256];
    snprintf(headers, sizeof headers, "Content-Type: %s\r\n%s", status == 200 ? "text/event-stream" : "application/json",
             extra_headers ? extra_headers : "");
    lx_fake_response r = {.status = status, .headers = headers, .body_file = file, .chunked = true,
                          .chunk_size = 64, .end = end, .end_after = end_after};
    assert_true(lx_fake_server_push(s, &r));
}

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

typedef struct seen {
    int starts, texts, errors, finishes;
    char text[256];
} seen;

static bool see(const llmux_event *ev, void *ud) {
    seen *s = ud;
    switch (ev->type) {
    case LLMUX_EVENT_START: s->starts++; break;
    case LLMUX_EVENT_TEXT_DELTA:
        s->texts++;
        strncat(s->text, ev->text, ev->text_len < sizeof s->text - strlen(s->text) - 1 ? ev->text_len
                                                                                        : sizeof s->text - strlen(s->text) - 1);
        break;
    case LLMUX_EVENT_ERROR: s->errors++; break;
    case LLMUX_EVENT_FINISH: s->finishes++; break;
    default: break;
    }
    return true;
}

static llmux_status run(fx *f, llmux_request *req, const llmux_cancel *cancel, seen *s, llmux_response **resp,
                        llmux_error_info *err) {
    llmux_run_params rp = llmux_run_default_params();
    rp.on_event = see;
    rp.user_data = s;
    rp.cancel = (llmux_cancel *)cancel;
    return llmux_run(f->rt, req, &rp, resp, err);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Bytes of the stream up to and including its n-th event (n >= 1). */
static size_t after_events(int n) {
    size_t len;
    char *body = lx_fake_read_file(STREAM, &len);
    assert_non_null(body);
    const char *p = body;
    for (int i = 0; i < n; i++) {
        p = strstr(p, "\n\n");
        assert_non_null(p);
        p += 2;
    }
    size_t off = (size_t)(p - body);
    free(body);
    return off;
}

static void test_retry_after_honoured(void **state) {
    (void)state;
    fx f;
    fx_start(&f, 2, 0, 0);
    push(f.sa, 429, "Retry-After: 1\r\n", ERR429, LX_FAKE_END_NORMAL, 0);
    push(f.sa, 200, NULL, STREAM, LX_FAKE_END_NORMAL, 0);
    seen s = {0};
    llmux_request req = request("duo");
    llmux_response *resp = NULL;
    double t0 = now_ms();
    assert_int_equal(run(&f, &req, NULL, &s, &resp, NULL), LLMUX_OK);
    double waited = now_ms() - t0;
    assert_true(waited >= 950); /* the upstream asked for 1 s; the configured backoff is 1 ms */
    assert_string_equal(llmux_response_text(resp), "Hello, world!");
    assert_int_equal(lx_fake_server_requests(f.sa), 2);
    assert_int_equal(lx_fake_server_requests(f.sb), 0);
    assert_int_equal(s.starts, 1);
    llmux_response_free(resp);
    fx_stop(&f);
}

static void test_fallback_on_503(void **state) {
    (void)state;
    fx f;
    fx_start(&f, 1, 0, 0);
    push(f.sa, 503, NULL, ERR429, LX_FAKE_END_NORMAL, 0);
    push(f.sb, 200, NULL, STREAM, LX_FAKE_END_NORMAL, 0);
    seen s = {0};
    llmux_request req = request("duo");
    llmux_response *resp = NULL;
    assert_int_equal(run(&f, &req, NULL, &s, &resp, NULL), LLMUX_OK);
    assert_string_equal(llmux_response_text(resp), "Hello, world!");
    assert_string_equal(resp->provider, "b");
    assert_int_equal(lx_fake_server_requests(f.sa), 1);
    assert_int_equal(lx_fake_server_requests(f.sb), 1);
    assert_int_equal(s.starts, 1);
    assert_int_equal(s.errors, 0);
    llmux_response_free(resp);
    fx_stop(&f);
}

static void test_no_retry_after_first_event(void **state) {
    (void)state;
    fx f;
    fx_start(&f, 3, 0, 0);
    /* "Hello" reaches the caller, then the connection breaks. */
    push(f.sa, 200, NULL, STREAM, LX_FAKE_END_BREAK, after_events(2));
    push(f.sb, 200, NULL, STREAM, LX_FAKE_END_NORMAL, 0);
    seen s = {0};
    llmux_request req = request("duo");
    llmux_response *resp = NULL;
    llmux_status st = run(&f, &req, NULL, &s, &resp, NULL);
    assert_true(st == LLMUX_E_NETWORK || st == LLMUX_E_UPSTREAM_PROTOCOL);
    assert_string_equal(s.text, "Hello");
    assert_int_equal(s.errors, 1);
    assert_int_equal(lx_fake_server_requests(f.sa), 1); /* exactly one request upstream */
    assert_int_equal(lx_fake_server_requests(f.sb), 0);
    assert_non_null(resp);
    assert_string_equal(llmux_response_text(resp), "Hello");
    llmux_response_free(resp);
    fx_stop(&f);
}

static void test_fallback_when_stream_dies_before_first_token(void **state) {
    (void)state;
    fx f;
    fx_start(&f, 1, 0, 0);
    /* Only the role chunk (no content) arrives, then the connection breaks. */
    push(f.sa, 200, NULL, STREAM, LX_FAKE_END_BREAK, after_events(1));
    push(f.sb, 200, NULL, STREAM, LX_FAKE_END_NORMAL, 0);
    seen s = {0};
    llmux_request req = request("duo");
    llmux_response *resp = NULL;
    assert_int_equal(run(&f, &req, NULL, &s, &resp, NULL), LLMUX_OK);
    assert_string_equal(s.text, "Hello, world!");
    assert_int_equal(s.starts, 1); /* a's START was held back and dropped */
    assert_int_equal(s.errors, 0);
    assert_string_equal(resp->provider, "b");
    llmux_response_free(resp);
    fx_stop(&f);
}

static void test_deadline_mid_stream(void **state) {
    (void)state;
    fx f;
    fx_start(&f, 1, 0, 0);
    push(f.sa, 200, NULL, STREAM, LX_FAKE_END_STALL, after_events(2));
    seen s = {0};
    llmux_request req = request("a/m");
    req.deadline_ms = 700;
    llmux_response *resp = NULL;
    llmux_error_info err;
    double t0 = now_ms();
    assert_int_equal(run(&f, &req, NULL, &s, &resp, &err), LLMUX_E_TIMEOUT);
    assert_true(now_ms() - t0 < 5000);
    assert_string_equal(s.text, "Hello");
    assert_int_equal(resp->finish_reason, LLMUX_FINISH_ERROR);
    llmux_response_free(resp);
    fx_stop(&f);
}

static void *cancel_later(void *arg) {
    usleep(300 * 1000);
    llmux_cancel_trigger(arg);
    return NULL;
}

/* Cancelling mid-stream closes the upstream connection (the fake server sees it closed) and
 * ends the stream with FINISH(CANCELLED) after what was received. */
static void test_cancel_mid_stream_closes_upstream(void **state) {
    (void)state;
    fx f;
    fx_start(&f, 1, 0, 0);
    push(f.sa, 200, NULL, STREAM, LX_FAKE_END_STALL, after_events(2));
    llmux_cancel *c = llmux_cancel_create();
    pthread_t th;
    seen s = {0};
    llmux_request req = request("a/m");
    llmux_response *resp = NULL;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, c), 0);
    assert_int_equal(run(&f, &req, c, &s, &resp, NULL), LLMUX_E_CANCELLED);
    pthread_join(th, NULL);
    assert_string_equal(s.text, "Hello");
    assert_int_equal(resp->finish_reason, LLMUX_FINISH_CANCELLED);
    assert_true(lx_fake_server_wait_closed(f.sa, 1, 5000)); /* the socket went away */
    llmux_response_free(resp);
    llmux_cancel_destroy(c);
    fx_stop(&f);
}

static void test_cancel_during_backoff(void **state) {
    (void)state;
    fx f;
    fx_start(&f, 3, 0, 0);
    push(f.sa, 429, "Retry-After: 30\r\n", ERR429, LX_FAKE_END_NORMAL, 0);
    llmux_cancel *c = llmux_cancel_create();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, c), 0);
    seen s = {0};
    llmux_request req = request("duo");
    llmux_response *resp = NULL;
    double t0 = now_ms();
    assert_int_equal(run(&f, &req, c, &s, &resp, NULL), LLMUX_E_CANCELLED);
    double took = now_ms() - t0;
    pthread_join(th, NULL);
    assert_true(took < 5000); /* not the 30 s the upstream asked for */
    assert_int_equal(resp->finish_reason, LLMUX_FINISH_CANCELLED);
    assert_int_equal(s.finishes, 1);
    assert_int_equal(lx_fake_server_requests(f.sa), 1);
    assert_int_equal(lx_fake_server_requests(f.sb), 0);
    llmux_response_free(resp);
    llmux_cancel_destroy(c);
    fx_stop(&f);
}

static bool targets_say(llmux_runtime *rt, const char *needle) {
    char *json = NULL;
    assert_int_equal(llmux_runtime_targets(rt, &json, NULL), LLMUX_OK);
    bool yes = strstr(json, needle) != NULL;
    if (!yes) fprintf(stderr, "targets: %s\n", json);
    llmux_free(json);
    return yes;
}

static void test_cooldown_skips_then_probes(void **state) {
    (void)state;
    fx f;
    fx_start(&f, 1, 2, 1500);
    push(f.sa, 503, NULL, ERR429, LX_FAKE_END_NORMAL, 0);
    push(f.sa, 503, NULL, ERR429, LX_FAKE_END_NORMAL, 0);
    push(f.sa, 200, NULL, STREAM, LX_FAKE_END_NORMAL, 0);
    for (int i = 0; i < 3; i++) push(f.sb, 200, NULL, STREAM, LX_FAKE_END_NORMAL, 0);
    for (int i = 0; i < 3; i++) {
        seen s = {0};
        llmux_request req = request("duo");
        llmux_response *resp = NULL;
        assert_int_equal(run(&f, &req, NULL, &s, &resp, NULL), LLMUX_OK);
        assert_string_equal(resp->provider, "b");
        llmux_response_free(resp);
    }
    /* Two failures put a in cooldown: the third request went straight to b. */
    assert_int_equal(lx_fake_server_requests(f.sa), 2);
    assert_int_equal(lx_fake_server_requests(f.sb), 3);
    assert_true(targets_say(f.rt, "{\"target\":\"a/m\",\"consecutive_failures\":2,\"cooling_down\":true"));
    usleep(1700 * 1000);
    /* After the period, one request probes a, and a success heals it. */
    seen s = {0};
    llmux_request req = request("duo");
    llmux_response *resp = NULL;
    assert_int_equal(run(&f, &req, NULL, &s, &resp, NULL), LLMUX_OK);
    assert_string_equal(resp->provider, "a");
    llmux_response_free(resp);
    assert_int_equal(lx_fake_server_requests(f.sa), 3);
    assert_true(targets_say(f.rt, "{\"target\":\"a/m\",\"consecutive_failures\":0,\"cooling_down\":false"));
    fx_stop(&f);
}

static void test_weighted_picks_follow_weights(void **state) {
    (void)state;
    ev_pair e;
    ev_pair_start(&e, STREAM, "cheap", 3, 1, NULL);
    llmux_runtime *rt = e.rt;
    const int n = 400;
    for (int i = 0; i < n; i++) {
        llmux_request req = request("cheap");
        llmux_response *resp = NULL;
        assert_int_equal(llmux_run(rt, &req, NULL, &resp, NULL), LLMUX_OK);
        llmux_response_free(resp);
    }
    int a = atomic_load(&e.ua.requests), b = atomic_load(&e.ub.requests);
    assert_int_equal(a + b, n);
    /* 3:1 of 400 -> 300 expected, sd ~8.7; allow 5 sd. */
    if (a < 256 || a > 344) fprintf(stderr, "a got %d of %d\n", a, n);
    assert_true(a >= 256 && a <= 344);
    ev_pair_stop(&e);
}

static void test_overrides_reach_the_wire(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    char url[128];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    llmux_provider_params p = {.name = "a", .protocol = "openai", .base_url = url, .api_key = "k"};
    llmux_alias_target t = {.model = "a/m", .overrides = "{\"max_tokens\":7,\"temperature\":0.25}"};
    llmux_alias al = {.name = "tuned", .targets = &t, .n_targets = 1};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &p;
    rp.n_providers = 1;
    rp.aliases = &al;
    rp.n_aliases = 1;
    llmux_runtime *rt = NULL;
    assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);
    push(s, 200, NULL, STREAM, LX_FAKE_END_NORMAL, 0);
    llmux_request req = request("tuned");
    req.sampling.max_tokens = 100;
    llmux_response *resp = NULL;
    assert_int_equal(llmux_run(rt, &req, NULL, &resp, NULL), LLMUX_OK);
    llmux_response_free(resp);
    lx_fake_request got;
    assert_true(lx_fake_server_request(s, 0, &got));
    if (!strstr(got.body, "7") || !strstr(got.body, "0.25")) fprintf(stderr, "body: %s\n", got.body);
    assert_true(strstr(got.body, "\"max_tokens\":7") || strstr(got.body, "\"max_completion_tokens\":7"));
    assert_non_null(strstr(got.body, "\"temperature\":0.25"));
    assert_null(strstr(got.body, "100"));
    free(got.body);
    llmux_runtime_destroy(rt);
    lx_fake_server_stop(s);
}

/* Alias "mixed": a/claude (anthropic, answering 503) then a fallback to provider name_b of
 * protocol_b (model <name_b>/<model_b>, answering fixture_b), run on a conversation whose assistant turn
 * carries a reasoning signature only a can verify. The response, or NULL after a failure. */
static llmux_response *run_fallback(lx_fake_server *sa, lx_fake_server *sb, const char *name_b, const char *protocol_b,
                                    const char *model_b, const char *fixture_b, int32_t max_tokens) {
    char ua[128], ub[128], mb[64];
    lx_fake_server_url(sa, "", ua, sizeof ua);
    lx_fake_server_url(sb, "/v1", ub, sizeof ub);
    snprintf(mb, sizeof mb, "%s/%s", name_b, model_b);
    llmux_provider_params p[2] = {{.name = "a", .protocol = "anthropic", .base_url = ua, .api_key = "k"},
                                  {.name = name_b, .protocol = protocol_b, .base_url = ub, .api_key = "k"}};
    llmux_alias_target t[2] = {{.model = "a/claude"}, {.model = mb}};
    llmux_alias al = {.name = "mixed", .targets = t, .n_targets = 2, .retry = {.attempts = 1}};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = p;
    rp.n_providers = 2;
    rp.aliases = &al;
    rp.n_aliases = 1;
    llmux_runtime *rt = NULL;
    assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);
    push(sa, 503, NULL, ERR429, LX_FAKE_END_NORMAL, 0);
    push(sb, 200, NULL, fixture_b, LX_FAKE_END_NORMAL, 0);
    llmux_part u1 = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    llmux_part a1[2] = {{.type = LLMUX_PART_REASONING, .text = "thinking it over", .signature = "sig-only-for-a"},
                        {.type = LLMUX_PART_TEXT, .text = "Hello"}};
    llmux_part u2 = {.type = LLMUX_PART_TEXT, .text = "Again"};
    llmux_message msgs[3] = {{.role = LLMUX_ROLE_USER, .parts = &u1, .n_parts = 1},
                             {.role = LLMUX_ROLE_ASSISTANT, .parts = a1, .n_parts = 2},
                             {.role = LLMUX_ROLE_USER, .parts = &u2, .n_parts = 1}};
    llmux_request req = llmux_request_default();
    req.model = "mixed";
    req.messages = msgs;
    req.n_messages = 3;
    req.stream = true;
    req.sampling.max_tokens = max_tokens;
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = llmux_run(rt, &req, NULL, &resp, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    llmux_runtime_destroy(rt);
    return resp;
}

/* A fallback to another provider hands the conversation off: the origin's reasoning signature
 * goes to the origin only. */
static void test_fallback_hands_off_the_conversation(void **state) {
    (void)state;
    lx_fake_server *sa = lx_fake_server_start(), *sb = lx_fake_server_start();
    assert_non_null(sa);
    assert_non_null(sb);
    llmux_response *resp = run_fallback(sa, sb, "b", "openai", "gpt", STREAM, 64);
    assert_string_equal(resp->provider, "b");
    llmux_response_free(resp);
    lx_fake_request ra, rb;
    assert_true(lx_fake_server_request(sa, 0, &ra));
    assert_true(lx_fake_server_request(sb, 0, &rb));
    assert_non_null(strstr(ra.body, "sig-only-for-a")); /* the origin gets its signature back */
    assert_null(strstr(rb.body, "sig-only-for-a"));     /* another provider never sees it */
    assert_non_null(strstr(rb.body, "Again"));
    free(ra.body);
    free(rb.body);
    lx_fake_server_stop(sa);
    lx_fake_server_stop(sb);
}

/* A fallback to a Responses API target: the conversation is handed off by OpenAI's conventions
 * (another provider's reasoning signature left out) and the answer decoded from the Responses
 * stream. */
static void test_fallback_to_responses_target(void **state) {
    (void)state;
    lx_fake_server *sa = lx_fake_server_start(), *sb = lx_fake_server_start();
    assert_non_null(sa);
    assert_non_null(sb);
    llmux_response *resp = run_fallback(sa, sb, "r", "openai_responses", "gpt-5-codex",
                                        "tests/providers/data/openai_responses/stream_text.sse", LLMUX_UNSET_INT);
    assert_string_equal(resp->provider, "r");
    assert_string_equal(llmux_response_text(resp), "Hello, world");
    assert_int_equal(resp->usage.reasoning_tokens, 12);
    llmux_response_free(resp);
    lx_fake_request rb;
    assert_true(lx_fake_server_request(sb, 0, &rb));
    assert_string_equal(rb.path, "/v1/responses");
    assert_null(strstr(rb.body, "sig-only-for-a"));
    assert_non_null(strstr(rb.body, "\"Again\""));
    free(rb.body);
    lx_fake_server_stop(sa);
    lx_fake_server_stop(sb);
}

static void test_alias_refused_when_it_shadows_a_provider(void **state) {
    (void)state;
    llmux_alias_target t = {.model = "openai/x"};
    llmux_alias al = {.name = "openai", .targets = &t, .n_targets = 1};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.aliases = &al;
    rp.n_aliases = 1;
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    /* "openai" alone is not a provider spec (no '/'), but "local" is reserved. */
    al.name = "local";
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_E_CONFIGURATION);
    assert_null(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_honoured),
        cmocka_unit_test(test_fallback_on_503),
        cmocka_unit_test(test_no_retry_after_first_event),
        cmocka_unit_test(test_fallback_when_stream_dies_before_first_token),
        cmocka_unit_test(test_deadline_mid_stream),
        cmocka_unit_test(test_cancel_during_backoff),
        cmocka_unit_test(test_cancel_mid_stream_closes_upstream),
        cmocka_unit_test(test_cooldown_skips_then_probes),
        cmocka_unit_test(test_weighted_picks_follow_weights),
        cmocka_unit_test(test_overrides_reach_the_wire),
        cmocka_unit_test(test_fallback_hands_off_the_conversation),
        cmocka_unit_test(test_fallback_to_responses_target),
        cmocka_unit_test(test_alias_refused_when_it_shadows_a_provider),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
