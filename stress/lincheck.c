/*
 * stress/lincheck.c - the checker: keys in parallel, verdicts, shrinking.
 *
 * Scheduling: every key is one job. Each worker thread keeps up to
 * LIN_ACTIVE jobs open and advances them round-robin, LIN_SLICE model steps
 * at a time, pulling a new job from a shared counter when one finishes.
 * Most keys finish in their first slice; a key whose search explodes cannot
 * starve the others, so a violation anywhere is found after a bounded
 * amount of work (the lincheck README's "interleave keys"), and the first
 * violation stops all workers unless keep_going is set. Memory stays
 * bounded by the open jobs, since a finished key's caches are freed at once.
 *
 * Shrinking: for the first bad key, the smallest failing prefix (by
 * invocation) is found by bisection, then operations are removed one at a
 * time, from the last, keeping each removal after which the rest still
 * fails. An operation that another remaining operation reads from is kept,
 * so that the result explains the violation instead of reducing it to "a
 * read of a value nobody wrote".
 */
#include "stress/lin_internal.h"

#include "sync/atomic.h"
#include "sync/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIN_ACTIVE 4                /* open jobs per worker */
#define LIN_SLICE 2000u             /* model steps per turn */
#define LIN_MAX_THREADS 256u
#define LIN_OPS_PER_THREAD 1024u
#define LIN_SHRINK_MAX_OPS 600u     /* greedy removal above this: prefix only */
#define LIN_SHRINK_STEPS 400000u    /* budget of one trial search */
#define LIN_SHRINK_NS 1000000000ull /* budget of the whole shrinking */

const char *
lin_strerror(int code)
{
#define LIN_MSG_(name, value, msg)                                            \
    if (code == (value))                                                      \
        return msg;
    LIN_ERRORS(LIN_MSG_)
#undef LIN_MSG_
    return "unknown checker error";
}

const char *
lin_verdict_name(lin_verdict v)
{
    switch (v) {
    case LIN_LINEARIZABLE:
        return "linearizable";
    case LIN_ILLEGAL:
        return "NOT linearizable";
    case LIN_UNKNOWN:
        return "unknown";
    case LIN_SKIPPED:
        return "skipped";
    }
    return "?";
}

typedef struct lin_job {
    const size_t *idx; /* ops of this key */
    size_t n;
} lin_job;

typedef struct lin_sched {
    const hist *h;
    const lin_options *opt;
    lin_mem mem;
    lin_job *jobs;
    size_t njobs;
    lin_key_result *keys;
    _Atomic size_t next_job;
    _Atomic int stop;      /* 1: violation found, 2: deadline passed */
    uint64_t deadline;     /* ns, 0 = none */
    pthread_mutex_t lock;  /* guards bad_job, prefix */
    size_t bad_job;        /* SIZE_MAX: none */
    size_t *prefix;
    size_t nprefix;
    int oom;               /* an allocation (not the limit) failed */
} lin_sched;

typedef struct lin_open {
    size_t job;
    lin_part *part;
} lin_open;

/* ---- grouping by key ---------------------------------------------------------- */

/* Counting sort of op indices by key; jobs in order of key id. */
static int
lin_group(lin_sched *s, size_t **order_out)
{
    const hist *h = s->h;
    size_t nk = hist_nkeys(h) + 1;
    size_t *start = calloc(nk + 1, sizeof(size_t));
    size_t *order = malloc((h->nops + 1) * sizeof(size_t));

    if (start == NULL || order == NULL) {
        free(start);
        free(order);
        return LIN_ENOMEM;
    }
    for (size_t i = 0; i < h->nops; i++)
        start[h->ops[i].key + 1]++;
    for (size_t k = 0; k < nk; k++)
        start[k + 1] += start[k];
    s->njobs = 0;
    for (size_t k = 0; k < nk; k++)
        s->njobs += start[k + 1] > start[k];
    s->jobs = calloc(s->njobs + 1, sizeof(lin_job));
    s->keys = calloc(s->njobs + 1, sizeof(lin_key_result));
    if (s->jobs == NULL || s->keys == NULL) {
        free(start);
        free(order);
        return LIN_ENOMEM;
    }
    size_t *fill = start; /* start[k] advances to the end of bucket k */
    size_t j = 0;
    for (size_t k = 0; k < nk; k++)
        if (start[k + 1] > start[k]) {
            s->jobs[j].idx = order + start[k];
            s->jobs[j].n = start[k + 1] - start[k];
            s->keys[j].key = (uint32_t)k;
            s->keys[j].verdict = LIN_SKIPPED;
            j++;
        }
    for (size_t i = 0; i < h->nops; i++)
        order[fill[h->ops[i].key]++] = i;
    free(start);
    *order_out = order;
    return 0;
}

