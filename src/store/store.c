/* The store: URL → backend, migrations, and the mapping between records and rows (shared by both
 * backends, which only run statements). */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "core/error.h"
#include "store.h"

#define URL_MAX 4096

struct lx_store {
    const lx_store_backend *b;
    void *db;
    int version;
};

const char *lx_store_backend_name(const lx_store *s) { return s ? s->b->name : "none"; }
int lx_store_schema_version(const lx_store *s) { return s ? s->version : 0; }
int lx_store_schema_latest(void) {
    size_t n;
    const lx_migration *m = lx_store_migrations(&n);
    return m[n - 1].version;
}
void lx_store_set_busy_timeout(lx_store *s, int ms) {
    if (s) s->b->set_busy_timeout(s->db, ms);
}

static bool read_version(const lx_sql_row *row, void *ud, llmux_error_info *err) {
    *(int *)ud = row->is_null(row, 0) ? 0 : (int)row->i64(row, 0);
    return true;
}

static llmux_status migrate(lx_store *s, llmux_error_info *err) {
    llmux_status st = s->b->begin_migration(s->db, err);
    if (st != LLMUX_OK) return st;
    st = s->b->exec(s->db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", err);
    int version = 0;
    if (st == LLMUX_OK) st = s->b->query(s->db, "SELECT MAX(version) FROM schema_version", NULL, 0, read_version, &version, err);
    size_t n;
    const lx_migration *m = lx_store_migrations(&n);
    if (st == LLMUX_OK && version > m[n - 1].version)
        st = lx_error(err, LLMUX_E_CONFIGURATION,
                      "records: the database is at schema version %d, newer than this llmux (%d); upgrade llmux",
                      version, m[n - 1].version);
    for (size_t i = 0; st == LLMUX_OK && i < n; i++) {
        if (m[i].version <= version) continue;
        for (const char *const *q = m[i].statements; st == LLMUX_OK && *q; q++) st = s->b->exec(s->db, *q, err);
        lx_sql_param p = {.type = LX_SQL_INT, .i = m[i].version};
        if (st == LLMUX_OK)
            st = s->b->query(s->db, "INSERT INTO schema_version (version) VALUES ($1)", &p, 1, NULL, NULL, err);
        if (st == LLMUX_OK) version = m[i].version;
    }
    if (st == LLMUX_OK) st = s->b->exec(s->db, "COMMIT", err);
    if (st != LLMUX_OK) {
        s->b->exec(s->db, "ROLLBACK", NULL);
        return st;
    }
    s->version = version;
    return LLMUX_OK;
}

llmux_status lx_store_open(const char *url, lx_store **out, llmux_error_info *err) {
    *out = NULL;
    if (!url || !*url) return lx_error(err, LLMUX_E_CONFIGURATION, "records: empty URL");
    if (strlen(url) > URL_MAX) return lx_error(err, LLMUX_E_CONFIGURATION, "records: URL longer than %d bytes", URL_MAX);
    lx_store *s = calloc(1, sizeof *s);
    if (!s) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    llmux_status st;
    if (strncmp(url, "sqlite:", 7) == 0) {
        s->b = &lx_sqlite_backend;
        /* "sqlite:PATH"; "sqlite://PATH" is read the same way for those who write URLs. */
        const char *path = url + 7;
        if (strncmp(path, "//", 2) == 0) path += 2;
        st = lx_sqlite_open(path, &s->db, err);
    } else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
        s->b = &lx_pg_backend;
        st = lx_pg_open(url, &s->db, err);
    } else {
        char safe[256];
        lx_store_redact_url(url, safe, sizeof safe);
        st = lx_error(err, LLMUX_E_CONFIGURATION,
                      "records: unsupported URL \"%s\" (expected sqlite:PATH or postgresql://...)", safe);
    }
    if (st == LLMUX_OK) st = migrate(s, err);
    if (st != LLMUX_OK) {
        lx_store_close(s);
        return st;
    }
    *out = s;
    return LLMUX_OK;
}

void lx_store_close(lx_store *s) {
    if (!s) return;
    if (s->db) s->b->close(s->db);
    free(s);
}

/* ----------------------------------------------------------------- insert */

