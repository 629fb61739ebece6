/* bench_scheduler_http: the load generator of scripts/bench-scheduler.sh. It drives any
 * OpenAI-compatible server (llmux serve, llama-server) through the same streaming
 * POST /v1/completions requests, with libcurl's multi interface on one thread (HTTP/1.1, a
 * connection per concurrent stream), so the client costs both servers the same.
 *
 *   streams URL MODEL --streams C [--prompt-bytes B] [--max-tokens G] [--tag T]
 *       C requests at once, each with a prompt of its own (B bytes of words, none sharing a
 *       prefix with another: no prompt cache helps). One line:
 *       "streams c=C ok=K tokens=N prompt_tokens=P wall_s=W agg_tok_s=A ttft_p50_ms=.. ttft_p99_ms=.."
 *       agg_tok_s: generated tokens (usage.completion_tokens) of all streams / the wall time from
 *       sending them to the last one's end; TTFT: sending to the first event with text.
 *   chat URL MODEL --conversations N --clients C --turns T [--prompt-bytes B] [--turn-bytes U]
 *        [--max-tokens G] [--tag T]
 *       N conversations of T turns, carried by C clients (at most C requests at once; client k
 *       owns conversations k, k + C, ...). Round by round, each client sends the next turn of each
 *       of its conversations in turn, so with N > slots a returning conversation finds its slot
 *       taken by others. A turn's prompt is the conversation so far: the first turn B bytes, then
 *       for each turn the answer received plus U bytes of a new user message. One line:
 *       "chat conv=N ... first_ttft_p50_ms .. return_ttft_p50_ms .. return_hit_pct .. return_cached_pct .."
 *       A returning turn is a hit when the server reports (usage.prompt_tokens_details.cached_tokens)
 *       at least half its prompt as reused; return_cached_pct is the share of all returning
 *       prompts' tokens reused; turnK_ttft_p50_ms the TTFT per turn.
 *
 * Events are split by llmux's SSE parser (src/transport/sse.c, capped and fuzzed) and read with
 * jansson; nothing here parses JSON by hand. Any failed request (not 200, no [DONE], an error
 * event) makes the run fail (exit 1) after printing what it measured. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "transport/sse.h"

#define LOAD_MAX_STREAMS 256
#define LOAD_MAX_CONV 1024
#define LOAD_MAX_TURNS 64
#define LOAD_MAX_BYTES (1 << 20)     /* prompt, turn and answer sizes */
#define LOAD_MAX_EVENT (1 << 20)     /* one SSE line or event */
#define LOAD_MAX_HISTORY (16 << 20)  /* one conversation's text */

typedef struct opts {
    const char *mode, *url, *model, *tag;
    int streams, conversations, clients, turns;
    int prompt_bytes, turn_bytes, max_tokens;
    double timeout_s;
} opts;

/* One request in flight. */
typedef struct xfer {
    CURL *easy;
    char *body;
    lx_sse_parser sse;
    lx_buf answer;          /* the text received */
    double t_start, t_first, t_end;
    long completion_tokens, prompt_tokens, cached_tokens; /* -1: not reported */
    bool done_marker;       /* saw data: [DONE] */
    bool failed;            /* an error event or an event the client could not read */
    int conv, turn;         /* chat: which request this is */
    char why[200];
} xfer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: prompts are the same for every server and every run with the same tag. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t seed_of(const char *tag, int a, int b) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = tag; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h ^= (uint64_t)a * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)b * 0xC2B2AE3D27D4EB4Full;
    return h;
}

/* Appends n bytes of lower-case words (2 to 7 letters) separated by spaces; the first bytes come
 * from the seed, so two seeds give prompts that differ from their first word on. */
