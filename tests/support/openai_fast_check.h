/* What lx_openai_fast_delta's acceptance must mean, checked against jansson read the way the
 * openai decoder reads a chunk (lx_json_parse_upstream's flags): shared by
 * tests/providers/test_openai_fast_chunk.c and fuzz/fuzz_openai_fast_chunk.c. Header-only so
 * the fuzzer needs no test library. */
#ifndef LX_TEST_OPENAI_FAST_CHECK_H
#define LX_TEST_OPENAI_FAST_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "providers/openai_fast_chunk.h"

/* Whether a span the fast reader gave (NULL = absent) stands for jansson's value v: absent when v
 * is, else v is a string; and unless the span holds an escape, its bytes are v's. */
static inline bool lx_fast_span_is(const char *s, size_t n, bool escaped, const json_t *v) {
    if (!s) return v == NULL;
    if (!json_is_string(v)) return false;
    return escaped ? n > json_string_length(v) : n == json_string_length(v) && memcmp(s, json_string_value(v), n) == 0;
}

/* Whether count `name` of object o (NULL: none) is what the fast body reader said: present as a
 * JSON integer exactly when `set`, with that value. */
static inline bool lx_fast_count_is(const json_t *o, const char *name, bool set, int64_t v) {
    json_t *x = json_is_object(o) ? json_object_get(o, name) : NULL;
    if (!set) return x == NULL;
    return json_is_integer(x) && json_integer_value(x) == v;
}

/* NULL when the usage the fast reader found agrees with jansson's usage value u (NULL: none). */
static inline const char *lx_fast_usage_disagreement(const lx_openai_usage *fu, const json_t *u) {
    if (!fu->present) return fu->set ? "counts without usage" : NULL;
    json_t *pd = json_object_get(u, "prompt_tokens_details"), *cd = json_object_get(u, "completion_tokens_details");
    if (json_object_get(u, "cost")) return "accepted a usage cost";
    if (pd && !json_is_object(pd)) return "accepted prompt_tokens_details other than an object";
    if (cd && !json_is_object(cd)) return "accepted completion_tokens_details other than an object";
    if (!lx_fast_count_is(u, "prompt_tokens", fu->set & LX_FAST_U_PROMPT, fu->v[0]) ||
        !lx_fast_count_is(u, "completion_tokens", fu->set & LX_FAST_U_COMPLETION, fu->v[1]) ||
        !lx_fast_count_is(u, "total_tokens", fu->set & LX_FAST_U_TOTAL, fu->v[2]) ||
        !lx_fast_count_is(pd, "cached_tokens", fu->set & LX_FAST_U_CACHED, fu->v[3]) ||
        !lx_fast_count_is(pd, "cache_write_tokens", fu->set & LX_FAST_U_CACHE_WRITE, fu->v[4]) ||
        !lx_fast_count_is(cd, "reasoning_tokens", fu->set & LX_FAST_U_REASONING, fu->v[5]))
        return "usage counts differ";
    return NULL;
}

/* NULL when the fast reader agrees with jansson on data (or refused it); else what differs. */
static inline const char *lx_fast_delta_disagreement(const char *data, size_t len, bool *accepted) {
    char *buf = malloc(len ? len : 1);
    if (!buf) return "out of memory";
    lx_openai_delta fd;
    bool fast = lx_openai_fast_delta(data, len, buf, &fd);
    if (accepted) *accepted = fast;
    const char *why = NULL;
    json_t *j = fast ? json_loadb(data, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL) : NULL;
    json_t *choices = j ? json_object_get(j, "choices") : NULL;
    json_t *ch = json_array_get(choices, 0);
    json_t *delta = json_object_get(ch, "delta");
    json_t *content = json_object_get(delta, "content");
    json_t *index = json_object_get(ch, "index");
    if (!fast) why = NULL;
    else if (!json_is_object(j)) why = "accepted what jansson does not read as an object";
    else if (json_object_get(j, "error")) why = "accepted an error";
    else if (fd.usage.present != json_is_object(json_object_get(j, "usage"))) why = "usage present differs";
    else if ((why = lx_fast_usage_disagreement(&fd.usage, json_object_get(j, "usage"))) != NULL) {
    } else if (json_array_size(choices) == 0 && json_is_array(choices) && fd.usage.present) {
        /* The usage chunk: nothing else in it to decode. */
        if (fd.has_content || fd.finish) why = "content or finish without a choice";
        else if (!lx_fast_span_is(fd.id, fd.id_len, fd.id_escaped, json_object_get(j, "id"))) why = "id differs";
        else if (!lx_fast_span_is(fd.model, fd.model_len, fd.model_escaped, json_object_get(j, "model")))
            why = "model differs";
        json_decref(j);
        free(buf);
        return why;
    } else if (json_array_size(choices) != 1 || !json_is_object(ch)) why = "accepted other than one choice";
    else if (index && !(json_is_integer(index) && json_integer_value(index) == 0)) why = "accepted index != 0";
    else if (json_object_get(ch, "error")) why = "accepted a choice error";
    else if ((fd.finish != NULL) != json_is_string(json_object_get(ch, "finish_reason")))
        why = "finish_reason present differs";
    else if (fd.finish && !lx_fast_span_is(fd.finish, fd.finish_len, false, json_object_get(ch, "finish_reason")))
        why = "finish_reason bytes differ";
    else if (!lx_fast_span_is(fd.id, fd.id_len, fd.id_escaped, json_object_get(j, "id"))) why = "id differs";
    else if (!lx_fast_span_is(fd.model, fd.model_len, fd.model_escaped, json_object_get(j, "model")))
        why = "model differs";
    else if (!json_is_object(delta)) why = "accepted a chunk without a delta object";
    else if (json_object_get(delta, "reasoning_content") || json_object_get(delta, "reasoning") ||
             json_object_get(delta, "reasoning_details") || json_object_get(delta, "tool_calls") ||
             json_object_get(delta, "function_call") || json_is_string(json_object_get(delta, "refusal")))
        why = "accepted a delta with more than content";
    else if (fd.has_content != json_is_string(content)) why = "content present differs";
    else if (fd.has_content && (fd.content_len != json_string_length(content) ||
                                memcmp(buf, json_string_value(content), fd.content_len) != 0))
        why = "content bytes differ";
    json_decref(j);
    free(buf);
    return why;
}

