/*
 * cli/cmd_check.c - `casklab check FILE...`: is this history linearizable?
 *
 * Reads each file (casklab, EDN or Jepsen format, detected by content),
 * checks it with stress/lincheck.h and prints the verdict per key and
 * overall; for a violation, a minimal failing sub-history as a timeline and
 * optionally an HTML drawing. Exit status: 0 linearizable, 1 not, 2 unknown
 * (a limit was reached), 3 bad input; with several files the most severe
 * (3, then 1, then 2).
 */
#include "cli/cli.h"
#include "stress/lincheck.h"
#include "sync/clock.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum { CHECK_EXIT_UNKNOWN = 2, CHECK_EXIT_BADINPUT = 3 };

#define CHECK_KEYS_LISTED 32 /* per-key lines up to this many keys */

typedef struct check_args {
    lin_options lin;
    const char *html;
    int verbose, stats;
} check_args;

static void
check_usage(void)
{
    printf("usage: casklab check [OPTIONS] FILE...\n\n"
           "Decides whether each history is linearizable (Wing & Gong / Lowe "
           "search,\nkeys checked in parallel). Formats, detected by content: "
           "casklab's own\n(stress/HISTORY.md), Porcupine key-value logs and "
           "Knossos EDN histories,\nJepsen etcd logs.\n\n"
           "options:\n"
           "  --timeout SECONDS    give up after this long: verdict unknown "
           "(default none)\n"
           "  --max-memory SIZE    cap the search caches (e.g. 512M, 2G): "
           "unknown when hit\n"
           "                       (default: half the physical memory)\n"
           "  --threads N          worker threads (default: online CPUs)\n"
           "  --html FILE          draw the first violation as an HTML page\n"
           "  --keep-going         check every key even after a violation\n"
           "  --no-minimize        skip shrinking the counterexample\n"
           "  --verbose            a line for every key\n"
           "  --stats              a machine-readable timing line per file\n\n"
           "exit status: 0 linearizable, 1 not linearizable, 2 unknown, 3 bad "
           "input,\n64 usage.\n");
}

static int
check_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);

    if (errno != 0 || end == s || v < 0)
        return -1;
    switch (*end) {
    case 'k': case 'K': v *= 1024.0; end++; break;
    case 'm': case 'M': v *= 1024.0 * 1024; end++; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end != '\0' || v > 1e18)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Half the physical memory: a search that would need more is reported as
 * unknown instead of being killed by the kernel. */
static uint64_t
check_default_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 2 : 0;
}

static int
check_parse_args(int argc, char **argv, check_args *a)
{
    static const struct option longopts[] = {
        {"timeout", required_argument, NULL, 't'},
        {"max-memory", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 'j'},
        {"html", required_argument, NULL, 'H'},
        {"keep-going", no_argument, NULL, 'k'},
        {"no-minimize", no_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {"stats", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    int c;
    char *end;

    memset(a, 0, sizeof(*a));
    a->lin.minimize = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            a->lin.timeout_s = strtod(optarg, &end);
            if (*end != '\0' || a->lin.timeout_s <= 0)
                return -1;
            break;
        case 'm':
            if (check_parse_size(optarg, &a->lin.max_memory) != 0)
                return -1;
            break;
        case 'j':
            a->lin.threads = (unsigned)strtoul(optarg, &end, 10);
            if (*end != '\0' || a->lin.threads == 0 || a->lin.threads > 256)
                return -1;
            break;
        case 'H': a->html = optarg; break;
        case 'k': a->lin.keep_going = 1; break;
        case 'n': a->lin.minimize = 0; break;
        case 'v': a->verbose = 1; break;
        case 's': a->stats = 1; break;
        default: return -1;
        }
    }
    if (a->lin.max_memory == 0)
        a->lin.max_memory = check_default_memory();
    return optind < argc ? 0 : -1;
}

static void
check_print_key(const hist *h, const lin_key_result *k)
{
    size_t kl;
    const char *s = hist_key_str(h, k->key, &kl);

    printf("  key \"%.*s\": %s (%" PRIu32 " ops, %" PRIu64 " steps)\n",
           (int)(kl > 48 ? 48 : kl), s, lin_verdict_name(k->verdict), k->nops,
           k->steps);
}

static void
check_print_keys(const hist *h, const lin_result *r, int verbose)
{
    size_t count[4] = {0};

    for (size_t i = 0; i < r->nkeys; i++) {
        count[r->keys[i].verdict]++;
        if (verbose || r->nkeys <= CHECK_KEYS_LISTED ||
            r->keys[i].verdict == LIN_ILLEGAL ||
            r->keys[i].verdict == LIN_UNKNOWN)
            check_print_key(h, &r->keys[i]);
    }
    printf("  keys: %zu linearizable, %zu not, %zu unknown, %zu skipped "
           "(stopped at the first violation)\n",
           count[LIN_LINEARIZABLE], count[LIN_ILLEGAL], count[LIN_UNKNOWN],
           count[LIN_SKIPPED]);
}

static void
check_print_violation(const hist *h, const lin_result *r)
{
    size_t kl;
    const char *k = hist_key_str(h, r->bad_key, &kl);

    printf("  violation on key \"%.*s\": longest linearizable prefix %zu of "
           "%zu ops\n", (int)(kl > 48 ? 48 : kl), k, r->nprefix, r->nbad);
    if (r->nminimal > 0) {
        printf("  %s failing sub-history (%zu ops; time runs left to "
               "right):\n", r->minimal_exact ? "minimal" :
               "reduced (shrinking budget reached, maybe not minimal)",
               r->nminimal);
        lin_print_timeline(stdout, h, r->minimal, r->nminimal);
    }
}

static int
check_write_html(const char *path, const hist *h, const lin_result *r)
{
    FILE *f = fopen(path, "w");
    int rc;

    if (f == NULL) {
        fprintf(stderr, "casklab check: %s: %s\n", path, strerror(errno));
        return -1;
    }
    rc = lin_write_html(f, h, r);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "casklab check: %s: %s\n", path, lin_strerror(rc));
        return -1;
    }
    printf("  wrote %s\n", path);
    return 0;
}

