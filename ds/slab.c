/*
 * ds/slab.c - record blocks on huge pages, with per-thread free lists, for
 * `lockfree` records and `rcu` nodes (ds/slab_internal.h is the interface).
 *
 * Why. A lockfree get costs two dependent memory accesses: the key's slot
 * line, then its record. The slot arrays sit on 2 MiB transparent huge
 * pages; records from malloc sat on 4 KiB pages spread over ~50 MB for 1M
 * keys, so nearly every record access also missed the TLB and walked the
 * page tables (a two-dimensional walk under a hypervisor). Profiles put
 * three quarters of a get's time on its first load of the record. Here
 * records come from 2 MiB-aligned chunks advised MADV_HUGEPAGE: 1M records
 * span 24 huge pages, which the second-level TLB holds.
 *
 * Design. Every block is KD_SLAB_BLOCK bytes. A thread allocates from its
 * own free list, else from a batch taken from the pool, else by bumping a
 * pointer through its current chunk, else from a partial chunk left in the
 * pool by an exited thread, else from a fresh chunk. A freed block goes
 * onto the freeing thread's list (in lockfree, the thread whose retire it
 * was, after the grace period; in rcu, liburcu's call_rcu thread, whose
 * list then moves to the pool in batches): under lockfree's replaces each
 * thread frees about as many records as it allocates, so the hot path
 * touches only its own thread's state. Past KD_SLAB_KEEP blocks the whole list moves to the
 * pool as one batch (O(1): the batch's first block records the count and
 * links the batches), so a thread that frees a closed keydir's million
 * records hands them on to whichever thread fills the next one. A thread's
 * exit hands its list and the unused rest of its chunk to the pool.
 *
 * Concurrency. Per-thread lists and bump pointers are touched only by
 * their thread. The pool (batches and partial chunks) is a plain stack
 * under one mutex, taken once per KD_SLAB_KEEP frees or per batch or chunk
 * taken; nothing here is lock-free, so there is no ABA to argue. Reuse of
 * a block is safe for lockfree's readers for the same reason malloc's reuse
 * was: a block is freed only after its grace period (sync/reclaim.h,
 * call_rcu). Chunks are never unmapped: a block may be live in any keydir or on any
 * thread's list, and the memory is reused by the next records instead.
 */
#include "ds/slab_internal.h"

#include "sync/atomic.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define KD_SLAB_CHUNK ((size_t)2 << 20) /* one huge page */
#define KD_SLAB_KEEP 16384u /* blocks (1 MiB) a thread keeps */

/* A free block. In the first block of a pool batch, next_batch and n
 * describe the batch; a partial chunk in the pool starts with an
 * kd_slab_range instead. */
typedef struct kd_slab_blk {
    struct kd_slab_blk *next;
    struct kd_slab_blk *next_batch;
    uint64_t n;
} kd_slab_blk;

typedef struct kd_slab_range {
    struct kd_slab_range *next;
    char *end;
} kd_slab_range;

typedef struct kd_slab_thr {
    kd_slab_blk *head;
    uint64_t n;
    char *bump, *end; /* unused rest of this thread's chunk */
    int armed;        /* 1: exit hook set; -1: could not set it */
} kd_slab_thr;

static pthread_mutex_t kd_slab_mu = PTHREAD_MUTEX_INITIALIZER;
static kd_slab_blk *kd_slab_batches;  /* under kd_slab_mu */
static kd_slab_range *kd_slab_ranges; /* under kd_slab_mu */
/* Batches in the pool: read without the mutex to skip it when empty. */
static _Atomic uint64_t kd_slab_nbatches;

static _Thread_local kd_slab_thr kd_slab_me;
static pthread_key_t kd_slab_key; /* its destructor runs kd_slab_exit */
static pthread_once_t kd_slab_once = PTHREAD_ONCE_INIT;
static int kd_slab_keyed; /* the key exists (written once) */

/* Pushes a list of n blocks as one batch. Call under kd_slab_mu. */
static void
kd_slab_push_batch(kd_slab_blk *head, uint64_t n)
{
    head->n = n;
    head->next_batch = kd_slab_batches;
    kd_slab_batches = head;
    sync_faa_rlx(&kd_slab_nbatches, 1);
}

/* Hands the unused rest [bump, end) of a chunk to the pool. Call under
 * kd_slab_mu. */
static void
kd_slab_push_range(char *bump, char *end)
{
    if (bump == NULL || end - bump < (ptrdiff_t)KD_SLAB_BLOCK)
        return;
    kd_slab_range *r = (kd_slab_range *)bump;
    r->next = kd_slab_ranges;
    r->end = end;
    kd_slab_ranges = r;
}

