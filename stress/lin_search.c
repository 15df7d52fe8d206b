/*
 * stress/lin_search.c - the Wing & Gong / Lowe search for one key.
 *
 * Design (Lowe, "Testing for linearizability", CCPE 2017, section 3; the
 * same structure as Porcupine): the invocation and completion events of the
 * key's operations form a doubly linked list in time order. The search walks
 * the list from its head: at an invocation it tries to linearize that
 * operation now (apply it to the model state); if the step is legal and the
 * configuration (set of linearized operations, new state) was never seen,
 * it pushes the choice, unlinks the operation's two events and restarts at
 * the head. Reaching a completion event means that operation had to be
 * linearized already: backtrack (pop, relink, try the next invocation). An
 * empty list means every operation was linearized: linearizable. Popping
 * from an empty stack: not linearizable.
 *
 * Why it is fast: the cache of configurations makes each (set, state) pair
 * explored once. The set is a bitset whose hash is kept incrementally (XOR
 * of one random word per linearized operation, Zobrist hashing), so a step
 * costs O(1) plus one bitset compare on a cache hit. States are 32-bit ids:
 * values are interned by the history, and strings built by appends (kv) or
 * sets built by adds are interned here, once per distinct transition. The
 * search allocates only when a cache or table doubles.
 *
 * Operations whose outcome is unknown (info) get a completion event after
 * every other event, so they may be linearized anywhere after their
 * invocation; linearizing one last is the same as "it never happened".
 */
#include "stress/lin_internal.h"

#include "sync/atomic.h"

#include <stdlib.h>
#include <string.h>

/* What one operation does to the state; chosen once from fn and status. */
enum lin_kind {
    LK_GET,      /* legal iff state == out */
    LK_PUT,      /* state := a1 */
    LK_DEL_OK,   /* legal iff present; state := nil */
    LK_DEL_FAIL, /* legal iff absent */
    LK_DEL_INFO, /* state := nil */
    LK_CAS_OK,   /* legal iff state == a1; state := a2 */
    LK_CAS_FAIL, /* legal iff state != a1 */
    LK_CAS_INFO, /* if state == a1 then state := a2 */
    LK_APPEND,   /* state := state ++ a1 */
    LK_ADD       /* state := state + {a1} */
};

typedef struct lin_lop {
    uint32_t a1, a2, out;
    uint32_t kind;
} lin_lop;

#define LIN_FORCED 0x80000000u /* frame flag: a forced (pure) op */
#define LIN_OP_MASK 0x7fffffffu

typedef struct lin_frame {
    uint32_t op;    /* op | LIN_FORCED */
    uint32_t state; /* before the op */
    uint32_t lo;    /* before the op */
} lin_frame;

/* A cache slot: 0 in `ent` means empty. */
typedef struct lin_slot {
    uint64_t hash;
    uint32_t state;
    uint32_t ent; /* 1 + index of the bitset in the arena */
} lin_slot;

/* Sets built during the search (add), interned by content: '{' then the
 * sorted element ids. Appends use lin_atab instead. */
typedef struct lin_dtab {
    uint32_t base; /* first derived id (= number of history values) */
    char *bytes;
    size_t nbytes, capbytes;
    uint64_t *off; /* derived i: bytes[off[i] .. off[i+1]) */
    uint32_t n, cap;
    uint32_t *index; /* content hash -> 1 + derived index */
    uint32_t index_mask;
    uint64_t *tkey; /* transition memo: (state << 32 | arg) + 1 */
    uint32_t *tval;
    uint32_t tmask, tn;
    char *scratch;
    size_t scap;
} lin_dtab;

/*
 * Strings of a partition with appends, as hashed nodes: node i is a string
 * known by its length and two polynomial hashes modulo the Mersenne prime
 * 2^61 - 1 (with B^len kept, so the hash of s ++ a is computed from those
 * of s and a in O(1), never touching bytes). Two strings are taken as equal
 * when length and both hashes agree: for distinct strings of length n that
 * happens with probability below (n / 2^61)^2 per pair (Karp & Rabin).
 * Every value the partition's operations mention is mapped to a node id
 * before the search (node 0 is the empty string, which is also nil), so a
 * read compares ids.
 */
typedef struct lin_anode {
    uint64_t h1, h2, pw1, pw2, len;
} lin_anode;

typedef struct lin_atab {
    lin_anode *nodes;
    uint32_t n, cap;
    uint32_t *index; /* content hash -> 1 + node id */
    uint32_t index_mask;
} lin_atab;

struct lin_part {
    const hist *h;
    size_t n;         /* operations */
    lin_lop *ops;
    size_t *src;      /* op -> index in h->ops */
    /* event list: node 0 is the head; node 1 + e is event e */
    int32_t *next, *prev;
    uint32_t *ev;     /* node -> op << 1 | is_completion */
    uint32_t *call_node, *ret_node;
    uint32_t *twin;   /* op -> earlier identical info op, or UINT32_MAX */
    /* search state */
    lin_frame *stack;
    size_t sp;
    uint32_t state;
    uint64_t bits_hash;
    uint64_t *bits;
    size_t words;     /* bitset words (with padding for key extraction) */
    /* compact cache keys (see lin_make_key) */
    uint32_t lo;          /* first op not linearized, info ops aside */
    uint32_t *info_rank;  /* op -> rank among info ops, UINT32_MAX if not */
    uint32_t *info_before;/* i -> info ops with index < i (n + 1 entries) */
    uint64_t *infobits;   /* linearized info ops, by rank */
    size_t win_bits, win_words, info_words, kwords;
    uint64_t *key;        /* kwords: the current configuration's key */
    int32_t cursor;   /* node to look at next */
    int done;
    uint64_t steps;
    /* cache */
    lin_slot *slots;
    size_t slot_mask, nslots_used;
    uint64_t *arena;
    size_t arena_ents, arena_cap;
    lin_mem *mem;
    uint64_t mem_held;
    /* longest prefix found */
    uint32_t *best;
    size_t best_len, best_valid;
    int model_set, needs_dtab, has_append;
    lin_dtab dt;
    lin_atab at;
    /* append pruning (lin_append_viable) */
    uint64_t **pfx;       /* get op -> prefix hashes of its output, or NULL */
    uint32_t *pfx_len;    /* get op -> length of its output */
    uint32_t *next_reset; /* i -> first op >= i that can reset the string */
    uint32_t *info_resets;/* info ops that can reset it, by index */
    size_t ninfo_resets;
};

