/* The records schema, one for both backends. Types are spelled so that both read them the same
 * way: BIGINT (SQLite: INTEGER affinity, 64-bit), DOUBLE PRECISION (SQLite: REAL affinity), TEXT.
 * Migrations are append-only: a released version's statements never change; a change to the
 * schema is a new version. docs/records.md explains each column. */
#include "backend.h"

static const char *const v1[] = {
    "CREATE TABLE executions ("
    " id TEXT PRIMARY KEY,"
    " replay_of TEXT,"
    " request_id TEXT,"
    " caller TEXT,"
    " started_at_ms BIGINT NOT NULL,"
    " ended_at_ms BIGINT NOT NULL,"
    " requested_model TEXT,"
    " plan_json TEXT,"
    " model TEXT,"
    " provider TEXT,"
    " status TEXT NOT NULL,"
    " error_message TEXT,"
    " finish_reason TEXT NOT NULL,"
    " input_tokens BIGINT NOT NULL,"
    " output_tokens BIGINT NOT NULL,"
    " cached_input_tokens BIGINT NOT NULL,"
    " cache_write_tokens BIGINT NOT NULL,"
    " reasoning_tokens BIGINT NOT NULL,"
    " total_tokens BIGINT NOT NULL,"
    " cost_known BIGINT NOT NULL,"
    " cost_input DOUBLE PRECISION,"
    " cost_output DOUBLE PRECISION,"
    " cost_cache_read DOUBLE PRECISION,"
    " cost_cache_write DOUBLE PRECISION,"
    " cost_total DOUBLE PRECISION,"
    " cost_source TEXT,"
    " warnings_json TEXT,"
    " request_json TEXT,"
    " response_text TEXT)",
    /* list: newest first, optionally since a time */
    "CREATE INDEX executions_started ON executions (started_at_ms, id)",
    "CREATE TABLE attempts ("
    " execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,"
    " n INTEGER NOT NULL,"
    " target TEXT NOT NULL,"
    " started_at_ms BIGINT NOT NULL,"
    " http_status INTEGER NOT NULL,"
    " status TEXT NOT NULL,"
    " error_message TEXT,"
    " retry_delay_ms BIGINT NOT NULL,"
    " ttft_ms DOUBLE PRECISION NOT NULL,"
    " duration_ms DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (execution_id, n))",
    NULL,
};

/* The cache writes made for an hour (llmux_usage.cache_write_1h_tokens, priced apart); NULL for
 * rows written before, or when the provider did not say. */
static const char *const v2[] = {
    "ALTER TABLE executions ADD COLUMN cache_write_1h_tokens BIGINT",
    NULL,
};

/* Server tools: the web searches a provider ran for the answer (llmux_usage.web_search_requests)
 * and their fees (llmux_cost.tools); NULL for rows written before, or when none ran. */
static const char *const v3[] = {
    "ALTER TABLE executions ADD COLUMN web_search_requests BIGINT",
    "ALTER TABLE executions ADD COLUMN cost_tools DOUBLE PRECISION",
    NULL,
};

static const lx_migration migrations[] = {
    {1, v1},
    {2, v2},
    {3, v3},
};

const lx_migration *lx_store_migrations(size_t *n) {
    *n = sizeof migrations / sizeof migrations[0];
    return migrations;
}