static lx_sql_param ptext(const char *s) { return (lx_sql_param){.type = s ? LX_SQL_TEXT : LX_SQL_NULL, .text = s}; }
static lx_sql_param pint(int64_t i) { return (lx_sql_param){.type = LX_SQL_INT, .i = i}; }
/* NaN and infinities have no SQL spelling both databases share: stored as NULL (read back NaN). */
static lx_sql_param preal(double d) { return (lx_sql_param){.type = isfinite(d) ? LX_SQL_REAL : LX_SQL_NULL, .d = d}; }
/* An attempt's times are NOT NULL with -1 for "unknown": a non-finite value is unknown. */
static lx_sql_param pms(double d) { return (lx_sql_param){.type = LX_SQL_REAL, .d = isfinite(d) ? d : -1}; }

static const char k_insert_exec[] =
    "INSERT INTO executions (id, replay_of, request_id, caller, started_at_ms, ended_at_ms, requested_model,"
    " plan_json, model, provider, status, error_message, finish_reason, input_tokens, output_tokens,"
    " cached_input_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_known, cost_input,"
    " cost_output, cost_cache_read, cost_cache_write, cost_total, cost_source, warnings_json, request_json,"
    " response_text, cache_write_1h_tokens, web_search_requests, cost_tools) VALUES ($1, $2, $3, $4, $5, $6, $7,"
    " $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29,"
    " $30, $31, $32)";

static const char k_insert_attempt[] =
    "INSERT INTO attempts (execution_id, n, target, started_at_ms, http_status, status, error_message,"
    " retry_delay_ms, ttft_ms, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

static llmux_status insert_one(lx_store *s, const lx_exec_record *r, llmux_error_info *err) {
    lx_sql_param p[] = {
        ptext(r->id),
        ptext(r->replay_of),
        ptext(r->request_id),
        ptext(r->caller),
        pint(r->started_at_ms),
        pint(r->ended_at_ms),
        ptext(r->requested_model),
        ptext(r->plan_json),
        ptext(r->model),
        ptext(r->provider),
        ptext(llmux_status_name(r->status)),
        ptext(r->error_message),
        ptext(llmux_finish_reason_name(r->finish_reason)),
        pint(r->usage.input_tokens),
        pint(r->usage.output_tokens),
        pint(r->usage.cached_input_tokens),
        pint(r->usage.cache_write_tokens),
        pint(r->usage.reasoning_tokens),
        pint(r->usage.total_tokens),
        pint(r->cost.known ? 1 : 0),
        preal(r->cost.input),
        preal(r->cost.output),
        preal(r->cost.cache_read),
        preal(r->cost.cache_write),
        preal(r->cost.total),
        ptext(r->cost_source),
        ptext(r->warnings_json),
        ptext(r->request_json),
        ptext(r->response_text),
        r->usage.cache_write_1h_tokens >= 0 ? pint(r->usage.cache_write_1h_tokens) : ptext(NULL),
        r->usage.web_search_requests >= 0 ? pint(r->usage.web_search_requests) : ptext(NULL),
        r->cost.tools > 0 ? preal(r->cost.tools) : ptext(NULL),
    };
    llmux_status st = s->b->query(s->db, k_insert_exec, p, (int)(sizeof p / sizeof p[0]), NULL, NULL, err);
    for (size_t i = 0; st == LLMUX_OK && i < r->n_attempts; i++) {
        const lx_attempt_record *a = &r->attempts[i];
        lx_sql_param q[] = {
            ptext(r->id),          pint(a->n),          ptext(a->target),
            pint(a->started_at_ms), pint(a->http_status), ptext(llmux_status_name(a->status)),
            ptext(a->error_message), pint(a->retry_delay_ms), pms(a->ttft_ms),
            pms(a->duration_ms),
        };
        st = s->b->query(s->db, k_insert_attempt, q, (int)(sizeof q / sizeof q[0]), NULL, NULL, err);
    }
    if (st != LLMUX_OK && err && st == LLMUX_E_INVALID_REQUEST) {
        /* Name the record whose constraint failed (a duplicate id). */
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "record %s: %s", r->id, err->message);
        lx_copy_field(err->message, sizeof err->message, msg);
    }
    return st;
}

