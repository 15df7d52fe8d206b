/*
 * ds/broken_kd.c - deliberately broken keydirs, for the checker's tests.
 *
 * Registered with KD_FLAG_TEST_ONLY: the conformance suite and the
 * benchmarks skip them. They exist to prove that `casklab stress` plus
 * `casklab check` catch real bug classes:
 *
 *   racy   every read-modify-write (cas, del_if, put_if_newer) reads under
 *          the lock, releases it, yields, and writes under the lock again:
 *          two cas on one key can both "succeed" (a lost update).
 *   stale  remembers each key's previous entry; every third get returns it
 *          instead of the current one (a read of an overwritten value, as a
 *          cache without invalidation would give).
 *
 * Both are one chained table (ds/chain.c) behind one mutex; apart from the
 * bug, every operation is linearizable at the moment it holds the lock.
 */
#include "ds/chain_internal.h"

#include <pthread.h>
#include <time.h>
#include <stdlib.h>

enum bkd_bug { BKD_RACY, BKD_STALE };

typedef struct bkd {
    kd_keydir base;
    enum bkd_bug bug;
    pthread_mutex_t lock;
    kd_chain chain;
    kd_chain prev;            /* stale: key -> entry before the last write */
    _Atomic uint64_t gets;    /* stale: which get returns the old entry */
} bkd;

static int
bkd_open(const kd_ops *ops, enum bkd_bug bug, const kd_options *opt,
         kd_keydir **out)
{
    bkd *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return KD_ENOMEM;
    b->base.ops = ops;
    b->bug = bug;
    b->base.seed = opt && opt->seed ? opt->seed : KD_DEFAULT_SEED;
    if (kd_chain_init(&b->chain, opt ? opt->capacity_hint : 0) != 0 ||
        kd_chain_init(&b->prev, 0) != 0) {
        kd_chain_destroy(&b->chain);
        free(b);
        return KD_ENOMEM;
    }
    pthread_mutex_init(&b->lock, NULL);
    *out = &b->base;
    return 0;
}

