/*
 * stress/target_cask.c - stress targets for the engine: "cask:" drives
 * engine/cask.h over any keydir; "cask-racy:" and "cask-lossy:" (test
 * only) are the same engine deliberately broken, which the checker must
 * catch.
 *
 * Spec: KEYDIR[,sync=none|always|interval:MS][,file=BYTES]
 * [,merge=all|auto][,dir=PATH]. Without dir= the store lives in a fresh
 * directory under $TMPDIR (or /tmp), removed at close; with dir= the
 * directory is used as is and kept (a reopen there recovers what an
 * earlier run left, so give an empty one). Data files rotate past `file`
 * bytes (default 4096, a few dozen records), so short runs still rotate
 * and give merges something to do.
 *
 * A value v is stored as 16 bytes: v and v times an odd constant, both
 * little-endian. A get that returns anything else is recorded as
 * STRESS_TORN, which no thread writes. cas compares whole values, which
 * are unique, so the kv model checks it exactly.
 *
 * Broken modes, which exist only to prove that `casklab stress` +
 * `casklab check` catch a broken engine (the engine itself has no such
 * modes):
 * - cask-racy: cas reads the value with cask_get, compares, then writes
 *   with cask_put, with no lock held in between: a write of the key by
 *   another thread can fall into that window and be lost, so two cas of
 *   the same expected value can both succeed.
 * - cask-lossy: a reopen deletes the newest data file (and its hint)
 *   between close and open, as a recovery that lost acknowledged writes
 *   would: reads after the reopen return older values.
 */
#include "stress/stress.h"
#include "stress/stress_internal.h"

#include "engine/cask.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TCASK_VLEN 16
#define TCASK_FILE_DEFAULT 4096u
#define TCASK_MIX 0x9e3779b97f4a7c15ull

typedef struct tcask {
    cask *c;             /* NULL after a failed reopen */
    cask_options o;
    char keydir[64];
    char dir[4096];
    int own_dir;         /* a temporary directory: removed at close */
    int merge_mode;
    int racy;            /* cask-racy: cas as get + put */
    int lossy;           /* cask-lossy: reopen drops the newest data file */
} tcask;

static tcask *
tcask_of(stress_target *t)
{
    return (tcask *)(void *)t;
}

static void
tcask_encode(uint64_t v, unsigned char b[TCASK_VLEN])
{
    uint64_t w = v * TCASK_MIX;

    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
        b[8 + i] = (unsigned char)(w >> (8 * i));
    }
}

/* The value a stored byte string names, or STRESS_TORN. */
static uint64_t
tcask_decode(const unsigned char *b, size_t len)
{
    unsigned char want[TCASK_VLEN];
    uint64_t v = 0;

    if (len != TCASK_VLEN)
        return STRESS_TORN;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    tcask_encode(v, want);
    return v != 0 && memcmp(b, want, TCASK_VLEN) == 0 ? v : STRESS_TORN;
}

/* ---- spec and directory -------------------------------------------------- */

static int
tcask_option(tcask *t, const char *opt, size_t len)
{
    char buf[4200];
    char *end;

    if (len >= sizeof(buf))
        return STRESS_EINVAL;
    memcpy(buf, opt, len);
    buf[len] = '\0';
    if (strncmp(buf, "sync=", 5) == 0)
        return cask_parse_sync(buf + 5, &t->o) == 0 ? 0 : STRESS_EINVAL;
    if (strncmp(buf, "file=", 5) == 0) {
        t->o.max_file_size = strtoull(buf + 5, &end, 10);
        return *end == '\0' && buf[5] >= '0' && buf[5] <= '9' &&
                       t->o.max_file_size > 0
                   ? 0
                   : STRESS_EINVAL;
    }
    if (strcmp(buf, "merge=all") == 0 || strcmp(buf, "merge=auto") == 0) {
        t->merge_mode = strcmp(buf, "merge=all") == 0 ? CASK_MERGE_ALL
                                                      : CASK_MERGE_AUTO;
        return 0;
    }
    if (strncmp(buf, "dir=", 4) == 0 && buf[4] != '\0' &&
        len - 4 < sizeof(t->dir)) {
        memcpy(t->dir, buf + 4, len - 3);
        return 0;
    }
    return STRESS_EINVAL;
}