/* ---- workers -------------------------------------------------------------------- */

/* Records why the workers stop (1: violation, 2: deadline); the first reason
 * stays. Relaxed: results travel through pthread_join, not this flag. */
static void
lin_stop(lin_sched *s, int why)
{
    int none = 0;

    (void)sync_cas_rlx(&s->stop, &none, why);
}

static void
lin_record_bad(lin_sched *s, size_t job, lin_part *p)
{
    pthread_mutex_lock(&s->lock);
    if (s->bad_job == SIZE_MAX || job < s->bad_job) {
        size_t *pre = malloc((lin_part_nops(p) + 1) * sizeof(size_t));
        if (pre != NULL) {
            free(s->prefix);
            s->prefix = pre;
            s->nprefix = lin_part_prefix(p, pre);
            s->bad_job = job;
        } else {
            s->oom = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

static void
lin_finish(lin_sched *s, lin_open *o, int r)
{
    lin_key_result *kr = &s->keys[o->job];

    kr->nops = (uint32_t)lin_part_nops(o->part);
    kr->steps = lin_part_steps(o->part);
    if (r == LIN_RUN_OK) {
        kr->verdict = LIN_LINEARIZABLE;
    } else if (r == LIN_RUN_ILLEGAL) {
        kr->verdict = LIN_ILLEGAL;
        lin_record_bad(s, o->job, o->part);
        if (!s->opt->keep_going)
            lin_stop(s, 1);
    } else {
        kr->verdict = LIN_UNKNOWN; /* memory limit, or stopped by deadline */
    }
    lin_part_free(o->part);
    o->part = NULL;
}

/* Opens jobs until `open` holds LIN_ACTIVE or none are left. */
static size_t
lin_fill(lin_sched *s, lin_open *open, size_t nopen)
{
    while (nopen < LIN_ACTIVE &&
           sync_load_rlx(&s->stop) == 0) {
        size_t j = sync_faa_rlx(&s->next_job, 1);
        if (j >= s->njobs)
            break;
        lin_part *p;
        if (lin_part_new(s->h, s->jobs[j].idx, s->jobs[j].n, &s->mem, &p) != 0) {
            s->keys[j].verdict = LIN_UNKNOWN;
            continue;
        }
        open[nopen++] = (lin_open){j, p};
    }
    return nopen;
}

static void *
lin_worker(void *arg)
{
    lin_sched *s = arg;
    lin_open open[LIN_ACTIVE];
    size_t nopen = 0;

    for (;;) {
        nopen = lin_fill(s, open, nopen);
        if (nopen == 0)
            break;
        for (size_t i = 0; i < nopen;) {
            int r = lin_part_run(open[i].part, LIN_SLICE);
            if (r == LIN_RUN_MORE) {
                i++;
                continue;
            }
            lin_finish(s, &open[i], r);
            open[i] = open[--nopen];
        }
        if (s->deadline != 0 && sync_now_ns() > s->deadline)
            lin_stop(s, 2);
        if (sync_load_rlx(&s->stop) != 0)
            break;
    }
    for (size_t i = 0; i < nopen; i++) {
        int timeout = sync_load_rlx(&s->stop) == 2;
        s->keys[open[i].job].nops = (uint32_t)lin_part_nops(open[i].part);
        s->keys[open[i].job].steps = lin_part_steps(open[i].part);
        s->keys[open[i].job].verdict = timeout ? LIN_UNKNOWN : LIN_SKIPPED;
        lin_part_free(open[i].part);
    }
    return NULL;
}

/* Threads to start: as asked (default: CPUs), but no more than there are
 * keys, and by default one per LIN_OPS_PER_THREAD operations, since
 * starting a thread costs more than checking a small history. */
static unsigned
lin_threads(const lin_options *opt, size_t njobs, size_t nops)
{
    unsigned t = opt->threads;

    if (t == 0 && nops < LIN_OPS_PER_THREAD)
        t = 1; /* and no sysconf: it reads /sys, which costs more */
    if (t == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        t = cpus > 0 ? (unsigned)cpus : 1;
        if (t > 1 + nops / LIN_OPS_PER_THREAD)
            t = (unsigned)(1 + nops / LIN_OPS_PER_THREAD);
    }
    if (t > LIN_MAX_THREADS)
        t = LIN_MAX_THREADS;
    if (t > njobs)
        t = njobs ? (unsigned)njobs : 1;
    return t;
}

static void
lin_run_workers(lin_sched *s)
{
    pthread_t tid[LIN_MAX_THREADS];
    unsigned t = lin_threads(s->opt, s->njobs, s->h->nops), started = 0;

    for (unsigned i = 1; i < t; i++)
        if (pthread_create(&tid[i], NULL, lin_worker, s) == 0)
            started = i;
        else
            break;
    lin_worker(s);
    for (unsigned i = 1; i <= started; i++)
        pthread_join(tid[i], NULL);
}

/* ---- shrinking ----------------------------------------------------------------- */

/* 1 if ops[0..n) is not linearizable, 0 if it is, -1 if the trial budget
 * ran out first (or memory did). */
static int
lin_fails(const hist *h, const size_t *ops, size_t n)
{
    lin_part *p;
    int r;

    if (lin_part_new(h, ops, n, NULL, &p) != 0)
        return -1;
    r = lin_part_run(p, LIN_SHRINK_STEPS);
    lin_part_free(p);
    return r == LIN_RUN_ILLEGAL ? 1 : r == LIN_RUN_OK ? 0 : -1;
}

/* Is ops[skip] the only remaining writer of a value another remaining op
 * observes? Then removing it would only leave "a read of a value nobody
 * wrote", which explains nothing, so it stays. (In casklab's histories
 * values are unique and this is exactly "somebody reads from it".) */
static int
lin_is_read_from(const hist *h, const size_t *ops, size_t n, size_t skip)
{
    const hist_op *w = &h->ops[ops[skip]];
    uint32_t v = w->fn == HIST_PUT ? w->arg1 : w->fn == HIST_CAS ? w->arg2
                                                                  : HIST_NIL;

    if (w->fn == HIST_APPEND || w->fn == HIST_ADD)
        return 1; /* their effect shows in longer values: keep them */
    int read = 0;

    if (v == HIST_NIL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const hist_op *r = &h->ops[ops[i]];
        if (i == skip)
            continue;
        if ((r->fn == HIST_PUT && r->arg1 == v) ||
            (r->fn == HIST_CAS && r->arg2 == v))
            return 0; /* another writer of v remains */
        read |= (r->fn == HIST_GET && r->out == v) ||
                (r->fn == HIST_CAS && r->arg1 == v);
    }
    return read;
}

/* The smallest failing prefix, by bisection (failure is close to monotone
 * in the prefix length; the result is checked again). */
static size_t
lin_shrink_prefix(const hist *h, const size_t *ops, size_t n)
{
    size_t lo = 1, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lin_fails(h, ops, mid) == 1)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lin_fails(h, ops, hi) == 1 ? hi : n;
}

/* One pass of greedy removal, last op first; returns how many went. Sets
 * *exact to 0 when a trial was undecided or time ran out. */
static size_t
lin_shrink_pass(const hist *h, size_t *cur, size_t *n, size_t *tmp,
                uint64_t until, int *exact)
{
    size_t removed = 0;

    for (size_t i = *n; i-- > 0;) {
        if (sync_now_ns() > until) {
            *exact = 0;
            break;
        }
        if (lin_is_read_from(h, cur, *n, i))
            continue;
        memcpy(tmp, cur, i * sizeof(size_t));
        memcpy(tmp + i, cur + i + 1, (*n - i - 1) * sizeof(size_t));
        int f = lin_fails(h, tmp, *n - 1);
        if (f < 0)
            *exact = 0;
        if (f == 1) {
            memcpy(cur, tmp, (*n - 1) * sizeof(size_t));
            (*n)--;
            removed++;
        }
    }
    return removed;
}

static void
lin_shrink(const hist *h, lin_result *res)
{
    uint64_t until = sync_now_ns() + LIN_SHRINK_NS;
    size_t *cur = malloc((res->nbad + 1) * sizeof(size_t));
    size_t *tmp = malloc((res->nbad + 1) * sizeof(size_t));
    size_t n;

    if (cur == NULL || tmp == NULL) {
        free(cur);
        free(tmp);
        return;
    }
    memcpy(cur, res->bad_ops, res->nbad * sizeof(size_t));
    n = lin_shrink_prefix(h, cur, res->nbad);
    /* removing one op can free another (its reader): repeat to a fixpoint */
    int exact = n <= LIN_SHRINK_MAX_OPS;
    while (n <= LIN_SHRINK_MAX_OPS &&
           lin_shrink_pass(h, cur, &n, tmp, until, &exact) > 0 && exact)
        ;
    free(tmp);
    res->minimal = cur;
    res->nminimal = n;
    res->minimal_exact = exact;
}

/* ---- the check ------------------------------------------------------------------- */

static int
lin_cmp_call(const hist *h, size_t a, size_t b)
{
    return h->ops[a].call < h->ops[b].call ||
           (h->ops[a].call == h->ops[b].call && a < b);
}

/* The bad key's ops sorted by invocation (insertion sort is enough: the
 * per-key order is already by position, and positions are nearly sorted
 * by time in every format). */
static int
lin_bad_ops(const hist *h, const lin_job *job, lin_result *res)
{
    size_t *ops = malloc((job->n + 1) * sizeof(size_t));

    if (ops == NULL)
        return LIN_ENOMEM;
    for (size_t i = 0; i < job->n; i++) {
        size_t v = job->idx[i], j = i;
        while (j > 0 && lin_cmp_call(h, v, ops[j - 1])) {
            ops[j] = ops[j - 1];
            j--;
        }
        ops[j] = v;
    }
    res->bad_ops = ops;
    res->nbad = job->n;
    return 0;
}

static void
lin_overall(lin_sched *s, lin_result *res)
{
    res->verdict = LIN_LINEARIZABLE;
    for (size_t j = 0; j < s->njobs; j++) {
        lin_verdict v = s->keys[j].verdict;
        if (v == LIN_SKIPPED && sync_load_rlx(&s->stop) != 1)
            v = s->keys[j].verdict = LIN_UNKNOWN; /* never started: timeout */
        res->steps += s->keys[j].steps;
        if (v == LIN_ILLEGAL)
            res->verdict = LIN_ILLEGAL;
        else if (v == LIN_UNKNOWN && res->verdict != LIN_ILLEGAL)
            res->verdict = LIN_UNKNOWN;
    }
}

int
lin_check(const hist *h, const lin_options *opt, lin_result *res)
{
    lin_options defaults = {0};
    lin_sched s;
    size_t *order = NULL;
    uint64_t t0 = sync_now_ns();
    int rc;

    memset(res, 0, sizeof(*res));
    if (h == NULL)
        return LIN_EINVAL;
    memset(&s, 0, sizeof(s));
    s.h = h;
    s.opt = opt ? opt : &defaults;
    s.mem.limit = s.opt->max_memory;
    s.bad_job = SIZE_MAX;
    if (s.opt->timeout_s > 0)
        s.deadline = t0 + (uint64_t)(s.opt->timeout_s * 1e9);
    if ((rc = lin_group(&s, &order)) != 0) {
        free(s.jobs);
        free(s.keys);
        return rc;
    }
    pthread_mutex_init(&s.lock, NULL);
    lin_run_workers(&s);
    pthread_mutex_destroy(&s.lock);
    lin_overall(&s, res);
    res->keys = s.keys;
    res->nkeys = s.njobs;
    res->peak_cache_bytes = sync_load_rlx(&s.mem.peak);
    res->seconds = (double)(sync_now_ns() - t0) / 1e9;
    rc = s.oom ? LIN_ENOMEM : 0;
    if (rc == 0 && s.bad_job != SIZE_MAX) {
        res->bad_key = s.keys[s.bad_job].key;
        res->prefix = s.prefix;
        res->nprefix = s.nprefix;
        s.prefix = NULL;
        rc = lin_bad_ops(h, &s.jobs[s.bad_job], res);
        if (rc == 0 && s.opt->minimize)
            lin_shrink(h, res);
    }
    free(s.prefix);
    free(s.jobs);
    free(order);
    if (rc != 0)
        lin_result_free(res);
    return rc;
}

void
lin_result_free(lin_result *res)
{
    free(res->keys);
    free(res->bad_ops);
    free(res->prefix);
    free(res->minimal);
    memset(res, 0, sizeof(*res));
}
