/*
 * stress/stress.c - the harness: threads, workload, recording, merging.
 *
 * Recording path, per operation: pick the operation and key from the
 * thread's own generator, take the monotonic clock, call the target, take
 * the clock again, store one fixed-size record into the thread's own
 * buffer. Nothing is shared between threads on that path except the
 * target itself. Buffers are preallocated for a fixed operation count; in
 * duration mode they grow in chunks, allocated between operations (outside
 * the timed window).
 *
 * Engine steps (stress.h): a merge step is drawn from the mix like an
 * operation but records nothing; a reopen is a barrier at a phase
 * boundary (a share of the thread's quota, or of the duration) where the
 * last thread to arrive reopens the target while the others wait.
 *
 * Unique values: thread t's n-th written value is (t + 1) << 40 | n, never
 * 0 (0 means absent). A cas expects the value the thread last saw for that
 * key (from its own get, put or cas), so cas both succeeds and fails often.
 */
#include "stress/stress.h"

#include "sync/clock.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STRESS_CHUNK 65536u      /* records per buffer chunk (duration mode) */
#define STRESS_MAX_THREADS 1024u
#define STRESS_MAX_KEYS (1u << 24)

const char *
stress_strerror(int code)
{
#define STRESS_MSG_(name, value, msg)                                         \
    if (code == (value))                                                      \
        return msg;
    STRESS_ERRORS(STRESS_MSG_)
#undef STRESS_MSG_
    return "unknown stress error";
}

typedef struct stress_rec {
    uint64_t call, ret;
    uint64_t arg1, arg2, out;
    uint32_t key;
    uint8_t fn, status;
} stress_rec;

typedef struct stress_chunk {
    struct stress_chunk *next;
    size_t n, cap;
    stress_rec recs[];
} stress_chunk;

typedef struct stress_thread {
    struct stress_job *run;
    unsigned id;
    pthread_t tid;
    uint64_t rng;
    uint64_t quota;       /* operations to do; 0 = until the deadline */
    uint64_t *last_seen;  /* per key */
    stress_chunk *head, *tail;
    uint64_t done;
    uint64_t written;
    uint64_t merges, merge_errors;
    unsigned phase;       /* reopen barriers passed */
    int oom;
} stress_thread;

typedef struct stress_job {
    const stress_options *opt;
    const stress_target_ops *ops;
    stress_target *target;
    uint64_t keys;
    unsigned cum[5]; /* cumulative mix weights: get put del cas merge */
    uint64_t start, deadline;
    /* the start gate: it opens when the last thread arrives (all of them
     * are running then, so the run starts concurrent), or on abort */
    pthread_mutex_t gate_lock;
    pthread_cond_t gate_cond;
    unsigned arrived, nthreads;
    int gate_open, abort;
    /* the reopen barrier: a generation count, as in a pthread barrier,
     * plus the reopen's result (under gate_lock) */
    unsigned bar_arrived, bar_gen, reopens_done;
    int reopen_rc;
} stress_job;

static uint64_t
stress_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t
stress_key_str(uint64_t k, char *buf)
{
    char tmp[24];
    size_t n = 0, m = 0;

    do {
        tmp[n++] = (char)('0' + k % 10);
        k /= 10;
    } while (k != 0);
    buf[m++] = 'k';
    while (n > 0)
        buf[m++] = tmp[--n];
    return m;
}

static stress_rec *
stress_slot(stress_thread *t)
{
    if (t->tail == NULL || t->tail->n == t->tail->cap) {
        size_t cap = t->quota ? t->quota : STRESS_CHUNK;
        stress_chunk *c = malloc(sizeof(*c) + cap * sizeof(stress_rec));
        if (c == NULL)
            return NULL;
        c->next = NULL;
        c->n = 0;
        c->cap = cap;
        if (t->tail)
            t->tail->next = c;
        else
            t->head = c;
        t->tail = c;
    }
    return &t->tail->recs[t->tail->n++];
}

static int
stress_pick(const stress_job *r, uint64_t x)
{
    unsigned v = (unsigned)(x % r->cum[4]);

    for (int i = 0; i < 4; i++)
        if (v < r->cum[i])
            return i;
    return 4;
}

