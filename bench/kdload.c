/*
 * bench/kdload.c - the put/get/del keydir workload of `casklab demo`.
 *
 * Threads start each phase together at a barrier; a phase's time runs from
 * the barrier to the last thread's end, so a straggler counts against the
 * keydir (as it would against its users). The get phase runs for a fixed
 * duration: the main thread sleeps, then raises a stop flag that workers
 * poll every 256 operations, keeping the flag off the hot path.
 */
#include "bench/bench.h"
#include "bench/workload.h"
#include "ds/keydir.h"
#include "sync/atomic.h"
#include "sync/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct kdl_shared {
    kd_keydir *kd;
    const bench_kd_config *cfg;
    pthread_barrier_t start, done;
    atomic_bool stop;
    _Atomic uint64_t gets, errors;
} kdl_shared;

typedef struct kdl_worker {
    kdl_shared *sh;
    unsigned id;
    pthread_t th;
} kdl_worker;

unsigned
bench_ncores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 ? (unsigned)n : 1;
}

static void
kdl_count_error(kdl_shared *sh, int bad)
{
    if (bad)
        sync_faa_rlx(&sh->errors, 1);
}

static void
kdl_put_phase(kdl_worker *w)
{
    kdl_shared *sh = w->sh;
    unsigned t = sh->cfg->threads;

    for (uint64_t i = w->id; i < sh->cfg->keys; i += t) {
        uint64_t k = wl_mix64(i);
        kd_entry e = {w->id, 100, i * 128, i + 1};
        kdl_count_error(sh, kd_put(sh->kd, &k, 8, &e, NULL) != KD_INSERTED);
    }
}

static void
kdl_get_phase(kdl_worker *w)
{
    kdl_shared *sh = w->sh;
    uint64_t rng = wl_mix64(sh->cfg->seed + w->id), n = 0, bad = 0;
    kd_entry e;

    while (!sync_load_rlx(&sh->stop)) {
        for (int j = 0; j < 256; j++) {
            rng = wl_mix64(rng);
            uint64_t i = rng % sh->cfg->keys, k = wl_mix64(i);
            bad += kd_get(sh->kd, &k, 8, &e) != KD_OK || e.seq != i + 1;
        }
        n += 256;
        kd_quiescent(sh->kd);
    }
    sync_faa_rlx(&sh->gets, n);
    sync_faa_rlx(&sh->errors, bad);
}

static void
kdl_del_phase(kdl_worker *w)
{
    kdl_shared *sh = w->sh;

    for (uint64_t i = w->id; i < sh->cfg->keys; i += sh->cfg->threads) {
        uint64_t k = wl_mix64(i);
        kdl_count_error(sh, kd_del(sh->kd, &k, 8, NULL) != KD_OK);
    }
}

static void *
kdl_worker_main(void *p)
{
    kdl_worker *w = p;
    void (*phases[])(kdl_worker *) = {kdl_put_phase, kdl_get_phase,
                                      kdl_del_phase};

    kd_thread_register(w->sh->kd);
    for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
        pthread_barrier_wait(&w->sh->start);
        phases[i](w);
        kd_quiescent(w->sh->kd);
        pthread_barrier_wait(&w->sh->done);
    }
    kd_thread_unregister(w->sh->kd);
    return NULL;
}

static void
kdl_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds,
                          (long)((seconds - (double)(time_t)seconds) * 1e9)};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Runs one phase from the main thread's side; returns its seconds. */
static double
kdl_phase(kdl_shared *sh, double sleep_s)
{
    uint64_t t0;

    pthread_barrier_wait(&sh->start);
    t0 = sync_now_ns();
    if (sleep_s > 0) {
        kdl_sleep(sleep_s);
        sync_store_rlx(&sh->stop, true);
    }
    pthread_barrier_wait(&sh->done);
    return (double)(sync_now_ns() - t0) / 1e9;
}

static void
kdl_defaults(const bench_kd_config *in, bench_kd_config *out)
{
    *out = *in;
    if (out->keys == 0)
        out->keys = 1000000;
    if (out->threads == 0)
        out->threads = bench_ncores();
    if (out->get_seconds <= 0)
        out->get_seconds = 1.0;
    if (out->seed == 0)
        out->seed = 42;
}

static void
kdl_measure(kdl_shared *sh, bench_kd_result *out)
{
    double mkeys = (double)sh->cfg->keys / 1e6;
    double put_s = kdl_phase(sh, 0);

    out->bytes_per_key = (double)kd_memory(sh->kd) / (double)sh->cfg->keys;
    double get_s = kdl_phase(sh, sh->cfg->get_seconds);
    double del_s = kdl_phase(sh, 0);

    out->put_mops = mkeys / put_s;
    out->get_mops = (double)sync_load_rlx(&sh->gets) / 1e6 / get_s;
    out->del_mops = mkeys / del_s;
}

int
bench_keydir_run(const char *name, const bench_kd_config *cfg_in,
                 bench_kd_result *out)
{
    bench_kd_config cfg;
    kdl_shared sh;
    kdl_worker *w;
    int rc;

    kdl_defaults(cfg_in, &cfg);
    memset(&sh, 0, sizeof(sh));
    sh.cfg = &cfg;
    /* Sized for the key space, as `casklab bench` does: the pre-sized peer
     * (urcu_lfht) never grows, and would otherwise run with long chains. */
    kd_options opt = {0};
    opt.capacity_hint = cfg.keys;
    rc = kd_open(name, &opt, &sh.kd);
    if (rc != KD_OK)
        return rc;
    w = calloc(cfg.threads, sizeof(*w));
    if (w == NULL) {
        kd_close(sh.kd);
        return KD_ENOMEM;
    }
    pthread_barrier_init(&sh.start, NULL, cfg.threads + 1);
    pthread_barrier_init(&sh.done, NULL, cfg.threads + 1);
    for (unsigned i = 0; i < cfg.threads; i++) {
        w[i] = (kdl_worker){&sh, i, 0};
        pthread_create(&w[i].th, NULL, kdl_worker_main, &w[i]);
    }
    memset(out, 0, sizeof(*out));
    kdl_measure(&sh, out);
    for (unsigned i = 0; i < cfg.threads; i++)
        pthread_join(w[i].th, NULL);
    out->threads = cfg.threads;
    out->keys = cfg.keys;
    out->errors = sync_load_rlx(&sh.errors);
    pthread_barrier_destroy(&sh.start);
    pthread_barrier_destroy(&sh.done);
    free(w);
    kd_close(sh.kd);
    return KD_OK;
}
