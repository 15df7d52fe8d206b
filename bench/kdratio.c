/*
 * bench/kdratio.c - `make bench-keydirs`: the side-by-side keydir table of
 * issue 4's "Performance to reach", measured in one run.
 *
 * For each keydir (ours, the peers, the mutex baseline), on N 8-byte keys
 * (default 1M) drawn uniformly with bench/workload.h:
 *   fill     T threads insert N keys from the smallest start (no capacity
 *            hint, except the pre-sized urcu_lfht); best of `reps` runs;
 *   stall    one more fill run times every put: the worst wall-clock
 *            latency of any thread (which on a shared machine includes
 *            being descheduled) and the worst thread-CPU time of one put
 *            (the work a resize makes that put do; a put blocked on a lock
 *            shows as wall time only);
 *   B/key    kd_memory after the fill, divided by N;
 *   stuck    every fill is checked for a table that stopped growing
 *            (kr_stuck: urcu_lfht_grow's lost resizes); the measured
 *            fill is redone while it is, and the table says how many were;
 *   read     100% get hits for a fixed time, at 1 and 2 threads;
 *   50/50    half gets, half puts replacing existing keys, at 1 and 2
 *            (1 thread: operations per second of its CPU time; 2 threads:
 *            per second of wall time; see kr_parallel).
 * It also measures, in the same rounds, an "ideal" row: a plain
 * open-addressing table without atomics (8-byte keys inline, same hash,
 * same key stream, on huge pages like lockfree's slots and records), read
 * by 1 and 2 threads; its read T2/T1 is the machine's scaling ceiling (two
 * threads that share nothing written). It prints every target of the
 * issue with the measured ratio and "met" or "NOT met", and ends with the stalled-reader measurement
 * (kr_stalled_reader). Timings on a shared 2-core machine are noisy: see
 * kr_measure_all for how the run copes.
 *
 * Usage: kdratio [--keys N] [--seconds S] [--reps R] [--only NAME[,NAME]]
 * Exit: 0 (printing the table is the result), 1 out of memory, 64 usage.
 */
#include "bench/workload.h"
#include "ds/keydir.h"
#include "sync/clock.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KR_MAX_THREADS 2u
#define KR_MAX_KEYDIRS 16u

typedef struct kr_cfg {
    uint64_t keys;
    double seconds;
    unsigned reps;
    const char *only;
} kr_cfg;

typedef struct kr_row {
    const char *name;   /* as printed */
    const char *kdname; /* as opened (NULL: name) */
    const char *flavor; /* kd_options.flavor (NULL: the default) */
    double fill_s, stall_wall_ms, stall_cpu_ms, bytes_per_key;
    uint64_t errors; /* operations that returned an unexpected code */
    double read[KR_MAX_THREADS + 1], mixed[KR_MAX_THREADS + 1]; /* Mops */
    unsigned fills, stuck; /* fills made, and those left stuck (kr_stuck) */
    int measured_stuck;    /* the measured fill is one of them */
} kr_row;

typedef struct kr_job {
    kd_keydir *kd;
    uint64_t keys, lo, hi; /* fill: this thread's key range */
    int mixed;             /* 50/50 instead of 100% reads */
    int timed;             /* fill: time every put (wall and CPU) */
    unsigned id;
    _Atomic int *stop;
    uint64_t ops, cpu_ns, worst_ns, worst_cpu_ns, errors;
} kr_job;

static void
kr_key(uint64_t i, unsigned char k[8])
{
    memcpy(k, &i, 8);
}

static uint64_t
kr_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
kr_fill_one(kr_job *j, uint64_t i)
{
    unsigned char k[8];
    kd_entry e = {1, 100, i * 128, i + 1};

    kr_key(i, k);
    if (kd_put(j->kd, k, 8, &e, NULL) != KD_INSERTED)
        j->errors++;
}

