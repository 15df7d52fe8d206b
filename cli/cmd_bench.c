/*
 * cli/cmd_bench.c - `casklab bench`: whole-workload comparisons.
 *
 * For each target (keydirs alone, the casklab engine over each keydir, peer
 * engines) and each thread count, one session: the load phase, then
 * YCSB A, B, C, F under each requested distribution, D (read latest), and
 * the durable-write phase (a sync on each write; keydirs alone have nothing
 * to sync and skip it). Rows print as they finish; at the end CSV and JSON
 * files with the metadata block are written (bench/report.h).
 */
#include "bench/bench.h"
#include "bench/goals.h"
#include "bench/report.h"
#include "bench/runner.h"
#include "bench/target.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BB_MAX_LIST 64

typedef struct bb_opts {
    bench_spec spec;
    char targets[BB_MAX_LIST][64];
    size_t ntargets;
    const char *workloads[BB_MAX_LIST];
    size_t nworkloads;
    wl_dist dists[3];
    size_t ndists;
    unsigned threads[BB_MAX_LIST];
    size_t nthreads;
    const char *out;
    const char *baseline; /* ratios to this target, or NULL */
    const char *engine;   /* --goals: the engine target measured */
    int quick;
    int goals;
    char lists[4][1024]; /* copies of the comma lists, split in place */
} bb_opts;

typedef struct bb_state {
    bench_row *rows;
    size_t n, cap, done, total;
    int failed;
    bench_meta meta;
} bb_state;

static void
bench_usage(void)
{
    printf(
        "usage: casklab bench [OPTIONS]\n\n"
        "Runs YCSB-style workloads against every target and writes the rows\n"
        "as CSV and JSON (with a metadata block saying how the run was made).\n"
        "Targets are keydirs alone (kd:NAME: the index without the log), the\n"
        "casklab engine over each keydir (cask:NAME) and peer engines (lmdb,\n"
        "rocksdb, leveldb, kyoto); each prints how it is configured. Per\n"
        "target and thread count: a load phase, then the workloads on the\n"
        "loaded store.\n\n"
        "  --targets LIST     comma list of targets, or all, keydirs, engines,\n"
        "                     peers (default all; `casklab bench --list`)\n"
        "  --workloads LIST   of load,a,b,c,d,f,durable (default all). a: 50%%\n"
        "                     read/50%% update, b: 95/5, c: read only, d: 95%%\n"
        "                     read latest/5%% insert, f: 50%% read/50%% RMW,\n"
        "                     durable: updates each synced before returning\n"
        "  --dist LIST        uniform,zipfian,latest for a b c f durable\n"
        "                     (default uniform,zipfian)\n"
        "  --theta X          zipfian/latest skew, 0 < X < 1 (default 0.99)\n"
        "  --keys N           keys loaded (default 1000000)\n"
        "  --key-size B       bytes per key, >= 8 (default 16)\n"
        "  --value-size B     bytes per value (default 100)\n"
        "  --threads LIST     thread counts, or `sweep`: 1, 2, 4.. up to 2x\n"
        "                     cores (default sweep; %u cores here)\n"
        "  --reps R           measured repetitions per row (default 3)\n"
        "  --seconds S        seconds per repetition (default 1)\n"
        "  --warmup S         unmeasured seconds before a row (default 0.5)\n"
        "  --cache-mb M       peers' block cache / map size (default 64)\n"
        "  --dir DIR          where stores are created (default /var/tmp;\n"
        "                     use a real disk: tmpfs makes syncs free)\n"
        "  --out PREFIX       writes PREFIX.csv and PREFIX.json (default\n"
        "                     results/bench)\n"
        "  --seed N           workload seed (default 42)\n"
        "  --baseline T       at the end, each target's median throughput\n"
        "                     divided by target T's, per workload and threads\n"
        "  --quick            demo size: 50000 keys, threads 1 and cores,\n"
        "                     2 reps of 0.2 s, warm-up 0.1 s, dist zipfian\n"
        "  --goals            issue 6's performance goals instead: the engine\n"
        "                     vs kyoto, lmdb, rocksdb on load, YCSB-C uniform\n"
        "                     and YCSB-A zipfian at 2 threads, durable writes\n"
        "                     at 16 (sizes as set: defaults are the goals'),\n"
        "                     then a table of ratios, each met or NOT met\n"
        "                     (--targets limits the peers; goals of peers\n"
        "                     left out print \"no data\")\n"
        "  --engine T         the engine target of --goals (default\n"
        "                     cask:lockfree when registered, else cask:striped)\n"
        "  --list             list the targets and exit\n\n"
        "Threads above the number of cores are marked oversubscribed: those\n"
        "rows measure the scheduler as much as the target. Exit status: 0,\n"
        "1 if a target failed or returned wrong results, 64 bad usage.\n",
        bench_ncores());
}

