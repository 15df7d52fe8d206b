/*
 * sync/reclaim.h - deferred memory reclamation for lock-free structures.
 *
 * A lock-free structure unlinks an object with one CAS, but a reader that
 * loaded the pointer just before may still be reading it; the object may be
 * freed only after every such reader is done. This module provides that
 * guarantee with epoch-based reclamation (Fraser, "Practical lock-freedom",
 * 2004; Hart et al., "Performance of memory reclamation for lockless
 * synchronization", JPDC 2007), in two schemes chosen by name:
 *
 *   "epoch"  every operation is a critical section: sync_reclaim_enter /
 *            sync_reclaim_exit around it (one store and one fence on
 *            entry, one release store on exit). A thread between
 *            operations never holds back reclamation. A full fence costs
 *            more than it seems: it also stops the CPU from overlapping the
 *            cache misses of consecutive operations (measured: about 4x
 *            fewer gets per second on a 1M-key table than "qsbr"). So
 *            where Linux offers membarrier(2) (private expedited), the
 *            entry fence is a compiler barrier and retire and epoch
 *            advances pay a membarrier system call instead (asymmetric
 *            fences, as liburcu's memb flavor does); elsewhere, and under
 *            ThreadSanitizer, it is a full fence.
 *   "qsbr"   quiescent-state-based, the default: enter is free; a
 *            registered thread is assumed to hold references until it
 *            announces a quiescent state, which it does every
 *            SYNC_QSBR_EVERY exits, at sync_reclaim_quiescent and when it
 *            unregisters. The fence is paid once per SYNC_QSBR_EVERY
 *            operations. A thread that stays registered but stops calling
 *            in (and never calls sync_reclaim_quiescent) stalls
 *            reclamation for everyone: that stall is what the statistics
 *            below expose.
 *
 * A domain keeps a global epoch. An object retired while the global epoch
 * is e is freed once the global epoch reaches e + 2: the epoch advances
 * from e to e + 1 only when every thread inside a critical section has
 * announced e, so by e + 2 every thread that could have seen the object
 * has left the section in which it saw it.
 *
 * Stalls are measured, not hidden: sync_reclaim_stats reports the bytes
 * waiting to be freed, how often an advance was refused and how far the
 * slowest thread lags, so a stalled reader shows up as a growing pending
 * count with a lag, in kd_memory and in the benchmark's output.
 *
 * Threads: any thread may call any function except sync_reclaim_destroy.
 * A thread's first call on a domain registers it implicitly;
 * sync_reclaim_register does so explicitly, sync_reclaim_unregister gives
 * the slot back (its pending objects stay and are adopted by the next
 * thread taking the slot, or freed by destroy). All functions are
 * lock-free; enter, exit and quiescent are wait-free after registration.
 *
 * This header compiles as C and as C++.
 */
#ifndef SYNC_RECLAIM_H
#define SYNC_RECLAIM_H

#include <stddef.h>
#include <stdint.h>

/* "qsbr": operations between automatic quiescent announcements. */
#define SYNC_QSBR_EVERY 256u

