/* `llmux embed -m local/NAME` end to end on an embedding model made by tools/gguf_gen --embedding
 * (BERT, mean pooling in its metadata): one unit-length vector per input of the model's width,
 * the same text giving the same vector, usage counting the tokens; `llmux run` on that model
 * refuses to generate with invalid_request. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "llmux.h"
#include "support/cli_run.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"

static char g_config[PATH_MAX];

static int setup(void **state) {
    (void)state;
    if (cli_scratch_create("llmux-cli-embed-local") != 0) return -1;
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "mkdir '%s/models' && '%s/gguf_gen' --embedding --pooling mean --n-layer 2 --n-embd 64 --n-head 4 "
             "--n-ff 128 --ctx 256 --type f32 --out '%s/models/minibert.gguf' >/dev/null && "
             "printf 'local:\\n  model_dirs: [%s/models]\\nrecords: none\\n' > '%s/llmux.yaml'",
             cli_scratch(), LLMUX_TEST_BIN_DIR, cli_scratch(), cli_scratch(), cli_scratch());
    snprintf(g_config, sizeof g_config, "%s/llmux.yaml", cli_scratch());
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

static void test_embed_local_model(void **state) {
    (void)state;
    static cli_result r;
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, LLMUX " embed --config '%s' -m local/minibert 'the quick brown fox' 'taxes are due' "
                                    "'the quick brown fox'",
             g_config);
    cli_run(cmd, &r);
    if (r.code != 0) fprintf(stderr, "%s", r.err);
    assert_int_equal(r.code, 0);
    json_error_t je;
    json_t *o = json_loads(r.out, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "model")), "minibert");
    assert_string_equal(json_string_value(json_object_get(o, "provider")), "local");
    assert_int_equal(json_integer_value(json_object_get(o, "dim")), 64);
    json_t *vs = json_object_get(o, "embeddings");
    assert_int_equal(json_array_size(vs), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_array_get(vs, i);
        assert_int_equal(json_array_size(v), 64);
        double norm = 0;
        for (size_t d = 0; d < 64; d++) norm += pow(json_number_value(json_array_get(v, d)), 2);
        assert_true(fabs(sqrt(norm) - 1.0) < 1e-5);
    }
    assert_true(json_equal(json_array_get(vs, 0), json_array_get(vs, 2)));
    assert_false(json_equal(json_array_get(vs, 0), json_array_get(vs, 1)));
    /* Byte-level vocabulary: a BOS and one token per byte. */
    json_int_t tokens = json_integer_value(json_object_get(json_object_get(o, "usage"), "input_tokens"));
    assert_int_equal(tokens, (1 + 19) + (1 + 13) + (1 + 19));
    json_decref(o);

    snprintf(cmd, sizeof cmd, LLMUX " run --config '%s' -m local/minibert hello", g_config);
    cli_run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(r.err, "embedding model"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed_local_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
