/*
 * stress/history.c - histories in memory, casklab's text format, detection.
 *
 * The in-memory form interns every key and value into a dense id so that
 * the checker's model steps compare integers. The text format (documented
 * in stress/HISTORY.md) is one operation per line with its invocation and
 * completion times, so a history can be sorted, grepped and diffed; the
 * reader is strict and names the line of the first error.
 */
#include "stress/hist_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define HIST_MAX_OPS (1u << 31)
#define HIST_MAX_BYTES ((size_t)1 << 31)

const char *
hist_strerror(int code)
{
#define HIST_MSG_(name, value, msg)                                           \
    if (code == (value))                                                      \
        return msg;
    HIST_ERRORS(HIST_MSG_)
#undef HIST_MSG_
    return "unknown history error";
}

/* ---- string tables ------------------------------------------------------ */

static uint64_t
hist_hash_bytes(const void *p, size_t len)
{
    /* FNV-1a then a final avalanche: tables here hold at most millions of
     * short strings, and this keeps the module free of dependencies. */
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static int
hist_tab_init(hist_strtab *t)
{
    memset(t, 0, sizeof(*t));
    t->cap = 64;
    t->off = malloc(sizeof(uint64_t) * (t->cap + 1));
    t->index_mask = 127;
    t->index = calloc(t->index_mask + 1, sizeof(uint32_t));
    if (t->off == NULL || t->index == NULL)
        return HIST_ENOMEM;
    t->off[0] = 0;
    return 0;
}

static void
hist_tab_free(hist_strtab *t)
{
    free(t->bytes);
    free(t->off);
    free(t->index);
    memset(t, 0, sizeof(*t));
}

static const char *
hist_tab_str(const hist_strtab *t, uint32_t id, size_t *len)
{
    if (id >= t->n) {
        *len = 0;
        return "";
    }
    *len = (size_t)(t->off[id + 1] - t->off[id]);
    return t->bytes != NULL ? t->bytes + t->off[id] : "";
}

static int
hist_tab_eq(const hist_strtab *t, uint32_t id, const void *p, size_t len)
{
    size_t l;
    const char *s = hist_tab_str(t, id, &l);

    return l == len && memcmp(s, p, len) == 0;
}

static int
hist_tab_grow_index(hist_strtab *t)
{
    uint32_t mask = t->index_mask * 2 + 1;
    uint32_t *ix = calloc((size_t)mask + 1, sizeof(uint32_t));

    if (ix == NULL)
        return HIST_ENOMEM;
    for (uint32_t id = 0; id < t->n; id++) {
        size_t l;
        const char *s = hist_tab_str(t, id, &l);
        uint32_t i = (uint32_t)hist_hash_bytes(s, l) & mask;

        while (ix[i] != 0)
            i = (i + 1) & mask;
        ix[i] = id + 1;
    }
    free(t->index);
    t->index = ix;
    t->index_mask = mask;
    return 0;
}

static int
hist_tab_reserve(hist_strtab *t, size_t len)
{
    if (t->nbytes + len > HIST_MAX_BYTES || t->n + 1 >= HIST_MAX_OPS)
        return HIST_ETOOBIG;
    if (t->nbytes + len > t->capbytes) {
        size_t cap = t->capbytes ? t->capbytes : 256;
        while (cap < t->nbytes + len)
            cap *= 2;
        char *b = realloc(t->bytes, cap);
        if (b == NULL)
            return HIST_ENOMEM;
        t->bytes = b;
        t->capbytes = cap;
    }
    if (t->n + 1 >= t->cap) {
        uint64_t *o = realloc(t->off, sizeof(uint64_t) * ((size_t)t->cap * 2 + 1));
        if (o == NULL)
            return HIST_ENOMEM;
        t->off = o;
        t->cap *= 2;
    }
    if ((t->n + 1) * 2 > t->index_mask)
        return hist_tab_grow_index(t);
    return 0;
}

static int
hist_tab_intern(hist_strtab *t, const void *p, size_t len, uint32_t *id)
{
    uint32_t i = (uint32_t)hist_hash_bytes(p, len) & t->index_mask;
    int rc;

    for (; t->index[i] != 0; i = (i + 1) & t->index_mask)
        if (hist_tab_eq(t, t->index[i] - 1, p, len)) {
            *id = t->index[i] - 1;
            return 0;
        }
    if ((rc = hist_tab_reserve(t, len)) != 0)
        return rc;
    if (len > 0)
        memcpy(t->bytes + t->nbytes, p, len);
    t->nbytes += len;
    *id = t->n++;
    t->off[t->n] = t->nbytes;
    /* the index may have been rebuilt: probe again for a free slot */
    i = (uint32_t)hist_hash_bytes(p, len) & t->index_mask;
    while (t->index[i] != 0)
        i = (i + 1) & t->index_mask;
    t->index[i] = *id + 1;
    return 0;
}

/* ---- histories ------------------------------------------------------------ */

int
hist_init(hist *h, hist_model model)
{
    memset(h, 0, sizeof(*h));
    h->model = model;
    if (hist_tab_init(&h->keys) != 0 || hist_tab_init(&h->vals) != 0) {
        hist_free(h);
        return HIST_ENOMEM;
    }
    /* Value id 0 is HIST_NIL: an entry with no bytes that is left out of
     * the index, so no interned string can ever map to it. */
    h->vals.n = 1;
    h->vals.off[1] = 0;
    return 0;
}

void
hist_free(hist *h)
{
    free(h->ops);
    hist_tab_free(&h->keys);
    hist_tab_free(&h->vals);
    memset(h, 0, sizeof(*h));
}

int
hist_key(hist *h, const void *bytes, size_t len, uint32_t *id)
{
    return hist_tab_intern(&h->keys, bytes, len, id);
}

int
hist_value(hist *h, const void *bytes, size_t len, uint32_t *id)
{
    return hist_tab_intern(&h->vals, bytes, len, id);
}

int
hist_value_find(const hist *h, const void *bytes, size_t len, uint32_t *id)
{
    const hist_strtab *t = &h->vals;

    for (uint32_t i = (uint32_t)hist_hash_bytes(bytes, len) & t->index_mask;
         t->index[i] != 0; i = (i + 1) & t->index_mask)
        if (hist_tab_eq(t, t->index[i] - 1, bytes, len)) {
            *id = t->index[i] - 1;
            return 0;
        }
    return -1;
}

const char *
hist_key_str(const hist *h, uint32_t id, size_t *len)
{
    return hist_tab_str(&h->keys, id, len);
}

const char *
hist_value_str(const hist *h, uint32_t id, size_t *len)
{
    if (id == HIST_NIL) {
        *len = 0;
        return "";
    }
    return hist_tab_str(&h->vals, id, len);
}

size_t
hist_nkeys(const hist *h)
{
    return h->keys.n;
}

size_t
hist_nvalues(const hist *h)
{
    return h->vals.n;
}

int
hist_append(hist *h, const hist_op *op)
{
    if (h->nops >= HIST_MAX_OPS)
        return HIST_ETOOBIG;
    if (h->nops == h->capops) {
        size_t cap = h->capops ? h->capops * 2 : 1024;
        hist_op *o = realloc(h->ops, cap * sizeof(*o));
        if (o == NULL)
            return HIST_ENOMEM;
        h->ops = o;
        h->capops = cap;
    }
    h->ops[h->nops++] = *op;
    return 0;
}

static int
hist_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

int
hist_set_value(hist *h, uint32_t *elems, size_t n, uint32_t *id)
{
    size_t m = 0;

    if (n > 0)
        qsort(elems, n, sizeof(*elems), hist_cmp_u32);
    for (size_t i = 0; i < n; i++)
        if (m == 0 || elems[m - 1] != elems[i])
            elems[m++] = elems[i];
    /* A leading marker byte keeps set values apart from string values. */
    size_t len = 1 + m * sizeof(uint32_t);
    char *buf = malloc(len);
    if (buf == NULL)
        return HIST_ENOMEM;
    buf[0] = '{';
    if (m > 0)
        memcpy(buf + 1, elems, m * sizeof(uint32_t));
    int rc = hist_value(h, buf, len, id);
    free(buf);
    return rc;
}

/* ---- names ---------------------------------------------------------------- */

const char *
hist_fn_name(int fn, hist_model model)
{
    static const char *const kv[] = {"get", "put", "del", "cas", "append",
                                     "add"};
    if (fn < 0 || fn >= HIST_NFN)
        return "?";
    if (model == HIST_MODEL_REGISTER && fn == HIST_GET)
        return "read";
    if (model == HIST_MODEL_REGISTER && fn == HIST_PUT)
        return "write";
    if (model == HIST_MODEL_SET && fn == HIST_GET)
        return "read";
    return kv[fn];
}

const char *
hist_status_name(int status)
{
    return status == HIST_ST_OK ? "ok" : status == HIST_ST_FAIL ? "fail"
                                                               : "info";
}

const char *
hist_model_name(hist_model model)
{
    return model == HIST_MODEL_KV ? "kv"
           : model == HIST_MODEL_REGISTER ? "register"
                                          : "set";
}

const char *
hist_format_name(hist_format format)
{
    return format == HIST_FMT_CASKLAB ? "casklab"
           : format == HIST_FMT_EDN   ? "edn"
                                      : "jepsen";
}

/* ---- line iteration and errors -------------------------------------------- */

void
hist_lines_init(hist_lines *it, const char *buf, size_t len)
{
    it->buf = buf;
    it->len = len;
    it->pos = 0;
    it->no = 0;
}

int
hist_lines_next(hist_lines *it, hist_line *out)
{
    if (it->pos >= it->len)
        return 0;
    const char *p = it->buf + it->pos;
    const char *nl = memchr(p, '\n', it->len - it->pos);
    size_t l = nl ? (size_t)(nl - p) : it->len - it->pos;

    it->pos += l + (nl != NULL);
    it->no++;
    if (l > 0 && p[l - 1] == '\r')
        l--;
    out->p = p;
    out->len = l;
    out->no = it->no;
    return 1;
}

int
hist_fail(hist_error *err, size_t line, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL) {
        err->line = line;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return HIST_EPARSE;
}

static int
hist_fn_allowed(hist_model model, int fn)
{
    switch (model) {
    case HIST_MODEL_KV:
        return fn <= HIST_APPEND;
    case HIST_MODEL_REGISTER:
        return fn == HIST_GET || fn == HIST_PUT || fn == HIST_CAS;
    case HIST_MODEL_SET:
        return fn == HIST_GET || fn == HIST_ADD;
    }
    return 0;
}

int
hist_validate(const hist *h, hist_error *err)
{
    for (size_t i = 0; i < h->nops; i++) {
        const hist_op *o = &h->ops[i];

        if (!hist_fn_allowed(h->model, o->fn))
            return hist_fail(err, o->line, "operation '%s' is not part of "
                             "the %s model", hist_fn_name(o->fn, h->model),
                             hist_model_name(h->model));
        if (o->ret < o->call)
            return hist_fail(err, o->line, "completion time %" PRIu64
                             " before invocation time %" PRIu64, o->ret,
                             o->call);
        if (o->status == HIST_ST_INFO && o->ret != HIST_NEVER)
            return hist_fail(err, o->line, "an info operation has no "
                             "completion time");
    }
    return 0;
}

/* ---- casklab format: reading ---------------------------------------------- */

#define HIST_MAGIC "# casklab-history"
#define HIST_NFIELDS 10

typedef struct hist_tok {
    const char *p;
    size_t len;
} hist_tok;

static int
hist_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits a line into at most max whitespace-separated tokens; returns how
 * many there were (max + 1 if more). */
static size_t
hist_split(const hist_line *ln, hist_tok *tok, size_t max)
{
    size_t n = 0, i = 0;

    while (i < ln->len) {
        while (i < ln->len && hist_is_space(ln->p[i]))
            i++;
        if (i >= ln->len)
            break;
        size_t s = i;
        while (i < ln->len && !hist_is_space(ln->p[i]))
            i++;
        if (n == max)
            return max + 1;
        tok[n].p = ln->p + s;
        tok[n].len = i - s;
        n++;
    }
    return n;
}

static int
hist_tok_is(const hist_tok *t, const char *s)
{
    return t->len == strlen(s) && memcmp(t->p, s, t->len) == 0;
}

static int
hist_tok_u64(const hist_tok *t, uint64_t *v)
{
    uint64_t x = 0;

    if (t->len == 0 || t->len > 20)
        return -1;
    for (size_t i = 0; i < t->len; i++) {
        unsigned d = (unsigned char)t->p[i] - '0';
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

static int
hist_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes t into out (at least t->len bytes); -1 if malformed. */
static long
hist_unescape(const hist_tok *t, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < t->len; i++) {
        if (t->p[i] != '%') {
            out[n++] = t->p[i];
            continue;
        }
        if (i + 2 >= t->len)
            return -1;
        int hi = hist_hexval(t->p[i + 1]), lo = hist_hexval(t->p[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        out[n++] = (char)(hi << 4 | lo);
        i += 2;
    }
    return (long)n;
}

typedef struct hist_rd {
    hist *h;
    hist_error *err;
    size_t line;
    char *scratch; /* at least the longest line */
    uint32_t *elems;
    size_t elems_cap;
} hist_rd;

/* A key or string value token: "-" is nil, "\"\"" the empty string. */
static int
hist_rd_bytes(hist_rd *r, const hist_tok *t, int is_key, uint32_t *id)
{
    long n;

    if (hist_tok_is(t, "-")) {
        *id = HIST_NIL;
        return is_key ? hist_fail(r->err, r->line, "missing key") : 0;
    }
    if (hist_tok_is(t, "\"\""))
        n = 0;
    else if ((n = hist_unescape(t, r->scratch)) < 0)
        return hist_fail(r->err, r->line, "bad %%-escape in '%.*s'",
                         (int)(t->len > 40 ? 40 : t->len), t->p);
    return is_key ? hist_key(r->h, r->scratch, (size_t)n, id)
                  : hist_value(r->h, r->scratch, (size_t)n, id);
}

/* A set value: {a,b,c} with each element %-escaped. */
static int
hist_rd_set(hist_rd *r, const hist_tok *t, uint32_t *id)
{
    size_t n = 0;
    int rc;

    if (t->len < 2 || t->p[0] != '{' || t->p[t->len - 1] != '}')
        return hist_fail(r->err, r->line, "a set is written {a,b,...}");
    for (size_t i = 1; i + 1 < t->len;) {
        size_t s = i;
        while (i + 1 < t->len && t->p[i] != ',')
            i++;
        hist_tok e = {t->p + s, i - s};
        if (n == r->elems_cap) {
            size_t cap = r->elems_cap ? r->elems_cap * 2 : 64;
            uint32_t *el = realloc(r->elems, cap * sizeof(*el));
            if (el == NULL)
                return HIST_ENOMEM;
            r->elems = el;
            r->elems_cap = cap;
        }
        if ((rc = hist_rd_bytes(r, &e, 0, &r->elems[n])) != 0)
            return rc;
        n++;
        i++; /* the comma */
    }
    return hist_set_value(r->h, r->elems, n, id);
}

static int
hist_rd_value(hist_rd *r, const hist_tok *t, int set, uint32_t *id)
{
    if (set && !hist_tok_is(t, "-"))
        return hist_rd_set(r, t, id);
    return hist_rd_bytes(r, t, 0, id);
}

static int
hist_parse_fn(const hist_tok *t, int *fn)
{
    static const struct {
        const char *name;
        int fn;
    } names[] = {{"get", HIST_GET},   {"read", HIST_GET}, {"put", HIST_PUT},
                 {"write", HIST_PUT}, {"del", HIST_DEL},  {"cas", HIST_CAS},
                 {"append", HIST_APPEND}, {"add", HIST_ADD}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (hist_tok_is(t, names[i].name)) {
            *fn = names[i].fn;
            return 0;
        }
    return -1;
}

static int
hist_parse_status(const hist_tok *t, int *st)
{
    if (hist_tok_is(t, "ok"))
        *st = HIST_ST_OK;
    else if (hist_tok_is(t, "fail"))
        *st = HIST_ST_FAIL;
    else if (hist_tok_is(t, "info"))
        *st = HIST_ST_INFO;
    else
        return -1;
    return 0;
}

static int
hist_rd_times(hist_rd *r, const hist_tok *tk, hist_op *o)
{
    uint64_t v;

    if (hist_tok_u64(&tk[0], &o->id) != 0)
        return hist_fail(r->err, r->line, "bad id '%.*s'",
                         (int)(tk[0].len > 24 ? 24 : tk[0].len), tk[0].p);
    if (hist_tok_u64(&tk[1], &v) != 0 || v > UINT32_MAX)
        return hist_fail(r->err, r->line, "bad process number");
    o->proc = (uint32_t)v;
    if (hist_tok_u64(&tk[2], &o->call) != 0 || o->call == HIST_NEVER)
        return hist_fail(r->err, r->line, "bad invocation time");
    if (hist_tok_is(&tk[3], "-"))
        o->ret = HIST_NEVER;
    else if (hist_tok_u64(&tk[3], &o->ret) != 0 || o->ret == HIST_NEVER)
        return hist_fail(r->err, r->line, "bad completion time");
    return 0;
}

static int
hist_rd_op(hist_rd *r, const hist_tok *tk)
{
    hist_op o = {0};
    int fn, st, rc, set = r->h->model == HIST_MODEL_SET;

    o.line = (uint32_t)r->line;
    if ((rc = hist_rd_times(r, tk, &o)) != 0)
        return rc;
    if (hist_parse_status(&tk[4], &st) != 0)
        return hist_fail(r->err, r->line, "status must be ok, fail or info");
    if (hist_parse_fn(&tk[5], &fn) != 0)
        return hist_fail(r->err, r->line, "unknown operation '%.*s'",
                         (int)(tk[5].len > 24 ? 24 : tk[5].len), tk[5].p);
    o.status = (uint8_t)st;
    o.fn = (uint8_t)fn;
    if (st == HIST_ST_INFO)
        o.ret = HIST_NEVER;
    else if (o.ret == HIST_NEVER)
        return hist_fail(r->err, r->line, "only info operations lack a "
                         "completion time");
    if (set && hist_tok_is(&tk[6], "-"))
        rc = hist_key(r->h, "", 0, &o.key);
    else
        rc = hist_rd_bytes(r, &tk[6], 1, &o.key);
    if (rc != 0)
        return rc;
    if ((rc = hist_rd_bytes(r, &tk[7], 0, &o.arg1)) != 0 ||
        (rc = hist_rd_bytes(r, &tk[8], 0, &o.arg2)) != 0 ||
        (rc = hist_rd_value(r, &tk[9], set && fn == HIST_GET, &o.out)) != 0)
        return rc;
    return hist_append(r->h, &o);
}

static int
hist_rd_header(hist_rd *r, const hist_line *ln)
{
    hist_tok tk[16];
    size_t n = hist_split(ln, tk, 15);
    hist *h = r->h;

    if (n < 3 || !hist_tok_is(&tk[2], "1"))
        return hist_fail(r->err, r->line, "unsupported history version "
                         "(expected '# casklab-history 1')");
    for (size_t i = 3; i < n && i < 15; i++) {
        const char *eq = memchr(tk[i].p, '=', tk[i].len);
        if (eq == NULL)
            continue;
        size_t kl = (size_t)(eq - tk[i].p), vl = tk[i].len - kl - 1;
        hist_tok v = {eq + 1, vl};
        uint64_t x;
        if (kl == 5 && memcmp(tk[i].p, "model", 5) == 0) {
            if (hist_tok_is(&v, "kv"))
                h->model = HIST_MODEL_KV;
            else if (hist_tok_is(&v, "register"))
                h->model = HIST_MODEL_REGISTER;
            else if (hist_tok_is(&v, "set"))
                h->model = HIST_MODEL_SET;
            else
                return hist_fail(r->err, r->line, "unknown model '%.*s'",
                                 (int)(vl > 24 ? 24 : vl), v.p);
        } else if (kl == 6 && memcmp(tk[i].p, "target", 6) == 0) {
            snprintf(h->target, sizeof(h->target), "%.*s", (int)vl, v.p);
        } else if (kl == 6 && memcmp(tk[i].p, "commit", 6) == 0) {
            snprintf(h->commit, sizeof(h->commit), "%.*s", (int)vl, v.p);
        } else if (kl == 7 && memcmp(tk[i].p, "threads", 7) == 0) {
            if (hist_tok_u64(&v, &x) == 0 && x <= UINT32_MAX)
                h->threads = (uint32_t)x;
        } else if (kl == 4 && memcmp(tk[i].p, "seed", 4) == 0) {
            if (hist_tok_u64(&v, &x) == 0)
                h->seed = x;
        }
    }
    return 0;
}

static int
hist_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Ids must be unique: sort a copy and look for neighbours. */
static int
hist_check_ids(const hist *h, hist_error *err)
{
    uint64_t *ids;

    if (h->nops < 2)
        return 0;
    if ((ids = malloc(h->nops * sizeof(*ids))) == NULL)
        return HIST_ENOMEM;
    for (size_t i = 0; i < h->nops; i++)
        ids[i] = h->ops[i].id;
    qsort(ids, h->nops, sizeof(*ids), hist_cmp_u64);
    for (size_t i = 1; i < h->nops; i++)
        if (ids[i] == ids[i - 1]) {
            uint64_t dup = ids[i];
            free(ids);
            for (size_t j = h->nops; j-- > 0;)
                if (h->ops[j].id == dup)
                    return hist_fail(err, h->ops[j].line, "duplicate "
                                     "operation id %" PRIu64, dup);
        }
    free(ids);
    return 0;
}

static int
hist_parse_casklab(hist *h, const char *buf, size_t len, hist_error *err)
{
    hist_rd r = {h, err, 0, NULL, NULL, 0};
    hist_lines it;
    hist_line ln;
    int rc = 0, seen_header = 0;

    if ((r.scratch = malloc(len + 1)) == NULL)
        return HIST_ENOMEM;
    hist_lines_init(&it, buf, len);
    while (rc == 0 && hist_lines_next(&it, &ln)) {
        hist_tok tk[HIST_NFIELDS];
        size_t n;
        r.line = ln.no;
        if (ln.len >= sizeof(HIST_MAGIC) - 1 &&
            memcmp(ln.p, HIST_MAGIC, sizeof(HIST_MAGIC) - 1) == 0 &&
            !seen_header) {
            seen_header = 1;
            rc = hist_rd_header(&r, &ln);
            continue;
        }
        if ((n = hist_split(&ln, tk, HIST_NFIELDS)) == 0 || tk[0].p[0] == '#')
            continue;
        if (n != HIST_NFIELDS)
            rc = hist_fail(err, ln.no, "expected %d fields (id proc call ret "
                           "status op key arg1 arg2 out), found %s%zu",
                           HIST_NFIELDS, n > HIST_NFIELDS ? "more than " : "",
                           n > HIST_NFIELDS ? (size_t)HIST_NFIELDS : n);
        else
            rc = hist_rd_op(&r, tk);
    }
    free(r.scratch);
    free(r.elems);
    if (rc == 0)
        rc = hist_check_ids(h, err);
    return rc;
}

/* ---- detection ------------------------------------------------------------ */

/* First non-blank byte, or -1. */
static int
hist_first_char(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' &&
            buf[i] != '\r')
            return (unsigned char)buf[i];
    return -1;
}

static int
hist_parse_detected(hist *h, const char *buf, size_t len, hist_error *err)
{
    int c = hist_first_char(buf, len);

    if (c < 0) {
        h->format = HIST_FMT_CASKLAB; /* empty input: an empty history */
        return 0;
    }
    if (len >= sizeof(HIST_MAGIC) - 1 &&
        memcmp(buf, HIST_MAGIC, sizeof(HIST_MAGIC) - 1) == 0) {
        h->format = HIST_FMT_CASKLAB;
        return hist_parse_casklab(h, buf, len, err);
    }
    if (hist_looks_jepsen(buf, len)) {
        h->format = HIST_FMT_JEPSEN;
        h->model = HIST_MODEL_REGISTER;
        return hist_parse_jepsen(h, buf, len, err);
    }
    if (c == '{' || c == '[') {
        h->format = HIST_FMT_EDN;
        return hist_parse_edn(h, buf, len, err);
    }
    return hist_fail(err, 1, "unrecognised history format (expected a "
                     "'# casklab-history' header, EDN maps or a Jepsen log)");
}

int
hist_parse(hist *h, const char *buf, size_t len, hist_error *err)
{
    int rc;

    if (err != NULL) {
        err->line = 0;
        err->msg[0] = '\0';
    }
    if (len >= HIST_MAX_BYTES)
        return HIST_ETOOBIG;
    if ((rc = hist_init(h, HIST_MODEL_KV)) != 0)
        return rc;
    rc = hist_parse_detected(h, buf, len, err);
    if (rc == 0)
        rc = hist_validate(h, err);
    if (rc != 0)
        hist_free(h);
    return rc;
}

int
hist_load(hist *h, const char *path, hist_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    int rc;

    if (f == NULL) {
        hist_fail(err, 0, "%s: %s", path, strerror(errno));
        return HIST_EIO;
    }
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            char *b = cap <= HIST_MAX_BYTES ? realloc(buf, cap) : NULL;
            if (b == NULL) {
                free(buf);
                fclose(f);
                return cap > HIST_MAX_BYTES ? HIST_ETOOBIG : HIST_ENOMEM;
            }
            buf = b;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    rc = ferror(f) ? HIST_EIO : 0;
    fclose(f);
    if (rc == 0)
        rc = hist_parse(h, buf ? buf : "", len, err);
    free(buf);
    return rc;
}

/* ---- casklab format: writing ---------------------------------------------- */

static void
hist_put_escaped(FILE *to, const char *s, size_t len, int in_set)
{
    if (len == 0) {
        fputs("\"\"", to);
        return;
    }
    if (len == 1 && s[0] == '-') {
        fputs("%2D", to);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > 0x20 && c < 0x7f && c != '%' && c != '"' &&
            !(in_set && (c == ',' || c == '{' || c == '}')))
            fputc(c, to);
        else
            fprintf(to, "%%%02X", c);
    }
}

static void
hist_put_value(const hist *h, FILE *to, uint32_t id, int as_set)
{
    size_t len;
    const char *s;

    if (id == HIST_NIL) {
        fputc('-', to);
        return;
    }
    s = hist_value_str(h, id, &len);
    if (!as_set || len == 0 || s[0] != '{') {
        hist_put_escaped(to, s, len, as_set);
        return;
    }
    fputc('{', to);
    for (size_t i = 1; i + sizeof(uint32_t) <= len; i += sizeof(uint32_t)) {
        uint32_t e;
        size_t el;
        memcpy(&e, s + i, sizeof(e));
        const char *es = hist_value_str(h, e, &el);
        if (i > 1)
            fputc(',', to);
        hist_put_escaped(to, es, el, 1);
    }
    fputc('}', to);
}

int
hist_write(const hist *h, FILE *to)
{
    fprintf(to, "%s 1 model=%s", HIST_MAGIC, hist_model_name(h->model));
    if (h->target[0])
        fprintf(to, " target=%s", h->target);
    if (h->threads)
        fprintf(to, " threads=%" PRIu32, h->threads);
    fprintf(to, " seed=%" PRIu64, h->seed);
    if (h->commit[0])
        fprintf(to, " commit=%s", h->commit);
    fputs("\n# id\tproc\tcall\tret\tstatus\top\tkey\targ1\targ2\tout\n", to);
    for (size_t i = 0; i < h->nops; i++) {
        const hist_op *o = &h->ops[i];
        size_t kl;
        const char *k = hist_key_str(h, o->key, &kl);

        fprintf(to, "%" PRIu64 "\t%" PRIu32 "\t%" PRIu64 "\t", o->id, o->proc,
                o->call);
        if (o->ret == HIST_NEVER)
            fputc('-', to);
        else
            fprintf(to, "%" PRIu64, o->ret);
        fprintf(to, "\t%s\t%s\t", hist_status_name(o->status),
                hist_fn_name(o->fn, h->model));
        hist_put_escaped(to, k, kl, 0);
        fputc('\t', to);
        hist_put_value(h, to, o->arg1, 0);
        fputc('\t', to);
        hist_put_value(h, to, o->arg2, 0);
        fputc('\t', to);
        hist_put_value(h, to, o->out,
                       h->model == HIST_MODEL_SET && o->fn == HIST_GET);
        fputc('\n', to);
    }
    return ferror(to) ? HIST_EIO : 0;
}
