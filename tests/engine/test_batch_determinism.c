/* Seeded determinism of the continuous-batching scheduler (engine/sched.h), driven directly
 * (lx_seq_start + lx_model_step on this thread: the batch composition of every step is fixed by
 * the test, not by thread timing), on the bundled model and a generated one.
 *
 * What holds, and is asserted:
 *  - a request alone on a fresh model gives the same text every time (seeded);
 *  - the same requests started together on a fresh model give the same texts every time
 *    (same batch composition, same KV layout);
 *  - with kv_per_slot (one KV stream per slot), seeded requests give the same text batched as
 *    alone, and a request's text does not depend on what earlier requests left in the cache.
 *
 * What does not hold with the unified KV cache (the default): a request batched with others may
 * diverge from the same request alone. Its KV cells sit at other offsets of the shared cache,
 * and flash attention groups its sums by the batch's shape and the cells' offsets (split by
 * thread for a lone token, tiles for long chunks), which moves the logits by rounding noise; a
 * seeded draw whose uniform falls near a boundary of the cumulative distribution follows it, and
 * so does a greedy pick between two near-equal logits (4 of 8 greedy streams on the bundled
 * model). That is measured
 * by bench/determinism.c (bench_determinism), not here: a test asserts only what holds.
 * LLMUX_DETERMINISM_REPORT=1 prints where each stream diverges in the tests below. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "engine/engine.h"
#include "engine/sched.h"
#include "support/model_dir.h"
#include "support/sampling.h"

#define BUNDLED LLMUX_SOURCE_DIR "/models/llmux-fortunes.gguf"
#define N_REQ 8
#define N_TOKENS 48

static char g_dir[PATH_MAX];
static char g_tiny[PATH_MAX];

static const char *const g_prompts[N_REQ] = {
    "Once upon a time",
    "The quick brown fox jumps over the lazy dog",
    "A",
    "Tell me a fortune about the sea and the sky",
    "Numbers: 1 2 3 4 5 6 7 8 9",
    "Why",
    "What does the future hold for a patient gardener who waits all winter?",
    "Write one line",
};

typedef struct stream {
    llmux_part part;
    llmux_message msg;
    llmux_request req;
    lx_buf text;
    int32_t tokens;
    llmux_finish_reason finish;
} stream;

static bool on_event(void *ud, const llmux_event *ev) {
    stream *s = ud;
    if (ev->type == LLMUX_EVENT_TEXT_DELTA) lx_buf_append(&s->text, ev->text, ev->text_len);
    if (ev->type == LLMUX_EVENT_USAGE) s->tokens = ev->usage.output_tokens;
    if (ev->type == LLMUX_EVENT_FINISH) s->finish = ev->finish_reason;
    return true;
}

static void stream_init(stream *s, const char *prompt, llmux_sampling sampling) {
    memset(s, 0, sizeof *s);
    s->part.type = LLMUX_PART_TEXT;
    s->part.text = prompt;
    s->msg = (llmux_message){LLMUX_ROLE_USER, &s->part, 1, NULL};
    s->req = llmux_request_default();
    s->req.messages = &s->msg;
    s->req.n_messages = 1;
    s->req.sampling = sampling;
    lx_buf_init(&s->text, 1 << 20);
    lx_buf_append(&s->text, "", 0);
}

static lx_model *load(const char *path, int32_t n_slots, bool kv_per_slot) {
    lx_model_params mp = lx_model_default_params();
    mp.path = path;
    mp.n_threads = 2;
    mp.n_ctx = 512;
    mp.n_slots = n_slots;
    mp.kv_per_slot = kv_per_slot;
    lx_model *m = NULL;
    llmux_error_info err;
    assert_int_equal(lx_model_load(&mp, &m, &err), LLMUX_OK);
    return m;
}

/* Starts streams[0..n) together (in index order, before the first step) and steps the model
 * until all ended. */
static void run_together(lx_model *m, stream *streams, int n) {
    lx_seq *seqs[N_REQ];
    for (int i = 0; i < n; i++) {
        llmux_error_info err;
        assert_int_equal(lx_seq_start(m, &streams[i].req, NULL, 0, (lx_event_sink){on_event, &streams[i]}, &streams[i],
                                      &seqs[i], &err),
                         LLMUX_OK);
    }
    int ended = 0;
    while (ended < n) {
        lx_seq *done[64];
        int32_t k = lx_model_step(m, done, 64);
        for (int32_t j = 0; j < k; j++) {
            assert_int_equal(lx_seq_outcome(done[j], NULL, NULL), LLMUX_OK);
            lx_seq_free(done[j]);
        }
        ended += k;
    }
}

/* Each stream alone, on a fresh model (empty cache: its cells start at 0). */
static void run_each_alone(const char *path, stream *streams, int n, int32_t n_slots, bool kv_per_slot) {
    for (int i = 0; i < n; i++) {
        lx_model *m = load(path, n_slots, kv_per_slot);
        run_together(m, &streams[i], 1);
        lx_model_free(m);
    }
}

static void run_all_together(const char *path, stream *streams, int n, int32_t n_slots, bool kv_per_slot) {
    lx_model *m = load(path, n_slots, kv_per_slot);
    run_together(m, streams, n);
    lx_model_free(m);
}

/* Byte offset of the first difference, -1 when equal. */
static long first_difference(const stream *a, const stream *b) {
    size_t n = a->text.len < b->text.len ? a->text.len : b->text.len;
    for (size_t i = 0; i < n; i++)
        if (a->text.data[i] != b->text.data[i]) return (long)i;
    return a->text.len == b->text.len ? -1 : (long)n;
}

