/*
 * tests/test_bench.c - the instrument of `casklab bench`, checked.
 *
 * Suites, one ctest process each (argv[1]): hist (percentiles against known
 * data, bucket bounds, merge), report (CSV escaping and parse-back, the
 * metadata fields, JSON well-formedness through a small validator of our
 * own, malformed input), targets (each keydir and peer adapter: put, get,
 * read-modify-write, del, sync, in a temporary directory) and runner (a
 * tiny load and workload run, exact operation counts, no errors).
 */
#define _GNU_SOURCE /* fallocate (test_dir_usage) */
#include "bench/goals.h"
#include "bench/hist.h"
#include "bench/report.h"
#include "bench/runner.h"
#include "bench/target.h"
#include "tests/cutest.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- hist ---------------------------------------------------------------------- */

static void
test_hist_exact_small_values(void)
{
    static bench_hist h;

    bench_hist_reset(&h);
    for (uint64_t v = 1; v <= 100; v++)
        bench_hist_record(&h, v);
    CU_ASSERT_EQUAL(h.count, 100);
    CU_ASSERT_EQUAL(bench_hist_percentile(&h, 0), 1);
    CU_ASSERT_EQUAL(bench_hist_percentile(&h, 50), 50);
    CU_ASSERT_EQUAL(bench_hist_percentile(&h, 99), 99);
    CU_ASSERT_EQUAL(bench_hist_percentile(&h, 99.9), 100);
    CU_ASSERT_EQUAL(bench_hist_percentile(&h, 100), 100);
    CU_ASSERT_DOUBLE_EQUAL(bench_hist_mean(&h), 50.5, 1e-9);
}

/* Values 1000, 2000, .. 1000000: each percentile within 1/64 above. */
static void
test_hist_percentiles_bounded_error(void)
{
    static bench_hist h;
    const double ps[] = {10, 50, 90, 99, 99.9};

    bench_hist_reset(&h);
    for (uint64_t i = 1; i <= 1000; i++)
        bench_hist_record(&h, i * 1000);
    for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
        double want = ps[k] * 10 * 1000; /* the exact value at ps[k] */
        double got = (double)bench_hist_percentile(&h, ps[k]);
        CU_ASSERT(got >= want);
        CU_ASSERT(got <= want * (1.0 + 1.0 / BENCH_HIST_SUB));
    }
    CU_ASSERT_EQUAL(bench_hist_percentile(&h, 100), 1000000);
    CU_ASSERT_EQUAL(bench_hist_percentile(&h, 0), 1000);
}

static void
test_hist_buckets_cover_values(void)
{
    uint64_t rng = 5, lo, hi, prev = 0;

    for (int i = 0; i < 100000; i++) {
        uint64_t v = wl_rand(&rng) >> (wl_rand(&rng) % 64);
        unsigned idx = bench_hist_index(v);
        CU_ASSERT_FATAL(idx < BENCH_HIST_BUCKETS);
        bench_hist_bucket_range(idx, &lo, &hi);
        CU_ASSERT(lo <= v && v <= hi);
        CU_ASSERT(hi - lo <= (v >> BENCH_HIST_SUB_BITS));
    }
    CU_ASSERT_EQUAL(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
    bench_hist_bucket_range(BENCH_HIST_BUCKETS - 1, &lo, &hi);
    CU_ASSERT_EQUAL(hi, UINT64_MAX);
    for (unsigned i = 1; i < BENCH_HIST_BUCKETS; i++) {
        bench_hist_bucket_range(i, &lo, &hi);
        CU_ASSERT(lo == prev + 1); /* contiguous, no gaps or overlaps */
        prev = hi;
    }
}

static void
test_hist_merge_equals_single(void)
{
    static bench_hist a, b, all;
    uint64_t rng = 9;

    bench_hist_reset(&a);
    bench_hist_reset(&b);
    bench_hist_reset(&all);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = wl_rand(&rng) % 1000000;
        bench_hist_record(i % 3 ? &a : &b, v);
        bench_hist_record(&all, v);
    }
    bench_hist_merge(&a, &b);
    CU_ASSERT_EQUAL(a.count, all.count);
    CU_ASSERT_EQUAL(a.min, all.min);
    CU_ASSERT_EQUAL(a.max, all.max);
    CU_ASSERT_EQUAL(memcmp(a.buckets, all.buckets, sizeof(a.buckets)), 0);
    CU_ASSERT_EQUAL(bench_hist_percentile(&a, 99.9),
                    bench_hist_percentile(&all, 99.9));
}

