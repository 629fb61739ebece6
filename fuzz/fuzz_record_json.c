/* Execution record JSON (replay reads it back from exports) decoded from untrusted bytes: no
 * crash, no leak, failures say why and leave nothing behind, and the encoder is a fixed point of
 * decoding (decode, encode, decode, encode: the same bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lx_exec_record *r = NULL;
    llmux_error_info err;
    llmux_status st = lx_exec_record_from_json((const char *)data, size, &r, &err);
    if (st != LLMUX_OK) {
        if (r || err.status != st || err.message[0] == '\0') abort();
        return 0;
    }
    (void)lx_exec_record_validate(r, &err);
    char *j1 = lx_exec_record_to_json(r, true);
    if (!j1) abort();
    lx_exec_record *r2 = NULL;
    if (lx_exec_record_from_json(j1, strlen(j1), &r2, &err) != LLMUX_OK) abort();
    char *j2 = lx_exec_record_to_json(r2, true);
    if (!j2 || strcmp(j1, j2) != 0) abort();
    free(j1);
    free(j2);
    lx_exec_record_free(r);
    lx_exec_record_free(r2);
    return 0;
}
