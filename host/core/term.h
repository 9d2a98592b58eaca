/* term.h: the wire format of moonbeam's terms, read and written in C.
 *
 * Every message crosses from one process to another as one buffer. The
 * format (all integers little-endian; n = unsigned LEB128 varint):
 *
 *   0x00 nil            (only in argument lists, never inside a table)
 *   0x01 false | 0x02 true
 *   0x03 integer        zigzag varint; only for exact integers |x| <= 2^53
 *   0x04 double         8 raw bytes: keeps -0.0, NaN and infinities
 *   0x05 string         n length, bytes (binary-safe)
 *   0x06 table          n array count, n hash count, array values, key/value pairs
 *   0x07 pid | 0x08 ref n value
 *   0x09 function       n length, LuaJIT bytecode of an upvalue-free function
 *   0x0a table handle   n value (a shared table's, pid.h; table.h)
 *   0x0b socket or port n value (pid.h; io.h)
 *   0x0c atom           n length, bytes: an Erlang atom (mb.atom; host/dist)
 *   0x0d int64          8 bytes: an integer beyond 2^53 (an int64_t cdata)
 *   0x0e kind           1 byte (MB_KIND_*), then a table: one that came
 *                       from an Erlang tuple, list or map, or mb.tuple
 *
 * A list (arguments) is n count, then that many values, nils allowed.
 *
 * Readers trust nothing: counts are bounded by the bytes left, depth by
 * MB_MAX_DEPTH, and a malformed value is an error, never a read past the
 * end. A span is one encoded value; sub-values are spans into the same
 * bytes, so they can be passed on (as spawn arguments) with no re-encoding.
 * Converting Lua values lives with the Lua bindings (bindings/codec.h). */
#ifndef MB_TERM_H
#define MB_TERM_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

#define MB_MAX_DEPTH 100                       /* nesting of tables in one message */
/* What the runtime itself wraps a term of MB_MAX_DEPTH in adds one level: a
 * DOWN's or an EXIT's reason, a call's request, a cast's message. Read up
 * to this; sent (encoded, or taken from another node) up to MB_MAX_DEPTH. */
#define MB_MAX_WRAPPED_DEPTH (MB_MAX_DEPTH + 1)
#define MB_DEFAULT_MAX_MESSAGE (64u << 20)      /* bytes; runtime-configurable */

enum {
    MB_T_NIL, MB_T_FALSE, MB_T_TRUE, MB_T_INT, MB_T_DOUBLE,
    MB_T_STRING, MB_T_TABLE, MB_T_PID, MB_T_REF, MB_T_FUNCTION, MB_T_TAB,
    MB_T_IO,  /* a socket or a port (pid.h) */
    MB_T_ATOM, MB_T_INT64, MB_T_KIND
};
enum { MB_KIND_TUPLE = 1, MB_KIND_LIST = 2, MB_KIND_MAP = 3 };

/* One varint from *pp, at most up to end; advances *pp. -1 if it does not
 * end before end or is longer than 64 bits. */
static inline int mb_varint_get(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    const uint8_t *p = *pp;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end) return -1;
        uint8_t c = *p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            *pp = p;
            return 0;
        }
    }
    return -1;
}

/* A pid's, ref's, table's, socket's or port's value after its tag: its 46
 * bits (pid.h) in MB_ID_BYTES bytes, a 32-bit and a 16-bit word in the
 * host's byte order (terms never leave the host's memory: other nodes get
 * Erlang's format, host/dist). Fixed, not a varint: two moves each way,
 * where a call's pid and ref took 4 and 7 varint bytes, a byte at a time. */
#define MB_ID_BYTES 6

static inline uint8_t *mb_id_put(uint8_t *p, uint64_t v) {
    uint32_t lo = (uint32_t)v;
    uint16_t hi = (uint16_t)(v >> 32);
    memcpy(p, &lo, 4);
    memcpy(p + 4, &hi, 2);
    return p + MB_ID_BYTES;
}

/* One id from *pp, at most up to end; advances *pp. -1 if too short. */
static inline int mb_id_get(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    if (end - p < MB_ID_BYTES) return -1;
    uint32_t lo;
    uint16_t hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + 4, 2);
    *out = (uint64_t)lo | (uint64_t)hi << 32;
    *pp = p + MB_ID_BYTES;
    return 0;
}

