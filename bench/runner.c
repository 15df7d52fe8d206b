/*
 * bench/runner.c - the workload runner of `casklab bench` (see runner.h).
 *
 * Timing: workers start each repetition together at a barrier and run until
 * the main thread raises `stop`; only operations that complete while
 * `measuring` is raised count, and the measured interval is the main
 * thread's, from raising `measuring` to raising `stop`. An operation in
 * flight at either edge shifts a count by at most one per thread, which is
 * noise next to the thousands per repetition. Each operation is timed with
 * the monotonic clock (two vDSO reads, ~40 ns, included in every target's
 * latency alike) and recorded in the worker's own histogram.
 *
 * The load phase has no warm-up by nature (it measures filling an empty
 * store) and repeats on a fresh store instead.
 */
#include "bench/runner.h"
#include "bench/bench.h"
#include "bench/hist.h"
#include "bench/target.h"
#include "sync/atomic.h"
#include "sync/clock.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const double bench_pcts[BENCH_NPCT] = {50, 90, 99, 99.9, 99.99, 100};

/* Upper bound on repetitions, so per-repetition arrays stay on the stack. */
#define BENCH_MAX_REPS 64

struct bench_session {
    bench_spec spec;
    char dir[4096];
    bench_target *t;
    int64_t rss_base;            /* RssAnon before the open, bytes */
    _Atomic uint64_t next_insert; /* D: next key index to insert */
};

enum bench_phase { BENCH_PH_LOAD, BENCH_PH_MIX };

typedef struct bench_pool {
    bench_session *s;
    uint64_t syncs;    /* flushes (bench_flush_count) in measured time */
    double measured;   /* seconds measured, all repetitions */
    enum bench_phase phase;
    wl_mix mix;
    wl_gen gen;        /* prepared once, copied and reseeded per thread */
    unsigned put_flags;
    unsigned reps;
    pthread_barrier_t start, done;
    /* Workers wait at the gate until all were created: +1 go, -1 give up
       (a failed pthread_create leaves the barriers unreachable). */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    int gate;
    atomic_int measuring, stop;
    _Atomic uint64_t errors;
} bench_pool;

typedef struct bench_worker {
    bench_pool *p;
    unsigned id;
    pthread_t th;
    bench_hist hist;
    uint64_t counts[BENCH_MAX_REPS];
} bench_worker;

/* Per-thread buffers and generator of a running worker. */
typedef struct bench_ctx {
    bench_thread th;
    wl_gen gen;
    uint64_t rng;
    unsigned char *key, *val, *buf;
    size_t cap;
    uint64_t errors;
} bench_ctx;

void
bench_make_key(uint64_t i, void *buf, uint32_t key_size)
{
    unsigned char *b = buf;
    uint64_t h = wl_mix64(i);

    /* Big-endian scrambled prefix: unique (wl_mix64 is a bijection) and
       spread over the key space, like YCSB's hashed "user" keys. */
    for (unsigned j = 0; j < 8 && j < key_size; j++)
        b[j] = (unsigned char)(h >> (56 - 8 * j));
    for (uint32_t j = 8; j < key_size; j++)
        b[j] = (unsigned char)('a' + (i >> (j % 8)) % 26);
}

int
bench_workload_ok(const char *name)
{
    wl_mix m;

    return strcmp(name, "durable") == 0 || wl_parse_mix(name, &m) == 0;
}

/* ---- process memory and sleeping --------------------------------------------- */

/* The process's anonymous resident memory in bytes (RssAnon), or 0. */
static int64_t
bench_rss_anon(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "RssAnon: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return (int64_t)kb * 1024;
}

static void
bench_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds,
                          (long)((seconds - (double)(time_t)seconds) * 1e9)};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- session ------------------------------------------------------------------ */

static int
bench_session_reopen(bench_session *s)
{
    bench_target_opts o = {0};
    int rc;

    bench_rmtree(s->dir);
    /* Return freed heap to the kernel so the baseline is not inflated. */
    malloc_trim(0);
    s->rss_base = bench_rss_anon();
    o.keys_hint = s->spec.keys;
    o.key_size = s->spec.key_size;
    o.value_size = s->spec.value_size;
    o.cache_bytes = s->spec.cache_bytes;
    o.threads = s->spec.threads;
    sync_store_rlx(&s->next_insert, s->spec.keys);
    rc = bench_target_open(s->spec.target, s->dir, &o, &s->t);
    if (rc != BENCH_OK)
        s->t = NULL;
    return rc;
}

