/*
 * tests/test_engine_read.c - the engine's read path and the appends into
 * the active file's mapping: cask_get_buf (a buffer too small reports the
 * length needed), cask_get_with (zero-copy), records the mapping does not
 * cover (read with pread), gets racing merges that retire the files they
 * read (values checked, and every retired file unmapped once the merge
 * returns), and the torn tails a process killed while copying a record
 * into the mapping leaves behind (FORMAT.md's rule); read-only opens
 * beside a writer (a snapshot while it puts, deletes, rotates and merges;
 * a record it is copying in read again, not taken for corruption).
 */
#include "engine/cask.h"
#include "engine/format.h"
#include "tests/cutest.h"
#include "tests/engine_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>

static cask *
open_max(const char *dir, const char *kd, uint64_t max_file)
{
    cask_options o = {0};
    cask *c;

    o.keydir = kd;
    o.max_file_size = max_file;
    o.max_open_files = 4;
    c = eu_open(dir, &o);
    CU_ASSERT_FATAL(c != NULL);
    return c;
}

static void
close_store(cask *c)
{
    CU_ASSERT_EQUAL(eu_close(c), 0);
}

/* value i: n bytes of a pattern that names i, so a wrong record shows */
static void
fill(uint8_t *v, size_t n, unsigned i)
{
    for (size_t j = 0; j < n; j++)
        v[j] = (uint8_t)(i * 31u + j * 7u + 1u);
}

typedef struct zc {
    const void *seen;
    size_t len;
    uint8_t copy[64];
} zc;

static int
zc_fn(const void *val, size_t vlen, void *arg)
{
    zc *z = arg;

    z->seen = val;
    z->len = vlen;
    memcpy(z->copy, val, vlen < sizeof z->copy ? vlen : sizeof z->copy);
    return 7; /* handed back as is */
}

/* Sizes 0, 1, 100, 5000 and one larger than the file limit (written with
 * pwrite past the preallocated file, read back with pread). */
static void
get_buf_sizes(cask *c)
{
    static const size_t sizes[] = {0, 1, 100, 5000, 20000};
    uint8_t want[20000], got[20000];
    char k[16];

    for (unsigned i = 0; i < 5; i++) {
        size_t n = sizes[i], len = 12345;
        snprintf(k, sizeof k, "k%u", i);
        fill(want, n, i);
        CU_ASSERT_EQUAL(cask_get_buf(c, k, strlen(k), got, sizeof got, &len),
                        0);
        CU_ASSERT(len == n && memcmp(got, want, n) == 0);
        if (n > 0) { /* one byte short: nothing copied, length reported */
            memset(got, 0xEE, sizeof got);
            len = 0;
            CU_ASSERT_EQUAL(cask_get_buf(c, k, strlen(k), got, n - 1, &len),
                            CASK_ETOOBIG);
            CU_ASSERT_EQUAL(len, n);
            CU_ASSERT(got[0] == 0xEE);
        }
    }
}

