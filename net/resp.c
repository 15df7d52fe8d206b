/*
 * net/resp.c - the RESP2 request parser and reply encoder (net/resp.h).
 *
 * The parser is a state machine over single bytes, except that bulk
 * payloads and inline lines are copied with memcpy/memchr in one step per
 * call, so a large value costs one copy however the reads split it. State
 * survives between calls, which is what makes it incremental: a request cut
 * at any byte resumes exactly where it stopped. Each limit is checked before
 * the memory it guards is allocated, so a hostile length never reaches
 * malloc.
 */
#include "net/resp.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    RESP_NUM_MAX = 24,          /* "-9223372036854775808\r" fits */
    RESP_DEF_ARGS = 1024 * 1024,
    RESP_DEF_INLINE = 64 * 1024,
    RESP_FIRST_SLOTS = 16,
    RESP_CMD_ARENA = 192
};
#define RESP_DEF_BULK ((size_t)512 * 1024 * 1024)
#define RESP_DEF_REQUEST ((size_t)1024 * 1024 * 1024)

typedef enum resp_state {
    ST_START,       /* before the first byte of a request */
    ST_INLINE,      /* inside an inline line */
    ST_MB_LINE,     /* after '*', reading the argument count */
    ST_BULK_DOLLAR, /* expecting '$' */
    ST_BULK_LINE,   /* after '$', reading the length */
    ST_BULK_DATA,   /* copying payload bytes */
    ST_BULK_CR,     /* expecting the \r after a payload */
    ST_BULK_LF      /* expecting the \n after it */
} resp_state;

struct resp_parser {
    resp_limits lim;
    resp_state st;
    int err; /* sticky: 0 or the first error */
    char num[RESP_NUM_MAX];
    size_t num_len;
    char *inl; /* the inline line gathered so far */
    size_t inl_len, inl_cap;
    resp_cmd *cmd; /* the multibulk request being filled */
    size_t nargs, bulk_len, bulk_got, req_bytes;
    char errmsg[80];
};

const char *
resp_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define RESP_ERR_CASE(name, val, msg)                                         \
    case (val):                                                               \
        return (msg);
        RESP_ERRNO_MAP(RESP_ERR_CASE)
#undef RESP_ERR_CASE
    }
    return "unknown error";
}

/* ---- requests ---------------------------------------------------------- */

/* Whether p lies in the block the parser allocated for cmd (an argument
 * carved from its arena, not malloc'd on its own). */
static int
cmd_in_block(const resp_cmd *cmd, const void *p)
{
    uintptr_t lo = (uintptr_t)cmd, at = (uintptr_t)p;

    return at >= lo && at < lo + cmd->blk_size;
}

void
resp_cmd_free(resp_cmd *cmd)
{
    if (cmd == NULL)
        return;
    for (size_t i = 0; i < cmd->argc; i++)
        if (!cmd_in_block(cmd, cmd->argv[i]))
            free(cmd->argv[i]);
    if (cmd->heap_slots) {
        free(cmd->argv);
        free(cmd->lens);
    }
    free(cmd);
}

/* One block: the struct, slots argument slots, and RESP_CMD_ARENA bytes
 * for short arguments (a SET of a 100-byte value fits). */
static resp_cmd *
cmd_new(size_t slots)
{
    size_t total = sizeof(resp_cmd) +
                   slots * (sizeof(char *) + sizeof(size_t)) + RESP_CMD_ARENA;
    resp_cmd *c = malloc(total);

    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof(*c));
    c->argv = (char **)(c + 1);
    c->lens = (size_t *)(c->argv + slots);
    c->arena = (char *)(c->lens + slots);
    c->arena_left = RESP_CMD_ARENA;
    c->blk_size = total;
    c->cap = slots;
    return c;
}

/* Doubles the argument slots: onto the heap the first time, then by
 * realloc. */
