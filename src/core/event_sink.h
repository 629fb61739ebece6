/* Where canonical events go: one callback, shared by adapters, the engine and the runtime. */
#ifndef LX_EVENT_SINK_H
#define LX_EVENT_SINK_H

#include <stdbool.h>

#include "llmux.h"

/* Receives canonical events; returns false to stop (cancel). */
typedef struct lx_event_sink {
    bool (*emit)(void *user_data, const llmux_event *ev);
    void *user_data;
} lx_event_sink;

#endif