static void
test_hist_empty_and_merge_into_empty(void)
{
    static bench_hist e, x;

    bench_hist_reset(&e);
    bench_hist_reset(&x);
    CU_ASSERT_EQUAL(bench_hist_percentile(&e, 50), 0);
    CU_ASSERT_EQUAL(bench_hist_mean(&e), 0);
    bench_hist_record(&x, 7);
    bench_hist_merge(&e, &x);
    CU_ASSERT_EQUAL(e.min, 7);
    CU_ASSERT_EQUAL(bench_hist_percentile(&e, 50), 7);
}

/* ---- report -------------------------------------------------------------------- */

static const char *const tricky[] = {
    "plain", "with,comma", "with \"quotes\"", "two\nlines", "",
    "back\\slash\ttab", "\"", ",,",
};
#define NTRICKY (sizeof(tricky) / sizeof(tricky[0]))

static void
test_csv_fields_round_trip(void)
{
    FILE *f = tmpfile();
    char buf[1024], *cells[16];

    CU_ASSERT_FATAL(f != NULL);
    for (size_t i = 0; i < NTRICKY; i++) {
        if (i)
            fputc(',', f);
        bench_csv_field(f, tricky[i]);
    }
    fputs("\nnext,row\n", f);
    rewind(f);
    CU_ASSERT_EQUAL_FATAL(bench_csv_read_record(f, buf, sizeof(buf), cells,
                                                16), (int)NTRICKY);
    for (size_t i = 0; i < NTRICKY; i++)
        CU_ASSERT_STRING_EQUAL(cells[i], tricky[i]);
    CU_ASSERT_EQUAL(bench_csv_read_record(f, buf, sizeof(buf), cells, 16), 2);
    CU_ASSERT_STRING_EQUAL(cells[1], "row");
    CU_ASSERT_EQUAL(bench_csv_read_record(f, buf, sizeof(buf), cells, 16), 0);
    fclose(f);
}

static void
test_csv_malformed_records(void)
{
    const char *bad[] = {"\"never closed,1\n", "a,b,c,d,e\n"};
    char buf[64], *cells[4];

    for (size_t i = 0; i < 2; i++) {
        FILE *f = tmpfile();
        CU_ASSERT_FATAL(f != NULL);
        fputs(bad[i], f);
        rewind(f);
        CU_ASSERT_EQUAL(bench_csv_read_record(f, buf, sizeof(buf), cells, 4),
                        -1);
        fclose(f);
    }
}

static void
test_fill_rows(bench_row *r, size_t n)
{
    memset(r, 0, n * sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        snprintf(r[i].target, sizeof(r[i].target), "%s",
                 i == 1 ? "odd,\"name\"" : "kd:striped");
        snprintf(r[i].kind, sizeof(r[i].kind), "keydir");
        snprintf(r[i].workload, sizeof(r[i].workload), "a");
        snprintf(r[i].mem_source, sizeof(r[i].mem_source), "self");
        r[i].dist = WL_ZIPFIAN;
        r[i].theta = 0.99;
        r[i].keys = 1000 + i;
        r[i].key_size = 16;
        r[i].value_size = 100;
        r[i].threads = (unsigned)i + 1;
        r[i].cores = 2;
        r[i].reps = 3;
        r[i].ops_med = 12345.5;
        r[i].lat_ns[2] = 99000 + i;
        r[i].disk_bytes = -1;
        r[i].disk_alloc_bytes = 5000 + (int64_t)i;
        r[i].mem_per_key = 64.25;
    }
}

static const char *const meta_fields[] = {
    "commit", "compiler", "cflags", "cpu", "cores", "kernel", "date",
    "command",
};

