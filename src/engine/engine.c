#define _POSIX_C_SOURCE 200809L
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "llama.h"
#include "stop.h"

/* Caps: prompts and rendered templates are bounded so a request cannot allocate without limit. */
#define LX_PROMPT_MAX_BYTES (64u * 1024u * 1024u)
#define LX_DEFAULT_CTX_CAP 4096
#define LX_BATCH 512

struct lx_model {
    struct llama_model *model;
    struct llama_context *ctx;      /* NULL when vocab-only */
    const struct llama_vocab *vocab;
    char *name;
    int32_t n_ctx;
    int32_t *cache;                 /* tokens whose KV sits in sequence 0, in order */
    int32_t n_cache;
    /* State of the generation in progress, read by the abort callback inside llama_decode. */
    const llmux_cancel *cancel;
    int64_t deadline_ns;
    bool sink_stopped;
};

/* ------------------------------------------------------------ llama.cpp glue */

/* llama.cpp logs through one process-wide callback. Keep it quiet and remember the last error
 * line per thread, so a failed load can say why. */
static _Thread_local char t_last_error[256];

static void quiet_log(enum ggml_log_level level, const char *text, void *user_data) {
    (void)user_data;
    if (level != GGML_LOG_LEVEL_ERROR || !text) return;
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' ')) n--;
    if (n == 0) return;
    if (n >= sizeof t_last_error) n = sizeof t_last_error - 1;
    memcpy(t_last_error, text, n);
    t_last_error[n] = '\0';
}

static pthread_once_t g_backend_once = PTHREAD_ONCE_INIT;

static void backend_init(void) {
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
}

static bool abort_cb(void *data) {
    lx_model *m = data;
    if (m->sink_stopped || llmux_cancel_is_triggered(m->cancel)) return true;
    return m->deadline_ns && lx_now_ns() >= m->deadline_ns;
}

typedef struct progress_ctx {
    llmux_progress_cb cb;
    void *ud;
} progress_ctx;

static bool progress_cb(float p, void *ud) {
    progress_ctx *pc = ud;
    pc->cb(p, pc->ud);
    return true;
}

/* ---------------------------------------------------------------- loading */

lx_model_params lx_model_default_params(void) {
    lx_model_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static char *name_from_path(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".gguf") == 0) n -= 5;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, base, n);
        s[n] = '\0';
    }
    return s;
}

static llmux_status check_file(const char *path, llmux_error_info *err) {
    struct stat st;
    if (stat(path, &st) != 0)
        return lx_error(err, errno == ENOENT ? LLMUX_E_MODEL_NOT_FOUND : LLMUX_E_PERMISSION, "cannot open model %s: %s",
                        path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return lx_error(err, LLMUX_E_CONFIGURATION, "model %s is not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return lx_error(err, LLMUX_E_PERMISSION, "cannot open model %s: %s", path, strerror(errno));
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got != 4 || memcmp(magic, "GGUF", 4) != 0)
        return lx_error(err, LLMUX_E_CONFIGURATION, "model %s is not a GGUF file (bad magic)", path);
    return LLMUX_OK;
}

llmux_status lx_model_load(const lx_model_params *p, lx_model **out, llmux_error_info *err) {
    *out = NULL;
    pthread_once(&g_backend_once, backend_init);
    llmux_status st = check_file(p->path, err);
    if (st != LLMUX_OK) return st;

    lx_model *m = calloc(1, sizeof *m);
    if (!m) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory loading %s", p->path);
    m->name = name_from_path(p->path);
    if (!m->name) goto oom;

    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = p->vocab_only;
    progress_ctx pc = {p->progress, p->progress_user_data};
    if (p->progress) {
        mp.progress_callback = progress_cb;
        mp.progress_callback_user_data = &pc;
    }
    t_last_error[0] = '\0';
    m->model = llama_model_load_from_file(p->path, mp);
    if (!m->model) {
        st = lx_error(err, LLMUX_E_CONFIGURATION, "cannot load model %s: %s", p->path,
                      t_last_error[0] ? t_last_error : "corrupt, truncated or unsupported GGUF file");
        goto fail;
    }
    m->vocab = llama_model_get_vocab(m->model);
    if (p->vocab_only) {
        *out = m;
        return LLMUX_OK;
    }

    int32_t n_train = llama_model_n_ctx_train(m->model);
    int32_t n_ctx = p->n_ctx > 0 ? p->n_ctx : (n_train > 0 && n_train < LX_DEFAULT_CTX_CAP ? n_train : LX_DEFAULT_CTX_CAP);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int32_t threads = p->n_threads > 0 ? p->n_threads : (cores > 0 ? (int32_t)cores : 1);

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = LX_BATCH;
    cp.n_ubatch = LX_BATCH;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.abort_callback = abort_cb;
    cp.abort_callback_data = m;
    cp.no_perf = true;
    t_last_error[0] = '\0';
    m->ctx = llama_init_from_model(m->model, cp);
    if (!m->ctx) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "cannot create a context of %d tokens for %s: %s", n_ctx, p->path,
                      t_last_error[0] ? t_last_error : "allocation failed");
        goto fail;
    }
    m->n_ctx = (int32_t)llama_n_ctx(m->ctx);
    m->cache = malloc(sizeof(int32_t) * (size_t)m->n_ctx);
    if (!m->cache) goto oom;
    *out = m;
    return LLMUX_OK;

