/* registry_api.c: the C half of moonbeam.registry (lua/moonbeam/registry.lua):
 * a registry's entries, in its partitions (shared tables: a "set" for unique
 * keys, a "duplicate_bag" for duplicate ones), each bound to the process
 * that registered it (host/core/tabbind.h), so it goes at that process's
 * death. parts is the array of the partitions' handles; a key lives in the
 * partition its hash picks. Each call returns false when the registry's
 * tables are gone (the Lua side looks the registry up again). Errors read
 * "<call>: <what>", the call the user made given as argument 4
 * ("registry.dispatch", or "send" for a via name), else registry.<op>. */
#include <string.h>
#include "bindings.h"
#include "core/tabbind.h"
#include "core/table.h"
#include "core/tabkey.h"

#define MAX_PARTS 1024

typedef struct parts { uint64_t h[MAX_PARTS]; size_t n; } parts;

static void check_parts(lua_State *L, const char *fn, parts *ps) {
    size_t n = lua_type(L, 1) == LUA_TTABLE ? lua_objlen(L, 1) : 0;
    if (n < 1 || n > MAX_PARTS) mbb_raisef(L, "%s: not a registry's partitions", fn);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (int)i + 1);
        uint64_t h = lua_type(L, -1) == LUA_TLIGHTUSERDATA ? (uint64_t)(uintptr_t)lua_touserdata(L, -1) : 0;
        lua_pop(L, 1);
        if (mb_value_kind(h) != MB_VALUE_TABLE) mbb_raisef(L, "%s: not a registry's partitions", fn);
        ps->h[i] = h;
    }
    ps->n = n;
}

/* The call to name in errors: argument 4 when a string, else dflt. */
static const char *call_name(lua_State *L, const char *dflt) {
    return lua_type(L, 4) == LUA_TSTRING ? lua_tostring(L, 4) : dflt;
}

/* Encode the value at idx at the end of self->scratch (nothing for nil
 * when may_be_nil); its offset. */
static size_t encode_at(lua_State *L, mb_proc *self, int idx, const char *fn, const char *what, bool may_be_nil) {
    size_t at = self->scratch.len;
    if (lua_isnoneornil(L, idx)) {
        if (!may_be_nil) mbb_raisef(L, "%s: the %s is nil", fn, what);
        return at;
    }
    mb_encode_err err;
    size_t max = atomic_load_explicit(&self->rt->max_message_size, memory_order_relaxed);
    if (mb_encode(L, idx, what, &self->scratch, max, &err)) mbb_raisef(L, "%s: %s", fn, err.msg);
    return at;
}

/* The key at idx, canonical, in self->scratch from the returned offset to
 * its end (scratch emptied first). */
static size_t key_arg(lua_State *L, mb_proc *self, int idx, const char *fn) {
    self->scratch.len = 0;
    size_t raw = encode_at(L, self, idx, fn, "key", false);
    size_t at = self->scratch.len;
    const char *why = "not a key";
    int rc = mb_tabkey_canon((mb_span){self->scratch.p + raw, at - raw}, &self->scratch, &why);
    if (rc == -2) mbb_raisef(L, "%s: out of memory", fn);
    if (rc) mbb_raisef(L, "%s: bad key: %s", fn, why);
    return at;
}

/* The key's partition: bits the table's own shards and buckets don't use. */
static uint64_t part_of(const parts *ps, mb_span key) {
    return ps->h[(mb_tabkey_hash(key.p, key.n) >> 20) % ps->n];
}

/* The partition for an operation, or NULL when it is gone. The reference
 * is the process's cache's (host/core/tabcache.h). */
static mb_table *acquire(lua_State *L, mb_proc *self, uint64_t h, const char *fn) {
    mb_table *t = NULL;
    int rc = mb_table_use(self, h, true, &t);
    if (rc == MB_TAB_ENOTAB) return NULL;
    if (rc) mbb_raisef(L, "%s: %s", fn, mb_tab_strerror(rc));
    return t;
}

