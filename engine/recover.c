/*
 * engine/recover.c - open-time recovery: finish or discard an interrupted
 * merge, then rebuild the keydir from hint files where they are valid and
 * by scanning data files where they are not.
 *
 * Every record carries its seq, and the keydir is rebuilt with
 * put_if_newer, so the order in which files are read does not matter: the
 * newest record of each key wins, as it did in the live store. That is
 * also why several threads may load files at once (load_files below).
 * Tombstones enter the keydir as marker entries (CASK_TOMB_MARK) for the duration, so
 * an older put read after a newer delete stays dead; the markers are
 * removed at the end. engine/DESIGN.md argues why the result is a state the
 * live store was in.
 */
#include "engine/cask_internal.h"
#include "sync/atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct rec_ids {
    uint32_t *v;
    size_t n, cap;
} rec_ids;

static int
ids_push(rec_ids *l, uint32_t id)
{
    uint32_t *nv = cask_grow(l->v, l->n, &l->cap, sizeof *nv, 64);
    if (nv == NULL)
        return cask_fail(CASK_ENOMEM, "recovery: out of memory");
    l->v = nv;
    l->v[l->n++] = id;
    return 0;
}

static int
ids_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Parses "<10 digits>.<ext>"; returns 1 and *id on a match. */
static int
name_id(const char *name, const char *ext, uint32_t *id)
{
    char tail[16];
    unsigned long v;

    if (strlen(name) != 11 + strlen(ext) || strspn(name, "0123456789") != 10)
        return 0;
    if (sscanf(name, "%10lu.%15s", &v, tail) != 2 || strcmp(tail, ext) != 0 ||
        v > UINT32_MAX)
        return 0;
    *id = (uint32_t)v;
    return 1;
}

/* Reads a whole small file (hint, manifest) into a malloc'd buffer. */
static int
slurp(const char *path, uint8_t **buf, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return cask_fail(CASK_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = cask_fail(CASK_EIO, "%s: %s", path, strerror(errno));
    } else if ((*buf = malloc(st.st_size ? (size_t)st.st_size : 1)) == NULL) {
        rc = cask_fail(CASK_ENOMEM, "%s: out of memory", path);
    } else if (cask_pread_full(fd, *buf, (size_t)st.st_size, 0) !=
               (ssize_t)st.st_size) {
        free(*buf);
        rc = cask_fail(CASK_EIO, "%s: short read", path);
    }
    *len = (size_t)st.st_size;
    close(fd);
    return rc;
}

/* ---- interrupted merges --------------------------------------------------------- */

static void
unlink_file(cask *c, uint32_t id, const char *ext)
{
    char path[4096];

    cask_path(c, path, sizeof path, id, ext);
    unlink(path);
}

/*
 * A valid manifest means the merge's outputs were durable before it was
 * written, so its inputs are finished off; a torn one means the merge did
 * not commit, its inputs are all still there and hold every tombstone, and
 * the outputs are duplicates that the seq rule makes harmless.
 */
static int
finish_manifest(cask *c, const char *name)
{
    char path[4096];
    uint8_t *buf;
    uint32_t *ids;
    size_t len;
    int n, rc;

    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    if ((rc = slurp(path, &buf, &len)) != 0)
        return rc;
    n = cask_manifest_decode(buf, len, &ids);
    free(buf);
    if (n == CASK_ENOMEM)
        return cask_fail(CASK_ENOMEM, "%s: out of memory", path);
    if (n < 0) {
        cask_log(c, "%s: torn merge manifest ignored; its merge did not "
                    "commit", path);
    } else {
        for (int i = 0; i < n; i++) {
            unlink_file(c, ids[i], "hint");
            unlink_file(c, ids[i], "data");
        }
        free(ids);
        cask_log(c, "%s: finished an interrupted merge (%d inputs removed)",
                 path, n);
        if (fsync(c->dirfd) != 0)
            return cask_fail(CASK_EIO, "%s: fsync: %s", c->dir,
                             strerror(errno));
    }
    return unlink(path) == 0 ? 0
                             : cask_fail(CASK_EIO, "%s: unlink: %s", path,
                                         strerror(errno));
}

/* ---- loading records -------------------------------------------------------------- */

