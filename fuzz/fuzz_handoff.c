/* Handoff of untrusted conversations: bytes -> canonical request -> handoff to every protocol,
 * once from a foreign origin and once from the target itself. Beyond "no crash, no leak", every
 * output must keep handoff's promises (lx_handoff_check: no orphan tool result, no unanswered
 * call, alternation where required, no empty message, no foreign signature) and a second handoff
 * must leave it unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/handoff.h"
#include "llmux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const llmux_request *in, const lx_handoff_opts *o) {
    llmux_request *out = NULL, *again = NULL;
    llmux_error_info err;
    if (lx_handoff(in, o, &out, &err) != LLMUX_OK) abort(); /* a decoded request is always accepted */
    char why[256];
    if (!lx_handoff_check(out, o, why, sizeof why)) {
        fprintf(stderr, "%s: %s\n", o->target_protocol, why);
        abort();
    }
    if (lx_handoff(out, o, &again, &err) != LLMUX_OK) abort();
    char *j1 = llmux_request_to_json(out), *j2 = llmux_request_to_json(again);
    if (!j1 || !j2 || strcmp(j1, j2) != 0) abort();
    llmux_free(j1);
    llmux_free(j2);
    llmux_request_free(out);
    llmux_request_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    llmux_request *req = NULL;
    llmux_error_info err;
    if (llmux_request_from_json((const char *)data, size, &req, &err) != LLMUX_OK) return 0;
    static const char *const targets[] = {"openai", "anthropic", "gemini", "ollama", "local"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        lx_handoff_opts foreign = {.origin = "elsewhere", .target_protocol = targets[i], .reasoning_as_text = size % 2};
        lx_handoff_opts same = {.origin = targets[i], .target_protocol = targets[i]};
        check(req, &foreign);
        check(req, &same);
    }
    llmux_request_free(req);
    return 0;
}
