/* Provider resolution: names, defaults, environment variables, explicit params, base URL
 * normalisation, missing keys. No network. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/remote.h"

static const char *k_vars[] = {"OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
                               "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENROUTER_API_KEY", "OLLAMA_HOST"};

static int clean_env(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_vars / sizeof k_vars[0]; i++) unsetenv(k_vars[i]);
    return 0;
}

static lx_remote_target g_t;

static llmux_status resolve(const char *spec, const llmux_provider_params *p, size_t n, llmux_error_info *err) {
    return lx_remote_resolve(spec, p, n, &g_t, err);
}

static void test_openai_defaults_and_env(void **state) {
    (void)state;
    llmux_error_info err;
    assert_int_equal(resolve("openai/gpt-4o-mini", NULL, 0, &err), LLMUX_E_AUTHENTICATION);
    assert_non_null(strstr(err.message, "OPENAI_API_KEY"));
    setenv("OPENAI_API_KEY", "sk-env", 1);
    assert_int_equal(resolve("openai/gpt-4o-mini", NULL, 0, &err), LLMUX_OK);
    assert_ptr_equal(g_t.provider, &lx_provider_openai);
    assert_string_equal(g_t.cfg.name, "openai");
    assert_string_equal(g_t.cfg.base_url, "https://api.openai.com/v1");
    assert_string_equal(g_t.cfg.api_key, "sk-env");
    assert_string_equal(g_t.cfg.model, "gpt-4o-mini");
    setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1/", 1);
    assert_int_equal(resolve("openai/gpt-4o-mini", NULL, 0, &err), LLMUX_OK);
    assert_string_equal(g_t.cfg.base_url, "http://127.0.0.1:8080/v1");
    /* Explicit params win over the environment, field by field. */
    llmux_provider_params p = {.name = "openai", .api_key = "sk-param"};
    assert_int_equal(resolve("openai/gpt-4o-mini", &p, 1, &err), LLMUX_OK);
    assert_string_equal(g_t.cfg.api_key, "sk-param");
    assert_string_equal(g_t.cfg.base_url, "http://127.0.0.1:8080/v1");
    p.base_url = "https://gateway.example/openai/v1";
    assert_int_equal(resolve("openai/gpt-4o-mini", &p, 1, &err), LLMUX_OK);
    assert_string_equal(g_t.cfg.base_url, "https://gateway.example/openai/v1");
    p.base_url = "gateway.example/v1";
    assert_int_equal(resolve("openai/gpt-4o-mini", &p, 1, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "http"));
}

static void test_openrouter_split(void **state) {
    (void)state;
    llmux_error_info err;
    assert_int_equal(resolve("openrouter/meta-llama/llama-3.1-8b-instruct", NULL, 0, &err), LLMUX_E_AUTHENTICATION);
    assert_non_null(strstr(err.message, "OPENROUTER_API_KEY"));
    setenv("OPENROUTER_API_KEY", "sk-or-env", 1);
    assert_int_equal(resolve("openrouter/meta-llama/llama-3.1-8b-instruct", NULL, 0, &err), LLMUX_OK);
    assert_ptr_equal(g_t.provider, &lx_provider_openai);
    assert_string_equal(g_t.cfg.name, "openrouter");
    assert_string_equal(g_t.cfg.model, "meta-llama/llama-3.1-8b-instruct");
    assert_string_equal(g_t.cfg.base_url, "https://openrouter.ai/api/v1");
    assert_string_equal(g_t.cfg.api_key, "sk-or-env");
}