static void
test_results_csv_round_trip(void)
{
    char *argv[] = {"casklab", "bench", "--targets", "a b,\"c\""};
    static bench_meta m, back;
    bench_row rows[3], *got;
    size_t n;
    char err[128];
    FILE *f = tmpfile();

    CU_ASSERT_FATAL(f != NULL);
    bench_meta_collect(&m, 4, argv);
    bench_meta_set(&m, "target.kd:striped", "line one\nline two");
    for (size_t i = 0; i < sizeof(meta_fields) / sizeof(meta_fields[0]); i++)
        CU_ASSERT_PTR_NOT_NULL(bench_meta_get(&m, meta_fields[i]));
    test_fill_rows(rows, 3);
    CU_ASSERT_EQUAL_FATAL(bench_csv_write(f, &m, rows, 3), 0);
    rewind(f);
    CU_ASSERT_EQUAL_FATAL(bench_results_read(f, &back, &got, &n, err,
                                             sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_STRING_EQUAL(got[i].target, rows[i].target);
        CU_ASSERT_EQUAL(got[i].dist, WL_ZIPFIAN);
        CU_ASSERT_EQUAL(got[i].threads, rows[i].threads);
        CU_ASSERT_EQUAL(got[i].lat_ns[2], rows[i].lat_ns[2]);
        CU_ASSERT_EQUAL(got[i].disk_bytes, -1);
        CU_ASSERT_EQUAL(got[i].disk_alloc_bytes, 5000 + (int64_t)i);
        CU_ASSERT_DOUBLE_EQUAL(got[i].ops_med, 12345.5, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(got[i].mem_per_key, 64.25, 1e-6);
    }
    CU_ASSERT_STRING_EQUAL(bench_meta_get(&back, "command"),
                           bench_meta_get(&m, "command"));
    CU_ASSERT_STRING_EQUAL(bench_meta_get(&back, "target.kd:striped"),
                           "line one line two");
    free(got);
    fclose(f);
}

static void
test_results_reject_bad_rows(void)
{
    static bench_meta m;
    bench_row *rows;
    size_t n;
    char err[128] = "";
    FILE *f = tmpfile();

    CU_ASSERT_FATAL(f != NULL);
    fputs("# date: x\ntarget,threads\nkd:global,2\nkd:global,two\n", f);
    rewind(f);
    CU_ASSERT_EQUAL(bench_results_read(f, &m, &rows, &n, err, sizeof(err)),
                    -1);
    CU_ASSERT_PTR_NULL(rows);
    CU_ASSERT(strstr(err, "line 4") != NULL);
    fclose(f);
}

/* A small JSON validator: returns the position after one value, or NULL. */
static const char *json_value(const char *p, int depth);

static const char *
json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *
json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (; *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i]))
                        return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p) || *p == '\0') {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *
json_number(const char *p)
{
    const char *s = p;

    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p) || strchr(".eE+-", *p))
        p++;
    return p > s ? p : NULL;
}

/* Members of an object ('{', ':' pairs) or elements of an array. */
static const char *
json_items(const char *p, char close, int object, int depth)
{
    p = json_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (object) {
            if ((p = json_string(json_ws(p))) == NULL)
                return NULL;
            p = json_ws(p);
            if (*p++ != ':')
                return NULL;
        }
        if ((p = json_value(p, depth + 1)) == NULL)
            return NULL;
        p = json_ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *
json_value(const char *p, int depth)
{
    p = json_ws(p);
    if (depth > 32)
        return NULL;
    if (*p == '{')
        return json_items(p, '}', 1, depth);
    if (*p == '[')
        return json_items(p, ']', 0, depth);
    if (*p == '"')
        return json_string(p);
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    return json_number(p);
}

static int
json_valid(const char *s)
{
    const char *end = json_value(s, 0);

    return end != NULL && *json_ws(end) == '\0';
}

static void
test_json_validator_itself(void)
{
    CU_ASSERT(json_valid("{\"a\": [1, -2.5e3, \"x\\n\", {}], \"b\": null}"));
    CU_ASSERT(!json_valid("{\"a\": [1, 2,]}"));
    CU_ASSERT(!json_valid("{\"a\" 1}"));
    CU_ASSERT(!json_valid("\"raw\nnewline\""));
    CU_ASSERT(!json_valid("{} trailing"));
}

static char *
slurp(FILE *f)
{
    long len;
    char *s;

    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    s = calloc(1, (size_t)len + 1);
    if (s != NULL && fread(s, 1, (size_t)len, f) != (size_t)len) {
        free(s);
        return NULL;
    }
    return s;
}

static void
test_json_well_formed_with_metadata(void)
{
    static bench_meta m;
    char *argv[] = {"casklab", "bench", "--out", "x\\y\"z\x01"};
    bench_row rows[2];
    FILE *f = tmpfile();
    char *s;

    CU_ASSERT_FATAL(f != NULL);
    bench_meta_collect(&m, 4, argv);
    for (size_t i = 0; i < NTRICKY; i++) {
        char key[32];
        snprintf(key, sizeof(key), "tricky%zu", i);
        bench_meta_set(&m, key, tricky[i]);
    }
    test_fill_rows(rows, 2);
    CU_ASSERT_EQUAL_FATAL(bench_json_write(f, &m, rows, 2), 0);
    s = slurp(f);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(json_valid(s));
    for (size_t i = 0; i < sizeof(meta_fields) / sizeof(meta_fields[0]); i++) {
        char quoted[32];
        snprintf(quoted, sizeof(quoted), "\"%s\":", meta_fields[i]);
        CU_ASSERT(strstr(s, quoted) != NULL);
    }
    CU_ASSERT(strstr(s, "\"lat_p999_ns\":") != NULL);
    CU_ASSERT(strstr(s, "\"odd,\\\"name\\\"\"") != NULL);
    /* Empty result sets are valid JSON too. */
    rewind(f);
    CU_ASSERT_EQUAL(ftruncate(fileno(f), 0), 0);
    CU_ASSERT_EQUAL(bench_json_write(f, &m, rows, 0), 0);
    free(s);
    s = slurp(f);
    CU_ASSERT(s != NULL && json_valid(s));
    free(s);
    fclose(f);
}

/* ---- goals --------------------------------------------------------------------- */

static void
goal_row(bench_row *r, const char *target, const char *w, wl_dist d,
         unsigned threads, double ops)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->target, sizeof(r->target), "%s", target);
    snprintf(r->workload, sizeof(r->workload), "%s", w);
    r->dist = d;
    r->threads = threads;
    r->ops_med = ops;
    r->syncs_per_s = 123;
}

