/*
 * engine/cask.h - the Bitcask store: an append-only log of records plus an
 * in-memory keydir (ds/keydir.h, chosen by name at open) mapping each key to
 * its latest record. Sheehy & Smith, "Bitcask: A Log-Structured Hash Table
 * for Fast Key/Value Data" (Basho, 2010). On-disk layout: engine/FORMAT.md;
 * concurrency, durability and recovery arguments: engine/DESIGN.md.
 *
 * Errors: every function returns an int, 0 (or a non-negative count) on
 * success and a negative code from CASK_ERRORS on failure; cask_strerror
 * names the code. The failing call also leaves a message naming the file and
 * offset involved in the calling thread's cask_errdetail() buffer (valid
 * until that thread's next failing call; cask_open failures included, since
 * they have no handle to hang a message on).
 *
 * Threads: every operation except cask_close may be called by many threads
 * at once. A thread calls cask_thread_register before its first operation
 * on a store and cask_thread_unregister after its last (they forward to the
 * keydir, whose reclamation may need them, and to the store's own epoch
 * domain, which frees merged-away files; a thread between operations never
 * holds that one back). Linearizability, blocking and durability of each
 * operation are stated at its declaration.
 *
 * Keys are 1..CASK_KEY_MAX bytes, values 0..CASK_VALUE_MAX bytes, both
 * binary-safe and copied.
 *
 * This header compiles as C and as C++.
 */
#ifndef ENGINE_CASK_H
#define ENGINE_CASK_H

#include <stddef.h>
#include <stdint.h>

#include "ds/keydir.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CASK_KEY_MAX   65536u
#define CASK_VALUE_MAX (64u << 20)

/* X-macro: name, value, message. */
#define CASK_ERRORS(X)                                                        \
    X(CASK_OK,         0,   "ok")                                             \
    X(CASK_ENOTFOUND,  -1,  "key not found")                                  \
    X(CASK_ECHANGED,   -2,  "current value differs from the expected one")    \
    X(CASK_EINVAL,     -3,  "invalid argument")                               \
    X(CASK_ENOMEM,     -4,  "out of memory")                                  \
    X(CASK_EIO,        -5,  "I/O error")                                      \
    X(CASK_ECORRUPT,   -6,  "corrupt data file (checksum or format)")         \
    X(CASK_ELOCKED,    -7,  "store directory is in use by another process")   \
    X(CASK_EPOISONED,  -8,  "store refuses writes after a failed write or "   \
                            "sync; reopen it")                                \
    X(CASK_ENOKEYDIR,  -9,  "no keydir registered under that name")           \
    X(CASK_ETOOBIG,    -10, "key or value too large")                         \
    X(CASK_ENOSPC,     -11, "no space left for a new data file (disk full, "  \
                            "quota or file size limit)")                     \
    X(CASK_EREADONLY,  -12, "store opened read-only")                        \
    X(CASK_EBUSY,      -13, "store kept changing under a read-only open "   \
                            "beside its writer; open it again")

enum cask_code {
#define CASK_ENUM_(name, value, msg) name = (value),
    CASK_ERRORS(CASK_ENUM_)
#undef CASK_ENUM_
};

/* A message for any code (never NULL). */
const char *cask_strerror(int code);

/* The calling thread's message for its last failing call (never NULL). */
const char *cask_errdetail(void);

typedef enum cask_sync_mode {
    CASK_SYNC_NONE = 0,   /* the OS writes back when it likes */
    CASK_SYNC_ALWAYS,     /* a write returns after its bytes are durable */
    CASK_SYNC_INTERVAL,   /* a background thread syncs every interval */
} cask_sync_mode;

/* Log callback for recovery and merge notes (torn tails, rejected hints). */
typedef void (*cask_log_fn)(void *arg, const char *msg);

/* Options for cask_open. Zero-initialise, then set what you need. */
#define CASK_PREALLOC_OFF UINT64_MAX

