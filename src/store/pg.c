/* PostgreSQL backend over libpq: one connection, parameters sent as text (libpq's default format;
 * doubles in their shortest round-trip form so they read back exactly), client encoding UTF-8.
 * https://www.postgresql.org/docs/current/libpq-exec.html
 *
 * Statements with parameters are prepared once per session (PQprepare, then PQexecPrepared:
 * the server parses and plans each only once) and remembered by their SQL text. Prepared
 * statements belong to the server session, so a reconnect forgets them all. */
#define _XOPEN_SOURCE 700
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "core/error.h"
#include "core/json.h"

#define PG_MAX_PARAMS 64
/* Statements prepared per session; the store uses fewer. When full, a statement runs unprepared
 * (PQexecParams) rather than evicting one (DEALLOCATE would fail inside a failed transaction). */
#define PG_CACHE_SLOTS 16

typedef struct pg_prepared {
    char *sql;     /* the key; NULL = free slot */
    char name[16]; /* "lx_N", unique within the session */
} pg_prepared;

/* One connection and what its session has prepared; used by one thread at a time. */
typedef struct pg_conn {
    PGconn *c;
    pg_prepared cache[PG_CACHE_SLOTS];
    unsigned next_name;
} pg_conn;

static void forget_prepared(pg_conn *pc) {
    for (int i = 0; i < PG_CACHE_SLOTS; i++) {
        free(pc->cache[i].sql);
        pc->cache[i].sql = NULL;
    }
}

/* libpq's messages end with a newline and may span lines; keep the first line. They name host and
 * port but never the password. */
static void first_line(const char *msg, char *out, size_t size) {
    if (!msg) msg = "";
    size_t n = strcspn(msg, "\n");
    if (n >= size) n = size - 1;
    memcpy(out, msg, n);
    out[n] = '\0';
}

static void quiet_notices(void *arg, const char *message) { (void)arg, (void)message; }

llmux_status lx_pg_open(const char *url, void **out, llmux_error_info *err) {
    *out = NULL;
    /* Defaults first, so the URL's own values (expanded from dbname after them) win. Without a
     * connect timeout libpq waits for the kernel's TCP timeout on an unreachable host; without a
     * statement timeout a lock held elsewhere could stall the writer, and shutdown, forever. */
    const char *const keys[] = {"connect_timeout", "options", "dbname", NULL};
    const char *const values[] = {"10", "-c statement_timeout=60000", url, NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (!c) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
        char safe[256], msg[400];
        lx_store_redact_url(url, safe, sizeof safe);
        first_line(PQerrorMessage(c), msg, sizeof msg);
        PQfinish(c);
        return lx_error(err, LLMUX_E_CONFIGURATION, "records: cannot connect to %s: %s", safe, msg);
    }
    /* Notices ("relation already exists, skipping") are not errors; libpq would print them. */
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    if (PQsetClientEncoding(c, "UTF8") != 0) {
        PQfinish(c);
        return lx_error(err, LLMUX_E_CONFIGURATION, "records: the server refused client encoding UTF8");
    }
    pg_conn *pc = calloc(1, sizeof *pc);
    if (!pc) {
        PQfinish(c);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    }
    pc->c = c;
    *out = pc;
    return LLMUX_OK;
}

static llmux_status fail_result(PGconn *c, PGresult *res, llmux_error_info *err) {
    char msg[400];
    first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(c), msg, sizeof msg);
    if (!*msg) first_line(PQerrorMessage(c), msg, sizeof msg);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    llmux_status st = LLMUX_E_INTERNAL;
    if (PQstatus(c) == CONNECTION_BAD) st = LLMUX_E_NETWORK;
    /* Class 23: integrity constraint violation (a duplicate id): the record's fault. */
    else if (state && strncmp(state, "23", 2) == 0) st = LLMUX_E_INVALID_REQUEST;
    if (res) PQclear(res);
    return lx_error(err, st, "records (postgresql): %s", msg);
}

static llmux_status pg_exec(void *h, const char *sql, llmux_error_info *err) {
    PGconn *c = ((pg_conn *)h)->c;
    PGresult *res = PQexec(c, sql);
    ExecStatusType t = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) return fail_result(c, res, err);
    PQclear(res);
    return LLMUX_OK;
}

typedef struct pg_row {
    PGresult *res;
    int r;
} pg_row;

static bool row_is_null(const lx_sql_row *row, int c) {
    const pg_row *p = row->impl;
    return PQgetisnull(p->res, p->r, c) != 0;
}
static const char *row_text(const lx_sql_row *row, int c) {
    const pg_row *p = row->impl;
    if (PQgetisnull(p->res, p->r, c)) return NULL;
    return PQgetvalue(p->res, p->r, c);
}
static int64_t row_i64(const lx_sql_row *row, int c) {
    const char *t = row_text(row, c);
    return t ? strtoll(t, NULL, 10) : 0;
}
static double row_f64(const lx_sql_row *row, int c) {
    const char *t = row_text(row, c);
    return t ? strtod(t, NULL) : 0.0;
}

