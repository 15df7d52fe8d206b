/*
 * engine/cask.c - the store's operations: open and close, the append path
 * with group commit, reads, compare-and-set, fold, stats.
 *
 * The write design (argued in engine/DESIGN.md): a writer takes an
 * exclusive hold on its key (its stripe's mutex; under CASK_SYNC_ALWAYS an
 * entry in the stripe's busy list instead), appends its record under one
 * short append mutex (the seq is assigned and the record copied into the
 * active file's mapping inside it, so the log never has holes), waits for
 * durability in the shared group commit (CASK_SYNC_ALWAYS), then updates
 * the keydir under the stripe mutex and releases its hold. Readers take no
 * lock: inside an epoch read-side section they find the file in a
 * lock-free table and read the record from its mapping; retired files are
 * freed after a grace period.
 */
#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP (glibc) */
#include "engine/cask_internal.h"
#include "sync/atomic.h"
#include "sync/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char cask_detail[512];

const char *
cask_strerror(int code)
{
#define CASK_MSG_(name, value, msg)                                           \
    if (code == (value))                                                      \
        return msg;
    CASK_ERRORS(CASK_MSG_)
#undef CASK_MSG_
    return "unknown cask error";
}

const char *
cask_errdetail(void)
{
    return cask_detail;
}

int
cask_fail(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cask_detail, sizeof cask_detail, fmt, ap);
    va_end(ap);
    return code;
}

void *
cask_grow(void *v, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap)
        return v;
    size_t want = *cap ? 2 * *cap : first;
    void *nv = realloc(v, want * elem);
    if (nv != NULL)
        *cap = want;
    return nv;
}