static int
cmd_grow(resp_cmd *c)
{
    size_t cap = c->cap * 2;
    char **argv;
    size_t *lens;

    if (!c->heap_slots) {
        argv = malloc(cap * sizeof(*argv));
        lens = malloc(cap * sizeof(*lens));
        if (argv == NULL || lens == NULL) {
            free(argv);
            free(lens);
            return -1;
        }
        memcpy(argv, c->argv, c->argc * sizeof(*argv));
        memcpy(lens, c->lens, c->argc * sizeof(*lens));
        c->heap_slots = 1;
    } else {
        argv = realloc(c->argv, cap * sizeof(*argv));
        if (argv == NULL)
            return -1;
        c->argv = argv;
        lens = realloc(c->lens, cap * sizeof(*lens));
        if (lens == NULL)
            return -1;
    }
    c->argv = argv;
    c->lens = lens;
    c->cap = cap;
    return 0;
}

/* Appends an argument of len bytes (plus a NUL) and returns its storage:
 * from the block's arena while it lasts, else its own allocation. */
static char *
cmd_add_arg(resp_cmd *c, size_t len)
{
    char *arg;

    if (c->argc == c->cap && cmd_grow(c) != 0)
        return NULL;
    if (len < c->arena_left) {
        arg = c->arena;
        c->arena += len + 1;
        c->arena_left -= len + 1;
    } else {
        arg = malloc(len + 1);
        if (arg == NULL)
            return NULL;
    }
    arg[len] = '\0';
    c->argv[c->argc] = arg;
    c->lens[c->argc] = len;
    c->argc++;
    return arg;
}

void
resp_limits_defaults(resp_limits *lim)
{
    if (lim->max_bulk == 0)
        lim->max_bulk = RESP_DEF_BULK;
    if (lim->max_args == 0)
        lim->max_args = RESP_DEF_ARGS;
    if (lim->max_inline == 0)
        lim->max_inline = RESP_DEF_INLINE;
    if (lim->max_request == 0)
        lim->max_request = RESP_DEF_REQUEST;
}

int
resp_parser_create(const resp_limits *lim, resp_parser **out)
{
    resp_parser *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return RESP_ENOMEM;
    if (lim != NULL)
        p->lim = *lim;
    resp_limits_defaults(&p->lim);
    *out = p;
    return 0;
}

void
resp_parser_destroy(resp_parser *p)
{
    if (p == NULL)
        return;
    resp_cmd_free(p->cmd);
    free(p->inl);
    free(p);
}

const char *
resp_parser_errmsg(const resp_parser *p)
{
    return p->errmsg;
}

int
resp_parser_pending(const resp_parser *p)
{
    return p->st != ST_START;
}

/* Records the first error; the parser stays failed from now on. */
static int
resp_fail(resp_parser *p, int code, const char *msg)
{
    p->err = code;
    snprintf(p->errmsg, sizeof(p->errmsg), "%s", msg);
    resp_cmd_free(p->cmd);
    p->cmd = NULL;
    return code;
}

int
resp_parse_int(const char *s, size_t len, long long *out)
{
    unsigned long long v = 0, limit = (unsigned long long)LLONG_MAX;
    size_t i = 0;
    int neg = 0;

    if (len == 0 || len > 20)
        return RESP_EINVAL;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        limit++; /* |LLONG_MIN| */
    }
    if (i == len || (s[i] == '0' && len > i + 1) || (neg && s[i] == '0'))
        return RESP_EINVAL;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';

        if (d > 9 || v > (limit - d) / 10)
            return RESP_EINVAL;
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 0;
}

/*
 * Gathers a "<digits>\r\n" line after '*' or '$' into p->num. Returns 1 once
 * the line is complete (in num, without \r\n), 0 if more input is needed,
 * -1 if it is malformed or too long.
 */
static int
resp_num_line(resp_parser *p, const char *data, size_t len, size_t *i)
{
    while (*i < len) {
        char c = data[(*i)++];

        if (c == '\n') {
            if (p->num_len < 2 || p->num[p->num_len - 1] != '\r')
                return -1;
            p->num_len--;
            return 1;
        }
        if (p->num_len == RESP_NUM_MAX)
            return -1;
        p->num[p->num_len++] = c;
    }
    return 0;
}

