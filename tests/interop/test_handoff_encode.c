/* Handoff output meets the real adapters: each golden output of tests/handoff
 * (tests/data/handoff/out_<origin>_<target>.json) encodes with its target's adapter and the wire
 * ids keep the provider's limits, and thousands of generated conversations, handed off to each
 * remote protocol, encode without an error. This test links the whole library (tests/interop is
 * no module), since it joins two modules that do not know each other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/handoff.h"
#include "providers/provider.h"

static const char *const k_origins[] = {"openai", "anthropic", "gemini", "ollama", "local"};
static const char *const k_targets[] = {"openai", "anthropic", "gemini", "ollama"};
static const lx_provider *const k_adapters[] = {&lx_provider_openai, &lx_provider_anthropic, &lx_provider_gemini,
                                                &lx_provider_ollama};
#define N_TARGETS 4

/* Encodes req with the adapter; returns the wire body as JSON (caller decrefs), NULL with the
 * error in err when encoding fails. */
static json_t *encode(int t, const llmux_request *req, llmux_error_info *err) {
    lx_provider_config cfg = {.name = k_targets[t], .base_url = "http://127.0.0.1:1", .model = "m"};
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, 1u << 24);
    json_t *body = NULL;
    if (k_adapters[t]->encode(&cfg, req, &w, err) == LLMUX_OK) body = json_loadb(w.body.data, w.body.len, 0, NULL);
    lx_buf_free(&w.body);
    return body;
}

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
    if (s) s[n] = '\0';
    return s;
}

static bool anthropic_id(const char *id) {
    if (!id || !*id) return false;
    for (; *id; id++)
        if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') || (*id >= '0' && *id <= '9') || *id == '_' ||
              *id == '-'))
            return false;
    return true;
}

/* Every id on the wire within the provider's limits: Anthropic's tool_use / tool_result ids match
 * ^[a-zA-Z0-9_-]+$, OpenAI's tool call ids are at most 40 characters. Returns how many it saw. */
static size_t check_wire_ids(int t, const json_t *body) {
    size_t seen = 0, i, j;
    json_t *m, *b;
    json_array_foreach(json_object_get(body, "messages"), i, m) {
        if (t == 1) {
            json_array_foreach(json_object_get(m, "content"), j, b) {
                const char *id = json_string_value(json_object_get(b, "id"));
                if (!id) id = json_string_value(json_object_get(b, "tool_use_id"));
                if (!id) continue;
                if (!anthropic_id(id)) fail_msg("anthropic wire id \"%s\"", id);
                seen++;
            }
        } else if (t == 0) {
            const char *rid = json_string_value(json_object_get(m, "tool_call_id"));
            if (rid && strlen(rid) > 40) fail_msg("openai tool_call_id \"%s\"", rid);
            json_array_foreach(json_object_get(m, "tool_calls"), j, b) {
                const char *id = json_string_value(json_object_get(b, "id"));
                if (!id || strlen(id) > 40) fail_msg("openai call id \"%s\"", id ? id : "(none)");
                seen++;
            }
        }
    }
    return seen;
}

static void test_golden_outputs_encode(void **state) {
    (void)state;
    char path[256];
    for (int o = 0; o < 5; o++)
        for (int t = 0; t < N_TARGETS; t++) {
            snprintf(path, sizeof path, "tests/data/handoff/out_%s_%s.json", k_origins[o], k_targets[t]);
            char *json = read_file(path);
            if (!json) fail_msg("missing %s", path);
            llmux_request *req = NULL;
            llmux_error_info err;
            assert_int_equal(llmux_request_from_json(json, strlen(json), &req, &err), LLMUX_OK);
            json_t *body = encode(t, req, &err);
            if (!body) fail_msg("%s: %s", path, err.message);
            /* Every golden conversation has two parallel calls and their results. */
            if (t < 2) assert_true(check_wire_ids(t, body) >= 2);
            json_decref(body);
            llmux_request_free(req);
            free(json);
        }
}

/* The raw conversations, not handed off, are what the rules exist for: an OpenAI-style id with
 * ':' and '.' reaches Anthropic's wire unchanged, and a 45-character id reaches OpenAI's. */
