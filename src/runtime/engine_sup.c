/* The engine child's supervisor and IPC client (engine_sup.h). Loop thread only, except
 * lx_engine_sup_submit (which posts), the two counters, and destroy's wait.
 *
 * States: IDLE (no child) -> STARTING (spawned, hello sent) -> READY (welcome received: jobs are
 * sent) -> REAPING (the connection is gone or the child was killed: waiting for waitpid) ->
 * BACKOFF (the restart's delay) -> STARTING ...; STOPPED once destroy began. */
#define _GNU_SOURCE
#include "runtime/engine_sup.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/event_decode.h"
#include "core/ipc_frame.h"
#include "core/ipc_message.h"
#include "runtime/engine_proc.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
/* A child that served this long resets the backoff: its crash is not part of a crash loop. */
#define STABLE_NS ((int64_t)10 * 1000000000)
/* After the connection ends, how often waitpid is tried, and when a child that closed its end
 * but lives on is killed. */
#define REAP_POLL_MS 2
#define REAP_KILL_AFTER_MS 1000
/* Frames both ways: the child is started with --max-frame of the same size. */
#define MAX_FRAME ((size_t)LLMUX_JSON_MAX_BYTES)
/* Models the current child has produced a START for (so it has them loaded). */
#define MAX_LOADED 64
/* Distinct warnings kept for the runtime's life (lx_gen_stats wants text that outlives the job). */
#define MAX_WARNINGS 16
#define STOP_WAIT_MS 2000
/* How long past its deadline a call the child has may go unanswered before it fails here. */
#define CALL_GRACE_NS ((int64_t)1000 * 1000000)

typedef enum sup_state { ST_IDLE, ST_STARTING, ST_READY, ST_REAPING, ST_BACKOFF, ST_STOPPED } sup_state;

/* A blocking caller of lx_engine_sup_call, waiting for its job to end. */
typedef struct sup_call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool if_running;
    bool done;
    llmux_status st;
    llmux_error_info err;
    json_t *result;               /* the result object (a reference) */
} sup_call;

typedef struct sup_job sup_job;
struct sup_job {
    lx_engine_sup *s;
    char id[24];                  /* the request id on the connection: "r<seq>" */
    char *request_json;           /* the canonical request as the child gets it; freed once sent */
    char *model_path;             /* canonical */
    const llmux_cancel *cancel;   /* borrowed until done */
    int64_t deadline_ns;
    const lx_attempt_cbs *cbs;    /* the executor's; borrowed until done (NULL for a call) */
    sup_call *call;               /* a call (not a generation): its waiter, borrowed until done */
    bool sent;                    /* the child has it: it fails if the child ends */
    bool cancel_sent;
    bool started;                 /* START arrived (cbs->started called) */
    bool terminal;                /* the terminal event went to the sink */
    llmux_status end_st;          /* what done will say once the response frame arrives */
    llmux_error_info *end_err;    /* its details (allocated only for a failure) */
    sup_job *prev, *next;
};

struct lx_engine_sup {
    /* set once */
    lx_http_client *loop;
    struct event_base *base;
    char *path;
    char **args;
    size_t n_args;
    int64_t heartbeat_ms, timeout_ms;
    bool models_unload;
    void (*log)(void *ud, llmux_log_level level, const char *msg);
    void *log_ud;
    lx_telemetry *telemetry;

    /* loop thread */
    sup_state state;
    lx_engine_child child;
    struct bufferevent *bev;
    char session[LX_IPC_SESSION_HEX + 1];
    struct event *heartbeat, *poll, *reap, *backoff;
    int64_t t_spawn_ns, t_ready_ns, t_ping_ns, t_reap_ns;
    uint64_t seq;
    int failures;                 /* consecutive ends, for the backoff */
    bool was_ready;               /* the current (or last) child completed its handshake */
    char kill_why[256];           /* set when the supervisor killed the child */
    sup_job *jobs;
    size_t n_jobs;
    char *loaded[MAX_LOADED];
    size_t n_loaded;
    char *warn_code[MAX_WARNINGS], *warn_text[MAX_WARNINGS];
    size_t n_warn;

    /* any thread */
    _Atomic int pid_pub;
    _Atomic uint64_t starts;
    pthread_mutex_t mu;           /* destroy's wait for the loop */
    pthread_cond_t cv;
    bool stopped;
    pid_t stop_pid;               /* the child destroy must reap */
    /* The running child's local-engine gauges, from its last pong (read by a metrics scrape on
     * any thread: lx_engine_sup_export). */
    pthread_mutex_t stats_mu;
    lx_ipc_model_stat *stats;     /* LX_IPC_MAX_MODEL_STATS entries, allocated with the first */
    size_t n_stats;
};

