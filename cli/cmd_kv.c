/*
 * cli/cmd_kv.c - `casklab put|get|del|stats|merge|verify --dir D`: the store
 * from the shell, one operation per process.
 *
 * get, stats and verify open the store read-only (cask_options.read_only):
 * they write nothing, so they work on a full disk or a read-only mount,
 * and beside a running writer (`casklab serve` on the same directory) they
 * read a snapshot as of their open.
 *
 * Exit codes: 0 success; 1 the key was not found (get, del) or a damaged
 * record was found (verify); 2 the store
 * could not be used (locked, corrupt, I/O error: the message names file and
 * offset); 64 bad command line.
 */
#include "cli/cli.h"
#include "engine/cask.h"
#include "net/caskstore.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KV_EXIT_NOTFOUND = 1, KV_EXIT_STORE = 2 };

/* The longest --ttl: 100 years, far below what an int64 of ms holds. */
#define KV_TTL_MAX_MS (100ull * 366 * 24 * 3600 * 1000)

typedef struct kv_args {
    const char *cmd;
    const char *dir;
    cask_options opt;
    uint64_t ttl_ms;
    int all;
    int create; /* put: make the store if DIR has none */
    int nargs;
    char **args;
} kv_args;

static void
kv_log(void *arg, const char *msg)
{
    fprintf(stderr, "casklab %s: %s\n", (const char *)arg, msg);
}

static void
kv_usage_common(const char *cmd, const char *operands, const char *what,
                const char *extra)
{
    printf("usage: casklab %s --dir DIR [--keydir NAME] [--sync MODE]%s%s\n\n"
           "%s\n\n"
           "  --dir DIR      the store's directory (only put creates one "
           "where there is none)\n"
           "  --keydir NAME  in-memory index (default striped; see "
           "`casklab keydirs`)\n"
           "  --sync MODE    none | always | interval:<ms> (default none)\n"
           "  --auto-merge   run the merge policy on a background thread "
           "while open\n"
           "  --recover-threads N  threads loading the files at open "
           "(default: one per\n"
           "                 CPU, one for keydirs whose writers take one "
           "lock)\n"
           "%s\n"
           "Exit: 0 ok, 1 key not found, 2 store error (message names file "
           "and\noffset), 64 usage.\n",
           cmd, operands[0] ? " " : "", operands, what, extra);
}

static int
kv_parse(int argc, char **argv, kv_args *a, int want_args)
{
    static const struct option lo[] = {
        {"dir", required_argument, NULL, 'd'},
        {"keydir", required_argument, NULL, 'k'},
        {"sync", required_argument, NULL, 's'},
        {"ttl", required_argument, NULL, 't'},
        {"all", no_argument, NULL, 'a'},
        {"auto-merge", no_argument, NULL, 'm'},
        {"recover-threads", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(a, 0, sizeof *a);
    a->cmd = argv[0];
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd': a->dir = optarg; break;
        case 'k': a->opt.keydir = optarg; break;
        case 's':
            if (cask_parse_sync(optarg, &a->opt) != 0) {
                fprintf(stderr, "casklab %s: %s\n", a->cmd, cask_errdetail());
                return -1;
            }
            break;
        case 't': {
            char *end;
            errno = 0;
            a->ttl_ms = strtoull(optarg, &end, 10);
            /* at most ~100 years: now + ttl must fit the expiry's int64 */
            if (errno || *end || end == optarg || a->ttl_ms == 0 ||
                a->ttl_ms > KV_TTL_MAX_MS) {
                fprintf(stderr, "casklab %s: --ttl needs milliseconds > 0 "
                        "(at most %llu)\n", a->cmd,
                        (unsigned long long)KV_TTL_MAX_MS);
                return -1;
            }
            break;
        }
        case 'r': {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || *end || end == optarg || v == 0 || v > 64) {
                fprintf(stderr, "casklab %s: --recover-threads needs 1..64\n",
                        a->cmd);
                return -1;
            }
            a->opt.recover_threads = (uint32_t)v;
            break;
        }
        case 'a': a->all = 1; break;
        case 'm': a->opt.auto_merge = 1; break;
        default: return -1;
        }
    }
    a->nargs = argc - optind;
    a->args = argv + optind;
    if (a->dir == NULL || a->nargs != want_args) {
        fprintf(stderr, "casklab %s: needs --dir DIR and %d operand%s "
                        "(see --help)\n", a->cmd, want_args,
                want_args == 1 ? "" : "s");
        return -1;
    }
    a->opt.log = kv_log;
    a->opt.log_arg = (void *)a->cmd;
    return 0;
}