/*
 * Files are loaded by several threads at once (opt.recover_threads): the
 * keydir's put_if_newer makes the outcome independent of the order, and
 * at about 200 ns an insert, the keydir is what an open spends its time
 * on, not the disk. Everything a loader finds besides keydir entries goes
 * to its own rec_loader and is summed once all have finished; a file's
 * live bytes and cask_account_dead are atomic already. Every file is in
 * the file table before any is loaded, so that the dead bytes of a
 * record replaced by one from another file are always accounted to it.
 */
typedef struct rec_file {
    cask_file *f;
    uint64_t size;
} rec_file;

typedef struct rec_files {
    rec_file *v;
    size_t n, cap;
    _Atomic size_t next; /* the next file a loader takes */
    _Atomic int failed;  /* a loader failed: the others stop */
} rec_files;

typedef struct rec_loader {
    cask *c;
    rec_files *files;
    uint64_t max_seq, hints_loaded, files_scanned, torn_bytes;
    int rc;
    char err[512]; /* cask_errdetail of rc, from the loader's thread */
} rec_loader;

typedef struct load_ctx {
    rec_loader *w;
    cask_file *f;
    uint64_t data_size;
} load_ctx;

static int
load_one(load_ctx *x, const void *key, uint32_t klen, uint64_t seq,
         uint64_t pos, uint32_t vlen, int tomb)
{
    cask *c = x->w->c;
    kd_entry e = {x->f->id, tomb ? CASK_TOMB_MARK : vlen, pos, seq}, old;
    int rc = kd_put_if_newer(c->kd, key, klen, &e, &old);

    if (seq > x->w->max_seq)
        x->w->max_seq = seq;
    if (rc == KD_ESTALE)
        return 0;
    if (rc < 0)
        return cask_fail(CASK_ENOMEM, "recovery: keydir: %s",
                         kd_strerror(rc));
    if (!tomb)
        sync_faa_rlx(&x->f->live, (int64_t)cask_rec_size(klen, vlen));
    if (rc == KD_REPLACED && old.value_size != CASK_TOMB_MARK)
        cask_account_dead(c, old.file_id, cask_rec_size(klen, old.value_size));
    return 0;
}

static int
load_hint_entry(const cask_hint *h, void *arg)
{
    load_ctx *x = arg;

    if (h->pos + cask_rec_size(h->klen, h->vlen) > x->data_size)
        return CASK_ECORRUPT;
    return load_one(x, h->key, h->klen, h->seq, h->pos, h->vlen,
                    (h->flags & CASK_FLAG_TOMB) != 0);
}

/* Returns 0 when the hint file was loaded, 1 when it must be scanned
 * instead (reason logged), or an error. */
static int
load_hint(rec_loader *w, cask_file *f, uint64_t size)
{
    cask *c = w->c;
    char path[4096];
    uint8_t *buf;
    size_t len;
    uint64_t covered = 0, bad;
    load_ctx x = {w, f, size};

    cask_path(c, path, sizeof path, f->id, "hint");
    if (access(path, F_OK) != 0) {
        cask_log(c, "%s: no hint file; scanning its data file", path);
        return 1;
    }
    if (slurp(path, &buf, &len) != 0) {
        cask_log(c, "%s: unreadable (%s); scanning its data file", path,
                 cask_errdetail());
        return 1;
    }
    int rc = cask_hint_parse(buf, len, &covered, &bad, load_hint_entry, &x);
    free(buf);
    if (rc == CASK_ECORRUPT || (rc == 0 && covered != size)) {
        cask_log(c, "%s: %s at offset %llu; scanning its data file", path,
                 rc ? "bad hint file" : "hint covers a different data size",
                 (unsigned long long)(rc ? bad : covered));
        return 1;
    }
    if (rc == 0) {
        sync_store_rlx(&f->has_hint, 1);
        w->hints_loaded++;
    }
    return rc;
}

