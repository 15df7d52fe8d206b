/*
 * tests/test_server.c - the RESP server of net/server.h over loopback.
 *
 * Each case starts its own server in a thread of this process, on a free
 * port of 127.0.0.1 (port 0), over the store named by the second argument
 * (memory: net/memstore.c; cask: the engine in a fresh temporary
 * directory, net/caskstore.c), and stops it at the end; srv_run must
 * return 0 (a graceful stop). With the engine, test_restart_after_kill
 * also checks durability: a server with --sync always is SIGKILLed in a
 * child process while clients write, and every acknowledged write must be
 * in the store reopened afterwards. Clients are hiredis with
 * 10-second socket timeouts, or raw sockets with the same timeouts where a
 * test must send bytes no client library would (malformed input, HTTP,
 * junk). Every loop is bounded. The queue kind of the pool is the
 * command-line argument, so both kinds serve the whole suite.
 */
#include "net/caskstore.h"
#include "net/server.h"
#include "sync/atomic.h"
#include "tests/cutest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static sync_queue_kind kind;
static int use_cask;

/* ---- store ---------------------------------------------------------------- */

/* A fresh temporary directory for the engine; its path in dir[64]. */
static void
tmp_dir(char *dir)
{
    strcpy(dir, "/tmp/casklab-srvtest-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
}

/* Removes an engine directory (flat: data, hint and lock files). */
static void
rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        CU_ASSERT_EQUAL(unlink(path), 0);
    }
    closedir(d);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

/* Engine options of the next store_open (fault injection); NULL = none. */
static int (*store_fault)(void *arg, const char *op);
/* Writes engine records into the directory before the next store_open. */
static void (*store_prefill)(const char *dir);
/* Wraps the next store_open's store in a race_store (below). */
static int store_racy;
static srv_store *race_wrap(srv_store *in);

static void
store_open(srv_store **st, const char *dir, cask_sync_mode sync)
{
    cask_options co = {0};
    char err[256];

    co.sync = sync;
    co.fault = store_fault;
    if (!use_cask) {
        CU_ASSERT_FATAL(srv_memstore_open(st) == 0);
    } else {
        if (store_prefill != NULL)
            store_prefill(dir);
        if (srv_caskstore_open(dir, &co, st, err, sizeof(err)) != 0) {
            fprintf(stderr, "  %s\n", err);
            CU_FAIL_FATAL("cannot open the engine store");
        }
    }
    if (store_racy)
        *st = race_wrap(*st);
}

/* ---- a store that loses a race on purpose ------------------------------- */

/*
 * Wraps a store; every operation goes through to it, except the first get
 * of race_key after race_armed is set: that get reads the value (or finds
 * none), then lets "another writer" set race_value, and returns what it
 * read, now stale. A read-modify-write command must then see its cas fail and go
 * round again; one that wrote blindly would lose race_value. Deterministic,
 * where a test of real concurrent clients may never hit the window.
 */
typedef struct race_store {
    srv_store base;
    srv_store *in;
} race_store;

static const char *race_key, *race_value;
static _Atomic int race_armed, race_fired;

#define RS_IN(s) (((race_store *)(s))->in)

static int
rs_get(srv_store *s, const void *k, size_t kl, char **v, size_t *vl)
{
    int rc = RS_IN(s)->ops->get(RS_IN(s), k, kl, v, vl), one = 1;
    srv_set_opts keep = {.keep_ttl = 1};

    if ((rc == 0 || rc == SRV_ENOTFOUND) && race_key != NULL &&
        kl == strlen(race_key) &&
        memcmp(k, race_key, kl) == 0 &&
        atomic_compare_exchange_strong(&race_armed, &one, 0)) {
        CU_ASSERT_EQUAL(RS_IN(s)->ops->set(RS_IN(s), k, kl, race_value,
                                           strlen(race_value), &keep), 0);
        sync_faa_rlx(&race_fired, 1);
    }
    return rc;
}

static int
rs_set(srv_store *s, const void *k, size_t kl, const void *v, size_t vl,
       const srv_set_opts *o)
{
    return RS_IN(s)->ops->set(RS_IN(s), k, kl, v, vl, o);
}

static int
rs_del(srv_store *s, const void *k, size_t kl)
{
    return RS_IN(s)->ops->del(RS_IN(s), k, kl);
}

static int
rs_exists(srv_store *s, const void *k, size_t kl)
{
    return RS_IN(s)->ops->exists(RS_IN(s), k, kl);
}

static int
rs_cas(srv_store *s, const void *k, size_t kl, const void *o, size_t ol,
       const void *v, size_t vl)
{
    return RS_IN(s)->ops->cas(RS_IN(s), k, kl, o, ol, v, vl);
}

static int
rs_expire(srv_store *s, const void *k, size_t kl, int64_t at)
{
    return RS_IN(s)->ops->expire(RS_IN(s), k, kl, at);
}

static int
rs_ttl(srv_store *s, const void *k, size_t kl, int64_t *at)
{
    return RS_IN(s)->ops->ttl(RS_IN(s), k, kl, at);
}

static int
rs_keys(srv_store *s, srv_keys *out)
{
    return RS_IN(s)->ops->keys(RS_IN(s), out);
}

static uint64_t
rs_count(srv_store *s)
{
    return RS_IN(s)->ops->count(RS_IN(s));
}

static int
rs_flush(srv_store *s)
{
    return RS_IN(s)->ops->flush(RS_IN(s));
}

static int
rs_merge(srv_store *s)
{
    return RS_IN(s)->ops->merge(RS_IN(s));
}

static int
rs_sync(srv_store *s)
{
    return RS_IN(s)->ops->sync(RS_IN(s));
}

static void
rs_stats(srv_store *s, srv_store_stats *out)
{
    RS_IN(s)->ops->stats(RS_IN(s), out);
}

static void
rs_thread_start(srv_store *s)
{
    if (RS_IN(s)->ops->thread_start != NULL)
        RS_IN(s)->ops->thread_start(RS_IN(s));
}

static void
rs_thread_stop(srv_store *s)
{
    if (RS_IN(s)->ops->thread_stop != NULL)
        RS_IN(s)->ops->thread_stop(RS_IN(s));
}

static void
rs_destroy(srv_store *s)
{
    RS_IN(s)->ops->destroy(RS_IN(s));
    free(s);
}

static const srv_store_ops rs_ops = {
    .get = rs_get, .set = rs_set, .del = rs_del, .exists = rs_exists,
    .cas = rs_cas, .expire = rs_expire, .ttl = rs_ttl, .keys = rs_keys,
    .count = rs_count, .flush = rs_flush, .merge = rs_merge, .sync = rs_sync,
    .stats = rs_stats, .thread_start = rs_thread_start,
    .thread_stop = rs_thread_stop, .destroy = rs_destroy,
};

static srv_store *
race_wrap(srv_store *in)
{
    race_store *r = calloc(1, sizeof(*r));

    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    r->base.ops = &rs_ops;
    r->in = in;
    return &r->base;
}

/* ---- fixture ------------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    srv_store *store;
    srv_server *srv;
    pthread_t th;
    int port, run_rc;
} fixture;

static void *
fx_thread(void *arg)
{
    fixture *f = arg;

    f->run_rc = srv_run(f->srv);
    return NULL;
}

/* Starts a server over a fresh store with the given engine sync mode. */
static void
fx_start_sync(fixture *f, srv_opts *o, cask_sync_mode sync)
{
    char err[160];

    memset(f, 0, sizeof(*f));
    o->port = 0;
    o->threads = 2;
    o->queue = kind;
    if (use_cask)
        tmp_dir(f->dir);
    store_open(&f->store, f->dir, sync);
    CU_ASSERT_FATAL(srv_create(o, f->store, &f->srv, err, sizeof(err)) == 0);
    f->port = srv_port(f->srv);
    CU_ASSERT_FATAL(f->port > 0);
    CU_ASSERT_FATAL(pthread_create(&f->th, NULL, fx_thread, f) == 0);
}

static void
fx_start(fixture *f, srv_opts *o)
{
    fx_start_sync(f, o, CASK_SYNC_NONE);
}

/* Waits for a stop that is already under way (SHUTDOWN) and frees. */
static void
fx_join(fixture *f)
{
    pthread_join(f->th, NULL);
    CU_ASSERT_EQUAL(f->run_rc, 0);
    srv_destroy(f->srv);
    f->store->ops->destroy(f->store);
    if (use_cask)
        rm_dir(f->dir);
}

static void
fx_stop(fixture *f)
{
    srv_stop(f->srv);
    fx_join(f);
}

static redisContext *
fx_client(const fixture *f)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", f->port, tv);

    CU_ASSERT_FATAL(c != NULL && c->err == 0);
    redisSetTimeout(c, tv);
    return c;
}

/* Runs a command; asserts the reply type and, for strings, statuses and
 * errors, the text (NULL: any). */
