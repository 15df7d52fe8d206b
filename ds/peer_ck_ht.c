/*
 * ds/peer_ck_ht.c - reference peer `ck_ht`: ConcurrencyKit's ck_ht
 * (Samy Al Bahra; open addressing after Dybnis's nbds), wrapped, not
 * rewritten, to be measured against `lockfree`.
 *
 * ck_ht is SPMC: any number of readers run concurrently with ONE writer.
 * So every update here takes one mutex (writers are serialised; readers
 * never take it). Guarantees: get is linearizable at ck_ht's slot read and
 * lock-free (ck_ht_get_spmc retries only when a concurrent writer moved the
 * key, bounded in practice); updates are linearizable while holding the
 * writer mutex and are blocking. Conditional updates (put_if_newer, cas,
 * del_if) read and write under that mutex. count is our counter (exact
 * when quiescent); iterate holds the writer mutex (a snapshot with respect
 * to updates; the callback must not call into this keydir).
 *
 * Each key is a record {entry, key} the ck_ht entry points at (key pointer
 * into the record, value = the record). Records replaced or removed, and
 * the maps ck_ht frees with its "defer" flag while growing, are freed
 * through sync/reclaim.h epochs (ck_ht's documented contract: deferred
 * frees need safe memory reclamation). ck_ht's key length is a uint16_t:
 * keys of exactly KD_KEY_MAX (64 KiB) bytes live in a private `global`
 * keydir on the side; benchmarks never reach it.
 *
 * TSan cannot see ck_pr's inline-assembly publication; tests/tsan.supp
 * suppresses reports inside ck_ht's own functions only.
 */
#include "ds/keydir.h"
#include "ds/update_internal.h"
#include "sync/atomic.h"
#include "sync/reclaim.h"

#include <ck_ht.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PCK_KEY_MAX 65535u
#define PCK_START 64u

typedef struct pck pck;

typedef struct pck_rec {
    kd_entry e;
    _Atomic uint32_t klen; /* stored last, with release */
    unsigned char key[];
} pck_rec;

struct pck {
    kd_keydir base;
    sync_reclaim *rc;
    kd_keydir *big; /* keys longer than ck_ht accepts */
    pthread_mutex_t wlock;
    ck_ht_t ht;
    _Atomic uint64_t count;
    _Atomic uint64_t bytes; /* records and live maps */
};

/* ck_malloc callbacks carry no context: the writer (under wlock) or
 * open/close names the keydir they act for. */
static _Thread_local pck *pck_cur;

static void *
pck_malloc(size_t n)
{
    void *m = malloc(n);

    if (m != NULL)
        sync_faa_rlx(&pck_cur->bytes, n);
    return m;
}

static void
pck_free(void *m, size_t n, bool defer)
{
    sync_fas_rlx(&pck_cur->bytes, n);
    if (defer)
        sync_reclaim_retire(pck_cur->rc, m, n, free);
    else
        free(m);
}

static void *
pck_realloc(void *m, size_t old, size_t n, bool defer)
{
    void *r = pck_malloc(n);

    if (r == NULL)
        return NULL;
    memcpy(r, m, old < n ? old : n);
    pck_free(m, old, defer);
    return r;
}

static struct ck_malloc pck_allocator = {pck_malloc, pck_realloc, pck_free};

static void
pck_hash_cb(ck_ht_hash_t *h, const void *key, size_t klen, uint64_t seed)
{
    h->value = kd_hash(key, klen, seed);
}

static size_t
pck_size(pck_rec *r)
{
    return sizeof(*r) + sync_load_rlx(&r->klen);
}

/* The record of key, or NULL. Reader or writer; call inside a section. */
static pck_rec *
pck_find(pck *p, const void *key, size_t klen, uint64_t hash)
{
    ck_ht_entry_t ent;
    ck_ht_hash_t h = {hash};

    ck_ht_entry_key_set(&ent, key, (uint16_t)klen);
    if (!ck_ht_get_spmc(&p->ht, h, &ent))
        return NULL;
    pck_rec *r = ck_ht_entry_value(&ent);
    (void)sync_load_acq(&r->klen); /* pairs with the release in pck_put_rec */
    return r;
}

