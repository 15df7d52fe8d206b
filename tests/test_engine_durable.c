/*
 * tests/test_engine_durable.c - the engine's group commit and the
 * preallocation of its active file (engine/DESIGN.md, "Group commit" and
 * "Preallocation").
 *
 * - Many writers with sync=always: the store counts fewer syncs than
 *   acknowledged waits and no more waits than writes, and every write
 *   reads back after a reopen (with and without preallocation).
 * - Writers of one key under sync=always (cas increments, put/del of a
 *   shared key): no increment lost, before and after a reopen.
 * - Preallocation is invisible: the active file carries a zero tail while
 *   open, a clean close and every rotation cut it back to the last record
 *   (reopen: no torn bytes, every rotated file from its hint).
 * - Recovery of a preallocated file: a zero tail, and a record cut short
 *   before the zeros, are torn tails; data after the zeros is corruption.
 * - A simulated power loss under 16 sync=always writers: every data file is
 *   reduced to what its last sync covered plus a random part of the rest,
 *   the remainder zeroed (the preallocation survived) or cut off (it did
 *   not); the reopened copy holds every acknowledged write.
 *
 * No timing asserts; threads finish by count or by a flag the main thread
 * sets after a condition-variable wait with a generous bound.
 */
#include "engine/cask.h"
#include "tests/cutest.h"
#include "tests/engine_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define DW_THREADS 16
#define DW_PUTS 150
#define DW_KEYS 48
#define DW_FILES 4096
#define PW_CUTS 6

static cask *
dw_open(const char *dir, cask_options *o)
{
    cask *c = eu_open(dir, o);

    CU_ASSERT_FATAL(c != NULL);
    return c;
}

static void
dw_close(cask *c)
{
    CU_ASSERT_EQUAL(eu_close(c), 0);
}

static void
dw_key(char *k, size_t cap, int t, int i)
{
    snprintf(k, cap, "w%02d-%04d", t, i);
}

/* The value a writer stores as version ver of a key: digits, then a
 * non-zero filler, so a record never ends in zero bytes. */
static size_t
dw_val(char *v, size_t cap, int ver)
{
    return (size_t)snprintf(v, cap, "%d:%s", ver, "filler-filler-filler");
}

/* The version inside a stored value, or -1. */
static int
dw_ver(const void *val, size_t n)
{
    char v[64] = "";

    if (val == NULL || n == 0 || n >= sizeof v)
        return -1;
    memcpy(v, val, n);
    return atoi(v);
}

/* ---- many writers, counted --------------------------------------------- */

typedef struct dw_writer {
    cask *c;
    int t;
    int failed;
} dw_writer;

static void *
dw_count_main(void *arg)
{
    dw_writer *w = arg;

    cask_thread_register(w->c);
    for (int i = 0; i < DW_PUTS; i++) {
        char k[32], v[64];
        dw_key(k, sizeof k, w->t, i);
        size_t n = dw_val(v, sizeof v, i);
        if (cask_put(w->c, k, strlen(k), v, n) != 0)
            w->failed = 1;
    }
    cask_thread_unregister(w->c);
    return NULL;
}

static void
dw_many_writers(uint64_t prealloc)
{
    char *dir = eu_tmpdir("groupcommit");
    cask_options o = {0};
    dw_writer w[DW_THREADS];
    pthread_t th[DW_THREADS];
    cask_info st;

    CU_ASSERT_FATAL(dir != NULL);
    o.sync = CASK_SYNC_ALWAYS;
    o.max_file_size = 64u << 10; /* a few rotations in the run */
    o.prealloc_bytes = prealloc;
    cask *c = dw_open(dir, &o);
    for (int t = 0; t < DW_THREADS; t++) {
        w[t] = (dw_writer){c, t, 0};
        CU_ASSERT_FATAL(pthread_create(&th[t], NULL, dw_count_main, &w[t]) ==
                        0);
    }
    for (int t = 0; t < DW_THREADS; t++) {
        pthread_join(th[t], NULL);
        CU_ASSERT_FALSE(w[t].failed);
    }
    CU_ASSERT_FATAL(cask_stats(c, &st) == 0);
    /* each sync=always put waits at most once; a group sync ends at least
     * one wait (its leader's) */
    CU_ASSERT(st.syncs >= 1);
    CU_ASSERT(st.syncs <= st.sync_acks);
    CU_ASSERT(st.sync_acks <= (uint64_t)DW_THREADS * DW_PUTS);
    cask_info_free(&st);
    dw_close(c);

    cask_options o2 = {0};
    c = dw_open(dir, &o2);
    CU_ASSERT_FATAL(cask_stats(c, &st) == 0);
    CU_ASSERT_EQUAL(st.keys, (uint64_t)DW_THREADS * DW_PUTS);
    CU_ASSERT_EQUAL(st.torn_bytes, 0);
    cask_info_free(&st);
    for (int t = 0; t < DW_THREADS; t++)
        for (int i = 0; i < DW_PUTS; i++) {
            char k[32];
            void *got = NULL;
            size_t n = 0;
            dw_key(k, sizeof k, t, i);
            CU_ASSERT(cask_get(c, k, strlen(k), &got, &n) == 0 &&
                      dw_ver(got, n) == i);
            free(got);
        }
    dw_close(c);
    eu_rmdir(dir);
    free(dir);
}

