/* The metrics registry (metrics.h): families with open-addressed hash indexes of their series,
 * one mutex per registry. Rendering holds the mutex while it formats, so a scrape sees one
 * consistent snapshot; it takes a few milliseconds for thousands of series. */
#include "telemetry/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"

/* A scrape larger than this is refused rather than grown without end (16384 series x 64
 * families would not fit: the series cap makes the real size far smaller). */
#define RENDER_MAX ((size_t)64 * 1024 * 1024)

typedef struct series {
    char *values[LX_METRICS_MAX_LABELS]; /* owned, already cut to LX_METRICS_MAX_VALUE */
    uint64_t hash;
    double value;                        /* counter, gauge */
    double sum;                          /* histogram */
    uint64_t count;
    uint64_t *buckets;                   /* histogram: count per bucket (not cumulative) */
    char *labels_text;                   /* `a="x",b="y"` escaped, made once for every render */
} series;

typedef struct family {
    char *name, *help;
    lx_metric_type type;
    char *labels[LX_METRICS_MAX_LABELS];
    size_t n_labels;
    double bounds[LX_METRICS_MAX_BUCKETS];
    char le[LX_METRICS_MAX_BUCKETS + 1][32]; /* the bounds as written in le="..." (+Inf last) */
    size_t n_bounds;
    series **items;                      /* creation order */
    size_t n, cap;
    size_t *index;                       /* hash slots: 1 + position in items, 0 = empty */
    size_t index_cap;                    /* power of two, > 2 * n */
} family;

typedef struct bound_set {
    char **values;
    size_t n;
    size_t *index;
    size_t index_cap;
} bound_set;

struct lx_metrics {
    pthread_mutex_t mu;
    family fams[LX_METRICS_MAX_FAMILIES];
    size_t n_fams;
    size_t bound_cap;
    bound_set bound;
    uint64_t series_dropped;
};

/* How many bytes of v a label value keeps: at most LX_METRICS_MAX_VALUE, never splitting a
 * UTF-8 sequence. */
static size_t cut_len(const char *v) {
    size_t n = strlen(v);
    if (n > LX_METRICS_MAX_VALUE) {
        n = LX_METRICS_MAX_VALUE;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80) n--;
    }
    return n;
}

static void fmt_value(double v, char *out, size_t size);

/* Label values must be UTF-8 (the exposition format is): a value cut to LX_METRICS_MAX_VALUE
 * that is not valid UTF-8 has each byte >= 0x80 replaced by '?', in buf. Returns the value to
 * use (v itself when it is fine). NULL is "". */
static const char *norm_value(const char *v, char buf[LX_METRICS_MAX_VALUE + 1]) {
    if (!v) return "";
    size_t n = strlen(v);
    if (n <= LX_METRICS_MAX_VALUE && lx_utf8_valid(v, n)) return v;
    if (n > LX_METRICS_MAX_VALUE) {
        n = LX_METRICS_MAX_VALUE;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80) n--;
    }
    memcpy(buf, v, n);
    buf[n] = 0;
    if (!lx_utf8_valid(buf, n))
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)buf[i] >= 0x80) buf[i] = '?';
    return buf;
}

/* The label values of one update, normalized (norm_value), in bufs. */
typedef struct norm_values {
    const char *v[LX_METRICS_MAX_LABELS];
    char bufs[LX_METRICS_MAX_LABELS][LX_METRICS_MAX_VALUE + 1];
} norm_values;

static const char *const *normalize(size_t n_labels, const char *const *values, norm_values *nv) {
    for (size_t i = 0; i < n_labels; i++) nv->v[i] = norm_value(values ? values[i] : NULL, nv->bufs[i]);
    return nv->v;
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull; /* a separator, so ("ab","") and ("a","b") differ */
}

static char *cut_dup(const char *v) {
    if (!v) v = "";
    size_t n = cut_len(v);
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, v, n);
        c[n] = 0;
    }
    return c;
}

static bool cut_equal(const char *stored, const char *v) {
    if (!v) v = "";
    size_t n = cut_len(v);
    return strlen(stored) == n && memcmp(stored, v, n) == 0;
}

