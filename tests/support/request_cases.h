/* Invalid requests, one per validation rule (src/core/request_check.c), each with the message
 * every entry point must give for it: llmux_request_validate (tests/core/test_request_check.c),
 * llmux_request_from_json of its canonical JSON where JSON can say the same thing, and llmux_run
 * / llmux_submit (tests/runtime/test_request_validate_run.c). */
#ifndef LX_TEST_REQUEST_CASES_H
#define LX_TEST_REQUEST_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "llmux.h"

/* A valid request (one user message "hi", model "openai/x") and room for a case to change it. */
typedef struct rc_fx {
    llmux_request r;
    llmux_message msgs[2];
    llmux_part parts[2][2];
    llmux_tool tools[2];
    const char *stop[2];
    llmux_kv kv[1];
} rc_fx;

typedef struct rc_case {
    const char *rule;           /* what the case breaks, for failure messages */
    void (*apply)(rc_fx *f);    /* breaks exactly that rule */
    const char *message;        /* the whole expected message (its field path first) */
    const char *json;           /* the fault in canonical JSON, whose decoding must say the same;
                                   RC_ENCODE: llmux_request_to_json of the broken request; NULL:
                                   JSON cannot spell it (a NULL array with a count, an enum out
                                   of range) */
} rc_case;

extern const char RC_ENCODE[];

extern const rc_case rc_cases[];
extern const size_t rc_n_cases;

/* Fills f with the valid request (pointers into f). */
void rc_fx_init(rc_fx *f);

#endif
