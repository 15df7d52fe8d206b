/*
 * stress/hist_foreign.c - other checkers' history formats.
 *
 * Both formats log events, not operations: an invocation, then later a
 * completion (ok, fail or info) by the same process. The parsers pair them
 * per process, use the event's rank as its time, and turn invocations left
 * open at the end into info operations (outcome unknown).
 *
 *   EDN (Knossos, Porcupine's key-value logs): one map per line,
 *     {:process 3, :type :invoke, :f :append, :key "7", :value "x 3 12 y"}
 *     Values: nil, integers, strings, keywords, vectors [a b] (cas), sets
 *     #{a b} (set reads). Maps with :key make a kv history; otherwise :add
 *     makes a set history and anything else a register history. As in
 *     Porcupine's key-value model, the empty string is the absent value.
 *   Jepsen logs (etcd): lines "... jepsen.util - 3 :invoke :cas [1 4]";
 *     every other line (setup, nemesis) is not an operation.
 *
 * A completion's :fail means "did not take effect": for cas it also says
 * the comparison failed, which is how Porcupine reads the etcd logs.
 */
#include "stress/hist_internal.h"

#include <stdlib.h>
#include <string.h>

#define HF_MAX_ELEMS 65536u /* elements of one vector or set literal */

/* A parsed scalar: bytes (strings decoded) or nil. */
typedef struct hf_scalar {
    const char *p;
    size_t len;
    int nil;
} hf_scalar;

typedef enum hf_kind { HF_NONE, HF_SCALAR, HF_VEC, HF_SET, HF_KEYWORD } hf_kind;

/* One event, whatever the format. */
typedef struct hf_event {
    long long process;
    char type[8];  /* invoke ok fail info */
    char f[16];
    hf_scalar key;
    int has_key;
    hf_kind vkind;
    hf_scalar v;      /* HF_SCALAR / HF_KEYWORD */
    hf_scalar *elems; /* HF_VEC / HF_SET: nelems scalars */
    size_t nelems;
} hf_event;

/* Parser state shared by both formats. */
typedef struct hf_ctx {
    hist *h;
    hist_error *err;
    size_t line;
    char *strbuf; /* decoded strings of the current line */
    size_t strpos, strcap;
    hf_scalar *elems;
    uint32_t *ids;
    /* open invocations: process -> index into h->ops + 1 (0: none), in an
     * open-addressing table, since process numbers can be anything */
    uint64_t *pkey; /* process + 1; 0 = empty slot */
    size_t *pval;
    size_t pmask, pused;
    uint64_t rank;
    int saw_key, saw_add;
} hf_ctx;

/* ---- pairing events into operations --------------------------------------- */

static int
hf_fn(const char *f, int *fn)
{
    static const struct {
        const char *name;
        int fn;
    } names[] = {{"get", HIST_GET},   {"read", HIST_GET},
                 {"put", HIST_PUT},   {"write", HIST_PUT},
                 {"del", HIST_DEL},   {"delete", HIST_DEL},
                 {"cas", HIST_CAS},   {"append", HIST_APPEND},
                 {"add", HIST_ADD}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(f, names[i].name) == 0) {
            *fn = names[i].fn;
            return 0;
        }
    return -1;
}

/* A scalar as a value id; "" and nil are HIST_NIL (see the file comment). */
static int
hf_value(hf_ctx *c, const hf_scalar *s, uint32_t *id)
{
    if (s->nil || s->len == 0) {
        *id = HIST_NIL;
        return 0;
    }
    return hist_value(c->h, s->p, s->len, id);
}

static int
hf_set_value(hf_ctx *c, const hf_event *e, uint32_t *id)
{
    int rc;

    for (size_t i = 0; i < e->nelems; i++)
        if ((rc = hf_value(c, &e->elems[i], &c->ids[i])) != 0)
            return rc;
    return hist_set_value(c->h, c->ids, e->nelems, id);
}

static size_t
hf_proc_slot(const hf_ctx *c, uint64_t key)
{
    size_t i = (size_t)(key * 0x9e3779b97f4a7c15ull >> 20) & c->pmask;

    while (c->pkey[i] != 0 && c->pkey[i] != key)
        i = (i + 1) & c->pmask;
    return i;
}