int
bench_session_open(const bench_spec *spec, bench_session **out,
                   const char **msg)
{
    bench_session *s = calloc(1, sizeof(*s));
    char name[64];
    int rc;

    if (msg)
        *msg = "";
    if (s == NULL)
        return BENCH_ENOMEM;
    if (spec->key_size < 8 || spec->value_size < 1 || spec->threads < 1 ||
        spec->reps < 1 || spec->reps > BENCH_MAX_REPS || spec->keys < 1) {
        free(s);
        return BENCH_EINVAL;
    }
    s->spec = *spec;
    snprintf(name, sizeof(name), "%s", spec->target);
    for (char *c = name; *c; c++)
        if (*c == ':' || *c == '/')
            *c = '_';
    snprintf(s->dir, sizeof(s->dir), "%s/%s-%ld", spec->dir, name,
             (long)getpid());
    rc = bench_session_reopen(s);
    if (rc != BENCH_OK) {
        if (msg && (rc == BENCH_EENGINE || rc == BENCH_EIO))
            *msg = bench_last_error();
        bench_rmtree(s->dir);
        free(s);
        return rc;
    }
    *out = s;
    return BENCH_OK;
}

const char *
bench_session_describe(bench_session *s)
{
    return bench_target_describe(s->t);
}

const char *
bench_session_kind(bench_session *s)
{
    return s->t->ops->kind;
}

const char *
bench_session_error(bench_session *s)
{
    return bench_target_error(s->t);
}

void
bench_session_close(bench_session *s)
{
    if (s == NULL)
        return;
    bench_target_close(s->t);
    bench_rmtree(s->dir);
    free(s);
}

/* ---- workers ------------------------------------------------------------------ */

static int
bench_ctx_init(bench_ctx *c, bench_worker *w)
{
    const bench_spec *sp = &w->p->s->spec;

    memset(c, 0, sizeof(*c));
    c->cap = (size_t)sp->value_size + 64;
    c->key = malloc(sp->key_size);
    c->val = malloc(sp->value_size);
    c->buf = malloc(c->cap);
    if (c->key == NULL || c->val == NULL || c->buf == NULL)
        return BENCH_ENOMEM;
    c->gen = w->p->gen;
    wl_reseed(&c->gen, sp->seed * 1000003 + w->id);
    c->rng = wl_mix64(sp->seed ^ (0x5151ull + w->id));
    /* Incompressible values: random bytes, restamped on each write. */
    for (uint32_t i = 0; i < sp->value_size; i++)
        c->val[i] = (unsigned char)wl_rand(&c->rng);
    return bench_thread_enter(w->p->s->t, w->id, &c->th);
}

static void
bench_ctx_free(bench_ctx *c, int entered)
{
    if (entered)
        bench_thread_leave(&c->th);
    free(c->key);
    free(c->val);
    free(c->buf);
}

static int
bench_do_put(bench_ctx *c, const bench_spec *sp, uint64_t i, unsigned flags)
{
    bench_make_key(i, c->key, sp->key_size);
    memcpy(c->val, &c->rng, sp->value_size < 8 ? sp->value_size : 8);
    c->rng++;
    return bench_put(&c->th, c->key, sp->key_size, c->val, sp->value_size,
                     flags);
}

static int
bench_do_get(bench_ctx *c, const bench_spec *sp, uint64_t i, int absent_ok)
{
    size_t vlen = 0;
    int rc;

    bench_make_key(i, c->key, sp->key_size);
    rc = bench_get(&c->th, c->key, sp->key_size, c->buf, c->cap, &vlen);
    if (rc == BENCH_ENOTFOUND && absent_ok)
        return BENCH_OK;
    if (rc == BENCH_OK && vlen != sp->value_size)
        return BENCH_EINVAL;
    return rc;
}

/* One operation of a mix; returns 0 or the target's error. */
static int
bench_mix_op(bench_pool *p, bench_ctx *c)
{
    bench_session *s = p->s;
    const bench_spec *sp = &s->spec;
    wl_op op = wl_next_op(&p->mix, &c->rng);
    uint64_t newest = sync_load_rlx(&s->next_insert) - 1;
    uint64_t i;

    if (op == WL_OP_INSERT) {
        i = sync_faa_rlx(&s->next_insert, 1);
        /* D's generator covers 2N keys: past that, inserts become updates. */
        if (i >= c->gen.n)
            i = wl_next(&c->gen, newest);
        return bench_do_put(c, sp, i, p->put_flags);
    }
    i = wl_next(&c->gen, newest);
    if (op == WL_OP_UPDATE)
        return bench_do_put(c, sp, i, p->put_flags);
    if (op == WL_OP_RMW) {
        bench_make_key(i, c->key, sp->key_size);
        return bench_rmw(&c->th, c->key, sp->key_size, c->buf, c->cap,
                         sp->value_size);
    }
    /* Under D a read may race the insert of the newest key: not an error. */
    return bench_do_get(c, sp, i, p->mix.forces_latest);
}

