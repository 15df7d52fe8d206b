/*
 * tests/test_stress.c - stress + check over every registered keydir.
 *
 * The harness's proof of usefulness: on fixed seeds, every correct keydir
 * yields linearizable histories, and every test-only broken keydir
 * (KD_FLAG_TEST_ONLY, ds/broken_kd.c) is caught. The registry is iterated,
 * so keydirs merged later are covered without editing this file.
 *
 * Seeds fix the workload, not the thread interleaving, so a broken keydir
 * must be caught on at least one of STRESS_BROKEN_SEEDS seeds (in practice
 * the first); a correct one must pass on all STRESS_SEEDS of them. Also checks that the
 * recorded history is well-formed: unique ids, ordered timestamps, unique
 * written values, and that it survives a write/parse round trip.
 */
#include "ds/keydir.h"
#include "stress/lincheck.h"
#include "stress/stress.h"
#include "tests/cutest.h"

#include <stdlib.h>
#include <string.h>

#define STRESS_SEEDS 5
/* A broken keydir gets more seeds: scheduling, not the seed, decides
 * whether two threads meet inside its window, and CI runs loaded. */
#define STRESS_BROKEN_SEEDS 25
#define STRESS_OPS 20000

static lin_verdict
stress_and_check(const char *kd, uint64_t seed, hist *keep)
{
    stress_options so = {0};
    stress_stats st;
    lin_options lo = {0};
    lin_result r;
    hist h;
    lin_verdict v;

    so.target = kd;
    so.threads = 2;
    so.keys = 4;
    so.ops = STRESS_OPS;
    so.seed = seed;
    if (stress_run(&so, &h, &st) != 0)
        return LIN_SKIPPED;
    CU_ASSERT_EQUAL(st.ops, STRESS_OPS);
    lo.threads = 2;
    if (lin_check(&h, &lo, &r) != 0) {
        hist_free(&h);
        return LIN_SKIPPED;
    }
    v = r.verdict;
    lin_result_free(&r);
    if (keep != NULL)
        *keep = h;
    else
        hist_free(&h);
    return v;
}

static void
test_every_keydir(void)
{
    size_t correct = 0, broken = 0;

    for (size_t i = 0; kd_registered(i) != NULL; i++) {
        const kd_ops *ops = kd_registered(i);
        int is_broken = (ops->flags & KD_FLAG_TEST_ONLY) != 0;
        int flagged = 0, passed = 0;

        uint64_t seeds = is_broken ? STRESS_BROKEN_SEEDS : STRESS_SEEDS;
        for (uint64_t seed = 1; seed <= seeds; seed++) {
            lin_verdict v = stress_and_check(ops->name, seed, NULL);
            CU_ASSERT(v == LIN_LINEARIZABLE || v == LIN_ILLEGAL);
            flagged += v == LIN_ILLEGAL;
            passed += v == LIN_LINEARIZABLE;
            if (is_broken && flagged)
                break; /* caught: no need for more seeds */
        }
        printf("\n  %-12s %s: %s", ops->name, is_broken ? "broken " : "correct",
               flagged ? "NOT linearizable (caught)" : "linearizable");
        if (is_broken) {
            CU_ASSERT(flagged > 0);
            broken++;
        } else {
            CU_ASSERT_EQUAL(passed, STRESS_SEEDS);
            correct++;
        }
    }
    printf("\n");
    CU_ASSERT(correct >= 3);
    CU_ASSERT(broken >= 2);
}

static void
test_history_well_formed(void)
{
    hist h, h2;
    char *buf = NULL;
    size_t len = 0;

    CU_ASSERT_EQUAL_FATAL(stress_and_check("striped", 7, &h), LIN_LINEARIZABLE);
    CU_ASSERT_EQUAL(h.nops, STRESS_OPS);
    CU_ASSERT_STRING_EQUAL(h.target, "striped");
    uint32_t *writes = calloc(hist_nvalues(&h) + 1, sizeof(uint32_t));
    CU_ASSERT_PTR_NOT_NULL_FATAL(writes);
    for (size_t i = 0; i < h.nops; i++) {
        const hist_op *o = &h.ops[i];
        CU_ASSERT(o->ret >= o->call);
        CU_ASSERT_EQUAL(o->id, i);
        if (i > 0)
            CU_ASSERT(o->call >= h.ops[i - 1].call);
        uint32_t w = o->fn == HIST_PUT ? o->arg1 : o->fn == HIST_CAS ? o->arg2
                                                                     : 0;
        if (w != 0)
            CU_ASSERT_EQUAL(writes[w]++, 0); /* each value written once */
    }
    free(writes);
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_EQUAL(hist_write(&h, f), 0);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(hist_parse(&h2, buf, len, NULL), 0);
    CU_ASSERT_EQUAL(h2.nops, h.nops);
    CU_ASSERT_EQUAL(h2.threads, 2);
    hist_free(&h2);
    hist_free(&h);
    free(buf);
}

static void
test_unknown_target(void)
{
    stress_options so = {0};
    hist h;

    so.target = "no-such-keydir";
    so.ops = 10;
    CU_ASSERT_EQUAL(stress_run(&so, &h, NULL), STRESS_ENOTARGET);
    so.target = "nosuchscheme:x";
    CU_ASSERT_EQUAL(stress_run(&so, &h, NULL), STRESS_ENOTARGET);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_every_keydir),
        CT_CASE(test_history_well_formed),
        CT_CASE(test_unknown_target),
    };

    return ct_run("stress", cases, CT_NCASES(cases)) != 0;
}
