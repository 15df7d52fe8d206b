/*
 * stress/target_kd.c - stress targets: the scheme table and keydirs.
 *
 * A keydir stores entries, not values, so a value v is stored as the entry
 * kd_entry_of(v), whose four fields are all derived from v. A get that
 * returns an entry not of that form (torn, or invented) is recorded as the
 * value STRESS_TORN, which no thread ever writes, so the checker rejects
 * it. cas compares whole entries, which for these entries is comparing
 * values.
 */
#include "stress/stress.h"
#include "stress/stress_internal.h"

#include "ds/keydir.h"

#include <stdlib.h>
#include <string.h>

struct stress_target {
    kd_keydir *kd;
};

static kd_entry
kd_entry_of(uint64_t v)
{
    kd_entry e = {(uint32_t)(v >> 32), (uint32_t)v,
                  v * 0x9e3779b97f4a7c15ull, v};
    return e;
}

static int
tkd_open(const char *name, stress_target **out)
{
    stress_target *t = calloc(1, sizeof(*t));
    kd_options opt;

    if (t == NULL)
        return STRESS_ENOMEM;
    memset(&opt, 0, sizeof(opt));
    if (kd_lookup(name) == NULL) {
        free(t);
        return STRESS_ENOTARGET;
    }
    if (kd_open(name, &opt, &t->kd) != 0) {
        free(t);
        return STRESS_ETARGET;
    }
    *out = t;
    return 0;
}

static void
tkd_close(stress_target *t)
{
    kd_close(t->kd);
    free(t);
}

static void
tkd_thread_begin(stress_target *t)
{
    kd_thread_register(t->kd);
}

static void
tkd_thread_end(stress_target *t)
{
    kd_thread_unregister(t->kd);
}

static int
tkd_get(stress_target *t, const void *key, size_t klen, uint64_t *val)
{
    kd_entry e, want;
    int rc = kd_get(t->kd, key, klen, &e);

    kd_quiescent(t->kd);
    if (rc == KD_ENOTFOUND)
        return STRESS_MISS;
    if (rc != KD_OK)
        return rc;
    want = kd_entry_of(e.seq);
    *val = kd_entry_eq(&e, &want) && e.seq != 0 ? e.seq : STRESS_TORN;
    return STRESS_DONE;
}

static int
tkd_put(stress_target *t, const void *key, size_t klen, uint64_t val)
{
    kd_entry e = kd_entry_of(val);
    int rc = kd_put(t->kd, key, klen, &e, NULL);

    kd_quiescent(t->kd);
    return rc < 0 ? rc : STRESS_DONE;
}

static int
tkd_del(stress_target *t, const void *key, size_t klen)
{
    int rc = kd_del(t->kd, key, klen, NULL);

    kd_quiescent(t->kd);
    return rc == KD_OK ? STRESS_DONE : rc == KD_ENOTFOUND ? STRESS_MISS : rc;
}

static int
tkd_cas(stress_target *t, const void *key, size_t klen, uint64_t expected,
        uint64_t desired)
{
    kd_entry exp = kd_entry_of(expected), des = kd_entry_of(desired);
    int rc = kd_cas(t->kd, key, klen, expected ? &exp : NULL, &des);

    kd_quiescent(t->kd);
    if (rc == KD_OK)
        return STRESS_DONE;
    if (rc == KD_ECHANGED || rc == KD_ENOTFOUND || rc == KD_EEXIST)
        return STRESS_MISS;
    return rc;
}

static const stress_target_ops stress_kd_target = {
    "kd",
    "any registered keydir (casklab keydirs lists them)",
    tkd_open,
    tkd_close,
    tkd_thread_begin,
    tkd_thread_end,
    tkd_get,
    tkd_put,
    tkd_del,
    tkd_cas,
    NULL, /* a keydir has no merge */
    NULL, /* nor anything to reopen */
};

/* One line per scheme: keydirs, the engine ("cask:", target_cask.c, with
 * its test-only broken modes) and the server ("server:", target_srv.c). */
extern const stress_target_ops stress_srv_target; /* stress/target_srv.c */
static const stress_target_ops *const stress_schemes[] = {
    &stress_kd_target,
    &stress_cask_target,
    &stress_cask_racy_target,
    &stress_cask_lossy_target,
    &stress_srv_target,
};

#define STRESS_NSCHEMES (sizeof(stress_schemes) / sizeof(stress_schemes[0]))

const stress_target_ops *
stress_target_scheme(size_t i)
{
    return i < STRESS_NSCHEMES ? stress_schemes[i] : NULL;
}

int
stress_target_open(const char *spec, const stress_target_ops **ops,
                   stress_target **out)
{
    const char *colon = strchr(spec, ':');

    if (colon == NULL) { /* a bare name is a keydir */
        *ops = &stress_kd_target;
        return stress_kd_target.open(spec, out);
    }
    for (size_t i = 0; i < STRESS_NSCHEMES; i++) {
        size_t l = strlen(stress_schemes[i]->scheme);
        if ((size_t)(colon - spec) == l &&
            memcmp(spec, stress_schemes[i]->scheme, l) == 0) {
            *ops = stress_schemes[i];
            return stress_schemes[i]->open(colon + 1, out);
        }
    }
    return STRESS_ENOTARGET;
}
