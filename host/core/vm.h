/* vm.h: what the core needs from the Lua side, implemented in bindings/.
 * host/ never calls lua_resume itself: it asks the VM layer to run a
 * process's slice and to tear its state down. */
#ifndef MB_VM_H
#define MB_VM_H

#include "process.h"

/* Run p until it yields. On return p->yield says why; MB_YIELD_EXIT also
 * covers the body returning or crashing, with p->exit_reason set. */
void mb_vm_run(mb_proc *p);

/* Install the handler of MB_PREEMPT_SIGNAL (sysmon.h), once per OS
 * process: on the thread it interrupts, it asks the Lua state running
 * there to yield at its next instruction where a yield is possible. */
void mb_vm_preempt_init(void);

/* Run p's mb.blocking call, on a pool thread (blocking.h): on return
 * p->yield is MB_YIELD_RESCHED, or MB_YIELD_EXIT with p->exit_reason set. */
void mb_vm_run_blocking(mb_proc *p);

/* Close p's Lua state (not for external processes). */
void mb_vm_close(mb_proc *p);

#endif