static void
test_get_buf(void)
{
    char *dir = eu_tmpdir("getbuf");
    cask *c = open_max(dir, "lockfree", 8192);
    static const size_t sizes[] = {0, 1, 100, 5000, 20000};
    uint8_t v[20000];
    size_t len = 0;
    char k[16];
    zc z = {0};

    for (unsigned i = 0; i < 5; i++) {
        snprintf(k, sizeof k, "k%u", i);
        fill(v, sizes[i], i);
        CU_ASSERT_EQUAL(cask_put(c, k, strlen(k), v, sizes[i]), 0);
    }
    get_buf_sizes(c);
    CU_ASSERT_EQUAL(cask_get_with(c, "k2", 2, zc_fn, &z), 7);
    fill(v, 100, 2);
    CU_ASSERT(z.len == 100 && memcmp(z.copy, v, 64) == 0);
    CU_ASSERT_EQUAL(cask_get_buf(c, "none", 4, v, sizeof v, &len),
                    CASK_ENOTFOUND);
    CU_ASSERT_EQUAL(cask_get_with(c, "none", 4, zc_fn, &z), CASK_ENOTFOUND);
    CU_ASSERT_EQUAL(cask_del(c, "k1", 2), 0);
    CU_ASSERT_EQUAL(cask_get_buf(c, "k1", 2, v, sizeof v, &len),
                    CASK_ENOTFOUND);
    CU_ASSERT_EQUAL(cask_get_buf(c, "", 0, v, sizeof v, &len), CASK_EINVAL);
    fill(v, 1, 1);
    CU_ASSERT_EQUAL(cask_put(c, "k1", 2, v, 1), 0);
    close_store(c);
    c = open_max(dir, "lockfree", 8192); /* files mapped by recovery */
    get_buf_sizes(c);
    CU_ASSERT(cask_merge(c, CASK_MERGE_ALL) >= 1); /* and merge outputs */
    get_buf_sizes(c);
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

/* ---- gets racing merges that retire their files ---------------------------- */

#define RM_KEYS 200
#define RM_VLEN 48

typedef struct rm_shared {
    cask *c;
    _Atomic int stop;
    _Atomic long bad, reads, merges;
} rm_shared;

/* The value of key i at round r: its first bytes name both, the rest is
 * the pattern of (i, r), so a torn or misplaced record cannot pass. */
static void
rm_val(uint8_t *v, unsigned i, unsigned r)
{
    fill(v, RM_VLEN, i * 1000u + r);
    memcpy(v, &i, sizeof i);
    memcpy(v + sizeof i, &r, sizeof r);
}

static int
rm_ok(const uint8_t *v, size_t n, unsigned i)
{
    uint8_t want[RM_VLEN];
    unsigned ki, r;

    if (n != RM_VLEN)
        return 0;
    memcpy(&ki, v, sizeof ki);
    memcpy(&r, v + sizeof ki, sizeof r);
    rm_val(want, i, r);
    return ki == i && memcmp(v, want, RM_VLEN) == 0;
}

static void *
rm_writer(void *p)
{
    rm_shared *s = p;
    uint8_t v[RM_VLEN];
    char k[16];

    cask_thread_register(s->c);
    for (unsigned r = 1; !atomic_load(&s->stop); r++) {
        for (unsigned i = 0; i < RM_KEYS; i++) {
            snprintf(k, sizeof k, "r%u", i);
            rm_val(v, i, r);
            if (cask_put(s->c, k, strlen(k), v, RM_VLEN) != 0)
                atomic_fetch_add(&s->bad, 1);
        }
    }
    cask_thread_unregister(s->c);
    return NULL;
}

typedef struct rm_zc {
    unsigned i;
    int ok;
} rm_zc;

static int
rm_zc_fn(const void *val, size_t vlen, void *arg)
{
    rm_zc *z = arg;

    z->ok = rm_ok(val, vlen, z->i);
    return 0;
}

/* Alternates cask_get_buf and cask_get_with; every key always exists. */
static void *
rm_reader(void *p)
{
    rm_shared *s = p;
    uint8_t v[RM_VLEN];
    unsigned x = 12345;
    char k[16];

    cask_thread_register(s->c);
    while (!atomic_load(&s->stop)) {
        x = x * 1103515245u + 12345u;
        unsigned i = (x >> 8) % RM_KEYS;
        size_t n = 0;
        snprintf(k, sizeof k, "r%u", i);
        int ok;
        if (x & 1) {
            ok = cask_get_buf(s->c, k, strlen(k), v, sizeof v, &n) == 0 &&
                 rm_ok(v, n, i);
        } else {
            rm_zc z = {i, 0};
            ok = cask_get_with(s->c, k, strlen(k), rm_zc_fn, &z) == 0 && z.ok;
        }
        if (!ok)
            atomic_fetch_add(&s->bad, 1);
        atomic_fetch_add(&s->reads, 1);
    }
    cask_thread_unregister(s->c);
    return NULL;
}

/* Mappings of deleted data files in /proc/self/maps under dir. */
static int
deleted_maps(const char *dir)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[8192];
    int n = 0;

    CU_ASSERT_FATAL(f != NULL);
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, dir) != NULL && strstr(line, ".data (deleted)"))
            n++;
    fclose(f);
    return n;
}

