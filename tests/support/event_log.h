/* Canonical events serialised one per line, so tests compare whole sequences as strings, and
 * count terminal events. Optional hooks: stop (return false) or trigger a cancel token on a
 * chosen text delta. */
#ifndef LX_TEST_EVENT_LOG_H
#define LX_TEST_EVENT_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "llmux.h"

typedef struct log {
    lx_buf out;                 /* the lines, NUL-terminated */
    int n_terminal;
    int n_events;
    int stop_at_text;           /* return false on this TEXT_DELTA (1-based); 0 = never */
    int stop_at_event;          /* return false on this event (1-based); 0 = never */
    llmux_cancel *cancel_at_text_token; /* triggered on the first TEXT_DELTA */
    int64_t triggered_ns;
    int n_text;
    bool after_terminal;        /* an event arrived after the terminal one */
} log_t;

void log_init(log_t *l);
void log_free(log_t *l);
/* An lx_event_sink callback; user_data is a log_t. */
bool log_emit(void *ud, const llmux_event *ev);

#endif
