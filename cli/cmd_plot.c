/*
 * cli/cmd_plot.c - `casklab plot RESULTS.csv...`: figures with gnuplot.
 *
 * Reads CSV files written by `casklab bench` (bench/report.h) and writes,
 * into the output folder, one gnuplot script and one data file per figure,
 * then runs gnuplot on each to render SVG and PNG:
 *   throughput_<workload>_<dist>   operations/s against threads, one line
 *                                  per target, bars from min to max;
 *   latency_<workload>_<dist>      latency at each percentile (a percentile
 *                                  plot: 50% .. 99.99% and max, log scale);
 *   workloads                      operations/s per workload, one bar per
 *                                  target (log scale);
 *   bytes_per_key                  memory and disk bytes per key after load.
 * Several files overlay: each target's series is then labelled with the
 * file's commit (or name), so two commits compare on one figure. Every
 * figure's caption names the machine, commit and date the rows came from.
 * The scripts stay next to the figures, so a figure can be restyled by hand.
 */
#include "bench/report.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PL_MAX_FILES 16
#define PL_MAX_SERIES 128
#define PL_MAX_CATS 64

typedef struct pl_file {
    char label[64];
    bench_meta meta;
    bench_row *rows;
    size_t n;
} pl_file;

typedef struct pl_series {
    char label[192];
    size_t file;
    char target[64];
} pl_series;

typedef struct pl_ctx {
    pl_file files[PL_MAX_FILES];
    size_t nfiles;
    pl_series series[PL_MAX_SERIES];
    size_t nseries;
    const char *outdir;
    unsigned threads; /* the thread count of the per-workload figures */
    char caption[1024];
    int failed, figures;
} pl_ctx;

static void
plot_usage(void)
{
    printf("usage: casklab plot [--out DIR] [--threads T] RESULTS.csv...\n\n"
           "Draws figures from `casklab bench` CSV files with gnuplot, as SVG\n"
           "and PNG, into DIR (default results/plots): throughput against\n"
           "threads per workload, latency percentiles per workload, one bar\n"
           "chart of all workloads, and bytes per key. Several files are\n"
           "overlaid, each series labelled with its file's commit.\n\n"
           "  --out DIR     output folder (created; default results/plots)\n"
           "  --threads T   thread count of the latency, bar and bytes\n"
           "                figures (default: the most threads not above the\n"
           "                first file's core count)\n\n"
           "Needs gnuplot (Debian package gnuplot-nox). Exit status: 0, 1 if\n"
           "a file cannot be read or gnuplot fails, 64 bad usage.\n");
}

/* ---- reading ------------------------------------------------------------------ */

static void
pl_label(pl_ctx *c, pl_file *f, const char *path)
{
    const char *commit = bench_meta_get(&f->meta, "commit");
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    snprintf(f->label, sizeof(f->label), "%s", base);
    f->label[strcspn(f->label, ".")] = '\0';
    /* Commits name the overlays, unless two files share one. */
    for (size_t i = 0; commit && i < c->nfiles; i++)
        if (strcmp(c->files[i].label, commit) == 0)
            commit = NULL;
    if (commit != NULL && strcmp(commit, "unknown") != 0)
        snprintf(f->label, sizeof(f->label), "%s", commit);
}