static void
reads_during_merge_one(const char *kd)
{
    char *dir = eu_tmpdir("rdmerge");
    rm_shared s;
    pthread_t w, r[2];
    uint8_t v[RM_VLEN];
    char k[16];

    s.c = open_max(dir, kd, 4096); /* a file per ~50 records: many merges */
    atomic_init(&s.stop, 0);
    atomic_init(&s.bad, 0);
    atomic_init(&s.reads, 0);
    atomic_init(&s.merges, 0);
    for (unsigned i = 0; i < RM_KEYS; i++) {
        snprintf(k, sizeof k, "r%u", i);
        rm_val(v, i, 0);
        CU_ASSERT_EQUAL_FATAL(cask_put(s.c, k, strlen(k), v, RM_VLEN), 0);
    }
    CU_ASSERT_FATAL(pthread_create(&w, NULL, rm_writer, &s) == 0);
    for (int i = 0; i < 2; i++)
        CU_ASSERT_FATAL(pthread_create(&r[i], NULL, rm_reader, &s) == 0);
    /* merges retire the files the readers are reading, over and over */
    for (int m = 0; m < 40; m++) {
        int rc = cask_merge(s.c, CASK_MERGE_ALL);
        CU_ASSERT(rc >= 0);
        if (rc > 0)
            atomic_fetch_add(&s.merges, 1);
    }
    atomic_store(&s.stop, 1);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    CU_ASSERT_EQUAL(atomic_load(&s.bad), 0);
    CU_ASSERT(atomic_load(&s.merges) > 0 && atomic_load(&s.reads) > 0);
    /* every file retired by a merge that returned is unmapped and closed */
    CU_ASSERT(cask_merge(s.c, CASK_MERGE_ALL) >= 0);
    CU_ASSERT_EQUAL(deleted_maps(dir), 0);
    for (unsigned i = 0; i < RM_KEYS; i++) {
        size_t n = 0;
        snprintf(k, sizeof k, "r%u", i);
        CU_ASSERT(cask_get_buf(s.c, k, strlen(k), v, sizeof v, &n) == 0 &&
                  rm_ok(v, n, i));
    }
    close_store(s.c);
    eu_rmdir(dir);
    free(dir);
}

static void
test_reads_during_merge(void)
{
    reads_during_merge_one("lockfree");
    reads_during_merge_one("striped");
}

/* ---- torn tails of the mapping write path ------------------------------- */

/* Makes a store with keys a, b in one file, closes it, appends `tail` to
 * that file, reopens and checks the outcome: torn (a, b there, the tail
 * cut off) or corrupt. */
static void
torn_case(const uint8_t *tail, size_t n, int want_torn)
{
    char *dir = eu_tmpdir("torn"), path[4400];
    cask *c = open_max(dir, "striped", 0);
    cask_info st;

    CU_ASSERT_EQUAL(cask_put(c, "a", 1, "va", 2), 0);
    CU_ASSERT_EQUAL(cask_put(c, "b", 1, "vb", 2), 0);
    close_store(c);
    snprintf(path, sizeof path, "%s/%010u.data", dir, 1u);
    size_t len = 0;
    uint8_t *old = eu_slurp(path, &len);
    CU_ASSERT_FATAL(old != NULL);
    uint8_t *all = malloc(len + n);
    memcpy(all, old, len);
    memcpy(all + len, tail, n);
    CU_ASSERT_FATAL(eu_spit(path, all, len + n) == 0);
    snprintf(path, sizeof path, "%s/%010u.hint", dir, 1u);
    unlink(path); /* scan it */
    cask_options o = {0};
    o.keydir = "striped";
    c = NULL;
    int rc = cask_open(dir, &o, &c);
    if (want_torn) {
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        cask_thread_register(c);
        CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
        CU_ASSERT_EQUAL(st.torn_bytes, n);
        CU_ASSERT_EQUAL(st.keys, 2);
        cask_info_free(&st);
        close_store(c);
    } else {
        CU_ASSERT_EQUAL(rc, CASK_ECORRUPT);
        CU_ASSERT(strstr(cask_errdetail(), "0000000001.data offset") != NULL);
    }
    free(old);
    free(all);
    eu_rmdir(dir);
    free(dir);
}

