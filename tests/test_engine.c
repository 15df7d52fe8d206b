/*
 * tests/test_engine.c - the engine's functional and concurrency suite.
 *
 * Every case runs once per registered keydir (test-only ones excepted), so
 * keydirs added later are covered without touching this file. The
 * concurrent cases check final states against what each thread did:
 * per-key last writes, a counter incremented only through cask_cas, and
 * snapshots from cask_fold that must be a prefix of a writer's sequence.
 */
#include "engine/cask.h"
#include "tests/cutest.h"
#include "tests/engine_util.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

static cask *
open_store(const char *dir, const char *kd, cask_sync_mode sync,
           uint64_t max_file)
{
    cask_options o = {0};
    cask *c;

    o.keydir = kd;
    o.sync = sync;
    o.sync_interval_ms = 5;
    o.max_file_size = max_file;
    o.max_open_files = 4; /* small: every suite exercises the fd cache */
    c = eu_open(dir, &o);
    CU_ASSERT_FATAL(c != NULL);
    return c;
}

static void
close_store(cask *c)
{
    CU_ASSERT_EQUAL(eu_close(c), 0);
}

/* Asserts key holds exactly the string want (NULL: absent). */
static void
expect_val(cask *c, const char *key, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int rc = cask_get(c, key, strlen(key), &v, &n);

    if (want == NULL) {
        CU_ASSERT_EQUAL(rc, CASK_ENOTFOUND);
    } else {
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT(rc == 0 && n == strlen(want) &&
                  (n == 0 || memcmp(v, want, n) == 0));
    }
    free(v);
}

static int
put_s(cask *c, const char *k, const char *v)
{
    return cask_put(c, k, strlen(k), v, strlen(v));
}

