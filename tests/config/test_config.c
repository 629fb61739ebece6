/* llmux.yaml: broken files give "FILE:LINE:COLUMN: KEY.PATH: problem" (exact messages), valid
 * files map onto exact runtime params, env: references, secrets kept out of messages, caps,
 * discovery order. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

static char g_dir[256]; /* scratch directory */

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/llmux-config-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/models", g_dir);
    return mkdir(p, 0700);
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Loads text as "t.yaml" and expects the exact message. */
static void expect_error(const char *text, const char *want) {
    lx_config *cfg = (lx_config *)1;
    llmux_error_info err;
    llmux_status st = lx_config_load_text("t.yaml", g_dir, text, strlen(text), &cfg, &err);
    if (st == LLMUX_OK) fail_msg("loaded, expected: %s", want);
    assert_null(cfg);
    assert_int_equal(st, LLMUX_E_CONFIGURATION);
    assert_int_equal(err.status, LLMUX_E_CONFIGURATION);
    if (strcmp(err.message, want) != 0) fail_msg("message\n  got:  %s\n  want: %s", err.message, want);
}

static lx_config *load_ok(const char *text) {
    lx_config *cfg = NULL;
    llmux_error_info err;
    llmux_status st = lx_config_load_text("t.yaml", g_dir, text, strlen(text), &cfg, &err);
    if (st != LLMUX_OK) fail_msg("%s", err.message);
    assert_non_null(cfg);
    return cfg;
}

/* ------------------------------------------------------------ broken files */

static void test_unknown_keys(void **state) {
    (void)state;
    expect_error("modles: {}\n", "t.yaml:1:1: modles: unknown key (did you mean \"models\"?)");
    expect_error("timeouts:\n  conect_ms: 5\n", "t.yaml:2:3: timeouts.conect_ms: unknown key (did you mean \"connect_ms\"?)");
    expect_error("zzz: 1\n", "t.yaml:1:1: zzz: unknown key");
    expect_error("models:\n  a:\n    targets: [openai/x]\n    rety: {attempts: 2}\n",
                 "t.yaml:4:5: models.a.rety: unknown key (did you mean \"retry\"?)");
    expect_error("models:\n  a:\n    targets: [{model: openai/x, params: {temprature: 1}}]\n",
                 "t.yaml:3:42: models.a.targets[0].params.temprature: unknown key (did you mean \"temperature\"?)");
    expect_error("providers:\n  openai: {apikey: env:X}\n",
                 "t.yaml:2:12: providers.openai.apikey: unknown key (did you mean \"api_key\"?)");
}

static void test_wrong_types(void **state) {
    (void)state;
    expect_error("local: {threads: \"4\"}\n",
                 "t.yaml:1:18: local.threads: expected an integer in [0, 1024] (0 = one per core), got \"4\" (quoted, so a "
                 "string)");
    expect_error("models: [a, b]\n", "t.yaml:1:9: models: expected a mapping of alias names to {targets, ...}");
    expect_error("timeouts: 5\n", "t.yaml:1:11: timeouts: expected a mapping (connect_ms, first_byte_ms, idle_ms, "
                                  "total_ms), got a scalar");
    expect_error("records: {url: \"sqlite:r.db\", bodies: yes}\n",
                 "t.yaml:1:39: records.bodies: expected true or false, got \"yes\"");
    expect_error("local: {model_dirs: ./models}\n",
                 "t.yaml:1:21: local.model_dirs: expected a sequence of directories, e.g. [./models]");
    expect_error("- 1\n- 2\n", "t.yaml:1:1: expected a mapping at the top level (providers, models, local, ...), got a "
                               "sequence");
}

static void test_bad_weight(void **state) {
    (void)state;
    expect_error("models:\n  chain:\n    targets: [openai/a, {model: openai/b, weight: 0}]\n",
                 "t.yaml:3:51: models.chain.targets[1].weight: expected a positive integer, got \"0\"");
    expect_error("models:\n  chain:\n    targets:\n      - {model: openai/b, weight: 1.5}\n",
                 "t.yaml:4:35: models.chain.targets[0].weight: expected a positive integer, got \"1.5\"");
    expect_error("models:\n  chain:\n    targets:\n      - {weight: 2}\n",
                 "t.yaml:4:9: models.chain.targets[0]: model is required");
}

static void test_bad_status_name(void **state) {
    (void)state;
    expect_error("models:\n  x:\n    targets: [openai/a]\n    fallback_on: [overloaded, rate_limit]\n",
                 "t.yaml:4:31: models.x.fallback_on[1]: unknown error class \"rate_limit\" (did you mean "
                 "\"rate_limited\"?)");
    expect_error("models:\n  x:\n    targets: [openai/a]\n    fallback_on: [ok]\n",
                 "t.yaml:4:19: models.x.fallback_on[0]: unknown error class \"ok\" (docs/errors.md lists them)");
    expect_error("models:\n  x:\n    targets: [openai/a]\n    fallback_on: [timeout, timeout]\n",
                 "t.yaml:4:28: models.x.fallback_on[1]: \"timeout\" is listed twice");
    expect_error("models:\n  x:\n    targets: [openai/a]\n    fallback_on: []\n",
                 "t.yaml:4:18: models.x.fallback_on: an empty list; leave fallback_on out for the default (the "
                 "retryable classes)");
}

