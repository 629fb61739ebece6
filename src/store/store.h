/* Execution records: one execution and its attempts, stored in SQLite (default, WAL) or
 * PostgreSQL behind one small interface, with versioned migrations and a writer thread that
 * drains a bounded queue in batched transactions. docs/records.md describes the schema and what a
 * crash can lose.
 *
 * Thread-safety: an lx_store is used by one thread at a time (the writer owns its store; readers
 * open their own). The writer's submit/stats functions are callable from any thread. */
#ifndef LX_STORE_H
#define LX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmux.h"

/* Caps on what a record may hold; a record past them is refused (insert) or a filter past them
 * is refused (list), with LLMUX_E_INVALID_REQUEST naming the field. */
#define LX_RECORD_ID_MAX 128                      /* bytes of an execution id */
#define LX_RECORD_TEXT_MAX (16u * 1024u * 1024u)  /* bytes of any one text field */
#define LX_RECORD_ATTEMPTS_MAX 1000
#define LX_RECORD_JSON_MAX (256u * 1024u * 1024u) /* bytes of one record's JSON read back: several
                                                     texts at their cap, escaped, fit */
#define LX_RECORD_FILTER_TEXT_MAX 256             /* bytes of a model / status filter */
#define LX_RECORD_LIST_DEFAULT 100                /* rows of a list with limit 0 */
#define LX_RECORD_LIST_MAX 10000                  /* most rows one list returns */

typedef struct lx_attempt_record {
    int32_t n;                 /* 0-based position in the execution */
    char *target;              /* "provider/model" or "local/name" */
    int64_t started_at_ms;     /* unix epoch ms */
    int32_t http_status;       /* 0 = none */
    llmux_status status;       /* LLMUX_OK for the attempt that answered */
    char *error_message;       /* NULL when OK */
    int64_t retry_delay_ms;    /* delay waited after this attempt before the next; -1 none */
    double ttft_ms;            /* -1 unknown */
    double duration_ms;
} lx_attempt_record;

typedef struct lx_exec_record {
    char *id;                  /* execution id (unique) */
    char *replay_of;           /* NULL or the original execution id */
    char *request_id;          /* caller-supplied (X-Request-Id), NULL */
    char *caller;              /* key name when served, NULL */
    int64_t started_at_ms, ended_at_ms; /* unix epoch ms */
    char *requested_model;     /* as the request named it (alias or model) */
    char *plan_json;           /* the routing plan snapshot (JSON text), NULL */
    char *model, *provider;    /* what answered; NULL when nothing did */
    llmux_status status;
    char *error_message;
    llmux_finish_reason finish_reason;
    llmux_usage usage;         /* -1 = not reported */
    llmux_cost cost;           /* NaN components are stored as NULL and read back as NaN */
    char *cost_source;         /* "provider", "catalog", "config", "local", "unknown" */
    char *warnings_json;       /* JSON array text, NULL = none */
    char *request_json;        /* canonical request JSON (NULL when bodies are off) */
    char *response_text;       /* NULL when bodies are off */
    lx_attempt_record *attempts; /* malloc'd array of n_attempts */
    size_t n_attempts;
} lx_exec_record;

/* Frees the fields, the attempts and r itself (records are heap objects: malloc'd struct,
 * malloc'd strings). Accepts NULL. */
void lx_exec_record_free(lx_exec_record *r);
/* Frees an array returned by lx_store_list (each record and the array). Accepts NULL. */
void lx_exec_record_list_free(lx_exec_record **recs, size_t n);
/* Checks the caps above and the required fields (id, and target of every attempt); fills err. */
llmux_status lx_exec_record_validate(const lx_exec_record *r, llmux_error_info *err);
/* An execution id is 1..LX_RECORD_ID_MAX bytes of [A-Za-z0-9._:-]; what ids the executor makes
 * (lx_make_id) and what a CLI argument may name. */
bool lx_record_id_valid(const char *id);

/* JSON of a record (docs/records.md): one object, compact, no newline. plan, warnings and request
 * are embedded as JSON values when their text is valid JSON (else as strings); NaN costs and
 * absent strings are null. Returns malloc'd text (free()), NULL when out of memory. */
char *lx_exec_record_to_json(const lx_exec_record *r, bool with_attempts);
/* The reverse (replay, tests). On success *out is a heap record (lx_exec_record_free). Errors:
 * LLMUX_E_INVALID_REQUEST naming the field ("record.attempts[1].status: unknown status \"x\""). */
llmux_status lx_exec_record_from_json(const char *json, size_t len, lx_exec_record **out, llmux_error_info *err);

/* ------------------------------------------------------------------ store */

typedef struct lx_store lx_store;

/* Opens "sqlite:PATH" (WAL; creates missing parent directories and the file) or
 * "postgresql://..." / "postgres://..." (a libpq connection URI), then runs the versioned
 * migrations (schema_version table) in one transaction. Errors never show a URL's password:
 * LLMUX_E_CONFIGURATION for a bad URL, an unreachable server or a database whose schema is newer
 * than this build. */
llmux_status lx_store_open(const char *url, lx_store **out, llmux_error_info *err);
/* Accepts NULL. */
void lx_store_close(lx_store *s);
/* "sqlite" or "postgresql". */
const char *lx_store_backend_name(const lx_store *s);
/* The schema version the store is at (after migrations). */
int lx_store_schema_version(const lx_store *s);
/* The newest schema version this build knows. */
int lx_store_schema_latest(void);
/* SQLite only: how long a statement waits on another connection's lock before failing with
 * "database is locked" (default 5000 ms). Ignored for PostgreSQL. */