static void
basic_ops_one(const char *kd)
{
    char *dir = eu_tmpdir("basic");
    cask *c = open_store(dir, kd, CASK_SYNC_NONE, 0);

    expect_val(c, "a", NULL);
    CU_ASSERT_EQUAL(put_s(c, "a", "1"), 0);
    expect_val(c, "a", "1");
    CU_ASSERT_EQUAL(put_s(c, "a", "22"), 0);
    expect_val(c, "a", "22");
    CU_ASSERT_EQUAL(cask_put(c, "e", 1, "", 0), 0);
    expect_val(c, "e", "");
    CU_ASSERT_EQUAL(cask_del(c, "a", 1), 0);
    expect_val(c, "a", NULL);
    CU_ASSERT_EQUAL(cask_del(c, "a", 1), CASK_ENOTFOUND);
    /* cas: absent -> value, value -> value, value -> deleted */
    CU_ASSERT_EQUAL(cask_cas(c, "c", 1, "x", 1, "y", 1), CASK_ECHANGED);
    CU_ASSERT_EQUAL(cask_cas(c, "c", 1, NULL, 0, "y", 1), 0);
    CU_ASSERT_EQUAL(cask_cas(c, "c", 1, NULL, 0, "z", 1), CASK_ECHANGED);
    CU_ASSERT_EQUAL(cask_cas(c, "c", 1, "y", 1, "zz", 2), 0);
    expect_val(c, "c", "zz");
    CU_ASSERT_EQUAL(cask_cas(c, "c", 1, "zz", 2, NULL, 0), 0);
    expect_val(c, "c", NULL);
    /* bad arguments never crash */
    CU_ASSERT_EQUAL(cask_put(c, "", 0, "v", 1), CASK_EINVAL);
    CU_ASSERT_EQUAL(cask_put(c, "k", 1, "v", CASK_VALUE_MAX + 1ull),
                    CASK_ETOOBIG);
    CU_ASSERT(strlen(cask_errdetail()) > 0);
    CU_ASSERT_EQUAL(cask_merge(c, 99), CASK_EINVAL);
    /* persistence */
    CU_ASSERT_EQUAL(put_s(c, "p", "persist"), 0);
    close_store(c);
    c = open_store(dir, kd, CASK_SYNC_ALWAYS, 0);
    expect_val(c, "p", "persist");
    expect_val(c, "e", "");
    expect_val(c, "a", NULL);
    expect_val(c, "c", NULL);
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

static void
for_each_keydir(void (*fn)(const char *))
{
    size_t n = 0;

    for (const char *kd; (kd = eu_keydir(n)) != NULL; n++)
        fn(kd);
    CU_ASSERT(n >= 1);
}

static void
test_basic_ops(void)
{
    for_each_keydir(basic_ops_one);
}

static void
test_errors(void)
{
    char *dir = eu_tmpdir("errors");
    cask_options o = {0};
    cask *c = NULL, *c2 = NULL;

    o.keydir = "no-such-keydir";
    CU_ASSERT_EQUAL(cask_open(dir, &o, &c), CASK_ENOKEYDIR);
    CU_ASSERT(strstr(cask_errdetail(), "no-such-keydir") != NULL);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(cask_open(dir, NULL, &c), 0);
    /* the directory is locked: a second open fails clearly */
    CU_ASSERT_EQUAL(cask_open(dir, NULL, &c2), CASK_ELOCKED);
    CU_ASSERT(strstr(cask_errdetail(), "LOCK") != NULL);
    CU_ASSERT_EQUAL(cask_close(c), 0);
    /* a lock file left behind (as by a crash) does not block */
    CU_ASSERT_EQUAL(cask_open(dir, NULL, &c2), 0);
    CU_ASSERT_EQUAL(cask_close(c2), 0);
    CU_ASSERT_EQUAL(cask_parse_sync("interval:50", &o), 0);
    CU_ASSERT_EQUAL(o.sync, CASK_SYNC_INTERVAL);
    CU_ASSERT_EQUAL(o.sync_interval_ms, 50);
    CU_ASSERT_EQUAL(cask_parse_sync("interval:", &o), CASK_EINVAL);
    CU_ASSERT_EQUAL(cask_parse_sync("sometimes", &o), CASK_EINVAL);
    CU_ASSERT_STRING_EQUAL(cask_strerror(CASK_ECORRUPT),
                           "corrupt data file (checksum or format)");
    eu_rmdir(dir);
    free(dir);
}

static void
ttl_one(const char *kd)
{
    char *dir = eu_tmpdir("ttl");
    cask *c = open_store(dir, kd, CASK_SYNC_NONE, 0);
    cask_info st;

    /* A ttl of 1 ms has passed once the clock moved on by 3 ms; the wait is
     * for the clock, not for another thread. */
    CU_ASSERT_EQUAL(cask_put_ttl(c, "t", 1, "v", 1, 1), 0);
    CU_ASSERT_EQUAL(cask_put_ttl(c, "long", 4, "v", 1, 3600000), 0);
    struct timespec ts = {0, 3000000};
    nanosleep(&ts, NULL);
    expect_val(c, "t", NULL);
    expect_val(c, "long", "v");
    CU_ASSERT_EQUAL(cask_del(c, "t", 1), CASK_ENOTFOUND);
    close_store(c);
    c = open_store(dir, kd, CASK_SYNC_NONE, 0);
    expect_val(c, "t", NULL);
    expect_val(c, "long", "v");
    CU_ASSERT_EQUAL(cask_merge(c, CASK_MERGE_ALL), 1);
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT_EQUAL(st.keys, 1); /* the expired key left the keydir */
    cask_info_free(&st);
    close_store(c);
    c = open_store(dir, kd, CASK_SYNC_NONE, 0);
    expect_val(c, "t", NULL);
    expect_val(c, "long", "v");
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

static void
test_ttl(void)
{
    for_each_keydir(ttl_one);
}

static cask *
open_partial(const char *dir)
{
    cask_options o = {0};
    cask *c = NULL;

    /* only files over 90% dead are merged; tiers never fill */
    o.frag_trigger_pct = 90;
    o.frag_threshold_pct = 90;
    o.tier_min_files = 1000;
    CU_ASSERT_FATAL(cask_open(dir, &o, &c) == 0);
    return c;
}

/* A partial merge keeps a tombstone whose older value lives outside it. */
static void
test_tomb_partial_merge(void)
{
    char *dir = eu_tmpdir("tombpart");
    cask *c = open_partial(dir);
    char k[16];

    CU_ASSERT_EQUAL(put_s(c, "k", "old"), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "live%d", i);
        CU_ASSERT_EQUAL(put_s(c, k, "x"), 0);
    }
    CU_ASSERT_EQUAL(cask_close(c), 0);
    c = open_partial(dir);
    CU_ASSERT_EQUAL(cask_del(c, "k", 1), 0);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(put_s(c, "junk", "0123456789"), 0);
    CU_ASSERT_EQUAL(cask_close(c), 0);
    c = open_partial(dir);
    CU_ASSERT_EQUAL(cask_merge(c, CASK_MERGE_AUTO), 1);
    CU_ASSERT_EQUAL(cask_close(c), 0);
    c = open_partial(dir);
    expect_val(c, "k", NULL); /* not "old" */
    expect_val(c, "live3", "x");
    CU_ASSERT_EQUAL(cask_merge(c, CASK_MERGE_ALL), 2);
    CU_ASSERT_EQUAL(cask_close(c), 0);
    c = open_partial(dir);
    expect_val(c, "k", NULL);
    CU_ASSERT_EQUAL(cask_close(c), 0);
    eu_rmdir(dir);
    free(dir);
}

/* A partial merge meeting an expired value must leave a tombstone, or the
 * older value in a file outside the merge would come back after reopen. */
static void
test_ttl_partial_merge(void)
{
    char *dir = eu_tmpdir("ttlpart");
    cask *c = open_partial(dir);
    char k[16];

    CU_ASSERT_EQUAL(put_s(c, "k", "old"), 0); /* file 1, kept live... */
    for (int i = 0; i < 10; i++) {           /* ...by these */
        snprintf(k, sizeof k, "live%d", i);
        CU_ASSERT_EQUAL(put_s(c, k, "x"), 0);
    }
    CU_ASSERT_EQUAL(cask_close(c), 0);
    c = open_partial(dir);                   /* file 2: mostly dead */
    CU_ASSERT_EQUAL(cask_put_ttl(c, "k", 1, "new", 3, 1), 0);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(put_s(c, "junk", "0123456789"), 0);
    CU_ASSERT_EQUAL(cask_close(c), 0);
    struct timespec ts = {0, 3000000};
    nanosleep(&ts, NULL);
    c = open_partial(dir);
    expect_val(c, "k", NULL);
    CU_ASSERT_EQUAL(cask_merge(c, CASK_MERGE_AUTO), 1); /* file 2 only */
    expect_val(c, "k", NULL);
    expect_val(c, "live3", "x");
    CU_ASSERT_EQUAL(cask_close(c), 0);
    c = open_partial(dir);
    expect_val(c, "k", NULL); /* not "old" */
    expect_val(c, "junk", "0123456789");
    CU_ASSERT_EQUAL(cask_close(c), 0);
    eu_rmdir(dir);
    free(dir);
}

/* Many versions, deletes, a merge, a reopen with hints: nothing deleted
 * comes back, every live key has its last value, space is reclaimed. */
static void
merge_one(const char *kd)
{
    char *dir = eu_tmpdir("merge");
    cask *c = open_store(dir, kd, CASK_SYNC_NONE, 4096);
    char k[32], v[64];
    cask_info st;

    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 200; i++) {
            snprintf(k, sizeof k, "key%d", i);
            snprintf(v, sizeof v, "val-%d-%d", i, round);
            CU_ASSERT_EQUAL_FATAL(put_s(c, k, v), 0);
        }
    }
    for (int i = 0; i < 200; i += 3) {
        snprintf(k, sizeof k, "key%d", i);
        CU_ASSERT_EQUAL(cask_del(c, k, strlen(k)), 0);
    }
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    uint64_t before = st.total_bytes;
    CU_ASSERT(st.reclaimable_bytes > before / 2);
    cask_info_free(&st);
    CU_ASSERT(cask_merge(c, CASK_MERGE_ALL) > 1);
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT(st.total_bytes < before / 3);
    CU_ASSERT_EQUAL(st.merges, 1);
    CU_ASSERT_EQUAL(st.keys, 133);
    cask_info_free(&st);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 200; i++) {
            snprintf(k, sizeof k, "key%d", i);
            snprintf(v, sizeof v, "val-%d-4", i);
            expect_val(c, k, i % 3 == 0 ? NULL : v);
        }
        close_store(c);
        c = open_store(dir, kd, CASK_SYNC_NONE, 4096);
        CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
        CU_ASSERT(st.hints_loaded >= 1);
        CU_ASSERT_EQUAL(st.keys, 133);
        cask_info_free(&st);
    }
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

