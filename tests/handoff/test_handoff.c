/* Handoff: every ordered pair of protocols over one conversation per origin (exact output, in
 * tests/data/handoff/out_<origin>_<target>.json; inputs in_<origin>.json are shaped the way each
 * origin's adapter stores a conversation), the single rules one by one, and a property test:
 * thousands of generated conversations, each handed to every target, give outputs that keep
 * handoff's promises (lx_handoff_check) and that a second handoff leaves unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/handoff.h"

static const char *const k_protocols[] = {"openai", "anthropic", "gemini", "ollama", "local"};
#define N_PROTOCOLS 5

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) {
        s[n] = '\0';
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
    }
    return s;
}

static llmux_request *decode(const char *json) {
    llmux_request *r = NULL;
    llmux_error_info e;
    if (llmux_request_from_json(json, strlen(json), &r, &e) != LLMUX_OK) fail_msg("decode: %s", e.message);
    return r;
}

/* Hands `in` off, checks the output's promises and that a second handoff changes nothing;
 * returns the output's JSON (caller frees). */
static char *handoff_json(const llmux_request *in, const lx_handoff_opts *o) {
    llmux_request *out = NULL, *again = NULL;
    llmux_error_info e;
    if (lx_handoff(in, o, &out, &e) != LLMUX_OK) fail_msg("handoff to %s: %s", o->target_protocol, e.message);
    char why[256];
    if (!lx_handoff_check(out, o, why, sizeof why)) fail_msg("%s: %s", o->target_protocol, why);
    assert_int_equal(lx_handoff(out, o, &again, &e), LLMUX_OK);
    char *j1 = llmux_request_to_json(out), *j2 = llmux_request_to_json(again);
    assert_non_null(j1);
    assert_non_null(j2);
    assert_string_equal(j1, j2);
    llmux_free(j2);
    llmux_request_free(out);
    llmux_request_free(again);
    return j1;
}

static char *run_json(const char *json, const char *origin, const char *target, bool as_text) {
    llmux_request *in = decode(json);
    lx_handoff_opts o = {.origin = origin, .target_protocol = target, .reasoning_as_text = as_text};
    char *j = handoff_json(in, &o);
    llmux_request_free(in);
    return j;
}

/* ------------------------------------------------------------ pairs */

static void test_every_pair(void **state) {
    (void)state;
    char path[256];
    for (int a = 0; a < N_PROTOCOLS; a++) {
        snprintf(path, sizeof path, "tests/data/handoff/in_%s.json", k_protocols[a]);
        char *in_json = read_file(path);
        if (!in_json) fail_msg("missing %s", path);
        for (int b = 0; b < N_PROTOCOLS; b++) {
            snprintf(path, sizeof path, "tests/data/handoff/out_%s_%s.json", k_protocols[a], k_protocols[b]);
            char *want = read_file(path);
            if (!want) fail_msg("missing %s", path);
            char *got = run_json(in_json, k_protocols[a], k_protocols[b], false);
            if (strcmp(got, want) != 0) fail_msg("%s -> %s\n got: %s\nwant: %s", k_protocols[a], k_protocols[b], got, want);
            llmux_free(got);
            free(want);
        }
        free(in_json);
    }
}

/* ------------------------------------------------------------ rules */

#define U(text) "{\"role\":\"user\",\"content\":\"" text "\"}"
#define A(text) "{\"role\":\"assistant\",\"content\":\"" text "\"}"
#define CALL(id, name) "{\"type\":\"tool_call\",\"id\":\"" id "\",\"name\":\"" name "\",\"arguments\":\"{}\"}"
#define RES(id, text) "{\"type\":\"tool_result\",\"id\":\"" id "\",\"content\":\"" text "\"}"
#define REQ(msgs) "{\"messages\":[" msgs "]}"

static void expect(const char *in, const char *origin, const char *target, bool as_text, const char *want) {
    char *got = run_json(in, origin, target, as_text);
    if (strcmp(got, want) != 0) fail_msg("%s -> %s\n got: %s\nwant: %s", origin ? origin : "?", target, got, want);
    llmux_free(got);
}

/* Foreign reasoning as text: readable text survives, the redacted payload and signature-only
 * parts never do. */
