#include "support/load_hold.h"

#include <pthread.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool armed, parked, release;
} g_hold = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false};

void load_hold_progress(float progress, void *user_data) {
    (void)progress;
    (void)user_data;
    pthread_mutex_lock(&g_hold.mu);
    if (g_hold.armed) {
        g_hold.armed = false;
        g_hold.parked = true;
        pthread_cond_broadcast(&g_hold.cv);
        while (!g_hold.release) pthread_cond_wait(&g_hold.cv, &g_hold.mu);
    }
    pthread_mutex_unlock(&g_hold.mu);
}

void load_hold_arm(void) {
    pthread_mutex_lock(&g_hold.mu);
    g_hold.armed = true;
    g_hold.parked = g_hold.release = false;
    pthread_mutex_unlock(&g_hold.mu);
}

void load_hold_wait_parked(void) {
    pthread_mutex_lock(&g_hold.mu);
    while (!g_hold.parked) pthread_cond_wait(&g_hold.cv, &g_hold.mu);
    pthread_mutex_unlock(&g_hold.mu);
}

bool load_hold_still_parked(void) {
    pthread_mutex_lock(&g_hold.mu);
    bool p = g_hold.parked && !g_hold.release;
    pthread_mutex_unlock(&g_hold.mu);
    return p;
}

void load_hold_release(void) {
    pthread_mutex_lock(&g_hold.mu);
    g_hold.release = true;
    pthread_cond_broadcast(&g_hold.cv);
    pthread_mutex_unlock(&g_hold.mu);
}