static void test_env_references(void **state) {
    (void)state;
    unsetenv("LLMUX_TEST_UNSET_VAR");
    expect_error("providers:\n  openai:\n    api_key: env:LLMUX_TEST_UNSET_VAR\n",
                 "t.yaml:3:14: providers.openai.api_key: environment variable LLMUX_TEST_UNSET_VAR is not set");
    setenv("LLMUX_TEST_EMPTY_VAR", "", 1);
    expect_error("providers:\n  openai:\n    api_key: env:LLMUX_TEST_EMPTY_VAR\n",
                 "t.yaml:3:14: providers.openai.api_key: environment variable LLMUX_TEST_EMPTY_VAR is empty");
    expect_error("providers:\n  openai: {api_key: \"env:\"}\n",
                 "t.yaml:2:21: providers.openai.api_key: env: needs an environment variable name (letters, digits, "
                 "_), e.g. env:OPENAI_API_KEY");
    /* A value from the environment that is wrong is reported without the value: it may be a
     * secret (a URL with a password). */
    setenv("LLMUX_TEST_BAD_URL", "ftp://user:hunter2@example.com", 1);
    expect_error("providers:\n  x: {base_url: env:LLMUX_TEST_BAD_URL}\n",
                 "t.yaml:2:17: providers.x.base_url: expected a URL starting with http:// or https://");
    setenv("LLMUX_TEST_BAD_URL", "mysql://root:hunter2@db/x", 1);
    expect_error("records: env:LLMUX_TEST_BAD_URL\n",
                 "t.yaml:1:10: records: expected \"sqlite:PATH\", a \"postgresql://\" URL or none");
    unsetenv("LLMUX_TEST_BAD_URL");
    unsetenv("LLMUX_TEST_EMPTY_VAR");
}

static void test_duplicate_keys(void **state) {
    (void)state;
    expect_error("timeouts: {connect_ms: 1, connect_ms: 2}\n",
                 "t.yaml:1:27: timeouts.connect_ms: duplicate key (first defined at line 1)");
    expect_error("models:\n  a:\n    targets: [openai/x]\n  b:\n    targets: [openai/y]\n  a:\n    targets: [openai/z]\n",
                 "t.yaml:6:3: models.a: duplicate key (first defined at line 2)");
    expect_error("local: {}\nlocal: {}\n", "t.yaml:2:1: local: duplicate key (first defined at line 1)");
}

static void test_invalid_yaml(void **state) {
    (void)state;
    expect_error("timeouts:\n\tconnect_ms: 5\n",
                 "t.yaml:2:1: timeouts: invalid YAML: found character that cannot start any token (while scanning for "
                 "the next token); YAML indents with spaces, not tabs");
    expect_error("models: [1, 2\n", "t.yaml:2:1: models[2]: invalid YAML: did not find expected ',' or ']' (while "
                                    "parsing a flow sequence)");
    expect_error("a: 1\n b: 2\n", "t.yaml:2:3: invalid YAML: mapping values are not allowed in this context");
    expect_error("---\nlocal: {}\n---\nlocal: {}\n",
                 "t.yaml:3:1: a second YAML document (---): the configuration is one document");
    expect_error("local: \"\xff\"\n", "t.yaml:1:9: invalid YAML: invalid leading UTF-8 octet");
    expect_error("timeouts: {connect_ms: !!int 5}\n",
                 "t.yaml:1:24: timeouts.connect_ms: YAML tags are not supported (only !!str)");
    expect_error("? [a]\n: 1\n", "t.yaml:1:3: a key must be a plain value, not a sequence");
    expect_error("models:\n  a:\n    retry: *r\n", "t.yaml:3:12: models.a.retry: alias *r names no anchor defined before it");
}

static void test_alias_bomb(void **state) {
    (void)state;
    /* "Billion laughs": each level holds 9 aliases of the previous one; six levels expand to 9^6
     * = 531441 scalars from a file of a few hundred bytes. Refused when the expansion passes the
     * cap, at the alias that passes it. */
    const char *bomb = "a: &a [1,1,1,1,1,1,1,1,1]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                       "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                       "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
    expect_error(bomb, "t.yaml:6:8: f[0]: more than 100000 YAML nodes (aliases count as what they expand to)");
}

static void test_depth_cap(void **state) {
    (void)state;
    char text[256];
    size_t n = 0;
    n += (size_t)snprintf(text, sizeof text, "x: ");
    for (int i = 0; i < 40; i++) text[n++] = '[';
    text[n] = '\0';
    /* The 32nd open bracket is refused, at its column (4 + 31). */
    expect_error(text, "t.yaml:1:35: x[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
                       "[0][0][0][0]: nested deeper than 32 levels");
}