static void test_reasoning_as_text(void **state) {
    (void)state;
    const char *in = REQ(U("q") ",{\"role\":\"assistant\",\"content\":["
                                   "{\"type\":\"reasoning\",\"text\":\"think\",\"signature\":\"s\"},"
                                   "{\"type\":\"reasoning\",\"text\":\"b3BhcXVl\",\"redacted\":true},"
                                   "{\"type\":\"reasoning\",\"signature\":\"only\"},"
                                   "{\"type\":\"text\",\"text\":\"answer\"}]}," U("next"));
    expect(in, "anthropic", "openai", true,
           REQ(U("q") ",{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"[reasoning]\\nthink\"},"
                      "{\"type\":\"text\",\"text\":\"answer\"}]}," U("next")));
    expect(in, "anthropic", "gemini", false, REQ(U("q") "," A("answer") "," U("next")));
    /* Unknown origin: nothing is trusted. */
    expect(in, NULL, "anthropic", false, REQ(U("q") "," A("answer") "," U("next")));
}

/* The provider name decides "same origin", not the protocol: OpenRouter speaks openai. */
static void test_origin_is_a_provider(void **state) {
    (void)state;
    const char *in = REQ(U("q") ",{\"role\":\"assistant\",\"content\":["
                                   "{\"type\":\"reasoning\",\"text\":\"t\",\"signature\":\"s\"},"
                                   "{\"type\":\"text\",\"text\":\"a\"}]}");
    llmux_request *r = decode(in);
    lx_handoff_opts same = {.origin = "openrouter", .target_protocol = "openai", .target_provider = "openrouter"};
    lx_handoff_opts other = {.origin = "openrouter", .target_protocol = "openai", .target_provider = "vllm-a"};
    char *j1 = handoff_json(r, &same), *j2 = handoff_json(r, &other);
    assert_non_null(strstr(j1, "\"signature\":\"s\""));
    assert_string_equal(j2, REQ(U("q") "," A("a")));
    llmux_free(j1);
    llmux_free(j2);
    llmux_request_free(r);
}

/* Results with no call just before them and calls never answered become text in place; a
 * result answering a call two turns back is an orphan too (providers look only one turn back). */
static void test_orphans(void **state) {
    (void)state;
    const char *in = REQ("{\"role\":\"tool\",\"content\":[" RES("ghost", "boo") "]},"
                         U("q") ",{\"role\":\"assistant\",\"content\":[" CALL("c1", "f") "," CALL("c2", "g") "]},"
                         "{\"role\":\"tool\",\"content\":[" RES("c1", "one") "]}," U("more") "," A("ok") ","
                         "{\"role\":\"tool\",\"content\":[" RES("c2", "late") "]}");
    expect(in, "openai", "anthropic", false,
           REQ("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"[tool result]\\nboo\"},"
               "{\"type\":\"text\",\"text\":\"q\"}]},"
               "{\"role\":\"assistant\",\"content\":[" "{\"type\":\"tool_call\",\"id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"},"
               "{\"type\":\"text\",\"text\":\"[tool call: g {}]\"}]},"
               "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"id\":\"c1\",\"name\":\"f\",\"content\":\"one\"},"
               "{\"type\":\"text\",\"text\":\"more\"}]}," A("ok") "," U("[tool result]\\nlate")));
    expect(in, "openai", "openai", false,
           REQ(U("[tool result]\\nboo") "," U("q") ",{\"role\":\"assistant\",\"content\":["
               "{\"type\":\"tool_call\",\"id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"},"
               "{\"type\":\"text\",\"text\":\"[tool call: g {}]\"}]},"
               "{\"role\":\"tool\",\"content\":[{\"type\":\"tool_result\",\"id\":\"c1\",\"name\":\"f\",\"content\":\"one\"}]},"
               U("more") "," A("ok") "," U("[tool result]\\nlate")));
}

/* Alternating targets start with a user turn and merge same-role neighbours; chat targets keep
 * separate user messages. Blank text and empty messages go everywhere. */
static void test_turns(void **state) {
    (void)state;
    const char *in = REQ(A("hello") "," A("there") "," U("a") ",{\"role\":\"user\",\"name\":\"bob\",\"content\":[]}," U(" \\n ")
                         ",{\"role\":\"user\",\"name\":\"bob\",\"content\":\"b\"}");
    const char *merged = "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"},"
                         "{\"type\":\"text\",\"text\":\"there\"}]}";
    expect(in, NULL, "anthropic", false,
           REQ(U("(continued)") "," "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"},"
               "{\"type\":\"text\",\"text\":\"there\"}]},"
               "{\"role\":\"user\",\"name\":\"bob\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}"));
    char want[1024];
    snprintf(want, sizeof want, REQ("%s," U("a") ",{\"role\":\"user\",\"name\":\"bob\",\"content\":\"b\"}"), merged);
    expect(in, NULL, "openai", false, want);
}

