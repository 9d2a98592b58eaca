/* term.c: reading and writing encoded terms (see term.h). */
#include "term.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Skip one value starting at *pp; depth bounds recursion. */
static int skip(const uint8_t **pp, const uint8_t *end, int depth) {
    const uint8_t *p = *pp;
    uint64_t n, m;
    if (p >= end || depth > MB_MAX_DEPTH) return -1;
    switch (*p++) {
    case MB_T_NIL: case MB_T_FALSE: case MB_T_TRUE: break;
    case MB_T_INT:
        if (mb_varint_get(&p, end, &n)) return -1;
        break;
    case MB_T_PID: case MB_T_REF: case MB_T_TAB: case MB_T_IO:
        if (mb_id_get(&p, end, &n)) return -1;
        break;
    case MB_T_DOUBLE:
        if (end - p < 8) return -1;
        p += 8;
        break;
    case MB_T_INT64:
        if (end - p < 8) return -1;
        p += 8;
        break;
    case MB_T_KIND:
        if (p >= end || *p < MB_KIND_TUPLE || *p > MB_KIND_MAP || p + 1 >= end || p[1] != MB_T_TABLE) return -1;
        p++;
        if (skip(&p, end, depth)) return -1;
        break;
    case MB_T_STRING: case MB_T_FUNCTION: case MB_T_ATOM:
        if (mb_varint_get(&p, end, &n) || n > (uint64_t)(end - p)) return -1;
        p += n;
        break;
    case MB_T_TABLE:
        if (mb_varint_get(&p, end, &n) || mb_varint_get(&p, end, &m)) return -1;
        if (n > (uint64_t)(end - p) || m > (uint64_t)(end - p)) return -1;
        for (uint64_t i = 0; i < n + 2 * m; i++)
            if (skip(&p, end, depth + 1)) return -1;
        break;
    default:
        return -1;
    }
    *pp = p;
    return 0;
}

int mb_term_first(const uint8_t *p, const uint8_t *end, mb_span *out) {
    const uint8_t *q = p;
    if (skip(&q, end, 0)) return -1;
    out->p = p;
    out->n = (size_t)(q - p);
    return 0;
}

int mb_term_type(mb_span v) { return v.n ? v.p[0] : -1; }

bool mb_term_str(mb_span v, const char **s, size_t *n) {
    if (mb_term_type(v) != MB_T_STRING) return false;
    const uint8_t *p = v.p + 1;
    uint64_t len;
    if (mb_varint_get(&p, v.p + v.n, &len)) return false;
    *s = (const char *)p;
    *n = (size_t)len;
    return true;
}

bool mb_term_is_str(mb_span v, const char *s) {
    const char *x;
    size_t n;
    return mb_term_str(v, &x, &n) && n == strlen(s) && memcmp(x, s, n) == 0;
}