static void test_anthropic_base_url(void **state) {
    (void)state;
    llmux_error_info err;
    assert_int_equal(resolve("anthropic/claude-sonnet-4-5", NULL, 0, &err), LLMUX_E_AUTHENTICATION);
    assert_non_null(strstr(err.message, "ANTHROPIC_API_KEY"));
    setenv("ANTHROPIC_API_KEY", "sk-ant-env", 1);
    assert_int_equal(resolve("anthropic/claude-sonnet-4-5", NULL, 0, &err), LLMUX_OK);
    assert_ptr_equal(g_t.provider, &lx_provider_anthropic);
    assert_string_equal(g_t.cfg.base_url, "https://api.anthropic.com/v1");
    /* The SDK's variable has no version: it is added. */
    setenv("ANTHROPIC_BASE_URL", "https://api.anthropic.com", 1);
    assert_int_equal(resolve("anthropic/claude-sonnet-4-5", NULL, 0, &err), LLMUX_OK);
    assert_string_equal(g_t.cfg.base_url, "https://api.anthropic.com/v1");
    setenv("ANTHROPIC_BASE_URL", "https://proxy.example/anthropic/", 1);
    assert_int_equal(resolve("anthropic/claude-sonnet-4-5", NULL, 0, &err), LLMUX_OK);
    assert_string_equal(g_t.cfg.base_url, "https://proxy.example/anthropic/v1");
    setenv("ANTHROPIC_BASE_URL", "https://proxy.example/v1", 1);
    assert_int_equal(resolve("anthropic/claude-sonnet-4-5", NULL, 0, &err), LLMUX_OK);
    assert_string_equal(g_t.cfg.base_url, "https://proxy.example/v1");
    llmux_provider_params p = {.name = "anthropic", .base_url = "http://127.0.0.1:9999"};
    assert_int_equal(resolve("anthropic/claude-sonnet-4-5", &p, 1, &err), LLMUX_OK);
    assert_string_equal(g_t.cfg.base_url, "http://127.0.0.1:9999/v1");
}

static void test_gemini_keys(void **state) {
    (void)state;
    llmux_error_info err;
    assert_int_equal(resolve("gemini/gemini-2.5-flash", NULL, 0, &err), LLMUX_E_AUTHENTICATION);
    assert_non_null(strstr(err.message, "GEMINI_API_KEY"));
    assert_non_null(strstr(err.message, "GOOGLE_API_KEY"));
    setenv("GOOGLE_API_KEY", "AIza-google", 1);
    assert_int_equal(resolve("gemini/gemini-2.5-flash", NULL, 0, &err), LLMUX_OK);
    assert_string_equal(g_t.cfg.api_key, "AIza-google");
    setenv("GEMINI_API_KEY", "AIza-gemini", 1);
    assert_int_equal(resolve("gemini/gemini-2.5-flash", NULL, 0, &err), LLMUX_OK);
    assert_ptr_equal(g_t.provider, &lx_provider_gemini);
    assert_string_equal(g_t.cfg.api_key, "AIza-gemini");
    assert_string_equal(g_t.cfg.base_url, "https://generativelanguage.googleapis.com/v1beta");
    assert_string_equal(g_t.cfg.model, "gemini-2.5-flash");
}

static void test_ollama_host(void **state) {
    (void)state;
    static const struct {
        const char *host;
        const char *url;
    } cases[] = {
        {NULL, "http://127.0.0.1:11434"},
        {"", "http://127.0.0.1:11434"},
        {"myhost", "http://myhost:11434"},
        {"myhost:1234", "http://myhost:1234"},
        {":5000", "http://127.0.0.1:5000"},
        {"0.0.0.0", "http://0.0.0.0:11434"},
        {"https://ollama.example/", "https://ollama.example"},
        {"http://10.0.0.2:80", "http://10.0.0.2:80"},
        {"[::1]", "http://[::1]:11434"},
        {"[::1]:8080", "http://[::1]:8080"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].host) setenv("OLLAMA_HOST", cases[i].host, 1);
        else unsetenv("OLLAMA_HOST");
        llmux_error_info err;
        assert_int_equal(resolve("ollama/llama3.2", NULL, 0, &err), LLMUX_OK);
        assert_ptr_equal(g_t.provider, &lx_provider_ollama);
        assert_string_equal(g_t.cfg.base_url, cases[i].url);
        assert_null(g_t.cfg.api_key);
        assert_string_equal(g_t.cfg.model, "llama3.2");
    }
    /* An explicit base_url wins over OLLAMA_HOST and is read the same way. */
    llmux_provider_params p = {.name = "ollama", .base_url = "gpu-box:11500"};
    assert_int_equal(resolve("ollama/qwen3:8b", &p, 1, NULL), LLMUX_OK);
    assert_string_equal(g_t.cfg.base_url, "http://gpu-box:11500");
    assert_string_equal(g_t.cfg.model, "qwen3:8b");
}

