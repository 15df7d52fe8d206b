/*
 * ds/rcu.c - keydir `rcu`: a chained hash table whose readers run inside
 * liburcu read-side sections and never block nor write shared memory,
 * with per-stripe writer locks and copy-on-write nodes (McKenney's RCU
 * list idiom; Triplett, McKenney, Walpole, "Resizable, scalable, concurrent
 * hash tables via relativistic programming", USENIX ATC 2011, for the
 * reader side of resizing).
 *
 * Layout. The key space is split by the hash's low 6 bits into RCU_STRIPES
 * stripes; each stripe has its own lock, key count and table: a
 * power-of-two array of bucket heads (indexed by the hash's next bits),
 * each a singly linked chain of immutable nodes {next, entry, key}.
 * Writers lock the key's stripe and publish with release stores:
 *   insert   new node pointing at the old head, stored into the head;
 *   replace  new node pointing at the old node's successor, stored into the
 *            predecessor's link; the old node is retired;
 *   delete   the predecessor's link is set to the successor; retired.
 * A reader standing on an unlinked node still sees its successor, so it
 * never loses its way, and the node is freed only after a grace period.
 * Nodes with keys of up to 20 bytes are one 64-byte block of ds/slab.c
 * (huge pages, cache-line aligned: the fields a lookup reads share one
 * line and need no page walk); larger ones come from malloc. The bucket
 * arrays of one size share one mapping (rcu_arena_take), on huge pages.
 *
 * Resizing. When a stripe's keys pass 3/4 of its buckets, the writer that
 * inserted the key, still holding that stripe's lock (and only it), builds
 * the stripe's table twice as large from copies of its nodes, publishes it
 * with one release store and retires the old table with its nodes through
 * call_rcu. Readers never wait: they finish on the old table or start on
 * the new one, both complete. Writers of that stripe wait for the copy of
 * its 1/64 of the keys (measured while filling 1M keys: the worst put
 * took about 2 ms of CPU, against 55 ms when one resize copied the whole
 * table under every stripe lock); writers of other stripes, and all
 * readers, go on. We copy instead of
 * unzipping the chains in place (Triplett et al.): unzipping needs a grace
 * period between passes, which a writer would wait out under the stripe
 * lock, and a stripe's copy is already short.
 *
 * Reclamation. A replaced or deleted node joins its stripe's retire list
 * (linked through a field readers never read); every RCU_RETIRE_BATCH
 * nodes the list goes to call_rcu as one batch, so a replace costs no
 * call_rcu of its own. Lists not yet full at close are freed there.
 *
 * Guarantees. get: linearizable at the acquire load of the link that
 * yields the key's node (or the chain's end); wait-free (a chain walk
 * bounded by the chain's length), never writes shared memory. put,
 * put_if_newer, cas, del, del_if: linearizable at their release store,
 * blocking (stripe lock, held for one stripe's copy when a resize happens).
 * count: per-stripe counters summed without locks, exact when quiescent.
 * iterate: inside one read-side section, stripe by stripe over each
 * stripe's table: a key present and unchanged throughout is visited
 * exactly once (the callback must not call into this keydir).
 *
 * Flavor (kd_options.flavor): "memb" (default; read_lock is a compiler
 * barrier plus a per-thread counter, grace periods use membarrier) or
 * "qsbr" (read_lock is free; registered threads must call kd_quiescent
 * between operations, or reclamation waits for them). The read-side
 * sections are inline (ds/urcu_internal.h: liburcu's memb read lock and
 * unlock, which liburcu marks usable from non-LGPL code; casklab declares
 * no licence and does not define _LGPL_SOURCE). Calls there cost gets
 * about 40% of their rate on 1M keys: not their own few instructions but
 * the cache misses of consecutive gets they stop from overlapping.
 */
#include "ds/keydir.h"
#include "ds/slab_internal.h"
#include "ds/update_internal.h"
#include "ds/urcu_internal.h"
#include "sync/atomic.h"

