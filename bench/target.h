/*
 * bench/target.h - what `casklab bench` measures: a store behind one API.
 *
 * A target is anything that maps keys to values: a keydir alone (the index
 * without the log: put stores an entry, get copies it out), a peer engine
 * (LMDB, RocksDB, LevelDB, Kyoto Cabinet's HashDB, in bench/peers/) and
 * the casklab engine with each keydir (bench/engine_target.c). Each kind plugs in by
 * filling one bench_target_ops table; the runner never knows which it drives.
 *
 * Names: keydir targets are "kd:<keydir>" and engine targets "cask:<keydir>"
 * for every registered keydir that is not KD_FLAG_TEST_ONLY (keydirs merged
 * later appear by themselves); peers go by their engine's name ("lmdb",
 * "rocksdb", "leveldb", "kyoto").
 *
 * Adding a target: write one adapter file like bench/peers/lmdb.c filling
 * bench_target_ops and list it in bench/target.c's registry. The runner,
 * CLI, files and plots need no change; its flushes are counted like the
 * peers' (bench_flush_count).
 *
 * Errors: every operation returns 0 or a negative code from BENCH_ERRORS
 * (bench_strerror names it); an engine's own message is kept in the target
 * and read with bench_target_error.
 *
 * Threads: open and close are called by one thread with no operation in
 * flight. Every other operation may be called by many threads at once, each
 * through its own bench_thread (from bench_thread_enter, released with
 * bench_thread_leave), which carries per-thread state such as a reusable
 * read transaction or the keydir's thread registration. Adapters serialise
 * internally where their engine needs it (LMDB has one writer at a time).
 *
 * This header compiles as C and as C++.
 */
#ifndef BENCH_TARGET_H
#define BENCH_TARGET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_ERRORS(X)                                                       \
    X(BENCH_OK,        0,  "ok")                                              \
    X(BENCH_ENOTFOUND, -1, "key not found")                                   \
    X(BENCH_ENOMEM,    -2, "out of memory")                                   \
    X(BENCH_EINVAL,    -3, "invalid argument")                                \
    X(BENCH_ENOTARGET, -4, "no target of that name")                          \
    X(BENCH_EENGINE,   -5, "the engine reported an error")                    \
    X(BENCH_EIO,       -6, "input/output error")                              \
    X(BENCH_ETOOBIG,   -7, "value larger than the caller's buffer")

enum bench_code {
#define BENCH_ENUM_(name, value, msg) name = (value),
    BENCH_ERRORS(BENCH_ENUM_)
#undef BENCH_ENUM_
};

/* A message for any code of this module (never NULL). */
const char *bench_strerror(int code);

/* How the runner wants a target set up; zero means the default. */
typedef struct bench_target_opts {
    uint64_t keys_hint;   /* keys expected (sizes hash tables, LMDB map) */
    uint32_t key_size;    /* bytes per key */
    uint32_t value_size;  /* bytes per value */
    uint64_t cache_bytes; /* engines with a block cache: its size */
    unsigned threads;     /* worker threads that will use it */
} bench_target_opts;

/* Flags of bench_target_put. */
enum bench_put_flags {
    BENCH_PUT_SYNC = 1u << 0, /* durable on return: the engine's own way of
                                 syncing one write (fdatasync of its log) */
};

typedef struct bench_target bench_target;
typedef struct bench_thread bench_thread;

typedef struct bench_target_ops {
    const char *kind; /* "keydir", "peer" or "engine" */
    /* arg: the keydir name for "kd:" and "cask:" targets, NULL for peers. dir: an empty
       directory the target owns until close. */
    int (*open)(const char *arg, const char *dir, const bench_target_opts *o,
                bench_target **out);
    void (*close)(bench_target *t);
    /* Optional per-thread state; NULL hooks mean none is needed. */
    int (*thread_enter)(bench_target *t, void **state);
    void (*thread_leave)(bench_target *t, void *state);
    /* Copies the value into buf (cap bytes) and its length into *vlen. */
    int (*get)(bench_thread *th, const void *key, size_t klen, void *buf,
               size_t cap, size_t *vlen);
    int (*put)(bench_thread *th, const void *key, size_t klen,
               const void *val, size_t vlen, unsigned flags);
    int (*del)(bench_thread *th, const void *key, size_t klen);
    /* Optional: read-modify-write in one engine transaction; NULL means
       get then put (YCSB F's definition for engines without one). */
    int (*rmw)(bench_thread *th, const void *key, size_t klen, void *buf,
               size_t cap, size_t vlen);
    /* Makes every acknowledged write durable. */
    int (*sync)(bench_target *t);
    /* Bytes of memory the target reports for its own structures, or -1 when
       it cannot say (the runner then measures the resident set instead). */
    int64_t (*memory)(bench_target *t);
    /* Optional: bytes preallocated inside the target's files' sizes that
       hold no data yet (the engine's active file), which the runner
       subtracts from the files' bytes; NULL means none. */
    int64_t (*reserved)(bench_target *t);
    /* One line saying how the target is configured, for the report. */
    const char *(*describe)(bench_target *t);
} bench_target_ops;

