/* tabkey.c: validating, canonicalizing, ordering and hashing table keys
 * (see tabkey.h). Every function here reads terms that mb_term_first has
 * already bounded, but still checks each read: nothing reads past a span. */
#include "tabkey.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Where an ordering puts a tag. */
static int rank(int tag) {
    switch (tag) {
    case MB_T_INT: case MB_T_DOUBLE: return 0;
    case MB_T_STRING: return 1;
    case MB_T_FALSE: case MB_T_TRUE: return 2;
    case MB_T_PID: return 3;
    case MB_T_REF: return 4;
    case MB_T_TAB: return 5;
    case MB_T_IO: return 6;
    case MB_T_TABLE: return 7;
    default: return 8;
    }
}

/* A table's counts and where its elements start. */
static int table_head(mb_span t, uint64_t *narr, uint64_t *nhash, const uint8_t **first) {
    const uint8_t *p = t.p + 1, *end = t.p + t.n;
    if (mb_varint_get(&p, end, narr) || mb_varint_get(&p, end, nhash)) return -1;
    *first = p;
    return 0;
}

/* The value at *pp (within t), advancing *pp past it. */
static int next_elem(const uint8_t **pp, mb_span t, mb_span *out) {
    if (mb_term_first(*pp, t.p + t.n, out)) return -1;
    *pp += out->n;
    return 0;
}

static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }

static int cmp_tables(mb_span a, mb_span b) {
    uint64_t an, ah, bn, bh;
    const uint8_t *pa, *pb;
    if (table_head(a, &an, &ah, &pa) || table_head(b, &bn, &bh, &pb)) return 0;
    uint64_t common = an < bn ? an : bn;
    for (uint64_t i = 0; i < common; i++) {
        mb_span x, y;
        if (next_elem(&pa, a, &x) || next_elem(&pb, b, &y)) return 0;
        int c = mb_term_cmp(x, y);
        if (c) return c;
    }
    if (an != bn) return cmp_u64(an, bn);
    if (ah != bh) return cmp_u64(ah, bh);
    for (uint64_t i = 0; i < 2 * ah; i++) {   /* canonical values: pairs in key order */
        mb_span x, y;
        if (next_elem(&pa, a, &x) || next_elem(&pb, b, &y)) return 0;
        int c = mb_term_cmp(x, y);
        if (c) return c;
    }
    return 0;
}

int mb_term_cmp(mb_span a, mb_span b) {
    int ta = mb_term_type(a), tb = mb_term_type(b);
    int ra = rank(ta), rb = rank(tb);
    if (ra != rb) return ra < rb ? -1 : 1;
    switch (ra) {
    case 0: {
        double x = 0, y = 0;
        mb_term_num(a, &x);
        mb_term_num(b, &y);
        return x < y ? -1 : x > y;
    }
    case 1: {
        const char *x, *y;
        size_t xn, yn;
        if (!mb_term_str(a, &x, &xn) || !mb_term_str(b, &y, &yn)) return 0;
        int c = memcmp(x, y, xn < yn ? xn : yn);
        return c ? (c < 0 ? -1 : 1) : cmp_u64(xn, yn);
    }
    case 2: return ta == tb ? 0 : ta == MB_T_FALSE ? -1 : 1;
    case 3: case 4: case 5: case 6: {
        uint64_t x = 0, y = 0;
        mb_term_id(a, &x);
        mb_term_id(b, &y);
        return cmp_u64(x, y);
    }
    case 7: return cmp_tables(a, b);
    default: {   /* functions: by bytes, only so the order is total */
        int c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
        return c ? (c < 0 ? -1 : 1) : cmp_u64(a.n, b.n);
    }
    }
}

static int key_canon(mb_span k, mb_buf *out, const char **why, int depth) {
    double x;
    switch (mb_term_type(k)) {
    case MB_T_DOUBLE:
        memcpy(&x, k.p + 1, 8);
        if (isnan(x)) {
            *why = "NaN cannot be a key";
            return -1;
        }
        if (x == 0) return mb_put_number(out, 0) ? -2 : 0;   /* -0.0 and 0: one key */
        return mb_buf_put(out, k.p, k.n) ? -2 : 0;
    case MB_T_INT: case MB_T_STRING: case MB_T_FALSE: case MB_T_TRUE:
    case MB_T_PID: case MB_T_REF: case MB_T_TAB: case MB_T_IO:
        return mb_buf_put(out, k.p, k.n) ? -2 : 0;
    case MB_T_TABLE: {
        uint64_t n, h;
        const uint8_t *p;
        if (depth >= MB_MAX_DEPTH || table_head(k, &n, &h, &p)) {
            *why = "a key nested too deep";
            return -1;
        }
        if (h) {
            *why = "a table key must be an array (no other keys)";
            return -1;
        }
        if (mb_put_tuple_head(out, (unsigned)n)) return -2;
        for (uint64_t i = 0; i < n; i++) {
            mb_span e;
            if (next_elem(&p, k, &e)) return -1;
            int rc = key_canon(e, out, why, depth + 1);
            if (rc) return rc;
        }
        return 0;
    }
    case MB_T_FUNCTION:
        *why = "a function cannot be a key";
        return -1;
    case MB_T_ATOM:
        *why = "an atom cannot be a key";
        return -1;
    case MB_T_INT64:
        *why = "an int64_t cannot be a key (a number can)";
        return -1;
    case MB_T_KIND:
        *why = "a tuple, list or map cannot be a key (an array can)";
        return -1;
    default:
        *why = "not a key";
        return -1;
    }
}