static void
test_torn_mapping_copy(void)
{
    uint8_t rec[256], tail[4096], good[256];
    cask_rec r = {0};

    r.seq = 99;
    r.klen = 3;
    r.vlen = 60;
    r.key = (const uint8_t *)"key";
    r.val = (const uint8_t *)"0123456789012345678901234567890123456789"
                             "01234567890123456789";
    uint64_t n = cask_rec_size(r.klen, r.vlen);
    cask_rec_encode(rec, &r);
    memcpy(good, rec, n);
    /* header and part of the value copied, no checksum yet, zeros after */
    memset(tail, 0, sizeof tail);
    memcpy(tail + 4, rec + 4, CASK_REC_HDR - 4 + 20);
    torn_case(tail, sizeof tail, 1);
    /* part of the header only */
    memset(tail, 0, sizeof tail);
    memcpy(tail + 4, rec + 4, 10);
    torn_case(tail, sizeof tail, 1);
    /* the preallocated rest of an active file: zeros */
    memset(tail, 0, sizeof tail);
    torn_case(tail, sizeof tail, 1);
    /* a bad record with a whole record after it: corruption, not a tail */
    memset(tail, 0, sizeof tail);
    memcpy(tail + 4, rec + 4, CASK_REC_HDR - 4 + 20);
    memcpy(tail + 2 * n, good, n);
    torn_case(tail, sizeof tail, 0);
}

/* A child opens a store in dir, writes key k (unless NULL) and dies
 * without closing: its active file keeps its preallocated size. */
static void
crash_child(const char *dir, const char *k)
{
    pid_t pid = fork();

    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        cask_options o = {0};
        cask *c;
        o.keydir = "striped";
        if (cask_open(dir, &o, &c) != 0 ||
            (k != NULL && cask_put(c, k, strlen(k), "v", 1) != 0))
            _exit(1);
        _exit(0);
    }
    int status = 0;
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
expect_files(const char *dir, uint64_t files, int torn)
{
    cask *c = open_max(dir, "striped", 0);
    cask_info st;

    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT_EQUAL(st.files, files);
    CU_ASSERT_EQUAL(st.torn_bytes > 0, torn);
    cask_info_free(&st);
    char v[4];
    size_t len = 0;
    int rc = cask_get_buf(c, "k", 1, v, sizeof v, &len);
    CU_ASSERT(files == 1 ? rc == CASK_ENOTFOUND
                         : rc == 0 && len == 1 && v[0] == 'v');
    close_store(c);
}

/* A process killed with its active file still preallocated: reopening
 * keeps every record, cuts the zeros, and removes a file left empty. */
static void
test_prealloc_after_crash(void)
{
    char *dir = eu_tmpdir("prealloc");

    crash_child(dir, NULL);
    expect_files(dir, 1, 1);  /* the crashed file held nothing: removed */
    crash_child(dir, "k");
    expect_files(dir, 2, 1);  /* its record kept, the zeros cut */
    expect_files(dir, 2, 0);  /* a clean close leaves nothing torn */
    eu_rmdir(dir);
    free(dir);
}

/* A disk that cannot hold the next preallocated file (here: a file size
 * limit below max_file_size, EFBIG) fails the rotating put with
 * CASK_ENOSPC naming the file, poisons the store, and loses nothing acknowledged: never a
 * SIGBUS from a store into an unallocated page of the mapping. */