void lx_store_set_busy_timeout(lx_store *s, int ms);

/* Inserts n records and their attempts in one transaction: all or nothing. Records are validated
 * first (nothing is written when one fails). A PostgreSQL connection that was lost is
 * re-established once before the transaction. Errors: LLMUX_E_INVALID_REQUEST (a record, a
 * duplicate id), LLMUX_E_NETWORK (server unreachable), LLMUX_E_INTERNAL (the database failed). */
llmux_status lx_store_insert(lx_store *s, lx_exec_record *const *recs, size_t n, llmux_error_info *err);

typedef struct lx_record_filter {
    int64_t since_ms;          /* started_at_ms >= since_ms; 0 = no bound */
    const char *model;         /* requested_model or model equals it; NULL = any */
    const char *status;        /* llmux_status_name of the final status ("ok", "cancelled"...) */
    size_t limit;              /* 0 = LX_RECORD_LIST_DEFAULT; at most LX_RECORD_LIST_MAX */
    /* Appended (the executor's interface above is unchanged): */
    const char *before_id;     /* paging: only records older than this one in list order; NULL = none */
    bool with_attempts;        /* load each record's attempts too */
} lx_record_filter;

/* Newest first (started_at_ms, then id, descending). *out is a malloc'd array of heap records
 * (lx_exec_record_list_free), NULL when *n is 0. Attempts are loaded only with with_attempts. */
llmux_status lx_store_list(lx_store *s, const lx_record_filter *f, lx_exec_record ***out, size_t *n,
                           llmux_error_info *err);
/* One record with its attempts (ordered by n). Unknown id: LLMUX_E_INVALID_REQUEST "no record <id>". */
llmux_status lx_store_get(lx_store *s, const char *id, lx_exec_record **out, llmux_error_info *err);

/* The summed cost_total (USD) of the executions recorded for caller (the API key name a server
 * recorded) that started at or after since_ms (0 = all) and whose cost is known; 0 when none.
 * caller: 1..LX_RECORD_FILTER_TEXT_MAX bytes, else LLMUX_E_INVALID_REQUEST. One query (an
 * aggregate: no rows are loaded). */
llmux_status lx_store_caller_cost(lx_store *s, const char *caller, int64_t since_ms, double *usd, llmux_error_info *err);

/* ------------------------------------------------------------------ writer */

/* The writer thread: a bounded queue drained in batched transactions. Submitting never waits on
 * the database unless the queue is full; then it waits (nothing is dropped). A failed transaction
 * is retried with a doubling backoff (a refused record, LLMUX_E_INVALID_REQUEST, is not retried:
 * its batch is inserted one record per transaction so it loses only itself). Every record that
 * could not be written is counted and named in the log (never silently lost). */
typedef struct lx_record_writer lx_record_writer;

typedef void (*lx_record_log_cb)(llmux_log_level level, const char *message, void *user_data);

typedef struct lx_record_writer_params {
    size_t queue_cap;          /* records queued before submit waits; 0 = 1024 */
    size_t batch_max;          /* records per transaction; 0 = 256 */
    int retries;               /* retries of a failed transaction; 0 = 4, < 0 = none */
    int64_t retry_backoff_ms;  /* before the first retry, doubling; 0 = 50 */
    lx_record_log_cb log;      /* write failures (from the writer thread); NULL = none */
    void *log_user_data;
    /* Group commit: when it wakes to fewer records than a batch, the thread waits this long for
     * more before its transaction (not while a flush or stop waits). One commit per record was
     * most of the writer's CPU under load (docs/benchmarks.md). 0 = 2000, < 0 = none. */
    int64_t linger_us;
} lx_record_writer_params;

lx_record_writer_params lx_record_writer_default_params(void);

/* Starts the thread. The store is owned by the writer from now on, also on failure (closed). */
llmux_status lx_record_writer_start(lx_store *s, size_t queue_cap, lx_record_writer **out, llmux_error_info *err);
llmux_status lx_record_writer_start_ex(lx_store *s, const lx_record_writer_params *p, lx_record_writer **out,
                                       llmux_error_info *err);
/* Takes ownership of r (a heap record). Blocks while the queue is full. Callable from any thread.
 * Submitting after stop has begun is a caller bug: the record is freed, counted as lost and
 * logged. */
void lx_record_writer_submit(lx_record_writer *w, lx_exec_record *r);
/* Waits until everything submitted so far has been written or given up on. */
void lx_record_writer_flush(lx_record_writer *w);

typedef struct lx_record_writer_stats {
    uint64_t submitted;        /* records handed to submit */
    uint64_t written;          /* records committed */
    uint64_t lost;             /* records given up on after the retries (each named in the log) */
    uint64_t failed_transactions; /* transactions that failed (retried or not) */
    uint64_t submit_waits;     /* times a submit found the queue full and waited */
    size_t queued;             /* records waiting now */
    llmux_error_info last_error; /* the last failure; status LLMUX_OK when none */
} lx_record_writer_stats;

void lx_record_writer_get_stats(lx_record_writer *w, lx_record_writer_stats *out);
/* Flushes everything queued, stops the thread, closes the store, frees. Accepts NULL. */
void lx_record_writer_stop(lx_record_writer *w);

#endif