static bool append_words(lx_buf *b, uint64_t seed, int n) {
    char w[8];
    int left = n;
    while (left > 0) {
        int len = 2 + (int)(rng_next(&seed) % 6);
        if (len > left) len = left;
        for (int i = 0; i < len; i++) w[i] = (char)('a' + rng_next(&seed) % 26);
        if (!lx_buf_append(b, w, (size_t)len)) return false;
        left -= len;
        if (left > 0) {
            if (!lx_buf_append(b, " ", 1)) return false;
            left--;
        }
    }
    return true;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of v[0..n) (sorted here); 0 when empty. */
static double percentile(double *v, int n, double p) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int k = (int)(p / 100.0 * n + 0.999999) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

static void fail(xfer *x, const char *why) {
    if (!x->failed) snprintf(x->why, sizeof x->why, "%s", why);
    x->failed = true;
}

static long int_or(json_t *o, const char *key, long dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

/* One SSE event: a completion chunk (text, finish, usage), an error, or [DONE]. */
static llmux_status on_event(void *ud, const lx_sse_event *ev) {
    xfer *x = ud;
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        x->done_marker = true;
        return LLMUX_OK;
    }
    json_error_t je;
    json_t *root = json_loadb(ev->data, ev->data_len, 0, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        fail(x, "an event that is not a JSON object");
        return LLMUX_OK;
    }
    if (json_object_get(root, "error")) {
        char *s = json_dumps(json_object_get(root, "error"), JSON_COMPACT);
        fail(x, s ? s : "error event");
        free(s);
    }
    json_t *choices = json_object_get(root, "choices");
    json_t *c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
    json_t *text = c0 ? json_object_get(c0, "text") : NULL;
    if (json_is_string(text) && json_string_length(text) > 0) {
        if (x->t_first == 0) x->t_first = now_s();
        if (!lx_buf_append(&x->answer, json_string_value(text), json_string_length(text))) fail(x, "answer too long");
    }
    json_t *usage = json_object_get(root, "usage");
    if (json_is_object(usage)) {
        x->completion_tokens = int_or(usage, "completion_tokens", x->completion_tokens);
        x->prompt_tokens = int_or(usage, "prompt_tokens", x->prompt_tokens);
        json_t *det = json_object_get(usage, "prompt_tokens_details");
        if (json_is_object(det)) x->cached_tokens = int_or(det, "cached_tokens", x->cached_tokens);
    }
    json_decref(root);
    return LLMUX_OK;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    llmux_error_info err;
    if (lx_sse_feed(&x->sse, p, n, on_event, x, &err) != LLMUX_OK) {
        fail(x, "malformed event stream");
        return 0; /* aborts the transfer */
    }
    return n;
}

/* Prepares x to send prompt (copied into the JSON body). */
static bool xfer_start(xfer *x, const opts *o, const char *prompt, struct curl_slist *headers) {
    json_t *req = json_pack("{s:s, s:s, s:i, s:f, s:b, s:{s:b}}", "model", o->model, "prompt", prompt, "max_tokens",
                            o->max_tokens, "temperature", 0.0, "stream", 1, "stream_options", "include_usage", 1);
    x->body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    x->easy = curl_easy_init();
    if (!x->body || !x->easy) return false;
    lx_sse_parser_init(&x->sse, LOAD_MAX_EVENT);
    lx_buf_init(&x->answer, LOAD_MAX_BYTES);
    x->completion_tokens = x->prompt_tokens = x->cached_tokens = -1;
    curl_easy_setopt(x->easy, CURLOPT_URL, o->url);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)(o->timeout_s * 1000));
    x->t_start = now_s();
    return true;
}

/* After the transfer ended: checks the answer is complete; frees the transfer's resources
 * (the answer stays until xfer_free). */
static void xfer_end(xfer *x, CURLcode rc) {
    x->t_end = now_s();
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK) {
        char why[160];
        snprintf(why, sizeof why, "transfer failed: %s", curl_easy_strerror(rc));
        fail(x, why);
    } else if (code != 200) {
        char why[160];
        snprintf(why, sizeof why, "HTTP %ld", code);
        fail(x, why);
    } else if (!x->done_marker) {
        fail(x, "the stream ended without data: [DONE]");
    } else if (x->completion_tokens < 0) {
        fail(x, "no usage.completion_tokens in the stream");
    }
    if (x->t_first == 0) x->t_first = x->t_end; /* no text at all: the first token is the end */
    lx_sse_parser_free(&x->sse);
    curl_easy_cleanup(x->easy);
    x->easy = NULL;
    free(x->body);
    x->body = NULL;
}

