/* `llmux config check`'s report: the resolved configuration, defaults filled in, secrets never
 * printed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

/* The runtime's defaults as include/llmux.h documents them (0 in the params). */
#define RT_CONNECT_MS 10000
#define RT_FIRST_BYTE_MS 120000
#define RT_IDLE_MS 60000
#define RT_ATTEMPTS 2
#define RT_BACKOFF_MS 200
#define RT_MAX_BACKOFF_MS 5000
#define RT_COOLDOWN_FAILURES 3
#define RT_COOLDOWN_MS 30000

static const char *builtin_protocol(const char *name) {
    if (strcmp(name, "anthropic") == 0) return "anthropic";
    if (strcmp(name, "gemini") == 0) return "gemini";
    if (strcmp(name, "ollama") == 0) return "ollama";
    if (strcmp(name, "openai-responses") == 0) return "openai_responses";
    return "openai"; /* openai, openrouter and every custom name */
}

/* A URL with "user:password@" printed as "user:***@". */
static void print_url(FILE *f, const char *url) {
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *end = host + strcspn(host, "/?#");
    const char *at = NULL;
    for (const char *p = host; p < end; p++)
        if (*p == '@') at = p;
    const char *colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
    if (!colon) {
        fputs(url, f);
        return;
    }
    fprintf(f, "%.*s:***%s", (int)(colon - url), url, at);
}

static void print_ms(FILE *f, const char *name, int64_t v, int64_t def, const char *sep) {
    if (v) fprintf(f, "%s %lld%s", name, (long long)v, sep);
    else fprintf(f, "%s %lld (default)%s", name, (long long)def, sep);
}

static void print_providers(const lx_config *cfg, FILE *f) {
    if (!cfg->n_providers) {
        fputs("providers: none configured (built in: openai, openai-responses, anthropic, gemini, openrouter, ollama; "
              "keys from their environment variables)\n",
              f);
        return;
    }
    fputs("providers:\n", f);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const llmux_provider_params *p = &cfg->providers[i];
        const lx_cfg_provider_meta *m = &cfg->provider_meta[i];
        bool builtin = lx_cfg_builtin_provider(p->name);
        fprintf(f, "  %s: protocol %s%s, base_url ", p->name, p->protocol ? p->protocol : builtin_protocol(p->name),
                builtin ? " (built in)" : "");
        if (!p->base_url) fputs("default", f);
        else if (m->base_url_env) fprintf(f, "set (env:%s)", m->base_url_env);
        else print_url(f, p->base_url);
        switch (m->key_source) {
        case LX_CFG_KEY_ENV: fprintf(f, ", key: set (env:%s)", m->key_env); break;
        case LX_CFG_KEY_FILE: fputs(", key: set (in the file)", f); break;
        case LX_CFG_KEY_NONE: fputs(", key: none", f); break;
        default: fputs(builtin ? ", key: default (the provider's environment variable)" : ", key: none", f); break;
        }
        if (p->http_referer) fprintf(f, ", http_referer %s", p->http_referer);
        if (p->app_title) fprintf(f, ", app_title %s", p->app_title);
        fputc('\n', f);
    }
}

static void print_alias(const llmux_alias *a, FILE *f) {
    fprintf(f, "  %s:\n    targets:\n", a->name);
    bool weighted = false;
    for (size_t i = 0; i < a->n_targets; i++) weighted = weighted || a->targets[i].weight > 0;
    for (size_t i = 0; i < a->n_targets; i++) {
        const llmux_alias_target *t = &a->targets[i];
        fprintf(f, "      %zu. %s", i + 1, t->model);
        if (t->weight) fprintf(f, " (weight %u)", t->weight);
        else if (weighted) fputs(" (fallback)", f);
        if (t->overrides) fprintf(f, " params %s", t->overrides);
        fputc('\n', f);
    }
    const llmux_retry_policy *r = &a->retry;
    fputs("    retry: ", f);
    if (r->attempts) fprintf(f, "attempts %d, ", r->attempts);
    else fprintf(f, "attempts %d (default), ", RT_ATTEMPTS);
    print_ms(f, "backoff_ms", r->backoff_ms, RT_BACKOFF_MS, ", ");
    print_ms(f, "max_backoff_ms", r->max_backoff_ms, RT_MAX_BACKOFF_MS, "\n");
    fputs("    fallback_on: ", f);
    if (a->n_fallback_on) {
        for (size_t i = 0; i < a->n_fallback_on; i++)
            fprintf(f, "%s%s", i ? ", " : "", llmux_status_name(a->fallback_on[i]));
    } else {
        fputs("the retryable classes (default): ", f);
        const char *sep = "";
        for (int s = 1; s < LLMUX_STATUS_COUNT; s++) {
            if (!llmux_status_retryable((llmux_status)s)) continue;
            fprintf(f, "%s%s", sep, llmux_status_name((llmux_status)s));
            sep = ", ";
        }
    }
    fputc('\n', f);
}

