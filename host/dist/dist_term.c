/* dist_term.c: Erlang's terms to moonbeam's and back (see dist_term.h).
 * Both walks are recursive and bounded by MB_MAX_DEPTH. */
#include "dist_term.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXACT 9007199254740992.0   /* 2^53: beyond it integers travel as int64 */

/* ---- pids and refs ------------------------------------------------------ */

static bool is_self(const mb_dist_self *me, mb_etf_atom node) {
    return node.n == strlen(me->node) && memcmp(node.s, me->node, node.n) == 0;
}

mb_pid mb_dist_pid_of(const mb_dist_self *me, const mb_etf_pid *p) {
    if (is_self(me, p->node) && p->creation == me->creation && p->id < MB_MAX_SLOTS && p->serial != 0 &&
        p->serial <= MB_LOCAL_SERIAL_MASK)
        return mb_pid_make(p->id, p->serial);
    long node = mb_nodetab_node(me->tab, p->node.s, p->node.n);
    if (node < 0) return 0;
    mb_remote r = {(uint32_t)node, p->creation, 2, {p->id, p->serial}, false};
    return mb_nodetab_pid(me->tab, &r);
}

/* The third word of our refs on the wire: 0, or this one for a call's
 * tag (mb_dist_put_call_tag), so that its answer is known for one. */
#define CALL_TAG_WORD 0x63616c6cu   /* "call" */

/* Whether e is one of our refs, third word w (0 or CALL_TAG_WORD). */
static bool own_ref(const mb_dist_self *me, const mb_etf_ref *e, uint32_t w) {
    return is_self(me, e->node) && e->creation == me->creation && e->nwords == 3 && e->words[2] == w &&
           e->words[1] < (1u << 11);
}

bool mb_dist_is_call_tag(const mb_dist_self *me, const mb_etf_ref *e) { return own_ref(me, e, CALL_TAG_WORD); }

mb_ref mb_dist_ref_of(const mb_dist_self *me, const mb_etf_ref *e) {
    /* Our own refs go out as three words: the counter's low 32 bits, its
     * high 11, and 0 or CALL_TAG_WORD (mb_dist_put_ref, mb_dist_put_call_tag). */
    if (own_ref(me, e, 0) || own_ref(me, e, CALL_TAG_WORD))
        return MB_REF_BIT | (uint64_t)e->words[1] << 32 | e->words[0];
    long node = mb_nodetab_node(me->tab, e->node.s, e->node.n);
    if (node < 0) return 0;
    mb_remote r = {(uint32_t)node, e->creation, e->nwords, {0}, false};
    memcpy(r.words, e->words, (size_t)e->nwords * sizeof r.words[0]);
    return mb_nodetab_ref(me->tab, &r);
}

/* A remote value's node name and what it stands for. */
static int remote(const mb_dist_self *me, uint64_t v, mb_remote *r, char node[MB_ETF_MAX_ATOM * 4 + 1]) {
    if (!mb_nodetab_get(me->tab, v, r) || !mb_nodetab_node_name(me->tab, r->node, node, MB_ETF_MAX_ATOM * 4 + 1))
        return -1;
    return 0;
}

int mb_dist_put_pid(const mb_dist_self *me, mb_buf *b, mb_pid pid) {
    if (!mb_pid_is_remote(pid)) {
        mb_etf_pid p = {{me->node, strlen(me->node)}, mb_pid_slot(pid), mb_pid_serial(pid), me->creation};
        return mb_etf_put_pid(b, &p);
    }
    char node[MB_ETF_MAX_ATOM * 4 + 1];
    mb_remote r;
    if (remote(me, pid, &r, node)) return -1;
    mb_etf_pid p = {{node, strlen(node)}, r.words[0], r.words[1], r.creation};
    return mb_etf_put_pid(b, &p);
}

/* One of our refs on the wire, its third word w. */
static int put_own_ref(const mb_dist_self *me, mb_buf *b, mb_ref ref, uint32_t w) {
    uint64_t n = ref & MB_LOCAL_REF_MASK;
    mb_etf_ref e = {{me->node, strlen(me->node)}, me->creation, 3, {(uint32_t)n, (uint32_t)(n >> 32), w}};
    return mb_etf_put_ref(b, &e);
}

int mb_dist_put_call_tag(const mb_dist_self *me, mb_buf *b, mb_ref ref) {
    return put_own_ref(me, b, ref, CALL_TAG_WORD);
}

int mb_dist_put_ref(const mb_dist_self *me, mb_buf *b, mb_ref ref) {
    if (!mb_ref_is_remote(ref)) return put_own_ref(me, b, ref, 0);
    char node[MB_ETF_MAX_ATOM * 4 + 1];
    mb_remote r;
    if (remote(me, ref, &r, node)) return -1;
    mb_etf_ref e = {{node, strlen(node)}, r.creation, r.nwords, {0}};
    memcpy(e.words, r.words, sizeof e.words);
    return mb_etf_put_ref(b, &e);
}