llmux_status lx_store_insert(lx_store *s, lx_exec_record *const *recs, size_t n, llmux_error_info *err) {
    if (!s) return lx_error(err, LLMUX_E_INTERNAL, "records: no store");
    for (size_t i = 0; i < n; i++) {
        llmux_status st = lx_exec_record_validate(recs[i], err);
        if (st != LLMUX_OK) return st;
    }
    if (n == 0) return LLMUX_OK;
    llmux_status st = s->b->ensure_connected(s->db, err);
    if (st == LLMUX_OK) st = s->b->exec(s->db, "BEGIN", err);
    if (st != LLMUX_OK) return st;
    for (size_t i = 0; st == LLMUX_OK && i < n; i++) st = insert_one(s, recs[i], err);
    if (st == LLMUX_OK) st = s->b->exec(s->db, "COMMIT", err);
    if (st != LLMUX_OK) s->b->exec(s->db, "ROLLBACK", NULL);
    return st;
}

/* ------------------------------------------------------------------ read */

#define EXEC_COLUMNS                                                                                              \
    "id, replay_of, request_id, caller, started_at_ms, ended_at_ms, requested_model, plan_json, model, provider," \
    " status, error_message, finish_reason, input_tokens, output_tokens, cached_input_tokens,"                   \
    " cache_write_tokens, reasoning_tokens, total_tokens, cost_known, cost_input, cost_output,"                  \
    " cost_cache_read, cost_cache_write, cost_total, cost_source, warnings_json, request_json, response_text,"     \
    " cache_write_1h_tokens, web_search_requests, cost_tools"

typedef struct rows {
    lx_exec_record **v;
    size_t n, cap;
} rows;

/* A column's text copied; false when out of memory. NULL stays NULL. */
static bool col_dup(const lx_sql_row *row, int c, char **out) {
    const char *t = row->text(row, c);
    *out = NULL;
    if (!t) return true;
    *out = strdup(t);
    return *out != NULL;
}

static double col_real(const lx_sql_row *row, int c) { return row->is_null(row, c) ? NAN : row->f64(row, c); }

static bool read_exec(const lx_sql_row *row, void *ud, llmux_error_info *err) {
    rows *rs = ud;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        lx_exec_record **v = realloc(rs->v, cap * sizeof *v);
        if (!v) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory"), false;
        rs->v = v;
        rs->cap = cap;
    }
    lx_exec_record *r = calloc(1, sizeof *r);
    if (!r) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory"), false;
    rs->v[rs->n++] = r;
    bool ok = col_dup(row, 0, &r->id) && col_dup(row, 1, &r->replay_of) && col_dup(row, 2, &r->request_id) &&
              col_dup(row, 3, &r->caller) && col_dup(row, 6, &r->requested_model) && col_dup(row, 7, &r->plan_json) &&
              col_dup(row, 8, &r->model) && col_dup(row, 9, &r->provider) && col_dup(row, 11, &r->error_message) &&
              col_dup(row, 25, &r->cost_source) && col_dup(row, 26, &r->warnings_json) &&
              col_dup(row, 27, &r->request_json) && col_dup(row, 28, &r->response_text);
    if (!ok) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory"), false;
    r->started_at_ms = row->i64(row, 4);
    r->ended_at_ms = row->i64(row, 5);
    /* A name this build does not know (a newer writer) reads as internal/none rather than failing
     * the whole list. */
    if (!llmux_status_from_name(row->text(row, 10), &r->status)) r->status = LLMUX_E_INTERNAL;
    if (!llmux_finish_reason_from_name(row->text(row, 12), &r->finish_reason)) r->finish_reason = LLMUX_FINISH_NONE;
    r->usage.input_tokens = row->i64(row, 13);
    r->usage.output_tokens = row->i64(row, 14);
    r->usage.cached_input_tokens = row->i64(row, 15);
    r->usage.cache_write_tokens = row->i64(row, 16);
    r->usage.reasoning_tokens = row->i64(row, 17);
    r->usage.total_tokens = row->i64(row, 18);
    r->usage.cache_write_1h_tokens = row->is_null(row, 29) ? -1 : row->i64(row, 29);
    r->usage.web_search_requests = row->is_null(row, 30) ? -1 : row->i64(row, 30);
    r->cost.known = row->i64(row, 19) != 0;
    r->cost.input = col_real(row, 20);
    r->cost.output = col_real(row, 21);
    r->cost.cache_read = col_real(row, 22);
    r->cost.cache_write = col_real(row, 23);
    r->cost.total = col_real(row, 24);
    r->cost.tools = row->is_null(row, 31) ? 0 : row->f64(row, 31);
    return true;
}

