/*
 * ds/chain.c - resizable chained hash table, the core of the mutex keydirs.
 *
 * Separate chaining with a power-of-two bucket array indexed by the low bits
 * of the hash. The table doubles when the load factor passes 1, rehashing
 * every node at once: callers hold their lock meanwhile, which is what the
 * striped design bounds by making each chain 1/N of the keys. Each node
 * stores its full hash, so rehashing never rereads keys and lookups compare
 * keys only on a full-hash match.
 */
#include "ds/chain_internal.h"

#include <stdlib.h>
#include <string.h>

#define CHAIN_MIN_BUCKETS 16u

static uint64_t
chain_round_pow2(uint64_t n)
{
    uint64_t p = CHAIN_MIN_BUCKETS;

    while (p < n)
        p <<= 1;
    return p;
}

static void
chain_add_bytes(kd_chain *c, int64_t delta)
{
    sync_store_rlx(&c->bytes, sync_load_rlx(&c->bytes) + (uint64_t)delta);
}

static void
chain_add_count(kd_chain *c, int64_t delta)
{
    sync_store_rlx(&c->count, sync_load_rlx(&c->count) + (uint64_t)delta);
}

int
kd_chain_init(kd_chain *c, uint64_t capacity_hint)
{
    uint64_t n = chain_round_pow2(capacity_hint);

    c->buckets = calloc(n, sizeof(*c->buckets));
    if (c->buckets == NULL)
        return KD_ENOMEM;
    c->mask = n - 1;
    atomic_init(&c->count, 0);
    atomic_init(&c->bytes, n * sizeof(*c->buckets));
    return KD_OK;
}

void
kd_chain_destroy(kd_chain *c)
{
    for (uint64_t i = 0; i <= c->mask; i++) {
        kd_cnode *n = c->buckets[i];
        while (n != NULL) {
            kd_cnode *next = n->next;
            free(n);
            n = next;
        }
    }
    free(c->buckets);
    c->buckets = NULL;
}

/* Doubles the bucket array. On allocation failure keeps the old one: a
 * longer chain is slower but still correct. */
static void
chain_grow(kd_chain *c)
{
    uint64_t old_n = c->mask + 1, new_n = old_n * 2;
    kd_cnode **nb = calloc(new_n, sizeof(*nb));

    if (nb == NULL)
        return;
    for (uint64_t i = 0; i < old_n; i++) {
        kd_cnode *n = c->buckets[i];
        while (n != NULL) {
            kd_cnode *next = n->next;
            uint64_t b = n->hash & (new_n - 1);
            n->next = nb[b];
            nb[b] = n;
            n = next;
        }
    }
    free(c->buckets);
    c->buckets = nb;
    c->mask = new_n - 1;
    chain_add_bytes(c, (int64_t)((new_n - old_n) * sizeof(*nb)));
}

/* The link that points at the key's node, or at the NULL ending its chain. */
static kd_cnode **
chain_find(kd_chain *c, const void *key, size_t klen, uint64_t hash)
{
    kd_cnode **link = &c->buckets[hash & c->mask];

    for (; *link != NULL; link = &(*link)->next) {
        kd_cnode *n = *link;
        if (n->hash == hash && n->klen == klen &&
            memcmp(n->key, key, klen) == 0)
            return link;
    }
    return link;
}

static size_t
chain_node_size(size_t klen)
{
    return sizeof(kd_cnode) + klen;
}

static int
chain_insert(kd_chain *c, kd_cnode **link, const void *key, size_t klen,
             uint64_t hash, const kd_entry *e)
{
    kd_cnode *n = malloc(chain_node_size(klen));

    if (n == NULL)
        return KD_ENOMEM;
    n->next = NULL;
    n->hash = hash;
    n->e = *e;
    n->klen = (uint32_t)klen;
    memcpy(n->key, key, klen);
    *link = n;
    chain_add_count(c, 1);
    chain_add_bytes(c, (int64_t)chain_node_size(klen));
    if (sync_load_rlx(&c->count) > c->mask + 1)
        chain_grow(c);
    return KD_INSERTED;
}

static void
chain_unlink(kd_chain *c, kd_cnode **link)
{
    kd_cnode *n = *link;

    *link = n->next;
    chain_add_count(c, -1);
    chain_add_bytes(c, -(int64_t)chain_node_size(n->klen));
    free(n);
}

int
kd_chain_get(kd_chain *c, const void *key, size_t klen, uint64_t hash,
             kd_entry *out)
{
    kd_cnode *n = *chain_find(c, key, klen, hash);

    if (n == NULL)
        return KD_ENOTFOUND;
    *out = n->e;
    return KD_OK;
}

int
kd_chain_put(kd_chain *c, const void *key, size_t klen, uint64_t hash,
             const kd_entry *e, kd_entry *old)
{
    kd_cnode **link = chain_find(c, key, klen, hash);

    if (*link == NULL)
        return chain_insert(c, link, key, klen, hash, e);
    if (old != NULL)
        *old = (*link)->e;
    (*link)->e = *e;
    return KD_REPLACED;
}

int
kd_chain_put_if_newer(kd_chain *c, const void *key, size_t klen,
                      uint64_t hash, const kd_entry *e, kd_entry *old)
{
    kd_cnode **link = chain_find(c, key, klen, hash);

    if (*link == NULL)
        return chain_insert(c, link, key, klen, hash, e);
    if (old != NULL)
        *old = (*link)->e;
    if ((*link)->e.seq >= e->seq)
        return KD_ESTALE;
    (*link)->e = *e;
    return KD_REPLACED;
}

int
kd_chain_cas(kd_chain *c, const void *key, size_t klen, uint64_t hash,
             const kd_entry *expected, const kd_entry *desired)
{
    kd_cnode **link = chain_find(c, key, klen, hash);

    if (expected == NULL) {
        if (*link != NULL)
            return KD_EEXIST;
        int rc = chain_insert(c, link, key, klen, hash, desired);
        return rc < 0 ? rc : KD_OK;
    }
    if (*link == NULL)
        return KD_ENOTFOUND;
    if (!kd_entry_eq(&(*link)->e, expected))
        return KD_ECHANGED;
    (*link)->e = *desired;
    return KD_OK;
}

int
kd_chain_del(kd_chain *c, const void *key, size_t klen, uint64_t hash,
             kd_entry *old)
{
    kd_cnode **link = chain_find(c, key, klen, hash);

    if (*link == NULL)
        return KD_ENOTFOUND;
    if (old != NULL)
        *old = (*link)->e;
    chain_unlink(c, link);
    return KD_OK;
}

int
kd_chain_del_if(kd_chain *c, const void *key, size_t klen, uint64_t hash,
                const kd_entry *expected)
{
    kd_cnode **link = chain_find(c, key, klen, hash);

    if (*link == NULL)
        return KD_ENOTFOUND;
    if (!kd_entry_eq(&(*link)->e, expected))
        return KD_ECHANGED;
    chain_unlink(c, link);
    return KD_OK;
}

int
kd_chain_iterate(kd_chain *c, kd_visit_fn fn, void *arg)
{
    for (uint64_t i = 0; i <= c->mask; i++) {
        for (kd_cnode *n = c->buckets[i]; n != NULL; n = n->next) {
            kd_entry copy = n->e;
            int rc = fn(n->key, n->klen, &copy, arg);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}
