/*
 * engine/cask_internal.h - the store's private state, shared by the files
 * of engine/ (cask.c: operations; recover.c: open-time recovery; merge.c:
 * merge and its policy). Nothing outside engine/ includes it.
 *
 * Lock order (a thread holding one may take those after it, never before):
 *   merge_mu -> inst_mu -> stripe[i] (ascending) -> log_mu -> tab_lock
 *   stripe[i] -> sync_mu -> log_mu
 * (A sync=always writer holds its key through a busy-list entry, not a
 * mutex, while it waits for the group commit: see cask_key_lock.)
 * The group-commit leader holds sync_mu while it takes log_mu to fix its
 * target (and zero-fill ahead, once per prealloc_bytes / 2 of log); it
 * drops both before its fdatasync.
 *   log_mu -> stop_mu (rotation wakes the merge thread; stop_mu is held
 *   by no thread while it runs a merge or a sync)
 * logfn_mu is last after any of them: cask_log holds it only around the
 * caller's log function, which must not call into the store.
 */
#ifndef ENGINE_CASK_INTERNAL_H
#define ENGINE_CASK_INTERNAL_H

#include "engine/cask.h"
#include "engine/format.h"
#include "sync/reclaim.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <stdint.h>

/* Writer stripes. cask_fold holds all of them at once, so the count is
 * kept well under ThreadSanitizer's limit of 64 locks held by one thread
 * (its deadlock detector aborts past it); 32 stripes already make two
 * writers of different keys collide rarely at the thread counts we run. */
#define CASK_STRIPES 32u

/* value_size of a keydir entry that stands for a tombstone: only during
 * recovery, so that an older put read later cannot resurrect the key. */
#define CASK_TOMB_MARK UINT32_MAX

/*
 * One data file. The table holds one reference; a merge, fold or verify
 * pins it (refs + 1) around its use; the file is unmapped, closed and freed
 * when refs drops to zero. Gets take no reference: they read the file
 * inside a read-side section of c->rcl (DESIGN.md, "File lifetime"), and a
 * merge drops the table's reference only after a grace period. A
 * merged-away file is unlinked at once (POSIX keeps an open or mapped
 * file's data until its last descriptor and mapping go), so readers that
 * found it keep reading and the space returns when the last one is done.
 *
 * Fields read by every get (id, map, map_len) come first and change at
 * most twice in a file's life; the counters writers update on every
 * append live on their own cache line, so appends do not evict readers'
 * copies of the read-mostly line.
 */
typedef struct cask_file {
    struct cask *c;
    uint32_t id;
    /* The mapping (engine/DESIGN.md, "Read path"): records wholly below
     * map_len are read from map; the rest (a mapping that failed, a
     * record past it) with pread. map_len is the active file's
     * preallocated size while it is written, its data size from rotation
     * on. map_cap is the length mapped (for munmap); map_rw: the mapping
     * is writable (the active file: appends copy records into it). */
    _Atomic(uint8_t *) map;
    _Atomic uint64_t map_len;
    uint64_t map_cap;
    int map_rw;
    uint64_t prealloc;    /* bytes posix_fallocate reserved at creation (0:
                             none, e.g. a full disk's degraded open) */
    uint64_t unmapped_to; /* log_mu: whole pages below this were dropped
                             from the writable mapping (cask_sync_begin) */
    uint64_t wb_to;       /* log_mu: writeback was started below this
                             (writeback_plan) */
    _Atomic int has_hint;
    _Atomic uint64_t size;   /* bytes in the file (appends only) */
    alignas(64) _Atomic int64_t live; /* bytes of records the keydir
                                         points to */
    _Atomic uint32_t refs;
    /* Records appended whose keydir update has not happened yet. A merge
     * takes only files with none: it judges a record live or dead by the
     * keydir, and must not drop a record whose writer is about to point
     * the keydir at it. While it is non-zero the file cannot be retired,
     * so a writer needs no other reference to it. */
    _Atomic uint32_t pending;
    /* The descriptor cache (cask_fd_get): fd is -1 while closed; users
     * counts reads in progress, with CASK_FD_CLOSING set while the cache
     * closes it; uncached files (the active file, a merge output being
     * written) are never closed by the cache. Gets from the mapping never
     * use the descriptor. */
    _Atomic int fd;
    _Atomic uint32_t users;
    _Atomic uint64_t last_use;
    _Atomic int uncached;
    pthread_mutex_t fd_mu;   /* serialises reopening */
} cask_file;

/* The file table, indexed by file id; ids are never reused. Published
 * whole with a release store; a slot changes with a release store under
 * tab_lock (write side); a grown table replaces the old one, which is
 * freed after a grace period of c->rcl, so gets read it with no lock. */
typedef struct cask_ftab {
    uint32_t cap;
    _Atomic(cask_file *) f[];
} cask_ftab;

#define CASK_FD_CLOSING 0x80000000u

