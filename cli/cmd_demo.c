/*
 * cli/cmd_demo.c - `casklab demo` and `casklab keydirs`.
 *
 * demo runs every registered keydir (peers included, test-only broken ones
 * excluded) through the put/get/del workload of bench/kdload.c and prints
 * one aligned table. It is what `make demo` runs.
 */
#include "bench/bench.h"
#include "cli/cli.h"
#include "ds/keydir.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
demo_usage(void)
{
    printf("usage: casklab demo [--keys N] [--threads T] [--seconds S] "
           "[--keydir NAME]\n\n"
           "Runs each registered keydir through a multithreaded workload:\n"
           "fill N 8-byte keys (put), uniform random gets for S seconds, then\n"
           "delete every key (del). Prints million operations per second per\n"
           "phase and the keydir's bytes of memory per key when full.\n\n"
           "  --keys N      key space (default 1000000)\n"
           "  --threads T   worker threads (default: online cores, %u here)\n"
           "  --seconds S   duration of the get phase (default 1)\n"
           "  --keydir NAME run only this keydir (default: all; see "
           "`casklab keydirs`)\n\n"
           "Above the number of cores, threads are oversubscribed and the\n"
           "figures measure scheduling as much as the keydir.\n",
           bench_ncores());
}

/* Parses a positive number; returns 0 on success. */
static int
demo_parse_num(const char *opt, const char *s, double max, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(*out > 0) || *out > max) {
        fprintf(stderr, "casklab demo: %s needs a number in (0, %g], got '%s'\n",
                opt, max, s);
        return -1;
    }
    return 0;
}

static int
demo_parse(int argc, char **argv, bench_kd_config *cfg, const char **only)
{
    static const struct option longopts[] = {
        {"keys", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},
        {"seconds", required_argument, NULL, 's'},
        {"keydir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    double v;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (demo_parse_num("--keys", optarg, 1e9, &v))
                return -1;
            cfg->keys = (uint64_t)v;
            break;
        case 't':
            if (demo_parse_num("--threads", optarg, 1024, &v))
                return -1;
            cfg->threads = (unsigned)v;
            break;
        case 's':
            if (demo_parse_num("--seconds", optarg, 3600, &v))
                return -1;
            cfg->get_seconds = v;
            break;
        case 'd':
            *only = optarg;
            break;
        default:
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "casklab demo: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    if (*only != NULL && kd_lookup(*only) == NULL) {
        fprintf(stderr, "casklab demo: no keydir named '%s' "
                        "(see `casklab keydirs`)\n", *only);
        return -1;
    }
    return 0;
}

static int
demo_row(const kd_ops *ops, const bench_kd_config *cfg)
{
    bench_kd_result r;
    int rc = bench_keydir_run(ops->name, cfg, &r);

    if (rc != KD_OK) {
        printf("%-12s  error: %s\n", ops->name, kd_strerror(rc));
        return -1;
    }
    printf("%-15s %7u %10.2f %10.2f %10.2f %12.1f %s\n", ops->name, r.threads,
           r.put_mops, r.get_mops, r.del_mops, r.bytes_per_key,
           (ops->flags & KD_FLAG_PEER) ? "(peer)" : "");
    if (r.errors != 0) {
        printf("%-12s  %llu operations returned a wrong result\n", ops->name,
               (unsigned long long)r.errors);
        return -1;
    }
    fflush(stdout);
    return 0;
}

static int
demo_run(int argc, char **argv)
{
    bench_kd_config cfg = {0};
    const char *only = NULL;
    int failed = 0;

    if (demo_parse(argc, argv, &cfg, &only) != 0)
        return CLI_EXIT_USAGE;
    unsigned threads = cfg.threads ? cfg.threads : bench_ncores();
    printf("casklab demo: %llu keys of 8 bytes (tables sized for them), %u "
           "threads on %u cores%s, get phase %.1f s\n\n",
           (unsigned long long)(cfg.keys ? cfg.keys : 1000000), threads,
           bench_ncores(),
           threads > bench_ncores() ? " (oversubscribed)" : "",
           cfg.get_seconds > 0 ? cfg.get_seconds : 1.0);
    printf("%-15s %7s %10s %10s %10s %12s\n", "keydir", "threads", "put Mops/s",
           "get Mops/s", "del Mops/s", "bytes/key");
    for (size_t i = 0; kd_registered(i) != NULL; i++) {
        const kd_ops *ops = kd_registered(i);
        if (ops->flags & KD_FLAG_TEST_ONLY)
            continue;
        if (only != NULL && strcmp(only, ops->name) != 0)
            continue;
        failed |= demo_row(ops, &cfg) != 0;
    }
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

const cli_cmd cli_cmd_demo = {"demo", "run every keydir through a short "
                              "multithreaded workload", demo_run, demo_usage};

static void
keydirs_usage(void)
{
    printf("usage: casklab keydirs\n\nLists the registered keydirs: the names "
           "--keydir accepts.\n");
}

static int
keydirs_run(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "casklab keydirs: takes no arguments\n");
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; kd_registered(i) != NULL; i++) {
        const kd_ops *ops = kd_registered(i);
        const char *tag = (ops->flags & KD_FLAG_PEER)        ? " [peer]"
                          : (ops->flags & KD_FLAG_TEST_ONLY) ? " [test-only]"
                                                             : "";
        printf("%-14s %s%s\n", ops->name, ops->summary, tag);
    }
    return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_keydirs = {"keydirs", "list the registered keydirs",
                                 keydirs_run, keydirs_usage};
