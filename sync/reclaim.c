/*
 * sync/reclaim.c - epoch-based reclamation ("epoch") and its quiescent-state
 * variant ("qsbr"); see sync/reclaim.h for the contract.
 *
 * Each thread owns a slot in its domain: an announced state (epoch << 1 |
 * active) that other threads read, and three limbo bags that only it
 * touches, indexed by retire epoch mod 3. A bag still holding objects of
 * epoch e' when the thread next retires in epoch e = e' + 3k (k >= 1) can be
 * emptied at once: the global epoch e is at least e' + 2. Otherwise bags are
 * emptied when a scan (every SYNC_SCAN_EVERY retires, and at each
 * quiescent announcement) finds the global epoch two past theirs.
 *
 * Why frees never race with readers (also the happens-before chain that
 * ThreadSanitizer checks): a reader's loads are sequenced before its
 * release store leaving the section (or announcing quiescence); the thread
 * advancing the epoch acquires that store, then publishes the advance with
 * an acq_rel CAS; the freeing thread acquires the epoch value before
 * calling fn. Why no reader can newly reach a retired object: retire
 * issues a full fence between the unlinking store and its read of the
 * epoch, and enter issues one between announcing and reading the structure,
 * so a reader that announced an epoch the retirer had not yet seen reads
 * the structure after the unlink.
 *
 * Thread slots are found through a small per-thread cache keyed by the
 * domain's unique id (never its address, which malloc may reuse), and are
 * never freed before the domain: a slot's list is push-only.
 */
#include "sync/reclaim.h"

#include "sync/atomic.h"

#include <linux/membarrier.h>
#include <sched.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SYNC_SCAN_EVERY 64u

typedef struct sync_item {
    void *p;
    size_t bytes;
    void (*fn)(void *);
} sync_item;

typedef struct sync_bag {
    uint64_t epoch;
    size_t n, cap;
    sync_item *items;
} sync_bag;

typedef struct sync_thr {
    alignas(64) _Atomic uint64_t state; /* epoch << 1 | active */
    _Atomic uintptr_t owner;            /* token of the owning thread; 0 free */
    struct sync_thr *next;              /* immutable once published */
    _Atomic uint64_t pending_bytes;     /* written by the owner only */
    _Atomic uint64_t pending_objects;
    _Atomic uint64_t freed;
    /* Touched by the owner only, on every exit and retire: a line apart
     * from `state`, which other threads read at every advance. */
    alignas(64) unsigned since_scan;
    sync_bag bags[3];
} sync_thr;

/* Fields by how they are shared: every enter and exit reads the first
 * line, which nothing writes after creation; the epoch moves at each
 * advance; the counters are written by refused advances and
 * registrations, which must not evict the first two from other cores. */
struct sync_reclaim {
    alignas(64) sync_reclaim_head_ head; /* first: the inline path's */
    int asym; /* "epoch" with asymmetric fences (sync_asym_available) */
    _Atomic(sync_thr *) threads; /* written only by registrations */
    alignas(64) _Atomic uint64_t epoch;
    alignas(64) _Atomic uint64_t refused;
    _Atomic uint64_t nthreads;
};

static _Atomic uint64_t sync_next_id = 1;

#if defined(__SANITIZE_THREAD__)
/* GCC's ThreadSanitizer rejects atomic_thread_fence (-Wtsan). Under it a
 * seq_cst read-modify-write of one shared word stands in: RMWs of one
 * location are totally ordered, which TSan does model. */
static _Atomic uint64_t sync_fence_word;
#define sync_reclaim_fence()                                                  \
    ((void)atomic_fetch_add_explicit(&sync_fence_word, 0, memory_order_seq_cst))
#else
#define sync_reclaim_fence() sync_fence_sc()
#endif

/*
 * Asymmetric fences for "epoch" (the idea of liburcu's memb flavor and of
 * Linux's membarrier(2)): a reader entering a section orders its
 * announcement before its loads with a compiler barrier only, and the
 * rare side (retire, advance) pays for both with
 * MEMBARRIER_CMD_PRIVATE_EXPEDITED, which makes every running thread of
 * the process execute a full barrier before it returns: the reader's
 * compiler barrier then stands where the barrier would have been. A full
 * fence per get stopped consecutive gets' cache misses from overlapping
 * (measured on the engine's YCSB-C). Used when the kernel offers it, and
 * never under ThreadSanitizer, which cannot see it.
 */
