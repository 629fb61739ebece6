/* bench_gateway_load: the load generator of bench/gateway/run.sh. libcurl (multi interface,
 * HTTP/1.1 keep-alive: a connection is reused for every request it carries) posting OpenAI chat
 * completions to URL; the same client for every path, so its own cost cancels in "added" figures.
 *
 *   latency URL MODEL [--stream] [--n N] [--warmup W]
 *       one connection, N requests one after the other; prints p50/p99 of the time to the last
 *       byte (and, streamed, to the first body byte) in ms:
 *       "latency n=N errors=E p50_ms=.. p99_ms=.. ttfb_p50_ms=.. ttfb_p99_ms=.."
 *   throughput URL MODEL [--stream] [--conns C] [--seconds S]
 *       C connections, each sending its next request as soon as the last one ended, for S seconds
 *       (after S/5 s of warm-up): "throughput conns=C n=N errors=E rps=.. total=T" (T: answers
 *       including the warm-up's, to divide a gateway's CPU time by)
 *   hold URL MODEL --n N --pid PID [--timeout S] [--linger S]
 *       N streamed requests at once (MODEL should make the upstream hold them open after its
 *       first chunk); once every stream has received its first bytes (or S s passed), the growth
 *       of PID's VmRSS since before the first request, divided by the streams that got bytes:
 *       "hold n=N open=K rss_before_kib=.. rss_after_kib=.. per_stream_kib=.."; --linger keeps the
 *       streams open S s more after printing it (for a heap profiler attached to the gateway)
 *
 * A request counts as an error unless it got 200 and a complete body: streamed, ending with the
 * `data: [DONE]` event; otherwise a chat.completion object. --header "Name: value" (repeatable)
 * adds a request header (Portkey's x-portkey-* headers). */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOAD_MAX_N 1000000
#define LOAD_MAX_CONNS 20000
#define LOAD_TAIL 32 /* the last bytes of a body are kept to check its end */

typedef struct load_opts {
    const char *mode, *url, *model;
    bool stream;
    int n, warmup, conns, pid;
    double seconds, timeout_s, linger_s;
    struct curl_slist *headers;
    char body[512];
} load_opts;

/* One request in flight on one easy handle (one connection). */
typedef struct slot {
    CURL *easy;
    double t_start, t_first; /* seconds, CLOCK_MONOTONIC; t_first 0 until the first body byte */
    size_t got;              /* body bytes */
    char tail[LOAD_TAIL];    /* the last body bytes, NUL-terminated */
    bool has_completion;     /* the non-streamed body named chat.completion */
} slot;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Streams that have received their first body bytes (hold mode counts them as they come). */
static long g_first_bytes;

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg) {
    slot *s = arg;
    size_t n = size * nmemb;
    if (n && s->t_first == 0) {
        s->t_first = now_s();
        g_first_bytes++;
    }
    if (!s->has_completion && n >= 40 && memmem(p, n, "\"chat.completion\"", 17)) s->has_completion = true;
    /* Keep the last LOAD_TAIL-1 bytes across calls. */
    size_t keep = strlen(s->tail);
    if (n >= LOAD_TAIL - 1) {
        memcpy(s->tail, p + n - (LOAD_TAIL - 1), LOAD_TAIL - 1);
        s->tail[LOAD_TAIL - 1] = 0;
    } else {
        if (keep + n > LOAD_TAIL - 1) {
            size_t drop = keep + n - (LOAD_TAIL - 1);
            memmove(s->tail, s->tail + drop, keep - drop);
            keep -= drop;
        }
        memcpy(s->tail + keep, p, n);
        s->tail[keep + n] = 0;
    }
    s->got += n;
    return n;
}

static int slot_init(slot *s, const load_opts *o) {
    memset(s, 0, sizeof *s);
    s->easy = curl_easy_init();
    if (!s->easy) return -1;
    curl_easy_setopt(s->easy, CURLOPT_URL, o->url);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, o->body);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, o->headers);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    return 0;
}

static void slot_arm(slot *s) {
    s->t_start = now_s();
    s->t_first = 0;
    s->got = 0;
    s->tail[0] = 0;
    s->has_completion = false;
}