static void xfer_free(xfer *x) { lx_buf_free(&x->answer); }

/* Runs the multi handle until every added transfer ended, calling next(ctx, x) after each one
 * (which may add another). Sleeps in curl_multi_poll: the client must not take CPU from the
 * server it measures. */
typedef void (*after_fn)(void *ctx, xfer *x, CURLM *m);

static void drive(CURLM *m, after_fn next, void *ctx) {
    int running;
    do {
        curl_multi_perform(m, &running);
        bool ended = false;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *e = msg->easy_handle;
            CURLcode rc = msg->data.result;
            xfer *x = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
            curl_multi_remove_handle(m, e);
            xfer_end(x, rc);
            if (next) next(ctx, x, m);
            ended = true;
        }
        if (ended) {
            running = 1; /* next may have added transfers: perform again before deciding */
            continue;
        }
        if (running) curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
}

/* ------------------------------------------------------------------ streams */

static int run_streams(const opts *o, struct curl_slist *headers) {
    int c = o->streams;
    xfer *xs = calloc((size_t)c, sizeof *xs);
    CURLM *m = curl_multi_init();
    if (!xs || !m) return 1;
    /* A connection per stream, all opened at once (as C independent users). */
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c);
    for (int i = 0; i < c; i++) {
        lx_buf p;
        lx_buf_init(&p, LOAD_MAX_BYTES);
        if (!append_words(&p, seed_of(o->tag, i, 0), o->prompt_bytes) || !xfer_start(&xs[i], o, p.data, headers)) return 1;
        lx_buf_free(&p);
    }
    double t0 = now_s();
    for (int i = 0; i < c; i++) {
        xs[i].t_start = t0;
        curl_multi_add_handle(m, xs[i].easy);
    }
    drive(m, NULL, NULL);
    double t_last = t0;
    long tokens = 0, prompt = 0;
    int ok = 0;
    double *ttft = calloc((size_t)c, sizeof *ttft);
    if (!ttft) return 1;
    for (int i = 0; i < c; i++) {
        xfer *x = &xs[i];
        if (x->failed) {
            fprintf(stderr, "bench_scheduler_http: stream %d: %s\n", i, x->why);
            continue;
        }
        if (x->t_end > t_last) t_last = x->t_end;
        tokens += x->completion_tokens;
        prompt += x->prompt_tokens > 0 ? x->prompt_tokens : 0;
        ttft[ok++] = (x->t_first - x->t_start) * 1e3;
    }
    double wall = t_last - t0;
    printf("streams c=%d ok=%d tokens=%ld prompt_tokens=%ld wall_s=%.3f agg_tok_s=%.2f ttft_p50_ms=%.1f "
           "ttft_p99_ms=%.1f\n",
           c, ok, tokens, ok ? prompt / ok : 0, wall, wall > 0 ? (double)tokens / wall : 0, percentile(ttft, ok, 50),
           percentile(ttft, ok, 99));
    for (int i = 0; i < c; i++) xfer_free(&xs[i]);
    free(ttft);
    free(xs);
    curl_multi_cleanup(m);
    return ok == c ? 0 : 1;
}

/* --------------------------------------------------------------------- chat */

typedef struct chat {
    const opts *o;
    struct curl_slist *headers;
    lx_buf *history;      /* per conversation: the text so far */
    xfer *xs;             /* per client: its request in flight */
    int *next_job;        /* per client: index of its next (round, own conversation) */
    int per_client_max;   /* conversations of the client that owns the most */
    /* per turn: TTFTs; per returning turn: prompt and cached tokens */
    double *ttft[LOAD_MAX_TURNS];
    int n_ttft[LOAD_MAX_TURNS];
    long ret_prompt, ret_cached;
    int ret_n, ret_hits, failed;
} chat;

