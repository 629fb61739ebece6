/* The runtime's loader threads: where a local model is loaded for a request that arrived on the
 * loop thread, so a load (seconds for a big model) never stalls the loop's other requests
 * (remote streams, other models, /health). Jobs carry a key (the model the request names): jobs
 * of one key run one at a time in arrival order, so requests for a model being loaded queue
 * behind its load (holding no thread) and then find it ready; jobs of different keys run at once
 * on up to LX_LOADER_THREADS threads, started as needed, so a slow load of one model does not
 * hold back another model's. The number of threads is bounded whatever the number of requests. */
#ifndef LX_MODEL_LOADER_H
#define LX_MODEL_LOADER_H

#include <stdbool.h>

#include "transport/http.h"

#define LX_LOADER_THREADS 4

typedef struct lx_model_loader lx_model_loader;

/* work(arg, stopping) runs on a loader thread (stopping: the runtime is being destroyed, the
 * job should end at once without loading); then(arg) runs afterwards on the client's loop thread
 * (or, when the loop no longer takes posts, on the loader thread). */
typedef struct lx_load_job_ops {
    void (*work)(void *arg, bool stopping);
    void (*then)(void *arg);
} lx_load_job_ops;

/* NULL when out of memory. Threads start with the first jobs. */
lx_model_loader *lx_model_loader_create(lx_http_client *loop);
/* Queues a job under key (copied; NULL or "" = a key of its own); false when the loader is
 * stopping, out of memory, or no thread could run it (the job will not run). Any thread. */
bool lx_model_loader_submit(lx_model_loader *l, const char *key, const lx_load_job_ops *ops, void *arg);
/* Ends the queued jobs (work with stopping = true), the running ones finish first, and joins the
 * threads. Call while the loop still runs, so their then() reaches it. Accepts NULL. */
void lx_model_loader_destroy(lx_model_loader *l);

#endif
