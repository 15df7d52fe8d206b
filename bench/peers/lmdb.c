/*
 * bench/peers/lmdb.c - LMDB (Symas) as a bench target.
 *
 * Configuration, chosen to be LMDB's norm and fair to the others:
 *  - one write transaction per put, del or read-modify-write; LMDB admits
 *    one writer at a time, so writer threads queue on its lock;
 *  - a read transaction per get, as LMDB's documentation recommends: each
 *    thread keeps one read-only handle and renews/resets it around every
 *    get, so the reader slot is reused and no snapshot pins old pages;
 *  - MDB_NOSYNC: commits are not flushed (the others' sync=none); for
 *    BENCH_PUT_SYNC the commit is followed by mdb_env_sync(force), one
 *    fdatasync of the data file, LMDB's own way of making it durable;
 *  - MDB_NOTLS so a thread's reset read handle does not tie up its slot
 *    while the same thread writes; the map is sized from keys_hint.
 * LMDB caches nothing itself: reads go through the page cache via mmap.
 */
#include "bench/peers/peers.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_lmdb {
    bench_target hdr;
    MDB_env *env;
    MDB_dbi dbi;
    char desc[256];
} bench_lmdb;

static bench_lmdb *
bench_lmdb_of(bench_target *t)
{
    return (bench_lmdb *)t;
}

static int
bench_lmdb_err(bench_target *t, const char *what, int rc)
{
    if (rc == MDB_NOTFOUND)
        return BENCH_ENOTFOUND;
    return bench_target_fail(t, what, mdb_strerror(rc));
}

/* Map: four times the raw data plus 64 MiB; the file stays sparse. */
static size_t
bench_lmdb_mapsize(const bench_target_opts *o)
{
    uint64_t per = (uint64_t)o->key_size + o->value_size + 64;
    uint64_t keys = o->keys_hint ? o->keys_hint : 1000000;

    return (size_t)(keys * per * 4 + (64u << 20));
}

static int
bench_lmdb_setup(bench_lmdb *l, const char *dir, const bench_target_opts *o)
{
    MDB_txn *txn;
    unsigned readers = o->threads * 2 + 8;
    int rc;

    if ((rc = mdb_env_create(&l->env)) != 0)
        return bench_lmdb_err(&l->hdr, "mdb_env_create", rc);
    if ((rc = mdb_env_set_mapsize(l->env, bench_lmdb_mapsize(o))) != 0 ||
        (rc = mdb_env_set_maxreaders(l->env, readers < 126 ? 126 : readers)))
        return bench_lmdb_err(&l->hdr, "mdb_env_set", rc);
    if ((rc = mdb_env_open(l->env, dir, MDB_NOSYNC | MDB_NOTLS, 0644)) != 0)
        return bench_lmdb_err(&l->hdr, dir, rc);
    if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0)
        return bench_lmdb_err(&l->hdr, "mdb_txn_begin", rc);
    if ((rc = mdb_dbi_open(txn, NULL, 0, &l->dbi)) != 0) {
        mdb_txn_abort(txn);
        return bench_lmdb_err(&l->hdr, "mdb_dbi_open", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return bench_lmdb_err(&l->hdr, "mdb_txn_commit", rc);
    snprintf(l->desc, sizeof(l->desc),
             "write txn per put (one writer at a time), read txn per get "
             "(per-thread handle, renew/reset), MDB_NOSYNC + mdb_env_sync "
             "per durable write, map %zu MiB, page cache only",
             bench_lmdb_mapsize(o) >> 20);
    return BENCH_OK;
}

static int
bench_lmdb_open(const char *arg, const char *dir, const bench_target_opts *o,
                bench_target **out)
{
    bench_lmdb *l = calloc(1, sizeof(*l));
    int rc;

    (void)arg;
    if (l == NULL)
        return BENCH_ENOMEM;
    rc = bench_lmdb_setup(l, dir, o);
    if (rc != BENCH_OK) {
        if (l->env)
            mdb_env_close(l->env);
        free(l);
        return rc;
    }
    *out = &l->hdr;
    return BENCH_OK;
}

static void
bench_lmdb_close(bench_target *t)
{
    mdb_env_close(bench_lmdb_of(t)->env);
    free(t);
}

static int
bench_lmdb_enter(bench_target *t, void **state)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(bench_lmdb_of(t)->env, NULL, MDB_RDONLY, &txn);

    if (rc != 0)
        return bench_lmdb_err(t, "mdb_txn_begin(rdonly)", rc);
    mdb_txn_reset(txn);
    *state = txn;
    return BENCH_OK;
}

static void
bench_lmdb_leave(bench_target *t, void *state)
{
    (void)t;
    mdb_txn_abort(state);
}