void
cask_log(cask *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (c->opt.log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* recovery's threads, the merge thread and callers may all log */
    pthread_mutex_lock(&c->logfn_mu);
    c->opt.log(c->opt.log_arg, msg);
    pthread_mutex_unlock(&c->logfn_mu);
}

uint64_t
cask_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
cask_path(const cask *c, char *out, size_t cap, uint32_t id, const char *ext)
{
    snprintf(out, cap, "%s/%010u.%s", c->dir, id, ext);
}

ssize_t
cask_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int
cask_write_full(int fd, const void *buf, size_t n, uint64_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = pwrite(fd, (const char *)buf + done, n - done,
                           (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

/* ---- files and the file table ------------------------------------------- */

cask_file *
cask_file_new(cask *c, uint32_t id, int fd, uint64_t size)
{
    /* aligned: the writers' counters start a cache line of their own */
    cask_file *f = aligned_alloc(64, (sizeof *f + 63) & ~(size_t)63);

    if (f == NULL)
        return NULL;
    memset(f, 0, sizeof *f);
    f->c = c;
    atomic_init(&f->map, NULL);
    atomic_init(&f->map_len, 0);
    f->id = id;
    atomic_init(&f->fd, fd);
    atomic_init(&f->users, 0);
    atomic_init(&f->last_use, 0);
    atomic_init(&f->uncached, 0);
    atomic_init(&f->size, size);
    atomic_init(&f->live, 0);
    atomic_init(&f->refs, 1);
    atomic_init(&f->pending, 0);
    atomic_init(&f->has_hint, 0);
    pthread_mutex_init(&f->fd_mu, NULL);
    if (fd >= 0) /* -1: opened at its first use */
        sync_faa_rlx(&c->open_fds, 1);
    return f;
}

int
cask_file_fd(cask_file *f)
{
    return sync_load_acq(&f->fd);
}

void
cask_file_map_ro(cask_file *f)
{
    uint64_t size = sync_load_acq(&f->size);
    int fd = cask_fd_get(f);

    if (fd < 0)
        return;
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    cask_fd_put(f);
    if (p == MAP_FAILED)
        return; /* out of address space or mappings: pread serves it */
    f->map_cap = size;
    f->map_rw = 0;
    sync_store_rel(&f->map, (uint8_t *)p);
    /* release: a get that reads map_len finds the mapping it covers */
    sync_store_rel(&f->map_len, size);
}

void
cask_file_pin(cask_file *f)
{
    sync_faa_rlx(&f->refs, 1);
}

void
cask_file_unpin(cask_file *f)
{
    /* acq_rel: the last unpinner must see every use of fd before closing */
    if (sync_fas_acqrel(&f->refs, 1) == 1) {
        uint8_t *map = sync_load_acq(&f->map);
        if (map != NULL)
            munmap(map, f->map_cap);
        int fd = sync_load_acq(&f->fd);
        if (fd >= 0) {
            close(fd);
            sync_fas_rlx(&f->c->open_fds, 1);
        }
        pthread_mutex_destroy(&f->fd_mu);
        free(f);
    }
}

/* ---- the descriptor cache ------------------------------------------------ */

/*
 * Readers enter a file by incrementing users, unless the cache is closing
 * it (CASK_FD_CLOSING), which takes one close() - the only wait. The cache
 * closes a file only by moving users from 0 to CASK_FD_CLOSING, so it never
 * closes a descriptor a reader holds.
 */
int
cask_fd_get(cask_file *f)
{
    uint32_t u;
    int fd;

    for (;;) {
        u = sync_load_acq(&f->users);
        if ((u & CASK_FD_CLOSING) == 0 && sync_cas_acqrel(&f->users, &u, u + 1))
            break;
        sync_cpu_relax();
    }
    sync_store_rlx(&f->last_use, sync_faa_rlx(&f->c->fd_clock, 1));
    fd = sync_load_acq(&f->fd);
    if (fd >= 0)
        return fd;
    pthread_mutex_lock(&f->fd_mu);
    fd = sync_load_acq(&f->fd);
    if (fd < 0) {
        char path[4096];
        cask_path(f->c, path, sizeof path, f->id, "data");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            sync_store_rel(&f->fd, fd);
            sync_faa_rlx(&f->c->open_fds, 1);
        }
    }
    pthread_mutex_unlock(&f->fd_mu);
    if (fd < 0) {
        int e = errno;
        cask_fd_put(f);
        return cask_fail(CASK_EIO, "%s/%010u.data: reopen: %s", f->c->dir,
                         f->id, strerror(e));
    }
    cask_fd_trim(f->c);
    return fd;
}

int
cask_fd_hold(cask_file *f)
{
    sync_store_rel(&f->uncached, 1);
    int fd = cask_fd_get(f);
    if (fd < 0)
        return fd;
    cask_fd_put(f);
    return 0;
}

void
cask_fd_put(cask_file *f)
{
    sync_fas_acqrel(&f->users, 1);
}

/* Pins the least recently used idle immutable file with an open fd. */
static cask_file *
fd_victim(cask *c)
{
    cask_file *best = NULL;
    uint64_t oldest = UINT64_MAX;

    pthread_rwlock_rdlock(&c->tab_lock);
    cask_ftab *t = cask_tab_now(c);
    for (uint32_t i = 0; i < t->cap; i++) {
        cask_file *f = cask_tab_at(t, i);
        if (f == NULL || sync_load_acq(&f->uncached) ||
            sync_load_rlx(&f->fd) < 0 || sync_load_rlx(&f->users) != 0)
            continue;
        uint64_t u = sync_load_rlx(&f->last_use);
        if (u < oldest) {
            oldest = u;
            best = f;
        }
    }
    if (best != NULL)
        cask_file_pin(best);
    pthread_rwlock_unlock(&c->tab_lock);
    return best;
}

void
cask_fd_trim(cask *c)
{
    /* bounded: each round closes one descriptor or stops */
    while (sync_load_rlx(&c->open_fds) > c->opt.max_open_files) {
        cask_file *v = fd_victim(c);
        uint32_t idle = 0;
        if (v == NULL)
            return;
        /* uncached is checked again after winning users: a merge that
         * retires the file sets it before it last enters the file */
        if (sync_cas_acqrel(&v->users, &idle, CASK_FD_CLOSING) &&
            !sync_load_acq(&v->uncached)) {
            int fd = sync_xchg_acqrel(&v->fd, -1);
            if (fd >= 0) {
                close(fd);
                sync_fas_rlx(&c->open_fds, 1);
            }
        }
        if (idle == 0)
            sync_store_rel(&v->users, 0);
        cask_file_unpin(v);
    }
}

cask_ftab *
cask_tab_now(cask *c)
{
    return sync_load_acq(&c->ftab);
}

cask_file *
cask_tab_at(const cask_ftab *t, uint32_t i)
{
    /* acquire: pairs with the release that published the file, so its
     * fields (map, id) are seen initialised */
    return i < t->cap ? sync_load_acq(&((cask_ftab *)t)->f[i]) : NULL;
}

static cask_ftab *
tab_alloc(uint32_t cap)
{
    cask_ftab *t = malloc(sizeof *t + (size_t)cap * sizeof t->f[0]);

    if (t == NULL)
        return NULL;
    t->cap = cap;
    for (uint32_t i = 0; i < cap; i++)
        atomic_init(&t->f[i], NULL);
    return t;
}

/* Under tab_lock (write): a table with room for id, the old one retired. */
static int
tab_grow(cask *c, uint32_t id)
{
    cask_ftab *old = cask_tab_now(c), *nt;
    uint32_t cap = old->cap ? old->cap : 64;

    while (cap <= id)
        cap *= 2;
    if ((nt = tab_alloc(cap)) == NULL)
        return cask_fail(CASK_ENOMEM, "file table: out of memory");
    for (uint32_t i = 0; i < old->cap; i++)
        atomic_init(&nt->f[i], cask_tab_at(old, i));
    sync_store_rel(&c->ftab, nt);
    /* gets that loaded the old table may still be reading it */
    sync_reclaim_retire(c->rcl, old, sizeof *old, free);
    return 0;
}

int
cask_tab_add(cask *c, cask_file *f)
{
    int rc = 0;

    pthread_rwlock_wrlock(&c->tab_lock);
    if (f->id >= cask_tab_now(c)->cap)
        rc = tab_grow(c, f->id);
    if (rc == 0)
        sync_store_rel(&cask_tab_now(c)->f[f->id], f);
    pthread_rwlock_unlock(&c->tab_lock);
    return rc;
}

cask_file *
cask_tab_pin(cask *c, uint32_t id)
{
    pthread_rwlock_rdlock(&c->tab_lock);
    cask_file *f = cask_tab_at(cask_tab_now(c), id);
    if (f != NULL)
        cask_file_pin(f);
    pthread_rwlock_unlock(&c->tab_lock);
    return f;
}

static void
tab_unref(void *f)
{
    cask_file_unpin(f);
}

void
cask_tab_remove(cask *c, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pthread_rwlock_wrlock(&c->tab_lock);
        cask_ftab *t = cask_tab_now(c);
        cask_file *f = cask_tab_at(t, ids[i]);
        if (f != NULL)
            sync_store_rel(&t->f[ids[i]], NULL);
        pthread_rwlock_unlock(&c->tab_lock);
        /* a get that found f before the store above may still read it */
        if (f != NULL)
            sync_reclaim_retire(c->rcl, f, sizeof *f, tab_unref);
    }
}

void
cask_grace_wait(cask *c)
{
    sync_reclaim_stats st;

    sync_reclaim_stats_get(c->rcl, &st);
    uint64_t target = st.epoch + 2;
    /* Bounded by the longest get in progress: the epoch moves as soon as
     * every thread inside a section has entered it in the current epoch. */
    for (;;) {
        sync_reclaim_quiescent(c->rcl);
        sync_reclaim_stats_get(c->rcl, &st);
        if (st.epoch >= target)
            break;
        sched_yield();
    }
    sync_reclaim_quiescent(c->rcl); /* frees what is now two epochs old */
}

void
cask_account_dead(cask *c, uint32_t file_id, uint64_t bytes)
{
    sync_reclaim_enter(c->rcl);
    cask_file *f = cask_tab_at(cask_tab_now(c), file_id);
    if (f != NULL)
        sync_fas_rlx(&f->live, (int64_t)bytes);
    sync_reclaim_exit(c->rcl);
}

/* The active file's mapping is populated a chunk ahead of the appends
 * (prefault_plan). */
#define CASK_PREFAULT (256u << 10)
/* Writeback of the active file is started a chunk at a time behind the
 * appends (writeback_plan). */
#define CASK_WRITEBACK (2u << 20)
/* The page size the active file's preallocation and unmapping assume
 * (x86-64, and arm64's common 4 KiB kernels). */
#define CASK_PAGE 4096u

/* The code for a failed write's errno: out of space (a full disk, a quota,
 * the file size limit) or any other I/O error. */
static int
cask_write_code(int e)
{
    return e == ENOSPC || e == EDQUOT || e == EFBIG ? CASK_ENOSPC : CASK_EIO;
}

/* Preallocates and maps the new active file; a mapping that fails leaves
 * it to pwrite and pread. A full disk fails the preallocation: an error
 * here, at rotation, instead of a SIGBUS at a write into the mapping. */
static int
file_prealloc(cask_file *f, int fd, uint64_t cap, const char *path)
{
    int e = posix_fallocate(fd, 0, (off_t)cap);

    if (e != 0)
        return cask_fail(cask_write_code(e),
                         "%s: preallocate %llu bytes: %s", path,
                         (unsigned long long)cap, strerror(e));
    f->prealloc = cap;
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return 0;
    f->map_cap = cap;
    f->map_rw = 1;
    atomic_init(&f->map, (uint8_t *)p);
    atomic_init(&f->map_len, cap);
    /* the first chunk; appends populate the ones after (prefault_plan) */
    madvise(p, cap < CASK_PREFAULT ? cap : CASK_PREFAULT, MADV_POPULATE_WRITE);
    return 0;
}

int
cask_create_file(cask *c, uint32_t id, uint64_t cap, cask_file **out)
{
    char path[4096];
    uint8_t hdr[CASK_FILE_HDR];
    int fd, rc;

    cask_path(c, path, sizeof path, id, "data");
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return cask_fail(CASK_EIO, "%s: create: %s", path, strerror(errno));
    cask_file_hdr_encode(hdr, id);
    if (cask_write_full(fd, hdr, sizeof hdr, 0) != 0 || fdatasync(fd) != 0 ||
        fsync(c->dirfd) != 0) {
        int e = errno;
        close(fd);
        unlink(path); /* nothing was ever in it */
        return cask_fail(cask_write_code(e), "%s: write header: %s", path,
                         strerror(e));
    }
    *out = cask_file_new(c, id, fd, CASK_FILE_HDR);
    if (*out == NULL) {
        close(fd);
        return cask_fail(CASK_ENOMEM, "%s: out of memory", path);
    }
    if (cap > 0 && (rc = file_prealloc(*out, fd, cap, path)) != 0) {
        cask_file_unpin(*out);
        *out = NULL;
        unlink(path); /* its header only: never in the table */
        return rc;
    }
    /* written to until rotated out or merged: never closed by the cache */
    sync_store_rel(&(*out)->uncached, 1);
    return 0;
}

/* ---- the append path ------------------------------------------------------- */

/* The test hook of cask_options.fault: 0 to go ahead, -1 with errno EIO
 * to fail the operation as the kernel would. */
int
cask_fault(cask *c, const char *op)
{
    if (c->opt.fault != NULL && c->opt.fault(c->opt.fault_arg, op) != 0) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static void
cask_poison(cask *c, int code)
{
    int none = 0;

    /* the first failure is the reason; later ones follow from it */
    (void)sync_cas_acqrel(&c->poisoned, &none, code < 0 ? code : CASK_EIO);
}

int
cask_poisoned(cask *c)
{
    return sync_load_acq(&c->poisoned);
}

/* A rotated-out file whose hint is still to be written: the writer that
 * rotated it writes the hint after dropping log_mu, so other writers never
 * wait for it. */
typedef struct cask_retired {
    cask_file *f;      /* pinned, still uncached: no merge takes it yet */
} cask_retired;

/* Files the retire thread may have queued at most; past that, rotating
 * writers write their hints themselves, which throttles them as before
 * (tiny data files, written faster than their hints, would otherwise pile
 * up holding descriptors). */
#define CASK_RETIRE_QUEUE 4u

/* A rotated-out file on the retire thread's queue. */
typedef struct cask_retire_node {
    struct cask_retire_node *next;
    cask_file *f;
} cask_retire_node;

/* n bytes rounded up to whole pages. */
static uint64_t
cask_page_up(uint64_t n)
{
    return (n + CASK_PAGE - 1) & ~(uint64_t)(CASK_PAGE - 1);
}

/* The active file's preallocated size: max_file_size in whole pages. */
static uint64_t
cask_active_cap(const cask *c)
{
    return cask_page_up(c->opt.max_file_size);
}

/* Under log_mu: makes the active file durable and starts the next one. The
 * old file comes back in *ret, still marked uncached, so no merge can
 * retire (and unlink) it before its hint is written. The old file's
 * preallocated tail is cut off first, so an immutable file ends at its last
 * record; gets keep reading its mapping below that size. */
static int
cask_rotate(cask *c, cask_retired *ret)
{
    cask_file *nf, *old = c->active;
    uint64_t size = sync_load_rlx(&old->size);
    int rc;

    c->prep_end = 0; /* the next active file starts with no zero-fill */
    if (size < sync_load_rlx(&old->map_len))
        sync_store_rel(&old->map_len, size);
    if (ftruncate(cask_file_fd(old), (off_t)size) != 0)
        return cask_fail(CASK_EIO, "%s/%010u.data: truncate to %llu: %s",
                         c->dir, old->id, (unsigned long long)size,
                         strerror(errno));
    if (cask_fault(c, "sync") != 0 || fdatasync(cask_file_fd(old)) != 0)
        return cask_fail(CASK_EIO, "%s/%010u.data: fdatasync: %s", c->dir,
                         old->id, strerror(errno));
    rc = cask_create_file(c, sync_faa_rlx(&c->next_id, 1), cask_active_cap(c),
                          &nf);
    if (rc == 0)
        rc = cask_tab_add(c, nf);
    if (rc != 0)
        return rc;
    cask_file_pin(nf); /* the log's reference, besides the table's */
    c->active = nf;
    ret->f = old;      /* takes over the log's reference */
    return 0;
}

/*
 * On the retire thread: writes a rotated-out file's hint (built by reading
 * the file, just synced and still in the page cache; then temp file,
 * fdatasync, rename, directory fsync), so that the file loads from its
 * hint after a crash, then hands the file to the descriptor cache and to
 * merges. A hint that cannot be written only costs a scan at the next
 * open: logged, the store goes on.
 */
static void
cask_retire_now(cask *c, cask_file *f)
{
    int rc = cask_hint_build(c, f);

    if (rc == 0 && fsync(c->dirfd) != 0)
        rc = cask_fail(CASK_EIO, "%s: fsync: %s", c->dir, strerror(errno));
    if (rc == 0) {
        sync_store_rlx(&f->has_hint, 1);
        sync_faa_rlx(&c->hints_written, 1);
    } else {
        cask_log(c, "%s/%010u.hint: not written at rotation (%s); the file "
                    "is scanned at the next open", c->dir, f->id,
                 cask_strerror(rc));
    }
    sync_store_rel(&f->uncached, 0);
    cask_file_unpin(f);
    cask_fd_trim(c);
    cask_merger_kick(c);
}

static void *cask_retirer_main(void *arg);

/*
 * Outside every lock: hands the file a rotation retired (if any) to the
 * retire thread. Building and syncing a 64 MiB file's hint took the
 * rotating writer about 65 ms, its put's latency; on the thread it costs
 * no caller anything. Nothing waits for it but merges (an uncached file
 * is never merged), cask_close (which drains the queue) and
 * cask_flush_hints. The thread starts at the store's first rotation (a
 * store that never rotates has no thread to start, nor a child process
 * that opens one after a fork). Without the thread (it could not start)
 * or memory for the node, the caller writes the hint itself, as before.
 */
static void
cask_retire(cask *c, cask_retired *ret)
{
    cask_retire_node *n;

    if (ret->f == NULL)
        return;
    if ((n = malloc(sizeof *n)) != NULL) {
        n->next = NULL;
        n->f = ret->f;
        pthread_mutex_lock(&c->retire_mu);
        if (!c->retirer_tried) {
            c->retirer_tried = 1;
            c->retirer_on = pthread_create(&c->retirer, NULL,
                                           cask_retirer_main, c) == 0;
        }
        if (c->retirer_on &&
            c->retire_enq - c->retire_done < CASK_RETIRE_QUEUE) {
            *c->retire_tail = n;
            c->retire_tail = &n->next;
            c->retire_enq++;
            pthread_cond_signal(&c->retire_cv);
            n = NULL; /* the thread's now */
            ret->f = NULL;
        }
        pthread_mutex_unlock(&c->retire_mu);
        free(n);
    }
    if (ret->f != NULL)
        cask_retire_now(c, ret->f);
}

/* The retire thread: hints in rotation order until stopped with an empty
 * queue (cask_close drains it). */
static void *
cask_retirer_main(void *arg)
{
    cask *c = arg;

    pthread_mutex_lock(&c->retire_mu);
    for (;;) {
        cask_retire_node *n = c->retire_head;
        if (n == NULL) {
            if (c->retire_stop)
                break;
            pthread_cond_wait(&c->retire_cv, &c->retire_mu);
            continue;
        }
        c->retire_head = n->next;
        if (c->retire_head == NULL)
            c->retire_tail = &c->retire_head;
        pthread_mutex_unlock(&c->retire_mu);
        cask_retire_now(c, n->f);
        free(n);
        pthread_mutex_lock(&c->retire_mu);
        c->retire_done++;
        pthread_cond_broadcast(&c->retire_done_cv);
    }
    pthread_mutex_unlock(&c->retire_mu);
    return NULL;
}

int
cask_flush_hints(cask *c)
{
    pthread_mutex_lock(&c->retire_mu);
    uint64_t want = c->retire_enq; /* not files queued after this call */
    while (c->retire_done < want)
        pthread_cond_wait(&c->retire_done_cv, &c->retire_mu);
    pthread_mutex_unlock(&c->retire_mu);
    return 0;
}

/* Under log_mu: writes the encoded record at pos of the active file, into
 * its mapping when the record fits there (no system call; the page cache
 * page is the same one a pwrite would fill, so a kill -9 loses nothing
 * that returned), else with pwrite (a mapping that failed, or a record
 * larger than the preallocated file). Encoding in place stores the header,
 * then key and value, then the CRC (cask_rec_encode), so a process killed
 * mid-copy leaves the torn-tail shape recovery expects (FORMAT.md). */
static int
cask_append_bytes(cask *c, cask_file *f, const cask_rec *r, uint64_t n,
                  uint64_t pos)
{
    uint8_t *map = sync_load_rlx(&f->map), stackbuf[512], *buf;

    if (cask_fault(c, "write") != 0)
        return -1;
    if (map != NULL && f->map_rw && pos + n <= f->map_cap) {
        cask_rec_encode(map + pos, r);
        return 0;
    }
    buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    cask_rec_encode(buf, r);
    int rc = cask_write_full(cask_file_fd(f), buf, n, pos);
    if (buf != stackbuf)
        free(buf);
    return rc;
}

/*
 * Page faults on the active file's mapping (the first store into each
 * page allocates it in the page cache) cost microseconds; taken inside
 * log_mu they would stall every writer. So the writer whose record enters
 * a new CASK_PREFAULT chunk of the file populates the chunk after it,
 * writable, once it has left log_mu (MADV_POPULATE_WRITE, Linux 5.14;
 * where it fails the faults simply happen at the copies, as before).
 */
typedef struct cask_prefault {
    cask_file *f;        /* held by the caller's pending record */
    uint64_t off, len;
    uint64_t wb_off, wb_len; /* writeback_plan's range, if wb_len > 0 */
} cask_prefault;

/* Under log_mu: the chunk to populate if [pos, pos + n) entered a new one. */
static void
prefault_plan(cask_file *f, uint64_t pos, uint64_t n, cask_prefault *pf)
{
    uint64_t next = ((pos + n) / CASK_PREFAULT + 1) * CASK_PREFAULT;

    if (pos / CASK_PREFAULT == (pos + n) / CASK_PREFAULT || !f->map_rw ||
        next >= f->map_cap)
        return;
    pf->f = f;
    pf->off = next;
    pf->len = f->map_cap - next < CASK_PREFAULT ? f->map_cap - next
                                                : CASK_PREFAULT;
}

/*
 * Under log_mu: when [pos, pos + n) entered a new CASK_WRITEBACK chunk,
 * the range of whole chunks behind it not yet written back. Rotation
 * fdatasyncs the active file under log_mu, where every writer waits for
 * it; left to the kernel's dirty-page timers, a 64 MiB file reached
 * rotation mostly dirty and that sync took tens of milliseconds (the
 * engine's worst put latency was 145 ms). Started a chunk at a time behind
 * the tail (writeback_run), the data is mostly on disk when rotation
 * syncs. The range is complete (below the tail): no append writes it
 * again.
 */
static void
writeback_plan(cask *c, cask_file *f, uint64_t pos, uint64_t n,
               cask_prefault *pf)
{
    uint64_t to = (pos + n) / CASK_WRITEBACK * CASK_WRITEBACK;

    if (pos / CASK_WRITEBACK == (pos + n) / CASK_WRITEBACK ||
        c->opt.sync == CASK_SYNC_ALWAYS || to <= f->wb_to)
        return;
    pf->f = f;
    pf->wb_off = f->wb_to;
    pf->wb_len = to - f->wb_to;
    f->wb_to = to;
}

static void
prefault_run(const cask_prefault *pf)
{
    if (pf->f != NULL && pf->len > 0)
        madvise(sync_load_rlx(&pf->f->map) + pf->off, pf->len,
                MADV_POPULATE_WRITE);
}

/* Outside log_mu: starts writing back writeback_plan's range, without
 * waiting for it. Its pages leave the writable mapping first, as before a
 * group commit's sync (cask_sync_unmap_written): one TLB shootdown for the
 * range instead of one per page as writeback write-protects them. A
 * failure here changes nothing: rotation's fdatasync still syncs it all
 * and reports. */
static void
writeback_run(const cask_prefault *pf)
{
    cask_file *f = pf->f;

    if (f == NULL || pf->wb_len == 0)
        return;
    if (f->map_rw)
        madvise(sync_load_rlx(&f->map) + pf->wb_off, pf->wb_len,
                MADV_DONTNEED);
    int fd = cask_fd_get(f);
    if (fd >= 0) {
        (void)sync_file_range(fd, (off64_t)pf->wb_off, (off64_t)pf->wb_len,
                              SYNC_FILE_RANGE_WRITE);
        cask_fd_put(f);
    }
}

/*
 * Appends r (r->seq assigned here) and returns the file it went to and its
 * offset; the file's pending count holds it in the table (no merge takes a
 * file with pending records) until the caller's keydir update. The seq
 * and the copy happen under log_mu, so seq order is file order and the
 * file never has a hole: a crash can only cut the last record short. A
 * file this append rotated out comes back in *ret; the caller hands it to
 * cask_retire once it holds no lock (its stripe included), so the hint's
 * read, write and sync stall no other writer.
 */
static int
cask_append(cask *c, cask_rec *r, cask_file **fout, uint64_t *pos,
            cask_retired *ret)
{
    uint64_t n = cask_rec_size(r->klen, r->vlen);
    cask_prefault pf = {0};
    int rc = 0;

    pthread_mutex_lock(&c->log_mu);
    if (sync_load_acq(&c->poisoned)) {
        rc = cask_fail(CASK_EPOISONED, "%s: a write or sync failed earlier "
                                       "(%s); reopen the store", c->dir,
                       cask_strerror(sync_load_acq(&c->poisoned)));
        goto out;
    }
    if (sync_load_rlx(&c->active->size) + n > c->opt.max_file_size &&
        sync_load_rlx(&c->active->size) > CASK_FILE_HDR &&
        (rc = cask_rotate(c, ret)) != 0) {
        cask_poison(c, rc);
        goto out;
    }
    r->seq = c->last_seq + 1;
    *pos = sync_load_rlx(&c->active->size);
    if (cask_append_bytes(c, c->active, r, n, *pos) != 0) {
        rc = cask_fail(cask_write_code(errno),
                       "%s/%010u.data offset %llu: write: %s",
                       c->dir, c->active->id, (unsigned long long)*pos,
                       strerror(errno));
        cask_poison(c, rc);
        goto out;
    }
    c->last_seq = r->seq;
    /* release: cask_verify reads records below size without log_mu */
    sync_store_rel(&c->active->size, *pos + n);
    *fout = c->active;
    sync_faa_rlx(&(*fout)->pending, 1);
    prefault_plan(c->active, *pos, n, &pf);
    writeback_plan(c, c->active, *pos, n, &pf);
out:
    pthread_mutex_unlock(&c->log_mu);
    prefault_run(&pf);
    writeback_run(&pf);
    return rc;
}

uint64_t
cask_last_seq(cask *c)
{
    pthread_mutex_lock(&c->log_mu);
    uint64_t s = c->last_seq;
    pthread_mutex_unlock(&c->log_mu);
    return s;
}

uint32_t
cask_active_id(cask *c)
{
    pthread_mutex_lock(&c->log_mu);
    uint32_t id = c->active != NULL ? c->active->id : 0; /* 0: no file */
    pthread_mutex_unlock(&c->log_mu);
    return id;
}

/* Zero bytes for preallocation, written from here in pieces. */
static const uint8_t cask_zeros[64 << 10];

/*
 * Under log_mu: keeps the active file zero-filled at least half of
 * opt.prealloc_bytes beyond its tail (never past max_file_size), so that
 * the appends a group commit flushes overwrite allocated, initialised
 * blocks inside the file's size and fdatasync has no metadata to commit
 * (DESIGN.md, "Preallocation"). The zeros are written only here, never
 * where a record is: everything from the tail on belongs to the log_mu
 * holder. A failed write poisons the store like a failed append.
 */
static int
cask_prealloc(cask *c)
{
    uint64_t ahead = c->opt.prealloc_bytes;
    uint64_t size = sync_load_rlx(&c->active->size);
    uint64_t from = c->prep_end > size ? c->prep_end : size, to;

    if (ahead == CASK_PREALLOC_OFF || from >= size + ahead / 2)
        return 0;
    to = size + ahead < c->opt.max_file_size ? size + ahead
                                             : c->opt.max_file_size;
    for (uint64_t off = from; off < to; off += sizeof cask_zeros) {
        size_t n = to - off < sizeof cask_zeros ? (size_t)(to - off)
                                                : sizeof cask_zeros;
        if (cask_write_full(cask_file_fd(c->active), cask_zeros, n, off) != 0)
            return cask_fail(CASK_EIO, "%s/%010u.data offset %llu: "
                             "preallocating write: %s", c->dir,
                             c->active->id, (unsigned long long)off,
                             strerror(errno));
    }
    if (to > c->prep_end)
        c->prep_end = to;
    return 0;
}

/*
 * As the leader, under log_mu (so no rotation remaps the file meanwhile),
 * before the fdatasync: drops from the active file's writable mapping the
 * whole pages written since the last sync (below `size`: no append
 * writes there again).
 * fdatasync write-protects every mapped dirty page it writes back, with a
 * TLB shootdown (an inter-processor interrupt) per page; unmapped first,
 * the pages cost one shootdown for the whole range, their dirty state
 * moves to the page cache, and the next read of one maps it again (a
 * minor fault). Measured under `casklab serve --sync always`, where a
 * commit covers hundreds of writes, the per-page shootdowns were about a
 * fifth of the server's CPU.
 */
static void
cask_sync_unmap_written(cask_file *f, uint64_t size)
{
    uint64_t from = f->unmapped_to, to = size / CASK_PAGE * CASK_PAGE;

    if (!f->map_rw || to <= from || to > f->map_cap)
        return;
    if (madvise(sync_load_rlx(&f->map) + from, to - from, MADV_DONTNEED) == 0)
        f->unmapped_to = to;
}

/*
 * As the leader, under sync_mu: fixes the target (every record appended
 * so far), preallocates, and pins the active file for the sync. Older
 * files were made durable when they were rotated out, so syncing the
 * active file is enough.
 */
static int
cask_sync_begin(cask *c, uint64_t *target, cask_file **fout)
{
    pthread_mutex_lock(&c->log_mu);
    *fout = c->active;
    *target = c->last_seq;
    int rc = cask_prealloc(c);
    cask_sync_unmap_written(*fout, sync_load_rlx(&c->active->size));
    cask_file_pin(*fout);
    pthread_mutex_unlock(&c->log_mu);
    return rc;
}

/* Outside sync_mu: one fdatasync of the pinned file (unless rc already
 * failed); unpins it. */
static int
cask_sync_file(cask *c, cask_file *f, int rc)
{
    /* a rotation meanwhile may have let the cache close f: enter it */
    int fd = rc == 0 ? cask_fd_get(f) : rc;

    if (fd >= 0) {
        rc = cask_fault(c, "sync") == 0 && fdatasync(fd) == 0
                 ? 0
                 : cask_fail(cask_write_code(errno), "%s/%010u.data: "
                             "fdatasync: %s", c->dir, f->id, strerror(errno));
        cask_fd_put(f);
    } else {
        rc = fd;
    }
    cask_file_unpin(f);
    return rc;
}

/* The longest a leader waits for its group: a bound on the latency a
 * lone writer pays when the crowd it expects has gone away (once: the
 * crowd is re-measured at the end of that sync). */
#define CASK_GATHER_MAX_NS 1000000u

/* Callers of the group being gathered, plus writers waiting for another
 * writer of their key (see cask_key_lock), under sync_mu. */
static uint32_t
cask_present(cask *c)
{
    return c->group_cur + sync_load_rlx(&c->key_waiters);
}

/*
 * Under sync_mu, as the leader, before reading its target: waits until
 * the current group has as many callers as the whole last round had (the
 * crowd; writers waiting for another writer of their key count as
 * present, since they cannot append before this sync ends), or for as
 * long as the last sync took, whichever comes first. Without it, the
 * writers a sync releases race back and the first one syncs its lone
 * record while the others are still appending: groups alternate 1, N-1
 * and N writers pay two syncs.
 */
static void
cask_gather(cask *c)
{
    uint64_t wait = c->sync_ns < CASK_GATHER_MAX_NS ? c->sync_ns
                                                    : CASK_GATHER_MAX_NS;
    struct timespec ts;

    if (cask_present(c) >= c->sync_crowd)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + wait;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    c->gathering = 1;
    while (cask_present(c) < c->sync_crowd && !sync_load_acq(&c->poisoned))
        if (pthread_cond_timedwait(&c->gather_cv, &c->sync_mu, &ts) ==
            ETIMEDOUT)
            break;
    c->gathering = 0;
}

/* A writer arrived at the group commit or waits for its key: wakes a
 * gathering leader once its group is complete, not at every arrival (a
 * leader woken by each of 15 arrivals to find its group still short cost
 * a context switch apiece, on two cores, inside every round). */
static void
cask_gather_kick_locked(cask *c)
{
    if (c->gathering && cask_present(c) >= c->sync_crowd)
        pthread_cond_signal(&c->gather_cv);
}

/* Sleeps while the futex word still holds `seen` (returns at once if it
 * changed, and may return spuriously: callers re-check). */
static void
cask_futex_wait(_Atomic uint32_t *w, uint32_t seen)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, seen, NULL, NULL,
            0);
}

static void
cask_futex_wake_all(_Atomic uint32_t *w)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL,
            NULL, 0);
}

