/* on_trace.h: whether a Lua state is running compiled code (on_trace.c). */
#ifndef MBB_ON_TRACE_H
#define MBB_ON_TRACE_H

#include <stdbool.h>
#include <lua.h>

/* Find where LuaJIT keeps the base of the running trace (once; any
 * thread, before the first process state runs). */
void mbb_on_trace_init(void);
/* Whether L's state runs compiled code now: true also when that cannot be
 * told (the probe failed). Any thread that runs L's code, from inside its
 * allocator too: loads only. */
bool mbb_on_trace(lua_State *L);

#endif