/* ---- parsing ------------------------------------------------------------------ */

static int
bb_num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    if (errno || end == s || *end || !(*out >= lo) || !(*out <= hi)) {
        fprintf(stderr, "casklab bench: %s needs a number in [%g, %g], got "
                        "'%s'\n", opt, lo, hi, s);
        return -1;
    }
    return 0;
}

/* Splits a comma list held in buf into out[]; returns the count or -1. */
static int
bb_split(char *buf, const char **out, size_t max)
{
    size_t n = 0;

    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max)
            return -1;
        out[n++] = tok;
    }
    return (int)n;
}

static int
bb_add_target(bb_opts *o, const char *name)
{
    if (o->ntargets == BB_MAX_LIST)
        return -1;
    snprintf(o->targets[o->ntargets++], sizeof(o->targets[0]), "%s", name);
    return 0;
}

/* Expands all / keydirs / engines / peers and checks names. */
static int
bb_targets(bb_opts *o, const char *list)
{
    const char *names[BB_MAX_LIST];
    int n;

    snprintf(o->lists[0], sizeof(o->lists[0]), "%s", list);
    if ((n = bb_split(o->lists[0], names, BB_MAX_LIST)) <= 0)
        return -1;
    o->ntargets = 0;
    for (int i = 0; i < n; i++) {
        const char *kind, *t;
        int group = strcmp(names[i], "all") == 0 ||
                    strcmp(names[i], "keydirs") == 0 ||
                    strcmp(names[i], "engines") == 0 ||
                    strcmp(names[i], "peers") == 0;
        if (!group) {
            if (!bench_target_exists(names[i], NULL)) {
                fprintf(stderr, "casklab bench: no target '%s' (see "
                                "`casklab bench --list`)\n", names[i]);
                return -1;
            }
            bb_add_target(o, names[i]);
            continue;
        }
        /* A group is "all" or a kind in the plural. */
        for (size_t j = 0; (t = bench_target_name(j)) != NULL; j++) {
            bench_target_exists(t, &kind);
            if (strcmp(names[i], "all") == 0 ||
                (strncmp(names[i], kind, strlen(kind)) == 0 &&
                 strcmp(names[i] + strlen(kind), "s") == 0))
                bb_add_target(o, t);
        }
    }
    return 0;
}

static int
bb_workloads(bb_opts *o, const char *list)
{
    int n;

    snprintf(o->lists[1], sizeof(o->lists[1]), "%s", list);
    if ((n = bb_split(o->lists[1], o->workloads, BB_MAX_LIST)) <= 0)
        return -1;
    o->nworkloads = (size_t)n;
    for (int i = 0; i < n; i++) {
        if (strcmp(o->workloads[i], "load") != 0 &&
            !bench_workload_ok(o->workloads[i])) {
            fprintf(stderr, "casklab bench: unknown workload '%s'\n",
                    o->workloads[i]);
            return -1;
        }
    }
    return 0;
}

static int
bb_dists(bb_opts *o, const char *list)
{
    const char *names[3];
    int n;

    snprintf(o->lists[2], sizeof(o->lists[2]), "%s", list);
    if ((n = bb_split(o->lists[2], names, 3)) <= 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (wl_parse_dist(names[i], &o->dists[i]) != 0) {
            fprintf(stderr, "casklab bench: unknown distribution '%s' "
                            "(uniform, zipfian, latest)\n", names[i]);
            return -1;
        }
    }
    o->ndists = (size_t)n;
    return 0;
}

