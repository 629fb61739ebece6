/* One HTTP client for the tests that call the remote layer directly (lx_remote_run and
 * friends): the runtime normally owns it. Created on first use, released by shared_http_free
 * (a group teardown) so the leak check sees nothing left. */
#ifndef LX_TEST_SHARED_HTTP_H
#define LX_TEST_SHARED_HTTP_H

#include <stdlib.h>

#include "transport/http.h"

static lx_http_client *g_shared_http;

static inline lx_http_client *shared_http(void) {
    if (!g_shared_http && lx_http_client_create(NULL, &g_shared_http, NULL) != LLMUX_OK) abort();
    return g_shared_http;
}

static inline int shared_http_free(void **state) {
    (void)state;
    lx_http_client_destroy(g_shared_http);
    g_shared_http = NULL;
    return 0;
}

#endif