oom:
    st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory loading %s", p->path);
fail:
    lx_model_free(m);
    return st;
}

void lx_model_free(lx_model *m) {
    if (!m) return;
    if (m->ctx) llama_free(m->ctx);
    if (m->model) llama_model_free(m->model);
    free(m->cache);
    free(m->name);
    free(m);
}

const char *lx_model_name(const lx_model *m) { return m->name; }
int32_t lx_model_n_ctx(const lx_model *m) { return m->n_ctx; }
const struct llama_vocab *lx_model_vocab(const lx_model *m) { return m->vocab; }

int32_t lx_model_tokenize(const lx_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                          int32_t *tokens, int32_t n_max) {
    if (len > INT32_MAX) return INT32_MIN;
    return llama_tokenize(m->vocab, text, (int32_t)len, tokens, n_max, add_special, parse_special);
}

/* ------------------------------------------------------------------ prompt */

static const char *role_name(llmux_role r) {
    switch (r) {
    case LLMUX_ROLE_SYSTEM: return "system";
    case LLMUX_ROLE_USER: return "user";
    case LLMUX_ROLE_ASSISTANT: return "assistant";
    case LLMUX_ROLE_TOOL: return "tool";
    }
    return "user";
}

/* The text a message contributes to a local prompt. Images cannot be rendered by a text-only
 * engine: refusing beats silently dropping the user's input. */
static bool message_text(const llmux_message *msg, size_t mi, lx_buf *b, llmux_error_info *err) {
    for (size_t i = 0; i < msg->n_parts; i++) {
        const llmux_part *p = &msg->parts[i];
        bool ok = true;
        switch (p->type) {
        case LLMUX_PART_TEXT:
        case LLMUX_PART_TOOL_RESULT:
            if (p->text) ok = lx_buf_append_str(b, p->text);
            break;
        case LLMUX_PART_TOOL_CALL:
            ok = lx_buf_printf(b, "%s(%s)", p->name ? p->name : "", p->arguments ? p->arguments : "{}");
            break;
        case LLMUX_PART_REASONING:
            break; /* earlier reasoning is not fed back to a local model */
        case LLMUX_PART_IMAGE:
            lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: local models do not accept images", mi, i);
            return false;
        }
        if (!ok) {
            lx_error(err, LLMUX_E_INVALID_REQUEST, "prompt larger than %u bytes", LX_PROMPT_MAX_BYTES);
            return false;
        }
    }
    return true;
}

