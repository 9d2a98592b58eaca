/* sysmon.h: the system monitor, a thread that watches the schedulers.
 *
 * Nothing else ever interrupts a process: a slice ends when its code yields.
 * The monitor looks at each scheduler every few ms, and for a slice that
 * runs on:
 * - past MB_PREEMPT_MS, or at once when an exit signal waits for the
 *   process, it asks the slice's thread to preempt it (MB_PREEMPT_SIGNAL;
 *   the VM layer yields the process at its next interpreted instruction
 *   where a yield is possible: bindings/preempt.c);
 * - past MB_HAND_OFF_MS, when that did not end the slice (a compiled loop,
 *   which never looks at hooks, or a long C call), it hands the scheduler,
 *   with its run queue, loop and timers, to a fresh thread: the stuck thread
 *   finishes its slice alone and leaves (mb_sched_hand_off).
 * - while a queued exit signal will end the slice's process, it signals the
 *   thread at every look: where the VM layer finds it in compiled code
 *   (codemap.h, read here) the state is abandoned there and the process ends
 *   at once.
 * So timers, receive timeouts and every other process go on being served
 * while one process spins. Idle, the monitor backs off to a look every
 * MB_SYSMON_IDLE_MS. */
#ifndef MB_SYSMON_H
#define MB_SYSMON_H

#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#define MB_PREEMPT_MS 4.0
#define MB_HAND_OFF_MS 40.0
#define MB_SYSMON_TICK_MS 2.0
#define MB_SYSMON_IDLE_MS 20.0
/* Go uses the same signal for the same job: ignored by default, and no
 * library or terminal uses it for anything else. */
#define MB_PREEMPT_SIGNAL SIGURG

typedef struct mb_runtime mb_runtime;
typedef struct mb_sysmon mb_sysmon;
typedef struct mb_proc mb_proc;

/* A thread that lost its scheduler while it ran p's slice: the monitor
 * keeps charging p's CPU time until the thread marks the slice done. */
typedef struct mb_orphan {
    mb_proc *p;                  /* referenced until done */
    pthread_t thread;            /* joined once done: until then it can be signalled */
    int tid;                     /* its Linux thread id (its CPU clock's), 0: unknown */
    uint64_t cpu_ns;             /* its CPU time at the monitor's last look (0: unknown) */
    _Atomic bool done;
    struct mb_orphan *next;      /* the monitor's list */
} mb_orphan;

/* The slice's thread, once it found its scheduler gone and sent p on. */
void mb_orphan_done(mb_orphan *o);

/* Start watching rt's schedulers (after they started). NULL on failure. */
mb_sysmon *mb_sysmon_start(mb_runtime *rt);
/* The host is stopping: from the monitor's next look on, no scheduler is
 * handed off, and a slice that does not yield when asked is ended where it
 * is if its code can be left (compiled code, or interpreted code where no
 * yield reaches the scheduler: bindings/vm.c), its process with it. Returns
 * once no hand-off is under way. */
void mb_sysmon_host_stopping(mb_sysmon *m);
/* Stop and free the monitor (once the schedulers stopped, or gave up on). */
void mb_sysmon_stop(mb_sysmon *m);

#endif