static void
test_merge(void)
{
    for_each_keydir(merge_one);
}

/* A partial (policy) merge keeps the tombstones whose older values live in
 * files outside it. */
static void
test_merge_policy(void)
{
    char *dir = eu_tmpdir("policy");
    cask *c = open_store(dir, "striped", CASK_SYNC_NONE, 2048);
    char k[32], v[64];

    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "k%d", i % 50);
        snprintf(v, sizeof v, "v%d", i);
        CU_ASSERT_EQUAL_FATAL(put_s(c, k, v), 0);
    }
    CU_ASSERT_EQUAL(cask_del(c, "k7", 2), 0);
    int n = cask_merge(c, CASK_MERGE_AUTO);
    CU_ASSERT(n > 0);
    CU_ASSERT_EQUAL(cask_merge(c, CASK_MERGE_AUTO) >= 0, 1);
    expect_val(c, "k7", NULL);
    expect_val(c, "k8", "v258");
    close_store(c);
    c = open_store(dir, "striped", CASK_SYNC_NONE, 2048);
    expect_val(c, "k7", NULL);
    expect_val(c, "k8", "v258");
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

/* ---- concurrency ------------------------------------------------------------ */

#define CC_WRITERS 2
#define CC_KEYS 64
#define CC_ROUNDS 150
#define CC_INCS 100

typedef struct cc_shared {
    cask *c;
    atomic_int writers_left;
    atomic_int bad;
} cc_shared;

typedef struct cc_arg {
    cc_shared *sh;
    int id;
} cc_arg;

static void
cc_key(int w, int i, char *k, size_t n)
{
    snprintf(k, n, "w%d-k%d", w, i);
}

/* Each writer owns its keys: round r writes "r" to key i, deleting every
 * key whose index divides by 7 in the last round; it also adds CC_INCS to a
 * shared counter through cask_cas. */
static void *
cc_writer(void *p)
{
    cc_arg *a = p;
    cask *c = a->sh->c;
    char k[32], v[32];

    cask_thread_register(c);
    for (int r = 0; r < CC_ROUNDS; r++) {
        for (int i = 0; i < CC_KEYS; i++) {
            cc_key(a->id, i, k, sizeof k);
            snprintf(v, sizeof v, "%d", r);
            if (put_s(c, k, v) != 0)
                atomic_fetch_add(&a->sh->bad, 1);
        }
    }
    for (int i = 0; i < CC_KEYS; i += 7) {
        cc_key(a->id, i, k, sizeof k);
        if (cask_del(c, k, strlen(k)) != 0)
            atomic_fetch_add(&a->sh->bad, 1);
    }
    for (int n = 0; n < CC_INCS; n++) {
        for (;;) {
            void *cur = NULL;
            size_t len = 0;
            char nv[32];
            int rc = cask_get(c, "counter", 7, &cur, &len);
            long x = 0;
            if (rc == 0) {
                char tmp[32] = {0};
                memcpy(tmp, cur, len < 31 ? len : 31);
                x = strtol(tmp, NULL, 10);
            }
            snprintf(nv, sizeof nv, "%ld", x + 1);
            rc = cask_cas(c, "counter", 7, rc == 0 ? cur : NULL, len, nv,
                          strlen(nv));
            free(cur);
            if (rc == 0)
                break;
            if (rc != CASK_ECHANGED) {
                atomic_fetch_add(&a->sh->bad, 1);
                break;
            }
        }
    }
    atomic_fetch_sub(&a->sh->writers_left, 1);
    cask_thread_unregister(c);
    return NULL;
}

/* Readers check every value they see is one its writer wrote. */
static void *
cc_reader(void *p)
{
    cc_arg *a = p;
    cask *c = a->sh->c;
    char k[32];
    unsigned x = (unsigned)a->id * 2654435761u + 1;

    cask_thread_register(c);
    while (atomic_load(&a->sh->writers_left) > 0) {
        x = x * 1103515245u + 12345u;
        cc_key((int)(x >> 8) % CC_WRITERS, (int)(x >> 16) % CC_KEYS, k,
               sizeof k);
        void *v = NULL;
        size_t n = 0;
        int rc = cask_get(c, k, strlen(k), &v, &n);
        if (rc == 0) {
            char tmp[32] = {0};
            memcpy(tmp, v, n < 31 ? n : 31);
            long r = strtol(tmp, NULL, 10);
            if (n == 0 || r < 0 || r >= CC_ROUNDS)
                atomic_fetch_add(&a->sh->bad, 1);
        } else if (rc != CASK_ENOTFOUND) {
            atomic_fetch_add(&a->sh->bad, 1);
        }
        free(v);
    }
    cask_thread_unregister(c);
    return NULL;
}