/* ---- hashing --------------------------------------------------------------- */

static inline uint64_t
lin_mix(uint64_t x)
{
    /* splitmix64's finaliser: a bijection with full avalanche */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t
lin_zobrist(uint32_t op)
{
    return lin_mix(op);
}

static inline uint64_t
lin_key_hash(uint64_t bits_hash, uint32_t state)
{
    return bits_hash ^ lin_mix((uint64_t)state << 32 | 0x5bd1e995u);
}

static uint64_t
lin_hash_bytes(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return lin_mix(h);
}

/* ---- memory accounting ----------------------------------------------------- */

/* Records delta more bytes held; 0, or -1 if that crosses the limit (the
 * bytes are then not recorded). */
static int
lin_mem_take(lin_part *p, uint64_t delta)
{
    if (p->mem == NULL)
        return 0;
    /* Relaxed: these are statistics and a soft limit; no other memory is
     * published through them. */
    uint64_t used = sync_faa_rlx(&p->mem->used, delta) + delta;
    if (p->mem->limit != 0 && used > p->mem->limit) {
        sync_fas_rlx(&p->mem->used, delta);
        return -1;
    }
    p->mem_held += delta;
    uint64_t peak = sync_load_rlx(&p->mem->peak);
    while (peak < used && !sync_cas_rlx(&p->mem->peak, &peak, used))
        ;
    return 0;
}

/* ---- hashed strings (append) ---------------------------------------------- */

#define LIN_P61 ((1ull << 61) - 1)
#define LIN_B1 0x1f3a5c7e9b2d4f61ull % LIN_P61
#define LIN_B2 0x0c4e8a2f6d1b9e37ull % LIN_P61

static inline uint64_t
lin_mulmod(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    uint64_t x = (uint64_t)(r & LIN_P61) + (uint64_t)(r >> 61);

    return x >= LIN_P61 ? x - LIN_P61 : x;
}

static inline uint64_t
lin_addmod(uint64_t a, uint64_t b)
{
    uint64_t x = a + b;

    return x >= LIN_P61 ? x - LIN_P61 : x;
}

static inline uint64_t
lin_anode_hash(const lin_anode *a)
{
    return lin_mix(a->h1 ^ lin_mix(a->h2 ^ a->len));
}

static int
lin_at_init(lin_atab *t)
{
    memset(t, 0, sizeof(*t));
    t->cap = 256;
    t->nodes = malloc(t->cap * sizeof(*t->nodes));
    t->index_mask = 511;
    t->index = calloc(t->index_mask + 1, sizeof(uint32_t));
    if (t->nodes == NULL || t->index == NULL)
        return LIN_ENOMEM;
    t->nodes[0] = (lin_anode){0, 0, 1, 1, 0}; /* the empty string */
    t->n = 1;
    t->index[lin_anode_hash(&t->nodes[0]) & t->index_mask] = 1;
    return 0;
}

static void
lin_at_free(lin_atab *t)
{
    free(t->nodes);
    free(t->index);
}

static int
lin_at_grow(lin_atab *t)
{
    uint32_t mask = t->index_mask * 2 + 1;
    uint32_t *ix = calloc((size_t)mask + 1, sizeof(uint32_t));

    if (ix == NULL)
        return LIN_ENOMEM;
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t j = (uint32_t)lin_anode_hash(&t->nodes[i]) & mask;
        while (ix[j] != 0)
            j = (j + 1) & mask;
        ix[j] = i + 1;
    }
    free(t->index);
    t->index = ix;
    t->index_mask = mask;
    return 0;
}

/* The id of the string described by *a, adding a node if it is new. */
static int
lin_at_intern(lin_atab *t, const lin_anode *a, uint32_t *id)
{
    uint32_t j = (uint32_t)lin_anode_hash(a) & t->index_mask;

    for (; t->index[j] != 0; j = (j + 1) & t->index_mask) {
        const lin_anode *b = &t->nodes[t->index[j] - 1];
        if (b->len == a->len && b->h1 == a->h1 && b->h2 == a->h2) {
            *id = t->index[j] - 1;
            return 0;
        }
    }
    if (t->n == t->cap) {
        lin_anode *nn = t->cap < UINT32_MAX / 2
                            ? realloc(t->nodes, 2 * (size_t)t->cap * sizeof(*nn))
                            : NULL;
        if (nn == NULL)
            return LIN_ENOMEM;
        t->nodes = nn;
        t->cap *= 2;
    }
    t->nodes[t->n] = *a;
    t->index[j] = t->n + 1;
    *id = t->n++;
    if (t->n * 2 > t->index_mask)
        return lin_at_grow(t);
    return 0;
}

static void
lin_anode_of_bytes(const char *s, size_t len, lin_anode *a)
{
    *a = (lin_anode){0, 0, 1, 1, len};
    for (size_t i = 0; i < len; i++) {
        uint64_t c = (unsigned char)s[i] + 1u; /* no byte hashes as zero */
        a->h1 = lin_addmod(lin_mulmod(a->h1, LIN_B1), c);
        a->h2 = lin_addmod(lin_mulmod(a->h2, LIN_B2), c);
        a->pw1 = lin_mulmod(a->pw1, LIN_B1);
        a->pw2 = lin_mulmod(a->pw2, LIN_B2);
    }
}

