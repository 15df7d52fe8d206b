/*
 * stress/lin_internal.h - one key's search, resumable (private to stress/).
 *
 * A lin_part is the sub-history of one key prepared for the Wing & Gong /
 * Lowe search (stress/lin_search.c). lin_part_run advances the search by a
 * bounded number of steps, so that a scheduler can interleave many keys on
 * a few threads; a part is used by one thread at a time.
 */
#ifndef STRESS_LIN_INTERNAL_H
#define STRESS_LIN_INTERNAL_H

#include "stress/lincheck.h"

#include <stdatomic.h>

typedef struct lin_part lin_part;

/* Results of lin_part_run. */
enum lin_run {
    LIN_RUN_MORE = 0,    /* step budget used up: call again */
    LIN_RUN_OK = 1,      /* linearizable */
    LIN_RUN_ILLEGAL = 2, /* not linearizable */
    LIN_RUN_NOMEM = 3    /* the memory limit stopped the search */
};

/* Memory accounting shared by all parts of one check. */
typedef struct lin_mem {
    _Atomic uint64_t used;
    _Atomic uint64_t peak;
    uint64_t limit; /* 0 = none */
} lin_mem;

/*
 * Prepares the ops idx[0..n) of h (one key, any order). Returns 0 and *out,
 * or LIN_ENOMEM. mem may be NULL.
 */
int lin_part_new(const hist *h, const size_t *idx, size_t n, lin_mem *mem,
                 lin_part **out);
void lin_part_free(lin_part *p);

/* Runs at most max_steps model steps; returns an enum lin_run. */
int lin_part_run(lin_part *p, uint64_t max_steps);

uint64_t lin_part_steps(const lin_part *p);
/* Operations searched (no-op operations dropped). */
size_t lin_part_nops(const lin_part *p);
/* Ops of the longest linearizable prefix found, in order, as indices into
 * h->ops; out has room for lin_part_nops. Returns how many. */
size_t lin_part_prefix(const lin_part *p, size_t *out);

#endif /* STRESS_LIN_INTERNAL_H */