static bool name_ok(const char *s, bool colon) {
    if (!s || !*s) return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

lx_metrics *lx_metrics_create(size_t bound_cap) {
    lx_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->bound_cap = bound_cap;
    return m;
}

static void series_free(series *s) {
    if (!s) return;
    for (size_t i = 0; i < LX_METRICS_MAX_LABELS; i++) free(s->values[i]);
    free(s->buckets);
    free(s->labels_text);
    free(s);
}

static void family_free(family *f) {
    free(f->name);
    free(f->help);
    for (size_t i = 0; i < f->n_labels; i++) free(f->labels[i]);
    for (size_t i = 0; i < f->n; i++) series_free(f->items[i]);
    free(f->items);
    free(f->index);
}

void lx_metrics_destroy(lx_metrics *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_fams; i++) family_free(&m->fams[i]);
    for (size_t i = 0; i < m->bound.n; i++) free(m->bound.values[i]);
    free(m->bound.values);
    free(m->bound.index);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static series *series_new(const family *f, const char *const *values, uint64_t h) {
    series *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->hash = h;
    for (size_t i = 0; i < f->n_labels; i++)
        if (!(s->values[i] = cut_dup(values ? values[i] : NULL))) goto fail;
    if (f->type == LX_METRIC_HISTOGRAM && !(s->buckets = calloc(f->n_bounds + 1, sizeof *s->buckets))) goto fail;
    size_t need = 1;
    for (size_t i = 0; i < f->n_labels; i++) need += strlen(f->labels[i]) + 4 + 2 * strlen(s->values[i]);
    if (!(s->labels_text = malloc(need))) goto fail;
    char *o = s->labels_text;
    for (size_t i = 0; i < f->n_labels; i++) {
        if (i) *o++ = ',';
        size_t ln = strlen(f->labels[i]);
        memcpy(o, f->labels[i], ln);
        o += ln;
        *o++ = '=';
        *o++ = '"';
        o += lx_metrics_escape_label(s->values[i], o);
        *o++ = '"';
    }
    *o = 0;
    return s;
fail:
    series_free(s);
    return NULL;
}

/* Rebuilds the index at twice the size. */
static bool index_grow(size_t **index, size_t *cap, size_t n, uint64_t (*hash_of)(void *, size_t), void *ctx) {
    size_t nc = *cap ? *cap * 2 : 16;
    size_t *ni = calloc(nc, sizeof *ni);
    if (!ni) return false;
    for (size_t i = 0; i < n; i++) {
        size_t slot = (size_t)hash_of(ctx, i) & (nc - 1);
        while (ni[slot]) slot = (slot + 1) & (nc - 1);
        ni[slot] = i + 1;
    }
    free(*index);
    *index = ni;
    *cap = nc;
    return true;
}

static uint64_t series_hash_at(void *ctx, size_t i) { return ((family *)ctx)->items[i]->hash; }

static bool series_match(const family *f, const series *s, const char *const *values) {
    for (size_t i = 0; i < f->n_labels; i++)
        if (!cut_equal(s->values[i], values ? values[i] : NULL)) return false;
    return true;
}

static uint64_t values_hash(const family *f, const char *const *values) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < f->n_labels; i++) {
        const char *v = values && values[i] ? values[i] : "";
        h = fnv1a(h, v, cut_len(v));
    }
    return h;
}

/* The series for values, created when new; NULL past the cap or out of memory. Under mu. */
static series *find_series(lx_metrics *m, family *f, const char *const *values) {
    uint64_t h = values_hash(f, values);
    if (f->index_cap) {
        for (size_t slot = (size_t)h & (f->index_cap - 1); f->index[slot]; slot = (slot + 1) & (f->index_cap - 1)) {
            series *s = f->items[f->index[slot] - 1];
            if (s->hash == h && series_match(f, s, values)) return s;
        }
    }
    if (f->n >= LX_METRICS_MAX_SERIES) {
        m->series_dropped++;
        return NULL;
    }
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 8;
        series **ni = realloc(f->items, nc * sizeof *ni);
        if (!ni) return NULL;
        f->items = ni;
        f->cap = nc;
    }
    if (2 * (f->n + 1) >= f->index_cap && !index_grow(&f->index, &f->index_cap, f->n, series_hash_at, f)) return NULL;
    series *s = series_new(f, values, h);
    if (!s) return NULL;
    f->items[f->n] = s;
    size_t slot = (size_t)h & (f->index_cap - 1);
    while (f->index[slot]) slot = (slot + 1) & (f->index_cap - 1);
    f->index[slot] = ++f->n;
    return s;
}

