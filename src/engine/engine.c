#define _POSIX_C_SOURCE 200809L
#include "engine.h"
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/emitter.h"
#include "core/error.h"
#include "gguf_check.h"
#include "llama.h"
#include "llama_log.h"
#include "prompt.h"
#include "prompt_disk.h"
#include "stop.h"
#include "tools.h"

#define LX_DEFAULT_CTX_CAP 4096
#define LX_BATCH 2048
#define LX_UBATCH 512
/* Reading a file into memory costs about 0.6 ms per MiB (page cache to anonymous memory) over
 * mapping it; below this size that is cheap, and a model in memory cannot fault (SIGBUS) when
 * its file is truncated or rewritten underneath it. */
#define LX_MMAP_MIN_BYTES (64ll * 1024 * 1024)
#define LX_PROMPT_CACHE_DIR_MB 1024

/* ------------------------------------------------------------ llama.cpp glue */

typedef struct load_ctx {
    llmux_progress_cb cb;
    void *ud;
    const llmux_cancel *cancel;
} load_ctx;

/* llama.cpp calls this per tensor while loading; returning false aborts the load. */
static bool load_progress(float p, void *ud) {
    load_ctx *lc = ud;
    if (lc->cb) lc->cb(p, lc->ud);
    return !llmux_cancel_is_triggered(lc->cancel);
}

/* ------------------------------------------------- cancellable context creation */

/* llama_init_from_model cannot be interrupted, and with a large context it spends seconds
 * clearing the KV cache. With a cancel token it runs on a helper thread while the caller polls
 * the token; on cancel the caller returns at once and hands the model to the helper, which
 * frees the context and the model when llama.cpp is done. */
typedef struct ctx_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct llama_model *model;
    struct llama_context_params cp;
    struct llama_context *ctx;      /* the result, once done */
    char reason[400];               /* llama.cpp's error lines when ctx is NULL */
    bool done;
    bool abandoned;                 /* the caller gave up: the helper frees everything */
} ctx_job;

static pthread_mutex_t g_bg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_bg_cv = PTHREAD_COND_INITIALIZER;
static int g_bg_jobs; /* abandoned jobs still running */

