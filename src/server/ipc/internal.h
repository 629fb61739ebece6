/* The IPC server's state, shared by its lifecycle (ipc.c) and its connections (conn.c). Loop
 * thread only, except the counters under mu. */
#ifndef LX_IPC_INTERNAL_H
#define LX_IPC_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "server/ipc/endpoint.h"
#include "server/ipc/ipc.h"

typedef struct lx_ipc_conn lx_ipc_conn;
typedef struct lx_ipc_calls lx_ipc_calls;
struct lx_ipc_msg;

struct lx_ipc_server {
    lx_ipc_params p;            /* copied at start (path points into ep) */
    llmux_runtime *rt;
    struct event_base *base;    /* the runtime's loop */
    lx_ipc_endpoint ep;
    struct evconnlistener *listener;
    bool ok;                    /* setup succeeded */
    char setup_msg[300];
    bool accepting;             /* connections and requests */
    lx_ipc_conn *conns;
    pthread_mutex_t mu;         /* guards the counters (read by other threads) */
    pthread_cond_t cv;
    int active;                 /* executions and calls in flight */
    int n_conns;
    size_t unsent;              /* computed on the loop for lx_ipc_server_stop's flush wait */
    lx_ipc_calls *calls;        /* the call pool (calls.c); NULL until the first call */
};

/* Takes a freshly accepted socket (closes it when the server is full or out of memory). trusted:
 * the socket was inherited from the parent process, so its hello's token is not compared. */
void lx_ipc_conn_accept(lx_ipc_server *s, int fd, bool trusted);
/* Cancels every execution in flight (their terminal events and responses still go out). */
void lx_ipc_conn_cancel_all(lx_ipc_server *s);
/* Closes and frees every connection (their executions, if any, are freed, hence cancelled). */
void lx_ipc_conn_close_all(lx_ipc_server *s);
/* Bytes still queued for clients, over all connections. */
size_t lx_ipc_conn_unsent(lx_ipc_server *s);

/* For calls.c (loop thread): the connection's server and session, and its frame output. send
 * takes payload (freed) and says whether it was queued; send_error sends a non-fatal error frame
 * tagged with id. */
lx_ipc_server *lx_ipc_conn_server(lx_ipc_conn *c);
const char *lx_ipc_conn_session(const lx_ipc_conn *c);
bool lx_ipc_conn_send(lx_ipc_conn *c, char *payload);
void lx_ipc_conn_send_error(lx_ipc_conn *c, const char *id, llmux_status st, const char *msg);

/* Calls (calls.c; core/ipc_call.h), loop thread unless said otherwise. */
/* A call message from an authenticated connection: queued on the call pool, answered later by a
 * result or an error frame (or at once by an error: malformed, duplicate id, cap, stopping). */
void lx_ipc_call_start(lx_ipc_conn *c, const struct lx_ipc_msg *m);
/* Cancels the connection's call with this id; false when there is none. */
bool lx_ipc_calls_cancel(lx_ipc_server *s, lx_ipc_conn *c, const char *id);
/* The connection is going away: its calls are cancelled and their answers dropped. */
void lx_ipc_calls_detach(lx_ipc_server *s, lx_ipc_conn *c);
void lx_ipc_calls_cancel_all(lx_ipc_server *s);
/* Not on the loop thread: stops the pool's threads once they finished what is queued (cancel
 * first) and joins them. */
void lx_ipc_calls_join(lx_ipc_server *s);
/* After lx_ipc_calls_join, on the loop: frees the pool and any call whose answer never came. */
void lx_ipc_calls_free(lx_ipc_server *s);

#endif
