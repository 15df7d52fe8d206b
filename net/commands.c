/*
 * net/commands.c - the Redis commands, executed by pool workers against the
 * store (net/store.h), one batch at a time per connection.
 *
 * One table maps each command name to its arity (Redis convention: n means
 * exactly n words with the name, -n at least n) and its function. Replies
 * and error texts follow Redis 7 so that redis-cli and redis-benchmark see
 * what they expect. Multi-key commands (DEL/UNLINK, EXISTS, MGET, MSET) are not
 * atomic across keys: each key is its own linearizable store operation.
 * INCR (and INCRBY, DECR, DECRBY), APPEND and SETRANGE are
 * compare-and-swap loops over get/cas (SET NX for an absent key), so each
 * is atomic with respect to every other writer; each failed round means
 * another writer succeeded. Commands the store cannot make atomic (GETSET,
 * GETDEL, RENAME, ...) are not offered rather than offered racy.
 */
#include "net/server_internal.h"

#include "sync/atomic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SRV_VERSION "0.1.0"
#define SRV_KEY_MAX 65536u

typedef struct srv_ctx {
    srv_batch *b;
    resp_cmd *c;
    resp_buf *out;
    srv_shared *sh;
    srv_store *st;
} srv_ctx;

typedef struct srv_cmd_def {
    const char *name;
    int arity;
    int noauth;            /* allowed before AUTH */
    int first, last, step; /* key positions, as COMMAND reports them */
    void (*fn)(srv_ctx *x);
} srv_cmd_def;

/* Replies whose allocation fails leave the buffer as it was; the client
 * then sees fewer replies and times out, which is all one can do without
 * memory. The loop closes connections whose output is over its limit. */
#define REPLY(call) ((void)(call))

static const char *const ERR_SYNTAX = "ERR syntax error";
static const char *const ERR_NOTINT = "ERR value is not an integer or out of range";

static void
reply_store_error(srv_ctx *x, int rc)
{
    if (rc == SRV_EIO || rc == SRV_ENOSPC)
        REPLY(resp_add_error(x->out, "IOERR %s", srv_strerror(rc)));
    else if (rc == SRV_EREADONLY) /* Redis's words for a read-only replica */
        REPLY(resp_add_error(x->out, "READONLY You can't write against a "
                                     "read only store."));
    else
        REPLY(resp_add_error(x->out, "ERR %s", srv_strerror(rc)));
}

static int
arg_is(const srv_ctx *x, size_t i, const char *word)
{
    return x->c->lens[i] == strlen(word) && strcasecmp(x->c->argv[i], word) == 0;
}

static int
arg_int(srv_ctx *x, size_t i, long long *v)
{
    if (resp_parse_int(x->c->argv[i], x->c->lens[i], v) == 0)
        return 0;
    REPLY(resp_add_error(x->out, "%s", ERR_NOTINT));
    return -1;
}

/* ---- connection ---------------------------------------------------------- */

static void
cmd_ping(srv_ctx *x)
{
    if (x->c->argc > 2)
        REPLY(resp_add_error(x->out, "ERR wrong number of arguments for 'ping' command"));
    else if (x->c->argc == 2)
        REPLY(resp_add_bulk(x->out, x->c->argv[1], x->c->lens[1]));
    else
        REPLY(resp_add_simple(x->out, "PONG"));
}

static void
cmd_echo(srv_ctx *x)
{
    REPLY(resp_add_bulk(x->out, x->c->argv[1], x->c->lens[1]));
}

static void
cmd_quit(srv_ctx *x)
{
    REPLY(resp_add_simple(x->out, "OK"));
    x->b->quit = 1;
}

static void
cmd_select(srv_ctx *x)
{
    long long db;

    if (arg_int(x, 1, &db) != 0)
        return;
    if (db != 0)
        REPLY(resp_add_error(x->out, "ERR DB index is out of range"));
    else
        REPLY(resp_add_simple(x->out, "OK"));
}

/* Compares without an early exit, so timing does not leak the password. */
static int
secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;

    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (blen ? blen : 1)]);
    return diff == 0;
}

static void
cmd_auth(srv_ctx *x)
{
    const char *pass = x->sh->opts.requirepass;
    size_t i = x->c->argc - 1;

    if (x->c->argc > 3) {
        REPLY(resp_add_error(x->out, "%s", ERR_SYNTAX));
        return;
    }
    if (pass == NULL || pass[0] == '\0') {
        REPLY(resp_add_error(x->out, "ERR AUTH <password> called without any "
                             "password configured for the default user. Are "
                             "you sure your configuration is correct?"));
        return;
    }
    if ((x->c->argc == 3 && !arg_is(x, 1, "default")) ||
        !secret_equal(x->c->argv[i], x->c->lens[i], pass, strlen(pass))) {
        REPLY(resp_add_error(x->out, "WRONGPASS invalid username-password "
                             "pair or user is disabled."));
        return;
    }
    x->b->sess->authed = 1;
    REPLY(resp_add_simple(x->out, "OK"));
}

/* HELLO [2 [AUTH user pass]]: we speak RESP2 only, so HELLO 3 gets
 * NOPROTO and clients fall back, as with a Redis 5 server. */