/* Every target's handle starts with this header. */
struct bench_target {
    const bench_target_ops *ops;
    char name[64];
    char error[256]; /* the engine's last message, for bench_target_error */
};

/* One thread's view of a target. */
struct bench_thread {
    bench_target *t;
    unsigned id;    /* 0..threads-1 */
    uint64_t seq;   /* per-thread write counter (keydir entries use it) */
    void *state;    /* the adapter's per-thread state */
};

/* Target names, in order: keydirs, engines, then peers. NULL past the end.
   The string may live in a per-thread buffer reused by the next call:
   copy it to keep it. */
const char *bench_target_name(size_t i);

/* True if `name` names a target; *kind gets its kind when not NULL. */
int bench_target_exists(const char *name, const char **kind);

/* Opens target `name` over directory dir (created if missing). */
int bench_target_open(const char *name, const char *dir,
                      const bench_target_opts *o, bench_target **out);
void bench_target_close(bench_target *t);

int bench_thread_enter(bench_target *t, unsigned id, bench_thread *th);
void bench_thread_leave(bench_thread *th);

static inline int
bench_get(bench_thread *th, const void *key, size_t klen, void *buf,
          size_t cap, size_t *vlen)
{
    return th->t->ops->get(th, key, klen, buf, cap, vlen);
}

static inline int
bench_put(bench_thread *th, const void *key, size_t klen, const void *val,
          size_t vlen, unsigned flags)
{
    return th->t->ops->put(th, key, klen, val, vlen, flags);
}

static inline int
bench_del(bench_thread *th, const void *key, size_t klen)
{
    return th->t->ops->del(th, key, klen);
}

/* Read-modify-write: reads the value into buf, changes its first byte and
   writes vlen bytes back. */
int bench_rmw(bench_thread *th, const void *key, size_t klen, void *buf,
              size_t cap, size_t vlen);

static inline int
bench_sync(bench_target *t)
{
    return t->ops->sync(t);
}

static inline int64_t
bench_target_memory(bench_target *t)
{
    return t->ops->memory(t);
}

static inline int64_t
bench_target_reserved(bench_target *t)
{
    return t->ops->reserved != NULL ? t->ops->reserved(t) : 0;
}

static inline const char *
bench_target_describe(bench_target *t)
{
    return t->ops->describe(t);
}

/* The engine's last error message ("" when none). */
static inline const char *
bench_target_error(const bench_target *t)
{
    return t->error;
}

/* Records an engine message in t and returns BENCH_EENGINE (adapters). */
int bench_target_fail(bench_target *t, const char *what, const char *msg);

/* The calling thread's last engine message from bench_target_fail: how a
   failed bench_target_open, whose handle is gone, still explains itself. */
const char *bench_last_error(void);

/* Disk use under dir. alloc: blocks allocated (st_blocks: sparse maps count
   what they use, preallocated space counts). data: the same, but each file
   counts at most its size rounded up to whole 4 KiB blocks, so space
   reserved past a file's end (fallocate KEEP_SIZE, as RocksDB's logs) does
   not. Returns 0, or -1 if dir cannot be walked. */
typedef struct bench_disk {
    int64_t alloc, data;
} bench_disk;
int bench_dir_usage(const char *dir, bench_disk *d);

/* fsync, fdatasync and msync(MS_SYNC) calls made by this process so far,
   by any thread or library (bench/syncount.c interposes them). */
uint64_t bench_flush_count(void);

/* Removes dir and everything under it; 0 or -1. */
int bench_rmtree(const char *dir);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_TARGET_H */
