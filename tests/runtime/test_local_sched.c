/* The local model's continuous-batching scheduler (engine/sched.h) behind its engine thread
 * (runtime/local_worker.h), on a generated random-weight model (tools/gguf_gen) and the bundled
 * model: concurrent requests give the same text as the same requests alone; a long prompt
 * arriving while others generate does not stop their tokens; cancelling a running request
 * frees its slot for a queued one, a request cancelled while queued leaves without START;
 * alternating two conversations over two slots reuses each one's prefix and reports it in
 * cached_input_tokens (a cold prompt reports 0); a full queue answers QUEUE_FULL at once with a
 * retry delay. Everything counts events; nothing depends on timing. */
#define _XOPEN_SOURCE 700
#include <limits.h>
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

#include "core/buf.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "engine/sched.h"
#include "runtime/local_worker.h"
#include "support/model_dir.h"
#include "support/sampling.h"

static char g_dir[PATH_MAX];
static char g_tiny[PATH_MAX];
static char g_printable[PATH_MAX]; /* the same shape, --printable: greedy never ends early */

/* ------------------------------------------------------------ one request */

typedef struct probe probe;
/* Shared by the probes of one test: the worker thread signals through it. */
typedef struct hub {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_done;
    /* long-prompt test: deltas of the other streams while the watched one is in prefill */
    probe *watched;
    int deltas_during_watched_prefill;
    /* queue-full test: the first event blocks the worker until released */
    bool hold;
    bool holding;
} hub;

struct probe {
    hub *h;
    char prompt_text[4096];
    llmux_part part;
    llmux_message msg;
    llmux_request req;
    llmux_cancel *cancel;
    int cancel_after_deltas; /* > 0: trigger cancel after this many deltas */
    lx_buf text;
    int deltas;
    bool started_event;      /* START seen */
    bool first_delta;
    llmux_finish_reason finish;
    llmux_usage usage;
    bool done;
    llmux_status status;
    int64_t retry_after_ms;
};

static bool on_event(void *ud, const llmux_event *ev) {
    probe *p = ud;
    hub *h = p->h;
    pthread_mutex_lock(&h->mu);
    if (h->hold) {
        h->holding = true;
        pthread_cond_broadcast(&h->cv);
        while (h->hold) pthread_cond_wait(&h->cv, &h->mu);
    }
    switch (ev->type) {
    case LLMUX_EVENT_START: p->started_event = true; break;
    case LLMUX_EVENT_TEXT_DELTA:
        lx_buf_append(&p->text, ev->text, ev->text_len);
        p->deltas++;
        p->first_delta = true;
        if (h->watched && p != h->watched && h->watched->started_event && !h->watched->first_delta)
            h->deltas_during_watched_prefill++;
        if (p->cancel_after_deltas && p->deltas >= p->cancel_after_deltas) llmux_cancel_trigger(p->cancel);
        pthread_cond_broadcast(&h->cv);
        break;
    case LLMUX_EVENT_USAGE: p->usage = ev->usage; break;
    case LLMUX_EVENT_FINISH: p->finish = ev->finish_reason; break;
    default: break;
    }
    pthread_mutex_unlock(&h->mu);
    return true;
}

static void on_done(void *ud, llmux_status st, const llmux_error_info *err, const lx_gen_stats *stats) {
    (void)stats;
    probe *p = ud;
    pthread_mutex_lock(&p->h->mu);
    p->done = true;
    p->status = st;
    p->retry_after_ms = err ? err->retry_after_ms : -1;
    p->h->n_done++;
    pthread_cond_broadcast(&p->h->cv);
    pthread_mutex_unlock(&p->h->mu);
}

static void hub_init(hub *h) {
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
}

static void hub_free(hub *h) {
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
}

static void probe_init(probe *p, hub *h, const char *prompt, llmux_sampling s) {
    memset(p, 0, sizeof *p);
    p->h = h;
    snprintf(p->prompt_text, sizeof p->prompt_text, "%s", prompt);
    p->part.type = LLMUX_PART_TEXT;
    p->part.text = p->prompt_text;
    p->msg = (llmux_message){LLMUX_ROLE_USER, &p->part, 1, NULL};
    p->req = llmux_request_default();
    p->req.messages = &p->msg;
    p->req.n_messages = 1;
    p->req.sampling = s;
    p->cancel = llmux_cancel_create();
    lx_buf_init(&p->text, 1 << 20);
    lx_buf_append(&p->text, "", 0);
}