#if !defined(__SANITIZE_THREAD__) && defined(SYS_membarrier)
static _Atomic int sync_asym_state; /* 0 untried, 1 registered, -1 not */
#endif

static int
sync_asym_available(void)
{
#if defined(__SANITIZE_THREAD__) || !defined(SYS_membarrier)
    return 0;
#else
    int st = sync_load_acq(&sync_asym_state);
    if (st == 0) {
        long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
        st = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                     syscall(SYS_membarrier,
                             MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0,
                             0) == 0
                 ? 1
                 : -1;
        sync_store_rel(&sync_asym_state, st); /* idempotent: races agree */
    }
    return st == 1;
#endif
}

/* The fence of the side that retires or advances, paired with a reader's
 * sync_light_fence. */
static void
sync_heavy_fence(const sync_reclaim *d)
{
#if !defined(__SANITIZE_THREAD__) && defined(SYS_membarrier)
    if (d->asym) {
        /* Registered at creation, so the private command cannot fail; the
         * global one is the slower equivalent, kept for safety. */
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) !=
                0 &&
            syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0)
            abort(); /* no way left to order readers: never guess */
        return;
    }
#endif
    (void)d;
    sync_reclaim_fence();
}

static void
sync_light_fence(const sync_reclaim *d)
{
    if (d->asym)
        atomic_signal_fence(memory_order_seq_cst);
    else
        sync_reclaim_fence();
}

/* One-entry-per-way cache from domain id to this thread's slot; the
 * header's inline exit reads way 0. */
_Thread_local sync_reclaim_way_ sync_reclaim_tls_[SYNC_TLS_WAYS];
#define sync_tls sync_reclaim_tls_
static _Thread_local unsigned sync_tls_victim;
static _Thread_local char sync_token; /* its address identifies the thread */

static void
sync_add(_Atomic uint64_t *c, int64_t delta)
{
    sync_store_rlx(c, sync_load_rlx(c) + (uint64_t)delta);
}

int
sync_reclaim_create(const char *scheme, sync_reclaim **out)
{
    int qsbr;
    sync_reclaim *d;

    if (scheme == NULL || strcmp(scheme, "qsbr") == 0)
        qsbr = 1;
    else if (strcmp(scheme, "epoch") == 0)
        qsbr = 0;
    else
        return SYNC_ESCHEME;
    d = aligned_alloc(64, sizeof(*d));
    if (d == NULL)
        return SYNC_ENOMEM;
    memset(d, 0, sizeof(*d));
    atomic_init(&d->epoch, 1);
    atomic_init(&d->threads, NULL);
    d->head.qsbr = qsbr;
    d->asym = !qsbr && sync_asym_available();
    d->head.id = sync_faa_rlx(&sync_next_id, 1);
    *out = d;
    return SYNC_OK;
}

const char *
sync_reclaim_scheme(const sync_reclaim *d)
{
    return d->head.qsbr ? "qsbr" : "epoch";
}

static void
sync_bag_free(sync_thr *t, sync_bag *b)
{
    uint64_t bytes = 0;

    for (size_t i = 0; i < b->n; i++) {
        bytes += b->items[i].bytes;
        b->items[i].fn(b->items[i].p);
    }
    sync_add(&t->pending_bytes, -(int64_t)bytes);
    sync_add(&t->pending_objects, -(int64_t)b->n);
    sync_add(&t->freed, (int64_t)b->n);
    b->n = 0;
}

void
sync_reclaim_destroy(sync_reclaim *d)
{
    sync_thr *t = sync_load_acq(&d->threads);

    while (t != NULL) {
        sync_thr *next = t->next;
        for (int i = 0; i < 3; i++) {
            sync_bag_free(t, &t->bags[i]);
            free(t->bags[i].items);
        }
        free(t);
        t = next;
    }
    for (unsigned i = 0; i < SYNC_TLS_WAYS; i++)
        if (sync_tls[i].id == d->head.id)
            sync_tls[i].id = 0;
    free(d);
}

