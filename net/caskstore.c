/*
 * net/caskstore.c - the engine (engine/cask.h) behind the server's store
 * interface (net/store.h).
 *
 * The engine keeps an expiry in each record but does not tell it back, and
 * TTL/KEEPTTL/EXPIRE need to read it; so every value the server stores
 * carries an 8-byte little-endian header holding its expire_at (ms since
 * the epoch, 0 = none), and a store directory written by `casklab serve`
 * is only meant to be read back by `casklab serve`. The header is the
 * authority on expiry; a plain SET with EX/PX also hands the TTL to
 * cask_put_ttl, so the engine hides the record itself and a merge drops it.
 * A writable open leaves the marker file SRV_SERVED_MARK, which tells
 * `casklab put` and `get` to frame and unframe values the same way.
 *
 * Conditional writes (NX, XX, KEEPTTL, EXPIRE, our CAS, and DEL of a key
 * whose header says expired) read the current record and replace it with
 * cask_cas against exactly the bytes read, retrying if another writer got
 * there first: each is linearizable at its successful cask_cas, plain SET
 * at its cask_put and GET at its cask_get (engine/cask.h). keys() is
 * cask_fold's consistent snapshot. Every engine failure maps to an SRV_
 * code; a store poisoned by a failed write or fsync answers SRV_EIO to
 * every write from then on, never success.
 *
 * Durability with sync=always: the engine itself would fdatasync inside
 * every cask_put, so a pipelined batch of N writes would wait for N
 * fdatasyncs one after the other, each holding a pool worker. Instead the
 * adapter opens the engine with CASK_SYNC_NONE, each worker notes that it
 * wrote (a thread-local flag, which wrote() reads and clears: a worker
 * runs one batch at a time), and commit() runs cask_sync, which makes
 * every write returned so far durable; the server holds the replies of
 * the batches that wrote until such a commit (net/store.h), so one
 * fdatasync covers all of them. As with Redis's appendfsync always, a
 * value is visible to readers a moment before it is durable; it is
 * acknowledged only after.
 */
#include "net/caskstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CS_HDR = 8 };

typedef struct cs_store {
    srv_store base;
    cask *c;
} cs_store;

/* The calling worker wrote since its last commit (see above). */
static _Thread_local int cs_dirty;

static cask *
cs_of(srv_store *s)
{
    return ((cs_store *)s)->c;
}

/* The server's code for an engine result. A full disk keeps its own code
 * after it poisoned the store, so that every refused write says why. */
static int
cs_err(cask *c, int rc)
{
    switch (rc) {
    case CASK_OK: return 0;
    case CASK_ENOTFOUND: return SRV_ENOTFOUND;
    case CASK_ECHANGED: return SRV_EMISMATCH;
    case CASK_ENOMEM: return SRV_ENOMEM;
    case CASK_EINVAL: case CASK_ETOOBIG: return SRV_EINVAL;
    case CASK_ENOSPC: return SRV_ENOSPC;
    case CASK_EREADONLY: return SRV_EREADONLY;
    case CASK_EPOISONED:
        return cask_poisoned(c) == CASK_ENOSPC ? SRV_ENOSPC : SRV_EIO;
    case CASK_ECORRUPT: return SRV_ECORRUPT; /* that record: not poisoned */
    default: return SRV_EIO; /* EIO, ... */
    }
}

