/* `llmux chat` end to end: on a pseudo-terminal (libedit, ^C and ^D as a terminal delivers them)
 * and through a pipe. The bundled model answers at temperature 0; a fake OpenAI server records
 * the wire requests, which show what the conversation holds at each turn. Every read has a
 * deadline. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli/cli_pty.h"
#include "llmux.h"
#include "support/cli_run.h"
#include "support/fake_server.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define STREAM_TEXT "tests/data/fake/openai/stream_text.sse" /* "Hello, world!", 11 in / 4 out */
#define ANSWER "Hello, world!"
#define PROMPT "you> "
#define ENV_CLEAN                                                                                                   \
    "env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u OPENROUTER_API_KEY "
/* Generous: the machine is shared and loaded; a working chat answers in milliseconds. */
#define WAIT_S 30.0

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli-chat");
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

/* ------------------------------------------------------------------ helpers */

static void push_file(lx_fake_server *s, const char *file) {
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = "/v1/chat/completions";
    r.headers = "Content-Type: text/event-stream\r\n";
    r.body_file = file;
    r.chunked = true;
    assert_true(lx_fake_server_push(s, &r));
}

/* A slow stream of "tick " deltas: one 64-byte write every 100 ms, well over a minute in all. */
static void push_drip(lx_fake_server *s) {
    static const char tick[] = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"x\",\"choices\":"
                               "[{\"index\":0,\"delta\":{\"content\":\"tick \"},\"finish_reason\":null}]}\n\n";
    static const char tail[] = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"x\",\"choices\":"
                               "[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    enum { N = 400 };
    char *body = malloc(N * sizeof tick + sizeof tail);
    assert_non_null(body);
    char *p = body;
    for (int i = 0; i < N; i++) p += sprintf(p, "%s", tick);
    sprintf(p, "%s", tail);
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = "/v1/chat/completions";
    r.headers = "Content-Type: text/event-stream\r\n";
    r.body = body;
    r.chunked = true;
    r.chunk_size = 64;
    r.chunk_delay_ms = 100;
    assert_true(lx_fake_server_push(s, &r));
    free(body);
}

static void push_error_400(lx_fake_server *s) {
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = "/v1/chat/completions";
    r.status = 400;
    r.headers = "Content-Type: application/json\r\n";
    r.body = "{\"error\":{\"message\":\"the fake refuses\",\"type\":\"invalid_request_error\",\"code\":null}}";
    assert_true(lx_fake_server_push(s, &r));
}

/* The i-th recorded request's JSON body (the caller json_decrefs it). */
static json_t *request_body(lx_fake_server *s, int i) {
    lx_fake_request rq;
    assert_true(lx_fake_server_request(s, i, &rq));
    json_error_t je;
    json_t *j = json_loadb(rq.body, rq.body_len, 0, &je);
    free(rq.body);
    if (!j) fail_msg("request %d: body is not JSON: %s", i, je.text);
    return j;
}

/* Text of an OpenAI message's content (a string, or an array of text parts joined). */
static void content_text(json_t *m, char *out, size_t size) {
    json_t *c = json_object_get(m, "content");
    out[0] = '\0';
    if (json_is_string(c)) {
        snprintf(out, size, "%s", json_string_value(c));
        return;
    }
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part) {
        const char *t = json_string_value(json_object_get(part, "text"));
        if (t) strncat(out, t, size - strlen(out) - 1);
    }
}

/* Asserts the request's messages: n of them, roles[i] and texts[i] (NULL text: not checked). */
static void assert_messages(json_t *body, size_t n, const char *const roles[], const char *const texts[]) {
    json_t *msgs = json_object_get(body, "messages");
    assert_true(json_is_array(msgs));
    if (json_array_size(msgs) != n) {
        char *dump = json_dumps(msgs, 0);
        fail_msg("expected %zu messages, got %s", n, dump);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        assert_string_equal(json_string_value(json_object_get(m, "role")), roles[i]);
        if (!texts[i]) continue;
        char text[4096];
        content_text(m, text, sizeof text);
        assert_string_equal(text, texts[i]);
    }
}

/* `llmux chat -m openai/x` against the fake server, on a pty, with a scratch HOME and state
 * directory. extra: more arguments (NULL-terminated list, may be NULL). */
