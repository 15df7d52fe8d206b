/*
 * ds/lockfree.c - keydir `lockfree`: an open-addressing hash table where
 * every operation is one CAS on one 64-bit slot, with cooperative,
 * non-blocking resizing. Our own design after Click's NonBlockingHashMap
 * (slots claimed by a key forever, "primed" slots frozen during a copy),
 * Preshing's Junction (several slots per cache line, linear probing) and
 * Maier et al.'s growt (chunked cooperative migration).
 *
 * Layout. A table is a power-of-two array of 64-bit slots, eight per cache
 * line, probed linearly from hash & mask. A slot word packs a 16-bit tag
 * (the hash's top bits, so most mismatches cost no dereference), a pointer
 * to an immutable record {entry, key} (16-byte aligned, below 2^48) and
 * three flag bits:
 *   TOMB    the key was deleted; the slot stays the key's (Click: a slot,
 *           once claimed by a key, never holds another key in this table).
 *   FROZEN  the slot is being moved to the next table: no CAS on it succeeds
 *           again. An empty slot freezes to the word FROZEN alone.
 *   COPIED  the record was copied here from an older table, whose frozen
 *           slot may still point at it (see reclamation).
 *
 * Operations. put, put_if_newer, cas(NULL) claim the first empty slot of
 * the key's probe sequence with a fresh record (one CAS) or find the key's
 * slot; then insert, replace, conditional replace and delete are each one
 * CAS of that slot from the word read to the new word, retried while the
 * slot changes under them. Because slots are never emptied, the probe
 * sequence of a key only grows: any thread looking for key K meets K's slot
 * before any empty slot, so two inserters of K claim the same slot.
 *
 * Resizing. When claims pass 3/4 of the slots, a thread allocates the next
 * table (twice the live keys) and publishes it with one CAS on table->next.
 * Every writer then migrates one chunk of LF_CHUNK slots before its own
 * operation (claimed by fetch-and-add on copy_idx): freeze each slot, then
 * put-if-absent its record into the next table. The thread completing the
 * last chunk swings the root pointer and retires the old table. A key is
 * written into the next table only after its slot in the old one is frozen
 * (writers copy a frozen record first), or when the old table has no slot
 * for it (its probe met a frozen empty slot). Hence:
 *   get        linearizable: at the load of the key's unfrozen slot, or of
 *              the unfrozen empty slot ending the probe (no table after it
 *              can hold the key yet), or, for a frozen slot whose key the
 *              next table lacks, at the load showing it lacks it. get never
 *              writes and never loops on a CAS: it is wait-free, bounded by
 *              table size times the number of tables chained during it.
 *   put, put_if_newer, cas, del, del_if
 *              linearizable at their successful slot CAS (or, when they
 *              change nothing, at the load that decided it). Lock-free: a
 *              CAS fails only because another operation's CAS succeeded.
 *              A stalled helper delays the old table's release, never
 *              another thread's operation: keys in its chunk are copied on
 *              demand by whoever touches them. Record allocation is outside
 *              this argument, as malloc's locks would be: ds/slab.c takes
 *              a mutex when the thread's free list runs dry (once per
 *              thousands of records).
 *   count      relaxed per-thread-stripe counters summed: exact when
 *              quiescent.
 *   iterate    blocking: finishes any migration (waiting for a chunk that
 *              another thread is copying), then walks the root table; a key
 *              present and unchanged throughout is visited exactly once.
 *
 * No ABA. A slot only moves along 0 -> word -> ... -> FROZEN-marked, and a
 * pointer in a word is either a fresh allocation or the same record plus a
 * flag bit that is never cleared. For an old word to reappear, its record
 * would have to be freed and its address reused; but every operation loads
 * and CASes inside an epoch critical section (sync/reclaim.h), so no record
 * it has seen is freed before it finishes (under "qsbr", before its next
 * quiescent announcement, which happens only between operations).
 *
 * Reclamation (sync/reclaim.h, scheme from kd_options.reclaim: "qsbr" by
 * default, a full fence every 256 operations; "epoch", a full fence per
 * operation, about 4x slower gets on 1M keys because the fence also stops
 * consecutive lookups' cache misses from overlapping): a record
 * replaced in table u is retired at once unless it is COPIED and an older
 * table is still reachable (root != u); then it is parked on u's zombie
 * list and freed with u, after every table that could point at it.
 * Tombstone records of a frozen slot are parked the same way. Old tables
 * are retired by the thread that swings the root.
 */
