/*
 * tests/test_sync_pool.c - the task queues of sync/queue.h and the thread
 * pool of sync/pool.h, run for one queue kind named on the command line
 * ("mutex" or "ring"), so each kind is its own ctest process.
 *
 * The concurrent cases count violations instead of asserting from worker
 * threads (CUnit is not thread-safe): exactly-once delivery of every task
 * across many producers and consumers, per-producer FIFO order as seen by
 * each consumer, and a drain on shutdown that runs every accepted task.
 * Queues are kept small so that the full and empty (parking) paths run.
 */
#include "sync/atomic.h"
#include "sync/pool.h"
#include "tests/cutest.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static sync_queue_kind kind;

enum { PRODUCERS = 4, CONSUMERS = 4, PER_PRODUCER = 20000, SMALL_CAP = 64 };

static void
noop(void *arg)
{
    (void)arg;
}

static void
test_names_and_errors(void)
{
    sync_queue_kind k;

    CU_ASSERT_EQUAL(sync_queue_kind_parse("mutex", &k), 0);
    CU_ASSERT_EQUAL(k, SYNC_QUEUE_MUTEX);
    CU_ASSERT_EQUAL(sync_queue_kind_parse("ring", &k), 0);
    CU_ASSERT_EQUAL(k, SYNC_QUEUE_RING);
    CU_ASSERT_EQUAL(sync_queue_kind_parse("lifo", &k), SYNC_EINVAL);
    CU_ASSERT_EQUAL(sync_queue_kind_parse(NULL, &k), SYNC_EINVAL);
    CU_ASSERT_STRING_EQUAL(sync_queue_kind_name(SYNC_QUEUE_RING), "ring");
    CU_ASSERT_STRING_EQUAL(sync_strerror(SYNC_EFULL), "queue is full");
    CU_ASSERT_STRING_EQUAL(sync_strerror(12345), "unknown error");
    CU_ASSERT_EQUAL(sync_queue_create(kind, 1, &(sync_queue *){NULL}),
                    SYNC_EINVAL);
}

static void
test_fifo_full_empty(void)
{
    sync_queue *q;
    sync_task t = {noop, NULL};

    CU_ASSERT_FATAL(sync_queue_create(kind, 8, &q) == 0);
    CU_ASSERT_EQUAL(sync_queue_try_pop(q, &t), SYNC_EEMPTY);
    for (uintptr_t i = 0; i < 8; i++) {
        t.arg = (void *)(i + 1);
        CU_ASSERT_EQUAL(sync_queue_try_push(q, &t), 0);
    }
    CU_ASSERT_EQUAL(sync_queue_try_push(q, &t), SYNC_EFULL);
    CU_ASSERT_EQUAL(sync_queue_size(q), 8);
    for (uintptr_t i = 0; i < 8; i++) {
        CU_ASSERT_EQUAL(sync_queue_try_pop(q, &t), 0);
        CU_ASSERT_EQUAL((uintptr_t)t.arg, i + 1);
    }
    CU_ASSERT_EQUAL(sync_queue_try_pop(q, &t), SYNC_EEMPTY);
    /* Wrap around the ring several times. */
    for (uintptr_t i = 0; i < 100; i++) {
        t.arg = (void *)i;
        CU_ASSERT_EQUAL(sync_queue_push(q, &t), 0);
        CU_ASSERT_EQUAL(sync_queue_pop(q, &t), 0);
        CU_ASSERT_EQUAL((uintptr_t)t.arg, i);
    }
    sync_queue_destroy(q);
}

static void
test_close_drains(void)
{
    sync_queue *q;
    sync_task t = {noop, (void *)7};

    CU_ASSERT_FATAL(sync_queue_create(kind, 4, &q) == 0);
    CU_ASSERT_EQUAL(sync_queue_push(q, &t), 0);
    sync_queue_close(q);
    sync_queue_close(q);
    CU_ASSERT_EQUAL(sync_queue_push(q, &t), SYNC_ECLOSED);
    CU_ASSERT_EQUAL(sync_queue_try_push(q, &t), SYNC_ECLOSED);
    t.arg = NULL;
    CU_ASSERT_EQUAL(sync_queue_pop(q, &t), 0);
    CU_ASSERT_EQUAL((uintptr_t)t.arg, 7);
    CU_ASSERT_EQUAL(sync_queue_pop(q, &t), SYNC_ECLOSED);
    CU_ASSERT_EQUAL(sync_queue_try_pop(q, &t), SYNC_ECLOSED);
    sync_queue_destroy(q);
}

