/* The Responses API's kept responses (src/server/http/response_store.h): put / get / delete by id
 * and owner, replacement, the byte budget with least-recently-used eviction (a get refreshes),
 * an entry larger than the budget, and many entries through the hash's growth. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/http/response_store.h"

static char *text(const char *s) { return strdup(s); }

/* A text of n bytes (n - 1 'x' and the NUL). */
static char *sized(size_t n) {
    char *p = malloc(n);
    memset(p, 'x', n - 1);
    p[n - 1] = 0;
    return p;
}

static void test_put_get_delete_owner(void **state) {
    (void)state;
    lx_resp_store *st = lx_resp_store_create(1 << 20);
    assert_non_null(st);
    assert_true(lx_resp_store_put(st, "resp_a", "alice", text("{\"h\":1}"), 3, text("{\"o\":1}")));
    assert_true(lx_resp_store_put(st, "resp_b", NULL, text("{\"h\":2}"), 0, text("{\"o\":2}")));
    const char *h, *o;
    size_t n_input = 0;
    assert_true(lx_resp_store_get(st, "resp_a", "alice", &h, &n_input, &o));
    assert_int_equal(n_input, 3);
    assert_string_equal(h, "{\"h\":1}");
    assert_string_equal(o, "{\"o\":1}");
    /* Another key, or no key, does not see alice's; a key does not see the keyless one's. */
    assert_false(lx_resp_store_get(st, "resp_a", "bob", &h, NULL, &o));
    assert_null(h);
    assert_null(o);
    assert_false(lx_resp_store_get(st, "resp_a", NULL, &h, NULL, NULL));
    assert_false(lx_resp_store_get(st, "resp_b", "alice", NULL, NULL, &o));
    assert_true(lx_resp_store_get(st, "resp_b", NULL, NULL, NULL, &o));
    assert_string_equal(o, "{\"o\":2}");
    assert_false(lx_resp_store_get(st, "resp_c", NULL, &h, NULL, &o));
    assert_false(lx_resp_store_delete(st, "resp_a", "bob"));
    assert_int_equal(lx_resp_store_count(st), 2);
    /* Replacing an id keeps one entry with the new texts. */
    assert_true(lx_resp_store_put(st, "resp_a", "alice", text("{\"h\":3}"), 0, text("{\"o\":3}")));
    assert_int_equal(lx_resp_store_count(st), 2);
    assert_true(lx_resp_store_get(st, "resp_a", "alice", &h, NULL, NULL));
    assert_string_equal(h, "{\"h\":3}");
    assert_true(lx_resp_store_delete(st, "resp_a", "alice"));
    assert_false(lx_resp_store_get(st, "resp_a", "alice", &h, NULL, &o));
    assert_false(lx_resp_store_delete(st, "resp_a", "alice"));
    assert_true(lx_resp_store_delete(st, "resp_b", NULL));
    assert_int_equal(lx_resp_store_count(st), 0);
    assert_int_equal(lx_resp_store_bytes(st), 0);
    lx_resp_store_free(st);
}

static void test_budget_evicts_least_recently_used(void **state) {
    (void)state;
    /* Each entry is its texts (2 x 1000 bytes) and a little bookkeeping: four fit in 9000. */
    lx_resp_store *st = lx_resp_store_create(9000);
    char id[16];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "r%d", i);
        assert_true(lx_resp_store_put(st, id, NULL, sized(1000), 0, sized(1000)));
    }
    assert_int_equal(lx_resp_store_count(st), 4);
    assert_true(lx_resp_store_bytes(st) <= 9000);
    /* r0 is used, so r1 is now the least recently used and goes first. */
    assert_true(lx_resp_store_get(st, "r0", NULL, NULL, NULL, NULL));
    assert_true(lx_resp_store_put(st, "r4", NULL, sized(1000), 0, sized(1000)));
    assert_true(lx_resp_store_bytes(st) <= 9000);
    assert_false(lx_resp_store_get(st, "r1", NULL, NULL, NULL, NULL));
    assert_true(lx_resp_store_get(st, "r0", NULL, NULL, NULL, NULL));
    assert_true(lx_resp_store_get(st, "r2", NULL, NULL, NULL, NULL));
    assert_true(lx_resp_store_get(st, "r4", NULL, NULL, NULL, NULL));
    /* One entry larger than the whole budget is refused and evicts nothing. */
    size_t before = lx_resp_store_count(st);
    assert_false(lx_resp_store_put(st, "huge", NULL, sized(9000), 0, text("{}")));
    assert_false(lx_resp_store_get(st, "huge", NULL, NULL, NULL, NULL));
    assert_int_equal(lx_resp_store_count(st), before);
    /* One that needs the whole budget evicts everything else. */
    assert_true(lx_resp_store_put(st, "big", NULL, sized(8000), 0, text("{}")));
    assert_int_equal(lx_resp_store_count(st), 1);
    assert_true(lx_resp_store_get(st, "big", NULL, NULL, NULL, NULL));
    lx_resp_store_free(st);
}

static void test_many_entries(void **state) {
    (void)state;
    lx_resp_store *st = lx_resp_store_create((size_t)64 << 20);
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "resp_%d", i);
        assert_true(lx_resp_store_put(st, id, (i % 2) ? "k" : NULL, text("{}"), 0, text("{}")));
    }
    assert_int_equal(lx_resp_store_count(st), 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "resp_%d", i);
        assert_true(lx_resp_store_get(st, id, (i % 2) ? "k" : NULL, NULL, NULL, NULL));
    }
    for (int i = 0; i < 5000; i += 2) {
        snprintf(id, sizeof id, "resp_%d", i);
        assert_true(lx_resp_store_delete(st, id, NULL));
    }
    assert_int_equal(lx_resp_store_count(st), 2500);
    lx_resp_store_free(st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_delete_owner),
        cmocka_unit_test(test_budget_evicts_least_recently_used),
        cmocka_unit_test(test_many_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