int mb_dist_put_tag(const mb_dist_self *me, mb_buf *b, mb_ref ref) {
    mb_remote r;
    if (mb_ref_is_remote(ref) && mb_nodetab_get(me->tab, ref, &r) && r.alias_tag) {
        /* [alias | Ref]: an improper list of one element, the ref its tail */
        if (mb_etf_put_list(b, 1) || mb_etf_put_atom(b, "alias", 5)) return -1;
        r.alias_tag = false;
        ref = mb_nodetab_ref(me->tab, &r);
        if (!ref) return -1;
    }
    return mb_dist_put_ref(me, b, ref);
}

bool mb_dist_alias_of(const mb_dist_self *me, mb_ref ref, mb_ref *alias) {
    mb_remote r;
    if (!mb_ref_is_remote(ref) || !mb_nodetab_get(me->tab, ref, &r) || !r.alias_tag) return false;
    r.alias_tag = false;
    *alias = mb_nodetab_ref(me->tab, &r);
    return *alias != 0;
}

mb_ref mb_dist_tag_of(const mb_dist_self *me, mb_etf_rd *r) {
    mb_etf_rd q = *r;
    bool alias = false;
    if (mb_etf_peek(&q) == MB_ETF_LIST && q.end - q.p >= 5 && q.p[1] == 0 && q.p[2] == 0 && q.p[3] == 0 &&
        q.p[4] == 1) {
        q.p += 5;
        if (!mb_etf_is_atom(&q, "alias") || mb_etf_skip(&q)) return 0;
        alias = true;
    }
    mb_etf_ref e;
    if (mb_etf_ref_get(&q, &e)) return 0;
    mb_ref v = mb_dist_ref_of(me, &e);
    if (alias && v) {
        /* Our own refs never come back as an alias tag: only another node's. */
        long node = mb_nodetab_node(me->tab, e.node.s, e.node.n);
        if (node < 0) return 0;
        mb_remote rr = {(uint32_t)node, e.creation, e.nwords, {0}, true};
        memcpy(rr.words, e.words, (size_t)e.nwords * sizeof rr.words[0]);
        v = mb_nodetab_ref(me->tab, &rr);
    }
    *r = q;
    return v;
}

/* ---- Erlang to moonbeam ------------------------------------------------- */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int fail(const char **why, const char *what) {
    *why = what;
    return -1;
}

static int from(const mb_dist_self *me, mb_etf_rd *r, mb_buf *b, const char **why, int depth);

/* n elements, then (for a list) the tail, which must be [] */
static int elements(const mb_dist_self *me, mb_etf_rd *r, mb_buf *b, const char **why, int depth, uint32_t n,
                    int kind) {
    /* At most MB_MAX_DEPTH containers, as a moonbeam message holds: one
     * more was taken, and no receive could read it (term.h). */
    if (depth >= MB_MAX_DEPTH) return fail(why, "a term nested too deep");
    if (n > (size_t)(r->end - r->p)) return fail(why, "malformed");
    if (mb_put_kind(b, kind) || mb_put_table_head(b, kind == MB_KIND_MAP ? 0 : n, kind == MB_KIND_MAP ? n : 0))
        return fail(why, "out of memory");
    uint64_t values = kind == MB_KIND_MAP ? 2 * (uint64_t)n : n;
    for (uint64_t i = 0; i < values; i++)
        if (from(me, r, b, why, depth + 1)) return -1;
    if (kind == MB_KIND_LIST) {
        if (mb_etf_peek(r) != MB_ETF_NIL) return fail(why, "an improper list");
        r->p++;
    }
    return 0;
}