static void spawn_remote(cli_pty *p, lx_fake_server *s, const char *const extra[]) {
    static char url[256], *argv[32];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    int i = 0;
    argv[i++] = LLMUX;
    argv[i++] = "chat";
    argv[i++] = "-m";
    argv[i++] = "openai/x";
    argv[i++] = "--base-url";
    argv[i++] = url;
    argv[i++] = "--api-key";
    argv[i++] = "k";
    for (size_t k = 0; extra && extra[k]; k++) argv[i++] = (char *)extra[k];
    argv[i] = NULL;
    static char home[PATH_MAX + 8], state[PATH_MAX + 32];
    snprintf(home, sizeof home, "HOME=%s", cli_scratch());
    snprintf(state, sizeof state, "XDG_STATE_HOME=%s/state", cli_scratch());
    const char *env[] = {"TERM=dumb", home, state, "OPENAI_API_KEY", "OPENAI_BASE_URL", NULL};
    cli_pty_spawn(p, argv, env);
}

/* Waits for the prompt and for the line editor to read keys. */
static void prompt(cli_pty *p) {
    cli_pty_expect(p, PROMPT, WAIT_S);
    cli_pty_wait_editing(p, WAIT_S);
}

/* Ctrl-D at the prompt; the session must end with status 0. */
static void leave(cli_pty *p) {
    cli_pty_wait_editing(p, WAIT_S);
    cli_pty_send(p, "\x04");
    int st = cli_pty_wait(p, WAIT_S);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("llmux chat did not exit 0 on Ctrl-D (status 0x%x); terminal:\n%s", st, p->buf);
}

/* ---------------------------------------------------------------- the tests */

/* A turn with the bundled model gets the same answer `llmux run` gives to the same question
 * (one user message, temperature 0); the line lands in the history file; Ctrl-D exits 0. */
static void test_local_turn(void **state) {
    (void)state;
    cli_result r;
    cli_run(LLMUX " run -t 0 -n 8 Hello", &r);
    assert_int_equal(r.code, 0);
    size_t n = strlen(r.out);
    assert_true(n > 1);
    r.out[n - 1] = '\0'; /* the newline run adds */

    static char *argv[] = {LLMUX, "chat", "-t", "0", "-n", "8", NULL};
    char home[PATH_MAX + 8], st_env[PATH_MAX + 32];
    snprintf(home, sizeof home, "HOME=%s", cli_scratch());
    snprintf(st_env, sizeof st_env, "XDG_STATE_HOME=%s/state", cli_scratch());
    const char *env[] = {"TERM=dumb", home, st_env, NULL};
    static cli_pty p;
    cli_pty_spawn(&p, argv, env);
    prompt(&p);
    cli_pty_send(&p, "Hello\r");
    size_t from = p.mark;
    const char *next = cli_pty_expect(&p, PROMPT, 120);
    const char *answer = strstr(p.buf + from, r.out);
    if (!answer || answer > next) fail_msg("answer \"%s\" not shown; terminal:\n%s", r.out, p.buf + from);
    leave(&p);

    char path[PATH_MAX], hist[4096];
    snprintf(path, sizeof path, "%s/state/llmux/chat_history", cli_scratch());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t len = fread(hist, 1, sizeof hist - 1, f);
    hist[len] = '\0';
    fclose(f);
    assert_non_null(strstr(hist, "Hello"));
}

/* The second turn's request carries the first question and answer; /model switches the model
 * and keeps them; /system adds a system message; /usage sums both responses' usage. */
static void test_conversation(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_file(s, STREAM_TEXT);
    push_file(s, STREAM_TEXT);
    static cli_pty p;
    spawn_remote(&p, s, NULL);
    prompt(&p);
    cli_pty_send(&p, "first question\r");
    cli_pty_expect(&p, ANSWER, WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "/model openai/other\r");
    cli_pty_expect(&p, "model: openai/other", WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "/system Be brief.\r");
    cli_pty_expect(&p, "system prompt set", WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "second question\r");
    cli_pty_expect(&p, ANSWER, WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "/usage\r");
    cli_pty_expect(&p, "tokens: 22 in, 8 out (2 answers)", WAIT_S);
    prompt(&p);
    leave(&p);

    assert_int_equal(lx_fake_server_requests(s), 2);
    json_t *b0 = request_body(s, 0);
    assert_string_equal(json_string_value(json_object_get(b0, "model")), "x");
    assert_messages(b0, 1, (const char *const[]){"user"}, (const char *const[]){"first question"});
    json_decref(b0);
    json_t *b1 = request_body(s, 1);
    assert_string_equal(json_string_value(json_object_get(b1, "model")), "other");
    assert_messages(b1, 4, (const char *const[]){"system", "user", "assistant", "user"},
                    (const char *const[]){"Be brief.", "first question", ANSWER, "second question"});
    json_decref(b1);
    lx_fake_server_stop(s);
}

