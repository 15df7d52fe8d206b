/*
 * ds/mutex_kd.c - the lock-based keydirs: `global`, `striped`, `striped_rw`.
 *
 * One design with a knob: the key space is split by the high bits of the
 * hash into N stripes, each a chained hash table (ds/chain.c) behind its own
 * lock. `global` is N = 1 with a mutex: the baseline every other keydir is
 * measured against. `striped` is N = 64 (or kd_options.stripes) mutexes;
 * `striped_rw` uses rwlocks so that readers of one stripe proceed together.
 *
 * Why striping bounds resize pauses: each stripe grows on its own, under its
 * own lock, rehashing only its 1/N of the keys; the other stripes keep
 * serving. Stripes are cache-line aligned so that two stripes' locks never
 * share a line (false sharing would serialise them anyway).
 *
 * Guarantees are listed in ds/keydir.h. Every per-key operation is
 * linearizable at the instant it holds the key's stripe lock and blocking;
 * nodes are freed immediately under that lock because no caller ever holds
 * a pointer into the table (entries are copied out).
 */
#include "ds/chain_internal.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>

#define MKD_DEFAULT_STRIPES 64u
#define MKD_MAX_STRIPES 65536u

typedef struct mkd_stripe {
    alignas(64) union {
        pthread_mutex_t m;
        pthread_rwlock_t rw;
    } lock;
    kd_chain chain;
} mkd_stripe;

typedef struct mkd {
    kd_keydir base;
    int rw;              /* 1: rwlocks, 0: mutexes */
    unsigned shift;      /* stripe = hash >> shift; 64 means one stripe */
    uint32_t nstripes;
    mkd_stripe *stripes;
} mkd;

static mkd_stripe *
mkd_stripe_of(mkd *m, uint64_t hash)
{
    return m->shift >= 64 ? &m->stripes[0] : &m->stripes[hash >> m->shift];
}

static void
mkd_lock_read(mkd *m, mkd_stripe *s)
{
    if (m->rw)
        pthread_rwlock_rdlock(&s->lock.rw);
    else
        pthread_mutex_lock(&s->lock.m);
}

static void
mkd_lock_write(mkd *m, mkd_stripe *s)
{
    if (m->rw)
        pthread_rwlock_wrlock(&s->lock.rw);
    else
        pthread_mutex_lock(&s->lock.m);
}

static void
mkd_unlock(mkd *m, mkd_stripe *s)
{
    if (m->rw)
        pthread_rwlock_unlock(&s->lock.rw);
    else
        pthread_mutex_unlock(&s->lock.m);
}

static uint32_t
mkd_pow2_stripes(uint32_t want)
{
    uint32_t n = 1;

    if (want > MKD_MAX_STRIPES)
        want = MKD_MAX_STRIPES;
    while (n < want)
        n <<= 1;
    return n;
}

static void
mkd_free(mkd *m, uint32_t initialised)
{
    for (uint32_t i = 0; i < initialised; i++) {
        kd_chain_destroy(&m->stripes[i].chain);
        if (m->rw)
            pthread_rwlock_destroy(&m->stripes[i].lock.rw);
        else
            pthread_mutex_destroy(&m->stripes[i].lock.m);
    }
    free(m->stripes);
    free(m);
}

static int
mkd_open_common(const kd_ops *ops, const kd_options *opt, uint32_t nstripes,
                int rw, kd_keydir **out)
{
    mkd *m = calloc(1, sizeof(*m));
    unsigned bits = 0;

    if (m == NULL)
        return KD_ENOMEM;
    m->base.ops = ops;
    m->base.seed = opt->seed ? opt->seed : KD_DEFAULT_SEED;
    m->rw = rw;
    m->nstripes = nstripes;
    while ((1u << bits) < nstripes)
        bits++;
    m->shift = 64 - bits;
    m->stripes = aligned_alloc(64, sizeof(mkd_stripe) * nstripes);
    if (m->stripes == NULL) {
        free(m);
        return KD_ENOMEM;
    }
    for (uint32_t i = 0; i < nstripes; i++) {
        mkd_stripe *s = &m->stripes[i];
        if (kd_chain_init(&s->chain, opt->capacity_hint / nstripes) != KD_OK) {
            mkd_free(m, i);
            return KD_ENOMEM;
        }
        if (rw)
            pthread_rwlock_init(&s->lock.rw, NULL);
        else
            pthread_mutex_init(&s->lock.m, NULL);
    }
    *out = &m->base;
    return KD_OK;
}

static const kd_options mkd_no_options;

static const kd_options *
mkd_opt(const kd_options *opt)
{
    return opt != NULL ? opt : &mkd_no_options;
}

static void
mkd_close(kd_keydir *kd)
{
    mkd *m = (mkd *)kd;

    mkd_free(m, m->nstripes);
}

/* Each operation: find the stripe, take its lock, run the chain op. */
#define MKD_OP(lock_fn, call)                                                 \
    do {                                                                      \
        mkd *m_ = (mkd *)kd;                                                  \
        mkd_stripe *s_ = mkd_stripe_of(m_, hash);                             \
        lock_fn(m_, s_);                                                      \
        int rc_ = call;                                                       \
        mkd_unlock(m_, s_);                                                   \
        return rc_;                                                           \
    } while (0)

