/* Telemetry reports of executions (report.c): the in-flight count when one is accepted, and the
 * metrics, log line and spans when it ends or is refused. */
#ifndef LX_RUNTIME_REPORT_H
#define LX_RUNTIME_REPORT_H

#include <stdbool.h>

#include "llmux.h"
#include "runtime/record.h"

/* An execution was accepted (it will be reported with accepted = true exactly once). */
void lx_report_started(llmux_runtime *rt);
/* in: as for its record (in->resp NULL for a refusal or when out of memory). model / provider:
 * the last target's, for when the response names none (may be NULL). */
void lx_report_execution(llmux_runtime *rt, const lx_record_input *in, bool accepted, const char *model,
                         const char *provider);

#endif