/* A merge step: run, counted, not recorded. */
static void
stress_merge_step(stress_thread *t)
{
    if (t->run->ops->merge(t->run->target) < 0)
        t->merge_errors++;
    else
        t->merges++;
}

/* One step: an operation called, timed and recorded into *rec (returns
 * 1), or a merge step, which leaves *rec unused (returns 0). */
static int
stress_one(stress_thread *t, stress_rec *rec)
{
    stress_job *r = t->run;
    uint64_t x = stress_rand(&t->rng);
    uint32_t k = (uint32_t)((x >> 32) % r->keys);
    int fn = stress_pick(r, x & 0xffffffffu);
    char key[24];
    size_t klen = stress_key_str(k, key);
    uint64_t v = 0, fresh = (uint64_t)(t->id + 1) << 40 | (t->written + 1);
    int rc;

    if (fn == 4) {
        stress_merge_step(t);
        return 0;
    }
    rec->key = k;
    rec->arg1 = rec->arg2 = rec->out = 0;
    if (fn == 0) {
        rec->fn = HIST_GET;
        rec->call = sync_now_ns();
        rc = r->ops->get(r->target, key, klen, &v);
        rec->ret = sync_now_ns();
        rec->out = rc == STRESS_DONE ? v : 0;
    } else if (fn == 1) {
        rec->fn = HIST_PUT;
        rec->arg1 = fresh;
        rec->call = sync_now_ns();
        rc = r->ops->put(r->target, key, klen, fresh);
        rec->ret = sync_now_ns();
    } else if (fn == 2) {
        rec->fn = HIST_DEL;
        rec->call = sync_now_ns();
        rc = r->ops->del(r->target, key, klen);
        rec->ret = sync_now_ns();
    } else {
        rec->fn = HIST_CAS;
        rec->arg1 = t->last_seen[k];
        rec->arg2 = fresh;
        rec->call = sync_now_ns();
        rc = r->ops->cas(r->target, key, klen, rec->arg1, fresh);
        rec->ret = sync_now_ns();
    }
    if (fn == 1 || fn == 3)
        t->written++;
    rec->status = rc < 0 ? HIST_ST_INFO : rc == STRESS_DONE || fn <= 1
                                              ? HIST_ST_OK
                                              : HIST_ST_FAIL;
    if (rc >= 0 && fn == 0)
        t->last_seen[k] = rec->out;
    else if (rc == STRESS_DONE && (fn == 1 || fn == 3))
        t->last_seen[k] = fresh;
    else if (rc == STRESS_DONE && fn == 2)
        t->last_seen[k] = 0;
    return 1;
}

static void
stress_report(stress_thread *t, uint64_t *next_report)
{
    stress_job *r = t->run;
    uint64_t now = sync_now_ns();

    if (t->id != 0 || r->opt->progress == NULL || now < *next_report)
        return;
    *next_report = now + 1000000000ull;
    /* thread 0's count times the threads: an estimate, good for a
     * progress line and free of shared counters on the hot path */
    r->opt->progress(r->opt->progress_arg,
                     t->done * (uint64_t)(r->opt->threads ? r->opt->threads : 1),
                     (double)(now - r->start) / 1e9);
}

static void
stress_open_gate(stress_job *r)
{
    r->start = sync_now_ns();
    r->deadline = r->start + (uint64_t)((r->opt->duration_s > 0
                                             ? r->opt->duration_s
                                             : 1.0) * 1e9);
    r->gate_open = 1;
    pthread_cond_broadcast(&r->gate_cond);
}

/* Waits until every thread has arrived; -1 if the run was aborted. */
static int
stress_gate(stress_job *r)
{
    int abort;

    pthread_mutex_lock(&r->gate_lock);
    if (++r->arrived == r->nthreads)
        stress_open_gate(r);
    while (!r->gate_open && !r->abort)
        pthread_cond_wait(&r->gate_cond, &r->gate_lock);
    abort = r->abort;
    pthread_mutex_unlock(&r->gate_lock);
    return abort ? -1 : 0;
}