/* As the leader, with sync_mu held on entry and on return: gathers, syncs
 * once outside sync_mu, publishes the new durable seq and wakes every
 * follower with one futex wake. Writers arriving meanwhile wait for the
 * next group. */
static int
cask_lead(cask *c)
{
    uint64_t t0;
    cask_file *f;
    int rc;

    c->syncing = 1;
    cask_gather(c);
    rc = cask_sync_begin(c, &c->sync_target, &f);
    pthread_mutex_unlock(&c->sync_mu);
    t0 = sync_now_ns();
    rc = cask_sync_file(c, f, rc);
    t0 = sync_now_ns() - t0;
    pthread_mutex_lock(&c->sync_mu);
    c->syncing = 0;
    c->sync_ns = t0;
    c->sync_crowd = c->group_cur + c->group_next;
    c->group_cur = c->group_next;
    c->group_next = 0;
    if (rc != 0) {
        /* Never retry and acknowledge: the kernel may have dropped the
         * dirty pages it failed to write (the fsyncgate lesson). */
        cask_poison(c, rc);
    } else {
        sync_faa_rlx(&c->group_syncs, 1);
        if (c->sync_target > sync_load_rlx(&c->durable_seq))
            sync_store_rel(&c->durable_seq, c->sync_target);
    }
    /* release: a follower that sees the new epoch sees durable_seq and
     * poisoned as published above */
    sync_faa_acqrel(&c->sync_epoch, 1);
    cask_futex_wake_all(&c->sync_epoch);
    return rc;
}