/* Client k's jobs in order: job j is round j / per_client_max of its (j % per_client_max)-th
 * conversation (k + idx * clients), skipped when that conversation does not exist. Finds the first
 * job at index >= *j, sets *j past it; false when the client has none left. */
static bool chat_job(const chat *ch, int k, int *j, int *conv, int *turn) {
    const opts *o = ch->o;
    for (; *j < ch->per_client_max * o->turns; (*j)++) {
        int cv = k + (*j % ch->per_client_max) * o->clients;
        if (cv >= o->conversations) continue;
        *conv = cv;
        *turn = *j / ch->per_client_max;
        (*j)++;
        return true;
    }
    return false;
}

/* Sends client k's next turn (the conversation so far plus a new user message). */
static void chat_send(chat *ch, int k, CURLM *m) {
    const opts *o = ch->o;
    int conv, turn;
    while (chat_job(ch, k, &ch->next_job[k], &conv, &turn)) {
        lx_buf *h = &ch->history[conv];
        bool ok = true;
        if (turn == 0) ok = append_words(h, seed_of(o->tag, conv, 0), o->prompt_bytes);
        ok = ok && lx_buf_append_str(h, "\nUser: ") && append_words(h, seed_of(o->tag, conv, turn + 1), o->turn_bytes) &&
             lx_buf_append_str(h, "\nAssistant:");
        xfer *x = &ch->xs[k];
        memset(x, 0, sizeof *x);
        x->conv = conv;
        x->turn = turn;
        if (!ok || !xfer_start(x, o, h->data, ch->headers)) {
            fprintf(stderr, "bench_scheduler_http: conversation %d too long or out of memory\n", conv);
            ch->failed++;
            continue;
        }
        curl_multi_add_handle(m, x->easy);
        return;
    }
}

static void chat_after(void *ctx, xfer *x, CURLM *m) {
    chat *ch = ctx;
    int k = (int)(x - ch->xs);
    if (x->failed) {
        fprintf(stderr, "bench_scheduler_http: conversation %d turn %d: %s\n", x->conv, x->turn, x->why);
        ch->failed++;
    } else {
        ch->ttft[x->turn][ch->n_ttft[x->turn]++] = (x->t_first - x->t_start) * 1e3;
        if (x->turn > 0 && x->prompt_tokens > 0) {
            long cached = x->cached_tokens > 0 ? x->cached_tokens : 0;
            ch->ret_n++;
            ch->ret_prompt += x->prompt_tokens;
            ch->ret_cached += cached;
            if (2 * cached >= x->prompt_tokens) ch->ret_hits++;
        }
        if (!lx_buf_append(&ch->history[x->conv], x->answer.data ? x->answer.data : "", x->answer.len)) ch->failed++;
    }
    xfer_free(x);
    chat_send(ch, k, m);
}