static void *
cc_merger(void *p)
{
    cc_arg *a = p;

    cask_thread_register(a->sh->c);
    while (atomic_load(&a->sh->writers_left) > 0) {
        int rc = cask_merge(a->sh->c, (a->id & 1) ? CASK_MERGE_ALL
                                                  : CASK_MERGE_AUTO);
        if (rc < 0) {
            fprintf(stderr, "merge: %s: %s\n", cask_strerror(rc),
                    cask_errdetail());
            atomic_fetch_add(&a->sh->bad, 1);
        }
        a->id++;
    }
    cask_thread_unregister(a->sh->c);
    return NULL;
}

static void
cc_check(cask *c)
{
    char k[32], v[32];

    for (int w = 0; w < CC_WRITERS; w++) {
        for (int i = 0; i < CC_KEYS; i++) {
            cc_key(w, i, k, sizeof k);
            snprintf(v, sizeof v, "%d", CC_ROUNDS - 1);
            expect_val(c, k, i % 7 == 0 ? NULL : v);
        }
    }
    snprintf(v, sizeof v, "%d", CC_WRITERS * CC_INCS);
    expect_val(c, "counter", v);
}

static void
concurrent_one(const char *kd, cask_sync_mode sync)
{
    char *dir = eu_tmpdir("conc");
    cc_shared sh;
    pthread_t th[CC_WRITERS + 3];
    cc_arg args[CC_WRITERS + 3];

    sh.c = open_store(dir, kd, sync, 16384);
    atomic_init(&sh.writers_left, CC_WRITERS);
    atomic_init(&sh.bad, 0);
    for (int i = 0; i < CC_WRITERS + 3; i++) {
        args[i].sh = &sh;
        args[i].id = i < CC_WRITERS ? i : i - CC_WRITERS;
        void *(*fn)(void *) = i < CC_WRITERS       ? cc_writer
                              : i < CC_WRITERS + 2 ? cc_reader
                                                   : cc_merger;
        CU_ASSERT_FATAL(pthread_create(&th[i], NULL, fn, &args[i]) == 0);
    }
    for (int i = 0; i < CC_WRITERS + 3; i++)
        pthread_join(th[i], NULL);
    CU_ASSERT_EQUAL(atomic_load(&sh.bad), 0);
    cc_check(sh.c);
    CU_ASSERT(cask_merge(sh.c, CASK_MERGE_ALL) >= 0);
    cc_check(sh.c);
    close_store(sh.c);
    sh.c = open_store(dir, kd, CASK_SYNC_NONE, 16384);
    cc_check(sh.c);
    close_store(sh.c);
    eu_rmdir(dir);
    free(dir);
}

static void
conc_none(const char *kd)
{
    concurrent_one(kd, CASK_SYNC_NONE);
}

static void
test_concurrent(void)
{
    for_each_keydir(conc_none);
}

static void
test_concurrent_sync_modes(void)
{
    concurrent_one("striped", CASK_SYNC_ALWAYS);
    concurrent_one("striped", CASK_SYNC_INTERVAL);
}

/* ---- fold snapshots ---------------------------------------------------------------- */

#define FS_KEYS 32

typedef struct fs_state {
    cask *c;
    atomic_int done;
    atomic_int bad;
    int snapshots;
} fs_state;

/* The writer sets keys 0..FS_KEYS-1 to round r in order, round after
 * round: any instant's state is "keys before some index hold r, the rest
 * r-1", so a snapshot must look like that. */
static void *
fs_writer(void *p)
{
    fs_state *s = p;
    char k[16], v[16];

    cask_thread_register(s->c);
    for (int r = 1; r <= 60; r++) {
        for (int i = 0; i < FS_KEYS; i++) {
            snprintf(k, sizeof k, "f%02d", i);
            snprintf(v, sizeof v, "%d", r);
            if (put_s(s->c, k, v) != 0)
                atomic_fetch_add(&s->bad, 1);
        }
    }
    atomic_store(&s->done, 1);
    cask_thread_unregister(s->c);
    return NULL;
}

typedef struct fs_snap {
    int val[FS_KEYS];
} fs_snap;

static int
fs_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    fs_snap *sn = arg;
    char kb[16] = {0}, vb[16] = {0};

    memcpy(kb, key, klen < 15 ? klen : 15);
    memcpy(vb, val, vlen < 15 ? vlen : 15);
    int i = atoi(kb + 1);
    if (i >= 0 && i < FS_KEYS)
        sn->val[i] = atoi(vb);
    return 0;
}

static int
fs_consistent(const fs_snap *sn)
{
    int drops = 0;

    for (int i = 1; i < FS_KEYS; i++) {
        if (sn->val[i] == sn->val[i - 1])
            continue;
        if (sn->val[i] != sn->val[i - 1] - 1 || ++drops > 1)
            return 0;
    }
    return 1;
}

static void
test_fold_snapshot(void)
{
    char *dir = eu_tmpdir("fold");
    fs_state s;
    pthread_t w;
    char k[16];

    s.c = open_store(dir, "striped", CASK_SYNC_NONE, 8192);
    atomic_init(&s.done, 0);
    atomic_init(&s.bad, 0);
    s.snapshots = 0;
    for (int i = 0; i < FS_KEYS; i++) {
        snprintf(k, sizeof k, "f%02d", i);
        CU_ASSERT_EQUAL(put_s(s.c, k, "0"), 0);
    }
    CU_ASSERT_FATAL(pthread_create(&w, NULL, fs_writer, &s) == 0);
    while (!atomic_load(&s.done) || s.snapshots == 0) {
        fs_snap sn;
        memset(&sn, 0xff, sizeof sn);
        CU_ASSERT_EQUAL(cask_fold(s.c, fs_visit, &sn), 0);
        CU_ASSERT(fs_consistent(&sn));
        s.snapshots++;
        if (s.snapshots % 4 == 0)
            CU_ASSERT(cask_merge(s.c, CASK_MERGE_ALL) >= 0);
    }
    pthread_join(w, NULL);
    CU_ASSERT_EQUAL(atomic_load(&s.bad), 0);
    close_store(s.c);
    eu_rmdir(dir);
    free(dir);
}