static int
pl_read(pl_ctx *c, const char *path)
{
    pl_file *f = &c->files[c->nfiles];
    char err[160];
    FILE *in = fopen(path, "r");

    if (in == NULL) {
        fprintf(stderr, "casklab plot: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = bench_results_read(in, &f->meta, &f->rows, &f->n, err,
                                sizeof(err));
    fclose(in);
    if (rc != 0 || f->n == 0) {
        fprintf(stderr, "casklab plot: %s: %s\n", path,
                rc ? err : "no result rows");
        free(f->rows);
        return -1;
    }
    pl_label(c, f, path);
    c->nfiles++;
    return 0;
}

/* One series per (file, target), in order of appearance. */
static void
pl_collect_series(pl_ctx *c)
{
    for (size_t fi = 0; fi < c->nfiles; fi++) {
        for (size_t i = 0; i < c->files[fi].n; i++) {
            const char *t = c->files[fi].rows[i].target;
            size_t s = 0;
            while (s < c->nseries && !(c->series[s].file == fi &&
                                       strcmp(c->series[s].target, t) == 0))
                s++;
            if (s < c->nseries || c->nseries == PL_MAX_SERIES)
                continue;
            pl_series *ns = &c->series[c->nseries++];
            ns->file = fi;
            snprintf(ns->target, sizeof(ns->target), "%s", t);
            if (c->nfiles > 1)
                snprintf(ns->label, sizeof(ns->label), "%s @ %s", t,
                         c->files[fi].label);
            else
                snprintf(ns->label, sizeof(ns->label), "%s", t);
        }
    }
}

static unsigned
pl_default_threads(const pl_ctx *c)
{
    const pl_file *f = &c->files[0];
    unsigned best = 0, least = ~0u, cores = f->rows[0].cores;

    for (size_t i = 0; i < f->n; i++) {
        unsigned t = f->rows[i].threads;
        if (t <= cores && t > best)
            best = t;
        if (t < least)
            least = t;
    }
    return best ? best : least;
}

static const char *
pl_meta(const bench_meta *m, const char *key)
{
    const char *v = bench_meta_get(m, key);

    return v ? v : "?";
}

static void
pl_caption(pl_ctx *c)
{
    const bench_meta *m = &c->files[0].meta;
    size_t len;

    len = (size_t)snprintf(c->caption, sizeof(c->caption),
                           "%s, %s cores, %s", pl_meta(m, "cpu"),
                           pl_meta(m, "cores"),
                           pl_meta(m, "kernel"));
    for (size_t i = 0; i < c->nfiles && len < sizeof(c->caption); i++) {
        const bench_meta *fm = &c->files[i].meta;
        const char *commit = pl_meta(fm, "commit");
        int named = strcmp(c->files[i].label, commit) != 0;
        len += (size_t)snprintf(c->caption + len, sizeof(c->caption) - len,
                                "%s%s%scommit %s, %s", i ? "; " : "\\n",
                                named ? c->files[i].label : "",
                                named ? ": " : "", commit,
                                pl_meta(fm, "date"));
    }
    /* Quotes would end the gnuplot string the caption sits in. */
    for (char *p = c->caption; *p; p++)
        if (*p == '"')
            *p = '\'';
}

/* ---- figures ------------------------------------------------------------------ */

static const bench_row *
pl_find(const pl_ctx *c, const pl_series *s, const char *wl, wl_dist d,
        unsigned threads)
{
    const pl_file *f = &c->files[s->file];

    for (size_t i = 0; i < f->n; i++) {
        const bench_row *r = &f->rows[i];
        if (strcmp(r->target, s->target) == 0 &&
            strcmp(r->workload, wl) == 0 && r->threads == threads &&
            (strcmp(wl, "load") == 0 || r->dist == d))
            return r;
    }
    return NULL;
}

/* Opens DIR/name.ext for writing. */
static FILE *
pl_open(pl_ctx *c, const char *name, const char *ext)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.%s", c->outdir, name, ext);
    if ((f = fopen(path, "w")) == NULL) {
        fprintf(stderr, "casklab plot: cannot write %s: %s\n", path,
                strerror(errno));
        c->failed = 1;
    }
    return f;
}

static void
pl_header(const pl_ctx *c, FILE *gp, const char *title, const char *xl,
          const char *yl)
{
    fprintf(gp, "# generated by casklab plot\n"
                "set terminal svg size 960,600 dynamic noenhanced "
                "font 'Sans,11' background '#ffffff'\n"
                "set title \"%s\"\nset xlabel \"%s\"\nset ylabel \"%s\"\n"
                "set bmargin 7\nset grid ytics\nset key outside right top\n"
                "set datafile missing '?'\n"
                "set label 99 \"%s\" at screen 0.01,0.035 font 'Sans,8'\n",
            title, xl, yl, c->caption);
}

/* Renders name.gp: SVG first, then the same plot as PNG. */
static void
pl_render(pl_ctx *c, const char *name)
{
    char script[512];
    pid_t pid;
    int status;

    snprintf(script, sizeof(script), "%s.gp", name);
    pid = fork();
    if (pid == 0) {
        if (chdir(c->outdir) == 0)
            execlp("gnuplot", "gnuplot", script, (char *)NULL);
        fprintf(stderr, "casklab plot: cannot run gnuplot: %s (install the "
                        "Debian package gnuplot-nox)\n", strerror(errno));
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "casklab plot: gnuplot failed on %s/%s\n", c->outdir,
                script);
        c->failed = 1;
        return;
    }
    printf("%s/%s.svg %s/%s.png\n", c->outdir, name, c->outdir, name);
    c->figures++;
}

