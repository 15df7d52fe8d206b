/*
 * tests/crash_engine.c - the crash test driver.
 *
 *   crash_engine [--crashes N] [--keydir NAME] [--seed S] [--dir D]
 *
 * For each crash point a child process opens the store with sync=always
 * and runs writer threads (puts, deletes, compare-and-sets on keys each
 * owns) beside a thread that merges without pause. Before each operation a
 * writer tells the parent what it is about to do, and after the store
 * acknowledges it, that it is done (fixed-size messages on a pipe, atomic
 * below PIPE_BUF). After a random number of acknowledgements the parent
 * kill -9s the child - often mid-merge, since one runs all the time -
 * reopens the store (recovery) and checks every key: it holds its last
 * acknowledged value, or the outcome of the one operation in flight on it;
 * no deleted key is back; no read fails. The store carries over from point
 * to point, so recovery also meets what earlier recoveries left, and the
 * points cycle through every registered keydir (test-only ones excepted).
 *
 * Exit status: 0 all points passed, 1 a check failed, 64 usage.
 */
#include "engine/cask.h"
#include "tests/engine_util.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define CR_THREADS 2
#define CR_KEYS 24 /* per thread */
#define CR_NKEYS (CR_THREADS * CR_KEYS)

typedef struct cr_msg {
    uint8_t kind;   /* 'B' begin, 'A' acknowledged; 'M' merge (op 'b' when
                       it starts, 'e' when it ends) */
    uint8_t thread;
    uint8_t op;     /* 'P' put, 'D' delete, 'C' cas to a new value */
    uint8_t key;    /* index within the thread's keys */
    uint32_t point;
    uint32_t n;     /* operation number within the thread and point */
} cr_msg;

/* What the parent knows of one key. */
typedef struct cr_key {
    int present;
    uint32_t point, n; /* the value's identity, when present */
} cr_key;

static int cr_fd;      /* child: write end of the pipe */
static const char *cr_kd_only; /* --keydir; NULL = rotate through all */
static const char *cr_kd = "striped"; /* the current point's keydir */

static void
cr_keyname(int t, int k, char *out, size_t n)
{
    snprintf(out, n, "t%d-key%02d", t, k);
}

static void
cr_value(uint32_t point, uint32_t n, int t, int k, char *out, size_t cap)
{
    snprintf(out, cap, "p%u-n%u-t%d-k%d-payload", point, n, t, k);
}

static void
cr_send(const cr_msg *m)
{
    if (write(cr_fd, m, sizeof *m) != (ssize_t)sizeof *m)
        _exit(3);
}

typedef struct cr_child {
    cask *c;
    int t;
    uint32_t point;
    uint64_t rnd;
} cr_child;

static uint64_t
cr_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One writer: ops until killed. A cas reads the current value and swaps
 * it for a new one (or creates the key); the parent treats it as a put
 * whose outcome is known only once acknowledged. */
static void *
cr_writer(void *p)
{
    cr_child *w = p;
    char key[32], val[96];

    cask_thread_register(w->c);
    for (uint32_t n = 0;; n++) {
        uint64_t r = cr_rand(&w->rnd);
        int k = (int)(r % CR_KEYS), choice = (int)((r >> 8) % 10);
        cr_msg m = {'B', (uint8_t)w->t, choice < 6 ? 'P' : choice < 8 ? 'D'
                                                                       : 'C',
                    (uint8_t)k, w->point, n};
        cr_keyname(w->t, k, key, sizeof key);
        cr_value(w->point, n, w->t, k, val, sizeof val);
        cr_send(&m);
        int rc;
        if (m.op == 'P') {
            rc = cask_put(w->c, key, strlen(key), val, strlen(val));
        } else if (m.op == 'D') {
            rc = cask_del(w->c, key, strlen(key));
            if (rc == CASK_ENOTFOUND)
                rc = 0;
        } else {
            void *cur = NULL;
            size_t len = 0;
            rc = cask_get(w->c, key, strlen(key), &cur, &len);
            if (rc == 0 || rc == CASK_ENOTFOUND)
                rc = cask_cas(w->c, key, strlen(key), rc == 0 ? cur : NULL,
                              len, val, strlen(val));
            free(cur);
        }
        if (rc != 0) {
            fprintf(stderr, "child: op %c: %s: %s\n", m.op, cask_strerror(rc),
                    cask_errdetail());
            _exit(4);
        }
        m.kind = 'A';
        cr_send(&m);
    }
    return NULL;
}