static void test_size_cap(void **state) {
    (void)state;
    size_t big = LX_CONFIG_MAX_BYTES + 1;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, '#', big);
    text[big] = '\0';
    lx_config *cfg = (lx_config *)1;
    llmux_error_info err;
    assert_int_equal(lx_config_load_text("t.yaml", NULL, text, big, &cfg, &err), LLMUX_E_CONFIGURATION);
    assert_null(cfg);
    assert_string_equal(err.message, "t.yaml: 1048577 bytes, larger than the 1048576-byte cap on a configuration file");

    /* The same through a file, and exactly the cap is fine (a file of comments). */
    char path[512];
    snprintf(path, sizeof path, "%s/big.yaml", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, big, f), big);
    fclose(f);
    assert_int_equal(lx_config_load(path, &cfg, &err), LLMUX_E_CONFIGURATION);
    char want[700];
    snprintf(want, sizeof want, "%s: 1048577 bytes, larger than the 1048576-byte cap on a configuration file", path);
    assert_string_equal(err.message, want);
    assert_int_equal(truncate(path, LX_CONFIG_MAX_BYTES), 0);
    assert_int_equal(lx_config_load(path, &cfg, &err), LLMUX_OK);
    lx_config_free(cfg);
    free(text);

    /* Not a regular file. */
    assert_int_equal(lx_config_load(g_dir, &cfg, &err), LLMUX_E_CONFIGURATION);
    snprintf(want, sizeof want, "%s: not a regular file", g_dir);
    assert_string_equal(err.message, want);
    /* A FIFO is refused at once, not waited on. */
    snprintf(path, sizeof path, "%s/fifo.yaml", g_dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(lx_config_load(path, &cfg, &err), LLMUX_E_CONFIGURATION);
    snprintf(want, sizeof want, "%s: not a regular file", path);
    assert_string_equal(err.message, want);
}

static void test_targets(void **state) {
    (void)state;
    expect_error("models:\n  a:\n    targets: []\n", "t.yaml:3:14: models.a.targets: no targets: an alias needs at least one");
    expect_error("models:\n  a: {retry: {attempts: 2}}\n", "t.yaml:2:6: models.a: targets is required (a list of "
                                                            "PROVIDER/MODEL)");
    expect_error("models:\n  a:\n    targets: [opnai/x]\n",
                 "t.yaml:3:15: models.a.targets[0]: unknown provider \"opnai\" (did you mean \"openai\"?)");
    expect_error("models:\n  a:\n    targets: [gpt-4o]\n",
                 "t.yaml:3:15: models.a.targets[0]: expected PROVIDER/MODEL (e.g. openai/gpt-4o), local/NAME or a "
                 ".gguf path, got \"gpt-4o\"");
    expect_error("models:\n  a:\n    targets: [openai/x]\n  b:\n    targets: [a]\n",
                 "t.yaml:5:15: models.b.targets[0]: \"a\" is an alias; targets name PROVIDER/MODEL (aliases do not "
                 "nest)");
    expect_error("models:\n  a:\n    targets: [openai/]\n", "t.yaml:3:15: models.a.targets[0]: no model name after \"openai/\"");
    expect_error("models:\n  a:\n    targets: [openai/x]\n    retry: {backoff_ms: 500, max_backoff_ms: 100}\n",
                 "t.yaml:4:46: models.a.retry.max_backoff_ms: smaller than backoff_ms (500)");
    expect_error("models:\n  a:\n    targets: [openai/x]\n    retry: {attempts: 0}\n",
                 "t.yaml:4:23: models.a.retry.attempts: expected an integer in [1, 100] (1 = no retry), got \"0\"");
    expect_error("models:\n  a:\n    targets: [{model: openai/x, params: {temperature: -1}}]\n",
                 "t.yaml:3:55: models.a.targets[0].params.temperature: expected a number >= 0, got \"-1\"");
    expect_error("models:\n  a:\n    targets: [{model: openai/x, params: {stop: [\"\"]}}]\n",
                 "t.yaml:3:49: models.a.targets[0].params.stop[0]: a stop sequence cannot be empty");
}

static void test_alias_names(void **state) {
    (void)state;
    expect_error("models:\n  a/b:\n    targets: [openai/x]\n",
                 "t.yaml:2:3: models[\"a/b\"]: an alias name cannot contain '/' (names with '/' are PROVIDER/MODEL)");
    expect_error("models:\n  openai:\n    targets: [openai/x]\n",
                 "t.yaml:2:3: models.openai: \"openai\" is a provider name; an alias needs a name of its own");
    expect_error("models:\n  m.gguf:\n    targets: [openai/x]\n",
                 "t.yaml:2:3: models[\"m.gguf\"]: an alias name cannot look like a model file (a leading '.' or .gguf)");
    expect_error("providers:\n  vllm: {base_url: \"http://h/v1\"}\nmodels:\n  vllm:\n    targets: [vllm/x]\n",
                 "t.yaml:4:3: models.vllm: \"vllm\" is a provider name; an alias needs a name of its own");
}

static void test_numbers_and_ranges(void **state) {
    (void)state;
    expect_error("timeouts:\n  connect_ms: -5\n",
                 "t.yaml:2:15: timeouts.connect_ms: expected a positive integer (milliseconds, at most 7 days), got "
                 "\"-5\"");
    expect_error("timeouts: {total_ms: 0}\n",
                 "t.yaml:1:22: timeouts.total_ms: expected a positive integer (milliseconds, at most 7 days), got \"0\"");
    expect_error("timeouts: {idle_ms: 0x10}\n",
                 "t.yaml:1:21: timeouts.idle_ms: expected a positive integer (milliseconds, at most 7 days), got "
                 "\"0x10\"");
    expect_error("cooldown: {seconds: .nan}\n",
                 "t.yaml:1:21: cooldown.seconds: expected a number of seconds in (0, 86400], got \".nan\"");
    expect_error("local: {ctx: 8}\n", "t.yaml:1:14: local.ctx: expected 0 or an integer in [16, 1048576], got 8");
    expect_error("prices: {\"x\": {input: 1}}\n", "t.yaml:1:10: prices.x: expected \"provider/model\" as the key");
    expect_error("prices: {\"a/b\": {input: -1}}\n",
                 "t.yaml:1:25: prices[\"a/b\"].input: expected a price in [0, 1000000] (USD per million tokens), got \"-1\"");
    expect_error("prices: {\"a/b\": {}}\n", "t.yaml:1:17: prices[\"a/b\"]: no price given (input, output, cache_read, "
                                           "cache_write)");
}

