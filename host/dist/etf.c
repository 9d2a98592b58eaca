/* etf.c: Erlang's external term format (see etf.h). */
#include "etf.h"

#include <string.h>

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static size_t left(const mb_etf_rd *r) { return (size_t)(r->end - r->p); }

int mb_etf_peek(const mb_etf_rd *r) { return r->p < r->end ? r->p[0] : -1; }

int mb_etf_version(mb_etf_rd *r) {
    if (mb_etf_peek(r) != MB_ETF_VERSION) return -1;
    r->p++;
    return 0;
}

int mb_etf_tuple(mb_etf_rd *r, uint32_t *arity) {
    int t = mb_etf_peek(r);
    if (t == MB_ETF_SMALL_TUPLE && left(r) >= 2) {
        *arity = r->p[1];
        r->p += 2;
        return 0;
    }
    if (t == MB_ETF_LARGE_TUPLE && left(r) >= 5) {
        *arity = be32(r->p + 1);
        r->p += 5;
        return 0;
    }
    return -1;
}

/* An atom at p: its header length and byte count, or -1. */
static int atom_at(const mb_etf_rd *r, mb_etf_atom *a, size_t *hdr) {
    int t = mb_etf_peek(r);
    size_t h, n;
    if ((t == MB_ETF_SMALL_ATOM_UTF8 || t == MB_ETF_SMALL_ATOM) && left(r) >= 2) h = 2, n = r->p[1];
    else if ((t == MB_ETF_ATOM_UTF8 || t == MB_ETF_ATOM) && left(r) >= 3) h = 3, n = be16(r->p + 1);
    else return -1;
    if (n > left(r) - h || n > 4 * MB_ETF_MAX_ATOM) return -1;
    a->s = (const char *)r->p + h;
    a->n = n;
    *hdr = h;
    return 0;
}

int mb_etf_atom_get(mb_etf_rd *r, mb_etf_atom *a) {
    size_t h;
    if (atom_at(r, a, &h)) return -1;
    r->p += h + a->n;
    return 0;
}

bool mb_etf_is_atom(const mb_etf_rd *r, const char *s) {
    mb_etf_atom a;
    size_t h;
    return atom_at(r, &a, &h) == 0 && a.n == strlen(s) && memcmp(a.s, s, a.n) == 0;
}

int mb_etf_int(mb_etf_rd *r, int64_t *v) {
    int t = mb_etf_peek(r);
    if (t == MB_ETF_SMALL_INT && left(r) >= 2) {
        *v = r->p[1];
        r->p += 2;
        return 0;
    }
    if (t == MB_ETF_INT && left(r) >= 5) {
        *v = (int32_t)be32(r->p + 1);
        r->p += 5;
        return 0;
    }
    if (t != MB_ETF_SMALL_BIG || left(r) < 3) return -1;
    size_t n = r->p[1];
    int sign = r->p[2];
    if (n > left(r) - 3 || sign > 1) return -1;
    uint64_t m = 0;
    for (size_t i = n; i-- > 0;) {   /* little-endian digits */
        if (m >> 56) return -1;
        m = m << 8 | r->p[3 + i];
    }
    if (sign ? m > (uint64_t)1 << 63 : m > (uint64_t)INT64_MAX) return -1;
    *v = sign ? (int64_t)(0 - m) : (int64_t)m;
    r->p += 3 + n;
    return 0;
}

int mb_etf_pid_get(mb_etf_rd *r, mb_etf_pid *pid) {
    mb_etf_rd q = *r;
    int t = mb_etf_peek(&q);
    if (t != MB_ETF_NEW_PID && t != MB_ETF_PID) return -1;
    q.p++;
    size_t tail = t == MB_ETF_NEW_PID ? 12 : 9;
    if (mb_etf_atom_get(&q, &pid->node) || left(&q) < tail) return -1;
    pid->id = be32(q.p);
    pid->serial = be32(q.p + 4);
    pid->creation = t == MB_ETF_NEW_PID ? be32(q.p + 8) : q.p[8];
    r->p = q.p + tail;
    return 0;
}