/* Claims a free slot of this domain, or pushes a new one. NULL on OOM. */
static sync_thr *
sync_claim(sync_reclaim *d)
{
    uintptr_t me = (uintptr_t)&sync_token;
    sync_thr *t;

    for (t = sync_load_acq(&d->threads); t != NULL; t = t->next) {
        uintptr_t free_slot = 0;
        if (sync_load_rlx(&t->owner) == me ||
            sync_cas_acqrel(&t->owner, &free_slot, me))
            return t;
    }
    t = aligned_alloc(64, sizeof(*t));
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof(*t));
    atomic_init(&t->owner, me);
    t->next = sync_load_rlx(&d->threads);
    while (!sync_cas_acqrel(&d->threads, &t->next, t))
        ;
    sync_faa_rlx(&d->nthreads, 1);
    return t;
}

static sync_thr *
sync_self(sync_reclaim *d)
{
    /* The domain found or added moves to way 0, where the inline exit and
     * sync_reclaim_fast look first; its exit count moves with it. */
    for (unsigned i = 1; i < SYNC_TLS_WAYS; i++) {
        if (sync_tls[i].id == d->head.id) {
            sync_reclaim_way_ w = sync_tls[i];
            sync_tls[i] = sync_tls[0];
            sync_tls[0] = w;
            return w.slot;
        }
    }
    if (sync_tls[0].id == d->head.id)
        return sync_tls[0].slot;
    sync_thr *t = sync_claim(d);
    if (t == NULL)
        return NULL;
    unsigned v = sync_tls_victim++ % SYNC_TLS_WAYS;
    sync_tls[v] = sync_tls[0];
    sync_tls[0] = (sync_reclaim_way_){.id = d->head.id, .slot = t};
    if (d->head.qsbr) {
        sync_store_rel(&t->state, sync_load_acq(&d->epoch) << 1 | 1u);
        sync_reclaim_fence(); /* announce before reading the structure */
    }
    return t;
}

void
sync_reclaim_register(sync_reclaim *d)
{
    (void)sync_self(d);
}

void
sync_reclaim_unregister(sync_reclaim *d)
{
    for (unsigned i = 0; i < SYNC_TLS_WAYS; i++) {
        if (sync_tls[i].id != d->head.id)
            continue;
        sync_thr *t = sync_tls[i].slot;
        sync_store_rel(&t->state, 0);
        sync_store_rel(&t->owner, 0);
        sync_tls[i].id = 0;
    }
}

/*
 * Out of memory for a thread slot: the caller proceeds unregistered, which
 * is only safe if it waits for a grace period itself. So there is always a
 * slot: on failure we spin until one can be allocated or claimed. Memory
 * exhaustion that persists makes every structure stop here, which is the
 * documented behaviour of "out of memory" in a lock-free structure.
 * Out of line: sync_reclaim_fast inlines only the common case.
 */
static __attribute__((noinline)) sync_thr *
sync_self_must(sync_reclaim *d)
{
    sync_thr *t;

    while ((t = sync_self(d)) == NULL)
        sched_yield();
    return t;
}

/* This thread's slot: the first cache way holds the domain a thread used
 * last, the common case, checked inline; anything else goes out of line
 * so that enter and exit stay short (their instructions share the CPU's
 * window with the operation's cache misses). */
static inline sync_thr *
sync_reclaim_fast(sync_reclaim *d)
{
    if (sync_tls[0].id == d->head.id)
        return sync_tls[0].slot;
    return sync_self_must(d);
}

void
sync_reclaim_enter_slow_(sync_reclaim *d)
{
    if (d->head.qsbr)
        return;
    sync_thr *t = sync_reclaim_fast(d);
    sync_store_rlx(&t->state, sync_load_rlx(&d->epoch) << 1 | 1u);
    /* Orders the announcement before every load of the structure in the
     * section (store-load): an advancer that misses it has not yet let the
     * epoch move past what our loads can observe. */
    sync_light_fence(d);
}

static void sync_qsbr_announce(sync_reclaim *d, sync_thr *t);

/* All of exit: the inline version comes here for "epoch", for a domain
 * not in way 0 (sync_reclaim_fast moves it there) and for the exit that
 * owes the announcement. */
void
sync_reclaim_exit_slow_(sync_reclaim *d)
{
    sync_thr *t = sync_reclaim_fast(d);

    if (!d->head.qsbr) {
        sync_store_rel(&t->state, sync_load_rlx(&t->state) & ~(uint64_t)1);
        return;
    }
    if (++sync_tls[0].exits >= SYNC_QSBR_EVERY)
        sync_qsbr_announce(d, t);
}