static void print_price(FILE *f, const char *name, double v, bool *first) {
    if (isnan(v)) return;
    fprintf(f, "%s%s %.10g", *first ? "" : ", ", name, v);
    *first = false;
}

/* local: slots .. queue, each with its default when the file sets none (llmux_runtime_default_params). */
static void print_local_sizes(const lx_config *cfg, FILE *f) {
    if (cfg->slots >= 0) fprintf(f, ", slots %d", cfg->slots);
    else fputs(", slots 0 (default: from the context size)", f);
    if (cfg->prompt_cache_mb >= 0) fprintf(f, ", prompt_cache_mb %d", cfg->prompt_cache_mb);
    else fputs(", prompt_cache_mb 256 (default)", f);
    if (cfg->memory_budget_mb > 0) fprintf(f, ", memory_budget_mb %lld", (long long)cfg->memory_budget_mb);
    else fputs(", memory_budget_mb 0 (no budget)", f);
    if (cfg->idle_unload_s > 0) fprintf(f, ", idle_unload_s %lld", (long long)cfg->idle_unload_s);
    else fputs(", idle_unload_s 0 (never)", f);
    if (cfg->prompt_cache_dir)
        fprintf(f, "\n  prompt_cache_dir %s, prompt_cache_dir_mb %lld%s", cfg->prompt_cache_dir,
                (long long)(cfg->prompt_cache_dir_mb > 0 ? cfg->prompt_cache_dir_mb : 1024),
                cfg->prompt_cache_dir_mb > 0 ? "" : " (default)");
    if (cfg->max_waiting >= 0) fprintf(f, "\n  queue: max_waiting %d", cfg->max_waiting);
    else fputs("\n  queue: max_waiting 256 (default)", f);
    if (cfg->max_wait_ms > 0) fprintf(f, ", max_wait_ms %lld\n", (long long)cfg->max_wait_ms);
    else fputs(", max_wait_ms 0 (no limit)\n", f);
    if (cfg->isolation == LLMUX_ISOLATION_PROCESS) fputs("  isolation: process (sandboxed engine child)\n", f);
    else if (cfg->isolation == LLMUX_ISOLATION_IN_PROCESS) fputs("  isolation: in_process\n", f);
    else fputs("  isolation: default (process for llmux serve, in_process otherwise)\n", f);
    fprintf(f, "sandbox: require %s, user %lld, group %lld%s\n", cfg->sandbox_require ? "yes" : "no (warn)",
            (long long)(cfg->sandbox_uid > 0 ? cfg->sandbox_uid : 65534),
            (long long)(cfg->sandbox_gid > 0 ? cfg->sandbox_gid : 65534),
            cfg->sandbox_uid > 0 || cfg->sandbox_gid > 0 ? " (when started as root)" : " (default, when started as root)");
}

