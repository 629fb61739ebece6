/* lx_openai_fast_delta (src/providers/openai_fast_chunk.c): the OpenAI content-delta chunks of
 * the recorded fixtures (../shared/fixtures/providers/openai_chat, openrouter) take the fast path
 * and give jansson's bytes; the escapes it unescapes; everything outside its shape is refused
 * (the full decoder keeps it). The decoded event streams of the same fixtures are asserted in
 * test_openai_conformance.c, which now runs through this path. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode_harness.h"
#include "support/openai_fast_check.h"

#define FIX "../shared/fixtures/providers/"

/* Checks every `data:` payload of an .sse file; returns how many took the fast path. */
static size_t check_sse_file(const char *path) {
    size_t len;
    char *body = h_load_or_skip(path, &len);
    size_t accepted = 0;
    char *line = body;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n && line[n - 1] == '\r') n--;
        if (n > 6 && strncmp(line, "data: ", 6) == 0 && !(n == 12 && memcmp(line + 6, "[DONE]", 6) == 0)) {
            bool ok = false;
            const char *why = lx_fast_delta_disagreement(line + 6, n - 6, &ok);
            if (why) fail_msg("%s: %s: %.*s", path, why, (int)(n - 6), line + 6);
            accepted += ok;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(body);
    return accepted;
}

static void test_fixtures(void **state) {
    (void)state;
    h_fixtures_or_skip("../shared/fixtures/providers");
    const char *dirs[] = {FIX "openai_chat", FIX "openrouter"};
    size_t files = 0;
    for (size_t d = 0; d < 2; d++) {
        DIR *dir = opendir(dirs[d]);
        if (!dir) continue;
        struct dirent *e;
        while ((e = readdir(dir))) {
            size_t n = strlen(e->d_name);
            if (n < 5 || strcmp(e->d_name + n - 4, ".sse") != 0) continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dirs[d], e->d_name);
            size_t a = check_sse_file(path);
            files++;
            /* stream_text.sse is mostly content deltas: they must take the fast path. */
            if (strcmp(e->d_name, "stream_text.sse") == 0 && d == 0) assert_true(a >= 3);
        }
        closedir(dir);
    }
    assert_true(files >= 3);
}

static void expect_fast(const char *json, const char *content, size_t content_len) {
    char buf[512];
    lx_openai_delta fd;
    if (!lx_openai_fast_delta(json, strlen(json), buf, &fd)) fail_msg("refused: %s", json);
    assert_non_null(content);
    assert_true(fd.has_content);
    assert_int_equal(fd.content_len, content_len);
    assert_memory_equal(buf, content, content_len);
    assert_null(lx_fast_delta_disagreement(json, strlen(json), NULL));
}

static void expect_refused(const char *json) {
    char buf[512];
    lx_openai_delta fd;
    if (lx_openai_fast_delta(json, strlen(json), buf, &fd)) fail_msg("accepted: %s", json);
}

#define HEAD "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1727346168,\"model\":\"m\","
#define CHOICE(delta) "\"choices\":[{\"index\":0,\"delta\":" delta ",\"logprobs\":null,\"finish_reason\":null}]}"