static int
resp_on_count(resp_parser *p)
{
    long long n;

    if (resp_parse_int(p->num, p->num_len, &n) != 0 ||
        (n > 0 && (unsigned long long)n > p->lim.max_args))
        return resp_fail(p, RESP_EPROTO,
                         "Protocol error: invalid multibulk length");
    if (n <= 0) { /* *0 and *-1 are no-ops in Redis */
        p->st = ST_START;
        return 0;
    }
    p->cmd = cmd_new(n < RESP_FIRST_SLOTS ? (size_t)n : RESP_FIRST_SLOTS);
    if (p->cmd == NULL)
        return resp_fail(p, RESP_ENOMEM, "out of memory");
    p->nargs = (size_t)n;
    p->req_bytes = 0;
    p->st = ST_BULK_DOLLAR;
    return 0;
}

static int
resp_on_bulk_len(resp_parser *p)
{
    long long n;

    if (resp_parse_int(p->num, p->num_len, &n) != 0 || n < 0 ||
        (unsigned long long)n > p->lim.max_bulk)
        return resp_fail(p, RESP_EPROTO, "Protocol error: invalid bulk length");
    if ((size_t)n > p->lim.max_request - p->req_bytes)
        return resp_fail(p, RESP_EPROTO, "Protocol error: request too big");
    if (cmd_add_arg(p->cmd, (size_t)n) == NULL)
        return resp_fail(p, RESP_ENOMEM, "out of memory");
    p->req_bytes += (size_t)n;
    p->bulk_len = (size_t)n;
    p->bulk_got = 0;
    p->st = n > 0 ? ST_BULK_DATA : ST_BULK_CR;
    return 0;
}

static int
resp_expect(resp_parser *p, char got, char want, resp_state next)
{
    char msg[64];

    if (got == want) {
        p->st = next;
        return 0;
    }
    if (want == '$')
        snprintf(msg, sizeof(msg), (got > 32 && got < 127)
                 ? "Protocol error: expected '$', got '%c'"
                 : "Protocol error: expected '$', got byte 0x%02x",
                 (unsigned char)got);
    else
        snprintf(msg, sizeof(msg), "Protocol error: expected CRLF after "
                 "a bulk argument");
    return resp_fail(p, RESP_EPROTO, msg);
}

/* ---- inline requests --------------------------------------------------- */

static int
resp_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte a backslash escape inside double quotes stands for; *adv is how
 * many bytes after the backslash it used. */
static char
resp_unescape(const char *s, size_t left, size_t *adv)
{
    *adv = 1;
    if (left >= 3 && s[0] == 'x' && resp_hexval(s[1]) >= 0 &&
        resp_hexval(s[2]) >= 0) {
        *adv = 3;
        return (char)(resp_hexval(s[1]) * 16 + resp_hexval(s[2]));
    }
    switch (s[0]) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return s[0];
    }
}

static int
resp_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
           c == '\f';
}

/*
 * Reads one word at s[*pos..n) into out (as redis-cli's sdssplitargs reads
 * it). A closing quote must be followed by a space or the end. Returns the
 * word's length, or -1 for unbalanced quotes.
 */
static long
resp_word(const char *s, size_t n, size_t *pos, char *out)
{
    size_t i = *pos, w = 0;
    char q = 0; /* the open quote, if any */

    for (; i < n; i++) {
        char c = s[i];

        if (q == '"' && c == '\\' && i + 1 < n) {
            size_t adv;
            out[w++] = resp_unescape(s + i + 1, n - i - 1, &adv);
            i += adv;
        } else if (q == '\'' && c == '\\' && i + 1 < n && s[i + 1] == '\'') {
            out[w++] = '\'';
            i++;
        } else if (q != 0 && c == q) {
            if (i + 1 < n && !resp_is_space(s[i + 1]))
                return -1;
            q = 0;
            i++;
            break;
        } else if (q == 0 && (c == '"' || c == '\'')) {
            q = c;
        } else if (q == 0 && resp_is_space(c)) {
            break;
        } else {
            out[w++] = c;
        }
    }
    if (q != 0)
        return -1;
    *pos = i;
    return (long)w;
}

static int
resp_looks_http(const char *s, size_t n)
{
    static const char tail[] = " HTTP/1.";

    if (n >= 5 && strncasecmp(s, "host:", 5) == 0)
        return 1;
    return n >= sizeof(tail) && memcmp(s + n - sizeof(tail), tail,
                                       sizeof(tail) - 1) == 0;
}

