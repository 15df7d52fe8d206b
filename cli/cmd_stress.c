/*
 * cli/cmd_stress.c - `casklab stress`: record a concurrent history.
 *
 * Runs stress/stress.h's harness against a target, prints a throughput
 * line, writes the history (--out) and, with --check, checks it at once.
 * Engine targets take --keydir/--sync/--dir, folded into the target spec
 * (cask:KEYDIR,sync=MODE,dir=DIR), and merge steps (--mix's fifth weight)
 * and --reopens.
 * Exit status: 0 done (and linearizable with --check), 1 not linearizable,
 * 2 check unknown, 64 usage, 70 the run itself failed.
 */
#include "bench/report.h"
#include "cli/cli.h"
#include "ds/keydir.h"
#include "stress/lincheck.h"
#include "stress/stress.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>


enum { STRESS_EXIT_UNKNOWN = 2, STRESS_EXIT_SOFTWARE = 70 };

typedef struct stress_args {
    stress_options opt;
    const char *out;
    const char *keydir, *sync, *dir; /* engine targets */
    char spec[8192];                 /* the composed engine target */
    int check, quiet;
} stress_args;

static void
stress_usage(void)
{
    printf("usage: casklab stress [OPTIONS]\n\n"
           "Runs T threads of random get/put/del/cas against a target, "
           "recording every\noperation with monotonic timestamps; writes the "
           "history (stress/HISTORY.md).\nIt first deletes its keys "
           "k0..kN-1 on the target (unrecorded), so that the\nhistory "
           "starts empty.\n\n"
           "options:\n"
           "  --target NAME      a keydir name or SCHEME:NAME (default global;"
           " --list);\n"
           "                     engine: the store over --keydir (= cask:KEYDIR)\n"
           "  --keydir NAME      engine targets: the keydir (default striped)\n"
           "  --sync MODE        engine targets: none|always|interval:MS\n"
           "  --dir DIR          engine targets: store directory (default: a "
           "temporary one)\n"
           "  --threads N        threads (default: online CPUs)\n"
           "  --keys N           key space (default 16: small forces "
           "contention)\n"
           "  --mix G,P,D,C[,M]  weights of get,put,del,cas and (engine) merge "
           "steps\n"
           "                     (default 50,30,10,10,0)\n"
           "  --reopens N        engine: close and reopen the store N times, "
           "threads\n"
           "                     quiesced, evenly spaced (default 0)\n"
           "  --ops N            total operations (default: run --duration)\n"
           "  --duration SECONDS run time when --ops is not given (default 1)\n"
           "  --seed N           workload seed (default 1)\n"
           "  --out FILE         write the history to FILE\n"
           "  --check            check the history for linearizability at "
           "once\n"
           "  --quiet            no progress lines\n"
           "  --list             list the targets\n\n"
           "exit status: 0 ok (linearizable with --check), 1 not "
           "linearizable, 2 check\nunknown, 64 usage, 70 the run failed.\n");
}

static void
stress_list(void)
{
    for (size_t i = 0; stress_target_scheme(i) != NULL; i++)
        printf("%s:NAME  %s\n", stress_target_scheme(i)->scheme,
               stress_target_scheme(i)->summary);
    printf("keydirs:");
    for (size_t i = 0; kd_registered(i) != NULL; i++)
        printf(" %s%s", kd_registered(i)->name,
               kd_registered(i)->flags & KD_FLAG_TEST_ONLY ? "(broken)" : "");
    printf("\n");
}

static int
stress_parse_u64(const char *s, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' || s[0] == '-' ? -1 : 0;
}

/* "G,P,D,C" or "G,P,D,C,M" (M: merge steps). */
static int
stress_parse_mix(const char *s, stress_options *o)
{
    unsigned w[5] = {0};
    char *end;
    int i;

    for (i = 0; i < 5; i++) {
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v > 1000000 || (*end != ',' && *end != '\0'))
            return -1;
        w[i] = (unsigned)v;
        if (*end == '\0')
            break;
        s = end + 1;
    }
    if (i < 3 || i > 4)
        return -1;
    memcpy(o->mix, w, sizeof(o->mix));
    o->merge_weight = w[4];
    return w[0] + w[1] + w[2] + w[3] > 0 ? 0 : -1;
}

static int
stress_is_engine(const char *t)
{
    static const char *const schemes[] = {"cask", "cask-racy", "cask-lossy"};

    if (strcmp(t, "engine") == 0)
        return 1;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(t, schemes[i], n) == 0 && (t[n] == '\0' || t[n] == ':'))
            return 1;
    }
    return 0;
}

/* Folds --keydir/--sync/--dir into an engine target's spec
 * (cask:KEYDIR,sync=MODE,dir=DIR); -1 if they do not apply. */
static int
stress_compose(stress_args *a)
{
    const char *t = a->opt.target, *colon;
    size_t n;

    if (!stress_is_engine(t))
        return a->keydir || a->sync || a->dir ? -1 : 0;
    if (strcmp(t, "engine") == 0)
        t = "cask";
    colon = strchr(t, ':');
    if (colon != NULL && a->keydir != NULL)
        return -1;
    n = (size_t)snprintf(a->spec, sizeof(a->spec), "%s%s%s%s%s%s%s", t,
                         colon ? "" : ":",
                         colon ? "" : a->keydir ? a->keydir : "striped",
                         a->sync ? ",sync=" : "", a->sync ? a->sync : "",
                         a->dir ? ",dir=" : "", a->dir ? a->dir : "");
    if (n >= sizeof(a->spec))
        return -1;
    a->opt.target = a->spec;
    return 0;
}