/* s ++ a, in O(1). */
static int
lin_at_concat(lin_atab *t, uint32_t s, uint32_t a, uint32_t *out)
{
    const lin_anode *x = &t->nodes[s], *y = &t->nodes[a];
    lin_anode r;

    r.h1 = lin_addmod(lin_mulmod(x->h1, y->pw1), y->h1);
    r.h2 = lin_addmod(lin_mulmod(x->h2, y->pw2), y->h2);
    r.pw1 = lin_mulmod(x->pw1, y->pw1);
    r.pw2 = lin_mulmod(x->pw2, y->pw2);
    r.len = x->len + y->len;
    return lin_at_intern(t, &r, out);
}

/* Maps one history value id to its node id (setup only). */
static int
lin_at_local(lin_part *p, uint32_t gid, uint32_t *out)
{
    lin_anode a;
    size_t len;
    const char *s = hist_value_str(p->h, gid, &len);

    lin_anode_of_bytes(s, gid == HIST_NIL ? 0 : len, &a);
    return lin_at_intern(&p->at, &a, out);
}

static int
lin_is_reset(uint32_t kind)
{
    return kind == LK_PUT || kind == LK_DEL_OK || kind == LK_DEL_INFO ||
           kind == LK_CAS_OK || kind == LK_CAS_INFO;
}

/* Prefix hashes (first hash only) of every read's output, and where the
 * ops that can reset the string are: what lin_append_viable needs. */
static int
lin_at_prune_prep(lin_part *p)
{
    size_t n = p->n;

    p->pfx = calloc(n + 1, sizeof(*p->pfx));
    p->pfx_len = calloc(n + 1, sizeof(*p->pfx_len));
    p->next_reset = malloc((n + 1) * sizeof(*p->next_reset));
    p->info_resets = malloc((n + 1) * sizeof(*p->info_resets));
    if (!p->pfx || !p->pfx_len || !p->next_reset || !p->info_resets)
        return LIN_ENOMEM;
    p->next_reset[n] = (uint32_t)n;
    for (size_t i = n; i-- > 0;) {
        int reset = lin_is_reset(p->ops[i].kind);
        p->next_reset[i] = reset ? (uint32_t)i : p->next_reset[i + 1];
    }
    for (size_t i = 0; i < n; i++) {
        if (lin_is_reset(p->ops[i].kind) &&
            p->h->ops[p->src[i]].ret == HIST_NEVER)
            p->info_resets[p->ninfo_resets++] = (uint32_t)i;
        if (p->ops[i].kind != LK_GET || p->ops[i].out == HIST_NIL)
            continue;
        size_t len;
        const char *b = hist_value_str(p->h, p->ops[i].out, &len);
        if ((p->pfx[i] = malloc((len + 1) * sizeof(uint64_t))) == NULL)
            return LIN_ENOMEM;
        p->pfx[i][0] = 0;
        for (size_t k = 0; k < len; k++)
            p->pfx[i][k + 1] = lin_addmod(lin_mulmod(p->pfx[i][k], LIN_B1),
                                          (unsigned char)b[k] + 1u);
        p->pfx_len[i] = (uint32_t)len;
    }
    return 0;
}

static void
lin_at_prune_free(lin_part *p)
{
    for (size_t i = 0; p->pfx != NULL && i < p->n; i++)
        free(p->pfx[i]);
    free(p->pfx);
    free(p->pfx_len);
    free(p->next_reset);
    free(p->info_resets);
}

/* Rewrites every value of the partition's ops as node ids. */
static int
lin_at_remap(lin_part *p)
{
    int rc = lin_at_init(&p->at);

    if (rc == 0)
        rc = lin_at_prune_prep(p);

    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        lin_lop *o = &p->ops[i];
        if ((rc = lin_at_local(p, o->a1, &o->a1)) == 0 &&
            (rc = lin_at_local(p, o->a2, &o->a2)) == 0)
            rc = lin_at_local(p, o->out, &o->out);
    }
    return rc;
}

/* ---- derived values (add) -------------------------------------------- */

static int
lin_dt_init(lin_dtab *d, uint32_t base)
{
    memset(d, 0, sizeof(*d));
    d->base = base;
    d->cap = 64;
    d->off = malloc(sizeof(uint64_t) * (d->cap + 1));
    d->index_mask = 127;
    d->index = calloc(d->index_mask + 1, sizeof(uint32_t));
    d->tmask = 255;
    d->tkey = calloc(d->tmask + 1, sizeof(uint64_t));
    d->tval = malloc((d->tmask + 1) * sizeof(uint32_t));
    if (!d->off || !d->index || !d->tkey || !d->tval)
        return LIN_ENOMEM;
    d->off[0] = 0;
    return 0;
}

static void
lin_dt_free(lin_dtab *d)
{
    free(d->bytes);
    free(d->off);
    free(d->index);
    free(d->tkey);
    free(d->tval);
    free(d->scratch);
}

/* Content of state id s: history value, derived value, or the empty
 * content of nil ("" for strings, "{" for the empty set). */
static const char *
lin_content(const lin_part *p, uint32_t s, size_t *len)
{
    if (s == HIST_NIL) {
        *len = p->model_set ? 1 : 0;
        return "{";
    }
    if (s < p->dt.base)
        return hist_value_str(p->h, s, len);
    uint32_t i = s - p->dt.base;
    *len = (size_t)(p->dt.off[i + 1] - p->dt.off[i]);
    return p->dt.bytes + p->dt.off[i];
}

static int
lin_dt_grow_index(lin_part *p)
{
    lin_dtab *d = &p->dt;
    uint32_t mask = d->index_mask * 2 + 1;
    uint32_t *ix = calloc((size_t)mask + 1, sizeof(uint32_t));

    if (ix == NULL)
        return LIN_ENOMEM;
    for (uint32_t i = 0; i < d->n; i++) {
        size_t l;
        const char *s = lin_content(p, d->base + i, &l);
        uint32_t j = (uint32_t)lin_hash_bytes(s, l) & mask;
        while (ix[j] != 0)
            j = (j + 1) & mask;
        ix[j] = i + 1;
    }
    free(d->index);
    d->index = ix;
    d->index_mask = mask;
    return 0;
}