typedef int (*canon_fn)(mb_span, mb_buf *, const char **, int);

/* canon(src) onto out, or out as it was. src may be bytes of out itself
 * (the bindings encode the raw term into the buffer its canonical form
 * follows it in), which out's growth would move while they are read:
 * canonicalized from a copy then. */
static int canon_onto(canon_fn canon, mb_span src, mb_buf *out, const char **why) {
    uint8_t small[256], *copy = NULL;
    uintptr_t s = (uintptr_t)src.p, b = (uintptr_t)out->p;
    if (out->p && s >= b && s < b + out->cap) {
        copy = src.n <= sizeof small ? small : malloc(src.n);
        if (!copy) return -2;
        memcpy(copy, src.p, src.n);
        src.p = copy;
    }
    size_t at = out->len;
    int rc = canon(src, out, why, 0);
    if (rc) out->len = at;
    if (copy != small) free(copy);
    return rc;
}

int mb_tabkey_canon(mb_span key, mb_buf *out, const char **why) { return canon_onto(key_canon, key, out, why); }

typedef struct pair { mb_span k, v; } pair;

static int pair_cmp(const void *a, const void *b) {
    return mb_term_cmp(((const pair *)a)->k, ((const pair *)b)->k);
}

static int val_canon(mb_span v, mb_buf *out, const char **why, int depth) {
    int t = mb_term_type(v);
    if (t == MB_T_FUNCTION) {
        *why = "a function cannot be stored";
        return -1;
    }
    if (t != MB_T_TABLE) return mb_buf_put(out, v.p, v.n) ? -2 : 0;
    uint64_t n, h;
    const uint8_t *p;
    if (depth >= MB_MAX_DEPTH || table_head(v, &n, &h, &p)) {
        *why = "a value nested too deep";
        return -1;
    }
    if (mb_put_table_head(out, (uint32_t)n, (uint32_t)h)) return -2;
    for (uint64_t i = 0; i < n; i++) {
        mb_span e;
        if (next_elem(&p, v, &e)) return -1;
        int rc = val_canon(e, out, why, depth + 1);
        if (rc) return rc;
    }
    if (!h) return 0;
    pair *ps = malloc(h * sizeof *ps);
    if (!ps) return -2;
    int rc = 0;
    for (uint64_t i = 0; i < h && !rc; i++)
        if (next_elem(&p, v, &ps[i].k) || next_elem(&p, v, &ps[i].v)) rc = -1;
    if (!rc) qsort(ps, h, sizeof *ps, pair_cmp);
    for (uint64_t i = 0; i < h && !rc; i++) {
        rc = val_canon(ps[i].k, out, why, depth + 1);
        if (!rc) rc = val_canon(ps[i].v, out, why, depth + 1);
    }
    free(ps);
    return rc;
}

int mb_tabval_canon(mb_span v, mb_buf *out, const char **why) {
    *why = "a malformed value";
    return canon_onto(val_canon, v, out, why);
}

/* Functions hide at any depth: look at every value once. */
int mb_tabval_check(mb_span v, const char **why) {
    int t = mb_term_type(v);
    if (t == MB_T_FUNCTION) {
        *why = "a function cannot be stored";
        return -1;
    }
    if (t != MB_T_TABLE) return 0;
    uint64_t n, h;
    const uint8_t *p;
    if (table_head(v, &n, &h, &p)) return -1;
    for (uint64_t i = 0; i < n + 2 * h; i++) {
        mb_span e;
        if (next_elem(&p, v, &e) || mb_tabval_check(e, why)) return -1;
    }
    return 0;
}

uint64_t mb_tabkey_hash(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 33;   /* the finalizer of splitmix64: FNV's high bits are weak */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}
