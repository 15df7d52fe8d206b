/*
 * net/store.h - the key-value store the server's commands run against.
 *
 * The server never calls the engine directly: it calls this small
 * interface, which the engine (engine/cask.h) fills in through one adapter
 * file (net/caskstore.h), and an in-memory map (srv_memstore_open,
 * net/memstore.c) too. Keys and values are binary-safe byte strings; values come back as
 * malloc'd copies owned by the caller.
 *
 * Expiry: times are absolute, in milliseconds of CLOCK_REALTIME since the
 * Unix epoch (as Redis keeps them); 0 means "no expiry". An expired key
 * behaves as absent for every operation; when it is reclaimed is the
 * implementation's business.
 *
 * Threads: every operation may be called by many threads at once (the
 * server's pool workers), except destroy. Each implementation states its
 * linearizability; the memory store's per-key operations are linearizable at
 * the moment they hold the key's stripe lock, and keys() is an atomic
 * snapshot (it holds every stripe lock while it copies).
 */
#ifndef NET_STORE_H
#define NET_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes of net/ (0 is success): store outcomes and server errors. */
#define SRV_ERRNO_MAP(X)                                                      \
    X(EINVAL, -1, "invalid argument")                                         \
    X(ENOMEM, -2, "out of memory")                                            \
    X(ENOTFOUND, -3, "no such key")                                           \
    X(ECOND, -4, "condition not met (NX/XX)")                                 \
    X(EMISMATCH, -5, "value differs from the expected one")                   \
    X(ENOTSUP, -6, "operation not supported by this store")                   \
    X(EIO, -7, "I/O error: the store refuses writes until reopened")          \
    X(EADDR, -8, "cannot listen on that address")                             \
    X(ELOOP, -9, "event loop error")                                          \
    X(EFORCED, -10, "stopped at once by a second signal")                     \
    X(ENOSPC, -11, "no space left on the store's disk: writes are refused "   \
                   "until space is freed and the store is reopened")          \
    X(EREADONLY, -12, "the store is served read-only")                        \
    X(ECORRUPT, -13, "the key's stored record fails its checksum, or is not " \
                     "a value casklab serve wrote")

enum {
#define SRV_ERR_ENUM(name, val, msg) SRV_##name = (val),
    SRV_ERRNO_MAP(SRV_ERR_ENUM)
#undef SRV_ERR_ENUM
};

const char *srv_strerror(int err);

/* How a set behaves. Zero-initialise for a plain overwrite. */
typedef struct srv_set_opts {
    int nx;              /* only if absent (else SRV_ECOND) */
    int xx;              /* only if present (else SRV_ECOND) */
    int keep_ttl;        /* keep the key's expiry (else expire_at applies) */
    int64_t expire_at;   /* ms since the epoch; 0 = none */
} srv_set_opts;

/* A snapshot of keys, for SCAN and KEYS: owned by the caller. */
typedef struct srv_keys {
    size_t n;
    char **keys;
    size_t *lens;
} srv_keys;

void srv_keys_free(srv_keys *k);

typedef struct srv_store_stats {
    uint64_t keys;       /* live keys, exact only when quiescent */
    uint64_t bytes;      /* bytes of keys and values held */
    uint64_t files;      /* data files (0 for an in-memory store) */
    uint64_t merges;     /* merges completed */
    const char *backend; /* "memory", "cask" */
    const char *keydir;  /* keydir name, or "" */
    uint64_t index_bytes; /* memory of the key index (keydir); 0 unknown */
} srv_store_stats;

typedef struct srv_store srv_store;

/*
 * Each operation returns 0 or a negative SRV_ code. key is 1..65536 bytes
 * (the server checks). get returns SRV_ENOTFOUND for an absent key and
 * otherwise a malloc'd copy in *val (never NULL, even for an empty value).
 * cas replaces the value only if the present value equals old exactly, and
 * keeps the key's expiry; SRV_ENOTFOUND or SRV_EMISMATCH otherwise. A
 * store that failed a durable write returns SRV_EIO from every later write
 * (SRV_ENOSPC when the failure was a full disk).
 */
typedef struct srv_store_ops {
    int (*get)(srv_store *s, const void *key, size_t klen, char **val,
               size_t *vlen);
    int (*set)(srv_store *s, const void *key, size_t klen, const void *val,
               size_t vlen, const srv_set_opts *opt);
    int (*del)(srv_store *s, const void *key, size_t klen);
    int (*exists)(srv_store *s, const void *key, size_t klen);
    int (*cas)(srv_store *s, const void *key, size_t klen, const void *old,
               size_t oldlen, const void *val, size_t vlen);
    /* Sets the expiry of a present key (0 removes it). */
    int (*expire)(srv_store *s, const void *key, size_t klen,
                  int64_t expire_at);
    /* *expire_at = the key's expiry, 0 if none; SRV_ENOTFOUND if absent. */
    int (*ttl)(srv_store *s, const void *key, size_t klen, int64_t *expire_at);
    int (*keys)(srv_store *s, srv_keys *out);
    uint64_t (*count)(srv_store *s);
    int (*flush)(srv_store *s);
    int (*merge)(srv_store *s);
    int (*sync)(srv_store *s);
    void (*stats)(srv_store *s, srv_store_stats *out);
    /* Optional (may be NULL): called by each pool worker before its first
     * operation and after its last (keydirs that track threads). */
    void (*thread_start)(srv_store *s);
    void (*thread_stop)(srv_store *s);
    void (*destroy)(srv_store *s);
    /* Optional, both or neither (NULL): a store that acknowledges only
     * durable writes. wrote() tells whether the calling thread wrote since
     * its last call to wrote(), and forgets it. commit() makes every write
     * that returned before the call durable; concurrent calls may share
     * one fdatasync. The server asks wrote() after each batch (a
     * connection's pipelined commands) and holds the replies of every
     * batch that wrote until a commit() begun after it returns, so one
     * commit covers all the batches that completed meanwhile (group
     * commit across clients). commit returns 0 or SRV_EIO (SRV_ENOSPC: the
     * disk is full); then every reply of the batches it covered becomes
     * an error. */
    int (*wrote)(srv_store *s);
    int (*commit)(srv_store *s);
} srv_store_ops;

/* Every implementation embeds this as its first member. */
struct srv_store {
    const srv_store_ops *ops;
};

/* The current time in the units of expire_at. */
int64_t srv_now_ms(void);

/*
 * The in-memory store (`casklab serve --store memory`): values in a hash
 * map of 64 mutex-protected stripes. Not durable: merge and sync succeed
 * and do nothing. Returns 0 or SRV_ENOMEM.
 */
int srv_memstore_open(srv_store **out);

#ifdef __cplusplus
}
#endif

#endif /* NET_STORE_H */