static void
bench_record(bench_worker *w, uint64_t t0, unsigned rep)
{
    uint64_t dt = sync_now_ns() - t0;

    if (w->p->phase == BENCH_PH_LOAD || sync_load_rlx(&w->p->measuring)) {
        bench_hist_record(&w->hist, dt);
        w->counts[rep]++;
    }
}

static void
bench_load_share(bench_worker *w, bench_ctx *c)
{
    const bench_spec *sp = &w->p->s->spec;

    for (uint64_t i = w->id; i < sp->keys; i += sp->threads) {
        uint64_t t0 = sync_now_ns();
        c->errors += bench_do_put(c, sp, i, 0) != BENCH_OK;
        bench_record(w, t0, 0);
    }
}

static void
bench_mix_loop(bench_worker *w, bench_ctx *c, unsigned rep)
{
    while (!sync_load_rlx(&w->p->stop)) {
        uint64_t t0 = sync_now_ns();
        c->errors += bench_mix_op(w->p, c) != BENCH_OK;
        bench_record(w, t0, rep);
    }
}

/* Waits until the pool opens the gate; true if the run goes ahead. */
static int
bench_gate_wait(bench_pool *p)
{
    int go;

    pthread_mutex_lock(&p->gate_mu);
    while (p->gate == 0)
        pthread_cond_wait(&p->gate_cv, &p->gate_mu);
    go = p->gate > 0;
    pthread_mutex_unlock(&p->gate_mu);
    return go;
}

static void
bench_gate_open(bench_pool *p, int go)
{
    pthread_mutex_lock(&p->gate_mu);
    p->gate = go ? 1 : -1;
    pthread_cond_broadcast(&p->gate_cv);
    pthread_mutex_unlock(&p->gate_mu);
}

static void *
bench_worker_main(void *arg)
{
    bench_worker *w = arg;
    bench_pool *p = w->p;
    bench_ctx c;

    if (!bench_gate_wait(p))
        return NULL;
    int ok = bench_ctx_init(&c, w) == BENCH_OK;

    for (unsigned rep = 0; rep < p->reps; rep++) {
        pthread_barrier_wait(&p->start);
        if (!ok)
            c.errors++;
        else if (p->phase == BENCH_PH_LOAD)
            bench_load_share(w, &c);
        else
            bench_mix_loop(w, &c, rep);
        pthread_barrier_wait(&p->done);
    }
    sync_faa_rlx(&p->errors, c.errors);
    bench_ctx_free(&c, ok);
    return NULL;
}

/* ---- running a pool ----------------------------------------------------------- */

/* The main thread's side of the repetitions; fills secs[rep]. */
static void
bench_drive(bench_pool *p, double *secs)
{
    const bench_spec *sp = &p->s->spec;

    for (unsigned rep = 0; rep < p->reps; rep++) {
        sync_store_rlx(&p->measuring, 0);
        sync_store_rlx(&p->stop, 0);
        if (p->phase == BENCH_PH_LOAD) {
            /* The clock starts before the gate opens: read after it, this
               thread may be scheduled only once the workers (as many as
               the cores) have finished a small load. */
            uint64_t t0 = sync_now_ns();
            pthread_barrier_wait(&p->start);
            pthread_barrier_wait(&p->done);
            secs[rep] = (double)(sync_now_ns() - t0) / 1e9;
            continue;
        }
        pthread_barrier_wait(&p->start);
        if (rep == 0 && sp->warmup > 0)
            bench_sleep(sp->warmup);
        sync_store_rlx(&p->measuring, 1);
        uint64_t t1 = sync_now_ns(), s1 = bench_flush_count();
        bench_sleep(sp->seconds);
        sync_store_rlx(&p->stop, 1);
        secs[rep] = (double)(sync_now_ns() - t1) / 1e9;
        p->syncs += bench_flush_count() - s1;
        p->measured += secs[rep];
        pthread_barrier_wait(&p->done);
    }
}

static int
bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Median, min and max of n rates (sorted in place) into row. */
static void
bench_spread(double *rate, unsigned n, bench_row *row)
{
    qsort(rate, n, sizeof(rate[0]), bench_cmp_double);
    row->ops_min = rate[0];
    row->ops_max = rate[n - 1];
    row->ops_med = n % 2 ? rate[n / 2] : (rate[n / 2 - 1] + rate[n / 2]) / 2;
}

