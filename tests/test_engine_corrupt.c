/*
 * tests/test_engine_corrupt.c - damaged files at open.
 *
 * A small store is built once; then, for every byte offset of its data
 * file and of a hint file, a copy is damaged (one bit flipped, or the file
 * cut at that offset) and opened. Each case must end in one of two ways:
 * the store opens and every key reads back its true value or (only for
 * records at or after the damage) nothing; or the open fails with
 * CASK_ECORRUPT and a message naming the file and offset. Never a crash,
 * never a wrong value. A damaged hint file must always open, by falling
 * back to a scan, with every value intact.
 */
#include "engine/cask.h"
#include "engine/format.h"
#include "tests/cutest.h"
#include "tests/engine_util.h"

#define NKEYS 6

static const char *keys[NKEYS] = {"a", "bb", "ccc", "dddd", "gone", "last"};
static const char *vals[NKEYS] = {"1", "two", "three!", "", NULL, "final"};
static uint64_t tomb_end; /* offset after the tombstone of "gone" */

/* Builds the store; returns the offset after each key's record in file 1
 * (ends[i]), so a cut at or after ends[i] must keep key i. */
static int hinted; /* the damaged data file has a valid hint file */

static void
build(const char *dir, uint64_t ends[NKEYS], int merged)
{
    cask *c = NULL;
    cask_options o = {0};
    cask_info st;

    CU_ASSERT_FATAL(cask_open(dir, &o, &c) == 0);
    for (int i = 0; i < NKEYS; i++) {
        const char *v = vals[i] ? vals[i] : "doomed";
        CU_ASSERT_FATAL(cask_put(c, keys[i], strlen(keys[i]), v,
                                 strlen(v)) == 0);
        CU_ASSERT_FATAL(cask_stats(c, &st) == 0);
        ends[i] = st.file[0].bytes;
        cask_info_free(&st);
        if (vals[i] == NULL) {
            CU_ASSERT_FATAL(cask_del(c, keys[i], strlen(keys[i])) == 0);
            CU_ASSERT_FATAL(cask_stats(c, &st) == 0);
            tomb_end = st.file[0].bytes;
            cask_info_free(&st);
        }
    }
    CU_ASSERT_FATAL(cask_close(c) == 0);
    if (!merged && !hinted) {
        /* close wrote a hint file; without it, open scans the damage */
        char hint[4400];
        snprintf(hint, sizeof hint, "%s/0000000001.hint", dir);
        CU_ASSERT_FATAL(unlink(hint) == 0);
    }
    if (merged) {
        CU_ASSERT_FATAL(cask_open(dir, &o, &c) == 0);
        CU_ASSERT_FATAL(cask_merge(c, CASK_MERGE_ALL) == 1);
        CU_ASSERT_FATAL(cask_close(c) == 0);
    }
}

/* Opens a damaged copy; returns 1 if it opened, checking every value. */
static int
check_open(const char *dir, uint64_t must_keep_before,
           const uint64_t ends[NKEYS], const char *what)
{
    cask *c = NULL;
    int rc = cask_open(dir, NULL, &c);

    if (rc != 0) {
        CU_ASSERT_EQUAL(rc, CASK_ECORRUPT);
        CU_ASSERT(strstr(cask_errdetail(), ".data") != NULL);
        CU_ASSERT(strstr(cask_errdetail(), "offset") != NULL);
        return 0;
    }
    for (int i = 0; i < NKEYS; i++) {
        void *v = NULL;
        size_t n = 0;
        int g = cask_get(c, keys[i], strlen(keys[i]), &v, &n);
        if (g == 0 && vals[i] == NULL) {
            /* the delete was lost with the damage: the value before it */
            CU_ASSERT(must_keep_before < tomb_end && n == 6 &&
                      memcmp(v, "doomed", 6) == 0);
        } else if (g == 0) {
            CU_ASSERT(n == strlen(vals[i]) &&
                      (n == 0 || memcmp(v, vals[i], n) == 0));
        } else if (g == CASK_ECORRUPT && hinted) {
            /* loaded from the hint, the damage shows at the read: an
             * error naming the file and offset, never a value */
            CU_ASSERT(strstr(cask_errdetail(), ".data offset") != NULL);
        } else {
            CU_ASSERT_EQUAL(g, CASK_ENOTFOUND);
            /* a record wholly before the damage must survive */
            if (vals[i] != NULL && ends[i] <= must_keep_before) {
                fprintf(stderr, "%s: key %s lost\n", what, keys[i]);
                CU_FAIL("record before the damage lost");
            }
        }
        free(v);
    }
    CU_ASSERT_EQUAL(cask_close(c), 0);
    return 1;
}

