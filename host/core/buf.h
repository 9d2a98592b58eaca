/* buf.h: a growable byte buffer, the unit messages are encoded into.
 * A buffer owns its bytes; mb_buf_free releases them. Growth failures are
 * reported, never hidden: every writer returns -1 when malloc fails. */
#ifndef MB_BUF_H
#define MB_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct mb_buf {
    uint8_t *p;
    size_t len, cap;
} mb_buf;

static inline void mb_buf_init(mb_buf *b) { b->p = NULL; b->len = b->cap = 0; }

static inline void mb_buf_free(mb_buf *b) {
    free(b->p);
    mb_buf_init(b);
}

/* b emptied for its next use: a buffer used again and again (a process's
 * encodings, a call's results) keeps its bytes, unless one big message
 * grew it past MB_BUF_KEEP, which it gives back rather than hoard. */
#define MB_BUF_KEEP ((size_t)1 << 20)
static inline void mb_buf_reuse(mb_buf *b) {
    if (b->cap > MB_BUF_KEEP) mb_buf_free(b);
    b->len = 0;
}

static inline int mb_buf_reserve(mb_buf *b, size_t extra) {
    if (b->cap - b->len >= extra) return 0;
    if (extra > SIZE_MAX / 2 - b->len) return -1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra) cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (!np) return -1;
    b->p = np;
    b->cap = cap;
    return 0;
}

static inline int mb_buf_put(mb_buf *b, const void *src, size_t n) {
    if (mb_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static inline int mb_buf_byte(mb_buf *b, uint8_t c) {
    if (mb_buf_reserve(b, 1)) return -1;
    b->p[b->len++] = c;
    return 0;
}

#define MB_VARINT_MAX 10   /* bytes of the longest varint, a 64-bit value's */

/* v as an unsigned LEB128 varint into out; returns its length. */
static inline size_t mb_varint_encode(uint8_t out[MB_VARINT_MAX], uint64_t v) {
    size_t n = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        out[n++] = c | (v ? 0x80 : 0);
    } while (v);
    return n;
}

/* Written in place: the encoder's hot path (a tag and a length per value). */
static inline int mb_buf_varint(mb_buf *b, uint64_t v) {
    if (mb_buf_reserve(b, MB_VARINT_MAX)) return -1;
    b->len += mb_varint_encode(b->p + b->len, v);
    return 0;
}

#endif
