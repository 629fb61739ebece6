/* The store suite against a real PostgreSQL server started for this test (tests/support/
 * pg_server.c), plus what only a server has: it going away under a running writer (errors
 * counted and logged, nothing silently lost) and coming back (the store reconnects). Without the
 * PostgreSQL binaries this test exits 77, which CTest reports as skipped. */
#include "store_suite.h"

#include <libpq-fe.h>
#include <time.h>

#include "support/pg_server.h"

static pg_server *g_pg;

/* Every test starts from an empty database: the tables are dropped, so each open also runs the
 * migrations from scratch. */
static const char *fresh_url(void) {
    PGconn *c = PQconnectdb(pg_server_url(g_pg));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "SET client_min_messages = warning;"
                            "DROP TABLE IF EXISTS attempts, executions, schema_version");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    return pg_server_url(g_pg);
}
static const char *current_url(void) { return pg_server_url(g_pg); }

static void test_backend_and_versions(void **state) {
    lx_store *s = open_fresh();
    assert_string_equal(lx_store_backend_name(s), "postgresql");
    lx_store_close(s);
    /* "postgres://" is the same thing. */
    char url[300];
    snprintf(url, sizeof url, "postgres://%s", strstr(current_url(), "://") + 3);
    llmux_error_info e;
    assert_int_equal(lx_store_open(url, &s, &e), LLMUX_OK);
    lx_store_close(s);
    PGconn *c = PQconnectdb(current_url());
    PGresult *r = PQexec(c, "SELECT COUNT(*), MAX(version) FROM schema_version");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(atoi(PQgetvalue(r, 0, 0)), lx_store_schema_latest());
    assert_int_equal(atoi(PQgetvalue(r, 0, 1)), lx_store_schema_latest());
    PQclear(r);
    PQfinish(c);
    /* A database that does not exist: a clear configuration error. */
    snprintf(url, sizeof url, "%.*s/no_such_db", (int)(strrchr(current_url(), '/') - current_url()), current_url());
    assert_int_equal(lx_store_open(url, &s, &e), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(e.message, "no_such_db"));
}

static void test_server_down_then_back(void **state) {
    lx_store *s = open_fresh();
    log_acc log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    lx_record_writer_params p = lx_record_writer_default_params();
    p.retries = 2;
    p.retry_backoff_ms = 10;
    p.log = collect_log;
    p.log_user_data = &log;
    lx_record_writer *w;
    llmux_error_info e;
    assert_int_equal(lx_record_writer_start_ex(s, &p, &w, &e), LLMUX_OK);
    lx_record_writer_submit(w, make_record("before-down", 1, "m", LLMUX_OK, 1));
    lx_record_writer_flush(w);

    lx_store *reader;
    assert_int_equal(lx_store_open(current_url(), &reader, &e), LLMUX_OK);
    assert_int_equal(pg_server_stop(g_pg), 0);
    lx_exec_record **v;
    size_t n;
    assert_int_equal(lx_store_list(reader, NULL, &v, &n, &e), LLMUX_E_NETWORK);
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "down-%d", i);
        lx_record_writer_submit(w, make_record(id, 10 + i, "m", LLMUX_OK, 1));
    }
    lx_record_writer_flush(w);
    lx_record_writer_stats st;
    lx_record_writer_get_stats(w, &st);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.lost, 4);
    assert_true(st.failed_transactions >= 3);
    assert_int_equal(st.last_error.status, LLMUX_E_NETWORK);
    for (int i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "execution down-%d not recorded", i);
        assert_non_null(strstr(log.text, want));
    }

    /* The server comes back: the same writer (same connection object) writes again. */
    assert_int_equal(pg_server_restart(g_pg), 0);
    lx_record_writer_submit(w, make_record("after-up", 20, "m", LLMUX_OK, 2));
    lx_record_writer_stop(w);
    /* A reader opened before the outage reads again too. */
    assert_int_equal(lx_store_list(reader, NULL, &v, &n, &e), LLMUX_OK);
    assert_int_equal(n, 2);
    lx_exec_record_list_free(v, n);
    lx_store_close(reader);
    assert_int_equal(lx_store_open(current_url(), &s, &e), LLMUX_OK);
    assert_int_equal(count_all(s), 2);
    lx_exec_record *got;
    assert_int_equal(lx_store_get(s, "after-up", &got, &e), LLMUX_OK);
    assert_int_equal(got->n_attempts, 2);
    lx_exec_record_free(got);
    lx_store_close(s);
}

static void *commit_later(void *arg) {
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    PGresult *r = PQexec(arg, "COMMIT");
    PQclear(r);
    return NULL;
}

/* Stop flushes what is queued even while the database makes the writer wait: another session
 * holds a lock on the table, the records sit in the queue and in a blocked transaction (no
 * timeout: PostgreSQL waits for the lock) when stop is called, and all are there afterwards. */
static void test_stop_waits_for_a_blocked_write(void **state) {
    lx_store *s = open_fresh();
    PGconn *c = PQconnectdb(current_url());
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "BEGIN; LOCK TABLE executions IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    lx_record_writer *w;
    llmux_error_info e;
    assert_int_equal(lx_record_writer_start(s, 4, &w, &e), LLMUX_OK);
    /* The lock goes 300 ms from now, whatever this thread does (a submit may wait for it). */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_later, c), 0);
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "blocked-%d", i);
        lx_record_writer_submit(w, make_record(id, i, "m", LLMUX_OK, 1));
        if (i == 3) {
            /* Four submits fit the queue without waiting, microseconds in: nothing written yet. */
            lx_record_writer_stats st;
            lx_record_writer_get_stats(w, &st);
            assert_int_equal(st.written, 0);
        }
    }
    lx_record_writer_stop(w);
    pthread_join(t, NULL);
    PQfinish(c);
    assert_int_equal(lx_store_open(current_url(), &s, &e), LLMUX_OK);
    assert_int_equal(count_all(s), 10);
    lx_store_close(s);
}

static int setup(void **state) { return 0; }
static int teardown(void **state) { return 0; }

int main(void) {
    int rc = pg_server_start("llmux_test", &g_pg);
    if (rc == PG_SERVER_SKIP) return PG_SERVER_SKIP;
    if (rc != 0) {
        fprintf(stderr, "could not start PostgreSQL\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        STORE_SUITE_TESTS,
        cmocka_unit_test(test_backend_and_versions),
        cmocka_unit_test(test_server_down_then_back),
        cmocka_unit_test(test_stop_waits_for_a_blocked_write),
    };
    rc = cmocka_run_group_tests(tests, setup, teardown);
    pg_server_destroy(g_pg);
    return rc;
}