static int
truncate_tail(rec_loader *w, cask_file *f, int fd, uint64_t off,
              uint64_t size, int zeros)
{
    cask *c = w->c;

    /* a tail of zeros alone is usually the active file's preallocation */
    if (c->beside_writer) /* the live writer's file: not torn, unfinished */
        cask_log(c, "%s/%010u.data: records end at offset %llu (%llu bytes "
                    "after it: %s)", c->dir, f->id, (unsigned long long)off,
                 (unsigned long long)(size - off),
                 zeros ? "preallocated, not written yet"
                       : "a record the writer has not finished");
    else
        cask_log(c, "%s/%010u.data: torn tail of %llu bytes at offset %llu "
                    "%s%s", c->dir, f->id,
                 (unsigned long long)(size - off), (unsigned long long)off,
                 c->opt.read_only ? "ignored (read-only open)" : "truncated",
                 zeros ? " (zeros only: preallocated or never written)" : "");
    if (!c->beside_writer)
        w->torn_bytes += size - off;
    if (c->opt.read_only) { /* left on disk for a writable open to cut */
        sync_store_rlx(&f->size, off);
        return 0;
    }
    if (ftruncate(fd, (off_t)off) != 0 || fdatasync(fd) != 0)
        return cask_fail(CASK_EIO, "%s/%010u.data: truncate: %s", c->dir,
                         f->id, strerror(errno));
    sync_store_rlx(&f->size, off);
    return 0;
}

/* The end of the file's content: the offset just past its last non-zero
 * byte at or after `from` (`from` itself if only zeros follow). */
static uint64_t
content_end(const uint8_t *p, uint64_t from, uint64_t size)
{
    while (size > from && p[size - 1] == 0)
        size--;
    return size;
}

/* Rereads of a bad record beside a writer, a millisecond apart, before
 * it counts as corruption. */
#define REC_LIVE_TRIES 20

/*
 * Beside a writer (a read-only open's snapshot): the bad record at `off`
 * may be one the writer is copying in right now - its header first, its
 * checksum last - with more of its records already after it. Reads the
 * file from `off` on into p again (zeros past a shorter end) after a
 * pause, so the caller decodes it once more. Returns 0, or -1 if the file
 * cannot be read.
 */
static int
reread_tail(int fd, uint8_t *p, uint64_t off, uint64_t size)
{
    const struct timespec nap = {0, 1000000L};
    ssize_t n;

    nanosleep(&nap, NULL);
    n = cask_pread_full(fd, p + off, size - off, (off_t)off);
    if (n < 0)
        return -1;
    memset(p + off + n, 0, size - off - (uint64_t)n);
    return 0;
}

/*
 * Scans records from the header on. A record cut short by the end of the
 * file, or a bad last record, is a torn tail: the write was never
 * acknowledged (DESIGN.md), so it is truncated. Zeros at the end of the
 * file do not count as more data - a file extended but not written
 * before a power loss, or the preallocated rest of an active file
 * (DESIGN.md, "Preallocation") - so a bad record (its header's length, at
 * least a header's worth) reaching past the file's last non-zero byte is
 * a torn tail too. That also covers a record being copied into the active
 * file's mapping when the process died: its header is written first, then
 * key and value, then the checksum, so either its header is readable and
 * zeros follow its extent, or zeros follow its header. A bad record
 * followed by more data is corruption: an error naming the offset (beside
 * a writer, once rereads have not mended it: reread_tail).
 */
static int
scan_records(rec_loader *w, cask_file *f, int fd, uint8_t *p, uint64_t size)
{
    load_ctx x = {w, f, size};
    uint64_t off = CASK_FILE_HDR, len, retry_off = 0;
    unsigned tries = 0;
    cask_rec r;

    while (off < size) {
        int rc = cask_rec_decode(p + off, size - off, &r, &len);
        if (rc == 0) {
            rc = load_one(&x, r.key, r.klen, r.seq, off, r.vlen,
                          (r.flags & CASK_FLAG_TOMB) != 0);
            if (rc != 0)
                return rc;
            off += len;
            continue;
        }
        uint64_t extent = len > CASK_REC_HDR ? len : CASK_REC_HDR;
        uint64_t end = content_end(p, off, size);
        if (rc == CASK_REC_SHORT || (len != 0 && off + len == size) ||
            off + extent >= end)
            return truncate_tail(w, f, fd, off, size, end == off);
        tries = off == retry_off ? tries + 1 : 1;
        retry_off = off;
        if (w->c->beside_writer && tries <= REC_LIVE_TRIES) {
            if (cask_fault(w->c, "reread") != 0 ||
                reread_tail(fd, p, off, size) != 0)
                return cask_fail(CASK_EIO, "%s/%010u.data: %s", w->c->dir,
                                 f->id, strerror(errno));
            continue;
        }
        return cask_fail(CASK_ECORRUPT, "%s/%010u.data offset %llu: record "
                         "fails its checksum or format, with %llu bytes "
                         "after it%s", w->c->dir, f->id,
                         (unsigned long long)off,
                         (unsigned long long)(size - off),
                         w->c->beside_writer ? " (read again for 20 ms "
                                               "beside the writer)" : "");
    }
    return 0;
}