#include "ds/keydir.h"
#include "ds/slab_internal.h"
#include "ds/update_internal.h"
#include "sync/atomic.h"
#include "sync/reclaim.h"

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LF_MIN_SLOTS 64u
#define LF_CHUNK 1024u
#define LF_PREFETCH 8u /* migration: slots ahead whose record is fetched */
#define LF_TOMB ((uint64_t)1)
#define LF_FROZEN ((uint64_t)2)
#define LF_COPIED ((uint64_t)4)
#define LF_PTR_MASK 0x0000fffffffffff0ull
#define LF_HUGE_BYTES (4u << 20) /* slot arrays from here on: huge pages */

typedef struct lf_rec {
    kd_entry e;
    uint32_t klen;
    unsigned char key[]; /* klen bytes */
} lf_rec;

typedef struct lf_zombie {
    struct lf_zombie *next;
    lf_rec *r;
} lf_zombie;

struct lf_kd;

typedef struct lf_table {
    uint64_t mask;  /* slots - 1 */
    uint64_t limit; /* claims before a resize starts */
    uint64_t chunk; /* slots per migration chunk */
    struct lf_kd *kd;
    _Atomic uint64_t *slots;
    size_t slots_bytes; /* the slot array's mapping, for munmap */
    alignas(64) _Atomic(struct lf_table *) next;
    alignas(64) _Atomic uint64_t used; /* claims reserved (lf_reserve) */
    alignas(64) _Atomic uint64_t copy_idx;
    _Atomic uint64_t copy_done;
    _Atomic(lf_zombie *) zombies;
} lf_table;

/* Keys and record bytes, counted per thread stripe: one shared counter
 * would be written by every insert and replace, and its cache line would
 * bounce between cores (measured: it cost the 50/50 mix its scaling). */
#define LF_STRIPES 16u

typedef struct lf_stripe {
    alignas(64) _Atomic uint64_t count;
    _Atomic uint64_t rec_bytes; /* records, zombies included */
} lf_stripe;

typedef struct lf_kd {
    kd_keydir base;
    sync_reclaim *rc;
    alignas(64) _Atomic(lf_table *) root;
    alignas(64) _Atomic uint64_t table_bytes;
    lf_stripe stripes[LF_STRIPES];
} lf_kd;

static _Atomic unsigned lf_next_stripe;
static _Thread_local unsigned lf_my_stripe; /* 1 + stripe; 0 = unassigned */

static lf_stripe *
lf_stripe_self(lf_kd *kd)
{
    if (lf_my_stripe == 0)
        lf_my_stripe = 1 + sync_faa_rlx(&lf_next_stripe, 1) % LF_STRIPES;
    return &kd->stripes[lf_my_stripe - 1];
}

/* Adds delta (two's complement) to this thread's stripe of a counter. */
static void
lf_count_add(lf_kd *kd, int64_t delta)
{
    sync_faa_rlx(&lf_stripe_self(kd)->count, (uint64_t)delta);
}

static void
lf_bytes_add(lf_kd *kd, int64_t delta)
{
    sync_faa_rlx(&lf_stripe_self(kd)->rec_bytes, (uint64_t)delta);
}

/* Sums of the stripes: exact when quiescent. */
static uint64_t
lf_count_sum(lf_kd *kd)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < LF_STRIPES; i++)
        n += sync_load_rlx(&kd->stripes[i].count);
    return n;
}

static uint64_t
lf_bytes_sum(lf_kd *kd)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < LF_STRIPES; i++)
        n += sync_load_rlx(&kd->stripes[i].rec_bytes);
    return n;
}