/* Splits the complete inline line into a request (NULL if it is blank). */
static int
resp_on_inline(resp_parser *p, resp_cmd **out)
{
    char *s = p->inl, *word;
    size_t n = p->inl_len, pos = 0;
    resp_cmd *c;

    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (resp_looks_http(s, n))
        return resp_fail(p, RESP_EHTTP, "HTTP request on the RESP port");
    c = cmd_new(RESP_FIRST_SLOTS);
    word = malloc(n + 1);
    if (c == NULL || word == NULL)
        goto nomem;
    for (;;) {
        while (pos < n && resp_is_space(s[pos]))
            pos++;
        if (pos == n)
            break;
        long w = resp_word(s, n, &pos, word);
        if (w < 0) {
            free(word);
            resp_cmd_free(c);
            return resp_fail(p, RESP_EPROTO,
                             "Protocol error: unbalanced quotes in request");
        }
        if (c->argc == p->lim.max_args) {
            free(word);
            resp_cmd_free(c);
            return resp_fail(p, RESP_EPROTO,
                             "Protocol error: invalid multibulk length");
        }
        char *arg = cmd_add_arg(c, (size_t)w);
        if (arg == NULL)
            goto nomem;
        memcpy(arg, word, (size_t)w);
    }
    free(word);
    p->inl_len = 0;
    p->st = ST_START;
    if (c->argc == 0)
        resp_cmd_free(c);
    else
        *out = c;
    return 0;
nomem:
    free(word);
    resp_cmd_free(c);
    return resp_fail(p, RESP_ENOMEM, "out of memory");
}

/* Gathers inline bytes up to the newline, within max_inline. */
static int
resp_inline_step(resp_parser *p, const char *data, size_t len, size_t *i,
                 resp_cmd **out)
{
    const char *nl = memchr(data + *i, '\n', len - *i);
    size_t take = nl ? (size_t)(nl - (data + *i)) : len - *i;

    if (take > p->lim.max_inline - p->inl_len)
        return resp_fail(p, RESP_EPROTO,
                         "Protocol error: too big inline request");
    if (p->inl_len + take > p->inl_cap) {
        size_t cap = p->inl_cap ? p->inl_cap : 128;
        while (cap < p->inl_len + take)
            cap *= 2;
        char *inl = realloc(p->inl, cap);
        if (inl == NULL)
            return resp_fail(p, RESP_ENOMEM, "out of memory");
        p->inl = inl;
        p->inl_cap = cap;
    }
    if (take > 0) /* inl may still be NULL on an empty line */
        memcpy(p->inl + p->inl_len, data + *i, take);
    p->inl_len += take;
    *i += take;
    if (nl == NULL)
        return 0;
    (*i)++;
    return resp_on_inline(p, out);
}

/* ---- the state machine ------------------------------------------------- */

static int
resp_bulk_data(resp_parser *p, const char *data, size_t len, size_t *i)
{
    size_t take = len - *i, want = p->bulk_len - p->bulk_got;

    if (take > want)
        take = want;
    memcpy(p->cmd->argv[p->cmd->argc - 1] + p->bulk_got, data + *i, take);
    p->bulk_got += take;
    *i += take;
    if (p->bulk_got == p->bulk_len)
        p->st = ST_BULK_CR;
    return 0;
}

/* After the \n that ends a payload: the request is complete or not. */
static void
resp_end_arg(resp_parser *p, resp_cmd **out)
{
    if (p->cmd->argc < p->nargs) {
        p->st = ST_BULK_DOLLAR;
        return;
    }
    *out = p->cmd;
    p->cmd = NULL;
    p->st = ST_START;
}

