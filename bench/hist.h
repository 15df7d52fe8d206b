/*
 * bench/hist.h - latency histograms: log-bucketed, HdrHistogram-style.
 *
 * Values (nanoseconds, or any non-negative integer) fall into buckets whose
 * width grows with the value: below 2^BENCH_HIST_SUB_BITS every value has its
 * own bucket; above, each power-of-two range is cut into 2^SUB_BITS equal
 * buckets. A recorded value is thus known to within 1/2^SUB_BITS of itself
 * (1.6% with 6 bits) over the whole 64-bit range, in a fixed 30 KB array,
 * without allocation on the recording path (Tene's HdrHistogram uses the same
 * layout). Percentiles report the highest value of the bucket they fall in,
 * so they never understate a latency.
 *
 * Threads: a histogram is not shared. Each worker records into its own and
 * the runner merges them afterwards with bench_hist_merge (exact: merging is
 * adding counts bucket by bucket).
 *
 * This header compiles as C and as C++.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_HIST_SUB_BITS 6
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
/* Shifts 0..63-SUB_BITS, plus the exact range below SUB. */
#define BENCH_HIST_BUCKETS ((64 - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB)

typedef struct bench_hist {
    uint64_t count;
    uint64_t min, max;
    double sum;
    uint64_t buckets[BENCH_HIST_BUCKETS];
} bench_hist;

/* Empties h. */
void bench_hist_reset(bench_hist *h);

/* The bucket index of value v, and the range [lo, hi] of bucket i. */
unsigned bench_hist_index(uint64_t v);
void bench_hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi);

/* Records one value: O(1), no allocation. */
static inline void
bench_hist_record(bench_hist *h, uint64_t v)
{
    h->buckets[bench_hist_index(v)]++;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double)v;
}

/* Adds src's counts into dst. */
void bench_hist_merge(bench_hist *dst, const bench_hist *src);

/*
 * The value at percentile p (0..100): the highest value of the bucket holding
 * the ceil(p/100 * count)-th smallest value, capped by the exact maximum.
 * 0 for an empty histogram; p = 0 gives the exact minimum.
 */
uint64_t bench_hist_percentile(const bench_hist *h, double p);

/* Mean of the recorded values (exact), 0 when empty. */
double bench_hist_mean(const bench_hist *h);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_HIST_H */
