/*
 * bench/target.c - the target registry, the keydir-alone adapter, and the
 * directory helpers every adapter shares.
 *
 * The registry is computed, not stored: keydir targets ("kd:") and engine
 * targets ("cask:", bench/engine_target.c) come from kd_registered() each
 * time, so a keydir merged later is a target of both kinds without any
 * change here; peers follow in a fixed table.
 */
#include "bench/target.h"
#include "bench/peers/peers.h"
#include "ds/keydir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    const bench_target_ops *ops;
} bench_peers[] = {
    {"lmdb", &bench_lmdb_ops},
    {"rocksdb", &bench_rocksdb_ops},
    {"leveldb", &bench_leveldb_ops},
    {"kyoto", &bench_kyoto_ops},
};

#define BENCH_NPEERS (sizeof(bench_peers) / sizeof(bench_peers[0]))

const char *
bench_strerror(int code)
{
    switch (code) {
#define BENCH_MSG_(name, value, msg)                                          \
    case name:                                                                \
        return msg;
        BENCH_ERRORS(BENCH_MSG_)
#undef BENCH_MSG_
    default:
        return "unknown bench error";
    }
}

/* ---- keydir alone --------------------------------------------------------- */

typedef struct bench_kd_target {
    bench_target hdr;
    kd_keydir *kd;
} bench_kd_target;

/* Keydir operations between quiescent announcements (QSBR designs). */
#define BENCH_KD_QUIESCE_EVERY 64

static kd_keydir *
bench_kd_of(bench_thread *th)
{
    return ((bench_kd_target *)th->t)->kd;
}

/* Designs built on quiescent states need one now and then; cheap for all. */
static void
bench_kd_tick(bench_thread *th)
{
    uintptr_t n = (uintptr_t)th->state + 1;

    th->state = (void *)n;
    if (n % BENCH_KD_QUIESCE_EVERY == 0)
        kd_quiescent(bench_kd_of(th));
}

static int
bench_kd_code(int rc)
{
    if (rc >= 0)
        return BENCH_OK;
    if (rc == KD_ENOTFOUND)
        return BENCH_ENOTFOUND;
    return rc == KD_ENOMEM ? BENCH_ENOMEM : BENCH_EINVAL;
}

static int
bench_kd_open(const char *arg, const char *dir, const bench_target_opts *o,
              bench_target **out)
{
    bench_kd_target *t = calloc(1, sizeof(*t));
    kd_options kopt = {0};
    int rc;

    (void)dir;
    if (t == NULL)
        return BENCH_ENOMEM;
    kopt.capacity_hint = o->keys_hint;
    rc = kd_open(arg, &kopt, &t->kd);
    if (rc != KD_OK) {
        free(t);
        return rc == KD_ENOKEYDIR ? BENCH_ENOTARGET : bench_kd_code(rc);
    }
    *out = &t->hdr;
    return BENCH_OK;
}

static void
bench_kd_close(bench_target *t)
{
    kd_close(((bench_kd_target *)t)->kd);
    free(t);
}

static int
bench_kd_enter(bench_target *t, void **state)
{
    kd_thread_register(((bench_kd_target *)t)->kd);
    *state = NULL; /* used as this thread's operation counter */
    return BENCH_OK;
}

static void
bench_kd_leave(bench_target *t, void *state)
{
    (void)state;
    kd_quiescent(((bench_kd_target *)t)->kd);
    kd_thread_unregister(((bench_kd_target *)t)->kd);
}

/* A keydir holds no value: get reports the stored value size only. */
static int
bench_kd_get(bench_thread *th, const void *key, size_t klen, void *buf,
             size_t cap, size_t *vlen)
{
    kd_entry e;
    int rc = kd_get(bench_kd_of(th), key, klen, &e);

    (void)buf;
    (void)cap;
    bench_kd_tick(th);
    if (rc != KD_OK)
        return bench_kd_code(rc);
    *vlen = e.value_size;
    return BENCH_OK;
}