static void spawn_child(lx_engine_sup *s);
static void kill_child(lx_engine_sup *s, const char *why);

static void say(lx_engine_sup *s, llmux_log_level level, const char *msg) {
    if (s->log) s->log(s->log_ud, level, msg);
}

static struct timeval ms_tv(int64_t ms) { return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}; }

/* ------------------------------------------------------------------ jobs */

static sup_job *find_job(lx_engine_sup *s, const char *id) {
    for (sup_job *j = s->jobs; j; j = j->next)
        if (strcmp(j->id, id) == 0) return j;
    return NULL;
}

static void job_free(sup_job *j) {
    llmux_free(j->request_json);
    free(j->model_path);
    free(j->end_err);
    free(j);
}

/* Unlinks j and reports its end to the executor (which may start another attempt: that posts,
 * so the job list is not touched underneath). */
static void job_end(lx_engine_sup *s, sup_job *j, llmux_status st, const llmux_error_info *err,
                    const lx_gen_stats *stats) {
    if (j->prev) j->prev->next = j->next;
    else s->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    s->n_jobs--;
    if (!s->jobs && s->poll) evtimer_del(s->poll);
    const lx_attempt_cbs *cbs = j->cbs;
    llmux_error_info e;
    if (st != LLMUX_OK && !err) {
        lx_error(&e, st, "local engine process: %s", llmux_status_name(st));
        err = &e;
    }
    if (j->call) {
        sup_call *c = j->call;
        pthread_mutex_lock(&c->mu);
        c->st = st;
        if (st != LLMUX_OK) c->err = *err;
        c->done = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    } else {
        cbs->done(cbs->user_data, st, err, stats);
    }
    job_free(j);
}

static void job_fail(lx_engine_sup *s, sup_job *j, llmux_status st, const char *msg) {
    llmux_error_info e;
    lx_error(&e, st, "%s", msg);
    job_end(s, j, st, &e, NULL);
}

/* Sets what the job ends with (the terminal event's outcome, or a pending refusal). */
static void job_outcome(sup_job *j, llmux_status st, const llmux_error_info *err) {
    j->end_st = st;
    if (st == LLMUX_OK || !err) return;
    if (!j->end_err) j->end_err = malloc(sizeof *j->end_err);
    if (j->end_err) *j->end_err = *err;
}

/* ---------------------------------------------------------------- output */

/* Queues one frame (payload freed). False when it could not be queued. */
static bool send_payload(lx_engine_sup *s, char *payload) {
    if (!payload) return false;
    size_t len = strlen(payload);
    bool ok = s->bev && len <= MAX_FRAME;
    if (ok) {
        uint8_t h[LX_FRAME_HEADER_BYTES];
        lx_frame_put_header(h, (uint32_t)len);
        struct evbuffer *out = bufferevent_get_output(s->bev);
        ok = evbuffer_expand(out, sizeof h + len) == 0 && evbuffer_add(out, h, sizeof h) == 0 &&
             evbuffer_add(out, payload, len) == 0;
    }
    free(payload);
    return ok;
}

static void send_job(lx_engine_sup *s, sup_job *j) {
    char *frame = lx_ipc_wrap(j->call ? LX_IPC_CALL : LX_IPC_REQUEST, s->session, j->id, j->request_json);
    if (!frame) {
        job_fail(s, j, LLMUX_E_OUT_OF_MEMORY, "out of memory sending a request to the local engine process");
        return;
    }
    if (strlen(frame) > MAX_FRAME) {
        free(frame);
        job_fail(s, j, LLMUX_E_INVALID_REQUEST, "the request is larger than the engine process's frame cap");
        return;
    }
    if (!send_payload(s, frame)) {
        job_fail(s, j, LLMUX_E_OUT_OF_MEMORY, "out of memory sending a request to the local engine process");
        return;
    }
    j->sent = true;
    llmux_free(j->request_json); /* a job the child lost is failed, never sent again */
    j->request_json = NULL;
}

static void send_cancel(lx_engine_sup *s, sup_job *j) {
    if (j->cancel_sent || !j->sent) return;
    j->cancel_sent = true;
    send_payload(s, lx_ipc_cancel(s->session, j->id));
}

/* ----------------------------------------------------------- child frames */

static bool is_loaded(lx_engine_sup *s, const char *path) {
    for (size_t i = 0; i < s->n_loaded; i++)
        if (strcmp(s->loaded[i], path) == 0) return true;
    return false;
}

static void mark_loaded(lx_engine_sup *s, const char *path) {
    if (s->n_loaded == MAX_LOADED || is_loaded(s, path)) return;
    char *c = strdup(path);
    if (c) s->loaded[s->n_loaded++] = c;
}