static void ctx_job_free(ctx_job *j) {
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void *ctx_job_run(void *arg) {
    ctx_job *j = arg;
    lx_llama_log_begin();
    struct llama_context *ctx = llama_init_from_model(j->model, j->cp);
    const char *why = lx_llama_log_end();
    pthread_mutex_lock(&j->mu);
    j->ctx = ctx;
    snprintf(j->reason, sizeof j->reason, "%s", why);
    j->done = true;
    bool abandoned = j->abandoned;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (abandoned) {
        if (ctx) llama_free(ctx);
        llama_model_free(j->model);
        ctx_job_free(j);
        pthread_mutex_lock(&g_bg_mu);
        if (--g_bg_jobs == 0) pthread_cond_broadcast(&g_bg_cv);
        pthread_mutex_unlock(&g_bg_mu);
    }
    return NULL;
}

void lx_engine_wait_background(void) {
    pthread_mutex_lock(&g_bg_mu);
    while (g_bg_jobs > 0) pthread_cond_wait(&g_bg_cv, &g_bg_mu);
    pthread_mutex_unlock(&g_bg_mu);
}

/* Creates m's llama_context into *out. On CANCELLED, m->model has been handed to the helper
 * (set to NULL). */
static llmux_status create_context(lx_model *m, struct llama_context_params cp, const llmux_cancel *cancel,
                                   struct llama_context **out, char *why, size_t why_size) {
    why[0] = '\0';
    *out = NULL;
    if (!cancel) {
        lx_llama_log_begin();
        *out = llama_init_from_model(m->model, cp);
        snprintf(why, why_size, "%s", lx_llama_log_end());
        return *out ? LLMUX_OK : LLMUX_E_OUT_OF_MEMORY;
    }
    ctx_job *j = calloc(1, sizeof *j);
    if (!j) return LLMUX_E_OUT_OF_MEMORY;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    j->model = m->model;
    j->cp = cp;
    pthread_t t;
    if (pthread_create(&t, NULL, ctx_job_run, j) != 0) {
        ctx_job_free(j);
        return create_context(m, cp, NULL, out, why, why_size);
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done && !llmux_cancel_is_triggered(cancel)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 10 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    if (!j->done) {
        pthread_mutex_lock(&g_bg_mu);
        g_bg_jobs++;
        pthread_mutex_unlock(&g_bg_mu);
        j->abandoned = true;
        pthread_mutex_unlock(&j->mu);
        pthread_detach(t);
        m->model = NULL;
        return LLMUX_E_CANCELLED;
    }
    pthread_mutex_unlock(&j->mu);
    pthread_join(t, NULL);
    *out = j->ctx;
    snprintf(why, why_size, "%s", j->reason);
    ctx_job_free(j);
    return *out ? LLMUX_OK : LLMUX_E_OUT_OF_MEMORY;
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

static file_id id_of(const struct stat *st) {
    file_id id = {st->st_dev, st->st_ino, st->st_size, (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
                  (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec};
    return id;
}

static bool same_file(const file_id *a, const file_id *b) {
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
           a->ctime_ns == b->ctime_ns;
}

static llmux_status open_error(const char *path, int e, llmux_error_info *err) {
    if (e == ENOENT || e == ENOTDIR) return lx_error(err, LLMUX_E_MODEL_NOT_FOUND, "model file not found: %s", path);
    if (e == EACCES || e == EPERM)
        return lx_error(err, LLMUX_E_PERMISSION, "cannot open model %s: %s", path, strerror(e));
    return lx_error(err, LLMUX_E_CONFIGURATION, "cannot open model %s: %s", path, strerror(e));
}

/* A regular, readable file that starts with the GGUF magic; its identity into *id. Never opens
 * anything but a regular file (a FIFO would block, a device could have side effects). */
static llmux_status check_file(const char *path, file_id *id, llmux_error_info *err) {
    struct stat st;
    if (stat(path, &st) != 0) return open_error(path, errno, err);
    if (!S_ISREG(st.st_mode)) return lx_error(err, LLMUX_E_CONFIGURATION, "model %s is not a regular file", path);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return open_error(path, errno, err);
    llmux_status rc = LLMUX_OK;
    char magic[4] = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = lx_error(err, LLMUX_E_CONFIGURATION, "model %s is not a regular file", path);
    } else if (read(fd, magic, 4) != 4 || memcmp(magic, "GGUF", 4) != 0) {
        rc = lx_error(err, LLMUX_E_CONFIGURATION, "model %s is not a GGUF file (bad magic)", path);
    } else {
        *id = id_of(&st);
    }
    close(fd);
    return rc;
}

/* Frees the llama.cpp state, keeping the model's identity (path, name, params). */
static void unload(lx_model *m) {
    if (m->cx) {
        lx_context_free(m->cx);
        free(m->cx);
    }
    if (m->model) llama_model_free(m->model);
    lx_vocab_info_free(&m->vi);
    m->cx = NULL;
    m->model = NULL;
    m->vocab = NULL;
}

/* Opens the prompt cache directory for the loaded model (prompt_disk.h). Its fingerprint covers
 * the file and what shapes the saved KV: the cache types and flash attention's V layout. False
 * only when out of memory; a file that cannot be fingerprinted leaves the model without one. */
static bool open_cache_dir(lx_model *m, const struct llama_context_params *cp) {
    const lx_model_params *p = &m->params;
    int32_t layout[4] = {(int32_t)cp->type_k, (int32_t)cp->type_v, (int32_t)cp->flash_attn_type, LLAMA_STATE_SEQ_VERSION};
    uint64_t fp = lx_pdisk_fingerprint(m->path, (int64_t)m->file.size, m->file.mtime_ns, layout, sizeof layout);
    if (fp == 0) {
        if (p->warn) p->warn(p->warn_user_data, "prompt cache directory: the model file cannot be read to fingerprint it");
        return true;
    }
    int64_t mb = p->prompt_cache_dir_mb > 0 ? p->prompt_cache_dir_mb : LX_PROMPT_CACHE_DIR_MB;
    lx_pdisk_params dp = {.dir = p->prompt_cache_dir, .budget = (uint64_t)mb << 20, .fingerprint = fp,
                          .min_tokens = LX_PCACHE_MIN_TOKENS, .max_tokens = m->n_ctx,
                          .n_vocab = llama_vocab_n_tokens(m->vocab), .warn = p->warn,
                          .warn_user_data = p->warn_user_data};
    return (m->cx->pc.disk = lx_pdisk_open(&dp)) != NULL;
}

/* Loads m->path into m (which must be unloaded). On failure m stays unloaded. */
static llmux_status load_into(lx_model *m, const llmux_cancel *cancel, llmux_error_info *err) {
    const lx_model_params *p = &m->params;
    if (llmux_cancel_is_triggered(cancel)) return lx_error(err, LLMUX_E_CANCELLED, "loading %s was cancelled", m->path);
    llmux_status st = check_file(m->path, &m->file, err);
    if (st == LLMUX_OK) st = lx_gguf_check(m->path, p->vocab_only, err);
    if (st != LLMUX_OK) return st;

    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = p->vocab_only;
    int64_t mmap_min = p->mmap_min_bytes > 0 ? p->mmap_min_bytes : LX_MMAP_MIN_BYTES;
    if ((int64_t)m->file.size < mmap_min) mp.load_mode = LLAMA_LOAD_MODE_NONE;
    load_ctx lc = {p->progress, p->progress_user_data, cancel};
    mp.progress_callback = load_progress;
    mp.progress_callback_user_data = &lc;
    lx_llama_log_begin();
    m->model = llama_model_load_from_file(m->path, mp);
    const char *why = lx_llama_log_end();
    if (!m->model) {
        if (llmux_cancel_is_triggered(cancel)) return lx_error(err, LLMUX_E_CANCELLED, "loading %s was cancelled", m->path);
        return lx_error(err, LLMUX_E_CONFIGURATION, "cannot load model %s: %s", m->path,
                        *why ? why : "corrupt, truncated or unsupported GGUF file");
    }
    m->vocab = llama_model_get_vocab(m->model);
    char tok_model[32] = "";
    if (llama_model_meta_val_str(m->model, "tokenizer.ggml.model", tok_model, sizeof tok_model) < 0) tok_model[0] = '\0';
    if (llama_vocab_type(m->vocab) == LLAMA_VOCAB_TYPE_NONE) {
        st = lx_error(err, LLMUX_E_CONFIGURATION, "cannot load model %s: the model has no tokenizer", m->path);
        goto fail;
    }
    if (!lx_vocab_info_init(&m->vi, m->vocab, tok_model[0] ? tok_model : NULL)) goto oom;
    if (p->vocab_only) return LLMUX_OK;

    int32_t n_train = llama_model_n_ctx_train(m->model);
    int32_t n_ctx = p->n_ctx > 0 ? p->n_ctx : (n_train > 0 && n_train < LX_DEFAULT_CTX_CAP ? n_train : LX_DEFAULT_CTX_CAP);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int32_t threads = p->n_threads > 0 ? p->n_threads : (cores > 0 ? (int32_t)cores : 1);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    /* llama_decode takes at most n_batch tokens, and llama.cpp caps n_batch at the context it
     * was asked for: a batch larger than a small context would abort in llama_decode. */
    cp.n_batch = (uint32_t)(n_ctx < LX_BATCH ? n_ctx : LX_BATCH);
    cp.n_ubatch = (uint32_t)(n_ctx < LX_UBATCH ? n_ctx : LX_UBATCH);
    int32_t n_slots = lx_model_slots_for(n_ctx, p->n_slots);
    if (n_slots > (int32_t)cp.n_batch) n_slots = (int32_t)cp.n_batch; /* a decode token each per step */
    /* Every sequence may use the whole context, sharing one pool of cells (as llama-server with
     * a unified KV cache): a lone request is never limited to n_ctx / N. */
    cp.n_seq_max = (uint32_t)n_slots;
    cp.kv_unified = true;
    if (p->kv_per_slot && n_slots > 1) {
        /* One stream of n_ctx cells per slot: llama.cpp gives each n_ctx / n_seq_max. */
        cp.kv_unified = false;
        cp.n_ctx = (uint32_t)n_ctx * (uint32_t)n_slots;
    }
    /* Flash attention: llama.cpp's default (auto: on where the backend has the kernel, as
     * llama-server). In the unified cache a sequence's cells sit among the others', and the
     * plain attention path multiplies every token's query with every cell in view, the other
     * sequences' included (they are masked only afterwards): with 8 streams that is ~8x the
     * attention work of one. The CPU flash-attention kernel skips masked cells
     * (ggml-cpu/ops.cpp, ggml_compute_forward_flash_attn_ext_f16_one_chunk: `mv == -INFINITY`,
     * and whole masked tiles in the tiled path). kv_per_slot keeps the plain path: it is the
     * determinism option, each stream's attention spans only its own cells anyway, and the
     * flash kernel's grouping of the sums depends on the batch shape (split over threads for a
     * lone token, tiles of 64 queries for long chunks). docs/local.md, "Determinism". */
    if (p->kv_per_slot && n_slots > 1) cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    char reason[400];
    struct llama_context *ctx = NULL;
    st = create_context(m, cp, cancel, &ctx, reason, sizeof reason);
    if (st == LLMUX_E_CANCELLED) {
        st = lx_error(err, LLMUX_E_CANCELLED, "loading %s was cancelled", m->path);
        goto fail;
    }
    if (st != LLMUX_OK) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "cannot create a context of %d tokens for %s: %s", n_ctx, m->path,
                      reason[0] ? reason : "allocation failed");
        goto fail;
    }
    /* llama.cpp may round the context up (to a multiple of 256); the usable context is the one
     * asked for. */
    m->n_ctx = n_ctx < (int32_t)llama_n_ctx(ctx) ? n_ctx : (int32_t)llama_n_ctx(ctx);
    size_t cache_bytes = (size_t)(p->prompt_cache_mb > 0 ? p->prompt_cache_mb : 0) << 20;
    m->cx = calloc(1, sizeof *m->cx);
    if (!m->cx || lx_context_init(m->cx, ctx, m->n_ctx, n_slots, cache_bytes) != LLMUX_OK) {
        free(m->cx);
        m->cx = NULL;
        llama_free(ctx);
        goto oom;
    }
    if (p->prompt_cache_dir && llama_get_memory(ctx) && !open_cache_dir(m, &cp)) goto oom;
    return LLMUX_OK;

oom:
    st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory loading %s", m->path);
fail:
    unload(m);
    return st;
}

llmux_status lx_model_load(const lx_model_params *p, lx_model **out, llmux_error_info *err) {
    *out = NULL;
    lx_llama_init();
    lx_model *m = calloc(1, sizeof *m);
    if (!m) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory loading %s", p->path);
    size_t n = strlen(p->path) + 1;
    m->path = malloc(n);
    m->name = name_from_path(p->path);
    if (!m->path || !m->name) {
        lx_model_free(m);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory loading %s", p->path);
    }
    memcpy(m->path, p->path, n);
    m->params = *p;
    m->params.path = m->path;
    m->params.cancel = NULL;
    llmux_status st = load_into(m, p->cancel, err);
    if (st != LLMUX_OK) {
        lx_model_free(m);
        return st;
    }
    *out = m;
    return LLMUX_OK;
}

void lx_model_free(lx_model *m) {
    if (!m) return;
    /* What the slots and the host cache hold outlives the model in the cache directory. */
    if (m->cx) lx_context_persist(m->cx);
    unload(m);
    free(m->path);
    free(m->name);
    free(m);
}

/* The default slot count: one per 512 tokens of context, 1 to 8. A slot costs no KV memory of
 * its own (the cells are shared), but each concurrent sequence needs room for its prompt and
 * output, and below 512 cells per sequence most chat prompts would not fit side by side. */
int32_t lx_model_slots_for(int32_t n_ctx, int32_t asked) {
    if (asked > 0) return asked < LX_MAX_SLOTS ? asked : LX_MAX_SLOTS;
    int32_t n = n_ctx / 512;
    return n < 1 ? 1 : n > 8 ? 8 : n;
}

const char *lx_model_name(const lx_model *m) { return m->name; }
int32_t lx_model_n_ctx(const lx_model *m) { return m->n_ctx; }
const struct llama_vocab *lx_model_vocab(const lx_model *m) { return m->vocab; }

int32_t lx_model_token_piece(const lx_model *m, int32_t token, char *buf, size_t buf_size, char **heap,
                             size_t *heap_cap, const char **out) {
    *out = NULL;
    if (!m->vocab) return -1;
    int32_t cap = buf_size > INT32_MAX ? INT32_MAX : (int32_t)buf_size;
    int32_t k = llama_token_to_piece(m->vocab, token, buf, cap, 0, false);
    if (k >= 0) {
        *out = buf;
        return k;
    }
    /* Too long for buf: llama.cpp returned minus the size it needs. */
    if (k == INT32_MIN) return -1;
    size_t need = (size_t)-(int64_t)k;
    if (need > *heap_cap) {
        char *grown = realloc(*heap, need);
        if (!grown) return -1;
        *heap = grown;
        *heap_cap = need;
    }
    k = llama_token_to_piece(m->vocab, token, *heap, (int32_t)need, 0, false);
    if (k < 0) return -1;
    *out = *heap;
    return k;
}

int32_t lx_model_tokenize(const lx_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                          int32_t *tokens, int32_t n_max) {
    if (len > INT32_MAX || !m->vocab) return INT32_MIN;
    return llama_tokenize(m->vocab, text, (int32_t)len, tokens, n_max, add_special, parse_special);
}

/* The model file changed on disk since it was loaded (or the last reload failed): reload it.
 * A model that was memory-mapped must not touch its mapping once the file was rewritten. */
llmux_status lx_model_ensure_current(lx_model *m, const llmux_cancel *cancel, llmux_error_info *err) {
    struct stat st;
    if (stat(m->path, &st) != 0) {
        int e = errno;
        return lx_error(err, e == ENOENT || e == ENOTDIR ? LLMUX_E_MODEL_NOT_FOUND : LLMUX_E_CONFIGURATION,
                        "model file %s is gone: %s", m->path, strerror(e));
    }
    file_id now = id_of(&st);
    if (m->model && same_file(&m->file, &now)) return LLMUX_OK;
    unload(m);
    llmux_error_info why;
    llmux_status rc = load_into(m, cancel, &why);
    if (rc != LLMUX_OK)
        return lx_error(err, rc, "model file %s changed on disk and could not be reloaded: %s", m->path, why.message);
    return LLMUX_OK;
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
        /* A system prompt's blocks (Anthropic's system array, kept apart for their cache
         * breakpoints) read as one text, a line apart, as the server joins them otherwise. */
        if (msg->role == LLMUX_ROLE_SYSTEM && i > 0 && p->type == LLMUX_PART_TEXT) ok = lx_buf_append_str(b, "\n");
        switch (p->type) {
        case LLMUX_PART_TEXT:
        case LLMUX_PART_TOOL_RESULT:
            if (p->text) ok = lx_buf_append_str(b, p->text);
            break;
        case LLMUX_PART_TOOL_CALL:
            ok = lx_buf_printf(b, "%s(%s)", p->name ? p->name : "", p->arguments ? p->arguments : "{}");
            break;
        case LLMUX_PART_REASONING:
        case LLMUX_PART_NATIVE: /* a provider's own block: nothing a local model can read */
            break; /* earlier reasoning is not fed back to a local model */
        case LLMUX_PART_IMAGE:
        case LLMUX_PART_FILE:
            lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: local models do not accept %s", mi, i,
                     p->type == LLMUX_PART_FILE ? "files (documents)" : "images");
            return false;
        }
        if (!ok) {
            lx_error(err, LLMUX_E_INVALID_REQUEST, "prompt larger than %u bytes", LX_PROMPT_MAX_BYTES);
            return false;
        }
    }
    return true;
}