/* ---- failed writes and syncs poison the store ---------------------------------- */

static int
fault_hook(void *arg, const char *op)
{
    const char *armed = *(const char **)arg;

    return armed != NULL && strcmp(op, armed) == 0;
}

static void
poison_one(const char *op)
{
    char *dir = eu_tmpdir("poison");
    const char *armed = NULL;
    cask_options o = {0};
    cask *c = NULL;

    o.sync = CASK_SYNC_ALWAYS;
    o.fault = fault_hook;
    o.fault_arg = &armed;
    CU_ASSERT_FATAL(cask_open(dir, &o, &c) == 0);
    CU_ASSERT_EQUAL(put_s(c, "a", "1"), 0);
    armed = op;
    CU_ASSERT_EQUAL(put_s(c, "b", "2"), CASK_EIO);
    CU_ASSERT(strstr(cask_errdetail(), ".data") != NULL);
    armed = NULL;
    /* the failure is not retried away: every later write is refused */
    CU_ASSERT_EQUAL(put_s(c, "c", "3"), CASK_EPOISONED);
    CU_ASSERT_EQUAL(cask_del(c, "a", 1), CASK_EPOISONED);
    CU_ASSERT_EQUAL(cask_cas(c, "a", 1, "1", 1, "9", 1), CASK_EPOISONED);
    CU_ASSERT_EQUAL(cask_sync(c), CASK_EPOISONED);
    expect_val(c, "a", "1"); /* reads still work */
    expect_val(c, "b", NULL); /* never acknowledged, never visible */
    CU_ASSERT_EQUAL(cask_close(c), 0);
    o.fault = NULL;
    CU_ASSERT_FATAL(cask_open(dir, &o, &c) == 0);
    expect_val(c, "a", "1");
    CU_ASSERT_EQUAL(put_s(c, "c", "3"), 0); /* reopened: writable again */
    expect_val(c, "c", "3");
    CU_ASSERT_EQUAL(cask_close(c), 0);
    eu_rmdir(dir);
    free(dir);
}

static void
test_poison(void)
{
    poison_one("write");
    poison_one("sync");
}

/* Stats name every file and their live bytes add up. */
static void
test_stats(void)
{
    char *dir = eu_tmpdir("stats");
    cask *c = open_store(dir, "striped", CASK_SYNC_NONE, 1024);
    cask_info st;
    char k[16];

    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "s%d", i % 10);
        CU_ASSERT_EQUAL(put_s(c, k, "0123456789"), 0);
    }
    /* rotated files join the descriptor cache once their hints are out */
    CU_ASSERT_EQUAL(cask_flush_hints(c), 0);
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT_EQUAL(st.keys, 10);
    CU_ASSERT(st.files > 3 && st.nfile == st.files);
    CU_ASSERT(st.open_fds <= 4 + 2); /* the cache bound, lock file, dir */
    CU_ASSERT_EQUAL(st.live_bytes, 10 * (40 + 2 + 10));
    CU_ASSERT(st.keydir_bytes_per_key > 0);
    CU_ASSERT(st.open_ns > 0);
    CU_ASSERT_STRING_EQUAL(st.keydir, "striped");
    uint64_t sum = 0;
    for (size_t i = 0; i < st.nfile; i++)
        sum += st.file[i].live_bytes;
    CU_ASSERT_EQUAL(sum, st.live_bytes);
    cask_info_free(&st);
    for (int i = 0; i < 10; i++) { /* reads reopen closed descriptors */
        snprintf(k, sizeof k, "s%d", i);
        expect_val(c, k, "0123456789");
    }
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT(st.open_fds <= 4 + 2);
    cask_info_free(&st);
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

/* The active file's bytes (the newest file) in st. */
static uint64_t
active_bytes(const cask_info *st)
{
    uint32_t id = 0;
    uint64_t bytes = 0;

    for (size_t i = 0; i < st->nfile; i++)
        if (st->file[i].id >= id) {
            id = st->file[i].id;
            bytes = st->file[i].bytes;
        }
    return bytes;
}

/* reserved_bytes: the active file's preallocation past its last record,
 * in whole pages, fresh, after appends and after a rotation. */
static void
test_reserved(void)
{
    const uint64_t cap = 64 << 10, page = 4096;
    char *dir = eu_tmpdir("reserved");
    cask *c = open_store(dir, "striped", CASK_SYNC_NONE, cap);
    char v[1000];
    cask_info st;

    memset(v, 'r', sizeof v);
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT(active_bytes(&st) < page); /* the file header, if any */
    CU_ASSERT_EQUAL(st.reserved_bytes,
                    active_bytes(&st) == 0 ? cap : cap - page);
    cask_info_free(&st);
    CU_ASSERT_EQUAL(cask_put(c, "a", 1, v, sizeof v), 0);
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT(active_bytes(&st) > sizeof v && active_bytes(&st) < page);
    CU_ASSERT_EQUAL(st.reserved_bytes, cap - page);
    cask_info_free(&st);
    for (int i = 0; i < 100; i++) /* about 100 KB: one rotation at least */
        CU_ASSERT_EQUAL(cask_put(c, "b", 1, v, sizeof v), 0);
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT(st.files >= 2);
    uint64_t used = (active_bytes(&st) + page - 1) / page * page;
    CU_ASSERT(used > 0 && used < cap);
    CU_ASSERT_EQUAL(st.reserved_bytes, cap - used);
    cask_info_free(&st);
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

/* Many rotations in a burst (files of 4 KiB, two writers): the retire
 * thread's queue fills and rotating writers write hints themselves; after
 * cask_flush_hints every rotated file has its hint, whichever wrote it. */
typedef struct hint_burst {
    cask *c;
    int id;
} hint_burst;

static void *
hint_burst_main(void *arg)
{
    const hint_burst *b = arg;
    cask *c = b->c;
    char k[32], v[100];

    memset(v, 'h', sizeof v);
    cask_thread_register(c);
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "b%d-%d", b->id, i);
        CU_ASSERT_EQUAL(cask_put(c, k, strlen(k), v, sizeof v), 0);
    }
    cask_thread_unregister(c);
    return NULL;
}