static void forget_loaded(lx_engine_sup *s) {
    for (size_t i = 0; i < s->n_loaded; i++) free(s->loaded[i]);
    s->n_loaded = 0;
}

/* Whether the child may be busy loading a model on its loop (a request sent for a model it has
 * not produced a START for yet): its pongs then wait for the load. */
static bool maybe_loading(lx_engine_sup *s) {
    /* A call is not among them: the child runs calls on threads of their own, not its loop. */
    for (sup_job *j = s->jobs; j; j = j->next)
        if (!j->call && j->sent && !j->started && (s->models_unload || !is_loaded(s, j->model_path))) return true;
    return false;
}

/* One canonical event for a job. False when the event is malformed (the child is then killed). */
static bool on_job_event(lx_engine_sup *s, const lx_ipc_msg *m) {
    sup_job *j = find_job(s, m->id);
    llmux_event ev;
    llmux_error_info e;
    char why[200];
    if (!lx_event_decode(m->body, &ev, &e, why, sizeof why)) {
        snprintf(s->kill_why, sizeof s->kill_why, "it sent a malformed event (%s)", why);
        return false;
    }
    if (j && j->call) {
        snprintf(s->kill_why, sizeof s->kill_why, "it sent an event for a call");
        return false;
    }
    if (!j || j->terminal) return true; /* ended already (nothing goes after a terminal event) */
    /* The final USAGE only (output counted): the engine also reports the prompt's alone first. */
    if (ev.type == LLMUX_EVENT_USAGE && ev.usage.cached_input_tokens > 0 && ev.usage.output_tokens >= 0) {
        /* The child's own metrics stay in the child: its prompt cache hits are counted here,
         * under the label the in-process worker uses ("local/" + the file name without .gguf). */
        const char *base = strrchr(j->model_path, '/');
        base = base ? base + 1 : j->model_path;
        size_t b = strlen(base);
        if (b > 5 && strcmp(base + b - 5, ".gguf") == 0) b -= 5;
        char label[300];
        snprintf(label, sizeof label, "local/%.*s", (int)(b < 250 ? b : 250), base);
        lx_telemetry_prompt_cache_hit(s->telemetry, label, ev.usage.cached_input_tokens);
    }
    if (ev.type == LLMUX_EVENT_START) {
        mark_loaded(s, j->model_path);
        if (!j->started) {
            j->started = true;
            if (j->cbs->started) j->cbs->started(j->cbs->user_data);
        }
    }
    bool terminal = ev.type == LLMUX_EVENT_FINISH || ev.type == LLMUX_EVENT_ERROR;
    if (ev.type == LLMUX_EVENT_ERROR && e.status == LLMUX_E_CANCELLED) {
        /* The IPC server reports a cancelled stream as an error event of class cancelled; the
         * in-process engine ends one with FINISH(CANCELLED): give the executor the same. */
        job_outcome(j, LLMUX_E_CANCELLED, &e);
        memset(&ev, 0, sizeof ev);
        ev.type = LLMUX_EVENT_FINISH;
        ev.finish_reason = LLMUX_FINISH_CANCELLED;
    } else if (ev.type == LLMUX_EVENT_ERROR) {
        job_outcome(j, e.status, &e);
    } else if (ev.type == LLMUX_EVENT_FINISH) {
        lx_error(&e, LLMUX_E_CANCELLED, "the request was cancelled");
        job_outcome(j, ev.finish_reason == LLMUX_FINISH_CANCELLED ? LLMUX_E_CANCELLED : LLMUX_OK, &e);
    }
    if (terminal) j->terminal = true;
    bool keep = j->cbs->sink.emit(j->cbs->sink.user_data, &ev);
    if (!keep && !terminal) send_cancel(s, j);
    return true;
}

/* The first warning of a response, interned for the runtime's life. */
static void response_warning(lx_engine_sup *s, const json_t *resp, lx_gen_stats *stats) {
    const json_t *w = json_array_get(json_object_get(resp, "warnings"), 0);
    const char *code = json_string_value(json_object_get(w, "code"));
    const char *text = json_string_value(json_object_get(w, "message"));
    if (!code || !text) return;
    for (size_t i = 0; i < s->n_warn; i++)
        if (strcmp(s->warn_code[i], code) == 0 && strcmp(s->warn_text[i], text) == 0) {
            stats->warning_code = s->warn_code[i];
            stats->warning = s->warn_text[i];
            return;
        }
    if (s->n_warn == MAX_WARNINGS) return;
    char *c = strdup(code), *t = strdup(text);
    if (!c || !t) {
        free(c);
        free(t);
        return;
    }
    s->warn_code[s->n_warn] = c;
    s->warn_text[s->n_warn++] = t;
    stats->warning_code = c;
    stats->warning = t;
}

