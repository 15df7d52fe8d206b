/*
 * tests/engine_util.h - helpers shared by the engine's suites and its crash
 * driver: opening and closing a store, temporary store directories, file
 * copies, the active file and where its records end, keydir iteration,
 * a log that collects the store's messages, a cask_verify reporter.
 */
#ifndef TESTS_ENGINE_UTIL_H
#define TESTS_ENGINE_UTIL_H

#include "ds/keydir.h"
#include "engine/cask.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A cask_options.log that collects every message (the store's threads
 * may log too): pass eu_log_fn as log and an eu_log as log_arg. */
typedef struct eu_log {
    pthread_mutex_t mu;
    char text[16384];
} eu_log;

#define EU_LOG_INIT {PTHREAD_MUTEX_INITIALIZER, ""}

static inline void
eu_log_fn(void *arg, const char *msg)
{
    eu_log *l = arg;

    pthread_mutex_lock(&l->mu);
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s\n", msg);
    pthread_mutex_unlock(&l->mu);
}

/* A cask_verify callback that prints each damaged record. */
static inline void
eu_print_damaged(void *arg, uint32_t file_id, uint64_t off, const char *why)
{
    (void)arg;
    fprintf(stderr, "damaged: file %u offset %llu: %s\n", file_id,
            (unsigned long long)off, why);
}

/* Opens the store in dir with o and registers the calling thread with
 * it; on failure prints why and returns NULL (the suites assert on it). */
static inline cask *
eu_open(const char *dir, const cask_options *o)
{
    cask *c = NULL;
    int rc = cask_open(dir, o, &c);

    if (rc != 0) {
        fprintf(stderr, "cask_open(%s, keydir %s): %s: %s\n", dir,
                o->keydir != NULL ? o->keydir : "(default)",
                cask_strerror(rc), cask_errdetail());
        return NULL;
    }
    cask_thread_register(c);
    return c;
}

/* Unregisters the calling thread and closes c: cask_close's result. */
static inline int
eu_close(cask *c)
{
    cask_thread_unregister(c);
    return cask_close(c);
}

/* A fresh directory under $TMPDIR (or /tmp); the caller frees the name. */
static inline char *
eu_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(4096);

    if (p == NULL)
        return NULL;
    snprintf(p, 4096, "%s/casklab-%s-XXXXXX", base && *base ? base : "/tmp",
             tag);
    if (mkdtemp(p) == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

/* Removes a store directory (flat: stores have no subdirectories). */
static inline void
eu_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4400];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Whole-file read into a malloc'd buffer; NULL on failure. */
static inline unsigned char *
eu_slurp(const char *path, size_t *len)
{
    /* read to EOF rather than trusting the size: copies of a live store
     * race with rotation, which cuts the active file's preallocated tail */
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (nb == NULL)
                break;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                break;
            fclose(f);
            *len = n;
            return buf;
        }
    }
    free(buf);
    fclose(f);
    return NULL;
}

static inline int
eu_spit(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (f == NULL)
        return -1;
    ok = fwrite(buf, 1, len, f) == len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Copies every file of src into dst (created). */
static inline int
eu_copydir(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    struct dirent *de;
    char a[4400], b[4400];
    int rc = 0;

    if (d == NULL || (mkdir(dst, 0755) != 0 && errno != EEXIST)) {
        if (d)
            closedir(d);
        return -1;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t len;
        if (de->d_name[0] == '.')
            continue;
        snprintf(a, sizeof a, "%s/%s", src, de->d_name);
        snprintf(b, sizeof b, "%s/%s", dst, de->d_name);
        unsigned char *buf = eu_slurp(a, &len);
        /* a file gone since readdir (a hint's temp file renamed) is fine */
        rc = buf ? eu_spit(b, buf, len) : errno == ENOENT ? 0 : -1;
        free(buf);
    }
    closedir(d);
    return rc;
}

/* The highest data file id below limit in dir, or 0: the active file of a
 * store the suite writes to. */
static inline uint32_t
eu_newest_data(const char *dir, uint32_t limit)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    uint32_t best = 0, id;
    char ext[16];

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL)
        if (sscanf(de->d_name, "%10u.%15s", &id, ext) == 2 &&
            strcmp(ext, "data") == 0 && id > best && id < limit)
            best = id;
    closedir(d);
    return best;
}

/* The offset past the last non-zero byte of data file id, or 0: where its
 * records end, since the active file is preallocated with zeros past them
 * (the suites' records never end in a zero byte). */
static inline uint64_t
eu_content_end(const char *dir, uint32_t id)
{
    char path[4400];
    size_t len;

    snprintf(path, sizeof path, "%s/%010u.data", dir, id);
    unsigned char *b = eu_slurp(path, &len);
    if (b == NULL)
        return 0;
    while (len > 0 && b[len - 1] == 0)
        len--;
    free(b);
    return len;
}

/* The i-th keydir the engine suites run with (test-only ones skipped). */
static inline const char *
eu_keydir(size_t i)
{
    for (size_t j = 0, k = 0; kd_registered(j) != NULL; j++) {
        if (kd_registered(j)->flags & KD_FLAG_TEST_ONLY)
            continue;
        if (k++ == i)
            return kd_registered(j)->name;
    }
    return NULL;
}

#endif /* TESTS_ENGINE_UTIL_H */
