/* Printing a database URL without its secret. A PostgreSQL URI may carry a password in its user
 * info ("postgresql://user:secret@host/db") or as a query parameter ("?password=secret"); neither
 * may reach an error message or a log. */
#include <string.h>

#include "backend.h"

static void put(char *out, size_t size, size_t *o, const char *s, size_t n) {
    for (size_t i = 0; i < n && *o + 1 < size; i++) out[(*o)++] = s[i];
}

void lx_store_redact_url(const char *url, char *out, size_t size) {
    if (size == 0) return;
    size_t o = 0;
    if (!url) url = "";
    const char *p = url;
    const char *scheme_end = strstr(p, "://");
    if (scheme_end) {
        const char *auth = scheme_end + 3;
        size_t auth_len = strcspn(auth, "/?#");
        /* The last '@' of the authority ends the user info (a password may contain '@' only
         * percent-encoded, but be generous). */
        const char *at = NULL;
        for (size_t i = 0; i < auth_len; i++)
            if (auth[i] == '@') at = auth + i;
        put(out, size, &o, p, (size_t)(auth - p));
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                put(out, size, &o, auth, (size_t)(colon - auth));
                put(out, size, &o, ":***", 4);
            } else {
                put(out, size, &o, auth, (size_t)(at - auth));
            }
            p = at;
        } else {
            p = auth;
        }
    }
    /* The rest, with every password=VALUE parameter masked. */
    while (*p) {
        if ((p == url || p[-1] == '?' || p[-1] == '&' || p[-1] == ' ') && strncmp(p, "password=", 9) == 0) {
            put(out, size, &o, "password=***", 12);
            p += 9;
            p += strcspn(p, "& ");
            continue;
        }
        put(out, size, &o, p, 1);
        p++;
    }
    out[o] = '\0';
}