/* Whether the thread has reached its next reopen boundary: phase p ends
 * after (p + 1) / (reopens + 1) of its quota, or of the duration. */
static int
stress_reopen_due(const stress_thread *t)
{
    const stress_job *r = t->run;
    unsigned parts = r->opt->reopens + 1, p = t->phase + 1;

    if (t->phase >= r->opt->reopens)
        return 0;
    if (t->quota)
        return t->done >= t->quota * p / parts;
    return sync_now_ns() >= r->start + (r->deadline - r->start) * p / parts;
}

/* The reopen barrier. Every thread leaves the target (thread_end) and
 * waits; the last to arrive reopens it while holding the lock, so no
 * thread runs an operation during the reopen. Returns the reopen's
 * result (0, or negative: the run stops). */
static int
stress_reopen_barrier(stress_thread *t)
{
    stress_job *r = t->run;
    unsigned gen;
    int rc;

    if (r->ops->thread_end)
        r->ops->thread_end(r->target);
    pthread_mutex_lock(&r->gate_lock);
    gen = r->bar_gen;
    if (++r->bar_arrived == r->nthreads) {
        if (r->reopen_rc == 0)
            r->reopen_rc = r->ops->reopen(r->target);
        r->reopens_done += r->reopen_rc == 0;
        r->bar_arrived = 0;
        r->bar_gen++;
        pthread_cond_broadcast(&r->gate_cond);
    }
    while (r->bar_gen == gen)
        pthread_cond_wait(&r->gate_cond, &r->gate_lock);
    rc = r->reopen_rc;
    pthread_mutex_unlock(&r->gate_lock);
    t->phase++;
    if (rc == 0 && r->ops->thread_begin)
        r->ops->thread_begin(r->target);
    return rc;
}

static void *
stress_thread_main(void *arg)
{
    stress_thread *t = arg;
    stress_job *r = t->run;
    uint64_t next_report = 0;

    if (stress_gate(r) != 0)
        return NULL;
    if (r->ops->thread_begin)
        r->ops->thread_begin(r->target);
    for (;;) {
        if (stress_reopen_due(t)) {
            if (stress_reopen_barrier(t) != 0)
                return NULL; /* the target is closed: nothing to end */
            continue;
        }
        if (t->quota ? t->done >= t->quota : sync_now_ns() >= r->deadline)
            break;
        stress_rec *rec = stress_slot(t);
        if (rec == NULL) {
            t->oom = 1;
            break;
        }
        if (stress_one(t, rec) == 0) {
            t->tail->n--; /* a merge step: the slot stays free */
            continue;
        }
        if ((++t->done & 1023) == 0)
            stress_report(t, &next_report);
    }
    /* a thread that stopped early (out of memory) still passes the
     * remaining barriers, or the others would wait for it forever */
    while (t->phase < r->opt->reopens)
        if (stress_reopen_barrier(t) != 0)
            return NULL;
    if (r->ops->thread_end)
        r->ops->thread_end(r->target);
    return NULL;
}

/* ---- merging into a history ------------------------------------------------ */

typedef struct stress_ref {
    uint64_t call;
    const stress_rec *rec;
    uint32_t proc;
} stress_ref;

static int
stress_cmp_ref(const void *a, const void *b)
{
    const stress_ref *x = a, *y = b;

    if (x->call != y->call)
        return x->call < y->call ? -1 : 1;
    return (x->proc > y->proc) - (x->proc < y->proc);
}

static int
stress_value_id(hist *h, uint64_t v, uint32_t *id)
{
    char buf[40];
    int n;

    if (v == 0) {
        *id = HIST_NIL;
        return 0;
    }
    n = snprintf(buf, sizeof(buf), "v%" PRIx64 ".%" PRIx64, (v >> 40) - 1,
                 v & ((UINT64_C(1) << 40) - 1));
    if (v == UINT64_MAX)
        n = snprintf(buf, sizeof(buf), "torn");
    return hist_value(h, buf, (size_t)n, id);
}