enum { LF_HIT, LF_MISS, LF_NEXT, LF_CLAIMED };

static lf_rec *
lf_ptr(uint64_t w)
{
    return (lf_rec *)(uintptr_t)(w & LF_PTR_MASK);
}

static uint64_t
lf_word(const lf_rec *r, uint64_t hash)
{
    return (uint64_t)(uintptr_t)r | (hash >> 48 << 48);
}

/*
 * Records whose block fits KD_SLAB_BLOCK bytes (keys of up to 36 bytes,
 * 8- and 16-byte keys included) come from ds/slab.c: huge pages, so a
 * get's access to the record costs a cache miss but no page walk, and
 * per-thread free lists, so the put path neither calls malloc/free nor
 * frees into another thread's arena. Larger records use malloc.
 */
static int
lf_rec_small(size_t klen)
{
    return KD_SLAB_ON && offsetof(lf_rec, key) + klen <= KD_SLAB_BLOCK;
}

/* Bytes a record holds (its whole block, for a slab record). */
static size_t
lf_rec_size(const lf_rec *r)
{
    return lf_rec_small(r->klen) ? KD_SLAB_BLOCK : sizeof(*r) + r->klen;
}

static void
lf_rec_free(void *p)
{
    lf_rec *r = p;

    if (r == NULL)
        return;
    if (lf_rec_small(r->klen))
        kd_slab_free(p);
    else
        free(p);
}

static lf_rec *
lf_rec_new(const void *key, size_t klen, const kd_entry *e)
{
    lf_rec *r = lf_rec_small(klen) ? kd_slab_alloc()
                                   : malloc(sizeof(*r) + klen);

    if (r == NULL)
        return NULL;
    /* The slot word needs the low 4 and high 16 bits free. */
    r->klen = (uint32_t)klen; /* lf_rec_free reads it */
    if (((uintptr_t)r & ~(uintptr_t)LF_PTR_MASK) != 0) {
        lf_rec_free(r);
        return NULL;
    }
    r->e = *e;
    memcpy(r->key, key, klen);
    return r;
}

static uint64_t
lf_table_size(const lf_table *t)
{
    return sizeof(*t) + (t->mask + 1) * sizeof(uint64_t);
}

static lf_table *
lf_table_new(lf_kd *kd, uint64_t slots)
{
    lf_table *t = aligned_alloc(64, sizeof(*t));

    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof(*t));
    /* An anonymous mapping is zero pages, faulted in lazily by the copies
     * that first write them: allocating the next table costs no stall
     * proportional to its size. (calloc may instead recycle heap memory
     * and memset all of it: glibc raises its mmap threshold after a large
     * free, and a 32 MiB memset measured a 47 ms put.) Page-aligned, so
     * slots are cache-line aligned too. */
    t->slots_bytes = slots * sizeof(uint64_t);
    void *m = mmap(NULL, t->slots_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(t);
        return NULL;
    }
    /* Large arrays on transparent huge pages where the system allows it:
     * a 16 MiB array faults in 8 times instead of 4096 (the faults of a
     * 1M-key fill were a large share of its time); each fault zeroes 2 MiB,
     * tens of microseconds. A hint: refused, the array stays on 4 KiB. */
    if (t->slots_bytes >= LF_HUGE_BYTES)
        (void)madvise(m, t->slots_bytes, MADV_HUGEPAGE);
    t->slots = m;
    t->mask = slots - 1;
    t->limit = slots / 4 * 3;
    t->chunk = slots < LF_CHUNK ? slots : LF_CHUNK;
    t->kd = kd;
    sync_faa_rlx(&kd->table_bytes, lf_table_size(t));
    return t;
}

/* Frees a table and the records parked on it (no thread can reach them). */
static void
lf_table_free(void *p)
{
    lf_table *t = p;
    lf_zombie *z = sync_load_acq(&t->zombies);

    while (z != NULL) {
        lf_zombie *next = z->next;
        lf_bytes_add(t->kd, -(int64_t)lf_rec_size(z->r));
        lf_rec_free(z->r);
        free(z);
        z = next;
    }
    munmap((void *)t->slots, t->slots_bytes);
    free(t);
}