/* Thread exit (pthread key destructor): the list and the chunk's rest go
 * to the pool. A block freed after this (another destructor freeing
 * records) arms the key again, and glibc calls this once more. */
static void
kd_slab_exit(void *p)
{
    kd_slab_thr *t = p;

    pthread_mutex_lock(&kd_slab_mu);
    if (t->head != NULL)
        kd_slab_push_batch(t->head, t->n);
    kd_slab_push_range(t->bump, t->end);
    pthread_mutex_unlock(&kd_slab_mu);
    *t = (kd_slab_thr){0};
}

static void
kd_slab_key_init(void)
{
    kd_slab_keyed = pthread_key_create(&kd_slab_key, kd_slab_exit) == 0;
}

/* Makes sure this thread's state goes to the pool when it exits. */
static kd_slab_thr *
kd_slab_self(void)
{
    kd_slab_thr *t = &kd_slab_me;

    if (t->armed == 0) {
        pthread_once(&kd_slab_once, kd_slab_key_init);
        t->armed = kd_slab_keyed && pthread_setspecific(kd_slab_key, t) == 0
                       ? 1 : -1;
    }
    return t;
}

/* 1 if this thread's chunk has a block left. */
static int
kd_slab_room(const kd_slab_thr *t)
{
    return t->bump != NULL && t->end - t->bump >= (ptrdiff_t)KD_SLAB_BLOCK;
}

/* A fresh 2 MiB-aligned chunk on huge pages where the system allows it
 * (a hint: refused, it stays on 4 KiB pages). NULL when out of memory. */
static char *
kd_slab_map(void)
{
    char *m = mmap(NULL, 2 * KD_SLAB_CHUNK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (m == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)m + KD_SLAB_CHUNK - 1) & ~(KD_SLAB_CHUNK - 1);
    char *c = (char *)a;
    if (c > m)
        munmap(m, (size_t)(c - m));
    munmap(c + KD_SLAB_CHUNK, (size_t)(m + KD_SLAB_CHUNK - c));
    (void)madvise(c, KD_SLAB_CHUNK, MADV_HUGEPAGE);
    return c;
}

/* This thread's list is empty and the pool has a batch or its chunk is
 * used up: refill from the pool, or map a chunk. Returns 0, or -1 when out
 * of memory. */
static int
kd_slab_refill(kd_slab_thr *t)
{
    int rc = 0;

    pthread_mutex_lock(&kd_slab_mu);
    if (kd_slab_batches != NULL) {
        t->head = kd_slab_batches;
        t->n = t->head->n;
        kd_slab_batches = t->head->next_batch;
        sync_fas_rlx(&kd_slab_nbatches, 1);
    } else if (kd_slab_room(t)) {
        /* the batch seen was taken meanwhile: this chunk still has room */
    } else if (kd_slab_ranges != NULL) {
        kd_slab_range *r = kd_slab_ranges;
        kd_slab_ranges = r->next;
        t->bump = (char *)r;
        t->end = r->end;
    } else if ((t->bump = kd_slab_map()) != NULL) {
        t->end = t->bump + KD_SLAB_CHUNK;
    } else {
        rc = -1;
    }
    pthread_mutex_unlock(&kd_slab_mu);
    return rc;
}

void *
kd_slab_alloc(void)
{
    kd_slab_thr *t = kd_slab_self();

    for (;;) {
        kd_slab_blk *b = t->head;
        if (b != NULL) {
            t->head = b->next;
            t->n--;
            /* Free blocks are cold (freed a grace period ago): fetch the
             * next one now, so the next call's read of its link hits. */
            if (t->head != NULL)
                __builtin_prefetch(t->head, 1);
            return b;
        }
        /* Reuse freed blocks before touching new memory. */
        if (sync_load_rlx(&kd_slab_nbatches) == 0 && kd_slab_room(t)) {
            void *p = t->bump;
            t->bump += KD_SLAB_BLOCK;
            return p;
        }
        if (kd_slab_refill(t) != 0)
            return NULL;
    }
}

void
kd_slab_free(void *p)
{
    kd_slab_thr *t = kd_slab_self();
    kd_slab_blk *b = p;

    b->next = t->head;
    t->head = b;
    if (++t->n < KD_SLAB_KEEP && t->armed > 0)
        return;
    /* Over the cap, or this thread cannot hand its list over at exit:
     * the list goes to the pool now. */
    pthread_mutex_lock(&kd_slab_mu);
    kd_slab_push_batch(t->head, t->n);
    pthread_mutex_unlock(&kd_slab_mu);
    t->head = NULL;
    t->n = 0;
}
