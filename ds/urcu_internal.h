/*
 * ds/urcu_internal.h - the liburcu flavor a keydir runs on, chosen by name.
 *
 * liburcu's flavors are separate libraries (liburcu-memb, liburcu-qsbr),
 * each exporting a struct rcu_flavor_struct of function pointers; we call
 * through that table so that one binary offers both and a keydir picks at
 * kd_open time (kd_options.flavor: "memb", the default, or "qsbr").
 *
 * Thread registration is per flavor and per thread in liburcu, but per
 * keydir in ds/keydir.h: kdu_register/kdu_unregister keep a per-thread
 * count per flavor and register with liburcu on the first, unregister on
 * the last. Private to ds/.
 */
#ifndef DS_URCU_INTERNAL_H
#define DS_URCU_INTERNAL_H

#include <urcu/urcu-memb.h>
#include <urcu/static/urcu-memb.h> /* read-side only: see kdu_read_lock */

typedef struct kdu_flavor {
    const struct rcu_flavor_struct *fl;
    int qsbr; /* readers announce quiescent states (kd_quiescent) */
    int idx;  /* index of the per-thread registration count */
} kdu_flavor;

/*
 * ThreadSanitizer cannot see liburcu's grace periods (membarrier, futexes
 * in uninstrumented libraries). We tell it what they guarantee: every
 * read-side section ends with a release on one token, and a call_rcu
 * callback starts with an acquire of it (every section that could see the
 * object ended before the callback runs); callbacks end with a release that
 * kdu_barrier's caller acquires. No-ops outside TSan builds.
 */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char kdu_tsan_grace;
#define KDU_TSAN_RELEASE() __tsan_release(&kdu_tsan_grace)
#define KDU_TSAN_ACQUIRE() __tsan_acquire(&kdu_tsan_grace)
#else
#define KDU_TSAN_RELEASE() ((void)0)
#define KDU_TSAN_ACQUIRE() ((void)0)
#endif

/*
 * Read-side sections, inline. A call per lock and unlock (through the
 * flavor's table into liburcu-memb.so, which reaches its thread-local
 * reader through __tls_get_addr) cost the rcu keydir's 1M-key gets about
 * 40% of their rate: the calls' instructions fill the CPU's window that
 * would otherwise overlap consecutive gets' cache misses. liburcu states
 * in urcu/static/urcu-memb.h that _urcu_memb_read_lock and
 * _urcu_memb_read_unlock meet LGPL's 10-line criterion "allowing this
 * function to be invoked directly from non-LGPL code"; those two are all we
 * use of its static API (we do not define _LGPL_SOURCE). In QSBR a
 * read-side section is empty by definition (_urcu_qsbr_read_lock is an
 * assertion only): readers are delimited by their quiescent states.
 */
#if defined(__SANITIZE_THREAD__)
/* Under ThreadSanitizer the calls stay: inlined, liburcu's plain accesses
 * to its own shared state (the grace-period futex word) would be
 * instrumented and reported, though they are liburcu's protocol. */
#define KDU_MEMB_READ_LOCK() urcu_memb_read_lock()
#define KDU_MEMB_READ_UNLOCK() urcu_memb_read_unlock()
#else
#define KDU_MEMB_READ_LOCK() _urcu_memb_read_lock()
#define KDU_MEMB_READ_UNLOCK() _urcu_memb_read_unlock()
#endif

static inline void
kdu_read_lock(const kdu_flavor *f)
{
    if (!f->qsbr)
        KDU_MEMB_READ_LOCK();
}

static inline void
kdu_read_unlock(const kdu_flavor *f)
{
    KDU_TSAN_RELEASE();
    if (!f->qsbr)
        KDU_MEMB_READ_UNLOCK();
}

/* Picks the flavor named `name` (NULL = "memb"). Returns 0 or -1. */
int kdu_pick(const char *name, kdu_flavor *out);

void kdu_register(const kdu_flavor *f);
void kdu_unregister(const kdu_flavor *f);

/* 1 if the calling thread is registered with f's flavor. */
int kdu_registered(const kdu_flavor *f);

/* Waits for every callback queued with call_rcu so far; the caller must be
 * outside any read-side section (qsbr: it goes offline meanwhile). */
void kdu_barrier(const kdu_flavor *f);

#endif /* DS_URCU_INTERNAL_H */