static void
pl_footer(FILE *gp, const char *name, const char *plot)
{
    fprintf(gp, "set output '%s.svg'\n%s\n"
                "set terminal pngcairo size 1200,750 noenhanced "
                "font 'Sans,11' background '#ffffff'\n"
                "set output '%s.png'\nreplot\nunset output\n",
            name, plot, name);
}

/* Unit for a throughput axis: Mops/s unless every value is small. */
static double
pl_unit(double max, const char **unit)
{
    if (max >= 1e5) {
        *unit = "million operations/s";
        return 1e6;
    }
    *unit = "thousand operations/s";
    return 1e3;
}

static void
pl_throughput(pl_ctx *c, const char *wl, wl_dist d)
{
    char name[96], title[160], ylabel[64], plot[8192], tics[512] = "";
    const char *unit;
    double max = 0;
    size_t len, blocks = 0, tl = 0;
    int seen[1025] = {0};
    unsigned cores = c->files[0].rows[0].cores;
    FILE *dat, *gp;

    snprintf(name, sizeof(name), "throughput_%s_%s", wl,
             strcmp(wl, "load") ? wl_dist_name(d) : "insert");
    for (size_t s = 0; s < c->nseries; s++)
        for (unsigned t = 1; t <= 1024; t++) {
            const bench_row *r = pl_find(c, &c->series[s], wl, d, t);
            if (r && r->ops_max > max)
                max = r->ops_max;
            if (r && !seen[t] && tl < sizeof(tics) - 16) {
                tl += (size_t)snprintf(tics + tl, sizeof(tics) - tl, "%s%u",
                                       tl ? ", " : "", t);
                seen[t] = 1;
            }
        }
    double div = pl_unit(max, &unit);
    if ((dat = pl_open(c, name, "dat")) == NULL)
        return;
    len = (size_t)snprintf(plot, sizeof(plot), "plot ");
    for (size_t s = 0; s < c->nseries; s++) {
        int any = 0;
        for (unsigned t = 1; t <= 1024; t++) {
            const bench_row *r = pl_find(c, &c->series[s], wl, d, t);
            if (r == NULL)
                continue;
            if (!any)
                fprintf(dat, "# %s\n", c->series[s].label);
            any = 1;
            fprintf(dat, "%u %g %g %g\n", t, r->ops_med / div,
                    r->ops_min / div, r->ops_max / div);
        }
        if (!any)
            continue;
        fprintf(dat, "\n\n");
        len += (size_t)snprintf(plot + len, sizeof(plot) - len,
                                "%s'%s.dat' index %zu using 1:2:3:4 with "
                                "yerrorlines lw 2 pt 7 dt %zu title \"%s\"",
                                blocks ? ", \\\n     " : "", name, blocks,
                                c->series[s].file + 1, c->series[s].label);
        blocks++;
    }
    fclose(dat);
    if (blocks == 0 || (gp = pl_open(c, name, "gp")) == NULL)
        return;
    snprintf(title, sizeof(title), "YCSB %s%s%s: throughput against threads "
             "(median, bars min-max)", wl,
             strcmp(wl, "load") ? ", " : "",
             strcmp(wl, "load") ? wl_dist_name(d) : "");
    snprintf(ylabel, sizeof(ylabel), "%s", unit);
    pl_header(c, gp, title, "threads (log scale; right of the dashed line: "
              "oversubscribed)", ylabel);
    fprintf(gp, "set logscale x 2\nset xtics (%s)\nset yrange [0:*]\n"
                "set offsets graph 0.05, graph 0.05, 0, 0\n"
                "set arrow 1 from %u, graph 0 to %u, graph 1 nohead dt 2\n",
            tics, cores, cores);
    pl_footer(gp, name, plot);
    fclose(gp);
    pl_render(c, name);
}