#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RCU_STRIPE_BITS 6u
#define RCU_STRIPES (1u << RCU_STRIPE_BITS)
#define RCU_MIN_LEVEL 4u      /* 16 buckets per stripe at least */
#define RCU_RETIRE_BATCH 64u  /* retired nodes per call_rcu */

typedef struct rcu_kd rcu_kd;

/* klen last before the key: no padding, so the key starts at byte 44 and
 * keys of up to 20 bytes fit one slab block. */
typedef struct rcu_node {
    _Atomic(struct rcu_node *) next;
    kd_entry e;
    struct rcu_node *retired; /* link in the stripe's retire list */
    uint32_t klen;
    unsigned char key[];
} rcu_node;

/* The bucket arrays of one size for all stripes, in one mapping (see
 * rcu_arena_take). */
typedef struct rcu_arena {
    _Atomic(rcu_node *) *heads;
    size_t bytes;   /* of the mapping */
    unsigned users; /* stripe tables not yet freed; under arena_mu */
} rcu_arena;

typedef struct rcu_table {
    uint64_t mask;
    _Atomic(rcu_node *) *heads; /* mask + 1 buckets in arena */
    rcu_arena *arena;
    unsigned level;         /* log2 of the bucket count */
    uint64_t retired_bytes; /* table and nodes, counted pending once retired */
    rcu_kd *owner;
    struct rcu_head rcu;
} rcu_table;

/* Retired nodes on their way to call_rcu. */
typedef struct rcu_batch {
    struct rcu_head rcu;
    rcu_kd *owner;
    rcu_node *nodes;
    uint64_t bytes;
} rcu_batch;

typedef struct rcu_stripe {
    alignas(64) pthread_mutex_t lock;
    _Atomic uint64_t count;
    rcu_node *retired; /* under lock */
    unsigned nretired;
    uint64_t retired_bytes;
} rcu_stripe;

#define RCU_LEVELS 64u

struct rcu_kd {
    kd_keydir base;
    kdu_flavor f;
    pthread_mutex_t arena_mu;
    rcu_arena *arenas[RCU_LEVELS]; /* by level; under arena_mu */
    /* Each stripe's table: read by every get, written only by resizes,
     * so kept apart from the stripes' locks. */
    alignas(64) _Atomic(rcu_table *) tbl[RCU_STRIPES];
    alignas(64) _Atomic uint64_t bytes;   /* nodes and the live tables */
    _Atomic uint64_t pending;             /* waiting for a grace period */
    rcu_stripe stripes[RCU_STRIPES];
};

static int
rcu_node_small(size_t klen)
{
    return KD_SLAB_ON && offsetof(rcu_node, key) + klen <= KD_SLAB_BLOCK;
}

static size_t
rcu_node_size(const rcu_node *n)
{
    return rcu_node_small(n->klen) ? KD_SLAB_BLOCK : sizeof(*n) + n->klen;
}

static void
rcu_node_free(rcu_node *n)
{
    if (rcu_node_small(n->klen))
        kd_slab_free(n);
    else
        free(n);
}

static rcu_node *
rcu_node_new(const void *key, size_t klen, const kd_entry *e)
{
    rcu_node *n = rcu_node_small(klen) ? kd_slab_alloc()
                                       : malloc(sizeof(*n) + klen);

    if (n == NULL)
        return NULL;
    atomic_init(&n->next, NULL);
    n->e = *e;
    n->klen = (uint32_t)klen;
    n->retired = NULL;
    memcpy(n->key, key, klen);
    return n;
}

static void
rcu_batch_free_cb(struct rcu_head *h)
{
    rcu_batch *b = caa_container_of(h, rcu_batch, rcu);

    KDU_TSAN_ACQUIRE();
    while (b->nodes != NULL) {
        rcu_node *n = b->nodes;
        b->nodes = n->retired;
        rcu_node_free(n);
    }
    sync_fas_rlx(&b->owner->pending, b->bytes);
    free(b);
    KDU_TSAN_RELEASE();
}

/* Hands stripe s's retire list to call_rcu as one batch. Out of memory
 * for the batch, the list stays and is tried again at the next retire. */
