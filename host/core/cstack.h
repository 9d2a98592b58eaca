/* cstack.h: how much C stack the calling thread has left.
 *
 * A process's Lua code runs on the C stack of the thread that runs it, and
 * recursion through C (coroutines resuming coroutines, string.gsub calling
 * back into Lua) grows that stack with no check of LuaJIT's own. The
 * allocator of every process state refuses to grow once the stack is nearly
 * used up, so such a process fails with a Lua error while there is still
 * room to unwind, and ends (see mb_proc_alloc) instead of crashing the host. */
#ifndef MB_CSTACK_H
#define MB_CSTACK_H

#include <stdbool.h>

/* True when the calling thread is within its reserve: the last part of its
 * stack, kept for unwinding and for C code that does not allocate. */
bool mb_cstack_low(void);

#endif
