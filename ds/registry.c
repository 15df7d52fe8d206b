/*
 * ds/registry.c - the table of keydirs by name, the shared hash, messages.
 *
 * Registration is a static list: one line per implementation, so that
 * `grep kd_.*_ops` finds every keydir and nothing registers itself behind
 * the reader's back. Order is the order of listings and benchmark tables.
 */
#include "ds/keydir.h"

#include <string.h>
#include <xxhash.h>

extern const kd_ops kd_global_ops;
extern const kd_ops kd_striped_ops;
extern const kd_ops kd_striped_rw_ops;
extern const kd_ops kd_racy_ops;
extern const kd_ops kd_stale_ops;
extern const kd_ops kd_lockfree_ops;
extern const kd_ops kd_rcu_ops;
extern const kd_ops kd_ck_ht_ops;
extern const kd_ops kd_urcu_lfht_ops;
extern const kd_ops kd_urcu_lfht_grow_ops;

static const kd_ops *const kd_table[] = {
    &kd_global_ops,
    &kd_striped_ops,
    &kd_striped_rw_ops,
    &kd_racy_ops,
    &kd_stale_ops,
    &kd_lockfree_ops,
    &kd_rcu_ops,
    &kd_ck_ht_ops,
    &kd_urcu_lfht_ops,
    &kd_urcu_lfht_grow_ops,
};

#define KD_NTABLE (sizeof(kd_table) / sizeof(kd_table[0]))

const kd_ops *
kd_registered(size_t i)
{
    return i < KD_NTABLE ? kd_table[i] : NULL;
}

const kd_ops *
kd_lookup(const char *name)
{
    for (size_t i = 0; i < KD_NTABLE; i++)
        if (strcmp(kd_table[i]->name, name) == 0)
            return kd_table[i];
    return NULL;
}

int
kd_open(const char *name, const kd_options *opt, kd_keydir **out)
{
    const kd_ops *ops = kd_lookup(name);

    if (ops == NULL)
        return KD_ENOKEYDIR;
    return ops->open(opt, out);
}

void
kd_close(kd_keydir *kd)
{
    if (kd != NULL)
        kd->ops->close(kd);
}

/* XXH3 is the fastest well-known seeded 64-bit hash with full avalanche on
 * short keys (smhasher), which matters since keydir keys are often 8-16 B. */
uint64_t
kd_hash(const void *key, size_t klen, uint64_t seed)
{
    return XXH3_64bits_withSeed(key, klen, seed);
}

const char *
kd_strerror(int code)
{
#define KD_MSG_(name, value, msg)                                             \
    if (code == (value))                                                      \
        return msg;
    if (code == KD_REPLACED)
        return "replaced";
    KD_ERRORS(KD_MSG_)
#undef KD_MSG_
    return "unknown keydir error";
}
