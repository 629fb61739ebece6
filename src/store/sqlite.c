/* SQLite backend: one connection in WAL mode (readers never block the writer; a commit is one
 * append to the WAL file), foreign keys on, synchronous=NORMAL (in WAL mode a power loss may undo
 * the last commits but never corrupts the database; a process crash loses nothing committed:
 * https://www.sqlite.org/pragma.html#pragma_synchronous).
 *
 * Statements are prepared once per connection and kept (a small cache keyed by the SQL text): the
 * writer runs the same few INSERTs, BEGIN and COMMIT for every record, and preparing them anew
 * was half of the writer thread's CPU (docs/benchmarks.md, Gateway). A kept statement is reset and
 * its bindings cleared after each use (https://www.sqlite.org/c3ref/reset.html), so it holds no
 * read transaction and no pointer into the caller's parameters between uses. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backend.h"
#include "core/error.h"

#define SQLITE_SQL_MAX 8192
/* Statements kept per connection. The store uses about ten distinct ones; the least recently used
 * is finalized to make room (migration DDL runs once and is soon pushed out). */
#define SQ_CACHE_SLOTS 16
/* How long a connection waits for another process's lock before giving up. */
#define SQ_BUSY_MS 5000

typedef struct sq_cached {
    char *sql;           /* the caller's text ($N spelling), the key; NULL = free slot */
    sqlite3_stmt *stmt;
    uint64_t last_use;   /* for least-recently-used eviction */
    bool busy;           /* in use (a row callback may run another query on this connection) */
} sq_cached;

/* One connection and its kept statements; used by one thread at a time (the store's owner). */
typedef struct sq_conn {
    sqlite3 *db;
    sq_cached cache[SQ_CACHE_SLOTS];
    uint64_t uses;
} sq_conn;

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

/* Switches the connection to WAL mode and sets the other pragmas. Switching to WAL needs an
 * exclusive lock, and SQLite returns SQLITE_BUSY at once, without calling the busy handler, when
 * waiting could deadlock (this connection holds a shared lock from reading the header while
 * another wants to write: https://www.sqlite.org/c3ref/busy_handler.html). Several processes
 * opening a new file at once hit exactly that, so busy is retried here for up to SQ_BUSY_MS (each
 * try may itself wait in the busy handler up to as long, so the worst case is about twice that). */
static int setup_pragmas(sqlite3 *db, char **msg) {
    struct timespec start, now, pause = {.tv_sec = 0, .tv_nsec = 2 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        sqlite3_free(*msg);
        *msg = NULL;
        int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                              NULL, NULL, msg);
        int prim = rc & 0xff;
        if (prim != SQLITE_BUSY && prim != SQLITE_LOCKED) return rc;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long ms = (long long)(now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= SQ_BUSY_MS) return rc;
        nanosleep(&pause, NULL);
    }
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
    sqlite3_busy_timeout(db, SQ_BUSY_MS);
    char *msg = NULL;
    rc = setup_pragmas(db, &msg);
    if (rc != SQLITE_OK) {
        st = lx_error(err, LLMUX_E_CONFIGURATION, "records: %s: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close(db);
        return st;
    }
    sq_conn *c = calloc(1, sizeof *c);
    if (!c) {
        sqlite3_close(db);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    }
    c->db = db;
    *out = c;
    return LLMUX_OK;
}

/* A prepared statement for sql: a kept one when the cache has it (and it is not in use), else a
 * new one, kept when a slot is free or can be freed. *slot is its cache index, or -1 when the
 * caller must finalize it (release does the right thing either way). */
