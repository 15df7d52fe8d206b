/*
 * tests/test_stress_engine.c - stress + check over the engine.
 *
 * On fixed seeds, the engine (engine/cask.h) over every registered keydir
 * that is not test-only yields linearizable histories while merge steps
 * run beside the operations and the store is closed and reopened twice
 * inside each run (so recovery is checked too: the history goes on across
 * the reopen). The test-only broken modes of stress/target_cask.c are
 * caught: cask-racy (cas as a separate get and put) and cask-lossy (a
 * reopen that drops the newest data file). The keydir registry is
 * iterated, so keydirs merged later are covered without editing this file.
 *
 * Seeds fix the workload, not the interleaving: a broken mode must be
 * caught on at least one of ENG_SEEDS seeds, a correct target must pass
 * on all of them. Fewer operations under the sanitizers, which slow every
 * call (the checks stay the same).
 */
#include "ds/keydir.h"
#include "stress/lincheck.h"
#include "stress/stress.h"
#include "tests/cutest.h"
#include "tests/engine_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ENG_OPS 3000
#else
#define ENG_OPS 8000
#endif
#define ENG_SEEDS 3
#define ENG_BROKEN_SEEDS 8

typedef struct eng_run {
    const char *target;
    unsigned threads;
    uint64_t keys, ops, seed;
    unsigned merge_weight, reopens;
} eng_run;

/* Runs and checks one configuration; asserts what every run must show
 * (all operations recorded, every reopen done, no merge failed). */
static lin_verdict
eng_stress_check(const eng_run *er)
{
    stress_options so = {0};
    stress_stats st;
    lin_options lo = {0};
    lin_result r;
    hist h;
    lin_verdict v;
    int rc;

    so.target = er->target;
    so.threads = er->threads;
    so.keys = er->keys;
    so.ops = er->ops;
    so.seed = er->seed;
    so.merge_weight = er->merge_weight;
    so.reopens = er->reopens;
    rc = stress_run(&so, &h, &st);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        printf("\n  %s: %s", er->target, stress_strerror(rc));
        return LIN_SKIPPED;
    }
    CU_ASSERT_EQUAL(st.ops, er->ops);
    CU_ASSERT_EQUAL(st.reopens, er->reopens);
    CU_ASSERT_EQUAL(st.merge_errors, 0);
    if (er->merge_weight > 0)
        CU_ASSERT(st.merges > 0);
    /* the header keeps the spec, cut to its field's size */
    CU_ASSERT(strncmp(h.target, er->target, HIST_META_MAX - 1) == 0);
    lo.threads = 2;
    rc = lin_check(&h, &lo, &r);
    CU_ASSERT_EQUAL(rc, 0);
    hist_free(&h);
    if (rc != 0)
        return LIN_SKIPPED;
    v = r.verdict;
    lin_result_free(&r);
    return v;
}

/* Every correct keydir under the engine, with merges and two reopens. */
static void
test_engine_every_keydir(void)
{
    size_t covered = 0;
    char target[128];

    for (size_t i = 0; kd_registered(i) != NULL; i++) {
        const kd_ops *ops = kd_registered(i);
        size_t passed = 0;

        if (ops->flags & KD_FLAG_TEST_ONLY)
            continue;
        snprintf(target, sizeof(target), "cask:%s", ops->name);
        for (uint64_t seed = 1; seed <= ENG_SEEDS; seed++) {
            eng_run er = {target, 3, 8, ENG_OPS, seed, 2, 2};
            lin_verdict v = eng_stress_check(&er);
            CU_ASSERT_EQUAL(v, LIN_LINEARIZABLE);
            passed += v == LIN_LINEARIZABLE;
        }
        printf("\n  %-20s correct: %s", target,
               passed == ENG_SEEDS ? "linearizable" : "NOT linearizable");
        covered++;
    }
    printf("\n");
    CU_ASSERT(covered >= 3);
}

/* The durable modes too (fewer operations: sync=always waits for
 * fdatasync on every write group), and a partial merge policy. */
static void
test_engine_sync_modes(void)
{
    static const char *const targets[] = {
        "cask:striped,sync=always",
        "cask:global,sync=interval:5",
        "cask:striped_rw,merge=auto,file=1024",
    };

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        eng_run er = {targets[i], 3, 8, ENG_OPS / 4, 11, 2, 1};
        lin_verdict v = eng_stress_check(&er);
        printf("\n  %-40s %s", targets[i],
               v == LIN_LINEARIZABLE ? "linearizable" : "NOT linearizable");
        CU_ASSERT_EQUAL(v, LIN_LINEARIZABLE);
    }
    printf("\n");
}

