/* Allocation-failure torture for test_oom programs: the allocator wraps (linked with
 * -Wl,--wrap=malloc,calloc,realloc by tests/CMakeLists.txt) and `torture`, which runs an
 * operation once to count its allocations, then once per allocation with exactly that one
 * failing, and requires LLMUX_E_OUT_OF_MEMORY each time (LeakSanitizer checks every failure path
 * under the sanitizer build). Header-only: include once, after <cmocka.h>, in a test_oom.c. */
#ifndef LX_OOM_TORTURE_H
#define LX_OOM_TORTURE_H

#include <stddef.h>

#include "llmux.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);

static long g_count;   /* allocations so far */
static long g_fail_at; /* the allocation that fails (1-based); 0 = never */
static int g_armed;    /* count only inside the operation under test */

static int should_fail(void) {
    if (!g_armed) return 0;
    g_count++;
    return g_fail_at && g_count == g_fail_at;
}

void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_calloc(size_t n, size_t m) { return should_fail() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

typedef llmux_status (*op_fn)(void);

/* Runs op with every allocation failing in turn; returns how many failure points were tried. */
static long oom_torture(op_fn op) {
    g_armed = 1;
    g_fail_at = 0;
    g_count = 0;
    assert_int_equal(op(), LLMUX_OK);
    long total = g_count;
    for (long n = 1; n <= total; n++) {
        g_count = 0;
        g_fail_at = n;
        llmux_status st = op();
        if (st != LLMUX_E_OUT_OF_MEMORY)
            print_message("failure point %ld of %ld gave %s\n", n, total, llmux_status_name(st));
        assert_int_equal(st, LLMUX_E_OUT_OF_MEMORY);
    }
    g_armed = 0;
    g_fail_at = 0;
    return total;
}

#endif