/* Renders req into p (the caller frees it with lx_prompt_free). */
/* provider_options {"local": {"raw_prompt": true}} (llmux.h): the messages without the chat
 * template, their texts joined by blank lines — a text completion's prompt. */
static bool raw_prompt(const llmux_request *req) {
    if (!req->provider_options) return false;
    json_t *o = json_loads(req->provider_options, 0, NULL);
    bool raw = json_is_true(json_object_get(json_object_get(o, "local"), "raw_prompt"));
    json_decref(o);
    return raw;
}

/* tools: the request's tools (tools.h) when it asks for them, rendered by the model's Jinja
 * template; NULL otherwise. */
static llmux_status build_prompt(const lx_model *m, const llmux_request *req, lx_tools *tools, lx_prompt *p,
                                 llmux_error_info *err) {
    memset(p, 0, sizeof *p);
    if (tools) return lx_tools_build_prompt(tools, LX_PROMPT_MAX_BYTES, p, err);
    size_t n = req->n_messages + (req->system ? 1 : 0);
    struct llama_chat_message *chat = calloc(n ? n : 1, sizeof *chat);
    lx_buf *texts = calloc(n ? n : 1, sizeof *texts);
    llmux_status st = LLMUX_OK;
    if (!chat || !texts) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the prompt");
        goto done;
    }
    size_t k = 0;
    if (req->system) {
        lx_buf_init(&texts[k], LX_PROMPT_MAX_BYTES);
        if (!lx_buf_append_str(&texts[k], req->system)) {
            st = lx_error(err, LLMUX_E_INVALID_REQUEST, "prompt larger than %u bytes", LX_PROMPT_MAX_BYTES);
            goto done;
        }
        chat[k].role = "system";
        chat[k].content = texts[k].data;
        k++;
    }
    for (size_t i = 0; i < req->n_messages; i++, k++) {
        lx_buf_init(&texts[k], LX_PROMPT_MAX_BYTES);
        if (!message_text(&req->messages[i], i, &texts[k], err)) {
            st = err ? err->status : LLMUX_E_INVALID_REQUEST;
            goto done;
        }
        if (!texts[k].data && !lx_buf_append(&texts[k], "", 0)) {
            st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the prompt");
            goto done;
        }
        chat[k].role = role_name(req->messages[i].role);
        chat[k].content = texts[k].data;
    }
    st = lx_prompt_build(m->model && !raw_prompt(req) ? llama_model_chat_template(m->model, NULL) : NULL, chat, n,
                         LX_PROMPT_MAX_BYTES, p, err);