static void test_adapters_do_not_fix_ids(void **state) {
    (void)state;
    char *json = read_file("tests/data/handoff/in_openai.json");
    assert_non_null(json);
    llmux_request *req = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_request_from_json(json, strlen(json), &req, &err), LLMUX_OK);
    json_t *body = encode(1, req, &err);
    assert_non_null(body);
    char *wire = json_dumps(body, JSON_COMPACT);
    assert_non_null(strstr(wire, "\"id\":\"functions.get_weather:0\""));
    free(wire);
    json_decref(body);
    body = encode(0, req, &err);
    assert_non_null(body);
    wire = json_dumps(body, JSON_COMPACT);
    assert_non_null(strstr(wire, "\"id\":\"call_0123456789abcdefghijklmnopqrstuvwxyzABCD\""));
    free(wire);
    json_decref(body);
    llmux_request_free(req);
    free(json);
}

/* ------------------------------------------------------- generated */

typedef struct rng {
    uint64_t s;
} rng;

static uint32_t next(rng *r) { /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 2685821657736338717ull) >> 32);
}

#define PICK(r, pool) pool[next(r) % (sizeof pool / sizeof pool[0])]

static const char *const k_texts[] = {"hi", "", " \n", "ok ", "zeta", NULL};
static const char *const k_ids[] = {
    "c1",      "c1", "c2", "a.b", "a_b", "", NULL, "call_0", "call_0_2", "call_abcdefghijklmnopqrstuvwxyz0123456789xyz",
    "toolu_01"};
static const char *const k_names[] = {"f", "f", "g", "", NULL};
static const char *const k_sigs[] = {"sig", "", NULL};

/* Random roles and parts the way a caller could build them; images are base64 (the form every
 * adapter takes) and arguments are JSON objects (what the adapters parse). */
static void generate(rng *r, llmux_request *req, llmux_message *msgs, llmux_part *parts, size_t max_msgs) {
    *req = llmux_request_default();
    size_t n = next(r) % max_msgs, k = 0;
    for (size_t i = 0; i < n; i++) {
        llmux_message *m = &msgs[i];
        memset(m, 0, sizeof *m);
        m->role = (llmux_role)(next(r) % 4);
        m->parts = &parts[k];
        size_t np = next(r) % 4;
        for (size_t j = 0; j < np; j++) {
            llmux_part *p = &parts[k++];
            memset(p, 0, sizeof *p);
            p->type = (llmux_part_type)(next(r) % 5);
            switch (p->type) {
            case LLMUX_PART_TEXT: p->text = PICK(r, k_texts); break;
            case LLMUX_PART_IMAGE:
                p->data = "iVBORw0KGgo=";
                p->mime_type = "image/png";
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
            case LLMUX_PART_FILE: break; /* never generated (% 5): ollama refuses documents */
            case LLMUX_PART_NATIVE: break; /* never generated (% 5) */
            }
        }
        m->n_parts = np;
    }
    req->messages = msgs;
    req->n_messages = n;
    req->system = next(r) % 3 == 0 ? "sys" : NULL;
}

/* Whether a conversation has something the chat adapters send: they drop reasoning (Chat
 * Completions, Ollama and the local engine take none back) and refuse an empty messages array. */
static bool sendable(const llmux_request *r) {
    for (size_t i = 0; i < r->n_messages; i++)
        for (size_t j = 0; r->messages[i].role != LLMUX_ROLE_SYSTEM && j < r->messages[i].n_parts; j++)
            if (r->messages[i].parts[j].type != LLMUX_PART_REASONING) return true;
    return false;
}

static void test_generated_conversations_encode(void **state) {
    (void)state;
    rng r = {0xD1B54A32D192ED03ull};
    llmux_message msgs[12];
    llmux_part parts[12 * 3];
    size_t encoded = 0;
    for (int round = 0; round < 2000; round++) {
        llmux_request req;
        generate(&r, &req, msgs, parts, 12);
        const char *origin = PICK(&r, k_origins);
        for (int t = 0; t < N_TARGETS; t++) {
            lx_handoff_opts o = {.origin = origin, .target_protocol = k_targets[t], .reasoning_as_text = round % 2};
            llmux_request *out = NULL;
            llmux_error_info err;
            assert_int_equal(lx_handoff(&req, &o, &out, &err), LLMUX_OK);
            if (sendable(out)) {
                json_t *body = encode(t, out, &err);
                if (!body) {
                    char *j = llmux_request_to_json(out);
                    fail_msg("round %d, %s: %s\n%s", round, k_targets[t], err.message, j);
                }
                check_wire_ids(t, body);
                json_decref(body);
                encoded++;
            }
            llmux_request_free(out);
        }
    }
    /* Most generated conversations have content left after handoff: the loop really encoded. */
    assert_true(encoded > 2000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_outputs_encode),
        cmocka_unit_test(test_adapters_do_not_fix_ids),
        cmocka_unit_test(test_generated_conversations_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