static int
hf_proc_grow(hf_ctx *c)
{
    size_t oldn = c->pkey ? c->pmask + 1 : 0, n = oldn ? oldn * 2 : 64;
    uint64_t *ok = c->pkey;
    size_t *ov = c->pval;

    c->pkey = calloc(n, sizeof(*c->pkey));
    c->pval = calloc(n, sizeof(*c->pval));
    if (c->pkey == NULL || c->pval == NULL) {
        free(c->pkey);
        free(c->pval);
        c->pkey = ok;
        c->pval = ov;
        return HIST_ENOMEM;
    }
    c->pmask = n - 1;
    for (size_t i = 0; i < oldn; i++)
        if (ok[i] != 0) {
            size_t j = hf_proc_slot(c, ok[i]);
            c->pkey[j] = ok[i];
            c->pval[j] = ov[i];
        }
    free(ok);
    free(ov);
    return 0;
}

/* The open invocation of proc (index + 1), or 0. */
static size_t
hf_open_get(const hf_ctx *c, size_t proc)
{
    if (c->pkey == NULL)
        return 0;
    size_t i = hf_proc_slot(c, (uint64_t)proc + 1);
    return c->pkey[i] != 0 ? c->pval[i] : 0;
}

static int
hf_open_set(hf_ctx *c, size_t proc, size_t v)
{
    int rc;

    if ((c->pkey == NULL || (c->pused + 1) * 2 > c->pmask) &&
        (rc = hf_proc_grow(c)) != 0)
        return rc;
    size_t i = hf_proc_slot(c, (uint64_t)proc + 1);
    if (c->pkey[i] == 0) {
        c->pkey[i] = (uint64_t)proc + 1;
        c->pused++;
    }
    c->pval[i] = v;
    return 0;
}

static int
hf_invoke_args(hf_ctx *c, const hf_event *e, hist_op *o)
{
    int rc = 0;

    if (o->fn == HIST_CAS) {
        if (e->vkind != HF_VEC || e->nelems != 2)
            return hist_fail(c->err, c->line, "cas needs a value [expected "
                             "new]");
        if ((rc = hf_value(c, &e->elems[0], &o->arg1)) == 0)
            rc = hf_value(c, &e->elems[1], &o->arg2);
        return rc;
    }
    if (o->fn == HIST_PUT || o->fn == HIST_APPEND || o->fn == HIST_ADD) {
        if (e->vkind != HF_SCALAR)
            return hist_fail(c->err, c->line, "%s needs a value", e->f);
        return hf_value(c, &e->v, &o->arg1);
    }
    return 0;
}

static int
hf_invoke(hf_ctx *c, const hf_event *e)
{
    hist_op o = {0};
    int fn, rc;
    size_t proc = (size_t)e->process;

    if (hf_fn(e->f, &fn) != 0)
        return hist_fail(c->err, c->line, "unknown operation ':%s'", e->f);
    size_t open = hf_open_get(c, proc);
    if (open != 0)
        return hist_fail(c->err, c->line, "process %zu invokes while its "
                         "operation from line %u is still open", proc,
                         c->h->ops[open - 1].line);
    o.id = c->h->nops;
    o.proc = (uint32_t)proc;
    o.call = c->rank++;
    o.ret = HIST_NEVER;
    o.status = HIST_ST_INFO;
    o.fn = (uint8_t)fn;
    o.line = (uint32_t)c->line;
    if (e->has_key) {
        c->saw_key = 1;
        rc = hist_key(c->h, e->key.p, e->key.len, &o.key);
    } else {
        rc = hist_key(c->h, "", 0, &o.key);
    }
    c->saw_add |= fn == HIST_ADD;
    if (rc == 0)
        rc = hf_invoke_args(c, e, &o);
    if (rc == 0)
        rc = hist_append(c->h, &o);
    if (rc == 0)
        rc = hf_open_set(c, proc, c->h->nops);
    return rc;
}

static int
hf_complete_ok(hf_ctx *c, const hf_event *e, hist_op *o)
{
    if (o->fn != HIST_GET)
        return 0;
    if (e->vkind == HF_SET)
        return hf_set_value(c, e, &o->out);
    if (e->vkind == HF_SCALAR)
        return hf_value(c, &e->v, &o->out);
    return hist_fail(c->err, c->line, "a read completes with a value");
}