done:
    if (texts)
        for (size_t i = 0; i < n; i++) lx_buf_free(&texts[i]);
    free(texts);
    free(chat);
    return st;
}

bool lx_model_render_prompt(const lx_model *m, const llmux_request *req, char **prompt, bool *used_template,
                            llmux_error_info *err) {
    *prompt = NULL;
    *used_template = false;
    lx_prompt p;
    lx_tools *tools = NULL;
    if (lx_tools_wanted(req) && lx_tools_new(m, req, &tools, err) != LLMUX_OK) return false;
    llmux_status st = build_prompt(m, req, tools, &p, err);
    lx_tools_free(tools);
    if (st != LLMUX_OK) {
        lx_prompt_free(&p);
        return false;
    }
    *prompt = p.text;
    *used_template = p.templated;
    p.text = NULL;
    lx_prompt_free(&p);
    return true;
}

/* Tokenizes req (with its tools, see build_prompt) into tokens[0..cap); n_ctx only words the
 * context-length message. */
static llmux_status tokenize_request(const lx_model *m, const llmux_request *req, lx_tools *tools, int32_t *tokens,
                                     int32_t cap, int32_t n_ctx, int32_t *n_out, llmux_error_info *err) {
    *n_out = 0;
    if (!m->vocab) return lx_error(err, LLMUX_E_INTERNAL, "model %s is not loaded", m->name);
    lx_prompt p;
    llmux_status st = build_prompt(m, req, tools, &p, err);
    if (st != LLMUX_OK) goto done;
    /* A prompt too long for the context is refused from its length: tokenizing megabytes only
     * to count them costs seconds and a gigabyte. */
    int64_t at_least = lx_prompt_min_tokens(&m->vi, &p);
    if (at_least > cap) {
        st = lx_error(err, LLMUX_E_CONTEXT_LENGTH, "the prompt has at least %lld tokens (%zu bytes); the context holds %d",
                      (long long)at_least, p.len, n_ctx);
        goto done;
    }
    int32_t n = lx_prompt_tokenize(&m->vi, m->vocab, &p, tokens, cap);
    if (n == INT32_MIN) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory tokenizing the prompt");
    } else if (n < 0) {
        st = lx_error(err, LLMUX_E_CONTEXT_LENGTH, "the prompt has at least %d tokens; the context holds %d", -n, n_ctx);
    } else if (n == 0) {
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "the prompt is empty");
    } else {
        *n_out = n;
    }
