/*
 * engine/format.h - the on-disk format's codecs (private to engine/, and
 * used by its tests and fuzz targets): CRC32C, the data file header, records,
 * hint files and merge manifests. engine/FORMAT.md is the specification;
 * every multi-byte integer is little-endian.
 *
 * Decoders take any bytes and never read outside [buf, buf + len): they are
 * libFuzzer targets (tests/fuzz_record.c, tests/fuzz_hint.c).
 */
#ifndef ENGINE_FORMAT_H
#define ENGINE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C (Castagnoli), reflected, init/final xor ~0 as in iSCSI/ext4:
 * crc = cask_crc32c(0, buf, len) and crc = cask_crc32c(crc, more, n). The
 * SSE4.2 instruction is used when the CPU has it. */
uint32_t cask_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t cask_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* The SSE4.2 path; only call when cask_crc32c_have_hw() is true. */
uint32_t cask_crc32c_hw(uint32_t crc, const void *buf, size_t len);
int cask_crc32c_have_hw(void);

/* ---- data files ---------------------------------------------------------- */

#define CASK_FILE_MAGIC "CASKLOG1" /* 8 bytes, the last is the version */
#define CASK_FILE_HDR 16u          /* magic, file id u32, reserved u32 = 0 */

void cask_file_hdr_encode(uint8_t out[CASK_FILE_HDR], uint32_t file_id);
/* 0 if buf holds a valid header for file_id, else CASK_ECORRUPT. */
int cask_file_hdr_check(const uint8_t *buf, size_t len, uint32_t file_id);

#define CASK_REC_VERSION 1u
#define CASK_REC_HDR 40u
#define CASK_FLAG_TOMB 1u

typedef struct cask_rec {
    uint64_t seq;
    uint64_t tstamp_ms;  /* wall clock when written */
    uint64_t expiry_ms;  /* wall clock after which it is invisible; 0 never */
    uint32_t klen;
    uint32_t vlen;
    uint32_t flags;      /* CASK_FLAG_TOMB */
    const uint8_t *key;  /* into the decoded buffer */
    const uint8_t *val;
} cask_rec;

static inline uint64_t
cask_rec_size(uint32_t klen, uint32_t vlen)
{
    return (uint64_t)CASK_REC_HDR + klen + vlen;
}

/* Encodes r (key and value from r->key, r->val) into out, which holds
 * cask_rec_size(r->klen, r->vlen) bytes, checksum included. */
void cask_rec_encode(uint8_t *out, const cask_rec *r);

/* Outcomes of cask_rec_decode besides 0 and CASK_ECORRUPT. */
#define CASK_REC_SHORT 1 /* buf ends inside the record */

/*
 * Decodes the record at the start of buf. Returns 0 with *r (pointing into
 * buf) and *reclen; CASK_REC_SHORT if buf ends before the record does
 * (*reclen = its full size when the header was readable, else
 * CASK_REC_HDR); CASK_ECORRUPT if the header is invalid or the checksum
 * fails (*reclen = the size the header claims, 0 if unreadable).
 */
int cask_rec_decode(const void *buf, size_t len, cask_rec *r,
                    uint64_t *reclen);

/* Header fields only, no checksum: for sizing a read. Same returns. */
int cask_rec_peek(const void *buf, size_t len, cask_rec *r);

/* ---- hint files ------------------------------------------------------------ */

#define CASK_HINT_ENTRY 40u  /* seq, pos, expiry u64; klen, vlen, flags u32 */
#define CASK_HINT_TRAILER 32u
#define CASK_HINT_MAGIC "CASKHNT1"

typedef struct cask_hint {
    uint64_t seq;
    uint64_t pos;        /* record offset in the data file */
    uint64_t expiry_ms;
    uint32_t klen;
    uint32_t vlen;
    uint32_t flags;
    const uint8_t *key;
} cask_hint;

/* Appends one entry to a growing buffer; returns 0 or CASK_ENOMEM. */
typedef struct cask_buf {
    uint8_t *p;
    size_t len, cap;
} cask_buf;
int cask_buf_put(cask_buf *b, const void *src, size_t n);
int cask_hint_append(cask_buf *b, const cask_hint *h);
/* Appends the trailer: entry count, the data file size it covers, CRC. */
int cask_hint_finish(cask_buf *b, uint64_t entries, uint64_t data_size);

typedef int (*cask_hint_fn)(const cask_hint *h, void *arg);
/*
 * Checks the whole-file checksum, then calls fn for each entry in order.
 * Returns 0, CASK_ECORRUPT (*bad_off = offset of the problem) or the first
 * non-zero value fn returned. *data_size = the data file size covered.
 */
int cask_hint_parse(const void *buf, size_t len, uint64_t *data_size,
                    uint64_t *bad_off, cask_hint_fn fn, void *arg);

/*
 * Reads a hint file's trailer alone (the last CASK_HINT_TRAILER bytes of
 * a file of file_len bytes): its entry count, bounded by what file_len
 * can hold, and the data size it covers. Returns 0, or CASK_ECORRUPT when
 * the magic or the reserved field is wrong. The checksum is not checked:
 * for estimates only, never for loading.
 */
int cask_hint_trailer(const void *t, uint64_t file_len, uint64_t *entries,
                      uint64_t *data_size);

/* ---- merge manifests --------------------------------------------------------- */

#define CASK_MANIFEST_MAGIC "CASKMRG1"
int cask_manifest_encode(cask_buf *b, const uint32_t *ids, uint32_t n);
/* Returns the number of ids (> 0) into *ids (malloc'd) or CASK_ECORRUPT. */
int cask_manifest_decode(const void *buf, size_t len, uint32_t **ids);

/* ---- little-endian helpers ------------------------------------------------ */

static inline void
cask_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
cask_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t
cask_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t
cask_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif /* ENGINE_FORMAT_H */
