/*
 * ds/keydir.h - the keydir interface: Bitcask's in-memory index, pluggable.
 *
 * A keydir maps a key (1 byte to 64 KiB, binary-safe, copied in) to an entry
 * saying where the key's latest value lives on disk. Implementations register
 * one operations table (kd_ops) under a name and are opened by that name at
 * run time, so the engine, the stress harness and the benchmarks can swap
 * them without recompiling: kd_open("striped", &opt, &kd).
 *
 * Return codes: every operation returns an int; negative values are errors
 * from the KD_ERRORS table (kd_strerror names them), non-negative values are
 * outcomes (KD_INSERTED, KD_REPLACED). Entries come back through
 * out-parameters, copied, so no caller ever holds a pointer into a keydir.
 *
 * Threads: every operation may be called by many threads at once, except
 * kd_close. A thread calls kd_thread_register before its first operation on
 * a keydir and kd_thread_unregister after its last; long-running threads of
 * designs built on quiescent states (QSBR, epochs) also call kd_quiescent
 * between operations. For designs that need none of this the hooks are
 * no-ops, and callers call them anyway so that any keydir can be swapped in.
 *
 * Concurrency guarantees per implementation (see each ds/<name>.c too):
 *
 *   global      One pthread mutex around one resizable chained hash table.
 *               Every operation is linearizable at the moment it holds the
 *               lock; all are blocking. kd_count is linearizable. kd_iterate
 *               holds the lock throughout: it sees an atomic snapshot.
 *               Unlinked nodes are freed at once, under the lock: no reader
 *               can hold a pointer to them, since entries are copied out.
 *
 *   striped     N stripes (default 64), each its own chained hash table
 *   striped_rw  behind its own pthread mutex (striped) or rwlock
 *               (striped_rw, where get takes the read side). A key's stripe
 *               is fixed by its hash, so every per-key operation is
 *               linearizable at the moment it holds its stripe's lock; all
 *               are blocking. A stripe resizes alone under its own lock, so
 *               a resize stops only the keys of that stripe, for the time of
 *               rehashing 1/N of the table. kd_count sums per-stripe counters
 *               without locks: exact when quiescent, not linearizable under
 *               concurrent updates. kd_iterate locks one stripe at a time:
 *               a key present and unchanged throughout the iteration is
 *               visited exactly once; a key inserted or deleted meanwhile
 *               may or may not be visited. Nodes are freed at once under
 *               the stripe lock.
 *
 *   lockfree    Ours (ds/lockfree.c): open addressing, eight 64-bit slots
 *               per cache line, each a 16-bit hash tag plus a pointer to an
 *               immutable record {entry, key}. put, put_if_newer, cas, del,
 *               del_if are each one CAS on the key's slot (claiming an
 *               empty slot for a new key), linearizable at that CAS, and
 *               lock-free. get never writes and is wait-free (bounded by
 *               the table size times the tables chained during it),
 *               linearizable at the load of the slot that decided it.
 *               Resizing is cooperative and non-blocking: every writer
 *               migrates one 1024-slot chunk (freeze, copy) before its own
 *               operation; no thread waits for another. (Allocation is
 *               the exception, as with malloc's arena locks: records come
 *               from ds/slab.c, huge pages and per-thread free lists, which
 *               takes a mutex when a thread's list runs dry.) Records and
 *               old tables are freed through sync/reclaim.h
 *               (kd_options.reclaim "qsbr", the default, or "epoch"):
 *               threads must call kd_quiescent or unregister when they
 *               pause, or reclamation waits for them (visible in
 *               kd_memory). kd_count sums per-thread counters (exact
 *               when quiescent); kd_iterate is blocking (it finishes a
 *               migration first) and visits a key present and unchanged
 *               throughout exactly once.
 *
 *   rcu         Ours (ds/rcu.c), on liburcu (kd_options.flavor "memb", the
 *               default, or "qsbr", where kd_quiescent announces quiescent
 *               states). 64 stripes by the hash's low bits, each with its
 *               own lock and its own table of chained buckets of immutable
 *               nodes; readers run in a read-side section, never block and
 *               never write shared memory: get is wait-free, linearizable
 *               at the load of the link that yields the node. Writers lock
 *               the key's stripe, copy-on-write the node and publish with
 *               one release store (their linearization point); blocking.
 *               A stripe resizes alone, under its own lock, copying its
 *               1/64 of the keys while readers continue on the old table:
 *               only writers of that stripe wait, for that copy. Unlinked
 *               nodes (in batches of 64) and old tables are freed by
 *               call_rcu. count: per-stripe sums; iterate: one read-side
 *               section, each stripe's table in turn.
 *
 *   ck_ht       PEER (ds/peer_ck_ht.c): ConcurrencyKit's ck_ht, which
 *               admits one writer: every update takes one mutex, so
 *               updates are blocking, linearizable under it; get is
 *               lock-free and linearizable at ck_ht's slot read. Records
 *               and ck_ht's deferred maps are freed through sync/reclaim.h.
 *               Keys of exactly 64 KiB (over ck_ht's uint16_t length) live
 *               in a private `global` keydir on the side.
 *
 *   urcu_lfht, urcu_lfht_grow
 *               PEERS (ds/peer_lfht.c): liburcu's cds_lfht, pre-sized
 *               (max(capacity_hint, 4096) buckets, no resize) and growing
 *               (auto-resize in liburcu's worker thread). Lock-free
 *               updates (add_replace, replace, del, retried on -ENOENT),
 *               wait-free lookups inside read-side sections, linearizable
 *               at cds_lfht's CAS; call_rcu frees; kd_options.flavor as
 *               for `rcu`.
 *
 * kd_iterate's callback must not call into the same keydir (the mutex
 * designs hold a lock while calling it).
 *
 * This header compiles as C and as C++.
 */
