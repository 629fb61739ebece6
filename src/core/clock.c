#define _POSIX_C_SOURCE 200809L
#include "clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int64_t lx_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double lx_ms_between(int64_t from_ns, int64_t to_ns) { return (double)(to_ns - from_ns) / 1e6; }

/* splitmix64 over time, pid and a counter: unique ids without a global RNG state to seed. */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The first 11 hex digits are the wall-clock milliseconds (44 bits: until the year 2527), the other
 * 13 a hash of the time, pid and a counter. Ids made later sort later, so the records' id indexes
 * (the executions primary key, the attempts key) grow at their right edge: a commit of a few
 * records dirties a few pages instead of one random leaf page per record and index, which was
 * most of the records writer's WAL traffic (docs/benchmarks.md, Gateway, fifth pass). */
void lx_make_id(char *buf, unsigned long size, const char *prefix) {
    static atomic_ullong counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t n = atomic_fetch_add(&counter, 1);
    uint64_t a = mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 48));
    uint64_t b = mix(a ^ n);
    uint64_t ms = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) & 0xfffffffffffULL;
    snprintf(buf, size, "%s%011llx%013llx", prefix, (unsigned long long)ms,
             (unsigned long long)(b & 0xfffffffffffffULL));
}

int64_t lx_deadline_after(int64_t from_ns, int64_t ms) {
    if (ms <= 0) return 0;
    if (ms > (INT64_MAX - from_ns) / 1000000) return INT64_MAX;
    return from_ns + ms * 1000000;
}

int64_t lx_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
