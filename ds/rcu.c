/*
 * ds/rcu.c - keydir `rcu`: a chained hash table whose readers run inside
 * liburcu read-side sections and never block nor write shared memory,
 * with per-stripe writer locks and copy-on-write nodes (McKenney's RCU
 * list idiom; Triplett, McKenney, Walpole, "Resizable, scalable, concurrent
 * hash tables via relativistic programming", USENIX ATC 2011, for the
 * reader side of resizing).
 *
 * Layout. A table is a power-of-two array of bucket heads, each a singly
 * linked chain of immutable nodes {next, entry, key}. Writers lock
 * the stripe of the key's bucket (stripe = hash & (RCU_STRIPES - 1); the
 * bucket index uses at least those low bits, so one bucket is always in
 * one stripe) and publish with release stores:
 *   insert   new node pointing at the old head, stored into the head;
 *   replace  new node pointing at the old node's successor, stored into the
 *            predecessor's link; the old node goes to call_rcu;
 *   delete   the predecessor's link is set to the successor; call_rcu.
 * A reader standing on an unlinked node still sees its successor, so it
 * never loses its way, and the node is freed only after a grace period.
 *
 * Resizing. When a stripe's keys pass its share of the buckets, the writer
 * takes every stripe lock (in order), builds a table twice as large from
 * copies of the nodes, publishes it with one release store and frees the
 * old table and nodes with call_rcu. Readers never wait: they finish on the
 * old table or start on the new one, both complete. Writers wait for the
 * copy (O(n)); that is the price of this design over relativistic unzipping,
 * and the benchmark prints it as the fill's worst stall.
 *
 * Guarantees. get: linearizable at the acquire load of the link that
 * yields the key's node (or the chain's end); wait-free (a chain walk
 * bounded by the chain's length), never writes shared memory. put,
 * put_if_newer, cas, del, del_if: linearizable at their release store,
 * blocking (stripe lock; all stripes during a resize). count: per-stripe
 * counters summed without locks, exact when quiescent. iterate: inside one
 * read-side section over one table: a key present and unchanged throughout
 * is visited exactly once (the callback must not call into this keydir).
 *
 * Flavor (kd_options.flavor): "memb" (default; read_lock is a compiler
 * barrier plus a per-thread counter, grace periods use membarrier) or
 * "qsbr" (read_lock is free; registered threads must call kd_quiescent
 * between operations, or reclamation waits for them).
 */
#include "ds/keydir.h"
#include "ds/urcu_internal.h"
#include "sync/atomic.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

/* A resize holds every stripe lock; ThreadSanitizer tracks at most 64 held
 * locks per thread, and 32 stripes already make two writers rarely meet. */
#define RCU_STRIPES 32u
#define RCU_MIN_BUCKETS 256u

typedef struct rcu_kd rcu_kd;

typedef struct rcu_node {
    _Atomic(struct rcu_node *) next;
    rcu_kd *owner; /* for the pending count, in the call_rcu callback */
    struct rcu_head rcu;
    kd_entry e;
    uint32_t klen;
    unsigned char key[];
} rcu_node;

typedef struct rcu_table {
    uint64_t mask;
    uint64_t retired_bytes; /* table and nodes, counted pending once retired */
    rcu_kd *owner;
    struct rcu_head rcu;
    _Atomic(rcu_node *) heads[];
} rcu_table;

typedef struct rcu_stripe {
    alignas(64) pthread_mutex_t lock;
    _Atomic uint64_t count;
} rcu_stripe;

struct rcu_kd {
    kd_keydir base;
    kdu_flavor f;
    alignas(64) _Atomic(rcu_table *) tbl;
    alignas(64) _Atomic uint64_t bytes;   /* nodes and the live table */
    _Atomic uint64_t pending;             /* waiting for a grace period */
    rcu_stripe stripes[RCU_STRIPES];
};

static size_t
rcu_node_size(const rcu_node *n)
{
    return sizeof(*n) + n->klen;
}

static size_t
rcu_table_size(const rcu_table *t)
{
    return sizeof(*t) + (t->mask + 1) * sizeof(t->heads[0]);
}

static rcu_node *
rcu_node_new(rcu_kd *k, const void *key, size_t klen, const kd_entry *e)
{
    rcu_node *n = malloc(sizeof(*n) + klen);

    if (n == NULL)
        return NULL;
    atomic_init(&n->next, NULL);
    n->owner = k;
    n->e = *e;
    n->klen = (uint32_t)klen;
    memcpy(n->key, key, klen);
    return n;
}

static void
rcu_node_free_cb(struct rcu_head *h)
{
    rcu_node *n = caa_container_of(h, rcu_node, rcu);

    KDU_TSAN_ACQUIRE();
    sync_fas_rlx(&n->owner->pending, rcu_node_size(n));
    free(n);
    KDU_TSAN_RELEASE();
}