/* Whether the finished transfer is a complete, successful answer. */
static bool slot_ok(slot *s, CURLcode rc, bool stream) {
    long code = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK || code != 200) return false;
    if (stream) return strstr(s->tail, "data: [DONE]") != NULL;
    return s->has_completion;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, int n, double p) {
    if (n == 0) return 0;
    int i = (int)((p / 100.0) * n + 0.999999) - 1;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return v[i];
}

static int run_latency(const load_opts *o) {
    slot s;
    if (slot_init(&s, o) != 0) return 1;
    double *total = calloc((size_t)o->n, sizeof(double)), *first = calloc((size_t)o->n, sizeof(double));
    if (!total || !first) return 1;
    int errors = 0, ok = 0;
    for (int i = 0; i < o->warmup + o->n; i++) {
        slot_arm(&s);
        CURLcode rc = curl_easy_perform(s.easy);
        double t_end = now_s();
        if (!slot_ok(&s, rc, o->stream)) {
            if (i >= o->warmup) errors++;
            continue;
        }
        if (i < o->warmup) continue;
        total[ok] = (t_end - s.t_start) * 1e3;
        first[ok] = (s.t_first - s.t_start) * 1e3;
        ok++;
    }
    qsort(total, (size_t)ok, sizeof(double), cmp_double);
    qsort(first, (size_t)ok, sizeof(double), cmp_double);
    printf("latency n=%d errors=%d p50_ms=%.4f p99_ms=%.4f", ok, errors, pct(total, ok, 50), pct(total, ok, 99));
    if (o->stream) printf(" ttfb_p50_ms=%.4f ttfb_p99_ms=%.4f", pct(first, ok, 50), pct(first, ok, 99));
    printf("\n");
    curl_easy_cleanup(s.easy);
    free(total);
    free(first);
    return ok > 0 ? 0 : 1;
}

static int run_throughput(const load_opts *o) {
    CURLM *m = curl_multi_init();
    slot *slots = calloc((size_t)o->conns, sizeof(slot));
    if (!m || !slots) return 1;
    for (int i = 0; i < o->conns; i++) {
        if (slot_init(&slots[i], o) != 0) return 1;
        slot_arm(&slots[i]);
        curl_multi_add_handle(m, slots[i].easy);
    }
    double t0 = now_s(), t_measure = t0 + o->seconds / 5, t_end = t_measure + o->seconds;
    long done = 0, errors = 0, total = 0; /* total: every answer, warm-up included */
    bool measuring = false;
    int running = 1;
    for (;;) {
        double t = now_s();
        if (!measuring && t >= t_measure) {
            measuring = true;
            done = errors = 0;
        }
        if (t >= t_end) break;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *e = msg->easy_handle;
            CURLcode rc = msg->data.result;
            slot *s = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
            if (slot_ok(s, rc, o->stream)) done++;
            else errors++;
            total++;
            curl_multi_remove_handle(m, e);
            slot_arm(s);
            curl_multi_add_handle(m, e); /* reuses a pooled keep-alive connection */
        }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double elapsed = now_s() - t_measure;
    printf("throughput conns=%d n=%ld errors=%ld rps=%.1f total=%ld\n", o->conns, done, errors, (double)done / elapsed,
           total);
    for (int i = 0; i < o->conns; i++) {
        curl_multi_remove_handle(m, slots[i].easy);
        curl_easy_cleanup(slots[i].easy);
    }
    free(slots);
    curl_multi_cleanup(m);
    return done > 0 ? 0 : 1;
}

/* VmRSS of pid in KiB, -1 when unreadable. */
static long rss_kib(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) v = strtol(line + 6, NULL, 10);
    fclose(f);
    return v;
}

