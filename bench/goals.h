/*
 * bench/goals.h - issue 6's "Performance to reach": the engine against its
 * peers on fixed workloads, as ratios of median throughputs.
 *
 * Each goal names a workload, its key distribution and thread count, a peer
 * and the factor the engine's median throughput must reach over the peer's
 * (engine >= factor x peer). The configuration they assume (1M keys of 16
 * bytes, 100-byte values, after a load phase) is what `casklab bench
 * --goals` runs; bench_goals_print only reads rows, so the table can be
 * rebuilt from any result file holding those rows.
 *
 * Not thread-safe: plain functions over caller-owned arrays.
 */
#ifndef BENCH_GOALS_H
#define BENCH_GOALS_H

#include "bench/runner.h"

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_goal {
    const char *workload; /* "load", "c", "a", "durable" */
    wl_dist dist;         /* ignored for "load" */
    unsigned threads;
    const char *peer;     /* target name */
    double factor;        /* engine >= factor x peer */
} bench_goal;

/* The goals, in issue order, and how many there are. */
extern const bench_goal bench_goals[];
extern const size_t bench_ngoals;

/* The row of `target` for workload/dist/threads in rows, or NULL. */
const bench_row *bench_goal_row(const bench_row *rows, size_t n,
                                const char *target, const char *workload,
                                wl_dist dist, unsigned threads);

/*
 * Prints one line per goal: engine and peer throughput, the ratio, the
 * factor to reach and "met" / "NOT met" ("no data" when a row is missing);
 * durable goals add both sides' flushes per second. Returns how many goals
 * are not met (missing rows included).
 */
int bench_goals_print(FILE *f, const char *engine, const bench_row *rows,
                      size_t n);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_GOALS_H */
