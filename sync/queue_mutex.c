/*
 * sync/queue_mutex.c - SYNC_QUEUE_MUTEX: a circular buffer under one mutex,
 * with one condition variable per direction (not-empty for consumers,
 * not-full for producers). Every operation is linearizable at its critical
 * section and blocking. Signals are sent only when someone waits (the
 * waiter counts live under the mutex), so the uncontended path costs one
 * lock and unlock and no system call beyond the futex fast path. Signals
 * go out after the unlock, so that the woken thread does not block at
 * once on the mutex its waker still holds; a waiter re-checks the count
 * under the mutex, so a signal that finds the task already taken costs
 * only a spurious wake-up.
 */
#include "sync/queue_internal.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct mq_queue {
    sync_queue base;
    pthread_mutex_t lock;
    pthread_cond_t nonempty, nonfull;
    sync_task *tasks;
    size_t cap, head, count; /* head: index of the oldest task */
    unsigned pop_waiters, push_waiters;
    int closed;
} mq_queue;

static mq_queue *
mq_of(sync_queue *q)
{
    return (mq_queue *)q;
}

/* Called with the lock held and a free cell; returns whether a consumer
 * waits (to be signalled after the unlock). */
static int
mq_put_locked(mq_queue *m, const sync_task *task)
{
    m->tasks[(m->head + m->count) % m->cap] = *task;
    m->count++;
    return m->pop_waiters > 0;
}

/* Called with the lock held and at least one task; returns whether a
 * producer waits (to be signalled after the unlock). */
static int
mq_take_locked(mq_queue *m, sync_task *task)
{
    *task = m->tasks[m->head];
    m->head = (m->head + 1) % m->cap;
    m->count--;
    return m->push_waiters > 0;
}

/* Unlocks, then wakes one waiter of cond if asked. */
static void
mq_unlock_signal(mq_queue *m, pthread_cond_t *cond, int wake)
{
    pthread_mutex_unlock(&m->lock);
    if (wake)
        pthread_cond_signal(cond);
}

static int
mq_try_push(sync_queue *q, const sync_task *task)
{
    mq_queue *m = mq_of(q);
    int rc = 0, wake = 0;

    pthread_mutex_lock(&m->lock);
    if (m->closed)
        rc = SYNC_ECLOSED;
    else if (m->count == m->cap)
        rc = SYNC_EFULL;
    else
        wake = mq_put_locked(m, task);
    mq_unlock_signal(m, &m->nonempty, wake);
    return rc;
}

static int
mq_push(sync_queue *q, const sync_task *task)
{
    mq_queue *m = mq_of(q);
    int rc = 0, wake = 0;

    pthread_mutex_lock(&m->lock);
    m->push_waiters++;
    while (!m->closed && m->count == m->cap)
        pthread_cond_wait(&m->nonfull, &m->lock);
    m->push_waiters--;
    if (m->closed)
        rc = SYNC_ECLOSED;
    else
        wake = mq_put_locked(m, task);
    mq_unlock_signal(m, &m->nonempty, wake);
    return rc;
}

static int
mq_try_pop(sync_queue *q, sync_task *task)
{
    mq_queue *m = mq_of(q);
    int rc = 0, wake = 0;

    pthread_mutex_lock(&m->lock);
    if (m->count > 0)
        wake = mq_take_locked(m, task);
    else
        rc = m->closed ? SYNC_ECLOSED : SYNC_EEMPTY;
    mq_unlock_signal(m, &m->nonfull, wake);
    return rc;
}

static int
mq_pop(sync_queue *q, sync_task *task)
{
    mq_queue *m = mq_of(q);
    int rc = 0, wake = 0;

    pthread_mutex_lock(&m->lock);
    m->pop_waiters++;
    while (!m->closed && m->count == 0)
        pthread_cond_wait(&m->nonempty, &m->lock);
    m->pop_waiters--;
    if (m->count > 0) /* drain before reporting closed */
        wake = mq_take_locked(m, task);
    else
        rc = SYNC_ECLOSED;
    mq_unlock_signal(m, &m->nonfull, wake);
    return rc;
}

static void
mq_close(sync_queue *q)
{
    mq_queue *m = mq_of(q);

    pthread_mutex_lock(&m->lock);
    m->closed = 1;
    pthread_cond_broadcast(&m->nonempty);
    pthread_cond_broadcast(&m->nonfull);
    pthread_mutex_unlock(&m->lock);
}

static size_t
mq_size(sync_queue *q)
{
    mq_queue *m = mq_of(q);
    size_t n;

    pthread_mutex_lock(&m->lock);
    n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

static void
mq_destroy(sync_queue *q)
{
    mq_queue *m = mq_of(q);

    pthread_cond_destroy(&m->nonfull);
    pthread_cond_destroy(&m->nonempty);
    pthread_mutex_destroy(&m->lock);
    free(m->tasks);
    free(m);
}

static const sync_queue_ops mq_ops = {
    mq_try_push, mq_push, mq_try_pop, mq_pop, mq_close, mq_size, mq_destroy,
};

int
sync_queue_mutex_create(size_t capacity, sync_queue **out)
{
    mq_queue *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return SYNC_ENOMEM;
    m->tasks = calloc(capacity, sizeof(*m->tasks));
    if (m->tasks == NULL) {
        free(m);
        return SYNC_ENOMEM;
    }
    m->base.ops = &mq_ops;
    m->cap = capacity;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->nonempty, NULL);
    pthread_cond_init(&m->nonfull, NULL);
    *out = &m->base;
    return 0;
}