/* Parks r until t is freed. Out of memory for the node, r is leaked: it
 * cannot be freed while an older table may still point at it. */
static void
lf_park(lf_table *t, lf_rec *r)
{
    lf_zombie *z = malloc(sizeof(*z));

    if (z == NULL)
        return;
    z->r = r;
    z->next = sync_load_rlx(&t->zombies);
    while (!sync_cas_acqrel(&t->zombies, &z->next, z))
        ;
}

/*
 * The record of word w, just unlinked from table u, goes to reclamation;
 * `added` bytes were just installed in its place. The record bytes change
 * by their difference, in one update of this thread's counter, or none
 * when a replace swaps records of one size (the common case: each update
 * of the counter is a locked instruction, which also keeps the CPU from
 * overlapping the next operation's cache misses with this one).
 */
static void
lf_drop(lf_kd *kd, lf_table *u, uint64_t w, size_t added)
{
    lf_rec *r = lf_ptr(w);
    int64_t delta = (int64_t)added;

    if ((w & LF_COPIED) && sync_load_acq(&kd->root) != u) {
        lf_park(u, r); /* its bytes stay counted until u is freed */
    } else {
        delta -= (int64_t)lf_rec_size(r);
        sync_reclaim_retire(kd->rc, r, lf_rec_size(r), lf_rec_free);
    }
    if (delta != 0)
        lf_bytes_add(kd, delta);
}

static uint64_t
lf_pow2(uint64_t n)
{
    uint64_t p = LF_MIN_SLOTS;

    while (p < n)
        p <<= 1;
    return p;
}

static void
lf_start_resize(lf_kd *kd, lf_table *t)
{
    lf_table *nt = lf_table_new(kd, lf_pow2(lf_count_sum(kd) * 2));
    lf_table *none = NULL;

    if (nt == NULL)
        return;
    if (!sync_cas_acqrel(&t->next, &none, nt)) {
        sync_fas_rlx(&kd->table_bytes, lf_table_size(nt));
        lf_table_free(nt); /* never published */
    }
}

static lf_table *
lf_next_or_grow(lf_kd *kd, lf_table *t)
{
    lf_table *nt = sync_load_acq(&t->next);

    if (nt == NULL) {
        lf_start_resize(kd, t);
        nt = sync_load_acq(&t->next);
    }
    return nt;
}

/*
 * Claim budget: a thread reserves claims of a table in batches (up to 32,
 * fewer in small tables), so two inserting threads do not bounce the
 * `used` counter's cache line on every insert. The cached table pointer is
 * only compared, never dereferenced; if a freed table's address comes back
 * for a new one, at most one batch goes uncounted, and `used` only decides
 * when to resize (a full table still sends claims on by exhaustion).
 */
static _Thread_local struct {
    const lf_table *t;
    uint64_t left;
} lf_budget;

/* Takes one claim of t's budget; 0 once t is 3/4 claimed. */
static int
lf_reserve(lf_table *t)
{
    uint64_t batch = (t->mask + 1) >> 8;

    if (lf_budget.t == t && lf_budget.left > 0) {
        lf_budget.left--;
        return 1;
    }
    batch = batch < 1 ? 1 : batch > 32 ? 32 : batch;
    if (sync_faa_rlx(&t->used, batch) >= t->limit)
        return 0;
    lf_budget.t = t;
    lf_budget.left = batch - 1;
    return 1;
}

/* New keys go to the next table once it exists or t is 3/4 claimed; a
 * claim of t is reserved otherwise. */
static int
lf_closed(lf_kd *kd, lf_table *t)
{
    if (sync_load_acq(&t->next) != NULL)
        return 1;
    if (lf_reserve(t))
        return 0;
    lf_start_resize(kd, t);
    return sync_load_acq(&t->next) != NULL;
}

