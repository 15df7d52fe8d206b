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
 * invocation) is found by bisection; then runs of operations are removed,
 * halving the run length each round (delta debugging, Zeller 2002), which
 * takes a history of thousands of operations down to a few dozen in a few
 * hundred trials; then operations are removed one at a time, from the
 * last, keeping each removal after which the rest still fails. A removal
 * that takes away the only writer of a value a remaining operation reads is
 * refused, so that the result explains the violation instead of reducing it
 * to "a read of a value nobody wrote".
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
#define LIN_SHRINK_MAX_OPS 600u     /* one-at-a-time removal above this: runs only */
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

/* A value written in the sub-history, and when its writer ran. */
typedef struct lin_wv {
    uint32_t val;
    uint64_t call, ret;
} lin_wv;

static int
lin_wv_cmp(const void *a, const void *b)
{
    uint32_t x = ((const lin_wv *)a)->val, y = ((const lin_wv *)b)->val;
    return x < y ? -1 : x > y;
}

/* Does o (perhaps) store a value? Which one? */
static uint32_t
lin_written(const hist_op *o)
{
    if (o->status == HIST_ST_FAIL)
        return HIST_NIL;
    return o->fn == HIST_PUT ? o->arg1 : o->fn == HIST_CAS ? o->arg2 : HIST_NIL;
}

/* What a sub-history of a kv key needs so that each op's outcome has a
 * possible cause inside it. */
typedef struct lin_needs {
    lin_wv *vals; /* values written, sorted by value */
    size_t nvals;
    size_t deleters;
    uint64_t first_call; /* earliest invocation of a writer */
    uint64_t first_ret;  /* earliest completion of a completed writer */
    uint64_t last_del;   /* latest completion of a (maybe) delete */
    lin_wv late[2];      /* the two writers completing last */
} lin_needs;

static void
lin_needs_add_writer(lin_needs *nd, const hist_op *o, uint32_t v)
{
    lin_wv w = {v, o->call, o->ret};

    nd->vals[nd->nvals++] = w;
    if (o->call < nd->first_call)
        nd->first_call = o->call;
    if (o->status == HIST_ST_OK && o->ret < nd->first_ret)
        nd->first_ret = o->ret;
    if (o->ret > nd->late[0].ret || nd->late[0].val == HIST_NIL) {
        nd->late[1] = nd->late[0];
        nd->late[0] = w;
    } else if (o->ret > nd->late[1].ret || nd->late[1].val == HIST_NIL) {
        nd->late[1] = w;
    }
}

static int
lin_needs_collect(const hist *h, const size_t *ops, size_t n, lin_needs *nd)
{
    memset(nd, 0, sizeof *nd);
    nd->first_call = nd->first_ret = HIST_NEVER;
    nd->vals = malloc((n ? n : 1) * sizeof *nd->vals);
    if (nd->vals == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const hist_op *o = &h->ops[ops[i]];
        uint32_t v = lin_written(o);
        if (v != HIST_NIL)
            lin_needs_add_writer(nd, o, v);
        if (o->fn == HIST_DEL && o->status != HIST_ST_FAIL) {
            nd->deleters++;
            if (o->ret > nd->last_del)
                nd->last_del = o->ret;
        }
    }
    qsort(nd->vals, nd->nvals, sizeof *nd->vals, lin_wv_cmp);
    return 0;
}

static const lin_wv *
lin_writer_of(const lin_needs *nd, uint32_t v)
{
    lin_wv k = {v, 0, 0};
    return bsearch(&k, nd->vals, nd->nvals, sizeof k, lin_wv_cmp);
}

/* A failed cas saw something other than what it expected: a present value
 * when it expected absence; when it expected v, absence before v's writer,
 * or a delete or another write that did not end before v's writer began. */
static int
lin_cas_fail_explained(const hist_op *o, const lin_needs *nd)
{
    if (o->arg1 == HIST_NIL)
        return nd->first_call < o->ret;
    const lin_wv *w = lin_writer_of(nd, o->arg1);
    if (w == NULL || w->ret > o->call)
        return 1; /* v may not be there yet */
    const lin_wv *other = nd->late[0].val != o->arg1 ? &nd->late[0]
                                                      : &nd->late[1];
    return nd->last_del > w->call ||
           (other->val != HIST_NIL && other->ret > w->call);
}