bool lx_model_render_prompt(const lx_model *m, const llmux_request *req, char **prompt, bool *used_template,
                            llmux_error_info *err) {
    *prompt = NULL;
    *used_template = false;
    size_t n = req->n_messages + (req->system ? 1 : 0);
    llama_chat_message *chat = calloc(n ? n : 1, sizeof *chat);
    lx_buf *texts = calloc(n ? n : 1, sizeof *texts);
    lx_buf out;
    lx_buf_init(&out, LX_PROMPT_MAX_BYTES);
    bool ok = false;
    if (!chat || !texts) {
        lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the prompt");
        goto done;
    }
    size_t k = 0;
    if (req->system) {
        lx_buf_init(&texts[k], LX_PROMPT_MAX_BYTES);
        if (!lx_buf_append_str(&texts[k], req->system)) goto too_big;
        chat[k].role = "system";
        chat[k].content = texts[k].data;
        k++;
    }
    for (size_t i = 0; i < req->n_messages; i++, k++) {
        lx_buf_init(&texts[k], LX_PROMPT_MAX_BYTES);
        if (!message_text(&req->messages[i], i, &texts[k], err)) goto done;
        if (!texts[k].data && !lx_buf_append(&texts[k], "", 0)) goto too_big;
        chat[k].role = role_name(req->messages[i].role);
        chat[k].content = texts[k].data;
    }

    const char *tmpl = llama_model_chat_template(m->model, NULL);
    if (tmpl) {
        int32_t need = llama_chat_apply_template(tmpl, chat, n, true, NULL, 0);
        if (need >= 0) {
            if ((uint32_t)need >= LX_PROMPT_MAX_BYTES) goto too_big;
            char *buf = malloc((size_t)need + 1);
            if (!buf) goto too_big;
            llama_chat_apply_template(tmpl, chat, n, true, buf, need + 1);
            buf[need] = '\0';
            *prompt = buf;
            *used_template = true;
            ok = true;
            goto done;
        }
        /* A template llama.cpp cannot apply: fall back to plain completion. */
    }
    /* Plain completion: the texts in order, separated by blank lines. */
    for (size_t i = 0; i < n; i++) {
        if (i && !lx_buf_append_str(&out, "\n\n")) goto too_big;
        if (!lx_buf_append_str(&out, chat[i].content)) goto too_big;
    }
    *prompt = lx_buf_steal(&out);
    ok = *prompt != NULL;
    if (!ok) lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the prompt");
    goto done;
too_big:
    lx_error(err, LLMUX_E_INVALID_REQUEST, "prompt larger than %u bytes", LX_PROMPT_MAX_BYTES);
done:
    if (texts)
        for (size_t i = 0; i < n; i++) lx_buf_free(&texts[i]);
    free(texts);
    free(chat);
    lx_buf_free(&out);
    return ok;
}

/* ---------------------------------------------------------------- sampling */

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
    uint32_t seed = s->seed >= 0 ? (uint32_t)s->seed : LLAMA_DEFAULT_SEED;
    llama_sampler_chain_add(chain, llama_sampler_init_dist(seed));
    return chain;
}

/* -------------------------------------------------------------- generation */

typedef struct gen_state {
    lx_model *m;
    lx_event_sink sink;
    bool started;
} gen_state;

static bool emit(gen_state *g, const llmux_event *ev) {
    if (g->m->sink_stopped) return false;
    if (!g->sink.emit(g->sink.user_data, ev)) g->m->sink_stopped = true;
    return !g->m->sink_stopped;
}

static void on_text(void *ud, const char *text, size_t len) {
    gen_state *g = ud;
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TEXT_DELTA;
    ev.index = 0;
    ev.text = text;
    ev.text_len = len;
    emit(g, &ev);
}

static void emit_finish(gen_state *g, llmux_finish_reason r) {
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_FINISH;
    ev.finish_reason = r;
    /* The terminal event is delivered even after the sink asked to stop: every stream ends with
     * exactly one terminal event. */
    g->sink.emit(g->sink.user_data, &ev);
}