static void
test_hints_burst(void)
{
    char *dir = eu_tmpdir("hintburst");
    cask *c = open_store(dir, "striped", CASK_SYNC_NONE, 4096);
    pthread_t th[2];
    hint_burst b[2] = {{c, 0}, {c, 1}};
    cask_info st;

    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(
            pthread_create(&th[i], NULL, hint_burst_main, &b[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CU_ASSERT_EQUAL(cask_flush_hints(c), 0);
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT(st.files > 20);
    CU_ASSERT_EQUAL(st.hints_written, st.files - 1);
    uint32_t newest = 0;
    for (size_t i = 0; i < st.nfile; i++)
        if (st.file[i].id > newest)
            newest = st.file[i].id;
    for (size_t i = 0; i < st.nfile; i++)
        CU_ASSERT(st.file[i].has_hint || st.file[i].id == newest);
    cask_info_free(&st);
    close_store(c);
    c = open_store(dir, "striped", CASK_SYNC_NONE, 4096);
    CU_ASSERT_EQUAL(cask_stats(c, &st), 0);
    CU_ASSERT_EQUAL(st.keys, 2000);
    CU_ASSERT(st.hints_loaded > 20);
    cask_info_free(&st);
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

/*
 * Recovery on several threads ends in the state one thread reaches: the
 * same value for every key, the same deletions, the same live bytes in
 * every file. The store has many files, keys overwritten and deleted in
 * later files than they were written in, and half its hint files
 * removed, so loaders race hint loading against scans on the same keys.
 * Both opens read copies of one directory: a close writes missing hints.
 */
#define PR_KEYS 300

typedef struct pr_state {
    char val[PR_KEYS][32]; /* "" = absent */
    cask_file_stats file[4096];
    size_t nfile;
    uint64_t keys, live, threads, hints, scanned;
} pr_state;

static void
pr_fill(const char *dir, const char *kd)
{
    cask *c = open_store(dir, kd, CASK_SYNC_NONE, 2048);
    char k[16], v[32];

    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < PR_KEYS; i++) {
            snprintf(k, sizeof k, "r%d", i);
            if (round > 0 && (i + round) % 5 == 0) {
                int rc = cask_del(c, k, strlen(k));
                CU_ASSERT(rc == 0 || rc == CASK_ENOTFOUND);
                continue;
            }
            if (round > 0 && i % 3 == 0)
                continue; /* left in an older file */
            snprintf(v, sizeof v, "v%d.%d", i, round);
            CU_ASSERT_EQUAL(put_s(c, k, v), 0);
        }
    }
    close_store(c);
    /* every other hint file goes: those files are scanned */
    for (uint32_t id = 0; id < 4096; id += 2) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%010u.hint", dir, id);
        (void)unlink(path);
    }
}

static int
pr_file_cmp(const void *a, const void *b)
{
    uint32_t x = ((const cask_file_stats *)a)->id;
    uint32_t y = ((const cask_file_stats *)b)->id;
    return x < y ? -1 : x > y;
}

static void
pr_read(const char *dir, const char *kd, uint32_t threads, pr_state *s)
{
    cask_options o = {0};
    cask_info st;

    o.keydir = kd;
    o.max_file_size = 2048;
    o.max_open_files = 4;
    o.recover_threads = threads;
    cask *c = eu_open(dir, &o);
    CU_ASSERT_FATAL(c != NULL);
    memset(s, 0, sizeof *s);
    for (int i = 0; i < PR_KEYS; i++) {
        char k[16];
        void *v = NULL;
        size_t n = 0;
        snprintf(k, sizeof k, "r%d", i);
        int rc = cask_get(c, k, strlen(k), &v, &n);
        CU_ASSERT(rc == 0 || rc == CASK_ENOTFOUND);
        if (rc == 0 && n < sizeof s->val[i])
            memcpy(s->val[i], v, n);
        free(v);
    }
    CU_ASSERT_EQUAL_FATAL(cask_stats(c, &st), 0);
    s->keys = st.keys;
    s->live = st.live_bytes;
    s->threads = st.recover_threads;
    s->hints = st.hints_loaded;
    s->scanned = st.files_scanned;
    CU_ASSERT_FATAL(st.nfile <= 4096);
    s->nfile = st.nfile;
    memcpy(s->file, st.file, st.nfile * sizeof *st.file);
    qsort(s->file, s->nfile, sizeof *s->file, pr_file_cmp);
    cask_info_free(&st);
    close_store(c);
}

static void
parallel_recovery_one(const char *kd)
{
    char *dir = eu_tmpdir("precover"), *copy = eu_tmpdir("precover2");
    pr_state *one = calloc(1, sizeof *one), *many = calloc(1, sizeof *many);

    CU_ASSERT_FATAL(one != NULL && many != NULL);
    pr_fill(dir, kd);
    CU_ASSERT_FATAL(eu_copydir(dir, copy) == 0);
    pr_read(dir, kd, 1, one);
    pr_read(copy, kd, 4, many);
    CU_ASSERT_EQUAL(one->threads, 1);
    CU_ASSERT_EQUAL(many->threads, 4);
    CU_ASSERT(one->hints > 0 && one->scanned > 0);
    CU_ASSERT_EQUAL(one->hints, many->hints);
    CU_ASSERT_EQUAL(one->scanned, many->scanned);
    CU_ASSERT_EQUAL(one->keys, many->keys);
    CU_ASSERT(one->keys > PR_KEYS / 2 && one->keys < PR_KEYS);
    CU_ASSERT_EQUAL(one->live, many->live);
    CU_ASSERT(memcmp(one->val, many->val, sizeof one->val) == 0);
    /* the new active file of each open differs; every other file agrees */
    CU_ASSERT_EQUAL(one->nfile, many->nfile);
    for (size_t i = 0; i + 1 < one->nfile && i + 1 < many->nfile; i++) {
        CU_ASSERT_EQUAL(one->file[i].id, many->file[i].id);
        CU_ASSERT_EQUAL(one->file[i].bytes, many->file[i].bytes);
        CU_ASSERT_EQUAL(one->file[i].live_bytes, many->file[i].live_bytes);
    }
    /* the default: a thread per CPU, one for a keydir whose writers take
     * one lock (the store has more files than 8) */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t dflt = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (uint64_t)ncpu;
    if (kd_lookup(kd)->flags & KD_FLAG_ONE_WRITER)
        dflt = 1;
    CU_ASSERT(one->nfile > 8);
    pr_read(dir, kd, 0, one);
    CU_ASSERT_EQUAL(one->threads, dflt);
    CU_ASSERT(strcmp(kd, "global") != 0 || dflt == 1);
    CU_ASSERT(strcmp(kd, "ck_ht") != 0 || dflt == 1);
    /* the expected final values, from pr_fill's rules */
    for (int i = 0; i < PR_KEYS; i++) {
        int last = -1;
        for (int round = 0; round < 4; round++) {
            if (round > 0 && (i + round) % 5 == 0)
                last = -1;
            else if (round == 0 || i % 3 != 0)
                last = round;
        }
        char want[32] = "";
        if (last >= 0)
            snprintf(want, sizeof want, "v%d.%d", i, last);
        CU_ASSERT_STRING_EQUAL(many->val[i], want);
    }
    free(one);
    free(many);
    eu_rmdir(dir);
    eu_rmdir(copy);
    free(dir);
    free(copy);
}

static void
test_parallel_recovery(void)
{
    for (size_t i = 0; eu_keydir(i) != NULL; i++)
        parallel_recovery_one(eu_keydir(i));
}

/* Opens dir with the given capacity hint (0: none) and returns the stats'
 * keydir_presized, checking that every key k0..k{n-1} reads back. */
static uint64_t
presized_open(const char *dir, uint64_t hint, int n)
{
    cask_options o = {0};
    kd_options ko = {0};
    cask_info st;
    char k[16];

    ko.capacity_hint = hint;
    o.keydir = "lockfree";
    o.kd_opt = &ko;
    o.max_file_size = 4096;
    cask *c = eu_open(dir, &o);
    CU_ASSERT_FATAL(c != NULL);
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "k%d", i);
        expect_val(c, k, "0123456789");
    }
    CU_ASSERT_EQUAL_FATAL(cask_stats(c, &st), 0);
    uint64_t presized = st.keydir_presized;
    CU_ASSERT_EQUAL(st.keys, (uint64_t)n);
    cask_info_free(&st);
    close_store(c);
    return presized;
}

