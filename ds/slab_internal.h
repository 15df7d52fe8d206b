/*
 * ds/slab_internal.h - the allocator of small records and nodes for our
 * keydirs (`lockfree` records, `rcu` nodes): fixed KD_SLAB_BLOCK-byte
 * blocks, cache-line aligned, carved from 2 MiB chunks on transparent huge
 * pages and recycled through per-thread free lists (ds/slab.c has the
 * design). Private to ds/.
 *
 * Threads: kd_slab_alloc and kd_slab_free may be called by any thread at
 * any time; both are blocking only on the rare path that takes the pool
 * mutex (a thread's list empty or over its cap). A block may be freed by
 * a thread other than the one that allocated it. Chunks are never
 * returned to the system: a block freed stays for reuse by any thread.
 */
#ifndef DS_KD_SLAB_INTERNAL_H
#define DS_KD_SLAB_INTERNAL_H

/* Bytes per block: 16-byte aligned (lockfree's slot words keep flags in
 * the low 4 bits of a record's address). */
#define KD_SLAB_BLOCK 64u

/*
 * Under AddressSanitizer the slab is off (KD_SLAB_ON 0) and keydirs use
 * malloc, so a use after free of a record is still reported.
 */
#if defined(__SANITIZE_ADDRESS__)
#define KD_SLAB_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KD_SLAB_ON 0
#endif
#endif
#ifndef KD_SLAB_ON
#define KD_SLAB_ON 1
#endif

/* A block of KD_SLAB_BLOCK bytes, so aligned, or NULL (no memory). */
void *kd_slab_alloc(void);

/* Gives back a block from kd_slab_alloc (any thread's). */
void kd_slab_free(void *p);

#endif /* DS_KD_SLAB_INTERNAL_H */