static void
pl_latency(pl_ctx *c, const char *wl, wl_dist d)
{
    char name[96], title[200], plot[8192];
    size_t len, blocks = 0;
    FILE *dat, *gp;

    snprintf(name, sizeof(name), "latency_%s_%s", wl,
             strcmp(wl, "load") ? wl_dist_name(d) : "insert");
    if ((dat = pl_open(c, name, "dat")) == NULL)
        return;
    len = (size_t)snprintf(plot, sizeof(plot), "plot ");
    for (size_t s = 0; s < c->nseries; s++) {
        const bench_row *r = pl_find(c, &c->series[s], wl, d, c->threads);
        if (r == NULL)
            continue;
        fprintf(dat, "# %s\n", c->series[s].label);
        for (int k = 0; k < BENCH_NPCT; k++) {
            double x = bench_pcts[k] >= 100 ? 5
                                            : -log10(1 - bench_pcts[k] / 100);
            fprintf(dat, "%g %g\n", x,
                    r->lat_ns[k] ? (double)r->lat_ns[k] / 1e3 : 1e-3);
        }
        fprintf(dat, "\n\n");
        len += (size_t)snprintf(plot + len, sizeof(plot) - len,
                                "%s'%s.dat' index %zu using 1:2 with "
                                "linespoints lw 2 pt 7 dt %zu title \"%s\"",
                                blocks ? ", \\\n     " : "", name, blocks,
                                c->series[s].file + 1, c->series[s].label);
        blocks++;
    }
    fclose(dat);
    if (blocks == 0 || (gp = pl_open(c, name, "gp")) == NULL)
        return;
    snprintf(title, sizeof(title), "YCSB %s%s%s: latency percentiles, %u "
             "threads", wl, strcmp(wl, "load") ? ", " : "",
             strcmp(wl, "load") ? wl_dist_name(d) : "", c->threads);
    pl_header(c, gp, title, "percentile", "latency (microseconds, log scale)");
    fprintf(gp, "set logscale y\nset xrange [0:5.2]\n"
                /* Tic labels are formats to gnuplot: %% twice over. */
                "set xtics ('50%%%%' 0.30103, '90%%%%' 1, '99%%%%' 2, "
                "'99.9%%%%' 3, '99.99%%%%' 4, 'max' 5)\n");
    pl_footer(gp, name, plot);
    fclose(gp);
    pl_render(c, name);
}

/* Distinct (workload, dist) pairs of every file, in order of appearance. */
static size_t
pl_categories(const pl_ctx *c, char cats[][16], wl_dist *dists)
{
    size_t n = 0;

    for (size_t fi = 0; fi < c->nfiles; fi++) {
        for (size_t i = 0; i < c->files[fi].n; i++) {
            const bench_row *r = &c->files[fi].rows[i];
            wl_dist d = strcmp(r->workload, "load") ? r->dist : WL_UNIFORM;
            size_t k = 0;
            while (k < n && !(strcmp(cats[k], r->workload) == 0 &&
                              dists[k] == d))
                k++;
            if (k == n && n < PL_MAX_CATS) {
                snprintf(cats[n], 16, "%s", r->workload);
                dists[n++] = d;
            }
        }
    }
    return n;
}

static void
pl_bars(pl_ctx *c, char cats[][16], const wl_dist *dists, size_t ncat)
{
    const char *name = "workloads";
    char title[128], plot[8192];
    size_t len;
    FILE *dat, *gp;

    if ((dat = pl_open(c, name, "dat")) == NULL)
        return;
    for (size_t k = 0; k < ncat; k++) {
        fprintf(dat, "\"%s%s%s\"", cats[k], strcmp(cats[k], "load") ? "/" : "",
                strcmp(cats[k], "load") ? wl_dist_name(dists[k]) : "");
        for (size_t s = 0; s < c->nseries; s++) {
            const bench_row *r =
                pl_find(c, &c->series[s], cats[k], dists[k], c->threads);
            if (r != NULL && r->ops_med > 0)
                fprintf(dat, " %g", r->ops_med);
            else
                fprintf(dat, " ?");
        }
        fputc('\n', dat);
    }
    fclose(dat);
    if ((gp = pl_open(c, name, "gp")) == NULL)
        return;
    len = (size_t)snprintf(plot, sizeof(plot), "plot ");
    for (size_t s = 0; s < c->nseries; s++)
        len += (size_t)snprintf(plot + len, sizeof(plot) - len,
                                "%s'%s.dat' using %zu%s title \"%s\"",
                                s ? ", " : "", name, s + 2,
                                s ? "" : ":xtic(1)", c->series[s].label);
    snprintf(title, sizeof(title), "Throughput per workload, %u threads "
             "(median)", c->threads);
    pl_header(c, gp, title, "workload / key distribution",
              "operations per second (log scale)");
    fprintf(gp, "set style data histograms\nset style histogram clustered "
                "gap 1\nset style fill solid 0.85 border -1\n"
                "set boxwidth 0.9\nset logscale y\nset yrange [1000:*]\n"
                "set xtics rotate by -30\n");
    pl_footer(gp, name, plot);
    fclose(gp);
    pl_render(c, name);
}