/* Parses "KEYDIR[,opt=value...]" into *t. */
static int
tcask_parse(tcask *t, const char *spec)
{
    const char *comma = strchr(spec, ',');
    size_t kl = comma ? (size_t)(comma - spec) : strlen(spec);
    int rc;

    if (kl == 0 || kl >= sizeof(t->keydir))
        return STRESS_ENOTARGET;
    memcpy(t->keydir, spec, kl);
    t->keydir[kl] = '\0';
    if (kd_lookup(t->keydir) == NULL)
        return STRESS_ENOTARGET;
    t->o.keydir = t->keydir;
    t->o.max_file_size = TCASK_FILE_DEFAULT;
    t->merge_mode = CASK_MERGE_ALL;
    while (comma != NULL) {
        const char *opt = comma + 1, *next = strchr(opt, ',');
        size_t ol = next ? (size_t)(next - opt) : strlen(opt);
        if ((rc = tcask_option(t, opt, ol)) != 0)
            return rc;
        comma = next;
    }
    return 0;
}

static int
tcask_make_dir(tcask *t)
{
    const char *base = getenv("TMPDIR");

    if (t->dir[0] != '\0')
        return 0;
    snprintf(t->dir, sizeof(t->dir), "%s/casklab-stress-XXXXXX",
             base && *base ? base : "/tmp");
    if (mkdtemp(t->dir) == NULL)
        return STRESS_ETARGET;
    t->own_dir = 1;
    return 0;
}

/* Removes the temporary store directory (stores are flat). */
static void
tcask_remove_dir(const tcask *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *de;
    char path[4400];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", t->dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(t->dir);
}

/* ---- the target ------------------------------------------------------------ */

enum { TCASK_CORRECT, TCASK_RACY, TCASK_LOSSY };

static int
tcask_open_common(const char *spec, int mode, stress_target **out)
{
    tcask *t = calloc(1, sizeof(*t));
    int rc;

    if (t == NULL)
        return STRESS_ENOMEM;
    t->racy = mode == TCASK_RACY;
    t->lossy = mode == TCASK_LOSSY;
    if ((rc = tcask_parse(t, spec)) == 0 && (rc = tcask_make_dir(t)) == 0 &&
        cask_open(t->dir, &t->o, &t->c) != 0)
        rc = STRESS_ETARGET;
    if (rc != 0) {
        if (t->own_dir)
            tcask_remove_dir(t);
        free(t);
        return rc;
    }
    *out = (stress_target *)(void *)t;
    return 0;
}

static int
tcask_open(const char *spec, stress_target **out)
{
    return tcask_open_common(spec, TCASK_CORRECT, out);
}

static int
tcask_open_racy(const char *spec, stress_target **out)
{
    return tcask_open_common(spec, TCASK_RACY, out);
}

static int
tcask_open_lossy(const char *spec, stress_target **out)
{
    return tcask_open_common(spec, TCASK_LOSSY, out);
}

static void
tcask_close(stress_target *st)
{
    tcask *t = tcask_of(st);

    if (t->c != NULL)
        cask_close(t->c);
    if (t->own_dir)
        tcask_remove_dir(t);
    free(t);
}

static void
tcask_thread_begin(stress_target *st)
{
    cask_thread_register(tcask_of(st)->c);
}

static void
tcask_thread_end(stress_target *st)
{
    cask_thread_unregister(tcask_of(st)->c);
}

static int
tcask_get(stress_target *st, const void *key, size_t klen, uint64_t *val)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = cask_get(tcask_of(st)->c, key, klen, &buf, &len);

    if (rc == CASK_ENOTFOUND)
        return STRESS_MISS;
    if (rc != 0)
        return rc;
    *val = tcask_decode(buf, len);
    free(buf);
    return STRESS_DONE;
}

static int
tcask_put(stress_target *st, const void *key, size_t klen, uint64_t val)
{
    unsigned char b[TCASK_VLEN];
    int rc;

    tcask_encode(val, b);
    rc = cask_put(tcask_of(st)->c, key, klen, b, sizeof(b));
    return rc < 0 ? rc : STRESS_DONE;
}

static int
tcask_del(stress_target *st, const void *key, size_t klen)
{
    int rc = cask_del(tcask_of(st)->c, key, klen);

    return rc == 0 ? STRESS_DONE : rc == CASK_ENOTFOUND ? STRESS_MISS : rc;
}