static void test_providers(void **state) {
    (void)state;
    expect_error("providers:\n  opnai: {api_key: none}\n",
                 "t.yaml:2:3: providers.opnai: not a built-in provider (did you mean \"openai\"?); a new one needs "
                 "base_url");
    expect_error("providers:\n  mybox: {api_key: none}\n",
                 "t.yaml:2:3: providers.mybox: base_url is required for a provider that is not built in (openai, "
                 "openai-responses, anthropic, gemini, openrouter, ollama)");
    expect_error("providers:\n  x: {protocol: antropic, base_url: \"http://h\"}\n",
                 "t.yaml:2:17: providers.x.protocol: unknown protocol \"antropic\" (did you mean \"anthropic\"?)");
    expect_error("providers:\n  My_Box: {base_url: \"http://h\"}\n",
                 "t.yaml:2:3: providers.My_Box: a provider name is lower-case letters, digits, '.', '_' or '-' (at "
                 "most 64)");
    expect_error("providers:\n  local: {base_url: \"http://h\"}\n",
                 "t.yaml:2:3: providers.local: \"local\" names local models, not a provider");
    expect_error("server: 8080\n", "t.yaml:1:9: server: expected a mapping of server settings");
    char want[600];
    snprintf(want, sizeof want, "t.yaml:1:22: local.model_dirs[0]: %s/./nope is not a directory", g_dir);
    expect_error("local: {model_dirs: [./nope]}\n", want);
}

/* -------------------------------------------------------------- valid files */

static const char *const k_example =
    "providers:                       # overrides or new OpenAI-compatible servers\n"
    "  openai: {api_key: env:LLMUX_TEST_OPENAI_KEY}\n"
    "  vllm-a: {protocol: openai, base_url: \"http://gpu-box.internal:8000/v1\", api_key: none}\n"
    "models:                          # aliases\n"
    "  smart:\n"
    "    targets: [anthropic/claude-sonnet-4-5, openai/gpt-4o]\n"
    "    retry: {attempts: 3, backoff_ms: 200, max_backoff_ms: 5000}\n"
    "    fallback_on: [rate_limited, overloaded, upstream_server_error, network, timeout, context_length_exceeded]\n"
    "  cheap:\n"
    "    targets: [{model: vllm-a/qwen, weight: 3}, {model: openrouter/qwen/qwen-2.5-7b-instruct, weight: 1}]\n"
    "local: {model_dirs: [./models], threads: 0, ctx: 4096}\n"
    "timeouts: {connect_ms: 10000, first_byte_ms: 120000, idle_ms: 60000, total_ms: 600000}\n"
    "cooldown: {failures: 3, seconds: 30}\n"
    "records: \"sqlite:./records.db\"   # or \"postgresql://user@host/db\"\n"
    "prices: {\"vllm-a/qwen\": {input: 0.1, output: 0.3}}   # USD per million tokens, overrides the catalog\n";