int lx_metrics_define(lx_metrics *m, const char *name, const char *help, lx_metric_type type,
                      const char *const *labels, const double *buckets, size_t n_buckets) {
    if (!m || m->n_fams >= LX_METRICS_MAX_FAMILIES || !name_ok(name, true)) return -1;
    size_t nl = 0;
    while (labels && labels[nl]) {
        if (nl >= LX_METRICS_MAX_LABELS || !name_ok(labels[nl], false) || strcmp(labels[nl], "le") == 0) return -1;
        nl++;
    }
    if (type == LX_METRIC_HISTOGRAM) {
        if (n_buckets > LX_METRICS_MAX_BUCKETS) return -1;
        for (size_t i = 0; i < n_buckets; i++)
            if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1])) return -1;
    }
    family *f = &m->fams[m->n_fams];
    memset(f, 0, sizeof *f);
    f->type = type;
    f->name = cut_dup(name);
    f->help = cut_dup(help ? help : "");
    bool ok = f->name && f->help;
    for (size_t i = 0; ok && i < nl; i++) ok = (f->labels[f->n_labels++] = cut_dup(labels[i])) != NULL;
    if (type == LX_METRIC_HISTOGRAM) {
        memcpy(f->bounds, buckets, n_buckets * sizeof *buckets);
        f->n_bounds = n_buckets;
        for (size_t i = 0; i < n_buckets; i++) fmt_value(buckets[i], f->le[i], sizeof f->le[i]);
        snprintf(f->le[n_buckets], sizeof f->le[n_buckets], "+Inf");
    }
    if (ok && nl == 0) ok = find_series(m, f, NULL) != NULL;
    if (!ok) {
        family_free(f);
        memset(f, 0, sizeof *f);
        return -1;
    }
    return (int)m->n_fams++;
}

static family *fam_of(lx_metrics *m, int fam, lx_metric_type want) {
    if (!m || fam < 0 || (size_t)fam >= m->n_fams || m->fams[fam].type != want) return NULL;
    return &m->fams[fam];
}

void lx_metrics_add(lx_metrics *m, int fam, const char *const *values, double delta) {
    family *f = fam_of(m, fam, LX_METRIC_COUNTER);
    if (!f) f = fam_of(m, fam, LX_METRIC_GAUGE);
    if (!f || isnan(delta) || (f->type == LX_METRIC_COUNTER && delta < 0)) return;
    norm_values nv;
    values = normalize(f->n_labels, values, &nv);
    pthread_mutex_lock(&m->mu);
    series *s = find_series(m, f, values);
    if (s) s->value += delta;
    pthread_mutex_unlock(&m->mu);
}

void lx_metrics_set(lx_metrics *m, int fam, const char *const *values, double value) {
    family *f = fam_of(m, fam, LX_METRIC_GAUGE);
    if (!f) return;
    norm_values nv;
    values = normalize(f->n_labels, values, &nv);
    pthread_mutex_lock(&m->mu);
    series *s = find_series(m, f, values);
    if (s) s->value = value;
    pthread_mutex_unlock(&m->mu);
}

void lx_metrics_reset(lx_metrics *m, int fam) {
    family *f = fam_of(m, fam, LX_METRIC_GAUGE);
    if (!f) return;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < f->n; i++) f->items[i]->value = 0;
    pthread_mutex_unlock(&m->mu);
}

