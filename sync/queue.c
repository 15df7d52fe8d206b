/*
 * sync/queue.c - dispatch from the sync/queue.h interface to the chosen
 * implementation, kind names, and the sync_ error table.
 */
#include "sync/queue_internal.h"

#include <string.h>

const char *
sync_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define SYNC_ERR_CASE(name, val, msg)                                         \
    case (val):                                                               \
        return (msg);
        SYNC_ERRNO_MAP(SYNC_ERR_CASE)
#undef SYNC_ERR_CASE
    }
    return "unknown error";
}

const char *
sync_queue_kind_name(sync_queue_kind kind)
{
    return kind == SYNC_QUEUE_RING ? "ring" : "mutex";
}

int
sync_queue_kind_parse(const char *name, sync_queue_kind *kind)
{
    if (name != NULL && strcmp(name, "mutex") == 0)
        *kind = SYNC_QUEUE_MUTEX;
    else if (name != NULL && strcmp(name, "ring") == 0)
        *kind = SYNC_QUEUE_RING;
    else
        return SYNC_EINVAL;
    return 0;
}

int
sync_queue_create(sync_queue_kind kind, size_t capacity, sync_queue **out)
{
    if (out == NULL || capacity < 2)
        return SYNC_EINVAL;
    switch (kind) {
    case SYNC_QUEUE_MUTEX:
        return sync_queue_mutex_create(capacity, out);
    case SYNC_QUEUE_RING:
        return sync_queue_ring_create(capacity, out);
    }
    return SYNC_EINVAL;
}

void
sync_queue_destroy(sync_queue *q)
{
    if (q != NULL)
        q->ops->destroy(q);
}

int
sync_queue_try_push(sync_queue *q, const sync_task *task)
{
    return q->ops->try_push(q, task);
}

int
sync_queue_push(sync_queue *q, const sync_task *task)
{
    return q->ops->push(q, task);
}

int
sync_queue_try_pop(sync_queue *q, sync_task *task)
{
    return q->ops->try_pop(q, task);
}

int
sync_queue_pop(sync_queue *q, sync_task *task)
{
    return q->ops->pop(q, task);
}

void
sync_queue_close(sync_queue *q)
{
    q->ops->close(q);
}

size_t
sync_queue_size(sync_queue *q)
{
    return q->ops->size(q);
}