static size_t
count_lines(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Ratios against each goal's factor: exactly at the factor is met, just
   under is not, a missing peer row is "no data" and counts as not met. */
static void
test_goals_verdicts(void)
{
    bench_row rows[8];
    size_t n = 0;
    FILE *f = tmpfile();
    char *text;

    CU_ASSERT_FATAL(f != NULL);
    goal_row(&rows[n++], "cask:x", "c", WL_UNIFORM, 2, 400);
    goal_row(&rows[n++], "kyoto", "c", WL_UNIFORM, 2, 100);   /* 4x >= 1 */
    goal_row(&rows[n++], "lmdb", "c", WL_UNIFORM, 2, 400);    /* 1x < 1.5 */
    goal_row(&rows[n++], "rocksdb", "c", WL_UNIFORM, 2, 100); /* 4x = 4 */
    goal_row(&rows[n++], "rocksdb", "c", WL_ZIPFIAN, 2, 1);   /* other dist */
    goal_row(&rows[n++], "cask:x", "durable", WL_UNIFORM, 16, 300);
    goal_row(&rows[n++], "rocksdb", "durable", WL_UNIFORM, 16, 101);
    CU_ASSERT_PTR_EQUAL(bench_goal_row(rows, n, "rocksdb", "c", WL_UNIFORM,
                                       2), &rows[3]);
    CU_ASSERT_PTR_NULL(bench_goal_row(rows, n, "rocksdb", "c", WL_UNIFORM,
                                      16));
    /* met: c/kyoto, c/rocksdb; not: c/lmdb, durable (2.97x < 3), and the
       five goals without rows */
    CU_ASSERT_EQUAL(bench_goals_print(f, "cask:x", rows, n),
                    (int)bench_ngoals - 2);
    text = slurp(f);
    CU_ASSERT_FATAL(text != NULL);
    CU_ASSERT_EQUAL(count_lines(text, "  met"), 2);
    CU_ASSERT_EQUAL(count_lines(text, "NOT met"), 2);
    CU_ASSERT_EQUAL(count_lines(text, "no data"), bench_ngoals - 4);
    CU_ASSERT(strstr(text, "fdatasyncs/s: engine 123, rocksdb 123") != NULL);
    /* writes per fdatasync: 300 / 123 and 101 / 123 */
    CU_ASSERT(strstr(text, "writes per fdatasync: engine 2.4, rocksdb 0.8") !=
              NULL);
    /* 16 writers give at most 16 writes per fdatasync: 3 * 101 / 16 */
    CU_ASSERT(strstr(text, "3.0x needs 19 fdatasyncs/s even at 16 writes "
                           "each") != NULL);
    CU_ASSERT(strstr(text, "2 of 9 goals met") != NULL);
    free(text);
    fclose(f);
}

/* ---- targets ------------------------------------------------------------------- */

static void
make_tmpdir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/casklab-bench-test-XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
}