static int
hf_complete(hf_ctx *c, const hf_event *e)
{
    size_t proc = (size_t)e->process;
    int fn;

    size_t open = hf_open_get(c, proc);
    if (open == 0)
        return hist_fail(c->err, c->line, "completion by process %zu, which "
                         "has no open invocation", proc);
    hist_op *o = &c->h->ops[open - 1];
    if (hf_fn(e->f, &fn) != 0 || fn != o->fn)
        return hist_fail(c->err, c->line, "completion ':%s' does not match "
                         "the invocation on line %u", e->f, o->line);
    (void)hf_open_set(c, proc, 0); /* present already: cannot fail */
    if (strcmp(e->type, "info") == 0)
        return 0; /* stays an info operation with no completion time */
    o->ret = c->rank++;
    if (strcmp(e->type, "fail") == 0) {
        o->status = HIST_ST_FAIL;
        return 0;
    }
    o->status = HIST_ST_OK;
    return hf_complete_ok(c, e, o);
}

static int
hf_event_apply(hf_ctx *c, const hf_event *e)
{
    if (e->process < 0 || e->process > (long long)UINT32_MAX / 2)
        return hist_fail(c->err, c->line, "bad process number");
    if (strcmp(e->type, "invoke") == 0)
        return hf_invoke(c, e);
    if (strcmp(e->type, "ok") == 0 || strcmp(e->type, "fail") == 0 ||
        strcmp(e->type, "info") == 0)
        return hf_complete(c, e);
    return hist_fail(c->err, c->line, "unknown event type ':%s'", e->type);
}

/* ---- scalar and literal scanning ------------------------------------------ */

typedef struct hf_cur {
    const char *p, *end;
} hf_cur;

static void
hf_skip_ws(hf_cur *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == ',' ||
                             *s->p == '\r'))
        s->p++;
}

static int
hf_is_delim(char ch)
{
    return ch == ' ' || ch == '\t' || ch == ',' || ch == '}' || ch == ']' ||
           ch == '{' || ch == '[' || ch == '"' || ch == '\r';
}

static int
hf_strbuf_reserve(hf_ctx *c, size_t n)
{
    if (c->strpos + n <= c->strcap)
        return 0;
    /* Scalars point into strbuf, so it is sized once per line (see
     * hf_line_begin) and never moves while a line is parsed. */
    return HIST_ENOMEM;
}

/* A string literal "..." with \" \\ \n \t escapes, decoded into strbuf. */
static int
hf_string(hf_ctx *c, hf_cur *s, hf_scalar *out)
{
    char *d;

    s->p++; /* opening quote */
    if (hf_strbuf_reserve(c, (size_t)(s->end - s->p)) != 0)
        return HIST_ENOMEM;
    d = c->strbuf + c->strpos;
    out->p = d;
    out->nil = 0;
    while (s->p < s->end && *s->p != '"') {
        char ch = *s->p++;
        if (ch == '\\') {
            if (s->p >= s->end)
                break;
            ch = *s->p++;
            ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch;
        }
        *d++ = ch;
    }
    if (s->p >= s->end)
        return hist_fail(c->err, c->line, "unterminated string");
    s->p++;
    out->len = (size_t)(d - out->p);
    c->strpos += out->len;
    return 0;
}

/* An atom: nil, a number, a keyword (kept with its colon) or a symbol. */
static int
hf_atom(hf_ctx *c, hf_cur *s, hf_scalar *out)
{
    const char *b = s->p;

    while (s->p < s->end && !hf_is_delim(*s->p))
        s->p++;
    if (s->p == b)
        return hist_fail(c->err, c->line, "expected a value");
    out->p = b;
    out->len = (size_t)(s->p - b);
    out->nil = out->len == 3 && memcmp(b, "nil", 3) == 0;
    return 0;
}

static int
hf_scalar_at(hf_ctx *c, hf_cur *s, hf_scalar *out)
{
    if (s->p < s->end && *s->p == '"')
        return hf_string(c, s, out);
    return hf_atom(c, s, out);
}

