/* preempt.h: running a Lua process's code where it can be stopped
 * (preempt.c): a slice, or its crash's conversion, that the preemption
 * signal may cut short at a safe point or, for a process that must end,
 * leave for good; the hook that yields a long slice; an exit begun in a
 * coroutine of the process's own. */
#ifndef MBB_PREEMPT_H
#define MBB_PREEMPT_H

#include <stdbool.h>
#include <lua.h>
#include "core/process.h"

/* Runs fn(p, arg) on this thread as p's own code: where the preemption
 * signal may leave it and its allocator may be told to refuse. -1: it was
 * left (abandoned: p->yield is MB_YIELD_EXIT); else fn's result. refused:
 * whether the allocator was told to refuse meanwhile (p must end: whatever
 * fn did after that, p ends by its signal, mbb_end_by_signal). */
int mbb_run_leavable(mb_proc *p, int (*fn)(mb_proc *, int), int arg, bool *refused);
/* One slice of p's body (body(p, arg): its coroutine's resume), its
 * reductions counted; as mbb_run_leavable. */
int mbb_resume_slice(mb_proc *p, int (*body)(mb_proc *, int), int arg, bool *refused);
/* p ends with the reason of the exit signal queued for it ("killed" when
 * none comes: the host stops). */
void mbb_end_by_signal(mb_proc *p);
/* The kind's refusable (host/core/kind.h): false while p's state runs
 * compiled code, whose trace is then sent out to the interpreter. */
bool mbb_refusable(mb_proc *p);
/* The kind's end_soon (host/core/kind.h): p, past its memory limit, ends
 * at its next interpreted instruction. */
bool mbb_end_soon(mb_proc *p);
/* No preemption hook on L's state (its finalizers run unhooked). */
void mbb_clear_hook(lua_State *L);

#endif