static int run_hold(const load_opts *o) {
    CURLM *m = curl_multi_init();
    slot *slots = calloc((size_t)o->n, sizeof(slot));
    if (!m || !slots) return 1;
    /* One connection per stream, however many: no connection cache limits, no multiplexing. */
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)o->n);
    long before = rss_kib(o->pid);
    int added = 0, running = 0, open = 0, failed = 0;
    double t0 = now_s(), last_change = t0;
    while (now_s() - t0 < o->timeout_s) {
        /* Open in batches so the accept queues never overflow. */
        for (int k = 0; k < 256 && added < o->n && added - open - failed < 128; k++, added++) {
            if (slot_init(&slots[added], o) != 0) return 1;
            slot_arm(&slots[added]);
            curl_multi_add_handle(m, slots[added].easy);
        }
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            /* A held stream must not end: say why the first few did. */
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (failed++ < 3)
                fprintf(stderr, "hold: a stream ended: %s, HTTP %ld\n", curl_easy_strerror(msg->data.result), code);
        }
        if ((int)g_first_bytes != open) last_change = now_s();
        open = (int)g_first_bytes;
        if (open + failed >= o->n) break;
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    /* Let the gateway finish whatever it does after its first write. */
    double settle = now_s() + 1.0;
    while (now_s() < settle) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    long after = rss_kib(o->pid);
    printf("hold n=%d open=%d failed=%d seconds=%.2f rss_before_kib=%ld rss_after_kib=%ld per_stream_kib=%.2f\n", o->n,
           open, failed, last_change - t0, before, after, open ? (double)(after - before) / open : 0.0);
    fflush(stdout);
    for (double end = now_s() + o->linger_s; now_s() < end;) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    for (int i = 0; i < added; i++) {
        curl_multi_remove_handle(m, slots[i].easy);
        curl_easy_cleanup(slots[i].easy);
    }
    free(slots);
    curl_multi_cleanup(m);
    return open > 0 && before > 0 ? 0 : 1;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_gateway_load latency|throughput|hold URL MODEL [--stream] [--n N] [--warmup W]\n"
                    "       [--conns C] [--seconds S] [--pid PID] [--timeout S] [--linger S] [--header 'Name: value']...\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 4) return usage();
    load_opts o = {.mode = argv[1], .url = argv[2], .model = argv[3], .n = 1000, .warmup = 100, .conns = 32,
                   .seconds = 3, .timeout_s = 60};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    o.headers = curl_slist_append(NULL, "Content-Type: application/json");
    o.headers = curl_slist_append(o.headers, "Authorization: Bearer bench");
    o.headers = curl_slist_append(o.headers, "Expect:");
    for (int i = 4; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--stream") == 0) o.stream = true;
        else if (strcmp(a, "--n") == 0 && more) o.n = atoi(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && more) o.warmup = atoi(argv[++i]);
        else if (strcmp(a, "--conns") == 0 && more) o.conns = atoi(argv[++i]);
        else if (strcmp(a, "--seconds") == 0 && more) o.seconds = atof(argv[++i]);
        else if (strcmp(a, "--pid") == 0 && more) o.pid = atoi(argv[++i]);
        else if (strcmp(a, "--timeout") == 0 && more) o.timeout_s = atof(argv[++i]);
        else if (strcmp(a, "--linger") == 0 && more) o.linger_s = atof(argv[++i]);
        else if (strcmp(a, "--header") == 0 && more) o.headers = curl_slist_append(o.headers, argv[++i]);
        else return usage();
    }
    if (o.n < 1 || o.n > LOAD_MAX_N || o.warmup < 0 || o.warmup > LOAD_MAX_N || o.conns < 1 ||
        o.conns > LOAD_MAX_CONNS || !(o.seconds > 0) || !(o.timeout_s > 0) || !(o.linger_s >= 0) ||
        o.linger_s > 3600 || strlen(o.model) > 128)
        return usage();
    snprintf(o.body, sizeof o.body,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"stream\":%s}", o.model,
             o.stream ? "true" : "false");
    int rc;
    if (strcmp(o.mode, "latency") == 0) rc = run_latency(&o);
    else if (strcmp(o.mode, "throughput") == 0) rc = run_throughput(&o);
    else if (strcmp(o.mode, "hold") == 0 && o.pid > 0) rc = run_hold(&o);
    else rc = usage();
    curl_slist_free_all(o.headers);
    curl_global_cleanup();
    return rc;
}
