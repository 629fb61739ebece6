/* The CLI's overall deadline (--timeout). llmux_embed and llmux_list_models take it as
 * llmux_call_params.deadline_ms; for llmux_run the request's deadline_ms is the primary bound and
 * a timer thread that triggers the command's cancel token only a backstop (armed a little later)
 * for a path that would not honour it. Either way the user sees a timeout naming --timeout. */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"

struct cli_deadline {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct timespec at; /* CLOCK_MONOTONIC */
    llmux_cancel *cancel;
    bool stop;
    bool fired;
};

static void *timer_main(void *arg) {
    cli_deadline *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stop) {
        int rc = pthread_cond_timedwait(&d->cv, &d->mu, &d->at);
        if (rc != 0 && !d->stop) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > d->at.tv_sec || (now.tv_sec == d->at.tv_sec && now.tv_nsec >= d->at.tv_nsec)) {
                d->fired = true;
                llmux_cancel_trigger(d->cancel);
                break;
            }
        }
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

cli_deadline *cli_deadline_start(llmux_cancel *cancel, int64_t ms) {
    if (!cancel || ms <= 0) return NULL;
    cli_deadline *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->cancel = cancel;
    clock_gettime(CLOCK_MONOTONIC, &d->at);
    d->at.tv_sec += (time_t)(ms / 1000);
    d->at.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (d->at.tv_nsec >= 1000000000L) {
        d->at.tv_sec++;
        d->at.tv_nsec -= 1000000000L;
    }
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&d->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    if (pthread_create(&d->thread, NULL, timer_main, d) != 0) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

bool cli_deadline_stop(cli_deadline *d) {
    if (!d) return false;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    bool fired = d->fired;
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
    return fired;
}

int cli_parse_timeout(const char *s, int64_t *ms) {
    char *end;
    double v = strtod(s, &end);
    /* NaN fails every comparison, so `!(v > 0)` also refuses it. */
    if (end == s || *end || !(v > 0) || v > CLI_TIMEOUT_MAX_S)
        return cli_usage_error("--timeout: expected seconds, a number > 0 and at most %d (7 days), got \"%s\"",
                               CLI_TIMEOUT_MAX_S, s);
    int64_t m = (int64_t)(v * 1000.0 + 0.5);
    *ms = m > 0 ? m : 1; /* 0.0001 s still means "a deadline", not "none" */
    return 0;
}

llmux_status cli_deadline_status(llmux_status st, bool fired, int64_t ms, char *msg, size_t size) {
    /* The timer cancels through the same token as Ctrl-C; a signal wins the attribution. */
    if (st == LLMUX_E_CANCELLED && fired && !cli_cancel_signalled()) {
        snprintf(msg, size, "no answer within the %.3g s deadline (--timeout)", (double)ms / 1000.0);
        return LLMUX_E_TIMEOUT;
    }
    return st;
}

int64_t cli_now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

llmux_status cli_deadline_named(llmux_status st, int64_t started_ms, int64_t ms, char *msg, size_t size) {
    if (st == LLMUX_E_TIMEOUT && ms > 0 && cli_now_ms() - started_ms >= ms)
        snprintf(msg, size, "no answer within the %.3g s deadline (--timeout)", (double)ms / 1000.0);
    return st;
}
