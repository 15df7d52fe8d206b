/*
 * tests/fuzz_hint.c - libFuzzer target for the hint-file and merge-manifest
 * decoders.
 *
 * Parses the input as a hint file, reading every key byte of each entry it
 * hands out (so a key pointer past the buffer shows up under ASan), and as
 * a manifest.
 */
#include "engine/format.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
touch(const cask_hint *h, void *arg)
{
    unsigned *sum = arg;

    for (uint32_t i = 0; i < h->klen; i++)
        *sum += h->key[i];
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t covered, bad;
    unsigned sum = 0;
    uint32_t *ids = NULL;

    cask_hint_parse(data, size, &covered, &bad, touch, &sum);
    if (size >= CASK_HINT_TRAILER) {
        uint64_t entries;
        if (cask_hint_trailer(data + size - CASK_HINT_TRAILER, size, &entries,
                              &covered) == 0 &&
            entries > (size - CASK_HINT_TRAILER) / (CASK_HINT_ENTRY + 1))
            abort();
    }
    if (cask_manifest_decode(data, size, &ids) > 0)
        free(ids);
    return 0;
}
