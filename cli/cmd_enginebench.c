/*
 * cli/cmd_enginebench.c - `casklab enginebench`: the engine's headline
 * figures in one short run, for its issue note. (The full benchmark suite
 * is `casklab bench`; this measures only the store's own paths.)
 *
 * Figures: puts/s with sync=none and sync=always at each thread count,
 * gets/s over the loaded store, and the time to open a store of --open-keys
 * keys from the hint files close wrote, then by scanning its data files. Each figure is one timed run after the store is warm; on a
 * shared machine they are noisy, and the output says so.
 */
#include "cli/cli.h"
#include "engine/cask.h"
#include "sync/clock.h"

#include <dirent.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct eb_cfg {
    const char *dir;
    const char *keydir;
    uint64_t keys;        /* puts per sync=none run, split over threads */
    uint64_t sync_ops;    /* puts per sync=always run */
    uint64_t open_keys;
    uint32_t value_size;
    unsigned max_threads;
    unsigned recover_threads; /* for cask_options; 0 = the store's default */
    int open_only;            /* --open-only: the open times alone */
} eb_cfg;

typedef struct eb_job {
    cask *c;
    const eb_cfg *cfg;
    unsigned t, nthreads;
    uint64_t ops;
    int get;
    int failed;
} eb_job;

static void
eb_key(uint64_t i, char *k)
{
    snprintf(k, 24, "key%016llx", (unsigned long long)i);
}

static void *
eb_worker(void *p)
{
    eb_job *j = p;
    char k[24], *val = calloc(1, j->cfg->value_size + 1);
    uint64_t x = j->t * 0x9E3779B97F4A7C15ull + 1;

    cask_thread_register(j->c);
    memset(val, 'v', j->cfg->value_size);
    for (uint64_t i = 0; val != NULL && i < j->ops; i++) {
        int rc;
        if (j->get) {
            void *v;
            size_t n;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            eb_key(x % j->cfg->keys, k);
            rc = cask_get(j->c, k, strlen(k), &v, &n);
            if (rc == 0)
                free(v);
        } else {
            eb_key(i * j->nthreads + j->t, k);
            rc = cask_put(j->c, k, strlen(k), val, j->cfg->value_size);
        }
        j->failed |= rc != 0;
    }
    cask_thread_unregister(j->c);
    free(val);
    return NULL;
}

/* Runs ops operations on nthreads threads; returns operations per second
 * or a negative value on failure. */
static double
eb_run(cask *c, const eb_cfg *cfg, unsigned nthreads, uint64_t ops, int get)
{
    pthread_t th[64];
    eb_job j[64];
    int failed = 0;
    uint64_t t0 = sync_now_ns();

    for (unsigned t = 0; t < nthreads; t++) {
        j[t] = (eb_job){c, cfg, t, nthreads, ops / nthreads, get, 0};
        pthread_create(&th[t], NULL, eb_worker, &j[t]);
    }
    for (unsigned t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        failed |= j[t].failed;
    }
    double s = (double)(sync_now_ns() - t0) / 1e9;
    return failed ? -1.0 : (double)(ops / nthreads * nthreads) / s;
}

static int
eb_open(const eb_cfg *cfg, const char *dir, cask_sync_mode sync, cask **c)
{
    cask_options o = {0};

    o.keydir = cfg->keydir;
    o.sync = sync;
    o.recover_threads = cfg->recover_threads;
    int rc = cask_open(dir, &o, c);
    if (rc != 0)
        fprintf(stderr, "casklab enginebench: %s: %s\n", cask_strerror(rc),
                cask_errdetail());
    return rc;
}

static void
eb_rm(const char *dir)
{
    char cmd[4200];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "casklab enginebench: could not remove %s\n", dir);
}

/* After a sync=always run of `puts` puts at `rate` puts/s: the group
 * commit's fdatasyncs per second and writes per fdatasync. */
static void
eb_print_syncs(cask *c, uint64_t puts, double rate)
{
    cask_info st;

    if (rate <= 0 || cask_stats(c, &st) != 0)
        return;
    if (st.syncs > 0)
        printf("   (%.0f fdatasyncs/s, %.1f writes per fdatasync)",
               (double)st.syncs * rate / (double)puts,
               (double)puts / (double)st.syncs);
    cask_info_free(&st);
}

static int
eb_puts_gets(const eb_cfg *cfg, const char *dir)
{
    for (unsigned t = 1; t <= cfg->max_threads; t++) {
        cask *c;
        for (int mode = 0; mode < 2; mode++) {
            eb_rm(dir);
            if (eb_open(cfg, dir, mode ? CASK_SYNC_ALWAYS : CASK_SYNC_NONE,
                        &c) != 0)
                return -1;
            double r = eb_run(c, cfg, t, mode ? cfg->sync_ops : cfg->keys, 0);
            printf("puts/s  sync=%-6s threads=%u  %12.0f",
                   mode ? "always" : "none", t, r);
            if (mode == 1)
                eb_print_syncs(c, cfg->sync_ops / t * t, r);
            printf("\n");
            if (mode == 0) {
                double g = eb_run(c, cfg, t, cfg->keys, 1);
                printf("gets/s              threads=%u  %12.0f\n", t, g);
            }
            cask_close(c);
            fflush(stdout);
        }
    }
    return 0;
}

/* What one timed open found: cask_info's open figures. */
typedef struct eb_open_st {
    double ms;
    uint64_t hints, threads, presized;
} eb_open_st;