static void test_accepted(void **state) {
    (void)state;
    expect_fast(HEAD CHOICE("{\"content\":\"I'm\"}"), "I'm", 3);
    expect_fast(HEAD "\"usage\":null," CHOICE("{\"content\":\"\"}"), "", 0);
    expect_fast(HEAD CHOICE("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}"), "", 0);
    expect_fast(" { \"choices\" : [ { \"delta\" : { \"content\" : \"a\\nb\" } } ] } \r\n", "a\nb", 3);
    expect_fast(HEAD CHOICE("{\"content\":\"\\\"\\\\\\/\\b\\f\\r\\t\"}"), "\"\\/\b\f\r\t", 7);
    expect_fast(HEAD CHOICE("{\"content\":\"caf\\u00e9 \\u20ac \\ud83d\\ude00\"}"),
                "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14);
    expect_fast(HEAD CHOICE("{\"content\":\"h\xc3\xa9 \xf0\x9f\x98\x80\"}"), "h\xc3\xa9 \xf0\x9f\x98\x80", 8);
    expect_fast(HEAD "\"system_fingerprint\":null,\"service_tier\":\"default\",\"obfuscation\":\"x\","
                     CHOICE("{\"content\":\"z\"}"), "z", 1);
    /* content null: no text, still the fast path */
    char buf[64];
    lx_openai_delta fd;
    const char *n = HEAD CHOICE("{\"content\":null}");
    assert_true(lx_openai_fast_delta(n, strlen(n), buf, &fd));
    assert_false(fd.has_content);
}

/* The role and finish chunks take the fast path too: the finish reason's bytes, and the id and
 * model as raw bytes with whether they hold an escape. */
static void test_finish_and_ids(void **state) {
    (void)state;
    char buf[512];
    lx_openai_delta fd;
    const char *fin = HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}";
    assert_true(lx_openai_fast_delta(fin, strlen(fin), buf, &fd));
    assert_int_equal(fd.finish_len, 4);
    assert_memory_equal(fd.finish, "stop", 4);
    assert_int_equal(fd.id_len, 2);
    assert_memory_equal(fd.id, "c1", 2);
    assert_false(fd.id_escaped);
    assert_int_equal(fd.model_len, 1);
    assert_null(lx_fast_delta_disagreement(fin, strlen(fin), NULL));
    const char *esc = "{\"id\":\"c\\u0031\",\"model\":\"m\\n\"," CHOICE("{\"role\":\"assistant\",\"content\":\"\"}");
    assert_true(lx_openai_fast_delta(esc, strlen(esc), buf, &fd));
    assert_true(fd.id_escaped);
    assert_true(fd.model_escaped);
    assert_null(fd.finish);
    assert_null(lx_fast_delta_disagreement(esc, strlen(esc), NULL));
    const char *none = "{" CHOICE("{\"content\":\"x\"}");
    assert_true(lx_openai_fast_delta(none, strlen(none), buf, &fd));
    assert_null(fd.id);
    assert_null(fd.model);
}

/* What the decoder makes of streams those chunks take the fast path in, as the full path made of
 * them: the id and model of the first chunk (unescaped when they hold escapes: then that chunk
 * goes the full way), the text, the last finish reason; "error" as a reason fails the stream. */
static void test_decoder_fast_chunks(void **state) {
    (void)state;
    static const char body[] =
        "data: {\"id\":\"c\\u0031\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\\u00e9\","
        "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"other\","
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"other\","
        "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n"
        "data: [DONE]\n\n";
    h_result r = h_decode(&lx_provider_openai, NULL, true, body, sizeof body - 1, 0, 0);
    assert_int_equal(r.status, LLMUX_OK);
    assert_string_equal(r.events, "start \"c1\" \"m\xc3\xa9\" \"openai\"\n"
                                  "text_delta 0 \"Hi\"\n"
                                  "finish length\n");
    free(r.events);
    /* A plain first chunk (no escape): its id and model from the fast path. */
    static const char plain[] =
        "data: {\"id\":\"p1\",\"model\":\"pm\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n";
    r = h_decode(&lx_provider_openai, NULL, true, plain, sizeof plain - 1, 0, 0);
    assert_int_equal(r.status, LLMUX_OK);
    assert_string_equal(r.events, "start \"p1\" \"pm\" \"openai\"\ntext_delta 0 \"a\"\nfinish stop\n");
    free(r.events);
    static const char failed[] =
        "data: {\"id\":\"p1\",\"model\":\"pm\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"error\"}]}\n\n";
    r = h_decode(&lx_provider_openai, NULL, true, failed, sizeof failed - 1, 0, 0);
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_SERVER);
    free(r.events);
}

