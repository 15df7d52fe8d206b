/*
 * ds/peer_lfht.c - reference peers `urcu_lfht` (pre-sized) and
 * `urcu_lfht_grow` (growing): liburcu's lock-free resizable hash table
 * cds_lfht (Desnoyers, McKenney, Dagenais, "Multi-core systems modeling
 * for formal verification of parallel algorithms", and the split-ordered
 * lists of Shalev and Shavit, JACM 2006), wrapped, not rewritten. They
 * exist to be measured against `lockfree` and `rcu`.
 *
 * Each key is one node {cds_lfht_node, rcu_head, entry, key}. Updates use
 * cds_lfht's own primitives: put is cds_lfht_add_replace; put_if_newer,
 * cas, del_if are lookup + cds_lfht_replace / cds_lfht_del retried when the
 * looked-up node was replaced meanwhile (-ENOENT), so they are lock-free
 * like cds_lfht itself. Guarantees (cds_lfht's): every per-key operation is
 * linearizable at the node-pointer CAS inside cds_lfht (lookups at the load
 * of the node they return); get is wait-free within a read-side section
 * apart from chain length; updates lock-free. `urcu_lfht` starts at
 * max(capacity_hint, 4096) buckets and never resizes; `urcu_lfht_grow`
 * starts at 64 and resizes in liburcu's call_rcu worker thread
 * (CDS_LFHT_AUTO_RESIZE). Unlinked nodes are freed by call_rcu. count is a
 * relaxed counter of our own (exact when quiescent); kd_memory is nodes plus
 * an estimate of the bucket array (cds_lfht does not report its size).
 *
 * Lost resizes (found by bench/kdratio, liburcu 0.13.2 as Debian ships
 * it; the same code is in upstream's rculfhash.c as we read it). In a
 * quarter to a third of 1M-key fills here, `urcu_lfht_grow` stops growing for good while
 * still a few thousand buckets wide: gets then walk chains of hundreds of
 * nodes (0.01 Mops instead of about 1.6) and the table never grows again,
 * not even when 2.2M keys are put. A debugger shows liburcu's resize
 * worker idle. The cause as we read the library: the lazy launch
 * (__cds_lfht_resize_lazy_launch) queues the resize work and only then
 * stores resize_initiated = 1; the worker clears that flag when a resize
 * ends. If the worker runs the whole queued resize between the launcher's
 * queueing and its store (likely when the launcher is preempted by the
 * worker it woke, on 2 cores with 2 inserting threads), the store lands
 * last and the flag says "a resize is under way" with none running, so
 * every later launch returns at once. We keep the peer as liburcu makes
 * it (auto-resize, no resize calls of ours). bench/kdratio counts such
 * fills and measures the peer on a fill that grew; `casklab bench` prints
 * a NOTE after a load that stuck (bench_session_probe).
 *
 * TSan: the node is published inside the uninstrumented library, so the
 * key length is stored with release and read with acquire by match, which
 * gives ThreadSanitizer the happens-before edge the library provides.
 */
#include "ds/keydir.h"
#include "ds/urcu_internal.h"
#include "sync/atomic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/rculfhash.h>

#define PLF_PRESIZED_MIN 4096u
#define PLF_GROW_START 64u
#define PLF_RETRY 100 /* not a kd code: look the key up again */

typedef struct plf plf;

typedef struct plf_rec {
    struct cds_lfht_node node;
    struct rcu_head rcu;
    plf *owner;
    kd_entry e;
    _Atomic uint32_t klen; /* stored last, with release */
    unsigned char key[];
} plf_rec;

struct plf {
    kd_keydir base;
    kdu_flavor f;
    struct cds_lfht *ht;
    unsigned long buckets0;
    int grow;
    _Atomic uint64_t count;
    _Atomic uint64_t bytes;   /* live nodes */
    _Atomic uint64_t pending; /* nodes waiting for a grace period */
};

typedef struct plf_key {
    const void *key;
    size_t klen;
} plf_key;

static int
plf_match(struct cds_lfht_node *node, const void *arg)
{
    const plf_rec *r = caa_container_of(node, plf_rec, node);
    const plf_key *k = arg;

    return sync_load_acq(&r->klen) == k->klen &&
           memcmp(r->key, k->key, k->klen) == 0;
}