static void *
kr_fill_thread(void *p)
{
    kr_job *j = p;

    kd_thread_register(j->kd);
    for (uint64_t i = j->lo; i < j->hi; i++) {
        if (j->timed) {
            uint64_t t0 = sync_now_ns(), c0 = kr_cpu_ns();
            kr_fill_one(j, i);
            uint64_t dc = kr_cpu_ns() - c0, dt = sync_now_ns() - t0;
            j->worst_ns = dt > j->worst_ns ? dt : j->worst_ns;
            j->worst_cpu_ns = dc > j->worst_cpu_ns ? dc : j->worst_cpu_ns;
        } else {
            kr_fill_one(j, i);
        }
        if ((i & 255) == 0)
            kd_quiescent(j->kd);
    }
    kd_thread_unregister(j->kd);
    return NULL;
}

/* Counts go to locals and reach the job at the end: the two threads'
 * jobs share cache lines, and a store per operation (which the call
 * through the keydir's table forces when the count lives in the job)
 * would bounce those lines between the cores and cap every keydir's
 * scaling. */
static void *
kr_run_thread(void *p)
{
    kr_job *j = p;
    wl_gen g;
    unsigned char k[8];
    uint64_t n = 0, errors = 0, seq = (uint64_t)j->id << 40;

    wl_init(&g, WL_UNIFORM, j->keys, 0.99, 42 + j->id);
    kd_thread_register(j->kd);
    uint64_t c0 = kr_cpu_ns();
    while (!atomic_load_explicit(j->stop, memory_order_relaxed)) {
        for (int b = 0; b < 256; b++, n++) {
            uint64_t i = wl_next(&g, 0);
            kd_entry e;
            kr_key(i, k);
            if (j->mixed && (n & 1)) {
                e = (kd_entry){2, 100, i * 128, ++seq};
                errors += kd_put(j->kd, k, 8, &e, NULL) != KD_REPLACED;
            } else {
                errors += kd_get(j->kd, k, 8, &e) != KD_OK;
            }
        }
        kd_quiescent(j->kd);
    }
    j->cpu_ns = kr_cpu_ns() - c0;
    j->ops = n;
    j->errors += errors;
    kd_thread_unregister(j->kd);
    return NULL;
}

/*
 * Runs fn on T threads; returns wall seconds (fill) or Mops (timed). A
 * timed cell of one thread counts that thread's CPU time, not wall time:
 * on a shared machine a thread descheduled for part of the cell would
 * otherwise report the other load, not the keydir (the ideal row is
 * counted the same way). Cells of two threads count wall time, since two
 * threads taking turns on one core must not pass for scaling.
 */
static double
kr_parallel(kr_job *jobs, unsigned t, void *(*fn)(void *), double seconds)
{
    pthread_t th[KR_MAX_THREADS];
    _Atomic int stop = 0;
    uint64_t t0 = sync_now_ns(), ops = 0;

    for (unsigned i = 0; i < t; i++) {
        jobs[i].stop = &stop;
        pthread_create(&th[i], NULL, fn, &jobs[i]);
    }
    if (seconds > 0) {
        usleep((useconds_t)(seconds * 1e6));
        atomic_store(&stop, 1);
    }
    for (unsigned i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        ops += jobs[i].ops;
    }
    double wall = (double)(sync_now_ns() - t0) / 1e9;
    if (seconds <= 0)
        return wall;
    if (t == 1 && jobs[0].cpu_ns > 0)
        wall = (double)jobs[0].cpu_ns / 1e9;
    return (double)ops / wall / 1e6;
}

/* One timed cell: 100% reads or 50/50 at t threads; returns Mops. */
static double
kr_cell(kd_keydir *kd, const kr_cfg *c, unsigned t, int mixed, unsigned rep,
        uint64_t *errors)
{
    kr_job jobs[KR_MAX_THREADS] = {0};

    for (unsigned i = 0; i < t; i++)
        jobs[i] = (kr_job){.kd = kd, .keys = c->keys, .mixed = mixed,
                           .id = i + rep * KR_MAX_THREADS};
    double mops = kr_parallel(jobs, t, kr_run_thread, c->seconds);
    for (unsigned i = 0; i < t; i++)
        *errors += jobs[i].errors;
    return mops;
}

/* Opens `name` and fills it from the smallest start with KR_MAX_THREADS
 * threads. Untimed runs give the fill time; a timed run the stalls. */