static int
bench_kd_put(bench_thread *th, const void *key, size_t klen, const void *val,
             size_t vlen, unsigned flags)
{
    /* Entries look like a log's: per-thread file, growing offsets. */
    kd_entry e = {th->id, (uint32_t)vlen, th->seq * (klen + vlen + 16),
                  (th->seq << 10) | th->id};
    int rc = kd_put(bench_kd_of(th), key, klen, &e, NULL);

    (void)val;
    (void)flags;
    th->seq++;
    bench_kd_tick(th);
    return bench_kd_code(rc);
}

static int
bench_kd_del(bench_thread *th, const void *key, size_t klen)
{
    int rc = kd_del(bench_kd_of(th), key, klen, NULL);

    bench_kd_tick(th);
    return bench_kd_code(rc);
}

static int
bench_kd_sync(bench_target *t)
{
    (void)t;
    return BENCH_OK;
}

static int64_t
bench_kd_memory(bench_target *t)
{
    return (int64_t)kd_memory(((bench_kd_target *)t)->kd);
}

static const char *
bench_kd_describe(bench_target *t)
{
    (void)t;
    return "index only: put stores a 24-byte entry, get copies it out; "
           "values are not stored, nothing reaches disk, sync is a no-op";
}

static const bench_target_ops bench_kd_ops = {
    .kind = "keydir",
    .open = bench_kd_open,
    .close = bench_kd_close,
    .thread_enter = bench_kd_enter,
    .thread_leave = bench_kd_leave,
    .get = bench_kd_get,
    .put = bench_kd_put,
    .del = bench_kd_del,
    .rmw = NULL,
    .sync = bench_kd_sync,
    .memory = bench_kd_memory,
    .describe = bench_kd_describe,
};

/* ---- registry ------------------------------------------------------------- */

/* The i-th keydir a benchmark may use, skipping the test-only ones. */
static const kd_ops *
bench_kd_nth(size_t i)
{
    for (size_t j = 0; kd_registered(j) != NULL; j++) {
        const kd_ops *k = kd_registered(j);
        if (k->flags & KD_FLAG_TEST_ONLY)
            continue;
        if (i-- == 0)
            return k;
    }
    return NULL;
}

static size_t
bench_kd_count(void)
{
    size_t n = 0;

    while (bench_kd_nth(n) != NULL)
        n++;
    return n;
}

/* Keydirs alone ("kd:"), then the engine over each keydir ("cask:"), then
   the peers. */
const char *
bench_target_name(size_t i)
{
    static _Thread_local char buf[80];
    size_t nkd = bench_kd_count();

    if (i < 2 * nkd) {
        snprintf(buf, sizeof(buf), "%s:%s", i < nkd ? "kd" : "cask",
                 bench_kd_nth(i % nkd)->name);
        return buf;
    }
    i -= 2 * nkd;
    return i < BENCH_NPEERS ? bench_peers[i].name : NULL;
}

/* The benchmarkable keydir named after `prefix` in name, or NULL. */
static const char *
bench_kd_arg(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    const kd_ops *k;

    if (strncmp(name, prefix, n) != 0)
        return NULL;
    k = kd_lookup(name + n);
    if (k == NULL || (k->flags & KD_FLAG_TEST_ONLY))
        return NULL;
    return name + n;
}

/* Resolves a name to its operations table and open() argument. */
static const bench_target_ops *
bench_resolve(const char *name, const char **arg)
{
    if ((*arg = bench_kd_arg(name, "kd:")) != NULL)
        return &bench_kd_ops;
    if ((*arg = bench_kd_arg(name, "cask:")) != NULL)
        return &bench_cask_ops;
    for (size_t i = 0; i < BENCH_NPEERS; i++)
        if (strcmp(name, bench_peers[i].name) == 0)
            return bench_peers[i].ops;
    return NULL;
}

int
bench_target_exists(const char *name, const char **kind)
{
    const char *arg;
    const bench_target_ops *ops = bench_resolve(name, &arg);

    if (ops != NULL && kind != NULL)
        *kind = ops->kind;
    return ops != NULL;
}

