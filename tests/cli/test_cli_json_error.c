/* `llmux run --json` prints the response also when an accepted request failed before its first
 * event (an upstream 429): the error's class, the provider's status and the retry hint, as
 * canonical JSON on stdout, while stderr still gets `llmux: <class>: <message>` and the exit
 * status stays 10 + class.
 *
 * Depends on the runtime returning a response object for such a failure (issue 7); until that
 * change is merged llmux_run gives no response there and this test fails. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "support/cli_run.h"
#include "support/fake_server.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli-json-error");
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

static void test_json_prints_error_response_on_429(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/chat/completions";
    fr.status = 429;
    fr.body_file = "tests/data/fake/openai/error_429.json";
    fr.headers = "Content-Type: application/json\r\nRetry-After: 3\r\n";
    assert_true(lx_fake_server_push(s, &fr));
    char url[256], cmd[1024];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    snprintf(cmd, sizeof cmd,
             "env -u OPENAI_API_KEY -u OPENAI_BASE_URL " LLMUX
             " run --json -m openai/gpt-4o-mini --base-url %s --api-key test-key 'Say hello'",
             url);
    cli_result r;
    cli_run(cmd, &r);
    assert_int_equal(r.code, 10 + 5); /* rate_limited */
    assert_non_null(strstr(r.err, "llmux: rate_limited: "));
    assert_null(strstr(r.out, "test-key"));
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    if (!j) fail_msg("stdout is not the response JSON: \"%s\"", r.out);
    assert_string_equal(json_string_value(json_object_get(j, "finish_reason")), "error");
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "status")), "rate_limited");
    assert_int_equal(json_integer_value(json_object_get(e, "provider_status")), 429);
    assert_int_equal(json_integer_value(json_object_get(e, "retry_after_ms")), 3000);
    json_decref(j);
    lx_fake_server_stop(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_prints_error_response_on_429),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
