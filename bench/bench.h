/*
 * bench/bench.h - what bench/ offers: workloads run against casklab targets.
 *
 * bench_keydir_run drives one keydir through three timed phases with T
 * threads over a key space of N 8-byte keys: put (fill, each thread its own
 * share of the keys), get (uniform random hits for a fixed duration) and del
 * (empty it again). It is the workload of `casklab demo`.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_kd_config {
    uint64_t keys;       /* key space; 0 = 1M */
    unsigned threads;    /* 0 = number of online cores */
    double get_seconds;  /* duration of the get phase; 0 = 1 s */
    uint64_t seed;       /* workload seed; 0 = fixed default */
} bench_kd_config;

typedef struct bench_kd_result {
    unsigned threads;
    uint64_t keys;
    double put_mops;      /* million puts per second, fill phase */
    double get_mops;      /* million gets per second */
    double del_mops;      /* million deletes per second */
    double bytes_per_key; /* kd_memory / keys when full */
    uint64_t errors;      /* operations that returned an unexpected code */
} bench_kd_result;

/* Runs the workload on keydir `name`. Returns 0, or a negative kd_ code. */
int bench_keydir_run(const char *name, const bench_kd_config *cfg,
                     bench_kd_result *out);

/* Online cores of this machine (at least 1). */
unsigned bench_ncores(void);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_BENCH_H */