/* /clear: the next request holds only the new question. Ctrl-C at the prompt throws the typed
 * line away (it reaches neither the request nor the next line) and the session goes on. */
static void test_clear_and_prompt_interrupt(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_file(s, STREAM_TEXT);
    push_file(s, STREAM_TEXT);
    static cli_pty p;
    spawn_remote(&p, s, NULL);
    prompt(&p);
    cli_pty_send(&p, "first\r");
    cli_pty_expect(&p, ANSWER, WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "/clear\r");
    cli_pty_expect(&p, "conversation cleared", WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "typo");
    cli_pty_expect(&p, "typo", WAIT_S); /* echoed by the line editor */
    cli_pty_send(&p, "\x03");
    prompt(&p);
    cli_pty_send(&p, "second\r");
    cli_pty_expect(&p, ANSWER, WAIT_S);
    prompt(&p);
    leave(&p);

    assert_int_equal(lx_fake_server_requests(s), 2);
    json_t *b1 = request_body(s, 1);
    assert_messages(b1, 1, (const char *const[]){"user"}, (const char *const[]){"second"});
    json_decref(b1);
    lx_fake_server_stop(s);
}

/* /save writes canonical request JSON that llmux_request_from_json accepts, holding the turn;
 * a second /save to the same file is refused and leaves it as it was. */
static void test_save(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_file(s, STREAM_TEXT);
    static cli_pty p;
    spawn_remote(&p, s, (const char *const[]){"--system", "You are a test.", NULL});
    prompt(&p);
    char path[PATH_MAX], line[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/conversation.json", cli_scratch());
    snprintf(line, sizeof line, "/save %s\r", path);
    cli_pty_send(&p, line);
    cli_pty_expect(&p, "the conversation is empty; nothing saved", WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "a question\r");
    cli_pty_expect(&p, ANSWER, WAIT_S);
    prompt(&p);
    cli_pty_send(&p, line);
    cli_pty_expect(&p, "saved 1 turn to", WAIT_S);
    prompt(&p);

    size_t len;
    char *json = lx_fake_read_file(path, &len);
    assert_non_null(json);
    llmux_request *req = NULL;
    llmux_error_info err;
    if (llmux_request_from_json(json, len, &req, &err) != LLMUX_OK) fail_msg("saved file refused: %s", err.message);
    assert_string_equal(req->model, "openai/x");
    assert_string_equal(req->system, "You are a test.");
    assert_int_equal(req->n_messages, 2);
    assert_int_equal(req->messages[0].role, LLMUX_ROLE_USER);
    assert_string_equal(req->messages[0].parts[0].text, "a question");
    assert_int_equal(req->messages[1].role, LLMUX_ROLE_ASSISTANT);
    assert_string_equal(req->messages[1].parts[0].text, ANSWER);
    llmux_request_free(req);

    cli_pty_send(&p, line);
    cli_pty_expect(&p, "already exists; not overwritten", WAIT_S);
    prompt(&p);
    size_t len2;
    char *again = lx_fake_read_file(path, &len2);
    assert_non_null(again);
    assert_int_equal(len2, len);
    assert_memory_equal(again, json, len);
    free(again);
    free(json);
    leave(&p);
    lx_fake_server_stop(s);
}

/* Ctrl-C while a slow answer streams stops it long before the stream would end; the prompt
 * returns, the stopped answer's text stays in the conversation (the next request carries it)
 * and the session goes on to exit 0. */
static void test_interrupt_stream(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_drip(s);
    push_file(s, STREAM_TEXT);
    static cli_pty p;
    spawn_remote(&p, s, NULL);
    prompt(&p);
    cli_pty_send(&p, "count\r");
    cli_pty_expect(&p, "tick tick ", WAIT_S);
    cli_pty_send(&p, "\x03");
    /* The whole stream takes over a minute; a stop shows within seconds. */
    cli_pty_expect(&p, "llmux: cancelled: answer stopped", WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "next\r");
    cli_pty_expect(&p, ANSWER, WAIT_S);
    prompt(&p);
    leave(&p);

    assert_int_equal(lx_fake_server_requests(s), 2);
    json_t *b1 = request_body(s, 1);
    assert_messages(b1, 3, (const char *const[]){"user", "assistant", "user"},
                    (const char *const[]){"count", NULL, "next"});
    char partial[4096];
    content_text(json_array_get(json_object_get(b1, "messages"), 1), partial, sizeof partial);
    assert_true(strncmp(partial, "tick tick ", 10) == 0);
    assert_true(strlen(partial) < 400 * 5); /* stopped: not the whole answer */
    json_decref(b1);
    lx_fake_server_stop(s);
}

/* An Anthropic answer with a signed thinking block: the next request sends the assistant turn
 * back whole, the thinking text and its signature unchanged, before the text. */
static void test_reasoning_travels_back(void **state) {
    (void)state;
    static const char stream[] =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,"
        "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think.\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"SIG-123\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Answer.\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
        "\"usage\":{\"output_tokens\":7}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    for (int i = 0; i < 2; i++) {
        lx_fake_response r;
        memset(&r, 0, sizeof r);
        r.path_prefix = "/v1/messages";
        r.headers = "Content-Type: text/event-stream\r\n";
        r.body = stream;
        r.chunked = true;
        assert_true(lx_fake_server_push(s, &r));
    }
    char url[256], cmd[2048];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    snprintf(cmd, sizeof cmd,
             "printf 'one\\ntwo\\n' | " ENV_CLEAN LLMUX " chat -m anthropic/claude-x --base-url %s --api-key k", url);
    cli_result r;
    cli_run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    assert_string_equal(r.out, "Answer.\nAnswer.\n"); /* the thinking is not printed */
    assert_int_equal(lx_fake_server_requests(s), 2);
    json_t *b1 = request_body(s, 1);
    json_t *msgs = json_object_get(b1, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    json_t *asst = json_array_get(msgs, 1);
    assert_string_equal(json_string_value(json_object_get(asst, "role")), "assistant");
    json_t *content = json_object_get(asst, "content");
    assert_int_equal(json_array_size(content), 2);
    json_t *think = json_array_get(content, 0);
    assert_string_equal(json_string_value(json_object_get(think, "type")), "thinking");
    assert_string_equal(json_string_value(json_object_get(think, "thinking")), "Let me think.");
    assert_string_equal(json_string_value(json_object_get(think, "signature")), "SIG-123");
    json_t *text = json_array_get(content, 1);
    assert_string_equal(json_string_value(json_object_get(text, "text")), "Answer.");
    json_decref(b1);
    lx_fake_server_stop(s);
}

/* SIGTERM during an answer stops it and then ends the session by that signal (a chat is not a
 * reason to outlive `kill`). */
static void test_sigterm_ends(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_drip(s);
    static cli_pty p;
    spawn_remote(&p, s, NULL);
    prompt(&p);
    cli_pty_send(&p, "count\r");
    cli_pty_expect(&p, "tick tick ", WAIT_S);
    assert_int_equal(kill(p.pid, SIGTERM), 0);
    int st = cli_pty_wait(&p, WAIT_S);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM) fail_msg("status 0x%x; terminal:\n%s", st, p.buf);
    lx_fake_server_stop(s);
}

