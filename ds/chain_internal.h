/*
 * ds/chain_internal.h - a resizable chained hash table, not thread-safe.
 *
 * The shared core of the mutex keydirs: `global` wraps one chain in one
 * mutex, `striped` wraps N chains in N locks. Every function here must be
 * called with the chain's lock held; only `count` and `bytes` may be read
 * without it (relaxed atomics: exact when quiescent, approximate otherwise).
 * Private to ds/.
 */
#ifndef DS_CHAIN_INTERNAL_H
#define DS_CHAIN_INTERNAL_H

#include "ds/keydir.h"
#include "sync/atomic.h"

typedef struct kd_cnode {
    struct kd_cnode *next;
    uint64_t hash;
    kd_entry e;
    uint32_t klen;
    unsigned char key[]; /* klen bytes */
} kd_cnode;

typedef struct kd_chain {
    kd_cnode **buckets;
    uint64_t mask;              /* buckets - 1; buckets is a power of two */
    _Atomic uint64_t count;     /* keys */
    _Atomic uint64_t bytes;     /* nodes + bucket array */
} kd_chain;

int kd_chain_init(kd_chain *c, uint64_t capacity_hint);
void kd_chain_destroy(kd_chain *c);

int kd_chain_get(kd_chain *c, const void *key, size_t klen, uint64_t hash,
                 kd_entry *out);
int kd_chain_put(kd_chain *c, const void *key, size_t klen, uint64_t hash,
                 const kd_entry *e, kd_entry *old);
int kd_chain_put_if_newer(kd_chain *c, const void *key, size_t klen,
                          uint64_t hash, const kd_entry *e, kd_entry *old);
int kd_chain_cas(kd_chain *c, const void *key, size_t klen, uint64_t hash,
                 const kd_entry *expected, const kd_entry *desired);
int kd_chain_del(kd_chain *c, const void *key, size_t klen, uint64_t hash,
                 kd_entry *old);
int kd_chain_del_if(kd_chain *c, const void *key, size_t klen, uint64_t hash,
                    const kd_entry *expected);
int kd_chain_iterate(kd_chain *c, kd_visit_fn fn, void *arg);

#endif /* DS_CHAIN_INTERNAL_H */