/*
 * A follower: sleeps until the leader at work publishes. Returns 1 if seq
 * is then durable (the caller has left: sync_mu not held), 0 with sync_mu
 * held again to look at the state. Followers sleep on a futex rather than
 * a condition variable: after a condvar broadcast every waiter must take
 * sync_mu back one after the other before it may return, and with a
 * whole group waking at once that queue is most of a round's cost.
 */
static int
cask_follow(cask *c, uint64_t seq)
{
    uint32_t seen = sync_load_rlx(&c->sync_epoch);

    pthread_mutex_unlock(&c->sync_mu);
    while (sync_load_acq(&c->sync_epoch) == seen)
        cask_futex_wait(&c->sync_epoch, seen);
    if (sync_load_acq(&c->durable_seq) >= seq &&
        !sync_load_acq(&c->poisoned)) {
        sync_faa_rlx(&c->group_acks, 1);
        return 1;
    }
    pthread_mutex_lock(&c->sync_mu);
    return 0;
}

int
cask_sync_upto(cask *c, uint64_t seq)
{
    int rc = 0;

    pthread_mutex_lock(&c->sync_mu);
    if (sync_load_rlx(&c->durable_seq) >= seq &&
        !sync_load_acq(&c->poisoned)) {
        pthread_mutex_unlock(&c->sync_mu);
        return 0;
    }
    if (c->syncing && !c->gathering && seq > c->sync_target)
        c->group_next++;
    else
        c->group_cur++;
    cask_gather_kick_locked(c);
    while (sync_load_rlx(&c->durable_seq) < seq ||
           sync_load_acq(&c->poisoned)) {
        if (sync_load_acq(&c->poisoned)) {
            rc = cask_fail(CASK_EPOISONED, "%s: a write or sync failed "
                                           "earlier; reopen the store", c->dir);
            break;
        }
        if (c->syncing) {
            if (cask_follow(c, seq))
                return 0;
            continue;
        }
        rc = cask_lead(c);
        if (rc != 0)
            break;
    }
    if (rc == 0)
        sync_faa_rlx(&c->group_acks, 1);
    pthread_mutex_unlock(&c->sync_mu);
    return rc;
}

int
cask_sync(cask *c)
{
    if (c->opt.read_only)
        return 0; /* nothing was written */
    return cask_sync_upto(c, cask_last_seq(c));
}

/* ---- reads ------------------------------------------------------------------ */

static uint32_t
cask_stripe_of(const void *key, size_t klen)
{
    return kd_hash(key, klen, 0x5bd1e995u) % CASK_STRIPES;
}

