/* The one request validator: every rule a canonical request must satisfy (ranges, required
 * fields, part shapes, tool_choice and response_format consistency, caps). The JSON decoder only
 * checks types and spellings and then runs these rules; the runtime runs them (through
 * llmux_request_validate) before it plans anything. Messages name the field by its canonical JSON
 * path (`messages[2].content[0].id: missing`), whichever way the request was built. */
#ifndef LX_REQUEST_CHECK_H
#define LX_REQUEST_CHECK_H

#include <stdbool.h>

#include "json.h"
#include "llmux.h"

/* Caps on collections; the 32 MiB JSON cap bounds everything else. */
#define LX_REQ_MAX_MESSAGES 10000
#define LX_REQ_MAX_PARTS 1000
#define LX_REQ_MAX_TOOLS 512
#define LX_REQ_MAX_STOP 16
#define LX_REQ_MAX_METADATA 256

/* How the integer rules read ("must be an integer <what>"): the decoder needs the same words for
 * a value of the wrong JSON type. */
#define LX_REQ_INT32_POSITIVE "in [1, 2147483647]"
#define LX_REQ_NON_NEGATIVE ">= 0"

/* Every rule on a request, except that it needs something to run (see llmux_request_validate):
 * canonical JSON also carries request fragments (`{}`, alias overrides in llmux.yaml). Failures go
 * through lx_jr_fail at r's current path (empty = the request's top level). */
bool lx_request_rules(lx_jr *r, const llmux_request *req);

/* The rules on one content part (required fields by type, image url/data), at r's current path.
 * Shared with the response decoder. */
bool lx_part_rules(lx_jr *r, const llmux_part *p);

/* llmux_reasoning_effort's canonical JSON names ("none", "low", "medium", "high"); NULL for
 * DEFAULT or an unknown value. lx_reasoning_effort_parse: false for an unknown name. */
const char *lx_reasoning_effort_name(llmux_reasoning_effort e);
bool lx_reasoning_effort_parse(const char *name, llmux_reasoning_effort *out);

#endif