#ifndef DS_KEYDIR_H
#define DS_KEYDIR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest key a keydir accepts, in bytes. */
#define KD_KEY_MAX 65536u

/* Where the latest value of a key lives: Bitcask's keydir entry. */
typedef struct kd_entry {
    uint32_t file_id;    /* data file holding the record */
    uint32_t value_size; /* bytes of value */
    uint64_t value_pos;  /* offset of the value (or record) in that file */
    uint64_t seq;        /* write sequence number: larger is newer */
} kd_entry;

/* Outcomes (>= 0) and errors (< 0). X-macro: name, value, message. */
#define KD_ERRORS(X)                                                          \
    X(KD_OK,        0,  "ok")                                                 \
    X(KD_INSERTED,  0,  "inserted")                                           \
    X(KD_REPLACED,  1,  "replaced")                                           \
    X(KD_ENOTFOUND, -1, "key not found")                                      \
    X(KD_ECHANGED,  -2, "stored entry differs from the expected one")         \
    X(KD_ESTALE,    -3, "stored entry is as new or newer (seq)")              \
    X(KD_ENOMEM,    -4, "out of memory")                                      \
    X(KD_EINVAL,    -5, "invalid argument (empty key or key over 64 KiB)")    \
    X(KD_ENOKEYDIR, -6, "no keydir registered under that name")               \
    X(KD_EEXIST,    -7, "key already present")

enum kd_code {
#define KD_ENUM_(name, value, msg) name = (value),
    KD_ERRORS(KD_ENUM_)
#undef KD_ENUM_
};

/* A message for any code returned by this module (never NULL). */
const char *kd_strerror(int code);

/* Options for kd_open. Zero-initialise, then set what you need. */
typedef struct kd_options {
    uint64_t capacity_hint; /* expected keys; 0 = start small and grow */
    uint64_t seed;          /* hash seed; 0 = KD_DEFAULT_SEED */
    uint32_t stripes;       /* striped designs: lock stripes; 0 = default */
    const char *reclaim;    /* designs with deferred reclamation: scheme
                               name (NULL = the design's default) */
    const char *flavor;     /* designs with variants (RCU flavor); NULL =
                               default */
} kd_options;

#define KD_DEFAULT_SEED 0x9e3779b97f4a7c15ull

typedef struct kd_keydir kd_keydir;

/* Visitor for kd_iterate: return non-zero to stop the iteration early. */
typedef int (*kd_visit_fn)(const void *key, size_t klen,
                           const kd_entry *entry, void *arg);