/* A call's answer. False when it answers a generation (a protocol violation); a result for an
 * id no longer waiting (a call that timed out here) is dropped. */
static bool on_call_result(lx_engine_sup *s, const lx_ipc_msg *m) {
    sup_job *j = find_job(s, m->id);
    if (!j) return true;
    if (!j->call) {
        snprintf(s->kill_why, sizeof s->kill_why, "it sent a result for a generation");
        return false;
    }
    j->call->result = json_incref(m->body);
    job_end(s, j, LLMUX_OK, NULL, NULL);
    return true;
}

static bool on_job_response(lx_engine_sup *s, const lx_ipc_msg *m) {
    sup_job *j = find_job(s, m->id);
    if (!j) return true;
    if (j->call) {
        snprintf(s->kill_why, sizeof s->kill_why, "it sent a response for a call");
        return false;
    }
    llmux_error_info e;
    if (!j->terminal) {
        lx_error(&e, LLMUX_E_INTERNAL, "the local engine process ended a request without a terminal event");
        job_outcome(j, LLMUX_E_INTERNAL, &e);
    }
    lx_gen_stats stats;
    memset(&stats, 0, sizeof stats);
    response_warning(s, m->body, &stats);
    job_end(s, j, j->end_st, j->end_err, stats.warning ? &stats : NULL);
    return true;
}

/* An error frame about one request: a refusal before any event (ends the job now), or a
 * complaint about a running one (its terminal event and response still come). */
static void on_job_error(lx_engine_sup *s, const lx_ipc_msg *m) {
    sup_job *j = find_job(s, m->id);
    if (!j) return;
    llmux_status st;
    if (!llmux_status_from_name(m->err_status, &st) || st == LLMUX_OK) st = LLMUX_E_INTERNAL;
    llmux_error_info e;
    lx_error(&e, st, "%s", m->err_message);
    if (j->started) {
        if (!j->terminal) job_outcome(j, st, &e);
        return;
    }
    job_end(s, j, st, &e, NULL);
}

static void on_welcome(lx_engine_sup *s, const lx_ipc_msg *m) {
    snprintf(s->session, sizeof s->session, "%s", m->session);
    s->state = ST_READY;
    s->was_ready = true;
    s->t_ready_ns = lx_now_ns();
    lx_telemetry_engine_up(s->telemetry, true);
    /* Its sandbox report (llmux engine's welcome): a missing layer is said loudly here too, since
     * the child's stderr may go nowhere anyone reads. */
    const json_t *sb = json_object_get(m->root, "sandbox");
    const json_t *abi = json_object_get(sb, "landlock_abi");
    const char *warning = json_string_value(json_object_get(sb, "warning"));
    if (json_is_integer(abi)) {
        lx_telemetry_engine_sandbox(s->telemetry, (int)json_integer_value(abi), warning && *warning);
        if (warning && *warning) {
            char line[400];
            snprintf(line, sizeof line, "local engine process (pid %d) runs with a weaker sandbox: %.300s",
                     (int)s->child.pid, warning);
            say(s, LLMUX_LOG_WARN, line);
        }
    }
    s->t_ping_ns = 0;
    for (sup_job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        if (!j->sent) send_job(s, j);
    }
}

/* A pong's models replace the gauges kept for the metrics. */
static void take_stats(lx_engine_sup *s, const lx_ipc_msg *m) {
    bool present;
    lx_ipc_model_stat got[LX_IPC_MAX_MODEL_STATS];
    size_t n = lx_ipc_pong_models(m, got, LX_IPC_MAX_MODEL_STATS, &present);
    if (!present) return;
    pthread_mutex_lock(&s->stats_mu);
    if (!s->stats && n) s->stats = malloc(LX_IPC_MAX_MODEL_STATS * sizeof *s->stats);
    if (s->stats) memcpy(s->stats, got, n * sizeof *got);
    s->n_stats = s->stats ? n : 0;
    pthread_mutex_unlock(&s->stats_mu);
}

/* The child is gone: so are its models and their gauges. */
static void clear_stats(lx_engine_sup *s) {
    pthread_mutex_lock(&s->stats_mu);
    s->n_stats = 0;
    pthread_mutex_unlock(&s->stats_mu);
}

