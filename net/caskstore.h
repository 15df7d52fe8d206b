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
 * are stored with an 8-byte expiry header (see caskstore.c), so a
 * directory written by the server is read back by the server.
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

#ifdef __cplusplus
}
#endif

#endif /* NET_CASKSTORE_H */
