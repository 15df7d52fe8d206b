/*
 * stress/lincheck.h - deciding whether a history is linearizable.
 *
 * A history is linearizable if every operation can be given one instant
 * between its invocation and its completion such that, taken in the order
 * of those instants, the operations are a legal sequential run of the model
 * (Herlihy & Wing, 1990). Deciding this is NP-complete in general; the
 * checker searches with the algorithm of Wing & Gong (1993) as improved by
 * Lowe (2017): a depth-first search over "which pending operation takes
 * effect next", with a cache of visited (set of linearized operations,
 * model state) configurations so that no configuration is explored twice.
 *
 * Models (see stress/history.h): kv (per key get/put/del/cas/append),
 * register (read/write/cas), set (add, read of the whole set). All three are
 * checked per key: linearizability is compositional (P-compositionality,
 * Horn & Kroening 2015), so each key's sub-history is checked alone, on
 * several threads, round-robin in slices so that one hard key does not
 * delay finding a violation in another.
 *
 * Operations with status info (outcome unknown) may take effect at any
 * instant after their invocation, or never; their outputs are not checked.
 * Failed operations that have no effect (fail get, put, append, add) and
 * info reads constrain nothing and are dropped before the search.
 *
 * Limits: with a timeout or a memory limit the verdict may be LIN_UNKNOWN.
 *
 * Threads: lin_check starts its own worker threads and joins them before it
 * returns; the history must not change meanwhile. Distinct lin_check calls
 * are independent.
 *
 * This header compiles as C and as C++.
 */
#ifndef STRESS_LINCHECK_H
#define STRESS_LINCHECK_H

#include "stress/history.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIN_ERRORS(X)                                                         \
    X(LIN_OK,     0,  "ok")                                                   \
    X(LIN_ENOMEM, -1, "out of memory")                                        \
    X(LIN_EINVAL, -2, "invalid argument")                                     \
    X(LIN_EIO,    -3, "cannot write the output")

enum lin_code {
#define LIN_ENUM_(name, value, msg) name = (value),
    LIN_ERRORS(LIN_ENUM_)
#undef LIN_ENUM_
};

const char *lin_strerror(int code);

typedef enum lin_verdict {
    LIN_LINEARIZABLE = 0,
    LIN_ILLEGAL = 1,  /* not linearizable */
    LIN_UNKNOWN = 2,  /* a time or memory limit stopped the search */
    LIN_SKIPPED = 3   /* per key: not checked, another key already failed */
} lin_verdict;

const char *lin_verdict_name(lin_verdict v);

typedef struct lin_options {
    unsigned threads;     /* worker threads; 0 = online CPUs */
    double timeout_s;     /* wall-clock limit of the search; 0 = none */
    uint64_t max_memory;  /* bytes of search caches; 0 = none */
    int keep_going;       /* check every key even after a violation */
    int minimize;         /* compute a minimal failing sub-history */
} lin_options;

typedef struct lin_key_result {
    uint32_t key;         /* key id */
    lin_verdict verdict;
    uint32_t nops;        /* operations searched (after dropping no-ops) */
    uint64_t steps;       /* model steps taken */
} lin_key_result;

typedef struct lin_result {
    lin_verdict verdict;   /* overall */
    lin_key_result *keys;  /* one per key that has operations */
    size_t nkeys;
    uint64_t steps;        /* model steps over all keys */
    uint64_t peak_cache_bytes; /* largest cache memory held at once */
    double seconds;        /* wall-clock time of the search */
    /* For a violation (verdict LIN_ILLEGAL): the first key found bad. Op
     * lists are indices into hist.ops. */
    uint32_t bad_key;
    size_t *bad_ops;  size_t nbad;   /* every op of that key, by call */
    size_t *prefix;   size_t nprefix;/* longest linearizable prefix found,
                                        in linearization order */
    size_t *minimal;  size_t nminimal; /* a failing sub-history, shrunk
                                        (runs of ops, then single ops)
                                        until removing any one op either
                                        makes it pass or leaves an op
                                        without a possible cause (a read
                                        of a value nobody wrote, a delete
                                        of nothing) */
    int minimal_exact; /* 1: that holds; 0: shrinking stopped at its time
                          or step budget, so it may not be minimal */
} lin_result;

/*
 * Checks h. Returns 0 with *res filled in (free with lin_result_free), or
 * LIN_ENOMEM / LIN_EINVAL (then *res holds nothing to free).
 */
int lin_check(const hist *h, const lin_options *opt, lin_result *res);
void lin_result_free(lin_result *res);

/* Prints ops (indices into h->ops) as a text timeline, one per line. */
void lin_print_timeline(FILE *to, const hist *h, const size_t *ops,
                        size_t n);

/* Writes a self-contained HTML page drawing the bad key's operations as
 * bars per process, with the longest linearizable prefix marked. */
int lin_write_html(FILE *to, const hist *h, const lin_result *res);

/* One operation as text, e.g. "cas(v1, v2) fail" (at most cap bytes). */
void lin_describe(const hist *h, const hist_op *o, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* STRESS_LINCHECK_H */