/* 1, 2, 4.. below 2x cores, the core count itself, and 2x cores. */
static void
bb_sweep(bb_opts *o)
{
    unsigned cores = bench_ncores();

    o->nthreads = 0;
    for (unsigned t = 1; t < 2 * cores && o->nthreads + 2 < BB_MAX_LIST;
         t *= 2) {
        if (t > cores && o->threads[o->nthreads - 1] < cores)
            o->threads[o->nthreads++] = cores;
        o->threads[o->nthreads++] = t;
    }
    o->threads[o->nthreads++] = 2 * cores;
}

static int
bb_threads(bb_opts *o, const char *list)
{
    const char *names[BB_MAX_LIST];
    double v;
    int n;

    if (strcmp(list, "sweep") == 0) {
        bb_sweep(o);
        return 0;
    }
    snprintf(o->lists[3], sizeof(o->lists[3]), "%s", list);
    if ((n = bb_split(o->lists[3], names, BB_MAX_LIST)) <= 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (bb_num("--threads", names[i], 1, 1024, &v))
            return -1;
        o->threads[i] = (unsigned)v;
    }
    o->nthreads = (size_t)n;
    return 0;
}

static void
bb_defaults(bb_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->spec = (bench_spec){.dir = "/var/tmp", .keys = 1000000,
                           .key_size = 16, .value_size = 100, .threads = 1,
                           .theta = 0.99, .reps = 3,
                           .seconds = 1.0, .warmup = 0.5,
                           .cache_bytes = 64u << 20, .seed = 42};
    o->out = "results/bench";
    o->engine = bench_target_exists("cask:lockfree", NULL) ? "cask:lockfree"
                                                           : "cask:striped";
}

/* --quick sets sizes first; explicit options given later override them. */
static void
bb_quick(bb_opts *o)
{
    unsigned cores = bench_ncores();

    o->quick = 1;
    o->spec.keys = 50000;
    o->spec.reps = 2;
    o->spec.seconds = 0.2;
    o->spec.warmup = 0.1;
    o->threads[0] = 1;
    o->nthreads = 1;
    if (cores > 1)
        o->threads[o->nthreads++] = cores;
    o->dists[0] = WL_ZIPFIAN;
    o->ndists = 1;
}

static int bb_list(void);

static int
bb_option(bb_opts *o, int c, const char *arg)
{
    const char *kind;
    double v;

    switch (c) {
    case 'T': return bb_targets(o, arg);
    case 'W': return bb_workloads(o, arg);
    case 'D': return bb_dists(o, arg);
    case 't': return bb_threads(o, arg);
    case 'o': o->out = arg; return 0;
    case 'b':
        if (!bench_target_exists(arg, NULL)) {
            fprintf(stderr, "casklab bench: no target '%s'\n", arg);
            return -1;
        }
        o->baseline = arg; return 0;
    case 'E':
        if (!bench_target_exists(arg, &kind) || strcmp(kind, "engine")) {
            fprintf(stderr, "casklab bench: no engine target '%s'\n", arg);
            return -1;
        }
        o->engine = arg; return 0;
    case 'G': o->goals = 1; return 0;
    case 'd': o->spec.dir = arg; return 0;
    case 'h':
        if (bb_num("--theta", arg, 0.01, 0.999, &v)) return -1;
        o->spec.theta = v; return 0;
    case 'k':
        if (bb_num("--keys", arg, 1, 1e9, &v)) return -1;
        o->spec.keys = (uint64_t)v; return 0;
    case 'K':
        if (bb_num("--key-size", arg, 8, 4096, &v)) return -1;
        o->spec.key_size = (uint32_t)v; return 0;
    case 'V':
        if (bb_num("--value-size", arg, 1, 1 << 20, &v)) return -1;
        o->spec.value_size = (uint32_t)v; return 0;
    case 'r':
        if (bb_num("--reps", arg, 1, 64, &v)) return -1;
        o->spec.reps = (unsigned)v; return 0;
    case 's':
        if (bb_num("--seconds", arg, 0.01, 3600, &v)) return -1;
        o->spec.seconds = v; return 0;
    case 'w':
        if (bb_num("--warmup", arg, 0, 3600, &v)) return -1;
        o->spec.warmup = v; return 0;
    case 'c':
        if (bb_num("--cache-mb", arg, 1, 1 << 20, &v)) return -1;
        o->spec.cache_bytes = (uint64_t)v << 20; return 0;
    case 'S':
        if (bb_num("--seed", arg, 1, 1e18, &v)) return -1;
        o->spec.seed = (uint64_t)v; return 0;
    default:
        return -1;
    }
}

