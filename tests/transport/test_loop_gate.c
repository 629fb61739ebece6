/* The loop gate (src/transport/loop_gate.h) on a real libevent loop in its own thread: nothing
 * pending, no wait; bytes in a watched socket, settle returns after the loop's read callback ran
 * (even with the loop thread asleep for a while first); a read event that is not added does not
 * count; a closed gate returns at once and frees a waiter. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "transport/loop_gate.h"

typedef struct loop {
    struct event_base *base;
    pthread_t thread;
    struct event *keep;       /* keeps the loop running */
    struct event *rd;         /* reads sv[0] */
    int sv[2];
    _Atomic int reads;        /* bytes the read callback took */
    _Atomic int nap_us;       /* the read callback sleeps this long first */
} loop;

static void on_keep(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    loop *l = arg;
    int nap = atomic_load(&l->nap_us);
    if (nap) usleep((useconds_t)nap);
    char buf[1]; /* a byte per turn: a second byte stays pending for the next */
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) atomic_fetch_add(&l->reads, (int)n);
}

static void *run(void *arg) {
    loop *l = arg;
    event_base_dispatch(l->base);
    return NULL;
}

static void loop_start(loop *l, bool add_read) {
    memset(l, 0, sizeof *l);
    assert_int_equal(evthread_use_pthreads(), 0);
    l->base = event_base_new();
    assert_non_null(l->base);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, l->sv), 0);
    evutil_make_socket_nonblocking(l->sv[0]);
    l->keep = event_new(l->base, -1, EV_PERSIST, on_keep, NULL);
    struct timeval hour = {3600, 0};
    event_add(l->keep, &hour);
    l->rd = event_new(l->base, l->sv[0], EV_READ | EV_PERSIST, on_read, l);
    if (add_read) event_add(l->rd, NULL);
    assert_int_equal(pthread_create(&l->thread, NULL, run, l), 0);
}

static void on_break(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void loop_stop(loop *l) {
    /* From the loop itself: a loopbreak before the thread entered the loop would be lost. */
    static const struct timeval now = {0, 0};
    assert_int_equal(event_base_once(l->base, -1, EV_TIMEOUT, on_break, l->base, &now), 0);
    pthread_join(l->thread, NULL);
    event_free(l->rd);
    event_free(l->keep);
    event_base_free(l->base);
    close(l->sv[0]);
    close(l->sv[1]);
}

static void test_nothing_pending(void **state) {
    (void)state;
    loop l;
    loop_start(&l, true);
    lx_loop_gate *g = lx_loop_gate_create(l.base);
    assert_non_null(g);
    assert_false(lx_loop_gate_settle(g, 100 * 1000000LL));
    lx_loop_gate_close(g);
    loop_stop(&l);
    lx_loop_gate_destroy(g);
}

static void test_waits_for_the_read(void **state) {
    (void)state;
    loop l;
    loop_start(&l, true);
    lx_loop_gate *g = lx_loop_gate_create(l.base);
    /* Each callback takes 50 ms and reads one byte: a settle that returned before the loop's
     * turn had dispatched the readable socket would see nothing read. */
    atomic_store(&l.nap_us, 50000);
    assert_int_equal(write(l.sv[1], "ab", 2), 2);
    assert_true(lx_loop_gate_settle(g, 10LL * 1000000000));
    assert_true(atomic_load(&l.reads) >= 1);
    atomic_store(&l.nap_us, 0);
    for (int i = 0; i < 500 && atomic_load(&l.reads) < 2; i++) usleep(10000);
    usleep(20000);
    assert_false(lx_loop_gate_settle(g, 100 * 1000000LL)); /* all read */
    lx_loop_gate_close(g);
    loop_stop(&l);
    lx_loop_gate_destroy(g);
}

static void test_event_not_added(void **state) {
    (void)state;
    loop l;
    loop_start(&l, false);
    lx_loop_gate *g = lx_loop_gate_create(l.base);
    assert_int_equal(write(l.sv[1], "x", 1), 1);
    assert_false(lx_loop_gate_settle(g, 100 * 1000000LL));
    lx_loop_gate_close(g);
    loop_stop(&l);
    lx_loop_gate_destroy(g);
}

typedef struct settler {
    lx_loop_gate *g;
    _Atomic bool calling;
    bool waited;
    double took_s;
} settler;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *settle_thread(void *arg) {
    settler *s = arg;
    double t0 = now_s();
    atomic_store(&s->calling, true);
    s->waited = lx_loop_gate_settle(s->g, 30LL * 1000000000);
    s->took_s = now_s() - t0;
    return NULL;
}

/* A waiter whose loop cannot turn (its callback sleeps) is freed by close, long before its
 * timeout; a closed gate does not wait at all. */
static void test_close_frees_waiters(void **state) {
    (void)state;
    loop l;
    loop_start(&l, true);
    lx_loop_gate *g = lx_loop_gate_create(l.base);
    /* The loop sleeps 3 s in the callback of "a"; "b" stays unread meanwhile. */
    atomic_store(&l.nap_us, 3000000);
    assert_int_equal(write(l.sv[1], "ab", 2), 2);
    settler s = {.g = g};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, settle_thread, &s), 0);
    while (!atomic_load(&s.calling)) usleep(1000);
    usleep(300000);
    lx_loop_gate_close(g);
    pthread_join(t, NULL);
    assert_true(s.waited);
    assert_true(s.took_s < 2.5);
    assert_false(lx_loop_gate_settle(g, 100 * 1000000LL));
    atomic_store(&l.nap_us, 0);
    loop_stop(&l);
    lx_loop_gate_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_pending),
        cmocka_unit_test(test_waits_for_the_read),
        cmocka_unit_test(test_event_not_added),
        cmocka_unit_test(test_close_frees_waiters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