/* System prompts: the request's and every system message, merged in order, placed per target. */
static void test_system(void **state) {
    (void)state;
    const char *in = "{\"system\":\"one\",\"messages\":[" U("q") ",{\"role\":\"system\",\"content\":\"two\"},"
                     "{\"role\":\"system\",\"content\":\"  \"}," A("a") "]}";
    expect(in, NULL, "gemini", false, "{\"system\":\"one\\n\\ntwo\",\"messages\":[" U("q") "," A("a") "]}");
    expect(in, NULL, "local", false,
           "{\"messages\":[{\"role\":\"system\",\"content\":\"one\\n\\ntwo\"}," U("q") "," A("a") "]}");
}

/* Anthropic refuses a final assistant text ending in whitespace; others keep it. */
static void test_prefill(void **state) {
    (void)state;
    const char *in = REQ(U("q") "," A("Sure: \\n"));
    expect(in, NULL, "anthropic", false, REQ(U("q") "," A("Sure:")));
    expect(in, NULL, "openai", false, REQ(U("q") "," A("Sure: \\n")));
}

/* Ids: sanitized for Anthropic, cut to 40 for OpenAI, unique everywhere, and the results follow
 * their calls' new ids. */
static void test_ids(void **state) {
    (void)state;
    const char *in = REQ(U("q") ",{\"role\":\"assistant\",\"content\":[" CALL("a.b", "f") "," CALL("a_b", "f") "]},"
                         "{\"role\":\"user\",\"content\":[" RES("a_b", "2") "," RES("a.b", "1") "]},"
                         "{\"role\":\"assistant\",\"content\":[" CALL("a.b", "f") "]},"
                         "{\"role\":\"tool\",\"content\":[" RES("a.b", "3") "]}");
    expect(in, NULL, "anthropic", false,
           REQ(U("q") ",{\"role\":\"assistant\",\"content\":["
                      "{\"type\":\"tool_call\",\"id\":\"a_b\",\"name\":\"f\",\"arguments\":\"{}\"},"
                      "{\"type\":\"tool_call\",\"id\":\"a_b_2\",\"name\":\"f\",\"arguments\":\"{}\"}]},"
                      "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"id\":\"a_b\",\"name\":\"f\",\"content\":\"1\"},"
                      "{\"type\":\"tool_result\",\"id\":\"a_b_2\",\"name\":\"f\",\"content\":\"2\"}]},"
                      "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_call\",\"id\":\"a_b_3\",\"name\":\"f\",\"arguments\":\"{}\"}]},"
                      "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"id\":\"a_b_3\",\"name\":\"f\",\"content\":\"3\"}]}"));
    /* 41 characters twice: cut to 40, then made unique within 40. */
    const char *longer = REQ(U("q") ",{\"role\":\"assistant\",\"content\":["
                             CALL("call_abcdefghijklmnopqrstuvwxyz0123456789", "f") ","
                             CALL("call_abcdefghijklmnopqrstuvwxyz012345678X", "f") "]},"
                             "{\"role\":\"tool\",\"content\":[" RES("call_abcdefghijklmnopqrstuvwxyz0123456789", "1") ","
                             RES("call_abcdefghijklmnopqrstuvwxyz012345678X", "2") "]}");
    char *got = run_json(longer, NULL, "openai", false);
    assert_non_null(strstr(got, "\"id\":\"call_abcdefghijklmnopqrstuvwxyz012345678\""));
    assert_non_null(strstr(got, "\"id\":\"call_abcdefghijklmnopqrstuvwxyz0123456_2\""));
    llmux_free(got);

    assert_true(lx_handoff_id_valid(LX_HANDOFF_ANTHROPIC, "toolu_01A-b_c"));
    assert_false(lx_handoff_id_valid(LX_HANDOFF_ANTHROPIC, "functions.f:0"));
    assert_true(lx_handoff_id_valid(LX_HANDOFF_OPENAI, "functions.f:0"));
    assert_false(lx_handoff_id_valid(LX_HANDOFF_OPENAI, "call_abcdefghijklmnopqrstuvwxyz0123456789"));
    assert_false(lx_handoff_id_valid(LX_HANDOFF_GEMINI, ""));
    assert_false(lx_handoff_id_valid(LX_HANDOFF_OLLAMA, "a b"));
}

