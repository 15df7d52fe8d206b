/*
 * tests/test_engine_nospace.c - a full disk, for real: the store fails the
 * write that finds no space with an error that says so, loses no
 * acknowledged write, still opens while there is space for a new file's
 * header (every get works), refuses a writable open, saying why, when
 * there is not even that (a read-only open still reads everything), and
 * writes again once there is space. The server's store adapter then
 * answers every refused write with SRV_ENOSPC, not a bare I/O error.
 *
 * tests/nospace.sh starts this binary under `unshare -rm` (root of its own
 * user and mount namespaces), so it can mount a small tmpfs of its own:
 * the kernel's ENOSPC, not a fault hook. The cases run in order and share
 * the store.
 */
#include "engine/cask.h"
#include "net/caskstore.h"
#include "tests/cutest.h"
#include "tests/engine_util.h"

#include <pthread.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#define NS_VALUE 200
#define NS_MAX_FILE (1u << 20)

static char ns_root[64] = "/tmp/casklab-nospace-XXXXXX";
static char ns_dir[128];
static int ns_acked; /* puts acknowledged so far: keys n0..n{acked-1} */

static eu_log ns_lg = EU_LOG_INIT;

static int
ns_logged(const char *what)
{
    pthread_mutex_lock(&ns_lg.mu);
    int found = strstr(ns_lg.text, what) != NULL;
    ns_lg.text[0] = '\0';
    pthread_mutex_unlock(&ns_lg.mu);
    return found;
}

static cask *
ns_open(void)
{
    cask_options o = {0};

    o.keydir = "lockfree";
    o.max_file_size = NS_MAX_FILE;
    o.log = eu_log_fn;
    o.log_arg = &ns_lg;
    return eu_open(ns_dir, &o);
}

static void
ns_value(int i, char *v)
{
    memset(v, 'a' + i % 26, NS_VALUE);
    snprintf(v, NS_VALUE, "value %d", i);
}

static int
ns_put(cask *c, int i)
{
    char k[32], v[NS_VALUE];

    snprintf(k, sizeof k, "n%d", i);
    ns_value(i, v);
    return cask_put(c, k, strlen(k), v, sizeof v);
}