static int
pck_get(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *out)
{
    pck *p = (pck *)kd;

    if (klen > PCK_KEY_MAX)
        return p->big->ops->get(p->big, key, klen, hash, out);
    sync_reclaim_enter(p->rc);
    pck_rec *r = pck_find(p, key, klen, hash);
    if (r != NULL)
        *out = r->e;
    sync_reclaim_exit(p->rc);
    return r != NULL ? KD_OK : KD_ENOTFOUND;
}

/* Installs a new record for key (replacing any). Under wlock. */
static int
pck_put_rec(pck *p, const void *key, size_t klen, uint64_t hash,
            const kd_entry *e)
{
    pck_rec *r = pck_malloc(sizeof(*r) + klen);
    ck_ht_entry_t ent;
    ck_ht_hash_t h = {hash};

    if (r == NULL)
        return KD_ENOMEM;
    r->e = *e;
    memcpy(r->key, key, klen);
    sync_store_rel(&r->klen, (uint32_t)klen);
    ck_ht_entry_set(&ent, h, r->key, (uint16_t)klen, r);
    if (!ck_ht_set_spmc(&p->ht, h, &ent)) {
        pck_free(r, sizeof(*r) + klen, false);
        return KD_ENOMEM;
    }
    return KD_OK;
}

static void
pck_retire(pck_rec *r)
{
    pck_free(r, pck_size(r), true);
}

static int
pck_update_locked(pck *p, const void *key, size_t klen, uint64_t hash,
                  const kd_update *q)
{
    pck_rec *r = pck_find(p, key, klen, hash);
    int install;
    int rc = kd_update_decide(q, r != NULL ? &r->e : NULL, &install);

    if (install == KD_ACT_INSTALL) {
        int prc = pck_put_rec(p, key, klen, hash, q->e);
        if (prc != KD_OK)
            return prc;
        if (r != NULL)
            pck_retire(r);
        else
            sync_faa_rlx(&p->count, 1);
    } else if (install == KD_ACT_REMOVE) {
        ck_ht_entry_t ent;
        ck_ht_hash_t h = {hash};
        ck_ht_entry_key_set(&ent, key, (uint16_t)klen);
        ck_ht_remove_spmc(&p->ht, h, &ent);
        sync_fas_rlx(&p->count, 1);
        pck_retire(r);
    }
    return rc;
}

static int
pck_update(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
           const kd_update *q)
{
    pck *p = (pck *)kd;
    int rc;

    pthread_mutex_lock(&p->wlock);
    pck_cur = p;
    sync_reclaim_enter(p->rc);
    rc = pck_update_locked(p, key, klen, hash, q);
    sync_reclaim_exit(p->rc);
    pthread_mutex_unlock(&p->wlock);
    return rc;
}

static int
pck_put(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *e, kd_entry *old)
{
    pck *p = (pck *)kd;
    kd_update q = {KD_UP_PUT, e, NULL, old};

    if (klen > PCK_KEY_MAX)
        return p->big->ops->put(p->big, key, klen, hash, e, old);
    return pck_update(kd, key, klen, hash, &q);
}

static int
pck_put_if_newer(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
                 const kd_entry *e, kd_entry *old)
{
    pck *p = (pck *)kd;
    kd_update q = {KD_UP_PUT_IF_NEWER, e, NULL, old};

    if (klen > PCK_KEY_MAX)
        return p->big->ops->put_if_newer(p->big, key, klen, hash, e, old);
    return pck_update(kd, key, klen, hash, &q);
}

static int
pck_cas(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        const kd_entry *expected, const kd_entry *desired)
{
    pck *p = (pck *)kd;
    kd_update q = {KD_UP_CAS, desired, expected, NULL};

    if (klen > PCK_KEY_MAX)
        return p->big->ops->cas(p->big, key, klen, hash, expected, desired);
    return pck_update(kd, key, klen, hash, &q);
}

static int
pck_del(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
        kd_entry *old)
{
    pck *p = (pck *)kd;
    kd_update q = {KD_UP_DEL, NULL, NULL, old};

    if (klen > PCK_KEY_MAX)
        return p->big->ops->del(p->big, key, klen, hash, old);
    return pck_update(kd, key, klen, hash, &q);
}

static int
pck_del_if(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
           const kd_entry *expected)
{
    pck *p = (pck *)kd;
    kd_update q = {KD_UP_DEL_IF, NULL, expected, NULL};

    if (klen > PCK_KEY_MAX)
        return p->big->ops->del_if(p->big, key, klen, hash, expected);
    return pck_update(kd, key, klen, hash, &q);
}

