/*
 * stress/kdvalidate.c - the keydir stress validator (issue 4): many threads
 * hammer a small key space of one keydir, and the final state is checked
 * against what the threads did, not merely "it did not crash".
 *
 * Phase 1, last writer wins: every write is put_if_newer with a globally
 * unique seq from one counter, and the entry identifies its writer
 * (file_id = thread, value_pos = seq * 64 + thread, value_size = a
 * checksum of both). Each thread also reads random keys. Checked on the
 * fly: every entry read is whole and was written by the thread it names;
 * REPLACED returns an older entry, ESTALE a newer one. Checked at the end:
 * each key holds exactly the largest seq any thread tried to write to it
 * (that write could never be stale, and nothing can replace it), written
 * by the thread that drew that seq.
 * Phase 2, atomic counters: threads increment per-key counters with a
 * get + cas loop and also delete and reinsert private keys (del_if); the
 * final counters must add up to the increments made: a lost or doubled
 * update shows. Under AddressSanitizer the run ends with leak checking.
 *
 * Usage: kdvalidate KEYDIR [--threads N] [--keys K] [--ops N]
 *                   [--reclaim NAME] [--flavor NAME]
 * Exit: 0 valid, 1 a violation was found, 64 usage or open error.
 */
#include "ds/keydir.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KDV_MAX_THREADS 64u
#define KDV_COUNTERS 8u

typedef struct kdv_cfg {
    const char *name;
    unsigned threads;
    uint64_t keys, ops;
    kd_options opt;
} kdv_cfg;

typedef struct kdv_shared {
    kdv_cfg cfg;
    kd_keydir *kd;
    _Atomic uint64_t next_seq;
    _Atomic uint64_t violations;
    _Atomic uint64_t increments;
    uint64_t *max_seq; /* [thread][key]: largest seq the thread tried */
} kdv_shared;

typedef struct kdv_arg {
    kdv_shared *sh;
    unsigned id;
} kdv_arg;