/* put/get/rmw/del/sync through one target; keydirs store no value bytes. */
static void
check_target(const char *name)
{
    bench_target_opts o = {.keys_hint = 200, .key_size = 16,
                           .value_size = 40, .threads = 1,
                           .cache_bytes = 8u << 20};
    char dir[64], sub[128], key[16], val[40], buf[64];
    bench_target *t;
    bench_thread th;
    const char *kind;
    size_t vlen;

    make_tmpdir(dir, sizeof(dir));
    snprintf(sub, sizeof(sub), "%s/store", dir);
    CU_ASSERT_FATAL(bench_target_exists(name, &kind));
    CU_ASSERT_EQUAL_FATAL(bench_target_open(name, sub, &o, &t), BENCH_OK);
    int keydir = strcmp(kind, "keydir") == 0;
    CU_ASSERT(strlen(bench_target_describe(t)) > 10);
    CU_ASSERT_EQUAL_FATAL(bench_thread_enter(t, 0, &th), BENCH_OK);
    for (uint64_t i = 0; i < 200; i++) {
        bench_make_key(i, key, sizeof(key));
        memset(val, (int)('A' + i % 26), sizeof(val));
        CU_ASSERT_EQUAL(bench_put(&th, key, sizeof(key), val, sizeof(val),
                                  i == 7 ? BENCH_PUT_SYNC : 0), BENCH_OK);
    }
    for (uint64_t i = 0; i < 200; i++) {
        bench_make_key(i, key, sizeof(key));
        CU_ASSERT_EQUAL(bench_get(&th, key, sizeof(key), buf, sizeof(buf),
                                  &vlen), BENCH_OK);
        CU_ASSERT_EQUAL(vlen, sizeof(val));
        CU_ASSERT(keydir || buf[39] == (char)('A' + i % 26));
    }
    bench_make_key(3, key, sizeof(key));
    CU_ASSERT_EQUAL(bench_rmw(&th, key, sizeof(key), buf, sizeof(buf),
                              sizeof(val)), BENCH_OK);
    CU_ASSERT_EQUAL(bench_get(&th, key, sizeof(key), buf, sizeof(buf), &vlen),
                    BENCH_OK);
    CU_ASSERT(keydir || buf[0] == 'D' + 1); /* 'A' + 3, incremented */
    CU_ASSERT_EQUAL(bench_del(&th, key, sizeof(key)), BENCH_OK);
    CU_ASSERT_EQUAL(bench_get(&th, key, sizeof(key), buf, sizeof(buf), &vlen),
                    BENCH_ENOTFOUND);
    CU_ASSERT_EQUAL(bench_rmw(&th, key, sizeof(key), buf, sizeof(buf),
                              sizeof(val)), BENCH_ENOTFOUND);
    CU_ASSERT_EQUAL(bench_sync(t), BENCH_OK);
    /* keydirs and the engine report their own bytes; peers may not */
    CU_ASSERT(!(keydir || strcmp(kind, "engine") == 0) ||
              bench_target_memory(t) > 0);
    bench_disk d;
    CU_ASSERT_EQUAL(bench_dir_usage(sub, &d), 0);
    CU_ASSERT(d.data >= 0 && d.data <= d.alloc);
    /* the engine's active file is preallocated: part of its bytes */
    int64_t reserved = bench_target_reserved(t);
    CU_ASSERT(strcmp(kind, "engine") == 0 ? reserved > 0 && reserved <= d.data
                                         : reserved == 0);
    bench_thread_leave(&th);
    bench_target_close(t);
    CU_ASSERT_EQUAL(bench_rmtree(dir), 0);
    CU_ASSERT_EQUAL(access(dir, F_OK), -1);
}

static void
test_every_target_round_trip(void)
{
    const char *name;
    size_t n = 0, peers = 0, keydirs = 0, engines = 0;

    for (size_t i = 0; (name = bench_target_name(i)) != NULL; i++) {
        char copy[80];
        const char *kind;
        snprintf(copy, sizeof(copy), "%s", name);
        printf("\n  target %s", copy);
        check_target(copy);
        bench_target_exists(copy, &kind);
        peers += strcmp(kind, "peer") == 0;
        keydirs += strcmp(kind, "keydir") == 0;
        engines += strcmp(kind, "engine") == 0;
        CU_ASSERT(strcmp(kind, "engine") != 0 || strncmp(copy, "cask:", 5) == 0);
        n++;
    }
    printf("\n");
    CU_ASSERT(keydirs >= 3); /* the three mutex keydirs at least */
    CU_ASSERT_EQUAL(engines, keydirs); /* the engine over each keydir */
    CU_ASSERT_EQUAL(peers, 4);
    CU_ASSERT(!bench_target_exists("cask:racy", NULL)); /* test-only */
}