typedef struct cask_options {
    const char *keydir;          /* keydir name; NULL = "striped" */
    const kd_options *kd_opt;    /* NULL = the keydir's defaults; a
                                    capacity_hint of 0 is replaced by the
                                    hint files' entry counts (1: start
                                    small and grow) */
    cask_sync_mode sync;
    uint32_t sync_interval_ms;   /* CASK_SYNC_INTERVAL; 0 = 100 */
    uint64_t max_file_size;      /* rotate the active file past this; 0 =
                                    64 MiB */
    uint32_t max_open_files;     /* descriptors kept open for immutable
                                    files; 0 = 256 */
    /* Merge policy (cask_merge with CASK_MERGE_AUTO), Basho's names. */
    uint32_t frag_trigger_pct;   /* merge if a file is this % dead; 0 = 60 */
    uint64_t dead_bytes_trigger; /* ... or has this many dead bytes; 0 =
                                    512 MiB */
    uint32_t frag_threshold_pct; /* then include files over this; 0 = 40 */
    uint64_t dead_bytes_threshold; /* ... or with this many; 0 = 128 MiB */
    uint32_t tier_min_files;     /* size-tiered: merge a tier with this many
                                    files; 0 = 4 */
    uint64_t tier_base;          /* smallest tier's upper size; 0 =
                                    max_file_size / 16 */
    /* Automatic merging: a thread owned by the store runs cask_merge with
     * CASK_MERGE_AUTO every merge_check_ms and whenever a data file is
     * rotated out; a failed merge is counted in cask_info.merge_errors and
     * logged, the store keeps serving. Stopped and joined by cask_close. */
    int auto_merge;
    uint32_t merge_check_ms;     /* 0 = 1000 */
    /* Zero-fill the active file this many bytes ahead of its tail at
     * each group commit, so that an fdatasync flushes data only, not a
     * size change (DESIGN.md, "Preallocation"); 0 = 1 MiB,
     * CASK_PREALLOC_OFF = never. Trimmed at rotation and close. */
    uint64_t prealloc_bytes;
    /* Threads that load data and hint files at open, the calling thread
     * among them; 0 = one per online CPU (at most 8), or 1 for a keydir
     * whose writers take one lock (KD_FLAG_ONE_WRITER); 1 = the calling
     * thread alone. Never more than there are files, nor 64. */
    uint32_t recover_threads;
    /* Open without writing anything in the directory: no new active file,
     * no hint files, no torn tail truncated (it is ignored instead), no
     * interrupted merge finished (its duplicates are harmless), and
     * O_RDONLY descriptors, so a store on a full disk or a read-only
     * mount can be read. Writes, merges and syncs return CASK_EREADONLY
     * (cask_sync: 0, nothing to sync); sync and auto_merge are ignored.
     * The directory lock is taken shared (the LOCK file is created if it
     * is missing and the directory allows it): read-only opens run side
     * by side, and a writable open fails with CASK_ELOCKED while one of
     * them holds it.
     * Beside a writer (another open store holds the lock exclusively) a
     * read-only open takes no lock and loads a snapshot: every write
     * acknowledged before the open began, perhaps some later ones, none
     * written after it returned (engine/DESIGN.md, "Read-only opens beside
     * a writer"). It holds every data file it loaded open, so the
     * writer's merges cannot take them away. If the writer rotated or
     * merged files while it loaded, it loads again, a few times, and then
     * fails with CASK_EBUSY. cask_info.beside_writer says which it was.
     * Such an open holds no lock: once that writer has exited, another
     * may start beside it (nothing a writer does cuts a file below what
     * the reader has loaded). */
    int read_only;
    cask_log_fn log;             /* NULL = silent; may be called from the
                                    store's own threads, never two calls
                                    at once; must not call into the
                                    store */
    void *log_arg;
    /* Fault injection for tests: called before each append write and each
     * data-file sync with "write" or "sync"; beside a writer, with
     * "listed" once a read-only open has listed the directory (a test
     * makes the writer merge there) and "reread" before each reread of a
     * bad record (a test finishes the record there); a non-zero return
     * makes that call fail with EIO. NULL in normal use. */
    int (*fault)(void *arg, const char *op);
    void *fault_arg;
} cask_options;

/*
 * Parses "none", "always" or "interval:<ms>" into o->sync and
 * o->sync_interval_ms. Returns 0 or CASK_EINVAL.
 */
int cask_parse_sync(const char *s, cask_options *o);

typedef struct cask cask;

/*
 * Opens (creating if needed) the store in directory `dir`: takes the
 * directory's lock (CASK_ELOCKED if another open store holds it, in this
 * process or another; a lock file left by a crashed process never blocks;
 * read-only opens: see cask_options.read_only),
 * loads hint files, scans data files without one, truncates a torn tail
 * (logging how many bytes) and fails with CASK_ECORRUPT naming file and
 * offset on a checksum failure inside a file. Writes go to a new active
 * file. Not thread-safe with respect to the same directory.
 */
int cask_open(const char *dir, const cask_options *opt, cask **out);

