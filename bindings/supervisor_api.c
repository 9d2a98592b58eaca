/* supervisor_api.c: creating a native supervisor from Lua. */
#include "bindings.h"
#include "core/process.h"
#include "core/spawn.h"
#include "otp/supervisor.h"

/* core.sup_start(spec, link, path, fn) -> pid, ref (monitored); the
 * supervisor waits for {"$gen_start", ref, starter} before it starts its
 * children. fn: the user's call, which errors name. */
static int l_sup_start(lua_State *L) {
    mb_proc *self = mbb_self(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    bool link = lua_toboolean(L, 2);
    const char *path = luaL_optstring(L, 3, "supervisor");
    const char *fn = luaL_optstring(L, 4, "supervisor");
    mbb_encode_or_raise(L, self, 1, "supervisor: spec");
    char err[160];
    mb_proc *p = mb_sup_new(self->rt, self->scratch.p, self->scratch.len, link, path,
                            "moonbeam.gen_server:enter", err, sizeof err);
    if (!p) return mbb_raisef(L, "%s: %s", fn, err);
    /* Its children find code where the caller does (mb_spawn_native copies
     * the caller's own otherwise). */
    mb_buf sp;
    mb_buf_init(&sp);
    if (mbb_own_search_path(L, self, &sp)) p->search_path = (char *)sp.p;   /* p owns it now */
    mb_pid pid;
    mb_ref ref = 0;
    int rc = mb_spawn_native(self, p, link, &ref, NULL, &pid);
    if (rc == MB_SPAWN_FULL)
        return mbb_raisef(L, "%s: too many processes (max_processes is %d)", fn, (int)self->rt->procs.size);
    if (rc) return mbb_raisef(L, "%s: out of memory", fn);
    mbb_push_pid(L, pid);
    mbb_push_ref(L, ref);
    return 2;
}

const luaL_Reg mbb_supervisor_fns[] = {{"sup_start", l_sup_start}, {NULL, NULL}};
