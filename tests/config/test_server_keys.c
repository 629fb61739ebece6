/* server.keys, server.cors_origins and server.limits of llmux.yaml (src/config/schema_server.c)
 * and the SHA-256 the keys are held as (src/config/sha256.c). */
#define _DEFAULT_SOURCE /* setenv, open_memstream */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static void hex(const unsigned char d[32], char out[65]) {
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf") and the padding edge cases around 55/56/64 bytes. */
static void test_sha256_vectors(void **state) {
    unsigned char d[32];
    char h[65];
    lx_sha256("abc", 3, d);
    hex(d, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    lx_sha256("", 0, d);
    hex(d, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 448 bits: two blocks */
    lx_sha256(m, strlen(m), d);
    hex(d, h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    lx_sha256("test", 4, d); /* the brief's example digest: sha256("test") = 9f86d0... */
    hex(d, h);
    assert_string_equal(h, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    static char a[1000000];
    memset(a, 'a', sizeof a);
    lx_sha256(a, sizeof a, d);
    hex(d, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static lx_config *load(const char *text, llmux_error_info *err) {
    lx_config *cfg = NULL;
    llmux_status st = lx_config_load_text("t.yaml", NULL, text, strlen(text), &cfg, err);
    if (st != LLMUX_OK) return NULL;
    return cfg;
}

static void expect_error(const char *text, const char *fragment) {
    llmux_error_info err;
    lx_config *cfg = load(text, &err);
    if (cfg) fail_msg("loaded: %s", text);
    assert_int_equal(err.status, LLMUX_E_CONFIGURATION);
    if (!strstr(err.message, fragment)) fail_msg("message \"%s\" lacks \"%s\"", err.message, fragment);
}

static void test_keys_loaded(void **state) {
    setenv("LLMUX_TEST_ALICE_KEY", "sk-alice-0123456789abcdef", 1);
    llmux_error_info err;
    lx_config *cfg = load("server:\n"
                          "  listen: \"0.0.0.0:4000\"\n"
                          "  keys:\n"
                          "    - {name: alice, key: env:LLMUX_TEST_ALICE_KEY, models: [\"smart\", \"local/*\"], budget_usd: 20, rpm: 600}\n"
                          "    - {name: ci, key_sha256: \"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"}\n"
                          "    - {name: team, key: bbbbbbbbbbbbbbbbbbbb, budget_usd: 5, budget_period: monthly}\n"
                          "  cors_origins: [\"https://app.example\", \"*\"]\n"
                          "  limits: {max_body_bytes: 1048576, max_streams_per_key: 8, responses_store_mb: 0}\n"
                          "  metrics: true\n", /* a later feature's key still loads */
                          &err);
    if (!cfg) fail_msg("%s", err.message);
    lx_config_server_settings ss;
    lx_config_server(cfg, &ss);
    assert_int_equal(ss.n_keys, 3);
    assert_int_equal(ss.keys[0].budget_period, LX_BUDGET_TOTAL); /* no period: for all time */
    assert_int_equal(ss.keys[2].budget_period, LX_BUDGET_MONTHLY);
    assert_string_equal(ss.keys[0].name, "alice");
    unsigned char d[32];
    lx_sha256("sk-alice-0123456789abcdef", 25, d);
    assert_memory_equal(ss.keys[0].sha256, d, 32);
    assert_int_equal(ss.keys[0].n_models, 2);
    assert_string_equal(ss.keys[0].models[1], "local/*");
    assert_true(ss.keys[0].budget_usd == 20.0);
    assert_int_equal(ss.keys[0].rpm, 600);
    lx_sha256("test", 4, d);
    assert_memory_equal(ss.keys[1].sha256, d, 32); /* hex digits of either case */
    assert_int_equal(ss.keys[1].n_models, 1);        /* no models: every model */
    assert_string_equal(ss.keys[1].models[0], "*");
    assert_true(ss.keys[1].budget_usd < 0);
    assert_int_equal(ss.keys[1].rpm, 0);
    assert_int_equal(ss.n_cors_origins, 2);
    assert_string_equal(ss.cors_origins[0], "https://app.example");
    assert_int_equal(ss.max_body_bytes, 1048576);
    assert_int_equal(ss.max_streams_per_key, 8);
    assert_true(ss.has_responses_store_mb); /* 0 is a value (keep none), not "unset" */
    assert_int_equal(ss.responses_store_mb, 0);
    /* `llmux config check` shows names and limits, never a key or its digest. */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_non_null(m);
    lx_config_print(cfg, m);
    fclose(m);
    assert_non_null(strstr(text, "  key alice: models [smart, local/*], budget 20.00 USD, 600 rpm\n"));
    assert_non_null(strstr(text, "  key ci: models [*]\n"));
    assert_non_null(strstr(text, "  key team: models [*], budget 5.00 USD a month\n"));
    assert_non_null(strstr(text, "  cors origin: https://app.example\n"));
    assert_null(strstr(text, "sk-alice"));
    assert_null(strstr(text, "9f86d0"));
    free(text);
    lx_config_free(cfg);
    lx_config_server(NULL, &ss);
    assert_int_equal(ss.n_keys, 0);
    unsetenv("LLMUX_TEST_ALICE_KEY");
}

/* Every malformed entry is refused with the path of the fault, and never echoes a key. */
static void test_keys_malformed(void **state) {
    setenv("LLMUX_TEST_SHORT_KEY", "sk-short", 1);
    expect_error("server:\n  keys: {name: a}\n", "server.keys: expected a sequence");
    expect_error("server:\n  keys:\n    - {key: aaaaaaaaaaaaaaaaaaaa}\n", "server.keys[0]: name is required");
    expect_error("server:\n  keys:\n    - {name: \"a b\", key: aaaaaaaaaaaaaaaaaaaa}\n", "server.keys[0].name: expected 1..64");
    expect_error("server:\n  keys:\n    - {name: a}\n", "exactly one of key");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, key_sha256: "
                 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}\n",
                 "exactly one of key");
    expect_error("server:\n  keys:\n    - {name: a, key: env:LLMUX_TEST_SHORT_KEY}\n", "server.keys[0].key: a key must be 16..");
    expect_error("server:\n  keys:\n    - {name: a, key: env:LLMUX_TEST_UNSET_KEY_VAR}\n", "LLMUX_TEST_UNSET_KEY_VAR is not set");
    expect_error("server:\n  keys:\n    - {name: a, key_sha256: abc}\n", "server.keys[0].key_sha256: expected 64 hex digits");
    expect_error("server:\n  keys:\n    - {name: a, key_sha256: "
                 "zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}\n",
                 "expected 64 hex digits");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, models: []}\n", "at least one model pattern");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, models: smart}\n", "server.keys[0].models: expected a sequence");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, models: [\"\"]}\n", "server.keys[0].models[0]: expected 1..256");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, budget_usd: 0}\n", "server.keys[0].budget_usd");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, budget_usd: \"5\"}\n", "server.keys[0].budget_usd");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, rpm: 0}\n", "server.keys[0].rpm");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, budget_period: daily}\n",
                 "budget_period needs budget_usd");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, budget_usd: 5, budget_period: hourly}\n",
                 "server.keys[0].budget_period: expected total, daily, weekly or monthly");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, budget_usd: 5, budget_period: [daily]}\n",
                 "server.keys[0].budget_period");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa, rpms: 5}\n", "server.keys[0].rpms: unknown key");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa}\n    - {name: a, key: bbbbbbbbbbbbbbbbbbbb}\n",
                 "server.keys[1]: the name \"a\" is used by keys[0] too");
    expect_error("server:\n  keys:\n    - {name: a, key: aaaaaaaaaaaaaaaaaaaa}\n    - {name: b, key: aaaaaaaaaaaaaaaaaaaa}\n",
                 "server.keys[1]: the same key as keys[0]");
    expect_error("server:\n  cors_origins: [\"https://app.example/\"]\n", "server.cors_origins[0]: expected \"*\" or an origin");
    expect_error("server:\n  cors_origins: [\"app.example\"]\n", "server.cors_origins[0]");
    expect_error("server:\n  cors_origins: \"*\"\n", "server.cors_origins: expected a sequence");
    expect_error("server:\n  limits: {max_body_bytes: 10}\n", "server.limits.max_body_bytes");
    expect_error("server:\n  limits: {max_streams_per_key: 0}\n", "server.limits.max_streams_per_key");
    expect_error("server:\n  limits: {responses_store_mb: -1}\n", "server.limits.responses_store_mb");
    expect_error("server:\n  limits: {max_streams: 3}\n", "server.limits.max_streams: unknown key");
    /* A key in the file is never quoted back, also when it is refused. */
    llmux_error_info err;
    assert_null(load("server:\n  keys:\n    - {name: a, key: sk-secret-xyz}\n", &err));
    assert_null(strstr(err.message, "sk-secret-xyz"));
    unsetenv("LLMUX_TEST_SHORT_KEY");
}