/* bench/syncount.c sees flushes made anywhere in the process. */
static void
test_flush_counter(void)
{
    FILE *f = tmpfile();
    uint64_t before = bench_flush_count();

    CU_ASSERT_FATAL(f != NULL);
    fputs("x", f);
    fflush(f);
    CU_ASSERT_EQUAL(fsync(fileno(f)), 0);
    CU_ASSERT_EQUAL(fdatasync(fileno(f)), 0);
    CU_ASSERT_EQUAL(bench_flush_count(), before + 2);
    CU_ASSERT_EQUAL(fdatasync(-1), -1); /* the real call still runs */
    fclose(f);
}

/* Writes n bytes of 'x' to path at offset 0; with keep > 0, also reserves
 * keep bytes past them without changing the size (as RocksDB's logs). */
static void
write_file(const char *path, size_t n, off_t keep)
{
    char buf[8192];
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

    CU_ASSERT_FATAL(fd >= 0 && n <= sizeof(buf));
    memset(buf, 'x', n);
    CU_ASSERT_EQUAL(write(fd, buf, n), (ssize_t)n);
    if (keep > 0)
        CU_ASSERT_EQUAL(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, keep), 0);
    close(fd);
}

/* bench_dir_usage: allocated blocks against data, reserved space past a
 * file's end left out of data, sparse files counting what they hold. */
