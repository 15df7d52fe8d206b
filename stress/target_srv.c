/*
 * stress/target_srv.c - the stress target "server:HOST:PORT" (or
 * "server:PORT", host 127.0.0.1): a running `casklab serve` driven over the
 * Redis protocol with hiredis, so the checker judges the whole service
 * (parser, pool, store, engine), not only the library.
 *
 * Each harness thread has its own connection (thread_begin opens it), as
 * real clients would. The operations map to commands: get = GET, put =
 * SET, del = DEL, cas = our `CAS key old new`, or `SET key new NX` when the
 * expected state is "absent". Values travel as decimal strings; a reply
 * that is no value anybody wrote reads as STRESS_TORN, which the checker
 * rejects. A timeout, a dropped connection or an error reply is returned
 * as a negative code, which the harness records as info (the operation
 * may or may not have taken effect); the connection is then reopened for
 * the thread's next operation, since a late reply would otherwise be
 * taken for the answer to a later command.
 */
#include "stress/stress.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRVT_TORN UINT64_MAX

enum { SRVT_TIMEOUT_S = 5, SRVT_EIO = -100 };

struct stress_target {
    char host[256];
    int port;
};

/* The calling harness thread's connection (NULL: reopen before use). */
static _Thread_local redisContext *srvt_conn;

static int
srvt_open(const char *name, stress_target **out)
{
    stress_target *t = calloc(1, sizeof(*t));
    const char *colon = strrchr(name, ':');
    const char *port = colon != NULL ? colon + 1 : name;
    size_t hlen = colon != NULL ? (size_t)(colon - name) : 0;
    char *end;
    long p;

    if (t == NULL)
        return STRESS_ENOMEM;
    p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p <= 0 || p > 65535 ||
        hlen >= sizeof(t->host)) {
        free(t);
        return STRESS_ENOTARGET;
    }
    if (hlen == 0)
        strcpy(t->host, "127.0.0.1");
    else
        memcpy(t->host, name, hlen);
    t->port = (int)p;
    *out = t;
    return 0;
}

static void
srvt_close(stress_target *t)
{
    free(t);
}

static void
srvt_drop(void)
{
    redisFree(srvt_conn);
    srvt_conn = NULL;
}

static redisContext *
srvt_ctx(stress_target *t)
{
    struct timeval tv = {SRVT_TIMEOUT_S, 0};

    if (srvt_conn == NULL) {
        srvt_conn = redisConnectWithTimeout(t->host, t->port, tv);
        if (srvt_conn != NULL && srvt_conn->err == 0 &&
            redisSetTimeout(srvt_conn, tv) == REDIS_OK)
            return srvt_conn;
        srvt_drop();
    }
    return srvt_conn;
}

static void
srvt_thread_begin(stress_target *t)
{
    (void)srvt_ctx(t);
}

static void
srvt_thread_end(stress_target *t)
{
    (void)t;
    srvt_drop();
}

/* Sends one command; NULL (and the connection dropped) on any failure. */
static redisReply *
srvt_cmd(stress_target *t, int argc, const char **argv, const size_t *lens)
{
    redisContext *c = srvt_ctx(t);
    redisReply *r;

    if (c == NULL)
        return NULL;
    r = redisCommandArgv(c, argc, argv, lens);
    if (r == NULL) {
        srvt_drop();
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static uint64_t
srvt_value(const redisReply *r)
{
    char buf[32], *end;
    unsigned long long v;

    if (r->len == 0 || r->len >= sizeof(buf))
        return SRVT_TORN;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    v = strtoull(buf, &end, 10);
    return *end == '\0' && v != 0 ? v : SRVT_TORN;
}

static int
srvt_get(stress_target *t, const void *key, size_t klen, uint64_t *val)
{
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, klen};
    redisReply *r = srvt_cmd(t, 2, argv, lens);
    int rc = STRESS_DONE;

    if (r == NULL)
        return SRVT_EIO;
    if (r->type == REDIS_REPLY_NIL)
        rc = STRESS_MISS;
    else
        *val = r->type == REDIS_REPLY_STRING ? srvt_value(r) : SRVT_TORN;
    freeReplyObject(r);
    return rc;
}

static int
srvt_put(stress_target *t, const void *key, size_t klen, uint64_t val)
{
    char v[24];
    const char *argv[] = {"SET", key, v};
    size_t lens[] = {3, klen, (size_t)snprintf(v, sizeof(v), "%llu",
                                               (unsigned long long)val)};
    redisReply *r = srvt_cmd(t, 3, argv, lens);
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS;

    freeReplyObject(r);
    return ok ? STRESS_DONE : SRVT_EIO;
}

static int
srvt_del(stress_target *t, const void *key, size_t klen)
{
    const char *argv[] = {"DEL", key};
    size_t lens[] = {3, klen};
    redisReply *r = srvt_cmd(t, 2, argv, lens);
    int rc = SRVT_EIO;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        rc = r->integer == 1 ? STRESS_DONE : STRESS_MISS;
    freeReplyObject(r);
    return rc;
}

static int
srvt_cas(stress_target *t, const void *key, size_t klen, uint64_t expected,
         uint64_t desired)
{
    char e[24], d[24];
    size_t elen = (size_t)snprintf(e, sizeof(e), "%llu",
                                   (unsigned long long)expected);
    size_t dlen = (size_t)snprintf(d, sizeof(d), "%llu",
                                   (unsigned long long)desired);
    const char *cas[] = {"CAS", key, e, d}, *nx[] = {"SET", key, d, "NX"};
    size_t caslen[] = {3, klen, elen, dlen}, nxlen[] = {3, klen, dlen, 2};
    redisReply *r = expected == 0 ? srvt_cmd(t, 4, nx, nxlen)
                                  : srvt_cmd(t, 4, cas, caslen);
    int rc = SRVT_EIO;

    if (r == NULL)
        return rc;
    if (r->type == REDIS_REPLY_STATUS ||
        (r->type == REDIS_REPLY_INTEGER && r->integer == 1))
        rc = STRESS_DONE;
    else if (r->type == REDIS_REPLY_NIL || r->type == REDIS_REPLY_INTEGER)
        rc = STRESS_MISS;
    freeReplyObject(r);
    return rc;
}

const stress_target_ops stress_srv_target = {
    "server",
    "a running casklab serve over RESP: server:[HOST:]PORT",
    srvt_open,
    srvt_close,
    srvt_thread_begin,
    srvt_thread_end,
    srvt_get,
    srvt_put,
    srvt_del,
    srvt_cas,
    NULL, /* merging is the server's business (POST /v1/admin/merge) */
    NULL, /* a remote server is not reopened by the harness */
};
