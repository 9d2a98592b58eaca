/* etf.h: Erlang's external term format, read and written in C.
 *
 * Why a codec of our own and not Debian's ei (erl_interface): what crosses
 * a connection is translated straight between this format and moonbeam's
 * own (host/core/term.h) on the distribution thread, in one pass over the
 * bytes; ei offers the same per-value calls but ships only as a static,
 * versioned library (lib/erl_interface-N/lib/libei.a) that the shared core
 * would have to link, and brings a connection layer of its own that the
 * distribution thread does not use. The format is small and documented
 * (erts "External Term Format"); the reader below trusts nothing.
 *
 * Reading is a cursor over a buffer: each call checks the tag at the
 * cursor, reads one value (or a header), and advances; -1 when the bytes
 * are not what was asked for or run short, and the cursor is then left
 * where it was. Writing appends to an mb_buf (-1 when out of memory). Only
 * the forms the peers' mandatory flags imply are written: UTF-8 atoms,
 * NEW_PID_EXT, NEWER_REFERENCE_EXT, NEW_FLOAT_EXT, MAP_EXT. */
#ifndef MB_ETF_H
#define MB_ETF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

#define MB_ETF_VERSION 131
#define MB_ETF_MAX_ATOM 255      /* characters; 4 bytes each at most in UTF-8 */
#define MB_ETF_MAX_REF_WORDS 5   /* DFLAG_V4_NC's bound */

enum {
    MB_ETF_NEW_FLOAT = 70, MB_ETF_BIT_BINARY = 77, MB_ETF_NEW_PID = 88, MB_ETF_NEW_PORT = 89,
    MB_ETF_NEWER_REF = 90, MB_ETF_SMALL_INT = 97, MB_ETF_INT = 98, MB_ETF_FLOAT = 99,
    MB_ETF_ATOM = 100, MB_ETF_REF = 101, MB_ETF_PORT = 102, MB_ETF_PID = 103,
    MB_ETF_SMALL_TUPLE = 104, MB_ETF_LARGE_TUPLE = 105, MB_ETF_NIL = 106, MB_ETF_STRING = 107,
    MB_ETF_LIST = 108, MB_ETF_BINARY = 109, MB_ETF_SMALL_BIG = 110, MB_ETF_LARGE_BIG = 111,
    MB_ETF_NEW_FUN = 112, MB_ETF_EXPORT = 113, MB_ETF_NEW_REF = 114, MB_ETF_SMALL_ATOM = 115,
    MB_ETF_MAP = 116, MB_ETF_FUN = 117, MB_ETF_ATOM_UTF8 = 118, MB_ETF_SMALL_ATOM_UTF8 = 119,
    MB_ETF_V4_PORT = 120
};

typedef struct mb_etf_rd {
    const uint8_t *p, *end;
} mb_etf_rd;

/* An atom's bytes, pointing into the buffer read. */
typedef struct mb_etf_atom {
    const char *s;
    size_t n;
} mb_etf_atom;

/* A pid or a ref of any node: the node's name points into the buffer. */
typedef struct mb_etf_pid {
    mb_etf_atom node;
    uint32_t id, serial, creation;
} mb_etf_pid;
typedef struct mb_etf_ref {
    mb_etf_atom node;
    uint32_t creation;
    int nwords;
    uint32_t words[MB_ETF_MAX_REF_WORDS];
} mb_etf_ref;

/* The tag at the cursor, or -1 at the end. */
int mb_etf_peek(const mb_etf_rd *r);
/* The version byte (131) that starts every term on the wire. */
int mb_etf_version(mb_etf_rd *r);
int mb_etf_tuple(mb_etf_rd *r, uint32_t *arity);
int mb_etf_atom_get(mb_etf_rd *r, mb_etf_atom *a);
/* Whether the cursor is at the atom s (not advancing). */
bool mb_etf_is_atom(const mb_etf_rd *r, const char *s);
/* An integer that fits int64 (small, 32-bit or bignum). */
int mb_etf_int(mb_etf_rd *r, int64_t *v);
int mb_etf_pid_get(mb_etf_rd *r, mb_etf_pid *pid);
int mb_etf_ref_get(mb_etf_rd *r, mb_etf_ref *ref);
/* Step over one whole term of any kind, without recursion. */
int mb_etf_skip(mb_etf_rd *r);

/* Bytes of one whole term at the cursor (advancing past it): to be passed
 * on unchanged. */
int mb_etf_span(mb_etf_rd *r, const uint8_t **p, size_t *n);

int mb_etf_put_version(mb_buf *b);
int mb_etf_put_tuple(mb_buf *b, uint32_t arity);
/* Whether n bytes make an atom Erlang takes: well-formed UTF-8 (no
 * overlong form, surrogate or code point past U+10FFFF) of at most
 * MB_ETF_MAX_ATOM characters. Erlang takes any other as a corrupted term
 * and drops the connection with it. Inline: the codec's mb.atom checks it
 * without the distribution linked in. */
static inline bool mb_etf_atom_fits(const char *s, size_t n) {
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};   /* by length: no overlong forms */
    if (n > 4 * MB_ETF_MAX_ATOM) return false;
    size_t chars = 0;
    for (size_t i = 0; i < n; chars++) {
        uint8_t c = (uint8_t)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (!len || len > n - i) return false;
        uint32_t cp = len == 1 ? c : c & (0x7Fu >> len);
        for (size_t k = 1; k < len; k++) {
            uint8_t d = (uint8_t)s[i + k];
            if ((d & 0xC0) != 0x80) return false;
            cp = cp << 6 | (d & 0x3F);
        }
        if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return chars <= MB_ETF_MAX_ATOM;
}
int mb_etf_put_atom(mb_buf *b, const char *s, size_t n);
int mb_etf_put_int(mb_buf *b, int64_t v);
int mb_etf_put_float(mb_buf *b, double x);
int mb_etf_put_binary(mb_buf *b, const void *p, size_t n);
int mb_etf_put_nil(mb_buf *b);
int mb_etf_put_list(mb_buf *b, uint32_t n);   /* n elements follow, then the tail */
int mb_etf_put_map(mb_buf *b, uint32_t pairs);
int mb_etf_put_pid(mb_buf *b, const mb_etf_pid *pid);
int mb_etf_put_ref(mb_buf *b, const mb_etf_ref *ref);

#endif