static int
bench_lmdb_copy(const MDB_val *v, void *buf, size_t cap, size_t *vlen)
{
    *vlen = v->mv_size;
    if (v->mv_size > cap)
        return BENCH_ETOOBIG;
    memcpy(buf, v->mv_data, v->mv_size);
    return BENCH_OK;
}

static int
bench_lmdb_get(bench_thread *th, const void *key, size_t klen, void *buf,
               size_t cap, size_t *vlen)
{
    bench_lmdb *l = bench_lmdb_of(th->t);
    MDB_txn *txn = th->state;
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_txn_renew(txn);

    if (rc != 0)
        return bench_lmdb_err(th->t, "mdb_txn_renew", rc);
    rc = mdb_get(txn, l->dbi, &k, &v);
    rc = rc == 0 ? bench_lmdb_copy(&v, buf, cap, vlen)
                 : bench_lmdb_err(th->t, "mdb_get", rc);
    mdb_txn_reset(txn);
    return rc;
}

/* Commits txn and, if asked, flushes it: LMDB's durable write. */
static int
bench_lmdb_commit(bench_lmdb *l, MDB_txn *txn, unsigned flags)
{
    int rc = mdb_txn_commit(txn);

    if (rc != 0)
        return bench_lmdb_err(&l->hdr, "mdb_txn_commit", rc);
    if ((flags & BENCH_PUT_SYNC) && (rc = mdb_env_sync(l->env, 1)) != 0)
        return bench_lmdb_err(&l->hdr, "mdb_env_sync", rc);
    return BENCH_OK;
}

static int
bench_lmdb_put(bench_thread *th, const void *key, size_t klen,
               const void *val, size_t vlen, unsigned flags)
{
    bench_lmdb *l = bench_lmdb_of(th->t);
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);

    if (rc != 0)
        return bench_lmdb_err(th->t, "mdb_txn_begin", rc);
    if ((rc = mdb_put(txn, l->dbi, &k, &v, 0)) != 0) {
        mdb_txn_abort(txn);
        return bench_lmdb_err(th->t, "mdb_put", rc);
    }
    return bench_lmdb_commit(l, txn, flags);
}

static int
bench_lmdb_del(bench_thread *th, const void *key, size_t klen)
{
    bench_lmdb *l = bench_lmdb_of(th->t);
    MDB_val k = {klen, (void *)key};
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);

    if (rc != 0)
        return bench_lmdb_err(th->t, "mdb_txn_begin", rc);
    if ((rc = mdb_del(txn, l->dbi, &k, NULL)) != 0) {
        mdb_txn_abort(txn);
        return bench_lmdb_err(th->t, "mdb_del", rc);
    }
    return bench_lmdb_commit(l, txn, 0);
}

/* Read and write in one write transaction: atomic, LMDB's natural RMW. */
static int
bench_lmdb_rmw(bench_thread *th, const void *key, size_t klen, void *buf,
               size_t cap, size_t vlen)
{
    bench_lmdb *l = bench_lmdb_of(th->t);
    MDB_val k = {klen, (void *)key}, v;
    MDB_txn *txn;
    size_t got;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);

    if (rc != 0)
        return bench_lmdb_err(th->t, "mdb_txn_begin", rc);
    rc = mdb_get(txn, l->dbi, &k, &v);
    rc = rc == 0 ? bench_lmdb_copy(&v, buf, cap, &got)
                 : bench_lmdb_err(th->t, "mdb_get", rc);
    if (rc == BENCH_OK) {
        ((unsigned char *)buf)[0]++;
        v = (MDB_val){vlen, buf};
        if ((rc = mdb_put(txn, l->dbi, &k, &v, 0)) != 0)
            rc = bench_lmdb_err(th->t, "mdb_put", rc);
    }
    if (rc != BENCH_OK) {
        mdb_txn_abort(txn);
        return rc;
    }
    return bench_lmdb_commit(l, txn, 0);
}

static int
bench_lmdb_sync(bench_target *t)
{
    int rc = mdb_env_sync(bench_lmdb_of(t)->env, 1);

    return rc == 0 ? BENCH_OK : bench_lmdb_err(t, "mdb_env_sync", rc);
}

static int64_t
bench_lmdb_memory(bench_target *t)
{
    (void)t;
    return -1; /* its cache is the kernel's page cache: measure the RSS */
}

static const char *
bench_lmdb_describe(bench_target *t)
{
    return bench_lmdb_of(t)->desc;
}

const bench_target_ops bench_lmdb_ops = {
    .kind = "peer",
    .open = bench_lmdb_open,
    .close = bench_lmdb_close,
    .thread_enter = bench_lmdb_enter,
    .thread_leave = bench_lmdb_leave,
    .get = bench_lmdb_get,
    .put = bench_lmdb_put,
    .del = bench_lmdb_del,
    .rmw = bench_lmdb_rmw,
    .sync = bench_lmdb_sync,
    .memory = bench_lmdb_memory,
    .describe = bench_lmdb_describe,
};