static int
stress_parse_args(int argc, char **argv, stress_args *a)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 'T'},
        {"threads", required_argument, NULL, 't'},
        {"keys", required_argument, NULL, 'k'},
        {"mix", required_argument, NULL, 'm'},
        {"ops", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {"check", no_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},
        {"list", no_argument, NULL, 'l'},
        {"keydir", required_argument, NULL, 'K'},
        {"sync", required_argument, NULL, 'S'},
        {"dir", required_argument, NULL, 'D'},
        {"reopens", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0}};
    uint64_t v;
    char *end;
    int c;

    memset(a, 0, sizeof(*a));
    a->opt.target = "global";
    a->opt.commit = bench_build_commit();
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'T': a->opt.target = optarg; break;
        case 't':
            if (stress_parse_u64(optarg, &v) != 0 || v == 0 || v > 1024)
                return -1;
            a->opt.threads = (unsigned)v;
            break;
        case 'k':
            if (stress_parse_u64(optarg, &a->opt.keys) != 0 || a->opt.keys == 0)
                return -1;
            break;
        case 'm':
            if (stress_parse_mix(optarg, &a->opt) != 0)
                return -1;
            break;
        case 'K': a->keydir = optarg; break;
        case 'S': a->sync = optarg; break;
        case 'D': a->dir = optarg; break;
        case 'r':
            if (stress_parse_u64(optarg, &v) != 0 || v > 1000)
                return -1;
            a->opt.reopens = (unsigned)v;
            break;
        case 'n':
            if (stress_parse_u64(optarg, &a->opt.ops) != 0 || a->opt.ops == 0)
                return -1;
            break;
        case 'd':
            a->opt.duration_s = strtod(optarg, &end);
            if (*end != '\0' || a->opt.duration_s <= 0)
                return -1;
            break;
        case 's':
            if (stress_parse_u64(optarg, &a->opt.seed) != 0)
                return -1;
            break;
        case 'o': a->out = optarg; break;
        case 'c': a->check = 1; break;
        case 'q': a->quiet = 1; break;
        case 'l': stress_list(); exit(CLI_EXIT_OK);
        default: return -1;
        }
    }
    return optind == argc ? stress_compose(a) : -1;
}

static void
stress_progress(void *arg, uint64_t done, double elapsed)
{
    (void)arg;
    fprintf(stderr, "stress: %.0f s, about %" PRIu64 " ops\n", elapsed, done);
}

static int
stress_write(const char *path, const hist *h)
{
    FILE *f = fopen(path, "w");
    int rc;

    if (f == NULL) {
        fprintf(stderr, "casklab stress: %s: %s\n", path, strerror(errno));
        return -1;
    }
    rc = hist_write(h, f);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "casklab stress: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

static int
stress_check(const hist *h)
{
    lin_options lo = {0};
    lin_result r;
    int rc;

    lo.minimize = 1;
    if ((rc = lin_check(h, &lo, &r)) != 0) {
        fprintf(stderr, "casklab stress: check: %s\n", lin_strerror(rc));
        return STRESS_EXIT_SOFTWARE;
    }
    printf("check: %s (%zu keys, %" PRIu64 " steps, %.1f ms)\n",
           lin_verdict_name(r.verdict), r.nkeys, r.steps, r.seconds * 1e3);
    if (r.verdict == LIN_ILLEGAL && r.nminimal > 0) {
        printf("%s failing sub-history (%zu ops):\n",
               r.minimal_exact ? "minimal" : "reduced", r.nminimal);
        lin_print_timeline(stdout, h, r.minimal, r.nminimal);
    }
    rc = r.verdict == LIN_LINEARIZABLE ? CLI_EXIT_OK
         : r.verdict == LIN_ILLEGAL    ? CLI_EXIT_FAIL
                                       : STRESS_EXIT_UNKNOWN;
    lin_result_free(&r);
    return rc;
}

static int
stress_cli_run(int argc, char **argv)
{
    stress_args a;
    stress_stats st;
    hist h;
    int rc;

    if (stress_parse_args(argc, argv, &a) != 0) {
        fprintf(stderr, "casklab stress: bad arguments (see casklab stress "
                "--help)\n");
        return CLI_EXIT_USAGE;
    }
    if (!a.quiet)
        a.opt.progress = stress_progress;
    if ((rc = stress_run(&a.opt, &h, &st)) != 0) {
        fprintf(stderr, "casklab stress: %s: %s\n", a.opt.target,
                stress_strerror(rc));
        return rc == STRESS_ENOTARGET || rc == STRESS_EINVAL
                   ? CLI_EXIT_USAGE
                   : STRESS_EXIT_SOFTWARE;
    }
    printf("stress: target=%s threads=%" PRIu32 " keys=%" PRIu64 " seed=%"
           PRIu64 ": %" PRIu64 " ops in %.3f s = %.0f ops/s\n",
           a.opt.target, h.threads, a.opt.keys ? a.opt.keys : 16, h.seed,
           st.ops, st.seconds, st.ops_per_s);
    if (a.opt.merge_weight || a.opt.reopens)
        printf("stress: %" PRIu64 " merges (%" PRIu64 " failed), %u reopens\n",
               st.merges, st.merge_errors, st.reopens);
    rc = CLI_EXIT_OK;
    if (a.out != NULL && stress_write(a.out, &h) != 0)
        rc = STRESS_EXIT_SOFTWARE;
    if (rc == CLI_EXIT_OK && a.check)
        rc = stress_check(&h);
    hist_free(&h);
    return rc;
}

const cli_cmd cli_cmd_stress = {
    "stress",
    "record a concurrent history against a keydir (then `check` it)",
    stress_cli_run,
    stress_usage,
};
