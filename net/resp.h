/*
 * net/resp.h - the Redis protocol (RESP2): an incremental request parser
 * and a reply encoder.
 *
 * The parser is a byte-at-a-time state machine with a memcpy fast path for
 * bulk payloads, so a request may arrive split at any byte boundary and
 * many requests may arrive in one read (pipelining); it never rescans input
 * it has consumed. It accepts both request forms Redis accepts:
 *
 *   multibulk  *<n>\r\n then n times $<len>\r\n<len bytes>\r\n  (binary-safe)
 *   inline     a line of space-separated words ending in \n (\r\n allowed),
 *              with "double quotes" (escapes \n \r \t \b \a \\ \" \xHH)
 *              and 'single quotes' (escape \') as redis-cli accepts them
 *
 * Empty inline lines and multibulk counts <= 0 are skipped, as Redis does.
 * Every limit is checked before memory is committed for it: bulk length,
 * argument count, inline line length and the total bytes of one request.
 * After an error the parser refuses further input: the stream cannot be
 * resynchronised, so the server replies with the error and closes (as
 * Redis does). A line that looks like HTTP (a request line ending in
 * HTTP/1.x, or a Host: header) is reported as RESP_EHTTP so the server can
 * close without a reply, as Redis does for cross-protocol scripting.
 *
 * Thread safety: a parser belongs to one connection and one thread at a
 * time; a parsed resp_cmd is owned by the caller and may be handed to
 * another thread.
 */
#ifndef NET_RESP_H
#define NET_RESP_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes of the parser and encoder (0 is success). */
#define RESP_ERRNO_MAP(X)                                                     \
    X(EINVAL, -1, "invalid argument")                                         \
    X(ENOMEM, -2, "out of memory")                                            \
    X(EPROTO, -3, "protocol error")                                           \
    X(EHTTP, -4, "HTTP request on the RESP port")

enum {
#define RESP_ERR_ENUM(name, val, msg) RESP_##name = (val),
    RESP_ERRNO_MAP(RESP_ERR_ENUM)
#undef RESP_ERR_ENUM
};

const char *resp_strerror(int err);

/* Limits; 0 in a field means the Redis default given. */
typedef struct resp_limits {
    size_t max_bulk;    /* bytes of one argument (512 MiB) */
    size_t max_args;    /* arguments of one request (1048576) */
    size_t max_inline;  /* bytes of one inline line (65536) */
    size_t max_request; /* bytes of all arguments of one request (1 GiB) */
} resp_limits;

/* One parsed request: argc arguments, each NUL-terminated for convenience
 * (the NUL is not counted in lens and arguments may contain NULs). The
 * parser allocates a request as one block holding the struct, its first
 * argument slots and a small arena for short arguments, so a typical
 * request costs one malloc; the fields after cap are the parser's. */
typedef struct resp_cmd {
    size_t argc;
    char **argv;
    size_t *lens;
    size_t cap; /* slots allocated in argv and lens */
    size_t blk_size;     /* bytes of the block the parser allocated */
    char *arena;         /* next free byte of its argument arena ... */
    size_t arena_left;   /* ... and what is left of it */
    int heap_slots;      /* argv and lens outgrew the block */
} resp_cmd;

void resp_cmd_free(resp_cmd *cmd);

/* Replaces each zero field of *lim with its default. */
void resp_limits_defaults(resp_limits *lim);

typedef struct resp_parser resp_parser;

/* lim may be NULL for the defaults. Returns 0 or RESP_ENOMEM. */
int resp_parser_create(const resp_limits *lim, resp_parser **out);
void resp_parser_destroy(resp_parser *p);

/*
 * Consumes bytes from data[0..len) until one request is complete or the
 * input is used up. Sets *used to the bytes consumed and *cmd to the
 * completed request (owned by the caller; free with resp_cmd_free) or NULL
 * if more input is needed. Call again with the rest for pipelined requests.
 * Returns 0, RESP_EPROTO (resp_parser_errmsg says what was wrong),
 * RESP_EHTTP or RESP_ENOMEM; after an error every later call returns the
 * same error and consumes nothing.
 */
int resp_parse(resp_parser *p, const char *data, size_t len, size_t *used,
               resp_cmd **cmd);

/* The Redis-style message of the last error, e.g.
 * "Protocol error: invalid bulk length"; "" if none. */
const char *resp_parser_errmsg(const resp_parser *p);

/* True if the parser holds part of a request (bytes consumed, no command
 * yet): what an idle timeout or a closing peer leaves behind. */
int resp_parser_pending(const resp_parser *p);

/*
 * Parses a whole string as a signed 64-bit decimal integer, strictly as
 * Redis does (no spaces, no '+', no leading zeros except "0", no
 * overflow). Returns 0 or RESP_EINVAL.
 */
int resp_parse_int(const char *s, size_t len, long long *out);

/* ---- replies ---------------------------------------------------------- */

/* A growable output buffer. Zero-initialise, then add replies. */
typedef struct resp_buf {
    char *data;
    size_t len, cap;
} resp_buf;

void resp_buf_free(resp_buf *b);

/* Each returns 0 or RESP_ENOMEM (the buffer is unchanged on failure). */
int resp_add_raw(resp_buf *b, const void *data, size_t len);
int resp_add_simple(resp_buf *b, const char *s);         /* +s */
int resp_add_error(resp_buf *b, const char *fmt, ...)    /* -msg */
    __attribute__((format(printf, 2, 3)));
int resp_add_errorv(resp_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
int resp_add_int(resp_buf *b, long long v);               /* :v */
int resp_add_bulk(resp_buf *b, const void *data, size_t len); /* $len */
int resp_add_bulk_str(resp_buf *b, const char *s);
int resp_add_nil(resp_buf *b);                            /* $-1 */
int resp_add_array(resp_buf *b, size_t n);                /* *n */
int resp_add_nil_array(resp_buf *b);                      /* *-1 */

#ifdef __cplusplus
}
#endif

#endif /* NET_RESP_H */
