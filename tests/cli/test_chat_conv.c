/* The conversation `llmux chat` keeps (src/cli/chat_conv.c, included to test it alone): which
 * parts of an answer stay, when a turn is dropped, the user/assistant alternation of the
 * messages, and the turn cap. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/chat_conv.c"

/* A response decoded from canonical JSON with the given content array. */
static llmux_response *answer(const char *content) {
    char json[2048];
    snprintf(json, sizeof json, "{\"id\":\"r\",\"model\":\"m\",\"provider\":\"p\",\"content\":%s,\"finish_reason\":\"stop\"}",
             content);
    llmux_response *r = NULL;
    llmux_error_info err;
    if (llmux_response_from_json(json, strlen(json), &r, &err) != LLMUX_OK) fail_msg("%s", err.message);
    return r;
}

#define FULL                                                                                                       \
    "[{\"type\":\"reasoning\",\"text\":\"hmm\",\"signature\":\"SIG\"},{\"type\":\"text\",\"text\":\"So far\"},"      \
    "{\"type\":\"tool_call\",\"id\":\"c1\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\"}]"

/* A complete answer keeps every part (reasoning with its signature, tool calls) in order. */
static void test_complete_answer_kept_whole(void **state) {
    (void)state;
    chat_conv *c = chat_conv_create();
    assert_non_null(c);
    assert_true(chat_conv_ask(c, "q"));
    assert_true(chat_conv_answer(c, answer(FULL), false));
    size_t n;
    bool oom;
    const llmux_message *m = chat_conv_messages(c, &n, &oom);
    assert_int_equal(n, 2);
    assert_int_equal(m[0].role, LLMUX_ROLE_USER);
    assert_string_equal(m[0].parts[0].text, "q");
    assert_int_equal(m[1].role, LLMUX_ROLE_ASSISTANT);
    assert_int_equal(m[1].n_parts, 3);
    assert_int_equal(m[1].parts[0].type, LLMUX_PART_REASONING);
    assert_string_equal(m[1].parts[0].signature, "SIG");
    assert_int_equal(m[1].parts[2].type, LLMUX_PART_TOOL_CALL);
    assert_int_equal(chat_conv_turns(c), 1);
    chat_conv_destroy(c);
}

/* A stopped answer keeps only its non-empty text; with none, the question goes too. */
static void test_stopped_answer_keeps_text(void **state) {
    (void)state;
    chat_conv *c = chat_conv_create();
    assert_true(chat_conv_ask(c, "q1"));
    assert_true(chat_conv_answer(c, answer(FULL), true));
    assert_true(chat_conv_ask(c, "q2"));
    assert_false(chat_conv_answer(c, answer("[{\"type\":\"reasoning\",\"text\":\"x\"},{\"type\":\"text\",\"text\":\"\"}]"), true));
    size_t n;
    bool oom;
    const llmux_message *m = chat_conv_messages(c, &n, &oom);
    assert_int_equal(n, 2);
    assert_int_equal(m[1].n_parts, 1);
    assert_int_equal(m[1].parts[0].type, LLMUX_PART_TEXT);
    assert_string_equal(m[1].parts[0].text, "So far");
    assert_int_equal(chat_conv_turns(c), 1);
    /* An empty complete answer is not kept either: the next question must follow an answer. */
    assert_true(chat_conv_ask(c, "q3"));
    assert_false(chat_conv_answer(c, answer("[]"), false));
    assert_int_equal(chat_conv_turns(c), 1);
    chat_conv_destroy(c);
}

/* The open turn is part of the messages (the request that answers it) until dropped; /clear
 * forgets everything. */
static void test_open_turn_drop_and_clear(void **state) {
    (void)state;
    chat_conv *c = chat_conv_create();
    assert_true(chat_conv_ask(c, "q1"));
    assert_true(chat_conv_answer(c, answer("[{\"type\":\"text\",\"text\":\"a1\"}]"), false));
    assert_true(chat_conv_ask(c, "q2"));
    size_t n;
    bool oom;
    const llmux_message *m = chat_conv_messages(c, &n, &oom);
    assert_int_equal(n, 3);
    assert_string_equal(m[2].parts[0].text, "q2");
    assert_int_equal(chat_conv_turns(c), 1);
    chat_conv_drop_open(c);
    chat_conv_messages(c, &n, &oom);
    assert_int_equal(n, 2);
    chat_conv_clear(c);
    assert_null(chat_conv_messages(c, &n, &oom));
    assert_int_equal(n, 0);
    assert_false(oom);
    chat_conv_destroy(c);
    chat_conv_destroy(NULL);
}

/* The turn cap refuses a new question, and the conversation stays usable. */
static void test_turn_cap(void **state) {
    (void)state;
    chat_conv *c = chat_conv_create();
    llmux_response *tmpl = answer("[{\"type\":\"text\",\"text\":\"a\"}]");
    char *json = llmux_response_to_json(tmpl);
    llmux_response_free(tmpl);
    for (int i = 0; i < CHAT_MAX_TURNS; i++) {
        assert_true(chat_conv_ask(c, "q"));
        llmux_response *r = NULL;
        llmux_error_info err;
        assert_int_equal(llmux_response_from_json(json, strlen(json), &r, &err), LLMUX_OK);
        assert_true(chat_conv_answer(c, r, false));
    }
    assert_false(chat_conv_ask(c, "one too many"));
    assert_int_equal(chat_conv_turns(c), CHAT_MAX_TURNS);
    size_t n;
    bool oom;
    chat_conv_messages(c, &n, &oom);
    assert_int_equal(n, 2 * CHAT_MAX_TURNS);
    llmux_free(json);
    chat_conv_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_answer_kept_whole),
        cmocka_unit_test(test_stopped_answer_keeps_text),
        cmocka_unit_test(test_open_turn_drop_and_clear),
        cmocka_unit_test(test_turn_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
