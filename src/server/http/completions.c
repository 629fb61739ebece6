/* Legacy OpenAI text completions (POST /v1/completions) ↔ canonical request / response.
 * Reference: https://platform.openai.com/docs/api-reference/completions/create and the
 * completion object. The prompt becomes one user message with provider_options {"local":
 * {"raw_prompt": true}}: a local model continues the prompt's text as it is (no chat template),
 * a remote backend (whose adapters read only their own key) gets it as a chat turn. Fields whose answer the
 * text_completion shape cannot give truthfully (echo, suffix, best_of > 1, n > 1, logprobs) are
 * refused with a 400; max_tokens defaults to 16, OpenAI's default for this endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/translate.h"

#define COMPLETIONS_DEFAULT_MAX_TOKENS 16

static bool prompt(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *p = json_object_get(root, "prompt");
    const char *text = json_string_value(p);
    if (json_is_array(p)) {
        json_t *head = json_array_get(p, 0);
        if (json_is_integer(head) || json_is_array(head))
            return lx_srv_fail(err, "prompt: token arrays are not supported; send the text"), false;
        if (json_array_size(p) != 1)
            return lx_srv_fail(err, "prompt: only one prompt per request is supported (a string or an array of one string)"), false;
        text = json_string_value(head);
    }
    if (!text) return lx_srv_fail(err, "prompt: expected a string or an array of one string"), false;
    llmux_part *part = lx_srv_alloc(r, sizeof *part);
    llmux_message *m = lx_srv_alloc(r, sizeof *m);
    if (!part || !m) return lx_srv_fail(err, "out of memory"), false;
    *part = (llmux_part){.type = LLMUX_PART_TEXT, .text = text};
    *m = (llmux_message){.role = LLMUX_ROLE_USER, .parts = part, .n_parts = 1};
    r->req.messages = m;
    r->req.n_messages = 1;
    /* A local model continues the prompt itself, without its chat template; remote adapters read
     * only their own key of provider_options, so for them it stays a chat turn. */
    r->req.provider_options = "{\"local\":{\"raw_prompt\":true}}";
    return true;
}

static bool refused(const json_t *root, llmux_error_info *err) {
    int64_t n = 1, best_of = 1;
    bool echo = false;
    if (!lx_srv_opt_int(root, "n", 1, 128, &n, err) || !lx_srv_opt_int(root, "best_of", 1, 128, &best_of, err) ||
        !lx_srv_opt_bool(root, "echo", &echo, err))
        return false;
    if (n != 1) return lx_srv_fail(err, "n: only n = 1 is supported (one choice per request)"), false;
    if (best_of != 1) return lx_srv_fail(err, "best_of: only best_of = 1 is supported"), false;
    if (echo) return lx_srv_fail(err, "echo: echoing the prompt is not supported"), false;
    json_t *lp = json_object_get(root, "logprobs");
    if (lp && !json_is_null(lp)) return lx_srv_fail(err, "logprobs: log probabilities are not supported"), false;
    json_t *suffix = json_object_get(root, "suffix");
    if (suffix && !json_is_null(suffix)) return lx_srv_fail(err, "suffix: insertion (suffix) is not supported"), false;
    return true;
}

/* What lx_srv_completions_request reads or refuses; any other field goes to a Chat Completions
 * backend as sent (lx_srv_chat_extras). */
static const char *const k_completion_fields[] = {
    "model", "prompt", "temperature", "top_p", "presence_penalty", "frequency_penalty", "max_tokens", "seed",
    "stop", "stream", "stream_options", "n", "best_of", "logprobs", "echo", "suffix", "top_k", "min_p",
    "repetition_penalty", "repeat_penalty", "user", NULL};

llmux_status lx_srv_completions_request(const char *body, size_t len, lx_srv_req **out, llmux_error_info *err) {
    *out = NULL;
    lx_srv_req *r = lx_srv_req_begin(body, len, err);
    if (!r) return LLMUX_E_INVALID_REQUEST;
    const json_t *root = r->root;
    llmux_sampling *s = &r->req.sampling;
    int64_t mt = COMPLETIONS_DEFAULT_MAX_TOKENS, seed = -1;
    if (!prompt(r, root, err) || !refused(root, err) || !lx_srv_opt_number(root, "temperature", 0, 2, &s->temperature, err) ||
        !lx_srv_opt_number(root, "top_p", 0, 1, &s->top_p, err) ||
        !lx_srv_opt_number(root, "presence_penalty", -2, 2, &s->presence_penalty, err) ||
        !lx_srv_opt_number(root, "frequency_penalty", -2, 2, &s->frequency_penalty, err) ||
        !lx_srv_opt_int(root, "max_tokens", 1, INT32_MAX, &mt, err) ||
        !lx_srv_opt_int(root, "seed", INT64_MIN, INT64_MAX, &seed, err) || !lx_srv_stop_list(r, root, "stop", true, err) ||
        !lx_srv_opt_bool(root, "stream", &r->req.stream, err))
        goto fail;
    s->max_tokens = (int32_t)mt;
    /* As in chat: OpenAI allows a negative seed, the canonical one is >= 0; keep the bits. */
    if (json_is_integer(json_object_get(root, "seed"))) s->seed = seed < 0 ? (int64_t)((uint64_t)seed >> 1) : seed;
    if (!lx_srv_stream_options(r, root, err) || !lx_srv_vendor_sampling(r, err) ||
        !lx_srv_chat_extras(r, k_completion_fields, err))
        goto fail;
    if (llmux_request_validate(&r->req, err) != LLMUX_OK) goto fail;
    *out = r;
    return LLMUX_OK;
fail:
    lx_srv_req_free(r);
    return LLMUX_E_INVALID_REQUEST;
}

char *lx_srv_completions_response(const llmux_response *resp, const char *id, const char *model, long created) {
    /* Only the text: reasoning and tool calls have no place in a text_completion. */
    const char *text = llmux_response_text(resp);
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:[{s:o,s:i,s:n,s:s}],s:o}", "id", id, "object", "text_completion",
                          "created", (json_int_t)created, "model", model, "choices", "text",
                          lx_srv_json_text(text, strlen(text)), "index", 0, "logprobs", "finish_reason",
                          lx_srv_openai_finish(resp->finish_reason, false), "usage", lx_srv_openai_usage(&resp->usage));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}
