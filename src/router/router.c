/* Routing decisions; see router.h. */
#include "router/router.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"

struct lx_aliases {
    lx_alias *items;
    size_t n;
};

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void alias_free(lx_alias *a) {
    free(a->name);
    for (size_t i = 0; i < a->n_targets; i++) {
        free(a->targets[i].model);
        free(a->targets[i].overrides);
    }
}

void lx_aliases_destroy(lx_aliases *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) alias_free(&a->items[i]);
    free(a->items);
    free(a);
}

static llmux_status check_retry(const llmux_retry_policy *in, llmux_retry_policy *out, size_t i,
                                llmux_error_info *err) {
    if (in->attempts < 0 || in->attempts > 100 || in->backoff_ms < 0 || in->max_backoff_ms < 0 ||
        in->backoff_ms > 3600000 || in->max_backoff_ms > 3600000)
        return lx_error(err, LLMUX_E_CONFIGURATION,
                        "aliases[%zu].retry: attempts must be 0..100 and backoffs 0..3600000 ms", i);
    out->attempts = in->attempts ? in->attempts : LX_RETRY_ATTEMPTS;
    out->backoff_ms = in->backoff_ms ? in->backoff_ms : LX_RETRY_BACKOFF_MS;
    out->max_backoff_ms = in->max_backoff_ms ? in->max_backoff_ms : LX_RETRY_MAX_BACKOFF_MS;
    if (out->max_backoff_ms < out->backoff_ms) out->max_backoff_ms = out->backoff_ms;
    return LLMUX_OK;
}

llmux_status lx_aliases_create(const llmux_alias *aliases, size_t n, lx_aliases **out, llmux_error_info *err) {
    *out = NULL;
    if (n > LX_MAX_ALIASES)
        return lx_error(err, LLMUX_E_CONFIGURATION, "aliases: %zu given, at most %d", n, LX_MAX_ALIASES);
    lx_aliases *set = calloc(1, sizeof *set);
    if (!set || (n && !(set->items = calloc(n, sizeof *set->items)))) {
        free(set);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory copying aliases");
    }
    llmux_status st = LLMUX_OK;
    for (size_t i = 0; i < n && st == LLMUX_OK; i++) {
        const llmux_alias *src = &aliases[i];
        lx_alias *dst = &set->items[i];
        set->n++;
        if (!src->name || !*src->name || strchr(src->name, '/') || strlen(src->name) > 256) {
            st = lx_error(err, LLMUX_E_CONFIGURATION, "aliases[%zu].name: must be 1..256 bytes without '/'", i);
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(set->items[j].name, src->name) == 0) {
                st = lx_error(err, LLMUX_E_CONFIGURATION, "aliases[%zu].name: \"%.64s\" is defined twice", i, src->name);
                break;
            }
        if (st != LLMUX_OK) break;
        if (!(dst->name = dup_str(src->name))) goto oom;
        if (src->n_targets == 0 || src->n_targets > LX_ALIAS_MAX_TARGETS || !src->targets) {
            st = lx_error(err, LLMUX_E_CONFIGURATION, "aliases[%zu] (%.64s).targets: 1 to %d targets", i, src->name,
                          LX_ALIAS_MAX_TARGETS);
            break;
        }
        for (size_t t = 0; t < src->n_targets && st == LLMUX_OK; t++) {
            const llmux_alias_target *tg = &src->targets[t];
            lx_alias_target *dt = &dst->targets[t];
            dst->n_targets++;
            if (!tg->model || !*tg->model || strlen(tg->model) > 1024) {
                st = lx_error(err, LLMUX_E_CONFIGURATION, "aliases[%zu] (%.64s).targets[%zu].model: missing", i,
                              src->name, t);
                break;
            }
            if (strcmp(tg->model, src->name) == 0) {
                st = lx_error(err, LLMUX_E_CONFIGURATION, "aliases[%zu] (%.64s).targets[%zu]: an alias cannot name itself",
                              i, src->name, t);
                break;
            }
            if (tg->overrides) {
                json_error_t je;
                json_t *o = json_loads(tg->overrides, JSON_REJECT_DUPLICATES, &je);
                bool ok = o && json_is_object(o);
                json_decref(o);
                if (!ok) {
                    st = lx_error(err, LLMUX_E_CONFIGURATION,
                                  "aliases[%zu] (%.64s).targets[%zu].overrides: not a JSON object (%.100s)", i,
                                  src->name, t, o ? "wrong type" : je.text);
                    break;
                }
            }
            dt->weight = tg->weight;
            if (!(dt->model = dup_str(tg->model)) || (tg->overrides && !(dt->overrides = dup_str(tg->overrides))))
                goto oom;
        }
        if (st != LLMUX_OK) break;
        if ((st = check_retry(&src->retry, &dst->retry, i, err)) != LLMUX_OK) break;
        if (!src->fallback_on) {
            for (int c = 0; c < LLMUX_STATUS_COUNT; c++) dst->fallback_on[c] = llmux_status_retryable((llmux_status)c);
        } else {
            for (size_t k = 0; k < src->n_fallback_on; k++) {
                int c = (int)src->fallback_on[k];
                if (c <= 0 || c >= LLMUX_STATUS_COUNT) {
                    st = lx_error(err, LLMUX_E_CONFIGURATION, "aliases[%zu] (%.64s).fallback_on[%zu]: unknown class %d",
                                  i, src->name, k, c);
                    break;
                }
                dst->fallback_on[c] = true;
            }
        }
    }
    if (st != LLMUX_OK) {
        lx_aliases_destroy(set);
        return st;
    }
    *out = set;
    return LLMUX_OK;
oom:
    lx_aliases_destroy(set);
    return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory copying aliases");
}

