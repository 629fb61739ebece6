/* A metrics registry rendered in the Prometheus text exposition format (version 0.0.4):
 * counters, gauges and histograms, each family with a fixed set of label names, each series
 * created on its first update.
 *
 * Threads: families are defined once, before the registry is shared; after that every update and
 * every render may come from any thread (one mutex per registry, held for one hash lookup and a
 * few additions per update, so updating costs well under a microsecond).
 *
 * Bounds: a family holds at most LX_METRICS_MAX_SERIES series (further label combinations are
 * dropped and counted in llmux_metrics_series_dropped_total), label values are cut to
 * LX_METRICS_MAX_VALUE bytes (at a UTF-8 boundary), and lx_metrics_bound keeps the number of
 * distinct values of an unbounded label (a model name from a request) under a cap. */
#ifndef LX_TELEMETRY_METRICS_H
#define LX_TELEMETRY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LX_METRICS_MAX_LABELS 4
#define LX_METRICS_MAX_BUCKETS 32
#define LX_METRICS_MAX_SERIES 16384
#define LX_METRICS_MAX_VALUE 256
#define LX_METRICS_MAX_FAMILIES 64

typedef enum lx_metric_type { LX_METRIC_COUNTER, LX_METRIC_GAUGE, LX_METRIC_HISTOGRAM } lx_metric_type;

typedef struct lx_metrics lx_metrics;

/* bound_cap: most distinct values lx_metrics_bound lets through (then "other"). NULL when out of
 * memory. */
lx_metrics *lx_metrics_create(size_t bound_cap);
/* Accepts NULL. */
void lx_metrics_destroy(lx_metrics *m);

/* Defines a family before the registry is shared. name: [a-zA-Z_:][a-zA-Z0-9_:]*; labels: a
 * NULL-terminated list of at most LX_METRICS_MAX_LABELS names (NULL = none); buckets: a
 * histogram's upper bounds, strictly increasing, at most LX_METRICS_MAX_BUCKETS (+Inf is
 * implicit). A family without labels starts with its one series at 0, so it is always listed.
 * Returns the family's id (>= 0), or -1 for an invalid definition or out of memory. Strings are
 * copied. */
int lx_metrics_define(lx_metrics *m, const char *name, const char *help, lx_metric_type type,
                      const char *const *labels, const double *buckets, size_t n_buckets);

/* Updates the series of family fam with these label values (one per label name, in order;
 * NULL = ""). add: a counter (delta >= 0; a negative delta is ignored) or a gauge; set: a gauge;
 * observe: a histogram. A mismatched type is ignored. Any thread. */
void lx_metrics_add(lx_metrics *m, int fam, const char *const *values, double delta);
void lx_metrics_set(lx_metrics *m, int fam, const char *const *values, double value);
void lx_metrics_observe(lx_metrics *m, int fam, const char *const *values, double value);
/* Sets every existing series of a gauge family to 0 (before setting the current ones). */
void lx_metrics_reset(lx_metrics *m, int fam);

/* value itself while fewer than bound_cap distinct values have been seen (or it is one of them),
 * else "other". The returned string lives as long as the registry. NULL is "". Any thread. */
const char *lx_metrics_bound(lx_metrics *m, const char *value);

/* The whole registry as Prometheus text (# HELP, # TYPE, then the series; families in definition
 * order, series in creation order). Owned by the caller (free). NULL when out of memory. */
char *lx_metrics_render(lx_metrics *m, size_t *len);

/* Appends v to the text as Prometheus writes a label value: \ " and line feed escaped. For tests
 * and the renderer. Returns the bytes written (at most 2 * strlen(v)) into out (size >= that + 1). */
size_t lx_metrics_escape_label(const char *v, char *out);

#endif