static int
lf_key_eq(const lf_rec *r, const void *key, size_t klen)
{
    uint64_t a, b;

    if (r->klen != klen)
        return 0;
    if (klen != 8)
        return memcmp(r->key, key, klen) == 0;
    /* 8-byte keys, the common keydir case: no library call */
    memcpy(&a, r->key, 8);
    memcpy(&b, key, 8);
    return a == b;
}

/*
 * Probes t for key. With claim != NULL, claims the first empty slot with
 * claim's word | flags when the key is absent (LF_CLAIMED), or, if t is
 * closed to new keys, freezes that slot and answers LF_NEXT. Without claim,
 * an empty slot answers LF_MISS. LF_HIT gives the key's slot and its word.
 * Call inside a critical section.
 */
static int
lf_probe(lf_kd *kd, lf_table *t, const void *key, size_t klen, uint64_t hash,
         const lf_rec *claim, uint64_t flags, _Atomic uint64_t **slotp,
         uint64_t *wp)
{
    uint64_t i = hash & t->mask;

    for (uint64_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
        _Atomic uint64_t *s = &t->slots[i];
        uint64_t w = sync_load_acq(s);
        if (w == 0) {
            if (claim == NULL)
                return LF_MISS;
            if (lf_closed(kd, t)) {
                if (sync_cas_acqrel(s, &w, LF_FROZEN) || w == LF_FROZEN)
                    return LF_NEXT;
            } else if (sync_cas_acqrel(s, &w, lf_word(claim, hash) | flags)) {
                *slotp = s;
                return LF_CLAIMED;
            }
            /* lost the slot: w is what won it, examine that */
        }
        if (w == LF_FROZEN)
            return LF_NEXT;
        if ((w >> 48) == (hash >> 48) && lf_key_eq(lf_ptr(w), key, klen)) {
            *slotp = s;
            *wp = w;
            return LF_HIT;
        }
    }
    return LF_NEXT;
}

/* Put-if-absent of a frozen record (word w) into nt and, if needed, on. */
static void
lf_copy(lf_kd *kd, lf_table *nt, uint64_t w)
{
    lf_rec *r = lf_ptr(w);
    uint64_t hash = kd_hash(r->key, r->klen, kd->base.seed);

    for (;;) {
        _Atomic uint64_t *s;
        uint64_t got;
        int p = lf_probe(kd, nt, r->key, r->klen, hash, r, LF_COPIED, &s,
                         &got);
        if (p != LF_NEXT)
            return; /* claimed, or the key already has its slot there */
        lf_table *n2;
        /* The copy must land: out of memory, wait for memory. */
        while ((n2 = lf_next_or_grow(kd, nt)) == NULL)
            sched_yield();
        nt = n2;
    }
}

static void
lf_migrate_slot(lf_kd *kd, lf_table *t, lf_table *nt, _Atomic uint64_t *s)
{
    uint64_t w = sync_load_acq(s);

    while (!(w & LF_FROZEN)) {
        uint64_t frozen = w == 0 ? LF_FROZEN : w | LF_FROZEN;
        if (sync_cas_acqrel(s, &w, frozen)) {
            if (w & LF_TOMB)
                lf_park(t, lf_ptr(w)); /* readers of t may still compare */
            w = frozen;
        }
    }
    /* Copy even if another thread froze it: copies are idempotent, and a
     * finished chunk must leave no live record uncopied. */
    if (w != LF_FROZEN && !(w & LF_TOMB))
        lf_copy(kd, nt, w);
}

/* Retires t after the root has moved past it, and promotes newer tables
 * whose migration finished meanwhile. */
static void
lf_promote(lf_kd *kd, lf_table *t)
{
    for (;;) {
        lf_table *nt = sync_load_acq(&t->next), *expect = t;
        if (!sync_cas_acqrel(&kd->root, &expect, nt))
            return;
        sync_fas_rlx(&kd->table_bytes, lf_table_size(t));
        sync_reclaim_retire(kd->rc, t, lf_table_size(t), lf_table_free);
        t = nt;
        if (sync_load_acq(&t->next) == NULL ||
            sync_load_acq(&t->copy_done) != t->mask + 1)
            return;
    }
}