/* n was unlinked under its stripe lock: free it after a grace period. */
static void
rcu_retire(rcu_kd *k, rcu_node *n)
{
    size_t sz = rcu_node_size(n);

    sync_fas_rlx(&k->bytes, sz);
    sync_faa_rlx(&k->pending, sz);
    KDU_TSAN_RELEASE();
    k->f.fl->update_call_rcu(&n->rcu, rcu_node_free_cb);
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
            free(n);
            n = next;
        }
    }
    sync_fas_rlx(&t->owner->pending, t->retired_bytes);
    free(t);
    KDU_TSAN_RELEASE();
}

static rcu_table *
rcu_table_new(rcu_kd *k, uint64_t buckets)
{
    rcu_table *t = calloc(1, sizeof(*t) + buckets * sizeof(t->heads[0]));

    if (t == NULL)
        return NULL;
    t->mask = buckets - 1;
    t->owner = k;
    return t;
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
    rcu_table *t = sync_load_acq(&k->tbl);
    for (rcu_node *n = sync_load_acq(&t->heads[hash & t->mask]); n != NULL;
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

static rcu_stripe *
rcu_stripe_of(rcu_kd *k, uint64_t hash)
{
    return &k->stripes[hash & (RCU_STRIPES - 1)];
}

/* Doubles the table if it is still `t` and still overloaded. Takes every
 * stripe lock; the caller holds none. Out of memory: keeps the old table
 * (longer chains, still correct). */
static void
rcu_grow(rcu_kd *k, rcu_table *t)
{
    for (unsigned i = 0; i < RCU_STRIPES; i++)
        pthread_mutex_lock(&k->stripes[i].lock);
    rcu_table *nt = sync_load_rlx(&k->tbl) == t
                        ? rcu_table_new(k, (t->mask + 1) * 2) : NULL;
    int ok = nt != NULL;
    uint64_t nodes = 0;
    for (uint64_t i = 0; ok && i <= t->mask; i++) {
        for (rcu_node *n = sync_load_rlx(&t->heads[i]); n != NULL;
             n = sync_load_rlx(&n->next)) {
            rcu_node *c = rcu_node_new(k, n->key, n->klen, &n->e);
            if (c == NULL) {
                ok = 0;
                break;
            }
            uint64_t h = kd_hash(c->key, c->klen, k->base.seed);
            atomic_init(&c->next, sync_load_rlx(&nt->heads[h & nt->mask]));
            atomic_init(&nt->heads[h & nt->mask], c);
            nodes += rcu_node_size(c);
        }
    }
    if (ok) {
        t->retired_bytes = rcu_table_size(t) + nodes;
        sync_faa_rlx(&k->bytes, rcu_table_size(nt));
        sync_fas_rlx(&k->bytes, rcu_table_size(t));
        sync_faa_rlx(&k->pending, t->retired_bytes);
        sync_store_rel(&k->tbl, nt); /* publishes every copied node */
    } else if (nt != NULL) {
        rcu_table_free_cb(&nt->rcu); /* never published */
    }
    for (unsigned i = RCU_STRIPES; i-- > 0;)
        pthread_mutex_unlock(&k->stripes[i].lock);
    if (ok) {
        KDU_TSAN_RELEASE();
        k->f.fl->update_call_rcu(&t->rcu, rcu_table_free_cb);
    }
}

enum { RCU_PUT, RCU_PUT_IF_NEWER, RCU_CAS, RCU_DEL, RCU_DEL_IF };

typedef struct rcu_req {
    int op;
    const kd_entry *e, *expected;
    kd_entry *old;
} rcu_req;

/* The outcome of q given the current entry (NULL: absent); *act is 1 to
 * install q->e, -1 to unlink, 0 for nothing. */
static int
rcu_decide(const rcu_req *q, const kd_entry *cur, int *act)
{
    *act = 0;
    if (cur != NULL && q->old != NULL)
        *q->old = *cur;
    switch (q->op) {
    case RCU_PUT_IF_NEWER:
        if (cur != NULL && cur->seq >= q->e->seq)
            return KD_ESTALE;
        /* fall through */
    case RCU_PUT:
        *act = 1;
        return cur != NULL ? KD_REPLACED : KD_INSERTED;
    case RCU_CAS:
        if (q->expected == NULL) {
            *act = cur == NULL;
            return cur == NULL ? KD_OK : KD_EEXIST;
        }
        if (cur == NULL)
            return KD_ENOTFOUND;
        if (!kd_entry_eq(cur, q->expected))
            return KD_ECHANGED;
        *act = 1;
        return KD_OK;
    default: /* RCU_DEL, RCU_DEL_IF */
        if (cur == NULL)
            return KD_ENOTFOUND;
        if (q->op == RCU_DEL_IF && !kd_entry_eq(cur, q->expected))
            return KD_ECHANGED;
        *act = -1;
        return KD_OK;
    }
}

/* Applies q to bucket `head` under the stripe lock. *grew is set when an
 * insert made the stripe pass its share of buckets. */
static int
rcu_apply(rcu_kd *k, rcu_table *t, rcu_stripe *s, const void *key,
          size_t klen, uint64_t hash, const rcu_req *q, int *grow)
{
    _Atomic(rcu_node *) *link = &t->heads[hash & t->mask];
    rcu_node *n = sync_load_rlx(link);
    int act, rc;

    while (n != NULL && !rcu_key_eq(n, key, klen)) {
        link = &n->next;
        n = sync_load_rlx(link);
    }
    rc = rcu_decide(q, n != NULL ? &n->e : NULL, &act);
    if (act == -1) {
        sync_store_rel(link, sync_load_rlx(&n->next));
        sync_store_rlx(&s->count, sync_load_rlx(&s->count) - 1);
        rcu_retire(k, n);
    } else if (act == 1) {
        rcu_node *nn = rcu_node_new(k, key, klen, q->e);
        if (nn == NULL)
            return KD_ENOMEM;
        sync_faa_rlx(&k->bytes, rcu_node_size(nn));
        if (n != NULL) {
            atomic_init(&nn->next, sync_load_rlx(&n->next));
            sync_store_rel(link, nn);
            rcu_retire(k, n);
        } else {
            atomic_init(&nn->next, sync_load_rlx(link));
            sync_store_rel(link, nn);
            uint64_t c = sync_load_rlx(&s->count) + 1;
            sync_store_rlx(&s->count, c);
            *grow = c > (t->mask + 1) / RCU_STRIPES;
        }
    }
    return rc;
}

static int
rcu_update(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
           const rcu_req *q)
{
    rcu_kd *k = (rcu_kd *)kd;
    rcu_stripe *s = rcu_stripe_of(k, hash);
    int grow = 0;

    pthread_mutex_lock(&s->lock);
    rcu_table *t = sync_load_rlx(&k->tbl); /* stable: resize needs s */
    int rc = rcu_apply(k, t, s, key, klen, hash, q, &grow);
    pthread_mutex_unlock(&s->lock);
    if (grow)
        rcu_grow(k, t);
    return rc;
}

static int
rcu_put(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *e, kd_entry *old)
{
    rcu_req q = {RCU_PUT, e, NULL, old};
    return rcu_update(kd, key, klen, hash, &q);
}

static int
rcu_put_if_newer(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
                 const kd_entry *e, kd_entry *old)
{
    rcu_req q = {RCU_PUT_IF_NEWER, e, NULL, old};
    return rcu_update(kd, key, klen, hash, &q);
}

static int
rcu_cas(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *expected, const kd_entry *desired)
{
    rcu_req q = {RCU_CAS, desired, expected, NULL};
    return rcu_update(kd, key, klen, hash, &q);
}

static int
rcu_del(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *old)
{
    rcu_req q = {RCU_DEL, NULL, NULL, old};
    return rcu_update(kd, key, klen, hash, &q);
}

static int
rcu_del_if(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
           const kd_entry *expected)
{
    rcu_req q = {RCU_DEL_IF, NULL, expected, NULL};
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
    rcu_table *t = sync_load_acq(&k->tbl);
    for (uint64_t i = 0; i <= t->mask && rc == 0; i++) {
        for (rcu_node *n = sync_load_acq(&t->heads[i]); n != NULL && rc == 0;
             n = sync_load_acq(&n->next)) {
            kd_entry e = n->e;
            rc = fn(n->key, n->klen, &e, arg);
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
    rcu_table_free_cb(&sync_load_rlx(&k->tbl)->rcu);
    for (unsigned i = 0; i < RCU_STRIPES; i++)
        pthread_mutex_destroy(&k->stripes[i].lock);
    free(k);
}

static int rcu_open(const kd_options *opt, kd_keydir **out);

const kd_ops kd_rcu_ops = {
    .name = "rcu",
    .summary = "liburcu readers (never block), per-stripe writer locks, "
               "copy-on-write nodes, call_rcu frees",
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
    uint64_t buckets = RCU_MIN_BUCKETS;

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
    while (buckets < opt->capacity_hint)
        buckets <<= 1;
    rcu_table *t = rcu_table_new(k, buckets);
    if (t == NULL) {
        free(k);
        return KD_ENOMEM;
    }
    atomic_init(&k->tbl, t);
    atomic_init(&k->bytes, rcu_table_size(t));
    for (unsigned i = 0; i < RCU_STRIPES; i++)
        pthread_mutex_init(&k->stripes[i].lock, NULL);
    *out = &k->base;
    return KD_OK;
}