/* The keydir is sized at open from the hint files' entry counts: exactly
 * for a store of distinct keys, about right when a hint is missing, the
 * caller's capacity hint first, nothing for an empty store, and a hint
 * trailer claiming absurd counts bounded by its file's size. */
static void
test_keydir_presized(void)
{
    char *dir = eu_tmpdir("presized");
    cask *c = open_store(dir, "lockfree", CASK_SYNC_NONE, 4096);
    char k[16], path[4400];

    close_store(c);
    CU_ASSERT_EQUAL(presized_open(dir, 0, 0), 0); /* no data, no hints */
    c = open_store(dir, "lockfree", CASK_SYNC_NONE, 4096);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CU_ASSERT_EQUAL(put_s(c, k, "0123456789"), 0);
    }
    close_store(c); /* every data file now has its hint */
    CU_ASSERT_EQUAL(presized_open(dir, 0, 2000), 2000);
    CU_ASSERT_EQUAL(presized_open(dir, 12345, 2000), 12345);

    /* one hint gone: its data file counts at the others' bytes per entry */
    uint32_t id = eu_newest_data(dir, UINT32_MAX);
    uint32_t victim = id;
    for (uint32_t i = 1; i < id; i++) {
        snprintf(path, sizeof path, "%s/%010u.hint", dir, i);
        if (access(path, F_OK) == 0) {
            victim = i;
            break;
        }
    }
    snprintf(path, sizeof path, "%s/%010u.hint", dir, victim);
    CU_ASSERT_FATAL(unlink(path) == 0);
    uint64_t est = presized_open(dir, 0, 2000);
    CU_ASSERT(est >= 1800 && est <= 2200);

    /* a trailer claiming 2^62 entries (its checksum now fails, so open
     * scans that file): bounded by what the file can hold */
    snprintf(path, sizeof path, "%s/%010u.hint", dir, victim);
    size_t len = 0;
    unsigned char *buf = eu_slurp(path, &len);
    CU_ASSERT_FATAL(buf != NULL && len > 32);
    uint64_t huge = (uint64_t)1 << 62;
    memcpy(buf + len - 32 + 8, &huge, 8);
    CU_ASSERT_FATAL(eu_spit(path, buf, len) == 0);
    free(buf);
    est = presized_open(dir, 0, 2000);
    CU_ASSERT(est >= 2000 && est <= 2000 + len / 41);
    eu_rmdir(dir);
    free(dir);
}