/* Is o's outcome possible given what the sub-history holds? */
static int
lin_op_explained(const hist_op *o, const lin_needs *nd)
{
    uint32_t seen = HIST_NIL;
    int absent = 0;

    if (o->status == HIST_ST_INFO)
        return 1;
    if (o->status == HIST_ST_FAIL && o->fn == HIST_CAS)
        return lin_cas_fail_explained(o, nd);
    if (o->fn == HIST_DEL && o->status == HIST_ST_OK)
        return nd->first_call < o->ret; /* something to remove */
    if (o->fn == HIST_GET)
        seen = o->out, absent = o->out == HIST_NIL;
    else if (o->fn == HIST_CAS)
        seen = o->arg1, absent = o->arg1 == HIST_NIL;
    else if (o->fn == HIST_DEL)
        absent = 1; /* a failed delete */
    if (seen != HIST_NIL)
        return lin_writer_of(nd, seen) != NULL;
    if (absent && nd->first_ret < o->call)
        return nd->deleters > 0; /* absent after a write completed */
    return 1;
}

/*
 * 1 if every op of ops[0..n) has a possible cause among them: a read of v
 * keeps a writer of v, a successful delete keeps a writer invoked before it
 * returned, a read of absence after a
 * completed write keeps a delete, a failed cas keeps something it could
 * have seen instead. A shrink step that
 * breaks this would reduce the violation to "a read nobody caused", which
 * explains nothing, so it is refused. Only the kv model (the others: 1).
 * -1 when out of memory.
 */
static int
lin_explained(const hist *h, const size_t *ops, size_t n)
{
    lin_needs nd;
    int ok = 1;

    if (h->model != HIST_MODEL_KV)
        return 1;
    if (lin_needs_collect(h, ops, n, &nd) != 0)
        return -1;
    for (size_t i = 0; i < n && ok; i++)
        ok = lin_op_explained(&h->ops[ops[i]], &nd);
    free(nd.vals);
    return ok;
}

/* Does the run cur[at..at+len) hold an append or add? Those stay: their
 * effect shows in longer values. */
static int
lin_run_pinned(const hist *h, const size_t *cur, size_t at, size_t len)
{
    for (size_t i = at; i < at + len; i++)
        if (h->ops[cur[i]].fn == HIST_APPEND || h->ops[cur[i]].fn == HIST_ADD)
            return 1;
    return 0;
}

/* Tries tmp[0..n) as the new failing sub-history (strict: it must stay
 * explained). 1 taken, 0 not, -1 undecided. */
static int
lin_try(const hist *h, const size_t *tmp, size_t n, int strict)
{
    int e = strict ? lin_explained(h, tmp, n) : 1;

    if (e <= 0)
        return e;
    return lin_fails(h, tmp, n);
}

/* Removes runs of len ops, last first, halving len down to 2; keeps each
 * removal after which the rest still fails. Sets *exact to 0 when a trial
 * was undecided or time ran out. */
static void
lin_shrink_runs(const hist *h, size_t *cur, size_t *n, size_t *tmp,
                uint64_t until, int strict, int *exact)
{
    for (size_t len = *n / 2; len >= 2; len /= 2) {
        /* whether or not [at, end) went, the next run ends at at */
        for (size_t end = *n; end >= len; end -= len) {
            size_t at = end - len;
            if (sync_now_ns() > until) {
                *exact = 0;
                return;
            }
            if (lin_run_pinned(h, cur, at, len))
                continue;
            memcpy(tmp, cur, at * sizeof(size_t));
            memcpy(tmp + at, cur + end, (*n - end) * sizeof(size_t));
            int f = lin_try(h, tmp, *n - len, strict);
            if (f < 0)
                *exact = 0;
            if (f == 1) {
                memcpy(cur, tmp, (*n - len) * sizeof(size_t));
                *n -= len;
            }
        }
    }
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
                uint64_t until, int strict, int *exact)
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
        int f = lin_try(h, tmp, *n - 1, strict);
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
    /* a history that starts unexplained (a foreign one whose keys start
     * with values, say) is shrunk without that rule */
    int exact = 1, strict = lin_explained(h, cur, n) == 1;
    lin_shrink_runs(h, cur, &n, tmp, until, strict, &exact);
    /* removing one op can free another (its reader): repeat to a fixpoint */
    exact = exact && n <= LIN_SHRINK_MAX_OPS;
    while (n <= LIN_SHRINK_MAX_OPS &&
           lin_shrink_pass(h, cur, &n, tmp, until, strict, &exact) > 0 &&
           exact)
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
