/* codec.c: encode a Lua value into the message format, decode it into
 * another state. See codec.h for the format and the trust rules. */
#include "codec.h"
#include "term_kinds.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef LUA_TCDATA
#define LUA_TCDATA 10   /* LuaJIT's type tag for FFI cdata */
#endif

/* ---- encoding ---------------------------------------------------------- */

typedef struct enc {
    lua_State *L;
    mb_buf *b;
    size_t start, max;           /* the message's first byte in b, and its limit */
    mb_encode_err *err;
    char path[160];              /* built while unwinding from a failure */
    char head[64];               /* the two outermost segments, when path had no room left for them */
    const void *open[MB_MAX_DEPTH + 1];   /* tables on the current path */
} enc;

static void enc_path_reset(enc *e) { e->path[0] = e->head[0] = '\0'; }

static int enc_fail(enc *e, const char *what) {
    snprintf(e->err->msg, sizeof e->err->msg, "%s", what);
    enc_path_reset(e);
    return -1;
}

/* Prepend one path segment for the key at stack index kidx. */
static void enc_prepend_key(enc *e, int kidx) {
    lua_State *L = e->L;
    char seg[64];
    if (lua_type(L, kidx) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, kidx, &n);
        int ident = n > 0 && n < 40 && !(s[0] >= '0' && s[0] <= '9');
        for (size_t i = 0; ident && i < n; i++) {
            char c = s[i];
            ident = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9');
        }
        if (ident) snprintf(seg, sizeof seg, ".%.*s", (int)n, s);
        else snprintf(seg, sizeof seg, "[\"%.*s\"]", (int)(n < 40 ? n : 40), s);
    } else if (lua_type(L, kidx) == LUA_TNUMBER) {
        snprintf(seg, sizeof seg, "[%.14g]", lua_tonumber(L, kidx));
    } else {
        snprintf(seg, sizeof seg, "[<%s key>]", lua_typename(L, lua_type(L, kidx)));
    }
    size_t sl = strlen(seg), pl = strlen(e->path);
    if (sl + pl + 1 > sizeof e->path) {   /* deep paths keep their tail, and their head: */
        size_t first = 1;                  /* its two outermost segments (agent.lua names req[3][i]) */
        while (e->head[first] && e->head[first] != '[' && e->head[first] != '.') first++;
        if (!e->head[0]) first = 0;
        char was[sizeof e->head];
        memcpy(was, e->head, sizeof was);
        if (first > 32) first = 32;
        snprintf(e->head, sizeof e->head, "%.31s%.*s", seg, (int)first, was);
        return;
    }
    memmove(e->path + sl, e->path, pl + 1);
    memcpy(e->path, seg, sl);
}

static int enc_room(enc *e) {
    if (e->b->len - e->start > e->max) {
        snprintf(e->err->msg, sizeof e->err->msg,
                 "message larger than the limit of %zu bytes", e->max);
        e->err->why = MB_ENC_TOO_LARGE;
        enc_path_reset(e);
        return -1;
    }
    return 0;
}

static int enc_oom(enc *e) {
    enc_fail(e, "out of memory while encoding");
    e->err->why = MB_ENC_NOMEM;
    return -1;
}

static int dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
    (void)L;
    return mb_buf_put(ud, p, n);
}

static int enc_value(enc *e, int idx, int depth);

/* Whether the metatable on top of the stack is an error table's
 * (moonbeam.util's failure: __name "moonbeam.error"). Such a table is a
 * plain tuple that prints as words; it travels as its contents, like a
 * crash reason it ends up in. */
static int is_error_table_meta(lua_State *L) {
    lua_pushliteral(L, "__name");
    lua_rawget(L, -2);
    size_t n;
    const char *name = lua_tolstring(L, -1, &n);
    int yes = lua_type(L, -1) == LUA_TSTRING && n == sizeof "moonbeam.error" - 1 &&
              memcmp(name, "moonbeam.error", n) == 0;
    lua_pop(L, 1);
    return yes;
}