static uint64_t
pck_count(kd_keydir *kd)
{
    pck *p = (pck *)kd;

    return sync_load_rlx(&p->count) + kd_count(p->big);
}

static int
pck_iterate(kd_keydir *kd, kd_visit_fn fn, void *arg)
{
    pck *p = (pck *)kd;
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *ent;
    int rc = 0;

    pthread_mutex_lock(&p->wlock);
    while (rc == 0 && ck_ht_next(&p->ht, &it, &ent)) {
        pck_rec *r = ck_ht_entry_value(ent);
        kd_entry e = r->e;
        rc = fn(r->key, sync_load_rlx(&r->klen), &e, arg);
    }
    pthread_mutex_unlock(&p->wlock);
    return rc != 0 ? rc : kd_iterate(p->big, fn, arg);
}

static uint64_t
pck_memory(kd_keydir *kd)
{
    pck *p = (pck *)kd;
    sync_reclaim_stats st;

    sync_reclaim_stats_get(p->rc, &st);
    return sizeof(*p) + sync_load_rlx(&p->bytes) + st.pending_bytes +
           kd_memory(p->big);
}

static void
pck_thread_register(kd_keydir *kd)
{
    sync_reclaim_register(((pck *)kd)->rc);
}

static void
pck_thread_unregister(kd_keydir *kd)
{
    sync_reclaim_unregister(((pck *)kd)->rc);
}

static void
pck_quiescent(kd_keydir *kd)
{
    sync_reclaim_quiescent(((pck *)kd)->rc);
}

static void
pck_close(kd_keydir *kd)
{
    pck *p = (pck *)kd;
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *ent;

    pck_cur = p;
    sync_reclaim_destroy(p->rc); /* frees retired records and maps */
    while (ck_ht_next(&p->ht, &it, &ent))
        free(ck_ht_entry_value(ent));
    ck_ht_destroy(&p->ht);
    kd_close(p->big);
    pthread_mutex_destroy(&p->wlock);
    free(p);
}

static int pck_open(const kd_options *opt, kd_keydir **out);

const kd_ops kd_ck_ht_ops = {
    .name = "ck_ht",
    .summary = "peer: ConcurrencyKit ck_ht (SPMC), writers serialised by a "
               "mutex, epoch reclamation",
    .flags = KD_FLAG_PEER | KD_FLAG_ONE_WRITER,
    .open = pck_open,
    .close = pck_close,
    .get = pck_get,
    .put = pck_put,
    .put_if_newer = pck_put_if_newer,
    .cas = pck_cas,
    .del = pck_del,
    .del_if = pck_del_if,
    .count = pck_count,
    .iterate = pck_iterate,
    .memory = pck_memory,
    .thread_register = pck_thread_register,
    .thread_unregister = pck_thread_unregister,
    .quiescent = pck_quiescent,
};

static int
pck_open(const kd_options *opt, kd_keydir **out)
{
    static const kd_options defaults;
    kd_options side = {0};
    pck *p = calloc(1, sizeof(*p));
    int rc;

    opt = opt != NULL ? opt : &defaults;
    if (p == NULL)
        return KD_ENOMEM;
    p->base.ops = &kd_ck_ht_ops;
    p->base.seed = opt->seed ? opt->seed : KD_DEFAULT_SEED;
    side.seed = p->base.seed;
    if ((rc = sync_reclaim_create(opt->reclaim, &p->rc)) != SYNC_OK) {
        free(p);
        return rc == SYNC_ESCHEME ? KD_EINVAL : KD_ENOMEM;
    }
    if ((rc = kd_open("global", &side, &p->big)) != KD_OK) {
        sync_reclaim_destroy(p->rc);
        free(p);
        return rc;
    }
    pck_cur = p;
    if (!ck_ht_init(&p->ht, CK_HT_MODE_BYTESTRING, pck_hash_cb,
                    &pck_allocator,
                    opt->capacity_hint > PCK_START ? opt->capacity_hint
                                                   : PCK_START,
                    p->base.seed)) {
        kd_close(p->big);
        sync_reclaim_destroy(p->rc);
        free(p);
        return KD_ENOMEM;
    }
    pthread_mutex_init(&p->wlock, NULL);
    *out = &p->base;
    return KD_OK;
}