const lx_alias *lx_aliases_find(const lx_aliases *a, const char *name) {
    if (!a || !name) return NULL;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i].name, name) == 0) return &a->items[i];
    return NULL;
}

/* --------------------------------------------------------------------- plans */

uint64_t lx_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void lx_plan_for_model(const char *model, lx_plan *out) {
    memset(out, 0, sizeof *out);
    out->picked = -1;
    out->retry = (llmux_retry_policy){.attempts = 1, .backoff_ms = LX_RETRY_BACKOFF_MS,
                                      .max_backoff_ms = LX_RETRY_MAX_BACKOFF_MS};
    out->steps[0] = (lx_plan_step){.model = model, .overrides = NULL, .target_index = 0};
    out->n_steps = 1;
}

void lx_plan_for_alias(const lx_alias *a, uint64_t seed, lx_plan *out) {
    memset(out, 0, sizeof *out);
    out->alias = a->name;
    out->seed = seed;
    out->picked = -1;
    out->retry = a->retry;
    uint64_t total = 0;
    for (size_t i = 0; i < a->n_targets; i++) total += a->targets[i].weight;
    if (total > 0) {
        uint64_t s = seed;
        uint64_t r = lx_rng_next(&s) % total;
        for (size_t i = 0; i < a->n_targets; i++) {
            if (r < a->targets[i].weight) {
                out->picked = (int32_t)i;
                break;
            }
            r -= a->targets[i].weight;
        }
    }
    if (out->picked >= 0) {
        const lx_alias_target *t = &a->targets[out->picked];
        out->steps[out->n_steps++] = (lx_plan_step){t->model, t->overrides, out->picked};
    }
    for (size_t i = 0; i < a->n_targets; i++) {
        if ((int32_t)i == out->picked) continue;
        out->steps[out->n_steps++] = (lx_plan_step){a->targets[i].model, a->targets[i].overrides, (int32_t)i};
    }
}

/* Written with the canonical writer rather than a jansson tree + json_dumps: every execution
 * record carries its plan, and building it was ~3.5% of the server's loop-thread CPU per proxied
 * request (docs/benchmarks.md, Gateway, fifth pass). The text is jansson's compact encoding of
 * the same object, keys in the same order (asserted in tests/router/test_router.c). */
char *lx_plan_to_json(const lx_plan *p) {
    lx_jw w;
    lx_jw_init(&w);
    lx_jw_obj_begin(&w);
    lx_jw_key(&w, "alias");
    if (p->alias) lx_jw_str(&w, p->alias);
    else lx_jw_null(&w);
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed); /* as text: JSON numbers lose 64-bit integers */
    lx_jw_kstr(&w, "seed", seed);
    lx_jw_kint(&w, "picked", p->picked);
    lx_jw_key(&w, "retry");
    lx_jw_obj_begin(&w);
    lx_jw_kint(&w, "attempts", (int)p->retry.attempts);
    lx_jw_kint(&w, "backoff_ms", (int64_t)p->retry.backoff_ms);
    lx_jw_kint(&w, "max_backoff_ms", (int64_t)p->retry.max_backoff_ms);
    lx_jw_obj_end(&w);
    lx_jw_key(&w, "targets");
    lx_jw_arr_begin(&w);
    for (size_t i = 0; i < p->n_steps; i++) {
        lx_jw_obj_begin(&w);
        lx_jw_kstr(&w, "model", p->steps[i].model);
        lx_jw_kint(&w, "index", (int)p->steps[i].target_index);
        lx_jw_obj_end(&w);
    }
    lx_jw_arr_end(&w);
    lx_jw_obj_end(&w);
    return lx_jw_finish(&w);
}

