/*
 * tests/test_http.c - the HTTP/1.1 request parser of net/http.h: requests
 * split at every byte, pipelining, keep-alive rules, and each refusal with
 * its status code.
 */
#include "net/http.h"
#include "tests/cutest.h"

#include <stdlib.h>
#include <string.h>

/* Parses all of s in pieces cut at cut; returns the requests seen (up to
 * max) or -status on a refusal. */
static int
parse_cut(const char *s, size_t len, size_t cut, http_request **out, int max)
{
    http_parser *p;
    size_t off = 0;
    int n = 0, rc = 0;

    CU_ASSERT_FATAL(http_parser_create(256, 64, &p) == 0);
    for (int piece = 0; piece < 2 && rc == 0; piece++) {
        size_t end = piece == 0 ? cut : len;
        while (off < end && rc == 0) {
            http_request *r;
            size_t used;
            rc = http_parse(p, s + off, end - off, &used, &r);
            CU_ASSERT(rc != 0 || used > 0);
            off += used;
            if (r != NULL && n < max)
                out[n++] = r;
            else
                http_request_free(r);
        }
    }
    http_parser_destroy(p);
    return rc != 0 ? -rc : n;
}

static void
free_all(http_request **r, int n)
{
    for (int i = 0; i < n; i++)
        http_request_free(r[i]);
}

static void
test_split_everywhere(void)
{
    static const char s[] =
        "\r\nPUT /v1/kv/a%20b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        "Authorization:  Bearer pw \r\n\r\nab\r\0c"
        "GET /v1/status HTTP/1.1\r\nConnection: close\r\n\r\n";
    size_t len = sizeof(s) - 1;

    for (size_t cut = 0; cut <= len; cut++) {
        http_request *r[4];
        int n = parse_cut(s, len, cut, r, 4);

        CU_ASSERT_EQUAL_FATAL(n, 2);
        CU_ASSERT_STRING_EQUAL(r[0]->method, "PUT");
        CU_ASSERT_STRING_EQUAL(r[0]->target, "/v1/kv/a%20b");
        CU_ASSERT_EQUAL(r[0]->body_len, 5);
        CU_ASSERT(memcmp(r[0]->body, "ab\r\0c", 5) == 0);
        CU_ASSERT_STRING_EQUAL(r[0]->auth, "Bearer pw");
        CU_ASSERT_EQUAL(r[0]->keep_alive, 1);
        CU_ASSERT_STRING_EQUAL(r[1]->method, "GET");
        CU_ASSERT_EQUAL(r[1]->body_len, 0);
        CU_ASSERT_PTR_NULL(r[1]->auth);
        CU_ASSERT_EQUAL(r[1]->keep_alive, 0);
        free_all(r, n);
    }
}

static void
test_keep_alive_rules(void)
{
    static const char *const reqs[] = {
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nconnection: CLOSE\r\n\r\n",
        "GET / HTTP/1.1\n\n", /* bare LF line ends are accepted */
    };
    static const int want[] = {0, 1, 1, 0, 1};

    for (size_t i = 0; i < CT_NCASES(reqs); i++) {
        http_request *r;
        CU_ASSERT_EQUAL_FATAL(parse_cut(reqs[i], strlen(reqs[i]), 0, &r, 1), 1);
        CU_ASSERT_EQUAL(r->keep_alive, want[i]);
        http_request_free(r);
    }
}

static void
test_refusals(void)
{
    static const struct {
        const char *s;
        int status;
    } bad[] = {
        {"GET\r\n\r\n", 400},
        {"GET  HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET / HTTP/1.2\r\n\r\n", 505},
        {"GET / FTP/1.1\r\n\r\n", 400},
        {"VERYLONGMETHOD / HTTP/1.1\r\n\r\n", 400},
        {"G\x01T / HTTP/1.1\r\n\r\n", 400},
        {"GET /a\x7f HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n: empty\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
        {"PUT / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", 413},
    };
    char big[300];

    for (size_t i = 0; i < CT_NCASES(bad); i++) {
        http_request *r;
        int n = parse_cut(bad[i].s, strlen(bad[i].s), 0, &r, 1);
        CU_ASSERT_EQUAL(n, -bad[i].status);
        if (n != -bad[i].status)
            fprintf(stderr, "  '%s': %d\n", bad[i].s, n);
    }
    memset(big, 'a', sizeof(big)); /* a head over 256 bytes, no newline */
    {
        http_request *r;
        CU_ASSERT_EQUAL(parse_cut(big, sizeof(big), 0, &r, 1), -431);
    }
}

static void
test_sticky_error(void)
{
    http_parser *p;
    http_request *r;
    size_t used;

    CU_ASSERT_FATAL(http_parser_create(256, 64, &p) == 0);
    CU_ASSERT_EQUAL(http_parse(p, "BAD\r\n\r\n", 7, &used, &r), 400);
    CU_ASSERT_EQUAL(http_parse(p, "GET / HTTP/1.1\r\n\r\n", 18, &used, &r), 400);
    CU_ASSERT_EQUAL(used, 0);
    CU_ASSERT_PTR_NULL(r);
    http_parser_destroy(p);
    CU_ASSERT_STRING_EQUAL(http_reason(404), "Not Found");
    CU_ASSERT_STRING_EQUAL(http_reason(999), "Unknown");
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_split_everywhere), CT_CASE(test_keep_alive_rules),
        CT_CASE(test_refusals),         CT_CASE(test_sticky_error),
    };

    return ct_run("http", cases, CT_NCASES(cases)) ? 1 : 0;
}