static kd_keydir *
kr_fill(const kr_cfg *c, kr_row *row, int timed)
{
    const char *name = row->kdname != NULL ? row->kdname : row->name;
    kd_options opt = {.flavor = row->flavor};
    kd_keydir *kd;
    kr_job jobs[KR_MAX_THREADS] = {0};

    if (strcmp(name, "urcu_lfht") == 0)
        opt.capacity_hint = c->keys; /* the pre-sized peer */
    if (kd_open(name, &opt, &kd) != KD_OK)
        return NULL;
    for (unsigned i = 0; i < KR_MAX_THREADS; i++)
        jobs[i] = (kr_job){.kd = kd, .lo = c->keys * i / KR_MAX_THREADS,
                           .hi = c->keys * (i + 1) / KR_MAX_THREADS,
                           .timed = timed};
    double s = kr_parallel(jobs, KR_MAX_THREADS, kr_fill_thread, 0);
    if (!timed && (row->fill_s == 0 || s < row->fill_s))
        row->fill_s = s;
    for (unsigned i = 0; i < KR_MAX_THREADS; i++) {
        if (jobs[i].worst_ns / 1e6 > row->stall_wall_ms)
            row->stall_wall_ms = jobs[i].worst_ns / 1e6;
        if (jobs[i].worst_cpu_ns / 1e6 > row->stall_cpu_ms)
            row->stall_cpu_ms = jobs[i].worst_cpu_ns / 1e6;
        row->errors += jobs[i].errors;
    }
    row->bytes_per_key = (double)kd_memory(kd) / (double)c->keys;
    return kd;
}

/*
 * Whether a filled keydir's lookups cost more than KR_STUCK_NS each in
 * the best of KR_STUCK_BATCHES small batches: a hash table that stopped
 * growing far below its keys, so that every get walks a chain of
 * hundreds. Healthy keydirs here take well under 1 us per lookup, and the
 * best batch of ten ignores a descheduled one.
 *
 * This is how `urcu_lfht_grow` fails at random (ds/peer_lfht.c, "Lost
 * resizes"): liburcu's lazy resize can lose its launch and never grow the
 * table again. Such a fill is counted and the keydir filled again, so that
 * the peer is measured as it behaves when the race does not strike.
 */
#define KR_STUCK_NS 20000u
#define KR_STUCK_BATCHES 10u
#define KR_STUCK_LOOKUPS 100u
#define KR_REFILLS 5u /* extra fills at most for a stuck measured fill */

static int
kr_stuck(kd_keydir *kd, const kr_cfg *c)
{
    uint64_t best = UINT64_MAX, x = 88172645463325252ull;
    unsigned char k[8];
    kd_entry e;

    kd_thread_register(kd);
    for (unsigned b = 0; b < KR_STUCK_BATCHES; b++) {
        uint64_t t0 = sync_now_ns();
        for (unsigned i = 0; i < KR_STUCK_LOOKUPS; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            kr_key(x % c->keys, k);
            (void)kd_get(kd, k, 8, &e);
        }
        uint64_t dt = sync_now_ns() - t0;
        best = dt < best ? dt : best;
        kd_quiescent(kd);
    }
    kd_thread_unregister(kd);
    return best / KR_STUCK_LOOKUPS > KR_STUCK_NS;
}

/* ---- The "ideal": plain open addressing, no atomics ---------------- */

typedef struct kr_slot {
    uint64_t key; /* the 8-byte key itself; 0 = empty (keys are 1..N) */
    kd_entry e;
} kr_slot;

typedef struct kr_ideal {
    kr_slot *t;
    uint64_t mask, keys;
    size_t bytes;
} kr_ideal;

typedef struct kr_ijob {
    const kr_ideal *id;
    unsigned id_;
    _Atomic int *stop;
    uint64_t ops, cpu_ns, misses;
} kr_ijob;

/* Builds the ideal table of keys 1..N (load 1/2, as lockfree's after a
 * fill). Returns 0, or -1 out of memory. */
