/* names_api.c: register, unregister, whereis, registered. */
#include <string.h>
#include "bindings.h"
#include "core/names.h"

static const char *check_name(lua_State *L, int idx, size_t *n, const char *fn) {
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, n) : NULL;
    if (!s || !mb_name_valid(s, *n)) mbb_raisef(L, "%s: name must be a non-empty string without NUL bytes", fn);
    return s;
}

/* core._c_register(name, pid) -> true, or nil and why (mb.register, in
 * moonbeam.api_rest, takes via names too) */
static int l_register(lua_State *L) {
    mb_proc *self = mbb_self(L);
    size_t n;
    const char *name = check_name(L, 1, &n, "register");
    mb_pid pid = mbb_check_pid(L, 2, "register");
    switch (mb_names_register(self->rt, name, n, pid)) {
    case MB_REG_OK: lua_pushboolean(L, 1); return 1;
    case MB_REG_TAKEN: lua_pushnil(L); lua_pushliteral(L, "already_registered"); return 2;
    case MB_REG_NOPROC: lua_pushnil(L); lua_pushliteral(L, "noproc"); return 2;
    case MB_REG_HAS_NAME: lua_pushnil(L); lua_pushliteral(L, "already_has_name"); return 2;
    default: return mbb_raisef(L, "register: out of memory");
    }
}

static int l_unregister(lua_State *L) {
    size_t n;
    const char *name = check_name(L, 1, &n, "unregister");
    lua_pushboolean(L, mb_names_unregister(mbb_self(L)->rt, name, n));
    return 1;
}

static int l_whereis(lua_State *L) {
    size_t n;
    const char *name = check_name(L, 1, &n, "whereis");
    mb_pid pid = mb_names_whereis(mbb_self(L)->rt, name, n);
    if (pid) mbb_push_pid(L, pid);
    else lua_pushnil(L);
    return 1;
}

typedef struct { mb_buf b; size_t count; } name_list;

static void collect(const char *name, size_t len, mb_pid pid, void *ud) {
    (void)pid;
    name_list *nl = ud;
    if (mb_buf_put(&nl->b, &len, sizeof len) == 0 && mb_buf_put(&nl->b, name, len) == 0) nl->count++;
}

static int l_registered(lua_State *L) {
    name_list nl = {{NULL, 0, 0}, 0};
    mb_names_each(mbb_self(L)->rt, collect, &nl);
    lua_createtable(L, (int)nl.count, 0);
    size_t at = 0;
    for (size_t i = 0; i < nl.count; i++) {
        size_t len;
        memcpy(&len, nl.b.p + at, sizeof len);
        lua_pushlstring(L, (const char *)nl.b.p + at + sizeof len, len);
        at += sizeof len + len;
        lua_rawseti(L, -2, (int)i + 1);
    }
    mb_buf_free(&nl.b);
    return 1;
}

const luaL_Reg mbb_names_fns[] = {
        {"_c_register", l_register}, {"_c_unregister", l_unregister},
        {"_c_whereis", l_whereis}, {"registered", l_registered}, {NULL, NULL}};
