/* gbnf_check.h: repetitions {m,n} with m > n are refused wherever llama.cpp's parser would read
 * them as repetitions, and only there (not inside strings, classes or comments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/gbnf_check.h"

static void assert_ordered(const char *g) {
    char why[128] = "";
    if (!lx_gbnf_repetitions_ordered(g, why, sizeof why)) fail_msg("refused %s: %s", g, why);
}

static void assert_unordered(const char *g, const char *want) {
    char why[128] = "";
    assert_false(lx_gbnf_repetitions_ordered(g, why, sizeof why));
    if (!strstr(why, want)) fail_msg("%s: message %s lacks %s", g, why, want);
}

static void test_ordered_repetitions_pass(void **state) {
    (void)state;
    assert_ordered("root ::= \"a\"{4,5}");
    assert_ordered("root ::= [a-z]{5} [0-9]{2,} x{0,0}");
    assert_ordered("root ::= (\"a\" | \"b\"){ 3 , 3 }");
    assert_ordered("");
    /* Braces that are not repetitions. */
    assert_ordered("root ::= \"{5,4}\"");
    assert_ordered("root ::= \"\\\"{5,4}\"");
    assert_ordered("root ::= [{5,4}]");
    assert_ordered("root ::= [\\]{5,4}]");
    assert_ordered("# a{5,4}\nroot ::= \"a\"");
    /* Malformed braces are left to llama.cpp's parser, which refuses them. */
    assert_ordered("root ::= \"a\"{");
    assert_ordered("root ::= \"a\"{5,");
    assert_ordered("root ::= \"a\"{,4}");
    /* An unterminated string or class ends the scan. */
    assert_ordered("root ::= \"a{5,4}");
    assert_ordered("root ::= [a{5,4}");
}

static void test_unordered_repetitions_refused(void **state) {
    (void)state;
    assert_unordered("root ::= [a-z]{5,4}", "{5,4}");
    assert_unordered("root ::= \"a\"{ 5 , 4 }", "{5,4}");
    assert_unordered("root ::= \"{\" x{2,1} \"}\"", "{2,1}");
    assert_unordered("root ::= [}] x{3,0}\n# {1,2}", "{3,0}");
    /* Counts past 64 bits saturate rather than wrap. */
    assert_unordered("root ::= x{99999999999999999999999999,1}", "minimum above its maximum");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordered_repetitions_pass),
        cmocka_unit_test(test_unordered_repetitions_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
