/* Canonical JSON decoding of untrusted bytes, as a request and as a response. Beyond "no crash,
 * no leak", the encoder must be a fixed point of decoding: whatever decodes re-encodes to text
 * that decodes again and encodes to the very same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const char *in, size_t size) {
    llmux_request *req = NULL;
    llmux_error_info err;
    llmux_status st = llmux_request_from_json(in, size, &req, &err);
    if (st != LLMUX_OK) {
        /* Failures leave nothing behind and always say why. */
        if (req || err.status != st || err.message[0] == '\0') abort();
        return;
    }
    char *j1 = llmux_request_to_json(req);
    if (!j1) abort();
    llmux_request *req2 = NULL;
    if (llmux_request_from_json(j1, strlen(j1), &req2, &err) != LLMUX_OK) abort();
    char *j2 = llmux_request_to_json(req2);
    if (!j2 || strcmp(j1, j2) != 0) abort();
    llmux_free(j1);
    llmux_free(j2);
    llmux_request_free(req);
    llmux_request_free(req2);
}

static void check_response(const char *in, size_t size) {
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = llmux_response_from_json(in, size, &resp, &err);
    if (st != LLMUX_OK) {
        if (resp || err.status != st || err.message[0] == '\0') abort();
        return;
    }
    (void)llmux_response_text(resp);
    char *j1 = llmux_response_to_json(resp);
    if (!j1) abort();
    llmux_response *resp2 = NULL;
    if (llmux_response_from_json(j1, strlen(j1), &resp2, &err) != LLMUX_OK) abort();
    char *j2 = llmux_response_to_json(resp2);
    if (!j2 || strcmp(j1, j2) != 0) abort();
    if (strcmp(llmux_response_text(resp), llmux_response_text(resp2)) != 0) abort();
    llmux_free(j1);
    llmux_free(j2);
    llmux_response_free(resp);
    llmux_response_free(resp2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_request((const char *)data, size);
    check_response((const char *)data, size);
    return 0;
}