static const struct option bb_longopts[] = {
    {"targets", required_argument, NULL, 'T'},
    {"workloads", required_argument, NULL, 'W'},
    {"dist", required_argument, NULL, 'D'},
    {"theta", required_argument, NULL, 'h'},
    {"keys", required_argument, NULL, 'k'},
    {"key-size", required_argument, NULL, 'K'},
    {"value-size", required_argument, NULL, 'V'},
    {"threads", required_argument, NULL, 't'},
    {"reps", required_argument, NULL, 'r'},
    {"seconds", required_argument, NULL, 's'},
    {"warmup", required_argument, NULL, 'w'},
    {"cache-mb", required_argument, NULL, 'c'},
    {"dir", required_argument, NULL, 'd'},
    {"out", required_argument, NULL, 'o'},
    {"seed", required_argument, NULL, 'S'},
    {"baseline", required_argument, NULL, 'b'},
    {"quick", no_argument, NULL, 'q'},
    {"goals", no_argument, NULL, 'G'},
    {"engine", required_argument, NULL, 'E'},
    {"list", no_argument, NULL, 'l'},
    {NULL, 0, NULL, 0},
};

/* Returns 0 to run, 1 when --list was handled, -1 on a usage error. */
static int
bb_parse(int argc, char **argv, bb_opts *o)
{
    int c;

    bb_defaults(o);
    if (bb_targets(o, "all") || bb_workloads(o, "load,a,b,c,d,f,durable") ||
        bb_dists(o, "uniform,zipfian"))
        return -1;
    bb_sweep(o);
    for (int i = 1; i < argc; i++) /* --quick first: later options win */
        if (strcmp(argv[i], "--quick") == 0)
            bb_quick(o);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", bb_longopts, NULL)) != -1) {
        if (c == 'l')
            return bb_list() == 0 ? 1 : -1;
        if (c != 'q' && bb_option(o, c, optarg) != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "casklab bench: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    return 0;
}

static int
bb_list(void)
{
    const char *t, *kind;

    for (size_t i = 0; (t = bench_target_name(i)) != NULL; i++) {
        bench_target_exists(t, &kind);
        printf("%-16s %s\n", t, kind);
    }
    return 0;
}

/* ---- running ------------------------------------------------------------------ */

static int
bb_want(const bb_opts *o, const char *w)
{
    for (size_t i = 0; i < o->nworkloads; i++)
        if (strcmp(o->workloads[i], w) == 0)
            return 1;
    return 0;
}

static int
bb_keep(bb_state *st, const bench_row *r)
{
    if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 64;
        bench_row *nr = realloc(st->rows, nc * sizeof(*nr));
        if (nr == NULL)
            return -1;
        st->rows = nr;
        st->cap = nc;
    }
    st->rows[st->n++] = *r;
    return 0;
}

static void
bb_print_header(void)
{
    printf("%-14s %-8s %-8s %4s %11s %19s %8s %8s %9s %9s %8s\n", "target",
           "workload", "dist", "thr", "ops/s med", "(min - max)", "p50 us",
           "p99 us", "p99.9 us", "disk MB", "mem B/k");
}