/* [a b ...] or #{a b ...}: scalars until the closing bracket. */
static int
hf_collection(hf_ctx *c, hf_cur *s, char close, hf_event *e)
{
    int rc;

    e->elems = c->elems;
    e->nelems = 0;
    for (;;) {
        hf_skip_ws(s);
        if (s->p >= s->end)
            return hist_fail(c->err, c->line, "unterminated collection");
        if (*s->p == close) {
            s->p++;
            return 0;
        }
        if (e->nelems == HF_MAX_ELEMS)
            return hist_fail(c->err, c->line, "collection of more than %u "
                             "elements", HF_MAX_ELEMS);
        if ((rc = hf_scalar_at(c, s, &c->elems[e->nelems])) != 0)
            return rc;
        e->nelems++;
    }
}

static int
hf_any_value(hf_ctx *c, hf_cur *s, hf_event *e)
{
    if (s->p >= s->end)
        return hist_fail(c->err, c->line, "missing value");
    if (*s->p == '[') {
        s->p++;
        e->vkind = HF_VEC;
        return hf_collection(c, s, ']', e);
    }
    if (*s->p == '#' && s->p + 1 < s->end && s->p[1] == '{') {
        s->p += 2;
        e->vkind = HF_SET;
        return hf_collection(c, s, '}', e);
    }
    e->vkind = *s->p == ':' ? HF_KEYWORD : HF_SCALAR;
    return hf_scalar_at(c, s, &e->v);
}

static int
hf_integer(const hf_scalar *v, long long *out)
{
    long long x = 0;

    if (v->nil || v->len == 0 || v->len > 12)
        return -1;
    for (size_t i = 0; i < v->len; i++) {
        if (v->p[i] < '0' || v->p[i] > '9')
            return -1;
        x = x * 10 + (v->p[i] - '0');
    }
    *out = x;
    return 0;
}

/* Copies a keyword (":name") without its colon into dst. */
static int
hf_keyword(const hf_scalar *v, char *dst, size_t cap)
{
    if (v->len < 2 || v->p[0] != ':' || v->len - 1 >= cap)
        return -1;
    memcpy(dst, v->p + 1, v->len - 1);
    dst[v->len - 1] = '\0';
    return 0;
}

static void
hf_line_begin(hf_ctx *c)
{
    c->strpos = 0;
}

/* ---- EDN ------------------------------------------------------------------- */

static int
hf_edn_entry(hf_ctx *c, hf_cur *s, hf_event *e, unsigned *seen)
{
    hf_scalar k, v;
    int rc;

    if ((rc = hf_atom(c, s, &k)) != 0)
        return rc;
    hf_skip_ws(s);
    if (k.len == 6 && memcmp(k.p, ":value", 6) == 0)
        return hf_any_value(c, s, e);
    if ((rc = hf_scalar_at(c, s, &v)) != 0)
        return rc;
    if (k.len == 8 && memcmp(k.p, ":process", 8) == 0) {
        *seen |= 1;
        if (v.len > 1 && v.p[0] == ':')
            e->process = -1; /* :nemesis and the like: not a client */
        else if (hf_integer(&v, &e->process) != 0)
            return hist_fail(c->err, c->line, ":process must be a number");
    } else if (k.len == 5 && memcmp(k.p, ":type", 5) == 0) {
        *seen |= 2;
        if (hf_keyword(&v, e->type, sizeof(e->type)) != 0)
            return hist_fail(c->err, c->line, "bad :type");
    } else if (k.len == 2 && memcmp(k.p, ":f", 2) == 0) {
        *seen |= 4;
        if (hf_keyword(&v, e->f, sizeof(e->f)) != 0)
            return hist_fail(c->err, c->line, "bad :f");
    } else if (k.len == 4 && memcmp(k.p, ":key", 4) == 0) {
        e->has_key = 1;
        e->key = v;
    }
    return 0;
}

static int
hf_edn_line(hf_ctx *c, const hist_line *ln)
{
    hf_cur s = {ln->p, ln->p + ln->len};
    hf_event e;
    unsigned seen = 0;
    int rc;

    memset(&e, 0, sizeof(e));
    hf_line_begin(c);
    hf_skip_ws(&s);
    if (s.p < s.end && *s.p == '[') { /* a history saved as one vector */
        s.p++;
        hf_skip_ws(&s);
    }
    if (s.p >= s.end || *s.p == ';' || *s.p == ']')
        return 0; /* blank line, comment, end of the vector */
    if (*s.p != '{')
        return hist_fail(c->err, c->line, "expected an EDN map '{...}'");
    s.p++;
    for (;;) {
        hf_skip_ws(&s);
        if (s.p >= s.end)
            return hist_fail(c->err, c->line, "unterminated map (truncated "
                             "line?)");
        if (*s.p == '}')
            break;
        if ((rc = hf_edn_entry(c, &s, &e, &seen)) != 0)
            return rc;
    }
    if (seen != 7)
        return hist_fail(c->err, c->line, "an event needs :process, :type "
                         "and :f");
    if (e.process == -1)
        return 0; /* nemesis events are not operations on the object */
    return hf_event_apply(c, &e);
}