static void test_issue_example(void **state) {
    (void)state;
    setenv("LLMUX_TEST_OPENAI_KEY", "sk-test-123", 1);
    lx_config *cfg = load_ok(k_example);
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);

    assert_int_equal(rp.n_providers, 2);
    assert_string_equal(rp.providers[0].name, "openai");
    assert_null(rp.providers[0].protocol);
    assert_null(rp.providers[0].base_url);
    assert_string_equal(rp.providers[0].api_key, "sk-test-123");
    assert_string_equal(rp.providers[1].name, "vllm-a");
    assert_string_equal(rp.providers[1].protocol, "openai");
    assert_string_equal(rp.providers[1].base_url, "http://gpu-box.internal:8000/v1");
    assert_null(rp.providers[1].api_key);

    assert_int_equal(rp.n_aliases, 2);
    const llmux_alias *a = &rp.aliases[0];
    assert_string_equal(a->name, "smart");
    assert_int_equal(a->n_targets, 2);
    assert_string_equal(a->targets[0].model, "anthropic/claude-sonnet-4-5");
    assert_int_equal(a->targets[0].weight, 0);
    assert_null(a->targets[0].overrides);
    assert_string_equal(a->targets[1].model, "openai/gpt-4o");
    assert_int_equal(a->retry.attempts, 3);
    assert_int_equal(a->retry.backoff_ms, 200);
    assert_int_equal(a->retry.max_backoff_ms, 5000);
    static const llmux_status want_fb[] = {LLMUX_E_RATE_LIMITED, LLMUX_E_OVERLOADED, LLMUX_E_UPSTREAM_SERVER,
                                           LLMUX_E_NETWORK,      LLMUX_E_TIMEOUT,    LLMUX_E_CONTEXT_LENGTH};
    assert_int_equal(a->n_fallback_on, 6);
    for (size_t i = 0; i < 6; i++) assert_int_equal(a->fallback_on[i], want_fb[i]);
    a = &rp.aliases[1];
    assert_string_equal(a->name, "cheap");
    assert_int_equal(a->n_targets, 2);
    assert_string_equal(a->targets[0].model, "vllm-a/qwen");
    assert_int_equal(a->targets[0].weight, 3);
    assert_string_equal(a->targets[1].model, "openrouter/qwen/qwen-2.5-7b-instruct");
    assert_int_equal(a->targets[1].weight, 1);
    assert_int_equal(a->retry.attempts, 0); /* the runtime's default */
    assert_null(a->fallback_on);
    assert_int_equal(a->n_fallback_on, 0);

    char want[600];
    assert_int_equal(rp.n_model_dirs, 1);
    snprintf(want, sizeof want, "%s/./models", g_dir);
    assert_string_equal(rp.model_dirs[0], want);
    assert_int_equal(rp.n_threads, 0);
    assert_int_equal(rp.n_ctx, 4096);
    assert_int_equal(rp.connect_timeout_ms, 10000);
    assert_int_equal(rp.first_byte_timeout_ms, 120000);
    assert_int_equal(rp.idle_timeout_ms, 60000);
    assert_int_equal(rp.total_timeout_ms, 600000);
    assert_int_equal(rp.cooldown_failures, 3);
    assert_int_equal(rp.cooldown_ms, 30000);
    snprintf(want, sizeof want, "sqlite:%s/./records.db", g_dir);
    assert_string_equal(rp.records, want);
    assert_false(rp.records_omit_bodies);

    const llmux_model_info *prices;
    size_t n;
    lx_config_prices(cfg, &prices, &n);
    assert_int_equal(n, 1);
    assert_string_equal(prices[0].id, "vllm-a/qwen");
    assert_null(prices[0].provider);
    assert_true(prices[0].input_price == 0.1);
    assert_true(prices[0].output_price == 0.3);
    assert_true(isnan(prices[0].cache_read_price));
    assert_true(isnan(prices[0].cache_write_price));
    assert_int_equal(prices[0].context_length, -1);
    assert_int_equal(prices[0].max_output_tokens, -1);

    /* The report shows where the key comes from, never the key. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    lx_config_print(cfg, f);
    fclose(f);
    assert_non_null(strstr(buf, "openai: protocol openai (built in), base_url default, key: set (env:LLMUX_TEST_OPENAI_KEY)\n"));
    assert_non_null(strstr(buf, "vllm-a: protocol openai, base_url http://gpu-box.internal:8000/v1, key: none\n"));
    assert_non_null(strstr(buf, "      1. vllm-a/qwen (weight 3)\n"));
    assert_non_null(strstr(buf, "    retry: attempts 3, backoff_ms 200, max_backoff_ms 5000\n"));
    assert_non_null(strstr(buf, "    retry: attempts 2 (default), backoff_ms 200 (default), max_backoff_ms 5000 (default)\n"));
    assert_non_null(strstr(buf, "    fallback_on: the retryable classes (default): rate_limited, overloaded"));
    assert_null(strstr(buf, "sk-test-123"));
    free(buf);
    lx_config_free(cfg);
    unsetenv("LLMUX_TEST_OPENAI_KEY");
}

static void test_overrides_json(void **state) {
    (void)state;
    lx_config *cfg = load_ok("models:\n"
                             "  a:\n"
                             "    targets:\n"
                             "      - model: openai/gpt-4o\n"
                             "        params:\n"
                             "          temperature: 0.2\n"
                             "          max_tokens: 512\n"
                             "          stop: \"\\n\\n\"\n"
                             "          seed: 7\n"
                             "          top_p: 1\n"
                             "          provider_options: {openai: {store: false, user: \"u1\", n: 2, x: null}}\n"
                             "      - local/tiny\n");
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_int_equal(rp.aliases[0].n_targets, 2);
    /* Flat canonical request fields (docs/canonical-json.md), in the file's order. */
    assert_string_equal(rp.aliases[0].targets[0].overrides,
                        "{\"temperature\":0.2,\"max_tokens\":512,\"stop\":[\"\\n\\n\"],\"seed\":7,\"top_p\":1.0,"
                        "\"provider_options\":{\"openai\":{\"store\":false,\"user\":\"u1\",\"n\":2,\"x\":null}}}");
    /* ...which the canonical decoder reads back as the request fields. */
    llmux_request *req = NULL;
    const char *j = rp.aliases[0].targets[0].overrides;
    assert_int_equal(llmux_request_from_json(j, strlen(j), &req, NULL), LLMUX_OK);
    assert_true(req->sampling.temperature == 0.2);
    assert_int_equal(req->sampling.max_tokens, 512);
    assert_int_equal(req->sampling.n_stop, 1);
    llmux_request_free(req);
    assert_string_equal(rp.aliases[0].targets[1].model, "local/tiny");
    assert_null(rp.aliases[0].targets[1].overrides);
    lx_config_free(cfg);
}

static void test_small_sections(void **state) {
    (void)state;
    lx_config *cfg = load_ok("records: {url: \"postgresql://llmux@db.internal/llmux\", bodies: false}\n"
                             "cooldown: {failures: 0, seconds: 0.5}\n"
                             "server: {listen: \"127.0.0.1:8080\"}\n"
                             "providers:\n"
                             "models:\n");
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_string_equal(rp.records, "postgresql://llmux@db.internal/llmux");
    assert_true(rp.records_omit_bodies);
    assert_int_equal(rp.cooldown_failures, -1); /* 0 in the file: never */
    assert_int_equal(rp.cooldown_ms, 500);
    assert_int_equal(rp.n_providers, 0);
    assert_int_equal(rp.n_aliases, 0);
    lx_config_free(cfg);

    /* Anchors and aliases are fine within the cap. */
    cfg = load_ok("models:\n"
                  "  a:\n"
                  "    targets: [openai/x]\n"
                  "    retry: &r {attempts: 5, backoff_ms: 10}\n"
                  "  b:\n"
                  "    targets: [openai/y]\n"
                  "    retry: *r\n");
    rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_int_equal(rp.aliases[1].retry.attempts, 5);
    assert_int_equal(rp.aliases[1].retry.backoff_ms, 10);
    lx_config_free(cfg);
}