static void
rcu_flush(rcu_kd *k, rcu_stripe *s)
{
    rcu_batch *b = malloc(sizeof(*b));

    if (b == NULL)
        return;
    b->owner = k;
    b->nodes = s->retired;
    b->bytes = s->retired_bytes;
    s->retired = NULL;
    s->nretired = 0;
    s->retired_bytes = 0;
    KDU_TSAN_RELEASE();
    k->f.fl->update_call_rcu(&b->rcu, rcu_batch_free_cb);
}

/* n was unlinked under stripe s's lock: free it after a grace period. */
static void
rcu_retire(rcu_kd *k, rcu_stripe *s, rcu_node *n)
{
    size_t sz = rcu_node_size(n);

    sync_fas_rlx(&k->bytes, sz);
    sync_faa_rlx(&k->pending, sz);
    n->retired = s->retired;
    s->retired = n;
    s->retired_bytes += sz;
    if (++s->nretired >= RCU_RETIRE_BATCH)
        rcu_flush(k, s);
}

/*
 * Bucket arrays. Each stripe has its own table, but the arrays of one
 * size for all RCU_STRIPES stripes share one mapping, stripe i's at i
 * times the array's size: with uniform hashing all stripes reach a size
 * at about the same time, and one mapping of 2 MiB or more can sit on
 * transparent huge pages, where 64 separate arrays of a few hundred KiB
 * could not (a get's bucket load then costs a cache miss but no page
 * walk; measured, about a fifth more gets per second at 1M keys). The
 * mapping is unmapped when the last stripe table using it is freed; a
 * stripe reaching that size later maps a new one.
 */
