/*
 * bench/goals.c - issue 6's performance goals and the table that says
 * which of them one run met (bench/goals.h).
 */
#include "bench/goals.h"

#include <string.h>

const bench_goal bench_goals[] = {
    {"c", WL_UNIFORM, 2, "kyoto", 1.0},
    {"c", WL_UNIFORM, 2, "lmdb", 1.5},
    {"c", WL_UNIFORM, 2, "rocksdb", 4.0},
    {"load", WL_UNIFORM, 2, "kyoto", 1.0},
    {"load", WL_UNIFORM, 2, "lmdb", 3.0},
    {"load", WL_UNIFORM, 2, "rocksdb", 5.0},
    {"a", WL_ZIPFIAN, 2, "kyoto", 1.0},
    {"a", WL_ZIPFIAN, 2, "rocksdb", 4.0},
    {"durable", WL_UNIFORM, 16, "rocksdb", 3.0},
};

const size_t bench_ngoals = sizeof(bench_goals) / sizeof(bench_goals[0]);

const bench_row *
bench_goal_row(const bench_row *rows, size_t n, const char *target,
               const char *workload, wl_dist dist, unsigned threads)
{
    int load = strcmp(workload, "load") == 0;

    for (size_t i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        if (strcmp(r->target, target) == 0 &&
            strcmp(r->workload, workload) == 0 && r->threads == threads &&
            (load || r->dist == dist))
            return r;
    }
    return NULL;
}

/* "YCSB-C uniform", "load", "durable" as a reader knows them. */
static void
bench_goal_label(const bench_goal *g, char *buf, size_t cap)
{
    if (strcmp(g->workload, "load") == 0)
        snprintf(buf, cap, "load (sync=none)");
    else if (strcmp(g->workload, "durable") == 0)
        snprintf(buf, cap, "durable (sync each)");
    else
        snprintf(buf, cap, "YCSB-%c %s", g->workload[0] - 'a' + 'A',
                 wl_dist_name(g->dist));
}

/* A durable row's writes per flush (its group-commit batch size). */
static double
bench_per_sync(const bench_row *r)
{
    return r->syncs_per_s > 0 ? r->ops_med / r->syncs_per_s : 0.0;
}

static int
bench_goal_line(FILE *f, const char *engine, const bench_goal *g,
                const bench_row *rows, size_t n)
{
    const bench_row *e = bench_goal_row(rows, n, engine, g->workload,
                                        g->dist, g->threads);
    const bench_row *p = bench_goal_row(rows, n, g->peer, g->workload,
                                        g->dist, g->threads);
    char label[40];

    bench_goal_label(g, label, sizeof(label));
    fprintf(f, "%-20s %3u  %-8s", label, g->threads, g->peer);
    if (e == NULL || p == NULL || p->ops_med <= 0) {
        fprintf(f, " %12s %12s %8s >= %4.1fx  no data\n", "-", "-", "-",
                g->factor);
        return 1;
    }
    double ratio = e->ops_med / p->ops_med;
    int met = ratio >= g->factor;
    fprintf(f, " %12.0f %12.0f %7.2fx >= %4.1fx  %s", e->ops_med,
            p->ops_med, ratio, g->factor, met ? "met" : "NOT met");
    /* Closed-loop writers each wait for their own write, so one
     * fdatasync covers at most `threads` writes: the goal needs at least
     * factor * peer's ops/s / threads fdatasyncs per second. */
    if (strcmp(g->workload, "durable") == 0)
        fprintf(f, "  (fdatasyncs/s: engine %.0f, %s %.0f; writes per "
                   "fdatasync: engine %.1f, %s %.1f; %.1fx needs %.0f "
                   "fdatasyncs/s even at %u writes each)",
                e->syncs_per_s, g->peer, p->syncs_per_s, bench_per_sync(e),
                g->peer, bench_per_sync(p), g->factor,
                g->factor * p->ops_med / g->threads, g->threads);
    fprintf(f, "\n");
    return !met;
}

int
bench_goals_print(FILE *f, const char *engine, const bench_row *rows,
                  size_t n)
{
    int missed = 0;

    fprintf(f, "Performance to reach (issue 6): %s vs peers, median ops/s\n"
               "%-20s %3s  %-8s %12s %12s %8s    %5s  %s\n", engine,
            "workload", "thr", "peer", "engine", "peer", "ratio", "goal",
            "verdict");
    for (size_t i = 0; i < bench_ngoals; i++)
        missed += bench_goal_line(f, engine, &bench_goals[i], rows, n);
    fprintf(f, "%zu of %zu goals met\n", bench_ngoals - (size_t)missed,
            bench_ngoals);
    return missed;
}