static void *
cr_merger(void *p)
{
    cr_child *w = p;

    cask_thread_register(w->c);
    for (unsigned i = 0;; i++) {
        cr_msg m = {'M', 0, 'b', 0, w->point, i};
        cr_send(&m);
        int rc = cask_merge(w->c, (i & 1) ? CASK_MERGE_ALL : CASK_MERGE_AUTO);
        m.op = 'e';
        cr_send(&m);
        if (rc < 0) {
            fprintf(stderr, "child: merge: %s: %s\n", cask_strerror(rc),
                    cask_errdetail());
            _exit(5);
        }
    }
    return NULL;
}

static void
cr_child_main(const char *dir, uint32_t point, uint64_t seed)
{
    cask_options o = {0};
    cr_child w[CR_THREADS + 1];
    pthread_t th[CR_THREADS + 1];
    cask *c;

    o.keydir = cr_kd;
    o.sync = CASK_SYNC_ALWAYS;
    o.max_file_size = 4096; /* many files: rotations and merges all along */
    o.tier_min_files = 2;
    int rc = cask_open(dir, &o, &c);
    if (rc != 0) {
        fprintf(stderr, "child: open: %s: %s\n", cask_strerror(rc),
                cask_errdetail());
        _exit(2);
    }
    for (int i = 0; i <= CR_THREADS; i++) {
        w[i].c = c;
        w[i].t = i;
        w[i].point = point;
        w[i].rnd = seed * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1;
        if (pthread_create(&th[i], NULL, i < CR_THREADS ? cr_writer
                                                        : cr_merger,
                           &w[i]) != 0)
            _exit(6);
    }
    for (int i = 0; i <= CR_THREADS; i++)
        pthread_join(th[i], NULL);
    _exit(0);
}

/* ---- the parent ------------------------------------------------------------------ */

typedef struct cr_state {
    cr_key key[CR_NKEYS];
    int inflight[CR_THREADS]; /* key index of the begun op, or -1 */
    cr_msg begun[CR_THREADS];
} cr_state;

static void
cr_apply(cr_key *k, const cr_msg *m)
{
    k->present = m->op != 'D';
    k->point = m->point;
    k->n = m->n;
}

/* Does the stored value v match the model k? */
static int
cr_matches(const cr_key *k, int t, int key, const void *v, size_t n, int rc)
{
    char want[96];

    if (!k->present)
        return rc == CASK_ENOTFOUND;
    if (rc != 0)
        return 0;
    cr_value(k->point, k->n, t, key, want, sizeof want);
    return n == strlen(want) && memcmp(v, want, n) == 0;
}

static int
cr_check_key(cask *c, cr_state *s, int t, int key)
{
    char name[32];
    void *v = NULL;
    size_t n = 0;
    cr_key *k = &s->key[t * CR_KEYS + key];
    int rc, ok;

    cr_keyname(t, key, name, sizeof name);
    rc = cask_get(c, name, strlen(name), &v, &n);
    if (rc != 0 && rc != CASK_ENOTFOUND) {
        fprintf(stderr, "crash: %s unreadable: %s: %s\n", name,
                cask_strerror(rc), cask_errdetail());
        return 0;
    }
    ok = cr_matches(k, t, key, v, n, rc);
    if (!ok && s->inflight[t] == key) {
        /* the op in flight may have reached the disk: its outcome is a
         * state the store could be in, and from now on the state */
        cr_key alt = *k;
        cr_apply(&alt, &s->begun[t]);
        if (s->begun[t].op == 'D' && !k->present)
            alt.present = 0;
        ok = cr_matches(&alt, t, key, v, n, rc);
        if (ok)
            *k = alt;
    }
    if (!ok)
        fprintf(stderr, "crash: %s holds %.*s (rc %d), model %s p%u n%u\n",
                name, (int)n, v ? (char *)v : "", rc,
                k->present ? "present" : "absent", k->point, k->n);
    free(v);
    return ok;
}

static long cr_acks, cr_kills_in_merge, cr_merges;

static void
cr_read_msgs(int fd, cr_state *s, int ack_target, pid_t pid)
{
    cr_msg m;
    int acks = 0, killed = 0, merging = 0;

    for (;;) {
        ssize_t r = read(fd, &m, sizeof m);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof m)
            break; /* EOF: the child is gone */
        if (m.kind == 'M') {
            merging = m.op == 'b';
            cr_merges += !merging && !killed;
            continue;
        }
        if (m.thread >= CR_THREADS || m.key >= CR_KEYS)
            continue;
        if (m.kind == 'B') {
            s->inflight[m.thread] = m.key;
            s->begun[m.thread] = m;
        } else {
            cr_apply(&s->key[m.thread * CR_KEYS + m.key], &m);
            s->inflight[m.thread] = -1;
            cr_acks += !killed;
            if (++acks >= ack_target && !killed) {
                kill(pid, SIGKILL);
                killed = 1;
                cr_kills_in_merge += merging;
            }
        }
    }
    if (!killed)
        kill(pid, SIGKILL);
}