/* local: every key reaches llmux_runtime_params; absent keys leave the defaults; bad values are
 * refused at their line and column; config check prints them. */
static void test_local_section(void **state) {
    (void)state;
    lx_config *cfg = load_ok("local:\n"
                             "  slots: 4\n"
                             "  memory_budget_mb: 2048\n"
                             "  idle_unload_s: 600\n"
                             "  prompt_cache_mb: 0\n"
                             "  queue: {max_waiting: 32, max_wait_ms: 5000}\n");
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_int_equal(rp.local_slots, 4);
    assert_int_equal(rp.local_memory_budget_mb, 2048);
    assert_int_equal(rp.local_idle_unload_s, 600);
    assert_int_equal(rp.local_prompt_cache_mb, 0); /* 0 = off, not "unset" */
    assert_int_equal(rp.local_max_waiting, 32);
    assert_int_equal(rp.local_max_wait_ms, 5000);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    lx_config_print(cfg, f);
    fclose(f);
    assert_non_null(strstr(text, ", slots 4, prompt_cache_mb 0, memory_budget_mb 2048, idle_unload_s 600\n"
                                 "  queue: max_waiting 32, max_wait_ms 5000\n"));
    free(text);
    lx_config_free(cfg);

    cfg = load_ok("local: {threads: 2, queue: {}}\n");
    rp = llmux_runtime_default_params();
    llmux_runtime_params def = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_int_equal(rp.local_slots, def.local_slots);
    assert_int_equal(rp.local_prompt_cache_mb, 256);
    assert_int_equal(rp.local_memory_budget_mb, 0);
    assert_int_equal(rp.local_idle_unload_s, 0);
    assert_int_equal(rp.local_max_waiting, 0);
    assert_int_equal(rp.local_max_wait_ms, 0);
    lx_config_free(cfg);

    expect_error("local:\n  slots: 65\n", "t.yaml:2:10: local.slots: expected an integer in [0, 64] (0 = from the context size), got \"65\"");
    expect_error("local: {memory_budget_mb: -1}\n",
                 "t.yaml:1:27: local.memory_budget_mb: expected megabytes in [0, 16777216] (0 = no budget), got \"-1\"");
    expect_error("local: {idle_unload_s: 1.5}\n",
                 "t.yaml:1:24: local.idle_unload_s: expected seconds in [0, 2592000] (0 = never), got \"1.5\"");
    expect_error("local:\n  queue:\n    max_waiting: 0\n",
                 "t.yaml:3:18: local.queue.max_waiting: expected an integer in [1, 65536], got \"0\"");
    expect_error("local: {queue: {max_wait: 5}}\n", "t.yaml:1:17: local.queue.max_wait: unknown key");
    expect_error("local: {queue: 5}\n", "t.yaml:1:16: local.queue: expected a mapping (max_waiting, max_wait_ms), got a scalar");
    expect_error("local: {prompt_cache_mb: \"64\"}\n",
                 "t.yaml:1:26: local.prompt_cache_mb: expected megabytes in [0, 1048576] (0 = off), got \"64\" (quoted, so a string)");
}

/* local.prompt_cache_dir (relative to the file's directory) and prompt_cache_dir_mb reach the
 * runtime params and the report; an empty path and a size out of range are refused. */
static void test_local_prompt_cache_dir(void **state) {
    (void)state;
    lx_config *cfg = load_ok("local: {prompt_cache_dir: pcache, prompt_cache_dir_mb: 512}\n");
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    char want[sizeof g_dir + 16];
    snprintf(want, sizeof want, "%s/pcache", g_dir);
    assert_string_equal(rp.local_prompt_cache_dir, want);
    assert_int_equal(rp.local_prompt_cache_dir_mb, 512);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    lx_config_print(cfg, f);
    fclose(f);
    assert_non_null(strstr(text, "/pcache, prompt_cache_dir_mb 512\n"));
    free(text);
    lx_config_free(cfg);

    cfg = load_ok("local: {threads: 2}\n");
    rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_null(rp.local_prompt_cache_dir);
    assert_int_equal(rp.local_prompt_cache_dir_mb, 0);
    lx_config_free(cfg);

    expect_error("local: {prompt_cache_dir: \"\"}\n",
                 "t.yaml:1:27: local.prompt_cache_dir: expected a directory, got an empty string");
    expect_error("local: {prompt_cache_dir_mb: 0}\n",
                 "t.yaml:1:30: local.prompt_cache_dir_mb: expected megabytes in [1, 1048576], got \"0\"");
}