/* Under stripe s: is another writer's hold on this key registered? */
static int
cask_key_busy(cask *c, uint32_t s, const void *key, size_t klen)
{
    for (const cask_keyhold *o = c->busy[s]; o != NULL; o = o->next)
        if (o->klen == klen && memcmp(o->key, key, klen) == 0)
            return 1;
    return 0;
}

/*
 * Takes a writer's exclusive hold on its key (DESIGN.md, "Linearizability"):
 * every put, del and cas of one key holds it from before its read or
 * append until after its keydir update, so writes of one key never
 * overlap. Under sync=none and interval that is the key's stripe mutex,
 * held throughout. Under sync=always the hold is an entry in the stripe's
 * busy list and the mutex is released at once, so writers of other keys
 * of the stripe do not wait for this one's group commit; a writer of the
 * same key waits on busy_cv, counted in key_waiters (it cannot join
 * the group being gathered, so the leader does not wait for it).
 */
static void
cask_key_lock(cask *c, const void *key, size_t klen, cask_keyhold *h)
{
    h->stripe = cask_stripe_of(key, klen);
    h->key = key;
    h->klen = klen;
    h->listed = c->opt.sync == CASK_SYNC_ALWAYS;
    pthread_mutex_lock(&c->stripe[h->stripe].mu);
    if (!h->listed)
        return;
    while (cask_key_busy(c, h->stripe, key, klen)) {
        sync_faa_rlx(&c->key_waiters, 1);
        pthread_mutex_lock(&c->sync_mu);
        cask_gather_kick_locked(c);
        pthread_mutex_unlock(&c->sync_mu);
        pthread_cond_wait(&c->busy_cv[h->stripe],
                              &c->stripe[h->stripe].mu);
        sync_fas_rlx(&c->key_waiters, 1);
    }
    h->next = c->busy[h->stripe];
    c->busy[h->stripe] = h;
    pthread_mutex_unlock(&c->stripe[h->stripe].mu);
}

static void
cask_key_unlock(cask *c, cask_keyhold *h)
{
    if (h->listed) {
        pthread_mutex_lock(&c->stripe[h->stripe].mu);
        cask_keyhold **pp = &c->busy[h->stripe];
        while (*pp != h)
            pp = &(*pp)->next;
        *pp = h->next;
        pthread_cond_broadcast(&c->busy_cv[h->stripe]);
    }
    pthread_mutex_unlock(&c->stripe[h->stripe].mu);
}

/* Every check a read makes before it returns a value: the checksum, the
 * length, and the seq and key the keydir entry names; a tombstone is never
 * a value. */
static int
rec_check(cask *c, const cask_file *f, const kd_entry *e, const void *key,
          size_t klen, const uint8_t *b, uint64_t n, cask_rec *r)
{
    uint64_t len;

    if (cask_rec_decode(b, n, r, &len) != 0 || len != n || r->seq != e->seq ||
        r->klen != klen || memcmp(r->key, key, klen) != 0 ||
        (r->flags & CASK_FLAG_TOMB))
        return cask_fail(CASK_ECORRUPT, "%s/%010u.data offset %llu: record "
                         "fails its checksum or does not match the keydir",
                         c->dir, f->id, (unsigned long long)e->value_pos);
    return 0;
}

/*
 * Reads and verifies the record entry e points to, from a pinned file,
 * with pread. On success *buf holds the whole record (caller frees) and
 * *r describes it.
 */
static int
cask_read_rec(cask *c, cask_file *f, const kd_entry *e, const void *key,
              size_t klen, uint8_t **buf, cask_rec *r)
{
    uint64_t n = cask_rec_size((uint32_t)klen, e->value_size);
    uint8_t *b = malloc(n ? n : 1);

    if (b == NULL)
        return cask_fail(CASK_ENOMEM, "out of memory reading %llu bytes",
                         (unsigned long long)n);
    int fd = cask_fd_get(f);
    if (fd < 0) {
        free(b);
        return fd;
    }
    ssize_t got = cask_pread_full(fd, b, n, e->value_pos);
    int err = errno;
    cask_fd_put(f);
    if (got < 0 || (uint64_t)got != n) {
        free(b);
        return cask_fail(CASK_EIO, "%s/%010u.data offset %llu: read: %s",
                         c->dir, f->id, (unsigned long long)e->value_pos,
                         got < 0 ? strerror(err) : "short read");
    }
    int rc = rec_check(c, f, e, key, klen, b, n, r);
    if (rc != 0) {
        free(b);
        return rc;
    }
    *buf = b;
    return 0;
}

static int
rec_expired(const cask_rec *r)
{
    return r->expiry_ms != 0 && r->expiry_ms <= cask_now_ms();
}

/* Asks for every cache line of a mapped record at once: the checks read
 * the header, then the key, then the rest for the checksum, and a record
 * of a 16-byte key and a 100-byte value spans three lines or four; fetched
 * one after another, each line would be its own cache miss (measured: the
 * checksum loop took 9% of a YCSB-C profile, waiting on lines). */
static inline void
cask_prefetch_lines(const uint8_t *b, uint64_t n)
{
    const uint8_t *end = b + n;

    for (const uint8_t *p = (const uint8_t *)((uintptr_t)b & ~(uintptr_t)63);
         p < end; p += 64)
        __builtin_prefetch(p);
}

/* The slow way, for a record the mapping does not cover: pin the file
 * (inside the section, so the table's reference is still held), leave
 * the section, pread. */
static int
visit_pread(cask *c, cask_file *f, const kd_entry *e, const void *key,
            size_t klen, cask_get_fn fn, void *arg)
{
    uint8_t *buf;
    cask_rec r;

    cask_file_pin(f);
    sync_reclaim_exit(c->rcl);
    int rc = cask_read_rec(c, f, e, key, klen, &buf, &r);
    cask_file_unpin(f);
    if (rc != 0)
        return rc;
    rc = rec_expired(&r) ? CASK_ENOTFOUND : fn(r.val, r.vlen, arg);
    free(buf);
    return rc;
}

/*
 * The key's visible value, handed to fn in place. The common case writes
 * no shared memory, makes no system call and allocates nothing: inside a
 * read-side section of c->rcl it looks the key up, finds the file in the
 * lock-free table, checks the record in the file's mapping and calls fn on
 * it there; the section keeps the file mapped until fn returns, even if a
 * merge retires it meanwhile. If the file left the table between lookup
 * and use, the keydir already points at the record's new home, so look
 * again; the same entry coming back with its file gone would be a bug,
 * reported rather than looped on.
 */
static int
cask_visit(cask *c, const void *key, size_t klen, cask_get_fn fn, void *arg)
{
    kd_entry e, prev = {0, 0, 0, 0};
    int have_prev = 0, rc;
    cask_rec r;

    for (;;) {
        sync_reclaim_enter(c->rcl);
        rc = kd_get(c->kd, key, klen, &e);
        cask_file *f = rc == KD_OK ? cask_tab_at(cask_tab_now(c), e.file_id)
                                   : NULL;
        if (f == NULL) {
            sync_reclaim_exit(c->rcl);
            if (rc == KD_ENOTFOUND)
                return CASK_ENOTFOUND;
            if (rc != KD_OK)
                return cask_fail(CASK_EINVAL, "keydir: %s", kd_strerror(rc));
            if (have_prev && kd_entry_eq(&prev, &e))
                return cask_fail(CASK_EIO, "%s/%010u.data: file of a live "
                                 "key is gone", c->dir, e.file_id);
            prev = e;
            have_prev = 1;
            continue;
        }
        uint64_t n = cask_rec_size((uint32_t)klen, e.value_size);
        /* acquire: the mapping published before map_len is seen */
        if (e.value_pos + n > sync_load_acq(&f->map_len))
            return visit_pread(c, f, &e, key, klen, fn, arg);
        const uint8_t *b = sync_load_rlx(&f->map) + e.value_pos;
        cask_prefetch_lines(b, n);
        rc = rec_check(c, f, &e, key, klen, b, n, &r);
        if (rc == 0)
            rc = rec_expired(&r) ? CASK_ENOTFOUND : fn(r.val, r.vlen, arg);
        sync_reclaim_exit(c->rcl);
        return rc;
    }
}

/*
 * The keydir's quiescent-state announcement, after every
 * CASK_QUIESCE_EVERY operations of the calling thread on one store rather
 * than after each: an announcement is a fence, a scan of every thread's
 * slot and often a CAS on the keydir's global epoch - a write to a line
 * every thread reads, which is what a get must not do. Reclamation is
 * only delayed by that many operations (a thread that alternates between
 * stores announces to each every time). QSBR asks for periodic
 * announcements, not one per operation.
 */
#define CASK_QUIESCE_EVERY 32u

static _Thread_local struct {
    const cask *c;
    unsigned ops;
} cask_quiesce_tls;

static void
cask_quiesce(cask *c)
{
    if (cask_quiesce_tls.c == c && ++cask_quiesce_tls.ops < CASK_QUIESCE_EVERY)
        return;
    cask_quiesce_tls.c = c;
    cask_quiesce_tls.ops = 0;
    kd_quiescent(c->kd);
}

static int
cask_check_key(size_t klen)
{
    if (klen == 0 || klen > CASK_KEY_MAX)
        return cask_fail(CASK_EINVAL, "key of %zu bytes (1..%u allowed)",
                         klen, CASK_KEY_MAX);
    return 0;
}

typedef struct get_copy {
    void *buf;
    size_t cap;
    size_t *vlen;
} get_copy;

static int
get_malloc_fn(const void *val, size_t vlen, void *arg)
{
    get_copy *g = arg;

    *g->vlen = vlen;
    if (vlen == 0) {
        *(void **)g->buf = NULL;
        return 0;
    }
    void *p = malloc(vlen);
    if (p == NULL)
        return cask_fail(CASK_ENOMEM, "out of memory for a %zu-byte value",
                         vlen);
    memcpy(p, val, vlen);
    *(void **)g->buf = p;
    return 0;
}

int
cask_get(cask *c, const void *key, size_t klen, void **val, size_t *vlen)
{
    get_copy g = {val, 0, vlen};

    return cask_get_with(c, key, klen, get_malloc_fn, &g);
}