/* The broken cas: a get, a comparison, then a put, with nothing held in
 * between (see the top of the file). The pause between them widens the
 * window: a get is a copy from a mapped file now, a few hundred
 * nanoseconds, and without it two threads met inside the window too
 * rarely for the checker to catch the bug on a handful of seeds (as for
 * the racy keydir, ds/broken_kd.c). */
static int
tcask_cas_racy(tcask *t, const void *key, size_t klen, uint64_t expected,
               const unsigned char *des)
{
    struct timespec pause = {0, 20000}; /* 20 us */
    uint64_t cur = 0;
    int rc = tcask_get((stress_target *)(void *)t, key, klen, &cur);

    if (rc < 0)
        return rc;
    if ((rc == STRESS_MISS ? 0 : cur) != expected)
        return STRESS_MISS;
    nanosleep(&pause, NULL);
    rc = cask_put(t->c, key, klen, des, TCASK_VLEN);
    return rc < 0 ? rc : STRESS_DONE;
}

static int
tcask_cas(stress_target *st, const void *key, size_t klen, uint64_t expected,
          uint64_t desired)
{
    tcask *t = tcask_of(st);
    unsigned char exp[TCASK_VLEN], des[TCASK_VLEN];
    int rc;

    tcask_encode(desired, des);
    if (t->racy)
        return tcask_cas_racy(t, key, klen, expected, des);
    tcask_encode(expected, exp);
    rc = cask_cas(t->c, key, klen, expected ? exp : NULL, TCASK_VLEN, des,
                  TCASK_VLEN);
    if (rc == 0)
        return STRESS_DONE;
    return rc == CASK_ECHANGED || rc == CASK_ENOTFOUND ? STRESS_MISS : rc;
}

static int
tcask_merge(stress_target *st)
{
    tcask *t = tcask_of(st);

    return cask_merge(t->c, t->merge_mode);
}

/* cask-lossy: unlinks the data file with the largest id, and its hint
 * (FORMAT.md: NNNNNNNNNN.data, ids only grow, so the largest name). */
static void
tcask_lose_newest(const tcask *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *de;
    char newest[256] = "", path[4400];
    size_t n;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        n = strlen(de->d_name);
        if (n == 15 && strcmp(de->d_name + 10, ".data") == 0 &&
            strcmp(de->d_name, newest) > 0)
            memcpy(newest, de->d_name, n + 1);
    }
    closedir(d);
    if (newest[0] == '\0')
        return;
    snprintf(path, sizeof(path), "%s/%s", t->dir, newest);
    unlink(path);
    memcpy(path + strlen(path) - 4, "hint", 4);
    unlink(path);
}

/* Close and open the same directory: recovery from what close left (hint
 * files for every data file, a merge's manifest if one was cut short). */
static int
tcask_reopen(stress_target *st)
{
    tcask *t = tcask_of(st);
    int rc = cask_close(t->c);

    t->c = NULL;
    if (rc != 0)
        return rc;
    if (t->lossy)
        tcask_lose_newest(t);
    return cask_open(t->dir, &t->o, &t->c);
}

const stress_target_ops stress_cask_target = {
    "cask",
    "the engine over a keydir: cask:KEYDIR[,sync=MODE][,file=BYTES]"
    "[,merge=all|auto][,dir=PATH]",
    tcask_open,
    tcask_close,
    tcask_thread_begin,
    tcask_thread_end,
    tcask_get,
    tcask_put,
    tcask_del,
    tcask_cas,
    tcask_merge,
    tcask_reopen,
};

const stress_target_ops stress_cask_racy_target = {
    "cask-racy",
    "TEST ONLY, broken: the engine with cas split into get + put (same "
    "options as cask:)",
    tcask_open_racy,
    tcask_close,
    tcask_thread_begin,
    tcask_thread_end,
    tcask_get,
    tcask_put,
    tcask_del,
    tcask_cas,
    tcask_merge,
    tcask_reopen,
};

const stress_target_ops stress_cask_lossy_target = {
    "cask-lossy",
    "TEST ONLY, broken: the engine losing its newest data file at each "
    "reopen (same options as cask:)",
    tcask_open_lossy,
    tcask_close,
    tcask_thread_begin,
    tcask_thread_end,
    tcask_get,
    tcask_put,
    tcask_del,
    tcask_cas,
    tcask_merge,
    tcask_reopen,
};
