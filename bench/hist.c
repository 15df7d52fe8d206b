/*
 * bench/hist.c - log-bucketed latency histograms (see bench/hist.h).
 *
 * Bucket layout: for v < SUB the index is v. Otherwise let m be the index of
 * v's highest set bit and s = m - SUB_BITS: v >> s lies in [SUB, 2*SUB), and
 * the index is (s + 1) * SUB + (v >> s) - SUB. Indexes grow with v, so a
 * percentile is a walk over the array in index order.
 */
#include "bench/hist.h"

#include <math.h>
#include <string.h>

void
bench_hist_reset(bench_hist *h)
{
    memset(h, 0, sizeof(*h));
}

unsigned
bench_hist_index(uint64_t v)
{
    if (v < BENCH_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - BENCH_HIST_SUB_BITS;
    return (shift + 1) * BENCH_HIST_SUB +
           (unsigned)((v >> shift) - BENCH_HIST_SUB);
}

void
bench_hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi)
{
    if (i < BENCH_HIST_SUB) {
        *lo = *hi = i;
        return;
    }
    unsigned shift = i / BENCH_HIST_SUB - 1;
    uint64_t m = i % BENCH_HIST_SUB + BENCH_HIST_SUB;
    *lo = m << shift;
    /* The top bucket ends at UINT64_MAX; computing (m+1)<<shift overflows. */
    *hi = m == 2 * BENCH_HIST_SUB - 1 && shift == 63 - BENCH_HIST_SUB_BITS
              ? UINT64_MAX
              : ((m + 1) << shift) - 1;
}

void
bench_hist_merge(bench_hist *dst, const bench_hist *src)
{
    if (src->count == 0)
        return;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
}

uint64_t
bench_hist_percentile(const bench_hist *h, double p)
{
    uint64_t rank, seen = 0, lo, hi;

    if (h->count == 0)
        return 0;
    if (p <= 0)
        return h->min;
    if (p >= 100)
        return h->max;
    rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            bench_hist_bucket_range(i, &lo, &hi);
            return hi < h->max ? hi : h->max;
        }
    }
    return h->max;
}

double
bench_hist_mean(const bench_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
