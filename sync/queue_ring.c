/*
 * sync/queue_ring.c - SYNC_QUEUE_RING: Vyukov's bounded MPMC queue with
 * sequence-numbered cells, plus an eventcount so that blocking callers park.
 *
 * The ring (after D. Vyukov, "Bounded MPMC queue", 1024cores.net): cell i of
 * a power-of-two array starts with seq = i. A producer reads the enqueue
 * counter p; if cell p & mask has seq == p it is free for position p, and
 * the producer claims p by CAS on the counter, writes the task, then
 * publishes with a release store seq = p + 1. A consumer of position p waits
 * for seq == p + 1, claims p by CAS on the dequeue counter, reads the task,
 * and frees the cell for position p + capacity with a release store of
 * seq = p + capacity. seq < p (producer) means the ring is full; seq < p + 1
 * (consumer) means it is empty. The acquire load of seq that precedes each
 * task access pairs with the release store that followed the peer's access,
 * so the plain task copies never race (which ThreadSanitizer can see,
 * because all of it is C11 atomics). Counters are size_t and compared by
 * signed difference, so wrap-around is harmless.
 *
 * Parking (why it is free of lost wake-ups): a thread that finds the ring
 * empty takes the park lock, increments pop_waiters with an acq_rel RMW and
 * tries again before it waits on the condvar, all under the lock. A
 * producer, after publishing, reads pop_waiters with an acq_rel RMW (adding
 * zero) and only if it is non-zero takes the lock and signals. RMWs on one
 * location are totally ordered: if the producer's comes first, the
 * consumer's increment reads from it and so synchronises with it, and the
 * consumer's retry sees the published cell; if the consumer's comes first,
 * the producer reads a non-zero count and signals. Since the consumer holds
 * the lock from its increment until cond_wait releases it, a producer that
 * takes the lock after seeing the count finds the consumer already waiting
 * on the condvar, so its signal (sent after it drops the lock again)
 * cannot fall between the retry and the wait. Full producers park that
 * way on push_waiters.
 *
 * Empty consumers, which in the server park between every pass, use a
 * cheaper form of the same pairing: no lock, and a counting semaphore of
 * wake tokens in place of the condvar. The consumer increments
 * pop_waiters, retries, and only then waits on the semaphore; a producer
 * that reads a non-zero count posts one token, unless the tokens already
 * posted cover the waiters (rq_tokens_suffice). A token posted before the
 * consumer reaches sem_wait is not lost (the count remembers it), which
 * is what the lock was for. One post and one wait cost one futex call
 * each at most, where the condvar's signal and wait (with its internal
 * lock and the mutex taken again on return) cost two to three.
 *
 * That RMW on a shared counter after every operation makes the counter's
 * cache line bounce between all cores. Outside ThreadSanitizer builds the
 * ring therefore uses the other classic form: a seq_cst fence, then a
 * relaxed load, on the publishing side, and a seq_cst fence after the
 * waiter's increment. The two fences forbid the store-buffering outcome
 * in which the producer reads zero waiters while the consumer misses the
 * cell; the load only shares the line, which stays put while no thread
 * parks. GCC's TSan rejects atomic_thread_fence (and could not check it),
 * so TSan builds compile the RMW form, which it does check; both forms
 * run the same tests (tests/test_sync_pool.c).
 */
#include "sync/atomic.h"
#include "sync/queue_internal.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

enum { RQ_LINE = 64, RQ_SPINS = 64 };

typedef struct rq_cell {
    _Atomic size_t seq;
    sync_task task;
} rq_cell;

typedef struct rq_queue {
    sync_queue base;
    rq_cell *cells;
    size_t mask;
    /* Each counter on its own cache line: producers and consumers do not
     * invalidate each other's line on every claim. */
    alignas(RQ_LINE) _Atomic size_t enq;
    alignas(RQ_LINE) _Atomic size_t deq;
    alignas(RQ_LINE) _Atomic unsigned pop_waiters;
    _Atomic unsigned push_waiters;
    _Atomic int closed;
    pthread_mutex_t park; /* full producers park here, on nonfull */
    pthread_cond_t nonfull;
    sem_t pop_sem;        /* empty consumers park here (wake tokens) */
} rq_queue;

static rq_queue *
rq_of(sync_queue *q)
{
    return (rq_queue *)q;
}

static int
rq_try_push_raw(rq_queue *r, const sync_task *task)
{
    size_t pos = sync_load_rlx(&r->enq);

    for (;;) {
        rq_cell *c = &r->cells[pos & r->mask];
        intptr_t dif = (intptr_t)(sync_load_acq(&c->seq) - pos);

        if (dif == 0) {
            if (sync_cas_rlx(&r->enq, &pos, pos + 1)) {
                c->task = *task;
                sync_store_rel(&c->seq, pos + 1);
                return 0;
            }
        } else if (dif < 0) {
            return SYNC_EFULL;
        } else {
            pos = sync_load_rlx(&r->enq);
        }
    }
}

