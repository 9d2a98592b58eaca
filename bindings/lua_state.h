/* lua_state.h: a process's Lua state, made and prepared (lua_state.c).
 *
 * Base and package opened, the rest of LuaJIT's libraries on first use
 * (string's table registered empty until then), the host's search paths
 * and module cache, the coroutine the body runs in holding the boot
 * function, and moonbeam (and moonbeam.gen_server, for a gen_server's)
 * loaded: everything but the process, so that a state can be made ahead
 * of its spawn (state_pool.h). */
#ifndef MBB_LUA_STATE_H
#define MBB_LUA_STATE_H

#include <stdbool.h>
#include "bindings.h"

/* A new state on owner's arena (owner: the process, or a state pool's
 * holder), into lp. gen: for a gen_server, with moonbeam.gen_step loaded
 * and no boot function. Its making's garbage (~1.6 KB) is left to the
 * state's collector: a state made ahead has it collected while the pool is
 * full and nothing else is to be done (state_pool.h). 0, or -1 with the error on top of lp->L (if
 * there is a state: NULL when there was no memory for one). */
int mbb_state_new(mb_proc *owner, mbb_lua *lp, bool gen);

/* A full collection of L, protected (it runs finalizers, and may allocate:
 * LuaJIT throws their errors and a refused block out of it); an error is
 * dropped. false: it failed. */
bool mbb_state_collect(lua_State *L);

/* The spawner's paths when they were not the host's (process.h): path,
 * then cpath, in one buffer; set on L's package. */
void mbb_set_search_path(lua_State *L, const char *search_path);

#endif