/* A broken mode is caught on one of ENG_BROKEN_SEEDS seeds. */
static void
eng_expect_caught(const char *target, unsigned merge_weight,
                  unsigned reopens)
{
    int caught = 0;
    uint64_t seed;

    for (seed = 1; seed <= ENG_BROKEN_SEEDS && !caught; seed++) {
        eng_run er = {target, 2, 4, ENG_OPS, seed, merge_weight, reopens};
        lin_verdict v = eng_stress_check(&er);
        CU_ASSERT(v == LIN_LINEARIZABLE || v == LIN_ILLEGAL);
        caught = v == LIN_ILLEGAL;
    }
    printf("\n  %-20s broken: %s (seed %llu)", target,
           caught ? "NOT linearizable (caught)" : "linearizable (missed)",
           (unsigned long long)(seed - 1));
    CU_ASSERT(caught);
}

static void
test_engine_broken_caught(void)
{
    eng_expect_caught("cask-racy:striped", 2, 1);
    eng_expect_caught("cask-lossy:striped", 0, 2);
    printf("\n");
}

/* Specs that do not name a target, or name one badly, are refused; a
 * merge step or a reopen needs an engine target. */
static void
test_engine_bad_specs(void)
{
    static const struct {
        const char *target;
        unsigned merge_weight, reopens;
        int want;
    } cases[] = {
        {"cask:no-such-keydir", 0, 0, STRESS_ENOTARGET},
        {"cask:", 0, 0, STRESS_ENOTARGET},
        {"cask:striped,sync=sometimes", 0, 0, STRESS_EINVAL},
        {"cask:striped,file=0", 0, 0, STRESS_EINVAL},
        {"cask:striped,file=12x", 0, 0, STRESS_EINVAL},
        {"cask:striped,merge=some", 0, 0, STRESS_EINVAL},
        {"cask:striped,dir=", 0, 0, STRESS_EINVAL},
        {"cask:striped,colour=blue", 0, 0, STRESS_EINVAL},
        {"striped", 1, 0, STRESS_EINVAL},
        {"kd:striped", 0, 1, STRESS_EINVAL},
    };
    hist h;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        stress_options so = {0};
        so.target = cases[i].target;
        so.ops = 10;
        so.merge_weight = cases[i].merge_weight;
        so.reopens = cases[i].reopens;
        CU_ASSERT_EQUAL(stress_run(&so, &h, NULL), cases[i].want);
    }
}

/* dir= uses the given directory and keeps it, data files included (the
 * temporary directory of every other run is removed at close). */
static void
test_engine_dir_kept(void)
{
    char *dir = eu_tmpdir("stress-dir");
    char target[4200];
    struct stat sb;
    eng_run er = {target, 2, 4, 400, 5, 1, 1};
    size_t files = 0;
    DIR *d;
    struct dirent *de;

    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    snprintf(target, sizeof(target), "cask:global,dir=%s", dir);
    CU_ASSERT_EQUAL(eng_stress_check(&er), LIN_LINEARIZABLE);
    CU_ASSERT_EQUAL(stat(dir, &sb), 0);
    d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    while ((de = readdir(d)) != NULL)
        files += strstr(de->d_name, ".data") != NULL;
    closedir(d);
    CU_ASSERT(files > 0);
    eu_rmdir(dir);
    free(dir);
}

/* Duration mode: the reopen boundaries are shares of the run time, and
 * every thread still meets at each of them. */
static void
test_engine_duration_reopens(void)
{
    stress_options so = {0};
    stress_stats st;
    lin_options lo = {0};
    lin_result r;
    hist h;

    so.target = "cask:striped";
    so.threads = 3;
    so.keys = 8;
    so.duration_s = 0.3;
    so.merge_weight = 1;
    so.reopens = 3;
    CU_ASSERT_EQUAL_FATAL(stress_run(&so, &h, &st), 0);
    CU_ASSERT_EQUAL(st.reopens, 3);
    CU_ASSERT(st.ops > 0);
    CU_ASSERT_EQUAL_FATAL(lin_check(&h, &lo, &r), 0);
    CU_ASSERT_EQUAL(r.verdict, LIN_LINEARIZABLE);
    lin_result_free(&r);
    hist_free(&h);
}

/* Fewer operations than threads: one thread per operation, not threads
 * with nothing to do that would run until a deadline. */
static void
test_engine_ops_below_threads(void)
{
    stress_options so = {0};
    stress_stats st;
    hist h;

    so.target = "cask:global";
    so.threads = 4;
    so.ops = 2;
    so.reopens = 1;
    CU_ASSERT_EQUAL_FATAL(stress_run(&so, &h, &st), 0);
    CU_ASSERT_EQUAL(st.ops, 2);
    CU_ASSERT_EQUAL(h.threads, 2);
    CU_ASSERT_EQUAL(st.reopens, 1);
    hist_free(&h);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_engine_every_keydir),
        CT_CASE(test_engine_sync_modes),
        CT_CASE(test_engine_broken_caught),
        CT_CASE(test_engine_bad_specs),
        CT_CASE(test_engine_dir_kept),
        CT_CASE(test_engine_duration_reopens),
        CT_CASE(test_engine_ops_below_threads),
    };

    return ct_run("stress-engine", cases, CT_NCASES(cases)) != 0;
}
