/*
 * bench/engine_target.c - the casklab engine (engine/cask.h) as a bench
 * target: "cask:<keydir>" for every registered keydir that is not test-only,
 * kind "engine".
 *
 * Configuration, printed through describe so a reader can judge fairness
 * against the peers (bench/peers/peers.h): the store is opened with
 * sync=none, so the load phase and the YCSB mixes never flush (as the peers'
 * ordinary writes don't); a BENCH_PUT_SYNC write (the durable phase) is
 * cask_put followed by cask_sync, which returns once that write is durable
 * and shares one fdatasync with every writer waiting at the same moment:
 * the group commit that sync=always runs inside cask_put. A get is
 * cask_get_buf: one keydir lookup, then the record is checked (CRC, seq,
 * key) in the data file's read-only mapping and its value copied into the
 * runner's buffer (as Kyoto's get copies into a buffer; LMDB's is
 * zero-copy inside a read transaction). Read-modify-write is the runner's get
 * then put (Bitcask has no transactions). Memory is the keydir's bytes from
 * cask_stats: values live only in the log, so that is the engine's whole
 * per-key cost in memory.
 */
#include "bench/peers/peers.h"
#include "engine/cask.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_cask {
    bench_target hdr;
    cask *c;
    char desc[512];
} bench_cask;

static cask *
bench_cask_of(bench_target *t)
{
    return ((bench_cask *)t)->c;
}

static int
bench_cask_code(bench_target *t, const char *what, int rc)
{
    if (rc >= 0)
        return BENCH_OK;
    if (rc == CASK_ENOTFOUND)
        return BENCH_ENOTFOUND;
    if (rc == CASK_ENOMEM)
        return BENCH_ENOMEM;
    return bench_target_fail(t, what, cask_errdetail());
}

static int
bench_cask_open(const char *arg, const char *dir, const bench_target_opts *o,
                bench_target **out)
{
    bench_cask *b = calloc(1, sizeof(*b));
    kd_options kopt = {0};
    cask_options copt = {0};
    int rc;

    if (b == NULL)
        return BENCH_ENOMEM;
    kopt.capacity_hint = o->keys_hint;
    copt.keydir = arg;
    copt.kd_opt = &kopt;
    copt.sync = CASK_SYNC_NONE;
    rc = cask_open(dir, &copt, &b->c);
    if (rc != CASK_OK) {
        rc = rc == CASK_ENOKEYDIR ? BENCH_ENOTARGET
                                  : bench_cask_code(&b->hdr, dir, rc);
        free(b);
        return rc;
    }
    snprintf(b->desc, sizeof(b->desc),
             "Bitcask engine, keydir %s sized for %llu keys; sync=none for "
             "load and YCSB; durable write = cask_put + cask_sync (group "
             "commit as sync=always: the leader gathers the last round's "
             "writers, one fdatasync covers them all; active file "
             "zero-filled 1 MiB ahead so fdatasync flushes data only); "
             "64 MiB data files, no merge during the run; "
             "get = keydir lookup + CRC-checked copy from the mapped data file "
             "into the caller's buffer; RMW = get then put", arg,
             (unsigned long long)o->keys_hint);
    *out = &b->hdr;
    return BENCH_OK;
}

static void
bench_cask_close(bench_target *t)
{
    cask_close(bench_cask_of(t));
    free(t);
}

static int
bench_cask_enter(bench_target *t, void **state)
{
    cask_thread_register(bench_cask_of(t));
    *state = NULL;
    return BENCH_OK;
}

static void
bench_cask_leave(bench_target *t, void *state)
{
    (void)state;
    cask_thread_unregister(bench_cask_of(t));
}

static int
bench_cask_get(bench_thread *th, const void *key, size_t klen, void *buf,
               size_t cap, size_t *vlen)
{
    int rc = cask_get_buf(bench_cask_of(th->t), key, klen, buf, cap, vlen);

    if (rc == CASK_ETOOBIG)
        return BENCH_ETOOBIG;
    return rc == CASK_OK ? BENCH_OK : bench_cask_code(th->t, "cask_get", rc);
}

static int
bench_cask_put(bench_thread *th, const void *key, size_t klen,
               const void *val, size_t vlen, unsigned flags)
{
    cask *c = bench_cask_of(th->t);
    int rc = cask_put(c, key, klen, val, vlen);

    if (rc != CASK_OK)
        return bench_cask_code(th->t, "cask_put", rc);
    if (flags & BENCH_PUT_SYNC)
        return bench_cask_code(th->t, "cask_sync", cask_sync(c));
    return BENCH_OK;
}

static int
bench_cask_del(bench_thread *th, const void *key, size_t klen)
{
    return bench_cask_code(th->t, "cask_del",
                           cask_del(bench_cask_of(th->t), key, klen));
}

static int
bench_cask_sync(bench_target *t)
{
    return bench_cask_code(t, "cask_sync", cask_sync(bench_cask_of(t)));
}

static int64_t
bench_cask_memory(bench_target *t)
{
    cask_info st;

    if (cask_stats(bench_cask_of(t), &st) != CASK_OK)
        return -1;
    int64_t bytes = (int64_t)st.keydir_bytes;
    cask_info_free(&st);
    return bytes;
}

/* The active file's preallocated pages past its last record. */
static int64_t
bench_cask_reserved(bench_target *t)
{
    cask_info st;

    if (cask_stats(bench_cask_of(t), &st) != CASK_OK)
        return 0;
    int64_t bytes = (int64_t)st.reserved_bytes;
    cask_info_free(&st);
    return bytes;
}

static const char *
bench_cask_describe(bench_target *t)
{
    return ((bench_cask *)t)->desc;
}

const bench_target_ops bench_cask_ops = {
    .kind = "engine",
    .open = bench_cask_open,
    .close = bench_cask_close,
    .thread_enter = bench_cask_enter,
    .thread_leave = bench_cask_leave,
    .get = bench_cask_get,
    .put = bench_cask_put,
    .del = bench_cask_del,
    .rmw = NULL,
    .sync = bench_cask_sync,
    .memory = bench_cask_memory,
    .reserved = bench_cask_reserved,
    .describe = bench_cask_describe,
};
