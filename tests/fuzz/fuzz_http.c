/*
 * tests/fuzz/fuzz_http.c - libFuzzer target for the HTTP request parser.
 *
 * The first byte picks the read size. Checked beyond ASan/UBSan: each call
 * consumes a byte or stops, never more than offered; a request has a
 * method, a target and a body within the limit; a refusal is one of the
 * statuses the header promises.
 */
#include "net/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    http_parser *p;
    size_t chunk, off = 1;
    int rc = 0;

    if (size < 1)
        return 0;
    chunk = 1 + data[0] % 32;
    if (http_parser_create(512, 256, &p) != 0)
        abort();
    while (rc == 0 && off < size) {
        size_t n = size - off < chunk ? size - off : chunk, used;
        http_request *r;

        rc = http_parse(p, (const char *)data + off, n, &used, &r);
        if (used > n || (rc == 0 && used == 0))
            abort();
        if (r != NULL && (r->method[0] == '\0' || r->target == NULL ||
                          r->body_len > 256 || r->body[r->body_len] != '\0'))
            abort();
        http_request_free(r);
        off += used;
    }
    if (rc != 0 && rc != 400 && rc != 413 && rc != 431 && rc != 501 &&
        rc != 505 && rc != -1)
        abort();
    http_parser_destroy(p);
    return 0;
}
