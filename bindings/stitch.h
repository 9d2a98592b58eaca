/* stitch.h: a stitched trace's C call sent back to the interpreter
 * (stitch.c), for a kill of a compiled loop around such a call. */
#ifndef MBB_STITCH_H
#define MBB_STITCH_H

#include <stdbool.h>
#include <lua.h>

/* Learn the frame layout, once (a probe state). */
void mbb_stitch_init(void);
/* From the preemption signal's handler, with L (the running coroutine)
 * inside a C function: if a stitched trace called it, its return goes to
 * the interpreter instead of the next trace. Plain loads and one store. */
void mbb_unstitch(lua_State *L);

#endif
