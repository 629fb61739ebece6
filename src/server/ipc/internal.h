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
    int active;                 /* executions in flight */
    int n_conns;
    size_t unsent;              /* computed on the loop for lx_ipc_server_stop's flush wait */
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

#endif