static void emit_error(gen_state *g, const llmux_error_info *e) {
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_ERROR;
    ev.error = e;
    g->sink.emit(g->sink.user_data, &ev);
}

/* Decodes tokens[0..n) at the end of the cache, n_batch at a time. Returns llama_decode's code. */
static int32_t decode_tokens(lx_model *m, const int32_t *tokens, int32_t n) {
    for (int32_t i = 0; i < n; i += LX_BATCH) {
        int32_t k = n - i < LX_BATCH ? n - i : LX_BATCH;
        struct llama_batch b = llama_batch_get_one((llama_token *)(tokens + i), k);
        int32_t rc = llama_decode(m->ctx, b);
        if (rc != 0) {
            m->n_cache = -1; /* KV state unknown: clear before the next request */
            return rc;
        }
        memcpy(m->cache + m->n_cache, tokens + i, sizeof(int32_t) * (size_t)k);
        m->n_cache += k;
    }
    return 0;
}

/* Reuses the longest common prefix of the cached tokens and the new prompt (at least one prompt
 * token is always decoded, because sampling needs its logits). Returns the reused count. */
static int32_t reuse_prefix(lx_model *m, const int32_t *tokens, int32_t n) {
    llama_memory_t mem = llama_get_memory(m->ctx);
    int32_t common = 0;
    if (m->n_cache > 0)
        while (common < m->n_cache && common < n - 1 && m->cache[common] == tokens[common]) common++;
    if (common == 0 || !llama_memory_seq_rm(mem, 0, common, -1)) {
        llama_memory_clear(mem, true);
        common = 0;
    }
    m->n_cache = common;
    return common;
}