typedef struct attempts_acc {
    lx_exec_record *r;
    size_t cap;
} attempts_acc;

static bool read_attempt(const lx_sql_row *row, void *ud, llmux_error_info *err) {
    attempts_acc *acc = ud;
    lx_exec_record *r = acc->r;
    if (r->n_attempts == acc->cap) {
        size_t cap = acc->cap ? acc->cap * 2 : 4;
        lx_attempt_record *v = realloc(r->attempts, cap * sizeof *v);
        if (!v) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory"), false;
        r->attempts = v;
        acc->cap = cap;
    }
    lx_attempt_record *a = &r->attempts[r->n_attempts++];
    memset(a, 0, sizeof *a);
    a->n = (int32_t)row->i64(row, 0);
    if (!col_dup(row, 1, &a->target) || !col_dup(row, 5, &a->error_message))
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory"), false;
    a->started_at_ms = row->i64(row, 2);
    a->http_status = (int32_t)row->i64(row, 3);
    if (!llmux_status_from_name(row->text(row, 4), &a->status)) a->status = LLMUX_E_INTERNAL;
    a->retry_delay_ms = row->i64(row, 6);
    a->ttft_ms = row->f64(row, 7);
    a->duration_ms = row->f64(row, 8);
    return true;
}

static llmux_status load_attempts(lx_store *s, lx_exec_record *r, llmux_error_info *err) {
    attempts_acc acc = {r, 0};
    lx_sql_param p = ptext(r->id);
    return s->b->query(s->db,
                       "SELECT n, target, started_at_ms, http_status, status, error_message, retry_delay_ms, ttft_ms,"
                       " duration_ms FROM attempts WHERE execution_id = $1 ORDER BY n",
                       &p, 1, read_attempt, &acc, err);
}

static llmux_status check_filter_text(const char *s, const char *name, llmux_error_info *err) {
    if (!s) return LLMUX_OK;
    if (!*s || strlen(s) > LX_RECORD_FILTER_TEXT_MAX)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "records filter: %s must be 1..%d bytes", name,
                        LX_RECORD_FILTER_TEXT_MAX);
    return LLMUX_OK;
}

llmux_status lx_store_list(lx_store *s, const lx_record_filter *f, lx_exec_record ***out, size_t *n,
                           llmux_error_info *err) {
    *out = NULL;
    *n = 0;
    if (!s) return lx_error(err, LLMUX_E_INTERNAL, "records: no store");
    lx_record_filter none = {0};
    if (!f) f = &none;
    /* A server restarted since the last call: reconnect rather than fail this read. */
    llmux_status cst = s->b->ensure_connected(s->db, err);
    if (cst != LLMUX_OK) return cst;
    llmux_status st = check_filter_text(f->model, "model", err);
    if (st == LLMUX_OK) st = check_filter_text(f->status, "status", err);
    if (st != LLMUX_OK) return st;
    if (f->status && !llmux_status_from_name(f->status, NULL))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "records filter: unknown status \"%s\" (e.g. ok, cancelled, rate_limited)",
                        f->status);
    if (f->before_id && !lx_record_id_valid(f->before_id))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "records filter: before_id is not a valid execution id");
    if (f->since_ms < 0) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records filter: since must be >= 0");
    if (f->limit > LX_RECORD_LIST_MAX)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "records filter: limit must be at most %d", LX_RECORD_LIST_MAX);
    size_t limit = f->limit ? f->limit : LX_RECORD_LIST_DEFAULT;

    /* Every condition is always present and switched off by its own parameter, so one statement
     * text serves every filter (no SQL assembled from input). */
    static const char sql[] =
        "SELECT " EXEC_COLUMNS " FROM executions WHERE started_at_ms >= $1"
        " AND ($2 IS NULL OR requested_model = $2 OR model = $2)"
        " AND ($3 IS NULL OR status = $3)"
        " AND ($4 IS NULL OR started_at_ms < (SELECT started_at_ms FROM executions WHERE id = $4)"
        "  OR (started_at_ms = (SELECT started_at_ms FROM executions WHERE id = $4) AND id < $4))"
        " ORDER BY started_at_ms DESC, id DESC LIMIT $5";
    /* PostgreSQL must know a parameter's type where "$2 IS NULL" alone cannot tell it. */
    static const char sql_pg[] =
        "SELECT " EXEC_COLUMNS " FROM executions WHERE started_at_ms >= $1::bigint"
        " AND ($2::text IS NULL OR requested_model = $2::text OR model = $2::text)"
        " AND ($3::text IS NULL OR status = $3::text)"
        " AND ($4::text IS NULL OR started_at_ms < (SELECT started_at_ms FROM executions WHERE id = $4::text)"
        "  OR (started_at_ms = (SELECT started_at_ms FROM executions WHERE id = $4::text) AND id < $4::text))"
        " ORDER BY started_at_ms DESC, id DESC LIMIT $5::bigint";
    lx_sql_param p[] = {pint(f->since_ms), ptext(f->model), ptext(f->status), ptext(f->before_id), pint((int64_t)limit)};
    rows rs = {0};
    st = s->b->query(s->db, s->b == &lx_pg_backend ? sql_pg : sql, p, 5, read_exec, &rs, err);
    for (size_t i = 0; st == LLMUX_OK && f->with_attempts && i < rs.n; i++) st = load_attempts(s, rs.v[i], err);
    if (st != LLMUX_OK) {
        lx_exec_record_list_free(rs.v, rs.n);
        return st;
    }
    if (rs.n == 0) {
        free(rs.v);
        rs.v = NULL;
    }
    *out = rs.v;
    *n = rs.n;
    return LLMUX_OK;
}