/* local.isolation: process | in_process reaches llmux_runtime_params; absent = in_process. */
static void test_local_isolation(void **state) {
    (void)state;
    lx_config *cfg = load_ok("local:\n  isolation: process\n");
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_int_equal(rp.local_isolation, LLMUX_ISOLATION_PROCESS);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    lx_config_print(cfg, f);
    fclose(f);
    assert_non_null(strstr(text, "  isolation: process (sandboxed engine child)\n"));
    free(text);
    lx_config_free(cfg);
    cfg = load_ok("local: {isolation: in_process}\n");
    rp = llmux_runtime_default_params();
    rp.local_isolation = LLMUX_ISOLATION_PROCESS;
    lx_config_runtime_params(cfg, &rp);
    assert_int_equal(rp.local_isolation, LLMUX_ISOLATION_IN_PROCESS);
    lx_config_free(cfg);
    cfg = load_ok("local: {threads: 2}\n");
    rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_int_equal(rp.local_isolation, LLMUX_ISOLATION_IN_PROCESS);
    lx_config_free(cfg);
    expect_error("local: {isolation: sandbox}\n",
                 "t.yaml:1:20: local.isolation: expected process or in_process, got \"sandbox\"");
}

/* sandbox: require, user and group (names or numbers) reach llmux_runtime_params; root and
 * unknown names are refused where they are written. */
static void test_sandbox_section(void **state) {
    (void)state;
    lx_config *cfg = load_ok("sandbox:\n  require: true\n  user: daemon\n  group: 4242\n");
    llmux_runtime_params rp = llmux_runtime_default_params();
    assert_false(rp.engine_sandbox_require);
    assert_int_equal(rp.engine_uid, 0);
    lx_config_runtime_params(cfg, &rp);
    assert_true(rp.engine_sandbox_require);
    assert_int_equal(rp.engine_uid, 1); /* daemon: uid 1 in every Debian base image */
    assert_int_equal(rp.engine_gid, 4242);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    lx_config_print(cfg, f);
    fclose(f);
    assert_non_null(strstr(text, "sandbox: require yes, user 1, group 4242 (when started as root)\n"));
    free(text);
    lx_config_free(cfg);
    cfg = load_ok("local: {threads: 2}\n");
    rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    assert_false(rp.engine_sandbox_require);
    assert_int_equal(rp.engine_uid, 0);
    assert_int_equal(rp.engine_gid, 0);
    lx_config_free(cfg);
    expect_error("sandbox: {user: root}\n", "t.yaml:1:17: sandbox.user: \"root\" is root: the engine never runs as root");
    expect_error("sandbox: {user: 0}\n", "t.yaml:1:17: sandbox.user: expected a user name or a number in [1, 2147483647]");
    expect_error("sandbox: {group: no-such-group-x}\n",
                 "t.yaml:1:18: sandbox.group: no group named \"no-such-group-x\" on this machine");
    expect_error("sandbox: {require: maybe}\n", "t.yaml:1:20: sandbox.require: expected true or false, got \"maybe\"");
    expect_error("sandbox: {requir: true}\n", "t.yaml:1:11: sandbox.requir: unknown key (did you mean \"require\"?)");
}