static int
get_buf_fn(const void *val, size_t vlen, void *arg)
{
    get_copy *g = arg;

    *g->vlen = vlen;
    if (vlen > g->cap)
        return cask_fail(CASK_ETOOBIG, "value of %zu bytes, buffer of %zu",
                         vlen, g->cap);
    if (vlen > 0)
        memcpy(g->buf, val, vlen);
    return 0;
}

int
cask_get_buf(cask *c, const void *key, size_t klen, void *buf, size_t cap,
             size_t *vlen)
{
    get_copy g = {buf, cap, vlen};

    return cask_get_with(c, key, klen, get_buf_fn, &g);
}

/* Every read: cask_get and cask_get_buf are this with their own fn. */
int
cask_get_with(cask *c, const void *key, size_t klen, cask_get_fn fn,
              void *arg)
{
    int rc = cask_check_key(klen);

    if (rc != 0)
        return rc;
    rc = cask_visit(c, key, klen, fn, arg);
    cask_quiesce(c);
    return rc;
}

/* ---- writes ----------------------------------------------------------------- */

/*
 * Holding the key (cask_key_lock): appends (value or tombstone), waits for
 * durability if asked, then updates the keydir - the linearization point.
 */
static int
cask_write_locked(cask *c, const cask_keyhold *h, const void *val,
                  size_t vlen, uint64_t ttl_ms, int tomb, cask_retired *ret)
{
    const void *key = h->key;
    size_t klen = h->klen;
    cask_rec r = {0};
    cask_file *f = NULL;
    uint64_t pos = 0, n = cask_rec_size((uint32_t)klen, (uint32_t)vlen);
    kd_entry old;
    int rc;

    r.klen = (uint32_t)klen;
    r.vlen = (uint32_t)vlen;
    r.key = key;
    r.val = val;
    r.flags = tomb ? CASK_FLAG_TOMB : 0;
    r.tstamp_ms = cask_now_ms();
    r.expiry_ms = ttl_ms ? r.tstamp_ms + ttl_ms : 0;
    rc = cask_append(c, &r, &f, &pos, ret);
    if (rc != 0)
        return rc;
    if (c->opt.sync == CASK_SYNC_ALWAYS)
        rc = cask_sync_upto(c, r.seq);
    if (rc == 0) {
        kd_entry e = {f->id, (uint32_t)vlen, pos, r.seq};
        /* a listed hold updates the keydir under the stripe mutex, as an
         * unlisted one does: cask_fold's snapshot holds every stripe */
        if (h->listed)
            pthread_mutex_lock(&c->stripe[h->stripe].mu);
        int k = tomb ? kd_del(c->kd, key, klen, &old)
                     : kd_put(c->kd, key, klen, &e, &old);
        if (h->listed)
            pthread_mutex_unlock(&c->stripe[h->stripe].mu);
        if (k == KD_ENOMEM) {
            /* The record is in the log but not in the keydir: the live
             * store and a recovery would disagree, so refuse further writes */
            cask_poison(c, CASK_ENOMEM);
            rc = cask_fail(CASK_ENOMEM, "keydir out of memory");
        } else {
            if (!tomb)
                sync_faa_rlx(&f->live, (int64_t)n);
            if (k == KD_REPLACED || (tomb && k == KD_OK))
                cask_account_dead(c, old.file_id,
                                  cask_rec_size((uint32_t)klen,
                                                old.value_size));
        }
    }
    /* release: a merge that sees no pending record sees the keydir
     * update; f may be retired (and freed) right after */
    sync_fas_acqrel(&f->pending, 1);
    return rc;
}

/* Every write's first check (put, del, cas, merge): the same answer for
 * each, whatever the key; a read-only store never reaches cask_append. */
int
cask_check_writable(const cask *c)
{
    return c->opt.read_only
               ? cask_fail(CASK_EREADONLY, "%s: opened read-only", c->dir)
               : 0;
}

static int
cask_check_kv(size_t klen, size_t vlen)
{
    if (klen == 0 || klen > CASK_KEY_MAX || vlen > CASK_VALUE_MAX)
        return cask_fail(klen == 0 ? CASK_EINVAL : CASK_ETOOBIG,
                         "key of %zu bytes (1..%u) or value of %zu bytes "
                         "(0..%u)", klen, CASK_KEY_MAX, vlen, CASK_VALUE_MAX);
    return 0;
}

int
cask_put_ttl(cask *c, const void *key, size_t klen, const void *val,
             size_t vlen, uint64_t ttl_ms)
{
    cask_retired ret = {0};
    int rc = cask_check_writable(c);

    if (rc == 0)
        rc = cask_check_kv(klen, vlen);
    if (rc != 0)
        return rc;
    cask_keyhold h;
    cask_key_lock(c, key, klen, &h);
    rc = cask_write_locked(c, &h, val, vlen, ttl_ms, 0, &ret);
    cask_key_unlock(c, &h);
    cask_retire(c, &ret);
    cask_quiesce(c);
    return rc;
}

int
cask_put(cask *c, const void *key, size_t klen, const void *val, size_t vlen)
{
    return cask_put_ttl(c, key, klen, val, vlen, 0);
}

static int
exists_fn(const void *val, size_t vlen, void *arg)
{
    (void)val;
    (void)vlen;
    (void)arg;
    return 0;
}

int
cask_del(cask *c, const void *key, size_t klen)
{
    cask_retired ret = {0};
    int rc = cask_check_writable(c);

    if (rc == 0)
        rc = cask_check_key(klen);
    if (rc != 0)
        return rc;
    cask_keyhold h;
    cask_key_lock(c, key, klen, &h);
    rc = cask_visit(c, key, klen, exists_fn, NULL);
    if (rc == 0)
        rc = cask_write_locked(c, &h, NULL, 0, 0, 1, &ret);
    cask_key_unlock(c, &h);
    cask_retire(c, &ret);
    cask_quiesce(c);
    return rc;
}

typedef struct cas_expect {
    const void *p; /* NULL: the key must be absent */
    size_t len;
} cas_expect;

/* 0 if the current value is the expected one, else CASK_ECHANGED. */
static int
cas_cmp_fn(const void *val, size_t vlen, void *arg)
{
    const cas_expect *x = arg;

    return x->p != NULL && vlen == x->len &&
                   (vlen == 0 || memcmp(val, x->p, vlen) == 0)
               ? 0
               : CASK_ECHANGED;
}

int
cask_cas(cask *c, const void *key, size_t klen, const void *expect,
         size_t elen, const void *val, size_t vlen)
{
    cask_retired ret = {0};
    cas_expect x = {expect, elen};
    int rc = cask_check_writable(c);

    if (rc == 0)
        rc = cask_check_kv(klen, val ? vlen : 0);
    if (rc != 0)
        return rc;
    cask_keyhold h;
    cask_key_lock(c, key, klen, &h);
    /* holding the key: no writer of it runs until the update */
    rc = cask_visit(c, key, klen, cas_cmp_fn, &x);
    if (rc == CASK_ENOTFOUND)
        rc = expect == NULL ? 0 : CASK_ECHANGED;
    if (rc == 0 && (val != NULL || expect != NULL))
        rc = cask_write_locked(c, &h, val, vlen, 0, val == NULL, &ret);
    cask_key_unlock(c, &h);
    cask_retire(c, &ret);
    cask_quiesce(c);
    return rc;
}

/* ---- fold ------------------------------------------------------------------- */

typedef struct fold_item {
    kd_entry e;
    uint32_t klen;
    uint8_t *key;
} fold_item;

typedef struct fold_list {
    fold_item *v;
    size_t n, cap;
    int oom;
} fold_list;

static int
fold_collect(const void *key, size_t klen, const kd_entry *e, void *arg)
{
    fold_list *l = arg;

    fold_item *nv = cask_grow(l->v, l->n, &l->cap, sizeof *nv, 1024);
    if (nv == NULL)
        return l->oom = 1;
    l->v = nv;
    fold_item *it = &l->v[l->n];
    it->key = malloc(klen);
    if (it->key == NULL)
        return l->oom = 1;
    memcpy(it->key, key, klen);
    it->klen = (uint32_t)klen;
    it->e = *e;
    l->n++;
    return 0;
}

/* Pins every file in the table: the snapshot's records stay readable even
 * if a merge retires their files while the fold runs. */
static cask_file **
fold_pin_all(cask *c, uint32_t *cap)
{
    pthread_rwlock_rdlock(&c->tab_lock);
    cask_ftab *t = cask_tab_now(c);
    *cap = t->cap;
    cask_file **pins = calloc(*cap ? *cap : 1, sizeof *pins);
    for (uint32_t i = 0; pins != NULL && i < *cap; i++)
        if ((pins[i] = cask_tab_at(t, i)) != NULL)
            cask_file_pin(pins[i]);
    pthread_rwlock_unlock(&c->tab_lock);
    return pins;
}

/*
 * The snapshot: with inst_mu (no merge installing) and every stripe lock
 * held, no keydir entry can change, so the copied entries are the store's
 * state at that instant, and pinning the files keeps them readable.
 */
static int
fold_snapshot(cask *c, fold_list *l, cask_file ***pins, uint32_t *npins)
{
    int rc;

    pthread_mutex_lock(&c->inst_mu);
    for (uint32_t i = 0; i < CASK_STRIPES; i++)
        pthread_mutex_lock(&c->stripe[i].mu);
    rc = kd_iterate(c->kd, fold_collect, l);
    *pins = fold_pin_all(c, npins);
    for (uint32_t i = 0; i < CASK_STRIPES; i++)
        pthread_mutex_unlock(&c->stripe[CASK_STRIPES - 1 - i].mu);
    pthread_mutex_unlock(&c->inst_mu);
    if (l->oom || rc != 0 || *pins == NULL)
        return cask_fail(CASK_ENOMEM, "fold: out of memory for the snapshot");
    return 0;
}

