/* The IPC protocol's call and result bodies (core/ipc_call.h) and the base64 they carry vectors
 * in (core/base64.h): what the builders write parses back to the same values (float32 bytes
 * exactly), and every malformed or oversized body is refused with a reason. Both sides parse
 * untrusted bytes here: the engine child reads calls from a socket, the runtime reads results
 * from a child that parses model files. */
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

#include "core/base64.h"
#include "core/embeddings.h"
#include "core/ipc_call.h"
#include "core/ipc_message.h"

static json_t *parse(const char *text) {
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v) fail_msg("test JSON: %s: %s", text, je.text);
    return v;
}

static void test_base64(void **state) {
    (void)state;
    /* RFC 4648 section 10's vectors. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        lx_base64_encode(plain[i], strlen(plain[i]), out);
        assert_string_equal(out, enc[i]);
        assert_int_equal(lx_base64_encoded_len(strlen(plain[i])), strlen(enc[i]));
        char back[16];
        size_t n = 99;
        assert_true(lx_base64_decode(enc[i], strlen(enc[i]), back, sizeof back, &n));
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(back, plain[i], n);
    }
    /* Every byte value survives. */
    uint8_t all[256], back[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    char text[400];
    lx_base64_encode(all, sizeof all, text);
    size_t n = 0;
    assert_true(lx_base64_decode(text, strlen(text), back, sizeof back, &n));
    assert_int_equal(n, 256);
    assert_memory_equal(all, back, 256);
    /* Malformed: length, alphabet, padding in the middle, non-canonical bits, whitespace. */
    static const char *const bad[] = {"Zg=", "Zg", "Z===", "Zm9v!A==", "Zg==Zm9v", "Zh==", "Zm9=", "Zm 9v", "====",
                                      "Zm8=Zm8="};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t o[16];
        assert_false(lx_base64_decode(bad[i], strlen(bad[i]), o, sizeof o, &n));
    }
    /* The output cap is never exceeded. */
    uint8_t small[2];
    assert_false(lx_base64_decode("Zm9v", 4, small, sizeof small, &n));
}