static size_t
plf_size(plf_rec *r)
{
    return sizeof(*r) + sync_load_rlx(&r->klen);
}

static plf_rec *
plf_new(plf *p, const void *key, size_t klen, const kd_entry *e)
{
    plf_rec *r = malloc(sizeof(*r) + klen);

    if (r == NULL)
        return NULL;
    cds_lfht_node_init(&r->node);
    r->owner = p;
    r->e = *e;
    memcpy(r->key, key, klen);
    sync_store_rel(&r->klen, (uint32_t)klen);
    return r;
}

static void
plf_free_cb(struct rcu_head *h)
{
    plf_rec *r = caa_container_of(h, plf_rec, rcu);

    KDU_TSAN_ACQUIRE();
    sync_fas_rlx(&r->owner->pending, plf_size(r));
    free(r);
    KDU_TSAN_RELEASE();
}

/* r was unlinked by our successful update: free it after a grace period. */
static void
plf_retire(plf *p, plf_rec *r)
{
    size_t n = plf_size(r);

    sync_fas_rlx(&p->bytes, n);
    sync_faa_rlx(&p->pending, n);
    p->f.fl->update_call_rcu(&r->rcu, plf_free_cb);
}

static plf_rec *
plf_lookup(plf *p, const plf_key *k, uint64_t hash, struct cds_lfht_iter *it)
{
    cds_lfht_lookup(p->ht, (unsigned long)hash, plf_match, k, it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(it);
    return n ? caa_container_of(n, plf_rec, node) : NULL;
}

static int
plf_get(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *out)
{
    plf *p = (plf *)kd;
    plf_key k = {key, klen};
    struct cds_lfht_iter it;

    kdu_read_lock(&p->f);
    plf_rec *r = plf_lookup(p, &k, hash, &it);
    if (r != NULL)
        *out = r->e;
    kdu_read_unlock(&p->f);
    return r != NULL ? KD_OK : KD_ENOTFOUND;
}

static int
plf_put(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *e, kd_entry *old)
{
    plf *p = (plf *)kd;
    plf_key k = {key, klen};
    plf_rec *r = plf_new(p, key, klen, e);

    if (r == NULL)
        return KD_ENOMEM;
    sync_faa_rlx(&p->bytes, plf_size(r));
    kdu_read_lock(&p->f);
    struct cds_lfht_node *o =
        cds_lfht_add_replace(p->ht, (unsigned long)hash, plf_match, &k,
                             &r->node);
    if (o != NULL) {
        plf_rec *or = caa_container_of(o, plf_rec, node);
        if (old != NULL)
            *old = or->e;
        plf_retire(p, or);
    } else {
        sync_faa_rlx(&p->count, 1);
    }
    kdu_read_unlock(&p->f);
    return o != NULL ? KD_REPLACED : KD_INSERTED;
}

/*
 * The conditional updates: decide on the looked-up node, then replace or
 * delete exactly that node; -ENOENT means it was replaced or deleted since,
 * so look again. mode: 0 put_if_newer, 1 cas, 2 del, 3 del_if.
 */
typedef struct plf_req {
    int mode;
    const kd_entry *e, *expected;
    kd_entry *old;
} plf_req;

/* With no node for the key: inserts when the request allows. Returns the
 * outcome, or PLF_RETRY (another thread inserted first). */
static int
plf_absent(plf *p, const plf_key *k, uint64_t hash, const plf_req *q,
           plf_rec **fresh)
{
    if (q->mode >= 2 || (q->mode == 1 && q->expected != NULL))
        return KD_ENOTFOUND;
    struct cds_lfht_node *got = cds_lfht_add_unique(
        p->ht, (unsigned long)hash, plf_match, k, &(*fresh)->node);
    if (got != &(*fresh)->node)
        return q->mode == 1 ? KD_EEXIST : PLF_RETRY;
    sync_faa_rlx(&p->bytes, plf_size(*fresh));
    sync_faa_rlx(&p->count, 1);
    *fresh = NULL;
    return q->mode == 1 ? KD_OK : KD_INSERTED;
}

/* With node r present: the outcome, or PLF_RETRY. */
static int
plf_present(plf *p, const plf_key *k, uint64_t hash, const plf_req *q,
            plf_rec *r, struct cds_lfht_iter *it, plf_rec **fresh)
{
    int del = q->mode >= 2;

    if (q->mode == 0 && r->e.seq >= q->e->seq) {
        if (q->old != NULL)
            *q->old = r->e;
        return KD_ESTALE;
    }
    if (q->mode == 1 && q->expected == NULL)
        return KD_EEXIST;
    if ((q->mode == 1 || q->mode == 3) && !kd_entry_eq(&r->e, q->expected))
        return KD_ECHANGED;
    int rc = del ? cds_lfht_del(p->ht, &r->node)
                 : cds_lfht_replace(p->ht, it, (unsigned long)hash, plf_match,
                                    k, &(*fresh)->node);
    if (rc == -ENOENT)
        return PLF_RETRY;
    if (q->old != NULL)
        *q->old = r->e;
    if (del) {
        sync_fas_rlx(&p->count, 1);
    } else {
        sync_faa_rlx(&p->bytes, plf_size(*fresh));
        *fresh = NULL;
    }
    plf_retire(p, r);
    return q->mode == 0 ? KD_REPLACED : KD_OK;
}

static int
plf_cond(plf *p, const void *key, size_t klen, uint64_t hash,
         const plf_req *q)
{
    plf_key k = {key, klen};
    plf_rec *fresh = NULL;
    int rc;

    if (q->mode < 2 && (fresh = plf_new(p, key, klen, q->e)) == NULL)
        return KD_ENOMEM;
    kdu_read_lock(&p->f);
    do {
        struct cds_lfht_iter it;
        plf_rec *r = plf_lookup(p, &k, hash, &it);
        rc = r == NULL ? plf_absent(p, &k, hash, q, &fresh)
                       : plf_present(p, &k, hash, q, r, &it, &fresh);
    } while (rc == PLF_RETRY);
    kdu_read_unlock(&p->f);
    free(fresh);
    return rc;
}

static int
plf_put_if_newer(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
                 const kd_entry *e, kd_entry *old)
{
    plf_req q = {0, e, NULL, old};
    return plf_cond((plf *)kd, key, klen, hash, &q);
}

static int
plf_cas(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *expected, const kd_entry *desired)
{
    plf_req q = {1, desired, expected, NULL};
    return plf_cond((plf *)kd, key, klen, hash, &q);
}

static int
plf_del(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *old)
{
    plf_req q = {2, NULL, NULL, old};
    return plf_cond((plf *)kd, key, klen, hash, &q);
}

static int
plf_del_if(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
           const kd_entry *expected)
{
    plf_req q = {3, NULL, expected, NULL};
    return plf_cond((plf *)kd, key, klen, hash, &q);
}

static uint64_t
plf_count(kd_keydir *kd)
{
    return sync_load_rlx(&((plf *)kd)->count);
}

static int
plf_iterate(kd_keydir *kd, kd_visit_fn fn, void *arg)
{
    plf *p = (plf *)kd;
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;
    int rc = 0;

    kdu_read_lock(&p->f);
    cds_lfht_for_each(p->ht, &it, n) {
        plf_rec *r = caa_container_of(n, plf_rec, node);
        kd_entry e = r->e;
        if ((rc = fn(r->key, sync_load_acq(&r->klen), &e, arg)) != 0)
            break;
    }
    kdu_read_unlock(&p->f);
    return rc;
}

static uint64_t
plf_memory(kd_keydir *kd)
{
    plf *p = (plf *)kd;
    uint64_t buckets = p->buckets0, n = sync_load_rlx(&p->count);

    while (p->grow && buckets < n)
        buckets <<= 1;
    /* one bucket node per bucket, plus the index levels (about as much) */
    return sizeof(*p) + buckets * 2 * sizeof(struct cds_lfht_node) +
           sync_load_rlx(&p->bytes) + sync_load_rlx(&p->pending);
}

static void
plf_thread_register(kd_keydir *kd)
{
    kdu_register(&((plf *)kd)->f);
}

static void
plf_thread_unregister(kd_keydir *kd)
{
    kdu_unregister(&((plf *)kd)->f);
}

static void
plf_quiescent(kd_keydir *kd)
{
    plf *p = (plf *)kd;

    if (p->f.qsbr)
        p->f.fl->read_quiescent_state();
}

/* No other thread uses the table: unlink every node (freed by call_rcu),
 * destroy the table, then wait for the callbacks, which touch p. */
static void
plf_close(kd_keydir *kd)
{
    plf *p = (plf *)kd;
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;

    kdu_register(&p->f);
    kdu_read_lock(&p->f);
    cds_lfht_for_each(p->ht, &it, n) {
        if (cds_lfht_del(p->ht, n) == 0)
            plf_retire(p, caa_container_of(n, plf_rec, node));
    }
    kdu_read_unlock(&p->f);
    if (p->f.qsbr)
        p->f.fl->thread_offline();
    cds_lfht_destroy(p->ht, NULL);
    if (p->f.qsbr)
        p->f.fl->thread_online();
    kdu_barrier(&p->f);
    kdu_unregister(&p->f);
    free(p);
}

static int plf_open_presized(const kd_options *opt, kd_keydir **out);
static int plf_open_grow(const kd_options *opt, kd_keydir **out);

#define PLF_OPS(var, kname, text, open_fn)                                    \
    const kd_ops var = {                                                      \
        .name = kname,                                                        \
        .summary = text,                                                      \
        .flags = KD_FLAG_PEER,                                                \
        .open = open_fn,                                                      \
        .close = plf_close,                                                   \
        .get = plf_get,                                                       \
        .put = plf_put,                                                       \
        .put_if_newer = plf_put_if_newer,                                     \
        .cas = plf_cas,                                                       \
        .del = plf_del,                                                       \
        .del_if = plf_del_if,                                                 \
        .count = plf_count,                                                   \
        .iterate = plf_iterate,                                               \
        .memory = plf_memory,                                                 \
        .thread_register = plf_thread_register,                               \
        .thread_unregister = plf_thread_unregister,                           \
        .quiescent = plf_quiescent,                                           \
    }

PLF_OPS(kd_urcu_lfht_ops, "urcu_lfht",
        "peer: liburcu cds_lfht, pre-sized, no resize", plf_open_presized);
PLF_OPS(kd_urcu_lfht_grow_ops, "urcu_lfht_grow",
        "peer: liburcu cds_lfht, growing (auto-resize)", plf_open_grow);

static unsigned long
plf_pow2(uint64_t n, unsigned long at_least)
{
    unsigned long p = at_least;

    while (p < n)
        p <<= 1;
    return p;
}

static int
plf_open(const kd_ops *ops, const kd_options *opt, int grow, kd_keydir **out)
{
    static const kd_options defaults;
    plf *p = calloc(1, sizeof(*p));

    opt = opt != NULL ? opt : &defaults;
    if (p == NULL)
        return KD_ENOMEM;
    if (kdu_pick(opt->flavor, &p->f) != 0) {
        free(p);
        return KD_EINVAL;
    }
    p->base.ops = ops;
    p->base.seed = opt->seed ? opt->seed : KD_DEFAULT_SEED;
    p->grow = grow;
    p->buckets0 = grow ? PLF_GROW_START
                       : plf_pow2(opt->capacity_hint, PLF_PRESIZED_MIN);
    p->ht = cds_lfht_new_flavor(p->buckets0, p->buckets0, 0,
                                grow ? CDS_LFHT_AUTO_RESIZE |
                                           CDS_LFHT_ACCOUNTING
                                     : 0,
                                p->f.fl, NULL);
    if (p->ht == NULL) {
        free(p);
        return KD_ENOMEM;
    }
    *out = &p->base;
    return KD_OK;
}

static int
plf_open_presized(const kd_options *opt, kd_keydir **out)
{
    return plf_open(&kd_urcu_lfht_ops, opt, 0, out);
}

static int
plf_open_grow(const kd_options *opt, kd_keydir **out)
{
    return plf_open(&kd_urcu_lfht_grow_ops, opt, 1, out);
}