/* A conversation already in the target's form, with every other field set, comes out identical. */
static void test_fields_copied(void **state) {
    (void)state;
    const char *in = "{\"model\":\"openai/gpt-4o\",\"messages\":[" U("q") "],\"tools\":[{\"name\":\"f\",\"description\":\"d\","
                     "\"parameters\":{\"type\":\"object\"}}],\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\"},"
                     "\"response_format\":{\"type\":\"json_schema\",\"name\":\"n\",\"schema\":{\"type\":\"object\"},\"strict\":true},"
                     "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"max_tokens\":100,\"stop\":[\"x\",\"y\"],\"seed\":7,"
                     "\"stream\":true,\"priority\":3,\"deadline_ms\":1000,\"metadata\":{\"k\":\"v\"},"
                     "\"provider_options\":{\"openai\":{\"user\":\"u\"}}}";
    expect(in, NULL, "openai", false, in);
}

static void test_errors(void **state) {
    (void)state;
    llmux_request req = llmux_request_default();
    llmux_request *out = (llmux_request *)&req;
    llmux_error_info e;
    lx_handoff_opts o = {.target_protocol = "bedrock"};
    assert_int_equal(lx_handoff(&req, &o, &out, &e), LLMUX_E_INVALID_REQUEST);
    assert_null(out);
    assert_non_null(strstr(e.message, "unknown target protocol \"bedrock\""));
    assert_int_equal(lx_handoff(&req, NULL, &out, &e), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(lx_handoff_simple(&req, "openai", NULL, &out, &e), LLMUX_E_INVALID_REQUEST);

    llmux_part p = {.type = (llmux_part_type)9, .text = "x"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    req.messages = &m;
    req.n_messages = 1;
    assert_int_equal(lx_handoff_simple(&req, NULL, "gemini", &out, &e), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(e.message, "messages[0].content[0].type: unknown part type 9");
    m.role = (llmux_role)7;
    p.type = LLMUX_PART_TEXT;
    assert_int_equal(lx_handoff_simple(&req, NULL, "gemini", &out, &e), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(e.message, "messages[0].role: unknown role 7");
    m.role = LLMUX_ROLE_USER;
    assert_int_equal(lx_handoff_simple(&req, NULL, "gemini", &out, &e), LLMUX_OK);
    llmux_request_free(out);
}

/* Arguments that are not a JSON object travel as a call to OpenAI (a string there) but become
 * text, with their result, for the targets that need an object. */
static void test_broken_arguments(void **state) {
    (void)state;
    const char *in = REQ(U("q") ",{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_call\",\"id\":\"c\",\"name\":\"f\","
                                   "\"arguments\":\"{\\\"city\\\":\"}]},{\"role\":\"tool\",\"content\":[" RES("c", "r") "]}");
    expect(in, NULL, "anthropic", false,
           REQ("{\"role\":\"user\",\"content\":\"q\"}," A("[tool call: f {\\\"city\\\":]") "," U("[tool result]\\nr")));
    char *got = run_json(in, NULL, "openai", false);
    assert_non_null(strstr(got, "{\"type\":\"tool_call\",\"id\":\"c\",\"name\":\"f\",\"arguments\":\"{\\\"city\\\":\"}"));
    llmux_free(got);
}

/* Images stay user content; a base64 data URL is split into data + mime type for Ollama, which
 * takes nothing else; an assistant image is dropped (no provider takes one there). */
static void test_images(void **state) {
    (void)state;
    const char *in = REQ("{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"url\":\"data:image/png;base64,iVBORw0K\"},"
                         "{\"type\":\"image\",\"url\":\"https://example.com/a.png\"}]},"
                         "{\"role\":\"assistant\",\"content\":[{\"type\":\"image\",\"data\":\"AAAA\",\"mime_type\":\"image/png\"},"
                         "{\"type\":\"text\",\"text\":\"a\"}]}");
    expect(in, NULL, "ollama", false,
           REQ("{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"data\":\"iVBORw0K\",\"mime_type\":\"image/png\"},"
               "{\"type\":\"image\",\"url\":\"https://example.com/a.png\"}]}," A("a")));
    expect(in, NULL, "openai", false,
           REQ("{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"url\":\"data:image/png;base64,iVBORw0K\"},"
               "{\"type\":\"image\",\"url\":\"https://example.com/a.png\"}]}," A("a")));
}

/* The checker is what the property test and the fuzzer rely on: it must reject each broken
 * shape, naming the problem. */
static void test_check_rejects(void **state) {
    (void)state;
    static const struct {
        const char *target, *json, *why;
    } cases[] = {
        {"anthropic", REQ(U("a") "," U("b")), "same role as the message before"},
        {"gemini", REQ(A("a") "," U("b")), "must be a user turn"},
        {"openai", REQ(U("q") ",{\"role\":\"tool\",\"content\":[" RES("x", "r") "]}"), "1 tool results answer no call"},
        {"openai", REQ(U("q") ",{\"role\":\"assistant\",\"content\":[" CALL("c", "f") "]}"), "not answered right after"},
        {"anthropic",
         REQ(U("q") ",{\"role\":\"assistant\",\"content\":[" CALL("c", "f") "]},{\"role\":\"user\",\"content\":["
                    "{\"type\":\"text\",\"text\":\"t\"}," RES("c", "r") "]}"),
         "not answered right after"},
        {"anthropic", REQ(U("q") ",{\"role\":\"assistant\",\"content\":[{\"type\":\"reasoning\",\"text\":\"t\"}]}"),
         "foreign reasoning"},
        {"openai", "{\"system\":\"s\",\"messages\":[" U("q") "]}", "system: must be the first message"},
        {"anthropic", REQ(U("q") ",{\"role\":\"assistant\",\"content\":[" CALL("a.b", "f") "]},{\"role\":\"user\",\"content\":["
                      RES("a.b", "r") "]}"),
         "not valid for anthropic"},
        {"ollama", REQ(U("q") ",{\"role\":\"assistant\",\"content\":[" CALL("c", "f") "," CALL("c", "f") "]}"), "used twice"},
        {"local", REQ(U("q") ",{\"role\":\"user\",\"content\":[]}"), "empty message"},
        {"openai", REQ(U(" ")), "blank text"},
        {"openai", REQ(U("q") ",{\"role\":\"system\",\"content\":\"s\"}"), "a system message here"},
        {"gemini",
         REQ(U("q") ",{\"role\":\"assistant\",\"content\":[" CALL("c", "f") "]},{\"role\":\"user\",\"content\":["
                    RES("c", "r") ",{\"type\":\"text\",\"text\":\"t\"}]}"),
         "not answered right after"},
        {"gemini", REQ("{\"role\":\"user\",\"content\":[" RES("c", "r") "]}"), "a result outside a tool message"},
        {"anthropic", REQ(U("q") "," A("a") ",{\"role\":\"tool\",\"content\":[" RES("c", "r") "]}"),
         "a tool message for anthropic"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux_request *r = decode(cases[i].json);
        lx_handoff_opts o = {.target_protocol = cases[i].target};
        char why[256] = "";
        assert_false(lx_handoff_check(r, &o, why, sizeof why));
        if (!strstr(why, cases[i].why)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, why, cases[i].why);
        llmux_request_free(r);
    }
}

/* --------------------------------------------------------- property */

typedef struct rng {
    uint64_t s;
} rng;

static uint32_t next(rng *r) { /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 2685821657736338717ull) >> 32);
}

static const char *pick(rng *r, const char *const *pool, size_t n) { return pool[next(r) % n]; }
#define PICK(r, pool) pick(r, pool, sizeof pool / sizeof pool[0])

static const char *const k_texts[] = {"hi", "", " \n", "ok ", "zeta", NULL};
static const char *const k_ids[] = {"c1", "c1", "c2", "a.b", "a_b", "", NULL, "call_0", "call_0_2",
                                    "call_abcdefghijklmnopqrstuvwxyz0123456789xyz", "toolu_01"};
static const char *const k_names[] = {"f", "f", "g", "", NULL};
static const char *const k_sigs[] = {"sig", "", NULL};

/* A random conversation (roles, part types, ids with repeats and bad characters, blank texts,
 * names) built as structs the way a caller would; storage in the caller's arrays. */
static void generate(rng *r, llmux_request *req, llmux_message *msgs, llmux_part *parts, size_t max_msgs) {
    *req = llmux_request_default();
    size_t n = next(r) % max_msgs, k = 0;
    for (size_t i = 0; i < n; i++) {
        llmux_message *m = &msgs[i];
        memset(m, 0, sizeof *m);
        m->role = (llmux_role)(next(r) % 4);
        m->name = next(r) % 5 == 0 ? "bob" : NULL;
        m->parts = &parts[k];
        size_t np = next(r) % 4;
        for (size_t j = 0; j < np; j++) {
            llmux_part *p = &parts[k++];
            memset(p, 0, sizeof *p);
            p->type = (llmux_part_type)(next(r) % 7);
            switch (p->type) {
            case LLMUX_PART_TEXT: p->text = PICK(r, k_texts); break;
            case LLMUX_PART_IMAGE: p->image_url = "https://example.com/a.png"; break;
            case LLMUX_PART_FILE:
                p->data = "JVBERi0xLjQK";
                p->mime_type = "application/pdf";
                p->name = next(r) % 2 ? "a.pdf" : NULL;
                break;
            case LLMUX_PART_TOOL_CALL:
                p->id = PICK(r, k_ids);
                p->name = PICK(r, k_names);
                p->arguments = next(r) % 2 ? "{\"a\":1}" : NULL;
                break;
            case LLMUX_PART_TOOL_RESULT:
                p->id = PICK(r, k_ids);
                p->name = PICK(r, k_names);
                p->text = PICK(r, k_texts);
                p->is_error = next(r) % 4 == 0;
                break;
            case LLMUX_PART_REASONING:
                p->text = PICK(r, k_texts);
                p->signature = PICK(r, k_sigs);
                p->redacted = next(r) % 4 == 0;
                break;
            case LLMUX_PART_NATIVE:
                p->name = next(r) % 2 ? "anthropic" : "other";
                p->text = "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}";
                break;
            }
        }
        m->n_parts = np;
    }
    req->messages = msgs;
    req->n_messages = n;
    req->system = next(r) % 3 == 0 ? "sys" : NULL;
}

static void test_property(void **state) {
    (void)state;
    rng r = {0x9E3779B97F4A7C15ull};
    llmux_message msgs[12];
    llmux_part parts[12 * 3];
    static const char *const origins[] = {"openai", "anthropic", "gemini", "ollama", "local", NULL};
    for (int round = 0; round < 3000; round++) {
        llmux_request req;
        generate(&r, &req, msgs, parts, 12);
        const char *origin = PICK(&r, origins);
        bool as_text = next(&r) % 2;
        for (int t = 0; t < N_PROTOCOLS; t++) {
            lx_handoff_opts o = {.origin = origin, .target_protocol = k_protocols[t], .reasoning_as_text = as_text};
            char *j = handoff_json(&req, &o); /* checks the promises and idempotence */
            /* Nothing the user, the tools or the assistant said is lost: every non-blank text
             * and tool output is somewhere in the output (as a part, or in a text made of a
             * call or result that could not travel as one). */
            for (size_t i = 0; i < req.n_messages; i++)
                for (size_t k = 0; k < req.messages[i].n_parts; k++) {
                    const llmux_part *p = &req.messages[i].parts[k];
                    /* (A system message keeps its text only: no encoder takes anything else there.) */
                    bool said = p->type == LLMUX_PART_TEXT ||
                                (p->type == LLMUX_PART_TOOL_RESULT && req.messages[i].role != LLMUX_ROLE_SYSTEM);
                    if (!said || !p->text || strspn(p->text, " \n") == strlen(p->text)) continue;
                    /* Trailing whitespace may go (Anthropic's prefill rule). */
                    char want[16];
                    snprintf(want, sizeof want, "%s", p->text);
                    want[strcspn(want, " \n")] = '\0';
                    if (!strstr(j, want)) fail_msg("round %d, %s: \"%s\" lost in %s", round, k_protocols[t], want, j);
                }
            llmux_free(j);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),  cmocka_unit_test(test_reasoning_as_text),
        cmocka_unit_test(test_origin_is_a_provider), cmocka_unit_test(test_orphans),
        cmocka_unit_test(test_turns),       cmocka_unit_test(test_system),
        cmocka_unit_test(test_prefill),     cmocka_unit_test(test_ids),
        cmocka_unit_test(test_fields_copied), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_check_rejects),     cmocka_unit_test(test_broken_arguments),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