static void
bb_print_row(const bench_row *r)
{
    char range[40];

    snprintf(range, sizeof(range), "(%.0f - %.0f)", r->ops_min, r->ops_max);
    printf("%-14s %-8s %-8s %3u%s %11.0f %19s %8.2f %8.2f %9.2f %9.2f %8.1f%s"
           "\n", r->target, r->workload,
           strcmp(r->workload, "load") ? wl_dist_name(r->dist) : "-",
           r->threads, r->threads > r->cores ? "*" : " ", r->ops_med, range,
           (double)r->lat_ns[0] / 1e3, (double)r->lat_ns[2] / 1e3,
           (double)r->lat_ns[3] / 1e3,
           r->disk_bytes >= 0 ? (double)r->disk_bytes / 1e6 : -1.0,
           r->mem_per_key, r->errors ? "  ERRORS" : "");
    if (strcmp(r->workload, "durable") == 0)
        printf("%-14s %-8s (%.0f flushes/s: fsync, fdatasync, msync calls; "
               "%.1f writes per flush)\n", "", "", r->syncs_per_s,
               r->syncs_per_s > 0 ? r->ops_med / r->syncs_per_s : 0.0);
    fflush(stdout);
}

static void
bb_progress(bb_state *st, const bench_spec *sp, const char *w, wl_dist d)
{
    st->done++;
    fprintf(stderr, "[%zu/%zu] %s %s %s, %u thread%s%s...\n", st->done,
            st->total, sp->target, w, strcmp(w, "load") ? wl_dist_name(d) : "",
            sp->threads, sp->threads > 1 ? "s" : "",
            sp->threads > bench_ncores() ? " (oversubscribed)" : "");
}

/* Runs one row and records it; rc is the runner's. */
static void
bb_finish(bb_state *st, bench_session *s, int rc, const bench_row *r)
{
    if (rc != BENCH_OK) {
        fprintf(stderr, "casklab bench: %s %s: %s %s\n", r->target,
                r->workload, bench_strerror(rc), bench_session_error(s));
        st->failed = 1;
        return;
    }
    if (r->errors)
        st->failed = 1;
    bb_print_row(r);
    if (bb_keep(st, r) != 0)
        st->failed = 1;
}

static void
bb_run_mix(bb_state *st, bench_session *s, bench_spec *sp, const char *w,
           wl_dist d)
{
    bench_row r;
    int rc;

    bb_progress(st, sp, w, d);
    rc = bench_session_run(s, w, d, &r);
    if (rc != BENCH_OK) {
        snprintf(r.target, sizeof(r.target), "%s", sp->target);
        snprintf(r.workload, sizeof(r.workload), "%s", w);
    }
    bb_finish(st, s, rc, &r);
}

/* Gets slower than this after a load mean a hash table that stopped
 * growing (healthy keydirs and the engine take well under 1 us). */
#define BB_STUCK_NS 20000u

/*
 * After a keydir's or the engine's load: flags a table that stopped
 * growing, as urcu_lfht_grow's does at random (liburcu's lost resize
 * launch, ds/peer_lfht.c). The rows after it then measure chains of
 * hundreds of nodes, not the design; the note says so on the terminal and
 * in the results' metadata. Peers are left out: their gets may reach the
 * disk.
 */
static void
bb_check_stuck(bb_state *st, bench_session *s, const bench_spec *sp)
{
    char key[96], msg[256];

    if (strcmp(bench_session_kind(s), "peer") == 0)
        return;
    uint64_t ns = bench_session_probe(s);
    if (ns <= BB_STUCK_NS)
        return;
    snprintf(msg, sizeof(msg), "after the load at %u threads a get took "
             "%.0f us: its hash table stopped growing (urcu_lfht_grow: "
             "liburcu's lost resize, ds/peer_lfht.c); the rows after it "
             "measure that", sp->threads, (double)ns / 1000);
    printf("# NOTE %s: %s\n", sp->target, msg);
    snprintf(key, sizeof(key), "note.%s.t%u", sp->target, sp->threads);
    bench_meta_set(&st->meta, key, msg);
}

/* The rows of one session, in an order where D's inserts come after the
   read-mostly workloads and durable writes come last. */