/* How many of the n pairs differ (printed with LLMUX_DETERMINISM_REPORT). */
static int count_divergent(const char *what, const stream *a, const stream *b, int n) {
    bool report = getenv("LLMUX_DETERMINISM_REPORT") != NULL;
    int diverged = 0;
    for (int i = 0; i < n; i++) {
        long at = first_difference(&a[i], &b[i]);
        if (at >= 0) diverged++;
        if (report)
            fprintf(stderr, "%s: stream %d (%d tokens): %s at byte %ld of %zu\n", what, i, a[i].tokens,
                    at < 0 ? "same" : "DIVERGES", at, a[i].text.len);
    }
    if (report) fprintf(stderr, "%s: %d of %d streams diverge\n", what, diverged, n);
    return diverged;
}

static void assert_same(const stream *a, const stream *b, int n) {
    for (int i = 0; i < n; i++) {
        assert_int_equal(a[i].tokens, b[i].tokens);
        assert_int_equal(a[i].finish, b[i].finish);
        assert_int_equal(a[i].text.len, b[i].text.len);
        assert_memory_equal(a[i].text.data, b[i].text.data, a[i].text.len);
    }
}

static void free_streams(stream *s, int n) {
    for (int i = 0; i < n; i++) lx_buf_free(&s[i].text);
}

/* ------------------------------------------------------------------ tests */

static void check_seeded_alone_reproducible(const char *path) {
    stream a[N_REQ], b[N_REQ];
    for (int i = 0; i < N_REQ; i++) {
        stream_init(&a[i], g_prompts[i], sampling_seeded(100 + i, N_TOKENS));
        stream_init(&b[i], g_prompts[i], sampling_seeded(100 + i, N_TOKENS));
    }
    run_each_alone(path, a, N_REQ, 4, false);
    run_each_alone(path, b, N_REQ, 4, false);
    assert_same(a, b, N_REQ);
    for (int i = 0; i < N_REQ; i++) assert_true(a[i].tokens > 0);
    free_streams(a, N_REQ);
    free_streams(b, N_REQ);
}

static void test_seeded_alone_reproducible(void **state) {
    (void)state;
    check_seeded_alone_reproducible(BUNDLED);
}

/* Eight seeded requests on eight slots, twice, each time on a fresh model: the same batch
 * composition every step, the same texts. */
static void check_seeded_same_composition(const char *path) {
    stream a[N_REQ], b[N_REQ];
    for (int i = 0; i < N_REQ; i++) {
        stream_init(&a[i], g_prompts[i], sampling_seeded(200 + i, N_TOKENS));
        stream_init(&b[i], g_prompts[i], sampling_seeded(200 + i, N_TOKENS));
    }
    run_all_together(path, a, N_REQ, N_REQ, false);
    run_all_together(path, b, N_REQ, N_REQ, false);
    assert_same(a, b, N_REQ);
    free_streams(a, N_REQ);
    free_streams(b, N_REQ);
}

static void test_seeded_same_composition_bundled(void **state) {
    (void)state;
    check_seeded_same_composition(BUNDLED);
}

static void test_seeded_same_composition_generated(void **state) {
    (void)state;
    check_seeded_same_composition(g_tiny);
}

/* Batched (eight at once on eight slots) against alone (each on a fresh model), with one KV
 * stream per slot: the same text for every stream, seeded and greedy. */
static void check_batched_matches_alone_per_slot(const char *path, bool sampled) {
    stream alone[N_REQ], together[N_REQ];
    for (int i = 0; i < N_REQ; i++) {
        llmux_sampling s = sampled ? sampling_seeded(300 + i, N_TOKENS) : sampling_greedy(N_TOKENS);
        stream_init(&alone[i], g_prompts[i], s);
        stream_init(&together[i], g_prompts[i], s);
    }
    run_each_alone(path, alone, N_REQ, N_REQ, true);
    run_all_together(path, together, N_REQ, N_REQ, true);
    count_divergent(sampled ? "seeded kv_per_slot" : "greedy kv_per_slot", alone, together, N_REQ);
    assert_same(alone, together, N_REQ);
    free_streams(alone, N_REQ);
    free_streams(together, N_REQ);
}

static void test_seeded_batched_matches_alone_per_slot(void **state) {
    (void)state;
    check_batched_matches_alone_per_slot(BUNDLED, true);
}

static void test_greedy_batched_matches_alone_per_slot(void **state) {
    (void)state;
    check_batched_matches_alone_per_slot(BUNDLED, false);
}

/* ------------------------------------------------------------------ setup */

static int setup(void **state) {
    (void)state;
    if (model_dir_create("llmux-determinism", g_dir, sizeof g_dir)) return -1;
    snprintf(g_tiny, sizeof g_tiny, "%s/tiny.gguf", g_dir);
    return gguf_gen(g_tiny, TINY_LLAMA_ARGS " --ctx 2048");
}

static int teardown(void **state) {
    (void)state;
    return model_dir_remove(g_dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_alone_reproducible),
        cmocka_unit_test(test_seeded_same_composition_bundled),
        cmocka_unit_test(test_seeded_same_composition_generated),
        cmocka_unit_test(test_seeded_batched_matches_alone_per_slot),
        cmocka_unit_test(test_greedy_batched_matches_alone_per_slot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