int mb_etf_ref_get(mb_etf_rd *r, mb_etf_ref *ref) {
    mb_etf_rd q = *r;
    int t = mb_etf_peek(&q);
    if ((t != MB_ETF_NEWER_REF && t != MB_ETF_NEW_REF) || left(&q) < 3) return -1;
    uint32_t n = be16(q.p + 1);
    q.p += 3;
    size_t cr = t == MB_ETF_NEWER_REF ? 4 : 1;
    if (n < 1 || n > MB_ETF_MAX_REF_WORDS || mb_etf_atom_get(&q, &ref->node) || left(&q) < cr + 4 * n)
        return -1;
    ref->creation = cr == 4 ? be32(q.p) : q.p[0];
    q.p += cr;
    ref->nwords = (int)n;
    for (uint32_t i = 0; i < n; i++) ref->words[i] = be32(q.p + 4 * i);
    r->p = q.p + 4 * n;
    return 0;
}

/* The bytes of the fixed part of the term at q (its tag included) and how
 * many sub-terms follow it; -1 if unknown or short. */
static int head_of(const mb_etf_rd *q, size_t *len, uint64_t *subs) {
    size_t n = left(q);
    const uint8_t *p = q->p;
    mb_etf_atom a;
    size_t h;
    *subs = 0;
    switch (p[0]) {
    case MB_ETF_SMALL_INT: *len = 2; break;
    case MB_ETF_INT: *len = 5; break;
    case MB_ETF_NEW_FLOAT: *len = 9; break;
    case MB_ETF_FLOAT: *len = 32; break;
    case MB_ETF_NIL: *len = 1; break;
    case MB_ETF_ATOM: case MB_ETF_ATOM_UTF8: case MB_ETF_SMALL_ATOM: case MB_ETF_SMALL_ATOM_UTF8:
        if (atom_at(q, &a, &h)) return -1;
        *len = h + a.n;
        break;
    case MB_ETF_SMALL_TUPLE:
        if (n < 2) return -1;
        *len = 2, *subs = p[1];
        break;
    case MB_ETF_LARGE_TUPLE:
        if (n < 5) return -1;
        *len = 5, *subs = be32(p + 1);
        break;
    case MB_ETF_LIST:
        if (n < 5) return -1;
        *len = 5, *subs = (uint64_t)be32(p + 1) + 1;   /* the elements and the tail */
        break;
    case MB_ETF_MAP:
        if (n < 5) return -1;
        *len = 5, *subs = 2 * (uint64_t)be32(p + 1);
        break;
    case MB_ETF_STRING:
        if (n < 3) return -1;
        *len = 3 + be16(p + 1);
        break;
    case MB_ETF_BINARY:
        if (n < 5) return -1;
        *len = 5 + (size_t)be32(p + 1);
        break;
    case MB_ETF_BIT_BINARY:
        if (n < 6) return -1;
        *len = 6 + (size_t)be32(p + 1);
        break;
    case MB_ETF_SMALL_BIG:
        if (n < 2) return -1;
        *len = 3 + (size_t)p[1];
        break;
    case MB_ETF_LARGE_BIG:
        if (n < 5) return -1;
        *len = 6 + (size_t)be32(p + 1);
        break;
    case MB_ETF_NEW_FUN:   /* Size counts itself and what follows, not the tag */
        if (n < 5) return -1;
        *len = 1 + (size_t)be32(p + 1);
        break;
    case MB_ETF_EXPORT: *len = 1, *subs = 3; break;
    default: {
        /* Pids, ports and refs: a node atom, then fixed fields. */
        mb_etf_rd at = {p + 1, q->end};
        size_t tail;
        switch (p[0]) {
        case MB_ETF_NEW_PID: tail = 12; break;
        case MB_ETF_PID: tail = 9; break;
        case MB_ETF_NEW_PORT: tail = 8; break;
        case MB_ETF_PORT: tail = 5; break;
        case MB_ETF_V4_PORT: tail = 12; break;
        case MB_ETF_NEWER_REF: case MB_ETF_NEW_REF: {
            if (n < 3) return -1;
            mb_etf_ref ref;
            at.p = p;
            if (mb_etf_ref_get(&at, &ref)) return -1;
            *len = (size_t)(at.p - p);
            return 0;
        }
        default: return -1;
        }
        if (atom_at(&at, &a, &h)) return -1;
        *len = 1 + h + a.n + tail;
    }
    }
    return *len <= n ? 0 : -1;
}

