/* llmux_run and llmux_submit refuse each invalid request of the rule table
 * (tests/support/request_cases.c) with exactly the message llmux_request_validate gives, and,
 * where canonical JSON can carry the fault, the message llmux_request_from_json gives: one
 * validator behind every entry point. Refused means refused: no response, no execution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "llmux.h"
#include "support/request_cases.h"

/* The message decoding the case's JSON gives ("" when it has no JSON form). */
static void decoded_message(const rc_case *c, const llmux_request *broken, char *out, size_t size) {
    out[0] = '\0';
    if (!c->json) return;
    char *enc = c->json == RC_ENCODE ? llmux_request_to_json(broken) : NULL;
    const char *json = enc ? enc : c->json;
    llmux_request *req = NULL;
    llmux_error_info err;
    if (llmux_request_from_json(json, strlen(json), &req, &err) == LLMUX_OK)
        fail_msg("%s: its JSON decodes", c->rule);
    snprintf(out, size, "%s", err.message);
    llmux_free(enc);
}

static void test_same_message_everywhere(void **state) {
    (void)state;
    llmux_runtime_params rp = llmux_runtime_default_params();
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_OK);
    for (size_t i = 0; i < rc_n_cases; i++) {
        const rc_case *c = &rc_cases[i];
        rc_fx f;
        rc_fx_init(&f);
        c->apply(&f);

        llmux_error_info verr;
        assert_int_equal(llmux_request_validate(&f.r, &verr), LLMUX_E_INVALID_REQUEST);

        llmux_response *resp = (llmux_response *)(uintptr_t)1;
        llmux_error_info rerr;
        llmux_status st = llmux_run(rt, &f.r, NULL, &resp, &rerr);
        if (st != LLMUX_E_INVALID_REQUEST || strcmp(rerr.message, verr.message) != 0)
            fail_msg("%s: llmux_run gave %d \"%s\", llmux_request_validate \"%s\"", c->rule, (int)st, rerr.message,
                     verr.message);
        assert_null(resp);

        llmux_execution *ex = (llmux_execution *)(uintptr_t)1;
        llmux_error_info serr;
        st = llmux_submit(rt, &f.r, NULL, &ex, &serr);
        if (st != LLMUX_E_INVALID_REQUEST || strcmp(serr.message, verr.message) != 0)
            fail_msg("%s: llmux_submit gave %d \"%s\", llmux_request_validate \"%s\"", c->rule, (int)st, serr.message,
                     verr.message);
        assert_null(ex);

        char dmsg[sizeof verr.message];
        decoded_message(c, &f.r, dmsg, sizeof dmsg);
        if (c->json && strcmp(dmsg, rerr.message) != 0)
            fail_msg("%s: decoding gave \"%s\", llmux_run \"%s\"", c->rule, dmsg, rerr.message);
    }
    llmux_runtime_destroy(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_same_message_everywhere)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
