/* Noticing a client that hung up while its request waits for a reply. libevent reads nothing from
 * a connection in that state, so the close callback fires only once a write fails: a non-streamed
 * answer, or an offloaded call, would run to its end for nobody. A watch peeks at the socket every
 * LX_CONN_WATCH_MS on the loop; end of stream or a socket error calls gone() once. Bytes waiting
 * (a pipelined next request) are left alone. Loop thread only. */
#ifndef LX_SERVER_CONN_WATCH_H
#define LX_SERVER_CONN_WATCH_H

#include <event2/event.h>
#include <event2/http.h>

#define LX_CONN_WATCH_MS 200

typedef struct lx_conn_watch lx_conn_watch;

/* Starts watching evcon; NULL when evcon is NULL or out of memory (then nothing is watched). */
lx_conn_watch *lx_conn_watch_start(struct event_base *base, struct evhttp_connection *evcon, void (*gone)(void *arg),
                                   void *arg);
/* Stops and frees the watch (before evcon may go away). Accepts NULL. */
void lx_conn_watch_stop(lx_conn_watch *w);

#endif
