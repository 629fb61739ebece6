/* The runtime's loader thread: where a local model is loaded for a request that arrived on the
 * loop thread, so a load (seconds for a big model) never stalls the loop's other requests
 * (remote streams, other models, /health). One thread per runtime, jobs in arrival order: the
 * number of threads is bounded whatever the number of requests, and requests for a model being
 * loaded queue behind its load and then find it ready. */
#ifndef LX_MODEL_LOADER_H
#define LX_MODEL_LOADER_H

#include <stdbool.h>

#include "transport/http.h"

typedef struct lx_model_loader lx_model_loader;

/* work(arg, stopping) runs on the loader thread (stopping: the runtime is being destroyed, the
 * job should end at once without loading); then(arg) runs afterwards on the client's loop thread
 * (or, when the loop no longer takes posts, on the loader thread). */
typedef struct lx_load_job_ops {
    void (*work)(void *arg, bool stopping);
    void (*then)(void *arg);
} lx_load_job_ops;

/* NULL when out of memory or no thread could be started. */
lx_model_loader *lx_model_loader_create(lx_http_client *loop);
/* Queues a job; false when the loader is stopping or out of memory (the job will not run). Any
 * thread. */
bool lx_model_loader_submit(lx_model_loader *l, const lx_load_job_ops *ops, void *arg);
/* Ends the queued jobs (work with stopping = true), the one running finishes first, and joins the
 * thread. Call while the loop still runs, so their then() reaches it. Accepts NULL. */
void lx_model_loader_destroy(lx_model_loader *l);

#endif