/* Signed integers as varints: small magnitudes, either sign, stay short. */
static inline uint64_t mb_zigzag(int64_t i) { return ((uint64_t)i << 1) ^ (uint64_t)(i >> 63); }
static inline int64_t mb_unzigzag(uint64_t z) { return (int64_t)((z >> 1) ^ (~(z & 1) + 1)); }

/* Whether x goes as an integer: whole, within 2^53, and not -0 (which
 * must come back as -0). A cast and a compare, no libm call: every number
 * a message carries is looked at here. */
static inline bool mb_is_int53(double x) {
    return x >= -9007199254740992.0 && x <= 9007199254740992.0 && x == (double)(int64_t)x &&
           !(x == 0 && signbit(x));
}

/* ---- reading ------------------------------------------------------------ */

typedef struct mb_span {
    const uint8_t *p;
    size_t n;
} mb_span;

/* The span of the first value in [p, end), or -1 if malformed. */
int mb_term_first(const uint8_t *p, const uint8_t *end, mb_span *out);
int mb_term_type(mb_span v);                      /* an MB_T_* tag, -1 if empty */
bool mb_term_is_str(mb_span v, const char *s);
/* A string's bytes (not NUL-terminated); false if v is not a string. */
bool mb_term_str(mb_span v, const char **s, size_t *n);
/* A malloc'd NUL-terminated copy of a string value, or NULL. */
char *mb_term_strdup(mb_span v);
bool mb_term_num(mb_span v, double *x);
bool mb_term_id(mb_span v, uint64_t *id);        /* pid, ref, table, socket or port handle */
/* Array part length of a table (0 for a non-table). */
uint32_t mb_term_len(mb_span t);
/* t[i] for 1 <= i <= len (array part); false if absent. */
bool mb_term_index(mb_span t, uint32_t i, mb_span *out);
/* t[key] for a string key in the hash part; false if absent. */
bool mb_term_field(mb_span t, const char *key, mb_span *out);

/* The values of an encoded list (spawn arguments, call arguments): its
 * count, and where the first value starts; -1 if malformed. */
int mb_term_list(const uint8_t *p, const uint8_t *end, uint64_t *count, const uint8_t **first);

/* ---- writing ------------------------------------------------------------ */

int mb_put_string(mb_buf *b, const char *s, size_t n);
int mb_put_id(mb_buf *b, int tag, uint64_t v);     /* MB_T_PID, MB_T_REF, MB_T_TAB or MB_T_IO */
int mb_put_number(mb_buf *b, double x);
int mb_put_bool(mb_buf *b, bool v);
int mb_put_table_head(mb_buf *b, uint32_t narr, uint32_t nhash);
int mb_put_tuple_head(mb_buf *b, unsigned n);      /* an array of n, no hash part */
/* {tag, s}: the two strings and the tuple around them after one room
 * check (a gen_server cast of a string, the common one). */
int mb_put_string_pair(mb_buf *b, const char *tag, size_t tn, const char *s, size_t n);
/* The head of a call's request {label, {pid, ref}[, request]} (n: 2, or 3
 * with a request to follow) after one room check. */
int mb_put_call_head(mb_buf *b, unsigned n, const char *label, size_t ln, uint64_t pid, uint64_t ref);
int mb_put_atom(mb_buf *b, const char *s, size_t n);
int mb_put_int64(mb_buf *b, int64_t v);
int mb_put_kind(mb_buf *b, int kind);              /* a table must follow */

/* A short term held in place: the words and ids the core sends itself (a
 * reason, the pid in a DOWN), with no allocation and nothing to free. */
#define MB_SMALL_TERM 48
typedef struct mb_small_term {
    uint8_t b[MB_SMALL_TERM];
    size_t n;
} mb_small_term;
/* The string s; longer than MB_SMALL_TERM - 2 bytes, it is cut there. */
mb_small_term mb_small_str(const char *s);
/* A pid or a ref (tag MB_T_PID or MB_T_REF). */
mb_small_term mb_small_id(int tag, uint64_t v);

/* Whether an encoded value is exactly the string s. */
int mb_encoded_is(const uint8_t *p, size_t len, const char *s);
/* The same, or the atom s (mb.atom: Erlang's normal and kill are atoms). */
int mb_encoded_name_is(const uint8_t *p, size_t len, const char *s);

#endif