int mb_etf_skip(mb_etf_rd *r) {
    mb_etf_rd q = *r;
    uint64_t pending = 1;   /* terms still to skip */
    while (pending > 0) {
        size_t len;
        uint64_t subs;
        if (q.p >= q.end || head_of(&q, &len, &subs)) return -1;
        q.p += len;
        /* Every sub-term takes a byte at least: more than are left is a lie. */
        if (subs > left(&q)) return -1;
        pending += subs - 1;
    }
    r->p = q.p;
    return 0;
}

int mb_etf_span(mb_etf_rd *r, const uint8_t **p, size_t *n) {
    const uint8_t *start = r->p;
    if (mb_etf_skip(r)) return -1;
    *p = start;
    *n = (size_t)(r->p - start);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

static int put16(mb_buf *b, uint32_t v) {
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return mb_buf_put(b, x, 2);
}
static int put32(mb_buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return mb_buf_put(b, x, 4);
}
static int tag32(mb_buf *b, uint8_t tag, uint32_t v) { return mb_buf_byte(b, tag) || put32(b, v); }

int mb_etf_put_version(mb_buf *b) { return mb_buf_byte(b, MB_ETF_VERSION); }

int mb_etf_put_tuple(mb_buf *b, uint32_t arity) {
    if (arity < 256) return mb_buf_byte(b, MB_ETF_SMALL_TUPLE) || mb_buf_byte(b, (uint8_t)arity);
    return tag32(b, MB_ETF_LARGE_TUPLE, arity);
}

int mb_etf_put_atom(mb_buf *b, const char *s, size_t n) {
    if (!mb_etf_atom_fits(s, n)) return -1;
    if (n < 256) {
        if (mb_buf_byte(b, MB_ETF_SMALL_ATOM_UTF8) || mb_buf_byte(b, (uint8_t)n)) return -1;
    } else if (mb_buf_byte(b, MB_ETF_ATOM_UTF8) || put16(b, (uint32_t)n)) {
        return -1;
    }
    return mb_buf_put(b, s, n);
}

int mb_etf_put_int(mb_buf *b, int64_t v) {
    if (v >= 0 && v < 256) return mb_buf_byte(b, MB_ETF_SMALL_INT) || mb_buf_byte(b, (uint8_t)v);
    if (v >= INT32_MIN && v <= INT32_MAX) return tag32(b, MB_ETF_INT, (uint32_t)(int32_t)v);
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    uint8_t digits[8];
    uint8_t n = 0;
    for (; m; m >>= 8) digits[n++] = (uint8_t)m;
    return mb_buf_byte(b, MB_ETF_SMALL_BIG) || mb_buf_byte(b, n) || mb_buf_byte(b, v < 0) ||
           mb_buf_put(b, digits, n);
}

int mb_etf_put_float(mb_buf *b, double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return mb_buf_byte(b, MB_ETF_NEW_FLOAT) || put32(b, (uint32_t)(u >> 32)) || put32(b, (uint32_t)u);
}

int mb_etf_put_binary(mb_buf *b, const void *p, size_t n) {
    if (n > UINT32_MAX) return -1;
    return tag32(b, MB_ETF_BINARY, (uint32_t)n) || mb_buf_put(b, p, n);
}

int mb_etf_put_nil(mb_buf *b) { return mb_buf_byte(b, MB_ETF_NIL); }
int mb_etf_put_list(mb_buf *b, uint32_t n) { return tag32(b, MB_ETF_LIST, n); }
int mb_etf_put_map(mb_buf *b, uint32_t pairs) { return tag32(b, MB_ETF_MAP, pairs); }

int mb_etf_put_pid(mb_buf *b, const mb_etf_pid *pid) {
    return mb_buf_byte(b, MB_ETF_NEW_PID) || mb_etf_put_atom(b, pid->node.s, pid->node.n) ||
           put32(b, pid->id) || put32(b, pid->serial) || put32(b, pid->creation);
}

int mb_etf_put_ref(mb_buf *b, const mb_etf_ref *ref) {
    if (ref->nwords < 1 || ref->nwords > MB_ETF_MAX_REF_WORDS) return -1;
    if (mb_buf_byte(b, MB_ETF_NEWER_REF) || put16(b, (uint32_t)ref->nwords) ||
        mb_etf_put_atom(b, ref->node.s, ref->node.n) || put32(b, ref->creation))
        return -1;
    for (int i = 0; i < ref->nwords; i++)
        if (put32(b, ref->words[i])) return -1;
    return 0;
}