/* Throughput statistics of a finished pool, and its latencies merged into
   `all` (which may hold earlier repetitions') for the row's percentiles. */
static void
bench_summarise(bench_worker *w, unsigned nw, const double *secs,
                unsigned reps, bench_hist *all, bench_row *row)
{
    double rate[BENCH_MAX_REPS];

    row->ops = 0;
    for (unsigned r = 0; r < reps; r++) {
        uint64_t n = 0;
        for (unsigned i = 0; i < nw; i++)
            n += w[i].counts[r];
        row->ops += n;
        rate[r] = secs[r] > 0 ? (double)n / secs[r] : 0;
    }
    bench_spread(rate, reps, row);
    for (unsigned i = 0; i < nw; i++)
        bench_hist_merge(all, &w[i].hist);
    for (int k = 0; k < BENCH_NPCT; k++)
        row->lat_ns[k] = bench_hist_percentile(all, bench_pcts[k]);
    row->lat_mean_ns = bench_hist_mean(all);
}

/* Starts the workers, drives `reps` repetitions, summarises into row;
   latencies accumulate in `all`. */
static int
bench_pool_run(bench_pool *p, bench_hist *all, bench_row *row)
{
    unsigned nt = p->s->spec.threads;
    bench_worker *w = calloc(nt, sizeof(*w));
    double secs[BENCH_MAX_REPS] = {0};
    unsigned started = 0;

    if (w == NULL)
        return BENCH_ENOMEM;
    pthread_barrier_init(&p->start, NULL, nt + 1);
    pthread_barrier_init(&p->done, NULL, nt + 1);
    pthread_mutex_init(&p->gate_mu, NULL);
    pthread_cond_init(&p->gate_cv, NULL);
    for (; started < nt; started++) {
        w[started].p = p;
        w[started].id = started;
        if (pthread_create(&w[started].th, NULL, bench_worker_main,
                           &w[started]) != 0)
            break;
    }
    bench_gate_open(p, started == nt);
    if (started == nt)
        bench_drive(p, secs);
    for (unsigned i = 0; i < started; i++)
        pthread_join(w[i].th, NULL);
    pthread_barrier_destroy(&p->start);
    pthread_barrier_destroy(&p->done);
    pthread_mutex_destroy(&p->gate_mu);
    pthread_cond_destroy(&p->gate_cv);
    if (started < nt) {
        free(w);
        return BENCH_ENOMEM;
    }
    bench_summarise(w, nt, secs, p->reps, all, row);
    row->errors += sync_load_rlx(&p->errors);
    free(w);
    return BENCH_OK;
}

/* ---- rows --------------------------------------------------------------------- */

static void
bench_row_init(bench_session *s, const char *workload, wl_dist dist,
               bench_row *row)
{
    const bench_spec *sp = &s->spec;

    memset(row, 0, sizeof(*row));
    snprintf(row->target, sizeof(row->target), "%s", sp->target);
    snprintf(row->kind, sizeof(row->kind), "%s", s->t->ops->kind);
    snprintf(row->workload, sizeof(row->workload), "%s", workload);
    row->dist = dist;
    row->theta = dist == WL_UNIFORM ? 0 : sp->theta;
    row->keys = sp->keys;
    row->key_size = sp->key_size;
    row->value_size = sp->value_size;
    row->threads = sp->threads;
    row->cores = bench_ncores();
    row->reps = sp->reps;
}

/* Footprint after a row: disk bytes, and memory per key present. */
static void
bench_footprint(bench_session *s, bench_row *row)
{
    /* D stops inserting at 2N keys (its generator's range). */
    uint64_t present = sync_load_rlx(&s->next_insert);
    if (present > 2 * s->spec.keys)
        present = 2 * s->spec.keys;
    int64_t mem = bench_target_memory(s->t);

    bench_disk d;
    if (bench_dir_usage(s->dir, &d) == 0) {
        int64_t reserved = bench_target_reserved(s->t);
        row->disk_bytes = d.data > reserved ? d.data - reserved : 0;
        row->disk_alloc_bytes = d.alloc;
    } else {
        row->disk_bytes = row->disk_alloc_bytes = -1;
    }
    snprintf(row->mem_source, sizeof(row->mem_source), "%s",
             mem >= 0 ? "self" : "rss_anon");
    if (mem < 0)
        mem = bench_rss_anon() - s->rss_base;
    row->mem_per_key = present ? (double)(mem > 0 ? mem : 0) / (double)present
                               : 0;
}