static int
rq_try_pop_raw(rq_queue *r, sync_task *task)
{
    size_t pos = sync_load_rlx(&r->deq);

    for (;;) {
        rq_cell *c = &r->cells[pos & r->mask];
        intptr_t dif = (intptr_t)(sync_load_acq(&c->seq) - (pos + 1));

        if (dif == 0) {
            if (sync_cas_rlx(&r->deq, &pos, pos + 1)) {
                *task = c->task;
                sync_store_rel(&c->seq, pos + r->mask + 1);
                return 0;
            }
        } else if (dif < 0) {
            return SYNC_EEMPTY;
        } else {
            pos = sync_load_rlx(&r->deq);
        }
    }
}

#if defined(__SANITIZE_THREAD__)
#define RQ_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RQ_TSAN 1
#endif
#endif

/* Reads a waiter count so that it is ordered with the waiter's
 * increment (see the file comment for both forms). */
static unsigned
rq_waiters(_Atomic unsigned *waiters)
{
#ifdef RQ_TSAN
    return sync_faa_acqrel(waiters, 0);
#else
    /* Orders our publication of the cell before the read of waiters. */
    sync_fence_sc();
    return sync_load_rlx(waiters);
#endif
}

/* Announces a parking thread (park lock held); pairs with rq_waiters. */
static void
rq_announce(_Atomic unsigned *waiters)
{
    sync_faa_acqrel(waiters, 1);
#ifndef RQ_TSAN
    /* Orders the increment before the retry's loads of the cells. */
    sync_fence_sc();
#endif
}

/* After a successful operation: wake one parked peer of the other side.
 * Taking and dropping the park lock first waits out a peer between its
 * announcement and its cond_wait (it holds the lock throughout), so the
 * peer is on the condvar by then; signalling after the unlock spares the
 * woken thread from blocking at once on the lock we would still hold. */
static void
rq_wake(rq_queue *r, _Atomic unsigned *waiters, pthread_cond_t *cond)
{
    if (rq_waiters(waiters) == 0)
        return;
    pthread_mutex_lock(&r->park);
    pthread_mutex_unlock(&r->park);
    pthread_cond_signal(cond);
}

/* Whether the tokens already posted cover the n announced consumers, so
 * that a push may skip its own: under a flood of pushes, a token per push
 * would pile up, and every later park would first burn them in spurious
 * retries. Why skipping loses no wake-up: the producer's seq_cst fence
 * (rq_waiters) comes before this read of the count, and a consumer's
 * fence (rq_after_token) comes after its sem_wait's decrement and before
 * its retry. If the consumer's fence came first in the fences' total
 * order, this read would see its decrement; so each of the v tokens seen
 * here is taken after our fence, and the retry that follows sees our
 * cell. TSan builds, which have no fences, post whenever one waits. */
static int
rq_tokens_suffice(rq_queue *r, unsigned n)
{
#ifdef RQ_TSAN
    (void)r;
    (void)n;
    return 0;
#else
    int v;

    return sem_getvalue(&r->pop_sem, &v) == 0 && v >= 0 && (unsigned)v >= n;
#endif
}

/* A consumer took a token: order that before its retry's loads of the
 * cells (see rq_tokens_suffice). */
static void
rq_after_token(void)
{
#ifndef RQ_TSAN
    sync_fence_sc();
#endif
}

/* After a push: a wake token for a parked (or parking) consumer. */
static void
rq_wake_pop(rq_queue *r)
{
    unsigned n = rq_waiters(&r->pop_waiters);

    if (n != 0 && !rq_tokens_suffice(r, n))
        sem_post(&r->pop_sem);
}

static int
rq_try_push(sync_queue *q, const sync_task *task)
{
    rq_queue *r = rq_of(q);
    int rc;

    if (sync_load_acq(&r->closed))
        return SYNC_ECLOSED;
    rc = rq_try_push_raw(r, task);
    if (rc == 0)
        rq_wake_pop(r);
    return rc;
}

static int
rq_try_pop(sync_queue *q, sync_task *task)
{
    rq_queue *r = rq_of(q);
    int rc = rq_try_pop_raw(r, task);

    if (rc == 0)
        rq_wake(r, &r->push_waiters, &r->nonfull);
    else if (sync_load_acq(&r->closed))
        rc = SYNC_ECLOSED;
    return rc;
}

/* Parks until rq_try_push_raw succeeds or the queue is closed. */
static int
rq_push_slow(rq_queue *r, const sync_task *task)
{
    int rc;

    pthread_mutex_lock(&r->park);
    rq_announce(&r->push_waiters);
    for (;;) {
        if (sync_load_acq(&r->closed)) {
            rc = SYNC_ECLOSED;
            break;
        }
        rc = rq_try_push_raw(r, task);
        if (rc == 0)
            break;
        pthread_cond_wait(&r->nonfull, &r->park);
    }
    sync_fas_acqrel(&r->push_waiters, 1);
    pthread_mutex_unlock(&r->park);
    return rc;
}