static int
kr_ideal_build(const kr_cfg *c, kr_ideal *id)
{
    uint64_t cap = 1;

    while (cap < c->keys * 2)
        cap <<= 1;
    id->mask = cap - 1;
    id->keys = c->keys;
    /* On transparent huge pages where allowed, as lockfree's slot arrays
     * and records are: the comparison is of table designs, not of page
     * sizes. */
    id->bytes = cap * sizeof(kr_slot);
    id->t = mmap(NULL, id->bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (id->t == MAP_FAILED)
        return -1;
    (void)madvise(id->t, id->bytes, MADV_HUGEPAGE);
    for (uint64_t i = 1; i <= c->keys; i++) {
        uint64_t s = kd_hash(&i, 8, KD_DEFAULT_SEED) & id->mask;
        while (id->t[s].key != 0)
            s = (s + 1) & id->mask;
        id->t[s].key = i;
        id->t[s].e = (kd_entry){1, 100, i * 128, i};
    }
    return 0;
}

/* The lookup loop of the ideal: the same uniform key stream, the same
 * hash, the entry copied out, as kr_run_thread's gets. */
static void *
kr_ideal_thread(void *p)
{
    kr_ijob *j = p;
    const kr_ideal *id = j->id;
    wl_gen g;
    uint64_t n = 0, misses = 0;

    wl_init(&g, WL_UNIFORM, id->keys, 0.99, 42 + j->id_);
    uint64_t c0 = kr_cpu_ns();
    while (!atomic_load_explicit(j->stop, memory_order_relaxed)) {
        for (int b = 0; b < 256; b++, n++) {
            uint64_t k = wl_next(&g, 0) + 1;
            uint64_t s = kd_hash(&k, 8, KD_DEFAULT_SEED) & id->mask;
            while (id->t[s].key != k && id->t[s].key != 0)
                s = (s + 1) & id->mask;
            kd_entry e = id->t[s].e;
            misses += id->t[s].key != k || e.seq != k;
        }
    }
    j->cpu_ns = kr_cpu_ns() - c0;
    j->ops = n;
    j->misses = misses;
    return NULL;
}

/* The ideal's reads at t threads (Mops; 0 if a lookup went wrong). Two
 * threads reading one table never write shared memory, so their T2/T1 is
 * the machine's own scaling ceiling for this memory-bound loop. */
static double
kr_ideal_cell(const kr_ideal *id, const kr_cfg *c, unsigned t, unsigned rep)
{
    pthread_t th[KR_MAX_THREADS];
    kr_ijob jobs[KR_MAX_THREADS] = {0};
    _Atomic int stop = 0;
    uint64_t t0 = sync_now_ns(), ops = 0, misses = 0;

    for (unsigned i = 0; i < t; i++) {
        jobs[i] = (kr_ijob){.id = id, .id_ = i + rep * KR_MAX_THREADS,
                            .stop = &stop};
        pthread_create(&th[i], NULL, kr_ideal_thread, &jobs[i]);
    }
    usleep((useconds_t)(c->seconds * 1e6));
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        ops += jobs[i].ops;
        misses += jobs[i].misses;
    }
    double wall = (double)(sync_now_ns() - t0) / 1e9;
    if (t == 1 && jobs[0].cpu_ns > 0)
        wall = (double)jobs[0].cpu_ns / 1e9; /* as kr_parallel counts */
    return misses == 0 ? (double)ops / wall / 1e6 : 0;
}

/*
 * Every keydir is filled `reps` times untimed (best fill time) and once with
 * every put timed (the stalls); that last fill stays open. Then the timed
 * cells run round-robin over the ideal and the keydirs, `reps` rounds,
 * keeping each cell's best: other load on the machine only ever slows a
 * cell down, and interleaving spreads it over all keydirs instead of
 * penalising whichever ran during it. The defaults (5 rounds of 0.3 s
 * cells rather than 3 of 0.5 s) give every cell more chances to land in a
 * quiet moment of a busy machine, in about the same total time.
 */
