/* See conn_trim.h. */
#include "server/http/conn_trim.h"

#include <stdbool.h>
#include <strings.h>
#include <sys/queue.h> /* TAILQ_FIRST, TAILQ_NEXT over evkeyvalq */

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

void lx_conn_trim_read_buffer(struct evhttp_request *req) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct evbuffer *in = bev ? bufferevent_get_input(bev) : NULL;
    if (!in || evbuffer_get_length(in) != 0) return;
    /* evbuffer_drain returns at once on an empty buffer, keeping its chunks; a buffer it empties
     * completely has all of them freed. So one byte goes in front (into the empty chunk: no
     * allocation; the front of a bufferevent's input is not frozen, only its end) and is
     * drained again. */
    if (evbuffer_prepend(in, "", 1) == 0) evbuffer_drain(in, 1);
}

static bool kept_for_reply(const char *name) {
    return strcasecmp(name, "Connection") == 0 || strcasecmp(name, "Proxy-Connection") == 0;
}

void lx_conn_trim_request_headers(struct evhttp_request *req) {
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    if (!h) return;
    struct evkeyval *kv = TAILQ_FIRST(h);
    while (kv) {
        struct evkeyval *next = TAILQ_NEXT(kv, next);
        /* evhttp_remove_header removes the first line of that name: the lines before kv are all
         * kept ones, so for a name not kept that first line is kv itself. */
        if (!kept_for_reply(kv->key)) evhttp_remove_header(h, kv->key);
        kv = next;
    }
}