/*
 * cask_poisoned: 0 while the store accepts writes; after a failed write or
 * sync, the code of that first failure (CASK_EIO, CASK_ENOSPC, CASK_ENOMEM),
 * which every later write's CASK_EPOISONED follows from. Lets a caller say
 * why writes stopped, e.g. a full disk.
 */
int cask_poisoned(cask *c);

/* Syncs and closes. No other thread may be using the store. */
int cask_close(cask *c);

void cask_thread_register(cask *c);
void cask_thread_unregister(cask *c);

/*
 * cask_get: the key's value, in a malloc'd buffer the caller frees with
 * free() (*val may be NULL for an empty value). Returns 0, CASK_ENOTFOUND
 * (absent, deleted or expired), or CASK_ECORRUPT / CASK_EIO (the record
 * fails its checksum or does not match the keydir; the message names file
 * and offset). Linearizable at its keydir lookup; takes no lock of the
 * store's and never waits for writers or merges (it blocks only where the
 * keydir's own get does: mutex keydirs): one keydir lookup, then the
 * record is checked and copied out of the data file's mapping (a pread for
 * a record the mapping does not cover). Retries the lookup if a merge
 * moved the record.
 */
int cask_get(cask *c, const void *key, size_t klen, void **val, size_t *vlen);

/*
 * cask_get_buf: cask_get into the caller's buffer (cap bytes), with no
 * allocation; for a record in a mapped file (every file but a record past
 * a failed mapping) also no system call and no write to memory other
 * threads use. *vlen receives the value's length; if it exceeds cap,
 * nothing is copied and CASK_ETOOBIG is returned (call again with a
 * buffer of *vlen bytes). Same checks, errors and guarantees as cask_get.
 */
int cask_get_buf(cask *c, const void *key, size_t klen, void *buf,
                 size_t cap, size_t *vlen);

/*
 * cask_get_with: zero-copy read. Calls fn once with the key's value in
 * place (read-only, valid only during the call; it may point into a
 * mapped data file) and returns what fn returns; without calling fn,
 * returns CASK_ENOTFOUND or an error as cask_get does. fn runs inside a
 * read-side section that keeps the data file mapped even if a merge
 * retires it meanwhile, so it must be short, must not block, and must not
 * call into the store (no cask_* call on any store); a merge finishing
 * waits for it. Linearizable at the keydir lookup, like cask_get.
 */
typedef int (*cask_get_fn)(const void *val, size_t vlen, void *arg);
int cask_get_with(cask *c, const void *key, size_t klen, cask_get_fn fn,
                  void *arg);

/*
 * cask_put / cask_put_ttl: stores the value (ttl_ms > 0: invisible after
 * that many milliseconds). cask_del: stores a tombstone; CASK_ENOTFOUND if
 * the key was absent (nothing is written then).
 * Linearizable at the keydir update, which happens after the record is in
 * the file - copied into the page cache through the active file's shared
 * mapping, so it survives a crash of the process - and durable, with
 * CASK_SYNC_ALWAYS. Blocking: writers of one key wait for each other (with
 * CASK_SYNC_NONE and INTERVAL, writers of keys in the same lock stripe do);
 * all writers share one append mutex for the copy and one fdatasync per
 * group commit.
 */
int cask_put(cask *c, const void *key, size_t klen, const void *val,
             size_t vlen);
int cask_put_ttl(cask *c, const void *key, size_t klen, const void *val,
                 size_t vlen, uint64_t ttl_ms);
int cask_del(cask *c, const void *key, size_t klen);

/*
 * cask_cas: compare-and-set on the current value. If the key's current
 * value equals `expect` (expect == NULL: the key is absent), stores `val`
 * (val == NULL: deletes the key) and returns 0; otherwise changes nothing
 * and returns CASK_ECHANGED. Linearizable: the comparison and the update
 * happen while it holds the key exclusively, as every writer of the key
 * does (engine/DESIGN.md).
 */
int cask_cas(cask *c, const void *key, size_t klen, const void *expect,
             size_t elen, const void *val, size_t vlen);

/* Makes every write that returned before the call durable (group commit:
 * it may share one fdatasync with concurrent writers). CASK_EPOISONED once
 * a write or sync has failed. */
int cask_sync(cask *c);

/*
 * cask_fold: calls fn for every live key with its value, over a consistent
 * snapshot (the store's state at one instant between writes: writers are
 * held off only while the key list is copied). Stops when fn returns
 * non-zero and returns that value. fn must not call cask_merge or
 * cask_close; it may call anything else.
 */
typedef int (*cask_fold_fn)(const void *key, size_t klen, const void *val,
                            size_t vlen, void *arg);