static int
rq_push(sync_queue *q, const sync_task *task)
{
    rq_queue *r = rq_of(q);
    int rc = SYNC_EFULL;

    for (unsigned i = 0; i < RQ_SPINS && rc == SYNC_EFULL; i++) {
        rc = rq_try_push(q, task);
        if (rc == SYNC_EFULL)
            sync_cpu_relax();
    }
    if (rc != SYNC_EFULL)
        return rc;
    rc = rq_push_slow(r, task);
    if (rc == 0)
        rq_wake_pop(r);
    return rc;
}

/* Parks until a task is popped, or the queue is closed and empty. A
 * token may be left over (a producer posted for us, then our retry found
 * its task): it costs a later consumer one extra retry, never a lost
 * wake-up, and sem_wait on a positive count makes no system call. */
static int
rq_pop_slow(rq_queue *r, sync_task *task)
{
    int rc;

    rq_announce(&r->pop_waiters);
    for (;;) {
        rc = rq_try_pop_raw(r, task);
        if (rc == 0)
            break;
        /* No push runs concurrently with close (its precondition), so
         * closed-and-empty is final: the drain is complete. */
        if (sync_load_acq(&r->closed)) {
            rc = SYNC_ECLOSED;
            break;
        }
        sem_wait(&r->pop_sem); /* EINTR: retry, as after a token */
        rq_after_token();
    }
    sync_fas_acqrel(&r->pop_waiters, 1);
    return rc;
}

static int
rq_pop(sync_queue *q, sync_task *task)
{
    rq_queue *r = rq_of(q);
    int rc = SYNC_EEMPTY;

    for (unsigned i = 0; i < RQ_SPINS && rc == SYNC_EEMPTY; i++) {
        rc = rq_try_pop(q, task);
        if (rc == SYNC_EEMPTY)
            sync_cpu_relax();
    }
    if (rc != SYNC_EEMPTY)
        return rc;
    rc = rq_pop_slow(r, task);
    if (rc == 0)
        rq_wake(r, &r->push_waiters, &r->nonfull);
    return rc;
}

static void
rq_close(sync_queue *q)
{
    rq_queue *r = rq_of(q);
    unsigned n;

    sync_store_sc(&r->closed, 1);
    /* A token for every consumer announced: each either sees closed in
     * its retry or was counted here (the same pairing as a push's). */
    n = rq_waiters(&r->pop_waiters);
    while (n-- > 0)
        sem_post(&r->pop_sem);
    pthread_mutex_lock(&r->park);
    pthread_cond_broadcast(&r->nonfull);
    pthread_mutex_unlock(&r->park);
}

static size_t
rq_size(sync_queue *q)
{
    rq_queue *r = rq_of(q);

    return sync_load_acq(&r->enq) - sync_load_acq(&r->deq);
}

static void
rq_destroy(sync_queue *q)
{
    rq_queue *r = rq_of(q);

    pthread_cond_destroy(&r->nonfull);
    sem_destroy(&r->pop_sem);
    pthread_mutex_destroy(&r->park);
    free(r->cells);
    free(r);
}

static const sync_queue_ops rq_ops = {
    rq_try_push, rq_push, rq_try_pop, rq_pop, rq_close, rq_size, rq_destroy,
};

int
sync_queue_ring_create(size_t capacity, sync_queue **out)
{
    size_t cap = 2;
    rq_queue *r;

    while (cap < capacity) {
        if (cap > SIZE_MAX / 2 / sizeof(rq_cell))
            return SYNC_EINVAL;
        cap *= 2;
    }
    r = aligned_alloc(RQ_LINE, (sizeof(*r) + RQ_LINE - 1) / RQ_LINE * RQ_LINE);
    if (r == NULL)
        return SYNC_ENOMEM;
    r->cells = malloc(cap * sizeof(*r->cells));
    if (r->cells == NULL) {
        free(r);
        return SYNC_ENOMEM;
    }
    r->base.ops = &rq_ops;
    r->mask = cap - 1;
    for (size_t i = 0; i < cap; i++)
        atomic_init(&r->cells[i].seq, i);
    atomic_init(&r->enq, 0);
    atomic_init(&r->deq, 0);
    atomic_init(&r->pop_waiters, 0);
    atomic_init(&r->push_waiters, 0);
    atomic_init(&r->closed, 0);
    pthread_mutex_init(&r->park, NULL);
    pthread_cond_init(&r->nonfull, NULL);
    sem_init(&r->pop_sem, 0, 0);
    *out = &r->base;
    return 0;
}