done:
    lx_prompt_free(&p);
    return st;
}

llmux_status lx_model_tokenize_request(const lx_model *m, const llmux_request *req, int32_t *tokens, int32_t cap,
                                       int32_t *n_out, llmux_error_info *err) {
    *n_out = 0;
    lx_tools *tools = NULL;
    if (lx_tools_wanted(req)) {
        if (!m->model) return lx_error(err, LLMUX_E_INTERNAL, "model %s is not loaded", m->name);
        llmux_status st = lx_tools_new(m, req, &tools, err);
        if (st != LLMUX_OK) return st;
    }
    llmux_status st = tokenize_request(m, req, tools, tokens, cap, cap, n_out, err);
    lx_tools_free(tools);
    return st;
}

/* The prompt must leave room for at least one generated token: at most n_ctx - 1 tokens. */
llmux_status lx_model_tokenize_prompt(const lx_model *m, const llmux_request *req, lx_tools *tools, int32_t *tokens,
                                      int32_t cap, int32_t *n_out, llmux_error_info *err) {
    return tokenize_request(m, req, tools, tokens, cap, m->n_ctx, n_out, err);
}

bool lx_model_needs_reload(const lx_model *m) {
    if (!m->model) return true;
    struct stat st;
    if (stat(m->path, &st) != 0) return true;
    file_id now = id_of(&st);
    return !same_file(&m->file, &now);
}

