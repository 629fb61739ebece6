/* The canonical event decoder (src/core/event_decode.h) on untrusted bytes: what the runtime
 * reads from its sandboxed engine child's event frames. Beyond "no crash, no leak": a refusal
 * always says why, an accepted event re-encodes (llmux_event_to_json) to JSON that decodes again,
 * and that second encoding is the same bytes (a fixed point). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/event_decode.h"
#include "llmux.h"

/* The runtime decodes events under its frame cap; a fuzz input this size covers every shape. */
#define CAP ((size_t)64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > CAP) return 0;
    json_t *v = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!v) return 0;
    llmux_event ev;
    llmux_error_info e;
    char why[200];
    why[0] = 0;
    if (!lx_event_decode(v, &ev, &e, why, sizeof why)) {
        if (!why[0]) abort();
        json_decref(v);
        return 0;
    }
    if (ev.type == LLMUX_EVENT_ERROR && ev.error != &e) abort();
    char *j1 = llmux_event_to_json(&ev);
    if (!j1) abort();
    json_t *v2 = json_loads(j1, JSON_REJECT_DUPLICATES, NULL);
    llmux_event ev2;
    llmux_error_info e2;
    if (!v2 || !lx_event_decode(v2, &ev2, &e2, why, sizeof why)) abort();
    if (ev2.type != ev.type || ev2.index != ev.index || ev2.text_len != ev.text_len) abort();
    char *j2 = llmux_event_to_json(&ev2);
    if (!j2 || strcmp(j1, j2) != 0) abort();
    llmux_free(j1);
    llmux_free(j2);
    json_decref(v2);
    json_decref(v);
    return 0;
}
