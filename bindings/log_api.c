/* log_api.c: moonbeam.logger's way into the host's log (host/core/logger.h):
 * queue an event, read and set levels, add and remove handlers. The Lua
 * side (lua/moonbeam/logger.lua) formats the message and finds the module. */
#include <string.h>
#include "bindings.h"
#include "core/logger.h"
#include "core/process.h"

static int check_level(lua_State *L, int idx, const char *fn) {
    int level = mb_log_level_parse(lua_tostring(L, idx));
    if (lua_type(L, idx) != LUA_TSTRING || level < 0)
        return mbb_raisef(L, "%s: level must be \"debug\", \"info\", \"notice\", \"warning\" or \"error\"", fn);
    return level;
}

/* core.log(level, where, msg, [detail], [fields_json]) -> queued (false: dropped) */
static int l_log(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_log_event ev = {.level = check_level(L, 1, "logger"), .pid = self->pid};
    ev.where = lua_tostring(L, 2);
    ev.msg = luaL_checklstring(L, 3, &ev.msg_len);
    ev.detail = lua_tolstring(L, 4, &ev.detail_len);
    ev.fields = lua_tolstring(L, 5, &ev.fields_len);
    /* The name is the process's now; mb_log copies it under the lock. */
    pthread_mutex_lock(&self->lock);
    ev.name = self->name;
    bool queued = mb_log(self->rt, &ev);
    pthread_mutex_unlock(&self->lock);
    lua_pushboolean(L, queued);
    return 1;
}

/* core.log_level_of(module|nil) -> the level number events of module must reach */
static int l_level_of(lua_State *L) {
    lua_pushinteger(L, mb_log_level_of(mbb_self(L)->rt, lua_tostring(L, 1)));
    return 1;
}

/* core.log_generation() -> n: changes with levels and handlers; odd: a JSON handler is there */
static int l_generation(lua_State *L) {
    lua_pushnumber(L, mb_log_generation(mbb_self(L)->rt));
    return 1;
}

/* core.log_set_level(level|nil, module|nil): nil level clears module's */
static int l_set_level(lua_State *L) {
    int level = lua_isnil(L, 1) ? -1 : check_level(L, 1, "logger.set_level");
    if (mb_log_set_level(mbb_self(L)->rt, lua_tostring(L, 2), level))
        return mbb_raisef(L, "logger.set_level: out of memory");
    return 0;
}

/* core.log_add_handler(name, kind, path|nil, level) -> true, or nil, why */
static int l_add_handler(lua_State *L) {
    static const char *const kinds[] = {"stderr", "file", "json", NULL};
    const char *name = luaL_checkstring(L, 1);
    int kind = luaL_checkoption(L, 2, NULL, kinds);
    char err[300];
    if (mb_log_add_handler(mbb_self(L)->rt, name, (mb_log_kind)kind, lua_tostring(L, 3),
                           check_level(L, 4, "logger.add_handler"), err, sizeof err)) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.log_remove_handler(name) -> whether there was one */
static int l_remove_handler(lua_State *L) {
    lua_pushboolean(L, mb_log_remove_handler(mbb_self(L)->rt, luaL_checkstring(L, 1)) == 0);
    return 1;
}

/* core.log_flush(ref) -> true when what was logged before is written
 * already; else {"$log_flushed", ref} comes through alias ref once it is */
static int l_flush(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_ref ref = mbb_check_ref(L, 1, "logger.flush");
    if (mb_log_drained(self->rt)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (mb_log_flush_to(self->rt, self->pid, ref)) return mbb_raisef(L, "logger.flush: the host is stopping");
    return 0;
}

const luaL_Reg mbb_log_fns[] = {{"log", l_log},
                                   {"log_level_of", l_level_of},
                                   {"log_generation", l_generation},
                                   {"log_set_level", l_set_level},
                                   {"log_add_handler", l_add_handler},
                                   {"log_remove_handler", l_remove_handler},
                                   {"log_flush", l_flush},
                                   {NULL, NULL}};
