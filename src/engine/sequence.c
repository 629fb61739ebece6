/* A sequence: one request's state on the model's context (engine_internal.h), from START to its
 * terminal event, advanced by the scheduler step (context.c). */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/emitter.h"
#include "core/error.h"
#include "engine_internal.h"

/* ---------------------------------------------------------------- sampling */

/* llama.cpp's dist sampler takes a 32-bit seed, and LLAMA_DEFAULT_SEED (0xFFFFFFFF) means "pick a
 * random one". Seeds below it are used as they are; larger ones (including 2^32 - 1 itself)
 * are hashed into [0, 2^32 - 2], so every seed >= 0 is reproducible and 2^32 is not 0. */
static uint32_t map_seed(int64_t seed) {
    if (seed < 0) return LLAMA_DEFAULT_SEED;
    if (seed < (int64_t)LLAMA_DEFAULT_SEED) return (uint32_t)seed;
    uint64_t z = (uint64_t)seed + 0x9E3779B97F4A7C15ull; /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z % 0xFFFFFFFFull);
}

/* llama.cpp's own defaults where the request leaves a value unset. */
static struct llama_sampler *build_sampler(const lx_model *m, const llmux_sampling *s) {
    struct llama_sampler *chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    if (!chain) return NULL;
    float repeat = llmux_is_unset(s->repeat_penalty) ? 1.0f : (float)s->repeat_penalty;
    float freq = llmux_is_unset(s->frequency_penalty) ? 0.0f : (float)s->frequency_penalty;
    float pres = llmux_is_unset(s->presence_penalty) ? 0.0f : (float)s->presence_penalty;
    if (repeat != 1.0f || freq != 0.0f || pres != 0.0f)
        llama_sampler_chain_add(chain, llama_sampler_init_penalties(llama_vocab_n_tokens(m->vocab), 64, repeat, freq, pres));
    double temp = llmux_is_unset(s->temperature) ? 0.8 : s->temperature;
    if (temp <= 0.0) {
        llama_sampler_chain_add(chain, llama_sampler_init_greedy());
        return chain;
    }
    int32_t top_k = s->top_k > 0 ? s->top_k : 40;
    float top_p = llmux_is_unset(s->top_p) ? 0.95f : (float)s->top_p;
    float min_p = llmux_is_unset(s->min_p) ? 0.05f : (float)s->min_p;
    llama_sampler_chain_add(chain, llama_sampler_init_top_k(top_k));
    llama_sampler_chain_add(chain, llama_sampler_init_top_p(top_p, 1));
    llama_sampler_chain_add(chain, llama_sampler_init_min_p(min_p, 1));
    llama_sampler_chain_add(chain, llama_sampler_init_temp((float)temp));
    llama_sampler_chain_add(chain, llama_sampler_init_dist(map_seed(s->seed)));
    return chain;
}

/* ------------------------------------------------------------- emission */

/* A sequence's events go through its own core emitter, the one stream guard (START first,
 * exactly one terminal event, nothing after it; after the sink asked to stop, only USAGE and the
 * terminal event). The sink's stop is mirrored into s->sink_stopped, which the scheduler and
 * the abort callback read. */
static bool sink_open(lx_seq *s) {
    if (s->em.cancelled) s->sink_stopped = true;
    return !s->sink_stopped;
}

static void on_text(void *ud, const char *text, size_t len) {
    lx_seq *s = ud;
    if (s->tools) { /* parsed as it grows, and at the end (tools.h) */
        if (lx_tools_hold(s->tools, text, len) && sink_open(s)) {
            lx_tools_stream(s->tools, &s->em);
            sink_open(s);
        }
        return;
    }
    if (!sink_open(s)) return;
    lx_emit_text(&s->em, text, len, NULL); /* one text part: index 0 */
    sink_open(s);
}

bool lx_seq_should_stop(lx_seq *s) {
    if (s->sink_stopped || llmux_cancel_is_triggered(s->cancel)) return true;
    return s->deadline_ns && lx_now_ns() >= s->deadline_ns;
}

/* ------------------------------------------------------------ lifecycle */