/* Whether the key at idx is one of 1..narr, sent as the array part. */
static inline int in_array_part(lua_State *L, int idx, size_t narr) {
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
    lua_Number k = lua_tonumber(L, idx);
    return k >= 1 && k <= (lua_Number)narr && k == (lua_Number)(size_t)k;
}

static int enc_table(enc *e, int idx, int depth) {
    lua_State *L = e->L;
    /* Its raw contents would arrive without the behaviour (a proxy with
     * __index would arrive empty). The runtime's own values (pids, refs)
     * are light userdata, never tables, so they are not affected. */
    if (!lua_checkstack(L, 4)) return enc_oom(e);
    if (lua_getmetatable(L, idx)) {
        int is_error = is_error_table_meta(L);
        lua_pop(L, 1);
        /* Atoms, and tables that remember an Erlang kind (term_kinds.h). */
        int kind = is_error ? 0 : mbb_term_meta(L, idx);
        if (kind == MBB_ATOM) {
            lua_getfield(L, idx, "name");
            size_t n;
            const char *name = lua_tolstring(L, -1, &n);
            int bad = !name || mb_put_atom(e->b, name, n);
            lua_pop(L, 1);
            return bad ? enc_fail(e, "a broken atom") : 0;
        }
        if (kind && mb_put_kind(e->b, kind)) return enc_oom(e);
        if (!is_error && !kind) return enc_fail(e, "cannot send a table with a metatable");
    }
    const void *t = lua_topointer(L, idx);
    for (int i = 0; i < depth; i++)
        if (e->open[i] == t) return enc_fail(e, "cannot send a table that contains itself (a cycle)");
    if (depth >= MB_MAX_DEPTH) {
        snprintf(e->err->msg, sizeof e->err->msg,
                 "cannot send tables nested deeper than %d levels", MB_MAX_DEPTH);
        enc_path_reset(e);
        return -1;
    }
    e->open[depth] = t;

    /* The array part is 1..n with no holes; everything else is a pair. */
    size_t narr = 0;
    for (;;) {
        lua_rawgeti(L, idx, (int)narr + 1);
        int nil = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (nil) break;
        narr++;
    }
    size_t nhash = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!in_array_part(L, -1, narr)) nhash++;
    }
    if (mb_buf_byte(e->b, MB_T_TABLE) || mb_buf_varint(e->b, narr) ||
        mb_buf_varint(e->b, nhash))
        return enc_oom(e);

    for (size_t i = 1; i <= narr; i++) {
        lua_rawgeti(L, idx, (int)i);
        int rc = enc_value(e, lua_gettop(L), depth + 1);
        if (rc) {
            lua_pushnumber(L, (lua_Number)i);
            enc_prepend_key(e, -1);
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    if (nhash == 0) return 0;   /* an array: no second walk */
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int top = lua_gettop(L);   /* value at top, key below it */
        if (in_array_part(L, top - 1, narr)) {
            lua_pop(L, 1);
            continue;
        }
        if (enc_value(e, top - 1, depth + 1)) {
            char keyerr[256];
            snprintf(keyerr, sizeof keyerr, "a key: %.200s", e->err->msg);
            snprintf(e->err->msg, sizeof e->err->msg, "%s", keyerr);
            enc_prepend_key(e, top - 1);
            lua_pop(L, 2);
            return -1;
        }
        if (enc_value(e, top, depth + 1)) {
            enc_prepend_key(e, top - 1);
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

static int enc_function(enc *e, int idx) {
    lua_State *L = e->L;
    if (lua_iscfunction(L, idx)) return enc_fail(e, "cannot send a C function");
    if (lua_getupvalue(L, idx, 1) != NULL) {
        lua_pop(L, 1);
        return enc_fail(e, "cannot send a function with upvalues");
    }
    size_t at = e->b->len;
    if (mb_buf_byte(e->b, MB_T_FUNCTION)) return enc_oom(e);
    mb_buf code;
    mb_buf_init(&code);
    lua_pushvalue(L, idx);
    int rc = lua_dump(L, dump_writer, &code);
    lua_pop(L, 1);
    if (rc || mb_buf_varint(e->b, code.len) || mb_buf_put(e->b, code.p, code.len)) {
        mb_buf_free(&code);
        e->b->len = at;
        return enc_fail(e, "cannot dump the function's bytecode");
    }
    mb_buf_free(&code);
    return 0;
}

/* The value at idx, whose type is known (the first value's is looked at
 * once, by mb_encode). */
static int enc_typed(enc *e, int idx, int depth, int type) {
    lua_State *L = e->L;
    switch (type) {
    case LUA_TBOOLEAN:
        if (mb_buf_byte(e->b, lua_toboolean(L, idx) ? MB_T_TRUE : MB_T_FALSE)) return enc_oom(e);
        return 0;
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        if (mb_is_int53(d)) {
            int64_t i = (int64_t)d;
            uint64_t z = mb_zigzag(i);
            if (mb_buf_byte(e->b, MB_T_INT) || mb_buf_varint(e->b, z)) return enc_oom(e);
        } else {
            uint8_t raw[8];
            memcpy(raw, &d, 8);
            if (mb_buf_byte(e->b, MB_T_DOUBLE) || mb_buf_put(e->b, raw, 8)) return enc_oom(e);
        }
        return 0;
    }
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        if (n > e->max || e->b->len - e->start + n > e->max) {   /* before copying */
            snprintf(e->err->msg, sizeof e->err->msg,
                     "message larger than the limit of %zu bytes", e->max);
            e->err->why = MB_ENC_TOO_LARGE;
            enc_path_reset(e);
            return -1;
        }
        if (mb_put_string(e->b, s, n)) return enc_oom(e);
        return enc_room(e);
    }
    case LUA_TTABLE:
        if (enc_table(e, idx, depth)) return -1;
        return enc_room(e);
    case LUA_TLIGHTUSERDATA: {
        uint64_t v = (uint64_t)(uintptr_t)lua_touserdata(L, idx);
        mb_value_kind_t kind = mb_value_kind(v);
        if (kind == MB_VALUE_OTHER) return enc_fail(e, "cannot send a light userdata");
        int tag = kind == MB_VALUE_PID ? MB_T_PID : kind == MB_VALUE_REF ? MB_T_REF : kind == MB_VALUE_TABLE ? MB_T_TAB : MB_T_IO;
        if (kind == MB_VALUE_REF) mb_codec_ref_sent(v);
        if (mb_put_id(e->b, tag, v)) return enc_oom(e);
        return 0;
    }
    case LUA_TFUNCTION:
        if (enc_function(e, idx)) return -1;
        return enc_room(e);
    case LUA_TNIL: return enc_fail(e, "cannot send nil");
    case LUA_TUSERDATA: return enc_fail(e, "cannot send a userdata");
    case LUA_TTHREAD: return enc_fail(e, "cannot send a coroutine");
    case LUA_TCDATA: {
        int64_t v;
        if (mbb_int64_of(L, idx, &v)) return enc_fail(e, "cannot send a cdata other than int64_t");
        return mb_put_int64(e->b, v) ? enc_oom(e) : 0;
    }
    default: return enc_fail(e, "cannot send a value of this type");
    }
}

static int enc_value(enc *e, int idx, int depth) { return enc_typed(e, idx, depth, lua_type(e->L, idx)); }

static void enc_finish_error(enc *e, const char *root) {
    char full[sizeof e->err->msg];
    /* A path too long to show keeps its first two segments (which argument
     * or field of the root: callers rename "req[2]" after what the user gave)
     * and its last 90 bytes, from a segment's start. */
    const char *path = e->path, *cut = e->head[0] ? "..." : "";
    size_t pl = strlen(path);
    if (pl > 90) {
        path += pl - 90;
        while (*path && *path != '[' && *path != '.') path++;
        cut = "...";
    }
    snprintf(full, sizeof full, "%.40s%.32s%.3s%.90s: %.86s", root, e->head, cut, path, e->err->msg);
    memcpy(e->err->msg, full, sizeof full);
}

/* The value at idx, of that type, appended to b, as part of a message that
 * began at start in b (a list's values are one message, under one limit). */
static int encode_part(lua_State *L, int idx, int type, const char *root, mb_buf *b, size_t start,
                       size_t max_size, mb_encode_err *err) {
    /* Fields set one by one: an initializer would zero path and open, a
     * kilobyte, on every message (open is read only below the depth reached). */
    enc e;
    size_t from = b->len;
    e.L = L;
    e.b = b;
    e.start = start;
    e.max = max_size;
    e.err = err;
    enc_path_reset(&e);
    err->why = MB_ENC_REFUSED;
    if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
    if (enc_typed(&e, idx, 0, type)) {
        enc_finish_error(&e, root);
        b->len = from;
        return -1;
    }
    return 0;
}

/* -1 with err saying memory ran out, under root (NULL: no path). */
static int encode_oom(mb_encode_err *err, const char *root) {
    if (root) snprintf(err->msg, sizeof err->msg, "%.48s: out of memory while encoding", root);
    else snprintf(err->msg, sizeof err->msg, "out of memory while encoding");
    err->why = MB_ENC_NOMEM;
    return -1;
}

int mb_encode(lua_State *L, int idx, const char *root, mb_buf *b,
              size_t max_size, mb_encode_err *err) {
    return mb_encode_typed(L, idx, lua_type(L, idx), root, b, max_size, err);
}

int mb_encode_typed(lua_State *L, int idx, int type, const char *root, mb_buf *b,
                    size_t max_size, mb_encode_err *err) {
    /* A number, the commonest message (a counter, a token), is written at
     * once, without the walk's context (its path, its error state): a ring
     * hop 1,981 -> 1,959 instructions. (No size limit is checked for a
     * number: nine bytes at most.) The type is looked at once, here. */
    if (type == LUA_TNUMBER) {
        size_t from = b->len;
        if (!mb_put_number(b, lua_tonumber(L, idx))) return 0;
        b->len = from;
        return encode_oom(err, root);
    }
    return encode_part(L, idx, type, root, b, b->len, max_size, err);
}

int mb_encode_list(lua_State *L, int idx, int n, const char *root, mb_buf *b,
                   size_t max_size, mb_encode_err *err) {
    size_t start = b->len;
    err->why = MB_ENC_REFUSED;
    if (mb_buf_varint(b, (uint64_t)n)) return encode_oom(err, NULL);
    for (int i = 0; i < n; i++) {
        int type = lua_type(L, idx + i);
        if (type == LUA_TNIL) {
            if (mb_buf_byte(b, MB_T_NIL)) {
                b->len = start;
                return encode_oom(err, NULL);
            }
            continue;
        }
        if (encode_part(L, idx + i, type, root, b, start, max_size, err)) {
            err->item = i;
            b->len = start;
            return -1;
        }
    }
    return 0;
}

/* ---- decoding ---------------------------------------------------------- */

typedef struct dec {
    lua_State *L;
    const uint8_t *p, *end;
    int allow_functions;
} dec;

static int dec_varint(dec *d, uint64_t *out) { return mb_varint_get(&d->p, d->end, out); }

static int dec_value(dec *d, int depth, int allow_nil);

/* A boolean or a number after its tag: pushed, 0; -1 if malformed; 1 when
 * tag is none of them (nothing pushed). Pushes nothing that allocates. */
static int dec_scalar(dec *d, uint8_t tag) {
    uint64_t v;
    switch (tag) {
    case MB_T_FALSE: lua_pushboolean(d->L, 0); return 0;
    case MB_T_TRUE: lua_pushboolean(d->L, 1); return 0;
    case MB_T_INT:
        if (dec_varint(d, &v)) return -1;
        lua_pushnumber(d->L, (lua_Number)mb_unzigzag(v));
        return 0;
    case MB_T_DOUBLE: {
        double x;
        if (d->end - d->p < 8) return -1;
        memcpy(&x, d->p, 8);
        d->p += 8;
        lua_pushnumber(d->L, x);
        return 0;
    }
    default:
        return 1;
    }
}

static int dec_table(dec *d, int depth) {
    lua_State *L = d->L;
    uint64_t narr, nhash;
    if (depth >= MB_MAX_WRAPPED_DEPTH || dec_varint(d, &narr) || dec_varint(d, &nhash)) return -1;
    size_t left = (size_t)(d->end - d->p);   /* every value takes a byte or more */
    if (narr > left || nhash > left / 2 || narr + nhash * 2 > left) return -1;
    if (!lua_checkstack(L, 4)) return -1;
    lua_createtable(L, (int)narr, (int)nhash);
    for (uint64_t i = 1; i <= narr; i++) {
        if (dec_value(d, depth + 1, 0)) return -1;
        lua_rawseti(L, -2, (int)i);
    }
    for (uint64_t i = 0; i < nhash; i++) {
        if (dec_value(d, depth + 1, 0)) return -1;
        if (lua_type(L, -1) == LUA_TNUMBER && isnan(lua_tonumber(L, -1))) return -1;
        if (dec_value(d, depth + 1, 0)) return -1;
        lua_rawset(L, -3);
    }
    return 0;
}

static int dec_value(dec *d, int depth, int allow_nil) {
    lua_State *L = d->L;
    if (d->p >= d->end) return -1;
    uint8_t tag = *d->p++;
    uint64_t v;
    switch (tag) {
    case MB_T_NIL:
        if (!allow_nil) return -1;
        lua_pushnil(L);
        return 0;
    case MB_T_FALSE:
    case MB_T_TRUE:
    case MB_T_INT:
    case MB_T_DOUBLE:
        return dec_scalar(d, tag);
    case MB_T_ATOM: {
        uint64_t n;
        if (dec_varint(d, &n) || n > (uint64_t)(d->end - d->p)) return -1;
        mbb_push_atom(L, (const char *)d->p, (size_t)n);
        d->p += n;
        return 0;
    }
    case MB_T_INT64: {
        if (d->end - d->p < 8) return -1;
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--) v = v << 8 | d->p[i];
        d->p += 8;
        mbb_push_int64(L, (int64_t)v);
        return 0;
    }
    case MB_T_KIND: {
        if (d->end - d->p < 2 || d->p[0] < MB_KIND_TUPLE || d->p[0] > MB_KIND_MAP || d->p[1] != MB_T_TABLE)
            return -1;
        int kind = d->p[0];
        d->p += 2;
        if (dec_table(d, depth)) return -1;
        mbb_set_kind(L, -1, kind);
        return 0;
    }
    case MB_T_STRING:
        if (dec_varint(d, &v) || v > (uint64_t)(d->end - d->p)) return -1;
        lua_pushlstring(L, (const char *)d->p, (size_t)v);
        d->p += v;
        return 0;
    case MB_T_TABLE:
        return dec_table(d, depth);
    case MB_T_PID:
    case MB_T_REF:
    case MB_T_TAB:
        if (mb_id_get(&d->p, d->end, &v) || mb_value_kind(v) != (tag == MB_T_PID   ? MB_VALUE_PID
                                                      : tag == MB_T_REF ? MB_VALUE_REF
                                                                        : MB_VALUE_TABLE))
            return -1;
        lua_pushlightuserdata(L, (void *)(uintptr_t)v);
        return 0;
    case MB_T_IO:
        if (mb_id_get(&d->p, d->end, &v) || (mb_value_kind(v) != MB_VALUE_SOCKET && mb_value_kind(v) != MB_VALUE_PORT))
            return -1;
        lua_pushlightuserdata(L, (void *)(uintptr_t)v);
        return 0;
    case MB_T_FUNCTION:
        if (!d->allow_functions || dec_varint(d, &v) || v > (uint64_t)(d->end - d->p) || v < 4)
            return -1;
        if (d->p[0] != 0x1b || d->p[1] != 'L' || d->p[2] != 'J') return -1;
        if (luaL_loadbuffer(L, (const char *)d->p, (size_t)v, "=message")) {
            lua_pop(L, 1);
            return -1;
        }
        d->p += v;
        return 0;
    default:
        return -1;
    }
}