static void test_refused(void **state) {
    (void)state;
    expect_refused(HEAD CHOICE("{\"content\":\"a\\u0000b\"}"));       /* NUL: the full decoder */
    expect_refused(HEAD CHOICE("{\"content\":\"\\ud83d\"}"));         /* lone high surrogate */
    expect_refused(HEAD CHOICE("{\"content\":\"\\ude00\"}"));         /* lone low surrogate */
    expect_refused(HEAD CHOICE("{\"content\":\"bad \xff\"}"));        /* invalid UTF-8 */
    expect_refused(HEAD CHOICE("{\"content\":\"over \xc0\xaf\"}"));   /* overlong */
    expect_refused(HEAD CHOICE("{\"content\":\"ctl \x01\"}"));        /* raw control byte */
    expect_refused(HEAD CHOICE("{\"content\":\"a\",\"content\":\"b\"}")); /* duplicate key */
    expect_refused(HEAD CHOICE("{\"reasoning_content\":\"r\"}"));
    expect_refused(HEAD CHOICE("{\"tool_calls\":[]}"));
    expect_refused(HEAD CHOICE("{\"refusal\":\"no\"}"));
    expect_refused(HEAD "\"choices\":[{\"index\":1,\"delta\":{\"content\":\"a\"}}]}");
    expect_refused(HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"st\\u006fp\"}]}"); /* escaped */
    expect_refused(HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":1}]}");
    expect_refused(HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}},{\"index\":1,\"delta\":{}}]}");
    expect_refused(HEAD "\"choices\":[]}");
    expect_refused(HEAD "\"usage\":{\"prompt_tokens\":1,\"cost\":1}," CHOICE("{\"content\":\"a\"}"));
    expect_refused(HEAD "\"usage\":{\"prompt_tokens\":1.5},\"choices\":[]}");
    expect_refused(HEAD "\"usage\":null,\"choices\":[]}");
    expect_refused(HEAD "\"error\":{\"message\":\"x\"}," CHOICE("{\"content\":\"a\"}"));
    expect_refused("{\"id\":\"c\",\"created\":01," CHOICE("{\"content\":\"a\"}"));
    expect_refused("{\"id\":\"c\",\"created\":1.5," CHOICE("{\"content\":\"a\"}"));
    expect_refused("{\"id\":\"c\",\"created\":-1," CHOICE("{\"content\":\"a\"}"));
    expect_refused("{\"id\":\"c\",\"created\":1234567890123456789," CHOICE("{\"content\":\"a\"}"));
    expect_refused(HEAD CHOICE("{\"content\":\"a\"}") "x");
    expect_refused(HEAD CHOICE("{\"content\":\"a\"}") "}");
    expect_refused(HEAD CHOICE("{\"content\":\"a\",}"));
    expect_refused(HEAD CHOICE("{\"content\":\"a\"") );
    expect_refused("{\"choices\":[{\"delta\":{\"content\":\"a\\x\"}}]}");
    expect_refused("[]");
    expect_refused("");
    expect_refused("{\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"extra\":1}");
}

/* The stream_options.include_usage chunk (no choice, a usage object) takes the fast path and
 * gives the events the full path gives (the same chunk with a key the fast reader does not
 * know); a usage object on a content chunk too. */
static void test_usage_chunk(void **state) {
    (void)state;
    const char *u = HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12,"
                         "\"prompt_tokens_details\":{\"cached_tokens\":4,\"audio_tokens\":0},"
                         "\"completion_tokens_details\":{\"reasoning_tokens\":1,\"audio_tokens\":0,"
                         "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}";
    bool accepted = false;
    assert_null(lx_fast_delta_disagreement(u, strlen(u), &accepted));
    assert_true(accepted);
    const char *both = HEAD "\"usage\":{\"prompt_tokens\":2}," CHOICE("{\"content\":\"z\"}");
    assert_null(lx_fast_delta_disagreement(both, strlen(both), &accepted));
    assert_true(accepted);
    const char *streams[2][2] = {
        {"data: " HEAD CHOICE("{\"role\":\"assistant\",\"content\":\"\"}") "\n\n"
         "data: " HEAD CHOICE("{\"content\":\"Hi\"}") "\n\n"
         "data: " HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
         "data: " HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12,"
         "\"prompt_tokens_details\":{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n"
         "data: [DONE]\n\n",
         "data: " HEAD CHOICE("{\"role\":\"assistant\",\"content\":\"\"}") "\n\n"
         "data: " HEAD CHOICE("{\"content\":\"Hi\"}") "\n\n"
         "data: " HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
         "data: " HEAD "\"x_unknown\":1,\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,"
         "\"total_tokens\":12,\"prompt_tokens_details\":{\"cached_tokens\":4},"
         "\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n"
         "data: [DONE]\n\n"},
        {"data: {\"choices\":[],\"usage\":{\"total_tokens\":5}}\n\n"
         "data: " HEAD "\"usage\":{\"prompt_tokens\":2}," CHOICE("{\"content\":\"z\"}") "\n\n"
         "data: [DONE]\n\n",
         "data: {\"x_unknown\":1,\"choices\":[],\"usage\":{\"total_tokens\":5}}\n\n"
         "data: " HEAD "\"x_unknown\":1,\"usage\":{\"prompt_tokens\":2}," CHOICE("{\"content\":\"z\"}") "\n\n"
         "data: [DONE]\n\n"},
    };
    for (size_t i = 0; i < 2; i++) {
        h_result fast = h_decode(&lx_provider_openai, NULL, true, streams[i][0], strlen(streams[i][0]), 0, 0);
        h_result slow = h_decode(&lx_provider_openai, NULL, true, streams[i][1], strlen(streams[i][1]), 0, 0);
        assert_int_equal(fast.status, slow.status);
        assert_non_null(fast.events);
        assert_string_equal(fast.events, slow.events);
        assert_non_null(strstr(fast.events, "usage"));
        free(fast.events);
        free(slow.events);
    }
}

