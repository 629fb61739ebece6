#define _POSIX_C_SOURCE 200809L
#include "engine.h"

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
#include "stop.h"

/* Caps: prompts and rendered templates are bounded so a request cannot allocate without limit. */
#define LX_PROMPT_MAX_BYTES (64u * 1024u * 1024u)
#define LX_DEFAULT_CTX_CAP 4096
#define LX_BATCH 512
/* Reading a file into memory costs about 0.6 ms per MiB (page cache to anonymous memory) over
 * mapping it; below this size that is cheap, and a model in memory cannot fault (SIGBUS) when
 * its file is truncated or rewritten underneath it. */
#define LX_MMAP_MIN_BYTES (64ll * 1024 * 1024)

/* What identifies the file a model was loaded from: `cp new.gguf m.gguf` truncates and rewrites
 * the same inode, so size and times matter as much as the inode (ctime too: `cp -p` can carry
 * an old mtime over, nothing can set the ctime back). */
typedef struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;
} file_id;

struct lx_model {
    /* set once at creation */
    char *path;
    char *name;
    lx_model_params params;         /* params.path points at path; cancel is cleared */
    /* the loaded state; all NULL/0 while unloaded (a reload failed) */
    struct llama_model *model;
    struct llama_context *ctx;      /* NULL when vocab-only */
    const struct llama_vocab *vocab;
    lx_vocab_info vi;
    file_id file;
    int32_t n_ctx;                  /* usable context, tokens (the context requested) */
    int32_t n_batch;                /* most tokens per llama_decode */
    int32_t *cache;                 /* tokens whose KV sits in sequence 0, in order */
    int32_t n_cache;                /* -1: KV state unknown, clear before use */
    /* State of the generation in progress, read by the abort callback inside llama_decode. */
    const llmux_cancel *cancel;
    int64_t deadline_ns;
    bool sink_stopped;
};

/* ------------------------------------------------------------ llama.cpp glue */

static bool abort_cb(void *data) {
    lx_model *m = data;
    if (m->sink_stopped || llmux_cancel_is_triggered(m->cancel)) return true;
    return m->deadline_ns && lx_now_ns() >= m->deadline_ns;
}

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