/* The history file stays bounded: a file of 1500 old lines comes back with at most 1000
 * entries, the newest (this session's line) among them. */
static void test_history_bounded(void **state) {
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 16], cmd[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/state/llmux", cli_scratch());
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/chat_history", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("_HiStOrY_V2_\n", f);
    for (int i = 0; i < 1500; i++) fprintf(f, "old\\040line\\040%d\n", i);
    fclose(f);

    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    static cli_pty p;
    spawn_remote(&p, s, NULL);
    prompt(&p);
    cli_pty_send(&p, "/usage\r");
    cli_pty_expect(&p, "tokens: 0 in, 0 out (0 answers)", WAIT_S);
    prompt(&p);
    leave(&p);
    lx_fake_server_stop(s);

    size_t len;
    char *hist = lx_fake_read_file(path, &len);
    assert_non_null(hist);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += hist[i] == '\n';
    if (lines > 1001) fail_msg("history holds %zu lines", lines);
    assert_true(lines > 900);
    assert_non_null(strstr(hist, "/usage"));
    assert_null(strstr(hist, "line\\0400\n")); /* the oldest went */
    free(hist);
}

/* A failed turn prints the class and message; the session goes on and the failed question is
 * not part of the next request. */
static void test_failed_turn(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_error_400(s);
    push_file(s, STREAM_TEXT);
    static cli_pty p;
    spawn_remote(&p, s, NULL);
    prompt(&p);
    cli_pty_send(&p, "doomed\r");
    cli_pty_expect(&p, "llmux: invalid_request: ", WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "/frobnicate\r");
    cli_pty_expect(&p, "unknown command \"/frobnicate\" (try /help)", WAIT_S);
    prompt(&p);
    cli_pty_send(&p, "again\r");
    cli_pty_expect(&p, ANSWER, WAIT_S);
    prompt(&p);
    leave(&p);
    json_t *b1 = request_body(s, 1);
    assert_messages(b1, 1, (const char *const[]){"user"}, (const char *const[]){"again"});
    json_decref(b1);
    lx_fake_server_stop(s);
}