static void
expect(redisContext *c, int type, const char *text, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(r->type, type);
    if (r->type != type)
        fprintf(stderr, "  '%s': type %d, '%s'\n", fmt, r->type,
                r->str ? r->str : "");
    if (text != NULL && r->str != NULL) {
        CU_ASSERT_STRING_EQUAL(r->str, text);
        if (strcmp(r->str, text) != 0)
            fprintf(stderr, "  '%s': got '%s'\n", fmt, r->str);
    }
    freeReplyObject(r);
}

static long long
expect_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL_FATAL(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

#define ST REDIS_REPLY_STATUS
#define ER REDIS_REPLY_ERROR
#define STR REDIS_REPLY_STRING
#define NIL REDIS_REPLY_NIL

/* ---- raw sockets --------------------------------------------------------- */

/* rcvbuf > 0 fixes the receive buffer (no autotuning), before connect so
 * that the window is negotiated for it. */
static int
raw_connect_rcvbuf(int port, int rcvbuf)
{
    struct sockaddr_in a = {0};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CU_ASSERT_FATAL(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    return fd;
}

static int
raw_connect(int port)
{
    return raw_connect_rcvbuf(port, 0);
}

static int
raw_send(int fd, const void *p, size_t n)
{
    const char *b = p;

    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the server closes (returns the bytes) or a read times out
 * (returns -1). */
static long
raw_read_to_eof(int fd, char *buf, size_t cap)
{
    size_t got = 0;

    for (;;) {
        char sink[4096];
        char *dst = got < cap ? buf + got : sink;
        size_t room = got < cap ? cap - got : sizeof(sink);
        ssize_t r = recv(fd, dst, room, 0);

        if (r == 0)
            return (long)got;
        if (r < 0)
            return errno == ECONNRESET ? (long)got : -1;
        got += (size_t)r;
    }
}

/* Sends s, expects exactly the bytes want and then the close. */
static void
raw_expect(int port, const char *s, size_t slen, const char *want)
{
    char buf[512];
    int fd = raw_connect(port);
    long n;

    CU_ASSERT_EQUAL(raw_send(fd, s, slen), 0);
    n = raw_read_to_eof(fd, buf, sizeof(buf) - 1);
    CU_ASSERT_EQUAL_FATAL(n, (long)strlen(want));
    buf[n] = '\0';
    CU_ASSERT_STRING_EQUAL(buf, want);
    close(fd);
}

/* ---- cases --------------------------------------------------------------- */

static void
test_strings(void)
{
    srv_opts o = {0};
    fixture f;
    redisContext *c;

    fx_start(&f, &o);
    c = fx_client(&f);
    expect(c, ST, "PONG", "PING");
    expect(c, STR, "hi", "PING hi");
    expect(c, STR, "hello world", "ECHO %s", "hello world");
    expect(c, ST, "OK", "SELECT 0");
    expect(c, ER, "ERR DB index is out of range", "SELECT 1");
    expect(c, ER, "ERR value is not an integer or out of range", "SELECT x");
    expect(c, NIL, NULL, "GET k");
    expect(c, ST, "OK", "SET k v1");
    expect(c, STR, "v1", "GET k");
    expect(c, NIL, NULL, "SET k v2 NX");
    expect(c, STR, "v1", "GET k");
    expect(c, ST, "OK", "SET k v3 XX");
    expect(c, NIL, NULL, "SET other v XX");
    expect(c, ST, "OK", "SET bin %b", "a\0b\r\n", (size_t)5);
    {
        redisReply *r = redisCommand(c, "GET bin");
        CU_ASSERT_FATAL(r != NULL && r->type == STR);
        CU_ASSERT(r->len == 5 && memcmp(r->str, "a\0b\r\n", 5) == 0);
        freeReplyObject(r);
    }
    expect(c, ER, "ERR syntax error", "SET k v NX XX");
    expect(c, ER, "ERR syntax error", "SET k v EX 10 PX 10");
    expect(c, ER, "ERR syntax error", "SET k v BOGUS");
    expect(c, ER, "ERR invalid expire time in 'set' command", "SET k v EX 0");
    expect(c, ER, "ERR value is not an integer or out of range", "SET k v EX x");
    expect(c, ER, "ERR wrong number of arguments for 'get' command", "GET");
    expect(c, ER, "ERR wrong number of arguments for 'mset' command", "MSET a");
    expect(c, ER, "ERR invalid key: keys are 1 to 65536 bytes", "GET %b", "", (size_t)0);
    expect(c, ER, "ERR invalid key: keys are 1 to 65536 bytes", "MSET a 1 %b 2", "", (size_t)0);
    expect(c, ER, "ERR invalid key: keys are 1 to 65536 bytes", "DEL a %b", "", (size_t)0);
    expect(c, ST, "OK", "MSET a 1 b 2");
    {
        redisReply *r = redisCommand(c, "MGET a nope b");
        CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
        CU_ASSERT_STRING_EQUAL(r->element[0]->str, "1");
        CU_ASSERT_EQUAL(r->element[1]->type, NIL);
        CU_ASSERT_STRING_EQUAL(r->element[2]->str, "2");
        freeReplyObject(r);
    }
    CU_ASSERT_EQUAL(expect_int(c, "EXISTS a b nope a"), 3);
    CU_ASSERT_EQUAL(expect_int(c, "DEL a nope"), 1);
    CU_ASSERT_EQUAL(expect_int(c, "INCR ctr"), 1);
    CU_ASSERT_EQUAL(expect_int(c, "INCR ctr"), 2);
    expect(c, ER, "ERR value is not an integer or out of range", "INCR k");
    expect(c, ST, "OK", "SET big 9223372036854775807");
    expect(c, ER, "ERR increment or decrement would overflow", "INCR big");
    CU_ASSERT_EQUAL(expect_int(c, "INCRBY ctr 40"), 42);
    CU_ASSERT_EQUAL(expect_int(c, "DECR ctr"), 41);
    CU_ASSERT_EQUAL(expect_int(c, "DECRBY ctr 50"), -9);
    CU_ASSERT_EQUAL(expect_int(c, "DECR fresh"), -1);
    CU_ASSERT_EQUAL(expect_int(c, "INCRBY fresh2 -5"), -5);
    expect(c, STR, "-9", "GET ctr");
    expect(c, ER, "ERR value is not an integer or out of range", "INCRBY ctr x");
    expect(c, ER, "ERR increment or decrement would overflow", "INCRBY big 1");
    expect(c, ER, "ERR decrement would overflow", "DECRBY ctr -9223372036854775808");
    expect(c, ST, "OK", "SET small -9223372036854775807");
    expect(c, ER, "ERR increment or decrement would overflow", "DECRBY small 2");
    expect(c, ER, "ERR wrong number of arguments for 'incrby' command", "INCRBY ctr");
    CU_ASSERT_EQUAL(expect_int(c, "SETNX nx1 a"), 1);
    CU_ASSERT_EQUAL(expect_int(c, "SETNX nx1 b"), 0);
    expect(c, STR, "a", "GET nx1");
    expect(c, ST, "string", "TYPE nx1");
    expect(c, ST, "none", "TYPE nope");
    CU_ASSERT_EQUAL(expect_int(c, "STRLEN big"), 19);
    CU_ASSERT_EQUAL(expect_int(c, "STRLEN nope"), 0);
    CU_ASSERT_EQUAL(expect_int(c, "UNLINK nx1 nope fresh"), 2);
    {
        redisReply *r = redisCommand(c, "TIME");
        CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        CU_ASSERT(strtoll(r->element[0]->str, NULL, 10) > 1700000000);
        CU_ASSERT(strtoll(r->element[1]->str, NULL, 10) < 1000000);
        freeReplyObject(r);
    }
    CU_ASSERT_EQUAL(expect_int(c, "CAS k v3 v4"), 1);
    CU_ASSERT_EQUAL(expect_int(c, "CAS k v3 v5"), 0);
    expect(c, NIL, NULL, "CAS nokey a b");
    expect(c, STR, "v4", "GET k");
    expect(c, ER, NULL, "FOO bar");
    expect(c, ER, "ERR unknown command 'FOO', with args beginning with: 'bar' ",
           "FOO bar");
    redisFree(c);
    fx_stop(&f);
}

static void
test_keyspace_and_expiry(void)
{
    srv_opts o = {0};
    fixture f;
    redisContext *c;
    redisReply *r;

    fx_start(&f, &o);
    c = fx_client(&f);
    expect(c, ST, "OK", "MSET user:1 a user:2 b item:1 c");
    CU_ASSERT_EQUAL(expect_int(c, "DBSIZE"), 3);
    r = redisCommand(c, "KEYS user:*");
    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY);
    CU_ASSERT_EQUAL(r->elements, 2);
    freeReplyObject(r);
    r = redisCommand(c, "KEYS [iu]te?:[0-9]");
    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY);
    CU_ASSERT_EQUAL(r->elements, 1);
    freeReplyObject(r);
    CU_ASSERT_EQUAL(expect_int(c, "TTL nope"), -2);
    CU_ASSERT_EQUAL(expect_int(c, "TTL item:1"), -1);
    CU_ASSERT_EQUAL(expect_int(c, "EXPIRE item:1 100"), 1);
    CU_ASSERT_EQUAL(expect_int(c, "TTL item:1"), 100);
    CU_ASSERT_EQUAL(expect_int(c, "EXPIRE nope 100"), 0);
    expect(c, ST, "OK", "SET item:1 c2 KEEPTTL");
    CU_ASSERT_EQUAL(expect_int(c, "TTL item:1"), 100);
    expect(c, ST, "OK", "SET item:1 c3");
    CU_ASSERT_EQUAL(expect_int(c, "TTL item:1"), -1);
    expect(c, ST, "OK", "SET tmp x PX 100000");
    CU_ASSERT_EQUAL(expect_int(c, "TTL tmp"), 100);
    {
        long long ms = expect_int(c, "PTTL tmp");
        CU_ASSERT(ms > 90000 && ms <= 100000);
    }
    CU_ASSERT_EQUAL(expect_int(c, "PTTL nope"), -2);
    CU_ASSERT_EQUAL(expect_int(c, "PTTL user:1"), -1);
    CU_ASSERT_EQUAL(expect_int(c, "PEXPIRE user:1 50000"), 1);
    CU_ASSERT_EQUAL(expect_int(c, "TTL user:1"), 50);
    expect(c, ST, "OK", "SETEX sx 30 v");
    CU_ASSERT_EQUAL(expect_int(c, "TTL sx"), 30);
    expect(c, STR, "v", "GET sx");
    expect(c, ST, "OK", "PSETEX psx 20000 v");
    CU_ASSERT_EQUAL(expect_int(c, "TTL psx"), 20);
    expect(c, ER, "ERR invalid expire time in 'setex' command", "SETEX sx 0 v");
    expect(c, ER, "ERR invalid expire time in 'psetex' command", "PSETEX sx -5 v");
    expect(c, ER, "ERR value is not an integer or out of range", "SETEX sx ten v");
    /* An expiry in the past deletes at once, as in Redis. */
    CU_ASSERT_EQUAL(expect_int(c, "EXPIRE tmp -1"), 1);
    CU_ASSERT_EQUAL(expect_int(c, "EXISTS tmp"), 0);
    expect(c, ST, "OK", "FLUSHALL");
    CU_ASSERT_EQUAL(expect_int(c, "DBSIZE"), 0);
    expect(c, ER, "ERR syntax error", "FLUSHALL NOW");
    redisFree(c);
    fx_stop(&f);
}

/* SCAN returns exactly the keys present at cursor 0, each once, even while
 * keys are added and removed between calls. */
static void
test_scan_snapshot(void)
{
    enum { N = 100 };
    srv_opts o = {0};
    fixture f;
    redisContext *c;
    unsigned char seen[N] = {0};
    long long cursor = 0;
    int rounds = 0, extra = 0;

    fx_start(&f, &o);
    c = fx_client(&f);
    for (int i = 0; i < N; i++)
        expect(c, ST, "OK", "SET key:%d %d", i, i);
    do {
        redisReply *r = redisCommand(c, "SCAN %lld COUNT 7", cursor);
        CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        cursor = strtoll(r->element[0]->str, NULL, 10);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            int k = -1;
            if (sscanf(r->element[1]->element[i]->str, "key:%d", &k) == 1 &&
                k >= 0 && k < N)
                seen[k]++;
            else
                extra++;
        }
        freeReplyObject(r);
        expect(c, ST, "OK", "SET new:%d x", rounds); /* churn */
        expect_int(c, "DEL key:%d", rounds);
    } while (cursor != 0 && ++rounds < 1000);
    CU_ASSERT_EQUAL(cursor, 0);
    CU_ASSERT_EQUAL(extra, 0);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(seen[i], 1);
    expect(c, ER, "ERR invalid cursor", "SCAN 5");
    expect(c, ER, "ERR invalid cursor", "SCAN -1");
    expect(c, ER, "ERR syntax error", "SCAN 0 COUNT 0");
    {
        redisReply *r = redisCommand(c, "SCAN 0 MATCH new:* COUNT 1000");
        CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY);
        CU_ASSERT_STRING_EQUAL(r->element[0]->str, "0");
        CU_ASSERT_EQUAL(r->element[1]->elements, (size_t)rounds + 1);
        freeReplyObject(r);
    }
    redisFree(c);
    fx_stop(&f);
}