/* One frame from the child. False on a protocol violation (kill_why says which). */
static bool handle_frame(lx_engine_sup *s, const char *p, size_t n) {
    lx_ipc_msg m;
    char err[256];
    bool ok = true;
    if (!lx_ipc_msg_parse(p, n, &m, err, sizeof err)) {
        snprintf(s->kill_why, sizeof s->kill_why, "it sent a malformed frame (%s)", err);
        ok = false;
    } else if (s->state == ST_STARTING) {
        if (m.type == LX_IPC_WELCOME) on_welcome(s, &m);
        else ok = false, snprintf(s->kill_why, sizeof s->kill_why, "it answered the hello with a %s frame", lx_ipc_type_name(m.type));
    } else if (!m.session || strcmp(m.session, s->session) != 0) {
        snprintf(s->kill_why, sizeof s->kill_why, "it sent a frame with a wrong session id");
        ok = false;
    } else {
        switch (m.type) {
        case LX_IPC_PONG:
            s->t_ping_ns = 0;
            take_stats(s, &m);
            break;
        case LX_IPC_EVENT: ok = on_job_event(s, &m); break;
        case LX_IPC_RESPONSE: ok = on_job_response(s, &m); break;
        case LX_IPC_RESULT: ok = on_call_result(s, &m); break;
        case LX_IPC_ERROR:
            if (m.id && !m.fatal) {
                on_job_error(s, &m);
            } else {
                snprintf(s->kill_why, sizeof s->kill_why, "it reported a protocol error (%.64s: %.160s)", m.err_status,
                         m.err_message);
                ok = false;
            }
            break;
        default:
            snprintf(s->kill_why, sizeof s->kill_why, "it sent an unexpected %s frame", lx_ipc_type_name(m.type));
            ok = false;
        }
    }
    lx_ipc_msg_clear(&m);
    return ok;
}

static void on_read(struct bufferevent *bev, void *arg) {
    lx_engine_sup *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t have = evbuffer_get_length(in), len = 0;
        const uint8_t *h = evbuffer_pullup(in, have < LX_FRAME_HEADER_BYTES ? (ev_ssize_t)have : LX_FRAME_HEADER_BYTES);
        lx_frame_status st = lx_frame_peek(h, have, MAX_FRAME, &len);
        if (st == LX_FRAME_NEED_MORE) return;
        if (st == LX_FRAME_TOO_LARGE) {
            snprintf(s->kill_why, sizeof s->kill_why, "it sent a frame of %zu bytes (cap %zu)", len, MAX_FRAME);
            break;
        }
        evbuffer_drain(in, LX_FRAME_HEADER_BYTES);
        const char *p = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
        if (!p) {
            snprintf(s->kill_why, sizeof s->kill_why, "out of memory reading its frames");
            break;
        }
        bool ok = handle_frame(s, p, len);
        evbuffer_drain(in, len);
        if (!ok) break;
    }
    /* A protocol violation: the child is untrusted (it parses model files), so it goes. */
    char why[sizeof s->kill_why];
    snprintf(why, sizeof why, "%s", s->kill_why);
    kill_child(s, why);
}

/* ------------------------------------------------------------ the child */

static void connection_lost(lx_engine_sup *s);

static void on_sock_event(struct bufferevent *bev, short what, void *arg) {
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) connection_lost(arg);
}

/* How a child ended, as the metric's label (lx_telemetry_engine_ended). */
static const char *end_kind(int wstatus, const char *kill_why) {
    if (kill_why[0]) return strstr(kill_why, "heartbeat") ? "heartbeat" : "runtime";
    if (wstatus != -1 && WIFSIGNALED(wstatus))
        return WTERMSIG(wstatus) == SIGSYS ? "seccomp" : WTERMSIG(wstatus) == SIGKILL ? "killed" : "crash";
    return "exit";
}

/* The child ended (reaped): fail what it was running, then restart after the backoff. */
static void child_ended(lx_engine_sup *s, int wstatus) {
    char how[400], msg[512];
    lx_engine_describe_end(wstatus, s->kill_why[0] ? s->kill_why : NULL, how, sizeof how);
    snprintf(msg, sizeof msg, "local engine process %s", how);
    pid_t pid = s->child.pid;
    s->child.pid = 0;
    atomic_store(&s->pid_pub, 0);
    forget_loaded(s);
    clear_stats(s);
    bool was_ready = s->was_ready;
    int64_t now = lx_now_ns();
    if (was_ready && now - s->t_ready_ns >= STABLE_NS) s->failures = 0;
    s->failures++;
    int shift = s->failures - 1 < 6 ? s->failures - 1 : 6;
    int64_t delay = (int64_t)BACKOFF_FIRST_MS << shift;
    if (delay > BACKOFF_MAX_MS) delay = BACKOFF_MAX_MS;
    char line[640];
    snprintf(line, sizeof line, "%s (pid %d); %s", msg, (int)pid,
             was_ready ? "restarting it" : "it did not start: its waiting requests fail");
    say(s, LLMUX_LOG_ERROR, line);
    s->state = ST_BACKOFF;
    size_t failed = 0;
    for (sup_job *j = s->jobs; j; j = j->next) failed += j->sent && !j->terminal;
    lx_telemetry_engine_up(s->telemetry, false);
    lx_telemetry_engine_ended(s->telemetry, end_kind(wstatus, s->kill_why), failed);
    /* Its in-flight requests fail now; those it never got wait for the restart, unless it could
     * not even start (then waiting would never end). */
    for (sup_job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        if (j->sent && j->terminal) {
            job_end(s, j, j->end_st, j->end_err, NULL); /* it had answered; only its response frame is lost */
        } else if (j->sent) {
            job_fail(s, j, LLMUX_E_INTERNAL, msg);
        } else if (!was_ready) {
            char m2[600];
            snprintf(m2, sizeof m2, "the local engine process could not start: it %s", how);
            job_fail(s, j, LLMUX_E_INTERNAL, m2);
        }
    }
    if (s->state != ST_BACKOFF) return; /* a done callback cannot change it, but stay safe */
    if (was_ready || s->jobs) {
        struct timeval tv = ms_tv(delay);
        evtimer_add(s->backoff, &tv);
    } else {
        s->state = ST_IDLE; /* started again by the next request */
    }
}