static void
damage(const char *src, const char *work, const char *file, size_t off,
       int cut)
{
    char path[4400];
    size_t len = 0;

    eu_rmdir(work);
    CU_ASSERT_FATAL(eu_copydir(src, work) == 0);
    snprintf(path, sizeof path, "%s/%s", work, file);
    unsigned char *buf = eu_slurp(path, &len);
    CU_ASSERT_FATAL(buf != NULL && off < len);
    if (cut)
        len = off;
    else
        buf[off] ^= (unsigned char)(1u << (off % 8));
    CU_ASSERT_FATAL(eu_spit(path, buf, len) == 0);
    free(buf);
}

static size_t
file_len(const char *dir, const char *file)
{
    char path[4400];
    size_t len = 0;

    snprintf(path, sizeof path, "%s/%s", dir, file);
    free(eu_slurp(path, &len));
    return len;
}

static void
test_data_file_damage(void)
{
    char *src = eu_tmpdir("corrupt-src"), *work = eu_tmpdir("corrupt");
    uint64_t ends[NKEYS];
    const char *file = "0000000001.data";
    int opened = 0, refused = 0;

    build(src, ends, 0);
    size_t len = file_len(src, file);
    CU_ASSERT_FATAL(len > CASK_FILE_HDR);
    for (size_t off = 0; off < len; off++) {
        char what[64];
        snprintf(what, sizeof what, "cut at %zu", off);
        damage(src, work, file, off, 1);
        opened += check_open(work, off, ends, what);
        snprintf(what, sizeof what, "flip at %zu", off);
        damage(src, work, file, off, 0);
        /* after a flip, only records wholly before it must survive */
        int ok = check_open(work, off, ends, what);
        opened += ok;
        refused += !ok;
    }
    /* both outcomes happen: cuts recover, mid-file flips are refused */
    CU_ASSERT(opened > 0 && refused > 0);
    eu_rmdir(work);
    eu_rmdir(src);
    free(work);
    free(src);
}

/* The data file damaged under a valid hint file: open trusts the hint,
 * reads check every record's CRC. */
static void
test_hinted_data_damage(void)
{
    char *src = eu_tmpdir("hinted-src"), *work = eu_tmpdir("hinted");
    uint64_t ends[NKEYS];
    const char *file = "0000000001.data";

    hinted = 1;
    build(src, ends, 0);
    size_t len = file_len(src, file);
    for (size_t off = CASK_FILE_HDR; off < len; off++) {
        damage(src, work, file, off, 0);
        check_open(work, off, ends, "hinted flip");
    }
    hinted = 0;
    eu_rmdir(work);
    eu_rmdir(src);
    free(work);
    free(src);
}

static void
test_hint_file_damage(void)
{
    char *src = eu_tmpdir("hint-src"), *work = eu_tmpdir("hint");
    uint64_t ends[NKEYS];
    const char *file = "0000000003.hint";

    build(src, ends, 1);
    size_t len = file_len(src, file);
    CU_ASSERT_FATAL(len > CASK_HINT_TRAILER);
    for (size_t off = 0; off < len; off++) {
        for (int cut = 0; cut < 2; cut++) {
            damage(src, work, file, off, cut);
            /* the data file is intact: everything must come back */
            CU_ASSERT_EQUAL(check_open(work, UINT64_MAX, ends, "hint"), 1);
        }
    }
    eu_rmdir(work);
    eu_rmdir(src);
    free(work);
    free(src);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_data_file_damage),
        CT_CASE(test_hint_file_damage),
        CT_CASE(test_hinted_data_damage),
    };
    return ct_run("engine.corrupt", cases, CT_NCASES(cases)) ? 1 : 0;
}
