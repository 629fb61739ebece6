/* SQLite backend: one connection in WAL mode (readers never block the writer; a commit is one
 * append to the WAL file), foreign keys on, synchronous=NORMAL (in WAL mode a power loss may undo
 * the last commits but never corrupts the database; a process crash loses nothing committed:
 * https://www.sqlite.org/pragma.html#pragma_synchronous). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "core/error.h"

#define SQLITE_SQL_MAX 8192

/* Creates the missing directories above path (mkdir -p of its dirname). */
static llmux_status make_parents(const char *path, llmux_error_info *err) {
    size_t len = strlen(path);
    char *dir = malloc(len + 1);
    if (!dir) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        free(dir);
        return LLMUX_OK;
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                llmux_status st = lx_error(err, LLMUX_E_CONFIGURATION, "records: cannot create directory %s: %s", dir,
                                           strerror(errno));
                free(dir);
                return st;
            }
            *p = c;
            if (c == '\0') break;
        }
    }
    free(dir);
    return LLMUX_OK;
}

static llmux_status fail_db(sqlite3 *db, int rc, llmux_error_info *err, const char *what) {
    /* Busy and locked are another process holding the database: worth a retry, like a network
     * failure; constraint violations are the record's fault. */
    llmux_status st = LLMUX_E_INTERNAL;
    int prim = rc & 0xff;
    if (prim == SQLITE_CONSTRAINT) st = LLMUX_E_INVALID_REQUEST;
    else if (prim == SQLITE_NOMEM) st = LLMUX_E_OUT_OF_MEMORY;
    return lx_error(err, st, "records (sqlite): %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

llmux_status lx_sqlite_open(const char *path, void **out, llmux_error_info *err) {
    *out = NULL;
    if (!path || !*path) return lx_error(err, LLMUX_E_CONFIGURATION, "records: \"sqlite:\" needs a file path");
    llmux_status st = make_parents(path, err);
    if (st != LLMUX_OK) return st;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = lx_error(err, LLMUX_E_CONFIGURATION, "records: cannot open %s: %s", path,
                      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return st;
    }
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", NULL, NULL,
                      &msg);
    if (rc != SQLITE_OK) {
        st = lx_error(err, LLMUX_E_CONFIGURATION, "records: %s: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close(db);
        return st;
    }
    *out = db;
    return LLMUX_OK;
}

static llmux_status sq_exec(void *h, const char *sql, llmux_error_info *err) {
    sqlite3 *db = h;
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return fail_db(db, rc, err, sql);
    return LLMUX_OK;
}

static bool row_is_null(const lx_sql_row *r, int c) { return sqlite3_column_type(r->impl, c) == SQLITE_NULL; }
static const char *row_text(const lx_sql_row *r, int c) {
    if (row_is_null(r, c)) return NULL;
    return (const char *)sqlite3_column_text(r->impl, c);
}
static int64_t row_i64(const lx_sql_row *r, int c) { return sqlite3_column_int64(r->impl, c); }
static double row_f64(const lx_sql_row *r, int c) { return sqlite3_column_double(r->impl, c); }

static llmux_status sq_query(void *h, const char *sql, const lx_sql_param *params, int n_params, lx_sql_row_cb cb,
                             void *ud, llmux_error_info *err) {
    sqlite3 *db = h;
    /* $N → ?N: the same numbered parameter in SQLite's spelling (no '$' appears in our SQL
     * otherwise). */
    char text[SQLITE_SQL_MAX];
    size_t len = strlen(sql);
    if (len >= sizeof text) return lx_error(err, LLMUX_E_INTERNAL, "records (sqlite): statement too long");
    for (size_t i = 0; i <= len; i++) text[i] = sql[i] == '$' ? '?' : sql[i];
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, text, -1, &stmt, NULL);
    if (rc != SQLITE_OK) return fail_db(db, rc, err, "prepare");
    for (int i = 0; i < n_params && rc == SQLITE_OK; i++) {
        const lx_sql_param *p = &params[i];
        switch (p->type) {
        case LX_SQL_TEXT:
            rc = p->text ? sqlite3_bind_text(stmt, i + 1, p->text, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, i + 1);
            break;
        case LX_SQL_INT: rc = sqlite3_bind_int64(stmt, i + 1, p->i); break;
        case LX_SQL_REAL: rc = sqlite3_bind_double(stmt, i + 1, p->d); break;
        default: rc = sqlite3_bind_null(stmt, i + 1); break;
        }
    }
    if (rc != SQLITE_OK) {
        llmux_status st = fail_db(db, rc, err, "bind");
        sqlite3_finalize(stmt);
        return st;
    }
    lx_sql_row row = {stmt, row_is_null, row_text, row_i64, row_f64};
    llmux_status st = LLMUX_OK;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (cb && !cb(&row, ud, err)) {
            st = err ? err->status : LLMUX_E_INTERNAL;
            if (st == LLMUX_OK) st = LLMUX_E_INTERNAL;
            break;
        }
    }
    if (st == LLMUX_OK && rc != SQLITE_DONE) st = fail_db(db, rc, err, "step");
    sqlite3_finalize(stmt);
    return st;
}

static llmux_status sq_begin_migration(void *h, llmux_error_info *err) {
    /* IMMEDIATE takes the write lock now, so two processes opening a new file at once migrate one
     * after the other instead of both seeing version 0. */
    return sq_exec(h, "BEGIN IMMEDIATE", err);
}

static llmux_status sq_ensure(void *h, llmux_error_info *err) { return LLMUX_OK; }
static void sq_busy(void *h, int ms) { sqlite3_busy_timeout(h, ms); }
static void sq_close(void *h) { sqlite3_close(h); }

const lx_store_backend lx_sqlite_backend = {
    .name = "sqlite",
    .exec = sq_exec,
    .query = sq_query,
    .begin_migration = sq_begin_migration,
    .ensure_connected = sq_ensure,
    .set_busy_timeout = sq_busy,
    .close = sq_close,
};