llmux_status lx_seq_start(lx_model *m, const llmux_request *req, const llmux_cancel *cancel, int64_t deadline_ns,
                          lx_event_sink sink, void *user_data, lx_seq **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    *out = NULL;
    if (m->params.vocab_only) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model %s was loaded vocabulary-only", m->name);
    if (lx_model_is_embedding_only(m))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "model %s is an embedding model: it cannot generate text", m->name);
    /* A changed file is reloaded only while nothing runs on the context it would free. */
    if (lx_model_n_active(m) == 0) {
        llmux_status st = lx_model_ensure_current(m, cancel, err);
        if (st != LLMUX_OK) return st;
    }
    lx_context *cx = m->cx;
    if (cx->n_active >= cx->n_slots)
        return lx_error(err, LLMUX_E_OVERLOADED, "all %d sequence slots of %s are busy", cx->n_slots, m->name);

    lx_seq *s = calloc(1, sizeof *s);
    if (!s) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory starting a request");
    s->m = m;
    s->user_data = user_data;
    s->slot = -1;
    s->logits_at = -1;
    s->phase = LX_SEQ_PREFILL;
    s->cancel = cancel;
    s->deadline_ns = deadline_ns;
    s->st = LLMUX_OK;
    lx_error_clear(&s->err);
    /* Tools through the model's chat template (tools.h), response_format as a grammar
     * (constrain.h): what they cannot express is refused here, before anything is generated. */
    llmux_status st = LLMUX_OK;
    if (lx_tools_wanted(req)) {
        struct llama_sampler *g = NULL;
        st = lx_tools_new(m, req, &s->tools, err);
        if (st == LLMUX_OK) st = lx_tools_grammar(s->tools, &g, err);
        if (st == LLMUX_OK) st = lx_constraint_init_sampler(&s->cons, m->vocab, g, err);
    } else {
        st = lx_constraint_init(&s->cons, m->vocab, req, err);
    }
    if (st != LLMUX_OK) goto fail;
    s->prompt = malloc(sizeof(int32_t) * (size_t)m->n_ctx);
    if (!s->prompt) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory tokenizing the prompt");
        goto fail;
    }
    st = lx_model_tokenize_prompt(m, req, s->tools, s->prompt, m->n_ctx - 1, &s->n_prompt, err);
    if (st != LLMUX_OK) goto fail;
    s->stats.n_prompt = s->n_prompt;
    s->smpl = build_sampler(m, &req->sampling);
    if (!s->smpl) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory building the sampler");
        goto fail;
    }
    s->max_new = req->sampling.max_tokens > 0 ? req->sampling.max_tokens : INT32_MAX;

    lx_emitter_init(&s->em, sink, "local");
    if (s->tools) {
        size_t n_stops;
        const char *const *stops = lx_tools_stops(s->tools, &n_stops);
        lx_stop_init(&s->stop, stops, n_stops, on_text, s);
    } else {
        lx_stop_init(&s->stop, req->sampling.stop, req->sampling.n_stop, on_text, s);
    }
    s->n_req_stops = req->sampling.n_stop; /* lx_tools_stops lists the request's first */
    s->t_admit_ns = lx_now_ns();
    lx_context_admit(cx, s); /* a slot is free: checked above */
    char id[40];
    lx_make_id(id, sizeof id, "local-");
    lx_emit_start(&s->em, id, m->name, NULL);
    /* The prompt is counted and its reused prefix known: passed on before the first token (an
     * Anthropic client's message_start shows it); the USAGE at the end completes it. */
    llmux_usage early = llmux_usage_default();
    early.input_tokens = s->n_prompt;
    early.cached_input_tokens = s->stats.n_reused;
    lx_emit_usage(&s->em, &early, NULL);
    sink_open(s);
    *out = s;
    return LLMUX_OK;

fail:
    lx_constraint_free(&s->cons);
    lx_tools_free(s->tools);
    if (s->smpl) llama_sampler_free(s->smpl);
    free(s->prompt);
    free(s);
    return st;
}