/* ---- Jepsen --------------------------------------------------------------- */

#define HF_JEPSEN_MARK "jepsen.util - "

static const char *
hf_find(const char *p, size_t len, const char *needle)
{
    size_t nl = strlen(needle);

    for (size_t i = 0; i + nl <= len; i++)
        if (p[i] == needle[0] && memcmp(p + i, needle, nl) == 0)
            return p + i;
    return NULL;
}

int
hist_looks_jepsen(const char *buf, size_t len)
{
    return hf_find(buf, len > 65536 ? 65536 : len, HF_JEPSEN_MARK) != NULL;
}

static int
hf_jepsen_line(hf_ctx *c, const hist_line *ln)
{
    const char *m = hf_find(ln->p, ln->len, HF_JEPSEN_MARK);
    hf_event e;
    hf_scalar proc, type, f;
    int rc;

    if (m == NULL)
        return 0; /* not an operation: setup, nemesis, ... */
    memset(&e, 0, sizeof(e));
    hf_line_begin(c);
    hf_cur s = {m + strlen(HF_JEPSEN_MARK), ln->p + ln->len};
    hf_skip_ws(&s);
    if ((rc = hf_atom(c, &s, &proc)) != 0)
        return rc;
    if (proc.len > 1 && proc.p[0] == ':')
        return 0; /* :nemesis: not an operation on the object */
    hf_skip_ws(&s);
    if ((rc = hf_atom(c, &s, &type)) != 0)
        return rc;
    hf_skip_ws(&s);
    if ((rc = hf_atom(c, &s, &f)) != 0)
        return rc;
    hf_skip_ws(&s);
    if (hf_integer(&proc, &e.process) != 0 ||
        hf_keyword(&type, e.type, sizeof(e.type)) != 0 ||
        hf_keyword(&f, e.f, sizeof(e.f)) != 0)
        return hist_fail(c->err, c->line, "expected 'PROCESS :TYPE :F VALUE' "
                         "after '%s'", HF_JEPSEN_MARK);
    if ((rc = hf_any_value(c, &s, &e)) != 0)
        return rc;
    return hf_event_apply(c, &e);
}

/* ---- drivers ---------------------------------------------------------------- */

static int
hf_run(hist *h, const char *buf, size_t len, hist_error *err,
       int (*line_fn)(hf_ctx *, const hist_line *))
{
    hf_ctx c;
    hist_lines it;
    hist_line ln;
    int rc = 0;

    memset(&c, 0, sizeof(c));
    c.h = h;
    c.err = err;
    c.strcap = len + 1;
    c.strbuf = malloc(c.strcap);
    c.elems = malloc(HF_MAX_ELEMS * sizeof(*c.elems));
    c.ids = malloc(HF_MAX_ELEMS * sizeof(*c.ids));
    if (c.strbuf == NULL || c.elems == NULL || c.ids == NULL)
        rc = HIST_ENOMEM;
    hist_lines_init(&it, buf, len);
    while (rc == 0 && hist_lines_next(&it, &ln)) {
        c.line = ln.no;
        rc = line_fn(&c, &ln);
    }
    free(c.strbuf);
    free(c.elems);
    free(c.ids);
    free(c.pkey);
    free(c.pval);
    if (rc == 0 && c.saw_key)
        h->model = HIST_MODEL_KV;
    else if (rc == 0)
        h->model = c.saw_add ? HIST_MODEL_SET : HIST_MODEL_REGISTER;
    return rc;
}

int
hist_parse_edn(hist *h, const char *buf, size_t len, hist_error *err)
{
    return hf_run(h, buf, len, err, hf_edn_line);
}

int
hist_parse_jepsen(hist *h, const char *buf, size_t len, hist_error *err)
{
    return hf_run(h, buf, len, err, hf_jepsen_line);
}