static void
test_dir_usage(void)
{
    char dir[64], path[128];
    bench_disk d;

    make_tmpdir(dir, sizeof(dir));
    CU_ASSERT_EQUAL(bench_dir_usage(dir, &d), 0);
    CU_ASSERT_EQUAL(d.data, 0);
    snprintf(path, sizeof(path), "%s/small", dir);
    write_file(path, 10, 0);
    snprintf(path, sizeof(path), "%s/kept", dir);
    write_file(path, 5000, 1 << 20);
    snprintf(path, sizeof(path), "%s/sparse", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(ftruncate(fd, 1 << 20), 0);
    close(fd);
    CU_ASSERT_EQUAL(bench_dir_usage(dir, &d), 0);
    /* small: one block; kept: 5000 bytes in two blocks, 1 MiB reserved;
     * sparse: nothing allocated */
    CU_ASSERT_EQUAL(d.data, 3 * 4096);
    CU_ASSERT(d.alloc >= (1 << 20) + 4096);
    snprintf(path, sizeof(path), "%s/missing", dir);
    CU_ASSERT_EQUAL(bench_dir_usage(path, &d), -1);
    CU_ASSERT_EQUAL(bench_rmtree(dir), 0);
}

static void
test_unknown_targets(void)
{
    bench_target *t;

    CU_ASSERT(!bench_target_exists("kd:nope", NULL));
    CU_ASSERT(!bench_target_exists("sqlite", NULL));
    CU_ASSERT_EQUAL(bench_target_open("nope", "/tmp", NULL, &t),
                    BENCH_ENOTARGET);
    CU_ASSERT_STRING_EQUAL(bench_strerror(BENCH_ENOTARGET),
                           "no target of that name");
}

/* ---- runner -------------------------------------------------------------------- */

static void
check_runner(const char *target)
{
    char dir[64];
    bench_spec sp = {.target = target, .keys = 2000, .key_size = 16,
                     .value_size = 32, .threads = 2, .theta = 0.99,
                     .reps = 2, .seconds = 0.02, .warmup = 0.01,
                     .cache_bytes = 8u << 20, .seed = 1};
    const char *wls[] = {"c", "a", "f", "d", "durable"};
    bench_session *s;
    bench_row r;

    make_tmpdir(dir, sizeof(dir));
    sp.dir = dir;
    CU_ASSERT_EQUAL_FATAL(bench_session_open(&sp, &s, NULL), BENCH_OK);
    CU_ASSERT_EQUAL(bench_session_load(s, &r), BENCH_OK);
    CU_ASSERT_EQUAL(r.ops, 2 * 2000); /* two reps, each every key once */
    CU_ASSERT_EQUAL(r.errors, 0);
    CU_ASSERT(r.ops_min <= r.ops_med && r.ops_med <= r.ops_max);
    CU_ASSERT(r.lat_ns[0] <= r.lat_ns[2] && r.lat_ns[2] <= r.lat_ns[5]);
    /* The probe's gets of loaded keys all succeed: it returns their time
     * (not 0, its answer when a get fails). */
    CU_ASSERT(bench_session_probe(s) > 0);
    for (size_t i = 0; i < sizeof(wls) / sizeof(wls[0]); i++) {
        CU_ASSERT_EQUAL(bench_session_run(s, wls[i], WL_ZIPFIAN, &r),
                        BENCH_OK);
        CU_ASSERT(r.ops > 0);
        CU_ASSERT_EQUAL(r.errors, 0);
        CU_ASSERT_STRING_EQUAL(r.workload, wls[i]);
        CU_ASSERT_EQUAL(r.dist, i == 3 ? WL_LATEST : WL_ZIPFIAN);
    }
    /* Each durable write flushes (or shares a flush); keydirs never do. */
    if (strncmp(target, "kd:", 3) == 0) {
        CU_ASSERT_EQUAL(r.syncs_per_s, 0);
    } else {
        CU_ASSERT(r.syncs_per_s > 0 && r.syncs_per_s <= r.ops_max * 1.5);
    }
    CU_ASSERT_EQUAL(bench_session_run(s, "g", WL_UNIFORM, &r), BENCH_EINVAL);
    bench_session_close(s);
    CU_ASSERT_EQUAL(rmdir(dir), 0); /* the session removed its store */
}

static void
test_runner_keydir(void)
{
    check_runner("kd:striped");
}

static void
test_runner_peer(void)
{
    check_runner("lmdb");
}

/* The engine's durable writes flush through its group commit. */
static void
test_runner_engine(void)
{
    check_runner("cask:striped");
}

static void
test_runner_rejects_bad_spec(void)
{
    bench_spec sp = {.target = "kd:global", .dir = "/tmp", .keys = 10,
                     .key_size = 4, .value_size = 8, .threads = 1, .reps = 1};
    bench_session *s;

    CU_ASSERT_EQUAL(bench_session_open(&sp, &s, NULL), BENCH_EINVAL);
    sp.key_size = 16;
    sp.reps = 0;
    CU_ASSERT_EQUAL(bench_session_open(&sp, &s, NULL), BENCH_EINVAL);
}

int
main(int argc, char **argv)
{
    static const ct_case hist[] = {
        CT_CASE(test_hist_exact_small_values),
        CT_CASE(test_hist_percentiles_bounded_error),
        CT_CASE(test_hist_buckets_cover_values),
        CT_CASE(test_hist_merge_equals_single),
        CT_CASE(test_hist_empty_and_merge_into_empty),
    };
    static const ct_case report[] = {
        CT_CASE(test_csv_fields_round_trip),
        CT_CASE(test_csv_malformed_records),
        CT_CASE(test_results_csv_round_trip),
        CT_CASE(test_results_reject_bad_rows),
        CT_CASE(test_json_validator_itself),
        CT_CASE(test_json_well_formed_with_metadata),
        CT_CASE(test_goals_verdicts),
    };
    static const ct_case targets[] = {
        CT_CASE(test_every_target_round_trip),
        CT_CASE(test_unknown_targets),
        CT_CASE(test_flush_counter),
        CT_CASE(test_dir_usage),
    };
    static const ct_case runner[] = {
        CT_CASE(test_runner_keydir),
        CT_CASE(test_runner_peer),
        CT_CASE(test_runner_engine),
        CT_CASE(test_runner_rejects_bad_spec),
    };
    const char *which = argc > 1 ? argv[1] : "";

    if (strcmp(which, "hist") == 0)
        return ct_run("bench histogram", hist, CT_NCASES(hist)) != 0;
    if (strcmp(which, "report") == 0)
        return ct_run("bench report", report, CT_NCASES(report)) != 0;
    if (strcmp(which, "targets") == 0)
        return ct_run("bench targets", targets, CT_NCASES(targets)) != 0;
    if (strcmp(which, "runner") == 0)
        return ct_run("bench runner", runner, CT_NCASES(runner)) != 0;
    fprintf(stderr, "usage: test_bench hist|report|targets|runner\n");
    return 2;
}