static void
bkd_close(kd_keydir *kd)
{
    bkd *b = (bkd *)kd;

    kd_chain_destroy(&b->chain);
    kd_chain_destroy(&b->prev);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* Remembers the entry a write is about to replace (stale only). */
static void
bkd_remember(bkd *b, const void *key, size_t klen, uint64_t hash)
{
    kd_entry old;

    if (kd_chain_get(&b->chain, key, klen, hash, &old) == KD_OK)
        kd_chain_put(&b->prev, key, klen, hash, &old, NULL);
}

static int
bkd_get(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *out)
{
    bkd *b = (bkd *)kd;
    int rc;

    pthread_mutex_lock(&b->lock);
    rc = kd_chain_get(&b->chain, key, klen, hash, out);
    if (rc == KD_OK && b->bug == BKD_STALE &&
        sync_faa_rlx(&b->gets, 1) % 3 == 2)
        (void)kd_chain_get(&b->prev, key, klen, hash, out); /* the bug */
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int
bkd_put(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *e, kd_entry *old)
{
    bkd *b = (bkd *)kd;
    int rc;

    pthread_mutex_lock(&b->lock);
    bkd_remember(b, key, klen, hash);
    rc = kd_chain_put(&b->chain, key, klen, hash, e, old);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int
bkd_del(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *old)
{
    bkd *b = (bkd *)kd;
    int rc;

    pthread_mutex_lock(&b->lock);
    bkd_remember(b, key, klen, hash);
    rc = kd_chain_del(&b->chain, key, klen, hash, old);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* Reads the current entry (under the lock), then - racy only - lets other
 * threads run before the caller writes: the read and the write are two
 * critical sections, which is the bug. The pause is a short sleep rather
 * than a bare yield: on a loaded machine a yield often returns at once, and
 * the bug would then show too rarely to be caught on a handful of seeds. */
static int
bkd_read_phase(bkd *b, const void *key, size_t klen, uint64_t hash,
               kd_entry *cur)
{
    int rc;

    pthread_mutex_lock(&b->lock);
    rc = kd_chain_get(&b->chain, key, klen, hash, cur);
    if (b->bug == BKD_RACY) {
        struct timespec pause = {0, 20000}; /* 20 us */
        pthread_mutex_unlock(&b->lock);
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&b->lock);
    }
    return rc; /* returns with the lock held */
}

static int
bkd_cas(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *expected, const kd_entry *desired)
{
    bkd *b = (bkd *)kd;
    kd_entry cur;
    int rc = bkd_read_phase(b, key, klen, hash, &cur);

    if (expected == NULL && rc == KD_OK)
        rc = KD_EEXIST;
    else if (expected != NULL && rc == KD_OK && !kd_entry_eq(&cur, expected))
        rc = KD_ECHANGED;
    else if (expected == NULL || rc == KD_OK) {
        bkd_remember(b, key, klen, hash);
        rc = kd_chain_put(&b->chain, key, klen, hash, desired, NULL);
        rc = rc < 0 ? rc : KD_OK;
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int
bkd_del_if(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
           const kd_entry *expected)
{
    bkd *b = (bkd *)kd;
    kd_entry cur;
    int rc = bkd_read_phase(b, key, klen, hash, &cur);

    if (rc == KD_OK && !kd_entry_eq(&cur, expected))
        rc = KD_ECHANGED;
    else if (rc == KD_OK) {
        bkd_remember(b, key, klen, hash);
        (void)kd_chain_del(&b->chain, key, klen, hash, NULL);
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int
bkd_put_if_newer(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
                 const kd_entry *e, kd_entry *old)
{
    bkd *b = (bkd *)kd;
    kd_entry cur;
    int rc = bkd_read_phase(b, key, klen, hash, &cur);

    if (rc == KD_OK && cur.seq >= e->seq) {
        if (old)
            *old = cur;
        rc = KD_ESTALE;
    } else {
        bkd_remember(b, key, klen, hash);
        rc = kd_chain_put(&b->chain, key, klen, hash, e, old);
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static uint64_t
bkd_count(kd_keydir *kd)
{
    return sync_load_rlx(&((bkd *)kd)->chain.count);
}

static int
bkd_iterate(kd_keydir *kd, kd_visit_fn fn, void *arg)
{
    bkd *b = (bkd *)kd;
    int rc;

    pthread_mutex_lock(&b->lock);
    rc = kd_chain_iterate(&b->chain, fn, arg);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static uint64_t
bkd_memory(kd_keydir *kd)
{
    bkd *b = (bkd *)kd;

    return sizeof(*b) + sync_load_rlx(&b->chain.bytes) +
           sync_load_rlx(&b->prev.bytes);
}

static int bkd_open_racy(const kd_options *opt, kd_keydir **out);
static int bkd_open_stale(const kd_options *opt, kd_keydir **out);

#define BKD_OPS_TABLE(var, name, summary, open_fn)                            \
    const kd_ops var = {                                                      \
        name, summary, KD_FLAG_TEST_ONLY, open_fn, bkd_close, bkd_get,        \
        bkd_put, bkd_put_if_newer, bkd_cas, bkd_del, bkd_del_if, bkd_count,   \
        bkd_iterate, bkd_memory, NULL, NULL, NULL,                            \
    }

BKD_OPS_TABLE(kd_racy_ops, "racy",
              "BROKEN (tests only): read-modify-write split in two",
              bkd_open_racy);
BKD_OPS_TABLE(kd_stale_ops, "stale",
              "BROKEN (tests only): every third get returns the old value",
              bkd_open_stale);

static int
bkd_open_racy(const kd_options *opt, kd_keydir **out)
{
    return bkd_open(&kd_racy_ops, BKD_RACY, opt, out);
}

static int
bkd_open_stale(const kd_options *opt, kd_keydir **out)
{
    return bkd_open(&kd_stale_ops, BKD_STALE, opt, out);
}
