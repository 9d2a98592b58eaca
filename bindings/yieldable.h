/* yieldable.h: whether lua_yield would succeed on a state now (LuaJIT 2.1
 * has no lua_isyieldable). See yieldable.c. */
#ifndef MB_YIELDABLE_H
#define MB_YIELDABLE_H

#include <lua.h>

typedef enum mbb_yield_test { MBB_YIELD_UNKNOWN, MBB_YIELD_CAN, MBB_YIELD_CANNOT } mbb_yield_test;

/* Finds how to tell, once, before any mbb_yieldable. */
void mbb_yieldable_init(void);

/* For the running state L, on its own thread. */
mbb_yield_test mbb_yieldable(lua_State *L);

#endif