static uint64_t
kdv_rand(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static kd_entry
kdv_entry(unsigned tid, uint64_t seq)
{
    kd_entry e = {tid, (uint32_t)((seq * 31 + tid) & 0xffffff),
                  seq * 64 + tid, seq};
    return e;
}

static int
kdv_whole(const kd_entry *e, unsigned threads)
{
    return e->file_id < threads && e->value_pos == e->seq * 64 + e->file_id &&
           e->value_size == (uint32_t)((e->seq * 31 + e->file_id) & 0xffffff);
}

static void
kdv_key(uint64_t i, unsigned char k[9])
{
    k[0] = 'v';
    memcpy(k + 1, &i, 8);
}

static void
kdv_violation(kdv_shared *sh, const char *what, uint64_t key)
{
    if (atomic_fetch_add(&sh->violations, 1) < 10)
        fprintf(stderr, "kdvalidate: %s: %s (key %llu)\n", sh->cfg.name,
                what, (unsigned long long)key);
}

static void
kdv_check_write(kdv_shared *sh, int rc, const kd_entry *old,
                uint64_t seq, uint64_t key)
{
    unsigned t = sh->cfg.threads;

    if (rc == KD_REPLACED && (!kdv_whole(old, t) || old->seq >= seq))
        kdv_violation(sh, "REPLACED returned a bad or newer entry", key);
    else if (rc == KD_ESTALE && (!kdv_whole(old, t) || old->seq <= seq))
        kdv_violation(sh, "ESTALE returned a bad or older entry", key);
    else if (rc != KD_INSERTED && rc != KD_REPLACED && rc != KD_ESTALE)
        kdv_violation(sh, kd_strerror(rc), key);
}

static void *
kdv_lww_thread(void *p)
{
    kdv_arg *a = p;
    kdv_shared *sh = a->sh;
    uint64_t rng = a->id * 7919u + 1;
    uint64_t *mine = sh->max_seq + a->id * sh->cfg.keys;
    unsigned char k[9];

    kd_thread_register(sh->kd);
    for (uint64_t n = 0; n < sh->cfg.ops; n++) {
        uint64_t r = kdv_rand(&rng), i = r % sh->cfg.keys;
        kd_entry got;
        kdv_key(i, k);
        if ((r >> 32) % 4 == 0) {
            int rc = kd_get(sh->kd, k, 9, &got);
            if (rc == KD_OK && !kdv_whole(&got, sh->cfg.threads))
                kdv_violation(sh, "get returned a torn entry", i);
            else if (rc != KD_OK && rc != KD_ENOTFOUND)
                kdv_violation(sh, kd_strerror(rc), i);
        } else {
            uint64_t seq = atomic_fetch_add(&sh->next_seq, 1) + 1;
            kd_entry e = kdv_entry(a->id, seq), old;
            mine[i] = seq;
            kdv_check_write(sh, kd_put_if_newer(sh->kd, k, 9, &e, &old), &old,
                            seq, i);
        }
        if (n % 64 == 0)
            kd_quiescent(sh->kd);
    }
    kd_thread_unregister(sh->kd);
    return NULL;
}

/* Adds one to a counter key with get + cas; returns 0 on a violation. */
static int
kdv_increment(kdv_shared *sh, const unsigned char *k, uint64_t i)
{
    for (;;) {
        kd_entry cur, next;
        if (kd_get(sh->kd, k, 9, &cur) != KD_OK) {
            kdv_violation(sh, "counter key vanished", i);
            return 0;
        }
        next = cur;
        next.value_pos++;
        next.seq++;
        int rc = kd_cas(sh->kd, k, 9, &cur, &next);
        if (rc == KD_OK)
            return 1;
        if (rc != KD_ECHANGED) {
            kdv_violation(sh, kd_strerror(rc), i);
            return 0;
        }
    }
}

static void *
kdv_cas_thread(void *p)
{
    kdv_arg *a = p;
    kdv_shared *sh = a->sh;
    uint64_t rng = a->id * 104729u + 3, own = (1ull << 40) + a->id;
    unsigned char k[9], ko[9];
    kd_entry mark = kdv_entry(a->id, 1);

    kd_thread_register(sh->kd);
    kdv_key(own, ko);
    for (uint64_t n = 0; n < sh->cfg.ops / 4; n++) {
        uint64_t i = kdv_rand(&rng) % KDV_COUNTERS;
        kdv_key((1ull << 32) + i, k);
        if (kdv_increment(sh, k, i))
            atomic_fetch_add(&sh->increments, 1);
        /* a private key inserted with cas(NULL) and removed with del_if */
        if (kd_cas(sh->kd, ko, 9, NULL, &mark) != KD_OK ||
            kd_del_if(sh->kd, ko, 9, &mark) != KD_OK)
            kdv_violation(sh, "private key insert/delete failed", own);
        if (n % 64 == 0)
            kd_quiescent(sh->kd);
    }
    kd_thread_unregister(sh->kd);
    return NULL;
}

static int
kdv_run(kdv_shared *sh, void *(*fn)(void *))
{
    pthread_t th[KDV_MAX_THREADS];
    kdv_arg args[KDV_MAX_THREADS];
    unsigned started = 0;

    for (; started < sh->cfg.threads; started++) {
        args[started] = (kdv_arg){sh, started};
        if (pthread_create(&th[started], NULL, fn, &args[started]) != 0)
            break;
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return started == sh->cfg.threads ? 0 : -1;
}

static void
kdv_check_lww(kdv_shared *sh)
{
    unsigned char k[9];

    for (uint64_t i = 0; i < sh->cfg.keys; i++) {
        uint64_t want = 0, by = 0;
        kd_entry got;
        for (unsigned t = 0; t < sh->cfg.threads; t++) {
            if (sh->max_seq[t * sh->cfg.keys + i] > want) {
                want = sh->max_seq[t * sh->cfg.keys + i];
                by = t;
            }
        }
        kdv_key(i, k);
        int rc = kd_get(sh->kd, k, 9, &got);
        if (want == 0 ? rc != KD_ENOTFOUND
                      : rc != KD_OK || got.seq != want || got.file_id != by ||
                            !kdv_whole(&got, sh->cfg.threads))
            kdv_violation(sh, "final entry is not the last write by seq", i);
    }
}

static void
kdv_check_counters(kdv_shared *sh)
{
    unsigned char k[9];
    uint64_t total = 0;

    for (uint64_t i = 0; i < KDV_COUNTERS; i++) {
        kd_entry got;
        kdv_key((1ull << 32) + i, k);
        if (kd_get(sh->kd, k, 9, &got) != KD_OK || got.value_pos != got.seq)
            kdv_violation(sh, "counter entry lost or torn", i);
        else
            total += got.value_pos;
    }
    if (total != atomic_load(&sh->increments))
        kdv_violation(sh, "counter increments lost or doubled", total);
}

static int
kdv_usage(void)
{
    fprintf(stderr,
            "usage: kdvalidate KEYDIR [--threads N] [--keys K] [--ops N]\n"
            "                  [--reclaim NAME] [--flavor NAME]\n"
            "Stress-validates one keydir: last-writer-wins by seq and\n"
            "atomic cas counters on a small key space. Exit 0 valid,\n"
            "1 violation found, 64 usage or open error.\n");
    return 64;
}

static int
kdv_parse(int argc, char **argv, kdv_cfg *c)
{
    *c = (kdv_cfg){.threads = 4, .keys = 64, .ops = 50000};
    if (argc < 2 || argv[1][0] == '-')
        return -1;
    c->name = argv[1];
    for (int i = 2; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (v == NULL)
            return -1;
        if (strcmp(argv[i], "--reclaim") == 0) {
            c->opt.reclaim = v;
            continue;
        }
        if (strcmp(argv[i], "--flavor") == 0) {
            c->opt.flavor = v;
            continue;
        }
        unsigned long long n = strtoull(v, &end, 10);
        if (*end != '\0' || n == 0)
            return -1;
        if (strcmp(argv[i], "--threads") == 0 && n <= KDV_MAX_THREADS)
            c->threads = (unsigned)n;
        else if (strcmp(argv[i], "--keys") == 0 && n <= (1u << 20))
            c->keys = n;
        else if (strcmp(argv[i], "--ops") == 0)
            c->ops = n;
        else
            return -1;
    }
    return 0;
}

static int
kdv_setup_counters(kdv_shared *sh)
{
    unsigned char k[9];
    kd_entry zero = {0, 0, 0, 0};

    for (uint64_t i = 0; i < KDV_COUNTERS; i++) {
        kdv_key((1ull << 32) + i, k);
        if (kd_cas(sh->kd, k, 9, NULL, &zero) != KD_OK)
            return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    kdv_shared sh = {0};

    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        kdv_usage();
        return 0;
    }
    if (kdv_parse(argc, argv, &sh.cfg) != 0)
        return kdv_usage();
    int rc = kd_open(sh.cfg.name, &sh.cfg.opt, &sh.kd);
    if (rc != KD_OK) {
        fprintf(stderr, "kdvalidate: cannot open keydir '%s': %s\n",
                sh.cfg.name, kd_strerror(rc));
        return 64;
    }
    sh.max_seq = calloc((size_t)sh.cfg.threads * sh.cfg.keys,
                        sizeof(uint64_t));
    /* main stays unregistered while workers run: a registered qsbr thread
     * that never announces quiescence would hold back every grace period */
    kd_thread_register(sh.kd);
    int setup = sh.max_seq != NULL ? kdv_setup_counters(&sh) : -1;
    kd_thread_unregister(sh.kd);
    if (setup != 0 || kdv_run(&sh, kdv_lww_thread) != 0 ||
        kdv_run(&sh, kdv_cas_thread) != 0) {
        fprintf(stderr, "kdvalidate: %s: setup failed\n", sh.cfg.name);
        rc = 64;
    } else {
        kd_thread_register(sh.kd);
        kdv_check_lww(&sh);
        kdv_check_counters(&sh);
        rc = atomic_load(&sh.violations) != 0;
        printf("kdvalidate: %s: %u threads, %llu keys, %llu ops/thread: %s "
               "(%llu violations, %llu bytes held)\n",
               sh.cfg.name, sh.cfg.threads, (unsigned long long)sh.cfg.keys,
               (unsigned long long)sh.cfg.ops, rc ? "INVALID" : "valid",
               (unsigned long long)atomic_load(&sh.violations),
               (unsigned long long)kd_memory(sh.kd));
        kd_thread_unregister(sh.kd);
    }
    kd_close(sh.kd);
    free(sh.max_seq);
    return rc;
}