/* Every acknowledged key holds its value. */
static void
ns_expect_all(cask *c)
{
    int bad = 0;

    for (int i = 0; i < ns_acked; i++) {
        char k[32], want[NS_VALUE], got[NS_VALUE];
        size_t n = 0;
        snprintf(k, sizeof k, "n%d", i);
        ns_value(i, want);
        if (cask_get_buf(c, k, strlen(k), got, sizeof got, &n) != 0 ||
            n != sizeof want || memcmp(got, want, n) != 0)
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Puts until one fails; returns its code (0 if max puts all succeeded). */
static int
ns_fill(cask *c, int max)
{
    for (int i = 0; i < max; i++) {
        int rc = ns_put(c, ns_acked);
        if (rc != 0)
            return rc;
        ns_acked++;
    }
    return 0;
}

static void
test_fill_until_full(void)
{
    cask *c = ns_open();

    CU_ASSERT_FATAL(c != NULL);
    /* 3 MiB hold two full 1 MiB files; the third's preallocation fails */
    int rc = ns_fill(c, 100000);
    CU_ASSERT_EQUAL(rc, CASK_ENOSPC);
    CU_ASSERT(strstr(cask_errdetail(), "No space left on device") != NULL);
    CU_ASSERT(strstr(cask_errdetail(), "preallocate") != NULL);
    CU_ASSERT(ns_acked > 5000);
    CU_ASSERT_EQUAL(ns_put(c, ns_acked), CASK_EPOISONED);
    ns_expect_all(c); /* a poisoned store still serves reads */
    CU_ASSERT_EQUAL(eu_close(c), 0);
}

/* The open after: its new active file cannot be preallocated, so it
 * starts unpreallocated and the store opens; the last of the space takes a
 * few more writes, then a write fails saying why. With no space left at
 * all, an open cannot even write a new file's header: it fails, and says
 * so, and nothing stored is touched; a read-only open reads it all. */
static void
test_reopen_while_full(void)
{
    cask *c = ns_open();

    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(ns_logged("unpreallocated"));
    ns_expect_all(c);
    CU_ASSERT_EQUAL(cask_verify(c, eu_print_damaged, NULL), 0);
    cask_info st;
    CU_ASSERT_EQUAL_FATAL(cask_stats(c, &st), 0);
    CU_ASSERT_EQUAL(st.reserved_bytes, 0); /* nothing was preallocated */
    cask_info_free(&st);
    int before = ns_acked;
    CU_ASSERT_EQUAL(ns_fill(c, 100000), CASK_ENOSPC);
    CU_ASSERT(strstr(cask_errdetail(), "No space left on device") != NULL);
    CU_ASSERT(ns_acked > before);
    ns_expect_all(c);
    CU_ASSERT_EQUAL(eu_close(c), 0);

    cask *d = NULL;
    int rc = cask_open(ns_dir, &(cask_options){.keydir = "lockfree",
                                               .max_file_size = NS_MAX_FILE},
                       &d);
    CU_ASSERT_EQUAL(rc, CASK_ENOSPC);
    CU_ASSERT(strstr(cask_errdetail(), "write header: No space left") != NULL);
    CU_ASSERT(d == NULL);

    /* a read-only open writes nothing, so it still works */
    rc = cask_open(ns_dir, &(cask_options){.keydir = "lockfree",
                                           .read_only = 1},
                   &d);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    cask_thread_register(d);
    ns_expect_all(d);
    CU_ASSERT_EQUAL(cask_verify(d, eu_print_damaged, NULL), 0);
    CU_ASSERT_EQUAL(eu_close(d), 0);
}

static void
test_space_comes_back(void)
{
    CU_ASSERT_EQUAL_FATAL(mount(NULL, ns_root, NULL, MS_REMOUNT, "size=16m"),
                          0);
    cask *c = ns_open();
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(!ns_logged("unpreallocated"));
    cask_info st;
    CU_ASSERT_EQUAL_FATAL(cask_stats(c, &st), 0);
    CU_ASSERT(st.reserved_bytes > 0); /* preallocated again */
    cask_info_free(&st);
    int before = ns_acked;
    CU_ASSERT_EQUAL(ns_fill(c, 2000), 0);
    CU_ASSERT_EQUAL(ns_acked, before + 2000);
    ns_expect_all(c);
    CU_ASSERT_EQUAL(eu_close(c), 0);
    c = ns_open();
    CU_ASSERT_FATAL(c != NULL);
    ns_expect_all(c);
    CU_ASSERT_EQUAL(eu_close(c), 0);
}

/* The server's store adapter on a full disk: the write that finds no space
 * and every write after it answer SRV_ENOSPC (the server's "-IOERR no
 * space left on the store's disk" and HTTP 507), not a bare I/O error;
 * reads go on. The tmpfs is shrunk to what it holds plus 512 KiB. */
static void
test_server_store_full(void)
{
    struct statvfs v;
    char opt[64], path[160], err[256] = "";
    srv_store *st = NULL;
    srv_set_opts so = {0};
    cask_options o = {0};
    char val[NS_VALUE];
    int rc = 0, n = 0;

    CU_ASSERT_FATAL(statvfs(ns_root, &v) == 0);
    snprintf(opt, sizeof opt, "size=%llu",
             (unsigned long long)((v.f_blocks - v.f_bfree) * v.f_frsize) +
                 (512u << 10));
    CU_ASSERT_FATAL(mount(NULL, ns_root, NULL, MS_REMOUNT, opt) == 0);
    snprintf(path, sizeof path, "%s/srv", ns_root);
    o.keydir = "lockfree";
    o.max_file_size = NS_MAX_FILE;
    CU_ASSERT_EQUAL_FATAL(srv_caskstore_open(path, &o, &st, err, sizeof err), 0);
    if (st->ops->thread_start)
        st->ops->thread_start(st);
    memset(val, 'x', sizeof val);
    while (rc == 0 && n < 100000) {
        char k[32];
        int len = snprintf(k, sizeof k, "s%d", n);
        rc = st->ops->set(st, k, (size_t)len, val, sizeof val, &so);
        n += rc == 0;
    }
    CU_ASSERT_EQUAL(rc, SRV_ENOSPC);
    CU_ASSERT(n > 100);
    CU_ASSERT_EQUAL(st->ops->set(st, "again", 5, "v", 1, &so), SRV_ENOSPC);
    CU_ASSERT_EQUAL(st->ops->sync(st), SRV_ENOSPC);
    CU_ASSERT(strstr(srv_strerror(SRV_ENOSPC), "no space left") != NULL);
    char *got = NULL;
    size_t glen = 0;
    CU_ASSERT_EQUAL(st->ops->get(st, "s0", 2, &got, &glen), 0);
    CU_ASSERT(glen == sizeof val && got != NULL &&
              memcmp(got, val, sizeof val) == 0);
    free(got);
    if (st->ops->thread_stop)
        st->ops->thread_stop(st);
    st->ops->destroy(st);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_fill_until_full),
        CT_CASE(test_reopen_while_full),
        CT_CASE(test_space_comes_back),
        CT_CASE(test_server_store_full),
    };

    if (mkdtemp(ns_root) == NULL ||
        mount("casklab-nospace", ns_root, "tmpfs", 0, "size=3m") != 0) {
        perror("test_engine_nospace: a 3 MiB tmpfs (run it through "
               "tests/nospace.sh)");
        return 1;
    }
    snprintf(ns_dir, sizeof ns_dir, "%s/store", ns_root);
    int failed = ct_run("engine-nospace", cases, CT_NCASES(cases));
    umount(ns_root);
    rmdir(ns_root);
    return failed ? 1 : 0;
}
