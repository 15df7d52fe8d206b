/*
 * net/memstore.c - the in-memory store behind the server (net/store.h):
 * `casklab serve --store memory`, and the server's tests without a disk.
 *
 * It keeps values, not positions: a keydir entry only says where a value
 * lives in a data file, so without the engine there is nothing for a
 * keydir to point at. This is therefore a plain hash map of our own: 64
 * stripes, each a chained table with its own mutex, chosen by the top bits
 * of the key's XXH3 hash, so different keys rarely contend. Each per-key
 * operation is linearizable at the moment it holds its stripe's lock;
 * keys() and flush() take every stripe lock in index order (the only
 * multi-lock paths, so there is no lock-order cycle), which makes keys()
 * an atomic snapshot. Expired keys are reclaimed lazily, when an operation
 * finds them, as Redis does for keys nobody samples.
 */
#include "net/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

enum { ME_STRIPE_BITS = 6, ME_STRIPES = 1 << ME_STRIPE_BITS, ME_FIRST = 16 };

typedef struct me_entry {
    struct me_entry *next;
    uint64_t hash;
    int64_t expire_at;
    char *val;
    size_t vlen, klen;
    char key[];
} me_entry;

typedef struct me_stripe {
    pthread_mutex_t lock;
    me_entry **buckets;
    size_t mask, n;
    uint64_t bytes;
} me_stripe;

typedef struct me_store {
    srv_store base;
    me_stripe stripes[ME_STRIPES];
} me_store;

static me_store *
me_of(srv_store *s)
{
    return (me_store *)s;
}

static int
me_expired(const me_entry *e, int64_t now)
{
    return e->expire_at != 0 && e->expire_at <= now;
}

static void
me_free_entry(me_stripe *st, me_entry *e)
{
    st->n--;
    st->bytes -= e->klen + e->vlen;
    free(e->val);
    free(e);
}

/*
 * Returns the link that points at key's entry (or at the NULL that ends
 * its chain), reclaiming the entry first if it has expired. Stripe locked.
 */
static me_entry **
me_link(me_stripe *st, const void *key, size_t klen, uint64_t hash)
{
    me_entry **l = &st->buckets[hash & st->mask];

    for (; *l != NULL; l = &(*l)->next) {
        me_entry *e = *l;
        if (e->hash != hash || e->klen != klen || memcmp(e->key, key, klen))
            continue;
        if (me_expired(e, srv_now_ms())) {
            *l = e->next;
            me_free_entry(st, e);
            while (*l != NULL) /* absent now: hand back the chain's end */
                l = &(*l)->next;
        }
        return l;
    }
    return l;
}

/* Locks and returns key's stripe; *hash receives the key's hash. */
static me_stripe *
me_lock(srv_store *s, const void *key, size_t klen, uint64_t *hash)
{
    me_stripe *st;

    *hash = XXH3_64bits(key, klen);
    st = &me_of(s)->stripes[*hash >> (64 - ME_STRIPE_BITS)];
    pthread_mutex_lock(&st->lock);
    return st;
}