/* The last failure of a target in this thread (bench_last_error). */
static _Thread_local char bench_last_msg[256];

int
bench_target_open(const char *name, const char *dir,
                  const bench_target_opts *o, bench_target **out)
{
    const char *arg;
    const bench_target_ops *ops = bench_resolve(name, &arg);
    bench_target_opts zero = {0};
    int rc;

    if (ops == NULL)
        return BENCH_ENOTARGET;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(bench_last_msg, sizeof(bench_last_msg), "%s: mkdir: %s", dir,
                 strerror(errno));
        return BENCH_EIO;
    }
    rc = ops->open(arg, dir, o ? o : &zero, out);
    if (rc != BENCH_OK)
        return rc;
    (*out)->ops = ops;
    snprintf((*out)->name, sizeof((*out)->name), "%s", name);
    return BENCH_OK;
}

void
bench_target_close(bench_target *t)
{
    if (t != NULL)
        t->ops->close(t);
}

int
bench_thread_enter(bench_target *t, unsigned id, bench_thread *th)
{
    *th = (bench_thread){t, id, 0, NULL};
    return t->ops->thread_enter ? t->ops->thread_enter(t, &th->state)
                                : BENCH_OK;
}

void
bench_thread_leave(bench_thread *th)
{
    if (th->t->ops->thread_leave)
        th->t->ops->thread_leave(th->t, th->state);
}

int
bench_rmw(bench_thread *th, const void *key, size_t klen, void *buf,
          size_t cap, size_t vlen)
{
    size_t got = 0;
    int rc;

    if (th->t->ops->rmw)
        return th->t->ops->rmw(th, key, klen, buf, cap, vlen);
    rc = bench_get(th, key, klen, buf, cap, &got);
    if (rc != BENCH_OK)
        return rc;
    ((unsigned char *)buf)[0]++;
    return bench_put(th, key, klen, buf, vlen, 0);
}

int
bench_target_fail(bench_target *t, const char *what, const char *msg)
{
    snprintf(t->error, sizeof(t->error), "%s: %s", what,
             msg ? msg : "(no message)");
    memcpy(bench_last_msg, t->error, sizeof(bench_last_msg));
    return BENCH_EENGINE;
}

const char *
bench_last_error(void)
{
    return bench_last_msg;
}

/* ---- directories ---------------------------------------------------------- */

/* Applies fn to each entry of dir (not . and ..) with its full path. */
static int
bench_walk(const char *dir, int (*fn)(const char *path, void *arg), void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096];
    int rc = 0;

    if (d == NULL)
        return -1;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
            (int)sizeof(path))
            rc = -1;
        else
            rc = fn(path, arg);
    }
    closedir(d);
    return rc;
}

static int
bench_add_bytes(const char *path, void *arg)
{
    bench_disk *d = arg;
    struct stat st;

    if (lstat(path, &st) != 0)
        return -1;
    int64_t alloc = (int64_t)st.st_blocks * 512;
    int64_t size = ((int64_t)st.st_size + 4095) / 4096 * 4096;
    d->alloc += alloc;
    d->data += S_ISREG(st.st_mode) && size < alloc ? size : alloc;
    if (S_ISDIR(st.st_mode))
        return bench_walk(path, bench_add_bytes, arg);
    return 0;
}

int
bench_dir_usage(const char *dir, bench_disk *d)
{
    *d = (bench_disk){0, 0};
    return bench_walk(dir, bench_add_bytes, d) == 0 ? 0 : -1;
}

static int
bench_rm_one(const char *path, void *arg)
{
    struct stat st;

    (void)arg;
    if (lstat(path, &st) != 0)
        return -1;
    if (S_ISDIR(st.st_mode) && bench_walk(path, bench_rm_one, NULL) != 0)
        return -1;
    return remove(path);
}

int
bench_rmtree(const char *dir)
{
    if (bench_walk(dir, bench_rm_one, NULL) != 0)
        return -1;
    return rmdir(dir);
}