static int64_t
cs_hdr_get(const void *raw)
{
    const unsigned char *p = raw;
    uint64_t v = 0;

    for (int i = CS_HDR - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static void
cs_hdr_put(void *raw, int64_t expire_at)
{
    unsigned char *p = raw;
    uint64_t v = (uint64_t)expire_at;

    for (int i = 0; i < CS_HDR; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

/* A record as stored: header + value, malloc'd. */
static char *
cs_encode(const void *val, size_t vlen, int64_t expire_at)
{
    char *raw = malloc(CS_HDR + vlen);

    if (raw != NULL) {
        cs_hdr_put(raw, expire_at);
        if (vlen > 0)
            memcpy(raw + CS_HDR, val, vlen);
    }
    return raw;
}

void *
srv_caskstore_encode(const void *val, size_t vlen, int64_t expire_at,
                     size_t *rawlen)
{
    *rawlen = CS_HDR + vlen;
    return cs_encode(val, vlen, expire_at);
}

int
srv_caskstore_decode(const void *raw, size_t len, int64_t now_ms,
                     const void **val, size_t *vlen)
{
    if (len < CS_HDR)
        return -1;
    int64_t at = cs_hdr_get(raw);
    *val = (const char *)raw + CS_HDR;
    *vlen = len - CS_HDR;
    return at == 0 || at > now_ms;
}

int
srv_caskstore_served(const char *dir)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/%s", dir, SRV_SERVED_MARK);
    return access(path, F_OK) == 0;
}

/* Leaves the marker in a writable store (best effort: without it the
 * command line shows values raw, as it did before the marker). */
static void
cs_mark(const char *dir)
{
    static const char text[] =
        "Written by casklab serve: each value starts with an 8-byte "
        "little-endian expiry (ms since the epoch, 0 = none).\n";
    char path[4096];
    int fd;

    snprintf(path, sizeof path, "%s/%s", dir, SRV_SERVED_MARK);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return; /* there already, or cannot be written */
    if (write(fd, text, sizeof text - 1) < 0)
        (void)unlink(path);
    close(fd);
}

static int
cs_live(int64_t expire_at)
{
    return expire_at == 0 || expire_at > srv_now_ms();
}

/*
 * The key's raw record. Returns 0 (live), SRV_ENOTFOUND (absent: *raw is
 * NULL), SRV_ECOND (present in the engine but expired by its header: *raw
 * holds it, for a cas against it), or an error.
 */
static int
cs_read(cask *c, const void *key, size_t klen, char **raw, size_t *rlen)
{
    void *v = NULL;
    int rc = cask_get(c, key, klen, &v, rlen);

    *raw = NULL;
    if (rc != 0)
        return cs_err(c, rc);
    if (*rlen < CS_HDR) {
        free(v);
        return SRV_ECORRUPT; /* not written by this adapter */
    }
    *raw = v;
    return cs_live(cs_hdr_get(v)) ? 0 : SRV_ECOND;
}

static int
cs_get(srv_store *s, const void *key, size_t klen, char **val, size_t *vlen)
{
    char *raw;
    size_t rlen;
    int rc = cs_read(cs_of(s), key, klen, &raw, &rlen);

    if (rc == SRV_ECOND)
        rc = SRV_ENOTFOUND;
    if (rc != 0) {
        free(raw);
        return rc;
    }
    *vlen = rlen - CS_HDR;
    memmove(raw, raw + CS_HDR, *vlen);
    *val = raw; /* at least CS_HDR bytes: never NULL */
    return 0;
}

/*
 * One read-decide-cas round of a conditional update. decide() looks at the
 * current state (live: 1 or 0, and its raw bytes) and either fills *next
 * (malloc'd raw record, or NULL to delete) and returns 0, or returns the
 * operation's answer (SRV_ECOND, SRV_ENOTFOUND, ...). Retries while other
 * writers change the key between the read and the cas.
 */
typedef int (*cs_decide_fn)(int live, const char *raw, size_t rlen,
                            void *arg, char **next, size_t *nlen);

static int
cs_update(cask *c, const void *key, size_t klen, cs_decide_fn decide,
          void *arg, int *was_live)
{
    for (;;) {
        char *raw, *next = NULL;
        size_t rlen = 0, nlen = 0;
        int rc = cs_read(c, key, klen, &raw, &rlen), live = rc == 0;

        if (rc != 0 && rc != SRV_ENOTFOUND && rc != SRV_ECOND)
            return rc;
        rc = decide(live, raw, rlen, arg, &next, &nlen);
        if (rc == 0 && (raw != NULL || next != NULL)) {
            rc = cs_err(c, cask_cas(c, key, klen, raw, rlen, next, nlen));
            cs_dirty = 1;
        }
        free(raw);
        free(next);
        if (rc != SRV_EMISMATCH) {
            if (was_live != NULL)
                *was_live = live;
            return rc;
        }
    }
}

typedef struct cs_setarg {
    const void *val;
    size_t vlen;
    const srv_set_opts *opt;
} cs_setarg;

static int
cs_decide_set(int live, const char *raw, size_t rlen, void *arg, char **next,
              size_t *nlen)
{
    const cs_setarg *a = arg;
    int64_t exp = a->opt->expire_at;

    (void)rlen;
    if ((a->opt->nx && live) || (a->opt->xx && !live))
        return SRV_ECOND;
    if (a->opt->keep_ttl)
        exp = live ? cs_hdr_get(raw) : 0;
    *next = cs_encode(a->val, a->vlen, exp);
    *nlen = CS_HDR + a->vlen;
    return *next != NULL ? 0 : SRV_ENOMEM;
}

static int
cs_set(srv_store *s, const void *key, size_t klen, const void *val,
       size_t vlen, const srv_set_opts *opt)
{
    cs_setarg a = {val, vlen, opt};
    int64_t ttl = 0;
    char *raw;
    int rc;

    if (opt->nx || opt->xx || opt->keep_ttl)
        return cs_update(cs_of(s), key, klen, cs_decide_set, &a, NULL);
    if (opt->expire_at != 0) {
        ttl = opt->expire_at - srv_now_ms();
        if (ttl <= 0)
            ttl = 1; /* already due: invisible at once, by the header too */
    }
    raw = cs_encode(val, vlen, opt->expire_at);
    if (raw == NULL)
        return SRV_ENOMEM;
    rc = cask_put_ttl(cs_of(s), key, klen, raw, CS_HDR + vlen, (uint64_t)ttl);
    cs_dirty = 1;
    free(raw);
    return cs_err(cs_of(s), rc);
}

static int
cs_decide_del(int live, const char *raw, size_t rlen, void *arg, char **next,
              size_t *nlen)
{
    (void)live, (void)raw, (void)rlen, (void)arg;
    *next = NULL;
    *nlen = 0;
    return 0;
}

static int
cs_del(srv_store *s, const void *key, size_t klen)
{
    int live = 0;
    int rc = cs_update(cs_of(s), key, klen, cs_decide_del, NULL, &live);

    return rc == 0 && !live ? SRV_ENOTFOUND : rc;
}

static int
cs_exists(srv_store *s, const void *key, size_t klen)
{
    char *raw;
    size_t rlen;
    int rc = cs_read(cs_of(s), key, klen, &raw, &rlen);

    free(raw);
    return rc == SRV_ECOND ? SRV_ENOTFOUND : rc;
}

typedef struct cs_casarg {
    const void *old, *val;
    size_t oldlen, vlen;
} cs_casarg;

static int
cs_decide_cas(int live, const char *raw, size_t rlen, void *arg, char **next,
              size_t *nlen)
{
    const cs_casarg *a = arg;

    if (!live)
        return SRV_ENOTFOUND;
    if (rlen - CS_HDR != a->oldlen ||
        (a->oldlen > 0 && memcmp(raw + CS_HDR, a->old, a->oldlen) != 0))
        return SRV_ECOND; /* reported as SRV_EMISMATCH by cs_cas */
    *next = cs_encode(a->val, a->vlen, cs_hdr_get(raw));
    *nlen = CS_HDR + a->vlen;
    return *next != NULL ? 0 : SRV_ENOMEM;
}

static int
cs_cas(srv_store *s, const void *key, size_t klen, const void *old,
       size_t oldlen, const void *val, size_t vlen)
{
    cs_casarg a = {old, val, oldlen, vlen};
    int rc = cs_update(cs_of(s), key, klen, cs_decide_cas, &a, NULL);

    /* SRV_EMISMATCH from cs_update only ever means "retry", so the value
     * mismatch travels as SRV_ECOND until here. */
    return rc == SRV_ECOND ? SRV_EMISMATCH : rc;
}

static int
cs_decide_expire(int live, const char *raw, size_t rlen, void *arg,
                 char **next, size_t *nlen)
{
    if (!live)
        return SRV_ENOTFOUND;
    *next = malloc(rlen);
    if (*next == NULL)
        return SRV_ENOMEM;
    memcpy(*next, raw, rlen);
    cs_hdr_put(*next, *(const int64_t *)arg);
    *nlen = rlen;
    return 0;
}

static int
cs_expire(srv_store *s, const void *key, size_t klen, int64_t expire_at)
{
    return cs_update(cs_of(s), key, klen, cs_decide_expire, &expire_at, NULL);
}

static int
cs_ttl(srv_store *s, const void *key, size_t klen, int64_t *expire_at)
{
    char *raw;
    size_t rlen;
    int rc = cs_read(cs_of(s), key, klen, &raw, &rlen);

    if (rc == 0)
        *expire_at = cs_hdr_get(raw);
    free(raw);
    return rc == SRV_ECOND ? SRV_ENOTFOUND : rc;
}

typedef struct cs_keylist {
    srv_keys k;
    size_t cap;
} cs_keylist;

static int
cs_fold_key(const void *key, size_t klen, const void *val, size_t vlen,
            void *arg)
{
    cs_keylist *l = arg;
    char *copy;

    if (vlen < CS_HDR || !cs_live(cs_hdr_get(val)))
        return 0;
    if (l->k.n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **keys = realloc(l->k.keys, cap * sizeof(*keys));
        if (keys == NULL)
            return SRV_ENOMEM;
        l->k.keys = keys;
        size_t *lens = realloc(l->k.lens, cap * sizeof(*lens));
        if (lens == NULL)
            return SRV_ENOMEM;
        l->k.lens = lens;
        l->cap = cap;
    }
    copy = malloc(klen);
    if (copy == NULL)
        return SRV_ENOMEM;
    memcpy(copy, key, klen);
    l->k.keys[l->k.n] = copy;
    l->k.lens[l->k.n++] = klen;
    return 0;
}

static int
cs_keys(srv_store *s, srv_keys *out)
{
    cs_keylist l = {{0, NULL, NULL}, 0};
    int rc = cask_fold(cs_of(s), cs_fold_key, &l);

    if (rc != 0) {
        srv_keys_free(&l.k);
        return rc == SRV_ENOMEM ? rc : cs_err(cs_of(s), rc);
    }
    *out = l.k;
    return 0;
}

static uint64_t
cs_count(srv_store *s)
{
    cask_info st;
    uint64_t n;

    /* As Redis's DBSIZE: expired keys count until they are reclaimed. */
    if (cask_stats(cs_of(s), &st) != 0)
        return 0;
    n = st.keys;
    cask_info_free(&st);
    return n;
}

static int
cs_flush(srv_store *s)
{
    srv_keys k;
    int rc = cs_keys(s, &k);

    if (rc != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < k.n; i++) {
        rc = cs_del(s, k.keys[i], k.lens[i]);
        if (rc == SRV_ENOTFOUND)
            rc = 0; /* deleted or expired meanwhile */
    }
    srv_keys_free(&k);
    return rc;
}

static int
cs_merge(srv_store *s)
{
    int rc = cask_merge(cs_of(s), CASK_MERGE_ALL);

    return rc < 0 ? cs_err(cs_of(s), rc) : 0;
}

static int
cs_sync(srv_store *s)
{
    return cs_err(cs_of(s), cask_sync(cs_of(s)));
}

/* commit() answers as net/store.h says: 0, SRV_ENOSPC for a full disk,
 * SRV_EIO for any other failure, so that the server can turn every reply
 * it covered into that one error. */
static int
cs_commit(srv_store *s)
{
    int rc = cs_sync(s);

    return rc == 0 || rc == SRV_ENOSPC ? rc : SRV_EIO;
}

static void
cs_stats(srv_store *s, srv_store_stats *out)
{
    cask_info st;

    memset(out, 0, sizeof(*out));
    out->backend = "cask";
    if (cask_stats(cs_of(s), &st) != 0) {
        out->keydir = "";
        return;
    }
    out->keys = st.keys;
    out->bytes = st.total_bytes;
    out->files = st.files;
    out->merges = st.merges;
    out->keydir = st.keydir; /* the keydir's registered name: static */
    out->index_bytes = st.keydir_bytes;
    cask_info_free(&st);
}

static void
cs_thread_start(srv_store *s)
{
    cask_thread_register(cs_of(s));
}

static void
cs_thread_stop(srv_store *s)
{
    cask_thread_unregister(cs_of(s));
}

static int
cs_wrote(srv_store *s)
{
    int w = cs_dirty;

    (void)s;
    cs_dirty = 0;
    return w;
}

static void
cs_destroy(srv_store *s)
{
    cask_close(cs_of(s));
    free(s);
}

static const srv_store_ops cs_ops = {
    .get = cs_get, .set = cs_set, .del = cs_del, .exists = cs_exists,
    .cas = cs_cas, .expire = cs_expire, .ttl = cs_ttl, .keys = cs_keys,
    .count = cs_count, .flush = cs_flush, .merge = cs_merge,
    .sync = cs_sync, .stats = cs_stats, .thread_start = cs_thread_start,
    .thread_stop = cs_thread_stop, .destroy = cs_destroy,
};

/* As cs_ops, with the per-batch group commit of sync=always. */
static const srv_store_ops cs_ops_commit = {
    .get = cs_get, .set = cs_set, .del = cs_del, .exists = cs_exists,
    .cas = cs_cas, .expire = cs_expire, .ttl = cs_ttl, .keys = cs_keys,
    .count = cs_count, .flush = cs_flush, .merge = cs_merge,
    .sync = cs_sync, .stats = cs_stats, .thread_start = cs_thread_start,
    .thread_stop = cs_thread_stop, .destroy = cs_destroy,
    .wrote = cs_wrote, .commit = cs_commit,
};

int
srv_caskstore_open(const char *dir, const cask_options *opt, srv_store **out,
                   char *errbuf, size_t errlen)
{
    cs_store *s = calloc(1, sizeof(*s));
    cask_options o = {0};
    int always, rc;

    if (s == NULL)
        return SRV_ENOMEM;
    if (opt != NULL)
        o = *opt;
    always = o.sync == CASK_SYNC_ALWAYS;
    if (always)
        o.sync = CASK_SYNC_NONE; /* commit() syncs, once per batch */
    rc = cask_open(dir, &o, &s->c);
    if (rc != 0) {
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "%s: %s (%s)", dir, cask_strerror(rc),
                     cask_errdetail());
        free(s);
        return rc == CASK_ENOMEM ? SRV_ENOMEM
             : rc == CASK_EINVAL || rc == CASK_ENOKEYDIR ? SRV_EINVAL
             : rc == CASK_ENOSPC ? SRV_ENOSPC : SRV_EIO;
    }
    if (!o.read_only)
        cs_mark(dir);
    s->base.ops = always ? &cs_ops_commit : &cs_ops;
    *out = &s->base;
    return 0;
}
