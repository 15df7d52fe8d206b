/*
 * sync/queue.h - bounded multi-producer multi-consumer task queues behind
 * one interface, the work queue of the thread pool (sync/pool.h).
 *
 * Two implementations, chosen by kind when the queue is created:
 *
 *  SYNC_QUEUE_MUTEX  a ring buffer under one mutex with two condition
 *                    variables (not-empty, not-full): the textbook baseline.
 *                    Every operation is linearizable (at its critical
 *                    section) and blocking.
 *  SYNC_QUEUE_RING   Dmitry Vyukov's bounded MPMC queue ("Bounded MPMC
 *                    queue", 1024cores.net, 2010): a power-of-two array of
 *                    cells, each with a sequence number that says whether
 *                    the cell is free for the producer of position p
 *                    (seq == p) or full for its consumer (seq == p + 1).
 *                    Producers and consumers claim positions with one CAS
 *                    on their own counter and never take a lock on the fast
 *                    path. Only threads that find the queue empty (or full)
 *                    park (an eventcount: a semaphore for consumers, a
 *                    mutex/condvar pair for producers), so idle workers
 *                    do not spin.
 *
 * Progress of the ring, stated honestly: try_push and try_pop never block
 * on a lock, and a failed CAS means another thread's succeeded, but the
 * algorithm is not lock-free in the strict sense: a producer preempted
 * between claiming position p and publishing the cell makes consumers of p
 * report "empty" until it resumes (and likewise a slow consumer makes its
 * cell look full). Linearizability: a successful try_push linearizes at its
 * CAS on the enqueue counter, a successful try_pop at its CAS on the dequeue
 * counter, so FIFO order holds between positions; SYNC_EEMPTY / SYNC_EFULL
 * may be reported while a slow peer holds a claimed cell, which is weaker
 * than a linearizable emptiness test. Consequence callers may rely on: two
 * tasks pushed in order by one thread are popped in that order by any one
 * consumer that pops both.
 *
 * Memory: tasks are copied by value into the queue's fixed array; the queue
 * never allocates after create and never frees a task's argument.
 */
#ifndef SYNC_QUEUE_H
#define SYNC_QUEUE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes of sync/ (0 is success), one X-macro table. */
#define SYNC_ERRNO_MAP(X)                                                     \
    X(EINVAL, -1, "invalid argument")                                         \
    X(ENOMEM, -2, "out of memory")                                            \
    X(ECLOSED, -3, "queue or pool is closed")                                 \
    X(EFULL, -4, "queue is full")                                             \
    X(EEMPTY, -5, "queue is empty")                                           \
    X(ETHREAD, -6, "could not start a thread")

enum {
#define SYNC_ERR_ENUM(name, val, msg) SYNC_##name = (val),
    SYNC_ERRNO_MAP(SYNC_ERR_ENUM)
#undef SYNC_ERR_ENUM
};

/* A static message for a sync_ error code (or "unknown error"). */
const char *sync_strerror(int err);

/* A unit of work: fn(arg), run once by one consumer. */
typedef struct sync_task {
    void (*fn)(void *arg);
    void *arg;
} sync_task;

typedef enum sync_queue_kind {
    SYNC_QUEUE_MUTEX = 0,
    SYNC_QUEUE_RING = 1
} sync_queue_kind;

typedef struct sync_queue sync_queue;

/* "mutex" or "ring". */
const char *sync_queue_kind_name(sync_queue_kind kind);

/* Parses "mutex" or "ring" into *kind; SYNC_EINVAL for anything else. */
int sync_queue_kind_parse(const char *name, sync_queue_kind *kind);

/*
 * Creates an empty queue of kind that holds at most capacity tasks.
 * capacity must be at least 2; the ring rounds it up to a power of two.
 * Returns 0, SYNC_EINVAL or SYNC_ENOMEM.
 */
int sync_queue_create(sync_queue_kind kind, size_t capacity, sync_queue **out);

/* Frees the queue. No thread may be using it; queued tasks are dropped. */
void sync_queue_destroy(sync_queue *q);

/*
 * Appends *task. try_push returns SYNC_EFULL at once if there is no free
 * cell; push waits (parked, not spinning) until there is one. Both return
 * SYNC_ECLOSED after sync_queue_close. Thread-safe for any number of
 * producers.
 */
int sync_queue_try_push(sync_queue *q, const sync_task *task);
int sync_queue_push(sync_queue *q, const sync_task *task);

/*
 * Removes the oldest task into *task. try_pop returns SYNC_EEMPTY at once if
 * none is ready; pop waits (parked) for one. After sync_queue_close, pop
 * keeps returning queued tasks and returns SYNC_ECLOSED only once the queue
 * is empty, which is what lets a pool drain on shutdown. Thread-safe for any
 * number of consumers.
 */
int sync_queue_try_pop(sync_queue *q, sync_task *task);
int sync_queue_pop(sync_queue *q, sync_task *task);

/*
 * Closes the queue: later pushes fail with SYNC_ECLOSED, and every waiting
 * thread is woken. Precondition: no push is in progress (the owner stopped
 * producing first); a push concurrent with close is a caller bug. Idempotent.
 */
void sync_queue_close(sync_queue *q);

/* The number of tasks queued, exact only when no thread is using the queue. */
size_t sync_queue_size(sync_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* SYNC_QUEUE_H */