static void
test_prealloc_fails_cleanly(void)
{
    char *dir = eu_tmpdir("nospace");
    cask *c = open_max(dir, "striped", 256 << 10);
    struct rlimit old, lim;
    uint8_t v[1000];
    char k[16];
    int rc = 0, n = 0;

    CU_ASSERT_FATAL(getrlimit(RLIMIT_FSIZE, &old) == 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG, not a signal */
    lim = old;
    lim.rlim_cur = 64 << 10;
    CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    while (rc == 0 && n < 1000) {
        snprintf(k, sizeof k, "n%d", n);
        fill(v, sizeof v, (unsigned)n);
        if ((rc = cask_put(c, k, strlen(k), v, sizeof v)) == 0)
            n++;
    }
    CU_ASSERT_EQUAL(rc, CASK_ENOSPC);
    CU_ASSERT(strstr(cask_errdetail(), "preallocate") != NULL);
    CU_ASSERT_EQUAL(cask_put(c, "x", 1, "y", 1), CASK_EPOISONED);
    CU_ASSERT(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, prev);
    cask_thread_unregister(c);
    cask_close(c); /* poisoned: its result is not the point here */
    c = open_max(dir, "striped", 256 << 10);
    for (int i = 0; i < n; i++) {
        uint8_t got[1000];
        size_t len = 0;
        snprintf(k, sizeof k, "n%d", i);
        fill(v, sizeof v, (unsigned)i);
        CU_ASSERT(cask_get_buf(c, k, strlen(k), got, sizeof got, &len) == 0 &&
                  len == sizeof v && memcmp(got, v, len) == 0);
    }
    CU_ASSERT(n > 100); /* the first file filled before the failure */
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

/* ---- read-only opens beside a writer ------------------------------------- */

/* A read-only open (lockfree keydir) with an optional fault hook. */
static cask *
open_ro_hooked(const char *dir, int (*fault)(void *, const char *),
               void *fault_arg, int *rc)
{
    cask_options o = {0};
    cask *c = NULL;

    o.keydir = "lockfree";
    o.read_only = 1;
    o.fault = fault;
    o.fault_arg = fault_arg;
    *rc = cask_open(dir, &o, &c);
    if (*rc == 0)
        cask_thread_register(c);
    return c;
}

static cask *
open_ro(const char *dir, int *rc)
{
    return open_ro_hooked(dir, NULL, NULL, rc);
}

static int
beside(cask *c)
{
    cask_info st;
    int b = cask_stats(c, &st) == 0 && st.beside_writer;

    cask_info_free(&st);
    return b;
}

static int
get_is(cask *c, const char *k, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int rc = cask_get(c, k, strlen(k), &v, &n);
    int ok = want == NULL ? rc == CASK_ENOTFOUND
                          : rc == 0 && n == strlen(want) && memcmp(v, want, n) == 0;

    free(v);
    return ok;
}

/* A read-only open beside a writer is a snapshot; read-only opens share
 * the lock, and a writable open fails while one is open. */
static void
test_read_beside_writer_basic(void)
{
    char *dir = eu_tmpdir("beside");
    cask *w = open_max(dir, "lockfree", 2048), *r1, *r2;
    char k[16], v[16];
    int rc;

    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "b%d", i);
        snprintf(v, sizeof v, "v%d", i);
        CU_ASSERT_EQUAL(cask_put(w, k, strlen(k), v, strlen(v)), 0);
    }
    r1 = open_ro(dir, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(beside(r1));
    int all = 1;
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "b%d", i);
        snprintf(v, sizeof v, "v%d", i);
        all &= get_is(r1, k, v);
    }
    CU_ASSERT(all);
    CU_ASSERT_EQUAL(cask_put(w, "b0", 2, "new", 3), 0);
    CU_ASSERT_EQUAL(cask_del(w, "b1", 2), 0);
    CU_ASSERT(get_is(r1, "b0", "v0")); /* the snapshot, not the writer */
    CU_ASSERT(get_is(r1, "b1", "v1"));
    CU_ASSERT_EQUAL(cask_put(r1, "x", 1, "y", 1), CASK_EREADONLY);
    r2 = open_ro(dir, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(get_is(r2, "b0", "new"));
    CU_ASSERT(get_is(r2, "b1", NULL));
    /* the writer merges its files away under both readers */
    CU_ASSERT(cask_merge(w, CASK_MERGE_ALL) > 1);
    CU_ASSERT(get_is(r1, "b299", "v299"));
    CU_ASSERT(get_is(r2, "b2", "v2"));
    close_store(r1);
    close_store(r2);
    CU_ASSERT_EQUAL(cask_put(w, "after", 5, "z", 1), 0);
    close_store(w);

    /* no writer: readers share the lock and keep a writer out */
    r1 = open_ro(dir, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    r2 = open_ro(dir, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(!beside(r1) && !beside(r2));
    CU_ASSERT(get_is(r2, "after", "z"));
    cask *c = NULL;
    CU_ASSERT_EQUAL(cask_open(dir, NULL, &c), CASK_ELOCKED);
    close_store(r1);
    close_store(r2);
    w = open_max(dir, "lockfree", 2048);
    close_store(w);
    eu_rmdir(dir);
    free(dir);
}

#define BW_KEYS 48

/* The writer of test_read_beside_writer: versioned puts of p keys, each
 * t key put once and deleted once, small files rotating, merges. */
typedef struct bw {
    cask *w;
    _Atomic int stop;
    _Atomic uint32_t issued[BW_KEYS], acked[BW_KEYS]; /* p key versions */
    _Atomic int t_put[BW_KEYS], t_del[BW_KEYS];       /* acked */
    _Atomic unsigned merges, errors;
} bw;

static void *
bw_main(void *arg)
{
    bw *b = arg;
    const struct timespec nap = {0, 50000L};
    char k[16], v[32];
    unsigned i = 0, nt = 0, nd = 0;

    cask_thread_register(b->w);
    while (!atomic_load(&b->stop)) {
        unsigned d = (i * 7u) % BW_KEYS;
        uint32_t ver = atomic_load(&b->issued[d]) + 1;
        atomic_store(&b->issued[d], ver);
        snprintf(k, sizeof k, "p%u", d);
        snprintf(v, sizeof v, "p%u:%u", d, ver);
        if (cask_put(b->w, k, strlen(k), v, strlen(v)) == 0)
            atomic_store(&b->acked[d], ver);
        else
            atomic_fetch_add(&b->errors, 1);
        if (i % 16 == 0 && nt < BW_KEYS) { /* a t key put ... */
            snprintf(k, sizeof k, "t%u", nt);
            if (cask_put(b->w, k, strlen(k), "t-once", 6) == 0)
                atomic_store(&b->t_put[nt], 1);
            nt++;
        } else if (i % 16 == 8 && nd + 4 < nt) { /* ... deleted later */
            snprintf(k, sizeof k, "t%u", nd);
            if (cask_del(b->w, k, strlen(k)) == 0)
                atomic_store(&b->t_del[nd], 1);
            nd++;
        }
        if (++i % 200 == 0) {
            int rc = cask_merge(b->w, CASK_MERGE_ALL);
            if (rc >= 0) {
                atomic_fetch_add(&b->merges, 1);
            } else {
                fprintf(stderr, "merge: %s: %s\n", cask_strerror(rc),
                        cask_errdetail());
                atomic_fetch_add(&b->errors, 1);
            }
        }
        nanosleep(&nap, NULL); /* a pace at which rotations are apart */
    }
    cask_thread_unregister(b->w);
    return NULL;
}

/* One read-only open beside the running writer, checked against what was
 * acknowledged before it began and issued after it ended. Returns 1 if it
 * opened, 0 on CASK_EBUSY. */
static int
bw_check_once(bw *b, const char *dir)
{
    uint32_t before[BW_KEYS];
    int deleted[BW_KEYS], rc, ok = 1;
    char k[16];

    for (unsigned d = 0; d < BW_KEYS; d++) {
        before[d] = atomic_load(&b->acked[d]);
        deleted[d] = atomic_load(&b->t_del[d]);
    }
    cask *r = open_ro(dir, &rc);
    if (rc == CASK_EBUSY)
        return 0;
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(beside(r));
    for (unsigned d = 0; d < BW_KEYS; d++) {
        void *v = NULL;
        size_t n = 0;
        unsigned got_d, ver;
        char tail;
        snprintf(k, sizeof k, "p%u", d);
        rc = cask_get(r, k, strlen(k), &v, &n);
        if (before[d] == 0) {
            ok &= rc == 0 || rc == CASK_ENOTFOUND;
        } else if (rc != 0 || n >= 31) {
            ok = 0;
        } else {
            char s[32];
            memcpy(s, v, n);
            s[n] = '\0';
            ok &= sscanf(s, "p%u:%u%c", &got_d, &ver, &tail) == 2 &&
                  got_d == d && ver >= before[d] &&
                  ver <= atomic_load(&b->issued[d]);
        }
        free(v);
        snprintf(k, sizeof k, "t%u", d);
        if (deleted[d])
            ok &= get_is(r, k, NULL); /* never back, through any merge */
        else
            ok &= get_is(r, k, "t-once") || get_is(r, k, NULL);
    }
    CU_ASSERT(ok);
    /* every record of the snapshot, through its mappings: none past the
     * end of a file the writer cut back */
    CU_ASSERT_EQUAL(cask_verify(r, eu_print_damaged, NULL), 0);
    close_store(r);
    return 1;
}

/* A writer that puts, deletes, rotates and merges without pause, and a
 * reader opening read-only beside it again and again. */
static void
test_read_beside_writer_live(void)
{
    char *dir = eu_tmpdir("beside-live");
    bw *b = calloc(1, sizeof *b);
    pthread_t th;
    unsigned opened = 0, busy = 0;

    CU_ASSERT_FATAL(b != NULL);
    b->w = open_max(dir, "lockfree", 8192);
    CU_ASSERT_FATAL(pthread_create(&th, NULL, bw_main, b) == 0);
    /* let files and merges pile up (bounded: 20 s) */
    for (int i = 0; i < 20000 && atomic_load(&b->merges) < 3 &&
                    atomic_load(&b->errors) == 0; i++)
        usleep(1000);
    CU_ASSERT(atomic_load(&b->merges) >= 3);
    for (int round = 0; round < 150; round++) {
        if (bw_check_once(b, dir))
            opened++;
        else
            busy++;
        usleep(1000);
    }
    atomic_store(&b->stop, 1);
    pthread_join(th, NULL);
    printf("\n    %u read-only opens beside the writer, %u gave up "
           "(CASK_EBUSY) while it did %u merges\n", opened, busy,
           atomic_load(&b->merges));
    CU_ASSERT(opened > 0);
    CU_ASSERT_EQUAL(atomic_load(&b->errors), 0);
    close_store(b->w);
    eu_rmdir(dir);
    free(b);
    free(dir);
}

typedef struct bw_race {
    cask *w;
    int listed, merged;
} bw_race;

/* "listed": the reader has listed the directory; the writer merges every
 * file away before the reader opens them (the first time only). */
static int
bw_race_hook(void *arg, const char *op)
{
    bw_race *x = arg;

    if (strcmp(op, "listed") == 0 && x->listed++ == 0) {
        cask_thread_register(x->w);
        x->merged = cask_merge(x->w, CASK_MERGE_ALL);
        cask_thread_unregister(x->w);
    }
    return 0;
}

/* A merge that removes the files a read-only open just listed: that load
 * gives up (CASK_EBUSY inside cask_open) and the next one is right. */
static void
test_read_beside_writer_merge_race(void)
{
    char *dir = eu_tmpdir("beside-race");
    cask *w = open_max(dir, "lockfree", 2048), *r = NULL;
    bw_race x = {w, 0, 0};
    char k[16], v[16];
    int rc;

    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 200; i++) {
            snprintf(k, sizeof k, "m%d", i);
            snprintf(v, sizeof v, "v%d-%d", i, round);
            CU_ASSERT_EQUAL(cask_put(w, k, strlen(k), v, strlen(v)), 0);
        }
    for (int i = 0; i < 200; i += 3) {
        snprintf(k, sizeof k, "m%d", i);
        CU_ASSERT_EQUAL(cask_del(w, k, strlen(k)), 0);
    }
    r = open_ro_hooked(dir, bw_race_hook, &x, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(x.merged > 1);    /* the writer merged files away ... */
    CU_ASSERT(x.listed >= 2);   /* ... so the reader listed again */
    int all = 1;
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "m%d", i);
        snprintf(v, sizeof v, "v%d-2", i);
        all &= get_is(r, k, i % 3 == 0 ? NULL : v);
    }
    CU_ASSERT(all);
    close_store(r);
    close_store(w);
    eu_rmdir(dir);
    free(dir);
}

