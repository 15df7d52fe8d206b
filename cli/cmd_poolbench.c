/*
 * cli/cmd_poolbench.c - `casklab poolbench`: the thread pool's two queues
 * (sync/queue.h) compared under the same load, without the network.
 *
 * P producer threads submit N empty tasks in all to a pool of W workers;
 * one repetition is timed from the first submit to the end of the drain
 * (sync_pool_shutdown), so it measures the queue's hand-off cost, which is
 * all the server's pool adds per batch. One untimed warm-up repetition per
 * queue, then R timed ones; the median and the spread are printed with how
 * the run was made.
 */
#include "cli/cli.h"
#include "sync/clock.h"
#include "sync/pool.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pb_cfg {
    unsigned producers, workers, reps;
    unsigned long tasks;
    size_t capacity;
    int only; /* -1 both, else a sync_queue_kind */
} pb_cfg;

typedef struct pb_producer {
    sync_pool *pool;
    unsigned long n;
    int failed;
} pb_producer;

static void
pb_usage(void)
{
    printf("usage: casklab poolbench [--queue mutex|ring|both] [--producers P]\n"
           "                         [--workers W] [--tasks N] [--reps R]\n"
           "                         [--capacity C]\n\n"
           "Times P threads submitting N empty tasks in all to a pool of W\n"
           "workers, until the pool has drained, for each queue kind: the\n"
           "hand-off cost of sync/pool.h. Prints million tasks per second,\n"
           "median of R repetitions after one warm-up, and min..max.\n\n"
           "  --queue K      mutex, ring or both (default both)\n"
           "  --producers P  submitting threads (default 2)\n"
           "  --workers W    pool threads (default: online cores, %ld here)\n"
           "  --tasks N      tasks per repetition (default 1000000)\n"
           "  --reps R       timed repetitions (default 5)\n"
           "  --capacity C   queue capacity (default 4096)\n\n"
           "Above the number of cores, threads are oversubscribed and the\n"
           "figures measure scheduling as much as the queue.\n",
           sysconf(_SC_NPROCESSORS_ONLN));
}

static void
pb_noop(void *arg)
{
    (void)arg;
}

static void *
pb_submit(void *arg)
{
    pb_producer *p = arg;

    for (unsigned long i = 0; i < p->n; i++)
        if (sync_pool_submit(p->pool, pb_noop, NULL) != 0)
            p->failed = 1;
    return NULL;
}

/* One repetition; returns tasks per second, or a negative value on error. */
static double
pb_once(const pb_cfg *c, sync_queue_kind kind)
{
    sync_pool_opts o = {c->workers, c->capacity, kind, NULL, NULL, NULL};
    pthread_t th[256];
    pb_producer pr[256];
    sync_pool *pool;
    uint64_t t0, t1;
    int failed = 0;

    if (sync_pool_create(&o, &pool) != 0)
        return -1;
    t0 = sync_now_ns();
    for (unsigned i = 0; i < c->producers; i++) {
        pr[i] = (pb_producer){pool, c->tasks / c->producers +
                              (i < c->tasks % c->producers), 0};
        if (pthread_create(&th[i], NULL, pb_submit, &pr[i]) != 0)
            return -1;
    }
    for (unsigned i = 0; i < c->producers; i++) {
        pthread_join(th[i], NULL);
        failed |= pr[i].failed;
    }
    sync_pool_shutdown(pool);
    t1 = sync_now_ns();
    sync_pool_destroy(pool);
    return failed ? -1 : (double)c->tasks / ((double)(t1 - t0) / 1e9);
}

static int
pb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int
pb_run_kind(const pb_cfg *c, sync_queue_kind kind)
{
    double r[101];

    if (pb_once(c, kind) < 0) /* warm-up */
        return -1;
    for (unsigned i = 0; i < c->reps; i++)
        if ((r[i] = pb_once(c, kind)) < 0)
            return -1;
    qsort(r, c->reps, sizeof(r[0]), pb_cmp);
    printf("%-6s %9u %7u %10lu %14.2f %6.2f..%-6.2f\n",
           sync_queue_kind_name(kind), c->producers, c->workers, c->tasks,
           r[c->reps / 2] / 1e6, r[0] / 1e6, r[c->reps - 1] / 1e6);
    return 0;
}

static int
pb_num(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || *out < 1 || *out > max) {
        fprintf(stderr, "casklab poolbench: %s needs a number in [1, %lu], "
                "got '%s'\n", opt, max, s);
        return -1;
    }
    return 0;
}

static int
pb_parse(int argc, char **argv, pb_cfg *c)
{
    static const struct option lo[] = {
        {"queue", required_argument, NULL, 'q'},
        {"producers", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},
        {"tasks", required_argument, NULL, 'n'},
        {"reps", required_argument, NULL, 'r'},
        {"capacity", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    unsigned long v;
    sync_queue_kind k;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (o == 'q') {
            if (strcmp(optarg, "both") == 0)
                c->only = -1;
            else if (sync_queue_kind_parse(optarg, &k) == 0)
                c->only = (int)k;
            else {
                fprintf(stderr, "casklab poolbench: --queue is mutex, ring "
                        "or both, got '%s'\n", optarg);
                return -1;
            }
            continue;
        }
        if (o == '?')
            return -1;
        if (pb_num(o == 'p' ? "--producers" : o == 'w' ? "--workers"
                   : o == 'n' ? "--tasks" : o == 'r' ? "--reps" : "--capacity",
                   optarg, o == 'p' || o == 'w' ? 256 : o == 'r' ? 101
                   : 1ul << 30, &v) != 0)
            return -1;
        if (o == 'p') c->producers = (unsigned)v;
        else if (o == 'w') c->workers = (unsigned)v;
        else if (o == 'n') c->tasks = v;
        else if (o == 'r') c->reps = (unsigned)v;
        else c->capacity = (size_t)(v < 2 ? 2 : v);
    }
    if (optind < argc) {
        fprintf(stderr, "casklab poolbench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int
pb_run(int argc, char **argv)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pb_cfg c = {2, cores > 0 ? (unsigned)cores : 1, 5, 1000000, 4096, -1};

    if (pb_parse(argc, argv, &c) != 0) {
        fprintf(stderr, "Try 'casklab poolbench --help'.\n");
        return CLI_EXIT_USAGE;
    }
    printf("# %ld online cores, compiler %s, %u timed reps after 1 warm-up, "
           "queue capacity %zu\n", cores, __VERSION__, c.reps, c.capacity);
    printf("queue  producers workers      tasks  median Mtask/s  min..max\n");
    for (int k = SYNC_QUEUE_MUTEX; k <= SYNC_QUEUE_RING; k++)
        if ((c.only < 0 || c.only == k) && pb_run_kind(&c, (sync_queue_kind)k)) {
            fprintf(stderr, "casklab poolbench: could not run the pool\n");
            return CLI_EXIT_FAIL;
        }
    return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_poolbench = {
    "poolbench", "compare the thread pool's mutex and ring queues",
    pb_run, pb_usage,
};