/* Flags describing a registered implementation. */
enum kd_kind_flags {
    KD_FLAG_PEER = 1u << 0,      /* wraps a third-party library: reference */
    KD_FLAG_TEST_ONLY = 1u << 1, /* deliberately broken, for the checker's
                                    tests: never in conformance or benches */
    KD_FLAG_ONE_WRITER = 1u << 2, /* every write takes one lock: writers on
                                     several threads take turns (global,
                                     ck_ht), so a caller choosing how many
                                     threads to fill it with uses one */
};

/*
 * The operations table an implementation registers. Every per-key operation
 * receives a key of 1..KD_KEY_MAX bytes (the dispatchers below check) and
 * its hash under the keydir's seed, computed once by the dispatcher.
 * thread_register/thread_unregister/quiescent may be NULL.
 */
typedef struct kd_ops {
    const char *name;
    const char *summary; /* one line for `casklab --help` style listings */
    unsigned flags;      /* kd_kind_flags */
    int (*open)(const kd_options *opt, kd_keydir **out);
    void (*close)(kd_keydir *kd);
    int (*get)(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
               kd_entry *out);
    int (*put)(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
               const kd_entry *e, kd_entry *old);
    int (*put_if_newer)(kd_keydir *kd, const void *key, size_t klen,
                        uint64_t hash, const kd_entry *e, kd_entry *old);
    int (*cas)(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
               const kd_entry *expected, const kd_entry *desired);
    int (*del)(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
               kd_entry *old);
    int (*del_if)(kd_keydir *kd, const void *key, size_t klen, uint64_t hash,
                  const kd_entry *expected);
    uint64_t (*count)(kd_keydir *kd);
    int (*iterate)(kd_keydir *kd, kd_visit_fn fn, void *arg);
    uint64_t (*memory)(kd_keydir *kd);
    void (*thread_register)(kd_keydir *kd);
    void (*thread_unregister)(kd_keydir *kd);
    void (*quiescent)(kd_keydir *kd);
} kd_ops;

/*
 * Every implementation's handle starts with this header, so the dispatchers
 * can find the operations table and the seed. Implementations embed it as
 * their first member and fill it in open().
 */
struct kd_keydir {
    const kd_ops *ops;
    uint64_t seed;
};

/* The one hash function of all keydirs (XXH3-64, seeded): fair comparisons. */
uint64_t kd_hash(const void *key, size_t klen, uint64_t seed);

/* ---- Registry ---------------------------------------------------------- */

/*
 * Opens the keydir registered as `name` with options `opt` (NULL = all
 * defaults). Returns 0 and *out, KD_ENOKEYDIR for an unknown name, or the
 * implementation's error.
 */
int kd_open(const char *name, const kd_options *opt, kd_keydir **out);

/* Closes and frees a keydir. No other thread may be using it. */
void kd_close(kd_keydir *kd);

/* The operations table registered as `name`, or NULL. */
const kd_ops *kd_lookup(const char *name);

/*
 * Registered implementations, in registration order: the i-th table, or NULL
 * past the end. Filter with ops->flags (peers, test-only).
 */
const kd_ops *kd_registered(size_t i);

/* The name the keydir was opened under. */
static inline const char *
kd_name(const kd_keydir *kd)
{
    return kd->ops->name;
}

/* Fields equal: what cas and del_if compare. */
static inline int
kd_entry_eq(const kd_entry *a, const kd_entry *b)
{
    return a->file_id == b->file_id && a->value_size == b->value_size &&
           a->value_pos == b->value_pos && a->seq == b->seq;
}

/* ---- Operations --------------------------------------------------------- */

static inline int
kd_key_ok_(size_t klen)
{
    return klen >= 1 && klen <= KD_KEY_MAX;
}

/*
 * kd_get: copies the key's entry into *out. Returns KD_OK, or KD_ENOTFOUND.
 */
static inline int
kd_get(kd_keydir *kd, const void *key, size_t klen, kd_entry *out)
{
    if (!kd_key_ok_(klen))
        return KD_EINVAL;
    return kd->ops->get(kd, key, klen, kd_hash(key, klen, kd->seed), out);
}