/* ---- many producers, many consumers ---------------------------------- */

typedef struct mpmc {
    sync_queue *q;
    _Atomic unsigned char seen[PRODUCERS][PER_PRODUCER];
    _Atomic unsigned long order_violations;
    _Atomic unsigned long push_failures;
} mpmc;

typedef struct mpmc_arg {
    mpmc *m;
    unsigned id;
} mpmc_arg;

static void *
mpmc_producer(void *arg)
{
    mpmc_arg *a = arg;

    for (uintptr_t s = 0; s < PER_PRODUCER; s++) {
        /* The task's arg encodes (producer, sequence number). */
        sync_task t = {noop, (void *)(((uintptr_t)a->id << 32) | s)};

        if (sync_queue_push(a->m->q, &t) != 0)
            sync_faa_rlx(&a->m->push_failures, 1);
    }
    return NULL;
}

static void *
mpmc_consumer(void *arg)
{
    mpmc_arg *a = arg;
    long last[PRODUCERS];
    sync_task t;

    for (unsigned p = 0; p < PRODUCERS; p++)
        last[p] = -1;
    while (sync_queue_pop(a->m->q, &t) == 0) {
        uintptr_t v = (uintptr_t)t.arg;
        unsigned p = (unsigned)(v >> 32);
        long s = (long)(v & 0xffffffffu);

        if (p >= PRODUCERS || s >= PER_PRODUCER || s <= last[p]) {
            sync_faa_rlx(&a->m->order_violations, 1);
            continue;
        }
        last[p] = s;
        sync_faa_rlx(&a->m->seen[p][s], 1);
    }
    return NULL;
}