static void
kr_measure_all(const kr_cfg *c, kr_row *rows, kd_keydir **kds, unsigned n,
               const kr_ideal *id, kr_row *ideal)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned refills = 0;
        for (unsigned r = 0; r <= c->reps; r++) {
            if (kds[i] != NULL) {
                kd_close(kds[i]);
                /* Consolidate the million freed records now: left in
                 * glibc's fast bins, the next fill's first larger malloc
                 * would do it and show as a 40 ms "stall" of that put. */
                malloc_trim(0);
            }
            kds[i] = kr_fill(c, &rows[i], r == c->reps);
            if (kds[i] == NULL)
                break;
            rows[i].fills++;
            rows[i].measured_stuck = kr_stuck(kds[i], c);
            if (rows[i].measured_stuck) {
                rows[i].stuck++;
                if (r == c->reps && refills++ < KR_REFILLS)
                    r--; /* the measured fill again */
            }
        }
        fprintf(stderr, "kdratio: %s filled\n", rows[i].name);
    }
    for (unsigned r = 0; r < c->reps; r++) {
        for (unsigned t = 1; t <= KR_MAX_THREADS; t++) {
            double v = kr_ideal_cell(id, c, t, r);
            if (v > ideal->read[t])
                ideal->read[t] = v;
        }
        for (unsigned i = 0; i < n; i++) {
            kr_row *row = &rows[i];
            for (unsigned t = 1; kds[i] != NULL && t <= KR_MAX_THREADS; t++) {
                double v = kr_cell(kds[i], c, t, 0, r, &row->errors);
                if (v > row->read[t])
                    row->read[t] = v;
                v = kr_cell(kds[i], c, t, 1, r, &row->errors);
                if (v > row->mixed[t])
                    row->mixed[t] = v;
            }
        }
        fprintf(stderr, "kdratio: round %u of %u done\n", r + 1, c->reps);
    }
}

/* ---- A stalled reader ------------------------------------------------ */

typedef struct kr_stall {
    kd_keydir *kd;
    _Atomic int phase; /* 1: registered and stalled; 2: may leave */
} kr_stall;

static void *
kr_stalled_thread(void *p)
{
    kr_stall *st = p;
    kd_entry e;

    kd_thread_register(st->kd);
    kd_get(st->kd, "k", 1, &e);
    atomic_store(&st->phase, 1);
    while (atomic_load(&st->phase) != 2)
        usleep(1000);
    kd_thread_unregister(st->kd);
    return NULL;
}

static void
kr_replace_keys(kd_keydir *kd, uint64_t keys, uint64_t rounds)
{
    unsigned char k[8];

    kd_thread_register(kd);
    for (uint64_t r = 0; r < rounds; r++) {
        for (uint64_t i = 0; i < keys; i++) {
            kd_entry e = {1, 100, i * 128, r * keys + i + 1};
            kr_key(i, k);
            kd_put(kd, k, 8, &e, NULL);
            if ((i & 255) == 0)
                kd_quiescent(kd);
        }
    }
    kd_thread_unregister(kd);
}

/*
 * The issue asks that a stalled reader not make memory grow silently: a
 * thread registers with `lockfree`, reads once and then sleeps without
 * announcing quiescence, while another replaces 100k keys 5 times over.
 * kd_memory (which counts bytes waiting to be freed) shows the growth; once
 * the reader unregisters, the next writes drain it.
 */
static void
kr_stalled_reader(void)
{
    kr_stall st = {0};
    pthread_t th;
    uint64_t m0, m1, m2;

    if (kd_open("lockfree", NULL, &st.kd) != KD_OK)
        return;
    kr_replace_keys(st.kd, 100000, 1);
    m0 = kd_memory(st.kd);
    pthread_create(&th, NULL, kr_stalled_thread, &st);
    while (atomic_load(&st.phase) != 1)
        usleep(1000);
    kr_replace_keys(st.kd, 100000, 5);
    m1 = kd_memory(st.kd);
    atomic_store(&st.phase, 2);
    pthread_join(th, NULL);
    kr_replace_keys(st.kd, 100000, 1);
    m2 = kd_memory(st.kd);
    printf("\nstalled reader (lockfree, 100k keys, 500k replaces while one "
           "registered thread sleeps):\n  kd_memory %.1f MB before, %.1f MB "
           "while stalled, %.1f MB after it left\n",
           m0 / 1e6, m1 / 1e6, m2 / 1e6);
    kd_close(st.kd);
}

/* ---- Report --------------------------------------------------------- */