static void
pl_bytes(pl_ctx *c)
{
    const char *name = "bytes_per_key";
    char title[160];
    FILE *dat, *gp;
    int any = 0;

    if ((dat = pl_open(c, name, "dat")) == NULL)
        return;
    for (size_t s = 0; s < c->nseries; s++) {
        const bench_row *r =
            pl_find(c, &c->series[s], "load", WL_UNIFORM, c->threads);
        if (r == NULL)
            continue;
        any = 1;
        fprintf(dat, "\"%s\" %g %g\n", c->series[s].label, r->mem_per_key,
                r->disk_bytes > 0 ? (double)r->disk_bytes / (double)r->keys
                                  : 0.0);
    }
    fclose(dat);
    if (!any || (gp = pl_open(c, name, "gp")) == NULL)
        return;
    snprintf(title, sizeof(title), "Bytes per key after the load phase "
             "(%u threads; keydirs store no values)", c->threads);
    pl_header(c, gp, title, "target",
              "bytes per key (memory: engine's own figure, else RSS growth)");
    fprintf(gp, "set style data histograms\nset style histogram clustered "
                "gap 1\nset style fill solid 0.85 border -1\n"
                "set xtics rotate by -30\nset yrange [0:*]\n");
    pl_footer(gp, name,
              "plot 'bytes_per_key.dat' using 2:xtic(1) title "
              "\"memory bytes/key\", '' using 3 title \"disk bytes/key\"");
    fclose(gp);
    pl_render(c, name);
}

/* ---- command ------------------------------------------------------------------ */

static int
pl_parse(int argc, char **argv, pl_ctx *c)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    char *end;
    int ch;

    c->outdir = "results/plots";
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == 'o') {
            c->outdir = optarg;
        } else if (ch == 't') {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v < 1 || v > 1024) {
                fprintf(stderr, "casklab plot: --threads needs 1..1024\n");
                return -1;
            }
            c->threads = (unsigned)v;
        } else {
            return -1;
        }
    }
    if (optind == argc || argc - optind > PL_MAX_FILES) {
        fprintf(stderr, "casklab plot: give 1 to %d result files (CSV from "
                        "`casklab bench`)\n", PL_MAX_FILES);
        return -1;
    }
    return 0;
}

/* mkdir -p for the output folder. */
static int
pl_mkdirs(const char *path)
{
    char buf[4096];

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void
pl_all(pl_ctx *c)
{
    char cats[PL_MAX_CATS][16];
    wl_dist dists[PL_MAX_CATS];
    size_t ncat = pl_categories(c, cats, dists);

    for (size_t k = 0; k < ncat; k++) {
        pl_throughput(c, cats[k], dists[k]);
        pl_latency(c, cats[k], dists[k]);
    }
    pl_bars(c, cats, dists, ncat);
    pl_bytes(c);
}

static int
plot_run(int argc, char **argv)
{
    static pl_ctx c;
    int rc;

    memset(&c, 0, sizeof(c));
    if (pl_parse(argc, argv, &c) != 0)
        return CLI_EXIT_USAGE;
    for (int i = optind; i < argc; i++)
        if (pl_read(&c, argv[i]) != 0)
            c.failed = 1;
    if (c.nfiles == 0)
        return CLI_EXIT_FAIL;
    if (pl_mkdirs(c.outdir) != 0) {
        fprintf(stderr, "casklab plot: cannot create %s: %s\n", c.outdir,
                strerror(errno));
        return CLI_EXIT_FAIL;
    }
    pl_collect_series(&c);
    if (c.threads == 0)
        c.threads = pl_default_threads(&c);
    pl_caption(&c);
    pl_all(&c);
    printf("%d figures in %s (SVG and PNG; scripts *.gp beside them)\n",
           c.figures, c.outdir);
    rc = c.failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    for (size_t i = 0; i < c.nfiles; i++)
        free(c.files[i].rows);
    return rc;
}

const cli_cmd cli_cmd_plot = {"plot", "draw figures from `casklab bench` "
                              "results with gnuplot (SVG, PNG)",
                              plot_run, plot_usage};
