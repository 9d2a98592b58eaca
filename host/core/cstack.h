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
#include <stdint.h>

/* The calling thread's floor (cstack.c), 0 until first asked; each thread
 * writes its own. initial-exec: one load, no __tls_get_addr, on the
 * allocator's path. */
extern __thread uintptr_t mb_cstack_floor __attribute__((tls_model("initial-exec")));
uintptr_t mb_cstack_find_floor(void);   /* sets mb_cstack_floor */

/* True when the calling thread is within its reserve: the last part of its
 * stack, kept for unwinding and for C code that does not allocate. Inline:
 * every allocation that grows a process's state asks. */
static inline bool mb_cstack_low(void) {
    uintptr_t floor = mb_cstack_floor;
    if (__builtin_expect(floor == 0, 0)) floor = mb_cstack_find_floor();
    return (uintptr_t)__builtin_frame_address(0) < floor;
}

#endif
