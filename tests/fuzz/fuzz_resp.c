/*
 * tests/fuzz/fuzz_resp.c - libFuzzer target for the RESP2 parser.
 *
 * The first input byte picks the read size, so the fuzzer explores splits
 * as well as contents. Properties checked beyond "no crash, no leak, no UB"
 * (which ASan/UBSan enforce): every call consumes at least one byte or
 * fails, never more than offered, every request respects the limits, and
 * each parsed request survives a round trip through the encoder (encode as
 * multibulk, parse again whole, get the same arguments back).
 */
#include "net/resp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const resp_limits fz_lim = {.max_bulk = 4096, .max_args = 64,
                                   .max_inline = 4096, .max_request = 16384};

static void
fz_roundtrip(const resp_cmd *c)
{
    resp_buf b = {0};
    resp_parser *p;
    resp_cmd *back;
    size_t used;

    if (resp_add_array(&b, c->argc) != 0)
        abort();
    for (size_t i = 0; i < c->argc; i++)
        if (resp_add_bulk(&b, c->argv[i], c->lens[i]) != 0)
            abort();
    if (resp_parser_create(&fz_lim, &p) != 0)
        abort();
    if (resp_parse(p, b.data, b.len, &used, &back) != 0 || back == NULL ||
        used != b.len || back->argc != c->argc)
        abort();
    for (size_t i = 0; i < c->argc; i++)
        if (back->lens[i] != c->lens[i] ||
            memcmp(back->argv[i], c->argv[i], c->lens[i]) != 0)
            abort();
    resp_cmd_free(back);
    resp_parser_destroy(p);
    resp_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    resp_parser *p;
    size_t chunk, off = 1;
    int rc = 0;

    if (size < 1)
        return 0;
    chunk = 1 + data[0] % 16;
    if (resp_parser_create(&fz_lim, &p) != 0)
        abort();
    while (rc == 0 && off < size) {
        size_t n = size - off < chunk ? size - off : chunk, used;
        resp_cmd *c;

        rc = resp_parse(p, (const char *)data + off, n, &used, &c);
        if (used > n || (rc == 0 && used == 0))
            abort();
        if (c != NULL) {
            if (c->argc == 0 || c->argc > fz_lim.max_args)
                abort();
            fz_roundtrip(c);
            resp_cmd_free(c);
        }
        off += used;
    }
    resp_parser_destroy(p);
    return 0;
}
