/*
 * bench/runner.h - runs YCSB-style workloads against one bench target.
 *
 * A session owns one target opened over a fresh directory with a fixed
 * thread count. bench_session_load fills it (the load phase: N keys inserted
 * once, split between the threads), repeated `reps` times on a fresh store
 * each time; the last store stays open for the workloads that follow.
 * bench_session_run then runs one workload on it for `reps` timed
 * repetitions after one warm-up: YCSB A, B, C, D, F (bench/workload.h's
 * mixes) or "durable" (updates, each made durable before it returns).
 * Run D after the read-mostly ones: it grows the key space.
 *
 * Each row gives throughput (median, min, max over repetitions), latency
 * percentiles over every measured operation of every repetition (bench/hist.h,
 * one histogram per thread, merged), bytes on disk, and memory per key: the
 * target's own figure when it reports one, else the growth of the process's
 * anonymous resident memory since just before the open (mem_source says
 * which).
 *
 * Threads: a session is driven by one thread; it starts and joins its
 * workers inside each call.
 */
#ifndef BENCH_RUNNER_H
#define BENCH_RUNNER_H

#include "bench/workload.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_spec {
    const char *target;   /* bench_target_name() */
    const char *dir;      /* parent directory for the store */
    uint64_t keys;        /* keys loaded */
    uint32_t key_size;    /* bytes, >= 8 */
    uint32_t value_size;  /* bytes, >= 1 */
    unsigned threads;     /* >= 1 */
    double theta;         /* zipfian/latest skew */
    unsigned reps;        /* timed repetitions per row, >= 1 */
    double seconds;       /* one repetition's measured time */
    double warmup;        /* unmeasured seconds before the first rep */
    uint64_t cache_bytes; /* block cache / map size for peers */
    uint64_t seed;
} bench_spec;

/* Latency percentiles reported in every row. */
#define BENCH_NPCT 6
extern const double bench_pcts[BENCH_NPCT]; /* 50 90 99 99.9 99.99 100 */

typedef struct bench_row {
    char target[64];
    char kind[16];
    char workload[16];  /* "load", "a".."f", "durable" */
    wl_dist dist;
    double theta;
    uint64_t keys;
    uint32_t key_size, value_size;
    unsigned threads, cores, reps;
    double ops_med, ops_min, ops_max; /* operations per second */
    uint64_t ops;                     /* measured operations, all reps */
    uint64_t lat_ns[BENCH_NPCT];      /* at bench_pcts */
    double lat_mean_ns;
    int64_t disk_bytes;               /* data on disk: allocated blocks
                                         less preallocated space; -1
                                         unknown */
    int64_t disk_alloc_bytes;         /* blocks allocated, preallocation
                                         included; -1 unknown */
    double mem_per_key;               /* bytes */
    char mem_source[16];              /* "self" or "rss_anon" */
    double syncs_per_s;               /* flush calls per second, whole
                                         process (bench_flush_count) */
    uint64_t errors;                  /* unexpected results */
} bench_row;

typedef struct bench_session bench_session;

/* Opens spec->target in a fresh directory under spec->dir. Returns 0 or a
   negative bench_ code; *msg (may be NULL) gets the engine's message. */
int bench_session_open(const bench_spec *spec, bench_session **out,
                       const char **msg);

/* The target's configuration line. */
const char *bench_session_describe(bench_session *s);
const char *bench_session_kind(bench_session *s);
/* The engine's last message, or "". */
const char *bench_session_error(bench_session *s);

/* The load phase (see above). */
int bench_session_load(bench_session *s, bench_row *row);

/* After a load, from the calling thread while no workload runs: the best
   of a few small batches of gets of loaded keys, in ns per get (0 if a get
   failed). A keydir whose hash table stopped growing takes tens of
   microseconds, a healthy one well under one: `casklab bench` uses it to
   flag urcu_lfht_grow's lost resizes (ds/peer_lfht.c). */
uint64_t bench_session_probe(bench_session *s);

/* One workload: "a", "b", "c", "d", "f" or "durable", its keys drawn from
   dist (D always reads latest, whatever dist says). */
int bench_session_run(bench_session *s, const char *workload, wl_dist dist,
                      bench_row *row);

/* Closes the target and removes its directory. */
void bench_session_close(bench_session *s);

/* The key of index i (key_size bytes, unique per i, first 8 bytes
   scattered) and a value pattern: shared so tests can rebuild them. */
void bench_make_key(uint64_t i, void *buf, uint32_t key_size);

/* True if `name` is a workload bench_session_run accepts. */
int bench_workload_ok(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_RUNNER_H */