static void probe_free(probe *p) {
    llmux_cancel_destroy(p->cancel);
    lx_buf_free(&p->text);
}

static llmux_status submit(lx_worker *w, probe *p) {
    lx_worker_job j = {.req = &p->req, .cancel = p->cancel, .sink = {on_event, p}, .done = on_done, .user_data = p};
    llmux_error_info err;
    llmux_status st = lx_worker_submit(w, &j, &err);
    if (st != LLMUX_OK) p->retry_after_ms = err.retry_after_ms;
    return st;
}

static void wait_done(hub *h, int n) {
    pthread_mutex_lock(&h->mu);
    while (h->n_done < n) pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static lx_model *load_opts(const char *path, int32_t n_ctx, int32_t n_slots, int32_t cache_mb, bool kv_per_slot) {
    lx_model_params mp = lx_model_default_params();
    mp.prompt_cache_mb = cache_mb;
    mp.kv_per_slot = kv_per_slot;
    mp.path = path;
    mp.n_threads = 2;
    mp.n_ctx = n_ctx;
    mp.n_slots = n_slots;
    lx_model *m = NULL;
    llmux_error_info err;
    assert_int_equal(lx_model_load(&mp, &m, &err), LLMUX_OK);
    assert_int_equal(lx_model_n_slots(m), n_slots);
    return m;
}

static lx_model *load_cached(const char *path, int32_t n_ctx, int32_t n_slots, int32_t cache_mb) {
    return load_opts(path, n_ctx, n_slots, cache_mb, false);
}

static lx_model *load(const char *path, int32_t n_ctx, int32_t n_slots) { return load_cached(path, n_ctx, n_slots, 0); }

/* Runs p alone on w and waits for it. */
static void run_alone(lx_worker *w, hub *h, probe *p) {
    int before = h->n_done;
    assert_int_equal(submit(w, p), LLMUX_OK);
    wait_done(h, before + 1);
}

/* ------------------------------------------------------------------ setup */

static int setup(void **state) {
    (void)state;
    if (model_dir_create("llmux-sched", g_dir, sizeof g_dir)) return -1;
    snprintf(g_tiny, sizeof g_tiny, "%s/tiny.gguf", g_dir);
    snprintf(g_printable, sizeof g_printable, "%s/printable.gguf", g_dir);
    if (gguf_gen(g_tiny, TINY_LLAMA_ARGS " --ctx 2048")) return -1;
    return gguf_gen(g_printable, TINY_LLAMA_ARGS " --ctx 2048 --printable");
}

static int teardown(void **state) {
    (void)state;
    return model_dir_remove(g_dir);
}

/* ------------------------------------------------------------------ tests */

#define N_SAME 6

/* Six greedy requests (different prompts) on four slots: all at once (two of them queue) they
 * give exactly the text, finish and usage each gives alone. Greedy, because the numerics of a
 * sequence batched with others are not bit-identical to its numerics alone: in the unified
 * cache its KV cells sit among the others', and the attention (flash attention, the default)
 * groups its sums by cell offsets and by the batch's shape. That moves logits by rounding
 * noise. On the random-weight F16 model the greedy picks of these prompts survive it with the
 * unified cache (the default); on the bundled model they do not (one stream of six diverges
 * after 14 bytes), so it runs with kv_per_slot (one KV stream per slot, plain attention: the
 * engine's determinism option), where every stream matches (docs/local.md, "Determinism"). */
static void check_concurrent_matches_alone(const char *path, bool kv_per_slot) {
    lx_model *m = load_opts(path, 1024, 4, 0, kv_per_slot);
    lx_worker *w = lx_worker_create(&(lx_worker_params){.model = m});
    assert_non_null(w);
    hub h;
    hub_init(&h);
    static const char *const prompts[N_SAME] = {
        "Once upon a time",          "The quick brown fox jumps over the lazy dog",
        "A",                         "Tell me a fortune about the sea and the sky",
        "Numbers: 1 2 3 4 5 6 7 8 9", "Why"};
    probe alone[N_SAME], together[N_SAME];
    for (int i = 0; i < N_SAME; i++) {
        llmux_sampling s = sampling_greedy(24);
        probe_init(&alone[i], &h, prompts[i], s);
        probe_init(&together[i], &h, prompts[i], s);
    }
    for (int i = 0; i < N_SAME; i++) {
        run_alone(w, &h, &alone[i]);
        assert_int_equal(alone[i].status, LLMUX_OK);
    }
    /* A fresh model for the second round: its prompts then run cold as they did alone (a prompt
     * found in a slot's cache would decode only its last token, in a batch of another shape). */
    lx_worker_destroy(w);
    lx_model_free(m);
    m = load_opts(path, 1024, 4, 0, kv_per_slot);
    w = lx_worker_create(&(lx_worker_params){.model = m});
    int before = h.n_done;
    for (int i = 0; i < N_SAME; i++) assert_int_equal(submit(w, &together[i]), LLMUX_OK);
    wait_done(&h, before + N_SAME);
    for (int i = 0; i < N_SAME; i++) {
        assert_int_equal(together[i].status, LLMUX_OK);
        assert_int_equal(together[i].finish, alone[i].finish);
        assert_int_equal(together[i].usage.output_tokens, alone[i].usage.output_tokens);
        assert_int_equal(together[i].text.len, alone[i].text.len);
        assert_memory_equal(together[i].text.data, alone[i].text.data, alone[i].text.len);
        probe_free(&alone[i]);
        probe_free(&together[i]);
    }
    lx_worker_destroy(w);
    lx_model_free(m);
    hub_free(&h);
}

static void test_concurrent_matches_alone_generated(void **state) {
    (void)state;
    check_concurrent_matches_alone(g_tiny, false);
}

static void test_concurrent_matches_alone_bundled(void **state) {
    (void)state;
    check_concurrent_matches_alone(LLMUX_SOURCE_DIR "/models/llmux-fortunes.gguf", true);
}

/* Two requests generate while a prompt of about 1500 tokens (three 512-token steps) arrives:
 * they keep receiving tokens during its prefill. One request at a time, they would receive none
 * until its first token. */
static void test_long_prompt_does_not_stall_others(void **state) {
    (void)state;
    /* Greedy on the --printable model: the two streams run their full 64 tokens whatever the
     * batch (end-of-generation's logit is 0, never the greatest). Seeds chosen alone for a full
     * run did not do: batched, a seeded draw may follow rounding noise to </s>. */
    lx_model *m = load(g_printable, 2048, 4);
    lx_worker *w = lx_worker_create(&(lx_worker_params){.model = m});
    hub h;
    hub_init(&h);

    static char big[1500 + 1];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (char)('a' + (i * 7) % 26);
    big[sizeof big - 1] = '\0';
    probe shorts[2], longp;
    probe_init(&shorts[0], &h, "Keep talking", sampling_greedy(64));
    probe_init(&shorts[1], &h, "Go on", sampling_greedy(64));
    probe_init(&longp, &h, "", sampling_greedy(4));
    /* The prompt buffer is 4096 bytes; the long prompt lives in big. */
    longp.part.text = big;
    pthread_mutex_lock(&h.mu);
    h.watched = &longp;
    pthread_mutex_unlock(&h.mu);
    int before = h.n_done;
    assert_int_equal(submit(w, &shorts[0]), LLMUX_OK);
    assert_int_equal(submit(w, &shorts[1]), LLMUX_OK);
    /* Submit the long prompt once both stream: then it arrives during their decoding. */
    pthread_mutex_lock(&h.mu);
    while (shorts[0].deltas < 1 || shorts[1].deltas < 1) pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    assert_int_equal(submit(w, &longp), LLMUX_OK);
    wait_done(&h, before + 3);
    assert_int_equal(longp.status, LLMUX_OK);
    assert_int_equal(longp.usage.input_tokens, 1501); /* byte vocabulary: 1500 bytes + BOS */
    print_message("deltas of the other streams during the long prefill: %d\n", h.deltas_during_watched_prefill);
    /* Three prefill steps, each with a decode token for both streams (six tokens); UTF-8
     * holdback may merge a few bytes into one delta. */
    assert_true(h.deltas_during_watched_prefill >= 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(shorts[i].status, LLMUX_OK);
        assert_int_equal(shorts[i].finish, LLMUX_FINISH_LENGTH);
        probe_free(&shorts[i]);
    }
    probe_free(&longp);
    lx_worker_destroy(w);
    lx_model_free(m);
    hub_free(&h);
}

/* One slot: a running request cancelled mid-stream frees it, and the queued request runs; a
 * request cancelled while queued ends CANCELLED without START. */
static void test_cancel_frees_slot(void **state) {
    (void)state;
    lx_model *m = load(g_tiny, 512, 1);
    lx_worker *w = lx_worker_create(&(lx_worker_params){.model = m});
    hub h;
    hub_init(&h);
    probe running, queued, dropped;
    probe_init(&running, &h, "Cancel me soon", sampling_greedy(400));
    running.cancel_after_deltas = 2;
    probe_init(&queued, &h, "Then me", sampling_greedy(8));
    probe_init(&dropped, &h, "Never me", sampling_greedy(8));
    llmux_cancel_trigger(dropped.cancel);
    /* Hold the worker on the running request's first event so the others surely queue. */
    pthread_mutex_lock(&h.mu);
    h.hold = true;
    pthread_mutex_unlock(&h.mu);
    assert_int_equal(submit(w, &running), LLMUX_OK);
    pthread_mutex_lock(&h.mu);
    while (!h.holding) pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    assert_int_equal(submit(w, &queued), LLMUX_OK);
    assert_int_equal(submit(w, &dropped), LLMUX_OK);
    assert_int_equal(lx_worker_load(w), 3);
    pthread_mutex_lock(&h.mu);
    h.hold = false;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    wait_done(&h, 3);
    assert_int_equal(running.status, LLMUX_E_CANCELLED);
    assert_int_equal(running.finish, LLMUX_FINISH_CANCELLED);
    assert_true(running.usage.output_tokens <= 3);
    assert_int_equal(queued.status, LLMUX_OK);
    assert_true(queued.usage.output_tokens >= 1);
    assert_int_equal(dropped.status, LLMUX_E_CANCELLED);
    assert_false(dropped.started_event);
    assert_int_equal(lx_worker_load(w), 0);
    probe_free(&running);
    probe_free(&queued);
    probe_free(&dropped);
    lx_worker_destroy(w);
    lx_model_free(m);
    hub_free(&h);
}

/* Conversations A, B, A, B: with two slots each returning turn reuses all of its prompt but the
 * last token (sampling needs its logits); with one slot every turn reuses only the prefix both
 * conversations share, unless the host prompt cache gives the evicted one back. A cold prompt
 * reports 0 cached tokens, not 1 for the BOS it shares with the previous one. */
static void check_alternation(int32_t n_slots, int32_t cache_mb, bool expect_reuse) {
    lx_model *m = load_cached(g_tiny, 1024, n_slots, cache_mb);
    lx_worker *w = lx_worker_create(&(lx_worker_params){.model = m});
    hub h;
    hub_init(&h);
    /* Both conversations start alike (a shared system prompt of 40 bytes), so B's turn in A's
     * slot keeps the shared part and cuts A's tail. */
    char a[300], b[300];
    for (int i = 0; i < 299; i++) {
        a[i] = (char)('a' + i % 26);
        b[i] = i < 40 ? a[i] : (char)('A' + (i * 3) % 26);
    }
    a[299] = b[299] = '\0';
    const char *turns[4] = {a, b, a, b};
    for (int t = 0; t < 4; t++) {
        probe p;
        probe_init(&p, &h, turns[t], sampling_greedy(2));
        run_alone(w, &h, &p);
        assert_int_equal(p.status, LLMUX_OK);
        assert_int_equal(p.usage.input_tokens, 300);
        /* BOS + 40 shared bytes are in the slot whenever B follows A in one slot. */
        int64_t want = t >= 2 && expect_reuse ? 299 : n_slots == 1 && t >= 1 ? 41 : 0;
        assert_int_equal(p.usage.cached_input_tokens, want);
        probe_free(&p);
    }
    lx_worker_destroy(w);
    lx_model_free(m);
    hub_free(&h);
}

static void test_prefix_reuse_alternating(void **state) {
    (void)state;
    check_alternation(2, 0, true);
    check_alternation(1, 0, false);
    /* One slot with a host prompt cache: the evicted conversation comes back from host RAM. */
    check_alternation(1, 64, true);
    /* Two slots with a host cache: the idle conversation, moved to host RAM while the other runs
     * (context.c, shed_idle_cells: its 302 cells exceed the running one's 300), comes back whole. */
    check_alternation(2, 64, true);
}

/* With the worker held inside a running request, 256 more wait and the next one is refused at
 * once with QUEUE_FULL and a retry delay; the waiting ones, cancelled, all end. */
static void test_queue_full(void **state) {
    (void)state;
    lx_model *m = load(g_tiny, 256, 1);
    lx_worker *w = lx_worker_create(&(lx_worker_params){.model = m});
    hub h;
    hub_init(&h);
    probe *ps = calloc(LX_WORKER_MAX_QUEUED + 2, sizeof *ps);
    assert_non_null(ps);
    for (int i = 0; i < LX_WORKER_MAX_QUEUED + 2; i++) probe_init(&ps[i], &h, "Queue", sampling_greedy(2));
    pthread_mutex_lock(&h.mu);
    h.hold = true;
    pthread_mutex_unlock(&h.mu);
    assert_int_equal(submit(w, &ps[0]), LLMUX_OK);
    pthread_mutex_lock(&h.mu);
    while (!h.holding) pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    for (int i = 1; i <= LX_WORKER_MAX_QUEUED; i++) assert_int_equal(submit(w, &ps[i]), LLMUX_OK);
    probe *extra = &ps[LX_WORKER_MAX_QUEUED + 1];
    assert_int_equal(submit(w, extra), LLMUX_E_QUEUE_FULL);
    assert_int_equal(extra->retry_after_ms, LX_WORKER_RETRY_AFTER_MS);
    assert_int_equal(lx_worker_load(w), LX_WORKER_MAX_QUEUED + 1);
    for (int i = 1; i <= LX_WORKER_MAX_QUEUED; i++) llmux_cancel_trigger(ps[i].cancel);
    pthread_mutex_lock(&h.mu);
    h.hold = false;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    wait_done(&h, LX_WORKER_MAX_QUEUED + 1);
    assert_int_equal(ps[0].status, LLMUX_OK);
    for (int i = 1; i <= LX_WORKER_MAX_QUEUED; i++) {
        assert_int_equal(ps[i].status, LLMUX_E_CANCELLED);
        assert_false(ps[i].started_event);
    }
    for (int i = 0; i < LX_WORKER_MAX_QUEUED + 2; i++) probe_free(&ps[i]);
    free(ps);
    lx_worker_destroy(w);
    lx_model_free(m);
    hub_free(&h);
}

/* Holds the worker inside the next event until release_worker (the hub's hold). */
static void hold_worker(hub *h) {
    pthread_mutex_lock(&h->mu);
    h->hold = true;
    pthread_mutex_unlock(&h->mu);
}

static void wait_holding(hub *h) {
    pthread_mutex_lock(&h->mu);
    while (!h->holding) pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void release_worker(hub *h) {
    pthread_mutex_lock(&h->mu);
    h->hold = false;
    h->holding = false;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* local.queue: max_waiting bounds the queue (QUEUE_FULL at once); a request that waited
 * max_wait_ms for the one slot ends OVERLOADED with a retry delay, never having started. */
static void test_admission_max_waiting_and_max_wait(void **state) {
    (void)state;
    lx_model *m = load(g_tiny, 256, 1);
    lx_worker *w = lx_worker_create(&(lx_worker_params){.model = m, .max_waiting = 2, .max_wait_ms = 150});
    hub h;
    hub_init(&h);
    probe ps[4];
    for (int i = 0; i < 4; i++) probe_init(&ps[i], &h, "Admission", sampling_greedy(2));
    hold_worker(&h);
    assert_int_equal(submit(w, &ps[0]), LLMUX_OK);
    wait_holding(&h);
    int64_t t0 = lx_now_ns();
    assert_int_equal(submit(w, &ps[1]), LLMUX_OK);
    assert_int_equal(submit(w, &ps[2]), LLMUX_OK);
    assert_int_equal(submit(w, &ps[3]), LLMUX_E_QUEUE_FULL); /* max_waiting 2, not 256 */
    assert_int_equal(ps[3].retry_after_ms, LX_WORKER_RETRY_AFTER_MS);
    nanosleep(&(struct timespec){0, 300 * 1000000L}, NULL); /* past max_wait_ms while the slot is held */
    release_worker(&h);
    wait_done(&h, 3);
    assert_int_equal(ps[0].status, LLMUX_OK);
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(ps[i].status, LLMUX_E_OVERLOADED);
        assert_true(ps[i].retry_after_ms >= LX_WORKER_RETRY_AFTER_MS);
        assert_false(ps[i].started_event);
    }
    assert_true(lx_now_ns() - t0 >= 150 * 1000000LL);
    for (int i = 0; i < 4; i++) probe_free(&ps[i]);
    lx_worker_destroy(w);
    lx_model_free(m);
    hub_free(&h);
}

/* Deadline-aware admission: once a request has held the one slot for about 300 ms, a request
 * whose deadline is 50 ms away while the slot is busy again is refused at once (OVERLOADED, with
 * a retry delay of at least the estimated wait), and one with a distant deadline waits and runs. */
static void test_admission_deadline(void **state) {
    (void)state;
    lx_model *m = load(g_tiny, 256, 1);
    lx_worker *w = lx_worker_create(&(lx_worker_params){.model = m});
    hub h;
    hub_init(&h);
    probe first, busy, tight, loose;
    probe_init(&first, &h, "Deadline", sampling_greedy(2));
    probe_init(&busy, &h, "Deadline", sampling_greedy(2));
    probe_init(&tight, &h, "Deadline", sampling_greedy(2));
    probe_init(&loose, &h, "Deadline", sampling_greedy(2));
    /* No estimate yet: a tight deadline is admitted (it may still make it). */
    hold_worker(&h);
    assert_int_equal(submit(w, &first), LLMUX_OK);
    wait_holding(&h);
    nanosleep(&(struct timespec){0, 300 * 1000000L}, NULL);
    release_worker(&h);
    wait_done(&h, 1);
    assert_int_equal(first.status, LLMUX_OK);

    hold_worker(&h);
    assert_int_equal(submit(w, &busy), LLMUX_OK);
    wait_holding(&h);
    lx_worker_job j = {.req = &tight.req, .cancel = tight.cancel, .deadline_ns = lx_now_ns() + 50 * 1000000LL,
                       .sink = {on_event, &tight}, .done = on_done, .user_data = &tight};
    llmux_error_info err;
    int64_t t0 = lx_now_ns();
    assert_int_equal(lx_worker_submit(w, &j, &err), LLMUX_E_OVERLOADED);
    assert_true(lx_now_ns() - t0 < 50 * 1000000LL); /* at once, not at the deadline */
    assert_true(err.retry_after_ms >= 300 && err.retry_after_ms >= LX_WORKER_RETRY_AFTER_MS);
    assert_non_null(strstr(err.message, "deadline"));
    j = (lx_worker_job){.req = &loose.req, .cancel = loose.cancel, .deadline_ns = lx_now_ns() + 30 * 1000000000LL,
                        .sink = {on_event, &loose}, .done = on_done, .user_data = &loose};
    assert_int_equal(lx_worker_submit(w, &j, &err), LLMUX_OK);
    release_worker(&h);
    wait_done(&h, 3);
    assert_int_equal(busy.status, LLMUX_OK);
    assert_int_equal(loose.status, LLMUX_OK);
    assert_false(tight.done);
    probe_free(&first);
    probe_free(&busy);
    probe_free(&tight);
    probe_free(&loose);
    lx_worker_destroy(w);
    lx_model_free(m);
    hub_free(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_matches_alone_generated),
        cmocka_unit_test(test_concurrent_matches_alone_bundled),
        cmocka_unit_test(test_long_prompt_does_not_stall_others),
        cmocka_unit_test(test_cancel_frees_slot),
        cmocka_unit_test(test_prefix_reuse_alternating),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_admission_max_waiting_and_max_wait),
        cmocka_unit_test(test_admission_deadline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