static int run_chat(const opts *o, struct curl_slist *headers) {
    chat ch = {.o = o, .headers = headers};
    ch.per_client_max = (o->conversations + o->clients - 1) / o->clients;
    ch.history = calloc((size_t)o->conversations, sizeof *ch.history);
    ch.xs = calloc((size_t)o->clients, sizeof *ch.xs);
    ch.next_job = calloc((size_t)o->clients, sizeof *ch.next_job);
    CURLM *m = curl_multi_init();
    if (!ch.history || !ch.xs || !ch.next_job || !m) return 1;
    for (int t = 0; t < o->turns; t++)
        if (!(ch.ttft[t] = calloc((size_t)o->conversations, sizeof(double)))) return 1;
    for (int c = 0; c < o->conversations; c++) lx_buf_init(&ch.history[c], LOAD_MAX_HISTORY);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->clients);
    for (int k = 0; k < o->clients; k++) chat_send(&ch, k, m);
    drive(m, chat_after, &ch);

    int n_first = ch.n_ttft[0];
    double first_p50 = percentile(ch.ttft[0], n_first, 50), first_p99 = percentile(ch.ttft[0], n_first, 99);
    double *ret = calloc((size_t)o->conversations * (size_t)o->turns + 1, sizeof *ret);
    if (!ret) return 1;
    int n_ret = 0;
    for (int t = 1; t < o->turns; t++)
        for (int i = 0; i < ch.n_ttft[t]; i++) ret[n_ret++] = ch.ttft[t][i];
    printf("chat conv=%d clients=%d turns=%d ok=%d first_ttft_p50_ms=%.1f first_ttft_p99_ms=%.1f "
           "return_ttft_p50_ms=%.1f return_ttft_p99_ms=%.1f return_hit_pct=%.1f return_cached_pct=%.1f",
           o->conversations, o->clients, o->turns, n_first + n_ret, first_p50, first_p99, percentile(ret, n_ret, 50),
           percentile(ret, n_ret, 99), ch.ret_n ? 100.0 * ch.ret_hits / ch.ret_n : 0.0,
           ch.ret_prompt ? 100.0 * (double)ch.ret_cached / (double)ch.ret_prompt : 0.0);
    for (int t = 0; t < o->turns; t++) printf(" turn%d_ttft_p50_ms=%.1f", t + 1, percentile(ch.ttft[t], ch.n_ttft[t], 50));
    printf("\n");
    for (int c = 0; c < o->conversations; c++) lx_buf_free(&ch.history[c]);
    for (int t = 0; t < o->turns; t++) free(ch.ttft[t]);
    free(ret);
    free(ch.history);
    free(ch.xs);
    free(ch.next_job);
    curl_multi_cleanup(m);
    return ch.failed == 0 && n_first + n_ret == o->conversations * o->turns ? 0 : 1;
}

/* ------------------------------------------------------------------- main */

static int usage(void) {
    fprintf(stderr, "usage: bench_scheduler_http streams URL MODEL --streams C [--prompt-bytes B] [--max-tokens G] [--tag T]\n"
                    "       bench_scheduler_http chat URL MODEL --conversations N --clients C --turns T\n"
                    "                            [--prompt-bytes B] [--turn-bytes U] [--max-tokens G] [--tag T]\n");
    return 2;
}

static bool int_arg(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

int main(int argc, char **argv) {
    if (argc < 4) return usage();
    opts o = {.mode = argv[1], .url = argv[2], .model = argv[3], .tag = "", .streams = 1, .conversations = 32,
              .clients = 8, .turns = 4, .prompt_bytes = 512, .turn_bytes = 128, .max_tokens = 32, .timeout_s = 600};
    for (int i = 4; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (!ok) break;
        if (!strcmp(a, "--streams")) ok = int_arg(v, 1, LOAD_MAX_STREAMS, &o.streams);
        else if (!strcmp(a, "--conversations")) ok = int_arg(v, 1, LOAD_MAX_CONV, &o.conversations);
        else if (!strcmp(a, "--clients")) ok = int_arg(v, 1, LOAD_MAX_STREAMS, &o.clients);
        else if (!strcmp(a, "--turns")) ok = int_arg(v, 1, LOAD_MAX_TURNS, &o.turns);
        else if (!strcmp(a, "--prompt-bytes")) ok = int_arg(v, 1, LOAD_MAX_BYTES, &o.prompt_bytes);
        else if (!strcmp(a, "--turn-bytes")) ok = int_arg(v, 1, LOAD_MAX_BYTES, &o.turn_bytes);
        else if (!strcmp(a, "--max-tokens")) ok = int_arg(v, 1, 1 << 20, &o.max_tokens);
        else if (!strcmp(a, "--tag")) o.tag = v;
        else ok = false;
        if (!ok) {
            fprintf(stderr, "bench_scheduler_http: bad option %s %s\n", a, v ? v : "");
            return usage();
        }
    }
    if (o.clients > o.conversations) o.clients = o.conversations;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    int rc;
    if (!strcmp(o.mode, "streams")) rc = run_streams(&o, headers);
    else if (!strcmp(o.mode, "chat")) rc = run_chat(&o, headers);
    else rc = usage();
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return rc;
}