int
bench_session_load(bench_session *s, bench_row *row)
{
    bench_pool p;
    bench_row one;
    int rc = BENCH_OK;
    double rates[BENCH_MAX_REPS];
    unsigned reps = s->spec.reps;
    bench_hist *all = calloc(1, sizeof(*all));

    if (all == NULL)
        return BENCH_ENOMEM;
    bench_row_init(s, "load", WL_UNIFORM, row);
    for (unsigned r = 0; r < reps && rc == BENCH_OK; r++) {
        if (r > 0) {
            bench_target_close(s->t);
            if ((rc = bench_session_reopen(s)) != BENCH_OK)
                break;
        }
        memset(&p, 0, sizeof(p));
        p.s = s;
        p.phase = BENCH_PH_LOAD;
        p.reps = 1;
        one = *row;
        one.errors = 0;
        rc = bench_pool_run(&p, all, &one);
        rates[r] = one.ops_med;
        row->errors += one.errors;
        row->ops += one.ops;
        /* Percentiles over every load so far (`all` accumulates). */
        memcpy(row->lat_ns, one.lat_ns, sizeof(row->lat_ns));
        row->lat_mean_ns = one.lat_mean_ns;
    }
    free(all);
    if (rc != BENCH_OK)
        return rc;
    bench_spread(rates, reps, row);
    bench_footprint(s, row);
    return BENCH_OK;
}

#define BENCH_PROBE_BATCHES 10u
#define BENCH_PROBE_GETS 100u

uint64_t
bench_session_probe(bench_session *s)
{
    const bench_spec *sp = &s->spec;
    uint64_t best = UINT64_MAX, x = wl_mix64(sp->seed ^ 0x9b0be);
    size_t cap = (size_t)sp->value_size + 64, vlen;
    unsigned char *key = malloc(sp->key_size), *buf = malloc(cap);
    bench_thread th;
    int entered = key != NULL && buf != NULL &&
                  bench_thread_enter(s->t, 0, &th) == BENCH_OK;
    int ok = entered;

    for (unsigned b = 0; ok && b < BENCH_PROBE_BATCHES; b++) {
        uint64_t t0 = sync_now_ns();
        for (unsigned i = 0; ok && i < BENCH_PROBE_GETS; i++) {
            x = wl_mix64(x + i);
            bench_make_key(x % sp->keys, key, sp->key_size);
            ok = bench_get(&th, key, sp->key_size, buf, cap, &vlen) ==
                 BENCH_OK;
        }
        uint64_t dt = (sync_now_ns() - t0) / BENCH_PROBE_GETS;
        best = dt < best ? dt : best;
    }
    if (entered)
        bench_thread_leave(&th);
    free(key);
    free(buf);
    return ok ? best : 0;
}

/* Sets up the pool of workload `name` ("a".."f" or "durable"). */
static int
bench_pool_prepare(bench_session *s, const char *name, wl_dist dist,
                   bench_pool *p)
{
    const bench_spec *sp = &s->spec;
    uint64_t n = sp->keys;

    memset(p, 0, sizeof(*p));
    p->s = s;
    p->phase = BENCH_PH_MIX;
    p->reps = sp->reps;
    if (strcmp(name, "durable") == 0) {
        p->mix = (wl_mix){'u', 0, 100, 0, 0, 0};
        p->put_flags = BENCH_PUT_SYNC;
    } else if (wl_parse_mix(name, &p->mix) != 0) {
        return BENCH_EINVAL;
    }
    if (p->mix.forces_latest) {
        dist = WL_LATEST;
        n = sp->keys * 2; /* room for D's inserts */
    }
    wl_init(&p->gen, dist, n, sp->theta, sp->seed);
    return BENCH_OK;
}

int
bench_session_run(bench_session *s, const char *workload, wl_dist dist,
                  bench_row *row)
{
    bench_pool p;
    int rc = bench_pool_prepare(s, workload, dist, &p);

    if (rc != BENCH_OK)
        return rc;
    bench_hist *all = calloc(1, sizeof(*all));
    if (all == NULL)
        return BENCH_ENOMEM;
    bench_row_init(s, workload, p.gen.dist, row);
    rc = bench_pool_run(&p, all, row);
    free(all);
    if (rc != BENCH_OK)
        return rc;
    if (p.measured > 0)
        row->syncs_per_s = (double)p.syncs / p.measured;
    bench_footprint(s, row);
    return BENCH_OK;
}