static int from(const mb_dist_self *me, mb_etf_rd *r, mb_buf *b, const char **why, int depth) {
    if (depth > MB_MAX_DEPTH) return fail(why, "a term nested too deep");
    int tag = mb_etf_peek(r);
    size_t left = (size_t)(r->end - r->p);
    int64_t i;
    uint32_t n;
    mb_etf_atom a;
    switch (tag) {
    case MB_ETF_SMALL_INT: case MB_ETF_INT: case MB_ETF_SMALL_BIG:
        if (mb_etf_int(r, &i)) return fail(why, tag == MB_ETF_SMALL_BIG ? "an integer beyond int64" : "malformed");
        if (i >= -(int64_t)MAX_EXACT && i <= (int64_t)MAX_EXACT) return mb_put_number(b, (double)i) ? fail(why, "out of memory") : 0;
        return mb_put_int64(b, i) ? fail(why, "out of memory") : 0;
    case MB_ETF_LARGE_BIG: return fail(why, "an integer beyond int64");
    case MB_ETF_NEW_FLOAT: {
        if (left < 9) return fail(why, "malformed");
        uint64_t u = (uint64_t)be32(r->p + 1) << 32 | be32(r->p + 5);
        double x;
        memcpy(&x, &u, sizeof x);
        r->p += 9;
        return mb_put_number(b, x) ? fail(why, "out of memory") : 0;
    }
    case MB_ETF_FLOAT: {
        if (left < 32) return fail(why, "malformed");
        char s[32];
        memcpy(s, r->p + 1, 31);
        s[31] = '\0';
        r->p += 32;
        return mb_put_number(b, strtod(s, NULL)) ? fail(why, "out of memory") : 0;
    }
    case MB_ETF_ATOM: case MB_ETF_ATOM_UTF8: case MB_ETF_SMALL_ATOM: case MB_ETF_SMALL_ATOM_UTF8:
        if (mb_etf_atom_get(r, &a)) return fail(why, "malformed");
        if (a.n == 4 && memcmp(a.s, "true", 4) == 0) return mb_put_bool(b, true) ? fail(why, "out of memory") : 0;
        if (a.n == 5 && memcmp(a.s, "false", 5) == 0) return mb_put_bool(b, false) ? fail(why, "out of memory") : 0;
        return mb_put_atom(b, a.s, a.n) ? fail(why, "out of memory") : 0;
    case MB_ETF_BINARY:
        if (left < 5 || be32(r->p + 1) > left - 5) return fail(why, "malformed");
        n = be32(r->p + 1);
        if (mb_put_string(b, (const char *)r->p + 5, n)) return fail(why, "out of memory");
        r->p += 5 + n;
        return 0;
    case MB_ETF_SMALL_TUPLE: case MB_ETF_LARGE_TUPLE:
        if (mb_etf_tuple(r, &n)) return fail(why, "malformed");
        return elements(me, r, b, why, depth, n, MB_KIND_TUPLE);
    case MB_ETF_NIL:
        r->p++;
        return mb_put_kind(b, MB_KIND_LIST) || mb_put_table_head(b, 0, 0) ? fail(why, "out of memory") : 0;
    case MB_ETF_STRING: {   /* a list of bytes, packed */
        if (left < 3) return fail(why, "malformed");
        n = (uint32_t)r->p[1] << 8 | r->p[2];
        if (n > left - 3) return fail(why, "malformed");
        if (mb_put_kind(b, MB_KIND_LIST) || mb_put_table_head(b, n, 0)) return fail(why, "out of memory");
        for (uint32_t k = 0; k < n; k++)
            if (mb_put_number(b, r->p[3 + k])) return fail(why, "out of memory");
        r->p += 3 + n;
        return 0;
    }
    case MB_ETF_LIST:
        if (left < 5) return fail(why, "malformed");
        n = be32(r->p + 1);
        r->p += 5;
        return elements(me, r, b, why, depth, n, MB_KIND_LIST);
    case MB_ETF_MAP:
        if (left < 5) return fail(why, "malformed");
        n = be32(r->p + 1);
        r->p += 5;
        return elements(me, r, b, why, depth, n, MB_KIND_MAP);
    case MB_ETF_NEW_PID: case MB_ETF_PID: {
        mb_etf_pid p;
        if (mb_etf_pid_get(r, &p)) return fail(why, "malformed");
        mb_pid v = mb_dist_pid_of(me, &p);
        return !v || mb_put_id(b, MB_T_PID, v) ? fail(why, "out of memory") : 0;
    }
    case MB_ETF_NEWER_REF: case MB_ETF_NEW_REF: {
        mb_etf_ref e;
        if (mb_etf_ref_get(r, &e)) return fail(why, "malformed");
        mb_ref v = mb_dist_ref_of(me, &e);
        return !v || mb_put_id(b, MB_T_REF, v) ? fail(why, "out of memory") : 0;
    }
    case MB_ETF_BIT_BINARY: return fail(why, "a bitstring");
    case MB_ETF_NEW_FUN: case MB_ETF_EXPORT: case MB_ETF_FUN: return fail(why, "a fun");
    case MB_ETF_NEW_PORT: case MB_ETF_PORT: case MB_ETF_V4_PORT: return fail(why, "a port");
    default: return fail(why, "malformed");
    }
}

int mb_dist_from_etf(const mb_dist_self *me, mb_etf_rd *r, mb_buf *b, const char **why) {
    return from(me, r, b, why, 0);
}

int mb_dist_from_etf_at(const mb_dist_self *me, mb_etf_rd *r, mb_buf *b, const char **why, int depth) {
    return from(me, r, b, why, depth);
}

/* ---- moonbeam to Erlang ------------------------------------------------- */

static int to(const mb_dist_self *me, const uint8_t **pp, const uint8_t *end, mb_buf *b, const char **why,
              int depth);

