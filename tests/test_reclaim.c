/*
 * tests/test_reclaim.c - sync/reclaim.h: objects are freed, never early,
 * and a stalled reader is measured (pending bytes and lag grow and are
 * reported) rather than silently holding memory.
 *
 * "Never early" is checked with a canary: a reader thread inside a critical
 * section holds a pointer to an object retired meanwhile; the free callback
 * poisons the object, and the reader, before leaving, checks it is intact.
 */
#include "sync/reclaim.h"
#include "tests/cutest.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic uint64_t freed_count;

static void
obj_free(void *p)
{
    memset(p, 0xdd, sizeof(uint64_t));
    free(p);
    atomic_fetch_add(&freed_count, 1);
}

static uint64_t *
obj_new(uint64_t v)
{
    uint64_t *p = malloc(sizeof(*p));
    CU_ASSERT_FATAL(p != NULL);
    *p = v;
    return p;
}

static void
check_scheme_names(void)
{
    sync_reclaim *d = NULL;

    CU_ASSERT_EQUAL(sync_reclaim_create("bogus", &d), SYNC_ESCHEME);
    CU_ASSERT_STRING_EQUAL(sync_reclaim_strerror(SYNC_ESCHEME),
                           "no reclamation scheme of that name");
    CU_ASSERT_EQUAL(sync_reclaim_create(NULL, &d), SYNC_OK);
    CU_ASSERT_STRING_EQUAL(sync_reclaim_scheme(d), "qsbr");
    sync_reclaim_destroy(d);
    CU_ASSERT_EQUAL(sync_reclaim_create("epoch", &d), SYNC_OK);
    CU_ASSERT_STRING_EQUAL(sync_reclaim_scheme(d), "epoch");
    sync_reclaim_destroy(d);
}

/* One thread retiring alone: memory is freed as it goes, bounded. */
static void
run_frees_progress(const char *scheme)
{
    sync_reclaim *d = NULL;
    sync_reclaim_stats st;

    CU_ASSERT_FATAL(sync_reclaim_create(scheme, &d) == SYNC_OK);
    atomic_store(&freed_count, 0);
    sync_reclaim_register(d);
    for (int i = 0; i < 10000; i++) {
        sync_reclaim_enter(d);
        sync_reclaim_retire(d, obj_new((uint64_t)i), 8, obj_free);
        sync_reclaim_exit(d);
        sync_reclaim_quiescent(d);
    }
    sync_reclaim_stats_get(d, &st);
    CU_ASSERT(st.freed_objects > 9000);
    CU_ASSERT(st.pending_objects < 1000);
    CU_ASSERT_EQUAL(st.pending_bytes, st.pending_objects * 8);
    CU_ASSERT(st.max_lag <= 1); /* qsbr: announced, then advanced once */
    sync_reclaim_unregister(d);
    sync_reclaim_destroy(d);
    CU_ASSERT_EQUAL(atomic_load(&freed_count), 10000);
}

static void
test_frees_progress(void)
{
    check_scheme_names();
    run_frees_progress("epoch");
    run_frees_progress("qsbr");
}

struct stall {
    sync_reclaim *d;
    _Atomic(uint64_t *) shared;
    _Atomic int phase; /* 1: reader holds its pointer; 2: reader may go */
    _Atomic int intact;
};

static void *
stalled_reader(void *p)
{
    struct stall *s = p;

    sync_reclaim_register(s->d);
    sync_reclaim_enter(s->d);
    uint64_t *held = atomic_load(&s->shared);
    atomic_store(&s->phase, 1);
    while (atomic_load(&s->phase) != 2)
        sched_yield();
    atomic_store(&s->intact, *held == 42);
    sync_reclaim_exit(s->d);
    sync_reclaim_unregister(s->d);
    return NULL;
}

/* A reader stuck in its section: nothing is freed early, the pending bytes
 * and the lag grow and are reported; once it leaves, memory drains. */