static void
test_mpmc_exactly_once_in_order(void)
{
    mpmc *m = calloc(1, sizeof(*m));
    pthread_t prod[PRODUCERS], cons[CONSUMERS];
    mpmc_arg pa[PRODUCERS], ca[CONSUMERS];
    unsigned long missing = 0, duplicated = 0;

    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_FATAL(sync_queue_create(kind, SMALL_CAP, &m->q) == 0);
    for (unsigned i = 0; i < CONSUMERS; i++) {
        ca[i] = (mpmc_arg){m, i};
        CU_ASSERT_FATAL(pthread_create(&cons[i], NULL, mpmc_consumer, &ca[i]) == 0);
    }
    for (unsigned i = 0; i < PRODUCERS; i++) {
        pa[i] = (mpmc_arg){m, i};
        CU_ASSERT_FATAL(pthread_create(&prod[i], NULL, mpmc_producer, &pa[i]) == 0);
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    sync_queue_close(m->q); /* no push in progress: producers joined */
    for (unsigned i = 0; i < CONSUMERS; i++)
        pthread_join(cons[i], NULL);
    for (unsigned p = 0; p < PRODUCERS; p++)
        for (unsigned s = 0; s < PER_PRODUCER; s++) {
            unsigned c = sync_load_rlx(&m->seen[p][s]);
            missing += c == 0;
            duplicated += c > 1;
        }
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT_EQUAL(duplicated, 0);
    CU_ASSERT_EQUAL(sync_load_rlx(&m->order_violations), 0);
    CU_ASSERT_EQUAL(sync_load_rlx(&m->push_failures), 0);
    CU_ASSERT_EQUAL(sync_queue_size(m->q), 0);
    sync_queue_destroy(m->q);
    free(m);
}

/* ---- the pool ---------------------------------------------------------- */

enum { SUBMITTERS = 3, PER_SUBMITTER = 20000 };

static _Atomic unsigned char ran[SUBMITTERS * PER_SUBMITTER];

static void
mark_ran(void *arg)
{
    sync_faa_rlx(&ran[(uintptr_t)arg], 1);
}

typedef struct submitter {
    sync_pool *pool;
    unsigned id;
    _Atomic unsigned long *failures;
} submitter;

static void *
submit_all(void *arg)
{
    submitter *s = arg;

    for (uintptr_t i = 0; i < PER_SUBMITTER; i++) {
        uintptr_t slot = (uintptr_t)s->id * PER_SUBMITTER + i;

        if (sync_pool_submit(s->pool, mark_ran, (void *)slot) != 0)
            sync_faa_rlx(s->failures, 1);
    }
    return NULL;
}

static _Atomic int hooks_started, hooks_stopped;

static void
hook_start(void *arg)
{
    (void)arg;
    sync_faa_rlx(&hooks_started, 1);
}

static void
hook_stop(void *arg)
{
    (void)arg;
    sync_faa_rlx(&hooks_stopped, 1);
}

static void
test_pool_runs_each_task_once(void)
{
    sync_pool_opts o = {4, SMALL_CAP, kind, hook_start, hook_stop, NULL};
    sync_pool *p;
    sync_pool_stats st;
    pthread_t th[SUBMITTERS];
    submitter sub[SUBMITTERS];
    _Atomic unsigned long failures = 0;
    unsigned long bad = 0;

    memset(ran, 0, sizeof(ran));
    CU_ASSERT_FATAL(sync_pool_create(&o, &p) == 0);
    for (unsigned i = 0; i < SUBMITTERS; i++) {
        sub[i] = (submitter){p, i, &failures};
        CU_ASSERT_FATAL(pthread_create(&th[i], NULL, submit_all, &sub[i]) == 0);
    }
    for (unsigned i = 0; i < SUBMITTERS; i++)
        pthread_join(th[i], NULL);
    sync_pool_shutdown(p);
    for (size_t i = 0; i < SUBMITTERS * PER_SUBMITTER; i++)
        bad += sync_load_rlx(&ran[i]) != 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(sync_load_rlx(&failures), 0);
    sync_pool_stats_get(p, &st);
    CU_ASSERT_EQUAL(st.threads, 4);
    CU_ASSERT_EQUAL(st.queue, kind);
    CU_ASSERT_EQUAL(st.submitted, SUBMITTERS * PER_SUBMITTER);
    CU_ASSERT_EQUAL(st.completed, SUBMITTERS * PER_SUBMITTER);
    CU_ASSERT_EQUAL(sync_pool_submit(p, noop, NULL), SYNC_ECLOSED);
    CU_ASSERT_EQUAL(sync_load_rlx(&hooks_started), 4);
    CU_ASSERT_EQUAL(sync_load_rlx(&hooks_stopped), 4);
    sync_pool_destroy(p);
}

/* A gate that holds the single worker inside its first task. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, open;
    _Atomic unsigned long after;
} gate;

static void
gate_task(void *arg)
{
    gate *g = arg;

    pthread_mutex_lock(&g->lock);
    g->entered = 1;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void
count_after(void *arg)
{
    gate *g = arg;

    sync_faa_rlx(&g->after, 1);
}

static void
gate_wait_entered(gate *g)
{
    pthread_mutex_lock(&g->lock);
    while (!g->entered)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void
gate_open(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void
test_pool_full_and_drain(void)
{
    sync_pool_opts o = {1, 2, kind, NULL, NULL, NULL};
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    sync_pool *p;

    CU_ASSERT_FATAL(sync_pool_create(&o, &p) == 0);
    CU_ASSERT_EQUAL(sync_pool_submit(p, gate_task, &g), 0);
    gate_wait_entered(&g); /* the worker is busy and the queue empty */
    CU_ASSERT_EQUAL(sync_pool_try_submit(p, count_after, &g), 0);
    CU_ASSERT_EQUAL(sync_pool_try_submit(p, count_after, &g), 0);
    CU_ASSERT_EQUAL(sync_pool_try_submit(p, count_after, &g), SYNC_EFULL);
    gate_open(&g);
    sync_pool_shutdown(p); /* must run both queued tasks before joining */
    CU_ASSERT_EQUAL(sync_load_rlx(&g.after), 2);
    sync_pool_destroy(p);
}

static void
test_pool_bad_options(void)
{
    sync_pool_opts o = {100000, 0, kind, NULL, NULL, NULL};
    sync_pool *p = NULL;

    CU_ASSERT_EQUAL(sync_pool_create(&o, &p), SYNC_EINVAL);
    o.threads = 0; /* online cores */
    o.queue_capacity = 1;
    CU_ASSERT_EQUAL(sync_pool_create(&o, &p), SYNC_EINVAL);
    CU_ASSERT_PTR_NULL(p);
}

int
main(int argc, char **argv)
{
    static const ct_case cases[] = {
        CT_CASE(test_names_and_errors),
        CT_CASE(test_fifo_full_empty),
        CT_CASE(test_close_drains),
        CT_CASE(test_mpmc_exactly_once_in_order),
        CT_CASE(test_pool_runs_each_task_once),
        CT_CASE(test_pool_full_and_drain),
        CT_CASE(test_pool_bad_options),
    };

    if (argc != 2 || sync_queue_kind_parse(argv[1], &kind) != 0) {
        fprintf(stderr, "usage: test_sync_pool mutex|ring\n");
        return 64;
    }
    return ct_run(argv[1], cases, CT_NCASES(cases)) ? 1 : 0;
}
