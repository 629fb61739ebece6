/* The context of a loaded model: N sequence slots over one unified KV cache, and the scheduler
 * step that decodes every active sequence in one batch. See sched.h for the policy. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "engine_internal.h"
#include "prompt_disk.h"

/* llama_decode calls this between graph computations: it aborts the batch only when every
 * sequence in it wants to stop (one cancelled request must not cost the others their step; it
 * is retired before the next one). */
static bool abort_cb(void *data) {
    lx_context *cx = data;
    if (cx->n_active == 0) return false;
    for (int32_t i = 0; i < cx->n_slots; i++)
        if (cx->slots[i].seq && !lx_seq_should_stop(cx->slots[i].seq)) return false;
    return true;
}

llmux_status lx_context_init(lx_context *cx, struct llama_context *ctx, int32_t n_ctx, int32_t n_slots,
                             size_t prompt_cache_bytes) {
    memset(cx, 0, sizeof *cx);
    lx_pcache_init(&cx->pc, prompt_cache_bytes);
    cx->n_ctx = n_ctx;
    cx->n_cells = (int32_t)llama_n_ctx(ctx);
    cx->n_batch = (int32_t)llama_n_batch(ctx);
    if (cx->n_batch < 1) cx->n_batch = 1;
    cx->n_ubatch = (int32_t)llama_n_ubatch(ctx);
    if (cx->n_ubatch < 1 || cx->n_ubatch > cx->n_batch) cx->n_ubatch = cx->n_batch;
    cx->n_slots = n_slots;
    cx->slots = calloc((size_t)n_slots, sizeof *cx->slots);
    if (!cx->slots) return LLMUX_E_OUT_OF_MEMORY;
    for (int32_t i = 0; i < n_slots; i++)
        if (!(cx->slots[i].cache = malloc(sizeof(int32_t) * (size_t)n_ctx))) {
            lx_context_free(cx);
            return LLMUX_E_OUT_OF_MEMORY;
        }
    cx->batch = llama_batch_init(cx->n_batch, 0, 1);
    cx->ctx = ctx; /* owned from here on; on failure above the caller still owns it */
    llama_set_abort_callback(ctx, abort_cb, cx);
    return LLMUX_OK;
}

/* Frees the context (and its llama_context, once lx_context_init succeeded); the caller has
 * ended every sequence. */
void lx_context_free(lx_context *cx) {
    if (cx->slots)
        for (int32_t i = 0; i < cx->n_slots; i++) free(cx->slots[i].cache);
    free(cx->slots);
    if (cx->batch.token) llama_batch_free(cx->batch);
    if (cx->ctx) llama_free(cx->ctx);
    lx_pcache_free(&cx->pc);
    memset(cx, 0, sizeof *cx);
}

static llama_memory_t mem_of(lx_context *cx) { return llama_get_memory(cx->ctx); }

/* Drops slot i's KV entirely (always succeeds in llama.cpp). */
static void slot_clear(lx_context *cx, int32_t i) {
    llama_memory_seq_rm(mem_of(cx), i, -1, -1);
    cx->slots[i].n_cache = 0;
}

/* Keeps the first keep tokens of slot i's KV; when the memory cannot cut a sequence there,
 * drops it all. Returns what was kept. */
static int32_t slot_trim(lx_context *cx, int32_t i, int32_t keep) {
    lx_slot *sl = &cx->slots[i];
    if (keep >= sl->n_cache) return sl->n_cache;
    if (keep <= 0 || !llama_memory_seq_rm(mem_of(cx), i, keep, -1)) {
        slot_clear(cx, i);
        return 0;
    }
    sl->n_cache = keep;
    return keep;
}

/* Copies free slot i's KV to the host prompt cache before it is dropped or cut. */
static void slot_spill(lx_context *cx, int32_t i) {
    lx_slot *sl = &cx->slots[i];
    lx_pcache_save(&cx->pc, cx->ctx, i, sl->cache, sl->n_cache);
}

static int32_t cells_used(const lx_context *cx);
static int32_t make_room(lx_context *cx, int32_t used, int32_t need);

static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t n = na < nb ? na : nb, k = 0;
    while (k < n && a[k] == b[k]) k++;
    return k;
}