static long
check_peak_rss_kb(void)
{
    struct rusage ru;

    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static int
check_verdict_exit(lin_verdict v)
{
    return v == LIN_LINEARIZABLE ? CLI_EXIT_OK
           : v == LIN_ILLEGAL    ? CLI_EXIT_FAIL
                                 : CHECK_EXIT_UNKNOWN;
}

static int
check_file(const char *path, const check_args *a)
{
    hist h;
    hist_error err;
    lin_result r;
    uint64_t t0 = sync_now_ns();
    int rc = hist_load(&h, path, &err);

    if (rc != 0) {
        if (err.line > 0)
            fprintf(stderr, "casklab check: %s:%zu: %s\n", path, err.line,
                    err.msg);
        else
            fprintf(stderr, "casklab check: %s: %s%s%s\n", path,
                    hist_strerror(rc), err.msg[0] ? ": " : "", err.msg);
        return CHECK_EXIT_BADINPUT;
    }
    double parse_ms = (double)(sync_now_ns() - t0) / 1e6;
    printf("%s: %s format, %s model, %zu ops, %zu keys\n", path,
           hist_format_name(h.format), hist_model_name(h.model), h.nops,
           hist_nkeys(&h));
    if ((rc = lin_check(&h, &a->lin, &r)) != 0) {
        fprintf(stderr, "casklab check: %s: %s\n", path, lin_strerror(rc));
        hist_free(&h);
        return CHECK_EXIT_UNKNOWN;
    }
    check_print_keys(&h, &r, a->verbose);
    if (r.verdict == LIN_ILLEGAL)
        check_print_violation(&h, &r);
    if (r.verdict == LIN_ILLEGAL && a->html != NULL)
        check_write_html(a->html, &h, &r);
    printf("%s: %s (parse %.2f ms, check %.2f ms, %" PRIu64 " steps)\n", path,
           lin_verdict_name(r.verdict), parse_ms, r.seconds * 1e3, r.steps);
    if (a->stats)
        printf("stats\t%s\t%s\t%.3f\t%.3f\t%" PRIu64 "\t%" PRIu64 "\t%ld\n",
               path, r.verdict == LIN_LINEARIZABLE ? "ok"
                     : r.verdict == LIN_ILLEGAL    ? "illegal" : "unknown",
               parse_ms, r.seconds * 1e3, r.steps, r.peak_cache_bytes,
               check_peak_rss_kb());
    rc = check_verdict_exit(r.verdict);
    lin_result_free(&r);
    hist_free(&h);
    return rc;
}

/* 3 beats 1 beats 2 beats 0. */
static int
check_worse(int a, int b)
{
    static const int rank[] = {0, 2, 1, 3};
    return rank[b] > rank[a] ? b : a;
}

static int
check_run(int argc, char **argv)
{
    check_args a;
    int worst = CLI_EXIT_OK;

    if (check_parse_args(argc, argv, &a) != 0) {
        fprintf(stderr, "casklab check: bad arguments (see casklab check "
                "--help)\n");
        return CLI_EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++)
        worst = check_worse(worst, check_file(argv[i], &a));
    return worst;
}

const cli_cmd cli_cmd_check = {
    "check",
    "decide whether recorded histories are linearizable",
    check_run,
    check_usage,
};