void lx_metrics_observe(lx_metrics *m, int fam, const char *const *values, double value) {
    family *f = fam_of(m, fam, LX_METRIC_HISTOGRAM);
    if (!f || isnan(value)) return;
    /* The first bucket whose upper bound holds value (le is inclusive); the last is +Inf. */
    size_t b = 0;
    while (b < f->n_bounds && value > f->bounds[b]) b++;
    norm_values nv;
    values = normalize(f->n_labels, values, &nv);
    pthread_mutex_lock(&m->mu);
    series *s = find_series(m, f, values);
    if (s) {
        s->buckets[b]++;
        s->count++;
        s->sum += value;
    }
    pthread_mutex_unlock(&m->mu);
}

static uint64_t bound_hash_at(void *ctx, size_t i) {
    const char *v = ((bound_set *)ctx)->values[i];
    return fnv1a(14695981039346656037ull, v, strlen(v));
}

const char *lx_metrics_bound(lx_metrics *m, const char *value) {
    if (!m) return "other";
    char nbuf[LX_METRICS_MAX_VALUE + 1];
    value = norm_value(value, nbuf);
    /* A known value is found without allocating: this runs on every update. */
    size_t vn = cut_len(value);
    uint64_t h = fnv1a(14695981039346656037ull, value, vn);
    const char *out = "other";
    char *cut = NULL;
    pthread_mutex_lock(&m->mu);
    bound_set *b = &m->bound;
    if (b->index_cap) {
        for (size_t slot = (size_t)h & (b->index_cap - 1); b->index[slot]; slot = (slot + 1) & (b->index_cap - 1)) {
            const char *known = b->values[b->index[slot] - 1];
            if (strlen(known) == vn && memcmp(known, value, vn) == 0) {
                out = known;
                goto done;
            }
        }
    }
    if (b->n >= m->bound_cap) goto done;
    if (2 * (b->n + 1) >= b->index_cap) {
        /* The values array first, sized for the grown index (n stays below index_cap / 2): when
         * the index cannot grow after it, the array is merely larger than needed. */
        size_t nc = b->index_cap ? b->index_cap * 2 : 16;
        char **nv = realloc(b->values, (nc / 2) * sizeof *nv);
        if (!nv) goto done;
        b->values = nv;
        if (!index_grow(&b->index, &b->index_cap, b->n, bound_hash_at, b)) goto done;
    }
    if (!(cut = cut_dup(value))) goto done;
    b->values[b->n] = cut;
    size_t slot = (size_t)h & (b->index_cap - 1);
    while (b->index[slot]) slot = (slot + 1) & (b->index_cap - 1);
    b->index[slot] = ++b->n;
    out = cut;
done:
    pthread_mutex_unlock(&m->mu);
    return out;
}

size_t lx_metrics_escape_label(const char *v, char *out) {
    size_t o = 0;
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') {
            out[o++] = '\\';
            out[o++] = *v;
        } else if (*v == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *v;
        }
    }
    out[o] = 0;
    return o;
}

/* # HELP text escapes only \ and line feed. */
static bool append_help(lx_buf *b, const char *s) {
    bool ok = true;
    for (; ok && *s; s++) {
        if (*s == '\\') ok = lx_buf_append(b, "\\\\", 2);
        else if (*s == '\n') ok = lx_buf_append(b, "\\n", 2);
        else ok = lx_buf_append(b, s, 1);
    }
    return ok;
}

/* A sample value: integers plainly, others with the fewest digits that read back the same. */
static void fmt_value(double v, char *out, size_t size) {
    if (isnan(v)) snprintf(out, size, "NaN");
    else if (isinf(v)) snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    else {
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(out, size, "%.*g", digits, v);
            if (strtod(out, NULL) == v) break;
        }
    }
}

/* One series' numbers, copied under the lock so formatting happens without it. */
typedef struct snap {
    const series *s;           /* its label text never changes once made */
    double value, sum;
    uint64_t count;
    uint64_t buckets[LX_METRICS_MAX_BUCKETS + 1];
} snap;

