/*
 * bench/peers/leveldb.c - LevelDB (through its C API) as a bench target.
 *
 * Configured like RocksDB next door, as far as LevelDB allows: no
 * compression, an LRU block cache of cache_bytes, a 10-bit Bloom filter,
 * 64 MiB write buffer (LevelDB's default is 4 MiB: raised so both LSMs
 * flush alike); the log on, sync off for ordinary writes and
 * WriteOptions.sync for BENCH_PUT_SYNC. LevelDB has one background
 * compaction thread and serialises writers through its write queue, which
 * batches concurrent writers into one log write (a form of group commit).
 * Read-modify-write is get then put.
 */
#include "bench/peers/peers.h"

#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_ldb {
    bench_target hdr;
    leveldb_t *db;
    leveldb_options_t *opt;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *filter;
    leveldb_writeoptions_t *wo, *wo_sync;
    leveldb_readoptions_t *ro;
    char desc[256];
} bench_ldb;

static bench_ldb *
bench_ldb_of(bench_target *t)
{
    return (bench_ldb *)t;
}

static int
bench_ldb_check(bench_target *t, const char *what, char *err)
{
    int rc;

    if (err == NULL)
        return BENCH_OK;
    rc = bench_target_fail(t, what, err);
    leveldb_free(err);
    return rc;
}

static void
bench_ldb_configure(bench_ldb *l, const bench_target_opts *o)
{
    uint64_t cache = o->cache_bytes ? o->cache_bytes : 64u << 20;

    l->opt = leveldb_options_create();
    leveldb_options_set_create_if_missing(l->opt, 1);
    leveldb_options_set_compression(l->opt, leveldb_no_compression);
    leveldb_options_set_write_buffer_size(l->opt, 64u << 20);
    l->cache = leveldb_cache_create_lru(cache);
    leveldb_options_set_cache(l->opt, l->cache);
    l->filter = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_filter_policy(l->opt, l->filter);
    l->wo = leveldb_writeoptions_create();
    l->wo_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(l->wo_sync, 1);
    l->ro = leveldb_readoptions_create();
    snprintf(l->desc, sizeof(l->desc),
             "log on, sync=false (WriteOptions.sync per durable write), "
             "no compression, LRU block cache %llu MiB, bloom 10 bits/key, "
             "64 MiB write buffer, RMW = get+put",
             (unsigned long long)(cache >> 20));
}

static void
bench_ldb_free(bench_ldb *l)
{
    if (l->db)
        leveldb_close(l->db);
    if (l->ro)
        leveldb_readoptions_destroy(l->ro);
    if (l->wo)
        leveldb_writeoptions_destroy(l->wo);
    if (l->wo_sync)
        leveldb_writeoptions_destroy(l->wo_sync);
    if (l->opt)
        leveldb_options_destroy(l->opt);
    if (l->filter)
        leveldb_filterpolicy_destroy(l->filter);
    if (l->cache)
        leveldb_cache_destroy(l->cache);
    free(l);
}

static int
bench_ldb_open(const char *arg, const char *dir, const bench_target_opts *o,
               bench_target **out)
{
    bench_ldb *l = calloc(1, sizeof(*l));
    char *err = NULL;
    int rc;

    (void)arg;
    if (l == NULL)
        return BENCH_ENOMEM;
    bench_ldb_configure(l, o);
    l->db = leveldb_open(l->opt, dir, &err);
    rc = bench_ldb_check(&l->hdr, dir, err);
    if (rc != BENCH_OK) {
        bench_ldb_free(l);
        return rc;
    }
    *out = &l->hdr;
    return BENCH_OK;
}

static void
bench_ldb_close(bench_target *t)
{
    bench_ldb_free(bench_ldb_of(t));
}

static int
bench_ldb_get(bench_thread *th, const void *key, size_t klen, void *buf,
              size_t cap, size_t *vlen)
{
    bench_ldb *l = bench_ldb_of(th->t);
    char *err = NULL;
    char *v = leveldb_get(l->db, l->ro, key, klen, vlen, &err);
    int rc = bench_ldb_check(th->t, "leveldb_get", err);

    if (rc != BENCH_OK)
        return rc;
    if (v == NULL)
        return BENCH_ENOTFOUND;
    if (*vlen <= cap)
        memcpy(buf, v, *vlen);
    else
        rc = BENCH_ETOOBIG;
    leveldb_free(v);
    return rc;
}

static int
bench_ldb_put(bench_thread *th, const void *key, size_t klen, const void *val,
              size_t vlen, unsigned flags)
{
    bench_ldb *l = bench_ldb_of(th->t);
    char *err = NULL;

    leveldb_put(l->db, (flags & BENCH_PUT_SYNC) ? l->wo_sync : l->wo, key,
                klen, val, vlen, &err);
    return bench_ldb_check(th->t, "leveldb_put", err);
}

static int
bench_ldb_del(bench_thread *th, const void *key, size_t klen)
{
    bench_ldb *l = bench_ldb_of(th->t);
    char *err = NULL;

    leveldb_delete(l->db, l->wo, key, klen, &err);
    return bench_ldb_check(th->t, "leveldb_delete", err);
}

/* LevelDB syncs only through a write: an empty synced batch flushes the
   log with everything before it. */
static int
bench_ldb_sync(bench_target *t)
{
    bench_ldb *l = bench_ldb_of(t);
    leveldb_writebatch_t *b = leveldb_writebatch_create();
    char *err = NULL;

    leveldb_write(l->db, l->wo_sync, b, &err);
    leveldb_writebatch_destroy(b);
    return bench_ldb_check(t, "leveldb_write(sync)", err);
}

static int64_t
bench_ldb_memory(bench_target *t)
{
    char *s = leveldb_property_value(bench_ldb_of(t)->db,
                                     "leveldb.approximate-memory-usage");
    int64_t v = s ? (int64_t)strtoll(s, NULL, 10) : -1;

    leveldb_free(s);
    return v;
}

static const char *
bench_ldb_describe(bench_target *t)
{
    return bench_ldb_of(t)->desc;
}

const bench_target_ops bench_leveldb_ops = {
    .kind = "peer",
    .open = bench_ldb_open,
    .close = bench_ldb_close,
    .thread_enter = NULL,
    .thread_leave = NULL,
    .get = bench_ldb_get,
    .put = bench_ldb_put,
    .del = bench_ldb_del,
    .rmw = NULL,
    .sync = bench_ldb_sync,
    .memory = bench_ldb_memory,
    .describe = bench_ldb_describe,
};
