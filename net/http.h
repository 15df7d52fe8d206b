/*
 * net/http.h - a small incremental HTTP/1.1 request parser for the
 * server's HTTP API (net/server.h), our own like the RESP parser.
 *
 * It accepts what the API needs and refuses the rest with a status code:
 * a request line "METHOD SP target SP HTTP/1.x", header lines, and a body
 * framed by Content-Length (binary-safe). Transfer-Encoding (chunked) is
 * refused with 501, a body without Content-Length on a method that needs
 * one is simply empty, oversized heads get 431 and bodies 413. Requests may
 * arrive split anywhere and pipelined; the parser consumes one request at a
 * time. After an error the connection must be answered and closed.
 *
 * Thread safety: one parser per connection, one thread at a time.
 */
#ifndef NET_HTTP_H
#define NET_HTTP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct http_request {
    char method[8];   /* "GET", "PUT", ... NUL-terminated */
    char *target;     /* NUL-terminated, as sent (still %-encoded) */
    char *body;       /* body bytes (NUL-terminated for convenience) */
    size_t body_len;
    char *auth;       /* the Authorization header's value, or NULL */
    int keep_alive;   /* HTTP/1.1 without "Connection: close" */
} http_request;

void http_request_free(http_request *r);

typedef struct http_parser http_parser;

/* max_head: bytes of request line + headers; max_body: bytes of a body. */
int http_parser_create(size_t max_head, size_t max_body, http_parser **out);
void http_parser_destroy(http_parser *p);

/*
 * Consumes bytes of data[0..len) until one request is complete or the
 * input is used up. *used: bytes consumed; *req: the request (caller
 * frees) or NULL if more input is needed. Returns 0, or an HTTP status
 * (400, 413, 431, 501, 505) saying why the input is refused, or -1 when
 * out of memory; after a non-zero return the parser consumes nothing more.
 */
int http_parse(http_parser *p, const char *data, size_t len, size_t *used,
               http_request **req);

/* The reason phrase of a status we send ("OK", "Not Found", ...). */
const char *http_reason(int status);

#ifdef __cplusplus
}
#endif

#endif /* NET_HTTP_H */