/* A key written in the file (not recommended, but accepted) is hashed like one from env:. */
static void test_key_in_file(void **state) {
    llmux_error_info err;
    lx_config *cfg = load("server:\n  keys:\n    - {name: f, key: \"sk-in-the-file-0123456789\", models: [\"a/*\"]}\n", &err);
    if (!cfg) fail_msg("%s", err.message);
    lx_config_server_settings ss;
    lx_config_server(cfg, &ss);
    unsigned char d[32];
    lx_sha256("sk-in-the-file-0123456789", 25, d);
    assert_int_equal(ss.n_keys, 1);
    assert_memory_equal(ss.keys[0].sha256, d, 32);
    lx_config_free(cfg);
}

static void test_keys_cap(void **state) {
    size_t n = LX_CONFIG_MAX_KEYS + 1, cap = 64 + n * 64;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t at = (size_t)snprintf(text, cap, "server:\n  keys:\n");
    for (size_t i = 0; i < n; i++) at += (size_t)snprintf(text + at, cap - at, "    - {name: k%zu, key: key-%016zu}\n", i, i);
    expect_error(text, "more than 1024 keys");
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_keys_loaded),
        cmocka_unit_test(test_keys_malformed),
        cmocka_unit_test(test_key_in_file),
        cmocka_unit_test(test_keys_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