static void
test_group_commit_counts(void)
{
    dw_many_writers(0);
}

static void
test_group_commit_no_prealloc(void)
{
    dw_many_writers(CASK_PREALLOC_OFF);
}

/* ---- writers of one key under sync=always ---------------------------------- */

#define CC_THREADS 8
#define CC_INCS 40

typedef struct cc_arg {
    cask *c;
    int t;
    int failed;
} cc_arg;

/* Increments counter key (t % 2) CC_INCS times with cas, retrying on
 * CASK_ECHANGED; every other round also deletes and re-creates a scratch
 * key of the same writer pair, so dels and puts of one key overlap too. */
static void *
cc_main(void *arg)
{
    cc_arg *a = arg;
    char k[8], sk[8];

    snprintf(k, sizeof k, "ctr%d", a->t % 2);
    snprintf(sk, sizeof sk, "tmp%d", a->t % 2);
    cask_thread_register(a->c);
    for (int done = 0; done < CC_INCS && !a->failed;) {
        void *got = NULL;
        size_t n = 0;
        char cur[32] = "", next[32];
        int rc = cask_get(a->c, k, strlen(k), &got, &n);
        if (rc == 0 && n < sizeof cur)
            memcpy(cur, got, n);
        free(got);
        snprintf(next, sizeof next, "%d", atoi(cur) + 1);
        rc = cask_cas(a->c, k, strlen(k), rc == 0 ? cur : NULL,
                      rc == 0 ? strlen(cur) : 0, next, strlen(next));
        if (rc == 0) {
            done++;
            rc = (done & 1) ? cask_put(a->c, sk, strlen(sk), "x", 1)
                            : cask_del(a->c, sk, strlen(sk));
            a->failed |= rc != 0 && rc != CASK_ENOTFOUND;
        } else {
            a->failed |= rc != CASK_ECHANGED;
        }
    }
    cask_thread_unregister(a->c);
    return NULL;
}

/* cas increments of two keys by 8 writers: no increment is lost, before
 * and after a reopen (sync=always writers hold their key, not its stripe,
 * across the group commit). */
static void
test_same_key_writers(void)
{
    char *dir = eu_tmpdir("samekey");
    cask_options o = {0};
    cc_arg a[CC_THREADS];
    pthread_t th[CC_THREADS];

    CU_ASSERT_FATAL(dir != NULL);
    o.sync = CASK_SYNC_ALWAYS;
    cask *c = dw_open(dir, &o);
    for (int t = 0; t < CC_THREADS; t++) {
        a[t] = (cc_arg){c, t, 0};
        CU_ASSERT_FATAL(pthread_create(&th[t], NULL, cc_main, &a[t]) == 0);
    }
    for (int t = 0; t < CC_THREADS; t++) {
        pthread_join(th[t], NULL);
        CU_ASSERT_FALSE(a[t].failed);
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 2; i++) {
            char k[8], v[32] = "";
            void *got = NULL;
            size_t n = 0;
            snprintf(k, sizeof k, "ctr%d", i);
            CU_ASSERT_FATAL(cask_get(c, k, strlen(k), &got, &n) == 0);
            if (n < sizeof v)
                memcpy(v, got, n);
            free(got);
            CU_ASSERT_EQUAL(atoi(v), CC_THREADS / 2 * CC_INCS);
        }
        dw_close(c);
        if (pass == 0) {
            cask_options o2 = {0};
            c = dw_open(dir, &o2);
        }
    }
    eu_rmdir(dir);
    free(dir);
}

/* ---- preallocation is invisible ------------------------------------------ */