/* NULL when lx_openai_fast_body agrees with jansson on data (or refused it); else what differs.
 * Agreeing means: what the openai decoder's full path reads from it (decode_object, whole) is
 * exactly what the fast reader reports, and nothing else would be decoded. */
static inline const char *lx_fast_body_disagreement(const char *data, size_t len, bool *accepted) {
    char *buf = malloc(len ? len : 1);
    if (!buf) return "out of memory";
    lx_openai_body fb;
    bool fast = lx_openai_fast_body(data, len, buf, &fb);
    if (accepted) *accepted = fast;
    const char *why = NULL;
    json_t *j = fast ? json_loadb(data, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL) : NULL;
    json_t *choices = j ? json_object_get(j, "choices") : NULL;
    json_t *ch = json_array_get(choices, 0);
    json_t *m = json_object_get(ch, "message");
    json_t *content = json_object_get(m, "content");
    json_t *index = json_object_get(ch, "index");
    json_t *u = j ? json_object_get(j, "usage") : NULL;
    if (!fast) why = NULL;
    else if (!json_is_object(j)) why = "accepted what jansson does not read as an object";
    else if (json_object_get(j, "error")) why = "accepted an error";
    else if (json_array_size(choices) != 1 || !json_is_object(ch)) why = "accepted other than one choice";
    else if (index && !(json_is_integer(index) && json_integer_value(index) == 0)) why = "accepted index != 0";
    else if (json_object_get(ch, "error") || json_object_get(ch, "text") || json_object_get(ch, "delta"))
        why = "accepted a choice with more than a message";
    else if ((fb.finish != NULL) != json_is_string(json_object_get(ch, "finish_reason")))
        why = "finish_reason present differs";
    else if (fb.finish && !lx_fast_span_is(fb.finish, fb.finish_len, false, json_object_get(ch, "finish_reason")))
        why = "finish_reason bytes differ";
    else if (!lx_fast_span_is(fb.id, fb.id_len, fb.id_escaped, json_object_get(j, "id"))) why = "id differs";
    else if (!lx_fast_span_is(fb.model, fb.model_len, fb.model_escaped, json_object_get(j, "model")))
        why = "model differs";
    else if (!json_is_object(m)) why = "accepted a choice without a message object";
    else if (json_object_get(m, "reasoning_content") || json_object_get(m, "reasoning") ||
             json_object_get(m, "reasoning_details") || json_object_get(m, "tool_calls") ||
             json_object_get(m, "function_call") || json_is_string(json_object_get(m, "refusal")))
        why = "accepted a message with more than content";
    else if (fb.has_content != json_is_string(content)) why = "content present differs";
    else if (fb.has_content && (fb.content_len != json_string_length(content) ||
                                memcmp(buf, json_string_value(content), fb.content_len) != 0))
        why = "content bytes differ";
    else if (fb.usage.present != json_is_object(u)) why = "usage present differs";
    else why = lx_fast_usage_disagreement(&fb.usage, u);
    json_decref(j);
    free(buf);
    return why;
}

#endif
