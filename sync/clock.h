/*
 * sync/clock.h - monotonic time for harnesses and benchmarks.
 *
 * CLOCK_MONOTONIC never jumps with wall-clock changes, so intervals measured
 * with it are meaningful; nanoseconds in a uint64_t last for centuries.
 */
#ifndef SYNC_CLOCK_H
#define SYNC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
sync_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* SYNC_CLOCK_H */
