/* The server's request translators on untrusted bytes: the first byte picks the format (its low
 * two bits: 0 OpenAI Chat Completions, 1 and 3 Anthropic Messages, 2 OpenAI Responses), the rest
 * is the HTTP body. Beyond "no crash, no leak":
 * a refusal always says why and leaves nothing behind, and an accepted body translates into a
 * canonical request that llmux's own JSON encoding round-trips (so the runtime gets a request it
 * can copy and record). A Responses item_reference whose id starts with "fc_" names a stored
 * function_call (any other id names nothing), so the replacement path runs too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmux.h"
#include "server/http/translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *stored_item(void *ctx, const char *id, const char *previous_response_id, llmux_error_info *err) {
    (void)ctx;
    (void)previous_response_id;
    if (strncmp(id, "fc_", 3) != 0) {
        snprintf(err->message, sizeof err->message, "no such item");
        return NULL;
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "type", "function_call", "call_id", "c1", "name", "f",
                     "arguments", "{}");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    bool anthropic = data[0] & 1, responses = (data[0] & 3) == 2;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    lx_srv_req *r = NULL;
    llmux_error_info err;
    llmux_status st = anthropic   ? lx_srv_anthropic_request(body, len, &r, &err)
                      : responses ? lx_srv_responses_request(body, len, stored_item, NULL, &r, &err)
                                  : lx_srv_openai_request(body, len, &r, &err);
    if (st != LLMUX_OK) {
        if (r || err.status != st || err.message[0] == '\0') abort();
        return 0;
    }
    char *j = llmux_request_to_json(&r->req);
    if (!j) abort();
    llmux_request *back = NULL;
    if (llmux_request_from_json(j, strlen(j), &back, &err) != LLMUX_OK) abort();
    llmux_request_free(back);
    llmux_free(j);
    lx_srv_req_free(r);
    return 0;
}