llmux_status lx_plan_from_json(const char *json, const lx_aliases *a, lx_plan *out, llmux_error_info *err) {
    memset(out, 0, sizeof *out);
    if (!json || strlen(json) > 65536) return lx_error(err, LLMUX_E_INVALID_REQUEST, "plan: missing or too large");
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "plan: not a JSON object");
    }
    llmux_status st = LLMUX_OK;
    json_t *alias = json_object_get(o, "alias"), *seed = json_object_get(o, "seed"), *targets = json_object_get(o, "targets");
    if (!json_is_string(alias) || !json_is_string(seed) || !json_is_array(targets)) {
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "plan: only an alias's plan can be rebuilt");
        goto done;
    }
    const lx_alias *al = lx_aliases_find(a, json_string_value(alias));
    if (!al) {
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "plan: alias \"%.64s\" is not configured any more",
                      json_string_value(alias));
        goto done;
    }
    out->alias = al->name;
    out->seed = strtoull(json_string_value(seed), NULL, 10);
    json_t *picked = json_object_get(o, "picked");
    out->picked = json_is_integer(picked) ? (int32_t)json_integer_value(picked) : -1;
    out->retry = al->retry;
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t) {
        json_t *idx = json_object_get(t, "index"), *model = json_object_get(t, "model");
        json_int_t k = json_is_integer(idx) ? json_integer_value(idx) : -1;
        if (i >= LX_ALIAS_MAX_TARGETS || k < 0 || (size_t)k >= al->n_targets || !json_is_string(model) ||
            strcmp(al->targets[k].model, json_string_value(model)) != 0) {
            st = lx_error(err, LLMUX_E_INVALID_REQUEST, "plan: target %zu no longer matches alias \"%.64s\"", i, al->name);
            goto done;
        }
        out->steps[out->n_steps++] = (lx_plan_step){al->targets[k].model, al->targets[k].overrides, (int32_t)k};
    }
    if (out->n_steps == 0) st = lx_error(err, LLMUX_E_INVALID_REQUEST, "plan: no targets");
done:
    json_decref(o);
    return st;
}

bool lx_plan_falls_back(const lx_plan *p, const lx_aliases *a, llmux_status st) {
    return lx_alias_falls_back(a, p->alias, st);
}

bool lx_alias_falls_back(const lx_aliases *a, const char *alias, llmux_status st) {
    const lx_alias *al = alias ? lx_aliases_find(a, alias) : NULL;
    return al && (int)st > 0 && (int)st < LLMUX_STATUS_COUNT && al->fallback_on[st];
}

int64_t lx_backoff_ms(const llmux_retry_policy *p, int32_t retry, uint64_t rnd, int64_t retry_after_ms) {
    int64_t cap = p->max_backoff_ms > 0 ? p->max_backoff_ms : LX_RETRY_MAX_BACKOFF_MS;
    int64_t b = p->backoff_ms > 0 ? p->backoff_ms : LX_RETRY_BACKOFF_MS;
    for (int32_t i = 0; i < retry && b < cap; i++) b *= 2;
    if (b > cap) b = cap;
    int64_t d = (int64_t)(rnd % (uint64_t)(b + 1));
    return retry_after_ms > d ? retry_after_ms : d;
}

/* ------------------------------------------------------------------ cooldown */

lx_cooldown_verdict lx_cooldown_check(lx_cooldown *c, int64_t now_ns) {
    if (!c->until_ns) return LX_COOLDOWN_USE;
    if (now_ns < c->until_ns || c->probing) return LX_COOLDOWN_SKIP;
    c->probing = true;
    return LX_COOLDOWN_PROBE;
}

void lx_cooldown_record(lx_cooldown *c, llmux_status st, int64_t now_ns, int32_t max_failures, int64_t period_ns) {
    if (st == LLMUX_OK) {
        *c = (lx_cooldown){0};
        return;
    }
    if (!llmux_status_retryable(st)) {
        /* The request was at fault (or cancelled): says nothing about the target; a probe that
         * ended that way gives the next request the probe. */
        c->probing = false;
        return;
    }
    c->failures++;
    if (c->probing || (max_failures > 0 && c->failures >= max_failures)) {
        c->until_ns = now_ns + period_ns;
        c->probing = false;
    }
}
