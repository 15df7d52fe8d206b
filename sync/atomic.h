/*
 * sync/atomic.h - the one wrapper through which casklab code does atomics.
 *
 * Thin macros over C11 <stdatomic.h> that put the memory order in the name,
 * so a reader sees at each call site which reorderings it forbids (the
 * ConcurrencyKit ck_pr habit). C11 atomics, unlike inline assembly, are
 * understood by ThreadSanitizer, which is why our own code uses them only.
 *
 * Naming: sync_load_<order>, sync_store_<order>, sync_cas_<order> (strong),
 * sync_faa_<order> (fetch-and-add), sync_xchg_<order>, sync_fence_<order>.
 * Orders: rlx (relaxed), acq (acquire), rel (release), acqrel, sc (seq_cst).
 *
 * This header is C only: C++ translation units (Google Benchmark drivers)
 * reach concurrent structures through their C APIs, never through it.
 */
#ifndef SYNC_ATOMIC_H
#define SYNC_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>

#define sync_load_rlx(p)      atomic_load_explicit((p), memory_order_relaxed)
#define sync_load_acq(p)      atomic_load_explicit((p), memory_order_acquire)
#define sync_load_sc(p)       atomic_load_explicit((p), memory_order_seq_cst)

#define sync_store_rlx(p, v)  atomic_store_explicit((p), (v), memory_order_relaxed)
#define sync_store_rel(p, v)  atomic_store_explicit((p), (v), memory_order_release)
#define sync_store_sc(p, v)   atomic_store_explicit((p), (v), memory_order_seq_cst)

#define sync_faa_rlx(p, v)    atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define sync_faa_acqrel(p, v) atomic_fetch_add_explicit((p), (v), memory_order_acq_rel)
#define sync_fas_rlx(p, v)    atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define sync_fas_acqrel(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_acq_rel)
#define sync_for_rlx(p, v)    atomic_fetch_or_explicit((p), (v), memory_order_relaxed)

#define sync_xchg_acqrel(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)

/* Strong CAS; on failure *(expp) receives the value seen. */
#define sync_cas_acqrel(p, expp, v)                                           \
    atomic_compare_exchange_strong_explicit((p), (expp), (v),                 \
        memory_order_acq_rel, memory_order_acquire)
#define sync_cas_rel(p, expp, v)                                              \
    atomic_compare_exchange_strong_explicit((p), (expp), (v),                 \
        memory_order_release, memory_order_relaxed)
#define sync_cas_rlx(p, expp, v)                                              \
    atomic_compare_exchange_strong_explicit((p), (expp), (v),                 \
        memory_order_relaxed, memory_order_relaxed)
#define sync_cas_sc(p, expp, v)                                               \
    atomic_compare_exchange_strong_explicit((p), (expp), (v),                 \
        memory_order_seq_cst, memory_order_seq_cst)

#define sync_fence_acq()      atomic_thread_fence(memory_order_acquire)
#define sync_fence_rel()      atomic_thread_fence(memory_order_release)
#define sync_fence_sc()       atomic_thread_fence(memory_order_seq_cst)

/* A spin-wait hint for busy loops (PAUSE on x86); not a barrier. */
static inline void
sync_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* SYNC_ATOMIC_H */
