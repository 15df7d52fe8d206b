/*
 * engine/format.c - encoders and decoders of engine/FORMAT.md.
 *
 * Every decoder validates lengths before it reads: a size field is checked
 * against the bytes actually present before any pointer arithmetic uses it,
 * so arbitrary input (a corrupt file, a fuzzer) never reads out of bounds.
 */
#include "engine/format.h"
#include "engine/cask.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void
cask_file_hdr_encode(uint8_t out[CASK_FILE_HDR], uint32_t file_id)
{
    memcpy(out, CASK_FILE_MAGIC, 8);
    cask_put32(out + 8, file_id);
    cask_put32(out + 12, 0);
}

int
cask_file_hdr_check(const uint8_t *buf, size_t len, uint32_t file_id)
{
    if (len < CASK_FILE_HDR || memcmp(buf, CASK_FILE_MAGIC, 8) != 0 ||
        cask_get32(buf + 8) != file_id || cask_get32(buf + 12) != 0)
        return CASK_ECORRUPT;
    return 0;
}

/*
 * The stores are made in three ordered steps - header, then key and value,
 * then the checksum - because the engine encodes straight into the active
 * file's shared mapping: a process killed in the middle leaves a record
 * whose header is readable and zeros after its extent, or zeros after its
 * header, which recovery recognises as a torn tail (FORMAT.md). The
 * compiler barriers (signal fences) keep the compiler from merging or
 * reordering the steps; the CPU retires one thread's stores in order, and
 * a killed process's stores all reach the page cache.
 */
void
cask_rec_encode(uint8_t *out, const cask_rec *r)
{
    out[4] = CASK_REC_VERSION;
    out[5] = (uint8_t)r->flags;
    out[6] = out[7] = 0;
    cask_put64(out + 8, r->seq);
    cask_put64(out + 16, r->tstamp_ms);
    cask_put64(out + 24, r->expiry_ms);
    cask_put32(out + 32, r->klen);
    cask_put32(out + 36, r->vlen);
    atomic_signal_fence(memory_order_seq_cst);
    memcpy(out + CASK_REC_HDR, r->key, r->klen);
    if (r->vlen > 0)
        memcpy(out + CASK_REC_HDR + r->klen, r->val, r->vlen);
    atomic_signal_fence(memory_order_seq_cst);
    cask_put32(out, cask_crc32c(0, out + 4,
                                cask_rec_size(r->klen, r->vlen) - 4));
}

int
cask_rec_peek(const void *buf, size_t len, cask_rec *r)
{
    const uint8_t *p = buf;

    if (len < CASK_REC_HDR)
        return CASK_REC_SHORT;
    r->flags = p[5];
    r->seq = cask_get64(p + 8);
    r->tstamp_ms = cask_get64(p + 16);
    r->expiry_ms = cask_get64(p + 24);
    r->klen = cask_get32(p + 32);
    r->vlen = cask_get32(p + 36);
    if (p[4] != CASK_REC_VERSION || (r->flags & ~CASK_FLAG_TOMB) != 0 ||
        p[6] != 0 || p[7] != 0 || r->klen == 0 || r->klen > CASK_KEY_MAX ||
        r->vlen > CASK_VALUE_MAX ||
        ((r->flags & CASK_FLAG_TOMB) && r->vlen != 0))
        return CASK_ECORRUPT;
    return 0;
}

int
cask_rec_decode(const void *buf, size_t len, cask_rec *r, uint64_t *reclen)
{
    const uint8_t *p = buf;
    int rc = cask_rec_peek(buf, len, r);

    *reclen = rc == CASK_REC_SHORT ? CASK_REC_HDR : 0;
    if (rc != 0)
        return rc;
    *reclen = cask_rec_size(r->klen, r->vlen);
    if (*reclen > len)
        return CASK_REC_SHORT;
    if (cask_crc32c(0, p + 4, *reclen - 4) != cask_get32(p))
        return CASK_ECORRUPT;
    r->key = p + CASK_REC_HDR;
    r->val = r->key + r->klen;
    return 0;
}