/*
 * A file's bytes to scan: mapped, or beside a writer read into memory. A
 * writer cuts its active file back to its last record when it rotates or
 * closes, and a mapping's pages past the new end would raise SIGBUS under
 * the scan; a read just comes back short (*size says how much it got).
 */
static int
scan_bytes(cask *c, cask_file *f, int fd, uint8_t **pp, uint64_t *size)
{
    uint8_t *p;

    if (!c->beside_writer) {
        p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            return cask_fail(CASK_EIO, "%s/%010u.data: mmap: %s", c->dir,
                             f->id, strerror(errno));
        *pp = p;
        return 0;
    }
    if ((p = malloc(*size)) == NULL)
        return cask_fail(CASK_ENOMEM, "%s/%010u.data: out of memory", c->dir,
                         f->id);
    ssize_t n = cask_pread_full(fd, p, *size, 0);
    if (n < 0) {
        int e = errno;
        free(p);
        return cask_fail(CASK_EIO, "%s/%010u.data: %s", c->dir, f->id,
                         strerror(e));
    }
    *size = (uint64_t)n;
    *pp = p;
    return 0;
}

static int
scan_file(rec_loader *w, cask_file *f, int fd, uint64_t size)
{
    cask *c = w->c;
    uint64_t mapped = size;
    uint8_t *p = NULL;
    int rc = scan_bytes(c, f, fd, &p, &size);

    if (rc != 0)
        return rc;
    if (size < mapped) /* cut back by the writer since it was listed */
        sync_store_rlx(&f->size, size);
    rc = cask_file_hdr_check(p, size, f->id);
    if (rc != 0)
        rc = cask_fail(CASK_ECORRUPT, "%s/%010u.data offset 0: bad file "
                       "header", c->dir, f->id);
    else
        rc = scan_records(w, f, fd, p, size);
    if (c->beside_writer)
        free(p);
    else
        munmap(p, mapped);
    w->files_scanned++;
    return rc;
}

/* Loads one file from its hint, or by scanning it. The loader opens the
 * file itself: the table's entry has no descriptor yet, so the
 * descriptor cache cannot close this one under the scan. */