/* The name under which sql is prepared in this session, preparing it now if needed; NULL when it
 * must run unprepared (the cache is full, or the server refused: PQexecParams then reports the
 * same error in the usual way). */
static const char *prepared_name(pg_conn *pc, const char *sql, int n_params) {
    int free_slot = -1;
    for (int i = 0; i < PG_CACHE_SLOTS; i++) {
        if (!pc->cache[i].sql) {
            if (free_slot < 0) free_slot = i;
        } else if (strcmp(pc->cache[i].sql, sql) == 0) {
            return pc->cache[i].name;
        }
    }
    if (free_slot < 0) return NULL;
    pg_prepared *e = &pc->cache[free_slot];
    snprintf(e->name, sizeof e->name, "lx_%u", pc->next_name++);
    /* Parameter types are left to the server to infer, as PQexecParams does. */
    PGresult *res = PQprepare(pc->c, e->name, sql, n_params, NULL);
    bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok || !(e->sql = strdup(sql))) return NULL;
    return e->name;
}

static llmux_status pg_query(void *h, const char *sql, const lx_sql_param *params, int n_params, lx_sql_row_cb cb,
                             void *ud, llmux_error_info *err) {
    pg_conn *pc = h;
    PGconn *c = pc->c;
    if (n_params > PG_MAX_PARAMS) return lx_error(err, LLMUX_E_INTERNAL, "records (postgresql): too many parameters");
    const char *values[PG_MAX_PARAMS];
    char nums[PG_MAX_PARAMS][40];
    for (int i = 0; i < n_params; i++) {
        const lx_sql_param *p = &params[i];
        switch (p->type) {
        case LX_SQL_TEXT: values[i] = p->text; break;
        case LX_SQL_INT:
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)p->i);
            values[i] = nums[i];
            break;
        case LX_SQL_REAL:
            lx_json_format_double(nums[i], p->d);
            values[i] = nums[i];
            break;
        default: values[i] = NULL; break;
        }
    }
    const char *name = prepared_name(pc, sql, n_params);
    PGresult *res = name ? PQexecPrepared(c, name, n_params, values, NULL, NULL, 0)
                         : PQexecParams(c, sql, n_params, NULL, values, NULL, NULL, 0);
    ExecStatusType t = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
        /* 26000 (invalid_sql_statement_name): something (DISCARD ALL from a pooler) dropped the
         * session's statements; forget them so the writer's retry prepares again. */
        const char *state = name && res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (state && strcmp(state, "26000") == 0) forget_prepared(pc);
        return fail_result(c, res, err);
    }
    llmux_status st = LLMUX_OK;
    if (cb && t == PGRES_TUPLES_OK) {
        pg_row p = {res, 0};
        lx_sql_row row = {&p, row_is_null, row_text, row_i64, row_f64};
        int n = PQntuples(res);
        for (p.r = 0; p.r < n; p.r++) {
            if (!cb(&row, ud, err)) {
                st = err && err->status != LLMUX_OK ? err->status : LLMUX_E_INTERNAL;
                break;
            }
        }
    }
    PQclear(res);
    return st;
}

static llmux_status pg_begin_migration(void *h, llmux_error_info *err) {
    llmux_status st = pg_exec(h, "BEGIN", err);
    /* A transaction-scoped advisory lock: two processes starting on a fresh database migrate one
     * after the other (CREATE TABLE IF NOT EXISTS alone races on the catalog). The key is
     * arbitrary, "llmux" in ASCII. */
    if (st == LLMUX_OK) st = pg_exec(h, "SELECT pg_advisory_xact_lock(465775244664)", err);
    return st;
}

static llmux_status pg_ensure(void *h, llmux_error_info *err) {
    pg_conn *pc = h;
    PGconn *c = pc->c;
    if (PQstatus(c) == CONNECTION_OK) return LLMUX_OK;
    forget_prepared(pc); /* a new session has none of them */
    PQreset(c);
    if (PQstatus(c) == CONNECTION_OK) {
        PQsetClientEncoding(c, "UTF8");
        return LLMUX_OK;
    }
    char msg[400];
    first_line(PQerrorMessage(c), msg, sizeof msg);
    return lx_error(err, LLMUX_E_NETWORK, "records (postgresql): connection lost: %s", msg);
}

static void pg_busy(void *h, int ms) { (void)h, (void)ms; }
static void pg_close(void *h) {
    pg_conn *pc = h;
    if (!pc) return;
    forget_prepared(pc);
    PQfinish(pc->c);
    free(pc);
}

const lx_store_backend lx_pg_backend = {
    .name = "postgresql",
    .exec = pg_exec,
    .query = pg_query,
    .begin_migration = pg_begin_migration,
    .ensure_connected = pg_ensure,
    .set_busy_timeout = pg_busy,
    .close = pg_close,
};