char *mb_term_strdup(mb_span v) {
    const char *s;
    size_t n;
    if (!mb_term_str(v, &s, &n)) return NULL;
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

bool mb_term_num(mb_span v, double *x) {
    const uint8_t *p = v.p + 1;
    uint64_t z;
    switch (mb_term_type(v)) {
    case MB_T_INT:
        if (mb_varint_get(&p, v.p + v.n, &z)) return false;
        *x = (double)mb_unzigzag(z);
        return true;
    case MB_T_DOUBLE:
        memcpy(x, p, 8);
        return true;
    default:
        return false;
    }
}

bool mb_term_id(mb_span v, uint64_t *id) {
    int t = mb_term_type(v);
    if (t != MB_T_PID && t != MB_T_REF && t != MB_T_TAB && t != MB_T_IO) return false;
    const uint8_t *p = v.p + 1;
    return mb_id_get(&p, v.p + v.n, id) == 0;
}

/* Table header: counts and the first element. */
static bool table_open(mb_span t, uint64_t *narr, uint64_t *nhash, const uint8_t **first) {
    if (mb_term_type(t) != MB_T_TABLE) return false;
    const uint8_t *p = t.p + 1, *end = t.p + t.n;
    if (mb_varint_get(&p, end, narr) || mb_varint_get(&p, end, nhash)) return false;
    *first = p;
    return true;
}

uint32_t mb_term_len(mb_span t) {
    uint64_t narr, nhash;
    const uint8_t *p;
    return table_open(t, &narr, &nhash, &p) ? (uint32_t)narr : 0;
}

bool mb_term_index(mb_span t, uint32_t i, mb_span *out) {
    uint64_t narr, nhash;
    const uint8_t *p, *end = t.p + t.n;
    *out = (mb_span){NULL, 0};   /* absent reads as empty: no type, no value */
    if (!table_open(t, &narr, &nhash, &p) || i < 1 || i > narr) return false;
    for (uint32_t k = 1; k < i; k++)
        if (skip(&p, end, 1)) return false;
    return mb_term_first(p, end, out) == 0;
}

bool mb_term_field(mb_span t, const char *key, mb_span *out) {
    uint64_t narr, nhash;
    const uint8_t *p, *end = t.p + t.n;
    *out = (mb_span){NULL, 0};
    if (!table_open(t, &narr, &nhash, &p)) return false;
    for (uint64_t k = 0; k < narr; k++)
        if (skip(&p, end, 1)) return false;
    for (uint64_t k = 0; k < nhash; k++) {
        mb_span kv, vv;
        if (mb_term_first(p, end, &kv)) return false;
        p += kv.n;
        if (mb_term_first(p, end, &vv)) return false;
        p += vv.n;
        if (mb_term_is_str(kv, key)) {
            *out = vv;
            return true;
        }
    }
    return false;
}

int mb_put_number(mb_buf *b, double x) {
    if (mb_buf_reserve(b, 1 + MB_VARINT_MAX)) return -1;   /* room for either form, checked once */
    uint8_t *p = b->p + b->len;
    if (mb_is_int53(x)) {
        *p = MB_T_INT;
        b->len += 1 + mb_varint_encode(p + 1, mb_zigzag((int64_t)x));
    } else {
        *p = MB_T_DOUBLE;
        memcpy(p + 1, &x, 8);
        b->len += 9;
    }
    return 0;
}

int mb_put_bool(mb_buf *b, bool v) { return mb_buf_byte(b, v ? MB_T_TRUE : MB_T_FALSE); }

/* The tag and varints below are written after one check for room for
 * them all: these are the encoder's hot path (every value of every
 * message), where a check per byte was a third of their cost. */

/* Writers into room already reserved; each returns where it stopped. */
static inline uint8_t *write_table_head(uint8_t *p, uint64_t narr, uint64_t nhash) {
    *p++ = MB_T_TABLE;
    p += mb_varint_encode(p, narr);
    return p + mb_varint_encode(p, nhash);
}

static inline uint8_t *write_id(uint8_t *p, int tag, uint64_t v) {
    *p++ = (uint8_t)tag;
    return mb_id_put(p, v);
}

static inline uint8_t *write_string(uint8_t *p, const char *s, size_t n) {
    *p++ = MB_T_STRING;
    p += mb_varint_encode(p, n);
    if (n) memcpy(p, s, n);
    return p + n;
}

#define TABLE_HEAD_MAX (1 + 2 * MB_VARINT_MAX)
#define ID_MAX (1 + MB_ID_BYTES)
#define STRING_MAX(n) (1 + MB_VARINT_MAX + (n))

int mb_put_table_head(mb_buf *b, uint32_t narr, uint32_t nhash) {
    if (mb_buf_reserve(b, TABLE_HEAD_MAX)) return -1;
    b->len = (size_t)(write_table_head(b->p + b->len, narr, nhash) - b->p);
    return 0;
}

int mb_put_string(mb_buf *b, const char *s, size_t n) {
    if (n > SIZE_MAX - STRING_MAX(0) || mb_buf_reserve(b, STRING_MAX(n))) return -1;
    b->len = (size_t)(write_string(b->p + b->len, s, n) - b->p);
    return 0;
}

int mb_put_id(mb_buf *b, int tag, uint64_t v) {
    if (mb_buf_reserve(b, ID_MAX)) return -1;
    b->len = (size_t)(write_id(b->p + b->len, tag, v) - b->p);
    return 0;
}

int mb_put_tuple_head(mb_buf *b, unsigned n) { return mb_put_table_head(b, n, 0); }

int mb_put_call_head(mb_buf *b, unsigned n, const char *label, size_t ln, uint64_t pid, uint64_t ref) {
    if (ln > SIZE_MAX / 2 || mb_buf_reserve(b, 2 * TABLE_HEAD_MAX + STRING_MAX(ln) + 2 * ID_MAX)) return -1;
    uint8_t *p = write_table_head(b->p + b->len, n, 0);
    p = write_string(p, label, ln);
    p = write_table_head(p, 2, 0);   /* from: {pid, ref} */
    p = write_id(p, MB_T_PID, pid);
    b->len = (size_t)(write_id(p, MB_T_REF, ref) - b->p);
    return 0;
}

int mb_put_string_pair(mb_buf *b, const char *tag, size_t tn, const char *s, size_t n) {
    if (tn > SIZE_MAX / 4 || n > SIZE_MAX / 4 || mb_buf_reserve(b, TABLE_HEAD_MAX + STRING_MAX(tn) + STRING_MAX(n)))
        return -1;
    uint8_t *p = write_table_head(b->p + b->len, 2, 0);
    p = write_string(p, tag, tn);
    b->len = (size_t)(write_string(p, s, n) - b->p);
    return 0;
}

int mb_encoded_is(const uint8_t *p, size_t len, const char *s) {
    size_t n = strlen(s);
    return n < 128 && len == n + 2 && p[0] == MB_T_STRING && p[1] == n &&
           memcmp(p + 2, s, n) == 0;
}

int mb_encoded_name_is(const uint8_t *p, size_t len, const char *s) {
    size_t n = strlen(s);
    return n < 128 && len == n + 2 && (p[0] == MB_T_STRING || p[0] == MB_T_ATOM) && p[1] == n &&
           memcmp(p + 2, s, n) == 0;
}

int mb_term_list(const uint8_t *p, const uint8_t *end, uint64_t *count, const uint8_t **first) {
    if (mb_varint_get(&p, end, count) || *count > (uint64_t)(end - p)) return -1;
    *first = p;
    return 0;
}

mb_small_term mb_small_str(const char *s) {
    mb_small_term t;
    size_t n = strlen(s);
    if (n > MB_SMALL_TERM - 2) n = MB_SMALL_TERM - 2;   /* so its length is one varint byte */
    t.b[0] = MB_T_STRING;
    t.b[1] = (uint8_t)n;
    memcpy(t.b + 2, s, n);
    t.n = n + 2;
    return t;
}

mb_small_term mb_small_id(int tag, uint64_t v) {
    mb_small_term t;
    t.b[0] = (uint8_t)tag;
    t.n = (size_t)(mb_id_put(t.b + 1, v) - t.b);
    return t;
}

int mb_put_atom(mb_buf *b, const char *s, size_t n) {
    return mb_buf_byte(b, MB_T_ATOM) || mb_buf_varint(b, n) || mb_buf_put(b, s, n);
}

int mb_put_int64(mb_buf *b, int64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)((uint64_t)v >> (8 * i));
    return mb_buf_byte(b, MB_T_INT64) || mb_buf_put(b, x, 8);
}

int mb_put_kind(mb_buf *b, int kind) { return mb_buf_byte(b, MB_T_KIND) || mb_buf_byte(b, (uint8_t)kind); }
