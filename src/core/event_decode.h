/* Decoding one canonical event (docs/canonical-json.md), the inverse of llmux_event_to_json:
 * how the runtime reads the events its sandboxed engine child streams over IPC (an `event`
 * frame's "event" object, core/ipc_message.h). The child is untrusted (it parses GGUF files), so
 * every field is checked: unknown keys, wrong types, out-of-range numbers and unknown names are
 * refused with a reason. Sizes are bounded by the frame cap the value was parsed under. */
#ifndef LX_EVENT_DECODE_H
#define LX_EVENT_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "llmux.h"

/* Fills *ev from v. Strings (text, id, name, provider, signature) are borrowed from v and valid
 * while v lives; an ERROR event's details are copied into *err_store, which ev->error then points
 * to (it must live as long as ev is used). False on anything malformed, with why (a message
 * naming the field) set and *ev unspecified. */
bool lx_event_decode(const json_t *v, llmux_event *ev, llmux_error_info *err_store, char *why, size_t why_size);

#endif