#ifdef __cplusplus
extern "C" {
#endif

/* Errors (negative) of this module; sync_reclaim_strerror names them. */
enum sync_reclaim_code {
    SYNC_OK = 0,
    SYNC_ENOMEM = -1,   /* out of memory */
    SYNC_ESCHEME = -2,  /* no reclamation scheme of that name */
};

typedef struct sync_reclaim sync_reclaim;

/* What sync_reclaim_stats reports. Sums over threads, read without locks:
 * exact when quiescent, approximate under concurrent retires. */
typedef struct sync_reclaim_stats {
    uint64_t epoch;            /* global epoch now */
    uint64_t pending_bytes;    /* retired, not yet freed */
    uint64_t pending_objects;
    uint64_t freed_objects;    /* freed since creation */
    uint64_t refused_advances; /* advances blocked by a lagging thread */
    uint64_t max_lag;          /* epochs the slowest active thread trails */
    uint64_t threads;          /* thread slots ever created */
    uint64_t asymmetric;       /* 1: "epoch" readers fence with a compiler
                                  barrier, writers with membarrier(2) */
} sync_reclaim_stats;

/*
 * Creates a domain using `scheme` ("epoch", "qsbr"; NULL = "qsbr").
 * Returns SYNC_OK and *out, SYNC_ESCHEME or SYNC_ENOMEM.
 */
int sync_reclaim_create(const char *scheme, sync_reclaim **out);

/* Frees every pending object and the domain. No thread may use it. */
void sync_reclaim_destroy(sync_reclaim *d);

/* The scheme's name. */
const char *sync_reclaim_scheme(const sync_reclaim *d);

void sync_reclaim_register(sync_reclaim *d);
void sync_reclaim_unregister(sync_reclaim *d);

/*
 * Brackets a critical section: pointers loaded from the structure between
 * enter and exit stay valid until exit. Not nestable. With "qsbr" enter is
 * a no-op and exit counts operations, announcing a quiescent state every
 * SYNC_QSBR_EVERY of them; a section lasts until such an announcement.
 * Both are inline (below): a call each cost lockfree's 1M-key gets about a
 * third of their rate, because the calls' instructions fill the CPU's
 * window that would otherwise overlap consecutive gets' cache misses.
 */
static inline void sync_reclaim_enter(sync_reclaim *d);
static inline void sync_reclaim_exit(sync_reclaim *d);

/* Announces that the calling thread holds no pointer into the structure.
 * Under "epoch" it only tries to free what this thread retired. */
void sync_reclaim_quiescent(sync_reclaim *d);

/*
 * Hands `p` (already unlinked: no new reader can reach it) to the domain;
 * fn(p) runs once no reader can hold it. `bytes` is what it counts as
 * pending meanwhile. Call inside a critical section or registered.
 */
void sync_reclaim_retire(sync_reclaim *d, void *p, size_t bytes,
                         void (*fn)(void *));

void sync_reclaim_stats_get(sync_reclaim *d, sync_reclaim_stats *out);

const char *sync_reclaim_strerror(int code);

/* ---- Inline fast path: the layout below is sync/reclaim.c's ----------- */

/* The first members of every domain: read by each enter and exit, written
 * only at creation. */
typedef struct sync_reclaim_head_ {
    uint64_t id; /* unique, never reused */
    int qsbr;
} sync_reclaim_head_;

/* This thread's cache from domain id to its slot; way 0 holds the domain
 * used last. `exits` counts "qsbr" exits since the last announcement. */
typedef struct sync_reclaim_way_ {
    uint64_t id;
    void *slot;
    unsigned exits;
} sync_reclaim_way_;

#define SYNC_TLS_WAYS 4u

/* Out of line, whole: what the inline versions below do, and what they
 * leave to these (an "epoch" section; a "qsbr" exit whose domain is not in
 * way 0, or which owes an announcement). */
void sync_reclaim_enter_slow_(sync_reclaim *d);
void sync_reclaim_exit_slow_(sync_reclaim *d);

#ifdef __cplusplus
/* C++ callers take the calls: C's _Thread_local and C++'s thread_local
 * need not agree on how an extern variable is reached. */
static inline void
sync_reclaim_enter(sync_reclaim *d)
{
    sync_reclaim_enter_slow_(d);
}

static inline void
sync_reclaim_exit(sync_reclaim *d)
{
    sync_reclaim_exit_slow_(d);
}
#else
extern _Thread_local sync_reclaim_way_ sync_reclaim_tls_[SYNC_TLS_WAYS];

static inline void
sync_reclaim_enter(sync_reclaim *d)
{
    if (!((const sync_reclaim_head_ *)(const void *)d)->qsbr)
        sync_reclaim_enter_slow_(d);
}

static inline void
sync_reclaim_exit(sync_reclaim *d)
{
    const sync_reclaim_head_ *h = (const sync_reclaim_head_ *)(const void *)d;
    sync_reclaim_way_ *w = &sync_reclaim_tls_[0];

    if (h->qsbr && w->id == h->id && w->exits < SYNC_QSBR_EVERY - 1) {
        w->exits++;
        return;
    }
    sync_reclaim_exit_slow_(d);
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* SYNC_RECLAIM_H */
