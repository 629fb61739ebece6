/* GET /metrics: the runtime's metrics in the Prometheus text format (llmux_metrics_prometheus),
 * behind telemetry.metrics_key when one is configured (docs/telemetry.md). */
#ifndef LX_SERVER_METRICS_ROUTE_H
#define LX_SERVER_METRICS_ROUTE_H

#include <stdbool.h>

#include "server/http/call.h"

/* Whether an Authorization header value grants access to /metrics: "Bearer <key>" with exactly
 * the configured key (compared in constant time). A NULL key: no key is required. */
bool lx_metrics_authorized(const char *key, const char *authorization);

/* Answers the request (on the loop thread): 401 without the key, else 200 with the text. */
void lx_metrics_route(lx_server *s, struct evhttp_request *req);

#endif
