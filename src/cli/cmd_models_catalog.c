/* `llmux models --catalog [--json]`: the runtime's merged model catalog (the data shipped with
 * llmux, configured prices, discovered entries), as a table or as llmux_catalog_export_json's
 * JSON with each price's source and date. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

/* A cell: the number, or "-" when the catalog does not know it. */
static const char *cell(json_t *v, char *buf, size_t size) {
    if (json_is_integer(v)) snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_number(v)) snprintf(buf, size, "%.6g", json_number_value(v));
    else snprintf(buf, size, "-");
    return buf;
}

static const char *text(json_t *obj, const char *key) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

/* Prices per million tokens; DATE is the day a shipped price was read, SOURCE where the price in
 * use came from (configured, static, discovered). */
static int print_table(const char *json) {
    json_error_t jerr;
    json_t *arr = json_loads(json, 0, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return cli_fail(LLMUX_E_INTERNAL, "the catalog export is not a JSON array");
    }
    int w = 2;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        size_t n = strlen(text(json_array_get(arr, i), "id"));
        if ((int)n > w) w = n > 200 ? 200 : (int)n;
    }
    printf("%-*s %9s %10s %8s %8s %8s %8s %-10s %s\n", w, "ID", "CONTEXT", "MAX_OUTPUT", "INPUT", "CACHED", "WRITE",
           "OUTPUT", "DATE", "SOURCE");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *m = json_array_get(arr, i);
        char c[32], mo[32], in[32], cr[32], cw[32], out[32];
        printf("%-*s %9s %10s %8s %8s %8s %8s %-10s %s\n", w, text(m, "id"),
               cell(json_object_get(m, "context_length"), c, sizeof c),
               cell(json_object_get(m, "max_output_tokens"), mo, sizeof mo),
               cell(json_object_get(m, "input_price"), in, sizeof in),
               cell(json_object_get(m, "cache_read_price"), cr, sizeof cr),
               cell(json_object_get(m, "cache_write_price"), cw, sizeof cw),
               cell(json_object_get(m, "output_price"), out, sizeof out), text(m, "price_date"),
               text(m, "price_source"));
    }
    json_decref(arr);
    return 0;
}

int cli_models_catalog(const lx_config *cfg, int json) {
    llmux_runtime_params params = llmux_runtime_default_params();
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    llmux_status st = llmux_runtime_create(&params, &rt, &err);
    if (st == LLMUX_OK && (st = cli_config_prices(rt, cfg, &err)) != LLMUX_OK) {
        llmux_runtime_destroy(rt);
        rt = NULL;
    }
    if (st != LLMUX_OK) return cli_fail(st, err.message);
    char *doc = NULL;
    st = llmux_catalog_export_json(rt, &doc, &err);
    int code = 0;
    if (st != LLMUX_OK) code = cli_fail(st, err.message);
    else if (json) printf("%s\n", doc);
    else code = print_table(doc);
    if (code == 0 && !cli_stdout_ok()) code = cli_io_error("write error", NULL, errno);
    llmux_free(doc);
    llmux_runtime_destroy(rt);
    return code;
}