int cask_fold(cask *c, cask_fold_fn fn, void *arg);

enum cask_merge_mode {
    CASK_MERGE_AUTO = 0, /* Basho triggers + size tiers; may merge nothing */
    CASK_MERGE_ALL,      /* every immutable file; drops every tombstone */
};

/*
 * cask_merge: rewrites immutable files keeping only live records, while
 * other threads keep reading and writing (they never wait for it, except a
 * cask_fold snapshot for the length of one output's installation). Returns
 * the number of files merged (>= 0) or an error; an error leaves the store
 * as it was (outputs already installed hold the same values). Before it
 * returns, it waits for the gets in progress (a grace period, as long as
 * the longest get or cask_get_with callback), so the inputs' mappings and
 * descriptors are closed and their space freed. Blocking: one merge runs
 * at a time, others wait. Never call it from a cask_get_with callback.
 * Crash-safe at every step (DESIGN.md).
 */
int cask_merge(cask *c, int mode);

typedef struct cask_file_stats {
    uint32_t id;
    uint64_t bytes;
    uint64_t live_bytes;
    int has_hint;
} cask_file_stats;

typedef struct cask_info {
    uint64_t keys;
    uint64_t files;
    uint64_t total_bytes;
    uint64_t live_bytes;
    uint64_t reclaimable_bytes;  /* total - live, over immutable files */
    uint64_t reserved_bytes;     /* disk preallocated past the active
                                    file's last record (whole pages):
                                    allocated, holding no data yet */
    uint64_t open_fds;           /* data files + lock file + directory */
    uint64_t keydir_bytes;
    double keydir_bytes_per_key;
    uint64_t keydir_presized;    /* keys the keydir was sized for at open:
                                    the caller's kd_opt->capacity_hint,
                                    else the hint files' entry counts
                                    (0: it started small and grew) */
    uint64_t merges;
    uint64_t merge_ns_total;
    uint64_t merge_ns_last;
    uint64_t merge_errors;       /* automatic merges that failed */
    uint64_t auto_merge_runs;    /* policy checks by the merge thread */
    uint64_t hints_written;      /* at rotation, by this open store */
    uint64_t open_ns;            /* open + recovery time */
    uint64_t hints_loaded;
    uint64_t files_scanned;
    uint64_t recover_threads;    /* threads that loaded them */
    uint64_t torn_bytes;         /* truncated at open */
    int beside_writer;           /* a read-only open beside a writer: a
                                    snapshot as of the open */
    uint64_t syncs;              /* group-commit fdatasyncs since open */
    uint64_t sync_acks;          /* waits for durability those ended (a
                                    sync=always write, a cask_sync):
                                    sync_acks / syncs = writes per sync */
    const char *keydir;
    cask_file_stats *file;       /* nfile entries, malloc'd */
    size_t nfile;
} cask_info;

/*
 * cask_merge_wait: waits until the automatic merge thread has finished at
 * least `runs` policy checks since open (successful, failed or finding
 * nothing to merge), or timeout_ms passes. Returns 0, or CASK_EINVAL when
 * auto_merge is off or the wait timed out. For tests and tools that must
 * observe a background merge without sleeping.
 */
int cask_merge_wait(cask *c, uint64_t runs, uint32_t timeout_ms);

/*
 * cask_verify: reads every record of every data file (immutable files
 * loaded from hints included, whose records open never checks) and calls
 * fn for each one failing its checksum or format, with file id, offset and
 * a reason. A damaged record whose header still gives a length is skipped
 * and the scan goes on; otherwise the rest of that file is reported as one
 * unreadable range. Returns the number of damaged records (>= 0) or an
 * error. May run beside every operation (files are pinned; the active file
 * is read up to its size at the call).
 */
typedef void (*cask_verify_fn)(void *arg, uint32_t file_id, uint64_t off,
                               const char *why);
int cask_verify(cask *c, cask_verify_fn fn, void *arg);

/*
 * cask_flush_hints: waits until every data file rotated out so far has its
 * hint file written (or given up on, which the log says; the file is then
 * scanned at the next open). Rotation hands that work to a background
 * thread, so a put that rotates does not wait for it; cask_close waits
 * for it too. Returns 0.
 */
int cask_flush_hints(cask *c);

/* Fills *st; free st->file with cask_info_free. May run beside every
 * operation: each counter is read atomically, the set is not one instant. */
int cask_stats(cask *c, cask_info *st);
void cask_info_free(cask_info *st);

#ifdef __cplusplus
}
#endif

#endif /* ENGINE_CASK_H */
