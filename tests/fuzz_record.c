/*
 * tests/fuzz_record.c - libFuzzer target for the record decoder.
 *
 * Decodes the input as a data file's record stream, the way recovery
 * scans it, and checks that every record accepted re-encodes to the very
 * bytes it was decoded from (so the decoder accepts nothing the encoder
 * could not have written). Sanitizers catch any out-of-bounds read.
 */
#include "engine/format.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    cask_rec r;
    uint64_t len;

    while (off < size && cask_rec_decode(data + off, size - off, &r, &len) == 0) {
        uint8_t *again = malloc(len);
        if (again == NULL)
            return 0;
        cask_rec_encode(again, &r);
        if (memcmp(again, data + off, len) != 0)
            abort();
        free(again);
        off += len;
    }
    return 0;
}