static void
test_server_commands(void)
{
    srv_opts o = {0};
    fixture f;
    redisContext *c;
    redisReply *r;

    fx_start(&f, &o);
    c = fx_client(&f);
    r = redisCommand(c, "CONFIG GET save");
    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    CU_ASSERT_STRING_EQUAL(r->element[0]->str, "save");
    freeReplyObject(r);
    r = redisCommand(c, "CONFIG GET appendonly");
    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    freeReplyObject(r);
    expect(c, ER, NULL, "CONFIG SET save x");
    CU_ASSERT(expect_int(c, "COMMAND COUNT") >= 25);
    expect(c, ER, "NOPROTO unsupported protocol version", "HELLO 3");
    expect(c, ER, "ERR syntax error", "HELLO 2 AUTH x");
    r = redisCommand(c, "COMMAND");
    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 24);
    freeReplyObject(r);
    r = redisCommand(c, "COMMAND DOCS");
    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    r = redisCommand(c, "COMMAND INFO get nosuch");
    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    CU_ASSERT_EQUAL(r->element[0]->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    r = redisCommand(c, "INFO");
    CU_ASSERT_FATAL(r != NULL && r->type == STR);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->str, "pool_queue:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->str, "connected_clients:1"));
    /* what redis-cli --stat reads */
    CU_ASSERT_PTR_NOT_NULL(strstr(r->str, "\r\nblocked_clients:0\r\n"));
    {
        const char *m = strstr(r->str, "\r\nused_memory:");
        CU_ASSERT_FATAL(m != NULL);
        CU_ASSERT(strtoull(m + 14, NULL, 10) > 0);
    }
    freeReplyObject(r);
    /* INFO SECTION... gives those sections alone, as Redis 7 does */
    r = redisCommand(c, "INFO memory CLIENTS");
    CU_ASSERT_FATAL(r != NULL && r->type == STR);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->str, "# Memory\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->str, "# Clients\r\n"));
    CU_ASSERT_PTR_NULL(strstr(r->str, "# Server"));
    CU_ASSERT_PTR_NULL(strstr(r->str, "# Keyspace"));
    freeReplyObject(r);
    r = redisCommand(c, "INFO nosuchsection");
    CU_ASSERT_FATAL(r != NULL && r->type == STR);
    CU_ASSERT_EQUAL(r->len, 0);
    freeReplyObject(r);
    expect(c, ER, "ERR AUTH <password> called without any password configured "
           "for the default user. Are you sure your configuration is correct?",
           "AUTH x");
    redisFree(c);
    fx_stop(&f);
}

static void
test_auth(void)
{
    srv_opts o = {.requirepass = "s3cret"};
    fixture f;
    redisContext *c;

    fx_start(&f, &o);
    c = fx_client(&f);
    expect(c, ER, "NOAUTH Authentication required.", "GET k");
    expect(c, ER, "NOAUTH Authentication required.", "PING");
    expect(c, ER, "WRONGPASS invalid username-password pair or user is disabled.",
           "AUTH wrong");
    expect(c, ER, "WRONGPASS invalid username-password pair or user is disabled.",
           "AUTH s3cre");
    expect(c, ER, "WRONGPASS invalid username-password pair or user is disabled.",
           "AUTH admin s3cret");
    expect(c, ER, "NOPROTO unsupported protocol version", "HELLO 3");
    expect(c, ER, NULL, "HELLO 2");
    expect(c, ER, "WRONGPASS invalid username-password pair or user is disabled.",
           "HELLO 2 AUTH default nope");
    expect(c, ST, "OK", "AUTH default s3cret");
    expect(c, ST, "OK", "SET k v");
    redisFree(c);
    c = fx_client(&f); /* a new connection starts unauthenticated */
    expect(c, ER, "NOAUTH Authentication required.", "GET k");
    {
        redisReply *r = redisCommand(c, "HELLO 2 AUTH default s3cret");
        CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 14);
        CU_ASSERT_STRING_EQUAL(r->element[1]->str, "casklab");
        freeReplyObject(r);
    }
    expect(c, STR, "v", "GET k");
    redisFree(c);
    fx_stop(&f);
}

/* 2000 pipelined requests in one go: every reply, in order. */
static void
test_pipelining(void)
{
    enum { N = 1000 };
    srv_opts o = {.max_batch = 64}; /* many batches, one after another */
    fixture f;
    redisContext *c;
    int bad = 0;

    fx_start(&f, &o);
    c = fx_client(&f);
    for (int i = 0; i < N; i++) {
        redisAppendCommand(c, "SET p:%d %d", i, i);
        redisAppendCommand(c, "GET p:%d", i);
    }
    for (int i = 0; i < N; i++) {
        redisReply *r1, *r2;
        CU_ASSERT_FATAL(redisGetReply(c, (void **)&r1) == REDIS_OK);
        CU_ASSERT_FATAL(redisGetReply(c, (void **)&r2) == REDIS_OK);
        bad += r1->type != ST || r2->type != STR || atoi(r2->str) != i;
        freeReplyObject(r1);
        freeReplyObject(r2);
    }
    CU_ASSERT_EQUAL(bad, 0);
    redisFree(c);
    fx_stop(&f);
}