static const kr_row *
kr_find(const kr_row *rows, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

static void
kr_target(const char *what, double got, double want)
{
    printf("  %-58s %7.2f  (target >= %.2f)  %s\n", what, got, want,
           got >= want ? "met" : "NOT met");
}

static void
kr_target_max(const char *what, double got, double limit)
{
    printf("  %-58s %7.2f  (target <= %.2f)  %s\n", what, got, limit,
           got <= limit ? "met" : "NOT met");
}

static void
kr_targets(const kr_row *rows, unsigned n, const kr_row *ideal)
{
    const kr_row *lf = kr_find(rows, n, "lockfree"), *ck = kr_find(rows, n, "ck_ht");
    const kr_row *ug = kr_find(rows, n, "urcu_lfht_grow");
    const kr_row *rc = kr_find(rows, n, "rcu"), *gl = kr_find(rows, n, "global");

    printf("\ntargets (issue 4, \"Performance to reach\"):\n");
    if (lf == NULL || ck == NULL || ug == NULL || rc == NULL || gl == NULL) {
        printf("  (run without --only to see every target)\n");
        return;
    }
    kr_target("lockfree / ck_ht, 100% reads, 1 thread", lf->read[1] / ck->read[1], 1.5);
    kr_target("lockfree / ck_ht, 100% reads, 2 threads", lf->read[2] / ck->read[2], 1.5);
    kr_target("lockfree / urcu_lfht_grow, 100% reads, 1 thread",
              lf->read[1] / ug->read[1], 2.5);
    kr_target("lockfree / urcu_lfht_grow, 100% reads, 2 threads",
              lf->read[2] / ug->read[2], 2.5);
    kr_target("lockfree / ck_ht, 50/50, 2 threads", lf->mixed[2] / ck->mixed[2], 2.0);
    kr_target("lockfree 50/50 scaling, 2 threads / 1 thread",
              lf->mixed[2] / lf->mixed[1], 1.7);
    printf("  %-58s %7.2f  (this machine's ceiling for the line above)\n",
           "ideal reads, 2 threads / 1 thread",
           ideal->read[2] / ideal->read[1]);
    kr_target("lockfree reads 1 thread / ideal",
              lf->read[1] / ideal->read[1], 0.5);
    kr_target("rcu reads 1 thread / ideal", rc->read[1] / ideal->read[1],
              0.5);
    const kr_row *rq = kr_find(rows, n, "rcu/qsbr");
    if (rq != NULL)
        kr_target("rcu/qsbr reads 1 thread / ideal (flavor qsbr)",
                  rq->read[1] / ideal->read[1], 0.5);
    kr_target("fill 1M: ck_ht time / lockfree time", ck->fill_s / lf->fill_s, 2.0);
    kr_target_max("lockfree worst put during fill, thread CPU ms",
                  lf->stall_cpu_ms, 10.0);
    kr_target_max("lockfree worst put during fill, wall ms (incl. preemption)",
                  lf->stall_wall_ms, 10.0);
    kr_target_max("lockfree bytes/key / global bytes/key",
                  lf->bytes_per_key / gl->bytes_per_key, 1.5);
    kr_target_max("rcu bytes/key / global bytes/key",
                  rc->bytes_per_key / gl->bytes_per_key, 1.5);
}

static void
kr_print(const kr_cfg *c, const kr_row *rows, unsigned n,
         const kr_row *ideal)
{
    printf("keydirs side by side: %llu 8-byte keys, uniform, %.2f s per cell, "
           "%ld online cores, default reclamation and flavor unless named "
           "(shared machine: noisy)\n",
           (unsigned long long)c->keys, c->seconds,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-16s %7s %15s %6s %8s %8s %8s %8s %6s\n", "keydir", "fill s",
           "stall ms cpu/wall", "B/key", "read T1", "read T2", "50/50 T1",
           "50/50 T2", "T2/T1");
    for (unsigned i = 0; i < n; i++) {
        const kr_row *r = &rows[i];
        printf("%-16s %7.3f %7.2f/%7.2f %6.1f %8.2f %8.2f %8.2f %8.2f %6.2f\n",
               r->name, r->fill_s, r->stall_cpu_ms, r->stall_wall_ms,
               r->bytes_per_key, r->read[1], r->read[2], r->mixed[1],
               r->mixed[2], r->mixed[2] / r->mixed[1]);
        if (r->errors != 0)
            printf("  ^ %llu operations returned an unexpected code\n",
                   (unsigned long long)r->errors);
        if (r->stuck != 0)
            printf("  ^ %u of %u fills left the table stuck small (gets over "
                   "%u us each); the row measures %s\n", r->stuck, r->fills,
                   KR_STUCK_NS / 1000, r->measured_stuck
                   ? "a stuck one: every refill stuck too"
                   : "a fill that grew (see ds/peer_lfht.c, \"Lost resizes\")");
    }
    printf("%-16s %7s %15s %6s %8.2f %8.2f %8s %8s %6.2f\n", "ideal", "-",
           "-", "-", ideal->read[1], ideal->read[2], "-", "-",
           ideal->read[2] / ideal->read[1]);
    printf("(fill: best of %u, 2 threads; stall: worst single put of a timed "
           "fill, thread CPU time / wall time; read and 50/50: Mops, best of "
           "%u interleaved rounds, per second of thread CPU time at 1 thread "
           "and of wall time at 2; ideal: plain open addressing, no atomics, "
           "its T2/T1 of reads is the machine's scaling ceiling)\n",
           c->reps, c->reps);
    kr_targets(rows, n, ideal);
}

static int
kr_parse(int argc, char **argv, kr_cfg *c)
{
    *c = (kr_cfg){.keys = 1000000, .seconds = 0.3, .reps = 5};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return -1;
        char *end;
        if (strcmp(argv[i], "--only") == 0) {
            c->only = argv[i + 1];
        } else if (strcmp(argv[i], "--keys") == 0) {
            c->keys = strtoull(argv[i + 1], &end, 10);
            if (*end || c->keys < 1000)
                return -1;
        } else if (strcmp(argv[i], "--seconds") == 0) {
            c->seconds = strtod(argv[i + 1], &end);
            if (*end || c->seconds <= 0 || c->seconds > 60)
                return -1;
        } else if (strcmp(argv[i], "--reps") == 0) {
            c->reps = (unsigned)strtoul(argv[i + 1], &end, 10);
            if (*end || c->reps < 1 || c->reps > 15)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Whether name is one of --only's comma-separated names (or no --only). */
static int
kr_wanted(const kr_cfg *c, const char *name)
{
    size_t n = strlen(name);

    if (c->only == NULL)
        return 1;
    for (const char *p = c->only; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += end ? len + 1 : len;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    kr_cfg c;
    kr_row rows[KR_MAX_KEYDIRS] = {0};
    unsigned n = 0;

    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: kdratio [--keys N] [--seconds S] [--reps R] "
               "[--only NAME[,NAME]]\nPrints issue 4's keydir ratio table.\n");
        return 0;
    }
    if (kr_parse(argc, argv, &c) != 0) {
        fprintf(stderr, "usage: kdratio [--keys N] [--seconds S] [--reps R] "
                        "[--only NAME[,NAME]]\n");
        return 64;
    }
    kd_keydir *kds[KR_MAX_KEYDIRS] = {0};
    kr_ideal id;
    kr_row ideal = {.name = "ideal"};
    if (kr_ideal_build(&c, &id) != 0) {
        fprintf(stderr, "kdratio: out of memory for the ideal table\n");
        return 1;
    }
    for (size_t i = 0; kd_registered(i) != NULL && n < KR_MAX_KEYDIRS; i++) {
        const kd_ops *ops = kd_registered(i);
        if (!(ops->flags & KD_FLAG_TEST_ONLY) &&
            kr_wanted(&c, ops->name))
            rows[n++].name = ops->name;
        /* rcu again on liburcu's qsbr flavor, beside the default memb: its
         * read side is empty, and this benchmark's threads announce
         * quiescent states (kd_quiescent) as QSBR asks, as do lockfree's
         * default "qsbr" reclamation's. */
        if (strcmp(ops->name, "rcu") == 0 && n < KR_MAX_KEYDIRS &&
            kr_wanted(&c, "rcu/qsbr"))
            rows[n++] = (kr_row){.name = "rcu/qsbr", .kdname = "rcu",
                                 .flavor = "qsbr"};
    }
    kr_measure_all(&c, rows, kds, n, &id, &ideal);
    for (unsigned i = 0; i < n; i++)
        kd_close(kds[i]);
    munmap(id.t, id.bytes);
    kr_print(&c, rows, n, &ideal);
    if (kr_wanted(&c, "lockfree"))
        kr_stalled_reader();
    return 0;
}
