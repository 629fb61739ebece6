/* Request metadata lookup (request_meta.h). */
#include "core/request_meta.h"

#include <string.h>

const char *lx_request_meta(const llmux_request *req, const char *key) {
    const char *v = NULL;
    for (size_t i = 0; req && req->metadata && i < req->n_metadata; i++)
        if (req->metadata[i].key && strcmp(req->metadata[i].key, key) == 0) v = req->metadata[i].value;
    return v;
}