/* Sends everything hiredis has buffered for c (blocking socket). */
static void
flush_client(redisContext *c)
{
    int done = 0;

    while (!done)
        CU_ASSERT_FATAL(redisBufferWrite(c, &done) == REDIS_OK);
}

/* Opens `clients` connections to f's server, each with `depth` pipelined
 * SET pfx:i:d commands sent and their replies not yet read. */
static void
pipe_sets(const fixture *f, redisContext **c, int clients, int depth,
          const char *pfx)
{
    for (int i = 0; i < clients; i++) {
        c[i] = fx_client(f);
        for (int d = 0; d < depth; d++)
            redisAppendCommand(c[i], "SET %s:%d:%d v", pfx, i, d);
        flush_client(c[i]);
    }
}

/* Pass batching: many connections' pipelines land in the same loop pass
 * and travel to the pool as a few jobs; each connection must still get
 * its own replies, complete and in order. Every client sends its whole
 * round before any client reads, so passes see many ready connections. */
static void
test_pass_batching(void)
{
    enum { CLIENTS = 24, ROUNDS = 20, DEPTH = 16 };
    srv_opts o = {.max_batch = 8}; /* several batches per pipeline, too */
    redisContext *c[CLIENTS];
    fixture f;
    int bad = 0;

    fx_start(&f, &o);
    for (int i = 0; i < CLIENTS; i++)
        c[i] = fx_client(&f);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < CLIENTS; i++) {
            for (int d = 0; d < DEPTH; d++) {
                redisAppendCommand(c[i], "INCR n:%d", i);
                redisAppendCommand(c[i], "SET v:%d %d:%d", i, r, d);
                redisAppendCommand(c[i], "GET v:%d", i);
            }
            flush_client(c[i]);
        }
        for (int i = 0; i < CLIENTS; i++) {
            for (int d = 0; d < DEPTH; d++) {
                redisReply *a, *b, *g;
                char want[32];
                CU_ASSERT_FATAL(redisGetReply(c[i], (void **)&a) == REDIS_OK);
                CU_ASSERT_FATAL(redisGetReply(c[i], (void **)&b) == REDIS_OK);
                CU_ASSERT_FATAL(redisGetReply(c[i], (void **)&g) == REDIS_OK);
                snprintf(want, sizeof(want), "%d:%d", r, d);
                bad += a->type != REDIS_REPLY_INTEGER ||
                       a->integer != (long long)r * DEPTH + d + 1;
                bad += b->type != ST;
                bad += g->type != STR || strcmp(g->str, want) != 0;
                freeReplyObject(a);
                freeReplyObject(b);
                freeReplyObject(g);
            }
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    for (int i = 0; i < CLIENTS; i++)
        redisFree(c[i]);
    fx_stop(&f);
}

/* A stop while many connections' batches are on the pool or waiting for
 * the pass: each client still gets a correct prefix of its replies and
 * then the close, and srv_run returns 0 (fx_join). */
static void
test_stop_during_pass(void)
{
    enum { CLIENTS = 16, N = 200 };
    srv_opts o = {.max_batch = 4};
    fixture f;
    char req[N * 16], resp[N * 16];
    int fd[CLIENTS], bad = 0;
    size_t len = 0;

    for (int i = 0; i < N; i++)
        len += (size_t)sprintf(req + len, "INCR s\r\n");
    fx_start(&f, &o);
    for (int i = 0; i < CLIENTS; i++) {
        fd[i] = raw_connect(f.port);
        CU_ASSERT_EQUAL(raw_send(fd[i], req, len), 0);
    }
    srv_stop(f.srv);
    for (int i = 0; i < CLIENTS; i++) {
        long n = raw_read_to_eof(fd[i], resp, sizeof(resp));
        CU_ASSERT_FATAL(n >= 0);
        /* The clients share one counter, so each sees increasing values,
         * every one a whole integer reply. */
        long off = 0, last = 0;
        while (off < n) {
            char *end = memchr(resp + off, '\n', (size_t)(n - off));
            long v;
            if (resp[off] != ':' || end == NULL) {
                bad++;
                break;
            }
            v = strtol(resp + off + 1, NULL, 10);
            bad += v <= last;
            last = v;
            off = end - resp + 1;
        }
        close(fd[i]);
    }
    CU_ASSERT_EQUAL(bad, 0);
    fx_join(&f);
}

/* Group commit under sync=always: every acknowledged SET was covered by a
 * commit, and INFO counts them (one commit covers many writes when many
 * clients write at once; how many is timing, so only the totals are
 * checked). Over the memory store nothing commits. */
