/*
 * sync/pool.h - a fixed-size thread pool over a sync/queue.h task queue.
 *
 * The pool starts its worker threads at create and never grows or shrinks;
 * each worker pops tasks and runs them, one at a time, in the queue's FIFO
 * order (so tasks submitted in order by one thread start in that order, but
 * with more than one worker they may finish in any order). The queue kind
 * (mutex+condvar or Vyukov ring) is an option, so the two can be measured
 * against each other under the same load.
 *
 * Returning results to an event loop is the caller's business: a task that
 * must report back does so itself (the server, for instance, appends to a
 * completion list and calls uv_async_send). The pool never calls back into
 * the submitter.
 *
 * Thread safety: submit and try_submit may be called from any number of
 * threads, including from inside a task. shutdown and destroy must not run
 * concurrently with a submit: the owner stops submitting first.
 */
#ifndef SYNC_POOL_H
#define SYNC_POOL_H

#include "sync/queue.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sync_pool sync_pool;

typedef struct sync_pool_opts {
    unsigned threads;      /* workers; 0 = online cores */
    size_t queue_capacity; /* tasks queued at most; 0 = 4096 */
    sync_queue_kind queue; /* SYNC_QUEUE_MUTEX or SYNC_QUEUE_RING */
    /* Optional: each worker calls thread_start(hook_arg) before its first
     * task and thread_stop(hook_arg) after its last, e.g. to register with
     * a keydir that tracks its threads (kd_thread_register). */
    void (*thread_start)(void *hook_arg);
    void (*thread_stop)(void *hook_arg);
    void *hook_arg;
} sync_pool_opts;

typedef struct sync_pool_stats {
    unsigned threads;
    sync_queue_kind queue;
    uint64_t submitted; /* tasks accepted so far */
    uint64_t completed; /* tasks whose fn has returned */
} sync_pool_stats;

/* Starts the workers. Returns 0, SYNC_EINVAL, SYNC_ENOMEM or SYNC_ETHREAD. */
int sync_pool_create(const sync_pool_opts *opts, sync_pool **out);

/*
 * Queues fn(arg) to run once on a worker. submit waits while the queue is
 * full; try_submit returns SYNC_EFULL instead. Both return SYNC_ECLOSED
 * after shutdown. Linearizable at the queue's push (see sync/queue.h).
 */
int sync_pool_submit(sync_pool *p, void (*fn)(void *), void *arg);
int sync_pool_try_submit(sync_pool *p, void (*fn)(void *), void *arg);

/*
 * Stops accepting tasks, lets the workers run every task already queued
 * (drain), and joins them. Blocking; idempotent. Must not be called from a
 * task (a worker cannot join itself).
 */
void sync_pool_shutdown(sync_pool *p);

/* Shuts down (if not yet) and frees the pool. */
void sync_pool_destroy(sync_pool *p);

/* A snapshot of the counters; not atomic across fields. */
void sync_pool_stats_get(sync_pool *p, sync_pool_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* SYNC_POOL_H */