/* Whether dir holds a store (its LOCK or a data file): 1 yes, 0 no (why
 * in *why), so that a mistyped --dir given to get, del, stats, merge or
 * verify is an error rather than a new empty store left behind. */
static int
kv_store_exists(const char *dir, const char **why)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;

    if (d == NULL) {
        *why = errno == ENOENT ? "no such directory" : strerror(errno);
        return 0;
    }
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        found = strcmp(e->d_name, "LOCK") == 0 ||
                (n > 5 && strcmp(e->d_name + n - 5, ".data") == 0);
    }
    closedir(d);
    *why = "the directory holds no data files";
    return found;
}

static int
kv_open(kv_args *a, cask **c)
{
    const char *why;

    if (!a->create && !kv_store_exists(a->dir, &why)) {
        fprintf(stderr, "casklab %s: no store at %s (%s; `casklab put` "
                        "creates one)\n", a->cmd, a->dir, why);
        return -1;
    }
    int rc = cask_open(a->dir, &a->opt, c);

    if (rc != 0) {
        fprintf(stderr, "casklab %s: %s: %s\n", a->cmd, cask_strerror(rc),
                cask_errdetail());
        return -1;
    }
    cask_thread_register(*c);
    return 0;
}

/* Closes and maps an operation's code to the exit status. */
static int
kv_finish(kv_args *a, cask *c, int rc)
{
    if (rc != 0 && rc != CASK_ENOTFOUND)
        fprintf(stderr, "casklab %s: %s: %s\n", a->cmd, cask_strerror(rc),
                cask_errdetail());
    cask_thread_unregister(c);
    int crc = cask_close(c);
    if (crc != 0) {
        fprintf(stderr, "casklab %s: close: %s: %s\n", a->cmd,
                cask_strerror(crc), cask_errdetail());
        return KV_EXIT_STORE;
    }
    if (rc == CASK_ENOTFOUND) {
        fprintf(stderr, "casklab %s: key not found\n", a->cmd);
        return KV_EXIT_NOTFOUND;
    }
    return rc == 0 ? CLI_EXIT_OK : KV_EXIT_STORE;
}

static int
put_run(int argc, char **argv)
{
    kv_args a;
    cask *c;

    if (kv_parse(argc, argv, &a, 2) != 0)
        return CLI_EXIT_USAGE;
    a.create = 1;
    if (kv_open(&a, &c) != 0)
        return KV_EXIT_STORE;
    if (!srv_caskstore_served(a.dir))
        return kv_finish(&a, c, cask_put_ttl(c, a.args[0], strlen(a.args[0]),
                                             a.args[1], strlen(a.args[1]),
                                             a.ttl_ms));
    /* a store `casklab serve` wrote: framed as the server frames it */
    size_t n;
    int64_t at = a.ttl_ms ? srv_now_ms() + (int64_t)a.ttl_ms : 0;
    void *raw = srv_caskstore_encode(a.args[1], strlen(a.args[1]), at, &n);
    int rc = raw == NULL ? CASK_ENOMEM
                         : cask_put_ttl(c, a.args[0], strlen(a.args[0]), raw,
                                        n, a.ttl_ms);
    free(raw);
    return kv_finish(&a, c, rc);
}

static void
put_usage(void)
{
    kv_usage_common("put", "KEY VALUE [--ttl MS]",
                    "Stores VALUE under KEY (durably when --sync always).",
                    "  --ttl MS       the key disappears after MS milliseconds\n");
}