static int
lin_dt_reserve(lin_part *p, size_t len)
{
    lin_dtab *d = &p->dt;

    if (d->nbytes + len > d->capbytes) {
        size_t cap = d->capbytes ? d->capbytes : 4096;
        while (cap < d->nbytes + len)
            cap *= 2;
        char *b = realloc(d->bytes, cap);
        if (b == NULL)
            return LIN_ENOMEM;
        d->bytes = b;
        d->capbytes = cap;
    }
    if (d->n + 1 >= d->cap) {
        uint64_t *o = realloc(d->off, sizeof(uint64_t) * ((size_t)d->cap * 2 + 1));
        if (o == NULL)
            return LIN_ENOMEM;
        d->off = o;
        d->cap *= 2;
    }
    if ((d->n + 1) * 2 > d->index_mask)
        return lin_dt_grow_index(p);
    return 0;
}

/* The id of content (s, len): nil if empty, else a history value if one
 * has these bytes (so a read compares ids), else a derived id. */
static int
lin_dt_canonical(lin_part *p, const char *s, size_t len, uint32_t *id)
{
    lin_dtab *d = &p->dt;
    uint64_t hh = lin_hash_bytes(s, len);
    int rc;

    if (len == (p->model_set ? 1u : 0u)) {
        *id = HIST_NIL;
        return 0;
    }
    if (hist_value_find(p->h, s, len, id) == 0)
        return 0;
    for (uint32_t j = (uint32_t)hh & d->index_mask; d->index[j] != 0;
         j = (j + 1) & d->index_mask) {
        size_t l;
        const char *c = lin_content(p, d->base + d->index[j] - 1, &l);
        if (l == len && memcmp(c, s, len) == 0) {
            *id = d->base + d->index[j] - 1;
            return 0;
        }
    }
    if (d->base + d->n == UINT32_MAX || (rc = lin_dt_reserve(p, len)) != 0)
        return LIN_ENOMEM;
    memcpy(d->bytes + d->nbytes, s, len);
    d->nbytes += len;
    d->off[++d->n] = d->nbytes;
    uint32_t j = (uint32_t)hh & d->index_mask;
    while (d->index[j] != 0)
        j = (j + 1) & d->index_mask;
    d->index[j] = d->n;
    *id = d->base + d->n - 1;
    return 0;
}

static int
lin_dt_scratch(lin_dtab *d, size_t len)
{
    if (len <= d->scap)
        return 0;
    char *s = realloc(d->scratch, len * 2);
    if (s == NULL)
        return LIN_ENOMEM;
    d->scratch = s;
    d->scap = len * 2;
    return 0;
}

/* Builds the content of set s + {arg} in scratch; returns its length. */
static long
lin_dt_build(lin_part *p, uint32_t s, uint32_t arg)
{
    size_t ls;
    const char *cs = lin_content(p, s, &ls);
    lin_dtab *d = &p->dt;

    /* set content: '{' then sorted distinct uint32 element ids */
    if (lin_dt_scratch(d, ls + sizeof(uint32_t)) != 0)
        return -1;
    size_t m = 0, cnt = (ls - 1) / sizeof(uint32_t);
    int placed = 0;
    d->scratch[0] = '{';
    for (size_t i = 0; i < cnt; i++) {
        uint32_t e;
        memcpy(&e, cs + 1 + i * sizeof(e), sizeof(e));
        if (e == arg) { /* already present: the same set */
            memcpy(d->scratch, cs, ls);
            return (long)ls;
        }
        if (!placed && e > arg) {
            memcpy(d->scratch + 1 + m++ * sizeof(arg), &arg, sizeof(arg));
            placed = 1;
        }
        memcpy(d->scratch + 1 + m++ * sizeof(e), &e, sizeof(e));
    }
    if (!placed)
        memcpy(d->scratch + 1 + m++ * sizeof(arg), &arg, sizeof(arg));
    return (long)(1 + m * sizeof(uint32_t));
}

static int
lin_dt_grow_memo(lin_dtab *d)
{
    uint32_t mask = d->tmask * 2 + 1;
    uint64_t *k = calloc((size_t)mask + 1, sizeof(uint64_t));
    uint32_t *v = malloc(((size_t)mask + 1) * sizeof(uint32_t));

    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return LIN_ENOMEM;
    }
    for (uint32_t i = 0; i <= d->tmask; i++) {
        if (d->tkey[i] == 0)
            continue;
        uint32_t j = (uint32_t)lin_mix(d->tkey[i]) & mask;
        while (k[j] != 0)
            j = (j + 1) & mask;
        k[j] = d->tkey[i];
        v[j] = d->tval[i];
    }
    free(d->tkey);
    free(d->tval);
    d->tkey = k;
    d->tval = v;
    d->tmask = mask;
    return 0;
}

/* state + {arg} for add, memoised per (state, arg). */
static int
lin_derive(lin_part *p, uint32_t s, uint32_t arg, uint32_t *out)
{
    lin_dtab *d = &p->dt;
    uint64_t key = ((uint64_t)s << 32 | arg) + 1;
    uint32_t j = (uint32_t)lin_mix(key) & d->tmask;
    long len;

    for (; d->tkey[j] != 0; j = (j + 1) & d->tmask)
        if (d->tkey[j] == key) {
            *out = d->tval[j];
            return 0;
        }
    if ((len = lin_dt_build(p, s, arg)) < 0 ||
        lin_dt_canonical(p, d->scratch, (size_t)len, out) != 0)
        return LIN_ENOMEM;
    d->tkey[j] = key;
    d->tval[j] = *out;
    if (++d->tn * 2 > d->tmask)
        return lin_dt_grow_memo(d);
    return 0;
}

/* ---- the model step -------------------------------------------------------- */