/* Through a pipe: one question per line, answers printed without prompts or a banner, blank
 * lines skipped, commands work, exit 0 at the end of input. The bundled model answers a single
 * line exactly as `llmux run` does. */
static void test_pipe(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_file(s, STREAM_TEXT);
    push_file(s, STREAM_TEXT);
    char url[256], cmd[2048];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    snprintf(cmd, sizeof cmd,
             "printf 'first\\n\\n/usage\\nsecond' | " ENV_CLEAN LLMUX " chat -m openai/x --base-url %s --api-key k", url);
    cli_result r;
    cli_run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    assert_string_equal(r.out, ANSWER "\ntokens: 11 in, 4 out (1 answer)\ncost: unknown (no price for the model)\n" ANSWER "\n");
    assert_int_equal(lx_fake_server_requests(s), 2);
    json_t *b1 = request_body(s, 1);
    assert_messages(b1, 3, (const char *const[]){"user", "assistant", "user"},
                    (const char *const[]){"first", ANSWER, "second"});
    json_decref(b1);
    lx_fake_server_stop(s);

    cli_result run;
    cli_run(LLMUX " run -t 0 -n 8 Hello", &run);
    assert_int_equal(run.code, 0);
    cli_run("printf 'Hello\\n' | " LLMUX " chat -t 0 -n 8", &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, run.out);
}

/* /model with a .gguf path outside every model directory: the path is allowed (as with `llmux
 * run -m PATH`) and the copy answers as the bundled model does; an unknown model fails that turn
 * only. */
static void test_model_switch_local(void **state) {
    (void)state;
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/m' && cp models/llmux-fortunes.gguf '%s/m/copy.gguf'", cli_scratch(),
             cli_scratch());
    assert_int_equal(system(cmd), 0);
    cli_result run, r;
    cli_run(LLMUX " run -t 0 -n 8 Hello", &run);
    assert_int_equal(run.code, 0);
    snprintf(cmd, sizeof cmd,
             "printf '/model local/no-such-model\\nHi\\n/model %s/m/copy.gguf\\nHello\\n' | " LLMUX " chat -t 0 -n 8",
             cli_scratch());
    cli_run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    assert_non_null(strstr(r.err, "llmux: model_not_found: "));
    char want[8192];
    snprintf(want, sizeof want, "model: local/no-such-model (the conversation is kept)\nmodel: %s/m/copy.gguf (the conversation is kept)\n%s",
             cli_scratch(), run.out);
    assert_string_equal(r.out, want);
}

/* I/O failures of the CLI's own streams end it with 3; an empty stdin is a finished session;
 * stray arguments are usage errors; --help documents the commands. */
static void test_pipe_io_and_usage(void **state) {
    (void)state;
    cli_result r;
    cli_run("printf 'Hello\\n' | " LLMUX " chat -t 0 -n 8 > /dev/full", &r);
    assert_int_equal(r.code, 3);
    assert_non_null(strstr(r.err, "llmux: write error: "));
    cli_run(LLMUX " chat -t 0 -n 8 < /", &r);
    assert_int_equal(r.code, 3);
    assert_non_null(strstr(r.err, "llmux: read error: stdin: "));
    cli_run(LLMUX " chat < /dev/null", &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "");
    cli_run(LLMUX " chat 'a prompt'", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "takes no PROMPT"));
    cli_run(LLMUX " chat --temperature hot", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--temperature: expected a number"));
    cli_run(LLMUX " chat --help", &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "/save FILE"));
    assert_non_null(strstr(r.out, "--max-tokens"));
    /* A line past the cap is refused whole and the session goes on to the next one. */
    cli_run("{ head -c 1100000 /dev/zero | tr '\\0' a; printf '\\n/usage\\n'; } | " LLMUX " chat", &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.err, "llmux: invalid_request: input line longer than 1 MiB; skipped"));
    assert_non_null(strstr(r.out, "tokens: 0 in, 0 out (0 answers)"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_turn),
        cmocka_unit_test(test_conversation),
        cmocka_unit_test(test_clear_and_prompt_interrupt),
        cmocka_unit_test(test_save),
        cmocka_unit_test(test_interrupt_stream),
        cmocka_unit_test(test_failed_turn),
        cmocka_unit_test(test_reasoning_travels_back),
        cmocka_unit_test(test_sigterm_ends),
        cmocka_unit_test(test_history_bounded),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_model_switch_local),
        cmocka_unit_test(test_pipe_io_and_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
