/* What a held client connection keeps: a stream can stay open for minutes with nothing to send,
 * so the bytes libevent holds for it after its request was read count per stream
 * (docs/benchmarks.md, "Gateway": memory per idle stream). Loop thread only. */
#ifndef LX_SERVER_CONN_TRIM_H
#define LX_SERVER_CONN_TRIM_H

#include <event2/http.h>

/* Frees the emptied read chunk libevent leaves in the connection's input buffer once the request
 * was read (1–2 KiB, kept until the next read on the connection). Does nothing when bytes wait
 * there (a pipelined next request) or the request has no connection. */
void lx_conn_trim_read_buffer(struct evhttp_request *req);

/* Drops the request's header lines except those libevent reads when it replies ("Connection",
 * "Proxy-Connection": whether to keep the connection open). Call once nothing else will read
 * them: pointers from evhttp_find_header on the request's headers are invalid afterwards. */
void lx_conn_trim_request_headers(struct evhttp_request *req);

#endif
