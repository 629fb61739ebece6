/* The store suite against SQLite (a new file per test, in directories the store must create),
 * plus what only SQLite has: WAL mode, a locked database (another process holding the write
 * lock: the writer retries, then counts and logs what it could not write), a file that is not a
 * database, a schema from a newer llmux. URL handling is tested here too: it needs no server. */
#include "store_suite.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "store/backend.h"

static char g_dir[256];
static char g_url[512];
static int g_n;

static const char *fresh_url(void) {
    snprintf(g_url, sizeof g_url, "sqlite:%s/t%d/nested/dir/records.db", g_dir, ++g_n);
    return g_url;
}
static const char *current_url(void) { return g_url; }
static const char *current_path(void) { return g_url + strlen("sqlite:"); }

static int setup(void **state) {
    snprintf(g_dir, sizeof g_dir, "/tmp/llmux-store-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}
static int teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_wal_mode(void **state) {
    lx_store *s = open_fresh();
    assert_string_equal(lx_store_backend_name(s), "sqlite");
    lx_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(current_path(), &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* One schema_version row per migration, even after opening twice. */
    lx_store *again;
    llmux_error_info e;
    assert_int_equal(lx_store_open(current_url(), &again, &e), LLMUX_OK);
    lx_store_close(again);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(version) FROM schema_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), lx_store_schema_latest());
    assert_int_equal(sqlite3_column_int(st, 1), lx_store_schema_latest());
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_bad_files(void **state) {
    llmux_error_info e;
    lx_store *s = (lx_store *)1;
    /* Not a database. */
    char path[400];
    snprintf(path, sizeof path, "%s/garbage.db", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 100; i++) fputs("this is not a database file\n", f);
    fclose(f);
    char url[420];
    snprintf(url, sizeof url, "sqlite:%s", path);
    assert_int_equal(lx_store_open(url, &s, &e), LLMUX_E_CONFIGURATION);
    assert_null(s);
    assert_non_null(strstr(e.message, "not a database"));
    /* A directory where the file should be. */
    snprintf(url, sizeof url, "sqlite:%s", g_dir);
    assert_int_equal(lx_store_open(url, &s, &e), LLMUX_E_CONFIGURATION);
    /* A schema newer than this build: refused, never "migrated" down. */
    lx_store *ok = open_fresh();
    lx_store_close(ok);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(current_path(), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES (999)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(lx_store_open(current_url(), &s, &e), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(e.message, "999"));
}

/* A database made before schema version 2 (no cache_write_1h_tokens column, nor version 3's
 * web_search_requests and cost_tools): opening it adds the columns, its rows read back "not
 * reported" (-1) and new rows keep the counts. */
static void test_upgrade_from_v1(void **state) {
    (void)state;
    lx_store *s = open_fresh();
    lx_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(current_path(), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE executions DROP COLUMN cache_write_1h_tokens;"
                                  "ALTER TABLE executions DROP COLUMN web_search_requests;"
                                  "ALTER TABLE executions DROP COLUMN cost_tools;"
                                  "DELETE FROM schema_version WHERE version > 1;"
                                  "INSERT INTO executions (id, started_at_ms, ended_at_ms, status, finish_reason,"
                                  " input_tokens, output_tokens, cached_input_tokens, cache_write_tokens,"
                                  " reasoning_tokens, total_tokens, cost_known) VALUES"
                                  " ('old-1', 1, 2, 'ok', 'stop', 10, 2, 0, 7, -1, 12, 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    llmux_error_info e;
    assert_int_equal(lx_store_open(current_url(), &s, &e), LLMUX_OK);
    assert_int_equal(lx_store_schema_version(s), lx_store_schema_latest());
    lx_exec_record *got = NULL;
    assert_int_equal(lx_store_get(s, "old-1", &got, &e), LLMUX_OK);
    assert_int_equal(got->usage.cache_write_tokens, 7);
    assert_int_equal(got->usage.cache_write_1h_tokens, -1);
    assert_int_equal(got->usage.web_search_requests, -1); /* a row from before v3 */
    assert_true(got->cost.tools == 0);
    lx_exec_record_free(got);
    lx_exec_record *r = make_record("new-1", 3, "m", LLMUX_OK, 0);
    r->usage.cache_write_tokens = 9;
    r->usage.cache_write_1h_tokens = 6;
    assert_int_equal(lx_store_insert(s, &r, 1, &e), LLMUX_OK);
    assert_int_equal(lx_store_get(s, "new-1", &got, &e), LLMUX_OK);
    assert_int_equal(got->usage.cache_write_1h_tokens, 6);
    lx_exec_record_free(got);
    lx_exec_record_free(r);
    lx_store_close(s);
}

static void test_urls(void **state) {
    llmux_error_info e;
    lx_store *s = (lx_store *)1;
    assert_int_equal(lx_store_open("mysql://u:pw@h/db", &s, &e), LLMUX_E_CONFIGURATION);
    assert_null(s);
    assert_null(strstr(e.message, "pw@"));
    assert_non_null(strstr(e.message, "mysql://u:***@h/db"));
    assert_int_equal(lx_store_open("", &s, &e), LLMUX_E_CONFIGURATION);
    assert_int_equal(lx_store_open("sqlite:", &s, &e), LLMUX_E_CONFIGURATION);
    /* Nothing listens on port 1: the error names the server, never the password. */
    assert_int_equal(lx_store_open("postgresql://alice:s3cr3t-pw@127.0.0.1:1/db?password=other-s3cr3t", &s, &e),
                     LLMUX_E_CONFIGURATION);
    assert_null(strstr(e.message, "s3cr3t"));
    assert_non_null(strstr(e.message, "alice:***@127.0.0.1:1"));
    char out[128];
    lx_store_redact_url("postgres://bob:x@y@host:5/db?sslmode=require&password=zz", out, sizeof out);
    assert_string_equal(out, "postgres://bob:***@host:5/db?sslmode=require&password=***");
    lx_store_redact_url("postgresql://host/db", out, sizeof out);
    assert_string_equal(out, "postgresql://host/db");
    lx_store_redact_url("postgresql://bob@host/db", out, 12); /* truncated, still terminated */
    assert_string_equal(out, "postgresql:");
}

/* Another connection holds the write lock (what a second llmux process or a backup would do). */
static sqlite3 *lock_database(void) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(current_path(), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static void test_writer_locked_database_gives_up_loudly(void **state) {
    lx_store *s = open_fresh();
    lx_store_set_busy_timeout(s, 20);
    sqlite3 *locker = lock_database();
    log_acc log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    lx_record_writer_params p = lx_record_writer_default_params();
    p.retries = 2;
    p.retry_backoff_ms = 10;
    p.log = collect_log;
    p.log_user_data = &log;
    lx_record_writer *w;
    llmux_error_info e;
    assert_int_equal(lx_record_writer_start_ex(s, &p, &w, &e), LLMUX_OK);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "locked-%d", i);
        lx_record_writer_submit(w, make_record(id, i, "m", LLMUX_OK, 1));
    }
    lx_record_writer_flush(w);
    lx_record_writer_stats st;
    lx_record_writer_get_stats(w, &st);
    assert_int_equal(st.submitted, 3);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.lost, 3);
    assert_true(st.failed_transactions >= 3); /* first try + 2 retries at least */
    assert_int_not_equal(st.last_error.status, LLMUX_OK);
    assert_non_null(strstr(st.last_error.message, "locked"));
    assert_true(log.warnings >= 2);
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "execution locked-%d not recorded", i);
        assert_non_null(strstr(log.text, want));
    }
    lx_record_writer_stop(w);
    sqlite3_exec(locker, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(locker);
}

static void *unlock_later(void *arg) {
    struct timespec ts = {0, 150 * 1000 * 1000};
    nanosleep(&ts, NULL);
    sqlite3 *db = arg;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return NULL;
}

static void test_writer_retry_succeeds_after_lock_released(void **state) {
    lx_store *s = open_fresh();
    lx_store_set_busy_timeout(s, 10);
    sqlite3 *locker = lock_database();
    log_acc log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    lx_record_writer_params p = lx_record_writer_default_params();
    p.retries = 10; /* 20+40+...: seconds of patience, far more than the 150 ms lock */
    p.retry_backoff_ms = 20;
    p.log = collect_log;
    p.log_user_data = &log;
    lx_record_writer *w;
    llmux_error_info e;
    assert_int_equal(lx_record_writer_start_ex(s, &p, &w, &e), LLMUX_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, unlock_later, locker), 0);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "later-%d", i);
        lx_record_writer_submit(w, make_record(id, i, "m", LLMUX_OK, 1));
    }
    lx_record_writer_stop(w); /* waits for the retries */
    pthread_join(t, NULL);
    sqlite3_close(locker);
    assert_true(log.warnings >= 1); /* it did fail first */
    assert_int_equal(log.errors, 0);
    assert_int_equal(lx_store_open(current_url(), &s, &e), LLMUX_OK);
    assert_int_equal(count_all(s), 5);
    lx_store_close(s);
}