static int
get_run(int argc, char **argv)
{
    kv_args a;
    cask *c;
    void *v = NULL;
    size_t n = 0;

    if (kv_parse(argc, argv, &a, 1) != 0)
        return CLI_EXIT_USAGE;
    a.opt.read_only = 1; /* writes nothing: works on a full disk */
    if (kv_open(&a, &c) != 0)
        return KV_EXIT_STORE;
    int rc = cask_get(c, a.args[0], strlen(a.args[0]), &v, &n);
    const void *out = v;
    if (rc == 0 && srv_caskstore_served(a.dir)) {
        /* a store `casklab serve` wrote: its expiry header comes off */
        int live = srv_caskstore_decode(v, n, srv_now_ms(), &out, &n);
        if (live < 0) {
            fprintf(stderr, "casklab get: %s: the value is shorter than the "
                    "expiry header of a store written by casklab serve "
                    "(%s/%s)\n", a.args[0], a.dir, SRV_SERVED_MARK);
            free(v);
            (void)kv_finish(&a, c, 0); /* closes; the error is said */
            return KV_EXIT_STORE;
        } else if (live == 0) {
            rc = CASK_ENOTFOUND; /* expired, as the server would say */
        }
    }
    if (rc == 0) {
        fwrite(out, 1, n, stdout);
        putchar('\n');
    }
    free(v);
    return kv_finish(&a, c, rc);
}

static void
get_usage(void)
{
    kv_usage_common("get", "KEY", "Prints KEY's value and a newline. In a "
                    "store written by casklab serve\n(it holds a file named "
                    SRV_SERVED_MARK "), the value as the server returns it: "
                    "put frames values\nthe same way there.", "");
}

static int
del_run(int argc, char **argv)
{
    kv_args a;
    cask *c;

    if (kv_parse(argc, argv, &a, 1) != 0)
        return CLI_EXIT_USAGE;
    if (kv_open(&a, &c) != 0)
        return KV_EXIT_STORE;
    return kv_finish(&a, c, cask_del(c, a.args[0], strlen(a.args[0])));
}

static void
del_usage(void)
{
    kv_usage_common("del", "KEY", "Deletes KEY (writes a tombstone).", "");
}

static void
stats_print(const cask_info *st, int read_only)
{
    if (st->beside_writer)
        printf("opened beside a running writer: a snapshot as of this "
               "open\n");
    printf("keydir            %s\n", st->keydir);
    printf("keys              %llu\n", (unsigned long long)st->keys);
    printf("keydir bytes/key  %.1f (%llu bytes)\n", st->keydir_bytes_per_key,
           (unsigned long long)st->keydir_bytes);
    if (st->keydir_presized)
        printf("keydir sized for  %llu keys at open (hint files' counts)\n",
               (unsigned long long)st->keydir_presized);
    printf("files             %llu\n", (unsigned long long)st->files);
    printf("bytes             %llu (live %llu, reclaimable %llu)\n",
           (unsigned long long)st->total_bytes,
           (unsigned long long)st->live_bytes,
           (unsigned long long)st->reclaimable_bytes);
    printf("preallocated      %llu (allocated past the active file's "
           "tail)\n", (unsigned long long)st->reserved_bytes);
    printf("open descriptors  %llu\n", (unsigned long long)st->open_fds);
    printf("open time         %.3f ms (%llu hint files, %llu files scanned, "
           "%llu loading thread%s, %llu torn bytes %s)\n",
           (double)st->open_ns / 1e6, (unsigned long long)st->hints_loaded,
           (unsigned long long)st->files_scanned,
           (unsigned long long)st->recover_threads,
           st->recover_threads == 1 ? "" : "s",
           (unsigned long long)st->torn_bytes,
           read_only ? "ignored (a read-only open)" : "truncated");
    printf("merges            %llu (%.3f ms total; %llu automatic checks, "
           "%llu failed)\n", (unsigned long long)st->merges,
           (double)st->merge_ns_total / 1e6,
           (unsigned long long)st->auto_merge_runs,
           (unsigned long long)st->merge_errors);
    printf("hints at rotation %llu\n", (unsigned long long)st->hints_written);
    printf("%-12s %12s %12s %5s\n", "file", "bytes", "live", "hint");
    for (size_t i = 0; i < st->nfile; i++)
        printf("%010u.data %12llu %12llu %5s\n", st->file[i].id,
               (unsigned long long)st->file[i].bytes,
               (unsigned long long)st->file[i].live_bytes,
               st->file[i].has_hint ? "yes" : "no");
}

