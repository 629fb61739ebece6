/* The local engine on a generated random-weight model (tools/gguf_gen): determinism with a seed,
 * max_tokens, stop sequences, cancellation, deadlines, prefix reuse, event order, bad and
 * truncated model files, context length. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "engine/engine.h"

static char g_dir[PATH_MAX];
static char g_model_path[PATH_MAX];
static lx_model *g_model;

/* ------------------------------------------------------------ event capture */

typedef struct capture {
    lx_buf text;
    llmux_event_type types[4096];
    size_t n;
    llmux_finish_reason finish;
    llmux_usage usage;
    llmux_status error_status;
    int cancel_after_deltas;   /* > 0: return false from the sink after this many text deltas */
    llmux_cancel *trigger;     /* trigger this token after cancel_after_deltas instead */
    int deltas;
} capture;

static bool on_event(void *ud, const llmux_event *ev) {
    capture *c = ud;
    if (c->n < 4096) c->types[c->n++] = ev->type;
    switch (ev->type) {
    case LLMUX_EVENT_TEXT_DELTA:
        lx_buf_append(&c->text, ev->text, ev->text_len);
        c->deltas++;
        if (c->cancel_after_deltas && c->deltas >= c->cancel_after_deltas) {
            if (c->trigger) llmux_cancel_trigger(c->trigger);
            else return false;
        }
        break;
    case LLMUX_EVENT_USAGE: c->usage = ev->usage; break;
    case LLMUX_EVENT_FINISH: c->finish = ev->finish_reason; break;
    case LLMUX_EVENT_ERROR: c->error_status = ev->error->status; break;
    default: break;
    }
    return true;
}

static void capture_init(capture *c) {
    memset(c, 0, sizeof *c);
    lx_buf_init(&c->text, 1 << 20);
    lx_buf_append(&c->text, "", 0);
}

static llmux_status gen(const char *prompt, llmux_sampling s, const llmux_cancel *cancel, int64_t deadline, capture *c,
                        lx_gen_stats *stats, llmux_error_info *err) {
    llmux_part part = {0};
    part.type = LLMUX_PART_TEXT;
    part.text = prompt;
    llmux_message msg = {LLMUX_ROLE_USER, &part, 1, NULL};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    req.sampling = s;
    lx_event_sink sink = {on_event, c};
    return lx_model_generate(g_model, &req, cancel, deadline, sink, stats, err);
}

static llmux_sampling sampled(int64_t seed, int32_t max_tokens) {
    llmux_sampling s = llmux_sampling_default();
    s.temperature = 1.0;
    s.top_k = 200;
    s.top_p = 1.0;
    s.min_p = 0.0;
    s.seed = seed;
    s.max_tokens = max_tokens;
    return s;
}

static llmux_sampling greedy(int32_t max_tokens) {
    llmux_sampling s = llmux_sampling_default();
    s.temperature = 0.0;
    s.max_tokens = max_tokens;
    return s;
}

/* ------------------------------------------------------------------ setup */

static int run_cmd(const char *cmd) { return system(cmd); }