/* The free slot least recently given to a request (empty ones first: they were never used). */
static int32_t lru_free_slot(const lx_context *cx) {
    int32_t best = -1;
    for (int32_t i = 0; i < cx->n_slots; i++)
        if (!cx->slots[i].seq && (best < 0 || cx->slots[i].last_used < cx->slots[best].last_used)) best = i;
    return best;
}

/* Restores a saved prefix (taken out of a cache: this frees it) into free slot target (emptied
 * first). Returns the tokens now held, 0 when it could not be restored (no room, llama.cpp
 * refused). */
static int32_t restore_entry(lx_context *cx, lx_pcache_entry *e, int32_t target) {
    slot_spill(cx, target);
    slot_clear(cx, target);
    int32_t got = 0;
    if (make_room(cx, cells_used(cx), e->n) >= e->n && llama_state_seq_set_data(cx->ctx, e->state, e->size, target) > 0) {
        memcpy(cx->slots[target].cache, e->tokens, sizeof(int32_t) * (size_t)e->n);
        cx->slots[target].n_cache = e->n;
        got = e->n;
        cx->pc.restores++;
    } else {
        slot_clear(cx, target); /* a failed restore may leave part of it */
    }
    lx_pcache_entry_free(e);
    return got;
}

/* Restores host cache entry hi into free slot target. */
static int32_t restore_into(lx_context *cx, int64_t hi, int32_t target) {
    lx_pcache_entry e = lx_pcache_take(&cx->pc, (size_t)hi);
    return restore_entry(cx, &e, target);
}

/* Restores cache directory entry di into free slot target; an entry llama.cpp refuses leaves the
 * index (it would be refused again). */
static int32_t restore_from_disk(lx_context *cx, int64_t di, int32_t target) {
    lx_pdisk *d = cx->pc.disk;
    lx_pcache_entry e = {0};
    char name[sizeof d->e[di].name];
    memcpy(name, d->e[di].name, sizeof name); /* restoring may save other prefixes: the index moves */
    e.n = d->e[di].n;
    if (!(e.tokens = malloc(sizeof(int32_t) * (size_t)e.n))) return 0;
    memcpy(e.tokens, d->e[di].tokens, sizeof(int32_t) * (size_t)e.n);
    if (!lx_pdisk_load(d, (size_t)di, &e.state, &e.size)) { /* left the index, with a warning */
        lx_pcache_entry_free(&e);
        return 0;
    }
    int32_t got = restore_entry(cx, &e, target);
    if (got == 0) lx_pdisk_forget(d, name, "llama.cpp refused its state (or no KV room)");
    return got;
}

bool lx_context_admit(lx_context *cx, lx_seq *s) {
    int32_t best = -1, best_common = 0, best_score = 0;
    /* At least the prompt's last token is decoded: sampling needs its logits. */
    int32_t limit = s->n_prompt - 1;
    for (int32_t i = 0; i < cx->n_slots; i++) {
        lx_slot *sl = &cx->slots[i];
        if (sl->seq) continue;
        int32_t c = common_prefix(sl->cache, sl->n_cache, s->prompt, limit);
        /* One shared token is the BOS every prompt begins with: not worth keeping a slot's
         * cache for, and not a reuse to report. */
        if (c < 2) c = 0;
        /* Tokens reused minus tokens of another conversation cut away: a short shared system
         * prompt is not worth a long cached conversation when an emptier slot is free. */
        int32_t score = c - (sl->n_cache - c);
        if (best < 0 || score > best_score || (score == best_score && sl->last_used < cx->slots[best].last_used)) {
            best = i;
            best_common = c;
            best_score = score;
        }
    }
    if (best < 0) return false;
    int32_t host_common = 0, disk_common = 0;
    int64_t hi = lx_pcache_find(&cx->pc, s->prompt, limit, &host_common);
    int64_t di = cx->pc.disk ? lx_pdisk_find(cx->pc.disk, s->prompt, limit, &disk_common) : -1;
    if (di >= 0 && disk_common > best_common && disk_common > host_common) {
        best = lru_free_slot(cx);
        best_common = restore_from_disk(cx, di, best) > 0 ? disk_common : 0;
        if (best_common > 0) cx->pc.restored_tokens += (uint64_t)disk_common;
    } else if (hi >= 0 && host_common > best_common) {
        best = lru_free_slot(cx);
        best_common = restore_into(cx, hi, best) > 0 ? host_common : 0;
        if (best_common > 0) cx->pc.restored_tokens += (uint64_t)host_common;
    } else if (cx->slots[best].n_cache - best_common >= LX_PCACHE_MIN_TOKENS) {
        slot_spill(cx, best); /* its tail is another conversation's: keep it in host RAM */
    }
    lx_slot *sl = &cx->slots[best];
    int32_t kept = slot_trim(cx, best, best_common);
    sl->seq = s;
    sl->last_used = ++cx->clock;
    cx->n_active++;
    s->slot = best;
    s->admitted = cx->clock;
    s->n_past = kept;
    s->stats.n_reused = kept;
    memcpy(sl->cache, s->prompt, sizeof(int32_t) * (size_t)kept);
    return true;
}

