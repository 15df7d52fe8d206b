/*
 * bench/peers/kyoto.c - Kyoto Cabinet's file hash database (HashDB) as a
 * bench target: the closest peer to Bitcask, a hash-indexed file store.
 *
 * Configuration: bucket count twice keys_hint (Kyoto's advice is 0.5 to 4
 * times the records), a memory map of cache_bytes over the file's head
 * (msiz, Kyoto's only cache), no compression, no transactions. Writers are
 * ordinary (sync=none); for BENCH_PUT_SYNC the set is followed by
 * kcdbsync(hard), which is exactly what KCOAUTOSYNC does after each update.
 * HashDB locks records by slot (reader-writer locks), so threads run
 * concurrently. Read-modify-write uses kcdbaccept, Kyoto's atomic
 * per-record visitor.
 */
#include "bench/peers/peers.h"

#include <kclangc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_kc {
    bench_target hdr;
    KCDB *db;
    char desc[256];
} bench_kc;

static bench_kc *
bench_kc_of(bench_target *t)
{
    return (bench_kc *)t;
}

static int
bench_kc_err(bench_target *t, const char *what)
{
    KCDB *db = bench_kc_of(t)->db;

    if (kcdbecode(db) == KCENOREC)
        return BENCH_ENOTFOUND;
    return bench_target_fail(t, what, kcdbemsg(db));
}

static int
bench_kc_open(const char *arg, const char *dir, const bench_target_opts *o,
              bench_target **out)
{
    bench_kc *k = calloc(1, sizeof(*k));
    uint64_t keys = o->keys_hint ? o->keys_hint : 1000000;
    uint64_t msiz = o->cache_bytes ? o->cache_bytes : 64u << 20;
    char path[4200];

    (void)arg;
    if (k == NULL || (k->db = kcdbnew()) == NULL) {
        free(k);
        return BENCH_ENOMEM;
    }
    snprintf(path, sizeof(path), "%s/casklab.kch#bnum=%llu#msiz=%llu", dir,
             (unsigned long long)(keys * 2), (unsigned long long)msiz);
    if (!kcdbopen(k->db, path, KCOWRITER | KCOCREATE)) {
        int rc = bench_kc_err(&k->hdr, path);
        kcdbdel(k->db);
        free(k);
        return rc;
    }
    snprintf(k->desc, sizeof(k->desc),
             "HashDB, bnum %llu (2x keys), msiz %llu MiB mapped, no "
             "compression, no transactions, kcdbsync(hard) per durable "
             "write (= KCOAUTOSYNC), RMW = kcdbaccept",
             (unsigned long long)(keys * 2),
             (unsigned long long)(msiz >> 20));
    *out = &k->hdr;
    return BENCH_OK;
}

static void
bench_kc_close(bench_target *t)
{
    bench_kc *k = bench_kc_of(t);

    kcdbclose(k->db);
    kcdbdel(k->db);
    free(k);
}

static int
bench_kc_get(bench_thread *th, const void *key, size_t klen, void *buf,
             size_t cap, size_t *vlen)
{
    int32_t n = kcdbgetbuf(bench_kc_of(th->t)->db, key, klen, buf, cap);

    if (n < 0)
        return bench_kc_err(th->t, "kcdbgetbuf");
    *vlen = (size_t)n;
    return BENCH_OK;
}

static int
bench_kc_put(bench_thread *th, const void *key, size_t klen, const void *val,
             size_t vlen, unsigned flags)
{
    KCDB *db = bench_kc_of(th->t)->db;

    if (!kcdbset(db, key, klen, val, vlen))
        return bench_kc_err(th->t, "kcdbset");
    if ((flags & BENCH_PUT_SYNC) && !kcdbsync(db, 1, NULL, NULL))
        return bench_kc_err(th->t, "kcdbsync");
    return BENCH_OK;
}

static int
bench_kc_del(bench_thread *th, const void *key, size_t klen)
{
    if (!kcdbremove(bench_kc_of(th->t)->db, key, klen))
        return bench_kc_err(th->t, "kcdbremove");
    return BENCH_OK;
}

typedef struct bench_kc_rmw_arg {
    unsigned char *buf;
    size_t cap, vlen;
    int found;
} bench_kc_rmw_arg;

static const char *
bench_kc_visit_full(const char *kbuf, size_t ksiz, const char *vbuf,
                    size_t vsiz, size_t *sp, void *opq)
{
    bench_kc_rmw_arg *a = opq;
    size_t n = vsiz < a->cap ? vsiz : a->cap;

    (void)kbuf;
    (void)ksiz;
    memcpy(a->buf, vbuf, n);
    a->buf[0]++;
    a->found = 1;
    *sp = a->vlen;
    return (const char *)a->buf;
}

static const char *
bench_kc_visit_empty(const char *kbuf, size_t ksiz, size_t *sp, void *opq)
{
    (void)kbuf;
    (void)ksiz;
    (void)sp;
    (void)opq;
    return KCVISNOP;
}

static int
bench_kc_rmw(bench_thread *th, const void *key, size_t klen, void *buf,
             size_t cap, size_t vlen)
{
    bench_kc_rmw_arg a = {buf, cap, vlen < cap ? vlen : cap, 0};

    if (!kcdbaccept(bench_kc_of(th->t)->db, key, klen, bench_kc_visit_full,
                    bench_kc_visit_empty, &a, 1))
        return bench_kc_err(th->t, "kcdbaccept");
    return a.found ? BENCH_OK : BENCH_ENOTFOUND;
}

static int
bench_kc_sync(bench_target *t)
{
    if (!kcdbsync(bench_kc_of(t)->db, 1, NULL, NULL))
        return bench_kc_err(t, "kcdbsync");
    return BENCH_OK;
}

static int64_t
bench_kc_memory(bench_target *t)
{
    (void)t;
    return -1; /* its cache is a file mapping: measure the RSS */
}

static const char *
bench_kc_describe(bench_target *t)
{
    return bench_kc_of(t)->desc;
}

const bench_target_ops bench_kyoto_ops = {
    .kind = "peer",
    .open = bench_kc_open,
    .close = bench_kc_close,
    .thread_enter = NULL,
    .thread_leave = NULL,
    .get = bench_kc_get,
    .put = bench_kc_put,
    .del = bench_kc_del,
    .rmw = bench_kc_rmw,
    .sync = bench_kc_sync,
    .memory = bench_kc_memory,
    .describe = bench_kc_describe,
};