/* An array of the count terms in out. */
static int push_array(lua_State *L, const mb_buf *out, size_t count) {
    lua_createtable(L, (int)count, 0);
    const uint8_t *q = out->p, *end = out->p + out->len;
    for (size_t i = 0; i < count; i++) {
        mbb_push_stored(L, &q, end);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* The key (argument 2) and the value (3, may be nil: n == 0), checked. */
static void key_value(lua_State *L, mb_proc *self, const char *fn, mb_span *key, mb_span *value) {
    size_t k = key_arg(L, self, 2, fn);
    size_t v = encode_at(L, self, 3, fn, "value", true);
    const char *why = "";
    *key = (mb_span){self->scratch.p + k, v - k};
    *value = (mb_span){self->scratch.p + v, self->scratch.len - v};
    if (mb_tabval_check(*value, &why)) mbb_raisef(L, "%s: bad value: %s", fn, why);
}

static int gone(lua_State *L) {
    lua_pushboolean(L, 0);
    return 1;
}

/* A partition deleted since it was found (its registry stopped) is gone
 * as one not found. */
static int failed(lua_State *L, const char *fn, int rc) {
    if (rc == MB_TAB_ENOTAB) return gone(L);
    return mbb_raisef(L, "%s: %s", fn, mb_tab_strerror(rc));
}

/* core.reg_register(parts, key, [value]) -> true | nil, holder | false */
static int l_register(lua_State *L) {
    mb_proc *self = mbb_self(L);
    const char *fn = call_name(L, "registry.register");
    parts ps;
    check_parts(L, fn, &ps);
    mb_span key, value;
    key_value(L, self, fn, &key, &value);
    mb_table *t = acquire(L, self, part_of(&ps, key), fn);
    if (!t) return gone(L);
    mb_pid holder;
    int rc = mb_tab_bind_insert(self, t, key, value, t->store.type == MB_TAB_SET, &holder);
    if (rc) return failed(L, fn, rc);
    if (!holder) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    mbb_push_pid(L, holder);
    return 2;
}

/* core.reg_unregister(parts, key) -> true | false */
static int l_unregister(lua_State *L) {
    mb_proc *self = mbb_self(L);
    const char *fn = call_name(L, "registry.unregister");
    parts ps;
    check_parts(L, fn, &ps);
    size_t k = key_arg(L, self, 2, fn);
    mb_span key = {self->scratch.p + k, self->scratch.len - k};
    mb_table *t = acquire(L, self, part_of(&ps, key), fn);
    if (!t) return gone(L);
    int rc = mb_tab_unbind(self, t, key);
    if (rc) return failed(L, fn, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.reg_lookup(parts, key) -> {{pid, value}, ...} | false */
static int l_lookup(lua_State *L) {
    mb_proc *self = mbb_self(L);
    const char *fn = call_name(L, "registry.lookup");
    parts ps;
    check_parts(L, fn, &ps);
    size_t k = key_arg(L, self, 2, fn);
    mb_span key = {self->scratch.p + k, self->scratch.len - k};
    mb_table *t = acquire(L, self, part_of(&ps, key), fn);
    if (!t) return gone(L);
    size_t count;
    mb_buf *out = mbb_tab_out(L);
    int rc = mb_tabstore_lookup(&t->store, key, out, &count);
    if (rc) {
        mbb_tab_out_done(L, out);
        return failed(L, fn, rc);
    }
    push_array(L, out, count);
    mbb_tab_out_done(L, out);
    return 1;
}

/* core.reg_update(parts, key, [value]) -> true | nil (not the caller's) | false */
static int l_update(lua_State *L) {
    mb_proc *self = mbb_self(L);
    const char *fn = call_name(L, "registry.update_value");
    parts ps;
    check_parts(L, fn, &ps);
    mb_span key, value;
    key_value(L, self, fn, &key, &value);
    mb_table *t = acquire(L, self, part_of(&ps, key), fn);
    if (!t) return gone(L);
    int rc = mb_tab_bound_update(self, t, key, value);
    if (rc == MB_TAB_EMISSING) {
        lua_pushnil(L);
        return 1;
    }
    if (rc) return failed(L, fn, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* Whether every partition is still there (a registry's tables go together). */
static bool alive(mb_proc *self, const parts *ps) {
    mb_table_info info;
    return mb_table_info_of(self->rt, ps->h[0], &info);
}

/* core.reg_keys(parts, pid) -> {key, ...} | false */
static int l_keys(lua_State *L) {
    mb_proc *self = mbb_self(L);
    const char *fn = call_name(L, "registry.keys");
    parts ps;
    check_parts(L, fn, &ps);
    mb_pid pid = mbb_check_pid(L, 2, fn);
    if (!alive(self, &ps)) return gone(L);
    size_t count;
    mb_buf *out = mbb_tab_out(L);
    if (mb_tab_bound_keys(self->rt, pid, ps.h, ps.n, out, &count)) {
        mbb_tab_out_done(L, out);
        return mbb_raisef(L, "%s: out of memory", fn);
    }
    push_array(L, out, count);
    mbb_tab_out_done(L, out);
    return 1;
}

/* core.reg_count(parts) -> n | false */
static int l_count(lua_State *L) {
    mb_proc *self = mbb_self(L);
    const char *fn = call_name(L, "registry.count");
    parts ps;
    check_parts(L, fn, &ps);
    size_t total = 0;
    for (size_t i = 0; i < ps.n; i++) {
        mb_table *t = acquire(L, self, ps.h[i], fn);
        if (!t) return gone(L);
        size_t size, bytes;
        if (mb_tabstore_stats(&t->store, &size, &bytes)) return gone(L);
        total += size;
    }
    lua_pushnumber(L, (lua_Number)total);
    return 1;
}

/* core.reg_via_kind(parts or nil, key, fn) -> "unique" | "duplicate" |
 * false (no partitions, or they are gone): what a via name's registry is
 * now, from its tables (a cached layout may be a stopped registry's, of
 * the other kind); raises "<fn>: bad key: ..." for a key no table takes. */
static int l_via_kind(lua_State *L) {
    mb_proc *self = mbb_self(L);
    const char *fn = luaL_checkstring(L, 3);
    key_arg(L, self, 2, fn);
    if (lua_isnil(L, 1)) return gone(L);
    parts ps;
    check_parts(L, fn, &ps);
    mb_table *t = acquire(L, self, ps.h[0], fn);
    if (!t) return gone(L);
    bool unique = t->store.type == MB_TAB_SET;
    lua_pushstring(L, unique ? "unique" : "duplicate");
    return 1;
}

const luaL_Reg mbb_registry_fns[] = {
        {"reg_register", l_register}, {"reg_unregister", l_unregister}, {"reg_lookup", l_lookup},
        {"reg_update", l_update}, {"reg_keys", l_keys}, {"reg_count", l_count}, {"reg_via_kind", l_via_kind},
        {NULL, NULL}};