static rcu_arena *
rcu_arena_new(uint64_t buckets)
{
    const size_t huge = (size_t)2 << 20;
    rcu_arena *a = malloc(sizeof(*a));
    size_t bytes = buckets * RCU_STRIPES * sizeof(a->heads[0]);

    if (a == NULL)
        return NULL;
    /* Anonymous memory is zero: empty buckets. Large arrays are aligned
     * to 2 MiB so that huge pages can back them. */
    size_t extra = bytes >= huge ? huge : 0;
    char *m = mmap(NULL, bytes + extra, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(a);
        return NULL;
    }
    char *c = m;
    if (extra != 0) {
        c = (char *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
        if (c > m)
            munmap(m, (size_t)(c - m));
        munmap(c + bytes, (size_t)(m + extra - c));
        (void)madvise(c, bytes, MADV_HUGEPAGE);
    }
    a->heads = (_Atomic(rcu_node *) *)(void *)c;
    a->bytes = bytes;
    a->users = 0;
    return a;
}

/* Stripe si's array of 2^level buckets (zeroed), or NULL. */
static _Atomic(rcu_node *) *
rcu_arena_take(rcu_kd *k, unsigned si, unsigned level, rcu_arena **out)
{
    _Atomic(rcu_node *) *heads = NULL;

    pthread_mutex_lock(&k->arena_mu);
    rcu_arena *a = k->arenas[level];
    if (a == NULL)
        a = k->arenas[level] = rcu_arena_new((uint64_t)1 << level);
    if (a != NULL) {
        a->users++;
        heads = a->heads + ((uint64_t)si << level);
        *out = a;
    }
    pthread_mutex_unlock(&k->arena_mu);
    return heads;
}

static void
rcu_arena_drop(rcu_kd *k, rcu_arena *a, unsigned level)
{
    pthread_mutex_lock(&k->arena_mu);
    int last = --a->users == 0;
    if (last && k->arenas[level] == a)
        k->arenas[level] = NULL;
    pthread_mutex_unlock(&k->arena_mu);
    if (last) {
        munmap((void *)a->heads, a->bytes);
        free(a);
    }
}

/* Frees a table and every node still linked in it. */
static void
rcu_table_free_cb(struct rcu_head *h)
{
    rcu_table *t = caa_container_of(h, rcu_table, rcu);

    KDU_TSAN_ACQUIRE();
    for (uint64_t i = 0; i <= t->mask; i++) {
        rcu_node *n = sync_load_rlx(&t->heads[i]);
        while (n != NULL) {
            rcu_node *next = sync_load_rlx(&n->next);
            rcu_node_free(n);
            n = next;
        }
    }
    sync_fas_rlx(&t->owner->pending, t->retired_bytes);
    rcu_arena_drop(t->owner, t->arena, t->level);
    free(t);
    KDU_TSAN_RELEASE();
}

static size_t
rcu_table_size(const rcu_table *t)
{
    return sizeof(*t) + (t->mask + 1) * sizeof(t->heads[0]);
}

/* A table of 2^level empty buckets for stripe si, or NULL. */
static rcu_table *
rcu_table_new(rcu_kd *k, unsigned si, unsigned level)
{
    rcu_table *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->heads = rcu_arena_take(k, si, level, &t->arena);
    if (t->heads == NULL) {
        free(t);
        return NULL;
    }
    t->mask = ((uint64_t)1 << level) - 1;
    t->level = level;
    t->owner = k;
    return t;
}

/* The bucket of a hash in its stripe's table (the low bits chose the
 * stripe). */
static _Atomic(rcu_node *) *
rcu_bucket(rcu_table *t, uint64_t hash)
{
    return &t->heads[(hash >> RCU_STRIPE_BITS) & t->mask];
}

static int
rcu_key_eq(const rcu_node *n, const void *key, size_t klen)
{
    uint64_t a, b;

    if (n->klen != klen)
        return 0;
    if (klen != 8)
        return memcmp(n->key, key, klen) == 0;
    /* 8-byte keys, the common keydir case: no library call */
    memcpy(&a, n->key, 8);
    memcpy(&b, key, 8);
    return a == b;
}

static int
rcu_get(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *out)
{
    rcu_kd *k = (rcu_kd *)kd;
    int rc = KD_ENOTFOUND;

    kdu_read_lock(&k->f);
    rcu_table *t = sync_load_acq(&k->tbl[hash & (RCU_STRIPES - 1)]);
    for (rcu_node *n = sync_load_acq(rcu_bucket(t, hash)); n != NULL;
         n = sync_load_acq(&n->next)) {
        if (rcu_key_eq(n, key, klen)) {
            *out = n->e;
            rc = KD_OK;
            break;
        }
    }
    kdu_read_unlock(&k->f);
    return rc;
}

/* ---- Writers ----------------------------------------------------------- */

/* Doubles stripe si's table t; the caller holds that stripe's lock (and
 * no other). Out of memory: keeps the old table (longer chains, still
 * correct). */
static void
rcu_grow(rcu_kd *k, unsigned si, rcu_table *t)
{
    rcu_table *nt = rcu_table_new(k, si, t->level + 1);
    uint64_t nodes = 0;

    if (nt == NULL)
        return;
    for (uint64_t i = 0; i <= t->mask; i++) {
        for (rcu_node *n = sync_load_rlx(&t->heads[i]); n != NULL;
             n = sync_load_rlx(&n->next)) {
            rcu_node *c = rcu_node_new(n->key, n->klen, &n->e);
            if (c == NULL) {
                rcu_table_free_cb(&nt->rcu); /* never published */
                return;
            }
            uint64_t h = kd_hash(c->key, c->klen, k->base.seed);
            atomic_init(&c->next, sync_load_rlx(rcu_bucket(nt, h)));
            atomic_init(rcu_bucket(nt, h), c);
            nodes += rcu_node_size(c);
        }
    }
    t->retired_bytes = rcu_table_size(t) + nodes;
    sync_faa_rlx(&k->bytes, rcu_table_size(nt));
    sync_fas_rlx(&k->bytes, rcu_table_size(t));
    sync_faa_rlx(&k->pending, t->retired_bytes);
    sync_store_rel(&k->tbl[si], nt); /* publishes every copied node */
    KDU_TSAN_RELEASE();
    k->f.fl->update_call_rcu(&t->rcu, rcu_table_free_cb);
}

/* Applies q to the key's bucket of table t under stripe s's lock. *grow
 * is set when an insert made the stripe pass 3/4 of its bucket count: a
 * hit reads 1 + load/2 nodes on average, at most 1.375 so (1.5 when the
 * limit was a load of 1). */
static int
rcu_apply(rcu_kd *k, rcu_table *t, rcu_stripe *s, const void *key,
          size_t klen, uint64_t hash, const kd_update *q, int *grow)
{
    _Atomic(rcu_node *) *link = rcu_bucket(t, hash);
    rcu_node *n = sync_load_rlx(link);
    int act, rc;

    while (n != NULL && !rcu_key_eq(n, key, klen)) {
        link = &n->next;
        n = sync_load_rlx(link);
    }
    rc = kd_update_decide(q, n != NULL ? &n->e : NULL, &act);
    if (act == KD_ACT_REMOVE) {
        sync_store_rel(link, sync_load_rlx(&n->next));
        sync_store_rlx(&s->count, sync_load_rlx(&s->count) - 1);
        rcu_retire(k, s, n);
    } else if (act == KD_ACT_INSTALL) {
        rcu_node *nn = rcu_node_new(key, klen, q->e);
        if (nn == NULL)
            return KD_ENOMEM;
        sync_faa_rlx(&k->bytes, rcu_node_size(nn));
        if (n != NULL) {
            atomic_init(&nn->next, sync_load_rlx(&n->next));
            sync_store_rel(link, nn);
            rcu_retire(k, s, n);
        } else {
            atomic_init(&nn->next, sync_load_rlx(link));
            sync_store_rel(link, nn);
            uint64_t c = sync_load_rlx(&s->count) + 1;
            sync_store_rlx(&s->count, c);
            *grow = c > (t->mask + 1) / 4 * 3;
        }
    }
    return rc;
}

static int
rcu_update(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
           const kd_update *q)
{
    rcu_kd *k = (rcu_kd *)kd;
    unsigned si = (unsigned)(hash & (RCU_STRIPES - 1));
    rcu_stripe *s = &k->stripes[si];
    int grow = 0;

    pthread_mutex_lock(&s->lock);
    rcu_table *t = sync_load_rlx(&k->tbl[si]); /* stable: resize needs s */
    int rc = rcu_apply(k, t, s, key, klen, hash, q, &grow);
    if (grow)
        rcu_grow(k, si, t);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int
rcu_put(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *e, kd_entry *old)
{
    kd_update q = {KD_UP_PUT, e, NULL, old};
    return rcu_update(kd, key, klen, hash, &q);
}

static int
rcu_put_if_newer(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
                 const kd_entry *e, kd_entry *old)
{
    kd_update q = {KD_UP_PUT_IF_NEWER, e, NULL, old};
    return rcu_update(kd, key, klen, hash, &q);
}

static int
rcu_cas(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *expected, const kd_entry *desired)
{
    kd_update q = {KD_UP_CAS, desired, expected, NULL};
    return rcu_update(kd, key, klen, hash, &q);
}

static int
rcu_del(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *old)
{
    kd_update q = {KD_UP_DEL, NULL, NULL, old};
    return rcu_update(kd, key, klen, hash, &q);
}

static int
rcu_del_if(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
           const kd_entry *expected)
{
    kd_update q = {KD_UP_DEL_IF, NULL, expected, NULL};
    return rcu_update(kd, key, klen, hash, &q);
}

/* ---- Whole-table operations -------------------------------------------- */

static uint64_t
rcu_count(kd_keydir *kd)
{
    rcu_kd *k = (rcu_kd *)kd;
    uint64_t sum = 0;

    for (unsigned i = 0; i < RCU_STRIPES; i++)
        sum += sync_load_rlx(&k->stripes[i].count);
    return sum;
}

static int
rcu_iterate(kd_keydir *kd, kd_visit_fn fn, void *arg)
{
    rcu_kd *k = (rcu_kd *)kd;
    int rc = 0;

    kdu_read_lock(&k->f);
    for (unsigned si = 0; si < RCU_STRIPES && rc == 0; si++) {
        rcu_table *t = sync_load_acq(&k->tbl[si]);
        for (uint64_t i = 0; i <= t->mask && rc == 0; i++) {
            for (rcu_node *n = sync_load_acq(&t->heads[i]);
                 n != NULL && rc == 0; n = sync_load_acq(&n->next)) {
                kd_entry e = n->e;
                rc = fn(n->key, n->klen, &e, arg);
            }
        }
    }
    kdu_read_unlock(&k->f);
    return rc;
}

static uint64_t
rcu_memory(kd_keydir *kd)
{
    rcu_kd *k = (rcu_kd *)kd;

    return sizeof(*k) + sync_load_rlx(&k->bytes) +
           sync_load_rlx(&k->pending);
}

static void
rcu_thread_register(kd_keydir *kd)
{
    kdu_register(&((rcu_kd *)kd)->f);
}

static void
rcu_thread_unregister(kd_keydir *kd)
{
    kdu_unregister(&((rcu_kd *)kd)->f);
}

static void
rcu_quiescent(kd_keydir *kd)
{
    rcu_kd *k = (rcu_kd *)kd;

    if (k->f.qsbr)
        k->f.fl->read_quiescent_state();
}

static void
rcu_close(kd_keydir *kd)
{
    rcu_kd *k = (rcu_kd *)kd;

    kdu_barrier(&k->f); /* queued callbacks finish first */
    for (unsigned i = 0; i < RCU_STRIPES; i++) {
        rcu_stripe *s = &k->stripes[i];
        while (s->retired != NULL) { /* no reader is left */
            rcu_node *n = s->retired;
            s->retired = n->retired;
            rcu_node_free(n);
        }
        rcu_table_free_cb(&sync_load_rlx(&k->tbl[i])->rcu);
        pthread_mutex_destroy(&s->lock);
    }
    pthread_mutex_destroy(&k->arena_mu);
    free(k);
}

static int rcu_open(const kd_options *opt, kd_keydir **out);

const kd_ops kd_rcu_ops = {
    .name = "rcu",
    .summary = "liburcu readers (never block), per-stripe writer locks "
               "and tables, copy-on-write nodes, call_rcu frees",
    .flags = 0,
    .open = rcu_open,
    .close = rcu_close,
    .get = rcu_get,
    .put = rcu_put,
    .put_if_newer = rcu_put_if_newer,
    .cas = rcu_cas,
    .del = rcu_del,
    .del_if = rcu_del_if,
    .count = rcu_count,
    .iterate = rcu_iterate,
    .memory = rcu_memory,
    .thread_register = rcu_thread_register,
    .thread_unregister = rcu_thread_unregister,
    .quiescent = rcu_quiescent,
};

static int
rcu_open(const kd_options *opt, kd_keydir **out)
{
    static const kd_options defaults;
    rcu_kd *k = aligned_alloc(64, sizeof(rcu_kd));
    unsigned level = RCU_MIN_LEVEL;
    uint64_t bytes = 0;

    opt = opt != NULL ? opt : &defaults;
    if (k == NULL)
        return KD_ENOMEM;
    memset(k, 0, sizeof(*k));
    if (kdu_pick(opt->flavor, &k->f) != 0) {
        free(k);
        return KD_EINVAL;
    }
    k->base.ops = &kd_rcu_ops;
    k->base.seed = opt->seed ? opt->seed : KD_DEFAULT_SEED;
    while (((uint64_t)3 << level) / 4 * RCU_STRIPES < opt->capacity_hint &&
           level < RCU_LEVELS - RCU_STRIPE_BITS - 4)
        level++;
    pthread_mutex_init(&k->arena_mu, NULL);
    for (unsigned i = 0; i < RCU_STRIPES; i++) {
        rcu_table *t = rcu_table_new(k, i, level);
        if (t == NULL) {
            while (i-- > 0)
                rcu_table_free_cb(&sync_load_rlx(&k->tbl[i])->rcu);
            pthread_mutex_destroy(&k->arena_mu);
            free(k);
            return KD_ENOMEM;
        }
        atomic_init(&k->tbl[i], t);
        bytes += rcu_table_size(t);
    }
    atomic_init(&k->bytes, bytes);
    for (unsigned i = 0; i < RCU_STRIPES; i++)
        pthread_mutex_init(&k->stripes[i].lock, NULL);
    *out = &k->base;
    return KD_OK;
}