/* Applies op to s: 1 and *ns if legal, 0 if not, -1 on allocation failure. */
static inline int
lin_apply(lin_part *p, const lin_lop *o, uint32_t s, uint32_t *ns)
{
    *ns = s;
    switch (o->kind) {
    case LK_GET:
        return s == o->out;
    case LK_PUT:
        *ns = o->a1;
        return 1;
    case LK_DEL_OK:
        *ns = HIST_NIL;
        return s != HIST_NIL;
    case LK_DEL_FAIL:
        return s == HIST_NIL;
    case LK_DEL_INFO:
        *ns = HIST_NIL;
        return 1;
    case LK_CAS_OK:
        *ns = o->a2;
        return s == o->a1;
    case LK_CAS_FAIL:
        return s != o->a1;
    case LK_CAS_INFO:
        if (s == o->a1)
            *ns = o->a2;
        return 1;
    case LK_APPEND:
        /* O(1) from the two hashes: no memo needed (lin_atab) */
        return lin_at_concat(&p->at, s, o->a1, ns) == 0 ? 1 : -1;
    case LK_ADD:
        return lin_derive(p, s, o->a1, ns) == 0 ? 1 : -1;
    }
    return 0;
}

/* ---- preparing a part ------------------------------------------------------ */

/* Kind of an operation, or -1 if it constrains nothing and is dropped. */
static int
lin_kind_of(const hist_op *o)
{
    switch (o->fn) {
    case HIST_GET:
        return o->status == HIST_ST_OK ? LK_GET : -1;
    case HIST_PUT:
        return o->status == HIST_ST_FAIL ? -1 : LK_PUT;
    case HIST_DEL:
        return o->status == HIST_ST_OK     ? LK_DEL_OK
               : o->status == HIST_ST_FAIL ? LK_DEL_FAIL
                                           : LK_DEL_INFO;
    case HIST_CAS:
        return o->status == HIST_ST_OK     ? LK_CAS_OK
               : o->status == HIST_ST_FAIL ? LK_CAS_FAIL
                                           : LK_CAS_INFO;
    case HIST_APPEND:
        return o->status == HIST_ST_FAIL ? -1 : LK_APPEND;
    case HIST_ADD:
        return o->status == HIST_ST_FAIL ? -1 : LK_ADD;
    }
    return -1;
}

typedef struct lin_event {
    uint64_t t;
    uint32_t order; /* invocations before completions at equal times */
    uint32_t code;  /* op << 1 | is_completion */
} lin_event;

static int
lin_cmp_event(const void *a, const void *b)
{
    const lin_event *x = a, *y = b;

    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return (x->code > y->code) - (x->code < y->code);
}

static int
lin_part_alloc(lin_part *p, size_t n)
{
    size_t nodes = 2 * n + 1;

    p->ops = malloc(n * sizeof(*p->ops));
    p->src = malloc(n * sizeof(*p->src));
    p->next = malloc(nodes * sizeof(int32_t));
    p->prev = malloc(nodes * sizeof(int32_t));
    p->ev = malloc(nodes * sizeof(uint32_t));
    p->call_node = malloc(n * sizeof(uint32_t));
    p->ret_node = malloc(n * sizeof(uint32_t));
    p->twin = malloc(n * sizeof(uint32_t));
    p->stack = malloc((n + 1) * sizeof(*p->stack));
    p->best = malloc((n + 1) * sizeof(*p->best));
    p->words = (2 * n + 63) / 64 + 2; /* room to read a window past n */
    p->bits = calloc(p->words, sizeof(uint64_t));
    p->info_rank = malloc((n + 1) * sizeof(uint32_t));
    p->info_before = malloc((n + 1) * sizeof(uint32_t));
    p->slot_mask = 63;
    p->slots = calloc(p->slot_mask + 1, sizeof(lin_slot));
    if (!p->ops || !p->src || !p->next || !p->prev || !p->ev ||
        !p->call_node || !p->ret_node || !p->twin || !p->stack || !p->best || !p->bits || !p->slots ||
        !p->info_rank || !p->info_before)
        return LIN_ENOMEM;
    return 0;
}

/* Builds the event list in time order; info completions go last. */
static int
lin_part_events(lin_part *p)
{
    size_t n = p->n;
    lin_event *evs = malloc(2 * n * sizeof(*evs) + 1);

    if (evs == NULL)
        return LIN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const hist_op *o = &p->h->ops[p->src[i]];
        evs[2 * i] = (lin_event){o->call, 0, (uint32_t)(i << 1)};
        evs[2 * i + 1] = (lin_event){o->ret, 1, (uint32_t)(i << 1 | 1)};
    }
    qsort(evs, 2 * n, sizeof(*evs), lin_cmp_event);
    p->next[0] = 2 * n > 0 ? 1 : 0;
    p->prev[0] = (int32_t)(2 * n);
    for (size_t e = 0; e < 2 * n; e++) {
        int32_t node = (int32_t)e + 1;
        p->ev[node] = evs[e].code;
        p->prev[node] = node - 1;
        p->next[node] = e + 1 < 2 * n ? node + 1 : 0;
        if (evs[e].code & 1)
            p->ret_node[evs[e].code >> 1] = (uint32_t)node;
        else
            p->call_node[evs[e].code >> 1] = (uint32_t)node;
    }
    free(evs);
    return 0;
}

/* An op to sort by invocation time; ties keep history order. */
typedef struct lin_byc {
    uint64_t call;
    size_t idx;
} lin_byc;