/*
 * kd_put: inserts or replaces unconditionally. Returns KD_INSERTED, or
 * KD_REPLACED with the replaced entry in *old (when old is not NULL), or
 * KD_ENOMEM / KD_EINVAL.
 */
static inline int
kd_put(kd_keydir *kd, const void *key, size_t klen, const kd_entry *e,
       kd_entry *old)
{
    if (!kd_key_ok_(klen))
        return KD_EINVAL;
    return kd->ops->put(kd, key, klen, kd_hash(key, klen, kd->seed), e, old);
}

/*
 * kd_put_if_newer: last writer wins by seq. Installs e if the key is absent
 * (KD_INSERTED) or its stored seq is smaller than e->seq (KD_REPLACED, old
 * entry in *old). Otherwise changes nothing and returns KD_ESTALE with the
 * stored entry in *old. This is how recovery and concurrent writers agree.
 */
static inline int
kd_put_if_newer(kd_keydir *kd, const void *key, size_t klen,
                const kd_entry *e, kd_entry *old)
{
    if (!kd_key_ok_(klen))
        return KD_EINVAL;
    return kd->ops->put_if_newer(kd, key, klen, kd_hash(key, klen, kd->seed),
                                 e, old);
}

/*
 * kd_cas: replaces the stored entry with *desired only if it still equals
 * *expected (all four fields). With expected == NULL, inserts only if the key
 * is absent. Returns KD_OK; KD_ECHANGED if the stored entry differs;
 * KD_ENOTFOUND if the key is absent (expected != NULL); KD_EEXIST if present
 * (expected == NULL). Merge installs relocated records with it, so a value
 * overwritten during the merge is never replaced by its older merged copy.
 */
static inline int
kd_cas(kd_keydir *kd, const void *key, size_t klen, const kd_entry *expected,
       const kd_entry *desired)
{
    if (!kd_key_ok_(klen))
        return KD_EINVAL;
    return kd->ops->cas(kd, key, klen, kd_hash(key, klen, kd->seed),
                        expected, desired);
}

/*
 * kd_del: removes the key. Returns KD_OK with the removed entry in *old
 * (when old is not NULL), or KD_ENOTFOUND.
 */
static inline int
kd_del(kd_keydir *kd, const void *key, size_t klen, kd_entry *old)
{
    if (!kd_key_ok_(klen))
        return KD_EINVAL;
    return kd->ops->del(kd, key, klen, kd_hash(key, klen, kd->seed), old);
}

/*
 * kd_del_if: removes the key only if its entry still equals *expected.
 * Returns KD_OK, KD_ECHANGED or KD_ENOTFOUND.
 */
static inline int
kd_del_if(kd_keydir *kd, const void *key, size_t klen,
          const kd_entry *expected)
{
    if (!kd_key_ok_(klen))
        return KD_EINVAL;
    return kd->ops->del_if(kd, key, klen, kd_hash(key, klen, kd->seed),
                           expected);
}

/* Number of keys (see the guarantee of each design above). */
static inline uint64_t
kd_count(kd_keydir *kd)
{
    return kd->ops->count(kd);
}

/*
 * kd_iterate: calls fn for each key with a copy of its entry; stops when fn
 * returns non-zero and returns that value, else 0. Consistency: per design.
 */
static inline int
kd_iterate(kd_keydir *kd, kd_visit_fn fn, void *arg)
{
    return kd->ops->iterate(kd, fn, arg);
}

/* Bytes of memory the keydir holds (tables, nodes, keys, pending frees). */
static inline uint64_t
kd_memory(kd_keydir *kd)
{
    return kd->ops->memory(kd);
}

static inline void
kd_thread_register(kd_keydir *kd)
{
    if (kd->ops->thread_register)
        kd->ops->thread_register(kd);
}

static inline void
kd_thread_unregister(kd_keydir *kd)
{
    if (kd->ops->thread_unregister)
        kd->ops->thread_unregister(kd);
}

/* Announces that the calling thread holds no reference into the keydir. */
static inline void
kd_quiescent(kd_keydir *kd)
{
    if (kd->ops->quiescent)
        kd->ops->quiescent(kd);
}

#ifdef __cplusplus
}
#endif

#endif /* DS_KEYDIR_H */