/* Creates m's context. On CANCELLED, m->model has been handed to the helper (set to NULL). */
static llmux_status create_context(lx_model *m, struct llama_context_params cp, const llmux_cancel *cancel,
                                   char *why, size_t why_size) {
    why[0] = '\0';
    if (!cancel) {
        lx_llama_log_begin();
        m->ctx = llama_init_from_model(m->model, cp);
        snprintf(why, why_size, "%s", lx_llama_log_end());
        return m->ctx ? LLMUX_OK : LLMUX_E_OUT_OF_MEMORY;
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
        return create_context(m, cp, NULL, why, why_size);
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
    m->ctx = j->ctx;
    snprintf(why, why_size, "%s", j->reason);
    ctx_job_free(j);
    return m->ctx ? LLMUX_OK : LLMUX_E_OUT_OF_MEMORY;
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
    if (m->ctx) llama_free(m->ctx);
    if (m->model) llama_model_free(m->model);
    lx_vocab_info_free(&m->vi);
    free(m->cache);
    m->ctx = NULL;
    m->model = NULL;
    m->vocab = NULL;
    m->cache = NULL;
    m->n_cache = 0;
    m->n_batch = 0;
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
    cp.n_ubatch = cp.n_batch;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    char reason[400];
    st = create_context(m, cp, cancel, reason, sizeof reason);
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
    m->n_ctx = n_ctx < (int32_t)llama_n_ctx(m->ctx) ? n_ctx : (int32_t)llama_n_ctx(m->ctx);
    m->n_batch = (int32_t)llama_n_batch(m->ctx);
    if (m->n_batch < 1) m->n_batch = 1;
    llama_set_abort_callback(m->ctx, abort_cb, m);
    m->cache = malloc(sizeof(int32_t) * (size_t)m->n_ctx);
    if (!m->cache) goto oom;
    m->n_cache = 0;
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
    unload(m);
    free(m->path);
    free(m->name);
    free(m);
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
static llmux_status ensure_current(lx_model *m, const llmux_cancel *cancel, llmux_error_info *err) {
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

static llmux_status build_prompt(const lx_model *m, const llmux_request *req, lx_prompt *p, llmux_error_info *err) {
    memset(p, 0, sizeof *p);
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
    if (build_prompt(m, req, &p, err) != LLMUX_OK) {
        lx_prompt_free(&p);
        return false;
    }
    *prompt = p.text;
    *used_template = p.templated;
    p.text = NULL;
    lx_prompt_free(&p);
    return true;
}

/* Tokenizes req into tokens[0..cap); n_ctx only words the context-length message. */
static llmux_status tokenize_request(const lx_model *m, const llmux_request *req, int32_t *tokens, int32_t cap,
                                     int32_t n_ctx, int32_t *n_out, llmux_error_info *err) {
    *n_out = 0;
    if (!m->vocab) return lx_error(err, LLMUX_E_INTERNAL, "model %s is not loaded", m->name);
    lx_prompt p;
    llmux_status st = build_prompt(m, req, &p, err);
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
    return tokenize_request(m, req, tokens, cap, cap, n_out, err);
}

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

/* -------------------------------------------------------------- generation */

/* A generation's events go through the core emitter, the one stream guard (START first, exactly
 * one terminal event, nothing after it; after the sink asked to stop, only USAGE and the terminal
 * event). The sink's stop is mirrored into m->sink_stopped, which abort_cb reads inside
 * llama_decode. */
typedef struct gen_state {
    lx_model *m;
    lx_emitter em;
} gen_state;

/* Whether the sink still takes content (false once it asked to stop). */
static bool sink_open(gen_state *g) {
    if (g->em.cancelled) g->m->sink_stopped = true;
    return !g->m->sink_stopped;
}

static void on_text(void *ud, const char *text, size_t len) {
    gen_state *g = ud;
    if (!sink_open(g)) return;
    lx_emit_text(&g->em, text, len, NULL); /* one text part: index 0 */
    sink_open(g);
}

/* Decodes tokens[0..n) at the end of the cache, n_batch at a time. Returns llama_decode's code. */
static int32_t decode_tokens(lx_model *m, const int32_t *tokens, int32_t n) {
    for (int32_t i = 0; i < n; i += m->n_batch) {
        int32_t k = n - i < m->n_batch ? n - i : m->n_batch;
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
    if (m->params.vocab_only) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model %s was loaded vocabulary-only", m->name);
    llmux_status st = ensure_current(m, cancel, err);
    if (st != LLMUX_OK) return st;
    if (req->n_tools > 0) {
        stats->warning_code = "unsupported_parameter";
        stats->warning = "tools are not supported by the local engine yet; they were ignored";
    } else if (req->response_format != LLMUX_FORMAT_TEXT) {
        stats->warning_code = "unsupported_parameter";
        stats->warning = "response_format is not enforced by the local engine yet; it was ignored";
    }

    /* The prompt must leave room for at least one generated token. */
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)m->n_ctx);
    if (!tokens) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory tokenizing the prompt");
    int32_t n = 0;
    st = tokenize_request(m, req, tokens, m->n_ctx - 1, m->n_ctx, &n, err);
    if (st != LLMUX_OK) {
        free(tokens);
        return st;
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
    gen_state g = {.m = m};
    lx_emitter_init(&g.em, sink, "local");
    lx_stop_filter stop;
    lx_stop_init(&stop, req->sampling.stop, req->sampling.n_stop, on_text, &g);

    char id[40];
    lx_make_id(id, sizeof id, "local-");
    lx_emit_start(&g.em, id, m->name, NULL);
    sink_open(&g);

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
    char *long_piece = NULL; /* pieces longer than the stack buffer below */
    size_t long_cap = 0;
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
        /* Pieces are short; a longer one (a vocabulary may hold any token) goes to long_piece. */
        char piece[256];
        const char *text = NULL;
        int32_t k = lx_model_token_piece(m, tok, piece, sizeof piece, &long_piece, &long_cap, &text);
        if (k < 0) {
            st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering token %d", (int)tok);
            break;
        }
        if (!lx_stop_feed(&stop, text, (size_t)k)) {
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
    free(long_piece);
    llama_sampler_free(smpl);
    free(tokens);

    llmux_usage usage = llmux_usage_default();
    usage.input_tokens = stats->n_prompt;
    usage.output_tokens = stats->n_generated;
    usage.cached_input_tokens = stats->n_reused;
    usage.cache_write_tokens = 0;
    usage.reasoning_tokens = 0;
    usage.total_tokens = stats->n_prompt + stats->n_generated;
    lx_emit_usage(&g.em, &usage, NULL); /* delivered after a stop too: the tokens were spent */

    /* The terminal event, delivered whatever the sink answered before (the emitter's rule). */
    if (st != LLMUX_OK) {
        lx_emit_error(&g.em, err, NULL);
    } else {
        lx_emit_finish(&g.em, reason, NULL); /* FINISH(CANCELLED) whenever the sink had stopped */
        if (g.em.end_status == LLMUX_E_CANCELLED) st = lx_error(err, LLMUX_E_CANCELLED, "the request was cancelled");
    }
    lx_emitter_free(&g.em);
    m->cancel = NULL;
    m->deadline_ns = 0;
    return st;
}

/* -------------------------------------------------------------- embeddings */

int32_t lx_model_n_embd(const lx_model *m) { return m->model ? llama_model_n_embd(m->model) : 0; }

/* One text: its tokens decoded n_batch at a time from position 0, every token an output, their
 * hidden states summed into sum (dim doubles). */
static llmux_status embed_one(lx_model *m, const int32_t *tokens, int32_t k, struct llama_batch *b, double *sum,
                              int32_t dim, llmux_error_info *err) {
    llama_memory_clear(llama_get_memory(m->ctx), true);
    for (int32_t off = 0; off < k; off += m->n_batch) {
        int32_t cnt = k - off < m->n_batch ? k - off : m->n_batch;
        b->n_tokens = cnt;
        for (int32_t j = 0; j < cnt; j++) {
            b->token[j] = tokens[off + j];
            b->pos[j] = off + j;
            b->n_seq_id[j] = 1;
            b->seq_id[j][0] = 0;
            b->logits[j] = 1;
        }
        int32_t rc = llama_decode(m->ctx, *b);
        if (rc == 2) {
            if (llmux_cancel_is_triggered(m->cancel)) return lx_error(err, LLMUX_E_CANCELLED, "cancelled while embedding");
            return lx_error(err, LLMUX_E_TIMEOUT, "the deadline expired while embedding");
        }
        if (rc != 0) return lx_error(err, LLMUX_E_INTERNAL, "llama_decode failed while embedding (code %d)", rc);
        for (int32_t j = 0; j < cnt; j++) {
            const float *e = llama_get_embeddings_ith(m->ctx, j);
            if (!e) return lx_error(err, LLMUX_E_INTERNAL, "the model gave no hidden state for token %d", off + j);
            for (int32_t d = 0; d < dim; d++) sum[d] += e[d];
        }
    }
    return LLMUX_OK;
}

llmux_status lx_model_embed(lx_model *m, const char *const *texts, size_t n, const llmux_cancel *cancel,
                            int64_t deadline_ns, float *out, int64_t *n_tokens, llmux_error_info *err) {
    lx_error_clear(err);
    *n_tokens = 0;
    if (m->params.vocab_only) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model %s was loaded vocabulary-only", m->name);
    llmux_status st = ensure_current(m, cancel, err);
    if (st != LLMUX_OK) return st;
    int32_t dim = llama_model_n_embd(m->model);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)m->n_ctx);
    double *sum = malloc(sizeof(double) * (size_t)dim);
    struct llama_batch b = llama_batch_init(m->n_batch, 0, 1);
    if (!tokens || !sum || !b.token) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory embedding");
        goto done;
    }
    m->cancel = cancel;
    m->deadline_ns = deadline_ns;
    m->sink_stopped = false;
    m->n_cache = -1; /* the KV cache is reused here: the next generation starts clean */
    llama_set_embeddings(m->ctx, true);
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
        if ((st = embed_one(m, tokens, k, &b, sum, dim, err)) != LLMUX_OK) break;
        double norm = 0;
        for (int32_t d = 0; d < dim; d++) norm += (sum[d] / k) * (sum[d] / k);
        norm = sqrt(norm);
        for (int32_t d = 0; d < dim; d++) out[i * (size_t)dim + (size_t)d] = norm > 0 ? (float)(sum[d] / k / norm) : 0.0f;
        *n_tokens += k;
    }
    llama_set_embeddings(m->ctx, false);
    llama_memory_clear(llama_get_memory(m->ctx), true);
    m->n_cache = 0;
    m->cancel = NULL;
    m->deadline_ns = 0;
done:
    if (b.token) llama_batch_free(b);
    free(sum);
    free(tokens);
    if (st != LLMUX_OK) *n_tokens = 0;
    return st;
}