static int
fold_visit(cask *c, cask_file **pins, uint32_t npins, const fold_item *it,
           uint64_t now, cask_fold_fn fn, void *arg)
{
    uint8_t *buf;
    cask_rec r;

    if (it->e.file_id >= npins || pins[it->e.file_id] == NULL)
        return cask_fail(CASK_EIO, "%s/%010u.data: file of a live key is "
                         "gone", c->dir, it->e.file_id);
    int rc = cask_read_rec(c, pins[it->e.file_id], &it->e, it->key, it->klen,
                           &buf, &r);
    if (rc != 0)
        return rc;
    if (r.expiry_ms == 0 || r.expiry_ms > now)
        rc = fn(it->key, it->klen, r.val, r.vlen, arg);
    free(buf);
    return rc;
}

int
cask_fold(cask *c, cask_fold_fn fn, void *arg)
{
    fold_list l = {0};
    cask_file **pins = NULL;
    uint32_t npins = 0;
    uint64_t now = cask_now_ms();
    int rc = fold_snapshot(c, &l, &pins, &npins);

    cask_quiesce(c);
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        rc = fold_visit(c, pins, npins, &l.v[i], now, fn, arg);
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].key);
    free(l.v);
    for (uint32_t i = 0; pins != NULL && i < npins; i++)
        if (pins[i] != NULL)
            cask_file_unpin(pins[i]);
    free(pins);
    return rc;
}

/* ---- stats ------------------------------------------------------------------ */

/* The active file is created preallocated to cask_active_cap (DESIGN.md,
 * "Preallocation"): the pages past its last record are allocated on disk
 * but hold nothing yet. */
static uint64_t
cask_reserved(const cask_file *f, uint64_t size)
{
    uint64_t used = cask_page_up(size), cap = f->prealloc;

    return cap > used ? cap - used : 0;
}

int
cask_stats(cask *c, cask_info *st)
{
    uint32_t active = cask_active_id(c);

    memset(st, 0, sizeof *st);
    st->keys = kd_count(c->kd);
    st->keydir = kd_name(c->kd);
    st->keydir_bytes = kd_memory(c->kd);
    st->keydir_bytes_per_key =
        st->keys ? (double)st->keydir_bytes / (double)st->keys : 0.0;
    st->merges = sync_load_rlx(&c->merges);
    st->merge_ns_total = sync_load_rlx(&c->merge_ns_total);
    st->merge_ns_last = sync_load_rlx(&c->merge_ns_last);
    st->merge_errors = sync_load_rlx(&c->merge_errors);
    st->hints_written = sync_load_rlx(&c->hints_written);
    pthread_mutex_lock(&c->stop_mu);
    st->auto_merge_runs = c->auto_merge_runs;
    pthread_mutex_unlock(&c->stop_mu);
    st->open_ns = c->open_ns;
    st->hints_loaded = c->hints_loaded;
    st->files_scanned = c->files_scanned;
    st->recover_threads = c->recover_threads;
    st->keydir_presized = c->keydir_presized;
    st->torn_bytes = c->torn_bytes;
    st->beside_writer = c->beside_writer;
    st->syncs = sync_load_rlx(&c->group_syncs);
    st->sync_acks = sync_load_rlx(&c->group_acks);
    pthread_rwlock_rdlock(&c->tab_lock);
    cask_ftab *t = cask_tab_now(c);
    st->file = calloc(t->cap ? t->cap : 1, sizeof *st->file);
    for (uint32_t i = 0; st->file != NULL && i < t->cap; i++) {
        cask_file *f = cask_tab_at(t, i);
        if (f == NULL)
            continue;
        cask_file_stats *fs = &st->file[st->nfile++];
        int64_t live = sync_load_rlx(&f->live);
        fs->id = f->id;
        fs->bytes = sync_load_rlx(&f->size);
        fs->live_bytes = live > 0 ? (uint64_t)live : 0;
        fs->has_hint = sync_load_rlx(&f->has_hint);
        st->total_bytes += fs->bytes;
        st->live_bytes += fs->live_bytes;
        if (f->id != active && fs->bytes > fs->live_bytes)
            st->reclaimable_bytes += fs->bytes - fs->live_bytes;
        if (f->id == active)
            st->reserved_bytes = cask_reserved(f, fs->bytes);
    }
    pthread_rwlock_unlock(&c->tab_lock);
    st->files = st->nfile;
    /* data files, plus the lock file and the directory */
    st->open_fds = sync_load_rlx(&c->open_fds) + 2;
    return st->file == NULL ? cask_fail(CASK_ENOMEM, "stats: out of memory")
                            : 0;
}

void
cask_info_free(cask_info *st)
{
    free(st->file);
    st->file = NULL;
    st->nfile = 0;
}

/* ---- open and close ----------------------------------------------------------- */

int
cask_parse_sync(const char *s, cask_options *o)
{
    if (strcmp(s, "none") == 0) {
        o->sync = CASK_SYNC_NONE;
    } else if (strcmp(s, "always") == 0) {
        o->sync = CASK_SYNC_ALWAYS;
    } else if (strncmp(s, "interval:", 9) == 0) {
        char *end;
        errno = 0;
        unsigned long ms = strtoul(s + 9, &end, 10);
        if (errno != 0 || end == s + 9 || *end != '\0' || ms == 0 ||
            ms > 3600000)
            return cask_fail(CASK_EINVAL, "sync mode '%s': interval needs "
                             "1..3600000 ms", s);
        o->sync = CASK_SYNC_INTERVAL;
        o->sync_interval_ms = (uint32_t)ms;
    } else {
        return cask_fail(CASK_EINVAL, "sync mode '%s': want none, always or "
                         "interval:<ms>", s);
    }
    return 0;
}

static void
cask_defaults(cask_options *o)
{
    if (o->keydir == NULL)
        o->keydir = "striped";
    if (o->sync_interval_ms == 0)
        o->sync_interval_ms = 100;
    if (o->max_file_size == 0)
        o->max_file_size = 64u << 20;
    if (o->max_open_files == 0)
        o->max_open_files = 256;
    if (o->frag_trigger_pct == 0)
        o->frag_trigger_pct = 60;
    if (o->dead_bytes_trigger == 0)
        o->dead_bytes_trigger = 512u << 20;
    if (o->frag_threshold_pct == 0)
        o->frag_threshold_pct = 40;
    if (o->dead_bytes_threshold == 0)
        o->dead_bytes_threshold = 128u << 20;
    if (o->tier_min_files == 0)
        o->tier_min_files = 4;
    if (o->merge_check_ms == 0)
        o->merge_check_ms = 1000;
    if (o->prealloc_bytes == 0)
        o->prealloc_bytes = 1u << 20;
    if (o->recover_threads > 64)
        o->recover_threads = 64;
    if (o->read_only) { /* nothing to sync or merge */
        o->sync = CASK_SYNC_NONE;
        o->auto_merge = 0;
    }
    if (o->tier_base == 0)
        o->tier_base = o->max_file_size / 16 ? o->max_file_size / 16 : 1;
}

/* flock is released by the kernel when its holder dies, so a lock file
 * left behind by a crash never blocks; the pid inside is only for the
 * message. */
static int
cask_lock_dir(cask *c)
{
    char path[4096], pid[32] = "";

    snprintf(path, sizeof path, "%s/LOCK", c->dir);
    c->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->lockfd < 0 && c->opt.read_only) /* a read-only mount: flock works */
        c->lockfd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->lockfd < 0)
        return cask_fail(CASK_EIO, "%s: %s", path, strerror(errno));
    if (flock(c->lockfd, (c->opt.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) !=
        0) {
        int e = errno;
        ssize_t n = cask_pread_full(c->lockfd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK && c->opt.read_only) {
            /* a writer holds it: load a snapshot beside it, lock-free */
            c->beside_writer = 1;
            cask_log(c, "%s: opened read-only beside a writer (pid %s): a "
                        "snapshot as of this open", c->dir, pid[0] ? pid : "?");
            return 0;
        }
        return cask_fail(e == EWOULDBLOCK ? CASK_ELOCKED : CASK_EIO,
                         "%s: held by another open store (writer pid %s, or "
                         "a read-only open): %s", path, pid[0] ? pid : "?",
                         strerror(e));
    }
    if (c->opt.read_only)
        return 0; /* writes nothing, the pid included */
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(c->lockfd, 0) != 0 ||
        cask_write_full(c->lockfd, pid, (size_t)n, 0) != 0)
        return cask_fail(CASK_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static void *
cask_syncer_main(void *arg)
{
    cask *c = arg;
    struct timespec ts;

    pthread_mutex_lock(&c->stop_mu);
    while (!c->stopping) {
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec +
                      (uint64_t)c->opt.sync_interval_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&c->stop_cv, &c->stop_mu, &ts);
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->stop_mu);
        cask_sync(c); /* a failure poisons the store; writers report it */
        pthread_mutex_lock(&c->stop_mu);
    }
    pthread_mutex_unlock(&c->stop_mu);
    return NULL;
}

/* log_mu and the stripe locks are held for about a hundred nanoseconds
 * (one copy into the mapping); a waiter that goes to sleep in the kernel
 * pays microseconds to be woken, so where glibc offers it the waiter spins
 * a bounded while first (its adaptive mutex), then sleeps. */
static void
cask_short_mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;

    pthread_mutexattr_init(&a);
#ifdef __GLIBC__
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