llmux_status lx_store_get(lx_store *s, const char *id, lx_exec_record **out, llmux_error_info *err) {
    *out = NULL;
    if (!s) return lx_error(err, LLMUX_E_INTERNAL, "records: no store");
    if (!lx_record_id_valid(id))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "records: not a valid execution id (1..%d characters of A-Z a-z 0-9 . _ : -)",
                        LX_RECORD_ID_MAX);
    llmux_status st = s->b->ensure_connected(s->db, err);
    if (st != LLMUX_OK) return st;
    rows rs = {0};
    lx_sql_param p = ptext(id);
    st = s->b->query(s->db, "SELECT " EXEC_COLUMNS " FROM executions WHERE id = $1", &p, 1, read_exec, &rs, err);
    if (st == LLMUX_OK && rs.n == 0) st = lx_error(err, LLMUX_E_INVALID_REQUEST, "no record %s", id);
    if (st == LLMUX_OK) st = load_attempts(s, rs.v[0], err);
    if (st != LLMUX_OK) {
        lx_exec_record_list_free(rs.v, rs.n);
        return st;
    }
    *out = rs.v[0];
    free(rs.v);
    return LLMUX_OK;
}

static bool read_sum(const lx_sql_row *row, void *ud, llmux_error_info *err) {
    (void)err;
    *(double *)ud = row->is_null(row, 0) ? 0.0 : row->f64(row, 0);
    return true;
}

llmux_status lx_store_caller_cost(lx_store *s, const char *caller, int64_t since_ms, double *usd, llmux_error_info *err) {
    *usd = 0.0;
    if (!s) return lx_error(err, LLMUX_E_INTERNAL, "records: no store");
    if (!caller) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records filter: caller is required");
    llmux_status st = check_filter_text(caller, "caller", err);
    if (st != LLMUX_OK) return st;
    if (since_ms < 0) return lx_error(err, LLMUX_E_INVALID_REQUEST, "records filter: since must be >= 0");
    st = s->b->ensure_connected(s->db, err);
    if (st != LLMUX_OK) return st;
    static const char sql[] = "SELECT SUM(cost_total) FROM executions WHERE caller = $1 AND started_at_ms >= $2"
                              " AND cost_known = 1 AND cost_total IS NOT NULL";
    static const char sql_pg[] = "SELECT SUM(cost_total) FROM executions WHERE caller = $1::text"
                                 " AND started_at_ms >= $2::bigint AND cost_known = 1 AND cost_total IS NOT NULL";
    lx_sql_param p[] = {ptext(caller), pint(since_ms)};
    return s->b->query(s->db, s->b == &lx_pg_backend ? sql_pg : sql, p, 2, read_sum, usd, err);
}