/* Advances by at least one byte, or changes state without consuming. */
static int
resp_step(resp_parser *p, const char *data, size_t len, size_t *i,
          resp_cmd **out)
{
    int r;

    switch (p->st) {
    case ST_START:
        p->num_len = 0;
        if (data[*i] == '*') {
            (*i)++;
            p->st = ST_MB_LINE;
        } else {
            p->st = ST_INLINE;
        }
        return 0;
    case ST_INLINE:
        return resp_inline_step(p, data, len, i, out);
    case ST_MB_LINE:
        r = resp_num_line(p, data, len, i);
        if (r < 0)
            return resp_fail(p, RESP_EPROTO,
                             "Protocol error: invalid multibulk length");
        return r ? resp_on_count(p) : 0;
    case ST_BULK_DOLLAR:
        p->num_len = 0;
        return resp_expect(p, data[(*i)++], '$', ST_BULK_LINE);
    case ST_BULK_LINE:
        r = resp_num_line(p, data, len, i);
        if (r < 0)
            return resp_fail(p, RESP_EPROTO,
                             "Protocol error: invalid bulk length");
        return r ? resp_on_bulk_len(p) : 0;
    case ST_BULK_DATA:
        return resp_bulk_data(p, data, len, i);
    case ST_BULK_CR:
        return resp_expect(p, data[(*i)++], '\r', ST_BULK_LF);
    case ST_BULK_LF:
        r = resp_expect(p, data[(*i)++], '\n', ST_BULK_LF);
        if (r == 0)
            resp_end_arg(p, out);
        return r;
    }
    return resp_fail(p, RESP_EPROTO, "Protocol error: parser state");
}

int
resp_parse(resp_parser *p, const char *data, size_t len, size_t *used,
           resp_cmd **cmd)
{
    size_t i = 0;
    int rc = 0;

    *cmd = NULL;
    *used = 0;
    if (p->err)
        return p->err;
    while (rc == 0 && *cmd == NULL && i < len)
        rc = resp_step(p, data, len, &i, cmd);
    *used = i;
    return rc;
}

/* ---- replies ----------------------------------------------------------- */

void
resp_buf_free(resp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int
resp_reserve(resp_buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 256;

    if (more <= b->cap - b->len)
        return 0;
    if (more > SIZE_MAX / 2 - b->len)
        return RESP_ENOMEM;
    while (cap - b->len < more)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL)
        return RESP_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int
resp_add_raw(resp_buf *b, const void *data, size_t len)
{
    if (resp_reserve(b, len) != 0)
        return RESP_ENOMEM;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

/* "<type><text>\r\n" with CR and LF in text turned into spaces, so a
 * message can never break the framing. */
static int
resp_add_line(resp_buf *b, char type, const char *text, size_t n)
{
    if (resp_reserve(b, n + 3) != 0)
        return RESP_ENOMEM;
    b->data[b->len++] = type;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        b->data[b->len++] = (c == '\r' || c == '\n') ? ' ' : c;
    }
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
    return 0;
}

int
resp_add_simple(resp_buf *b, const char *s)
{
    return resp_add_line(b, '+', s, strlen(s));
}

int
resp_add_errorv(resp_buf *b, const char *fmt, va_list ap)
{
    char small[256], *msg = small;
    va_list ap2;
    int n, rc;

    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return RESP_EINVAL;
    }
    if ((size_t)n >= sizeof(small)) {
        msg = malloc((size_t)n + 1);
        if (msg == NULL) {
            va_end(ap2);
            return RESP_ENOMEM;
        }
        vsnprintf(msg, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    rc = resp_add_line(b, '-', msg, (size_t)n);
    if (msg != small)
        free(msg);
    return rc;
}

int
resp_add_error(resp_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = resp_add_errorv(b, fmt, ap);
    va_end(ap);
    return rc;
}

static int
resp_add_num(resp_buf *b, char type, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%c%lld\r\n", type, v);

    return resp_add_raw(b, tmp, (size_t)n);
}

int
resp_add_int(resp_buf *b, long long v)
{
    return resp_add_num(b, ':', v);
}

int
resp_add_bulk(resp_buf *b, const void *data, size_t len)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "$%zu\r\n", len);

    if (resp_reserve(b, (size_t)n + len + 2) != 0)
        return RESP_ENOMEM;
    resp_add_raw(b, tmp, (size_t)n);
    resp_add_raw(b, data, len);
    return resp_add_raw(b, "\r\n", 2);
}

int
resp_add_bulk_str(resp_buf *b, const char *s)
{
    return resp_add_bulk(b, s, strlen(s));
}

int
resp_add_nil(resp_buf *b)
{
    return resp_add_raw(b, "$-1\r\n", 5);
}

int
resp_add_array(resp_buf *b, size_t n)
{
    return resp_add_num(b, '*', (long long)n);
}

int
resp_add_nil_array(resp_buf *b)
{
    return resp_add_raw(b, "*-1\r\n", 5);
}
