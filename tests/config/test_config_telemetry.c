/* llmux.yaml's telemetry: section: valid values map onto runtime params and the metrics key,
 * broken ones give exact "FILE:LINE:COLUMN: KEY.PATH: problem" messages, the key never appears in
 * a message or in `config check`'s output. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static lx_config *load_ok(const char *text) {
    lx_config *cfg = NULL;
    llmux_error_info err;
    llmux_status st = lx_config_load_text("t.yaml", "/base", text, strlen(text), &cfg, &err);
    if (st != LLMUX_OK) fail_msg("%s", err.message);
    return cfg;
}

static void expect_error(const char *text, const char *want) {
    lx_config *cfg = NULL;
    llmux_error_info err;
    assert_int_equal(lx_config_load_text("t.yaml", "/base", text, strlen(text), &cfg, &err), LLMUX_E_CONFIGURATION);
    assert_null(cfg);
    if (strcmp(err.message, want) != 0) fail_msg("message\n  got:  %s\n  want: %s", err.message, want);
}

static char *printed(const lx_config *cfg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lx_config_print(cfg, f);
    fclose(f);
    return buf;
}

static void test_values(void **state) {
    (void)state;
    setenv("LX_TEST_METRICS_KEY", "key-from-the-env-123", 1);
    lx_config *cfg = load_ok("telemetry:\n  log: logs/exec.log\n  log_level: debug\n"
                             "  otlp_endpoint: http://127.0.0.1:4318\n  metrics_key: env:LX_TEST_METRICS_KEY\n");
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_null(rp.telemetry_log); /* only lx_config_telemetry_params applies the section */
    lx_config_telemetry_params(cfg, &rp);
    assert_string_equal(rp.telemetry_log, "/base/logs/exec.log");
    assert_int_equal(rp.telemetry_log_level, LLMUX_LOG_DEBUG);
    assert_string_equal(rp.otlp_endpoint, "http://127.0.0.1:4318");
    assert_string_equal(lx_config_metrics_key(cfg), "key-from-the-env-123");
    char *out = printed(cfg);
    assert_non_null(strstr(out, "telemetry: log /base/logs/exec.log, log_level debug, otlp_endpoint "
                                "http://127.0.0.1:4318, metrics_key set (env:LX_TEST_METRICS_KEY)\n"));
    assert_null(strstr(out, "key-from-the-env-123"));
    free(out);
    lx_config_free(cfg);

    cfg = load_ok("telemetry:\n  log: stderr\n");
    rp = llmux_runtime_default_params();
    lx_config_telemetry_params(cfg, &rp);
    assert_string_equal(rp.telemetry_log, "stderr");
    assert_int_equal(rp.telemetry_log_level, LLMUX_LOG_INFO);
    assert_null(rp.otlp_endpoint);
    assert_null(lx_config_metrics_key(cfg));
    lx_config_free(cfg);

    setenv("LX_TEST_OTLP", "https://user:token@collector.example:4318", 1);
    cfg = load_ok("telemetry:\n  otlp_endpoint: env:LX_TEST_OTLP\n");
    out = printed(cfg);
    assert_non_null(strstr(out, "otlp_endpoint (env:LX_TEST_OTLP), metrics_key none\n"));
    assert_null(strstr(out, "token"));
    free(out);
    lx_config_free(cfg);

    cfg = load_ok("telemetry:\n");
    assert_null(lx_config_metrics_key(cfg));
    lx_config_free(cfg);
    assert_null(lx_config_metrics_key(NULL));
}

static void test_errors(void **state) {
    (void)state;
    expect_error("telemetry:\n  logs: stderr\n", "t.yaml:2:3: telemetry.logs: unknown key (did you mean \"log\"?)");
    expect_error("telemetry: stderr\n",
                 "t.yaml:1:12: telemetry: expected a mapping (log, log_level, otlp_endpoint, metrics_key), got a scalar");
    expect_error("telemetry:\n  log_level: verbose\n",
                 "t.yaml:2:14: telemetry.log_level: expected debug, info, warn or error, got \"verbose\"");
    expect_error("telemetry:\n  log: \"\"\n",
                 "t.yaml:2:8: telemetry.log: expected stderr, off or a file path, got an empty string");
    expect_error("telemetry:\n  otlp_endpoint: collector:4318\n",
                 "t.yaml:2:18: telemetry.otlp_endpoint: expected an http:// or https:// URL (the collector's "
                 "OTLP/HTTP base, e.g. \"http://127.0.0.1:4318\")");
    expect_error("telemetry:\n  metrics_key: short\n", "t.yaml:2:16: telemetry.metrics_key: too short: a key needs at "
                                                      "least 8 characters");
    unsetenv("LX_TEST_UNSET_KEY");
    lx_config *cfg = NULL;
    llmux_error_info err;
    const char *t = "telemetry:\n  metrics_key: env:LX_TEST_UNSET_KEY\n";
    assert_int_equal(lx_config_load_text("t.yaml", NULL, t, strlen(t), &cfg, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "LX_TEST_UNSET_KEY"));
    /* A literal key in the file is accepted but never quoted back. */
    t = "telemetry:\n  metrics_key: [not, a, string]\n";
    assert_int_equal(lx_config_load_text("t.yaml", NULL, t, strlen(t), &cfg, &err), LLMUX_E_CONFIGURATION);
    cfg = load_ok("telemetry:\n  metrics_key: literal-key-in-file\n");
    char *out = printed(cfg);
    assert_non_null(strstr(out, "metrics_key set (in the file)\n"));
    assert_null(strstr(out, "literal-key-in-file"));
    free(out);
    lx_config_free(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