void lx_context_persist(lx_context *cx) {
    if (!cx->pc.disk || !cx->ctx) return;
    for (int32_t i = 0; i < cx->n_slots; i++)
        if (!cx->slots[i].seq) lx_pcache_save_to_disk(&cx->pc, cx->ctx, i, cx->slots[i].cache, cx->slots[i].n_cache);
    lx_pcache_persist(&cx->pc);
}

void lx_context_release(lx_context *cx, lx_seq *s) {
    if (s->slot < 0) return;
    cx->slots[s->slot].seq = NULL;
    cx->n_active--;
    s->slot = -1;
}

/* KV cells held by all slots (running requests and caches of free slots). */
static int32_t cells_used(const lx_context *cx) {
    int32_t n = 0;
    for (int32_t i = 0; i < cx->n_slots; i++) n += cx->slots[i].n_cache;
    return n;
}

/* Frees cells until need more fit, dropping free slots' caches least recently used first.
 * Returns the cells free afterwards. */
static int32_t make_room(lx_context *cx, int32_t used, int32_t need) {
    while (cx->n_cells - used < need) {
        int32_t victim = -1;
        for (int32_t i = 0; i < cx->n_slots; i++) {
            lx_slot *sl = &cx->slots[i];
            if (!sl->seq && sl->n_cache > 0 && (victim < 0 || sl->last_used < cx->slots[victim].last_used)) victim = i;
        }
        if (victim < 0) break;
        used -= cx->slots[victim].n_cache;
        slot_spill(cx, victim);
        slot_clear(cx, victim);
    }
    return cx->n_cells - used;
}

/* In a unified KV cache every running sequence's attention spans the cells of all sequences
 * (others' are masked, still computed): free slots' caches slow every step. Measured on the
 * 8-layer benchmark model, 7 idle caches of 160 tokens cost a single stream about 30 % of its
 * tokens/s. So while requests run, idle caches beyond the running sequences' own cells move to
 * the host prompt cache (least recently used first; a restore is a copy, ~1 ms per MiB), when
 * there is one. */
static void shed_idle_cells(lx_context *cx) {
    if (cx->pc.budget == 0 || cx->n_active == 0) return;
    int32_t active = 0, idle = 0;
    for (int32_t i = 0; i < cx->n_slots; i++) {
        if (cx->slots[i].seq) active += cx->slots[i].n_cache + cx->slots[i].seq->n_prompt - cx->slots[i].seq->n_past;
        else idle += cx->slots[i].n_cache;
    }
    while (idle > active) {
        int32_t victim = -1;
        for (int32_t i = 0; i < cx->n_slots; i++) {
            lx_slot *sl = &cx->slots[i];
            if (!sl->seq && sl->n_cache > 0 && (victim < 0 || sl->last_used < cx->slots[victim].last_used)) victim = i;
        }
        if (victim < 0) break;
        idle -= cx->slots[victim].n_cache;
        slot_spill(cx, victim);
        slot_clear(cx, victim);
    }
}

static void batch_add(struct llama_batch *b, int32_t token, int32_t pos, int32_t seq, bool logits) {
    int32_t i = b->n_tokens++;
    b->token[i] = token;
    b->pos[i] = pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = seq;
    b->logits[i] = logits;
}

static void finish_to(lx_context *cx, lx_seq *s, llmux_status st, llmux_finish_reason reason, lx_seq **done,
                      int32_t *n_done) {
    lx_seq_end(cx, s, st, reason);
    done[(*n_done)++] = s;
}