static int
lin_cmp_byc(const void *a, const void *b)
{
    const lin_byc *x = a, *y = b;

    if (x->call != y->call)
        return x->call < y->call ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int
lin_part_ops(lin_part *p, const size_t *idx, size_t n)
{
    const hist *h = p->h;
    uint32_t empty_set = UINT32_MAX;

    if (p->model_set)
        (void)hist_value_find(h, "{", 1, &empty_set);
    p->n = 0;
    for (size_t i = 0; i < n; i++) {
        const hist_op *o = &h->ops[idx[i]];
        int k = lin_kind_of(o);
        if (k < 0)
            continue;
        lin_lop *l = &p->ops[p->n];
        l->kind = (uint32_t)k;
        l->a1 = o->arg1;
        l->a2 = o->arg2;
        /* a read of the empty set compares with nil, the initial state */
        l->out = o->out == empty_set ? HIST_NIL : o->out;
        p->needs_dtab |= k == LK_ADD;
        p->has_append |= k == LK_APPEND;
        p->src[p->n++] = idx[i];
    }
    return 0;
}

/*
 * Symmetry among info operations: two with the same kind and arguments
 * (say two timed-out "write 3") differ only in their invocation times, and
 * both may take effect at any later time. Any linearization that places the
 * later-invoked one first stays valid with the two swapped, so the search
 * only ever linearizes them in invocation order: twin[b] = a means b waits
 * for a. Jepsen histories with many timed-out writes of a few values shrink
 * by the factorial of each group's size.
 */
static void
lin_part_twins(lin_part *p)
{
    for (size_t i = 0; i < p->n; i++) {
        p->twin[i] = UINT32_MAX;
        if (p->h->ops[p->src[i]].ret != HIST_NEVER)
            continue;
        for (size_t j = i; j-- > 0;) {
            const lin_lop *a = &p->ops[j], *b = &p->ops[i];
            if (p->h->ops[p->src[j]].ret == HIST_NEVER && a->kind == b->kind &&
                a->a1 == b->a1 && a->a2 == b->a2) {
                p->twin[i] = (uint32_t)j;
                break;
            }
        }
    }
}

/*
 * Compact keys. A configuration's set of linearized ops is stored not as an
 * n-bit set but as (lo, the bits of ops lo .. lo + W - 1, the set of info
 * ops before lo), where lo is the first op (info ops aside) not yet
 * linearized. Every op before lo is linearized but the info ones, so this
 * is the same set; and nothing at or past lo + W can be linearized: an op
 * invoked after lo's completion must wait for lo (the walk meets lo's
 * completion first). W is the widest such window over the history, which
 * for a history of T threads is about T ops, not n: keys stay a few words
 * however long one key's history grows.
 */
static int
lin_part_keys(lin_part *p)
{
    const hist_op *ho = p->h->ops;
    size_t n = p->n, ninfo = 0, w = 1;

    for (size_t i = 0; i < n; i++) {
        p->info_before[i] = (uint32_t)ninfo;
        p->info_rank[i] = ho[p->src[i]].ret == HIST_NEVER ? (uint32_t)ninfo++
                                                          : UINT32_MAX;
    }
    p->info_before[n] = (uint32_t)ninfo;
    for (size_t i = 0, j = 0; i < n; i++) {
        if (p->info_rank[i] != UINT32_MAX)
            continue;
        if (j < i)
            j = i;
        while (j < n && ho[p->src[j]].call <= ho[p->src[i]].ret)
            j++; /* j: the first op invoked after i completed */
        if (j - i > w)
            w = j - i;
    }
    p->win_bits = w;
    p->win_words = (w + 63) / 64;
    p->info_words = (ninfo + 63) / 64;
    p->kwords = 1 + p->win_words + p->info_words;
    p->infobits = calloc(p->info_words + 1, sizeof(uint64_t));
    p->key = calloc(p->kwords, sizeof(uint64_t));
    p->lo = 0;
    while (p->lo < n && p->info_rank[p->lo] != UINT32_MAX)
        p->lo++;
    return p->infobits && p->key ? 0 : LIN_ENOMEM;
}

int
lin_part_new(const hist *h, const size_t *idx, size_t n, lin_mem *mem,
             lin_part **out)
{
    lin_part *p = calloc(1, sizeof(*p));
    lin_byc *byc = malloc((n + 1) * sizeof(*byc));
    size_t *sorted = malloc((n + 1) * sizeof(*sorted));

    if (p == NULL || byc == NULL || sorted == NULL || n >= INT32_MAX / 2) {
        free(p);
        free(byc);
        free(sorted);
        return LIN_ENOMEM;
    }
    p->h = h;
    p->mem = mem;
    p->model_set = h->model == HIST_MODEL_SET;
    /* Sorted by invocation so that op numbers follow time: the search
     * then tries operations in time order, and prefixes read naturally. */
    for (size_t i = 0; i < n; i++)
        byc[i] = (lin_byc){h->ops[idx[i]].call, idx[i]};
    qsort(byc, n, sizeof(*byc), lin_cmp_byc);
    for (size_t i = 0; i < n; i++)
        sorted[i] = byc[i].idx;
    free(byc);
    int rc = lin_part_alloc(p, n);
    if (rc == 0)
        rc = lin_part_ops(p, sorted, n);
    free(sorted);
    if (rc == 0)
        rc = lin_part_events(p);
    if (rc == 0)
        lin_part_twins(p);
    if (rc == 0)
        rc = lin_part_keys(p);
    if (rc == 0 && p->needs_dtab)
        rc = lin_dt_init(&p->dt, (uint32_t)hist_nvalues(h));
    if (rc == 0 && p->has_append)
        rc = lin_at_remap(p);
    if (rc == 0 && lin_mem_take(p, (p->slot_mask + 1) * sizeof(lin_slot)) != 0)
        rc = LIN_ENOMEM;
    if (rc != 0) {
        lin_part_free(p);
        return rc;
    }
    p->state = HIST_NIL;
    p->cursor = p->next[0];
    *out = p;
    return 0;
}

void
lin_part_free(lin_part *p)
{
    if (p == NULL)
        return;
    if (p->mem != NULL)
        sync_fas_rlx(&p->mem->used, p->mem_held);
    free(p->ops);
    free(p->src);
    free(p->next);
    free(p->prev);
    free(p->ev);
    free(p->call_node);
    free(p->ret_node);
    free(p->twin);
    free(p->stack);
    free(p->best);
    free(p->bits);
    free(p->info_rank);
    free(p->info_before);
    free(p->infobits);
    free(p->key);
    free(p->slots);
    free(p->arena);
    if (p->needs_dtab)
        lin_dt_free(&p->dt);
    if (p->has_append) {
        lin_at_free(&p->at);
        lin_at_prune_free(p);
    }
    free(p);
}

/* ---- the cache --------------------------------------------------------------- */

static int
lin_cache_grow(lin_part *p)
{
    size_t mask = p->slot_mask * 2 + 1;
    lin_slot *s;

    if (lin_mem_take(p, (mask + 1) * sizeof(lin_slot) / 2) != 0)
        return -1;
    if ((s = calloc(mask + 1, sizeof(*s))) == NULL)
        return -1;
    for (size_t i = 0; i <= p->slot_mask; i++) {
        if (p->slots[i].ent == 0)
            continue;
        size_t j = p->slots[i].hash & mask;
        while (s[j].ent != 0)
            j = (j + 1) & mask;
        s[j] = p->slots[i];
    }
    free(p->slots);
    p->slots = s;
    p->slot_mask = mask;
    return 0;
}

static int
lin_arena_grow(lin_part *p)
{
    size_t cap = p->arena_cap ? p->arena_cap * 2 : 256;
    uint64_t *a;

    if (lin_mem_take(p, (cap - p->arena_cap) * p->kwords * sizeof(uint64_t)) != 0)
        return -1;
    if ((a = realloc(p->arena, cap * p->kwords * sizeof(uint64_t))) == NULL)
        return -1;
    p->arena = a;
    p->arena_cap = cap;
    return 0;
}

/* Fills p->key with the compact form of the linearized set (see
 * lin_part_keys): lo, the window after it, the info ops before it. */
static void
lin_make_key(lin_part *p)
{
    uint64_t *k = p->key;
    size_t lo = p->lo, q = lo >> 6, r = lo & 63;

    k[0] = lo;
    for (size_t w = 0; w < p->win_words; w++, q++)
        k[1 + w] = r ? p->bits[q] >> r | p->bits[q + 1] << (64 - r)
                     : p->bits[q];
    if (p->win_bits & 63)
        k[p->win_words] &= (1ull << (p->win_bits & 63)) - 1;
    size_t ib = p->info_before[lo], full = ib >> 6;
    uint64_t *ki = k + 1 + p->win_words;
    for (size_t w = 0; w < p->info_words; w++)
        ki[w] = w < full ? p->infobits[w]
                : w == full ? p->infobits[w] & ((1ull << (ib & 63)) - 1)
                            : 0;
}

/* Adds (linearized set, state) unless present: 1 added, 0 present, -1 no
 * memory. */
static int
lin_cache_add(lin_part *p, uint64_t bits_hash, uint32_t state)
{
    uint64_t hh = lin_key_hash(bits_hash, state);
    size_t j = hh & p->slot_mask, bytes = p->kwords * sizeof(uint64_t);

    lin_make_key(p);
    for (; p->slots[j].ent != 0; j = (j + 1) & p->slot_mask) {
        const lin_slot *s = &p->slots[j];
        if (s->hash == hh && s->state == state &&
            memcmp(p->arena + (size_t)(s->ent - 1) * p->kwords, p->key,
                   bytes) == 0)
            return 0;
    }
    if (p->arena_ents == p->arena_cap && lin_arena_grow(p) != 0)
        return -1;
    memcpy(p->arena + p->arena_ents * p->kwords, p->key, bytes);
    p->slots[j] = (lin_slot){hh, state, (uint32_t)++p->arena_ents};
    if (++p->nslots_used * 2 > p->slot_mask && lin_cache_grow(p) != 0)
        return -1;
    return 1;
}

/* ---- the search ------------------------------------------------------------- */

static inline void
lin_lift(lin_part *p, uint32_t op)
{
    int32_t c = (int32_t)p->call_node[op], r = (int32_t)p->ret_node[op];

    p->next[p->prev[c]] = p->next[c];
    p->prev[p->next[c]] = p->prev[c];
    p->next[p->prev[r]] = p->next[r];
    p->prev[p->next[r]] = p->prev[r];
}

static inline void
lin_unlift(lin_part *p, uint32_t op)
{
    int32_t c = (int32_t)p->call_node[op], r = (int32_t)p->ret_node[op];

    p->next[p->prev[r]] = r;
    p->prev[p->next[r]] = r;
    p->next[p->prev[c]] = c;
    p->prev[p->next[c]] = c;
}

static void
lin_note_best(lin_part *p)
{
    if (p->sp <= p->best_len)
        return;
    for (size_t i = p->best_valid; i < p->sp; i++)
        p->best[i] = p->stack[i].op & LIN_OP_MASK;
    p->best_len = p->sp;
    p->best_valid = p->sp;
}

/* Operations that leave the state unchanged. */
static inline int
lin_is_pure(const lin_lop *o)
{
    return o->kind == LK_GET || o->kind == LK_CAS_FAIL || o->kind == LK_DEL_FAIL;
}

/* Marks op linearized, moving lo past it if it was lo. */
static inline void
lin_mark(lin_part *p, uint32_t op)
{
    uint32_t ir = p->info_rank[op];

    p->bits[op >> 6] |= 1ull << (op & 63);
    if (ir != UINT32_MAX)
        p->infobits[ir >> 6] |= 1ull << (ir & 63);
    while (p->lo < p->n && (p->info_rank[p->lo] != UINT32_MAX ||
                            (p->bits[p->lo >> 6] >> (p->lo & 63) & 1)))
        p->lo++;
}

/* Undoes lin_mark; lo comes back from the frame. */
static inline void
lin_unmark(lin_part *p, uint32_t op, uint32_t lo)
{
    uint32_t ir = p->info_rank[op];

    p->bits[op >> 6] &= ~(1ull << (op & 63));
    if (ir != UINT32_MAX)
        p->infobits[ir >> 6] &= ~(1ull << (ir & 63));
    p->lo = lo;
}

/*
 * The configuration reached by the top frame has no way forward: pop it,
 * and keep popping while the popped frame was forced (see lin_part_run).
 * Returns 0, or -1 when the stack empties: not linearizable.
 */
static int
lin_backtrack(lin_part *p)
{
    lin_frame f;

    do {
        if (p->sp == 0)
            return -1;
        f = p->stack[--p->sp];
        if (p->sp < p->best_valid)
            p->best_valid = p->sp;
        uint32_t op = f.op & LIN_OP_MASK;
        p->state = f.state;
        p->bits_hash ^= lin_zobrist(op);
        lin_unmark(p, op, f.lo);
        lin_unlift(p, op);
        p->cursor = p->next[p->call_node[op]];
    } while (f.op & LIN_FORCED);
    return 0;
}

/*
 * One step at an invocation node: try to linearize its op now. Returns 1
 * if it was pushed, 0 to move on to the next node, -1 to backtrack, -2 out
 * of memory.
 *
 * Pure operations (reads, failed cas, failed del) are forced: if one is
 * legal now, some linearization from here exists iff one exists with it
 * placed now. (Take any linearization from here; the op can move to the
 * front: it changes no state, every op that had to precede it in real
 * time is already linearized, or the walk would have met that op's
 * completion before this invocation, and moving it earlier breaks no
 * "after" constraint.) So a forced frame is never retried with an
 * alternative; when it fails, so does the configuration below it.
 */
static inline int
lin_is_marked(const lin_part *p, uint32_t op)
{
    return p->bits[op >> 6] >> (op & 63) & 1;
}

/*
 * Append pruning. After an append leaves the string s, take the first op
 * not yet linearized that could reset the string (put, del, successful or
 * unknown cas); call its invocation t. A read not yet linearized that
 * completed before t must be linearized before any reset, so it will see
 * s followed by appends only: its output must start with s. If one does
 * not, this configuration leads nowhere. Only reads in the window after lo
 * are examined (any subset keeps the pruning sound), and the prefix test
 * compares hashes: equal for a true prefix, so a collision can only fail
 * to prune, never prune wrongly.
 */
static int
lin_append_viable(const lin_part *p, uint32_t s)
{
    const hist_op *ho = p->h->ops;
    uint64_t t = HIST_NEVER, len = p->at.nodes[s].len, hs = p->at.nodes[s].h1;
    size_t end = p->lo + p->win_bits < p->n ? p->lo + p->win_bits : p->n;
    uint32_t r = p->lo < p->n ? p->next_reset[p->lo] : (uint32_t)p->n;

    while (r < p->n && lin_is_marked(p, r))
        r = p->next_reset[r + 1];
    if (r < p->n)
        t = ho[p->src[r]].call;
    for (size_t i = 0; i < p->ninfo_resets && p->info_resets[i] < r; i++)
        if (!lin_is_marked(p, p->info_resets[i])) {
            uint64_t c = ho[p->src[p->info_resets[i]]].call;
            t = c < t ? c : t;
            break; /* by index, so by invocation: the first is the least */
        }
    for (size_t i = p->lo; i < end; i++) {
        if (p->ops[i].kind != LK_GET || lin_is_marked(p, (uint32_t)i) ||
            ho[p->src[i]].ret >= t)
            continue;
        if (len > p->pfx_len[i] ||
            (len > 0 && (p->pfx[i] == NULL || p->pfx[i][len] != hs)))
            return 0;
    }
    return 1;
}

static inline int
lin_try(lin_part *p, uint32_t op)
{
    const lin_lop *o = &p->ops[op];
    uint32_t ns, tw = p->twin[op];

    if (tw != UINT32_MAX && !(p->bits[tw >> 6] & (1ull << (tw & 63))))
        return 0; /* its earlier twin goes first (lin_part_twins) */
    int legal = lin_apply(p, o, p->state, &ns);

    if (legal <= 0)
        return legal < 0 ? -2 : 0;
    int pure = lin_is_pure(o);
    uint64_t bh = p->bits_hash ^ lin_zobrist(op);
    uint32_t lo = p->lo;
    lin_mark(p, op);
    if (o->kind == LK_APPEND && !lin_append_viable(p, ns)) {
        lin_unmark(p, op, lo);
        return 0;
    }
    int added = lin_cache_add(p, bh, ns);
    if (added <= 0) {
        lin_unmark(p, op, lo);
        return added < 0 ? -2 : pure ? -1 : 0;
    }
    p->stack[p->sp++] = (lin_frame){op | (pure ? LIN_FORCED : 0), p->state, lo};
    p->state = ns;
    p->bits_hash = bh;
    lin_lift(p, op);
    lin_note_best(p);
    p->cursor = p->next[0];
    return 1;
}

int
lin_part_run(lin_part *p, uint64_t max_steps)
{
    uint64_t budget = max_steps;

    if (p->done)
        return p->done;
    while (p->next[0] != 0) {
        if (budget-- == 0)
            return LIN_RUN_MORE;
        p->steps++;
        int32_t node = p->cursor;
        uint32_t code = p->ev[node];
        int r = (code & 1) ? -1 : lin_try(p, code >> 1);
        if (r == 0)
            p->cursor = p->next[node];
        else if (r == -2)
            return p->done = LIN_RUN_NOMEM;
        else if (r == -1 && lin_backtrack(p) != 0)
            return p->done = LIN_RUN_ILLEGAL;
    }
    return p->done = LIN_RUN_OK;
}

uint64_t
lin_part_steps(const lin_part *p)
{
    return p->steps;
}

size_t
lin_part_nops(const lin_part *p)
{
    return p->n;
}

size_t
lin_part_prefix(const lin_part *p, size_t *out)
{
    for (size_t i = 0; i < p->best_len; i++)
        out[i] = p->src[p->best[i]];
    return p->best_len;
}