static int
cask_init_locks(cask *c)
{
    cask_ftab *t = tab_alloc(0);

    for (uint32_t i = 0; i < CASK_STRIPES; i++) {
        cask_short_mutex_init(&c->stripe[i].mu);
        pthread_cond_init(&c->busy_cv[i], NULL);
    }
    cask_short_mutex_init(&c->log_mu);
    pthread_mutex_init(&c->logfn_mu, NULL);
    pthread_mutex_init(&c->sync_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->gather_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_rwlock_init(&c->tab_lock, NULL);
    pthread_mutex_init(&c->merge_mu, NULL);
    pthread_mutex_init(&c->inst_mu, NULL);
    pthread_mutex_init(&c->stop_mu, NULL);
    pthread_cond_init(&c->stop_cv, NULL);
    pthread_cond_init(&c->merge_cv, NULL);
    pthread_cond_init(&c->merge_done_cv, NULL);
    pthread_mutex_init(&c->retire_mu, NULL);
    pthread_cond_init(&c->retire_cv, NULL);
    pthread_cond_init(&c->retire_done_cv, NULL);
    c->retire_tail = &c->retire_head;
    atomic_init(&c->ftab, t);
    if (t == NULL || sync_reclaim_create("epoch", &c->rcl) != SYNC_OK)
        return cask_fail(CASK_ENOMEM, "out of memory");
    return 0;
}

static void
cask_free(cask *c)
{
    /* first what waits for a grace period: retired files and tables */
    if (c->rcl != NULL)
        sync_reclaim_destroy(c->rcl);
    if (c->active != NULL)
        cask_file_unpin(c->active);
    cask_ftab *t = sync_load_acq(&c->ftab);
    for (uint32_t i = 0; t != NULL && i < t->cap; i++)
        if (cask_tab_at(t, i) != NULL)
            cask_file_unpin(cask_tab_at(t, i));
    free(t);
    if (c->kd != NULL)
        kd_close(c->kd);
    if (c->lockfd >= 0)
        close(c->lockfd);
    if (c->dirfd >= 0)
        close(c->dirfd);
    for (uint32_t i = 0; i < CASK_STRIPES; i++) {
        pthread_mutex_destroy(&c->stripe[i].mu);
        pthread_cond_destroy(&c->busy_cv[i]);
    }
    pthread_mutex_destroy(&c->log_mu);
    pthread_mutex_destroy(&c->logfn_mu);
    pthread_mutex_destroy(&c->sync_mu);
    pthread_cond_destroy(&c->gather_cv);
    pthread_rwlock_destroy(&c->tab_lock);
    pthread_mutex_destroy(&c->merge_mu);
    pthread_mutex_destroy(&c->inst_mu);
    pthread_mutex_destroy(&c->stop_mu);
    pthread_cond_destroy(&c->stop_cv);
    pthread_cond_destroy(&c->merge_cv);
    pthread_cond_destroy(&c->merge_done_cv);
    pthread_mutex_destroy(&c->retire_mu);
    pthread_cond_destroy(&c->retire_cv);
    pthread_cond_destroy(&c->retire_done_cv);
    free(c->dir);
    free(c);
}

static int
cask_open_dir(cask *c, const char *dir)
{
    if (!c->opt.read_only && mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cask_fail(CASK_EIO, "%s: mkdir: %s", dir, strerror(errno));
    c->dir = strdup(dir);
    if (c->dir == NULL)
        return cask_fail(CASK_ENOMEM, "out of memory");
    c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->dirfd < 0)
        return cask_fail(CASK_EIO, "%s: %s", dir, strerror(errno));
    return cask_lock_dir(c);
}

static int
cask_open_keydir(cask *c)
{
    kd_options ko = {0};

    if (c->opt.kd_opt != NULL)
        ko = *c->opt.kd_opt;
    if (ko.capacity_hint == 0) /* the caller's hint, else the files' */
        ko.capacity_hint = cask_estimate_keys(c);
    c->keydir_presized = ko.capacity_hint;
    int rc = kd_open(c->opt.keydir, &ko, &c->kd);

    if (rc == KD_ENOKEYDIR)
        return cask_fail(CASK_ENOKEYDIR, "no keydir named '%s'",
                         c->opt.keydir);
    if (rc != KD_OK)
        return cask_fail(CASK_ENOMEM, "keydir '%s': %s", c->opt.keydir,
                         kd_strerror(rc));
    return 0;
}

/*
 * The open's fresh active file. On a full disk its preallocation fails;
 * then it starts empty, unmapped, and appends write(2) to it, so that the
 * store still opens: every get works, a merge or a delete can be tried,
 * and a write fails (and poisons the store) only if it finds no space.
 * Refusing the open would leave the data unreadable until space is freed
 * elsewhere.
 */
static int
cask_open_active(cask *c)
{
    uint32_t id = sync_faa_rlx(&c->next_id, 1);
    int rc = cask_create_file(c, id, cask_active_cap(c), &c->active);

    if (rc != CASK_ENOSPC)
        return rc;
    cask_log(c, "%s; the store opens with %s/%010u.data unpreallocated, "
                "and writes fail while there is no space", cask_errdetail(),
             c->dir, id);
    /* no zero-filling ahead either: it would need the space too */
    c->opt.prealloc_bytes = CASK_PREALLOC_OFF;
    return cask_create_file(c, id, 0, &c->active);
}

/* Recovery, then a fresh active file: an old file's tail is never
 * appended to, so whatever recovery decided about it stays decided. */
static int
cask_open_log(cask *c)
{
    int rc;

    kd_thread_register(c->kd);
    rc = cask_recover(c);
    kd_thread_unregister(c->kd);
    if (rc != 0)
        return rc;
    c->last_seq = c->max_seq_seen;
    sync_store_rlx(&c->durable_seq, c->max_seq_seen);
    if (c->opt.read_only)
        return 0; /* no active file: nothing is ever appended */
    rc = cask_open_active(c);
    if (rc != 0)
        return rc;
    rc = cask_tab_add(c, c->active);
    if (rc != 0) {
        cask_file_unpin(c->active);
        c->active = NULL;
        return rc;
    }
    cask_file_pin(c->active); /* the log's reference, besides the table's */
    return 0;
}

static void cask_stop_threads(cask *c);

static int
cask_open_once(const char *dir, const cask_options *opt, cask **out)
{
    uint64_t t0 = sync_now_ns();
    /* aligned: the stripe locks are one per cache line */
    cask *c = aligned_alloc(64, (sizeof *c + 63) & ~(size_t)63);
    int rc;

    *out = NULL;
    if (c == NULL)
        return cask_fail(CASK_ENOMEM, "out of memory");
    memset(c, 0, sizeof *c);
    c->dirfd = c->lockfd = -1;
    if (opt != NULL)
        c->opt = *opt;
    cask_defaults(&c->opt);
    rc = cask_init_locks(c);
    if (rc == 0)
        rc = cask_open_dir(c, dir);
    if (rc == 0)
        rc = cask_open_keydir(c);
    if (rc == 0)
        rc = cask_open_log(c);
    if (rc == 0 && c->opt.sync == CASK_SYNC_INTERVAL) {
        if (pthread_create(&c->syncer, NULL, cask_syncer_main, c) != 0)
            rc = cask_fail(CASK_ENOMEM, "cannot start the sync thread");
        else
            c->syncer_on = 1;
    }
    if (rc == 0 && c->opt.auto_merge)
        rc = cask_merger_start(c);
    if (rc != 0) {
        cask_stop_threads(c);
        cask_free(c);
        return rc;
    }
    c->open_ns = sync_now_ns() - t0;
    *out = c;
    return 0;
}

/* Loads a read-only open beside a writer takes at most, when the writer
 * rotated or merged files under each of them (CASK_EBUSY). */
#define CASK_BUSY_TRIES 8

int
cask_open(const char *dir, const cask_options *opt, cask **out)
{
    int rc = cask_open_once(dir, opt, out);

    /* only a read-only open beside a writer fails with CASK_EBUSY */
    for (unsigned i = 1; rc == CASK_EBUSY && i < CASK_BUSY_TRIES; i++) {
        struct timespec nap = {0, 5000000L * i}; /* 5, 10, ... 35 ms */
        nanosleep(&nap, NULL);
        rc = cask_open_once(dir, opt, out);
    }
    return rc;
}

/* Stops the sync, merge and retire threads; a merge in progress finishes
 * first (cask_merge leaves the store whole at every step, so waiting for
 * it is the only safe stop), and the retire thread writes every hint still
 * queued. */
static void
cask_stop_threads(cask *c)
{
    cask_merger_stop(c);
    if (c->syncer_on) {
        pthread_mutex_lock(&c->stop_mu);
        c->stopping = 1;
        pthread_cond_signal(&c->stop_cv);
        pthread_mutex_unlock(&c->stop_mu);
        pthread_join(c->syncer, NULL);
        c->syncer_on = 0;
    }
    pthread_mutex_lock(&c->retire_mu);
    int on = c->retirer_on;
    c->retire_stop = 1;
    pthread_cond_signal(&c->retire_cv);
    pthread_mutex_unlock(&c->retire_mu);
    if (on) {
        pthread_join(c->retirer, NULL);
        c->retirer_on = 0;
    }
}

int
cask_close(cask *c)
{
    int rc;

    if (c == NULL)
        return 0;
    cask_stop_threads(c);
    if (c->opt.read_only) {
        cask_free(c);
        return 0;
    }
    /* the last sync zero-fills nothing, and the preallocated tail goes: a
     * closed store's files end at their last record (the sync below makes
     * the new size durable) */
    c->opt.prealloc_bytes = CASK_PREALLOC_OFF;
    int trc = ftruncate(cask_file_fd(c->active),
                        (off_t)sync_load_rlx(&c->active->size)) == 0
                  ? 0
                  : cask_fail(CASK_EIO, "%s/%010u.data: truncate: %s", c->dir,
                              c->active->id, strerror(errno));
    rc = sync_load_acq(&c->poisoned) ? 0 : cask_sync(c);
    if (rc == 0)
        rc = trc;
    /* the records were durable already, the new size may not be */
    if (rc == 0 && !sync_load_acq(&c->poisoned) &&
        fdatasync(cask_file_fd(c->active)) != 0)
        rc = cask_fail(CASK_EIO, "%s/%010u.data: fdatasync: %s", c->dir,
                       c->active->id, strerror(errno));
    if (rc == 0 && !sync_load_acq(&c->poisoned))
        cask_hint_missing(c);
    cask_free(c);
    return rc;
}

void
cask_thread_register(cask *c)
{
    kd_thread_register(c->kd);
    sync_reclaim_register(c->rcl);
}

void
cask_thread_unregister(cask *c)
{
    sync_reclaim_unregister(c->rcl);
    kd_thread_unregister(c->kd);
}