/* -------------------------------------------------------------- embeddings */

int32_t lx_model_n_embd(const lx_model *m) { return m->model ? llama_model_n_embd_out(m->model) : 0; }

bool lx_model_is_embedding_only(const lx_model *m) { return m->cx && !llama_get_memory(m->cx->ctx); }

/* One text in sequence slot seq, for a model that pools (its metadata's pooling type: mean, CLS,
 * last): the whole text in one batch (llama.cpp pools within one micro-batch), the pooled
 * vector into vec (dim doubles). */
static llmux_status embed_pooled(lx_context *cx, int32_t seq, const int32_t *tokens, int32_t k, double *vec,
                                 int32_t dim, llmux_error_info *err) {
    llama_memory_t mem = llama_get_memory(cx->ctx);
    llama_memory_seq_rm(mem, seq, -1, -1);
    struct llama_batch *b = &cx->batch;
    b->n_tokens = k;
    for (int32_t j = 0; j < k; j++) {
        b->token[j] = tokens[j];
        b->pos[j] = j;
        b->n_seq_id[j] = 1;
        b->seq_id[j][0] = seq;
        b->logits[j] = 1;
    }
    llmux_status st = LLMUX_OK;
    int32_t rc = llama_decode(cx->ctx, *b);
    const float *e = rc == 0 ? llama_get_embeddings_seq(cx->ctx, seq) : NULL;
    if (rc != 0) st = lx_error(err, LLMUX_E_INTERNAL, "llama_decode failed while embedding (code %d)", rc);
    else if (!e) st = lx_error(err, LLMUX_E_INTERNAL, "the model gave no pooled embedding");
    else
        for (int32_t d = 0; d < dim; d++) vec[d] = e[d];
    b->n_tokens = 0;
    llama_memory_seq_rm(mem, seq, -1, -1);
    return st;
}