static void on_reap(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_engine_sup *s = arg;
    int ws;
    if (s->state != ST_REAPING) return;
    if (lx_engine_reap(s->child.pid, &ws)) {
        child_ended(s, ws);
        return;
    }
    if (!s->kill_why[0] && lx_now_ns() - s->t_reap_ns > (int64_t)REAP_KILL_AFTER_MS * 1000000) {
        snprintf(s->kill_why, sizeof s->kill_why, "it closed its connection but did not exit");
        kill(s->child.pid, SIGKILL);
    }
    struct timeval tv = ms_tv(REAP_POLL_MS);
    evtimer_add(s->reap, &tv);
}

/* The connection is gone (EOF, error, or the supervisor killed the child): wait for the exit. */
static void connection_lost(lx_engine_sup *s) {
    if (s->bev) {
        bufferevent_free(s->bev); /* closes our end */
        s->bev = NULL;
    }
    evtimer_del(s->heartbeat);
    if (s->state != ST_STARTING && s->state != ST_READY) return;
    s->state = ST_REAPING;
    s->t_reap_ns = lx_now_ns();
    on_reap(-1, 0, s);
}

static void kill_child(lx_engine_sup *s, const char *why) {
    if (s->state != ST_STARTING && s->state != ST_READY) return;
    snprintf(s->kill_why, sizeof s->kill_why, "%s", why);
    kill(s->child.pid, SIGKILL);
    connection_lost(s);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_engine_sup *s = arg;
    int64_t now = lx_now_ns();
    char why[160];
    if (s->state == ST_STARTING) {
        if (now - s->t_spawn_ns > s->timeout_ms * 1000000) {
            snprintf(why, sizeof why, "it did not complete its handshake within %lld ms", (long long)s->timeout_ms);
            kill_child(s, why);
        }
        return;
    }
    if (s->state != ST_READY) return;
    if (s->t_ping_ns) {
        int64_t limit = maybe_loading(s) ? LLMUX_ENGINE_LOAD_TIMEOUT_MS : s->timeout_ms;
        if (now - s->t_ping_ns > limit * 1000000) {
            snprintf(why, sizeof why, "it did not answer its heartbeat within %lld ms (hung; SIGKILL)", (long long)limit);
            kill_child(s, why);
        }
        return;
    }
    char id[32];
    snprintf(id, sizeof id, "hb%llu", (unsigned long long)++s->seq);
    if (send_payload(s, lx_ipc_ping(s->session, id))) s->t_ping_ns = now;
}

static void spawn_child(lx_engine_sup *s) {
    char why[600];
    s->kill_why[0] = 0;
    s->was_ready = false;
    s->session[0] = 0;
    forget_loaded(s);
    if (!lx_engine_spawn(s->path, (const char *const *)s->args, s->n_args, &s->child, why, sizeof why)) {
        char line[700];
        snprintf(line, sizeof line, "could not start the local engine process: %s", why);
        say(s, LLMUX_LOG_ERROR, line);
        s->state = ST_IDLE;
        for (sup_job *j = s->jobs, *next; j; j = next) {
            next = j->next;
            job_fail(s, j, LLMUX_E_CONFIGURATION, line);
        }
        return;
    }
    atomic_store(&s->pid_pub, (int)s->child.pid);
    atomic_fetch_add(&s->starts, 1);
    lx_telemetry_engine_started(s->telemetry);
    s->state = ST_STARTING;
    s->t_spawn_ns = lx_now_ns();
    s->t_ping_ns = 0;
    s->bev = bufferevent_socket_new(s->base, s->child.sock, BEV_OPT_CLOSE_ON_FREE);
    if (!s->bev) {
        close(s->child.sock);
        kill_child(s, "out of memory setting up its connection");
        return;
    }
    bufferevent_setcb(s->bev, on_read, NULL, on_sock_event, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    /* The token is not compared on an inherited socket (only this process holds the other end);
     * a fresh random one is sent all the same, so nothing guessable ever crosses. */
    unsigned char raw[LX_IPC_TOKEN_BYTES];
    char token[LX_IPC_TOKEN_HEX + 1];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) memset(raw, 0, sizeof raw);
    for (size_t i = 0; i < sizeof raw; i++) snprintf(token + 2 * i, 3, "%02x", raw[i]);
    if (!send_payload(s, lx_ipc_hello(token))) {
        kill_child(s, "out of memory sending its hello");
        return;
    }
    struct timeval tv = ms_tv(s->heartbeat_ms);
    evtimer_add(s->heartbeat, &tv);
}

