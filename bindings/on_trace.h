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
/* The same, false when it cannot be told. */
bool mbb_surely_on_trace(lua_State *L);
/* Whether L's state runs its collector or the handler of a trace's exit
 * (true also when that cannot be told). An error raised there (the
 * collector resizing the string table after a trace exited for it) is
 * unwound through frames LuaJIT gives the unwinder no way through: the
 * host crashed. Loads only, as mbb_on_trace. */
bool mbb_in_collector(lua_State *L);
/* Whether L's state runs a C function (one of LuaJIT's library functions,
 * or any lua_CFunction), where the stack's top is where the function left
 * it; false in the interpreter (bytecode, or a builtin's fast path such as
 * tostring's), and when that cannot be told. Loads only, as mbb_on_trace. */
bool mbb_in_c_function(lua_State *L);
/* The coroutine of L's state that runs now (LuaJIT's cur_L), or NULL when
 * that cannot be told. Loads only, as mbb_on_trace. */
lua_State *mbb_running_thread(lua_State *L);

#endif