/* Migrates one chunk of t if t is being migrated. Returns 0 when there was
 * nothing left to claim but the migration is not finished yet. */
static int
lf_help(lf_kd *kd, lf_table *t)
{
    lf_table *nt = sync_load_acq(&t->next);
    uint64_t slots = t->mask + 1;

    if (nt == NULL)
        return 1;
    uint64_t i = sync_faa_acqrel(&t->copy_idx, t->chunk);
    if (i < slots) {
        for (uint64_t j = i; j < i + t->chunk; j++) {
            /* Copying reads each record's key (to rehash it): fetch a few
             * slots ahead so those cache misses overlap. */
            if (j + LF_PREFETCH < i + t->chunk)
                __builtin_prefetch(
                    lf_ptr(sync_load_rlx(&t->slots[j + LF_PREFETCH])));
            lf_migrate_slot(kd, t, nt, &t->slots[j]);
        }
        if (sync_faa_acqrel(&t->copy_done, t->chunk) + t->chunk != slots)
            return 1;
    } else if (sync_load_acq(&t->copy_done) != slots) {
        return 0;
    }
    lf_promote(kd, t);
    return 1;
}

/* Migrates until the root has no next table (blocking: may wait for a
 * chunk another thread is copying). Call inside a critical section. */
static void
lf_finish_migration(lf_kd *kd)
{
    lf_table *t;

    while (sync_load_acq(&(t = sync_load_acq(&kd->root))->next) != NULL)
        if (!lf_help(kd, t))
            sched_yield();
}

/*
 * Looks key up from table t on. Returns 1 (live, entry in *out), 0 (the
 * key's slot holds a tombstone) or -1 (no table from t on has a slot for
 * the key). The newest table holding a slot for the key decides: a frozen
 * slot's record has been, or is being, copied on, so a newer table's slot
 * wins, and the frozen word counts only when no newer table has a slot
 * (its copy has not landed yet). Never writes; a loop, not recursion, so
 * that it inlines into lf_get.
 */
static int
lf_lookup(lf_kd *kd, lf_table *t, const void *key, size_t klen,
          uint64_t hash, kd_entry *out)
{
    uint64_t found = 0; /* the word of the newest slot seen, or 0 */

    while (t != NULL) {
        _Atomic uint64_t *s;
        uint64_t w;
        int p = lf_probe(kd, t, key, klen, hash, NULL, 0, &s, &w);
        if (p == LF_MISS)
            break;
        if (p == LF_HIT) {
            found = w;
            if (!(w & LF_FROZEN))
                break;
        }
        t = sync_load_acq(&t->next);
    }
    if (found == 0)
        return -1;
    if (found & LF_TOMB)
        return 0;
    *out = lf_ptr(found)->e;
    return 1;
}

static int
lf_get(kd_keydir *kd_, const void *key, size_t klen, uint64_t hash,
       kd_entry *out)
{
    lf_kd *kd = (lf_kd *)kd_;

    sync_reclaim_enter(kd->rc);
    int r = lf_lookup(kd, sync_load_acq(&kd->root), key, klen, hash, out);
    sync_reclaim_exit(kd->rc);
    return r == 1 ? KD_OK : KD_ENOTFOUND;
}

/* ---- Updates ----------------------------------------------------------- */

/* An update and the record that holds its entry until installed. */
typedef struct lf_req {
    kd_update u;
    lf_rec *fresh;
} lf_req;

/*
 * Applies q to the key's slot s (word w) in t. Returns 1 with the outcome
 * in *rc, or 0 when the slot is frozen: the record has been copied on and
 * the caller continues in t->next.
 */
