/*
 * bench/syncount.c - counts this process's flushes to stable storage.
 *
 * Durable-write rows report flushes per second beside writes per second:
 * engines that group-commit (RocksDB and LevelDB batch concurrent synced
 * writers into one log sync; the casklab engine will too) flush less often
 * than they acknowledge writes, and the device's flush latency bounds the
 * flush rate, not the write rate. Rather than trust each engine to say, the
 * benchmark interposes the flush calls themselves: fsync, fdatasync and
 * msync with MS_SYNC, defined here in the executable, take precedence over
 * libc's for every shared library (ELF symbol interposition), count one,
 * and call the real function found with dlsym(RTLD_NEXT). The count is
 * process-wide: background flushes (an LSM's memtable flush) count too.
 */
#define _GNU_SOURCE
#include "bench/target.h"
#include "sync/atomic.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*bench_fsync_fn)(int);
typedef int (*bench_msync_fn)(void *, size_t, int);

static _Atomic uint64_t bench_nsyncs;
static _Atomic(bench_fsync_fn) bench_real_fsync, bench_real_fdatasync;
static _Atomic(bench_msync_fn) bench_real_msync;

uint64_t
bench_flush_count(void)
{
    return sync_load_rlx(&bench_nsyncs);
}

/* The next definition of `name` after ours; racing lookups agree. */
static void *
bench_next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

int
fsync(int fd)
{
    bench_fsync_fn f = sync_load_acq(&bench_real_fsync);

    if (f == NULL) {
        f = (bench_fsync_fn)bench_next("fsync");
        sync_store_rel(&bench_real_fsync, f);
    }
    if (f == NULL) {
        errno = ENOSYS;
        return -1;
    }
    sync_faa_rlx(&bench_nsyncs, 1);
    return f(fd);
}

int
fdatasync(int fd)
{
    bench_fsync_fn f = sync_load_acq(&bench_real_fdatasync);

    if (f == NULL) {
        f = (bench_fsync_fn)bench_next("fdatasync");
        sync_store_rel(&bench_real_fdatasync, f);
    }
    if (f == NULL) {
        errno = ENOSYS;
        return -1;
    }
    sync_faa_rlx(&bench_nsyncs, 1);
    return f(fd);
}

int
msync(void *addr, size_t len, int flags)
{
    bench_msync_fn f = sync_load_acq(&bench_real_msync);

    if (f == NULL) {
        f = (bench_msync_fn)bench_next("msync");
        sync_store_rel(&bench_real_msync, f);
    }
    if (f == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (flags & MS_SYNC)
        sync_faa_rlx(&bench_nsyncs, 1);
    return f(addr, len, flags);
}