static int sq_acquire(sq_conn *c, const char *sql, sqlite3_stmt **stmt, int *slot, const char **tail) {
    *stmt = NULL;
    *slot = -1;
    if (tail) *tail = NULL;
    c->uses++;
    for (int i = 0; i < SQ_CACHE_SLOTS; i++) {
        sq_cached *e = &c->cache[i];
        if (e->sql && !e->busy && strcmp(e->sql, sql) == 0) {
            e->busy = true;
            e->last_use = c->uses;
            *stmt = e->stmt;
            *slot = i;
            return SQLITE_OK;
        }
    }
    /* $N → ?N: the same numbered parameter in SQLite's spelling (no '$' appears in our SQL
     * otherwise). */
    char text[SQLITE_SQL_MAX];
    size_t len = strlen(sql);
    if (len >= sizeof text) return SQLITE_TOOBIG;
    for (size_t i = 0; i <= len; i++) text[i] = sql[i] == '$' ? '?' : sql[i];
    const char *rest = NULL;
    /* PERSISTENT: a hint that the statement lives long (its memory comes from the heap rather than
     * the lookaside pool; https://www.sqlite.org/c3ref/c_prepare_normalize.html). */
    int rc = sqlite3_prepare_v3(c->db, text, -1, SQLITE_PREPARE_PERSISTENT, stmt, &rest);
    if (rc != SQLITE_OK) return rc;
    if (tail && rest) *tail = sql + (rest - text);
    if (!*stmt || (rest && *rest)) return SQLITE_OK; /* empty or several statements: not kept */
    int victim = -1;
    for (int i = 0; i < SQ_CACHE_SLOTS; i++) {
        sq_cached *e = &c->cache[i];
        if (!e->sql) {
            victim = i;
            break;
        }
        if (!e->busy && (victim < 0 || e->last_use < c->cache[victim].last_use)) victim = i;
    }
    if (victim < 0) return SQLITE_OK;
    char *key = strdup(sql);
    if (!key) return SQLITE_OK; /* still usable, just not kept */
    sq_cached *e = &c->cache[victim];
    if (e->sql) {
        sqlite3_finalize(e->stmt);
        free(e->sql);
    }
    *e = (sq_cached){.sql = key, .stmt = *stmt, .last_use = c->uses, .busy = true};
    *slot = victim;
    return SQLITE_OK;
}

static void sq_release(sq_conn *c, sqlite3_stmt *stmt, int slot) {
    if (slot < 0) {
        sqlite3_finalize(stmt);
        return;
    }
    /* reset repeats the last step's error, already reported by the caller. */
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    c->cache[slot].busy = false;
}

static llmux_status sq_exec(void *h, const char *sql, llmux_error_info *err) {
    sq_conn *c = h;
    sqlite3_stmt *stmt;
    int slot;
    const char *tail;
    int rc = sq_acquire(c, sql, &stmt, &slot, &tail);
    if (rc == SQLITE_OK && stmt && !(tail && *tail)) {
        /* One statement (BEGIN, COMMIT, one DDL): kept like any other. */
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        }
        llmux_status st = rc == SQLITE_DONE ? LLMUX_OK : fail_db(c->db, rc, err, sql);
        sq_release(c, stmt, slot);
        return st;
    }
    if (stmt) sq_release(c, stmt, slot);
    /* Several statements (or one SQLite could not prepare alone): sqlite3_exec runs them in
     * order, and reports a preparation error with the same message. */
    rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return fail_db(c->db, rc, err, sql);
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
    sq_conn *c = h;
    sqlite3_stmt *stmt = NULL;
    int slot;
    int rc = sq_acquire(c, sql, &stmt, &slot, NULL);
    if (rc == SQLITE_TOOBIG) return lx_error(err, LLMUX_E_INTERNAL, "records (sqlite): statement too long");
    if (rc != SQLITE_OK) return fail_db(c->db, rc, err, "prepare");
    if (!stmt) return lx_error(err, LLMUX_E_INTERNAL, "records (sqlite): empty statement");
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
        llmux_status st = fail_db(c->db, rc, err, "bind");
        sq_release(c, stmt, slot);
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
    if (st == LLMUX_OK && rc != SQLITE_DONE) st = fail_db(c->db, rc, err, "step");
    sq_release(c, stmt, slot);
    return st;
}

static llmux_status sq_begin_migration(void *h, llmux_error_info *err) {
    /* IMMEDIATE takes the write lock now, so two processes opening a new file at once migrate one
     * after the other instead of both seeing version 0. */
    return sq_exec(h, "BEGIN IMMEDIATE", err);
}

static llmux_status sq_ensure(void *h, llmux_error_info *err) {
    (void)h, (void)err;
    return LLMUX_OK;
}
static void sq_busy(void *h, int ms) { sqlite3_busy_timeout(((sq_conn *)h)->db, ms); }
static void sq_close(void *h) {
    sq_conn *c = h;
    if (!c) return;
    /* sqlite3_close refuses (SQLITE_BUSY) while statements remain: finalize the kept ones first. */
    for (int i = 0; i < SQ_CACHE_SLOTS; i++) {
        if (!c->cache[i].sql) continue;
        sqlite3_finalize(c->cache[i].stmt);
        free(c->cache[i].sql);
    }
    sqlite3_close(c->db);
    free(c);
}

const lx_store_backend lx_sqlite_backend = {
    .name = "sqlite",
    .exec = sq_exec,
    .query = sq_query,
    .begin_migration = sq_begin_migration,
    .ensure_connected = sq_ensure,
    .set_busy_timeout = sq_busy,
    .close = sq_close,
};
