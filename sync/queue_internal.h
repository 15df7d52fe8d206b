/*
 * sync/queue_internal.h - the vtable behind sync/queue.h (private to sync/).
 *
 * Each implementation embeds struct sync_queue as its first member and fills
 * in ops; sync/queue.c dispatches through it.
 */
#ifndef SYNC_QUEUE_INTERNAL_H
#define SYNC_QUEUE_INTERNAL_H

#include "sync/queue.h"

typedef struct sync_queue_ops {
    int (*try_push)(sync_queue *q, const sync_task *task);
    int (*push)(sync_queue *q, const sync_task *task);
    int (*try_pop)(sync_queue *q, sync_task *task);
    int (*pop)(sync_queue *q, sync_task *task);
    void (*close)(sync_queue *q);
    size_t (*size)(sync_queue *q);
    void (*destroy)(sync_queue *q);
} sync_queue_ops;

struct sync_queue {
    const sync_queue_ops *ops;
};

int sync_queue_mutex_create(size_t capacity, sync_queue **out);
int sync_queue_ring_create(size_t capacity, sync_queue **out);

#endif /* SYNC_QUEUE_INTERNAL_H */