typedef struct bw_fix {
    const char *path;
    off_t off;
    uint8_t byte;
    int rereads;
} bw_fix;

/* "reread": the reader is reading a bad record again; the first time, the
 * "writer" finishes it (the byte put back), as a copy in progress would. */
static int
bw_fix_hook(void *arg, const char *op)
{
    bw_fix *x = arg;

    if (strcmp(op, "reread") == 0 && x->rereads++ == 0) {
        int fd = open(x->path, O_WRONLY);
        CU_ASSERT_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(pwrite(fd, &x->byte, 1, x->off), 1);
        close(fd);
    }
    return 0;
}

/* A bad record with data after it, while a writer holds the lock: read
 * again for a while (it may be one being copied in), then corruption; and
 * a record "finished" during the rereads is loaded. */
static void
test_read_beside_writer_partial(void)
{
    char *dir = eu_tmpdir("beside-part"), path[4400], lock[4400];
    cask *w = open_max(dir, "lockfree", 1 << 20), *r;
    uint32_t id;
    size_t len = 0;
    int rc;

    CU_ASSERT_EQUAL(cask_put(w, "c0", 2, "VALUE-c0-aaaaaaaa", 17), 0);
    CU_ASSERT_EQUAL(cask_put(w, "c1", 2, "VALUE-c1-bbbbbbbb", 17), 0);
    CU_ASSERT_EQUAL(cask_put(w, "c2", 2, "VALUE-c2-cccccccc", 17), 0);
    close_store(w);
    id = eu_newest_data(dir, UINT32_MAX);
    snprintf(path, sizeof path, "%s/%010u.hint", dir, id);
    unlink(path); /* scanned, not taken from the hint */
    snprintf(path, sizeof path, "%s/%010u.data", dir, id);
    unsigned char *buf = eu_slurp(path, &len);
    CU_ASSERT_FATAL(buf != NULL);
    unsigned char *at = NULL;
    for (size_t i = 0; at == NULL && i + 9 <= len; i++)
        if (memcmp(buf + i, "VALUE-c1-", 9) == 0)
            at = buf + i;
    CU_ASSERT_FATAL(at != NULL);
    bw_fix fix = {path, (off_t)(at - buf) + 10, at[10], 0};
    free(buf);
    uint8_t bad = 'X';
    int fd = open(path, O_WRONLY);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(pwrite(fd, &bad, 1, fix.off), 1);
    close(fd);
    /* a "writer": the lock held exclusively, as an open store holds it */
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    int lfd = open(lock, O_RDWR);
    CU_ASSERT_FATAL(lfd >= 0 && flock(lfd, LOCK_EX) == 0);
    r = open_ro(dir, &rc);
    CU_ASSERT_EQUAL(rc, CASK_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(cask_errdetail(), "read again"));
    r = open_ro_hooked(dir, bw_fix_hook, &fix, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(fix.rereads, 1); /* mended by its first reread */
    CU_ASSERT(beside(r));
    CU_ASSERT(get_is(r, "c0", "VALUE-c0-aaaaaaaa"));
    CU_ASSERT(get_is(r, "c1", "VALUE-c1-bbbbbbbb"));
    CU_ASSERT(get_is(r, "c2", "VALUE-c2-cccccccc"));
    close_store(r);
    close(lfd);
    eu_rmdir(dir);
    free(dir);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_get_buf),
        CT_CASE(test_reads_during_merge),
        CT_CASE(test_torn_mapping_copy),
        CT_CASE(test_prealloc_after_crash),
        CT_CASE(test_prealloc_fails_cleanly),
        CT_CASE(test_read_beside_writer_basic),
        CT_CASE(test_read_beside_writer_live),
        CT_CASE(test_read_beside_writer_merge_race),
        CT_CASE(test_read_beside_writer_partial),
    };
    return ct_run("engine_read", cases, CT_NCASES(cases)) ? 1 : 0;
}