/*
 * Reopens the store and checks every key against what the parent saw
 * acknowledged. Runs in a child process of its own: keydirs such as rcu
 * start helper threads (call_rcu) that outlive cask_close, and the parent
 * must stay single-threaded to fork the next writer (ThreadSanitizer does
 * not support fork from a multi-threaded process).
 */
static int
cr_verify(const char *dir, cr_state *s, uint32_t point, const char *check_kd)
{
    int status, bad = 0;
    pid_t pid = fork();

    if (pid < 0)
        return 0;
    if (pid == 0) {
        cask_options o = {0};
        cask *c;
        o.keydir = check_kd;
        int rc = cask_open(dir, &o, &c);
        if (rc != 0) {
            fprintf(stderr, "crash: reopen after point %u: %s: %s\n", point,
                    cask_strerror(rc), cask_errdetail());
            _exit(1);
        }
        cask_thread_register(c);
        for (int t = 0; t < CR_THREADS; t++)
            for (int k = 0; k < CR_KEYS; k++)
                bad += !cr_check_key(c, s, t, k);
        cask_thread_unregister(c);
        cask_close(c);
        _exit(bad == 0 ? 0 : 1);
    }
    if (waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int
cr_point(const char *dir, cr_state *s, uint32_t point, uint64_t *rnd)
{
    int fds[2], status;
    pid_t pid;

    if (pipe(fds) != 0)
        return 0;
    /* Without --keydir, each point writes with one registered keydir and
     * the check reopens with the next: recovery must not depend on which
     * keydir wrote the files. */
    size_t nkd = 0;
    while (eu_keydir(nkd) != NULL)
        nkd++;
    cr_kd = cr_kd_only ? cr_kd_only : eu_keydir(point % nkd);
    const char *check_kd = cr_kd_only ? cr_kd_only
                                      : eu_keydir((point + 1) % nkd);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        cr_fd = fds[1];
        cr_child_main(dir, point, *rnd);
    }
    close(fds[1]);
    for (int t = 0; t < CR_THREADS; t++)
        s->inflight[t] = -1;
    cr_read_msgs(fds[0], s, 1 + (int)(cr_rand(rnd) % 100), pid);
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) {
        fprintf(stderr, "crash: child %u exited with %d before the kill\n",
                point, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    return cr_verify(dir, s, point, check_kd);
}

static void
cr_usage(FILE *to)
{
    fprintf(to, "usage: crash_engine [--crashes N] [--keydir NAME] "
                "[--seed S] [--dir D]\n");
}

int
main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"crashes", required_argument, NULL, 'n'},
        {"keydir", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 's'},
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long crashes = 200;
    uint64_t rnd = 0x1234567;
    char *dir = NULL;
    int ch, keep = 0;

    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'n': crashes = strtol(optarg, NULL, 10); break;
        case 'k': cr_kd_only = optarg; break;
        case 's': rnd = strtoull(optarg, NULL, 10) | 1; break;
        case 'd': dir = strdup(optarg); keep = 1; break;
        case 'h': cr_usage(stdout); return 0;
        default: cr_usage(stderr); return 64;
        }
    }
    if (crashes <= 0 || optind < argc ||
        (cr_kd_only != NULL && kd_lookup(cr_kd_only) == NULL)) {
        cr_usage(stderr);
        return 64;
    }
    if (dir == NULL)
        dir = eu_tmpdir("crash");
    /* Shared with the verifier children, which adopt the outcome of an
     * in-flight write they find on disk (see cr_check_key). */
    cr_state *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        perror("crash: mmap");
        return 1;
    }
    memset(s, 0, sizeof(*s));
    long passed = 0;
    for (long p = 0; p < crashes; p++) {
        if (!cr_point(dir, s, (uint32_t)p, &rnd)) {
            fprintf(stderr, "crash: point %ld failed (dir %s kept)\n", p,
                    dir);
            free(dir);
            return 1;
        }
        passed++;
    }
    printf("crash_engine: %ld crash points passed (keydir %s, %d writers + "
           "1 merger, sync=always): %ld acknowledged writes checked, %ld "
           "merge calls returned, %ld kills landed inside a merge\n", passed,
           cr_kd_only ? cr_kd_only : "every registered one in turn",
           CR_THREADS, cr_acks, cr_merges, cr_kills_in_merge);
    if (!keep)
        eu_rmdir(dir);
    free(dir);
    return 0;
}