/* The report masks passwords in URLs and never shows a key, whatever its source. */
static void test_report_masks_secrets(void **state) {
    (void)state;
    lx_config *cfg = load_ok("records: \"postgresql://me:hunter2@db:5432/x\"\n"
                             "providers:\n"
                             "  box: {base_url: \"https://u:pw-secret@h.example/v1\", api_key: sk-literal-secret}\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    lx_config_print(cfg, f);
    fclose(f);
    assert_non_null(strstr(buf, "  box: protocol openai, base_url https://u:***@h.example/v1, key: set (in the file)\n"));
    assert_non_null(strstr(buf, "records: postgresql://me:***@db:5432/x (bodies stored)\n"));
    assert_null(strstr(buf, "hunter2"));
    assert_null(strstr(buf, "pw-secret"));
    assert_null(strstr(buf, "sk-literal-secret"));
    free(buf);
    lx_config_free(cfg);
}

static void test_empty_files(void **state) {
    (void)state;
    static const char *const empties[] = {"", "# only a comment\n", "~\n", "---\n", "\n\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        lx_config *cfg = load_ok(empties[i]);
        llmux_runtime_params rp = llmux_runtime_default_params(), def = llmux_runtime_default_params();
        lx_config_runtime_params(cfg, &rp);
        /* Everything stays the runtime's default except the config's total deadline. */
        assert_int_equal(rp.total_timeout_ms, LX_CONFIG_DEFAULT_TOTAL_MS);
        assert_null(rp.providers);
        assert_null(rp.aliases);
        assert_null(rp.model_dirs);
        assert_null(rp.records);
        assert_int_equal(rp.n_threads, def.n_threads);
        assert_int_equal(rp.n_ctx, def.n_ctx);
        assert_int_equal(rp.connect_timeout_ms, def.connect_timeout_ms);
        assert_int_equal(rp.first_byte_timeout_ms, def.first_byte_timeout_ms);
        assert_int_equal(rp.idle_timeout_ms, def.idle_timeout_ms);
        assert_int_equal(rp.cooldown_failures, def.cooldown_failures);
        assert_int_equal(rp.cooldown_ms, def.cooldown_ms);
        assert_int_equal(rp.records_omit_bodies, def.records_omit_bodies);
        lx_config_free(cfg);
    }
}

/* ----------------------------------------------------------------- discovery */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_discovery(void **state) {
    (void)state;
    char cwd[1024], p[600], home[600], xdg[600], buf[1024];
    llmux_error_info err;
    assert_non_null(getcwd(cwd, sizeof cwd));
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    snprintf(home, sizeof home, "%s/home", g_dir);
    snprintf(xdg, sizeof xdg, "%s/xdg", g_dir);
    snprintf(p, sizeof p, "%s/work", g_dir);
    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(mkdir(xdg, 0700), 0);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(chdir(p), 0);
    setenv("HOME", home, 1);
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("LLMUX_CONFIG");

    /* Nothing anywhere: no file, no error. */
    assert_int_equal(lx_config_find(NULL, buf, sizeof buf, &err), LLMUX_OK);
    assert_string_equal(buf, "");

    /* ~/.config/llmux/llmux.yaml */
    snprintf(p, sizeof p, "%s/.config", home);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/.config/llmux", home);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/.config/llmux/llmux.yaml", home);
    write_file(p, "local: {}\n");
    assert_int_equal(lx_config_find(NULL, buf, sizeof buf, &err), LLMUX_OK);
    assert_string_equal(buf, p);

    /* $XDG_CONFIG_HOME replaces ~/.config (and has no file yet: none found); a relative value
     * is ignored. */
    setenv("XDG_CONFIG_HOME", xdg, 1);
    assert_int_equal(lx_config_find(NULL, buf, sizeof buf, &err), LLMUX_OK);
    assert_string_equal(buf, "");
    snprintf(p, sizeof p, "%s/llmux", xdg);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/llmux/llmux.yaml", xdg);
    write_file(p, "local: {}\n");
    assert_int_equal(lx_config_find(NULL, buf, sizeof buf, &err), LLMUX_OK);
    assert_string_equal(buf, p);
    setenv("XDG_CONFIG_HOME", "relative/dir", 1);
    assert_int_equal(lx_config_find(NULL, buf, sizeof buf, &err), LLMUX_OK);
    snprintf(p, sizeof p, "%s/.config/llmux/llmux.yaml", home);
    assert_string_equal(buf, p);
    setenv("XDG_CONFIG_HOME", xdg, 1);

    /* ./llmux.yaml wins over the user's file. */
    write_file("llmux.yaml", "local: {}\n");
    assert_int_equal(lx_config_find(NULL, buf, sizeof buf, &err), LLMUX_OK);
    assert_string_equal(buf, "llmux.yaml");

    /* $LLMUX_CONFIG wins over ./llmux.yaml; naming a missing file is an error. */
    snprintf(p, sizeof p, "%s/other.yaml", g_dir);
    write_file(p, "local: {}\n");
    setenv("LLMUX_CONFIG", p, 1);
    assert_int_equal(lx_config_find(NULL, buf, sizeof buf, &err), LLMUX_OK);
    assert_string_equal(buf, p);
    setenv("LLMUX_CONFIG", "/nonexistent/llmux.yaml", 1);
    assert_int_equal(lx_config_find(NULL, buf, sizeof buf, &err), LLMUX_E_CONFIGURATION);
    assert_string_equal(err.message, "LLMUX_CONFIG=/nonexistent/llmux.yaml: no such file");

    /* --config wins over everything; missing is an error. */
    assert_int_equal(lx_config_find("llmux.yaml", buf, sizeof buf, &err), LLMUX_OK);
    assert_string_equal(buf, "llmux.yaml");
    assert_int_equal(lx_config_find("missing.yaml", buf, sizeof buf, &err), LLMUX_E_CONFIGURATION);
    assert_string_equal(err.message, "missing.yaml: no such file");

    unsetenv("LLMUX_CONFIG");
    unsetenv("XDG_CONFIG_HOME");
    if (old_home) setenv("HOME", old_home, 1);
    free(old_home);
    assert_int_equal(chdir(cwd), 0);
}

/* Relative paths in a file loaded from another directory resolve against the file's directory. */
static void test_relative_paths(void **state) {
    (void)state;
    char p[600], want[700];
    snprintf(p, sizeof p, "%s/rel.yaml", g_dir);
    write_file(p, "local: {model_dirs: [models]}\nrecords: \"sqlite:r.db\"\n");
    lx_config *cfg = NULL;
    llmux_error_info err;
    assert_int_equal(lx_config_load(p, &cfg, &err), LLMUX_OK);
    llmux_runtime_params rp = llmux_runtime_default_params();
    lx_config_runtime_params(cfg, &rp);
    snprintf(want, sizeof want, "%s/models", g_dir);
    assert_string_equal(rp.model_dirs[0], want);
    snprintf(want, sizeof want, "sqlite:%s/r.db", g_dir);
    assert_string_equal(rp.records, want);
    assert_string_equal(lx_config_path(cfg), p);
    lx_config_free(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_keys),     cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_bad_weight),       cmocka_unit_test(test_bad_status_name),
        cmocka_unit_test(test_env_references),   cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_invalid_yaml),     cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_depth_cap),        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_targets),          cmocka_unit_test(test_alias_names),
        cmocka_unit_test(test_numbers_and_ranges), cmocka_unit_test(test_providers),
        cmocka_unit_test(test_issue_example),    cmocka_unit_test(test_overrides_json),
        cmocka_unit_test(test_small_sections),   cmocka_unit_test(test_empty_files),
        cmocka_unit_test(test_report_masks_secrets),
        cmocka_unit_test(test_discovery),        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_local_section),
        cmocka_unit_test(test_local_prompt_cache_dir),
        cmocka_unit_test(test_local_isolation),
        cmocka_unit_test(test_sandbox_section),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