static int
load_file(rec_loader *w, const rec_file *rf)
{
    char path[4096];
    int fd, rc;

    cask_path(w->c, path, sizeof path, rf->f->id, "data");
    if (w->c->beside_writer) /* the descriptor add_file keeps */
        fd = fcntl(cask_file_fd(rf->f), F_DUPFD_CLOEXEC, 0);
    else
        fd = open(path, (w->c->opt.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return cask_fail(CASK_EIO, "%s: %s", path, strerror(errno));
    rc = load_hint(w, rf->f, rf->size);
    if (rc == 1)
        rc = scan_file(w, rf->f, fd, rf->size);
    close(fd);
    return rc;
}

/* A loader: takes files until none is left or another loader failed. */
static void
loader_run(rec_loader *w)
{
    rec_files *l = w->files;

    while (!sync_load_acq(&l->failed)) {
        size_t i = sync_faa_rlx(&l->next, 1);
        if (i >= l->n)
            return;
        w->rc = load_file(w, &l->v[i]);
        if (w->rc != 0) {
            snprintf(w->err, sizeof w->err, "%s", cask_errdetail());
            sync_store_rel(&l->failed, 1);
            return;
        }
    }
}

static void *
loader_main(void *arg)
{
    rec_loader *w = arg;

    cask_thread_register(w->c);
    loader_run(w);
    cask_thread_unregister(w->c);
    return NULL;
}

/* A data file shorter than its header was being created when the process
 * died: nothing in it was ever acknowledged. */
static int
drop_stub(cask *c, int fd, uint32_t id, uint64_t size)
{
    if (c->beside_writer) { /* the writer's new file: not torn, unfinished */
        cask_log(c, "%s/%010u.data: being created by the writer (%llu "
                    "bytes); not loaded", c->dir, id, (unsigned long long)size);
        close(fd);
        return 0;
    }
    cask_log(c, "%s/%010u.data: torn tail of %llu bytes (incomplete file "
                "header); file %s", c->dir, id, (unsigned long long)size,
             c->opt.read_only ? "ignored (read-only open)" : "removed");
    c->torn_bytes += size;
    close(fd);
    if (c->opt.read_only)
        return 0;
    unlink_file(c, id, "hint");
    unlink_file(c, id, "data");
    return fsync(c->dirfd) == 0 ? 0
                                : cask_fail(CASK_EIO, "%s: fsync: %s", c->dir,
                                            strerror(errno));
}

/* An active file that never got a record (each open starts one): nothing
 * to load, and removing it keeps repeated opens from piling up files. */
static int
drop_empty(cask *c, int fd, uint32_t id)
{
    uint8_t hdr[CASK_FILE_HDR];

    if (cask_pread_full(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
        cask_file_hdr_check(hdr, sizeof hdr, id) != 0) {
        close(fd);
        return cask_fail(CASK_ECORRUPT, "%s/%010u.data offset 0: bad file "
                         "header", c->dir, id);
    }
    close(fd);
    if (c->opt.read_only)
        return 0; /* nothing to load; a writable open removes it */
    unlink_file(c, id, "hint");
    unlink_file(c, id, "data");
    return 0;
}

/* A file left with its header only once its torn tail went (the active
 * file of a crashed process, preallocated, that got no whole record):
 * out of the table and off the disk, as drop_empty does before loading. */
static int
drop_emptied(cask *c, cask_file *f)
{
    uint32_t id = f->id;

    cask_tab_remove(c, &id, 1);
    if (c->opt.read_only)
        return 0;
    unlink_file(c, id, "hint");
    unlink_file(c, id, "data");
    return 0;
}

static int
files_push(rec_files *l, cask_file *f, uint64_t size)
{
    rec_file *nv = cask_grow(l->v, l->n, &l->cap, sizeof *nv, 64);
    if (nv == NULL)
        return cask_fail(CASK_ENOMEM, "recovery: out of memory");
    l->v = nv;
    l->v[l->n++] = (rec_file){f, size};
    return 0;
}

/* Before loading: drops a stub or empty file, or enters the file in the
 * table (without a descriptor) and in the list to load. */
static int
add_file(cask *c, uint32_t id, rec_files *l)
{
    char path[4096];
    struct stat st;
    cask_file *f;
    int fd, rc;

    cask_path(c, path, sizeof path, id, "data");
    fd = open(path, (c->opt.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && c->beside_writer)
        return cask_fail(CASK_EBUSY, "%s: removed by the writer (a merge) "
                         "while this read-only open listed it", path);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = cask_fail(CASK_EIO, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    if ((uint64_t)st.st_size < CASK_FILE_HDR)
        return drop_stub(c, fd, id, (uint64_t)st.st_size);
    if ((uint64_t)st.st_size == CASK_FILE_HDR)
        return drop_empty(c, fd, id);
    if (!c->beside_writer) {
        close(fd); /* a store of many files stays within its fd budget */
        fd = -1;
    }
    /* beside a writer the descriptor stays, never closed by the cache: a
     * merge of the writer may unlink the file from now on */
    f = cask_file_new(c, id, fd, (uint64_t)st.st_size);
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        return cask_fail(CASK_ENOMEM, "%s: out of memory", path);
    }
    if (fd >= 0)
        sync_store_rel(&f->uncached, 1);
    if ((rc = cask_tab_add(c, f)) != 0) {
        cask_file_unpin(f);
        return rc;
    }
    return files_push(l, f, (uint64_t)st.st_size);
}

/* Largest first: the loaders finish at about the same time. */
static int
files_cmp(const void *a, const void *b)
{
    uint64_t x = ((const rec_file *)a)->size, y = ((const rec_file *)b)->size;
    return x > y ? -1 : x < y;
}

/* opt.recover_threads, or its default: a thread per CPU (at most 8),
 * unless the keydir's writers take turns anyway - measured, two loaders
 * then open a 1M-key store a quarter to two thirds slower than one
 * (engine/DESIGN.md, "Loading on several threads"). */
static size_t
loaders_wanted(const cask *c)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (c->opt.recover_threads != 0)
        return c->opt.recover_threads;
    if ((c->kd->ops->flags & KD_FLAG_ONE_WRITER) || n < 1)
        return 1;
    return n > 8 ? 8 : (size_t)n;
}

/* Runs the loaders: the calling thread and up to recover_threads - 1
 * more. Returns 0, or the first failure with its message. */
static int
load_files(cask *c, rec_files *l)
{
    size_t n = loaders_wanted(c), started = 1;
    rec_loader *w;
    pthread_t *th;
    int rc = 0;

    n = n < l->n ? n : l->n;
    n = n ? n : 1;
    w = calloc(n, sizeof *w);
    th = calloc(n, sizeof *th);
    if (w == NULL || th == NULL) {
        free(w);
        free(th);
        return cask_fail(CASK_ENOMEM, "recovery: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        w[i] = (rec_loader){.c = c, .files = l};
    /* a thread that cannot start leaves its share to the others */
    while (started < n &&
           pthread_create(&th[started], NULL, loader_main, &w[started]) == 0)
        started++;
    loader_run(&w[0]);
    for (size_t i = 1; i < started; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < started; i++) {
        if (w[i].max_seq > c->max_seq_seen)
            c->max_seq_seen = w[i].max_seq;
        c->hints_loaded += w[i].hints_loaded;
        c->files_scanned += w[i].files_scanned;
        c->torn_bytes += w[i].torn_bytes;
        if (rc == 0 && w[i].rc != 0)
            rc = cask_fail(w[i].rc, "%s", w[i].err);
    }
    c->recover_threads = started;
    free(w);
    free(th);
    return rc;
}

static int
file_id_cmp(const void *a, const void *b)
{
    uint32_t x = ((const rec_file *)a)->f->id, y = ((const rec_file *)b)->f->id;
    return x < y ? -1 : x > y;
}

/* After loading, in id order: files that lost every record to a torn
 * tail leave; the others are mapped for gets (their size is final). */
static void
files_finish(cask *c, rec_files *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cask_file *f = l->v[i].f;
        if (sync_load_rlx(&f->size) == CASK_FILE_HDR) {
            drop_emptied(c, f);
            continue;
        }
        cask_file_map_ro(f);
        cask_fd_trim(c);
    }
}

/* ---- writing hint files ------------------------------------------------------ */

int
cask_hint_write(cask *c, uint32_t id, cask_buf *hint, uint64_t n,
                uint64_t data_size)
{
    char tmp[4200], path[4096];
    int fd, rc = 0;

    if (cask_hint_finish(hint, n, data_size) != 0)
        return cask_fail(CASK_ENOMEM, "hint: out of memory");
    cask_path(c, path, sizeof path, id, "hint");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || cask_write_full(fd, hint->p, hint->len, 0) != 0 ||
        fdatasync(fd) != 0 || rename(tmp, path) != 0)
        rc = cask_fail(CASK_EIO, "%s: %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

int
cask_hint_build(cask *c, cask_file *f)
{
    uint64_t size = sync_load_rlx(&f->size), off = CASK_FILE_HDR, len, n = 0;
    cask_buf b = {0};
    cask_rec r;
    int rc = 0, fd = cask_fd_get(f);

    if (fd < 0)
        return fd;
    uint8_t *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    cask_fd_put(f);
    if (p == MAP_FAILED)
        return CASK_EIO;
    while (rc == 0 && off < size) {
        cask_hint h;
        if (cask_rec_decode(p + off, size - off, &r, &len) != 0) {
            rc = CASK_ECORRUPT;
            break;
        }
        h.seq = r.seq;
        h.pos = off;
        h.expiry_ms = r.expiry_ms;
        h.klen = r.klen;
        h.vlen = r.vlen;
        h.flags = r.flags;
        h.key = r.key;
        rc = cask_hint_append(&b, &h);
        off += len;
        n++;
    }
    munmap(p, size);
    if (rc == 0)
        rc = cask_hint_write(c, f->id, &b, n, size);
    free(b.p);
    return rc;
}

void
cask_hint_missing(cask *c)
{
    for (uint32_t id = 0;; id++) {
        pthread_rwlock_rdlock(&c->tab_lock);
        uint32_t cap = cask_tab_now(c)->cap;
        pthread_rwlock_unlock(&c->tab_lock);
        if (id >= cap)
            break;
        cask_file *f = cask_tab_pin(c, id);
        if (f == NULL)
            continue;
        if (!sync_load_rlx(&f->has_hint) &&
            sync_load_rlx(&f->size) > CASK_FILE_HDR && cask_hint_build(c, f) == 0)
            sync_store_rlx(&f->has_hint, 1);
        cask_file_unpin(f);
    }
    fsync(c->dirfd); /* the renames; a hint lost to a crash costs a scan */
}

/* ---- the directory ------------------------------------------------------------------ */

static int
list_dir(cask *c, rec_ids *data, rec_ids *manifests)
{
    DIR *d = opendir(c->dir);
    struct dirent *de;
    uint32_t id;
    int rc = 0;

    if (d == NULL)
        return cask_fail(CASK_EIO, "%s: %s", c->dir, strerror(errno));
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (name_id(de->d_name, "data", &id))
            rc = ids_push(data, id);
        else if (name_id(de->d_name, "manifest", &id))
            rc = ids_push(manifests, id);
        else if (name_id(de->d_name, "hint.tmp", &id) && !c->opt.read_only)
            unlinkat(c->dirfd, de->d_name, 0); /* an unfinished hint */
    }
    closedir(d);
    return rc;
}

/* ---- sizing the keydir ---------------------------------------------------- */

/* Reads the trailer of data file id's hint into *entries and *covered;
 * 0, or -1 when there is no readable trailer. */
static int
est_hint(cask *c, uint32_t id, uint64_t *entries, uint64_t *covered)
{
    uint8_t t[CASK_HINT_TRAILER];
    char name[32];
    struct stat st;
    int fd, rc = -1;

    snprintf(name, sizeof name, "%010u.hint", id);
    fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= sizeof t &&
        cask_pread_full(fd, t, sizeof t, st.st_size - (off_t)sizeof t) ==
            (ssize_t)sizeof t &&
        cask_hint_trailer(t, (uint64_t)st.st_size, entries, covered) == 0)
        rc = 0;
    close(fd);
    return rc;
}

/*
 * The number of keys the store is likely to hold, so that the keydir can
 * be sized once instead of growing through every size while recovery
 * fills it (a third of a 1M-key open for lockfree, over half for rcu:
 * engine/DESIGN.md, "Sizing the keydir"). The hint files' trailers give
 * their entry counts; a data file without a hint is counted at the hinted
 * files' bytes per entry. That over-counts a key with versions in several
 * files, which costs table space, not correctness. 0 (grow as usual) when
 * no hint file says anything. Nothing here is trusted beyond sizing.
 */
uint64_t
cask_estimate_keys(cask *c)
{
    DIR *d = opendir(c->dir);
    struct dirent *de;
    struct stat st;
    uint64_t entries = 0, covered = 0, bare = 0, e, cov;
    uint32_t id;

    while (d != NULL && (de = readdir(d)) != NULL) {
        if (!name_id(de->d_name, "data", &id) ||
            fstatat(c->dirfd, de->d_name, &st, 0) != 0)
            continue;
        if (est_hint(c, id, &e, &cov) == 0) {
            entries += e;
            covered += cov;
        } else {
            bare += (uint64_t)st.st_size;
        }
    }
    if (d != NULL)
        closedir(d);
    if (entries == 0 || covered == 0)
        return 0;
    return entries + (uint64_t)((double)bare * (double)entries /
                                (double)covered);
}

typedef struct tomb_list {
    cask_buf keys; /* klen u32, entry, key bytes; repeated */
    int oom;
} tomb_list;

static int
tomb_collect(const void *key, size_t klen, const kd_entry *e, void *arg)
{
    tomb_list *l = arg;
    uint32_t k = (uint32_t)klen;

    if (e->value_size != CASK_TOMB_MARK)
        return 0;
    if (cask_buf_put(&l->keys, &k, sizeof k) != 0 ||
        cask_buf_put(&l->keys, e, sizeof *e) != 0 ||
        cask_buf_put(&l->keys, key, klen) != 0)
        return l->oom = 1;
    return 0;
}

/* The keydir's iterate forbids calling back into it, so the markers are
 * collected first and removed after. */
static int
drop_tomb_markers(cask *c)
{
    tomb_list l = {{0}, 0};
    size_t off = 0;

    kd_iterate(c->kd, tomb_collect, &l);
    while (!l.oom && off < l.keys.len) {
        uint32_t k;
        kd_entry e;
        memcpy(&k, l.keys.p + off, sizeof k);
        memcpy(&e, l.keys.p + off + sizeof k, sizeof e);
        kd_del_if(c->kd, l.keys.p + off + sizeof k + sizeof e, k, &e);
        off += sizeof k + sizeof e + k;
    }
    free(l.keys.p);
    return l.oom ? cask_fail(CASK_ENOMEM, "recovery: out of memory") : 0;
}

/* Enters every data file in the table (ids ascending), loads them, and
 * maps those left for gets. */
static int
load_data_files(cask *c, const rec_ids *data)
{
    rec_files files = {0};
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < data->n; i++)
        rc = add_file(c, data->v[i], &files);
    if (rc == 0 && files.n > 1)
        qsort(files.v, files.n, sizeof *files.v, files_cmp);
    if (rc == 0)
        rc = load_files(c, &files);
    if (rc == 0) {
        if (files.n > 1)
            qsort(files.v, files.n, sizeof *files.v, file_id_cmp);
        files_finish(c, &files);
    }
    free(files.v);
    return rc;
}

/*
 * Beside a writer, after loading: the directory must list what it listed
 * before (data files and no merge manifest). A merge commits by writing a
 * manifest, unlinking its inputs, then removing the manifest, and a
 * readdir racing unlinks and creations may miss some of them; a listing
 * taken before and one taken after that agree, with no manifest in
 * either, mean no merge committed in between, so the files loaded hold
 * every record up to the open (engine/DESIGN.md, "Read-only opens beside
 * a writer"). A rotation also changes the listing: loading again is
 * cheap next to reasoning about which new file is which.
 */
static int
same_listing(cask *c, const rec_ids *before)
{
    rec_ids now = {0}, man = {0};
    int rc = list_dir(c, &now, &man);

    if (rc == 0 && now.n > 1)
        qsort(now.v, now.n, sizeof *now.v, ids_cmp);
    if (rc == 0 && (man.n > 0 || now.n != before->n ||
                    (now.n > 0 &&
                     memcmp(now.v, before->v, now.n * sizeof *now.v) != 0)))
        rc = cask_fail(CASK_EBUSY, "%s: the writer rotated or merged files "
                       "while this read-only open loaded them", c->dir);
    free(now.v);
    free(man.v);
    return rc;
}

int
cask_recover(cask *c)
{
    rec_ids data = {0}, man = {0};
    char name[64];
    int rc = list_dir(c, &data, &man);

    if (rc == 0 && c->beside_writer && man.n > 0)
        rc = cask_fail(CASK_EBUSY, "%s: a merge of the writer is committing",
                       c->dir);
    if (rc == 0 && c->beside_writer && cask_fault(c, "listed") != 0)
        rc = cask_fail(CASK_EIO, "%s: listed: %s", c->dir, strerror(errno));

    /* read-only: an interrupted merge stays as it is; its outputs
     * duplicate records of its inputs, which the seq rule makes harmless */
    for (size_t i = 0; rc == 0 && !c->opt.read_only && i < man.n; i++) {
        snprintf(name, sizeof name, "%010u.manifest", man.v[i]);
        rc = finish_manifest(c, name);
    }
    if (rc == 0 && man.n > 0 && !c->opt.read_only) {
        data.n = 0; /* the manifests removed files: list again */
        rc = list_dir(c, &data, &man);
    }
    if (rc == 0 && data.n > 1)
        qsort(data.v, data.n, sizeof *data.v, ids_cmp);
    if (rc == 0)
        rc = load_data_files(c, &data);
    if (rc == 0 && c->beside_writer)
        rc = same_listing(c, &data);
    if (rc == 0)
        rc = drop_tomb_markers(c);
    uint32_t max_id = data.n ? data.v[data.n - 1] : 0; /* ids ascending */
    atomic_store(&c->next_id, max_id + 1);
    free(data.v);
    free(man.v);
    return rc;
}
