#define _POSIX_C_SOURCE 200809L
#include "llama_log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "llama.h"

/* One capture per thread: llama.cpp logs a load's errors on the loading thread. */
typedef struct log_capture {
    bool on;
    bool in_error;   /* the last line was an error: a GGML_LOG_LEVEL_CONT continues it */
    size_t len;
    char text[400];
    char generic[120];  /* the first generic line, returned when nothing more specific came */
} log_capture;

static _Thread_local log_capture t_cap;

/* Lines that only repeat that something failed, after the line that said why. */
static bool is_generic(const char *s, size_t n) {
    static const char *const generic[] = {"failed to load model", "failed to read key-value pairs",
                                          "failed to read header", "failed to read tensor info",
                                          "failed to load model from file"};
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        if (n == strlen(generic[i]) && memcmp(s, generic[i], n) == 0) return true;
    return false;
}

static void append(const char *s, size_t n) {
    size_t room = sizeof t_cap.text - 1 - t_cap.len;
    if (n > room) n = room;
    memcpy(t_cap.text + t_cap.len, s, n);
    t_cap.len += n;
    t_cap.text[t_cap.len] = '\0';
}

static void on_log(enum ggml_log_level level, const char *text, void *user_data) {
    (void)user_data;
    if (!t_cap.on || !text) return;
    if (level == GGML_LOG_LEVEL_CONT) {
        if (!t_cap.in_error) return;
    } else if (level != GGML_LOG_LEVEL_ERROR) {
        t_cap.in_error = false;
        return;
    } else {
        t_cap.in_error = true;
    }
    const char *s = text;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (level != GGML_LOG_LEVEL_CONT) {
        /* "llama_model_load: error loading model: reason" -> "reason" */
        for (int pass = 0; pass < 3; pass++) {
            size_t k = 0;
            bool underscore = false;
            while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_')) underscore |= s[k++] == '_';
            if (underscore && k + 1 < n && s[k] == ':' && s[k + 1] == ' ') { /* a function name */
                s += k + 2;
                n -= k + 2;
                continue;
            }
            static const char prefix[] = "error loading model: ";
            if (n > sizeof prefix - 1 && memcmp(s, prefix, sizeof prefix - 1) == 0) {
                s += sizeof prefix - 1;
                n -= sizeof prefix - 1;
                continue;
            }
            break;
        }
        if (n == 0) return;
        if (is_generic(s, n)) {
            if (!t_cap.generic[0]) snprintf(t_cap.generic, sizeof t_cap.generic, "%.*s", (int)n, s);
            t_cap.in_error = false;
            return;
        }
        if (t_cap.len) append("; ", 2);
    }
    append(s, n);
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void) {
    llama_log_set(on_log, NULL);
    llama_backend_init();
}

void lx_llama_init(void) { pthread_once(&g_once, init_once); }

void lx_llama_log_begin(void) {
    t_cap.on = true;
    t_cap.in_error = false;
    t_cap.len = 0;
    t_cap.text[0] = '\0';
    t_cap.generic[0] = '\0';
}

const char *lx_llama_log_end(void) {
    t_cap.on = false;
    return t_cap.len || !t_cap.generic[0] ? t_cap.text : t_cap.generic;
}