static void test_custom_providers(void **state) {
    (void)state;
    llmux_provider_params p[] = {
        {.name = "vllm", .base_url = "http://gpu:8000/v1"},
        {.name = "proxy", .protocol = "anthropic", .base_url = "https://proxy.example", .api_key = "k"},
        {.name = "nourl"},
        {.name = "weird", .protocol = "soap", .base_url = "http://x"},
    };
    llmux_error_info err;
    assert_int_equal(resolve("vllm/Qwen/Qwen3-8B", p, 4, &err), LLMUX_OK);
    assert_ptr_equal(g_t.provider, &lx_provider_openai);
    assert_string_equal(g_t.cfg.name, "vllm");
    assert_string_equal(g_t.cfg.model, "Qwen/Qwen3-8B");
    assert_string_equal(g_t.cfg.base_url, "http://gpu:8000/v1");
    assert_null(g_t.cfg.api_key);
    assert_int_equal(resolve("proxy/claude", p, 4, &err), LLMUX_OK);
    assert_ptr_equal(g_t.provider, &lx_provider_anthropic);
    assert_string_equal(g_t.cfg.base_url, "https://proxy.example/v1");
    assert_string_equal(g_t.cfg.api_key, "k");
    assert_int_equal(resolve("nourl/m", p, 4, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "base_url"));
    assert_int_equal(resolve("weird/m", p, 4, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "soap"));
}

static void test_bad_specs(void **state) {
    (void)state;
    llmux_error_info err;
    assert_int_equal(resolve("nosuch/model", NULL, 0, &err), LLMUX_E_MODEL_NOT_FOUND);
    assert_non_null(strstr(err.message, "nosuch"));
    assert_int_equal(resolve("gpt-4o", NULL, 0, &err), LLMUX_E_MODEL_NOT_FOUND);
    assert_int_equal(resolve("/abs/model.gguf", NULL, 0, &err), LLMUX_E_MODEL_NOT_FOUND);
    setenv("OPENAI_API_KEY", "sk-env", 1);
    assert_int_equal(resolve("openai/", NULL, 0, &err), LLMUX_E_INVALID_REQUEST);
    char big[5000];
    memset(big, 'm', sizeof big - 1);
    memcpy(big, "openai/", 7);
    big[sizeof big - 1] = '\0';
    assert_int_equal(resolve(big, NULL, 0, &err), LLMUX_E_INVALID_REQUEST);
}

/* The one spec classifier (llmux_model_kind_of). */
static void test_model_kind(void **state) {
    (void)state;
    assert_int_equal(llmux_model_kind_of("openai/gpt-4o-mini"), LLMUX_MODEL_REMOTE);
    assert_int_equal(llmux_model_kind_of("openrouter/a/b"), LLMUX_MODEL_REMOTE);
    assert_int_equal(llmux_model_kind_of("vllm/x"), LLMUX_MODEL_REMOTE); /* unknown providers are refused by name later */
    assert_int_equal(llmux_model_kind_of("local/fortunes"), LLMUX_MODEL_LOCAL_NAME);
    assert_int_equal(llmux_model_kind_of("fortunes"), LLMUX_MODEL_LOCAL_NAME);
    assert_int_equal(llmux_model_kind_of("openai"), LLMUX_MODEL_LOCAL_NAME);
    assert_int_equal(llmux_model_kind_of(NULL), LLMUX_MODEL_LOCAL_NAME);
    assert_int_equal(llmux_model_kind_of("models/x.gguf"), LLMUX_MODEL_LOCAL_PATH);
    assert_int_equal(llmux_model_kind_of("/abs/x"), LLMUX_MODEL_LOCAL_PATH);
    assert_int_equal(llmux_model_kind_of("./x"), LLMUX_MODEL_LOCAL_PATH);
    assert_int_equal(llmux_model_kind_of("/x"), LLMUX_MODEL_LOCAL_PATH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_openai_defaults_and_env, clean_env),
        cmocka_unit_test_setup(test_openrouter_split, clean_env),
        cmocka_unit_test_setup(test_anthropic_base_url, clean_env),
        cmocka_unit_test_setup(test_gemini_keys, clean_env),
        cmocka_unit_test_setup(test_ollama_host, clean_env),
        cmocka_unit_test_setup(test_custom_providers, clean_env),
        cmocka_unit_test_setup(test_bad_specs, clean_env),
        cmocka_unit_test(test_model_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