/* name[suffix]{labels[,le="x"]} value\n */
static bool append_sample(lx_buf *b, const family *f, const char *suffix, const series *s, const char *le,
                          const char *num) {
    bool ok = lx_buf_append_str(b, f->name) && lx_buf_append_str(b, suffix);
    bool braces = f->n_labels > 0 || le;
    if (ok && braces) ok = lx_buf_append(b, "{", 1) && lx_buf_append_str(b, s->labels_text);
    if (ok && le) ok = lx_buf_append_str(b, f->n_labels ? ",le=\"" : "le=\"") && lx_buf_append_str(b, le) &&
                       lx_buf_append(b, "\"", 1);
    if (ok && braces) ok = lx_buf_append(b, "}", 1);
    return ok && lx_buf_append(b, " ", 1) && lx_buf_append_str(b, num) && lx_buf_append(b, "\n", 1);
}

static bool render_family(lx_buf *b, const family *f, const snap *sn, size_t n) {
    static const char *const types[] = {"counter", "gauge", "histogram"};
    bool ok = lx_buf_printf(b, "# HELP %s ", f->name) && append_help(b, f->help) &&
              lx_buf_printf(b, "\n# TYPE %s %s\n", f->name, types[f->type]);
    char num[64];
    for (size_t i = 0; ok && i < n; i++) {
        const snap *p = &sn[i];
        if (f->type != LX_METRIC_HISTOGRAM) {
            fmt_value(p->value, num, sizeof num);
            ok = append_sample(b, f, "", p->s, NULL, num);
            continue;
        }
        uint64_t cum = 0;
        for (size_t k = 0; ok && k <= f->n_bounds; k++) {
            cum += p->buckets[k];
            snprintf(num, sizeof num, "%llu", (unsigned long long)cum);
            ok = append_sample(b, f, "_bucket", p->s, f->le[k], num);
        }
        fmt_value(p->sum, num, sizeof num);
        ok = ok && append_sample(b, f, "_sum", p->s, NULL, num);
        snprintf(num, sizeof num, "%llu", (unsigned long long)p->count);
        ok = ok && append_sample(b, f, "_count", p->s, NULL, num);
    }
    return ok;
}

char *lx_metrics_render(lx_metrics *m, size_t *len) {
    if (len) *len = 0;
    if (!m) return NULL;
    /* Under the lock only the numbers are copied (a memcpy per series), so updates wait for a
     * scrape far less than the formatting takes. */
    pthread_mutex_lock(&m->mu);
    size_t total = 0, counts[LX_METRICS_MAX_FAMILIES];
    for (size_t i = 0; i < m->n_fams; i++) total += (counts[i] = m->fams[i].n);
    snap *sn = malloc((total ? total : 1) * sizeof *sn);
    uint64_t dropped = m->series_dropped;
    for (size_t i = 0, k = 0; sn && i < m->n_fams; i++) {
        const family *f = &m->fams[i];
        for (size_t j = 0; j < counts[i]; j++, k++) {
            const series *s = f->items[j];
            sn[k].s = s;
            sn[k].value = s->value;
            sn[k].sum = s->sum;
            sn[k].count = s->count;
            if (s->buckets) memcpy(sn[k].buckets, s->buckets, (f->n_bounds + 1) * sizeof *s->buckets);
        }
    }
    size_t n_fams = m->n_fams;
    pthread_mutex_unlock(&m->mu);
    if (!sn) return NULL;
    lx_buf b;
    lx_buf_init(&b, RENDER_MAX);
    bool ok = true;
    for (size_t i = 0, k = 0; ok && i < n_fams; k += counts[i], i++) ok = render_family(&b, &m->fams[i], sn + k, counts[i]);
    ok = ok && lx_buf_printf(&b,
                             "# HELP llmux_metrics_series_dropped_total Updates dropped because their family "
                             "already held %d series.\n# TYPE llmux_metrics_series_dropped_total counter\n"
                             "llmux_metrics_series_dropped_total %llu\n",
                             LX_METRICS_MAX_SERIES, (unsigned long long)dropped);
    free(sn);
    if (!ok) {
        lx_buf_free(&b);
        return NULL;
    }
    if (len) *len = b.len;
    return lx_buf_steal(&b);
}
