/* dist_api.c: the node's Lua API (docs/reference.md, "Nodes"): mb.node,
 * mb.nodes, and the request behind mb.connect (lua/moonbeam/init.lua waits
 * for its answer). */
#include <string.h>
#include "bindings.h"
#include "core/call.h"
#include "dist/dist.h"

/* core.node() -> this node's name, "nonode@nohost" when not distributed
 * (as Erlang's node()). */
static int l_node(lua_State *L) {
    mb_dist *d = mb_dist_of(mbb_self(L)->rt);
    lua_pushstring(L, d ? mb_dist_node(d) : "nonode@nohost");
    return 1;
}

/* core.nodes() -> the connected nodes' names. */
static int l_nodes(lua_State *L) {
    mb_dist *d = mb_dist_of(mbb_self(L)->rt);
    size_t n = 0, cap = 1024, need;
    char *names = NULL;
    /* Into a buffer Lua owns (a raise frees it), grown while nodes come. */
    while (d && (need = mb_dist_nodes(d, names = lua_newuserdata(L, cap), cap, &n)) > cap) {
        lua_pop(L, 1);
        cap = need * 2;
    }
    lua_createtable(L, (int)n, 0);
    const char *p = names;
    for (size_t i = 0; i < n; i++, p += strlen(p) + 1) {
        lua_pushstring(L, p);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* core.dist_connect(node) -> true (this node), false (not distributed),
 * or the ref whose reply answers. */
static int l_dist_connect(lua_State *L) {
    if (lua_type(L, 1) != LUA_TSTRING)
        return mbb_raisef(L, "connect: a node name (string) expected, got %s", luaL_typename(L, 1));
    size_t len;
    const char *node = lua_tolstring(L, 1, &len);
    mb_proc *self = mbb_self(L);
    mb_dist *d = mb_dist_of(self->rt);
    const char *at = memchr(node, '@', len);
    if (!d || !at || at == node || at == node + len - 1 || len > 255 || memchr(node, '\0', len)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (strcmp(node, mb_dist_node(d)) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    mb_pid chain[MB_MAX_CHAIN];
    mb_ref ref = mb_make_ref(self->rt);
    mb_call_begin(self, 0, ref, chain);   /* no server: no cycle can form */
    if (mb_dist_connect(d, node, self->pid, ref)) {
        mb_call_end(self);
        lua_pushboolean(L, 0);
        return 1;
    }
    mbb_push_ref(L, ref);
    return 1;
}

/* core.monitor_node(node, [flag]) -> true: with flag true (the default),
 * one {"nodedown", node} message when the connection to node drops (at
 * once when it cannot be made, or this host is not a node); false takes
 * one such monitor away. */
static int l_monitor_node(lua_State *L) {
    if (lua_type(L, 1) != LUA_TSTRING)
        return mbb_raisef(L, "monitor_node: a node name (string) expected, got %s", luaL_typename(L, 1));
    if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TBOOLEAN)
        return mbb_raisef(L, "monitor_node: flag must be a boolean, got %s", luaL_typename(L, 2));
    size_t len;
    const char *node = lua_tolstring(L, 1, &len);
    bool on = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
    mb_proc *self = mbb_self(L);
    mb_dist *d = mb_dist_of(self->rt);
    const char *at = memchr(node, '@', len);
    bool usable = d && at && at != node && at != node + len - 1 && len <= 255 && !memchr(node, '\0', len);
    if (on && (!usable || mb_dist_monitor_node(d, node, self->pid, true))) {
        if (mb_dist_send_nodedown(self->rt, self->pid, node)) return mbb_raisef(L, "monitor_node: out of memory");
    } else if (!on && usable) {
        mb_dist_monitor_node(d, node, self->pid, false);   /* fails only when the host stops */
    }
    lua_pushboolean(L, 1);
    return 1;
}

void mbb_open_dist(lua_State *L) {
    static const luaL_Reg fns[] = {{"node", l_node},
                                   {"nodes", l_nodes},
                                   {"dist_connect", l_dist_connect},
                                   {"monitor_node", l_monitor_node},
                                   {NULL, NULL}};
    luaL_register(L, NULL, fns);
}
