/*
 * ds/urcu_common.c - flavor choice and counted thread registration for the
 * liburcu-based keydirs (`rcu`, `urcu_lfht`, `urcu_lfht_grow`); see
 * ds/urcu_internal.h.
 */
#include "ds/urcu_internal.h"

#include <string.h>

/* Declared by the qsbr headers, whose name-mapping macros would clash with
 * the memb ones included in ds/urcu_internal.h. */
extern const struct rcu_flavor_struct urcu_qsbr_flavor;

static _Thread_local unsigned kdu_count[2];

#if defined(__SANITIZE_THREAD__)
char kdu_tsan_grace;
#endif

int
kdu_pick(const char *name, kdu_flavor *out)
{
    if (name == NULL || strcmp(name, "memb") == 0) {
        *out = (kdu_flavor){&urcu_memb_flavor, 0, 0};
        return 0;
    }
    if (strcmp(name, "qsbr") == 0) {
        *out = (kdu_flavor){&urcu_qsbr_flavor, 1, 1};
        return 0;
    }
    return -1;
}

void
kdu_register(const kdu_flavor *f)
{
    if (kdu_count[f->idx]++ == 0)
        f->fl->register_thread();
}

void
kdu_unregister(const kdu_flavor *f)
{
    if (kdu_count[f->idx] != 0 && --kdu_count[f->idx] == 0)
        f->fl->unregister_thread();
}

int
kdu_registered(const kdu_flavor *f)
{
    return kdu_count[f->idx] != 0;
}

void
kdu_barrier(const kdu_flavor *f)
{
    int online = f->qsbr && kdu_registered(f);

    if (online)
        f->fl->thread_offline();
    f->fl->barrier();
    KDU_TSAN_ACQUIRE();
    if (online)
        f->fl->thread_online();
}