static void on_backoff(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_engine_sup *s = arg;
    if (s->state == ST_BACKOFF) spawn_child(s);
}

/* Cancellation and deadlines: a cancelled job the child has is cancelled there (its terminal
 * event and response still come); one still waiting for the child ends here, as does one whose
 * deadline passed while it waited. */
static void on_poll(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_engine_sup *s = arg;
    int64_t now = lx_now_ns();
    for (sup_job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        if (llmux_cancel_is_triggered(j->cancel)) {
            if (j->sent) send_cancel(s, j);
            else job_fail(s, j, LLMUX_E_CANCELLED, "cancelled while waiting for the local engine process");
        } else if (!j->sent && j->deadline_ns && now >= j->deadline_ns) {
            job_fail(s, j, LLMUX_E_TIMEOUT, "deadline reached while waiting for the local engine process to start");
        } else if (j->call && j->deadline_ns && now >= j->deadline_ns + CALL_GRACE_NS) {
            /* The child enforces the call's deadline itself; this only keeps a caller from
             * waiting on a child that does not (its late answer is dropped). */
            send_cancel(s, j);
            job_fail(s, j, LLMUX_E_TIMEOUT, "the local engine process did not answer the call by its deadline");
        }
    }
}

static void submit_on_loop(void *arg) {
    sup_job *j = arg;
    lx_engine_sup *s = j->s;
    j->next = s->jobs;
    if (s->jobs) s->jobs->prev = j;
    s->jobs = j;
    s->n_jobs++;
    snprintf(j->id, sizeof j->id, "r%llu", (unsigned long long)++s->seq);
    if (s->state == ST_STOPPED) {
        job_fail(s, j, LLMUX_E_CANCELLED, "cancelled: the runtime is stopping");
        return;
    }
    if (j->call && j->call->if_running && s->state != ST_STARTING && s->state != ST_READY) {
        job_end(s, j, LLMUX_OK, NULL, NULL); /* no child: nothing to ask (result NULL) */
        return;
    }
    if (!evtimer_pending(s->poll, NULL)) {
        struct timeval tv = ms_tv(LX_HTTP_POLL_MS);
        evtimer_add(s->poll, &tv);
    }
    if (s->state == ST_IDLE) spawn_child(s);
    else if (s->state == ST_READY) send_job(s, j);
    /* STARTING, REAPING, BACKOFF: sent once a child says welcome. */
}

/* ------------------------------------------------------------------ public */

lx_engine_sup *lx_engine_sup_create(const lx_engine_sup_params *p) {
    lx_engine_sup *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->loop = p->loop;
    s->base = lx_http_client_base(p->loop);
    s->heartbeat_ms = p->heartbeat_ms;
    s->timeout_ms = p->heartbeat_timeout_ms;
    s->models_unload = p->models_unload;
    s->log = p->log;
    s->log_ud = p->log_ud;
    s->telemetry = p->telemetry;
    s->child.sock = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->stats_mu, NULL);
    s->path = strdup(p->path);
    s->args = calloc(p->n_args + 1, sizeof *s->args);
    bool ok = s->path && s->args;
    for (size_t i = 0; ok && i < p->n_args; i++) ok = (s->args[s->n_args++] = strdup(p->args[i])) != NULL;
    ok = ok && (s->heartbeat = event_new(s->base, -1, EV_PERSIST, on_heartbeat, s)) &&
         (s->poll = event_new(s->base, -1, EV_PERSIST, on_poll, s)) && (s->reap = evtimer_new(s->base, on_reap, s)) &&
         (s->backoff = evtimer_new(s->base, on_backoff, s));
    if (!ok) {
        lx_engine_sup_destroy(s);
        return NULL;
    }
    return s;
}