/* Moves the global epoch on if every active thread has seen it. */
static void
sync_try_advance(sync_reclaim *d)
{
    sync_heavy_fence(d); /* see every announcement made before our retires */
    uint64_t e = sync_load_acq(&d->epoch);

    for (sync_thr *t = sync_load_acq(&d->threads); t != NULL; t = t->next) {
        uint64_t s = sync_load_acq(&t->state);
        if ((s & 1u) && (s >> 1) != e) {
            sync_faa_rlx(&d->refused, 1);
            return;
        }
    }
    sync_cas_acqrel(&d->epoch, &e, e + 1);
}

static void
sync_collect(sync_reclaim *d, sync_thr *t)
{
    uint64_t e = sync_load_acq(&d->epoch);

    for (int i = 0; i < 3; i++)
        if (t->bags[i].n != 0 && t->bags[i].epoch + 2 <= e)
            sync_bag_free(t, &t->bags[i]);
}

/* qsbr: this thread holds no reference now; it has seen the epoch. */
static void
sync_qsbr_announce(sync_reclaim *d, sync_thr *t)
{
    sync_tls[0].exits = 0; /* t's domain is in way 0: the caller found t */
    sync_store_rel(&t->state, sync_load_acq(&d->epoch) << 1 | 1u);
    sync_reclaim_fence(); /* announce before the next loads (store-load) */
    sync_try_advance(d);
    sync_collect(d, t);
}

void
sync_reclaim_quiescent(sync_reclaim *d)
{
    sync_thr *t = sync_self_must(d);

    if (d->head.qsbr) {
        sync_qsbr_announce(d, t);
        return;
    }
    sync_try_advance(d);
    sync_collect(d, t);
}

/* No memory for the limbo bag: wait out a grace period here instead. */
static void
sync_free_synchronously(sync_reclaim *d, sync_thr *t, uint64_t e, void *p,
                        void (*fn)(void *))
{
    if (d->head.qsbr) {
        sync_store_rel(&t->state, e << 1 | 1u);
        sync_reclaim_fence();
    }
    while (sync_load_acq(&d->epoch) < e + 2) {
        sync_try_advance(d);
        sched_yield();
    }
    fn(p);
    sync_add(&t->freed, 1);
}

void
sync_reclaim_retire(sync_reclaim *d, void *p, size_t bytes,
                    void (*fn)(void *))
{
    sync_thr *t = sync_self_must(d);

    /* Orders the unlinking store before reading the epoch (store-load):
     * a reader that announced a later epoch cannot still find p. */
    sync_heavy_fence(d);
    uint64_t e = sync_load_acq(&d->epoch);
    sync_bag *b = &t->bags[e % 3];

    if (b->epoch != e) {
        if (b->n != 0)
            sync_bag_free(t, b); /* its epoch is e - 3k: safe */
        b->epoch = e;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        sync_item *items = realloc(b->items, cap * sizeof(*items));
        if (items == NULL) {
            sync_free_synchronously(d, t, e, p, fn);
            return;
        }
        b->items = items;
        b->cap = cap;
    }
    b->items[b->n++] = (sync_item){p, bytes, fn};
    sync_add(&t->pending_bytes, (int64_t)bytes);
    sync_add(&t->pending_objects, 1);
    if (++t->since_scan >= SYNC_SCAN_EVERY) {
        t->since_scan = 0;
        sync_try_advance(d);
        sync_collect(d, t);
    }
}

void
sync_reclaim_stats_get(sync_reclaim *d, sync_reclaim_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->epoch = sync_load_acq(&d->epoch);
    out->refused_advances = sync_load_rlx(&d->refused);
    out->threads = sync_load_rlx(&d->nthreads);
    for (sync_thr *t = sync_load_acq(&d->threads); t != NULL; t = t->next) {
        uint64_t s = sync_load_acq(&t->state);
        out->pending_bytes += sync_load_rlx(&t->pending_bytes);
        out->pending_objects += sync_load_rlx(&t->pending_objects);
        out->freed_objects += sync_load_rlx(&t->freed);
        if ((s & 1u) && out->epoch > (s >> 1) &&
            out->epoch - (s >> 1) > out->max_lag)
            out->max_lag = out->epoch - (s >> 1);
    }
}

const char *
sync_reclaim_strerror(int code)
{
    switch (code) {
    case SYNC_OK:
        return "ok";
    case SYNC_ENOMEM:
        return "out of memory";
    case SYNC_ESCHEME:
        return "no reclamation scheme of that name";
    default:
        return "unknown reclamation error";
    }
}