static int
mkd_get(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *out)
{
    MKD_OP(mkd_lock_read, kd_chain_get(&s_->chain, key, klen, hash, out));
}

static int
mkd_put(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *e, kd_entry *old)
{
    MKD_OP(mkd_lock_write, kd_chain_put(&s_->chain, key, klen, hash, e, old));
}

static int
mkd_put_if_newer(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
                 const kd_entry *e, kd_entry *old)
{
    MKD_OP(mkd_lock_write,
           kd_chain_put_if_newer(&s_->chain, key, klen, hash, e, old));
}

static int
mkd_cas(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *expected, const kd_entry *desired)
{
    MKD_OP(mkd_lock_write,
           kd_chain_cas(&s_->chain, key, klen, hash, expected, desired));
}

static int
mkd_del(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *old)
{
    MKD_OP(mkd_lock_write, kd_chain_del(&s_->chain, key, klen, hash, old));
}

static int
mkd_del_if(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
           const kd_entry *expected)
{
    MKD_OP(mkd_lock_write,
           kd_chain_del_if(&s_->chain, key, klen, hash, expected));
}

/* With one stripe the count is read under the lock, so it is linearizable;
 * with many it is a sum of relaxed per-stripe counters (see keydir.h). */
static uint64_t
mkd_count(kd_keydir *kd)
{
    mkd *m = (mkd *)kd;
    uint64_t sum = 0;

    if (m->nstripes == 1) {
        mkd_lock_read(m, &m->stripes[0]);
        sum = sync_load_rlx(&m->stripes[0].chain.count);
        mkd_unlock(m, &m->stripes[0]);
        return sum;
    }
    for (uint32_t i = 0; i < m->nstripes; i++)
        sum += sync_load_rlx(&m->stripes[i].chain.count);
    return sum;
}

static int
mkd_iterate(kd_keydir *kd, kd_visit_fn fn, void *arg)
{
    mkd *m = (mkd *)kd;

    for (uint32_t i = 0; i < m->nstripes; i++) {
        mkd_stripe *s = &m->stripes[i];
        mkd_lock_read(m, s);
        int rc = kd_chain_iterate(&s->chain, fn, arg);
        mkd_unlock(m, s);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static uint64_t
mkd_memory(kd_keydir *kd)
{
    mkd *m = (mkd *)kd;
    uint64_t sum = sizeof(*m) + sizeof(mkd_stripe) * m->nstripes;

    for (uint32_t i = 0; i < m->nstripes; i++)
        sum += sync_load_rlx(&m->stripes[i].chain.bytes);
    return sum;
}

static int
mkd_open_global(const kd_options *opt, kd_keydir **out);
static int
mkd_open_striped(const kd_options *opt, kd_keydir **out);
static int
mkd_open_striped_rw(const kd_options *opt, kd_keydir **out);

#define MKD_OPS_TABLE(var, kname, text, open_fn, kflags)                      \
    const kd_ops var = {                                                      \
        .name = kname,                                                        \
        .summary = text,                                                      \
        .flags = kflags,                                                      \
        .open = open_fn,                                                      \
        .close = mkd_close,                                                   \
        .get = mkd_get,                                                       \
        .put = mkd_put,                                                       \
        .put_if_newer = mkd_put_if_newer,                                     \
        .cas = mkd_cas,                                                       \
        .del = mkd_del,                                                       \
        .del_if = mkd_del_if,                                                 \
        .count = mkd_count,                                                   \
        .iterate = mkd_iterate,                                               \
        .memory = mkd_memory,                                                 \
    }

MKD_OPS_TABLE(kd_global_ops, "global",
              "one mutex around a resizable chained hash table (baseline)",
              mkd_open_global, KD_FLAG_ONE_WRITER);
MKD_OPS_TABLE(kd_striped_ops, "striped",
              "lock striping: N chained tables, one mutex each",
              mkd_open_striped, 0);
MKD_OPS_TABLE(kd_striped_rw_ops, "striped_rw",
              "lock striping: N chained tables, one rwlock each",
              mkd_open_striped_rw, 0);

static int
mkd_open_global(const kd_options *opt, kd_keydir **out)
{
    return mkd_open_common(&kd_global_ops, mkd_opt(opt), 1, 0, out);
}

static uint32_t
mkd_stripes_wanted(const kd_options *opt)
{
    return mkd_pow2_stripes(opt->stripes ? opt->stripes : MKD_DEFAULT_STRIPES);
}

static int
mkd_open_striped(const kd_options *opt, kd_keydir **out)
{
    opt = mkd_opt(opt);
    return mkd_open_common(&kd_striped_ops, opt, mkd_stripes_wanted(opt), 0,
                           out);
}

static int
mkd_open_striped_rw(const kd_options *opt, kd_keydir **out)
{
    opt = mkd_opt(opt);
    return mkd_open_common(&kd_striped_rw_ops, opt, mkd_stripes_wanted(opt), 1,
                           out);
}
