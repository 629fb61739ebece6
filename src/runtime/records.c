/* The public read API of execution records (llmux_records_*): a mutex-guarded store handle and
 * the store's JSON of each record. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "llmux.h"
#include "store/store.h"

/* A list's JSON lines are at most this large; a list past it fails rather than growing without
 * bound (10000 records with 16 MiB bodies would be far more). Page with before_id instead. */
#define RECORDS_LIST_MAX_BYTES (512u * 1024u * 1024u)

struct llmux_records {
    pthread_mutex_t mu;
    lx_store *store;
};

llmux_records_filter llmux_records_filter_default(void) {
    llmux_records_filter f;
    memset(&f, 0, sizeof f);
    return f;
}

llmux_status llmux_records_open(const char *url, llmux_records **out, llmux_error_info *err) {
    if (!out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records: out is NULL");
    *out = NULL;
    llmux_records *r = calloc(1, sizeof *r);
    if (!r) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    llmux_status st = lx_store_open(url, &r->store, err);
    if (st != LLMUX_OK) {
        free(r);
        return st;
    }
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return LLMUX_OK;
}

void llmux_records_close(llmux_records *rec) {
    if (!rec) return;
    lx_store_close(rec->store);
    pthread_mutex_destroy(&rec->mu);
    free(rec);
}

llmux_status llmux_records_list(llmux_records *rec, const llmux_records_filter *filter, char **jsonl,
                                llmux_error_info *err) {
    if (!jsonl) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records: jsonl is NULL");
    *jsonl = NULL;
    if (!rec) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records: handle is NULL");
    llmux_records_filter d = llmux_records_filter_default();
    if (!filter) filter = &d;
    lx_record_filter f = {
        .since_ms = filter->since_ms,
        .model = filter->model,
        .status = filter->status,
        .limit = filter->limit,
        .before_id = filter->before_id,
        .with_attempts = filter->with_attempts,
    };
    lx_exec_record **v = NULL;
    size_t n = 0;
    pthread_mutex_lock(&rec->mu);
    llmux_status st = lx_store_list(rec->store, &f, &v, &n, err);
    pthread_mutex_unlock(&rec->mu);
    if (st != LLMUX_OK) return st;
    lx_buf b;
    lx_buf_init(&b, RECORDS_LIST_MAX_BYTES);
    for (size_t i = 0; st == LLMUX_OK && i < n; i++) {
        char *line = lx_exec_record_to_json(v[i], filter->with_attempts);
        if (!line) st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
        else if (!lx_buf_append_str(&b, line) || !lx_buf_append(&b, "\n", 1))
            st = lx_error(err, LLMUX_E_INVALID_REQUEST,
                          "records: the list is larger than %u bytes; use a smaller limit and page with before_id",
                          RECORDS_LIST_MAX_BYTES);
        free(line);
    }
    lx_exec_record_list_free(v, n);
    if (st != LLMUX_OK) {
        lx_buf_free(&b);
        return st;
    }
    *jsonl = lx_buf_steal(&b);
    if (!*jsonl) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    return LLMUX_OK;
}

llmux_status llmux_records_get(llmux_records *rec, const char *id, char **json, llmux_error_info *err) {
    if (!json) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records: json is NULL");
    *json = NULL;
    if (!rec) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records: handle is NULL");
    lx_exec_record *r = NULL;
    pthread_mutex_lock(&rec->mu);
    llmux_status st = lx_store_get(rec->store, id, &r, err);
    pthread_mutex_unlock(&rec->mu);
    if (st != LLMUX_OK) return st;
    *json = lx_exec_record_to_json(r, true);
    lx_exec_record_free(r);
    if (!*json) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    return LLMUX_OK;
}

llmux_status llmux_records_caller_cost(llmux_records *rec, const char *caller, int64_t since_ms, double *usd,
                                       llmux_error_info *err) {
    if (!usd) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records: usd is NULL");
    *usd = 0.0;
    if (!rec) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records: handle is NULL");
    pthread_mutex_lock(&rec->mu);
    llmux_status st = lx_store_caller_cost(rec->store, caller, since_ms, usd, err);
    pthread_mutex_unlock(&rec->mu);
    if (st != LLMUX_OK) *usd = 0.0;
    return st;
}