static void
bb_session_rows(const bb_opts *o, bb_state *st, bench_session *s,
                bench_spec *sp)
{
    static const char *const mixes[] = {"c", "b", "a", "f"};
    bench_row r;
    int rc;

    bb_progress(st, sp, "load", WL_UNIFORM);
    rc = bench_session_load(s, &r);
    if (rc != BENCH_OK || bb_want(o, "load"))
        bb_finish(st, s, rc, &r);
    if (rc != BENCH_OK)
        return;
    bb_check_stuck(st, s, sp);
    for (size_t d = 0; d < o->ndists; d++)
        for (size_t m = 0; m < 4; m++)
            if (bb_want(o, mixes[m]))
                bb_run_mix(st, s, sp, mixes[m], o->dists[d]);
    if (bb_want(o, "d"))
        bb_run_mix(st, s, sp, "d", WL_LATEST);
    /* A keydir alone has nothing to make durable. */
    if (bb_want(o, "durable") && strcmp(bench_session_kind(s), "keydir"))
        bb_run_mix(st, s, sp, "durable", o->dists[0]);
}

static size_t
bb_rows_per_session(const bb_opts *o, int keydir)
{
    size_t n = 1 + bb_want(o, "d");
    static const char *const mixes[] = {"c", "b", "a", "f"};

    for (size_t m = 0; m < 4; m++)
        n += o->ndists * (size_t)bb_want(o, mixes[m]);
    return n + (size_t)(!keydir && bb_want(o, "durable"));
}

static void
bb_run_target(const bb_opts *o, bb_state *st, const char *target)
{
    bench_spec sp = o->spec;
    bench_session *s;
    const char *msg;

    sp.target = target;
    for (size_t i = 0; i < o->nthreads; i++) {
        sp.threads = o->threads[i];
        int rc = bench_session_open(&sp, &s, &msg);
        if (rc != BENCH_OK) {
            fprintf(stderr, "casklab bench: cannot open %s in %s: %s%s%s\n",
                    target, sp.dir, bench_strerror(rc), *msg ? ": " : "", msg);
            st->failed = 1;
            return;
        }
        if (i == 0) {
            char key[64];
            printf("# %s: %s\n", target, bench_session_describe(s));
            snprintf(key, sizeof(key), "target.%s", target);
            bench_meta_set(&st->meta, key, bench_session_describe(s));
        }
        bb_session_rows(o, st, s, &sp);
        bench_session_close(s);
    }
}

/* ---- --goals: issue 6's performance table -------------------------------------- */

static int
bb_listed(const bb_opts *o, const char *target)
{
    for (size_t i = 0; i < o->ntargets; i++)
        if (strcmp(o->targets[i], target) == 0)
            return 1;
    return 0;
}

/* True if target takes part in the goals at this thread count: the engine,
   and each peer a goal names there unless --targets left it out. */
static int
bb_goal_target(const bb_opts *o, const char *target, unsigned threads)
{
    if (strcmp(target, o->engine) != 0 && !bb_listed(o, target))
        return 0;
    for (size_t i = 0; i < bench_ngoals; i++)
        if (bench_goals[i].threads == threads &&
            (strcmp(target, o->engine) == 0 ||
             strcmp(target, bench_goals[i].peer) == 0))
            return 1;
    return 0;
}

/* The distinct workloads measured at this thread count after the load:
   their indices in bench_goals, into idx; returns how many. */
static size_t
bb_goal_steps(const char *target, const bb_opts *o, unsigned threads,
              size_t *idx)
{
    size_t n = 0;

    for (size_t i = 0; i < bench_ngoals; i++) {
        const bench_goal *g = &bench_goals[i];
        int dup = 0;
        if (g->threads != threads || strcmp(g->workload, "load") == 0 ||
            (strcmp(target, o->engine) != 0 && strcmp(target, g->peer) != 0))
            continue;
        for (size_t j = 0; j < n; j++)
            dup |= strcmp(bench_goals[idx[j]].workload, g->workload) == 0 &&
                   bench_goals[idx[j]].dist == g->dist;
        if (!dup)
            idx[n++] = i;
    }
    return n;
}

