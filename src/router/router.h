/* Routing, as pure decisions (no I/O, no clock of its own, no threads): the runtime's aliases,
 * the plan of one execution (which targets, in which order, with which retry policy), the
 * backoff before a retry, whether a failure moves on to the next target, and the cooldown state
 * machine of a target. The executor (src/runtime/executor.c) acts on these decisions. */
#ifndef LX_ROUTER_H
#define LX_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmux.h"

/* Caps: an alias names at most this many targets; a runtime holds at most this many aliases. */
#define LX_ALIAS_MAX_TARGETS 16
#define LX_MAX_ALIASES 1024

/* Defaults of llmux_retry_policy's zero fields. */
#define LX_RETRY_ATTEMPTS 2
#define LX_RETRY_BACKOFF_MS 200
#define LX_RETRY_MAX_BACKOFF_MS 5000

typedef struct lx_alias_target {
    char *model;
    uint32_t weight;
    char *overrides;           /* JSON object text, NULL = none (validated at creation) */
} lx_alias_target;

typedef struct lx_alias {
    char *name;
    lx_alias_target targets[LX_ALIAS_MAX_TARGETS];
    size_t n_targets;
    llmux_retry_policy retry;  /* defaults applied */
    bool fallback_on[LLMUX_STATUS_COUNT]; /* by class */
} lx_alias;

typedef struct lx_aliases lx_aliases;

/* Deep-copies and validates aliases: unique non-empty names without '/', 1..16 targets each with
 * a model, overrides that are JSON objects, known fallback classes, non-negative retry values.
 * Errors: LLMUX_E_CONFIGURATION naming the alias ("aliases[2].targets[0].overrides: ..."),
 * LLMUX_E_OUT_OF_MEMORY. n == 0 gives an empty set. */
llmux_status lx_aliases_create(const llmux_alias *aliases, size_t n, lx_aliases **out, llmux_error_info *err);
/* Accepts NULL. */
void lx_aliases_destroy(lx_aliases *a);
/* The alias named name, NULL when none (a NULL set has none). */
const lx_alias *lx_aliases_find(const lx_aliases *a, const char *name);

/* One step of a plan: a target and how hard to try it. Strings borrow from the alias (or the
 * request's model for a plan without alias). */
typedef struct lx_plan_step {
    const char *model;
    const char *overrides;
    int32_t target_index;      /* position in the alias's targets; 0 without alias */
} lx_plan_step;

typedef struct lx_plan {
    const char *alias;         /* the alias name, NULL for a plain model */
    uint64_t seed;             /* the weighted pick's seed */
    int32_t picked;            /* the alias target index picked by weight, -1 when none */
    llmux_retry_policy retry;
    lx_plan_step steps[LX_ALIAS_MAX_TARGETS];
    size_t n_steps;
} lx_plan;

/* A plain model: one step, one attempt (a direct request is never retried behind the caller's
 * back; aliases are where retries are configured). */
void lx_plan_for_model(const char *model, lx_plan *out);
/* An alias: when it has weighted targets, one is picked with probability weight / sum (from
 * seed) and goes first; then every other target in list order (weighted ones included, as
 * fallbacks). Deterministic for a given seed. */
void lx_plan_for_alias(const lx_alias *a, uint64_t seed, lx_plan *out);
/* The plan as JSON text ({"alias":..., "seed":..., "picked":..., "retry":{...}, "targets":[...]}),
 * malloc'd; NULL when out of memory. */
char *lx_plan_to_json(const lx_plan *p);
/* Rebuilds a plan from lx_plan_to_json's output against the same alias set (replay): the same
 * steps in the same order. LLMUX_E_INVALID_REQUEST when the JSON is malformed or names an alias
 * or target the set no longer has. */
llmux_status lx_plan_from_json(const char *json, const lx_aliases *a, lx_plan *out, llmux_error_info *err);

/* Whether a failure of class st moves the plan on to its next target. Without alias: never. */
bool lx_plan_falls_back(const lx_plan *p, const lx_aliases *a, llmux_status st);
/* The same for a plan's alias name alone (NULL = no alias: never). */
bool lx_alias_falls_back(const lx_aliases *a, const char *alias, llmux_status st);

/* The delay before retry number `retry` (0 = the first retry) under policy p: full jitter, a
 * uniform draw in [0, min(max_backoff, backoff * 2^retry)] from rnd; an upstream's requested
 * delay (retry_after_ms >= 0) wins when longer. */
int64_t lx_backoff_ms(const llmux_retry_policy *p, int32_t retry, uint64_t rnd, int64_t retry_after_ms);

/* splitmix64: the router's deterministic generator (the state advances). */
uint64_t lx_rng_next(uint64_t *state);

/* ------------------------------------------------------------------ cooldown */

/* One target's health. Zero-initialised = healthy. */
typedef struct lx_cooldown {
    int32_t failures;          /* consecutive failed attempts */
    int64_t until_ns;          /* skipped until this instant; 0 = not cooling down */
    bool probing;              /* one request is probing it after the period */
} lx_cooldown;

typedef enum lx_cooldown_verdict {
    LX_COOLDOWN_USE = 0,       /* healthy: use it */
    LX_COOLDOWN_SKIP = 1,      /* cooling down (or being probed by another request): skip it */
    LX_COOLDOWN_PROBE = 2      /* the period is over: this request probes it */
} lx_cooldown_verdict;

/* Decides for one request at now_ns (and marks the probe taken). */
lx_cooldown_verdict lx_cooldown_check(lx_cooldown *c, int64_t now_ns);
/* Records an attempt's outcome: a success heals; a failure that counts (llmux_status_retryable
 * classes: the target, not the request, is at fault) adds one, and max_failures in a row (> 0)
 * start a cooldown of period_ns; a failed probe starts a new period at once. */
void lx_cooldown_record(lx_cooldown *c, llmux_status st, int64_t now_ns, int32_t max_failures, int64_t period_ns);

#endif
