/* Minimal JSON output for the CLI's --json modes (the public API has no generic JSON writer). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

void cli_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* The shortest %.*g form that reads back to the same value (the CLI runs in the "C" locale, so
 * the decimal point is '.'). */
static void shortest(FILE *f, double v, int max_prec, bool as_float) {
    char buf[48];
    for (int prec = 1; prec <= max_prec; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (as_float ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

void cli_json_number(FILE *f, double v) {
    if (!isfinite(v)) fputs("null", f);
    else shortest(f, v, 17, false);
}

void cli_json_float(FILE *f, float v) {
    if (!isfinite(v)) fputs("null", f);
    else shortest(f, (double)v, 9, true);
}
