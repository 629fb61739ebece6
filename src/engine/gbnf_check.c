/* See gbnf_check.h. The lexical rules follow llama.cpp's parser (src/llama-grammar.cpp,
 * parse_sequence / parse_space): "..." strings and [...] classes with backslash escapes, # comments
 * to the end of the line, and {m}, {m,}, {m,n} with spaces allowed inside the braces. */
#include "gbnf_check.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>

/* Skips a quoted string or a class starting at p (on its opening character); returns the
 * character after its closing one, or the terminating NUL. */
static const char *skip_delimited(const char *p, char close) {
    for (p++; *p && *p != close; p++)
        if (*p == '\\' && p[1]) p++;
    return *p ? p + 1 : p;
}

static const char *skip_blank(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return p;
}

/* Reads decimal digits (saturating); NULL when there are none. */
static const char *read_count(const char *p, uint64_t *out) {
    if (!isdigit((unsigned char)*p)) return NULL;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*p); p++) v = v > UINT64_MAX / 10 - 9 ? UINT64_MAX : v * 10 + (uint64_t)(*p - '0');
    *out = v;
    return p;
}

bool lx_gbnf_repetitions_ordered(const char *gbnf, char *why, size_t why_len) {
    const char *p = gbnf;
    while (*p) {
        if (*p == '"' || *p == '[') {
            p = skip_delimited(p, *p == '"' ? '"' : ']');
        } else if (*p == '#') {
            while (*p && *p != '\n') p++;
        } else if (*p == '{') {
            uint64_t lo, hi;
            const char *q = read_count(skip_blank(p + 1), &lo);
            if (q && *(q = skip_blank(q)) == ',' && (q = read_count(skip_blank(q + 1), &hi)) && hi < lo) {
                snprintf(why, why_len, "a repetition {%llu,%llu} has its minimum above its maximum",
                         (unsigned long long)lo, (unsigned long long)hi);
                return false;
            }
            p++; /* anything else malformed is the parser's to refuse */
        } else {
            p++;
        }
    }
    return true;
}