/* ------------------------------------------------------ whole answers (lx_openai_fast_body) */

/* The events the decoder makes of a non-streaming body, and of the same body with a key the fast
 * reader does not know (which sends it the full way): they must be equal. */
static void expect_same_events(const char *body, bool want_fast) {
    bool accepted = false;
    const char *why = lx_fast_body_disagreement(body, strlen(body), &accepted);
    if (why) fail_msg("%s: %s", why, body);
    if (accepted != want_fast) fail_msg("%s: %s", want_fast ? "refused" : "accepted", body);
    h_result fast = h_decode(&lx_provider_openai, NULL, false, body, strlen(body), 0, 0);
    /* The same object with "prompt_filter_results" (Azure) first: the full path. */
    const char *brace = strchr(body, '{');
    assert_non_null(brace);
    size_t n = strlen(body) + 64;
    char *slow_body = malloc(n);
    snprintf(slow_body, n, "%.*s{\"prompt_filter_results\":[],%s", (int)(brace - body), body, brace + 1);
    h_result slow = h_decode(&lx_provider_openai, NULL, false, slow_body, strlen(slow_body), 0, 0);
    assert_int_equal(fast.status, slow.status);
    assert_string_equal(fast.events ? fast.events : "", slow.events ? slow.events : "");
    free(fast.events);
    free(slow.events);
    free(slow_body);
}

#define BODY_HEAD "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1744043456,\"model\":\"gpt-4o\","
#define BODY_CHOICE(msg, fin) "\"choices\":[{\"index\":0,\"message\":" msg ",\"logprobs\":null,\"finish_reason\":" fin "}]"
#define BODY_USAGE                                                                                                 \
    "\"usage\":{\"prompt_tokens\":24,\"completion_tokens\":8,\"total_tokens\":32,"                                 \
    "\"prompt_tokens_details\":{\"cached_tokens\":3,\"audio_tokens\":0},"                                          \
    "\"completion_tokens_details\":{\"reasoning_tokens\":2,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"   \
    "\"rejected_prediction_tokens\":0}}"

static void test_body_fixtures(void **state) {
    (void)state;
    h_fixtures_or_skip("../shared/fixtures/providers");
    const char *files[] = {FIX "openai_chat/response_text.json", FIX "openai_chat/response_text_docs.json",
                           FIX "openai_chat/response_tool_call.json", FIX "openai_chat/response_tool_result.json",
                           FIX "openai_chat/response_tool_call_docs.json"};
    size_t accepted = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        size_t len;
        char *body = h_load_or_skip(files[i], &len);
        bool ok = false;
        const char *why = lx_fast_body_disagreement(body, len, &ok);
        if (why) fail_msg("%s: %s", files[i], why);
        accepted += ok;
        /* The recorded text answer (pretty-printed, real OpenAI keys) takes the fast path. */
        if (i == 0) assert_true(ok);
        /* Tool calls never do. */
        if (strstr(files[i], "tool_call")) assert_false(ok);
        free(body);
    }
    assert_true(accepted >= 1);
}

