/*
 * tests/test_resp.c - the RESP2 parser and encoder of net/resp.h: every
 * request form, a stream split at every byte boundary and fed byte by byte,
 * pipelining, each limit, malformed input with the message it must give,
 * HTTP detection, and exact reply bytes.
 */
#include "net/resp.h"
#include "tests/cutest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Parses all of data (in chunks of at most chunk bytes) and returns the
 * requests joined as "arg|arg;" per request, or NULL on error (*err set). */
static char *
parse_all(const resp_limits *lim, const char *data, size_t len, size_t chunk,
          int *err)
{
    resp_parser *p;
    size_t off = 0, outlen = 0;
    char *out = calloc(1, 1);

    *err = 0;
    CU_ASSERT_FATAL(resp_parser_create(lim, &p) == 0);
    while (off < len && *err == 0) {
        size_t n = len - off < chunk ? len - off : chunk, used;
        resp_cmd *c;

        *err = resp_parse(p, data + off, n, &used, &c);
        CU_ASSERT(used <= n);
        CU_ASSERT(*err != 0 || used > 0);
        off += used;
        if (c == NULL)
            continue;
        for (size_t i = 0; i < c->argc; i++) {
            out = realloc(out, outlen + c->lens[i] + 2);
            memcpy(out + outlen, c->argv[i], c->lens[i]);
            outlen += c->lens[i];
            out[outlen++] = i + 1 < c->argc ? '|' : ';';
            CU_ASSERT(c->argv[i][c->lens[i]] == '\0');
        }
        out[outlen] = '\0';
        resp_cmd_free(c);
    }
    resp_parser_destroy(p);
    if (*err != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Asserts that data parses to want whichever chunk size feeds it. */
static void
expect_parse(const char *data, size_t len, const char *want)
{
    size_t chunks[] = {1, 2, 3, 7, 64, 1 << 20};

    for (size_t k = 0; k < CT_NCASES(chunks); k++) {
        int err;
        char *got = parse_all(NULL, data, len, chunks[k], &err);

        CU_ASSERT_EQUAL(err, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_STRING_EQUAL(got, want);
        free(got);
    }
}

static void
test_multibulk(void)
{
    static const char s[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";

    expect_parse(s, sizeof(s) - 1, "SET|k|hello;");
    expect_parse("*1\r\n$0\r\n\r\n", 10, ";");
}

static void
test_binary_safe(void)
{
    static const char s[] = "*2\r\n$3\r\nGET\r\n$6\r\na\r\n\0\rb\r\n";
    resp_parser *p;
    resp_cmd *c;
    size_t used;

    CU_ASSERT_FATAL(resp_parser_create(NULL, &p) == 0);
    CU_ASSERT_EQUAL(resp_parse(p, s, sizeof(s) - 1, &used, &c), 0);
    CU_ASSERT_EQUAL(used, sizeof(s) - 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->argc, 2);
    CU_ASSERT_EQUAL(c->lens[1], 6);
    CU_ASSERT(memcmp(c->argv[1], "a\r\n\0\rb", 6) == 0);
    resp_cmd_free(c);
    resp_parser_destroy(p);
}

static void
test_inline_forms(void)
{
    static const char s[] =
        "PING\r\n"
        "\r\n"
        "   \n"
        "set  k   v\n"
        "set k \"a b\\x41\\n\\\"\"\r\n"
        "set 'it' 's' 'x\\'y'\n"
        "echo \"\"\n";

    expect_parse(s, sizeof(s) - 1,
                 "PING;set|k|v;set|k|a bA\n\";set|it|s|x'y;echo|;");
}

static void
test_skips_empty_multibulk(void)
{
    static const char s[] = "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n";

    expect_parse(s, sizeof(s) - 1, "PING;");
}

/* A pipelined stream mixing every form, split at every byte boundary. */
static void
test_split_everywhere(void)
{
    static const char s[] =
        "*2\r\n$4\r\nECHO\r\n$12\r\nhello\r\nworld\r\n"
        "GET key\r\n"
        "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\n\0\0\r\n"
        "set \"q x\" y\n"
        "*1\r\n$4\r\nPING\r\n";
    static const char want[] = "ECHO|hello\r\nworld;GET|key;SET||\0\0;"
                               "set|q x|y;PING;";
    size_t len = sizeof(s) - 1;

    for (size_t cut = 0; cut <= len; cut++) {
        resp_parser *p;
        resp_cmd *c;
        size_t got = 0, used, off = 0;
        char out[128];
        size_t outlen = 0;

        CU_ASSERT_FATAL(resp_parser_create(NULL, &p) == 0);
        /* first piece [0, cut), then the rest */
        for (int piece = 0; piece < 2; piece++) {
            size_t end = piece == 0 ? cut : len;
            while (off < end) {
                CU_ASSERT_FATAL(resp_parse(p, s + off, end - off, &used, &c) == 0);
                off += used;
                if (c == NULL)
                    continue;
                got++;
                for (size_t i = 0; i < c->argc; i++) {
                    CU_ASSERT_FATAL(outlen + c->lens[i] + 1 < sizeof(out));
                    memcpy(out + outlen, c->argv[i], c->lens[i]);
                    outlen += c->lens[i];
                    out[outlen++] = i + 1 < c->argc ? '|' : ';';
                }
                resp_cmd_free(c);
            }
        }
        CU_ASSERT_EQUAL(got, 5);
        CU_ASSERT_EQUAL(outlen, sizeof(want) - 1);
        CU_ASSERT(memcmp(out, want, sizeof(want) - 1) == 0);
        CU_ASSERT_FALSE(resp_parser_pending(p));
        resp_parser_destroy(p);
    }
}

static void
test_pipeline_many(void)
{
    enum { N = 1000 };
    static const char one[] = "*1\r\n$4\r\nPING\r\n";
    char *buf = malloc(N * (sizeof(one) - 1));
    char *want = malloc(N * 5 + 1);

    CU_ASSERT_FATAL(buf != NULL && want != NULL);
    for (int i = 0; i < N; i++) {
        memcpy(buf + i * (sizeof(one) - 1), one, sizeof(one) - 1);
        memcpy(want + i * 5, "PING;", 5);
    }
    want[N * 5] = '\0';
    expect_parse(buf, N * (sizeof(one) - 1), want);
    free(buf);
    free(want);
}

static void
test_pending(void)
{
    resp_parser *p;
    resp_cmd *c;
    size_t used;

    CU_ASSERT_FATAL(resp_parser_create(NULL, &p) == 0);
    CU_ASSERT_FALSE(resp_parser_pending(p));
    CU_ASSERT_EQUAL(resp_parse(p, "*1\r\n$4\r\nPI", 10, &used, &c), 0);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(used, 10);
    CU_ASSERT_TRUE(resp_parser_pending(p));
    CU_ASSERT_EQUAL(resp_parse(p, "NG\r\n", 4, &used, &c), 0);
    CU_ASSERT_PTR_NOT_NULL(c);
    resp_cmd_free(c);
    CU_ASSERT_FALSE(resp_parser_pending(p));
    resp_parser_destroy(p);
}

/* ---- errors ------------------------------------------------------------ */

/* Feeds data whole and byte by byte; both must fail with code and msg. */
static void
expect_error(const resp_limits *lim, const char *data, size_t len, int code,
             const char *msg)
{
    for (size_t chunk = 1; chunk <= len; chunk = chunk == 1 ? len : len + 1) {
        resp_parser *p;
        resp_cmd *c = NULL;
        size_t off = 0, used;
        int rc = 0;

        CU_ASSERT_FATAL(resp_parser_create(lim, &p) == 0);
        while (rc == 0 && off < len) {
            size_t n = len - off < chunk ? len - off : chunk;
            rc = resp_parse(p, data + off, n, &used, &c);
            off += used;
            resp_cmd_free(c);
        }
        CU_ASSERT_EQUAL(rc, code);
        if (msg != NULL)
            CU_ASSERT_STRING_EQUAL(resp_parser_errmsg(p), msg);
        /* Sticky: nothing more is consumed. */
        CU_ASSERT_EQUAL(resp_parse(p, "PING\r\n", 6, &used, &c), code);
        CU_ASSERT_EQUAL(used, 0);
        CU_ASSERT_PTR_NULL(c);
        resp_parser_destroy(p);
    }
}

#define EXPECT_ERR(lim, s, code, msg) expect_error(lim, s, sizeof(s) - 1, code, msg)

static void
test_malformed(void)
{
    EXPECT_ERR(NULL, "*abc\r\n", RESP_EPROTO,
               "Protocol error: invalid multibulk length");
    EXPECT_ERR(NULL, "*1\n", RESP_EPROTO,
               "Protocol error: invalid multibulk length");
    EXPECT_ERR(NULL, "*00000000000000000000000000001\r\n", RESP_EPROTO,
               "Protocol error: invalid multibulk length");
    EXPECT_ERR(NULL, "*99999999999999999999\r\n", RESP_EPROTO,
               "Protocol error: invalid multibulk length");
    EXPECT_ERR(NULL, "*1\r\nx", RESP_EPROTO,
               "Protocol error: expected '$', got 'x'");
    EXPECT_ERR(NULL, "*1\r\n\x01", RESP_EPROTO,
               "Protocol error: expected '$', got byte 0x01");
    EXPECT_ERR(NULL, "*1\r\n$-1\r\n", RESP_EPROTO,
               "Protocol error: invalid bulk length");
    EXPECT_ERR(NULL, "*1\r\n$1x\r\n", RESP_EPROTO,
               "Protocol error: invalid bulk length");
    EXPECT_ERR(NULL, "*1\r\n$\r\n", RESP_EPROTO,
               "Protocol error: invalid bulk length");
    EXPECT_ERR(NULL, "*1\r\n$2\r\nabX\n", RESP_EPROTO,
               "Protocol error: expected CRLF after a bulk argument");
    EXPECT_ERR(NULL, "*1\r\n$2\r\nab\rX", RESP_EPROTO,
               "Protocol error: expected CRLF after a bulk argument");
    EXPECT_ERR(NULL, "set \"abc\n", RESP_EPROTO,
               "Protocol error: unbalanced quotes in request");
    EXPECT_ERR(NULL, "set \"abc\"x\n", RESP_EPROTO,
               "Protocol error: unbalanced quotes in request");
    EXPECT_ERR(NULL, "set 'abc\n", RESP_EPROTO,
               "Protocol error: unbalanced quotes in request");
}

static void
test_limits(void)
{
    resp_limits lim = {.max_bulk = 10, .max_args = 3, .max_inline = 16,
                       .max_request = 15};

    EXPECT_ERR(&lim, "*1\r\n$11\r\n", RESP_EPROTO,
               "Protocol error: invalid bulk length");
    EXPECT_ERR(&lim, "*1\r\n$9223372036854775807\r\n", RESP_EPROTO,
               "Protocol error: invalid bulk length");
    EXPECT_ERR(&lim, "*4\r\n", RESP_EPROTO,
               "Protocol error: invalid multibulk length");
    EXPECT_ERR(&lim, "*2\r\n$10\r\n0123456789\r\n$6\r\n", RESP_EPROTO,
               "Protocol error: request too big");
    /* No newline needed: the limit trips as the line grows. */
    EXPECT_ERR(&lim, "aaaaaaaaaaaaaaaaa", RESP_EPROTO,
               "Protocol error: too big inline request");
    EXPECT_ERR(&lim, "a b c d\n", RESP_EPROTO,
               "Protocol error: invalid multibulk length");
    /* Right at each limit is fine. */
    {
        static const char three[] = "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n";
        int err;
        char *got = parse_all(&lim, three, sizeof(three) - 1, 1, &err);
        CU_ASSERT_EQUAL(err, 0);
        CU_ASSERT_STRING_EQUAL(got, "a|b|c;");
        free(got);
    }
    {
        int err;
        char *got = parse_all(&lim, "aaaaaaaaaaaaaaa\r\n", 17, 1, &err);
        CU_ASSERT_EQUAL(err, 0);
        CU_ASSERT_STRING_EQUAL(got, "aaaaaaaaaaaaaaa;");
        free(got);
        got = parse_all(&lim, "*1\r\n$10\r\n0123456789\r\n", 21, 1, &err);
        CU_ASSERT_EQUAL(err, 0);
        CU_ASSERT_STRING_EQUAL(got, "0123456789;");
        free(got);
    }
}

static void
test_http_detected(void)
{
    EXPECT_ERR(NULL, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", RESP_EHTTP, NULL);
    EXPECT_ERR(NULL, "POST /v1/kv/a HTTP/1.0\r\n", RESP_EHTTP, NULL);
    EXPECT_ERR(NULL, "PING\r\nHost: evil\r\n", RESP_EHTTP, NULL);
    EXPECT_ERR(NULL, "host:x\n", RESP_EHTTP, NULL);
}

/* Deterministic junk: the parser must make progress or fail, never crash. */
static void
test_junk(void)
{
    resp_limits lim = {.max_bulk = 64, .max_args = 8, .max_inline = 64,
                       .max_request = 256};
    static const char alphabet[] = "*$\r\n0123456789- \"'\\xabPING";
    uint64_t x = 88172645463325252ull;
    char buf[64];

    for (int round = 0; round < 20000; round++) {
        resp_parser *p;
        size_t off = 0, used;
        resp_cmd *c;
        int rc = 0;

        for (size_t i = 0; i < sizeof(buf); i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (x >> 60) & 1 ? (char)(x >> 8)
                                   : alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
        }
        CU_ASSERT_FATAL(resp_parser_create(&lim, &p) == 0);
        while (rc == 0 && off < sizeof(buf)) {
            size_t n = 1 + (x >> (off % 32)) % 9;
            if (n > sizeof(buf) - off)
                n = sizeof(buf) - off;
            rc = resp_parse(p, buf + off, n, &used, &c);
            CU_ASSERT_FATAL(rc != 0 || used > 0);
            CU_ASSERT_FATAL(used <= n);
            if (c != NULL)
                CU_ASSERT_FATAL(c->argc > 0 && c->argc <= 8);
            resp_cmd_free(c);
            off += used;
        }
        CU_ASSERT_FATAL(rc == 0 || rc == RESP_EPROTO || rc == RESP_EHTTP);
        resp_parser_destroy(p);
    }
}

static void
test_parse_int(void)
{
    long long v;

    CU_ASSERT_EQUAL(resp_parse_int("0", 1, &v), 0);
    CU_ASSERT_EQUAL(v, 0);
    CU_ASSERT_EQUAL(resp_parse_int("-42", 3, &v), 0);
    CU_ASSERT_EQUAL(v, -42);
    CU_ASSERT_EQUAL(resp_parse_int("9223372036854775807", 19, &v), 0);
    CU_ASSERT_EQUAL(v, INT64_MAX);
    CU_ASSERT_EQUAL(resp_parse_int("-9223372036854775808", 20, &v), 0);
    CU_ASSERT_EQUAL(v, INT64_MIN);
    CU_ASSERT_EQUAL(resp_parse_int("9223372036854775808", 19, &v), RESP_EINVAL);
    CU_ASSERT_EQUAL(resp_parse_int("-9223372036854775809", 20, &v), RESP_EINVAL);
    CU_ASSERT_EQUAL(resp_parse_int("", 0, &v), RESP_EINVAL);
    CU_ASSERT_EQUAL(resp_parse_int("-", 1, &v), RESP_EINVAL);
    CU_ASSERT_EQUAL(resp_parse_int("-0", 2, &v), RESP_EINVAL);
    CU_ASSERT_EQUAL(resp_parse_int("01", 2, &v), RESP_EINVAL);
    CU_ASSERT_EQUAL(resp_parse_int("+1", 2, &v), RESP_EINVAL);
    CU_ASSERT_EQUAL(resp_parse_int(" 1", 2, &v), RESP_EINVAL);
    CU_ASSERT_EQUAL(resp_parse_int("1a", 2, &v), RESP_EINVAL);
    CU_ASSERT_STRING_EQUAL(resp_strerror(RESP_EHTTP),
                           "HTTP request on the RESP port");
}

static void
test_encoder(void)
{
    resp_buf b = {0};
    char big[600];
    static const char want[] =
        "+OK\r\n-ERR bad  thing 7\r\n:-5\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n"
        "*-1\r\n$0\r\n\r\n+x y\r\n";

    CU_ASSERT_EQUAL(resp_add_simple(&b, "OK"), 0);
    CU_ASSERT_EQUAL(resp_add_error(&b, "ERR bad\r\nthing %d", 7), 0);
    CU_ASSERT_EQUAL(resp_add_int(&b, -5), 0);
    CU_ASSERT_EQUAL(resp_add_bulk(&b, "a\0b", 3), 0);
    CU_ASSERT_EQUAL(resp_add_nil(&b), 0);
    CU_ASSERT_EQUAL(resp_add_array(&b, 2), 0);
    CU_ASSERT_EQUAL(resp_add_nil_array(&b), 0);
    CU_ASSERT_EQUAL(resp_add_bulk_str(&b, ""), 0);
    CU_ASSERT_EQUAL(resp_add_simple(&b, "x\ny"), 0);
    CU_ASSERT_EQUAL(b.len, sizeof(want) - 1);
    CU_ASSERT(memcmp(b.data, want, sizeof(want) - 1) == 0);
    b.len = 0;
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CU_ASSERT_EQUAL(resp_add_error(&b, "ERR %s", big), 0);
    CU_ASSERT_EQUAL(b.len, 1 + 4 + sizeof(big) - 1 + 2);
    resp_buf_free(&b);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_multibulk),       CT_CASE(test_binary_safe),
        CT_CASE(test_inline_forms),    CT_CASE(test_skips_empty_multibulk),
        CT_CASE(test_split_everywhere), CT_CASE(test_pipeline_many),
        CT_CASE(test_pending),         CT_CASE(test_malformed),
        CT_CASE(test_limits),          CT_CASE(test_http_detected),
        CT_CASE(test_junk),            CT_CASE(test_parse_int),
        CT_CASE(test_encoder),
    };

    return ct_run("resp", cases, CT_NCASES(cases)) ? 1 : 0;
}
