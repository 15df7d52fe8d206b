/*
 * net/http.c - the HTTP/1.1 request parser of net/http.h.
 *
 * Two phases per request: the head (request line and headers) is gathered
 * up to the blank line, within max_head, and parsed in one go; then the
 * body is copied until Content-Length bytes have arrived. The head is small
 * and bounded, so gathering it whole keeps the header parsing simple
 * without giving up incremental input.
 */
#include "net/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_parser {
    size_t max_head, max_body;
    char *head;
    size_t head_len, head_cap;
    http_request *req; /* the request whose body is being read */
    size_t body_got;
    int err;
};

const char *
http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

void
http_request_free(http_request *r)
{
    if (r == NULL)
        return;
    free(r->target);
    free(r->body);
    free(r->auth);
    free(r);
}

int
http_parser_create(size_t max_head, size_t max_body, http_parser **out)
{
    http_parser *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return -1;
    p->max_head = max_head;
    p->max_body = max_body;
    *out = p;
    return 0;
}

void
http_parser_destroy(http_parser *p)
{
    if (p == NULL)
        return;
    free(p->head);
    http_request_free(p->req);
    free(p);
}

static int
http_fail(http_parser *p, int status)
{
    p->err = status;
    http_request_free(p->req);
    p->req = NULL;
    return status;
}

/* Strict decimal for Content-Length: digits only, no overflow. */
static int
http_parse_len(const char *s, size_t n, size_t *out)
{
    size_t v = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > ((size_t)-1 - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* True if s[0..n) are all tokens chars (RFC 9110 tchar) or, for a
 * target, visible ASCII: no NUL, space or control byte gets through. */
static int
http_all(const char *s, size_t n, int target)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = target ? (c > 32 && c < 127)
                        : ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9') ||
                           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL));
        if (!ok)
            return 0;
    }
    return 1;
}

/* Parses "METHOD SP target SP HTTP/1.x" (line without CRLF). */
static int
http_request_line(const char *s, size_t n, http_request *r, int *minor)
{
    const char *sp1 = memchr(s, ' ', n), *sp2;

    if (sp1 == NULL || sp1 == s || (size_t)(sp1 - s) >= sizeof(r->method))
        return 400;
    sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - s));
    if (sp2 == NULL || sp2 == sp1 + 1)
        return 400;
    if ((size_t)(s + n - (sp2 + 1)) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return (size_t)(s + n - (sp2 + 1)) >= 5 &&
               memcmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
    if (sp2[8] != '0' && sp2[8] != '1')
        return 505;
    if (!http_all(s, (size_t)(sp1 - s), 0) ||
        !http_all(sp1 + 1, (size_t)(sp2 - sp1 - 1), 1))
        return 400;
    *minor = sp2[8] - '0';
    memcpy(r->method, s, (size_t)(sp1 - s));
    r->method[sp1 - s] = '\0';
    r->target = malloc((size_t)(sp2 - sp1));
    if (r->target == NULL)
        return -1;
    memcpy(r->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    r->target[sp2 - sp1 - 1] = '\0';
    return 0;
}

static int
http_header_is(const char *name, size_t nlen, const char *want)
{
    return nlen == strlen(want) && strncasecmp(name, want, nlen) == 0;
}

/* Applies one "Name: value" line; returns 0 or a status. */
static int
http_header(const char *s, size_t n, http_request *r, size_t *clen,
            int *has_clen)
{
    const char *colon = memchr(s, ':', n), *v;
    size_t nlen, vlen;

    if (colon == NULL || colon == s)
        return 400;
    nlen = (size_t)(colon - s);
    v = colon + 1;
    vlen = n - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (http_header_is(s, nlen, "content-length")) {
        size_t len;
        if (http_parse_len(v, vlen, &len) != 0 || (*has_clen && len != *clen))
            return 400;
        *clen = len;
        *has_clen = 1;
    } else if (http_header_is(s, nlen, "authorization")) {
        free(r->auth);
        r->auth = strndup(v, vlen);
        if (r->auth == NULL)
            return -1;
    } else if (http_header_is(s, nlen, "transfer-encoding")) {
        return 501;
    } else if (http_header_is(s, nlen, "connection")) {
        if (vlen == 5 && strncasecmp(v, "close", 5) == 0)
            r->keep_alive = 0;
        else if (vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0)
            r->keep_alive = 1;
    }
    return 0;
}

/* The head is complete in p->head (ending with the blank line). */
static int
http_on_head(http_parser *p, http_request **done)
{
    char *s = p->head, *end = p->head + p->head_len;
    size_t clen = 0;
    int has_clen = 0, minor = 1, rc;
    http_request *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return http_fail(p, -1);
    p->req = r;
    for (int line = 0; s < end; line++) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = (size_t)(nl - s);

        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the blank line */
        rc = line == 0 ? http_request_line(s, n, r, &minor)
                       : http_header(s, n, r, &clen, &has_clen);
        if (line == 0 && rc == 0)
            r->keep_alive = minor == 1;
        if (rc != 0)
            return http_fail(p, rc);
        s = nl + 1;
    }
    if (r->target == NULL)
        return http_fail(p, 400);
    if (clen > p->max_body)
        return http_fail(p, 413);
    r->body = malloc(clen + 1);
    if (r->body == NULL)
        return http_fail(p, -1);
    r->body[clen] = '\0';
    r->body_len = clen;
    p->body_got = 0;
    p->head_len = 0;
    if (clen == 0) {
        *done = r;
        p->req = NULL;
    }
    return 0;
}

/* Gathers head bytes up to and including the blank line. */
static int
http_head_step(http_parser *p, const char *data, size_t len, size_t *i,
               http_request **done)
{
    while (*i < len) {
        char c = data[(*i)++];

        if (p->head_len == p->max_head)
            return http_fail(p, 431);
        if (p->head_len == p->head_cap) {
            size_t cap = p->head_cap ? p->head_cap * 2 : 256;
            char *h = realloc(p->head, cap);
            if (h == NULL)
                return http_fail(p, -1);
            p->head = h;
            p->head_cap = cap;
        }
        p->head[p->head_len++] = c;
        if (c != '\n')
            continue;
        /* Blank line: "\n\n" or "\n\r\n" ends the head; a lone leading
         * CRLF before a request is skipped, as RFC 9112 allows. */
        if (p->head_len <= 2 && (p->head[0] == '\r' || p->head[0] == '\n')) {
            p->head_len = 0;
            continue;
        }
        if ((p->head_len >= 2 && p->head[p->head_len - 2] == '\n') ||
            (p->head_len >= 3 && p->head[p->head_len - 2] == '\r' &&
             p->head[p->head_len - 3] == '\n'))
            return http_on_head(p, done);
    }
    return 0;
}

int
http_parse(http_parser *p, const char *data, size_t len, size_t *used,
           http_request **req)
{
    size_t i = 0;
    int rc = 0;

    *req = NULL;
    *used = 0;
    if (p->err)
        return p->err;
    while (rc == 0 && *req == NULL && i < len) {
        if (p->req == NULL) {
            rc = http_head_step(p, data, len, &i, req);
            continue;
        }
        size_t take = len - i, want = p->req->body_len - p->body_got;
        if (take > want)
            take = want;
        memcpy(p->req->body + p->body_got, data + i, take);
        p->body_got += take;
        i += take;
        if (p->body_got == p->req->body_len) {
            *req = p->req;
            p->req = NULL;
        }
    }
    *used = i;
    return rc;
}