static void
cmd_hello(srv_ctx *x)
{
    long long ver = 2;

    if (x->c->argc >= 2 && resp_parse_int(x->c->argv[1], x->c->lens[1], &ver) != 0) {
        REPLY(resp_add_error(x->out, "ERR Protocol version is not an integer or out of range"));
        return;
    }
    if (ver != 2) {
        REPLY(resp_add_error(x->out, "NOPROTO unsupported protocol version"));
        return;
    }
    if (x->c->argc == 3 || x->c->argc == 4 || x->c->argc > 5) {
        REPLY(resp_add_error(x->out, "%s", ERR_SYNTAX));
        return;
    }
    if (x->c->argc == 5) {
        resp_buf *out = x->out;
        size_t before = out->len;
        if (!arg_is(x, 2, "auth")) {
            REPLY(resp_add_error(out, "%s", ERR_SYNTAX));
            return;
        }
        resp_cmd auth = {.argc = 3, .argv = x->c->argv + 2,
                         .lens = x->c->lens + 2, .cap = 3};
        resp_cmd *saved = x->c;
        x->c = &auth;
        cmd_auth(x); /* AUTH user pass, replying +OK or an error */
        x->c = saved;
        if (out->len > before && out->data[before] == '-')
            return; /* the error is the reply */
        out->len = before; /* drop AUTH's +OK: HELLO replies instead */
    }
    if (!x->b->sess->authed) {
        REPLY(resp_add_error(x->out, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
        return;
    }
    REPLY(resp_add_array(x->out, 14));
    REPLY(resp_add_bulk_str(x->out, "server"));
    REPLY(resp_add_bulk_str(x->out, "casklab"));
    REPLY(resp_add_bulk_str(x->out, "version"));
    REPLY(resp_add_bulk_str(x->out, SRV_VERSION));
    REPLY(resp_add_bulk_str(x->out, "proto"));
    REPLY(resp_add_int(x->out, 2));
    REPLY(resp_add_bulk_str(x->out, "id"));
    REPLY(resp_add_int(x->out, 0));
    REPLY(resp_add_bulk_str(x->out, "mode"));
    REPLY(resp_add_bulk_str(x->out, "standalone"));
    REPLY(resp_add_bulk_str(x->out, "role"));
    REPLY(resp_add_bulk_str(x->out, "master"));
    REPLY(resp_add_bulk_str(x->out, "modules"));
    REPLY(resp_add_array(x->out, 0));
}

static void
cmd_shutdown(srv_ctx *x)
{
    /* No reply: like Redis, the server closes the connection instead. */
    x->b->shutdown = 1;
}

/* ---- strings ------------------------------------------------------------- */

static void
cmd_get(srv_ctx *x)
{
    char *v;
    size_t n;
    int rc = x->st->ops->get(x->st, x->c->argv[1], x->c->lens[1], &v, &n);

    if (rc == SRV_ENOTFOUND) {
        REPLY(resp_add_nil(x->out));
    } else if (rc != 0) {
        reply_store_error(x, rc);
    } else {
        REPLY(resp_add_bulk(x->out, v, n));
        free(v);
    }
}

/* Parses SET's options from word 3 on; replies and returns -1 if bad. */
static int
set_parse(srv_ctx *x, srv_set_opts *o)
{
    int have_expiry = 0;

    for (size_t i = 3; i < x->c->argc; i++) {
        long long v;
        int ex = arg_is(x, i, "ex"), px = arg_is(x, i, "px");

        if (arg_is(x, i, "nx") && !o->xx) {
            o->nx = 1;
        } else if (arg_is(x, i, "xx") && !o->nx) {
            o->xx = 1;
        } else if (arg_is(x, i, "keepttl") && !have_expiry) {
            o->keep_ttl = have_expiry = 1;
        } else if ((ex || px) && !have_expiry && i + 1 < x->c->argc) {
            if (arg_int(x, ++i, &v) != 0)
                return -1;
            if (v <= 0 || v > (ex ? INT64_MAX / 1000 : INT64_MAX) -
                                  srv_now_ms() / (ex ? 1000 : 1)) {
                REPLY(resp_add_error(x->out, "ERR invalid expire time in 'set' command"));
                return -1;
            }
            o->expire_at = srv_now_ms() + (ex ? v * 1000 : v);
            have_expiry = 1;
        } else {
            REPLY(resp_add_error(x->out, "%s", ERR_SYNTAX));
            return -1;
        }
    }
    return 0;
}

static void
cmd_set(srv_ctx *x)
{
    srv_set_opts o = {0};
    int rc;

    if (set_parse(x, &o) != 0)
        return;
    rc = x->st->ops->set(x->st, x->c->argv[1], x->c->lens[1], x->c->argv[2],
                         x->c->lens[2], &o);
    if (rc == SRV_ECOND)
        REPLY(resp_add_nil(x->out));
    else if (rc != 0)
        reply_store_error(x, rc);
    else
        REPLY(resp_add_simple(x->out, "OK"));
}

/* SETNX key value: 1 set, 0 the key exists. */
static void
cmd_setnx(srv_ctx *x)
{
    srv_set_opts o = {.nx = 1};
    int rc = x->st->ops->set(x->st, x->c->argv[1], x->c->lens[1],
                             x->c->argv[2], x->c->lens[2], &o);

    if (rc == 0 || rc == SRV_ECOND)
        REPLY(resp_add_int(x->out, rc == 0));
    else
        reply_store_error(x, rc);
}

/* SETEX key seconds value and PSETEX key milliseconds value. */
static void
setex_common(srv_ctx *x, long long unit_ms, const char *name)
{
    srv_set_opts o = {0};
    long long v;
    int rc;

    if (arg_int(x, 2, &v) != 0)
        return;
    if (v <= 0 || v > (INT64_MAX - srv_now_ms()) / unit_ms) {
        REPLY(resp_add_error(x->out, "ERR invalid expire time in '%s' command",
                             name));
        return;
    }
    o.expire_at = srv_now_ms() + v * unit_ms;
    rc = x->st->ops->set(x->st, x->c->argv[1], x->c->lens[1], x->c->argv[3],
                         x->c->lens[3], &o);
    if (rc != 0)
        reply_store_error(x, rc);
    else
        REPLY(resp_add_simple(x->out, "OK"));
}

static void
cmd_setex(srv_ctx *x)
{
    setex_common(x, 1000, "setex");
}

static void
cmd_psetex(srv_ctx *x)
{
    setex_common(x, 1, "psetex");
}

/* Every value is a string here (redis-cli --bigkeys asks). */
static void
cmd_type(srv_ctx *x)
{
    int rc = x->st->ops->exists(x->st, x->c->argv[1], x->c->lens[1]);

    if (rc == 0 || rc == SRV_ENOTFOUND)
        REPLY(resp_add_simple(x->out, rc == 0 ? "string" : "none"));
    else
        reply_store_error(x, rc);
}

static void
cmd_strlen(srv_ctx *x)
{
    char *v;
    size_t n;
    int rc = x->st->ops->get(x->st, x->c->argv[1], x->c->lens[1], &v, &n);

    if (rc == SRV_ENOTFOUND) {
        REPLY(resp_add_int(x->out, 0));
    } else if (rc != 0) {
        reply_store_error(x, rc);
    } else {
        REPLY(resp_add_int(x->out, (long long)n));
        free(v);
    }
}

static void
cmd_del(srv_ctx *x)
{
    long long n = 0;

    for (size_t i = 1; i < x->c->argc; i++) {
        int rc = x->st->ops->del(x->st, x->c->argv[i], x->c->lens[i]);
        if (rc == 0)
            n++;
        else if (rc != SRV_ENOTFOUND) {
            reply_store_error(x, rc);
            return;
        }
    }
    REPLY(resp_add_int(x->out, n));
}

static void
cmd_exists(srv_ctx *x)
{
    long long n = 0;

    for (size_t i = 1; i < x->c->argc; i++)
        n += x->st->ops->exists(x->st, x->c->argv[i], x->c->lens[i]) == 0;
    REPLY(resp_add_int(x->out, n));
}

static void
cmd_mget(srv_ctx *x)
{
    REPLY(resp_add_array(x->out, x->c->argc - 1));
    for (size_t i = 1; i < x->c->argc; i++) {
        char *v;
        size_t n;

        if (x->st->ops->get(x->st, x->c->argv[i], x->c->lens[i], &v, &n) != 0) {
            REPLY(resp_add_nil(x->out)); /* absent, as Redis answers */
            continue;
        }
        REPLY(resp_add_bulk(x->out, v, n));
        free(v);
    }
}

static void
cmd_mset(srv_ctx *x)
{
    srv_set_opts o = {0};

    if (x->c->argc % 2 != 1) {
        REPLY(resp_add_error(x->out, "ERR wrong number of arguments for 'mset' command"));
        return;
    }
    for (size_t i = 1; i < x->c->argc; i += 2) {
        int rc = x->st->ops->set(x->st, x->c->argv[i], x->c->lens[i],
                                 x->c->argv[i + 1], x->c->lens[i + 1], &o);
        if (rc != 0) {
            reply_store_error(x, rc);
            return;
        }
    }
    REPLY(resp_add_simple(x->out, "OK"));
}

/* ---- read-modify-write (INCR and its kin, APPEND, SETRANGE) ------------- */

/*
 * Builds a key's new value from its present one (cur NULL when absent),
 * with the command's own arg: 0 with a malloc'd *nv, or a reply already
 * made (RMW_REPLIED).
 */
typedef int (*rmw_edit)(srv_ctx *x, void *arg, const char *cur, size_t clen,
                        char **nv, size_t *nlen);

enum { RMW_RETRY = 1, RMW_REPLIED = 2 };

static const char *const ERR_TOOBIG =
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/* One round of rmw: SET NX for an absent key, cas for a present one (which
 * keeps its expiry, as INCR, APPEND and SETRANGE do in Redis). RMW_RETRY
 * when another writer got in between. */
static int
rmw_round(srv_ctx *x, rmw_edit edit, void *arg, size_t *nlen)
{
    const char *key = x->c->argv[1];
    size_t klen = x->c->lens[1], clen = 0;
    srv_set_opts nx = {.nx = 1};
    char *cur = NULL, *nv;
    int rc = x->st->ops->get(x->st, key, klen, &cur, &clen), absent;

    if (rc != 0 && rc != SRV_ENOTFOUND) {
        reply_store_error(x, rc);
        return RMW_REPLIED;
    }
    absent = rc == SRV_ENOTFOUND;
    rc = edit(x, arg, absent ? NULL : cur, clen, &nv, nlen);
    if (rc != 0) {
        free(cur);
        return rc;
    }
    if (absent)
        rc = x->st->ops->set(x->st, key, klen, nv, *nlen, &nx);
    else
        rc = x->st->ops->cas(x->st, key, klen, cur, clen, nv, *nlen);
    free(cur);
    free(nv);
    if (rc == SRV_ECOND || rc == SRV_EMISMATCH || rc == SRV_ENOTFOUND)
        return RMW_RETRY;
    if (rc != 0) {
        reply_store_error(x, rc);
        return RMW_REPLIED;
    }
    return 0;
}

/* Repeats rmw_round until it takes effect (each retry means another
 * writer's did: lock-free): 0, with the new value's length in *nlen, for
 * the caller to reply; or RMW_REPLIED. */
static int
rmw(srv_ctx *x, rmw_edit edit, void *arg, size_t *nlen)
{
    int rc;

    while ((rc = rmw_round(x, edit, arg, nlen)) == RMW_RETRY)
        ;
    return rc;
}

/* INCRBY key delta (INCR, DECR, DECRBY too): delta in, the new value out. */
typedef struct incr_arg {
    long long delta, result;
} incr_arg;

/* The present value (0 when absent) plus delta, as text. */
static int
incr_edit(srv_ctx *x, void *arg, const char *cur, size_t clen, char **nv,
          size_t *nlen)
{
    enum { NUM = 24 };
    incr_arg *a = arg;
    long long v = 0;
    int rc = cur != NULL ? resp_parse_int(cur, clen, &v) : 0;

    if (rc != 0 || (a->delta > 0 && v > INT64_MAX - a->delta) ||
        (a->delta < 0 && v < INT64_MIN - a->delta)) {
        REPLY(resp_add_error(x->out, rc ? ERR_NOTINT
                             : "ERR increment or decrement would overflow"));
        return RMW_REPLIED;
    }
    if ((*nv = malloc(NUM)) == NULL) {
        REPLY(resp_add_error(x->out, "ERR out of memory"));
        return RMW_REPLIED;
    }
    a->result = v + a->delta;
    *nlen = (size_t)snprintf(*nv, NUM, "%lld", a->result);
    return 0;
}

static void
incr_by(srv_ctx *x, long long delta)
{
    incr_arg a = {delta, 0};
    size_t n;

    if (rmw(x, incr_edit, &a, &n) == 0)
        REPLY(resp_add_int(x->out, a.result));
}

/* APPEND and SETRANGE answer the new length. */
static void
rmw_reply_len(srv_ctx *x, rmw_edit edit)
{
    size_t n;

    if (rmw(x, edit, NULL, &n) == 0)
        REPLY(resp_add_int(x->out, (long long)n));
}

static void
cmd_incr(srv_ctx *x)
{
    incr_by(x, 1);
}

static void
cmd_decr(srv_ctx *x)
{
    incr_by(x, -1);
}

static void
cmd_incrby(srv_ctx *x)
{
    long long d;

    if (arg_int(x, 2, &d) == 0)
        incr_by(x, d);
}

static void
cmd_decrby(srv_ctx *x)
{
    long long d;

    if (arg_int(x, 2, &d) != 0)
        return;
    if (d == INT64_MIN) /* its negation does not exist */
        REPLY(resp_add_error(x->out, "ERR decrement would overflow"));
    else
        incr_by(x, -d);
}

/* CAS key old new: 1 swapped, 0 the value differs, nil no such key. */
static void
cmd_cas(srv_ctx *x)
{
    int rc = x->st->ops->cas(x->st, x->c->argv[1], x->c->lens[1],
                             x->c->argv[2], x->c->lens[2], x->c->argv[3],
                             x->c->lens[3]);

    if (rc == 0)
        REPLY(resp_add_int(x->out, 1));
    else if (rc == SRV_EMISMATCH)
        REPLY(resp_add_int(x->out, 0));
    else if (rc == SRV_ENOTFOUND)
        REPLY(resp_add_nil(x->out));
    else
        reply_store_error(x, rc);
}

/* ---- APPEND, SETRANGE, GETRANGE ------------------------------------------ */

/* The new value: cur[0..clen) with len bytes of src at off (zeros between). */
static int
rmw_splice(srv_ctx *x, const char *cur, size_t clen, size_t off,
           const char *src, size_t len, char **nv, size_t *nlen)
{
    size_t n;

    if (off > x->sh->opts.limits.max_bulk ||
        len > x->sh->opts.limits.max_bulk - off) {
        REPLY(resp_add_error(x->out, "%s", ERR_TOOBIG));
        return RMW_REPLIED;
    }
    n = off + len > clen ? off + len : clen;
    *nv = malloc(n ? n : 1);
    if (*nv == NULL) {
        REPLY(resp_add_error(x->out, "ERR out of memory"));
        return RMW_REPLIED;
    }
    if (clen > 0)
        memcpy(*nv, cur, clen);
    if (off > clen)
        memset(*nv + clen, 0, off - clen);
    if (len > 0)
        memcpy(*nv + off, src, len);
    *nlen = n;
    return 0;
}

static int
append_edit(srv_ctx *x, void *arg, const char *cur, size_t clen, char **nv,
            size_t *nlen)
{
    (void)arg;
    return rmw_splice(x, cur, clen, clen, x->c->argv[2], x->c->lens[2], nv,
                      nlen);
}

/* APPEND key value: the new length; an absent key is created. */
static void
cmd_append(srv_ctx *x)
{
    rmw_reply_len(x, append_edit);
}

static int
setrange_edit(srv_ctx *x, void *arg, const char *cur, size_t clen, char **nv,
              size_t *nlen)
{
    long long off;

    (void)arg;
    resp_parse_int(x->c->argv[2], x->c->lens[2], &off); /* checked */
    return rmw_splice(x, cur, clen, (size_t)off, x->c->argv[3], x->c->lens[3],
                      nv, nlen);
}

/* SETRANGE key offset value: overwrites from offset, zero-padding a
 * shorter value; the new length. An empty value changes nothing and
 * creates nothing, as in Redis. */
static void
cmd_setrange(srv_ctx *x)
{
    long long off;

    if (arg_int(x, 2, &off) != 0)
        return;
    if (off < 0) {
        REPLY(resp_add_error(x->out, "ERR offset is out of range"));
        return;
    }
    if (x->c->lens[3] == 0) {
        cmd_strlen(x);
        return;
    }
    rmw_reply_len(x, setrange_edit);
}

/* GETRANGE key start end: the substring, with Redis's index rules
 * (negative from the end, clamped, empty when start > end). */
static void
cmd_getrange(srv_ctx *x)
{
    long long start, end, len;
    char *v;
    size_t n;
    int rc;

    if (arg_int(x, 2, &start) != 0 || arg_int(x, 3, &end) != 0)
        return;
    rc = x->st->ops->get(x->st, x->c->argv[1], x->c->lens[1], &v, &n);
    if (rc == SRV_ENOTFOUND) {
        REPLY(resp_add_bulk(x->out, "", 0));
        return;
    }
    if (rc != 0) {
        reply_store_error(x, rc);
        return;
    }
    len = (long long)n;
    if (start < 0 && end < 0 && start > end)
        start = len; /* empty, as in Redis */
    if (start < 0)
        start = len + start < 0 ? 0 : len + start;
    if (end < 0)
        end = len + end < 0 ? 0 : len + end;
    if (end >= len)
        end = len - 1;
    if (len == 0 || start > end)
        REPLY(resp_add_bulk(x->out, "", 0));
    else
        REPLY(resp_add_bulk(x->out, v + start, (size_t)(end - start + 1)));
    free(v);
}

/* ---- clients and saving -------------------------------------------------- */

void
srv_client_link(srv_shared *sh, srv_session *s)
{
    pthread_mutex_lock(&sh->clients_lock);
    s->prev = NULL;
    s->next = sh->client_list;
    if (sh->client_list != NULL)
        sh->client_list->prev = s;
    sh->client_list = s;
    s->listed = 1;
    pthread_mutex_unlock(&sh->clients_lock);
}

void
srv_client_unlink(srv_shared *sh, srv_session *s)
{
    if (!s->listed)
        return;
    pthread_mutex_lock(&sh->clients_lock);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        sh->client_list = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->listed = 0;
    pthread_mutex_unlock(&sh->clients_lock);
    free(s->name);
    free(s->lib_name);
    free(s->lib_ver);
    s->name = s->lib_name = s->lib_ver = NULL;
}

enum { SRV_CLIENT_STR_MAX = 128 };

/* Appends one CLIENT LIST line for s (under clients_lock). */
static void
client_line(resp_buf *t, const srv_session *s, int64_t now)
{
    const char *cmd = sync_load_rlx(&s->last_cmd);
    int64_t last = sync_load_rlx(&s->last_ms);
    char line[4 * SRV_CLIENT_STR_MAX + 4 * SRV_ADDR_LEN];
    int n = snprintf(line, sizeof(line),
                     "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld "
                     "idle=%lld flags=N db=0 cmd=%s user=default resp=2 "
                     "lib-name=%s lib-ver=%s\n",
                     (unsigned long long)s->id, s->addr, s->laddr, s->fd,
                     s->name ? s->name : "",
                     (long long)(now - s->created_ms) / 1000,
                     (long long)(now - last) / 1000, cmd ? cmd : "NULL",
                     s->lib_name ? s->lib_name : "",
                     s->lib_ver ? s->lib_ver : "");

    if (n > 0 && (size_t)n < sizeof(line))
        REPLY(resp_add_raw(t, line, (size_t)n));
}

/* CLIENT LIST (every RESP connection) or CLIENT INFO (this one), as one
 * bulk string of lines. */
static void
client_list(srv_ctx *x, int all)
{
    resp_buf t = {0};
    int64_t now = srv_now_ms();

    pthread_mutex_lock(&x->sh->clients_lock);
    if (all) {
        for (const srv_session *s = x->sh->client_list; s; s = s->next)
            client_line(&t, s, now);
    } else {
        client_line(&t, x->b->sess, now);
    }
    pthread_mutex_unlock(&x->sh->clients_lock);
    REPLY(resp_add_bulk(x->out, t.data ? t.data : "", t.len));
    resp_buf_free(&t);
}

/* Names and library strings: printable, no spaces (they are fields of
 * CLIENT LIST), at most SRV_CLIENT_STR_MAX bytes. */
static int
client_str_ok(srv_ctx *x, size_t i, const char *what)
{
    if (x->c->lens[i] > SRV_CLIENT_STR_MAX) {
        REPLY(resp_add_error(x->out, "ERR %s is longer than %d bytes", what,
                             SRV_CLIENT_STR_MAX));
        return 0;
    }
    for (size_t k = 0; k < x->c->lens[i]; k++)
        if (x->c->argv[i][k] < '!' || x->c->argv[i][k] > '~') {
            REPLY(resp_add_error(x->out, "ERR %s cannot contain spaces, "
                                 "newlines or special characters.", what));
            return 0;
        }
    return 1;
}

/* Replaces *field (under clients_lock: CLIENT LIST reads it) with
 * argument i, or with nothing if it is empty. */
static void
client_set_str(srv_ctx *x, char **field, size_t i)
{
    char *v = NULL;

    if (x->c->lens[i] > 0 && (v = strdup(x->c->argv[i])) == NULL) {
        REPLY(resp_add_error(x->out, "ERR out of memory"));
        return;
    }
    pthread_mutex_lock(&x->sh->clients_lock);
    free(*field);
    *field = v;
    pthread_mutex_unlock(&x->sh->clients_lock);
    REPLY(resp_add_simple(x->out, "OK"));
}

static void
client_setinfo(srv_ctx *x)
{
    srv_session *s = x->b->sess;

    if (arg_is(x, 2, "lib-name")) {
        if (client_str_ok(x, 3, "lib-name"))
            client_set_str(x, &s->lib_name, 3);
    } else if (arg_is(x, 2, "lib-ver")) {
        if (client_str_ok(x, 3, "lib-ver"))
            client_set_str(x, &s->lib_ver, 3);
    } else {
        REPLY(resp_add_error(x->out, "ERR Unrecognized option '%.64s'",
                             x->c->argv[2]));
    }
}

/* The CLIENT subcommands we have, with their arity (as the table's). */
static const struct {
    const char *name;
    int arity;
} client_subs[] = {
    {"id", 2}, {"getname", 2}, {"setname", 3}, {"setinfo", 4},
    {"info", 2}, {"list", 2},
};

static int
client_sub(const srv_ctx *x)
{
    for (size_t i = 0; i < sizeof(client_subs) / sizeof(client_subs[0]); i++)
        if (arg_is(x, 1, client_subs[i].name))
            return (int)i;
    return -1;
}

static int
client_known(const srv_ctx *x)
{
    return client_sub(x) >= 0;
}

static int
client_bad_arity(const srv_ctx *x)
{
    return x->c->argc != (size_t)client_subs[client_sub(x)].arity;
}

/* CLIENT ID | GETNAME | SETNAME name | SETINFO LIB-NAME|LIB-VER v | INFO
 * | LIST: what client libraries send at connect and operators ask. */
static void
cmd_client(srv_ctx *x)
{
    srv_session *s = x->b->sess;

    if (!client_known(x)) {
        REPLY(resp_add_error(x->out, "ERR unknown subcommand '%.64s'. Try "
                             "CLIENT HELP.", x->c->argv[1]));
    } else if (client_bad_arity(x)) {
        REPLY(resp_add_error(x->out, "ERR wrong number of arguments for "
                             "'client|%s' command",
                             client_subs[client_sub(x)].name));
    } else if (arg_is(x, 1, "id")) {
        REPLY(resp_add_int(x->out, (long long)s->id));
    } else if (arg_is(x, 1, "getname")) {
        pthread_mutex_lock(&x->sh->clients_lock);
        if (s->name != NULL)
            REPLY(resp_add_bulk_str(x->out, s->name));
        else
            REPLY(resp_add_nil(x->out));
        pthread_mutex_unlock(&x->sh->clients_lock);
    } else if (arg_is(x, 1, "setname")) {
        if (client_str_ok(x, 2, "Client names"))
            client_set_str(x, &s->name, 2);
    } else if (arg_is(x, 1, "setinfo")) {
        client_setinfo(x);
    } else {
        client_list(x, arg_is(x, 1, "list"));
    }
}

/* SAVE and BGSAVE: every acknowledged write made durable now (the store's
 * sync; BGSAVE too has finished when it answers). LASTSAVE: when the last
 * one succeeded, or the server started. */
static void
save_common(srv_ctx *x, const char *ok)
{
    int rc = x->st->ops->sync(x->st);

    if (rc != 0) {
        reply_store_error(x, rc);
        return;
    }
    sync_store_rlx(&x->sh->last_save_ms, srv_now_ms());
    REPLY(resp_add_simple(x->out, ok));
}

static void
cmd_save(srv_ctx *x)
{
    save_common(x, "OK");
}

/* BGSAVE [SCHEDULE]: as SAVE (nothing is ever saving already, so
 * SCHEDULE changes nothing). */
static void
cmd_bgsave(srv_ctx *x)
{
    if (x->c->argc > 2 || (x->c->argc == 2 && !arg_is(x, 1, "schedule")))
        REPLY(resp_add_error(x->out, "%s", ERR_SYNTAX));
    else
        save_common(x, "Background saving started");
}

static void
cmd_lastsave(srv_ctx *x)
{
    REPLY(resp_add_int(x->out, (long long)sync_load_rlx(&x->sh->last_save_ms) / 1000));
}

/* ---- keyspace ------------------------------------------------------------ */

static void
cmd_dbsize(srv_ctx *x)
{
    REPLY(resp_add_int(x->out, (long long)x->st->ops->count(x->st)));
}

static void
cmd_flushall(srv_ctx *x)
{
    int rc;

    if (x->c->argc > 2 || (x->c->argc == 2 && !arg_is(x, 1, "async") &&
                           !arg_is(x, 1, "sync"))) {
        REPLY(resp_add_error(x->out, "%s", ERR_SYNTAX));
        return;
    }
    rc = x->st->ops->flush(x->st);
    if (rc != 0)
        reply_store_error(x, rc);
    else
        REPLY(resp_add_simple(x->out, "OK"));
}

static void
cmd_keys(srv_ctx *x)
{
    srv_keys k;
    size_t matched = 0;
    int rc = x->st->ops->keys(x->st, &k);

    if (rc != 0) {
        reply_store_error(x, rc);
        return;
    }
    for (size_t i = 0; i < k.n; i++)
        matched += srv_glob(x->c->argv[1], x->c->lens[1], k.keys[i], k.lens[i]);
    REPLY(resp_add_array(x->out, matched));
    for (size_t i = 0; i < k.n; i++)
        if (srv_glob(x->c->argv[1], x->c->lens[1], k.keys[i], k.lens[i]))
            REPLY(resp_add_bulk(x->out, k.keys[i], k.lens[i]));
    srv_keys_free(&k);
}

typedef struct scan_args {
    long long cursor, count;
    const char *pat;
    size_t plen;
} scan_args;

static int
scan_parse(srv_ctx *x, scan_args *a)
{
    a->count = 10;
    a->pat = "*";
    a->plen = 1;
    if (resp_parse_int(x->c->argv[1], x->c->lens[1], &a->cursor) != 0 ||
        a->cursor < 0) {
        REPLY(resp_add_error(x->out, "ERR invalid cursor"));
        return -1;
    }
    for (size_t i = 2; i < x->c->argc; i += 2) {
        if (i + 1 >= x->c->argc) {
            REPLY(resp_add_error(x->out, "%s", ERR_SYNTAX));
            return -1;
        }
        if (arg_is(x, i, "match")) {
            a->pat = x->c->argv[i + 1];
            a->plen = x->c->lens[i + 1];
        } else if (arg_is(x, i, "count")) {
            if (arg_int(x, i + 1, &a->count) != 0)
                return -1;
            if (a->count < 1) {
                REPLY(resp_add_error(x->out, "%s", ERR_SYNTAX));
                return -1;
            }
        } else {
            REPLY(resp_add_error(x->out, "%s", ERR_SYNTAX));
            return -1;
        }
    }
    return 0;
}

/*
 * SCAN over a consistent snapshot: cursor 0 takes an atomic snapshot of
 * the keys into the session, later cursors are positions in it, so a full
 * iteration returns exactly the keys present at its start, each once
 * (stronger than Redis's guarantee). A cursor the session did not hand
 * out is an error.
 */
static void
cmd_scan(srv_ctx *x)
{
    srv_session *s = x->b->sess;
    scan_args a;
    size_t from, to, matched = 0;
    char cur[24];

    if (scan_parse(x, &a) != 0)
        return;
    if (a.cursor == 0) {
        srv_session_clear(s);
        int rc = x->st->ops->keys(x->st, &s->scan);
        if (rc != 0) {
            reply_store_error(x, rc);
            return;
        }
        s->scan_valid = 1;
    } else if (!s->scan_valid || (unsigned long long)a.cursor >= s->scan.n) {
        REPLY(resp_add_error(x->out, "ERR invalid cursor"));
        return;
    }
    from = (size_t)a.cursor;
    to = s->scan.n - from > (unsigned long long)a.count ? from + (size_t)a.count
                                                        : s->scan.n;
    for (size_t i = from; i < to; i++)
        matched += srv_glob(a.pat, a.plen, s->scan.keys[i], s->scan.lens[i]);
    snprintf(cur, sizeof(cur), "%zu", to == s->scan.n ? (size_t)0 : to);
    REPLY(resp_add_array(x->out, 2));
    REPLY(resp_add_bulk_str(x->out, cur));
    REPLY(resp_add_array(x->out, matched));
    for (size_t i = from; i < to; i++)
        if (srv_glob(a.pat, a.plen, s->scan.keys[i], s->scan.lens[i]))
            REPLY(resp_add_bulk(x->out, s->scan.keys[i], s->scan.lens[i]));
    if (to == s->scan.n)
        srv_session_clear(s);
}

/* EXPIRE key seconds and PEXPIRE key milliseconds (relative), EXPIREAT
 * and PEXPIREAT (absolute: Unix time in those units). */
static void
expire_common(srv_ctx *x, long long unit_ms, int absolute, const char *name)
{
    long long v;
    int64_t now = srv_now_ms(), base = absolute ? 0 : now;
    int rc;

    if (arg_int(x, 2, &v) != 0)
        return;
    if (x->c->argc > 3) {
        REPLY(resp_add_error(x->out, "ERR Unsupported option %s", x->c->argv[3]));
        return;
    }
    if (v > INT64_MAX / unit_ms || v < INT64_MIN / unit_ms ||
        v * unit_ms > INT64_MAX - base) {
        REPLY(resp_add_error(x->out, "ERR invalid expire time in '%s' command",
                             name));
        return;
    }
    /* A time in the past deletes the key, as in Redis. */
    if (base + v * unit_ms <= now)
        rc = x->st->ops->del(x->st, x->c->argv[1], x->c->lens[1]);
    else
        rc = x->st->ops->expire(x->st, x->c->argv[1], x->c->lens[1],
                                base + v * unit_ms);
    if (rc == 0 || rc == SRV_ENOTFOUND)
        REPLY(resp_add_int(x->out, rc == 0));
    else
        reply_store_error(x, rc);
}

static void
cmd_expire(srv_ctx *x)
{
    expire_common(x, 1000, 0, "expire");
}

static void
cmd_pexpire(srv_ctx *x)
{
    expire_common(x, 1, 0, "pexpire");
}

static void
cmd_expireat(srv_ctx *x)
{
    expire_common(x, 1000, 1, "expireat");
}

static void
cmd_pexpireat(srv_ctx *x)
{
    expire_common(x, 1, 1, "pexpireat");
}

/* TTL (seconds, rounded) and PTTL (milliseconds): -2 no key, -1 none. */
static void
ttl_common(srv_ctx *x, int ms)
{
    int64_t at;
    int rc = x->st->ops->ttl(x->st, x->c->argv[1], x->c->lens[1], &at);

    if (rc == SRV_ENOTFOUND)
        REPLY(resp_add_int(x->out, -2));
    else if (rc != 0)
        reply_store_error(x, rc);
    else if (at == 0)
        REPLY(resp_add_int(x->out, -1));
    else {
        int64_t left = at - srv_now_ms();
        if (left < 0)
            left = 0;
        REPLY(resp_add_int(x->out, ms ? left : (left + 500) / 1000));
    }
}

static void
cmd_ttl(srv_ctx *x)
{
    ttl_common(x, 0);
}

static void
cmd_pttl(srv_ctx *x)
{
    ttl_common(x, 1);
}

/* ---- server -------------------------------------------------------------- */

/* TIME: the server's clock, [seconds, microseconds] as Redis gives it. */
static void
cmd_time(srv_ctx *x)
{
    struct timespec ts;
    char sec[24], usec[16];
    int ns, nu;

    clock_gettime(CLOCK_REALTIME, &ts);
    ns = snprintf(sec, sizeof(sec), "%lld", (long long)ts.tv_sec);
    nu = snprintf(usec, sizeof(usec), "%ld", ts.tv_nsec / 1000);
    REPLY(resp_add_array(x->out, 2));
    REPLY(resp_add_bulk(x->out, sec, (size_t)ns));
    REPLY(resp_add_bulk(x->out, usec, (size_t)nu));
}

static void
info_append(resp_buf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
info_append(resp_buf *t, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        REPLY(resp_add_raw(t, line, (size_t)n < sizeof(line) ? (size_t)n
                                                             : sizeof(line) - 1));
}

/* A "Field:   N kB" line of /proc/self/status in bytes, or 0 where there
 * is none (not Linux). */
static unsigned long long
proc_status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t n = strlen(field);
    unsigned long long kb = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = strtoull(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}

/* INFO's # Memory: used_memory is the anonymous resident memory (heap,
 * keydir, buffers); the data files' mapped page-cache pages are not the
 * server's to count (used_memory_rss has them). redis-cli --stat reads
 * used_memory. */
static void
info_memory(resp_buf *t, const srv_store_stats *ss)
{
    unsigned long long anon = proc_status_bytes("RssAnon");
    unsigned long long rss = proc_status_bytes("VmRSS");

    if (anon == 0)
        anon = ss->index_bytes;
    info_append(t, "# Memory\r\nused_memory:%llu\r\nused_memory_human:%.2fM"
                "\r\nused_memory_rss:%llu\r\n\r\n", anon,
                (double)anon / (1024.0 * 1024.0), rss);
}

/* INFO [SECTION ...]: whether section `name` is asked for (none named,
 * or all, everything, default: every section), as Redis 7 filters. */
static int
info_want(const srv_ctx *x, const char *name)
{
    if (x->c->argc < 2)
        return 1;
    for (size_t i = 1; i < x->c->argc; i++)
        if (arg_is(x, i, name) || arg_is(x, i, "all") ||
            arg_is(x, i, "everything") || arg_is(x, i, "default"))
            return 1;
    return 0;
}

static void
cmd_info(srv_ctx *x)
{
    srv_shared *sh = x->sh;
    srv_store_stats ss;
    sync_pool_stats ps;
    resp_buf t = {0};

    x->st->ops->stats(x->st, &ss);
    sync_pool_stats_get(sh->pool, &ps);
    if (info_want(x, "server"))
        info_append(&t, "# Server\r\nredis_version:7.0.0\r\ncasklab_version:%s"
                    "\r\ntcp_port:%d\r\nuptime_in_seconds:%lld\r\n\r\n",
                    SRV_VERSION, sh->port,
                    (long long)((srv_now_ms() - sh->started_ms) / 1000));
    if (info_want(x, "clients"))
        info_append(&t, "# Clients\r\nconnected_clients:%llu\r\nmaxclients:%u"
                    "\r\nblocked_clients:0\r\n\r\n",
                    (unsigned long long)sync_load_rlx(&sh->clients),
                    sh->opts.max_clients);
    if (info_want(x, "memory"))
        info_memory(&t, &ss);
    if (info_want(x, "stats"))
        info_append(&t, "# Stats\r\ntotal_connections_received:%llu\r\n"
                    "total_commands_processed:%llu\r\nrejected_connections:"
                    "%llu\r\n\r\n",
                    (unsigned long long)sync_load_rlx(&sh->connections),
                    (unsigned long long)sync_load_rlx(&sh->commands),
                    (unsigned long long)sync_load_rlx(&sh->rejected));
    if (info_want(x, "threadpool"))
        info_append(&t, "# Threadpool\r\npool_threads:%u\r\npool_queue:%s\r\n"
                    "pool_submitted:%llu\r\npool_completed:%llu\r\n\r\n",
                    ps.threads, sync_queue_kind_name(ps.queue),
                    (unsigned long long)ps.submitted,
                    (unsigned long long)ps.completed);
    if (info_want(x, "groupcommit"))
        info_append(&t, "# Groupcommit\r\ncommits:%llu\r\ncommit_batches:%llu"
                    "\r\ncommit_commands:%llu\r\n\r\n",
                    (unsigned long long)sync_load_rlx(&sh->commits),
                    (unsigned long long)sync_load_rlx(&sh->commit_batches),
                    (unsigned long long)sync_load_rlx(&sh->commit_commands));
    if (info_want(x, "store"))
        info_append(&t, "# Store\r\nstore_backend:%s\r\nstore_keydir:%s\r\n"
                    "store_keys:%llu\r\nstore_bytes:%llu\r\nstore_files:%llu"
                    "\r\nstore_merges:%llu\r\nstore_index_bytes:%llu\r\n\r\n",
                    ss.backend, ss.keydir, (unsigned long long)ss.keys,
                    (unsigned long long)ss.bytes, (unsigned long long)ss.files,
                    (unsigned long long)ss.merges,
                    (unsigned long long)ss.index_bytes);
    if (info_want(x, "keyspace"))
        info_append(&t, "# Keyspace\r\ndb0:keys=%llu,expires=0,avg_ttl=0\r\n",
                    (unsigned long long)ss.keys);
    REPLY(resp_add_bulk(x->out, t.data ? t.data : "", t.len));
    resp_buf_free(&t);
}

/* The parameters CONFIG GET knows; redis-benchmark asks for save and
 * appendonly when it starts. */
static void
config_get(srv_ctx *x, const char *pat, size_t plen)
{
    char maxc[16], tmo[16], port[16], bulk[24];
    const srv_opts *o = &x->sh->opts;
    snprintf(maxc, sizeof(maxc), "%u", o->max_clients);
    snprintf(tmo, sizeof(tmo), "%u", o->timeout_s);
    snprintf(port, sizeof(port), "%d", x->sh->port);
    snprintf(bulk, sizeof(bulk), "%zu", o->limits.max_bulk);
    const char *kv[][2] = {
        {"save", ""},       {"appendonly", "no"}, {"databases", "1"},
        {"maxclients", maxc}, {"timeout", tmo},   {"port", port},
        {"bind", o->host},  {"proto-max-bulk-len", bulk},
        {"maxmemory", "0"},
    };
    size_t n = sizeof(kv) / sizeof(kv[0]), m = 0;

    for (size_t i = 0; i < n; i++)
        m += srv_glob(pat, plen, kv[i][0], strlen(kv[i][0]));
    REPLY(resp_add_array(x->out, 2 * m));
    for (size_t i = 0; i < n; i++)
        if (srv_glob(pat, plen, kv[i][0], strlen(kv[i][0]))) {
            REPLY(resp_add_bulk_str(x->out, kv[i][0]));
            REPLY(resp_add_bulk_str(x->out, kv[i][1]));
        }
}

static void
cmd_config(srv_ctx *x)
{
    if (!arg_is(x, 1, "get")) {
        REPLY(resp_add_error(x->out, "ERR unknown subcommand '%.64s'. Try "
                             "CONFIG GET.", x->c->argv[1]));
        return;
    }
    if (x->c->argc != 3) {
        REPLY(resp_add_error(x->out, "ERR wrong number of arguments for "
                             "'config|get' command"));
        return;
    }
    config_get(x, x->c->argv[2], x->c->lens[2]);
}

static void cmd_command(srv_ctx *x);

static const srv_cmd_def srv_cmds[] = {
    {"ping", -1, 0, 0, 0, 0, cmd_ping},
    {"echo", 2, 0, 0, 0, 0, cmd_echo},
    {"quit", -1, 1, 0, 0, 0, cmd_quit},
    {"select", 2, 0, 0, 0, 0, cmd_select},
    {"auth", -2, 1, 0, 0, 0, cmd_auth},
    {"hello", -1, 1, 0, 0, 0, cmd_hello},
    {"shutdown", -1, 0, 0, 0, 0, cmd_shutdown},
    {"get", 2, 0, 1, 1, 1, cmd_get},
    {"set", -3, 0, 1, 1, 1, cmd_set},
    {"del", -2, 0, 1, -1, 1, cmd_del},
    {"exists", -2, 0, 1, -1, 1, cmd_exists},
    {"mget", -2, 0, 1, -1, 1, cmd_mget},
    {"mset", -3, 0, 1, -1, 2, cmd_mset},
    {"incr", 2, 0, 1, 1, 1, cmd_incr},
    {"decr", 2, 0, 1, 1, 1, cmd_decr},
    {"incrby", 3, 0, 1, 1, 1, cmd_incrby},
    {"decrby", 3, 0, 1, 1, 1, cmd_decrby},
    {"setnx", 3, 0, 1, 1, 1, cmd_setnx},
    {"setex", 4, 0, 1, 1, 1, cmd_setex},
    {"psetex", 4, 0, 1, 1, 1, cmd_psetex},
    {"type", 2, 0, 1, 1, 1, cmd_type},
    {"strlen", 2, 0, 1, 1, 1, cmd_strlen},
    {"unlink", -2, 0, 1, -1, 1, cmd_del},
    {"cas", 4, 0, 1, 1, 1, cmd_cas},
    {"dbsize", 1, 0, 0, 0, 0, cmd_dbsize},
    {"flushall", -1, 0, 0, 0, 0, cmd_flushall},
    {"flushdb", -1, 0, 0, 0, 0, cmd_flushall},
    {"keys", 2, 0, 0, 0, 0, cmd_keys},
    {"scan", -2, 0, 0, 0, 0, cmd_scan},
    {"expire", -3, 0, 1, 1, 1, cmd_expire},
    {"ttl", 2, 0, 1, 1, 1, cmd_ttl},
    {"pexpire", -3, 0, 1, 1, 1, cmd_pexpire},
    {"pttl", 2, 0, 1, 1, 1, cmd_pttl},
    {"expireat", -3, 0, 1, 1, 1, cmd_expireat},
    {"pexpireat", -3, 0, 1, 1, 1, cmd_pexpireat},
    {"append", 3, 0, 1, 1, 1, cmd_append},
    {"setrange", 4, 0, 1, 1, 1, cmd_setrange},
    {"getrange", 4, 0, 1, 1, 1, cmd_getrange},
    {"substr", 4, 0, 1, 1, 1, cmd_getrange},
    {"client", -2, 0, 0, 0, 0, cmd_client},
    {"save", 1, 0, 0, 0, 0, cmd_save},
    {"bgsave", -1, 0, 0, 0, 0, cmd_bgsave},
    {"lastsave", 1, 0, 0, 0, 0, cmd_lastsave},
    {"time", 1, 0, 0, 0, 0, cmd_time},
    {"info", -1, 0, 0, 0, 0, cmd_info},
    {"config", -2, 0, 0, 0, 0, cmd_config},
    {"command", -1, 0, 0, 0, 0, cmd_command},
};

#define SRV_NCMDS (sizeof(srv_cmds) / sizeof(srv_cmds[0]))

static void
command_entry(resp_buf *out, const srv_cmd_def *d)
{
    REPLY(resp_add_array(out, 6));
    REPLY(resp_add_bulk_str(out, d->name));
    REPLY(resp_add_int(out, d->arity));
    REPLY(resp_add_array(out, 0));
    REPLY(resp_add_int(out, d->first));
    REPLY(resp_add_int(out, d->last));
    REPLY(resp_add_int(out, d->step));
}

static const srv_cmd_def *
cmd_find(const char *name, size_t len)
{
    for (size_t i = 0; i < SRV_NCMDS; i++)
        if (strlen(srv_cmds[i].name) == len &&
            strncasecmp(srv_cmds[i].name, name, len) == 0)
            return &srv_cmds[i];
    return NULL;
}

/* COMMAND, COMMAND COUNT, COMMAND INFO name..., COMMAND DOCS (empty: we
 * have no documentation to offer; redis-cli then shows no hints). */
static void
cmd_command(srv_ctx *x)
{
    if (x->c->argc == 1) {
        REPLY(resp_add_array(x->out, SRV_NCMDS));
        for (size_t i = 0; i < SRV_NCMDS; i++)
            command_entry(x->out, &srv_cmds[i]);
    } else if (arg_is(x, 1, "count")) {
        REPLY(resp_add_int(x->out, (long long)SRV_NCMDS));
    } else if (arg_is(x, 1, "docs")) {
        REPLY(resp_add_array(x->out, 0));
    } else if (arg_is(x, 1, "info")) {
        REPLY(resp_add_array(x->out, x->c->argc - 2));
        for (size_t i = 2; i < x->c->argc; i++) {
            const srv_cmd_def *d = cmd_find(x->c->argv[i], x->c->lens[i]);
            if (d != NULL)
                command_entry(x->out, d);
            else
                REPLY(resp_add_nil_array(x->out));
        }
    } else {
        REPLY(resp_add_error(x->out, "ERR unknown subcommand '%.64s'. Try "
                             "COMMAND HELP.", x->c->argv[1]));
    }
}

/* ---- dispatch ------------------------------------------------------------ */

/* "ERR unknown command 'x', with args beginning with: 'a' 'b' " */
static void
reply_unknown(srv_ctx *x)
{
    char args[256];
    size_t used = 0;

    args[0] = '\0';
    for (size_t i = 1; i < x->c->argc && used < sizeof(args) - 1; i++) {
        int n = snprintf(args + used, sizeof(args) - used, "'%.64s' ",
                         x->c->argv[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    REPLY(resp_add_error(x->out, "ERR unknown command '%.64s', with args "
                         "beginning with: %s", x->c->argv[0], args));
}

/* Keys must fit a keydir (1 byte to 64 KiB): checks every key position. */
static int
keys_valid(const srv_ctx *x, const srv_cmd_def *d)
{
    size_t last = d->last < 0 ? x->c->argc - 1 : (size_t)d->last;

    for (size_t i = (size_t)d->first; d->first > 0 && i <= last; i += (size_t)d->step)
        if (x->c->lens[i] == 0 || x->c->lens[i] > SRV_KEY_MAX)
            return 0;
    return 1;
}

/* Arity, authentication and key checks; 0 if the command may run. */
static int
cmd_check(srv_ctx *x, const srv_cmd_def *d)
{
    size_t argc = x->c->argc;

    if ((d->arity > 0 && argc != (size_t)d->arity) ||
        (d->arity < 0 && argc < (size_t)-d->arity)) {
        REPLY(resp_add_error(x->out, "ERR wrong number of arguments for '%s' "
                             "command", d->name));
        return -1;
    }
    if (!d->noauth && !x->b->sess->authed) {
        REPLY(resp_add_error(x->out, "NOAUTH Authentication required."));
        return -1;
    }
    if (!keys_valid(x, d)) {
        REPLY(resp_add_error(x->out, "ERR invalid key: keys are 1 to %u "
                             "bytes", SRV_KEY_MAX));
        return -1;
    }
    return 0;
}

static void
exec_one(srv_ctx *x)
{
    const srv_cmd_def *d = cmd_find(x->c->argv[0], x->c->lens[0]);

    sync_faa_rlx(&x->sh->commands, 1);
    sync_store_rlx(&x->b->sess->last_cmd, d != NULL ? d->name : "unknown");
    if (d == NULL) {
        if (!x->b->sess->authed)
            REPLY(resp_add_error(x->out, "NOAUTH Authentication required."));
        else
            reply_unknown(x);
        return;
    }
    if (cmd_check(x, d) == 0)
        d->fn(x);
}

void
srv_batch_commit_failed(srv_batch *b, int rc)
{
    srv_ctx x = {b, NULL, &b->out, b->sh, b->sh->store};

    b->out.len = b->commit_start;
    for (size_t i = 0; i < b->commit_ran; i++)
        reply_store_error(&x, rc);
}

void
srv_exec_batch(srv_batch *b)
{
    srv_ctx x = {b, NULL, &b->out, b->sh, b->sh->store};

    if (b->http) {
        for (size_t i = 0; i < b->n; i++) {
            size_t start = b->out.len;
            sync_faa_rlx(&b->sh->commands, 1);
            srv_http_exec(b, b->reqs[i]);
            /* HTTP requests commit one by one: a failed commit rewrites
             * only that response, with the commit's own error. */
            int rc = 0;
            if (b->sh->store->ops->wrote != NULL &&
                b->sh->store->ops->wrote(b->sh->store) &&
                (rc = b->sh->store->ops->commit(b->sh->store)) != 0) {
                b->out.len = start;
                srv_http_store_error(b, b->reqs[i], rc);
            }
            http_request_free(b->reqs[i]);
            b->reqs[i] = NULL;
        }
        b->n = 0;
        if (b->http_error != 0) {
            const char *why = http_reason(b->http_error);
            srv_http_respond(&b->out, b->http_error, "text/plain", why,
                             strlen(why), 0);
        }
        return;
    }

    /* The commands stay in the batch: the loop thread, which allocated
     * them, frees them (net/server.c), so that their memory goes back to
     * its own malloc cache instead of crossing threads on every request. */
    size_t start = b->out.len, ran = 0;
    sync_store_rlx(&b->sess->last_ms, srv_now_ms());
    for (size_t i = 0; i < b->n; i++) {
        /* After QUIT or SHUTDOWN the rest of the batch is not executed. */
        if (!b->quit && !b->shutdown) {
            x.c = b->cmds[i];
            exec_one(&x);
            ran++;
        }
    }
    b->commit_start = start;
    b->commit_ran = ran;
    b->needs_commit = x.st->ops->wrote != NULL && x.st->ops->wrote(x.st);
    if (b->proto_error != NULL && !b->quit && !b->shutdown)
        REPLY(resp_add_error(&b->out, "ERR %s", b->proto_error));
}

void
srv_session_clear(srv_session *s)
{
    srv_keys_free(&s->scan);
    s->scan_valid = 0;
}

/* ---- glob ---------------------------------------------------------------- */

/* Matches one [...] class at p (after '['); *plen_used receives its
 * length including the closing ']' (or to the end if unclosed). */
static int
glob_class(const char *p, size_t plen, char c, size_t *used)
{
    size_t i = 0;
    int neg = 0, hit = 0;

    if (i < plen && p[i] == '^') {
        neg = 1;
        i++;
    }
    for (; i < plen && p[i] != ']'; i++) {
        if (p[i] == '\\' && i + 1 < plen) {
            hit |= p[++i] == c;
        } else if (i + 2 < plen && p[i + 1] == '-' && p[i + 2] != ']') {
            char lo = p[i], hi = p[i + 2];
            if (lo > hi) {
                char t = lo;
                lo = hi;
                hi = t;
            }
            hit |= c >= lo && c <= hi;
            i += 2;
        } else {
            hit |= p[i] == c;
        }
    }
    *used = i < plen ? i + 1 : i;
    return neg ? !hit : hit;
}

/*
 * Iterative glob with one backtrack point (the last '*'), the classic
 * O(plen * slen) algorithm: no recursion, so a hostile pattern cannot
 * exhaust the stack.
 */
int
srv_glob(const char *p, size_t plen, const char *s, size_t slen)
{
    size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;

    while (si < slen) {
        size_t used = 1;
        int ok = 0;

        if (pi < plen && p[pi] == '*') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < plen && p[pi] == '?') {
            ok = 1;
        } else if (pi < plen && p[pi] == '[') {
            ok = glob_class(p + pi + 1, plen - pi - 1, s[si], &used);
            used++;
        } else if (pi < plen && p[pi] == '\\' && pi + 1 < plen) {
            ok = p[pi + 1] == s[si];
            used = 2;
        } else if (pi < plen) {
            ok = p[pi] == s[si];
        }
        if (ok) {
            pi += used;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p;
            si = ++star_s;
        } else {
            return 0;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}