static void
test_stalled_reader_measured(void)
{
    struct stall s = {0};
    pthread_t th;
    sync_reclaim_stats st;
    enum { N = 5000 };

    CU_ASSERT_FATAL(sync_reclaim_create("epoch", &s.d) == SYNC_OK);
    atomic_store(&s.shared, obj_new(42));
    sync_reclaim_register(s.d);
    CU_ASSERT_FATAL(pthread_create(&th, NULL, stalled_reader, &s) == 0);
    while (atomic_load(&s.phase) != 1)
        sched_yield();
    /* Unlink the object the reader holds, then churn. */
    sync_reclaim_enter(s.d);
    uint64_t *old = atomic_exchange(&s.shared, obj_new(7));
    sync_reclaim_retire(s.d, old, 8, obj_free);
    sync_reclaim_exit(s.d);
    for (int i = 0; i < N; i++) {
        sync_reclaim_enter(s.d);
        sync_reclaim_retire(s.d, obj_new(1), 8, obj_free);
        sync_reclaim_exit(s.d);
    }
    sync_reclaim_stats_get(s.d, &st);
    CU_ASSERT(st.pending_objects >= N); /* nothing could be freed... */
    CU_ASSERT(st.pending_bytes >= (uint64_t)N * 8);
    CU_ASSERT(st.refused_advances > 0); /* ...and it says why */
    CU_ASSERT(st.max_lag >= 1);
    atomic_store(&s.phase, 2);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(atomic_load(&s.intact), 1);
    for (int i = 0; i < 4 * 64; i++) {
        sync_reclaim_enter(s.d);
        sync_reclaim_retire(s.d, obj_new(1), 8, obj_free);
        sync_reclaim_exit(s.d);
        sync_reclaim_quiescent(s.d);
    }
    sync_reclaim_stats_get(s.d, &st);
    CU_ASSERT(st.pending_objects < 200);
    CU_ASSERT_EQUAL(st.max_lag, 0);
    sync_reclaim_unregister(s.d);
    free(atomic_load(&s.shared));
    sync_reclaim_destroy(s.d);
}

/* A thread whose operations alternate between two "qsbr" domains: each
 * exit moves its domain to the first way of the thread's cache, and each
 * domain must still count its exits and announce (no explicit quiescent
 * call here), so both free what they retired. */
static void
test_alternating_domains_announce(void)
{
    sync_reclaim *d[2] = {NULL, NULL};
    sync_reclaim_stats st;
    enum { N = 20000 };

    for (int k = 0; k < 2; k++) {
        CU_ASSERT_FATAL(sync_reclaim_create("qsbr", &d[k]) == SYNC_OK);
        sync_reclaim_register(d[k]);
    }
    for (int i = 0; i < N; i++) {
        sync_reclaim *x = d[i & 1];
        sync_reclaim_enter(x);
        sync_reclaim_retire(x, obj_new((uint64_t)i), 8, obj_free);
        sync_reclaim_exit(x);
    }
    for (int k = 0; k < 2; k++) {
        sync_reclaim_stats_get(d[k], &st);
        CU_ASSERT(st.freed_objects > N / 2 - 4 * SYNC_QSBR_EVERY);
        CU_ASSERT(st.pending_objects < 4 * SYNC_QSBR_EVERY);
        sync_reclaim_unregister(d[k]);
        sync_reclaim_destroy(d[k]);
    }
}

/* Whether "epoch" uses asymmetric fences is reported, and is what the
 * kernel allows: membarrier(2) with private expedited barriers, outside
 * ThreadSanitizer. "qsbr" never does (it has no entry fence). */
static void
test_asymmetric_reported(void)
{
    sync_reclaim *d = NULL;
    sync_reclaim_stats st;
    uint64_t expect = 0;

#if !defined(__SANITIZE_THREAD__) && defined(SYS_membarrier)
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    expect = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) ? 1 : 0;
#endif
    printf("\n  epoch entry fence here: %s\n",
           expect ? "compiler barrier (membarrier on retire/advance)"
                  : "full fence");
    CU_ASSERT_FATAL(sync_reclaim_create("epoch", &d) == SYNC_OK);
    sync_reclaim_stats_get(d, &st);
    CU_ASSERT_EQUAL(st.asymmetric, expect);
    sync_reclaim_destroy(d);
    CU_ASSERT_FATAL(sync_reclaim_create("qsbr", &d) == SYNC_OK);
    sync_reclaim_stats_get(d, &st);
    CU_ASSERT_EQUAL(st.asymmetric, 0);
    sync_reclaim_destroy(d);
}

static const ct_case cases[] = {
    CT_CASE(test_frees_progress),
    CT_CASE(test_stalled_reader_measured),
    CT_CASE(test_alternating_domains_announce),
    CT_CASE(test_asymmetric_reported),
};

int
main(void)
{
    return ct_run("sync reclaim", cases, CT_NCASES(cases)) != 0;
}
