/* The text forms of `llmux records list` and `show`, rendered from the JSON the public API
 * returns (read with jansson). Text from a record never reaches the terminal with its control
 * characters: a stored response could otherwise drive it. */
#define _XOPEN_SOURCE 700
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void print_time(int64_t ms) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&secs, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm)) {
        printf("%lld", (long long)ms);
        return;
    }
    printf("%s.%03dZ", buf, (int)(ms % 1000));
}

/* A decimal without an exponent ("80", "0.000015"): the fewest digits after the point, up to
 * max_frac, that read back as v. */
static void print_decimal(double v, int max_frac) {
    char buf[64];
    for (int prec = 0; prec <= max_frac; prec++) {
        snprintf(buf, sizeof buf, "%.*f", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, stdout);
}

static const char *jstr(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : NULL;
}
static int64_t jint(const json_t *o, const char *key, int64_t def) {
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

/* Text from a record field without control characters (a response may hold escapes that would
 * drive the terminal); newlines kept only where allowed. */
static void print_clean(const char *s, bool newlines) {
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if (*p == '\n' && newlines) fputc('\n', stdout);
        else if (*p < 0x20 || *p == 0x7f) fputc(*p == '\t' ? ' ' : '?', stdout);
        else fputc(*p, stdout);
    }
}

static void print_cost(const json_t *rec) {
    const json_t *cost = json_object_get(rec, "cost");
    const json_t *total = json_object_get(cost, "total");
    if (json_is_true(json_object_get(cost, "known")) && json_is_number(total)) {
        fputc('$', stdout);
        print_decimal(json_number_value(total), 10);
    } else {
        fputs("?", stdout);
    }
}

static void print_model(const json_t *rec) {
    const char *req = jstr(rec, "requested_model"), *model = jstr(rec, "model"), *prov = jstr(rec, "provider");
    print_clean(req ? req : "-", false);
    if (model) {
        fputs(" -> ", stdout);
        if (prov) {
            print_clean(prov, false);
            fputc('/', stdout);
        }
        print_clean(model, false);
    }
}

void cli_records_print_line(const json_t *rec) {
    print_clean(jstr(rec, "id"), false);
    fputc('\t', stdout);
    print_time(jint(rec, "started_at_ms", 0));
    printf("\t%s\t", jstr(rec, "status") ? jstr(rec, "status") : "?");
    print_model(rec);
    printf("\t%lldms", (long long)(jint(rec, "ended_at_ms", 0) - jint(rec, "started_at_ms", 0)));
    const json_t *u = json_object_get(rec, "usage");
    int64_t in = jint(u, "input_tokens", -1), out = jint(u, "output_tokens", -1);
    if (in >= 0) printf("\tin=%lld", (long long)in);
    else fputs("\tin=?", stdout);
    if (out >= 0) printf(" out=%lld", (long long)out);
    else fputs(" out=?", stdout);
    fputs("\tcost=", stdout);
    print_cost(rec);
    fputc('\n', stdout);
}

static void label(const char *name) { printf("%-16s", name); }

static void print_json_field(const char *name, const json_t *v) {
    if (!v || json_is_null(v)) return;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    label(name);
    print_clean(text ? text : "?", false);
    fputc('\n', stdout);
    free(text);
}

static void print_text_field(const char *name, const char *s) {
    if (!s) return;
    label(name);
    print_clean(s, false);
    fputc('\n', stdout);
}

void cli_records_print_show(const json_t *rec) {
    print_text_field("id:", jstr(rec, "id"));
    print_text_field("replay_of:", jstr(rec, "replay_of"));
    print_text_field("request_id:", jstr(rec, "request_id"));
    print_text_field("caller:", jstr(rec, "caller"));
    label("started:");
    print_time(jint(rec, "started_at_ms", 0));
    printf("\n");
    label("duration:");
    printf("%lld ms\n", (long long)(jint(rec, "ended_at_ms", 0) - jint(rec, "started_at_ms", 0)));
    label("model:");
    print_model(rec);
    fputc('\n', stdout);
    print_text_field("status:", jstr(rec, "status"));
    print_text_field("finish_reason:", jstr(rec, "finish_reason"));
    print_text_field("error:", jstr(rec, "error_message"));
    print_json_field("usage:", json_object_get(rec, "usage"));
    label("cost:");
    print_cost(rec);
    if (jstr(rec, "cost_source")) {
        fputs(" (", stdout);
        print_clean(jstr(rec, "cost_source"), false);
        fputc(')', stdout);
    }
    fputc('\n', stdout);
    print_json_field("warnings:", json_object_get(rec, "warnings"));
    print_json_field("plan:", json_object_get(rec, "plan"));
    const json_t *attempts = json_object_get(rec, "attempts");
    printf("attempts:       %zu\n", json_array_size(attempts));
    size_t i;
    const json_t *a;
    json_array_foreach(attempts, i, a) {
        printf("  #%lld  ", (long long)jint(a, "n", (int64_t)i));
        print_clean(jstr(a, "target"), false);
        fputs("  ", stdout);
        print_time(jint(a, "started_at_ms", 0));
        printf("  %s", jstr(a, "status") ? jstr(a, "status") : "?");
        int64_t http = jint(a, "http_status", 0);
        if (http) printf("  http=%lld", (long long)http);
        const json_t *d = json_object_get(a, "duration_ms");
        if (json_is_number(d)) {
            fputs("  duration=", stdout);
            print_decimal(json_number_value(d), 3);
            fputs("ms", stdout);
        }
        const json_t *t = json_object_get(a, "ttft_ms");
        if (json_is_number(t) && json_number_value(t) >= 0) {
            fputs("  ttft=", stdout);
            print_decimal(json_number_value(t), 3);
            fputs("ms", stdout);
        }
        int64_t delay = jint(a, "retry_delay_ms", -1);
        if (delay >= 0) printf("  then waited %lldms", (long long)delay);
        if (jstr(a, "error_message")) {
            fputs("  error: ", stdout);
            print_clean(jstr(a, "error_message"), false);
        }
        fputc('\n', stdout);
    }
    print_json_field("request:", json_object_get(rec, "request"));
    if (jstr(rec, "response_text")) {
        fputs("response:\n", stdout);
        print_clean(jstr(rec, "response_text"), true);
        fputc('\n', stdout);
    }
}