/* A disk that takes no more (a file size limit on this process, which binds root too, unlike file
 * modes, so it stands in for the read-only file in CI): the write fails, the writer retries, gives
 * up loudly, and writes again once there is room. */
static void test_writer_disk_full(void **state) {
    lx_store *s = open_fresh();
    lx_exec_record *small = make_record("small-0", 1, "m", LLMUX_OK, 1);
    insert1(s, small);
    lx_exec_record_free(small);
    log_acc log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    lx_record_writer_params p = lx_record_writer_default_params();
    p.retries = 1;
    p.retry_backoff_ms = 5;
    p.log = collect_log;
    p.log_user_data = &log;
    lx_record_writer *w;
    llmux_error_info e;
    assert_int_equal(lx_record_writer_start_ex(s, &p, &w, &e), LLMUX_OK);

    struct rlimit old, tight;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    tight = old;
    tight.rlim_cur = 256 * 1024; /* the database and its WAL are far smaller; the record is not */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &tight), 0);
    lx_exec_record *big = make_record("big-0", 2, "m", LLMUX_OK, 1);
    big->response_text = malloc(2u << 20);
    memset(big->response_text, 'x', (2u << 20) - 1);
    big->response_text[(2u << 20) - 1] = '\0';
    lx_record_writer_submit(w, big);
    lx_record_writer_flush(w);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);

    lx_record_writer_stats st;
    lx_record_writer_get_stats(w, &st);
    assert_int_equal(st.lost, 1);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.failed_transactions, 2); /* the try and its one retry */
    /* SQLite reports EFBIG as "disk I/O error" (ENOSPC would be "database or disk is full"). */
    assert_non_null(strstr(st.last_error.message, "records (sqlite): "));
    assert_non_null(strstr(st.last_error.message, "disk"));
    assert_non_null(strstr(log.text, "execution big-0 not recorded"));
    /* Room again: the same writer goes on. */
    lx_record_writer_submit(w, make_record("small-1", 3, "m", LLMUX_OK, 1));
    lx_record_writer_stop(w);
    assert_int_equal(lx_store_open(current_url(), &s, &e), LLMUX_OK);
    assert_int_equal(count_all(s), 2);
    lx_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        STORE_SUITE_TESTS,
        cmocka_unit_test(test_wal_mode),
        cmocka_unit_test(test_upgrade_from_v1),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_writer_locked_database_gives_up_loudly),
        cmocka_unit_test(test_writer_retry_succeeds_after_lock_released),
        cmocka_unit_test(test_writer_disk_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
