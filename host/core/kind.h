/* kind.h: what kind of process a process is.
 *
 * The core schedules processes, delivers their messages, links, monitors
 * and times them without knowing what runs inside. A kind is what the core
 * calls to make one of its processes run: a slice, the rest of a blocking
 * call, the end. Kinds come from above the core: supervisors
 * (host/otp/supervisor.c), Lua processes (bindings/vm.c, registered when
 * the runtime starts, as mb_config.kind), a test's own (spec/core/). */
#ifndef MB_KIND_H
#define MB_KIND_H

#include <stdbool.h>

typedef struct mb_proc mb_proc;
typedef struct mb_runtime mb_runtime;

typedef struct mb_kind {
    const char *name;                    /* "lua", "supervisor": for people */
    /* One slice, on a scheduler thread; on return p->yield says why it
     * stopped (process.h), and MB_YIELD_EXIT comes with p->exit_reason. */
    void (*run)(mb_proc *p);
    /* After run yielded MB_YIELD_BLOCKING: the rest, on a blocking pool
     * thread (blocking.h). NULL for a kind that never yields so. */
    void (*run_blocking)(mb_proc *p);
    /* Free p->state and whatever the process owns; also for a process
     * that never ran. Owner thread, or any once no thread runs processes. */
    void (*close)(mb_proc *p);
    /* Whether a long slice can be asked to yield by MB_PREEMPT_SIGNAL
     * (sysmon.h); a kind that is not yields on its own. */
    bool preemptible;
    /* Optional, for the runtime's kind (mb_config.kind): work done ahead
     * by a scheduler that has nothing to run, before it sleeps (states made
     * ahead of spawns); true if it did some, and the scheduler looks for
     * work again. It must be short: a process queued meanwhile waits. */
    bool (*ahead)(mb_runtime *rt);
    /* Optional: drop what ahead made, once no thread runs processes. */
    void (*drop_ahead)(mb_runtime *rt);
    /* Optional: whether p's state can be refused memory now (process.c,
     * mb_proc_alloc: its limit, an exit that must stop it, a C stack nearly
     * used up). false: the block is granted, and the kind sees that p
     * reaches a point where the next refusal is taken. NULL: always. From
     * inside the allocator: no allocation, no lock. */
    bool (*refusable)(mb_proc *p);
    /* Optional: p has gone past its memory limit with a small block; true:
     * the kind ends p at its next safe point (a Lua process at its next
     * instruction, as a kill does), and the block is granted (process.c:
     * a refusal met inside a LuaJIT fast function can overwrite a live
     * frame of its stack, a fault of LuaJIT's own). false, or NULL: the
     * block is refused. From inside the allocator: no allocation, no
     * lock. */
    bool (*end_soon)(mb_proc *p);
} mb_kind;

#endif