static int
stats_run(int argc, char **argv)
{
    kv_args a;
    cask *c;
    cask_info st;

    if (kv_parse(argc, argv, &a, 0) != 0)
        return CLI_EXIT_USAGE;
    a.opt.read_only = !a.opt.auto_merge; /* a merge thread writes */
    if (kv_open(&a, &c) != 0)
        return KV_EXIT_STORE;
    int rc = cask_stats(c, &st);
    if (rc == 0)
        stats_print(&st, a.opt.read_only);
    cask_info_free(&st);
    return kv_finish(&a, c, rc);
}

static void
stats_usage(void)
{
    kv_usage_common("stats", "", "Opens the store (recovering it) and prints "
                    "keys, bytes per file, reclaimable\nspace, keydir memory "
                    "and open time.", "");
}

static int
merge_run(int argc, char **argv)
{
    kv_args a;
    cask *c;

    if (kv_parse(argc, argv, &a, 0) != 0)
        return CLI_EXIT_USAGE;
    if (kv_open(&a, &c) != 0)
        return KV_EXIT_STORE;
    int rc = cask_merge(c, a.all ? CASK_MERGE_ALL : CASK_MERGE_AUTO);
    if (rc >= 0) {
        printf("merged %d file%s\n", rc, rc == 1 ? "" : "s");
        rc = 0;
    }
    return kv_finish(&a, c, rc);
}

static void
merge_usage(void)
{
    kv_usage_common("merge", "[--all]", "Merges immutable data files: by "
                    "default those the policy picks (Basho\nfragmentation "
                    "and dead-bytes triggers, size tiers); with --all, every "
                    "one.", "  --all          merge every immutable file\n");
}

static void
verify_report(void *arg, uint32_t file_id, uint64_t off, const char *why)
{
    printf("%s/%010u.data offset %llu: %s\n", (const char *)arg, file_id,
           (unsigned long long)off, why);
}

static int
verify_run(int argc, char **argv)
{
    kv_args a;
    cask *c;

    if (kv_parse(argc, argv, &a, 0) != 0)
        return CLI_EXIT_USAGE;
    a.opt.read_only = !a.opt.auto_merge;
    if (kv_open(&a, &c) != 0)
        return KV_EXIT_STORE;
    int n = cask_verify(c, verify_report, (void *)a.dir);
    if (n >= 0)
        printf("%d damaged record%s\n", n, n == 1 ? "" : "s");
    int rc = kv_finish(&a, c, n < 0 ? n : 0);
    return rc == CLI_EXIT_OK && n > 0 ? KV_EXIT_NOTFOUND : rc;
}

static void
verify_usage(void)
{
    kv_usage_common("verify", "", "Reads every record of every data file "
                    "and prints each one failing its\nchecksum, by file and "
                    "offset (open trusts hint files and does not read\nthe "
                    "records under them). Exit 1 when any is damaged.", "");
}

const cli_cmd cli_cmd_verify = {"verify", "check every record's checksum "
                                "in a store", verify_run, verify_usage};
const cli_cmd cli_cmd_put = {"put", "store a value in a store directory",
                             put_run, put_usage};
const cli_cmd cli_cmd_get = {"get", "print a key's value from a store",
                             get_run, get_usage};
const cli_cmd cli_cmd_del = {"del", "delete a key from a store", del_run,
                             del_usage};
const cli_cmd cli_cmd_stats = {"stats", "print a store's statistics",
                               stats_run, stats_usage};
const cli_cmd cli_cmd_merge = {"merge", "merge a store's data files",
                               merge_run, merge_usage};
