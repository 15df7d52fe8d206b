/*
 * tests/test_engine_maint.c - the engine's background upkeep: automatic
 * merging (a merge happens without the caller asking, close during one is
 * safe, a failing one is counted and the store keeps serving), hint files
 * written at rotation (a kill -9'd session's rotated files load from hints),
 * cask_verify finding a record damaged under a valid hint, and the
 * sync=always promise against a simulated power loss.
 *
 * Background merges are observed through cask_merge_wait (a condition
 * variable with a generous bound), never through sleeps.
 */
#include "engine/cask.h"
#include "tests/cutest.h"
#include "tests/engine_util.h"

#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>

/* Bound on waiting for one more automatic policy check. */
#define WAIT_MS 20000u

static cask *
open_opt(const char *dir, cask_options *o)
{
    cask *c = eu_open(dir, o);

    CU_ASSERT_FATAL(c != NULL);
    return c;
}

static void
close_store(cask *c)
{
    CU_ASSERT_EQUAL(eu_close(c), 0);
}

static void
put_i(cask *c, const char *pfx, int i, int ver)
{
    char k[32], v[128];

    snprintf(k, sizeof k, "%s%d", pfx, i);
    snprintf(v, sizeof v, "%s-%d-%d-%080d", pfx, i, ver, 0);
    CU_ASSERT_EQUAL_FATAL(cask_put(c, k, strlen(k), v, strlen(v)), 0);
}

static void
expect_i(cask *c, const char *pfx, int i, int ver)
{
    char k[32], v[128];
    void *got = NULL;
    size_t n = 0;

    snprintf(k, sizeof k, "%s%d", pfx, i);
    snprintf(v, sizeof v, "%s-%d-%d-%080d", pfx, i, ver, 0);
    int rc = cask_get(c, k, strlen(k), &got, &n);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(rc == 0 && n == strlen(v) && memcmp(got, v, n) == 0);
    free(got);
}

static cask_info
stats_of(cask *c)
{
    cask_info st;

    CU_ASSERT_EQUAL_FATAL(cask_stats(c, &st), 0);
    cask_info_free(&st);
    return st;
}

/* Waits, one policy check at a time, until pred(stats) holds. */
static int
wait_for(cask *c, int (*pred)(const cask_info *))
{
    for (int i = 0; i < 1000; i++) {
        cask_info st = stats_of(c);
        if (pred(&st))
            return 1;
        if (cask_merge_wait(c, st.auto_merge_runs + 1, WAIT_MS) != 0)
            return 0;
    }
    return 0;
}

static int
merged_once(const cask_info *st)
{
    return st->merges >= 1;
}

static int
merge_failed(const cask_info *st)
{
    return st->merge_errors >= 1;
}

/* Overwrites build dead bytes past the triggers; the merge thread merges
 * them away with nobody calling cask_merge. */