/* Calls fn for every (target, thread count) session of the goals, the
   engine first, then the peers in the order the goals name them. */
static void
bb_goal_sessions(const bb_opts *o, bb_state *st,
                 void (*fn)(const bb_opts *, bb_state *, const char *,
                            unsigned))
{
    const char *targets[BB_MAX_LIST] = {o->engine};
    unsigned threads[BB_MAX_LIST];
    size_t nt = 1, nth = 0;

    for (size_t i = 0; i < bench_ngoals; i++) {
        int seen_t = 0, seen_th = 0;
        for (size_t j = 0; j < nt; j++)
            seen_t |= strcmp(targets[j], bench_goals[i].peer) == 0;
        for (size_t j = 0; j < nth; j++)
            seen_th |= threads[j] == bench_goals[i].threads;
        if (!seen_t)
            targets[nt++] = bench_goals[i].peer;
        if (!seen_th)
            threads[nth++] = bench_goals[i].threads;
    }
    for (size_t t = 0; t < nt; t++)
        for (size_t h = 0; h < nth; h++)
            if (bb_goal_target(o, targets[t], threads[h]))
                fn(o, st, targets[t], threads[h]);
}

static void
bb_goal_count(const bb_opts *o, bb_state *st, const char *target,
              unsigned threads)
{
    size_t idx[BB_MAX_LIST];

    st->total += 1 + bb_goal_steps(target, o, threads, idx);
}

static void
bb_goal_run(const bb_opts *o, bb_state *st, const char *target,
            unsigned threads)
{
    bench_spec sp = o->spec;
    size_t idx[BB_MAX_LIST], n = bb_goal_steps(target, o, threads, idx);
    bench_session *s;
    const char *msg;
    bench_row r;
    char key[80];
    int rc;

    sp.target = target;
    sp.threads = threads;
    if ((rc = bench_session_open(&sp, &s, &msg)) != BENCH_OK) {
        fprintf(stderr, "casklab bench: cannot open %s in %s: %s%s%s\n",
                target, sp.dir, bench_strerror(rc), *msg ? ": " : "", msg);
        st->failed = 1;
        return;
    }
    snprintf(key, sizeof(key), "target.%s", target);
    if (bench_meta_get(&st->meta, key) == NULL) {
        printf("# %s: %s\n", target, bench_session_describe(s));
        bench_meta_set(&st->meta, key, bench_session_describe(s));
    }
    bb_progress(st, &sp, "load", WL_UNIFORM);
    rc = bench_session_load(s, &r);
    bb_finish(st, s, rc, &r);
    for (size_t i = 0; rc == BENCH_OK && i < n; i++)
        bb_run_mix(st, s, &sp, bench_goals[idx[i]].workload,
                   bench_goals[idx[i]].dist);
    bench_session_close(s);
}

/* Creates the parent of PREFIX.csv when it is one missing level. */
static int
bb_write_one(const char *prefix, const char *ext, bb_state *st, int json)
{
    char path[4096];
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s.%s", prefix, ext);
    if ((f = fopen(path, "w")) == NULL) {
        fprintf(stderr, "casklab bench: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    rc = json ? bench_json_write(f, &st->meta, st->rows, st->n)
              : bench_csv_write(f, &st->meta, st->rows, st->n);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "casklab bench: error writing %s\n", path);
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}

static int
bb_write(const char *prefix, bb_state *st)
{
    char dir[4096], *slash;

    snprintf(dir, sizeof(dir), "%s", prefix);
    if ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        if (dir[0] && mkdir(dir, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "casklab bench: cannot create %s: %s\n", dir,
                    strerror(errno));
            return -1;
        }
    }
    return bb_write_one(prefix, "csv", st, 0) | bb_write_one(prefix, "json",
                                                              st, 1);
}