static void
test_group_commit_counts(void)
{
    enum { CLIENTS = 8, DEPTH = 50 };
    srv_opts o = {0};
    redisContext *c[CLIENTS];
    redisReply *r;
    fixture f;
    long long commits = -1, cmds = -1, batches = -1;

    fx_start_sync(&f, &o, CASK_SYNC_ALWAYS);
    pipe_sets(&f, c, CLIENTS, DEPTH, "gc");
    for (int i = 0; i < CLIENTS; i++) {
        for (int d = 0; d < DEPTH; d++) {
            CU_ASSERT_FATAL(redisGetReply(c[i], (void **)&r) == REDIS_OK);
            CU_ASSERT_EQUAL(r->type, ST);
            freeReplyObject(r);
        }
    }
    r = redisCommand(c[0], "INFO");
    CU_ASSERT_FATAL(r != NULL && r->type == STR);
    {
        const char *p = strstr(r->str, "commits:");
        const char *q = strstr(r->str, "commit_commands:");
        const char *b = strstr(r->str, "commit_batches:");
        CU_ASSERT_FATAL(p && q && b);
        commits = atoll(p + 8);
        cmds = atoll(q + 16);
        batches = atoll(b + 15);
    }
    freeReplyObject(r);
    if (use_cask) {
        CU_ASSERT(commits >= 1);
        CU_ASSERT_EQUAL(cmds, CLIENTS * DEPTH);
        CU_ASSERT(batches >= CLIENTS && batches <= CLIENTS * DEPTH);
        CU_ASSERT(commits <= batches);
    } else {
        CU_ASSERT_EQUAL(commits, 0);
        CU_ASSERT_EQUAL(cmds, 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        redisFree(c[i]);
    fx_stop(&f);
}

typedef struct incr_arg {
    int port;
    const char *cmd; /* a command whose integer replies only grow */
    _Atomic int failures;
} incr_arg;

enum { INCR_CLIENTS = 4, INCR_EACH = 300 };

static void *
incr_client(void *arg)
{
    incr_arg *a = arg;
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", a->port, tv);
    long long last = 0;

    if (c == NULL || c->err) {
        sync_faa_rlx(&a->failures, 1);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    for (int i = 0; i < INCR_EACH; i++) {
        redisReply *r = redisCommand(c, a->cmd);
        /* Replies come in order and the command is atomic: strictly
         * increasing. */
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer <= last)
            sync_faa_rlx(&a->failures, 1);
        else
            last = r->integer;
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

/* INCR_CLIENTS clients each run cmd INCR_EACH times on key "shared"; then
 * check (a command) must answer want: no update was lost. */
static void
concurrent_updates(const char *cmd, const char *check, int type,
                   const char *want)
{
    srv_opts o = {0};
    fixture f;
    incr_arg a = {.cmd = cmd};
    pthread_t th[INCR_CLIENTS];
    redisContext *c;

    fx_start(&f, &o);
    a.port = f.port;
    atomic_init(&a.failures, 0);
    for (int i = 0; i < INCR_CLIENTS; i++)
        CU_ASSERT_FATAL(pthread_create(&th[i], NULL, incr_client, &a) == 0);
    for (int i = 0; i < INCR_CLIENTS; i++)
        pthread_join(th[i], NULL);
    CU_ASSERT_EQUAL(sync_load_rlx(&a.failures), 0);
    c = fx_client(&f);
    expect(c, type, want, check);
    redisFree(c);
    fx_stop(&f);
}

static void
test_concurrent_incr(void)
{
    concurrent_updates("INCR shared", "GET shared", STR, "1200");
}

/* APPEND, SETRANGE, GETRANGE (and SUBSTR), EXPIREAT, PEXPIREAT, with
 * Redis's answers at the edges. */
static void
test_string_edits(void)
{
    srv_opts o = {0};
    fixture f;
    redisContext *c;
    redisReply *r;
    long long now = (long long)time(NULL);

    fx_start(&f, &o);
    c = fx_client(&f);
    CU_ASSERT_EQUAL(expect_int(c, "APPEND a hello"), 5);
    CU_ASSERT_EQUAL(expect_int(c, "APPEND a %s", " world"), 11);
    expect(c, STR, "hello world", "GET a");
    expect(c, STR, "hello", "GETRANGE a 0 4");
    expect(c, STR, "world", "GETRANGE a -5 -1");
    expect(c, STR, "hello world", "GETRANGE a 0 100");
    expect(c, STR, "hello world", "GETRANGE a -100 -1");
    expect(c, STR, "", "GETRANGE a 5 2");
    expect(c, STR, "", "GETRANGE a -1 -5");
    expect(c, STR, "", "GETRANGE nokey 0 -1");
    expect(c, STR, "ell", "SUBSTR a 1 3");
    expect(c, ER, "ERR value is not an integer or out of range",
           "GETRANGE a x 1");
    /* SETRANGE overwrites, pads with zeros, keeps an empty value's key
     * absent. */
    CU_ASSERT_EQUAL(expect_int(c, "SETRANGE a 6 W"), 11);
    expect(c, STR, "hello World", "GET a");
    CU_ASSERT_EQUAL(expect_int(c, "SETRANGE pad 3 x"), 4);
    r = redisCommand(c, "GET pad");
    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_STRING);
    CU_ASSERT_EQUAL(r->len, 4);
    CU_ASSERT(memcmp(r->str, "\0\0\0x", 4) == 0);
    freeReplyObject(r);
    CU_ASSERT_EQUAL(expect_int(c, "SETRANGE empty 5 %b", "", (size_t)0), 0);
    CU_ASSERT_EQUAL(expect_int(c, "EXISTS empty"), 0);
    CU_ASSERT_EQUAL(expect_int(c, "SETRANGE a 0 %b", "", (size_t)0), 11);
    expect(c, ER, "ERR offset is out of range", "SETRANGE a -1 x");
    expect(c, ER, "ERR string exceeds maximum allowed size "
           "(proto-max-bulk-len)", "SETRANGE a 536870912 x");
    CU_ASSERT_EQUAL(expect_int(c, "APPEND blank %b", "", (size_t)0), 0);
    CU_ASSERT_EQUAL(expect_int(c, "EXISTS blank"), 1);
    /* Both keep the key's expiry, as INCR does. */
    expect(c, ST, "OK", "SET t v EX 100");
    CU_ASSERT_EQUAL(expect_int(c, "APPEND t x"), 2);
    CU_ASSERT_EQUAL(expect_int(c, "SETRANGE t 0 y"), 2);
    CU_ASSERT_EQUAL(expect_int(c, "TTL t"), 100);
    expect(c, STR, "yx", "GET t");
    /* Absolute expiries: in the future, and in the past (deletes). */
    CU_ASSERT_EQUAL(expect_int(c, "EXPIREAT t %lld", now + 200), 1);
    CU_ASSERT(expect_int(c, "TTL t") >= 198);
    CU_ASSERT_EQUAL(expect_int(c, "PEXPIREAT t %lld", (now + 50) * 1000), 1);
    CU_ASSERT(expect_int(c, "TTL t") <= 50);
    CU_ASSERT_EQUAL(expect_int(c, "EXPIREAT nokey %lld", now + 200), 0);
    CU_ASSERT_EQUAL(expect_int(c, "EXPIREAT t 1"), 1);
    CU_ASSERT_EQUAL(expect_int(c, "EXISTS t"), 0);
    expect(c, ER, "ERR invalid expire time in 'expireat' command",
           "EXPIREAT a 9223372036854775807");
    expect(c, ST, "OK", "SET gone v");
    CU_ASSERT_EQUAL(expect_int(c, "PEXPIREAT gone -9223372036854775808"), 1);
    CU_ASSERT_EQUAL(expect_int(c, "EXISTS gone"), 0);
    expect(c, ER, "ERR invalid expire time in 'expire' command",
           "EXPIRE a -9223372036854775808");
    redisFree(c);
    fx_stop(&f);
}

/* Concurrent APPENDs of one key: none is lost (each is a cas round that
 * retries), and each client sees its lengths grow. */
static void
test_concurrent_append(void)
{
    char want[INCR_CLIENTS * INCR_EACH + 1];

    memset(want, 'x', sizeof(want) - 1);
    want[sizeof(want) - 1] = '\0';
    concurrent_updates("APPEND shared x", "GET shared", STR, want);
}

/* A writer that gets in between a read-modify-write's read and its write
 * (race_store): APPEND, SETRANGE and INCR go round again and keep its
 * value, instead of overwriting it with one computed from the stale read. */
static void
test_rmw_retry(void)
{
    srv_opts o = {0};
    fixture f;
    redisContext *c;

    store_racy = 1;
    fx_start(&f, &o);
    store_racy = 0;
    c = fx_client(&f);
    race_key = "race";
    expect(c, ST, "OK", "SET race v");
    race_value = "zz";
    sync_store_rlx(&race_armed, 1);
    CU_ASSERT_EQUAL(expect_int(c, "APPEND race x"), 3);
    expect(c, STR, "zzx", "GET race");
    race_value = "abcd";
    sync_store_rlx(&race_armed, 1);
    CU_ASSERT_EQUAL(expect_int(c, "SETRANGE race 1 Q"), 4);
    expect(c, STR, "aQcd", "GET race");
    expect(c, ST, "OK", "SET race 5");
    race_value = "10";
    sync_store_rlx(&race_armed, 1);
    CU_ASSERT_EQUAL(expect_int(c, "INCR race"), 11);
    /* An absent key that another writer creates meanwhile: SET NX fails,
     * and the next round appends to what that writer put. */
    race_key = "fresh";
    race_value = "abc";
    sync_store_rlx(&race_armed, 1);
    CU_ASSERT_EQUAL(expect_int(c, "APPEND fresh x"), 4);
    expect(c, STR, "abcx", "GET fresh");
    CU_ASSERT_EQUAL(sync_load_rlx(&race_fired), 4);
    race_key = NULL;
    redisFree(c);
    fx_stop(&f);
}

/* CLIENT LIST's text, as a string (the caller frees). */
static char *
client_list(redisContext *c)
{
    redisReply *r = redisCommand(c, "CLIENT LIST");
    char *s;

    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_STRING);
    s = strdup(r->str);
    freeReplyObject(r);
    CU_ASSERT_FATAL(s != NULL);
    return s;
}

/* CLIENT ID/SETNAME/GETNAME/SETINFO/INFO/LIST, and SAVE/BGSAVE/LASTSAVE. */
static void
test_client_commands(void)
{
    srv_opts o = {0};
    fixture f;
    redisContext *a, *b;
    long long ida, idb, before = (long long)time(NULL);
    char *list, want[64];
    redisReply *r;
    int gone = 0;

    fx_start(&f, &o);
    a = fx_client(&f);
    b = fx_client(&f);
    ida = expect_int(a, "CLIENT ID");
    idb = expect_int(b, "CLIENT ID");
    CU_ASSERT(ida > 0 && idb > ida);
    expect(a, NIL, NULL, "CLIENT GETNAME");
    expect(a, ST, "OK", "CLIENT SETNAME alpha");
    expect(a, STR, "alpha", "CLIENT GETNAME");
    expect(a, ER, "ERR Client names cannot contain spaces, newlines or "
           "special characters.", "CLIENT SETNAME %s", "two words");
    expect(a, STR, "alpha", "CLIENT GETNAME");
    expect(b, ST, "OK", "CLIENT SETINFO LIB-NAME casklab-test");
    expect(b, ST, "OK", "CLIENT SETINFO lib-ver 1.2");
    expect(b, ER, "ERR Unrecognized option 'color'", "CLIENT SETINFO color red");
    expect(b, ER, "ERR unknown subcommand 'KILL'. Try CLIENT HELP.",
           "CLIENT KILL ID 1");
    expect(b, ER, "ERR wrong number of arguments for 'client|setname' "
           "command", "CLIENT SETNAME a b");
    expect(b, ER, "ERR wrong number of arguments for 'client|id' command",
           "CLIENT ID x");
    r = redisCommand(b, "CLIENT INFO");
    CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_STRING);
    snprintf(want, sizeof(want), "id=%lld addr=127.0.0.1:", idb);
    CU_ASSERT(strncmp(r->str, want, strlen(want)) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->str, " lib-name=casklab-test lib-ver=1.2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->str, " cmd=client "));
    freeReplyObject(r);
    expect(b, NIL, NULL, "GET nokey");
    list = client_list(a);
    snprintf(want, sizeof(want), "id=%lld ", ida);
    CU_ASSERT_PTR_NOT_NULL(strstr(list, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(list, " name=alpha "));
    snprintf(want, sizeof(want), "id=%lld ", idb);
    CU_ASSERT_PTR_NOT_NULL(strstr(list, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(list, " cmd=get "));
    free(list);
    /* A client that left is taken off the list once the server has closed
     * its side (polled, bounded: the close is the loop's, a moment later). */
    redisFree(b);
    for (int i = 0; i < 500 && !gone; i++) {
        list = client_list(a);
        gone = strstr(list, want) == NULL;
        free(list);
        if (!gone)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    CU_ASSERT(gone);
    /* LASTSAVE is in seconds: once the clock has left the second the
     * server started in, only a SAVE can move it to now. */
    CU_ASSERT(expect_int(a, "LASTSAVE") >= before - 1);
    while ((long long)time(NULL) <= expect_int(a, "LASTSAVE"))
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    before = (long long)time(NULL);
    expect(a, ST, "OK", "SAVE");
    CU_ASSERT(expect_int(a, "LASTSAVE") >= before);
    expect(a, ST, "Background saving started", "BGSAVE");
    expect(a, ST, "Background saving started", "BGSAVE SCHEDULE");
    expect(a, ER, "ERR syntax error", "BGSAVE now");
    redisFree(a);
    fx_stop(&f);
}

/* Each malformed request: the replies before it, its error, the close. */
static void
test_protocol_errors(void)
{
    srv_opts o = {.limits = {.max_bulk = 100, .max_args = 4, .max_inline = 64,
                             .max_request = 1000}};
    fixture f;

#define RAW(s, want) raw_expect(f.port, s, sizeof(s) - 1, want)
    fx_start(&f, &o);
    RAW("PING\r\n*x\r\n", "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n");
    RAW("*5\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
    RAW("*1\r\n$101\r\n", "-ERR Protocol error: invalid bulk length\r\n");
    RAW("*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n");
    RAW("*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n");
    RAW("*1\r\n$4\r\nPINGxx", "-ERR Protocol error: expected CRLF after a bulk argument\r\n");
    RAW("ECHO \"abc\n", "-ERR Protocol error: unbalanced quotes in request\r\n");
    {
        char line[100];
        memset(line, 'a', sizeof(line));
        raw_expect(f.port, line, sizeof(line),
                   "-ERR Protocol error: too big inline request\r\n");
    }
    /* HTTP on the RESP port: closed without a reply. */
    RAW("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "");
    RAW("POST /v1/kv/a HTTP/1.1\r\n", "");
    /* Redis's PING reply, then QUIT's, then nothing of what followed. */
    RAW("PING\r\nQUIT\r\nSET afterquit 1\r\n", "+PONG\r\n+OK\r\n");
    {
        redisContext *c = fx_client(&f);
        expect(c, NIL, NULL, "GET afterquit");
        redisFree(c);
    }
#undef RAW
    fx_stop(&f);
}

/* Deterministic junk on many connections: the server answers or closes,
 * never crashes, and still serves afterwards. */
static void
test_junk_input(void)
{
    srv_opts o = {.limits = {.max_bulk = 64, .max_args = 8, .max_inline = 128,
                             .max_request = 512}};
    fixture f;
    uint64_t x = 0x2545F4914F6CDD1Dull;
    redisContext *c;

    fx_start(&f, &o);
    for (int round = 0; round < 100; round++) {
        char buf[256], sink[4096];
        int fd = raw_connect(f.port);

        for (size_t i = 0; i < sizeof(buf); i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (x & 3) ? "*$\r\n0123456789 PING\"'"[(x >> 8) % 21]
                             : (char)(x >> 16);
        }
        CU_ASSERT_EQUAL(raw_send(fd, buf, sizeof(buf)), 0);
        shutdown(fd, SHUT_WR); /* our EOF: the server finishes and closes */
        CU_ASSERT(raw_read_to_eof(fd, sink, sizeof(sink)) >= 0);
        close(fd);
    }
    c = fx_client(&f);
    expect(c, ST, "PONG", "PING");
    redisFree(c);
    fx_stop(&f);
}

static void
test_max_clients(void)
{
    srv_opts o = {.max_clients = 2};
    fixture f;
    redisContext *a, *b;

    fx_start(&f, &o);
    a = fx_client(&f);
    b = fx_client(&f);
    expect(a, ST, "PONG", "PING"); /* both accepted before the third */
    expect(b, ST, "PONG", "PING");
    raw_expect(f.port, "PING\r\n", 6, "-ERR max number of clients reached\r\n");
    redisFree(a);
    redisFree(b);
    fx_stop(&f);
}

/* An idle client is closed after the timeout (the read waits for it). */
static void
test_idle_timeout(void)
{
    srv_opts o = {.timeout_s = 1};
    fixture f;
    char buf[64];
    int fd;

    fx_start(&f, &o);
    fd = raw_connect(f.port);
    CU_ASSERT_EQUAL(raw_send(fd, "PING\r\n", 6), 0);
    CU_ASSERT_EQUAL(raw_read_to_eof(fd, buf, sizeof(buf)), 7);
    close(fd);
    fx_stop(&f);
}

typedef struct writer_arg {
    int fd;
    const char *buf;
    size_t len;
    int rc;
} writer_arg;

static void *
writer(void *arg)
{
    writer_arg *w = arg;

    w->rc = raw_send(w->fd, w->buf, w->len);
    return NULL;
}

/* 2000 GETs of a 16 KiB value sent without reading: the server must pause
 * reading (back-pressure) and still answer every one, in order. */
static void
test_backpressure(void)
{
    enum { N = 2000, VAL = 16384 };
    srv_opts o = {.backpressure = 64 * 1024, .max_batch = 16};
    static const char get[] = "GET big\r\n";
    fixture f;
    redisContext *c;
    char *val = malloc(VAL), *req = malloc(N * (sizeof(get) - 1));
    size_t want = N * (size_t)(VAL + 2 + 8), got = 0;
    char *resp = malloc(want + 1);
    writer_arg w;
    pthread_t th;
    int fd;

    CU_ASSERT_FATAL(val && req && resp);
    memset(val, 'v', VAL);
    for (int i = 0; i < N; i++)
        memcpy(req + i * (sizeof(get) - 1), get, sizeof(get) - 1);
    fx_start(&f, &o);
    c = fx_client(&f);
    expect(c, ST, "OK", "SET big %b", val, (size_t)VAL);
    redisFree(c);
    fd = raw_connect(f.port);
    w = (writer_arg){fd, req, N * (sizeof(get) - 1), 0};
    CU_ASSERT_FATAL(pthread_create(&th, NULL, writer, &w) == 0);
    while (got < want) { /* each reply: "$16384\r\n" + value + "\r\n" */
        ssize_t r = recv(fd, resp + got, want - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(w.rc, 0);
    CU_ASSERT_EQUAL(got, want);
    CU_ASSERT(memcmp(resp, "$16384\r\nvvvv", 12) == 0);
    CU_ASSERT(memcmp(resp + want - VAL - 10, "$16384\r\nvvvv", 12) == 0);
    close(fd);
    free(val);
    free(req);
    free(resp);
    fx_stop(&f);
}

/* A client whose unsent replies pass max_output is closed. It never reads,
 * and its replies (32 MiB) exceed what the socket buffers absorb (its
 * receive buffer is fixed at 64 KiB; the server's send buffer grows to
 * tcp_wmem's maximum, 4 MiB by default), so they pile up. */
static void
test_output_limit(void)
{
    enum { N = 2000, VAL = 16384 };
    srv_opts o = {.max_output = 256 * 1024, .backpressure = 64 << 20};
    static const char get[] = "GET big\r\n";
    fixture f;
    redisContext *c;
    char *val = malloc(VAL), *req = malloc(N * (sizeof(get) - 1));
    int fd;
    long n;

    CU_ASSERT_FATAL(val && req);
    memset(val, 'v', VAL);
    for (int i = 0; i < N; i++)
        memcpy(req + i * (sizeof(get) - 1), get, sizeof(get) - 1);
    fx_start(&f, &o);
    c = fx_client(&f);
    expect(c, ST, "OK", "SET big %b", val, (size_t)VAL);
    fd = raw_connect_rcvbuf(f.port, 64 * 1024);
    CU_ASSERT_EQUAL(raw_send(fd, req, N * (sizeof(get) - 1)), 0);
    n = raw_read_to_eof(fd, NULL, 0);
    CU_ASSERT(n >= 0 && n < (long)N * (VAL + 10));
    close(fd);
    expect(c, ST, "PONG", "PING"); /* others are unaffected */
    redisFree(c);
    free(val);
    free(req);
    fx_stop(&f);
}

/* SHUTDOWN: the connection closes and srv_run returns 0 by itself. */
static void
test_shutdown_command(void)
{
    srv_opts o = {0};
    fixture f;
    char buf[64];
    int fd;

    fx_start(&f, &o);
    fd = raw_connect(f.port);
    CU_ASSERT_EQUAL(raw_send(fd, "SET a 1\r\nSHUTDOWN\r\nSET b 2\r\n", 28), 0);
    CU_ASSERT_EQUAL(raw_read_to_eof(fd, buf, sizeof(buf)), 5); /* +OK\r\n */
    close(fd);
    fx_join(&f);
}

/* A stop while pipelined requests are in flight: whatever the server took
 * in is answered (a prefix of the replies, each right), then it closes. */
static void
test_graceful_stop(void)
{
    enum { N = 500 };
    srv_opts o = {.max_batch = 8};
    fixture f;
    char *req = malloc(N * 32), *resp = malloc(N * 16);
    size_t len = 0;
    long n;
    int fd;

    CU_ASSERT_FATAL(req && resp);
    for (int i = 0; i < N; i++)
        len += (size_t)sprintf(req + len, "INCR g\r\n");
    fx_start(&f, &o);
    fd = raw_connect(f.port);
    CU_ASSERT_EQUAL(raw_send(fd, req, len), 0);
    srv_stop(f.srv);
    n = raw_read_to_eof(fd, resp, N * 16);
    CU_ASSERT_FATAL(n >= 0);
    {
        long off = 0;
        int k = 0, bad = 0;
        while (off < n) {
            char want[32];
            int wl = sprintf(want, ":%d\r\n", ++k);
            bad += n - off < wl || memcmp(resp + off, want, (size_t)wl) != 0;
            off += wl;
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT(k <= N);
    }
    close(fd);
    fx_join(&f);
    free(req);
    free(resp);
}

/* A client that never reads its replies cannot hold up a graceful stop:
 * after shutdown_ms it is closed and srv_run returns. */
static void
test_stop_with_stalled_client(void)
{
    enum { N = 2000, VAL = 16384 };
    srv_opts o = {.shutdown_ms = 200};
    static const char get[] = "GET big\r\n";
    fixture f;
    redisContext *c;
    char *val = malloc(VAL), *req = malloc(N * (sizeof(get) - 1));
    int fd;

    CU_ASSERT_FATAL(val && req);
    memset(val, 'v', VAL);
    for (int i = 0; i < N; i++)
        memcpy(req + i * (sizeof(get) - 1), get, sizeof(get) - 1);
    fx_start(&f, &o);
    c = fx_client(&f);
    expect(c, ST, "OK", "SET big %b", val, (size_t)VAL);
    redisFree(c);
    fd = raw_connect_rcvbuf(f.port, 64 * 1024);
    CU_ASSERT_EQUAL(raw_send(fd, req, N * (sizeof(get) - 1)), 0);
    /* Not reading: its replies stay unsent while the server stops. */
    fx_stop(&f);
    close(fd);
    free(val);
    free(req);
}

/* ---- HTTP API ------------------------------------------------------------ */

/* Sends s to the HTTP port and reads to the close (our requests end with
 * "Connection: close" or a refusal). */
static long
http_roundtrip(int port, const char *s, size_t len, char *buf, size_t cap)
{
    int fd = raw_connect(port);
    long n;

    CU_ASSERT_EQUAL(raw_send(fd, s, len), 0);
    n = raw_read_to_eof(fd, buf, cap - 1);
    CU_ASSERT_FATAL(n >= 0);
    buf[n] = '\0';
    close(fd);
    return n;
}

#define HTTP(port, s, buf) http_roundtrip(port, s, sizeof(s) - 1, buf, sizeof(buf))

static void
test_http_api(void)
{
    srv_opts o = {.http = 1};
    fixture f;
    char buf[4096];
    int hp;
    redisContext *c;

    fx_start(&f, &o);
    hp = srv_http_port(f.srv);
    CU_ASSERT_FATAL(hp > 0);
    /* PUT a binary value under a %-encoded key, pipelined with its GET. */
    HTTP(hp, "PUT /v1/kv/a%00b HTTP/1.1\r\nContent-Length: 4\r\n\r\nx\0\r\n"
             "GET /v1/kv/a%00b HTTP/1.1\r\nConnection: close\r\n\r\n", buf);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "HTTP/1.1 204 No Content\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "HTTP/1.1 200 OK\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Content-Length: 4\r\n"));
    CU_ASSERT(strstr(buf, "HTTP/1.1 204") < strstr(buf, "HTTP/1.1 200"));
    /* The same key through RESP: one store behind both protocols. */
    c = fx_client(&f);
    {
        redisReply *r = redisCommand(c, "GET %b", "a\0b", (size_t)3);
        CU_ASSERT_FATAL(r != NULL && r->type == STR && r->len == 4);
        CU_ASSERT(memcmp(r->str, "x\0\r\n", 4) == 0);
        freeReplyObject(r);
    }
    redisFree(c);
    HTTP(hp, "DELETE /v1/kv/a%00b HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 204 ", 13) == 0);
    HTTP(hp, "GET /v1/kv/a%00b HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
    HTTP(hp, "GET /v1/kv/ HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);
    HTTP(hp, "GET /v1/kv/%zz HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);
    HTTP(hp, "PATCH /v1/kv/a HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 405 ", 13) == 0);
    HTTP(hp, "POST /v1/status HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 405 ", 13) == 0);
    HTTP(hp, "GET /nothing HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
    HTTP(hp, "GET /v1/status HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "application/json"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"queue\":\""));
    HTTP(hp, "POST /v1/admin/merge HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "{\"merged\":true"));
    HTTP(hp, "GET /metrics HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\ncasklab_keys 0\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "# TYPE casklab_commands_total counter"));
    /* Refusals: answered, then closed. */
    HTTP(hp, "GET / HTTP/2.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 505 ", 13) == 0);
    HTTP(hp, "PUT /v1/kv/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 501 ", 13) == 0);
    HTTP(hp, "garbage\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);
    /* A RESP request on the HTTP port is just a bad request. */
    HTTP(hp, "*1\r\n$4\r\nPING\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);
    fx_stop(&f);
}

static void
test_http_auth(void)
{
    srv_opts o = {.http = 1, .requirepass = "pw"};
    fixture f;
    char buf[1024];
    int hp;

    fx_start(&f, &o);
    hp = srv_http_port(f.srv);
    HTTP(hp, "GET /v1/status HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 401 ", 13) == 0);
    HTTP(hp, "GET /v1/status HTTP/1.0\r\nAuthorization: Bearer pwx\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 401 ", 13) == 0);
    HTTP(hp, "GET /v1/status HTTP/1.0\r\nAuthorization: Bearer pw\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
    fx_stop(&f);
}

/* ---- durability: a failed fdatasync under --sync always ------------------- */

/* Fails every data-file sync. */
static int
fault_sync(void *arg, const char *op)
{
    (void)arg;
    return strcmp(op, "sync") == 0;
}

static void
test_sync_failure(void)
{
    srv_opts o = {.http = 1};
    fixture f;
    char buf[1024];
    redisContext *c;

    store_fault = fault_sync;
    fx_start_sync(&f, &o, CASK_SYNC_ALWAYS);
    store_fault = NULL;
    /* An HTTP write whose commit fails: 503 with the reason, not a bare
     * 500 (the write itself succeeded; only its sync failed). */
    HTTP(srv_http_port(f.srv), "PUT /v1/kv/h HTTP/1.0\r\nContent-Length: 1\r\n\r\nx", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 503 ", 13) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Service Unavailable: "));
    c = fx_client(&f);
    /* Never OK for a write that is not durable, nor for any after it. */
    expect(c, REDIS_REPLY_ERROR, NULL, "SET k v");
    expect(c, REDIS_REPLY_ERROR, NULL, "SET k2 v");
    redisAppendCommand(c, "SET a 1");
    redisAppendCommand(c, "SET b 2");
    for (int i = 0; i < 2; i++) {
        redisReply *r = NULL;
        CU_ASSERT_EQUAL_FATAL(redisGetReply(c, (void **)&r), REDIS_OK);
        CU_ASSERT_EQUAL(r->type, REDIS_REPLY_ERROR);
        CU_ASSERT(strncmp(r->str, "IOERR", 5) == 0);
        freeReplyObject(r);
    }
    expect(c, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(c);
    srv_stop(f.srv);
    pthread_join(f.th, NULL);
    srv_destroy(f.srv);
    f.store->ops->destroy(f.store); /* its closing sync fails too: poisoned */
    rm_dir(f.dir);
}

/* Flips one byte of the first data file record holding `what`. */
static void
corrupt_value(const char *dir, const char *what)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int done = 0;

    CU_ASSERT_FATAL(d != NULL);
    while (!done && (e = readdir(d)) != NULL) {
        char path[512], buf[4096];
        size_t n = strlen(e->d_name), w = strlen(what);
        if (n < 5 || strcmp(e->d_name + n - 5, ".data") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDWR);
        ssize_t got = fd < 0 ? -1 : pread(fd, buf, sizeof(buf), 0);
        for (ssize_t i = 0; !done && got > 0 && i + (ssize_t)w <= got; i++)
            if (memcmp(buf + i, what, w) == 0) {
                char x = 'Z';
                CU_ASSERT_EQUAL(pwrite(fd, &x, 1, i), 1);
                done = 1;
            }
        if (fd >= 0)
            close(fd);
    }
    closedir(d);
    CU_ASSERT_FATAL(done);
}

/* Records the server did not write (a raw 1-byte value) and one whose
 * bytes rotted on disk (loaded from its hint, so the open does not see
 * it): the store did nothing wrong. */
static void
prefill_bad(const char *dir)
{
    cask *c = NULL;

    CU_ASSERT_FATAL(cask_open(dir, NULL, &c) == 0);
    cask_thread_register(c);
    CU_ASSERT_EQUAL(cask_put(c, "short", 5, "x", 1), 0);
    CU_ASSERT_EQUAL(cask_put(c, "rot", 3, "\0\0\0\0\0\0\0\0rotten-value", 20),
                    0);
    CU_ASSERT_EQUAL(cask_put(c, "good", 4, "\0\0\0\0\0\0\0\0fine", 12), 0);
    cask_thread_unregister(c);
    CU_ASSERT_EQUAL(cask_close(c), 0); /* writes the hint the open loads */
    corrupt_value(dir, "rotten-value");
}

/* Neither is an I/O error of the store: each answers for its own key,
 * and writes go on. */
static void
test_bad_records(void)
{
    srv_opts o = {.http = 1};
    fixture f;
    char buf[1024];
    redisContext *c;
    const char *why = "ERR the key's stored record fails its checksum, or is "
                      "not a value casklab serve wrote";

    store_prefill = prefill_bad;
    fx_start(&f, &o);
    store_prefill = NULL;
    c = fx_client(&f);
    expect(c, ER, why, "GET short");
    expect(c, ER, why, "TTL short");
    expect(c, ER, why, "GET rot");
    expect(c, STR, "fine", "GET good");
    expect(c, ST, "OK", "SET after ok");
    expect(c, STR, "ok", "GET after");
    HTTP(srv_http_port(f.srv), "GET /v1/kv/rot HTTP/1.0\r\n\r\n", buf);
    CU_ASSERT(strncmp(buf, "HTTP/1.1 500 ", 13) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "fails its checksum"));
    redisFree(c);
    fx_stop(&f);
}

/* Many writers at once while every sync fails: a commit covers batches
 * it was not started for (write tickets), and none of them may be
 * answered OK either. */
static void
test_sync_failure_many(void)
{
    enum { CLIENTS = 8, DEPTH = 20 };
    srv_opts o = {0};
    redisContext *c[CLIENTS];
    fixture f;
    int ok = 0;

    store_fault = fault_sync;
    fx_start_sync(&f, &o, CASK_SYNC_ALWAYS);
    store_fault = NULL;
    pipe_sets(&f, c, CLIENTS, DEPTH, "f");
    for (int i = 0; i < CLIENTS; i++) {
        for (int d = 0; d < DEPTH; d++) {
            redisReply *r = NULL;
            CU_ASSERT_EQUAL_FATAL(redisGetReply(c[i], (void **)&r), REDIS_OK);
            ok += r->type != REDIS_REPLY_ERROR;
            freeReplyObject(r);
        }
        redisFree(c[i]);
    }
    CU_ASSERT_EQUAL(ok, 0);
    srv_stop(f.srv);
    pthread_join(f.th, NULL);
    srv_destroy(f.srv);
    f.store->ops->destroy(f.store);
    rm_dir(f.dir);
}

/* ---- durability: SIGKILL under --sync always ------------------------------ */

enum { RK_WRITERS = 8, RK_KILL_AFTER = 150 };

typedef struct rk_shared {
    int port;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long acked_total;
    long acked[RK_WRITERS]; /* writer i's keys 0..acked[i]-1 were answered OK */
} rk_shared;

typedef struct rk_writer {
    rk_shared *sh;
    int id;
} rk_writer;

/* Writes rk-ID-J = val-ID-J for J = 0, 1, ... until the server is gone. */
static void *
rk_write(void *arg)
{
    rk_writer *w = arg;
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", w->sh->port, tv);

    if (c == NULL || c->err != 0) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    for (long j = 0;; j++) {
        redisReply *r = redisCommand(c, "SET rk-%d-%ld val-%d-%ld", w->id, j,
                                     w->id, j);
        int ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
                 strcmp(r->str, "OK") == 0;
        freeReplyObject(r);
        if (!ok)
            break;
        pthread_mutex_lock(&w->sh->lock);
        w->sh->acked[w->id] = j + 1;
        w->sh->acked_total++;
        pthread_cond_signal(&w->sh->cond);
        pthread_mutex_unlock(&w->sh->lock);
    }
    redisFree(c);
    return NULL;
}

/* The child: serves dir with sync=always until it is killed. */
static void
rk_serve(const char *dir, int fd)
{
    srv_opts o = {0};
    cask_options co = {0};
    srv_store *st;
    srv_server *srv;
    char err[256];
    int port;

    o.threads = RK_WRITERS;
    o.queue = kind;
    co.sync = CASK_SYNC_ALWAYS;
    if (srv_caskstore_open(dir, &co, &st, err, sizeof(err)) != 0 ||
        srv_create(&o, st, &srv, err, sizeof(err)) != 0)
        _exit(2);
    port = srv_port(srv);
    if (write(fd, &port, sizeof(port)) != (ssize_t)sizeof(port))
        _exit(2);
    srv_run(srv);
    _exit(0);
}

/* Every write answered OK before the kill is in the reopened store. */
static void
rk_verify(const char *dir, const rk_shared *sh)
{
    srv_store *st;
    long missing = 0;

    store_open(&st, dir, CASK_SYNC_NONE);
    for (int i = 0; i < RK_WRITERS; i++) {
        for (long j = 0; j < sh->acked[i]; j++) {
            char key[64], want[64], *val = NULL;
            size_t vlen = 0;
            snprintf(key, sizeof(key), "rk-%d-%ld", i, j);
            snprintf(want, sizeof(want), "val-%d-%ld", i, j);
            if (st->ops->get(st, key, strlen(key), &val, &vlen) != 0 ||
                vlen != strlen(want) || memcmp(val, want, vlen) != 0)
                missing++;
            free(val);
        }
    }
    CU_ASSERT_EQUAL(missing, 0);
    st->ops->destroy(st);
}

static void
test_restart_after_kill(void)
{
    rk_shared sh = {.lock = PTHREAD_MUTEX_INITIALIZER,
                    .cond = PTHREAD_COND_INITIALIZER};
    rk_writer w[RK_WRITERS];
    pthread_t th[RK_WRITERS];
    char dir[64];
    int fds[2], status;
    pid_t pid;

    tmp_dir(dir);
    CU_ASSERT_FATAL(pipe(fds) == 0);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        rk_serve(dir, fds[1]);
    }
    close(fds[1]);
    CU_ASSERT_FATAL(read(fds[0], &sh.port, sizeof(sh.port)) ==
                    (ssize_t)sizeof(sh.port));
    close(fds[0]);
    for (int i = 0; i < RK_WRITERS; i++) {
        w[i] = (rk_writer){&sh, i};
        CU_ASSERT_FATAL(pthread_create(&th[i], NULL, rk_write, &w[i]) == 0);
    }
    /* Kill while the writers are mid-stream: the bound is the writers'
     * socket timeout, should the server stop answering. */
    pthread_mutex_lock(&sh.lock);
    while (sh.acked_total < RK_WRITERS * RK_KILL_AFTER)
        pthread_cond_wait(&sh.cond, &sh.lock);
    pthread_mutex_unlock(&sh.lock);
    CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (int i = 0; i < RK_WRITERS; i++)
        pthread_join(th[i], NULL);
    rk_verify(dir, &sh);
    rm_dir(dir);
}

int
main(int argc, char **argv)
{
    static const ct_case cases[] = {
        CT_CASE(test_strings),          CT_CASE(test_keyspace_and_expiry),
        CT_CASE(test_scan_snapshot),    CT_CASE(test_server_commands),
        CT_CASE(test_auth),             CT_CASE(test_pipelining),
        CT_CASE(test_concurrent_incr),  CT_CASE(test_protocol_errors),
        CT_CASE(test_junk_input),       CT_CASE(test_max_clients),
        CT_CASE(test_idle_timeout),     CT_CASE(test_backpressure),
        CT_CASE(test_output_limit),     CT_CASE(test_shutdown_command),
        CT_CASE(test_graceful_stop),    CT_CASE(test_stop_with_stalled_client),
        CT_CASE(test_http_api),         CT_CASE(test_http_auth),
        CT_CASE(test_pass_batching),    CT_CASE(test_stop_during_pass),
        CT_CASE(test_group_commit_counts), CT_CASE(test_string_edits),
        CT_CASE(test_concurrent_append),   CT_CASE(test_client_commands),
        CT_CASE(test_rmw_retry),
    };
    /* Only the engine store syncs and survives a restart: these run in the
     * cask suites only, rather than passing empty in the memory ones. */
    static const ct_case cask_cases[] = {
        CT_CASE(test_restart_after_kill), CT_CASE(test_sync_failure),
        CT_CASE(test_bad_records),
        CT_CASE(test_sync_failure_many),
    };
    ct_case all[CT_NCASES(cases) + CT_NCASES(cask_cases)];
    size_t n = CT_NCASES(cases);
    char name[64];

    if (argc != 3 || sync_queue_kind_parse(argv[1], &kind) != 0 ||
        (strcmp(argv[2], "memory") != 0 && strcmp(argv[2], "cask") != 0)) {
        fprintf(stderr, "usage: test_server mutex|ring memory|cask\n");
        return 64;
    }
    use_cask = strcmp(argv[2], "cask") == 0;
    memcpy(all, cases, sizeof(cases));
    if (use_cask) {
        memcpy(all + n, cask_cases, sizeof(cask_cases));
        n += CT_NCASES(cask_cases);
    }
    signal(SIGPIPE, SIG_IGN); /* a killed server: writes fail, not kill */
    snprintf(name, sizeof(name), "%s.%s", argv[1], argv[2]);
    return ct_run(name, all, n) ? 1 : 0;
}