int mb_decode(lua_State *L, const uint8_t *p, size_t len, int allow_functions) {
    dec d = {L, p, p + len, allow_functions};
    int top = lua_gettop(L);
    if (dec_value(&d, 0, 0) || d.p != d.end) {
        lua_settop(L, top);
        return -1;
    }
    return 0;
}

/* Whether the next bytes are a table head of narr array values and no
 * pairs; consumed if so. */
static int dec_tuple_head(dec *d, uint64_t narr) {
    const uint8_t *at = d->p;
    uint64_t n, h;
    if (d->p < d->end && *d->p++ == MB_T_TABLE && !dec_varint(d, &n) && n == narr && !dec_varint(d, &h) && h == 0)
        return 1;
    d->p = at;
    return 0;
}

/* Whether the next bytes are the string s (n bytes); consumed if so. */
static int dec_is_string(dec *d, const char *s, size_t n) {
    if (n >= 128 || d->end - d->p < (ptrdiff_t)(2 + n) || d->p[0] != MB_T_STRING || d->p[1] != n ||
        memcmp(d->p + 2, s, n) != 0)
        return 0;
    d->p += 2 + n;
    return 1;
}

/* from, request of a call whose tag has been read: {pid, ref} then one value. */
static int dec_call_rest(dec *d) {
    lua_State *L = d->L;
    uint64_t pid, ref;
    if (!dec_tuple_head(d, 2) || d->p >= d->end || *d->p++ != MB_T_PID || mb_id_get(&d->p, d->end, &pid) ||
        mb_value_kind(pid) != MB_VALUE_PID || d->p >= d->end || *d->p++ != MB_T_REF || mb_id_get(&d->p, d->end, &ref) ||
        mb_value_kind(ref) != MB_VALUE_REF)
        return 0;   /* some other 3-tuple: the message as it is */
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 4)) return -1;
    lua_pushlightuserdata(L, (void *)(uintptr_t)pid);
    lua_pushlightuserdata(L, (void *)(uintptr_t)ref);
    if (dec_value(d, 1, 0) || d->p != d->end) {
        lua_settop(L, top);
        return -1;
    }
    return MB_REQUEST_CALL;
}