/* A writer's hold on its key (cask_key_lock in cask.c): under
 * sync=always an entry in its stripe's busy list, otherwise the stripe
 * mutex itself. Lives on the writer's stack. */
typedef struct cask_keyhold {
    const void *key;
    size_t klen;
    uint32_t stripe;
    int listed;                /* in busy[stripe]; the mutex is not held */
    struct cask_keyhold *next;
} cask_keyhold;

struct cask {
    char *dir;
    int dirfd;
    int lockfd;
    kd_keydir *kd;
    cask_options opt; /* with defaults filled in */

    /* one cache line per stripe: writers of different stripes do not
     * share a line */
    struct {
        alignas(64) pthread_mutex_t mu;
    } stripe[CASK_STRIPES];
    /* stripe[i]: keys held by sync=always writers (cask_keyhold), and the
     * condition their other writers wait on */
    cask_keyhold *busy[CASK_STRIPES];
    pthread_cond_t busy_cv[CASK_STRIPES];

    pthread_mutex_t log_mu;    /* the append point */
    cask_file *active;         /* log_mu; holds its own reference */
    uint64_t last_seq;         /* log_mu: seq of the last appended record */
    _Atomic int poisoned;      /* 0, or the code of the failure that did it */

    pthread_mutex_t sync_mu;   /* group commit (DESIGN.md) */
    pthread_cond_t gather_cv;  /* sync_mu, CLOCK_MONOTONIC: wakes a leader
                                  gathering its group */
    int syncing;               /* sync_mu: a leader gathers or syncs */
    int gathering;             /* sync_mu: the leader waits for its group */
    /* Followers sleep on this futex word; the leader bumps it (under
     * sync_mu) after publishing durable_seq and wakes them all at once. */
    _Atomic uint32_t sync_epoch;
    /* sync_mu: callers that arrived since the last sync ended, split by
     * the group they belong to: the one gathering or syncing now (cur) or
     * the next (next: arrived during a sync, seq past its target). */
    uint32_t group_cur, group_next;
    uint64_t sync_target;      /* sync_mu: the target of the sync in flight */
    uint32_t sync_crowd;       /* sync_mu: callers of the last round (cur +
                                  next when it ended): the group the next
                                  leader waits for */
    uint64_t sync_ns;          /* sync_mu: the last group sync's duration */
    /* Every seq <= it is durable: written under sync_mu (release), read
     * with acquire by followers outside it. */
    _Atomic uint64_t durable_seq;
    _Atomic uint32_t key_waiters; /* sync=always writers waiting for
                                  another writer of their key */
    _Atomic uint64_t group_syncs, group_acks; /* cask_info.syncs, .acks */
    uint64_t prep_end;         /* log_mu: the active file is zero-filled up
                                  to here (preallocation, DESIGN.md) */

    /* The file table. Gets read it lock-free inside a section of rcl;
     * slow paths that walk it (merge, fold, stats, the descriptor cache)
     * hold tab_lock's read side; changes hold its write side. */
    pthread_rwlock_t tab_lock;
    _Atomic(cask_ftab *) ftab;
    sync_reclaim *rcl;         /* "epoch": file and table lifetimes */
    _Atomic uint32_t next_id;

    pthread_mutex_t merge_mu;  /* one merge at a time */
    pthread_mutex_t inst_mu;   /* merge installs vs fold snapshots */

    pthread_t syncer;          /* CASK_SYNC_INTERVAL */
    int syncer_on;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stopping;

    /* Files rotated out, waiting for the retire thread to write their
     * hints (cask_retire), oldest first; all under retire_mu. */
    pthread_t retirer;
    int retirer_on, retirer_tried; /* started at the first rotation */
    pthread_mutex_t retire_mu;
    pthread_cond_t retire_cv;      /* wakes the retire thread */
    pthread_cond_t retire_done_cv; /* a queued file's hint is done */
    struct cask_retire_node *retire_head, **retire_tail;
    uint64_t retire_enq, retire_done; /* files ever queued, ever finished:
                                         the difference is on the queue */
    int retire_stop;

    pthread_t merger;          /* opt.auto_merge */
    int merger_on;
    pthread_cond_t merge_cv;   /* stop_mu: wakes the merge thread */
    pthread_cond_t merge_done_cv; /* stop_mu: a policy check finished */
    int merge_kick;            /* stop_mu: a file was rotated out */
    uint64_t auto_merge_runs;  /* stop_mu */
    _Atomic uint64_t merge_errors, hints_written;

    _Atomic uint64_t open_fds;  /* data file descriptors open */
    _Atomic uint64_t fd_clock;  /* LRU ticks for the descriptor cache */
    _Atomic uint64_t merges, merge_ns_total, merge_ns_last;
    uint64_t open_ns, hints_loaded, files_scanned, torn_bytes;
    int beside_writer; /* read-only, another store holds the lock: no lock
                          held, files held open (recover.c) */
    uint64_t recover_threads;
    uint64_t keydir_presized;  /* the capacity hint the keydir got */
    uint64_t max_seq_seen;     /* recovery */
    pthread_mutex_t logfn_mu;  /* one opt.log call at a time */
};