static void test_calls_round_trip(void **state) {
    (void)state;
    static const char *const inputs[] = {"one", "two \"quoted\"", "\xc3\xa9t\xc3\xa9"};
    char *t = lx_ipc_call_embed("local/minibert", inputs, 3, 64, 1500);
    assert_non_null(t);
    json_t *v = parse(t);
    lx_ipc_call c;
    char why[256];
    assert_true(lx_ipc_call_parse(v, &c, why, sizeof why));
    assert_int_equal(c.op, LX_IPC_OP_EMBED);
    assert_string_equal(c.model, "local/minibert");
    assert_int_equal(c.n_inputs, 3);
    assert_string_equal(c.inputs[1], "two \"quoted\"");
    assert_string_equal(c.inputs[2], "\xc3\xa9t\xc3\xa9");
    assert_int_equal(c.dimensions, 64);
    assert_int_equal(c.deadline_ms, 1500);
    lx_ipc_call_clear(&c);
    json_decref(v);
    free(t);

    t = lx_ipc_call_count_tokens("{\"model\":\"local/x\",\"messages\":[]}", 0);
    v = parse(t);
    assert_true(lx_ipc_call_parse(v, &c, why, sizeof why));
    assert_int_equal(c.op, LX_IPC_OP_COUNT_TOKENS);
    assert_string_equal(json_string_value(json_object_get(c.request, "model")), "local/x");
    assert_int_equal(c.deadline_ms, 0);
    lx_ipc_call_clear(&c);
    json_decref(v);
    free(t);

    lx_ipc_op ops[] = {LX_IPC_OP_MODEL_LOAD, LX_IPC_OP_MODEL_UNLOAD, LX_IPC_OP_MODELS_LOADED};
    for (size_t i = 0; i < 3; i++) {
        t = lx_ipc_call_model(ops[i], "local/m", 9);
        v = parse(t);
        assert_true(lx_ipc_call_parse(v, &c, why, sizeof why));
        assert_int_equal(c.op, ops[i]);
        if (ops[i] != LX_IPC_OP_MODELS_LOADED) assert_string_equal(c.model, "local/m");
        else assert_null(c.model);
        assert_int_equal(c.deadline_ms, ops[i] == LX_IPC_OP_MODEL_LOAD ? 9 : 0);
        lx_ipc_call_clear(&c);
        json_decref(v);
        free(t);
    }

    /* The call and result messages: wrapped, parsed, tagged with the id. */
    char *w = lx_ipc_wrap(LX_IPC_CALL, "0123456789abcdef0123456789abcdef", "c1", "{\"op\":\"models_loaded\"}");
    lx_ipc_msg m;
    assert_true(lx_ipc_msg_parse(w, strlen(w), &m, why, sizeof why));
    assert_int_equal(m.type, LX_IPC_CALL);
    assert_string_equal(m.id, "c1");
    assert_true(json_is_object(m.body));
    lx_ipc_msg_clear(&m);
    free(w);
    w = lx_ipc_wrap(LX_IPC_RESULT, "0123456789abcdef0123456789abcdef", "c1", "{}");
    assert_true(lx_ipc_msg_parse(w, strlen(w), &m, why, sizeof why));
    assert_int_equal(m.type, LX_IPC_RESULT);
    lx_ipc_msg_clear(&m);
    free(w);
    /* The sandboxed engine's welcome: a welcome, with its sandbox report beside the limits. */
    w = lx_ipc_welcome_sandboxed("0123456789abcdef0123456789abcdef", 1024, 8, 0, "WARNING: no Landlock");
    assert_true(lx_ipc_msg_parse(w, strlen(w), &m, why, sizeof why));
    assert_int_equal(m.type, LX_IPC_WELCOME);
    json_t *sb = json_object_get(m.root, "sandbox");
    assert_int_equal(json_integer_value(json_object_get(sb, "landlock_abi")), 0);
    assert_string_equal(json_string_value(json_object_get(sb, "warning")), "WARNING: no Landlock");
    lx_ipc_msg_clear(&m);
    free(w);
    w = lx_ipc_welcome_sandboxed("0123456789abcdef0123456789abcdef", 1024, 8, 7, "");
    assert_true(lx_ipc_msg_parse(w, strlen(w), &m, why, sizeof why));
    assert_null(json_object_get(json_object_get(m.root, "sandbox"), "warning"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m.root, "sandbox"), "landlock_abi")), 7);
    lx_ipc_msg_clear(&m);
    free(w);
    /* A result needs a session and an id, a call an id and an object body. */
    static const char *const bad_msgs[] = {
        "{\"type\":\"result\",\"id\":\"c1\",\"result\":{}}",
        "{\"type\":\"result\",\"session\":\"0123456789abcdef0123456789abcdef\",\"result\":{}}",
        "{\"type\":\"call\",\"session\":\"0123456789abcdef0123456789abcdef\",\"call\":{}}",
        "{\"type\":\"call\",\"session\":\"0123456789abcdef0123456789abcdef\",\"id\":\"c\",\"call\":[]}",
        "{\"type\":\"result\",\"session\":\"0123456789abcdef0123456789abcdef\",\"id\":\"c\",\"result\":3}",
    };
    for (size_t i = 0; i < sizeof bad_msgs / sizeof *bad_msgs; i++) {
        assert_false(lx_ipc_msg_parse(bad_msgs[i], strlen(bad_msgs[i]), &m, why, sizeof why));
        assert_true(why[0] != 0);
        lx_ipc_msg_clear(&m);
    }
}

