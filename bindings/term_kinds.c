/* term_kinds.c: Erlang's kinds of values as Lua values (docs/reference.md,
 * "Nodes"): atoms (mb.atom: one table per name and state, interned, so ==
 * and table keys work; never a string), tables that remember whether they
 * were a tuple, a list or a map (a metatable named for the kind, holding
 * no behaviour), and integers beyond 2^53 as int64_t cdata. The codec
 * (codec.c) carries them between states; host/dist maps them to Erlang's
 * terms. Errors are raised with luaL_error, so that the codec's fuzz target
 * links this file without the rest of the bindings. */
#include <lualib.h>
#include <string.h>
#include "bindings.h"
#include "term_kinds.h"
#include "dist/etf.h"

static const char *const kind_names[] = {NULL, "moonbeam.tuple", "moonbeam.list", "moonbeam.map"};
#define ATOM_MT "moonbeam.atom"
#define ATOMS_KEY "moonbeam.atoms"
#define INT64_KEY "moonbeam.int64"

static int atom_tostring(lua_State *L) {
    lua_getfield(L, 1, "name");
    return 1;
}

/* The metatable named name (made on first use), with __name set to it. */
static void push_meta(lua_State *L, const char *name) {
    if (luaL_newmetatable(L, name)) {
        lua_pushstring(L, name);
        lua_setfield(L, -2, "__name");
        if (strcmp(name, ATOM_MT) == 0) {
            lua_pushcfunction(L, atom_tostring);
            lua_setfield(L, -2, "__tostring");
        }
    }
}

int mbb_term_meta(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return 0;
    lua_getfield(L, -1, "__name");
    const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    int kind = strcmp(name, ATOM_MT) == 0 ? MBB_ATOM : 0;
    for (int k = MB_KIND_TUPLE; k <= MB_KIND_MAP && !kind; k++)
        if (strcmp(name, kind_names[k]) == 0) kind = k;
    lua_pop(L, 2);
    return kind;
}

void mbb_push_atom(lua_State *L, const char *s, size_t n) {
    lua_getfield(L, LUA_REGISTRYINDEX, ATOMS_KEY);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "v");
        lua_setfield(L, -2, "__mode");   /* an atom nobody holds may go */
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, ATOMS_KEY);
    }
    lua_pushlstring(L, s, n);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushlstring(L, s, n);
        lua_setfield(L, -2, "name");
        push_meta(L, ATOM_MT);
        lua_setmetatable(L, -2);
        lua_pushlstring(L, s, n);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
    }
    lua_remove(L, -2);
}

void mbb_set_kind(lua_State *L, int idx, int kind) {
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    push_meta(L, kind_names[kind]);
    lua_setmetatable(L, idx);
}

/* The loaded module name, or, when nothing loaded it yet, the one open
 * makes, kept as loaded (so require gives the same: the FFI's state is
 * made once per Lua state). Not through require or any global: a process
 * may have changed those. */
static void push_module(lua_State *L, const char *name, lua_CFunction open) {
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    lua_getfield(L, -1, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushcfunction(L, open);
        lua_pushstring(L, name);
        lua_call(L, 1, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, name);
    }
    lua_remove(L, -2);
}

/* The int64 helpers, compiled once per state: the FFI has no C API. Their
 * chunk gets ffi and bit as arguments and uses no global. */
static void push_int64_helper(lua_State *L, const char *field) {
    lua_getfield(L, LUA_REGISTRYINDEX, INT64_KEY);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (luaL_loadstring(L, "local ffi, bit = ...\n"
                               "local i64 = ffi.typeof('int64_t')\n"
                               "return { parts = function(x)\n"
                               "  if not ffi.istype(i64, x) then return nil end\n"
                               "  return bit.tobit(bit.arshift(x, 32)), bit.tobit(x)\n"
                               "end, make = function(hi, lo) return i64(hi) * 4294967296LL + lo end }"))
            lua_error(L);
        push_module(L, "ffi", luaopen_ffi);
        push_module(L, "bit", luaopen_bit);
        lua_call(L, 2, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, INT64_KEY);
    }
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
}

int mbb_int64_of(lua_State *L, int idx, int64_t *v) {
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    push_int64_helper(L, "parts");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 2);
    int ok = lua_type(L, -2) == LUA_TNUMBER;
    if (ok) *v = (int64_t)((uint64_t)(int64_t)lua_tonumber(L, -2) << 32 | (uint32_t)(int32_t)lua_tonumber(L, -1));
    lua_pop(L, 2);
    return ok ? 0 : -1;
}

void mbb_push_int64(lua_State *L, int64_t v) {
    push_int64_helper(L, "make");
    lua_pushnumber(L, (lua_Number)(int32_t)(uint32_t)((uint64_t)v >> 32));
    lua_pushnumber(L, (lua_Number)(uint32_t)v);
    lua_call(L, 2, 1);
}

/* core.atom(name) -> the atom named name. */
static int l_atom(lua_State *L) {
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "atom: a name (string) expected, got %s", luaL_typename(L, 1));
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    if (!mb_etf_atom_fits(s, n))
        return luaL_error(L, "atom: a name is UTF-8 of at most 255 characters");
    mbb_push_atom(L, s, n);
    return 1;
}

/* core.tuple(...) -> a table of the arguments that is sent as a tuple. */
static int l_tuple(lua_State *L) {
    int n = lua_gettop(L);
    lua_createtable(L, n, 0);
    for (int i = 1; i <= n; i++) {
        if (lua_isnil(L, i)) return luaL_error(L, "tuple: element #%d is nil", i);
        lua_pushvalue(L, i);
        lua_rawseti(L, -2, i);
    }
    mbb_set_kind(L, -1, MB_KIND_TUPLE);
    return 1;
}

/* core.kind(x) -> "atom", "tuple", "list", "map", or nil. */
static int l_kind(lua_State *L) {
    static const char *const words[] = {NULL, "tuple", "list", "map"};
    int k = lua_type(L, 1) == LUA_TTABLE ? mbb_term_meta(L, 1) : 0;
    if (k == MBB_ATOM) lua_pushliteral(L, "atom");
    else if (k) lua_pushstring(L, words[k]);
    else lua_pushnil(L);
    return 1;
}

const luaL_Reg mbb_terms_fns[] = {{"atom", l_atom}, {"tuple", l_tuple}, {"kind", l_kind}, {NULL, NULL}};
