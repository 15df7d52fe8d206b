/*
 * bench/workload.h - key generators shared by every benchmark and harness.
 *
 * One generator for all of casklab (the Google Benchmark drivers, `casklab
 * bench`, the stress harness), so that "zipfian(0.99)" means the same keys
 * everywhere. Distributions follow YCSB (Cooper et al., SoCC 2010):
 *   uniform     every key in [0, n) equally likely;
 *   zipfian     rank r drawn with probability proportional to 1/r^theta
 *               (Gray et al., "Quickly generating billion-record synthetic
 *               databases", SIGMOD 1994), then scattered over the key space
 *               by a bijective hash so popular keys are not neighbours;
 *   latest      zipfian over recency: the most recently inserted keys are
 *               the most popular (YCSB workload D).
 * Each thread owns its generator (no shared state): wl_next is wait-free
 * and allocation-free. Results are deterministic for a given seed.
 */
#ifndef BENCH_WORKLOAD_H
#define BENCH_WORKLOAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wl_dist { WL_UNIFORM, WL_ZIPFIAN, WL_LATEST } wl_dist;

typedef struct wl_gen {
    wl_dist dist;
    uint64_t n;        /* key space: keys are 0..n-1 */
    uint64_t rng;      /* splitmix64 state */
    double theta, alpha, zetan, eta, half_pow_theta;
} wl_gen;

/* splitmix64 step: a bijection on 64 bits, also the key scrambler. */
static inline uint64_t
wl_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Next 64 random bits of a thread-private state. */
static inline uint64_t
wl_rand(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform double in [0, 1). */
static inline double
wl_rand_unit(uint64_t *state)
{
    return (double)(wl_rand(state) >> 11) * 0x1.0p-53;
}

/*
 * Initialises a generator over n keys (n >= 1). theta is used by zipfian and
 * latest (0 < theta < 1; YCSB's default is 0.99). Computing zeta(n) costs
 * O(n) once; share a prepared generator between threads by copying it and
 * calling wl_reseed on each copy.
 */
void wl_init(wl_gen *g, wl_dist dist, uint64_t n, double theta, uint64_t seed);

/* Gives a copy its own random stream (e.g. seed + thread id). */
static inline void
wl_reseed(wl_gen *g, uint64_t seed)
{
    g->rng = wl_mix64(seed);
}

/* Zipfian rank in [0, n): 0 is the most popular. */
uint64_t wl_zipf_rank(wl_gen *g);

/*
 * Next key index in [0, n). For WL_LATEST, `newest` is the largest index
 * inserted so far (the caller's insert counter); others ignore it.
 */
uint64_t wl_next(wl_gen *g, uint64_t newest);

/* Parses "uniform", "zipfian" or "latest"; returns 0 or -1. */
int wl_parse_dist(const char *s, wl_dist *out);
const char *wl_dist_name(wl_dist d);


/*
 * YCSB operation mixes (Cooper et al., SoCC 2010, table 2): the share of
 * reads, updates, inserts and read-modify-writes in percent (summing to
 * 100), and the key distribution the workload prescribes (latest for D;
 * the others take the caller's).
 *   A 50 read / 50 update      B 95 read / 5 update     C 100 read
 *   D 95 read / 5 insert, reads latest                  F 50 read / 50 RMW
 */
typedef enum wl_op { WL_OP_READ, WL_OP_UPDATE, WL_OP_INSERT, WL_OP_RMW } wl_op;

typedef struct wl_mix {
    char name;                         /* 'a', 'b', 'c', 'd' or 'f' */
    unsigned read, update, insert, rmw; /* percent */
    int forces_latest;                 /* D: reads follow WL_LATEST */
} wl_mix;

/* Parses "a".."f" or "ycsb-a".. (case-insensitive); returns 0 or -1. */
int wl_parse_mix(const char *s, wl_mix *out);

/* The next operation of a mix, drawn from a thread-private state. */
static inline wl_op
wl_next_op(const wl_mix *m, uint64_t *state)
{
    unsigned r = (unsigned)(wl_rand(state) % 100);

    if (r < m->read)
        return WL_OP_READ;
    r -= m->read;
    if (r < m->update)
        return WL_OP_UPDATE;
    r -= m->update;
    return r < m->insert ? WL_OP_INSERT : WL_OP_RMW;
}

#ifdef __cplusplus
}
#endif

#endif /* BENCH_WORKLOAD_H */