static int
lf_apply(lf_kd *kd, lf_table *t, _Atomic uint64_t *s, uint64_t w,
         uint64_t hash, lf_req *q, int *rc)
{
    for (;;) {
        int act;
        if (w & LF_FROZEN) {
            if (!(w & LF_TOMB))
                lf_copy(kd, sync_load_acq(&t->next), w);
            return 0;
        }
        kd_entry cur;
        int live = !(w & LF_TOMB);
        if (live)
            cur = lf_ptr(w)->e;
        *rc = kd_update_decide(&q->u, live ? &cur : NULL, &act);
        if (act == KD_ACT_NONE)
            return 1;
        uint64_t nw = act == KD_ACT_INSTALL ? lf_word(q->fresh, hash)
                                            : w | LF_TOMB;
        uint64_t seen = w;
        if (sync_cas_acqrel(s, &seen, nw)) {
            if (act == KD_ACT_REMOVE) {
                lf_count_add(kd, -1);
                return 1;
            }
            size_t added = lf_rec_size(q->fresh);
            q->fresh = NULL;
            if (!live)
                lf_count_add(kd, 1);
            lf_drop(kd, t, w, added);
            return 1;
        }
        w = seen;
    }
}

static int
lf_update(lf_kd *kd, const void *key, size_t klen, uint64_t hash, lf_req *q)
{
    int op = q->u.op;
    int may_claim = op == KD_UP_PUT || op == KD_UP_PUT_IF_NEWER ||
                    (op == KD_UP_CAS && q->u.expected == NULL);
    int rc = KD_ENOMEM;

    q->fresh = NULL;
    if (op <= KD_UP_CAS &&
        (q->fresh = lf_rec_new(key, klen, q->u.e)) == NULL)
        return KD_ENOMEM;
    sync_reclaim_enter(kd->rc);
    for (lf_table *t = sync_load_acq(&kd->root); t != NULL;) {
        _Atomic uint64_t *s;
        uint64_t w = 0;
        lf_help(kd, t);
        int p = lf_probe(kd, t, key, klen, hash, may_claim ? q->fresh : NULL,
                         0, &s, &w);
        if (p == LF_CLAIMED) {
            lf_bytes_add(kd, (int64_t)lf_rec_size(q->fresh));
            lf_count_add(kd, 1);
            q->fresh = NULL;
            rc = op == KD_UP_CAS ? KD_OK : KD_INSERTED;
            break;
        }
        if (p == LF_MISS) {
            int act;
            rc = kd_update_decide(&q->u, NULL, &act); /* no claim: nothing to do */
            break;
        }
        if (p == LF_HIT && lf_apply(kd, t, s, w, hash, q, &rc))
            break;
        t = lf_next_or_grow(kd, t); /* NULL only when out of memory */
    }
    sync_reclaim_exit(kd->rc);
    lf_rec_free(q->fresh); /* not installed */
    return rc;
}

static int
lf_put(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
       const kd_entry *e, kd_entry *old)
{
    lf_req q = {{KD_UP_PUT, e, NULL, old}, NULL};
    return lf_update((lf_kd *)kd, key, klen, hash, &q);
}

static int
lf_put_if_newer(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
                const kd_entry *e, kd_entry *old)
{
    lf_req q = {{KD_UP_PUT_IF_NEWER, e, NULL, old}, NULL};
    return lf_update((lf_kd *)kd, key, klen, hash, &q);
}

static int
lf_cas(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
       const kd_entry *expected, const kd_entry *desired)
{
    lf_req q = {{KD_UP_CAS, desired, expected, NULL}, NULL};
    return lf_update((lf_kd *)kd, key, klen, hash, &q);
}

static int
lf_del(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
       kd_entry *old)
{
    lf_req q = {{KD_UP_DEL, NULL, NULL, old}, NULL};
    return lf_update((lf_kd *)kd, key, klen, hash, &q);
}

static int
lf_del_if(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
          const kd_entry *expected)
{
    lf_req q = {{KD_UP_DEL_IF, NULL, expected, NULL}, NULL};
    return lf_update((lf_kd *)kd, key, klen, hash, &q);
}

/* ---- Whole-table operations -------------------------------------------- */

static uint64_t
lf_count(kd_keydir *kd)
{
    return lf_count_sum((lf_kd *)kd);
}