/* The active sequences in admission order (prefill fairness: the oldest prompt goes first). */
static int32_t active_in_order(lx_context *cx, lx_seq **out) {
    int32_t n = 0;
    for (int32_t i = 0; i < cx->n_slots; i++)
        if (cx->slots[i].seq) out[n++] = cx->slots[i].seq;
    for (int32_t i = 1; i < n; i++) /* insertion sort: n <= 64 */
        for (int32_t j = i; j > 0 && out[j - 1]->admitted > out[j]->admitted; j--) {
            lx_seq *t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

int32_t lx_model_step(lx_model *m, lx_seq **done, int32_t cap) {
    lx_context *cx = m->cx;
    (void)cap;
    int32_t n_done = 0;
    if (!cx || cx->n_active == 0) return 0;
    lx_seq *act[LX_MAX_SLOTS];
    int32_t n_act = active_in_order(cx, act);

    /* Retire what wants to stop before spending a decode on it. */
    for (int32_t i = 0; i < n_act; i++) {
        lx_seq *s = act[i];
        if (!lx_seq_should_stop(s)) continue;
        if (s->sink_stopped || llmux_cancel_is_triggered(s->cancel)) {
            finish_to(cx, s, LLMUX_OK, LLMUX_FINISH_CANCELLED, done, &n_done);
        } else {
            lx_error(&s->err, LLMUX_E_TIMEOUT, "the deadline expired after %d generated tokens", s->stats.n_generated);
            finish_to(cx, s, LLMUX_E_TIMEOUT, LLMUX_FINISH_STOP, done, &n_done);
        }
        act[i] = NULL;
    }

    shed_idle_cells(cx);
    struct llama_batch *b = &cx->batch;
    b->n_tokens = 0;
    int32_t used = cells_used(cx);
    int32_t before[LX_MAX_SLOTS]; /* each slot's n_cache before this step, to undo a failed decode */
    for (int32_t i = 0; i < cx->n_slots; i++) before[i] = cx->slots[i].n_cache;

    /* One token for every generating sequence. */
    for (int32_t i = 0; i < n_act; i++) {
        lx_seq *s = act[i];
        if (!s || s->phase != LX_SEQ_DECODE) continue;
        lx_slot *sl = &cx->slots[s->slot];
        if (make_room(cx, used, 1) < 1) {
            /* No cell left anywhere: this sequence cannot grow. */
            finish_to(cx, s, LLMUX_OK, LLMUX_FINISH_LENGTH, done, &n_done);
            act[i] = NULL;
            continue;
        }
        s->logits_at = b->n_tokens;
        batch_add(b, s->pending, sl->n_cache, s->slot, true);
        sl->cache[sl->n_cache++] = s->pending;
        used++;
    }
    /* Prompt chunks, oldest request first, within the per-step token budget: one micro-batch
     * (n_ubatch) while some sequence generates, so a long prompt delays their next token by one
     * micro-batch at most; the whole n_batch while all are in prefill (as llama-server's decode
     * of up to n_batch tokens), so requests arriving together are prefilled in one step (4
     * streams of 385-token prompts: aggregate 1.00x llama-server's against 0.89x with 512
     * always, docs/benchmarks.md). */
    int32_t budget = b->n_tokens > 0 ? cx->n_ubatch : cx->n_batch;
    for (int32_t i = 0; i < n_act && b->n_tokens < budget; i++) {
        lx_seq *s = act[i];
        if (!s || s->phase != LX_SEQ_PREFILL) continue;
        lx_slot *sl = &cx->slots[s->slot];
        int32_t k = s->n_prompt - s->n_past;
        if (k > budget - b->n_tokens) k = budget - b->n_tokens;
        int32_t room = make_room(cx, used, k);
        if (k > room) k = room;
        if (k <= 0) continue; /* waits for cells (a generating sequence ends or a slot frees) */
        for (int32_t j = 0; j < k; j++) {
            int32_t tok = s->prompt[s->n_past + j];
            bool last = s->n_past + j == s->n_prompt - 1;
            if (last) s->logits_at = b->n_tokens;
            batch_add(b, tok, sl->n_cache, s->slot, last);
            sl->cache[sl->n_cache++] = tok;
        }
        s->n_past += k;
        used += k;
    }
    if (b->n_tokens == 0) {
        /* Nothing could run (every prompt waits for cells held by nobody that can finish):
         * fail the waiting prompts rather than spin. */
        for (int32_t i = 0; i < n_act; i++) {
            lx_seq *s = act[i];
            if (!s || s->phase != LX_SEQ_PREFILL) continue;
            lx_error(&s->err, LLMUX_E_CONTEXT_LENGTH, "no room in the KV cache (%d cells) for the prompt", cx->n_cells);
            finish_to(cx, s, LLMUX_E_CONTEXT_LENGTH, LLMUX_FINISH_STOP, done, &n_done);
        }
        return n_done;
    }

    int32_t rc = llama_decode(cx->ctx, *b);
    if (rc != 0) {
        /* Undo this step's tokens in every slot (llama.cpp may have kept part of the batch). */
        for (int32_t i = 0; i < cx->n_slots; i++)
            if (cx->slots[i].n_cache > before[i]) slot_trim(cx, i, before[i]);
        for (int32_t i = 0; i < n_act; i++) {
            lx_seq *s = act[i];
            if (!s || s->phase == LX_SEQ_DONE) continue;
            if (rc == 2) {
                /* Aborted: every sequence wanted to stop (abort_cb). */
                if (!s->sink_stopped && !llmux_cancel_is_triggered(s->cancel) && s->deadline_ns &&
                    lx_now_ns() >= s->deadline_ns) {
                    lx_error(&s->err, LLMUX_E_TIMEOUT, "the deadline expired after %d generated tokens",
                             s->stats.n_generated);
                    finish_to(cx, s, LLMUX_E_TIMEOUT, LLMUX_FINISH_STOP, done, &n_done);
                } else {
                    finish_to(cx, s, LLMUX_OK, LLMUX_FINISH_CANCELLED, done, &n_done);
                }
            } else {
                lx_error(&s->err, rc == 1 ? LLMUX_E_CONTEXT_LENGTH : LLMUX_E_INTERNAL, "llama_decode failed (code %d)", rc);
                finish_to(cx, s, s->err.status, LLMUX_FINISH_STOP, done, &n_done);
            }
        }
        return n_done;
    }

    int64_t now = lx_now_ns();
    for (int32_t i = 0; i < n_act; i++) {
        lx_seq *s = act[i];
        if (!s || s->phase == LX_SEQ_DONE || s->logits_at < 0) continue;
        if (s->phase == LX_SEQ_PREFILL) {
            s->t_prompt_done_ns = now;
            s->stats.t_prompt_ns = now - s->t_admit_ns;
        }
        lx_seq_after_logits(cx, s);
        s->logits_at = -1;
        if (s->phase == LX_SEQ_DONE) done[n_done++] = s;
    }
    return n_done;
}

size_t lx_model_prompt_cache_bytes(const lx_model *m) { return m->cx ? m->cx->pc.bytes : 0; }

int64_t lx_model_kv_bytes(const lx_model *m) {
    if (!m->cx || !m->model || !llama_get_memory(m->cx->ctx)) return 0; /* an encoder has no KV cache */
    int64_t n_head = llama_model_n_head(m->model), n_head_kv = llama_model_n_head_kv(m->model);
    if (n_head <= 0 || n_head_kv <= 0) n_head = n_head_kv = 1;
    int64_t width = (int64_t)llama_model_n_embd(m->model) * n_head_kv / n_head;
    return 2 * (int64_t)m->cx->n_cells * llama_model_n_layer(m->model) * width * 2;
}

int32_t lx_model_n_slots(const lx_model *m) { return m->cx ? m->cx->n_slots : 0; }
int32_t lx_model_n_active(const lx_model *m) { return m->cx ? m->cx->n_active : 0; }

int32_t lx_model_cancel_all(lx_model *m, lx_seq **done, int32_t cap) {
    lx_context *cx = m->cx;
    int32_t n_done = 0;
    if (!cx) return 0;
    for (int32_t i = 0; i < cx->n_slots && n_done < cap; i++)
        if (cx->slots[i].seq) finish_to(cx, cx->slots[i].seq, LLMUX_OK, LLMUX_FINISH_CANCELLED, done, &n_done);
    return n_done;
}
