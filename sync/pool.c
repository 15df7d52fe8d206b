/*
 * sync/pool.c - the fixed thread pool: workers loop on sync_queue_pop until
 * it reports the queue closed and drained. Shutdown is therefore just
 * close-then-join: the queue's drain guarantee (pop returns SYNC_ECLOSED
 * only once empty) is what makes every accepted task run exactly once.
 */
#include "sync/pool.h"

#include "sync/atomic.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { POOL_DEFAULT_CAPACITY = 4096, POOL_MAX_THREADS = 1024 };

struct sync_pool {
    sync_queue *queue;
    sync_queue_kind kind;
    void (*thread_start)(void *);
    void (*thread_stop)(void *);
    void *hook_arg;
    pthread_t *workers;
    unsigned nworkers;
    int shut; /* touched only by the owner (shutdown is single-threaded) */
    _Atomic uint64_t submitted, completed;
};

static void *
pool_worker(void *arg)
{
    sync_pool *p = arg;
    sync_task t;

    if (p->thread_start != NULL)
        p->thread_start(p->hook_arg);
    while (sync_queue_pop(p->queue, &t) == 0) {
        t.fn(t.arg);
        sync_faa_rlx(&p->completed, 1);
    }
    if (p->thread_stop != NULL)
        p->thread_stop(p->hook_arg);
    return NULL;
}

static unsigned
pool_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 ? (unsigned)n : 1;
}

/* Starts n workers; on failure stops those already started. */
static int
pool_start(sync_pool *p, unsigned n)
{
    for (p->nworkers = 0; p->nworkers < n; p->nworkers++) {
        if (pthread_create(&p->workers[p->nworkers], NULL, pool_worker, p)) {
            sync_pool_shutdown(p);
            return SYNC_ETHREAD;
        }
    }
    return 0;
}

int
sync_pool_create(const sync_pool_opts *opts, sync_pool **out)
{
    unsigned n = opts->threads ? opts->threads : pool_default_threads();
    size_t cap = opts->queue_capacity ? opts->queue_capacity
                                      : POOL_DEFAULT_CAPACITY;
    sync_pool *p;
    int rc;

    if (n > POOL_MAX_THREADS)
        return SYNC_EINVAL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SYNC_ENOMEM;
    p->kind = opts->queue;
    p->thread_start = opts->thread_start;
    p->thread_stop = opts->thread_stop;
    p->hook_arg = opts->hook_arg;
    p->workers = calloc(n, sizeof(*p->workers));
    rc = p->workers ? sync_queue_create(opts->queue, cap, &p->queue)
                    : SYNC_ENOMEM;
    if (rc == 0)
        rc = pool_start(p, n);
    if (rc != 0) {
        sync_queue_destroy(p->queue);
        free(p->workers);
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int
sync_pool_submit(sync_pool *p, void (*fn)(void *), void *arg)
{
    sync_task t = {fn, arg};
    int rc = sync_queue_push(p->queue, &t);

    if (rc == 0)
        sync_faa_rlx(&p->submitted, 1);
    return rc;
}

int
sync_pool_try_submit(sync_pool *p, void (*fn)(void *), void *arg)
{
    sync_task t = {fn, arg};
    int rc = sync_queue_try_push(p->queue, &t);

    if (rc == 0)
        sync_faa_rlx(&p->submitted, 1);
    return rc;
}

void
sync_pool_shutdown(sync_pool *p)
{
    if (p->shut)
        return;
    p->shut = 1;
    sync_queue_close(p->queue);
    for (unsigned i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i], NULL);
}

void
sync_pool_destroy(sync_pool *p)
{
    if (p == NULL)
        return;
    sync_pool_shutdown(p);
    sync_queue_destroy(p->queue);
    free(p->workers);
    free(p);
}

void
sync_pool_stats_get(sync_pool *p, sync_pool_stats *out)
{
    out->threads = p->nworkers;
    out->queue = p->kind;
    out->submitted = sync_load_rlx(&p->submitted);
    out->completed = sync_load_rlx(&p->completed);
}
