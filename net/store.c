/*
 * net/store.c - what every store implementation shares: the srv_ error
 * table, the clock of expiry times, and freeing a key snapshot.
 */
#include "net/store.h"

#include <stdlib.h>
#include <time.h>

const char *
srv_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define SRV_ERR_CASE(name, val, msg)                                          \
    case (val):                                                               \
        return (msg);
        SRV_ERRNO_MAP(SRV_ERR_CASE)
#undef SRV_ERR_CASE
    }
    return "unknown error";
}

int64_t
srv_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
srv_keys_free(srv_keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->keys[i]);
    free(k->keys);
    free(k->lens);
    k->keys = NULL;
    k->lens = NULL;
    k->n = 0;
}
