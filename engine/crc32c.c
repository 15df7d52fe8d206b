/*
 * engine/crc32c.c - CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected
 * 0x82F63B78), the checksum of records and hint files.
 *
 * Two implementations that must agree bit for bit (tests/test_engine_format.c
 * checks them against each other): the SSE4.2 crc32 instruction, eight bytes
 * per instruction, and a portable slice-by-8 table for CPUs without it. The
 * choice is made per call with __builtin_cpu_supports, a load and a test of
 * a word the runtime fills in before main.
 */
#include "engine/format.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

static uint32_t crc_tab[8][256];
/* Built by a constructor, before main and before any thread exists, so
 * readers need no synchronisation and none is paid per call. */
__attribute__((constructor)) static void
crc_tab_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^
                            crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

uint32_t
cask_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
                             (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
                      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
              crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^
              crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
              crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t
cask_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;

    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* unaligned load; x86 is little-endian */
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}

int
cask_crc32c_have_hw(void)
{
    return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t
cask_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    return cask_crc32c_sw(crc, buf, len);
}

int
cask_crc32c_have_hw(void)
{
    return 0;
}
#endif

uint32_t
cask_crc32c(uint32_t crc, const void *buf, size_t len)
{
    if (cask_crc32c_have_hw())
        return cask_crc32c_hw(crc, buf, len);
    return cask_crc32c_sw(crc, buf, len);
}