static void test_body_events(void **state) {
    (void)state;
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"role\":\"assistant\",\"content\":\"Paris.\",\"refusal\":null,"
                                             "\"annotations\":[]}", "\"stop\"") "," BODY_USAGE
                       ",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_1\"}", true);
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"role\":\"assistant\",\"content\":\"caf\\u00e9 \\\"q\\\" \\n\"}",
                                             "\"length\"") ",\"usage\":null}", true);
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"role\":\"assistant\",\"content\":null}", "null") "}", true);
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"content\":\"\"}", "\"content_filter\"")
                       ",\"usage\":{\"prompt_tokens\":1}}", true);
    expect_same_events("{" BODY_CHOICE("{\"content\":\"no id\"}", "\"stop\"") "}", true);
    /* Escaped id or model: the fast reader reads it, the decoder goes the full way for the value. */
    expect_same_events("{\"id\":\"c\\u0031\",\"model\":\"m\\u00e9\"," BODY_CHOICE("{\"content\":\"x\"}", "\"stop\"") "}",
                       true);
    /* finish_reason "error" fails the answer on both paths. */
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"content\":\"x\"}", "\"error\"") "}", true);
    /* Refused shapes (the full path decodes them; events still equal). */
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"content\":\"x\",\"reasoning_content\":\"r\"}", "\"stop\"") "}", false);
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"content\":\"x\",\"refusal\":\"no\"}", "\"stop\"") "}", false);
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"content\":\"x\",\"annotations\":[{}]}", "\"stop\"") "}", false);
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"content\":\"x\"}", "\"stop\"")
                       ",\"usage\":{\"prompt_tokens\":1,\"cost\":0.5}}", false);
    expect_same_events(BODY_HEAD BODY_CHOICE("{\"content\":\"x\"}", "\"stop\"") ",\"usage\":{\"prompt_tokens\":1.0}}",
                       false);
    expect_same_events(BODY_HEAD "\"choices\":[]}", false);
    expect_same_events(BODY_HEAD "\"choices\":[{\"index\":0,\"text\":\"legacy\",\"finish_reason\":\"stop\"}]}", false);
    expect_same_events(BODY_HEAD "\"error\":{\"message\":\"x\"}}", false);
}

static void expect_body_refused(const char *json) {
    char buf[1024];
    lx_openai_body fb;
    if (lx_openai_fast_body(json, strlen(json), buf, &fb)) fail_msg("accepted: %s", json);
}

static void test_body_refused(void **state) {
    (void)state;
    char buf[1024];
    lx_openai_body fb;
    const char *ok = BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"stop\"") "," BODY_USAGE "}";
    assert_true(lx_openai_fast_body(ok, strlen(ok), buf, &fb));
    assert_true(fb.usage.present);
    assert_int_equal(fb.usage.set, LX_FAST_U_PROMPT | LX_FAST_U_COMPLETION | LX_FAST_U_TOTAL | LX_FAST_U_CACHED |
                                       LX_FAST_U_REASONING);
    assert_int_equal(fb.usage.v[0], 24);
    assert_int_equal(fb.usage.v[1], 8);
    assert_int_equal(fb.usage.v[2], 32);
    assert_int_equal(fb.usage.v[3], 3);
    assert_int_equal(fb.usage.v[5], 2);
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\\u0000b\"}", "\"stop\"") "}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"bad \xff\"}", "\"stop\"") "}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\",\"content\":\"b\"}", "\"stop\"") "}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\",\"tool_calls\":[]}", "\"stop\"") "}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"st\\u006fp\"") "}");
    expect_body_refused(BODY_HEAD "\"choices\":[{\"index\":1,\"message\":{\"content\":\"a\"}}]}");
    expect_body_refused(BODY_HEAD "\"choices\":[{\"index\":0,\"message\":{\"content\":\"a\"}},{\"index\":1,\"message\":{}}]}");
    expect_body_refused(BODY_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"stop\"") ",\"usage\":{\"prompt_tokens\":-1}}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"stop\"")
                        ",\"usage\":{\"prompt_tokens\":1,\"prompt_tokens\":2}}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"stop\"")
                        ",\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":1,\"cached_tokens\":1}}}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"stop\"")
                        ",\"usage\":{\"prompt_tokens_details\":null}}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"stop\"")
                        ",\"usage\":{\"completion_tokens_details\":{\"other_tokens\":1}}}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"stop\"") "} x");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"stop\"") "}}");
    expect_body_refused(BODY_HEAD BODY_CHOICE("{\"content\":\"a\"}", "\"stop\""));
    expect_body_refused("");
    expect_body_refused("[]");
    /* A streamed chunk is not a whole answer (delta, not message), and vice versa. */
    expect_body_refused(HEAD CHOICE("{\"content\":\"I'm\"}"));
    expect_refused(ok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_finish_and_ids),
        cmocka_unit_test(test_decoder_fast_chunks),
        cmocka_unit_test(test_usage_chunk),
        cmocka_unit_test(test_body_fixtures),
        cmocka_unit_test(test_body_events),
        cmocka_unit_test(test_body_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