static int setup(void **state) {
    (void)state;
    char tmpl[] = "/tmp/llmux-engine-XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    snprintf(g_dir, sizeof g_dir, "%s", tmpl);
    snprintf(g_model_path, sizeof g_model_path, "%s/tiny.gguf", g_dir);
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd,
             "'%s/gguf_gen' --arch llama --n-layer 2 --n-embd 64 --n-head 4 --n-head-kv 2 --n-ff 128 --ctx 256 "
             "--type f16 --seed 7 --out '%s' >/dev/null",
             LLMUX_TEST_BIN_DIR, g_model_path);
    if (run_cmd(cmd) != 0) return -1;
    lx_model_params p = lx_model_default_params();
    p.path = g_model_path;
    p.n_threads = 2;
    p.n_ctx = 256;
    llmux_error_info err;
    return lx_model_load(&p, &g_model, &err) == LLMUX_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lx_model_free(g_model);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return run_cmd(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ tests */

static void test_event_order_and_usage(void **state) {
    (void)state;
    capture c;
    capture_init(&c);
    lx_gen_stats st;
    llmux_error_info err;
    assert_int_equal(gen("Hello there", greedy(8), NULL, 0, &c, &st, &err), LLMUX_OK);
    assert_true(c.n >= 3);
    assert_int_equal(c.types[0], LLMUX_EVENT_START);
    assert_int_equal(c.types[c.n - 2], LLMUX_EVENT_USAGE);
    assert_int_equal(c.types[c.n - 1], LLMUX_EVENT_FINISH);
    for (size_t i = 1; i + 2 < c.n; i++) assert_int_equal(c.types[i], LLMUX_EVENT_TEXT_DELTA);
    /* byte-level vocabulary: "Hello there" is 11 tokens plus BOS */
    assert_int_equal(c.usage.input_tokens, 12);
    assert_int_equal(c.usage.output_tokens, st.n_generated);
    assert_int_equal(c.usage.total_tokens, 12 + st.n_generated);
    assert_true(st.n_generated >= 1 && st.n_generated <= 8);
    lx_buf_free(&c.text);
}

static void test_max_tokens(void **state) {
    (void)state;
    capture c;
    capture_init(&c);
    lx_gen_stats st;
    llmux_error_info err;
    assert_int_equal(gen("Count: ", sampled(3, 5), NULL, 0, &c, &st, &err), LLMUX_OK);
    /* Either the limit was hit, or the model emitted end-of-generation first. */
    if (c.finish == LLMUX_FINISH_LENGTH) assert_int_equal(st.n_generated, 5);
    else assert_true(c.finish == LLMUX_FINISH_STOP && st.n_generated <= 5);
    capture c2;
    capture_init(&c2);
    assert_int_equal(gen("Count: ", greedy(1), NULL, 0, &c2, &st, &err), LLMUX_OK);
    assert_int_equal(st.n_generated, 1);
    lx_buf_free(&c.text);
    lx_buf_free(&c2.text);
}

static void test_seed_determinism(void **state) {
    (void)state;
    capture a, b, other, d;
    capture_init(&a);
    capture_init(&b);
    capture_init(&other);
    capture_init(&d);
    lx_gen_stats st;
    llmux_error_info err;
    /* Run something else in between so both runs start from the same cache state. */
    assert_int_equal(gen("zzz", sampled(1, 4), NULL, 0, &other, &st, &err), LLMUX_OK);
    assert_int_equal(gen("The seed test", sampled(1234, 40), NULL, 0, &a, &st, &err), LLMUX_OK);
    assert_int_equal(gen("zzz", sampled(1, 4), NULL, 0, &other, &st, &err), LLMUX_OK);
    assert_int_equal(gen("The seed test", sampled(1234, 40), NULL, 0, &b, &st, &err), LLMUX_OK);
    assert_int_equal(a.text.len, b.text.len);
    assert_memory_equal(a.text.data, b.text.data, a.text.len);
    assert_true(a.text.len > 0);
    /* A different seed gives a different sample (40 near-uniform byte tokens). */
    assert_int_equal(gen("zzz", sampled(1, 4), NULL, 0, &other, &st, &err), LLMUX_OK);
    assert_int_equal(gen("The seed test", sampled(99, 40), NULL, 0, &d, &st, &err), LLMUX_OK);
    assert_true(d.text.len != a.text.len || memcmp(d.text.data, a.text.data, a.text.len) != 0);
    lx_buf_free(&a.text);
    lx_buf_free(&b.text);
    lx_buf_free(&other.text);
    lx_buf_free(&d.text);
}

/* Offset of the first occurrence of needle in hay[0..n) (binary-safe), or n. */
static size_t find(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return i;
    return n;
}

static void test_stop_sequence_not_emitted(void **state) {
    (void)state;
    capture full, cut;
    capture_init(&full);
    capture_init(&cut);
    lx_gen_stats st;
    llmux_error_info err;
    assert_int_equal(gen("Stop here", greedy(24), NULL, 0, &full, &st, &err), LLMUX_OK);
    if (full.text.len < 8) {
        print_message("greedy output too short (%zu bytes) to pick a stop sequence\n", full.text.len);
        skip();
    }
    /* A stop sequence taken from the middle of the greedy output: the same run must end right
     * before its first occurrence, without emitting it. */
    char stop[4];
    memcpy(stop, full.text.data + 4, 3);
    stop[3] = '\0';
    if (strlen(stop) != 3) {
        print_message("greedy output has a NUL byte where the stop sequence would be taken\n");
        skip();
    }
    size_t want = find(full.text.data, full.text.len, stop);
    assert_true(want <= 4);
    const char *stops[] = {stop};
    llmux_sampling s = greedy(24);
    s.stop = stops;
    s.n_stop = 1;
    assert_int_equal(gen("Stop here", s, NULL, 0, &cut, &st, &err), LLMUX_OK);
    assert_int_equal(cut.finish, LLMUX_FINISH_STOP);
    assert_int_equal(cut.text.len, want);
    assert_memory_equal(cut.text.data, full.text.data, want);
    assert_int_equal(find(cut.text.data, cut.text.len, stop), cut.text.len);
    lx_buf_free(&full.text);
    lx_buf_free(&cut.text);
}

static void test_cancel_mid_generation(void **state) {
    (void)state;
    llmux_cancel *tok = llmux_cancel_create();
    capture c;
    capture_init(&c);
    c.cancel_after_deltas = 3;
    c.trigger = tok;
    lx_gen_stats st;
    llmux_error_info err;
    llmux_sampling s = greedy(200);
    s.stop = NULL;
    assert_int_equal(gen("Cancel me", s, tok, 0, &c, &st, &err), LLMUX_E_CANCELLED);
    assert_int_equal(c.finish, LLMUX_FINISH_CANCELLED);
    assert_int_equal(c.types[c.n - 1], LLMUX_EVENT_FINISH);
    /* Checked at every decode step: at most one more token after the trigger. */
    assert_true(st.n_generated <= 4);
    llmux_cancel_destroy(tok);
    lx_buf_free(&c.text);
}

static void test_sink_false_cancels(void **state) {
    (void)state;
    capture c;
    capture_init(&c);
    c.cancel_after_deltas = 2;
    lx_gen_stats st;
    llmux_error_info err;
    assert_int_equal(gen("Sink stop", greedy(200), NULL, 0, &c, &st, &err), LLMUX_E_CANCELLED);
    assert_int_equal(c.finish, LLMUX_FINISH_CANCELLED);
    assert_int_equal(c.deltas, 2);
    lx_buf_free(&c.text);
}

static void test_cancel_before_prompt(void **state) {
    (void)state;
    /* A token triggered up front aborts inside llama_decode of the prompt: no text at all. */
    llmux_cancel *tok = llmux_cancel_create();
    llmux_cancel_trigger(tok);
    capture c;
    capture_init(&c);
    lx_gen_stats st;
    llmux_error_info err;
    assert_int_equal(gen("A fresh prompt that was never cached", greedy(50), tok, 0, &c, &st, &err), LLMUX_E_CANCELLED);
    assert_int_equal(c.finish, LLMUX_FINISH_CANCELLED);
    assert_int_equal(c.deltas, 0);
    assert_int_equal(st.n_generated, 0);
    /* The model stays usable afterwards. */
    capture c2;
    capture_init(&c2);
    assert_int_equal(gen("after cancel", greedy(3), NULL, 0, &c2, &st, &err), LLMUX_OK);
    llmux_cancel_destroy(tok);
    lx_buf_free(&c.text);
    lx_buf_free(&c2.text);
}

static void test_deadline_is_timeout(void **state) {
    (void)state;
    capture c;
    capture_init(&c);
    lx_gen_stats st;
    llmux_error_info err;
    /* A deadline already in the past: the request ends with an ERROR event of class timeout. */
    assert_int_equal(gen("late", greedy(50), NULL, lx_now_ns() - 1, &c, &st, &err), LLMUX_E_TIMEOUT);
    assert_int_equal(c.error_status, LLMUX_E_TIMEOUT);
    assert_int_equal(c.types[c.n - 1], LLMUX_EVENT_ERROR);
    lx_buf_free(&c.text);
}

static void test_prefix_reuse(void **state) {
    (void)state;
    capture a, b;
    capture_init(&a);
    capture_init(&b);
    lx_gen_stats st;
    llmux_error_info err;
    assert_int_equal(gen("A long shared prefix for the cache", greedy(2), NULL, 0, &a, &st, &err), LLMUX_OK);
    assert_int_equal(gen("A long shared prefix for the cache, continued", greedy(2), NULL, 0, &b, &st, &err), LLMUX_OK);
    /* BOS + the 34 bytes of the first prompt were already in the KV cache. */
    assert_int_equal(st.n_reused, 35);
    assert_int_equal(b.usage.cached_input_tokens, 35);
    lx_buf_free(&a.text);
    lx_buf_free(&b.text);
}

static void test_context_length(void **state) {
    (void)state;
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    capture c;
    capture_init(&c);
    lx_gen_stats st;
    llmux_error_info err;
    assert_int_equal(gen(big, greedy(4), NULL, 0, &c, &st, &err), LLMUX_E_CONTEXT_LENGTH);
    assert_int_equal(c.n, 0); /* refused before START */
    assert_non_null(strstr(err.message, "context holds 256"));
    lx_buf_free(&c.text);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_bad_model_files(void **state) {
    (void)state;
    char path[PATH_MAX];
    lx_model *m = NULL;
    llmux_error_info err;
    lx_model_params p = lx_model_default_params();

    snprintf(path, sizeof path, "%s/missing.gguf", g_dir);
    p.path = path;
    assert_int_equal(lx_model_load(&p, &m, &err), LLMUX_E_MODEL_NOT_FOUND);
    assert_null(m);

    snprintf(path, sizeof path, "%s/text.gguf", g_dir);
    write_file(path, "this is not a model\n", 20);
    assert_int_equal(lx_model_load(&p, &m, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "not a GGUF file"));

    /* The first 4 KiB of a real model: right magic, truncated everything else. */
    FILE *f = fopen(g_model_path, "rb");
    assert_non_null(f);
    char head[4096];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/truncated.gguf", g_dir);
    write_file(path, head, n);
    assert_int_equal(lx_model_load(&p, &m, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "cannot load model"));
    assert_null(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_order_and_usage), cmocka_unit_test(test_max_tokens),
        cmocka_unit_test(test_seed_determinism),      cmocka_unit_test(test_stop_sequence_not_emitted),
        cmocka_unit_test(test_cancel_mid_generation), cmocka_unit_test(test_sink_false_cancels),
        cmocka_unit_test(test_cancel_before_prompt),  cmocka_unit_test(test_deadline_is_timeout),
        cmocka_unit_test(test_prefix_reuse),          cmocka_unit_test(test_context_length),
        cmocka_unit_test(test_bad_model_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