static void stop_on_loop(void *arg) {
    lx_engine_sup *s = arg;
    pid_t pid = s->state == ST_STARTING || s->state == ST_READY || s->state == ST_REAPING ? s->child.pid : 0;
    s->state = ST_STOPPED;
    clear_stats(s);
    for (sup_job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        job_fail(s, j, LLMUX_E_CANCELLED, "cancelled: the runtime is stopping");
    }
    if (s->bev) bufferevent_free(s->bev); /* the child exits when it sees the end of its connection */
    s->bev = NULL;
    struct event **evs[] = {&s->heartbeat, &s->poll, &s->reap, &s->backoff};
    for (size_t i = 0; i < 4; i++) {
        if (*evs[i]) event_free(*evs[i]);
        *evs[i] = NULL;
    }
    pthread_mutex_lock(&s->mu);
    s->stop_pid = pid;
    s->stopped = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void lx_engine_sup_destroy(lx_engine_sup *s) {
    if (!s) return;
    if (s->base && lx_http_client_post(s->loop, stop_on_loop, s)) {
        pthread_mutex_lock(&s->mu);
        while (!s->stopped) pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
    } else {
        stop_on_loop(s); /* never started (creation failed) or the loop is gone */
    }
    lx_engine_stop_child(s->stop_pid, STOP_WAIT_MS);
    forget_loaded(s);
    for (size_t i = 0; i < s->n_warn; i++) {
        free(s->warn_code[i]);
        free(s->warn_text[i]);
    }
    for (size_t i = 0; i < s->n_args; i++) free(s->args[i]);
    free(s->args);
    free(s->path);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->stats_mu);
    free(s->stats);
    free(s);
}

llmux_status lx_engine_sup_submit(lx_engine_sup *s, const char *model_path, const char *child_model,
                                  const llmux_request *req,
                                  const llmux_cancel *cancel, int64_t deadline_ns, const lx_attempt_cbs *cbs,
                                  llmux_error_info *err) {
    sup_job *j = calloc(1, sizeof *j);
    if (!j) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory submitting to the local engine process");
    llmux_request r = *req;
    r.model = child_model;
    r.stream = true; /* the events are what the supervisor forwards */
    if (deadline_ns) {
        int64_t left_ms = (deadline_ns - lx_now_ns() + 999999) / 1000000;
        if (left_ms < 1) left_ms = 1;
        if (!r.deadline_ms || r.deadline_ms > left_ms) r.deadline_ms = left_ms;
    }
    j->s = s;
    j->request_json = llmux_request_to_json(&r);
    j->model_path = strdup(model_path);
    j->cancel = cancel;
    j->deadline_ns = deadline_ns;
    j->cbs = cbs;
    if (!j->request_json || !j->model_path) {
        job_free(j);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory submitting to the local engine process");
    }
    if (!lx_http_client_post(s->loop, submit_on_loop, j)) {
        job_free(j);
        return lx_error(err, LLMUX_E_CANCELLED, "cancelled: the runtime is stopping");
    }
    return LLMUX_OK;
}

llmux_status lx_engine_sup_call(lx_engine_sup *s, const char *call_json, bool if_running, const llmux_cancel *cancel,
                                int64_t deadline_ns, json_t **result, llmux_error_info *err) {
    *result = NULL;
    sup_job *j = calloc(1, sizeof *j);
    sup_call c = {.if_running = if_running, .st = LLMUX_OK};
    if (!j || !(j->request_json = strdup(call_json)) || !(j->model_path = strdup(""))) {
        if (j) job_free(j);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory calling the local engine process");
    }
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    j->s = s;
    j->cancel = cancel;
    j->deadline_ns = deadline_ns;
    j->call = &c;
    llmux_status st;
    if (!lx_http_client_post(s->loop, submit_on_loop, j)) {
        job_free(j);
        st = lx_error(err, LLMUX_E_CANCELLED, "cancelled: the runtime is stopping");
    } else {
        pthread_mutex_lock(&c.mu);
        while (!c.done) pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
        st = c.st;
        if (st != LLMUX_OK) {
            *err = c.err;
            json_decref(c.result);
        } else {
            *result = c.result;
        }
    }
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    return st;
}

void lx_engine_sup_export(lx_engine_sup *s, lx_telemetry *t) {
    if (!s || !t) return;
    pthread_mutex_lock(&s->stats_mu);
    for (size_t i = 0; i < s->n_stats; i++) {
        lx_telemetry_queue_depth(t, s->stats[i].model, (size_t)s->stats[i].queued);
        lx_telemetry_prompt_cache_bytes(t, s->stats[i].model, (size_t)s->stats[i].prompt_cache_bytes);
    }
    pthread_mutex_unlock(&s->stats_mu);
}

pid_t lx_engine_sup_pid(lx_engine_sup *s) { return s ? (pid_t)atomic_load(&s->pid_pub) : 0; }

uint64_t lx_engine_sup_starts(lx_engine_sup *s) { return s ? atomic_load(&s->starts) : 0; }