static int
stress_add_op(hist *h, const stress_ref *ref, uint64_t id, uint64_t t0)
{
    const stress_rec *c = ref->rec;
    hist_op o = {0};
    char key[24];
    int rc;

    o.id = id;
    o.proc = ref->proc;
    o.call = c->call - t0;
    o.ret = c->status == HIST_ST_INFO ? HIST_NEVER : c->ret - t0;
    o.fn = c->fn;
    o.status = c->status;
    if ((rc = hist_key(h, key, stress_key_str(c->key, key), &o.key)) != 0 ||
        (rc = stress_value_id(h, c->arg1, &o.arg1)) != 0 ||
        (rc = stress_value_id(h, c->arg2, &o.arg2)) != 0 ||
        (rc = stress_value_id(h, c->out, &o.out)) != 0)
        return rc;
    return hist_append(h, &o);
}

static int
stress_merge(stress_job *r, stress_thread *th, unsigned n, hist *h)
{
    size_t total = 0, k = 0;
    stress_ref *refs;
    int rc = 0;

    for (unsigned i = 0; i < n; i++)
        for (stress_chunk *c = th[i].head; c; c = c->next)
            total += c->n;
    if ((refs = malloc((total + 1) * sizeof(*refs))) == NULL)
        return STRESS_ENOMEM;
    for (unsigned i = 0; i < n; i++)
        for (stress_chunk *c = th[i].head; c; c = c->next)
            for (size_t j = 0; j < c->n; j++)
                refs[k++] = (stress_ref){c->recs[j].call, &c->recs[j], i};
    qsort(refs, total, sizeof(*refs), stress_cmp_ref);
    for (size_t i = 0; rc == 0 && i < total; i++)
        rc = stress_add_op(h, &refs[i], i, r->start);
    free(refs);
    return rc == HIST_ENOMEM ? STRESS_ENOMEM : rc;
}

/* ---- running ----------------------------------------------------------------- */

static int
stress_setup(stress_job *r, const stress_options *opt)
{
    static const unsigned dflt[4] = {50, 30, 10, 10};
    const unsigned *mix = opt->mix;

    memset(r, 0, sizeof(*r));
    r->opt = opt;
    r->keys = opt->keys ? opt->keys : 16;
    if (r->keys > STRESS_MAX_KEYS || opt->threads > STRESS_MAX_THREADS)
        return STRESS_EINVAL;
    if (mix[0] + mix[1] + mix[2] + mix[3] == 0)
        mix = dflt;
    for (int i = 0; i < 4; i++)
        r->cum[i] = (i ? r->cum[i - 1] : 0) + mix[i];
    r->cum[4] = r->cum[3] + opt->merge_weight;
    return r->cum[4] < r->cum[3] ? STRESS_EINVAL : 0; /* weights overflow */
}

static void
stress_free_threads(stress_thread *th, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        free(th[i].last_seen);
        for (stress_chunk *c = th[i].head, *nx; c; c = nx) {
            nx = c->next;
            free(c);
        }
    }
    free(th);
}

/* Starts n threads behind the gate and joins them. If a thread cannot be
 * started, the others are released with abort set and do nothing. */
static int
stress_spawn(stress_job *r, stress_thread *th, unsigned n)
{
    unsigned started = 0;

    pthread_mutex_init(&r->gate_lock, NULL);
    pthread_cond_init(&r->gate_cond, NULL);
    r->nthreads = n;
    for (; started < n; started++)
        if (pthread_create(&th[started].tid, NULL, stress_thread_main,
                           &th[started]) != 0)
            break;
    if (started < n) {
        pthread_mutex_lock(&r->gate_lock);
        r->abort = 1;
        pthread_cond_broadcast(&r->gate_cond);
        pthread_mutex_unlock(&r->gate_lock);
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i].tid, NULL);
    pthread_cond_destroy(&r->gate_cond);
    pthread_mutex_destroy(&r->gate_lock);
    return started < n ? STRESS_ETHREAD : 0;
}