static int
lf_iterate(kd_keydir *kd_, kd_visit_fn fn, void *arg)
{
    lf_kd *kd = (lf_kd *)kd_;
    int rc = 0;

    sync_reclaim_enter(kd->rc);
    lf_finish_migration(kd);
    lf_table *t = sync_load_acq(&kd->root);
    for (uint64_t i = 0; i <= t->mask && rc == 0; i++) {
        uint64_t w = sync_load_acq(&t->slots[i]);
        if (w == 0 || w == LF_FROZEN || (w & LF_TOMB))
            continue;
        lf_rec *r = lf_ptr(w);
        kd_entry e = r->e;
        rc = fn(r->key, r->klen, &e, arg);
    }
    sync_reclaim_exit(kd->rc);
    return rc;
}

static uint64_t
lf_memory(kd_keydir *kd_)
{
    lf_kd *kd = (lf_kd *)kd_;
    sync_reclaim_stats st;

    sync_reclaim_stats_get(kd->rc, &st);
    return sizeof(*kd) + sync_load_rlx(&kd->table_bytes) +
           lf_bytes_sum(kd) + st.pending_bytes;
}

static void
lf_thread_register(kd_keydir *kd)
{
    sync_reclaim_register(((lf_kd *)kd)->rc);
}

static void
lf_thread_unregister(kd_keydir *kd)
{
    sync_reclaim_unregister(((lf_kd *)kd)->rc);
}

static void
lf_quiescent(kd_keydir *kd)
{
    sync_reclaim_quiescent(((lf_kd *)kd)->rc);
}

static void
lf_close(kd_keydir *kd_)
{
    lf_kd *kd = (lf_kd *)kd_;

    sync_reclaim_enter(kd->rc);
    lf_finish_migration(kd);
    sync_reclaim_exit(kd->rc);
    sync_reclaim_destroy(kd->rc); /* frees retired tables and records */
    lf_table *t = sync_load_acq(&kd->root);
    for (uint64_t i = 0; i <= t->mask; i++) {
        uint64_t w = sync_load_rlx(&t->slots[i]);
        if (w != 0 && w != LF_FROZEN)
            lf_rec_free(lf_ptr(w));
    }
    lf_table_free(t);
    free(kd);
}

static int lf_open(const kd_options *opt, kd_keydir **out);

const kd_ops kd_lockfree_ops = {
    .name = "lockfree",
    .summary = "lock-free open addressing, one CAS per update, cooperative "
               "resize, epoch reclamation",
    .flags = 0,
    .open = lf_open,
    .close = lf_close,
    .get = lf_get,
    .put = lf_put,
    .put_if_newer = lf_put_if_newer,
    .cas = lf_cas,
    .del = lf_del,
    .del_if = lf_del_if,
    .count = lf_count,
    .iterate = lf_iterate,
    .memory = lf_memory,
    .thread_register = lf_thread_register,
    .thread_unregister = lf_thread_unregister,
    .quiescent = lf_quiescent,
};

static int
lf_open(const kd_options *opt, kd_keydir **out)
{
    static const kd_options defaults;
    lf_kd *kd = aligned_alloc(64, sizeof(*kd));

    opt = opt != NULL ? opt : &defaults;
    if (kd == NULL)
        return KD_ENOMEM;
    memset(kd, 0, sizeof(*kd));
    kd->base.ops = &kd_lockfree_ops;
    kd->base.seed = opt->seed ? opt->seed : KD_DEFAULT_SEED;
    int rc = sync_reclaim_create(opt->reclaim, &kd->rc);
    if (rc != SYNC_OK) {
        free(kd);
        return rc == SYNC_ESCHEME ? KD_EINVAL : KD_ENOMEM;
    }
    lf_table *t = lf_table_new(kd, lf_pow2(opt->capacity_hint / 3 * 4 + 1));
    if (t == NULL) {
        sync_reclaim_destroy(kd->rc);
        free(kd);
        return KD_ENOMEM;
    }
    atomic_init(&kd->root, t);
    *out = &kd->base;
    return KD_OK;
}