/* One text in sequence slot seq: its tokens decoded n_batch at a time from position 0 with the
 * context's batch, every token an output, their hidden states summed into sum (dim doubles).
 * Other slots keep their KV: in the unified cache a sequence attends only to its own cells. */
static llmux_status embed_one(lx_context *cx, int32_t seq, const llmux_cancel *cancel, int64_t deadline_ns,
                              const int32_t *tokens, int32_t k, double *sum, int32_t dim, llmux_error_info *err) {
    llama_memory_t mem = llama_get_memory(cx->ctx);
    llama_memory_seq_rm(mem, seq, -1, -1);
    struct llama_batch *b = &cx->batch;
    llmux_status st = LLMUX_OK;
    for (int32_t off = 0; off < k && st == LLMUX_OK; off += cx->n_batch) {
        if (llmux_cancel_is_triggered(cancel)) {
            st = lx_error(err, LLMUX_E_CANCELLED, "cancelled while embedding");
            break;
        }
        if (deadline_ns && lx_now_ns() >= deadline_ns) {
            st = lx_error(err, LLMUX_E_TIMEOUT, "the deadline expired while embedding");
            break;
        }
        int32_t cnt = k - off < cx->n_batch ? k - off : cx->n_batch;
        b->n_tokens = cnt;
        for (int32_t j = 0; j < cnt; j++) {
            b->token[j] = tokens[off + j];
            b->pos[j] = off + j;
            b->n_seq_id[j] = 1;
            b->seq_id[j][0] = seq;
            b->logits[j] = 1;
        }
        int32_t rc = llama_decode(cx->ctx, *b);
        if (rc != 0) {
            st = lx_error(err, LLMUX_E_INTERNAL, "llama_decode failed while embedding (code %d)", rc);
            break;
        }
        for (int32_t j = 0; j < cnt; j++) {
            const float *e = llama_get_embeddings_ith(cx->ctx, j);
            if (!e) {
                st = lx_error(err, LLMUX_E_INTERNAL, "the model gave no hidden state for token %d", off + j);
                break;
            }
            for (int32_t d = 0; d < dim; d++) sum[d] += e[d];
        }
    }
    b->n_tokens = 0;
    llama_memory_seq_rm(mem, seq, -1, -1);
    return st;
}

/* Runs on the engine thread between scheduler steps (runtime/model_task.c), which admits a task
 * only while a sequence slot is free: the embedding borrows that slot (the free one holding the
 * shortest cached prefix) and leaves it empty. */