static int
eb_time_open(const eb_cfg *cfg, const char *dir, eb_open_st *o)
{
    cask *c;
    cask_info st;

    if (eb_open(cfg, dir, CASK_SYNC_NONE, &c) != 0)
        return -1;
    cask_stats(c, &st);
    o->hints = st.hints_loaded;
    o->threads = st.recover_threads;
    o->presized = st.keydir_presized;
    o->ms = (double)st.open_ns / 1e6;
    cask_info_free(&st);
    cask_close(c);
    return 0;
}

/* Removes the hint files, so the next open scans every data file. */
static void
eb_drop_hints(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4400];

    while (d != NULL && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 5 && strcmp(de->d_name + n - 5, ".hint") == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    if (d != NULL)
        closedir(d);
}

/* Opens the store with 1 and with T recovery threads, printing each;
 * with scan, each open follows the removal of the hint files (a close
 * writes those that are missing). */
static int
eb_open_pair(eb_cfg *big, const char *dir, const char *how, int scan)
{
    unsigned tries[2] = {1, big->max_threads};

    for (int i = 0; i < 2 && (i == 0 || tries[1] > 1); i++) {
        eb_open_st o;
        big->recover_threads = tries[i];
        if (scan)
            eb_drop_hints(dir);
        if (eb_time_open(big, dir, &o) != 0)
            return -1;
        printf("open %llu keys %s, %llu thread%s (%llu hints loaded, keydir "
               "sized for %llu) %8.1f ms\n", (unsigned long long)big->keys,
               how, (unsigned long long)o.threads, o.threads == 1 ? "" : "s",
               (unsigned long long)o.hints, (unsigned long long)o.presized,
               o.ms);
        fflush(stdout);
    }
    return 0;
}

static int
eb_open_times(const eb_cfg *cfg, const char *dir)
{
    eb_cfg big = *cfg;
    cask *c;

    big.keys = cfg->open_keys;
    eb_rm(dir);
    if (eb_open(&big, dir, CASK_SYNC_NONE, &c) != 0)
        return -1;
    eb_run(c, &big, 1, big.keys, 0);
    cask_close(c); /* writes the hint files */
    if (eb_open_pair(&big, dir, "from hint files", 0) != 0)
        return -1;
    return eb_open_pair(&big, dir, "scanning data files", 1);
}

static void
eb_usage(void)
{
    printf("usage: casklab enginebench [--keydir NAME] [--keys N]\n"
           "         [--sync-ops N] [--open-keys N] [--threads T]\n\n"
           "Measures the store: puts/s with sync=none and sync=always at 1..T\n"
           "threads, gets/s, and open time with and without hint files, with\n"
           "1 and with T recovery threads.\n\n"
           "The store lives in a fresh directory under $TMPDIR (or /tmp),\n"
           "removed at the end.\n\n"
           "  --keydir NAME   keydir (default striped)\n"
           "  --keys N        puts and gets per run (default 200000)\n"
           "  --sync-ops N    puts per sync=always run (default 2000)\n"
           "  --open-keys N   keys for the open-time figures (default "
           "1000000)\n"
           "  --threads T     up to T threads (default 2)\n"
           "  --open-only     the open times alone\n");
}

static int
eb_parse(int argc, char **argv, eb_cfg *cfg)
{
    static const struct option lo[] = {
        {"keydir", required_argument, NULL, 'k'},
        {"keys", required_argument, NULL, 'n'},
        {"sync-ops", required_argument, NULL, 's'},
        {"open-keys", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'},
        {"open-only", no_argument, NULL, 'O'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        long long v = optarg ? atoll(optarg) : 0;
        switch (c) {
        case 'k': cfg->keydir = optarg; continue;
        case 'O': cfg->open_only = 1; continue;
        case 'n': cfg->keys = (uint64_t)v; break;
        case 's': cfg->sync_ops = (uint64_t)v; break;
        case 'o': cfg->open_keys = (uint64_t)v; break;
        case 't': cfg->max_threads = (unsigned)v; break;
        default: return -1;
        }
        if (v <= 0 || (c == 't' && v > 64)) {
            fprintf(stderr, "casklab enginebench: bad number '%s'\n", optarg);
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

static int
eb_main(int argc, char **argv)
{
    eb_cfg cfg = {NULL, "striped", 200000, 2000, 1000000, 100, 2, 0, 0};
    const char *tmp = getenv("TMPDIR");
    char dir[4096];

    if (eb_parse(argc, argv, &cfg) != 0)
        return CLI_EXIT_USAGE;
    snprintf(dir, sizeof dir, "%s/casklab-eb-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("casklab enginebench: mkdtemp");
        return CLI_EXIT_FAIL;
    }
    strcat(dir, "/store");
    cfg.dir = dir;
    printf("casklab enginebench: keydir %s, %u-byte values, %ld cores "
           "(shared machine: figures are noisy)\n", cfg.keydir,
           cfg.value_size, sysconf(_SC_NPROCESSORS_ONLN));
    int rc = cfg.open_only ? 0 : eb_puts_gets(&cfg, cfg.dir);
    if (rc == 0)
        rc = eb_open_times(&cfg, cfg.dir);
    eb_rm(cfg.dir);
    *strrchr(dir, '/') = '\0';
    rmdir(dir);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

const cli_cmd cli_cmd_enginebench = {"enginebench", "measure the store's "
                                     "puts, gets and open time",
                                     eb_main, eb_usage};
