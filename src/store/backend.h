/* What a database backend provides to the store: statements with typed parameters and rows read
 * by column. The SQL, the schema and the record mapping are shared (store.c, schema.c); a backend
 * only talks to its library. SQL text uses $1, $2 ... placeholders (PostgreSQL's spelling; the
 * SQLite backend turns them into ?1, ?2, which SQLite reads as the same numbered parameters). */
#ifndef LX_STORE_BACKEND_H
#define LX_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmux.h"

typedef enum lx_sql_type { LX_SQL_NULL = 0, LX_SQL_TEXT, LX_SQL_INT, LX_SQL_REAL } lx_sql_type;

typedef struct lx_sql_param {
    lx_sql_type type;
    const char *text;
    int64_t i;
    double d;
} lx_sql_param;

/* A row during a query callback; valid only during the callback. */
typedef struct lx_sql_row lx_sql_row;
struct lx_sql_row {
    void *impl;
    bool (*is_null)(const lx_sql_row *row, int col);
    const char *(*text)(const lx_sql_row *row, int col); /* NULL for SQL NULL */
    int64_t (*i64)(const lx_sql_row *row, int col);
    double (*f64)(const lx_sql_row *row, int col);
};

/* Returns false to stop with an error already in err. */
typedef bool (*lx_sql_row_cb)(const lx_sql_row *row, void *ud, llmux_error_info *err);

typedef struct lx_store_backend lx_store_backend;
struct lx_store_backend {
    const char *name;
    /* A statement without parameters or rows (BEGIN, DDL). */
    llmux_status (*exec)(void *db, const char *sql, llmux_error_info *err);
    /* A statement with parameters; rows (if any) go to cb (may be NULL). */
    llmux_status (*query)(void *db, const char *sql, const lx_sql_param *params, int n_params, lx_sql_row_cb cb,
                          void *ud, llmux_error_info *err);
    /* Takes the migration lock (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE does it). */
    llmux_status (*begin_migration)(void *db, llmux_error_info *err);
    /* Re-establishes a lost connection; LLMUX_OK when the connection is usable. */
    llmux_status (*ensure_connected)(void *db, llmux_error_info *err);
    void (*set_busy_timeout)(void *db, int ms);
    void (*close)(void *db);
};

/* Each returns LLMUX_OK with *db set, or an error that never contains a password. */
llmux_status lx_sqlite_open(const char *path, void **db, llmux_error_info *err);
extern const lx_store_backend lx_sqlite_backend;
llmux_status lx_pg_open(const char *url, void **db, llmux_error_info *err);
extern const lx_store_backend lx_pg_backend;

/* A copy of a URL safe to print: the password of "scheme://user:password@host" replaced by "***"
 * and a "password=" query parameter likewise. Writes into out (truncated to size). */
void lx_store_redact_url(const char *url, char *out, size_t size);

/* The schema (schema.c): migrations in order, each one or more statements. */
typedef struct lx_migration {
    int version;
    const char *const *statements; /* NULL-terminated */
} lx_migration;
const lx_migration *lx_store_migrations(size_t *n);

#endif