static int
stress_prepare_threads(stress_job *r, stress_thread *th, unsigned n)
{
    const stress_options *o = r->opt;
    uint64_t seed = o->seed ? o->seed : 1;

    for (unsigned i = 0; i < n; i++) {
        th[i].run = r;
        th[i].id = i;
        th[i].rng = seed * 0x9e3779b97f4a7c15ull + i;
        th[i].quota = o->ops ? o->ops / n + (i < o->ops % n) : 0;
        th[i].last_seen = calloc(r->keys, sizeof(uint64_t));
        if (th[i].last_seen == NULL)
            return STRESS_ENOMEM;
        /* preallocate the whole buffer in count mode */
        if (th[i].quota && stress_slot(&th[i]) == NULL)
            return STRESS_ENOMEM;
        if (th[i].tail)
            th[i].tail->n = 0;
    }
    return 0;
}

static int
stress_execute(stress_job *r, unsigned n, hist *out, stress_stats *st)
{
    stress_thread *th = calloc(n, sizeof(*th));
    int rc;

    if (th == NULL)
        return STRESS_ENOMEM;
    rc = stress_prepare_threads(r, th, n);
    if (rc == 0)
        rc = stress_spawn(r, th, n);
    uint64_t end = sync_now_ns();
    for (unsigned i = 0; rc == 0 && i < n; i++)
        rc = th[i].oom ? STRESS_ENOMEM : 0;
    if (rc == 0)
        rc = stress_merge(r, th, n, out);
    if (rc == 0 && r->reopen_rc != 0)
        rc = STRESS_ETARGET;
    if (rc == 0 && st != NULL) {
        memset(st, 0, sizeof(*st));
        for (unsigned i = 0; i < n; i++) {
            st->merges += th[i].merges;
            st->merge_errors += th[i].merge_errors;
        }
        st->reopens = r->reopens_done;
        st->ops = out->nops;
        st->seconds = (double)(end - r->start) / 1e9;
        st->ops_per_s = st->seconds > 0 ? (double)st->ops / st->seconds : 0;
    }
    stress_free_threads(th, n);
    return rc;
}

/*
 * Deletes the run's keys before any recorded operation (see stress_run in
 * stress.h): without it, a get in the history could return a value that
 * an earlier run wrote, which no recorded put explains, and the check
 * would fail the target for nothing. The deletes are not recorded; every
 * recorded operation starts after the last one returned.
 */
static int
stress_clear_keys(stress_job *r)
{
    char key[24];
    int rc = 0;

    if (r->ops->thread_begin)
        r->ops->thread_begin(r->target);
    for (uint64_t k = 0; k < r->keys && rc >= 0; k++)
        rc = r->ops->del(r->target, key, stress_key_str(k, key));
    if (r->ops->thread_end)
        r->ops->thread_end(r->target);
    return rc < 0 ? STRESS_ECLEAR : 0;
}

int
stress_run(const stress_options *opt, hist *out, stress_stats *st)
{
    stress_job r;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = opt->threads ? opt->threads : (cpus > 0 ? (unsigned)cpus : 1);
    /* never more threads than operations: a thread with a quota of 0
     * would run until the deadline instead */
    if (opt->ops != 0 && opt->ops < n)
        n = (unsigned)opt->ops;
    const char *name = opt->target ? opt->target : "global";
    int rc;

    if ((rc = stress_setup(&r, opt)) != 0)
        return rc;
    if (hist_init(out, HIST_MODEL_KV) != 0)
        return STRESS_ENOMEM;
    snprintf(out->target, sizeof(out->target), "%s", name);
    snprintf(out->commit, sizeof(out->commit), "%s",
             opt->commit ? opt->commit : "");
    out->threads = n;
    out->seed = opt->seed ? opt->seed : 1;
    if ((rc = stress_target_open(name, &r.ops, &r.target)) != 0) {
        hist_free(out);
        return rc;
    }
    if ((opt->merge_weight && r.ops->merge == NULL) ||
        (opt->reopens && r.ops->reopen == NULL))
        rc = STRESS_EINVAL;
    else if ((rc = stress_clear_keys(&r)) == 0)
        rc = stress_execute(&r, n, out, st);
    r.ops->close(r.target);
    if (rc != 0)
        hist_free(out);
    return rc;
}