/*
 * Room for one more element in a growable array: returns v itself while
 * n < *cap, else v reallocated to twice *cap (`first` elements the first
 * time) with *cap updated, or NULL out of memory (v and *cap unchanged).
 */
void *cask_grow(void *v, size_t n, size_t *cap, size_t elem, size_t first);

/* 0, or CASK_EREADONLY (with its message) for a read-only store. */
int cask_check_writable(const cask *c);

/* Sets the calling thread's detail message; returns code. */
int cask_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* cask_options.fault's hook for op: 0, or -1 with errno EIO. */
int cask_fault(cask *c, const char *op);

/* Logs through opt.log when set. */
void cask_log(cask *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

uint64_t cask_now_ms(void);
void cask_path(const cask *c, char *out, size_t cap, uint32_t id,
               const char *ext);
ssize_t cask_pread_full(int fd, void *buf, size_t n, uint64_t off);
int cask_write_full(int fd, const void *buf, size_t n, uint64_t off);

cask_file *cask_file_new(cask *c, uint32_t id, int fd, uint64_t size);
/* Maps an immutable file read-only over its size (a file whose size will
 * not change); on failure leaves it to pread. */
void cask_file_map_ro(cask_file *f);
/* The descriptor of a file the cache never closes (active, merge output,
 * or any file during recovery). */
int cask_file_fd(cask_file *f);
/* A pinned file's descriptor for one use, reopened if the cache closed it;
 * release with cask_fd_put. Returns the fd or CASK_EIO. */
int cask_fd_get(cask_file *f);
void cask_fd_put(cask_file *f);
/* Opens f's descriptor for good (until its last unpin): before a file is
 * unlinked, so that readers that pinned it can still read it. */
int cask_fd_hold(cask_file *f);
/* Closes idle descriptors of immutable files until at most max_open_files
 * are open. */
void cask_fd_trim(cask *c);
void cask_file_pin(cask_file *f);
void cask_file_unpin(cask_file *f);
int cask_tab_add(cask *c, cask_file *f);
/* The table now, and its slot i (NULL if empty or out of range). Inside a
 * read-side section of c->rcl, or holding tab_lock. */
cask_ftab *cask_tab_now(cask *c);
cask_file *cask_tab_at(const cask_ftab *t, uint32_t i);
/* Pins and returns file id, or NULL if it is not (or no longer) there. */
cask_file *cask_tab_pin(cask *c, uint32_t id);
/* Takes files out of the table; the table's references are dropped after
 * a grace period (cask_grace_wait hastens it). */
void cask_tab_remove(cask *c, const uint32_t *ids, size_t n);
/* Waits until every get that could have found a removed file has ended,
 * and frees what the calling thread retired. Never call it inside a
 * read-side section (a cask_get_with callback). */
void cask_grace_wait(cask *c);
/* Subtracts a dead record's bytes from its file's live count. */
void cask_account_dead(cask *c, uint32_t file_id, uint64_t bytes);

/* Makes every seq <= seq durable (group commit); poisons on failure. */
int cask_sync_upto(cask *c, uint64_t seq);
uint64_t cask_last_seq(cask *c);
uint32_t cask_active_id(cask *c);
/* Creates data file id with its header, durable, named in the directory.
 * cap > 0 (the active file): preallocated to cap bytes with
 * posix_fallocate, so that a full disk fails here and not at a write into
 * the mapping, and mapped read-write over them; appends copy records into
 * the mapping. cap = 0 (a merge output): appended with pwrite. */
int cask_create_file(cask *c, uint32_t id, uint64_t cap, cask_file **out);

int cask_recover(cask *c);
/* Keys the directory's files likely hold (a keydir sizing hint), or 0. */
uint64_t cask_estimate_keys(cask *c);

/* The automatic merge thread (merge.c): started by cask_open when
 * opt.auto_merge is set, stopped by cask_close before anything else. */
int cask_merger_start(cask *c);
void cask_merger_stop(cask *c);
/* Wakes the merge thread for an early policy check (after a rotation). */
void cask_merger_kick(cask *c);

/* Finishes hint (n entries, describing data_size bytes of data file id)
 * and writes it beside as .hint.tmp, synced, then renamed into place: a
 * hint file exists whole or not at all. */
int cask_hint_write(cask *c, uint32_t id, cask_buf *hint, uint64_t n,
                    uint64_t data_size);
/* Builds the hint of a whole, valid data file (pinned, its descriptor
 * held) by reading it, and writes it; returns 0 if written. */
int cask_hint_build(cask *c, cask_file *f);
/* Writes hint files for data files that lack one (at close, so the next
 * open loads hints instead of scanning). Best effort: a file that cannot
 * be read whole is left to be scanned. */
void cask_hint_missing(cask *c);

#endif /* ENGINE_CASK_INTERNAL_H */