static void
test_auto_merge(void)
{
    char *dir = eu_tmpdir("automerge");
    cask_options o = {0};

    o.max_file_size = 4096;
    o.auto_merge = 1;
    o.merge_check_ms = 20;
    o.tier_min_files = 1000; /* only the dead-bytes triggers may fire */
    cask *c = open_opt(dir, &o);
    for (int ver = 0; ver < 20; ver++)
        for (int i = 0; i < 20; i++)
            put_i(c, "k", i, ver);
    CU_ASSERT_EQUAL(cask_merge_wait(c, 1, WAIT_MS), 0);
    CU_ASSERT(wait_for(c, merged_once));
    cask_info st = stats_of(c);
    CU_ASSERT(st.merges >= 1);
    CU_ASSERT_EQUAL(st.merge_errors, 0);
    CU_ASSERT(st.hints_written >= 1);
    for (int i = 0; i < 20; i++)
        expect_i(c, "k", i, 19);
    close_store(c);
    c = open_opt(dir, &o);
    for (int i = 0; i < 20; i++)
        expect_i(c, "k", i, 19);
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

typedef struct churn {
    cask *c;
    int t;
    atomic_int *stop;
    int last;
} churn;

static void *
churn_main(void *arg)
{
    churn *w = arg;

    cask_thread_register(w->c);
    /* at least 17 versions whatever the scheduling: the check reads back
     * the last 16, and two merges can finish before a starved writer
     * starts */
    for (int ver = 0; (ver <= 16 || !atomic_load(w->stop)) && ver < 100000;
         ver++) {
        char k[32], v[128];
        snprintf(k, sizeof k, "w%d-%d", w->t, ver % 16);
        snprintf(v, sizeof v, "w%d-%d-%d-%080d", w->t, ver % 16, ver, 0);
        if (cask_put(w->c, k, strlen(k), v, strlen(v)) != 0)
            break;
        w->last = ver;
    }
    cask_thread_unregister(w->c);
    return NULL;
}

static int
merged_twice(const cask_info *st)
{
    return st->merges >= 2;
}

/* Writers race the merge thread; close comes while merges keep starting
 * (checked every millisecond and after every rotation). Every last write
 * must survive close and reopen. */
static void
auto_merge_close(const char *kd)
{
    char *dir = eu_tmpdir("automerge-close");
    cask_options o = {0};
    atomic_int stop = 0;
    churn w[2];
    pthread_t th[2];

    o.keydir = kd;
    o.max_file_size = 2048;
    o.auto_merge = 1;
    o.merge_check_ms = 1;
    o.tier_min_files = 2;
    cask *c = open_opt(dir, &o);
    for (int t = 0; t < 2; t++) {
        w[t] = (churn){c, t, &stop, -1};
        CU_ASSERT_FATAL(pthread_create(&th[t], NULL, churn_main, &w[t]) == 0);
    }
    CU_ASSERT(wait_for(c, merged_twice));
    atomic_store(&stop, 1);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    close_store(c); /* the merge thread is likely mid-merge here */
    o.auto_merge = 0;
    c = open_opt(dir, &o);
    for (int t = 0; t < 2; t++) {
        CU_ASSERT(w[t].last >= 16);
        for (int ver = w[t].last - 15; ver <= w[t].last; ver++) {
            char k[32], v[128];
            void *got = NULL;
            size_t n = 0;
            snprintf(k, sizeof k, "w%d-%d", t, ver % 16);
            snprintf(v, sizeof v, "w%d-%d-%d-%080d", t, ver % 16, ver, 0);
            CU_ASSERT_EQUAL(cask_get(c, k, strlen(k), &got, &n), 0);
            CU_ASSERT(n == strlen(v) && got && memcmp(got, v, n) == 0);
            free(got);
        }
    }
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

/* With every keydir: the RCU ones need the merge thread to stay out of
 * their grace periods while it sleeps. */
static void
test_auto_merge_close(void)
{
    for (size_t i = 0; eu_keydir(i) != NULL; i++)
        auto_merge_close(eu_keydir(i));
}

typedef struct damage {
    int n;
    uint32_t file;
    uint64_t off;
    char why[128];
} damage;

static void
note_damage(void *arg, uint32_t file_id, uint64_t off, const char *why)
{
    damage *d = arg;

    if (d->n++ == 0) {
        d->file = file_id;
        d->off = off;
        snprintf(d->why, sizeof d->why, "%s", why);
    }
}

/* File 1's first record is "k0" version 0: 40-byte header, key, value. */
static void
damage_first_record(const char *dir)
{
    char path[4400];
    size_t len = 0;

    snprintf(path, sizeof path, "%s/%010u.data", dir, 1u);
    unsigned char *buf = eu_slurp(path, &len);
    CU_ASSERT_FATAL(buf != NULL && len > 16 + 40 + 20);
    buf[16 + 40 + 2 + 10] ^= 0x40; /* a value byte */
    CU_ASSERT_FATAL(eu_spit(path, buf, len) == 0);
    free(buf);
}

/* A value byte flipped under a valid hint: open does not see it,
 * cask_verify names file and offset, the automatic merge that reads the
 * file fails, is counted, and the store keeps serving. */
static void
test_verify_and_merge_error(void)
{
    char *dir = eu_tmpdir("verify");
    cask_options o = {0};
    eu_log lg = EU_LOG_INIT;
    damage d = {0};

    o.max_file_size = 4096;
    o.tier_min_files = 1000;
    o.log = eu_log_fn;
    o.log_arg = &lg;
    cask *c = open_opt(dir, &o);
    for (int ver = 0; ver < 10; ver++)
        for (int i = 0; i < 20; i++)
            put_i(c, "k", i, ver);
    CU_ASSERT_EQUAL(cask_verify(c, note_damage, &d), 0);
    CU_ASSERT_EQUAL(cask_merge_wait(c, 1, 1), CASK_EINVAL); /* off */
    close_store(c);
    damage_first_record(dir);
    o.auto_merge = 1;
    o.merge_check_ms = 20;
    c = open_opt(dir, &o);
    cask_info st = stats_of(c);
    CU_ASSERT_EQUAL(st.files_scanned, 0); /* all from hints: unseen */
    CU_ASSERT_EQUAL(cask_verify(c, note_damage, &d), 1);
    CU_ASSERT_EQUAL(d.n, 1);
    CU_ASSERT_EQUAL(d.file, 1);
    CU_ASSERT_EQUAL(d.off, 16);
    CU_ASSERT(strstr(d.why, "checksum") != NULL);
    CU_ASSERT(wait_for(c, merge_failed));
    st = stats_of(c);
    CU_ASSERT_EQUAL(st.merges, 0);
    pthread_mutex_lock(&lg.mu);
    CU_ASSERT(strstr(lg.text, "automatic merge failed") != NULL);
    CU_ASSERT(strstr(lg.text, "0000000001.data offset 16") != NULL);
    pthread_mutex_unlock(&lg.mu);
    for (int i = 0; i < 20; i++)
        expect_i(c, "k", i, 9);
    put_i(c, "k", 0, 10);
    expect_i(c, "k", 0, 10);
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

/* The child writes enough to rotate several files, reports how many hints
 * it wrote at rotation, and waits to be killed. It runs in a fresh image
 * of this program (fork, then exec with --crash-child): the store starts
 * a thread (its hint writer), and a thread started in the child of a
 * fork from a multithreaded process (earlier cases leave liburcu's
 * call_rcu thread) is unsupported, under ThreadSanitizer fatally. */
static void
crash_child(const char *dir, int wfd)
{
    cask_options o = {0};
    cask *c = NULL;
    cask_info st;

    o.max_file_size = 4096;
    if (cask_open(dir, &o, &c) != 0)
        _exit(2);
    cask_thread_register(c);
    for (int i = 0; i < 300; i++) {
        char k[32], v[128];
        snprintf(k, sizeof k, "c%d", i);
        snprintf(v, sizeof v, "c-%d-0-%080d", i, 0);
        if (cask_put(c, k, strlen(k), v, strlen(v)) != 0)
            _exit(3);
    }
    if (cask_flush_hints(c) != 0 || cask_stats(c, &st) != 0)
        _exit(4);
    uint64_t h = st.hints_written;
    if (write(wfd, &h, sizeof h) != (ssize_t)sizeof h)
        _exit(5);
    for (;;)
        pause();
}

/* kill -9 after rotations: the reopened store loads every rotated file
 * from its hint and scans only the file that was active; a torn hint is
 * caught by its checksum and scanned instead, with the reason logged. */
static void
test_hints_after_crash(void)
{
    char *dir = eu_tmpdir("hintcrash");
    int p[2];
    uint64_t hints = 0;
    eu_log lg = EU_LOG_INIT;

    CU_ASSERT_FATAL(pipe(p) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        char fdarg[16];
        close(p[0]);
        snprintf(fdarg, sizeof fdarg, "%d", p[1]);
        execl("/proc/self/exe", "test_engine_maint", "--crash-child", dir,
              fdarg, (char *)NULL);
        _exit(6);
    }
    close(p[1]);
    ssize_t got = read(p[0], &hints, sizeof hints);
    close(p[0]);
    kill(pid, SIGKILL);
    int status = 0;
    CU_ASSERT(waitpid(pid, &status, 0) == pid);
    CU_ASSERT_FATAL(got == (ssize_t)sizeof hints);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CU_ASSERT(hints >= 5);

    cask_options o = {0};
    o.log = eu_log_fn;
    o.log_arg = &lg;
    cask *c = open_opt(dir, &o);
    cask_info st = stats_of(c);
    CU_ASSERT_EQUAL(st.hints_loaded, hints);
    CU_ASSERT_EQUAL(st.files_scanned, 1);
    for (int i = 0; i < 300; i++)
        expect_i(c, "c", i, 0);
    close_store(c);

    char path[4400];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%010u.hint", dir, 2u);
    unsigned char *buf = eu_slurp(path, &len);
    CU_ASSERT_FATAL(buf != NULL && len > 8);
    CU_ASSERT_FATAL(eu_spit(path, buf, len / 2) == 0); /* torn */
    free(buf);
    c = open_opt(dir, &o);
    st = stats_of(c);
    CU_ASSERT_EQUAL(st.files_scanned, 1);
    CU_ASSERT(st.hints_loaded >= hints);
    pthread_mutex_lock(&lg.mu);
    CU_ASSERT(strstr(lg.text, "0000000002.hint: bad hint file") != NULL);
    pthread_mutex_unlock(&lg.mu);
    for (int i = 0; i < 300; i++)
        expect_i(c, "c", i, 0);
    close_store(c);
    eu_rmdir(dir);
    free(dir);
}

/* ---- power loss under sync=always ------------------------------------------ */

#define PL_FILES 4096
#define PL_THREADS 2
#define PL_KEYS 64

/* What the fault hook saw: for each data file, the largest end of its
 * records when a sync of the newest file was about to start. Every record
 * acknowledged by that sync lies below that end (the group-commit leader
 * picks its target before the hook runs). */
typedef struct pl_state {
    const char *dir;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* an acknowledgement was recorded */
    uint64_t synced[PL_FILES];
    int acked[PL_THREADS][PL_KEYS]; /* last acknowledged version, -1 none */
    atomic_int stop;
} pl_state;

static int
pl_fault(void *arg, const char *op)
{
    pl_state *s = arg;

    if (strcmp(op, "sync") != 0)
        return 0;
    pthread_mutex_lock(&s->mu);
    /* where the records end, not the size: the active file is
     * preallocated to max_file_size, so its size covers unsynced space */
    uint32_t id = eu_newest_data(s->dir, PL_FILES);
    uint64_t end = id > 0 ? eu_content_end(s->dir, id) : 0;
    if (end > s->synced[id])
        s->synced[id] = end;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

typedef struct pl_writer {
    pl_state *s;
    cask *c;
    int t;
} pl_writer;

static void *
pl_main(void *arg)
{
    pl_writer *w = arg;

    cask_thread_register(w->c);
    for (int ver = 0; !atomic_load(&w->s->stop) && ver < 200000; ver++) {
        char k[32], v[64];
        int key = ver % PL_KEYS;
        snprintf(k, sizeof k, "p%d-%d", w->t, key);
        snprintf(v, sizeof v, "%d", ver);
        if (cask_put(w->c, k, strlen(k), v, strlen(v)) != 0)
            break;
        pthread_mutex_lock(&w->s->mu);
        w->s->acked[w->t][key] = ver;
        pthread_cond_broadcast(&w->s->cv);
        pthread_mutex_unlock(&w->s->mu);
    }
    cask_thread_unregister(w->c);
    return NULL;
}

/* The copy as a power loss would leave it: every data file cut to what
 * was synced (a file never synced keeps only its header, which creation
 * synced). */
static void
pl_cut(const char *dir, const uint64_t *synced)
{
    for (uint32_t id = 1; id < PL_FILES; id++) {
        char path[4400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%010u.data", dir, id);
        if (stat(path, &st) != 0)
            continue;
        uint64_t keep = synced[id] > 16 ? synced[id] : 16;
        if ((uint64_t)st.st_size > keep)
            CU_ASSERT(truncate(path, (off_t)keep) == 0);
    }
}

/* Waits (bounded: 60 s) until each writer acknowledged all its keys. */
static int
pl_wait_enough(pl_state *s)
{
    struct timespec ts;
    int rc = 0, ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&s->mu);
    while (!(ok = s->acked[0][PL_KEYS - 1] >= 0 &&
                  s->acked[1][PL_KEYS - 1] >= 0) && rc == 0)
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/*
 * Writers run with sync=always; at an arbitrary moment the test takes the
 * acknowledged versions, then the synced lengths, copies the directory
 * while the writers go on, and cuts the copy's files to those lengths -
 * the page cache's unsynced data lost. The copy must hold every
 * acknowledged write (or a later one, in flight at the cut).
 */
static void
test_power_loss(void)
{
    char *dir = eu_tmpdir("powerloss"), *copy = eu_tmpdir("powerloss-copy");
    static pl_state s;
    static uint64_t synced[PL_FILES];
    int acked[PL_THREADS][PL_KEYS];
    pl_writer w[PL_THREADS];
    pthread_t th[PL_THREADS];
    cask_options o = {0};

    memset(&s, 0, sizeof s);
    s.dir = dir;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    memset(s.acked, 0xff, sizeof s.acked);
    o.sync = CASK_SYNC_ALWAYS;
    o.max_file_size = 2048; /* rotations (and their syncs) in the run */
    /* no zero-fill ahead of the group commit (that case, with random cuts,
     * is tests/test_engine_durable.c's): the cut is at the records' end */
    o.prealloc_bytes = CASK_PREALLOC_OFF;
    o.fault = pl_fault;
    o.fault_arg = &s;
    cask *c = open_opt(dir, &o);
    for (int t = 0; t < PL_THREADS; t++) {
        w[t] = (pl_writer){&s, c, t};
        CU_ASSERT_FATAL(pthread_create(&th[t], NULL, pl_main, &w[t]) == 0);
    }
    CU_ASSERT_FATAL(pl_wait_enough(&s));
    pthread_mutex_lock(&s.mu);
    memcpy(acked, s.acked, sizeof acked);
    memcpy(synced, s.synced, sizeof synced);
    pthread_mutex_unlock(&s.mu);
    CU_ASSERT_FATAL(eu_copydir(dir, copy) == 0);
    atomic_store(&s.stop, 1);
    for (int t = 0; t < PL_THREADS; t++)
        pthread_join(th[t], NULL);
    close_store(c);
    pl_cut(copy, synced);
    cask_options o2 = {0};
    c = open_opt(copy, &o2);
    for (int t = 0; t < PL_THREADS; t++) {
        for (int key = 0; key < PL_KEYS; key++) {
            char k[32];
            void *got = NULL;
            size_t n = 0;
            snprintf(k, sizeof k, "p%d-%d", t, key);
            int rc = cask_get(c, k, strlen(k), &got, &n);
            CU_ASSERT_EQUAL(rc, 0);
            char v[64] = "";
            if (rc == 0 && n < sizeof v)
                memcpy(v, got, n);
            CU_ASSERT(rc == 0 && atoi(v) >= acked[t][key]);
            free(got);
        }
    }
    close_store(c);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    eu_rmdir(dir);
    eu_rmdir(copy);
    free(dir);
    free(copy);
}

int
main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--crash-child") == 0)
        crash_child(argv[2], atoi(argv[3])); /* never returns */
    static const ct_case cases[] = {
        CT_CASE(test_auto_merge),
        CT_CASE(test_auto_merge_close),
        CT_CASE(test_verify_and_merge_error),
        CT_CASE(test_hints_after_crash),
        CT_CASE(test_power_loss),
    };
    return ct_run("engine-maint", cases, CT_NCASES(cases)) ? 1 : 0;
}