llmux_status lx_model_generate(lx_model *m, const llmux_request *req, const llmux_cancel *cancel, int64_t deadline_ns,
                               lx_event_sink sink, lx_gen_stats *stats, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    memset(stats, 0, sizeof *stats);
    if (!m->ctx) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model %s was loaded vocabulary-only", m->name);
    if (req->n_tools > 0) {
        stats->warning_code = "unsupported_parameter";
        stats->warning = "tools are not supported by the local engine yet; they were ignored";
    } else if (req->response_format != LLMUX_FORMAT_TEXT) {
        stats->warning_code = "unsupported_parameter";
        stats->warning = "response_format is not enforced by the local engine yet; it was ignored";
    }

    char *prompt = NULL;
    bool templated = false;
    if (!lx_model_render_prompt(m, req, &prompt, &templated, err)) return err ? err->status : LLMUX_E_INVALID_REQUEST;

    size_t plen = strlen(prompt);
    int32_t cap = plen + 8 < (size_t)INT32_MAX ? (int32_t)plen + 8 : INT32_MAX;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)cap);
    if (!tokens) {
        free(prompt);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory tokenizing the prompt");
    }
    int32_t n = lx_model_tokenize(m, prompt, plen, true, templated, tokens, cap);
    free(prompt);
    if (n <= 0) {
        free(tokens);
        return lx_error(err, n == 0 ? LLMUX_E_INVALID_REQUEST : LLMUX_E_INTERNAL,
                        n == 0 ? "the prompt is empty" : "tokenization failed");
    }
    if (n >= m->n_ctx) {
        free(tokens);
        return lx_error(err, LLMUX_E_CONTEXT_LENGTH, "the prompt has %d tokens; the context holds %d", n, m->n_ctx);
    }
    stats->n_prompt = n;

    struct llama_sampler *smpl = build_sampler(m, &req->sampling);
    if (!smpl) {
        free(tokens);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory building the sampler");
    }

    m->cancel = cancel;
    m->deadline_ns = deadline_ns;
    m->sink_stopped = false;
    gen_state g = {m, sink, false};
    lx_stop_filter stop;
    lx_stop_init(&stop, req->sampling.stop, req->sampling.n_stop, on_text, &g);

    char id[40];
    lx_make_id(id, sizeof id, "local-");
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_START;
    ev.id = id;
    ev.name = m->name;
    ev.provider = "local";
    emit(&g, &ev);

    llmux_status st = LLMUX_OK;
    llmux_finish_reason reason = LLMUX_FINISH_STOP;
    if (m->n_cache < 0) {
        llama_memory_clear(llama_get_memory(m->ctx), true);
        m->n_cache = 0;
    }
    int64_t t0 = lx_now_ns();
    stats->n_reused = reuse_prefix(m, tokens, n);
    int32_t rc = decode_tokens(m, tokens + stats->n_reused, n - stats->n_reused);
    int64_t t1 = lx_now_ns();
    stats->t_prompt_ns = t1 - t0;

    int32_t max_new = req->sampling.max_tokens > 0 ? req->sampling.max_tokens : INT32_MAX;
    while (rc == 0) {
        if (m->sink_stopped || llmux_cancel_is_triggered(cancel)) {
            reason = LLMUX_FINISH_CANCELLED;
            break;
        }
        if (deadline_ns && lx_now_ns() >= deadline_ns) {
            rc = 2;
            break;
        }
        if (stats->n_generated >= max_new) {
            reason = LLMUX_FINISH_LENGTH;
            break;
        }
        if (m->n_cache >= m->n_ctx) {
            reason = LLMUX_FINISH_LENGTH;
            break;
        }
        llama_token tok = llama_sampler_sample(smpl, m->ctx, -1);
        stats->n_generated++;
        if (llama_vocab_is_eog(m->vocab, tok)) break;
        char piece[256];
        int32_t k = llama_token_to_piece(m->vocab, tok, piece, sizeof piece, 0, false);
        if (k < 0) k = 0; /* a piece longer than 256 bytes does not exist in real vocabularies */
        if (!lx_stop_feed(&stop, piece, (size_t)k)) {
            st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory in the stop filter");
            break;
        }
        if (lx_stop_matched(&stop)) break;
        rc = decode_tokens(m, &tok, 1);
    }
    if (rc == 2) {
        /* llama_decode aborted through abort_cb: a cancel or the deadline. */
        if (!m->sink_stopped && !llmux_cancel_is_triggered(cancel) && deadline_ns && lx_now_ns() >= deadline_ns)
            st = lx_error(err, LLMUX_E_TIMEOUT, "the deadline expired after %d generated tokens", stats->n_generated);
        else
            reason = LLMUX_FINISH_CANCELLED;
    } else if (rc != 0 && st == LLMUX_OK) {
        st = lx_error(err, rc == 1 ? LLMUX_E_CONTEXT_LENGTH : LLMUX_E_INTERNAL, "llama_decode failed (code %d)", rc);
    }
    stats->t_gen_ns = lx_now_ns() - t1;

    if (reason != LLMUX_FINISH_CANCELLED && st == LLMUX_OK) lx_stop_flush(&stop);
    lx_stop_free(&stop);
    llama_sampler_free(smpl);
    free(tokens);

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_USAGE;
    ev.usage = llmux_usage_default();
    ev.usage.input_tokens = stats->n_prompt;
    ev.usage.output_tokens = stats->n_generated;
    ev.usage.cached_input_tokens = stats->n_reused;
    ev.usage.cache_write_tokens = 0;
    ev.usage.reasoning_tokens = 0;
    ev.usage.total_tokens = stats->n_prompt + stats->n_generated;
    g.sink.emit(g.sink.user_data, &ev);

    if (st != LLMUX_OK) {
        emit_error(&g, err);
    } else {
        emit_finish(&g, reason);
        if (reason == LLMUX_FINISH_CANCELLED) st = lx_error(err, LLMUX_E_CANCELLED, "the request was cancelled");
    }
    m->cancel = NULL;
    m->deadline_ns = 0;
    return st;
}