/* Size of data file id in dir, or 0. */
static uint64_t
dw_fsize(const char *dir, uint32_t id)
{
    char path[4400];
    struct stat st;

    snprintf(path, sizeof path, "%s/%010u.data", dir, id);
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* The active file's id and logical size (the newest file of the stats). */
static void
dw_active(cask *c, uint32_t *id, uint64_t *bytes)
{
    cask_info st;

    *id = 0;
    *bytes = 0;
    CU_ASSERT_FATAL(cask_stats(c, &st) == 0);
    for (size_t i = 0; i < st.nfile; i++)
        if (st.file[i].id > *id) {
            *id = st.file[i].id;
            *bytes = st.file[i].bytes;
        }
    cask_info_free(&st);
}

static void
dw_put_n(cask *c, int t, int n)
{
    for (int i = 0; i < n; i++) {
        char k[32], v[64];
        dw_key(k, sizeof k, t, i);
        size_t len = dw_val(v, sizeof v, i);
        CU_ASSERT(cask_put(c, k, strlen(k), v, len) == 0);
    }
}

static void
test_prealloc_trimmed(void)
{
    char *dir = eu_tmpdir("prealloc");
    cask_options o = {0};
    cask_info st;
    uint32_t id;
    uint64_t bytes;

    CU_ASSERT_FATAL(dir != NULL);
    o.sync = CASK_SYNC_ALWAYS;
    o.max_file_size = 16u << 10;
    o.prealloc_bytes = 4u << 10;
    cask *c = dw_open(dir, &o);
    dw_put_n(c, 0, 10);
    dw_active(c, &id, &bytes);
    /* open: the active file runs past its records (zero-filled) */
    CU_ASSERT(dw_fsize(dir, id) > bytes);
    dw_put_n(c, 1, 600); /* several rotations */
    CU_ASSERT_EQUAL(cask_flush_hints(c), 0); /* hints come from a thread */
    CU_ASSERT_FATAL(cask_stats(c, &st) == 0);
    CU_ASSERT(st.nfile >= 3);
    uint32_t newest = 0;
    for (size_t i = 0; i < st.nfile; i++)
        newest = st.file[i].id > newest ? st.file[i].id : newest;
    /* the file rotated in is preallocated afresh */
    uint64_t newest_bytes = 0;
    for (size_t i = 0; i < st.nfile; i++)
        if (st.file[i].id == newest)
            newest_bytes = st.file[i].bytes;
    CU_ASSERT(dw_fsize(dir, newest) > newest_bytes);
    /* every rotated file ends at its last record and has its hint */
    for (size_t i = 0; i < st.nfile; i++)
        if (st.file[i].id != newest) {
            CU_ASSERT_EQUAL(dw_fsize(dir, st.file[i].id), st.file[i].bytes);
            CU_ASSERT(st.file[i].has_hint);
        }
    cask_info_free(&st);
    dw_close(c);

    cask_options o2 = {0};
    c = dw_open(dir, &o2);
    CU_ASSERT_FATAL(cask_stats(c, &st) == 0);
    CU_ASSERT_EQUAL(st.torn_bytes, 0);
    CU_ASSERT_EQUAL(st.files_scanned, 0); /* every file from its hint */
    CU_ASSERT_EQUAL(st.keys, 610);
    /* the files of the first run end at their records; the active file
     * the reopen created is preallocated (mapped appends), so not it */
    newest = 0;
    for (size_t i = 0; i < st.nfile; i++)
        newest = st.file[i].id > newest ? st.file[i].id : newest;
    for (size_t i = 0; i < st.nfile; i++)
        if (st.file[i].id != newest)
            CU_ASSERT_EQUAL(dw_fsize(dir, st.file[i].id), st.file[i].bytes);
    cask_info_free(&st);
    dw_close(c);
    eu_rmdir(dir);
    free(dir);
}

/* ---- recovery of a preallocated file -------------------------------------- */

/* A copy of an open store whose active file holds n records and a zero
 * tail; returns the copy's name and the active file's id and record end. */
static char *
dw_copy_open_store(int n, uint32_t *id, uint64_t *end)
{
    char *dir = eu_tmpdir("zerotail"), *copy = eu_tmpdir("zerotail-copy");
    cask_options o = {0};

    CU_ASSERT_FATAL(dir != NULL && copy != NULL);
    o.sync = CASK_SYNC_ALWAYS;
    o.prealloc_bytes = 8u << 10;
    cask *c = dw_open(dir, &o);
    dw_put_n(c, 0, n);
    dw_active(c, id, end);
    CU_ASSERT_FATAL(eu_copydir(dir, copy) == 0);
    dw_close(c);
    eu_rmdir(dir);
    free(dir);
    CU_ASSERT_FATAL(dw_fsize(copy, *id) > *end);
    return copy;
}

static int
dw_reopen_rc(const char *dir, cask_info *st)
{
    cask_options o = {0};
    cask *c = NULL;
    int rc = cask_open(dir, &o, &c);

    if (rc == 0) {
        cask_thread_register(c);
        CU_ASSERT(cask_stats(c, st) == 0);
        dw_close(c);
    }
    return rc;
}

static void
dw_patch(const char *dir, uint32_t id, uint64_t off, const void *b, size_t n)
{
    char path[4400];

    snprintf(path, sizeof path, "%s/%010u.data", dir, id);
    int fd = open(path, O_WRONLY);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(pwrite(fd, b, n, (off_t)off) == (ssize_t)n);
    close(fd);
}

static void
test_zero_tail_recovery(void)
{
    static const uint8_t zeros[16], junk[1] = {0x5a};
    cask_info st;
    uint32_t id;
    uint64_t end, size;

    /* the zero tail alone: torn, every record kept */
    char *copy = dw_copy_open_store(20, &id, &end);
    size = dw_fsize(copy, id);
    CU_ASSERT_FATAL(dw_reopen_rc(copy, &st) == 0);
    CU_ASSERT_EQUAL(st.keys, 20);
    CU_ASSERT_EQUAL(st.torn_bytes, size - end);
    cask_info_free(&st);
    eu_rmdir(copy);
    free(copy);

    /* the last record's end lost to zeros (a page not written back):
     * torn, the other records kept */
    copy = dw_copy_open_store(20, &id, &end);
    dw_patch(copy, id, end - sizeof zeros, zeros, sizeof zeros);
    CU_ASSERT_FATAL(dw_reopen_rc(copy, &st) == 0);
    CU_ASSERT_EQUAL(st.keys, 19);
    cask_info_free(&st);
    eu_rmdir(copy);
    free(copy);

    /* zeros, then data: a hole in the middle is corruption, never skipped */
    copy = dw_copy_open_store(20, &id, &end);
    dw_patch(copy, id, end - sizeof zeros, zeros, sizeof zeros);
    dw_patch(copy, id, end + 100, junk, sizeof junk);
    CU_ASSERT_EQUAL(dw_reopen_rc(copy, &st), CASK_ECORRUPT);
    eu_rmdir(copy);
    free(copy);
}

/* ---- power loss under 16 writers ------------------------------------------ */

typedef struct pw_state {
    const char *dir;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t synced[DW_FILES];        /* per file: content end at a sync */
    int acked[DW_THREADS][DW_KEYS];   /* last acknowledged version */
    atomic_int stop;
} pw_state;

/* The fault hook before each sync: the leader has fixed its target and
 * preallocated, so every record that sync acknowledges lies below the
 * newest file's content end now. */
static int
pw_fault(void *arg, const char *op)
{
    pw_state *s = arg;

    if (strcmp(op, "sync") != 0)
        return 0;
    pthread_mutex_lock(&s->mu);
    uint32_t id = eu_newest_data(s->dir, DW_FILES);
    uint64_t end = id > 0 ? eu_content_end(s->dir, id) : 0;
    if (end > s->synced[id])
        s->synced[id] = end;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

typedef struct pw_writer {
    pw_state *s;
    cask *c;
    int t;
} pw_writer;

static void *
pw_main(void *arg)
{
    pw_writer *w = arg;

    cask_thread_register(w->c);
    for (int ver = 0; !atomic_load(&w->s->stop) && ver < 100000; ver++) {
        char k[32], v[64];
        int key = ver % DW_KEYS;
        dw_key(k, sizeof k, w->t, key);
        size_t n = dw_val(v, sizeof v, ver);
        if (cask_put(w->c, k, strlen(k), v, n) != 0)
            break;
        pthread_mutex_lock(&w->s->mu);
        w->s->acked[w->t][key] = ver;
        pthread_cond_broadcast(&w->s->cv);
        pthread_mutex_unlock(&w->s->mu);
    }
    cask_thread_unregister(w->c);
    return NULL;
}

/* Bounded (60 s): until every writer acknowledged all its keys twice. */
static int
pw_wait_enough(pw_state *s)
{
    struct timespec ts;
    int rc = 0, ok = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&s->mu);
    while (rc == 0) {
        ok = 1;
        for (int t = 0; t < DW_THREADS; t++)
            ok &= s->acked[t][DW_KEYS - 1] >= DW_KEYS;
        if (ok)
            break;
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* The copy as a power loss could leave it: each data file keeps what its
 * last sync covered plus a random part of the rest (pages the kernel had
 * written back), and loses the remainder - zeroed where the file keeps
 * its size (preallocated), cut off otherwise. */
static void
pw_cut(const char *dir, const uint64_t *synced, unsigned seed)
{
    for (uint32_t id = 1; id < DW_FILES; id++) {
        char path[4400];
        size_t len;
        snprintf(path, sizeof path, "%s/%010u.data", dir, id);
        unsigned char *b = eu_slurp(path, &len);
        if (b == NULL)
            continue;
        uint64_t keep = synced[id] > 16 ? synced[id] : 16, end = len;
        while (end > keep && b[end - 1] == 0)
            end--;
        if (len > keep) {
            /* a cut inside the unsynced records, often inside one */
            seed = seed * 1103515245u + 12345u;
            keep += (seed >> 8) % (end - keep + 1);
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 12) & 1) {
                memset(b + keep, 0, len - keep);
            } else {
                len = keep;
            }
            CU_ASSERT(eu_spit(path, b, len) == 0);
        }
        free(b);
    }
}

static void
pw_check(const char *copy, int acked[DW_THREADS][DW_KEYS])
{
    cask_options o = {0};
    cask *c = dw_open(copy, &o);

    for (int t = 0; t < DW_THREADS; t++)
        for (int key = 0; key < DW_KEYS; key++) {
            char k[32];
            void *got = NULL;
            size_t n = 0;
            dw_key(k, sizeof k, t, key);
            int rc = cask_get(c, k, strlen(k), &got, &n);
            CU_ASSERT(rc == 0 && dw_ver(got, n) >= acked[t][key]);
            free(got);
        }
    dw_close(c);
}

static void
test_power_loss_many(void)
{
    char *dir = eu_tmpdir("pl16"), *copy = eu_tmpdir("pl16-copy");
    static pw_state s;
    static uint64_t synced[DW_FILES];
    int acked[DW_THREADS][DW_KEYS];
    pw_writer w[DW_THREADS];
    pthread_t th[DW_THREADS];
    cask_options o = {0};

    CU_ASSERT_FATAL(dir != NULL && copy != NULL);
    memset(&s, 0, sizeof s);
    s.dir = dir;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    memset(s.acked, 0xff, sizeof s.acked);
    o.sync = CASK_SYNC_ALWAYS;
    o.max_file_size = 24u << 10; /* rotations, and their syncs, in the run */
    o.prealloc_bytes = 4u << 10; /* several zero-fills per file */
    o.fault = pw_fault;
    o.fault_arg = &s;
    cask *c = dw_open(dir, &o);
    for (int t = 0; t < DW_THREADS; t++) {
        w[t] = (pw_writer){&s, c, t};
        CU_ASSERT_FATAL(pthread_create(&th[t], NULL, pw_main, &w[t]) == 0);
    }
    CU_ASSERT_FATAL(pw_wait_enough(&s));
    pthread_mutex_lock(&s.mu);
    memcpy(acked, s.acked, sizeof acked);
    memcpy(synced, s.synced, sizeof synced);
    pthread_mutex_unlock(&s.mu);
    CU_ASSERT_FATAL(eu_copydir(dir, copy) == 0);
    atomic_store(&s.stop, 1);
    for (int t = 0; t < DW_THREADS; t++)
        pthread_join(th[t], NULL);
    dw_close(c);
    /* several power losses of the same moment, each its own random cut */
    for (unsigned seed = 1; seed <= PW_CUTS; seed++) {
        char *cut = eu_tmpdir("pl16-cut");
        CU_ASSERT_FATAL(cut != NULL && eu_copydir(copy, cut) == 0);
        pw_cut(cut, synced, seed);
        pw_check(cut, acked);
        eu_rmdir(cut);
        free(cut);
    }
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    eu_rmdir(dir);
    eu_rmdir(copy);
    free(dir);
    free(copy);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_group_commit_counts),
        CT_CASE(test_group_commit_no_prealloc),
        CT_CASE(test_same_key_writers),
        CT_CASE(test_prealloc_trimmed),
        CT_CASE(test_zero_tail_recovery),
        CT_CASE(test_power_loss_many),
    };
    return ct_run("engine-durable", cases, CT_NCASES(cases)) ? 1 : 0;
}
