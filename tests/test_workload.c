/*
 * tests/test_workload.c - the shared key generators, checked statistically
 * on fixed seeds (deterministic: the same seed always gives the same keys,
 * so these bounds are not flaky).
 */
#include "bench/workload.h"
#include "tests/cutest.h"

#include <math.h>
#include <stdlib.h>

enum { SAMPLES = 200000 };

static void
test_uniform_flat(void)
{
    wl_gen g;
    uint64_t counts[10] = {0};

    wl_init(&g, WL_UNIFORM, 10, 0, 1);
    for (int i = 0; i < SAMPLES; i++) {
        uint64_t k = wl_next(&g, 0);
        CU_ASSERT_FATAL(k < 10);
        counts[k]++;
    }
    for (int k = 0; k < 10; k++) {
        CU_ASSERT(counts[k] > SAMPLES / 10 * 95 / 100);
        CU_ASSERT(counts[k] < SAMPLES / 10 * 105 / 100);
    }
}

static void
test_zipfian_skew(void)
{
    enum { N = 1000 };
    wl_gen g;
    uint64_t *ranks = calloc(N, sizeof(*ranks));
    double zeta = 0;

    CU_ASSERT_FATAL(ranks != NULL);
    wl_init(&g, WL_ZIPFIAN, N, 0.99, 7);
    for (int i = 0; i < SAMPLES; i++) {
        uint64_t r = wl_zipf_rank(&g);
        CU_ASSERT_FATAL(r < N);
        ranks[r]++;
    }
    for (int i = 1; i <= N; i++)
        zeta += 1.0 / pow(i, 0.99);
    /* P(rank 0) = 1/zeta(n) exactly in Gray's sampler; allow 3%. */
    double p0 = (double)ranks[0] / SAMPLES, want = 1.0 / zeta;
    CU_ASSERT(fabs(p0 - want) < want * 0.03);
    CU_ASSERT(ranks[0] > ranks[1]);
    CU_ASSERT(ranks[1] > ranks[10]);
    CU_ASSERT(ranks[10] > ranks[500]);
    free(ranks);
}

static void
test_zipfian_keys_scattered_and_deterministic(void)
{
    wl_gen a, b;
    uint64_t diff = 0, zeros = 0;

    wl_init(&a, WL_ZIPFIAN, 1000000, 0.99, 3);
    b = a;
    for (int i = 0; i < 1000; i++) {
        uint64_t ka = wl_next(&a, 0), kb = wl_next(&b, 0);
        diff += ka != kb;
        zeros += ka == 0;
    }
    CU_ASSERT_EQUAL(diff, 0);   /* same seed, same stream */
    CU_ASSERT(zeros < 100);     /* the hottest key is not key 0 */
    wl_reseed(&b, 99);
    for (int i = 0; i < 1000; i++)
        diff += wl_next(&a, 0) != wl_next(&b, 0);
    CU_ASSERT(diff > 500);
}

static void
test_latest_prefers_newest(void)
{
    wl_gen g;
    uint64_t newest_hits = 0, out_of_range = 0;

    wl_init(&g, WL_LATEST, 100000, 0.99, 11);
    for (int i = 0; i < SAMPLES; i++) {
        uint64_t k = wl_next(&g, 5000);
        out_of_range += k > 5000;
        newest_hits += k == 5000;
    }
    CU_ASSERT_EQUAL(out_of_range, 0);
    CU_ASSERT(newest_hits > SAMPLES / 20);
}

static void
test_parse_names(void)
{
    wl_dist d;

    CU_ASSERT_EQUAL(wl_parse_dist("zipfian", &d), 0);
    CU_ASSERT_EQUAL(d, WL_ZIPFIAN);
    CU_ASSERT_EQUAL(wl_parse_dist("latest", &d), 0);
    CU_ASSERT_EQUAL(d, WL_LATEST);
    CU_ASSERT_EQUAL(wl_parse_dist("zipf", &d), -1);
    CU_ASSERT_STRING_EQUAL(wl_dist_name(WL_UNIFORM), "uniform");
}

/* Each YCSB mix's shares on a fixed seed, within 1 point of the spec. */
static void
test_mix_proportions(void)
{
    const char *names[] = {"a", "B", "ycsb-c", "d", "f"};
    const unsigned want[5][4] = {{50, 50, 0, 0}, {95, 5, 0, 0},
                                 {100, 0, 0, 0}, {95, 0, 5, 0},
                                 {50, 0, 0, 50}};

    for (int m = 0; m < 5; m++) {
        wl_mix mix;
        uint64_t rng = wl_mix64(1234 + m), got[4] = {0};
        CU_ASSERT_EQUAL_FATAL(wl_parse_mix(names[m], &mix), 0);
        for (int i = 0; i < SAMPLES; i++)
            got[wl_next_op(&mix, &rng)]++;
        for (int op = 0; op < 4; op++) {
            double pct = 100.0 * (double)got[op] / SAMPLES;
            CU_ASSERT(fabs(pct - want[m][op]) < 1.0);
            if (want[m][op] == 0)
                CU_ASSERT_EQUAL(got[op], 0);
        }
    }
}

static void
test_mix_names(void)
{
    wl_mix mix;

    CU_ASSERT_EQUAL(wl_parse_mix("d", &mix), 0);
    CU_ASSERT(mix.forces_latest);
    CU_ASSERT_EQUAL(wl_parse_mix("ycsb-f", &mix), 0);
    CU_ASSERT_EQUAL(mix.rmw, 50);
    CU_ASSERT_EQUAL(wl_parse_mix("e", &mix), -1); /* scans: not supported */
    CU_ASSERT_EQUAL(wl_parse_mix("", &mix), -1);
    CU_ASSERT_EQUAL(wl_parse_mix("aa", &mix), -1);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_uniform_flat),
        CT_CASE(test_zipfian_skew),
        CT_CASE(test_zipfian_keys_scattered_and_deterministic),
        CT_CASE(test_latest_prefers_newest),
        CT_CASE(test_parse_names),
        CT_CASE(test_mix_proportions),
        CT_CASE(test_mix_names),
    };
    return ct_run("workload generators", cases, CT_NCASES(cases)) != 0;
}