/* Doubles a stripe's table once it holds more keys than buckets. */
static void
me_grow(me_stripe *st)
{
    size_t nb = (st->mask + 1) * 2;
    me_entry **b;

    if (st->n <= st->mask + 1)
        return;
    b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return; /* keep the longer chains: correct, only slower */
    for (size_t i = 0; i <= st->mask; i++) {
        me_entry *e = st->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(st->buckets);
    st->buckets = b;
    st->mask = nb - 1;
}

static char *
me_dup(const void *p, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static int
me_get(srv_store *s, const void *key, size_t klen, char **val, size_t *vlen)
{
    uint64_t h;
    me_stripe *st = me_lock(s, key, klen, &h);
    me_entry *e = *me_link(st, key, klen, h);
    int rc = SRV_ENOTFOUND;

    if (e != NULL) {
        *val = me_dup(e->val, e->vlen);
        *vlen = e->vlen;
        rc = *val ? 0 : SRV_ENOMEM;
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* Replaces e's value with a copy of val; stripe locked. */
static int
me_replace(me_stripe *st, me_entry *e, const void *val, size_t vlen)
{
    char *v = me_dup(val, vlen);

    if (v == NULL)
        return SRV_ENOMEM;
    st->bytes += vlen - e->vlen;
    free(e->val);
    e->val = v;
    e->vlen = vlen;
    return 0;
}

static int
me_insert(me_stripe *st, me_entry **link, const void *key, size_t klen,
          uint64_t h, const void *val, size_t vlen, int64_t expire_at)
{
    me_entry *e = malloc(sizeof(*e) + klen);

    if (e == NULL)
        return SRV_ENOMEM;
    e->val = me_dup(val, vlen);
    if (e->val == NULL) {
        free(e);
        return SRV_ENOMEM;
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->vlen = vlen;
    e->hash = h;
    e->expire_at = expire_at;
    e->next = NULL;
    *link = e;
    st->n++;
    st->bytes += klen + vlen;
    me_grow(st);
    return 0;
}

static int
me_set(srv_store *s, const void *key, size_t klen, const void *val,
       size_t vlen, const srv_set_opts *o)
{
    uint64_t h;
    me_stripe *st = me_lock(s, key, klen, &h);
    me_entry **l = me_link(st, key, klen, h);
    int rc;

    if ((o->nx && *l != NULL) || (o->xx && *l == NULL))
        rc = SRV_ECOND;
    else if (*l == NULL)
        rc = me_insert(st, l, key, klen, h, val, vlen, o->expire_at);
    else if ((rc = me_replace(st, *l, val, vlen)) == 0 && !o->keep_ttl)
        (*l)->expire_at = o->expire_at;
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static int
me_del(srv_store *s, const void *key, size_t klen)
{
    uint64_t h;
    me_stripe *st = me_lock(s, key, klen, &h);
    me_entry **l = me_link(st, key, klen, h), *e = *l;

    if (e != NULL) {
        *l = e->next;
        me_free_entry(st, e);
    }
    pthread_mutex_unlock(&st->lock);
    return e != NULL ? 0 : SRV_ENOTFOUND;
}

static int
me_exists(srv_store *s, const void *key, size_t klen)
{
    uint64_t h;
    me_stripe *st = me_lock(s, key, klen, &h);
    int found = *me_link(st, key, klen, h) != NULL;

    pthread_mutex_unlock(&st->lock);
    return found ? 0 : SRV_ENOTFOUND;
}

static int
me_cas(srv_store *s, const void *key, size_t klen, const void *old,
       size_t oldlen, const void *val, size_t vlen)
{
    uint64_t h;
    me_stripe *st = me_lock(s, key, klen, &h);
    me_entry *e = *me_link(st, key, klen, h);
    int rc;

    if (e == NULL)
        rc = SRV_ENOTFOUND;
    else if (e->vlen != oldlen || memcmp(e->val, old, oldlen) != 0)
        rc = SRV_EMISMATCH;
    else
        rc = me_replace(st, e, val, vlen);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static int
me_expire(srv_store *s, const void *key, size_t klen, int64_t expire_at)
{
    uint64_t h;
    me_stripe *st = me_lock(s, key, klen, &h);
    me_entry *e = *me_link(st, key, klen, h);

    if (e != NULL)
        e->expire_at = expire_at;
    pthread_mutex_unlock(&st->lock);
    return e != NULL ? 0 : SRV_ENOTFOUND;
}

static int
me_ttl(srv_store *s, const void *key, size_t klen, int64_t *expire_at)
{
    uint64_t h;
    me_stripe *st = me_lock(s, key, klen, &h);
    me_entry *e = *me_link(st, key, klen, h);

    if (e != NULL)
        *expire_at = e->expire_at;
    pthread_mutex_unlock(&st->lock);
    return e != NULL ? 0 : SRV_ENOTFOUND;
}

static void
me_lock_all(me_store *m)
{
    for (int i = 0; i < ME_STRIPES; i++)
        pthread_mutex_lock(&m->stripes[i].lock);
}

static void
me_unlock_all(me_store *m)
{
    for (int i = ME_STRIPES - 1; i >= 0; i--)
        pthread_mutex_unlock(&m->stripes[i].lock);
}

/* Copies every live key; all stripes locked. */
static int
me_copy_keys(me_store *m, srv_keys *out, int64_t now)
{
    size_t cap = 0;

    for (int i = 0; i < ME_STRIPES; i++)
        cap += m->stripes[i].n;
    out->keys = malloc((cap ? cap : 1) * sizeof(*out->keys));
    out->lens = malloc((cap ? cap : 1) * sizeof(*out->lens));
    if (out->keys == NULL || out->lens == NULL)
        return SRV_ENOMEM;
    for (int i = 0; i < ME_STRIPES; i++) {
        me_stripe *st = &m->stripes[i];
        for (size_t b = 0; b <= st->mask; b++)
            for (me_entry *e = st->buckets[b]; e != NULL; e = e->next) {
                if (me_expired(e, now))
                    continue;
                out->keys[out->n] = me_dup(e->key, e->klen);
                if (out->keys[out->n] == NULL)
                    return SRV_ENOMEM;
                out->lens[out->n++] = e->klen;
            }
    }
    return 0;
}

static int
me_keys(srv_store *s, srv_keys *out)
{
    me_store *m = me_of(s);
    int rc;

    memset(out, 0, sizeof(*out));
    me_lock_all(m);
    rc = me_copy_keys(m, out, srv_now_ms());
    me_unlock_all(m);
    if (rc != 0)
        srv_keys_free(out);
    return rc;
}

static uint64_t
me_count(srv_store *s)
{
    me_store *m = me_of(s);
    uint64_t n = 0;

    for (int i = 0; i < ME_STRIPES; i++) {
        pthread_mutex_lock(&m->stripes[i].lock);
        n += m->stripes[i].n;
        pthread_mutex_unlock(&m->stripes[i].lock);
    }
    return n;
}

/* Frees every entry of a stripe; locked or being destroyed. */
static void
me_clear(me_stripe *st)
{
    for (size_t b = 0; b <= st->mask; b++) {
        me_entry *e = st->buckets[b], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            me_free_entry(st, e);
        }
        st->buckets[b] = NULL;
    }
}

static int
me_flush(srv_store *s)
{
    me_store *m = me_of(s);

    me_lock_all(m);
    for (int i = 0; i < ME_STRIPES; i++)
        me_clear(&m->stripes[i]);
    me_unlock_all(m);
    return 0;
}

static int
me_nothing(srv_store *s)
{
    (void)s;
    return 0;
}

static void
me_stats(srv_store *s, srv_store_stats *out)
{
    me_store *m = me_of(s);

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < ME_STRIPES; i++) {
        pthread_mutex_lock(&m->stripes[i].lock);
        out->keys += m->stripes[i].n;
        out->bytes += m->stripes[i].bytes;
        pthread_mutex_unlock(&m->stripes[i].lock);
    }
    out->backend = "memory";
    out->keydir = "";
}

static void
me_destroy(srv_store *s)
{
    me_store *m = me_of(s);

    for (int i = 0; i < ME_STRIPES; i++) {
        me_clear(&m->stripes[i]);
        free(m->stripes[i].buckets);
        pthread_mutex_destroy(&m->stripes[i].lock);
    }
    free(m);
}

static const srv_store_ops me_ops = {
    .get = me_get,       .set = me_set,     .del = me_del,
    .exists = me_exists, .cas = me_cas,     .expire = me_expire,
    .ttl = me_ttl,       .keys = me_keys,   .count = me_count,
    .flush = me_flush,   .merge = me_nothing, .sync = me_nothing,
    .stats = me_stats,   .thread_start = NULL, .thread_stop = NULL,
    .destroy = me_destroy,
};

int
srv_memstore_open(srv_store **out)
{
    me_store *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return SRV_ENOMEM;
    m->base.ops = &me_ops;
    for (int i = 0; i < ME_STRIPES; i++) {
        m->stripes[i].buckets = calloc(ME_FIRST, sizeof(me_entry *));
        if (m->stripes[i].buckets == NULL) {
            for (int j = 0; j < i; j++)
                free(m->stripes[j].buckets);
            free(m);
            return SRV_ENOMEM;
        }
        m->stripes[i].mask = ME_FIRST - 1;
        pthread_mutex_init(&m->stripes[i].lock, NULL);
    }
    *out = &m->base;
    return 0;
}
