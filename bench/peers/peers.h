/*
 * bench/peers/peers.h - the peer engines' adapters (private to bench/).
 *
 * Each bench/peers/<engine>.c fills one bench_target_ops table over the
 * engine's C API; bench/target.c lists them after the keydirs. Fairness
 * rules every adapter follows (and prints through describe): no
 * compression, the same block cache size where the engine has one, no
 * sync on ordinary writes (a crash may lose the last writes, as with
 * casklab's sync=none), and a sync on each write when the runner asks for
 * BENCH_PUT_SYNC, done the engine's own way.
 */
#ifndef BENCH_PEERS_PEERS_H
#define BENCH_PEERS_PEERS_H

#include "bench/target.h"

extern const bench_target_ops bench_lmdb_ops;
extern const bench_target_ops bench_rocksdb_ops;
extern const bench_target_ops bench_leveldb_ops;
extern const bench_target_ops bench_kyoto_ops;

/* The casklab engine ("cask:<keydir>", bench/engine_target.c) follows the
   same fairness rules; it is listed between the keydirs and the peers. */
extern const bench_target_ops bench_cask_ops;

/* snprintf into t->error and return BENCH_EENGINE. */
#define BENCH_PEER_FAIL(t, what, msg) bench_target_fail((t), (what), (msg))

#endif /* BENCH_PEERS_PEERS_H */