/* The row of `target` matching r's workload, distribution and threads. */
static const bench_row *
bb_match(const bb_state *st, const char *target, const bench_row *r)
{
    for (size_t i = 0; i < st->n; i++) {
        const bench_row *q = &st->rows[i];
        if (strcmp(q->target, target) == 0 &&
            strcmp(q->workload, r->workload) == 0 && q->dist == r->dist &&
            q->threads == r->threads)
            return q;
    }
    return NULL;
}

/* One line per baseline row: every other target's throughput over it. */
static void
bb_ratios(const bb_opts *o, const bb_state *st)
{
    printf("\nthroughput relative to %s (median / median; > 1 is faster)\n"
           "%-8s %-8s %4s", o->baseline, "workload", "dist", "thr");
    for (size_t t = 0; t < o->ntargets; t++)
        if (strcmp(o->targets[t], o->baseline) != 0)
            printf(" %13s", o->targets[t]);
    printf("\n");
    for (size_t i = 0; i < st->n; i++) {
        const bench_row *b = &st->rows[i];
        if (strcmp(b->target, o->baseline) != 0 || b->ops_med <= 0)
            continue;
        printf("%-8s %-8s %4u", b->workload,
               strcmp(b->workload, "load") ? wl_dist_name(b->dist) : "-",
               b->threads);
        for (size_t t = 0; t < o->ntargets; t++) {
            if (strcmp(o->targets[t], o->baseline) == 0)
                continue;
            const bench_row *r = bb_match(st, o->targets[t], b);
            if (r != NULL)
                printf(" %12.2fx", r->ops_med / b->ops_med);
            else
                printf(" %13s", "-");
        }
        printf("\n");
    }
}

static void
bb_banner(const bb_opts *o, const bb_state *st)
{
    const bench_spec *sp = &o->spec;

    printf("casklab bench%s: %llu keys of %u bytes, values of %u bytes, "
           "%u reps x %.2f s (warm-up %.2f s), theta %.2f\n",
           o->quick ? " --quick" : "", (unsigned long long)sp->keys,
           sp->key_size, sp->value_size, sp->reps, sp->seconds, sp->warmup,
           sp->theta);
    printf("machine: %s, %s cores, %s; commit %s\nthreads:",
           bench_meta_get(&st->meta, "cpu"),
           bench_meta_get(&st->meta, "cores"),
           bench_meta_get(&st->meta, "kernel"),
           bench_meta_get(&st->meta, "commit"));
    if (o->goals)
        printf(" as each goal says (--goals: %s against its peers)",
               o->engine);
    for (size_t i = 0; !o->goals && i < o->nthreads; i++)
        printf(" %u%s", o->threads[i],
               o->threads[i] > bench_ncores() ? " (oversubscribed)" : "");
    printf("\nlatencies include ~40 ns of clock reads; * = oversubscribed\n\n");
}

static int
bench_run_cmd(int argc, char **argv)
{
    static bb_opts o;
    static bb_state st;
    int rc = bb_parse(argc, argv, &o);

    if (rc != 0)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    bench_meta_collect(&st.meta, argc, argv);
    if (o.goals)
        bb_goal_sessions(&o, &st, bb_goal_count);
    for (size_t i = 0; !o.goals && i < o.ntargets; i++) {
        const char *kind;
        bench_target_exists(o.targets[i], &kind);
        st.total += o.nthreads *
                    bb_rows_per_session(&o, strcmp(kind, "keydir") == 0);
    }
    bb_banner(&o, &st);
    bb_print_header();
    if (o.goals)
        bb_goal_sessions(&o, &st, bb_goal_run);
    for (size_t i = 0; !o.goals && i < o.ntargets; i++)
        bb_run_target(&o, &st, o.targets[i]);
    if (o.baseline != NULL)
        bb_ratios(&o, &st);
    if (o.goals) {
        printf("\n");
        bench_goals_print(stdout, o.engine, st.rows, st.n);
    }
    if (bb_write(o.out, &st) != 0)
        st.failed = 1;
    free(st.rows);
    return st.failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

const cli_cmd cli_cmd_bench = {"bench", "compare keydirs and peer engines "
                               "on YCSB workloads (CSV + JSON)",
                               bench_run_cmd, bench_usage};