int
cask_buf_put(cask_buf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (np == NULL)
            return CASK_ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

int
cask_hint_append(cask_buf *b, const cask_hint *h)
{
    uint8_t e[CASK_HINT_ENTRY];

    cask_put64(e, h->seq);
    cask_put64(e + 8, h->pos);
    cask_put64(e + 16, h->expiry_ms);
    cask_put32(e + 24, h->klen);
    cask_put32(e + 28, h->vlen);
    cask_put32(e + 32, h->flags);
    cask_put32(e + 36, 0);
    if (cask_buf_put(b, e, sizeof e) != 0)
        return CASK_ENOMEM;
    return cask_buf_put(b, h->key, h->klen);
}

int
cask_hint_finish(cask_buf *b, uint64_t entries, uint64_t data_size)
{
    uint8_t t[CASK_HINT_TRAILER];

    memcpy(t, CASK_HINT_MAGIC, 8);
    cask_put64(t + 8, entries);
    cask_put64(t + 16, data_size);
    cask_put32(t + 24, 0);
    if (cask_buf_put(b, t, CASK_HINT_TRAILER - 4) != 0)
        return CASK_ENOMEM;
    cask_put32(t, cask_crc32c(0, b->p, b->len));
    return cask_buf_put(b, t, 4);
}

int
cask_hint_trailer(const void *t, uint64_t file_len, uint64_t *entries,
                  uint64_t *data_size)
{
    const uint8_t *p = t;
    uint64_t most;

    if (file_len < CASK_HINT_TRAILER || memcmp(p, CASK_HINT_MAGIC, 8) != 0 ||
        cask_get32(p + 24) != 0)
        return CASK_ECORRUPT;
    /* every entry holds at least a 1-byte key */
    most = (file_len - CASK_HINT_TRAILER) / (CASK_HINT_ENTRY + 1);
    *entries = cask_get64(p + 8) < most ? cask_get64(p + 8) : most;
    *data_size = cask_get64(p + 16);
    return 0;
}

/* Decodes the entry at off; returns its total length, or 0 if invalid. */
static uint64_t
hint_entry(const uint8_t *p, uint64_t off, uint64_t end, cask_hint *h)
{
    if (end - off < CASK_HINT_ENTRY)
        return 0;
    p += off;
    h->seq = cask_get64(p);
    h->pos = cask_get64(p + 8);
    h->expiry_ms = cask_get64(p + 16);
    h->klen = cask_get32(p + 24);
    h->vlen = cask_get32(p + 28);
    h->flags = cask_get32(p + 32);
    if (h->klen == 0 || h->klen > CASK_KEY_MAX || h->vlen > CASK_VALUE_MAX ||
        (h->flags & ~CASK_FLAG_TOMB) != 0 || cask_get32(p + 36) != 0 ||
        end - off - CASK_HINT_ENTRY < h->klen || h->pos < CASK_FILE_HDR)
        return 0;
    h->key = p + CASK_HINT_ENTRY;
    return CASK_HINT_ENTRY + h->klen;
}

int
cask_hint_parse(const void *buf, size_t len, uint64_t *data_size,
                uint64_t *bad_off, cask_hint_fn fn, void *arg)
{
    const uint8_t *p = buf;
    uint64_t end, off = 0, n = 0, want;
    cask_hint h;

    *bad_off = 0;
    if (len < CASK_HINT_TRAILER)
        return CASK_ECORRUPT;
    end = len - CASK_HINT_TRAILER;
    *bad_off = end;
    if (memcmp(p + end, CASK_HINT_MAGIC, 8) != 0 ||
        cask_get32(p + end + 24) != 0 ||
        cask_crc32c(0, p, len - 4) != cask_get32(p + len - 4))
        return CASK_ECORRUPT;
    want = cask_get64(p + end + 8);
    *data_size = cask_get64(p + end + 16);
    while (off < end) {
        uint64_t elen = hint_entry(p, off, end, &h);
        if (elen == 0 || n == want) {
            *bad_off = off;
            return CASK_ECORRUPT;
        }
        int rc = fn(&h, arg);
        if (rc != 0)
            return rc;
        off += elen;
        n++;
    }
    if (n != want) {
        *bad_off = end;
        return CASK_ECORRUPT;
    }
    return 0;
}

int
cask_manifest_encode(cask_buf *b, const uint32_t *ids, uint32_t n)
{
    uint8_t w[8];

    if (cask_buf_put(b, CASK_MANIFEST_MAGIC, 8) != 0)
        return CASK_ENOMEM;
    cask_put32(w, n);
    if (cask_buf_put(b, w, 4) != 0)
        return CASK_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        cask_put32(w, ids[i]);
        if (cask_buf_put(b, w, 4) != 0)
            return CASK_ENOMEM;
    }
    cask_put32(w, cask_crc32c(0, b->p, b->len));
    return cask_buf_put(b, w, 4);
}

int
cask_manifest_decode(const void *buf, size_t len, uint32_t **ids)
{
    const uint8_t *p = buf;
    uint32_t n;

    if (len < 16 || memcmp(p, CASK_MANIFEST_MAGIC, 8) != 0)
        return CASK_ECORRUPT;
    n = cask_get32(p + 8);
    if (n == 0 || n > (1u << 24) || len != 16 + (uint64_t)n * 4 ||
        cask_crc32c(0, p, len - 4) != cask_get32(p + len - 4))
        return CASK_ECORRUPT;
    *ids = malloc((size_t)n * sizeof **ids);
    if (*ids == NULL)
        return CASK_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        (*ids)[i] = cask_get32(p + 12 + 4 * (size_t)i);
    return (int)n;
}
