/*
 * engine/verify.c - cask_verify: a checksum scan of every data file.
 *
 * Open loads immutable files from their hint files without reading their
 * records (that is what makes it fast), so a record damaged on disk under
 * a valid hint is only noticed when a read reaches it. cask_verify reads
 * every record of every file and reports each one that fails, by file and
 * offset, without changing anything.
 */
#include "engine/cask_internal.h"
#include "sync/atomic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Scans one pinned file up to size; returns damaged records or an error. */
static int
vf_file(cask *c, cask_file *f, uint64_t size, cask_verify_fn fn, void *arg)
{
    uint64_t off = CASK_FILE_HDR, len;
    int bad = 0, fd = cask_fd_get(f);
    cask_rec r;

    if (fd < 0)
        return fd;
    uint8_t *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    cask_fd_put(f);
    if (p == MAP_FAILED)
        return cask_fail(CASK_EIO, "%s/%010u.data: mmap: %s", c->dir, f->id,
                         strerror(errno));
    if (cask_file_hdr_check(p, size, f->id) != 0) {
        fn(arg, f->id, 0, "bad file header");
        bad++;
    }
    while (off < size) {
        int rc = cask_rec_decode(p + off, size - off, &r, &len);
        if (rc == 0) {
            off += len;
            continue;
        }
        bad++;
        if (rc == CASK_ECORRUPT && len > 0 && off + len <= size) {
            fn(arg, f->id, off, "record fails its checksum");
            off += len;
            continue;
        }
        /* no trustworthy length: nothing after it can be framed */
        char why[96];
        snprintf(why, sizeof why, "unreadable record header; the last %llu "
                 "bytes of the file cannot be checked",
                 (unsigned long long)(size - off));
        fn(arg, f->id, off, why);
        break;
    }
    munmap(p, size);
    return bad;
}

int
cask_verify(cask *c, cask_verify_fn fn, void *arg)
{
    int total = 0;

    for (uint32_t id = 0; total >= 0; id++) {
        pthread_rwlock_rdlock(&c->tab_lock);
        uint32_t cap = cask_tab_now(c)->cap;
        pthread_rwlock_unlock(&c->tab_lock);
        if (id >= cap)
            break;
        cask_file *f = cask_tab_pin(c, id);
        if (f == NULL)
            continue;
        /* records below size are whole: appends publish size after the
         * pwrite, merges after the copy */
        uint64_t size = sync_load_acq(&f->size);
        int n = size > CASK_FILE_HDR ? vf_file(c, f, size, fn, arg) : 0;
        cask_file_unpin(f);
        total = n < 0 ? n : total + n;
    }
    return total;
}
