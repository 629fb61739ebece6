#include "providers/wire.h"

#include <stdio.h>
#include <string.h>

static bool copy_bounded(char *dst, size_t size, const char *src) {
    size_t n = strlen(src);
    if (n >= size) return false;
    memcpy(dst, src, n + 1);
    return true;
}

bool lx_wire_set(lx_wire_request *w, const char *method, const char *path) {
    w->n_headers = 0;
    return copy_bounded(w->method, sizeof w->method, method) && copy_bounded(w->path, sizeof w->path, path);
}

bool lx_wire_add_header(lx_wire_request *w, const char *name, const char *value, bool secret) {
    if (w->n_headers >= LX_WIRE_MAX_HEADERS) return false;
    lx_wire_header *h = &w->headers[w->n_headers];
    /* Header injection: a CR or LF in a configured value would split the request. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return false;
    if (!copy_bounded(h->name, sizeof h->name, name) || !copy_bounded(h->value, sizeof h->value, value)) return false;
    h->secret = secret;
    w->n_headers++;
    return true;
}

bool lx_wire_add_bearer(lx_wire_request *w, const lx_provider_config *cfg) {
    if (!cfg->api_key || !*cfg->api_key) return true;
    char auth[sizeof w->headers[0].value];
    int n = snprintf(auth, sizeof auth, "Bearer %s", cfg->api_key);
    bool ok = n > 0 && (size_t)n < sizeof auth && lx_wire_add_header(w, "Authorization", auth, true);
    memset(auth, 0, sizeof auth);
    return ok;
}