int mb_decode_request(lua_State *L, const uint8_t *p, size_t len, int allow_functions) {
    static const char call[] = "$gen_call", cast[] = "$gen_cast";
    dec d = {L, p, p + len, allow_functions};
    if (dec_tuple_head(&d, 3)) return dec_is_string(&d, call, sizeof call - 1) ? dec_call_rest(&d) : 0;
    if (!dec_tuple_head(&d, 2) || !dec_is_string(&d, cast, sizeof cast - 1)) return 0;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 4)) return -1;
    if (dec_value(&d, 1, 0) || d.p != d.end) {
        lua_settop(L, top);
        return -1;
    }
    lua_pushnil(L);
    lua_pushnil(L);
    return MB_REQUEST_CAST;
}

int mb_decode_scalar(lua_State *L, const uint8_t *p, size_t len) {
    dec d = {L, p, p + len, 0};
    if (len == 0 || dec_scalar(&d, *d.p++) != 0) return 0;
    if (d.p == d.end) return 1;
    lua_pop(L, 1);   /* more after it: not one value */
    return 0;
}

int mb_decode_list(lua_State *L, const uint8_t *p, size_t len, int allow_functions) {
    dec d = {L, p, p + len, allow_functions};
    int top = lua_gettop(L);
    uint64_t n;
    if (dec_varint(&d, &n) || n > len || !lua_checkstack(L, (int)n + 4)) return -1;
    for (uint64_t i = 0; i < n; i++) {
        if (dec_value(&d, 0, 1)) {
            lua_settop(L, top);
            return -1;
        }
    }
    if (d.p != d.end) {
        lua_settop(L, top);
        return -1;
    }
    return (int)n;
}