void lx_config_print(const lx_config *cfg, FILE *f) {
    fprintf(f, "file: %s\n", cfg->path);
    print_providers(cfg, f);
    if (!cfg->n_aliases) fputs("models: no aliases\n", f);
    else fputs("models:\n", f);
    for (size_t i = 0; i < cfg->n_aliases; i++) print_alias(&cfg->aliases[i], f);

    fputs("local: model_dirs", f);
    if (!cfg->n_model_dirs) fputs(" (none besides the bundled model's)", f);
    for (size_t i = 0; i < cfg->n_model_dirs; i++) fprintf(f, "%s%s", i ? ", " : " ", cfg->model_dirs[i]);
    if (cfg->has_threads) fprintf(f, ", threads %d", cfg->threads);
    else fputs(", threads 0 (default: one per core)", f);
    if (cfg->has_ctx) fprintf(f, ", ctx %d", cfg->ctx);
    else fputs(", ctx 0 (default: the model's, at most 4096)", f);
    print_local_sizes(cfg, f);

    fputs("timeouts: ", f);
    print_ms(f, "connect_ms", cfg->connect_ms, RT_CONNECT_MS, ", ");
    print_ms(f, "first_byte_ms", cfg->first_byte_ms, RT_FIRST_BYTE_MS, ", ");
    print_ms(f, "idle_ms", cfg->idle_ms, RT_IDLE_MS, ", ");
    print_ms(f, "total_ms", cfg->total_ms, LX_CONFIG_DEFAULT_TOTAL_MS, "\n");

    fputs("cooldown: ", f);
    if (!cfg->has_cooldown_failures) fprintf(f, "failures %d (default), ", RT_COOLDOWN_FAILURES);
    else if (cfg->cooldown_failures < 0) fputs("failures 0 (never), ", f);
    else fprintf(f, "failures %d, ", cfg->cooldown_failures);
    if (cfg->has_cooldown_seconds) fprintf(f, "seconds %.10g\n", (double)cfg->cooldown_ms / 1000.0);
    else fprintf(f, "seconds %d (default)\n", RT_COOLDOWN_MS / 1000);

    fputs("records: ", f);
    if (!cfg->has_records) fputs("not set (the runtime's default)", f);
    else if (!cfg->records) fputs("none", f);
    else if (cfg->records_env) fprintf(f, "set (env:%s)", cfg->records_env);
    else print_url(f, cfg->records);
    if (cfg->has_records && cfg->records)
        fputs(cfg->records_omit_bodies ? " (bodies not stored)" : " (bodies stored)", f);
    fputc('\n', f);

    fprintf(f, "prices: %zu %s\n", cfg->n_prices, cfg->n_prices == 1 ? "entry" : "entries");
    for (size_t i = 0; i < cfg->n_prices; i++) {
        const llmux_model_info *m = &cfg->prices[i];
        bool first = true;
        fprintf(f, "  %s: ", m->id);
        print_price(f, "input", m->input_price, &first);
        print_price(f, "output", m->output_price, &first);
        print_price(f, "cache_read", m->cache_read_price, &first);
        print_price(f, "cache_write", m->cache_write_price, &first);
        fputs(" (USD per million tokens)\n", f);
    }
    if (cfg->has_server) {
        fprintf(f, "server:\n  listen: %s\n", cfg->server_listen ? cfg->server_listen : "(default 127.0.0.1:4000)");
        const lx_config_server_settings *ss = &cfg->server;
        /* Names, patterns and limits only: a key is held as its digest, and not even that is shown. */
        if (!ss->n_keys) fputs("  keys: none (every request is served; loopback only)\n", f);
        for (size_t i = 0; i < ss->n_keys; i++) {
            const lx_config_key *k = &ss->keys[i];
            fprintf(f, "  key %s: models [", k->name);
            for (size_t j = 0; j < k->n_models; j++) fprintf(f, "%s%s", j ? ", " : "", k->models[j]);
            fputs("]", f);
            if (k->budget_usd >= 0) {
                static const char *const per[] = {"", " a day", " a week", " a month"};
                fprintf(f, ", budget %.2f USD%s", k->budget_usd, per[k->budget_period]);
            }
            if (k->rpm) fprintf(f, ", %lld rpm", (long long)k->rpm);
            fputs("\n", f);
        }
        for (size_t i = 0; i < ss->n_cors_origins; i++) fprintf(f, "  cors origin: %s\n", ss->cors_origins[i]);
        if (ss->max_body_bytes) fprintf(f, "  max_body_bytes: %lld\n", (long long)ss->max_body_bytes);
        if (ss->max_streams_per_key) fprintf(f, "  max_streams_per_key: %lld\n", (long long)ss->max_streams_per_key);
        if (ss->has_responses_store_mb) fprintf(f, "  responses_store_mb: %lld\n", (long long)ss->responses_store_mb);
    }
    if (cfg->has_telemetry) {
        static const char *const levels[] = {"debug", "info", "warn", "error"};
        fprintf(f, "telemetry: log %s, log_level %s, otlp_endpoint ", cfg->telemetry_log ? cfg->telemetry_log : "off",
                levels[cfg->has_telemetry_log_level ? cfg->telemetry_log_level : LLMUX_LOG_INFO]);
        if (!cfg->otlp_endpoint) fputs("none", f);
        else if (cfg->otlp_endpoint_env) fprintf(f, "(env:%s)", cfg->otlp_endpoint_env);
        else print_url(f, cfg->otlp_endpoint);
        fputs(", metrics_key ", f);
        if (!cfg->metrics_key) fputs("none\n", f);
        else if (cfg->metrics_key_env) fprintf(f, "set (env:%s)\n", cfg->metrics_key_env);
        else fputs("set (in the file)\n", f);
    }
}