/* 1 if directories a and b hold the same names with the same bytes. */
static int
ro_same_dir(const char *a, const char *b)
{
    DIR *d = opendir(a);
    struct dirent *de;
    int same = d != NULL, n = 0, m = 0;

    while (same && (de = readdir(d)) != NULL) {
        char pa[4400], pb[4400];
        size_t la = 0, lb = 0;
        if (de->d_name[0] == '.')
            continue;
        n++;
        snprintf(pa, sizeof pa, "%s/%s", a, de->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, de->d_name);
        unsigned char *x = eu_slurp(pa, &la), *y = eu_slurp(pb, &lb);
        same = x != NULL && y != NULL && la == lb && memcmp(x, y, la) == 0;
        if (!same)
            fprintf(stderr, "read-only open changed %s\n", de->d_name);
        free(x);
        free(y);
    }
    if (d != NULL)
        closedir(d);
    d = opendir(b);
    while (d != NULL && (de = readdir(d)) != NULL)
        m += de->d_name[0] != '.';
    if (d != NULL)
        closedir(d);
    return same && n == m;
}

/*
 * A read-only open writes nothing: not a new active file, not the torn
 * tail it finds (ignored instead of cut), not the stub of a file whose
 * header never made it, not an unfinished hint's removal, not the LOCK
 * file's pid. It reads every key, refuses every write with CASK_EREADONLY
 * and syncs nothing. The writable open after it does what it left.
 */
static void
test_read_only(void)
{
    char *dir = eu_tmpdir("ro"), *copy = eu_tmpdir("ro-copy"), path[4400];
    cask *c = open_store(dir, "lockfree", CASK_SYNC_NONE, 2048);
    char k[16], v[16];

    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "ro%d", i);
        snprintf(v, sizeof v, "v%d", i);
        CU_ASSERT_EQUAL(put_s(c, k, v), 0);
    }
    close_store(c);
    /* a torn tail on the newest file, a stub, an unfinished hint */
    uint32_t newest = eu_newest_data(dir, UINT32_MAX);
    snprintf(path, sizeof path, "%s/%010u.data", dir, newest);
    FILE *f = fopen(path, "ab");
    CU_ASSERT_FATAL(f != NULL);
    fputs("torn-record", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%010u.data", dir, newest + 1);
    CU_ASSERT_FATAL(eu_spit(path, "CASK", 4) == 0);
    snprintf(path, sizeof path, "%s/%010u.hint.tmp", dir, newest);
    CU_ASSERT_FATAL(eu_spit(path, "partial", 7) == 0);
    /* not this process's pid: an open that writes its own would show */
    snprintf(path, sizeof path, "%s/LOCK", dir);
    CU_ASSERT_FATAL(eu_spit(path, "1\n", 2) == 0);
    CU_ASSERT_FATAL(eu_copydir(dir, copy) == 0);

    cask_options o = {0};
    cask_info st;
    o.keydir = "lockfree";
    o.read_only = 1;
    o.sync = CASK_SYNC_ALWAYS; /* ignored: nothing to sync */
    o.auto_merge = 1;          /* ignored too */
    c = eu_open(dir, &o);
    CU_ASSERT_FATAL(c != NULL);
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "ro%d", i);
        snprintf(v, sizeof v, "v%d", i);
        expect_val(c, k, v);
    }
    CU_ASSERT_EQUAL(put_s(c, "x", "y"), CASK_EREADONLY);
    CU_ASSERT(strstr(cask_errdetail(), "opened read-only") != NULL);
    CU_ASSERT_EQUAL(cask_del(c, "ro1", 3), CASK_EREADONLY);
    CU_ASSERT_EQUAL(cask_del(c, "absent", 6), CASK_EREADONLY);
    CU_ASSERT_EQUAL(cask_cas(c, "ro1", 3, "v1", 2, "z", 1), CASK_EREADONLY);
    CU_ASSERT_EQUAL(cask_merge(c, CASK_MERGE_ALL), CASK_EREADONLY);
    CU_ASSERT_EQUAL(cask_sync(c), 0);
    expect_val(c, "ro1", "v1");
    CU_ASSERT_EQUAL_FATAL(cask_stats(c, &st), 0);
    CU_ASSERT_EQUAL(st.keys, 200);
    CU_ASSERT_EQUAL(st.torn_bytes, 11 + 4);
    cask_info_free(&st);
    CU_ASSERT_EQUAL(cask_verify(c, eu_print_damaged, NULL), 0);
    close_store(c);
    CU_ASSERT(ro_same_dir(dir, copy));

    /* the writable open cuts the tail, drops the stub and the temp hint */
    c = open_store(dir, "lockfree", CASK_SYNC_NONE, 2048);
    CU_ASSERT_EQUAL_FATAL(cask_stats(c, &st), 0);
    CU_ASSERT_EQUAL(st.torn_bytes, 11 + 4);
    CU_ASSERT_EQUAL(st.keys, 200);
    cask_info_free(&st);
    close_store(c);
    snprintf(path, sizeof path, "%s/%010u.hint.tmp", dir, newest);
    CU_ASSERT(access(path, F_OK) != 0);
    eu_rmdir(dir);
    eu_rmdir(copy);
    free(dir);
    free(copy);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_basic_ops),   CT_CASE(test_errors),
        CT_CASE(test_ttl),         CT_CASE(test_ttl_partial_merge),
        CT_CASE(test_tomb_partial_merge),
        CT_CASE(test_merge),
        CT_CASE(test_merge_policy), CT_CASE(test_stats),
        CT_CASE(test_reserved),    CT_CASE(test_hints_burst),
        CT_CASE(test_concurrent),  CT_CASE(test_concurrent_sync_modes),
        CT_CASE(test_fold_snapshot), CT_CASE(test_poison),
        CT_CASE(test_parallel_recovery), CT_CASE(test_keydir_presized),
        CT_CASE(test_read_only),
    };
    return ct_run("engine", cases, CT_NCASES(cases)) ? 1 : 0;
}
