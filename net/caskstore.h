/*
 * net/caskstore.h - the engine (engine/cask.h) as the server's store
 * (net/store.h): what `casklab serve --dir D` runs on.
 *
 * Every operation may run on many threads at once (the pool's workers,
 * which register with the engine through thread_start/thread_stop).
 * Linearizability: GET at its engine lookup, SET at its engine write, and
 * the conditional operations (NX, XX, KEEPTTL, EXPIRE, CAS, DEL) at the
 * engine compare-and-set that installs them; keys() (SCAN, KEYS) is the
 * engine fold's consistent snapshot. Durability is the engine's sync mode,
 * except that with CASK_SYNC_ALWAYS a write is durable once a commit()
 * begun after it returns (the store's wrote/commit pair, net/store.h): the
 * server answers a batch that wrote only then, and one commit's fdatasync
 * covers every batch of every client that completed meanwhile. Values
 * are stored with an 8-byte expiry header (see caskstore.c); a writable
 * open leaves a file named SRV_SERVED_MARK in the directory saying so, and
 * the `casklab put`/`get` commands frame and unframe values in such a
 * directory with srv_caskstore_encode/decode.
 */
#ifndef NET_CASKSTORE_H
#define NET_CASKSTORE_H

#include "engine/cask.h"
#include "net/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Opens (creating if needed) the engine store in dir with opt (NULL =
 * defaults). Returns 0, SRV_ENOMEM, SRV_EINVAL (bad option or keydir name),
 * SRV_ENOSPC (no space for even a new file's header) or SRV_EIO (cannot
 * open: locked, corrupt, I/O), with the engine's message in errbuf.
 */
int srv_caskstore_open(const char *dir, const cask_options *opt,
                       srv_store **out, char *errbuf, size_t errlen);

/* The marker file a writable open leaves in a store directory. */
#define SRV_SERVED_MARK "SERVED"

/* 1 if dir holds the marker (its values carry the expiry header). */
int srv_caskstore_served(const char *dir);

/*
 * A stored value's payload: *val and *vlen, past the header. Returns 1 (live),
 * 0 (expired at now_ms) or -1 (shorter than the header: not a value the
 * server wrote).
 */
int srv_caskstore_decode(const void *raw, size_t len, int64_t now_ms,
                         const void **val, size_t *vlen);

/* A value framed as the server stores it (expire_at: ms since the epoch,
 * 0 = none), malloc'd, *rawlen bytes; NULL out of memory. */
void *srv_caskstore_encode(const void *val, size_t vlen, int64_t expire_at,
                           size_t *rawlen);

#ifdef __cplusplus
}
#endif

#endif /* NET_CASKSTORE_H */
