/*
 * stress/stress.h - the multithreaded harness that records histories.
 *
 * T threads run a random workload of get/put/del/cas against a *target*
 * and record every operation with monotonic timestamps taken immediately
 * before the call and immediately after the return, into per-thread
 * buffers (no shared state on the recording path, so recording does not
 * serialise the threads). Every written value is unique in the run, so a
 * read names its writer. The result is a hist (stress/history.h) for the
 * checker (stress/lincheck.h).
 *
 * Targets are named "scheme:name"; a bare name means a keydir. A target is
 * one small operations table (stress_target_ops), so the engine and the
 * network server plug in with one file each:
 *
 *   kd:NAME      any registered keydir (ds/keydir.h), values stored as
 *                entries derived from the value, so a torn entry reads as
 *                a value nobody wrote
 *   cask:KEYDIR[,sync=MODE][,file=BYTES][,merge=all|auto][,dir=PATH]
 *                the engine (engine/cask.h) over any keydir, in a fresh
 *                temporary directory (or PATH, kept), with small data
 *                files (default 4096 bytes) so rotation and merges happen;
 *                it also offers the merge and reopen steps below
 *   cask-racy:...  test only, the same engine with cas split into a
 *                cask_get and a separate cask_put: must be caught
 *   cask-lossy:... test only, the same engine losing its newest data file
 *                at each reopen: must be caught
 *
 * Engine steps: a *merge* step (weight merge_weight in the mix) calls the
 * target's merge from a worker thread while the others keep running; it is
 * not a history operation (it must not change what any key holds), only
 * counted in stress_stats. A *reopen* (reopens > 0) splits the run into
 * reopens + 1 phases: at each boundary every thread stops at a barrier
 * (thread_end called), the last to arrive closes and reopens the target,
 * and all continue; the history simply goes on, so it is linearizable only
 * if recovery brought back exactly the state the store had.
 *
 * Threads: stress_run starts and joins its own threads; a target's
 * operations are called from all of them at once (that is the point), its
 * open and close from the caller's thread.
 *
 * This header compiles as C and as C++.
 */
#ifndef STRESS_STRESS_H
#define STRESS_STRESS_H

#include "stress/history.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRESS_ERRORS(X)                                                      \
    X(STRESS_OK,       0,  "ok")                                              \
    X(STRESS_ENOTARGET, -1, "no target of that name")                         \
    X(STRESS_EINVAL,   -2, "invalid option")                                  \
    X(STRESS_ENOMEM,   -3, "out of memory")                                   \
    X(STRESS_ETHREAD,  -4, "cannot start a thread")                           \
    X(STRESS_ETARGET,  -5, "the target failed to open")                       \
    X(STRESS_ECLEAR,   -6, "the target failed to delete the run's keys "     \
                           "before the run")

enum stress_code {
#define STRESS_ENUM_(name, value, msg) name = (value),
    STRESS_ERRORS(STRESS_ENUM_)
#undef STRESS_ENUM_
};

const char *stress_strerror(int code);

/* Outcomes of target operations (>= 0); negative: failed, outcome unknown
 * (recorded as info). */
enum stress_outcome {
    STRESS_DONE = 0, /* get found, put done, del removed, cas applied */
    STRESS_MISS = 1  /* get/del: key absent; cas: stored value differed */
};

/* Value 0 means "absent" everywhere below. */
typedef struct stress_target stress_target;

typedef struct stress_target_ops {
    const char *scheme;  /* "kd" */
    const char *summary;
    /* name: what follows "scheme:"; *out: the target's handle */
    int (*open)(const char *name, stress_target **out);
    void (*close)(stress_target *t);
    void (*thread_begin)(stress_target *t); /* may be NULL */
    void (*thread_end)(stress_target *t);   /* may be NULL */
    int (*get)(stress_target *t, const void *key, size_t klen, uint64_t *val);
    int (*put)(stress_target *t, const void *key, size_t klen, uint64_t val);
    int (*del)(stress_target *t, const void *key, size_t klen);
    int (*cas)(stress_target *t, const void *key, size_t klen,
               uint64_t expected, uint64_t desired);
    /* Optional engine steps (NULL: the target has none). merge runs beside
     * the other operations, from a registered worker thread; reopen runs
     * with every worker quiesced (after its thread_end). Both return 0 or
     * a negative code; a failed reopen ends the run with STRESS_ETARGET. */
    int (*merge)(stress_target *t);
    int (*reopen)(stress_target *t);
} stress_target_ops;

/* Opens the target named spec ("kd:striped" or "striped"). Returns 0,
 * STRESS_ENOTARGET or STRESS_ETARGET. */
int stress_target_open(const char *spec, const stress_target_ops **ops,
                       stress_target **out);

/* Registered target schemes, in order; NULL past the end. */
const stress_target_ops *stress_target_scheme(size_t i);

typedef struct stress_options {
    const char *target;  /* default "global" */
    unsigned threads;    /* 0 = online CPUs */
    uint64_t keys;       /* key space; 0 = 16 (small spaces force contention) */
    unsigned mix[4];     /* weights of get, put, del, cas; all 0 = 50/30/10/10 */
    uint64_t ops;        /* total recorded operations (merge steps not
                            counted); 0 = run for duration_s */
    double duration_s;   /* used when ops == 0; 0 = 1 s */
    uint64_t seed;       /* 0 = 1 */
    unsigned merge_weight; /* weight of merge steps beside mix; needs a
                              target with merge (else STRESS_EINVAL) */
    unsigned reopens;    /* quiesced reopens, evenly spaced; needs a
                            target with reopen (else STRESS_EINVAL) */
    const char *commit;  /* recorded in the history header; may be NULL */
    /* Called about once a second by thread 0: operations done so far. */
    void (*progress)(void *arg, uint64_t done, double elapsed_s);
    void *progress_arg;
} stress_options;

typedef struct stress_stats {
    uint64_t ops;
    double seconds;
    double ops_per_s;
    uint64_t merges;       /* merge steps that succeeded */
    uint64_t merge_errors; /* merge steps that returned an error */
    unsigned reopens;      /* reopens done */
} stress_stats;

/*
 * Runs the workload and fills *out (initialised here; hist_free it) with
 * the recorded history, sorted by invocation. Before the first recorded
 * operation it deletes every key of the run's key space (k0 .. k{keys-1},
 * unrecorded), so the history starts from the empty state the checker
 * assumes even on a target that already holds some of them: a server that
 * served an earlier run, an engine directory with data. Returns 0 or an
 * error (STRESS_ECLEAR when that deletion failed).
 */
int stress_run(const stress_options *opt, hist *out, stress_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* STRESS_STRESS_H */