static void test_calls_malformed(void **state) {
    (void)state;
    static const char *const bad[] = {
        "[]",
        "{}",
        "{\"op\":7}",
        "{\"op\":\"fly\"}",
        "{\"op\":\"embed\",\"model\":\"m\"}",
        "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":[]}",
        "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":\"x\"}",
        "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":[\"a\",2]}",
        "{\"op\":\"embed\",\"model\":\"\",\"inputs\":[\"a\"]}",
        "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":[\"a\"],\"dimensions\":-1}",
        "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":[\"a\"],\"dimensions\":70000}",
        "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":[\"a\"],\"dimensions\":1.5}",
        "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":[\"a\"],\"extra\":1}",
        "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":[\"a\"],\"deadline_ms\":-5}",
        "{\"op\":\"embed\",\"model\":\"m\",\"inputs\":[\"a\"],\"deadline_ms\":999999999999}",
        "{\"op\":\"count_tokens\"}",
        "{\"op\":\"count_tokens\",\"request\":\"text\"}",
        "{\"op\":\"count_tokens\",\"request\":{},\"model\":\"m\"}",
        "{\"op\":\"model_load\"}",
        "{\"op\":\"model_unload\",\"model\":\"m\",\"deadline_ms\":5}",
        "{\"op\":\"models_loaded\",\"model\":\"m\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *v = parse(bad[i]);
        lx_ipc_call c;
        char why[256] = "";
        if (lx_ipc_call_parse(v, &c, why, sizeof why)) fail_msg("accepted: %s", bad[i]);
        assert_true(why[0] != 0);
        assert_null(c.inputs);
        json_decref(v);
    }
    /* Over the input cap. */
    json_t *many = json_array();
    for (unsigned i = 0; i <= LX_EMBED_MAX_VECTORS; i++) json_array_append_new(many, json_string("x"));
    json_t *v = json_pack("{s:s,s:s,s:o}", "op", "embed", "model", "m", "inputs", many);
    lx_ipc_call c;
    char why[256];
    assert_false(lx_ipc_call_parse(v, &c, why, sizeof why));
    assert_non_null(strstr(why, "inputs"));
    json_decref(v);
    /* A model string over the cap. */
    char *big = malloc(LX_IPC_CALL_MAX_MODEL + 2);
    memset(big, 'm', LX_IPC_CALL_MAX_MODEL + 1);
    big[LX_IPC_CALL_MAX_MODEL + 1] = 0;
    v = json_pack("{s:s,s:s}", "op", "model_load", "model", big);
    assert_false(lx_ipc_call_parse(v, &c, why, sizeof why));
    json_decref(v);
    free(big);
}

static void test_results(void **state) {
    (void)state;
    float data[2 * 3] = {0.1f, -2.5f, 3.0e-38f, 1.0f / 3.0f, -0.0f, 123456.789f};
    char *t = lx_ipc_result_embed("minibert", 2, 3, data, 17);
    json_t *v = parse(t);
    const char *model;
    size_t dim;
    float *got;
    int64_t tokens;
    char why[256];
    assert_true(lx_ipc_result_embed_parse(v, 2, &model, &dim, &got, &tokens, why, sizeof why));
    assert_string_equal(model, "minibert");
    assert_int_equal(dim, 3);
    assert_int_equal(tokens, 17);
    assert_memory_equal(got, data, sizeof data); /* bit for bit */
    free(got);
    /* Not the number of vectors asked for. */
    assert_false(lx_ipc_result_embed_parse(v, 3, &model, &dim, &got, &tokens, why, sizeof why));
    assert_null(got);
    json_decref(v);
    free(t);

    /* A non-finite value from the child is refused. */
    float nan_data[2] = {1.0f, NAN};
    t = lx_ipc_result_embed("m", 1, 2, nan_data, 1);
    v = parse(t);
    assert_false(lx_ipc_result_embed_parse(v, 1, &model, &dim, &got, &tokens, why, sizeof why));
    assert_non_null(strstr(why, "finite"));
    json_decref(v);
    free(t);

    static const char *const bad_embed[] = {
        "{\"model\":\"m\",\"n\":1,\"dim\":1,\"data\":\"AACAPw==\"}",                     /* no input_tokens */
        "{\"model\":\"m\",\"n\":1,\"dim\":1,\"data\":\"AACAPw==\",\"input_tokens\":1,\"x\":1}", /* unknown key */
        "{\"model\":\"m\",\"n\":1,\"dim\":2,\"data\":\"AACAPw==\",\"input_tokens\":1}",  /* too short */
        "{\"model\":\"m\",\"n\":1,\"dim\":1,\"data\":\"AACAP===\",\"input_tokens\":1}",  /* bad base64 */
        "{\"model\":\"m\",\"n\":1,\"dim\":0,\"data\":\"\",\"input_tokens\":1}",          /* no width */
        "{\"model\":\"m\",\"n\":1,\"dim\":70000,\"data\":\"\",\"input_tokens\":1}",      /* over the cap */
        "{\"model\":3,\"n\":1,\"dim\":1,\"data\":\"AACAPw==\",\"input_tokens\":1}",
        "{\"model\":\"m\",\"n\":1,\"dim\":1,\"data\":[1.0],\"input_tokens\":1}",
        "{\"model\":\"m\",\"n\":1,\"dim\":1,\"data\":\"AACAPw==\",\"input_tokens\":-1}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad_embed / sizeof *bad_embed; i++) {
        v = parse(bad_embed[i]);
        if (lx_ipc_result_embed_parse(v, 1, &model, &dim, &got, &tokens, why, sizeof why))
            fail_msg("accepted: %s", bad_embed[i]);
        assert_null(got);
        json_decref(v);
    }
    /* n * dim over LX_EMBED_MAX_FLOATS. */
    v = parse("{\"model\":\"m\",\"n\":4096,\"dim\":65536,\"data\":\"\",\"input_tokens\":1}");
    assert_false(lx_ipc_result_embed_parse(v, 4096, &model, &dim, &got, &tokens, why, sizeof why));
    json_decref(v);

    t = lx_ipc_result_count(42);
    v = parse(t);
    int64_t n = 0;
    assert_true(lx_ipc_result_count_parse(v, &n, why, sizeof why));
    assert_int_equal(n, 42);
    json_decref(v);
    free(t);
    static const char *const bad_count[] = {"{}", "{\"input_tokens\":-1}", "{\"input_tokens\":\"3\"}",
                                            "{\"input_tokens\":3,\"more\":1}", "[3]"};
    for (size_t i = 0; i < sizeof bad_count / sizeof *bad_count; i++) {
        v = parse(bad_count[i]);
        assert_false(lx_ipc_result_count_parse(v, &n, why, sizeof why));
        json_decref(v);
    }

    t = lx_ipc_result_models("[{\"model\":\"local/a\",\"state\":\"loaded\"}]");
    v = parse(t);
    const json_t *models;
    assert_true(lx_ipc_result_models_parse(v, &models, why, sizeof why));
    assert_int_equal(json_array_size(models), 1);
    json_decref(v);
    free(t);
    static const char *const bad_models[] = {"{}", "{\"models\":{}}", "{\"models\":[1]}", "{\"models\":[],\"x\":1}"};
    for (size_t i = 0; i < sizeof bad_models / sizeof *bad_models; i++) {
        v = parse(bad_models[i]);
        assert_false(lx_ipc_result_models_parse(v, &models, why, sizeof why));
        json_decref(v);
    }

    t = lx_ipc_result_empty();
    v = parse(t);
    assert_true(lx_ipc_result_empty_parse(v, why, sizeof why));
    json_decref(v);
    free(t);
    v = parse("{\"x\":1}");
    assert_false(lx_ipc_result_empty_parse(v, why, sizeof why));
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_calls_round_trip),
        cmocka_unit_test(test_calls_malformed),
        cmocka_unit_test(test_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