llmux_status lx_model_embed(lx_model *m, const char *const *texts, size_t n, const llmux_cancel *cancel,
                            int64_t deadline_ns, float *out, int64_t *n_tokens, llmux_error_info *err) {
    lx_error_clear(err);
    *n_tokens = 0;
    if (m->params.vocab_only) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model %s was loaded vocabulary-only", m->name);
    llmux_status st = lx_model_ensure_current(m, cancel, err);
    if (st != LLMUX_OK) return st;
    lx_context *cx = m->cx;
    if (!cx) return lx_error(err, LLMUX_E_INTERNAL, "model %s has no context", m->name);
    int32_t seq = -1;
    for (int32_t i = 0; i < cx->n_slots; i++)
        if (!cx->slots[i].seq && (seq < 0 || cx->slots[i].n_cache < cx->slots[seq].n_cache)) seq = i;
    if (seq < 0)
        return lx_error(err, LLMUX_E_OVERLOADED, "every sequence slot of %s is busy; retry the embedding", m->name);
    /* The pooling the model's metadata asks for (llama.cpp reads <arch>.pooling_type); none (a
     * generative model): the mean of the last hidden states, as llama-server --pooling mean. */
    enum llama_pooling_type pool = llama_pooling_type(cx->ctx);
    if (pool == LLAMA_POOLING_TYPE_RANK)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "model %s is a reranking model (pooling rank): it does not embed",
                        m->name);
    bool pooled = pool != LLAMA_POOLING_TYPE_NONE;
    int32_t dim = lx_model_n_embd(m);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)m->n_ctx);
    double *sum = malloc(sizeof(double) * (size_t)dim);
    if (!tokens || !sum) {
        free(tokens);
        free(sum);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory embedding");
    }
    cx->slots[seq].n_cache = 0; /* its KV is dropped below */
    llama_set_embeddings(cx->ctx, true);
    for (size_t i = 0; i < n && st == LLMUX_OK; i++) {
        size_t len = strlen(texts[i]);
        /* A text cannot have fewer tokens than bytes / max_piece: refuse a huge one unread. */
        if (m->vi.max_piece > 0 && len / (size_t)m->vi.max_piece > (size_t)m->n_ctx) {
            st = lx_error(err, LLMUX_E_CONTEXT_LENGTH, "input[%zu] has at least %zu tokens; the context holds %d", i,
                          len / (size_t)m->vi.max_piece, m->n_ctx);
            break;
        }
        int32_t k = lx_model_tokenize(m, texts[i], len, true, false, tokens, m->n_ctx);
        if (k < 0) {
            st = lx_error(err, LLMUX_E_CONTEXT_LENGTH, "input[%zu] has %d tokens; the context holds %d", i, -k, m->n_ctx);
            break;
        }
        if (k == 0) {
            st = lx_error(err, LLMUX_E_INVALID_REQUEST, "input[%zu]: no tokens to embed", i);
            break;
        }
        memset(sum, 0, sizeof(double) * (size_t)dim);
        if (pooled && k > cx->n_ubatch) {
            st = lx_error(err, LLMUX_E_CONTEXT_LENGTH,
                          "input[%zu] has %d tokens; model %s pools over one batch of at most %d tokens", i, k, m->name,
                          cx->n_ubatch);
            break;
        }
        if (pooled) {
            if (llmux_cancel_is_triggered(cancel)) st = lx_error(err, LLMUX_E_CANCELLED, "cancelled while embedding");
            else if (deadline_ns && lx_now_ns() >= deadline_ns)
                st = lx_error(err, LLMUX_E_TIMEOUT, "the deadline expired while embedding");
            else st = embed_pooled(cx, seq, tokens, k, sum, dim, err);
        } else {
            st = embed_one(cx, seq, cancel, deadline_ns, tokens, k, sum, dim, err);
        }
        if (st != LLMUX_OK) break;
        double div = pooled ? 1.0 : (double)k, norm = 0;
        for (int32_t d = 0; d < dim; d++) norm += (sum[d] / div) * (sum[d] / div);
        norm = sqrt(norm);
        for (int32_t d = 0; d < dim; d++)
            out[i * (size_t)dim + (size_t)d] = norm > 0 ? (float)(sum[d] / div / norm) : 0.0f;
        *n_tokens += k;
    }
    llama_set_embeddings(cx->ctx, false);
    free(sum);
    free(tokens);
    if (st != LLMUX_OK) *n_tokens = 0;
    return st;
}