void lx_seq_after_logits(lx_context *cx, lx_seq *s) {
    if (s->sink_stopped || llmux_cancel_is_triggered(s->cancel)) {
        lx_seq_end(cx, s, LLMUX_OK, LLMUX_FINISH_CANCELLED);
        return;
    }
    if (s->deadline_ns && lx_now_ns() >= s->deadline_ns) {
        lx_error(&s->err, LLMUX_E_TIMEOUT, "the deadline expired after %d generated tokens", s->stats.n_generated);
        lx_seq_end(cx, s, LLMUX_E_TIMEOUT, LLMUX_FINISH_STOP);
        return;
    }
    if (s->stats.n_generated >= s->max_new || cx->slots[s->slot].n_cache >= cx->n_ctx) {
        lx_seq_end(cx, s, LLMUX_OK, LLMUX_FINISH_LENGTH);
        return;
    }
    llama_token tok = lx_constraint_sample(&s->cons, s->smpl, cx->ctx, s->logits_at);
    if (tok < 0) {
        lx_error(&s->err, LLMUX_E_INTERNAL, "the response_format grammar allows no token of %s's vocabulary after %d tokens",
                 s->m->name, s->stats.n_generated);
        lx_seq_end(cx, s, LLMUX_E_INTERNAL, LLMUX_FINISH_STOP);
        return;
    }
    s->stats.n_generated++;
    if (llama_vocab_is_eog(s->m->vocab, tok)) {
        lx_seq_end(cx, s, LLMUX_OK, LLMUX_FINISH_STOP);
        return;
    }
    /* Pieces are short; a longer one (a vocabulary may hold any token) goes to long_piece. */
    char piece[256];
    const char *text = NULL;
    int32_t k = s->tools ? lx_tools_token_piece(s->tools, tok, piece, sizeof piece, &s->long_piece, &s->long_cap, &text)
                         : lx_model_token_piece(s->m, tok, piece, sizeof piece, &s->long_piece, &s->long_cap, &text);
    if (k < 0) {
        lx_error(&s->err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering token %d", (int)tok);
        lx_seq_end(cx, s, LLMUX_E_OUT_OF_MEMORY, LLMUX_FINISH_STOP);
        return;
    }
    if (!lx_stop_feed(&s->stop, text, (size_t)k)) {
        lx_error(&s->err, LLMUX_E_OUT_OF_MEMORY, "out of memory in the stop filter");
        lx_seq_end(cx, s, LLMUX_E_OUT_OF_MEMORY, LLMUX_FINISH_STOP);
        return;
    }
    if (lx_stop_matched(&s->stop)) {
        lx_seq_end(cx, s, LLMUX_OK, LLMUX_FINISH_STOP);
        return;
    }
    s->pending = tok;
    s->phase = LX_SEQ_DECODE;
}

void lx_seq_end(lx_context *cx, lx_seq *s, llmux_status st, llmux_finish_reason reason) {
    if (s->phase == LX_SEQ_DONE) return;
    int64_t now = lx_now_ns();
    if (s->t_prompt_done_ns) s->stats.t_gen_ns = now - s->t_prompt_done_ns;
    else s->stats.t_prompt_ns = now - s->t_admit_ns;
    if (reason != LLMUX_FINISH_CANCELLED && st == LLMUX_OK) lx_stop_flush(&s->stop);
    /* Which of the request's stop sequences ended the output (a template's own end-of-turn text
     * is no stop sequence of the client's): reported with FINISH. Copied: the template's list
     * goes with the tools below. */
    char *stop_hit = NULL;
    if (lx_stop_matched(&s->stop) && s->stop.which < s->n_req_stops) {
        size_t n = strlen(s->stop.stops[s->stop.which]);
        if ((stop_hit = malloc(n + 1))) memcpy(stop_hit, s->stop.stops[s->stop.which], n + 1); /* else none named */
    }
    lx_stop_free(&s->stop);
    /* The held-back output of a request with tools: its text and tool calls, now. */
    if (s->tools && reason != LLMUX_FINISH_CANCELLED && st == LLMUX_OK && sink_open(s)) {
        const char *warning = NULL;
        reason = lx_tools_finish(s->tools, &s->em, reason, &warning);
        if (warning) {
            s->stats.warning_code = "tool_call_format";
            s->stats.warning = warning;
        }
    }
    lx_tools_free(s->tools);
    s->tools = NULL;
    free(s->long_piece);
    s->long_piece = NULL;
    llama_sampler_free(s->smpl);
    s->smpl = NULL;
    lx_constraint_free(&s->cons);
    free(s->prompt);
    s->prompt = NULL;

    llmux_usage usage = llmux_usage_default();
    usage.input_tokens = s->stats.n_prompt;
    usage.output_tokens = s->stats.n_generated;
    usage.cached_input_tokens = s->stats.n_reused;
    usage.cache_write_tokens = 0;
    usage.reasoning_tokens = 0;
    usage.total_tokens = s->stats.n_prompt + s->stats.n_generated;
    lx_emit_usage(&s->em, &usage, NULL); /* delivered after a stop too: the tokens were spent */

    /* The terminal event, delivered whatever the sink answered before (the emitter's rule). */
    if (st != LLMUX_OK) {
        lx_emit_error(&s->em, &s->err, NULL);
    } else {
        /* FINISH(CANCELLED) whenever the sink had stopped */
        lx_emit_finish_stop(&s->em, reason, reason == LLMUX_FINISH_STOP ? stop_hit : NULL, NULL);
        if (s->em.end_status == LLMUX_E_CANCELLED) st = lx_error(&s->err, LLMUX_E_CANCELLED, "the request was cancelled");
    }
    free(stop_hit);
    lx_emitter_free(&s->em);
    s->st = st;
    s->phase = LX_SEQ_DONE;
    lx_context_release(cx, s);
}

llmux_status lx_seq_outcome(const lx_seq *s, lx_gen_stats *stats, llmux_error_info *err) {
    if (stats) *stats = s->stats;
    if (err) *err = s->err;
    return s->st;
}

void *lx_seq_user_data(const lx_seq *s) { return s->user_data; }

void lx_seq_free(lx_seq *s) { free(s); }

/* ------------------------------------------------------- one at a time */

llmux_status lx_model_generate(lx_model *m, const llmux_request *req, const llmux_cancel *cancel, int64_t deadline_ns,
                               lx_event_sink sink, lx_gen_stats *stats, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    memset(stats, 0, sizeof *stats);
    lx_seq *s = NULL;
    llmux_status st = lx_seq_start(m, req, cancel, deadline_ns, sink, NULL, &s, err);
    if (st != LLMUX_OK) return st;
    /* Other sequences (none when the caller serialises) advance with it. */
    lx_seq *done[LX_MAX_SLOTS];
    while (s->phase != LX_SEQ_DONE) lx_model_step(m, done, LX_MAX_SLOTS);
    st = lx_seq_outcome(s, stats, err);
    lx_seq_free(s);
    return st;
}