/* A table (at *pp, its tag next) as kind (0: by its shape). */
static int table(const mb_dist_self *me, const uint8_t **pp, const uint8_t *end, mb_buf *b, const char **why,
                 int depth, int kind) {
    const uint8_t *p = *pp + 1;
    uint64_t narr, nhash;
    if (mb_varint_get(&p, end, &narr) || mb_varint_get(&p, end, &nhash) || narr > UINT32_MAX ||
        nhash > UINT32_MAX || narr + nhash > UINT32_MAX)
        return fail(why, "malformed");
    if (!kind) kind = narr >= 1 && nhash == 0 ? MB_KIND_LIST : MB_KIND_MAP;
    if (kind != MB_KIND_MAP && nhash) return fail(why, kind == MB_KIND_TUPLE ? "a tuple with keys other than 1..n" : "a list with keys other than 1..n");
    int bad = kind == MB_KIND_TUPLE ? mb_etf_put_tuple(b, (uint32_t)narr)
              : kind == MB_KIND_LIST ? (narr ? mb_etf_put_list(b, (uint32_t)narr) : 0)
                                     : mb_etf_put_map(b, (uint32_t)(narr + nhash));
    if (bad) return fail(why, "out of memory");
    *pp = p;
    for (uint64_t i = 1; i <= narr; i++) {
        if (kind == MB_KIND_MAP && mb_etf_put_int(b, (int64_t)i)) return fail(why, "out of memory");
        if (to(me, pp, end, b, why, depth + 1)) return -1;
    }
    for (uint64_t i = 0; i < 2 * nhash; i++)
        if (to(me, pp, end, b, why, depth + 1)) return -1;
    if (kind == MB_KIND_LIST && mb_etf_put_nil(b)) return fail(why, "out of memory");
    return 0;
}

static int to(const mb_dist_self *me, const uint8_t **pp, const uint8_t *end, mb_buf *b, const char **why,
              int depth) {
    const uint8_t *p = *pp;
    uint64_t v;
    if (p >= end || depth > MB_MAX_DEPTH) return fail(why, "malformed");
    int tag = *p++;
    switch (tag) {
    case MB_T_FALSE: case MB_T_TRUE:
        *pp = p;
        return mb_etf_put_atom(b, tag == MB_T_TRUE ? "true" : "false", tag == MB_T_TRUE ? 4 : 5)
                   ? fail(why, "out of memory") : 0;
    case MB_T_INT:
        if (mb_varint_get(&p, end, &v)) return fail(why, "malformed");
        *pp = p;
        return mb_etf_put_int(b, mb_unzigzag(v)) ? fail(why, "out of memory") : 0;
    case MB_T_INT64: {
        if (end - p < 8) return fail(why, "malformed");
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--) u = u << 8 | p[i];
        *pp = p + 8;
        return mb_etf_put_int(b, (int64_t)u) ? fail(why, "out of memory") : 0;
    }
    case MB_T_DOUBLE: {
        double x;
        if (end - p < 8) return fail(why, "malformed");
        memcpy(&x, p, 8);
        if (!isfinite(x)) return fail(why, "NaN or an infinity");
        *pp = p + 8;
        return mb_etf_put_float(b, x) ? fail(why, "out of memory") : 0;
    }
    case MB_T_STRING: case MB_T_ATOM:
        if (mb_varint_get(&p, end, &v) || v > (uint64_t)(end - p)) return fail(why, "malformed");
        *pp = p + v;
        if (tag == MB_T_ATOM)
            return mb_etf_put_atom(b, (const char *)p, (size_t)v) ? fail(why, "an atom longer than 255 characters") : 0;
        return mb_etf_put_binary(b, p, (size_t)v) ? fail(why, "out of memory") : 0;
    case MB_T_PID: case MB_T_REF:
        if (mb_id_get(&p, end, &v)) return fail(why, "malformed");
        *pp = p;
        if ((tag == MB_T_PID ? mb_dist_put_pid(me, b, v) : mb_dist_put_ref(me, b, v)))
            return fail(why, "a remote pid or ref this node no longer knows");
        return 0;
    case MB_T_TABLE:
        return table(me, pp, end, b, why, depth, 0);
    case MB_T_KIND:
        if (p >= end) return fail(why, "malformed");
        *pp = p + 1;
        return table(me, pp, end, b, why, depth, *p);
    case MB_T_FUNCTION: return fail(why, "a function");
    case MB_T_TAB: return fail(why, "a shared table handle");
    case MB_T_IO: return fail(why, "a socket or port handle");
    default: return fail(why, "malformed");
    }
}

int mb_dist_to_etf(const mb_dist_self *me, mb_span v, mb_buf *b, const char **why) {
    const uint8_t *p = v.p;
    return to(me, &p, v.p + v.n, b, why, 0);
}
