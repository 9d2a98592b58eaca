/* process.h: what a process is.
 *
 * Ownership and threads:
 * - Fields under "owner" are touched only by the thread currently running the
 *   process (one scheduler at a time, handed over through the run queues'
 *   locks, which order the accesses).
 * - Fields under "lock" are guarded by p->lock: links, monitors, the name,
 *   the exiting flag. Another process links to us by taking both locks, the
 *   lower pid first.
 * - Atomics are read by anyone (info, wake-ups).
 * A process is freed only when its last reference is dropped (proctab.h). */
#ifndef MB_PROCESS_H
#define MB_PROCESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "arena.h"
#include "buf.h"
#include "kind.h"
#include "mailbox.h"
#include "pid.h"
#include "tabbind.h"
#include "tabcache.h"

typedef struct mb_runtime mb_runtime;
typedef struct mb_sched mb_sched;
typedef struct mb_waittimer mb_waittimer;
typedef struct mb_proc mb_proc;

typedef enum mb_status {
    MB_RUNNABLE = 1,   /* in a run queue */
    MB_RUNNING,        /* on a scheduler now */
    MB_WAITING,        /* blocked in receive; a send makes it runnable */
    MB_EXITING,        /* gone or going */
    MB_INSPECTED,      /* waiting, its stack read by mb.info (bindings/where.c):
                          a wake finds it so and notes wake_missed; the reader
                          makes it runnable when done if one did (mb_proc_inspected) */
} mb_status;

/* Why the process's coroutine gave control back. */
typedef enum mb_yield {
    MB_YIELD_NONE,
    MB_YIELD_WAIT,       /* blocked in receive, maybe until wait_deadline */
    MB_YIELD_RESCHED,    /* used its slice; runnable again at once */
    MB_YIELD_EXIT,       /* mb.exit(reason) or a fatal signal: see exit_reason */
    MB_YIELD_BLOCKING,   /* mb.blocking: run the rest on a pool thread (blocking.h) */
    MB_YIELD_UNBLOCK,    /* mb.blocking's fn returned: back to the schedulers */
} mb_yield;

typedef struct mb_pidvec { mb_pid *v; uint32_t n, cap; } mb_pidvec;
typedef struct mb_mon { mb_ref ref; mb_pid pid; } mb_mon;
/* Monitors (and aliases) by ref: a dense array, so walking them is cheap,
 * plus, once it outgrows a linear scan, an index from ref to slot so that
 * taking one out is O(1) whatever the count (a process may hold 100k). */
typedef struct mb_monvec {
    mb_mon *v;
    uint32_t n, cap;
    uint32_t *idx;      /* NULL while cap <= MB_MONVEC_SCAN; else slot + 1, 0 empty */
    uint32_t icap;      /* a power of two, twice cap: linear probing stays short */
} mb_monvec;
#define MB_MONVEC_SCAN 8

/* A process driven by an OS thread of its own (the script that required
 * moonbeam, or the host's main thread): it blocks on a condition variable
 * instead of yielding to a scheduler. */
typedef struct mb_external {
    pthread_mutex_t mu;
    pthread_cond_t cv;
} mb_external;

/* How the kind reads a spawned process's target (bindings/vm.c for Lua). */
typedef enum mb_target_kind {
    MB_TARGET_MODULE,    /* target = "mod" or "mod:fn" */
    MB_TARGET_BYTECODE,  /* spawn_args holds the function first */
    MB_TARGET_FILE,      /* target = a script path (moonbeam run) */
} mb_target_kind;

#define MB_WHERE_MAX 128

typedef struct mb_proc {
    /* Two lines a message touches: what its senders read and write, then
     * what its owner writes as it takes it. A sender on one core and a
     * busy receiver on another then do not pass a line to and fro for each
     * message (MB_CACHE_LINE); the owner writes the first line once a
     * slice, and when its queue runs empty. The counts are in - out
     * (mailbox_bounds.h): the senders' adds and the owner's plain stores. */
    _Alignas(MB_CACHE_LINE) mb_pid pid;
    mb_runtime *rt;
    _Atomic int status;
    uint32_t max_queue;               /* 0: unbounded; set before the pid exists, then read-only */
    uint8_t on_full;                  /* mb_on_full; likewise */
    bool admits;                      /* max_queue or mem_limit: deliveries ask mb_mailbox_admit;
                                         likewise (here, not mem_limit: the owner's line) */
    _Atomic bool queue_doomed;        /* a delivery is ending it (queue_full, memory_limit) */
    _Atomic uint32_t queue_bounded;   /* messages max_queue counts (m->bounded): senders
                                         add, the owner subtracts (bounded mailboxes only) */
    _Atomic uint64_t messages_in;     /* every message queued */
    _Atomic size_t queue_bytes_in;    /* senders add each counted message's mb_msg_size */
    _Atomic uint64_t runtime_us;      /* CPU time, sampled by the system monitor (sysmon.h) */
    mb_inbox inbox;                   /* its tail ends the first line, its head begins the next */
    _Atomic uint64_t messages_out;    /* every message that left the queue */
    _Atomic size_t queue_bytes_out;   /* the owner adds what left; one writer: no RMW */

    /* Three lines every slice and every receive read and write, whatever
     * the process runs: where many processes take turns (a ring of 1000),
     * each line a woken process touches is a cache miss, and these fields
     * were spread over ten. Others write here only now and then (a
     * signal, a console's Ctrl-C, a push onto a run queue). */
    _Alignas(MB_CACHE_LINE) const mb_kind *kind;   /* what runs it (kind.h); NULL for external processes */
    void *state;                      /* the kind's own: a Lua state, a supervisor's children */
    mb_sched *sched;                  /* where it ran last; NULL on a blocking thread */
    struct mb_proc *runq_next;        /* guarded by the run queue holding it */
    uint64_t slice_word;              /* owner: its last slice's word on sched (sched.h):
                                         a socket request pins it (netloop.c) */
    mb_external *ext;                 /* non-NULL for external processes */
    _Atomic uint32_t sig_pending;     /* exit signals pushed and not yet handled */
    /* A console's Ctrl-C (console_server.c): the evaluation stops with an
     * error where it runs or waits, and the process goes on. ARMED while
     * the process says an evaluation may be stopped; the console server
     * makes it ASKED; the process's next preemption hook or wait raises and
     * makes it ARMED again (bindings/preempt.c, message_api.c). */
    _Atomic int interrupt;            /* MB_INTR_OFF, MB_INTR_ARMED, MB_INTR_ASKED */
    mb_yield yield;
    int budget;                       /* messages left in this slice */

    mb_saveq save;                    /* owner */
    mb_msg *spare;                    /* blocks of messages it took, for its next sends (mb_proc_msg) */
    _Atomic uint64_t wait_seq;        /* which wait a timeout belongs to */
    _Atomic uint64_t reductions;      /* work done: slices and messages (written by the owner) */
    _Atomic size_t mem_used;          /* written by the allocator (owner), read by others */
    double wait_deadline;             /* ms on the runtime clock; < 0: none */
    uint8_t nspare;
    bool dying;                       /* exit_reason holds why */
    bool hogged;                      /* its last slice was cut short (preempted, or handed
                                         off): it waits in the back queue (sched.c) */
    bool in_blocking;                 /* on a blocking pool thread, off every scheduler:
                                         sched is NULL, it cannot wait or yield a turn */
    _Atomic bool must_end;            /* whether it must end now (mb_proc_doomed, with ending
                                         below): dying (it may catch mbb_exit_now's error and
                                         go on), or the host stops */
    bool mem_exceeded;
    /* Why its allocator refuses all growth (MB_NOGROW_*): it recursed its
     * thread's C stack away (for good), or it must end and the preemption
     * signal found it in C code, where only an error unwinds it safely
     * (bindings/preempt.c: until its slice ends). Atomic: that signal's
     * handler sets it on the owner's thread, and the allocator's common
     * case reads it with a plain load, the same one a bool took. */
    _Atomic uint8_t no_growth;
    bool abandoned;                   /* its state was left in the middle of its code
                                         (sysmon.h): released, never closed */

    /* A third: its sends, its timers, its allocator's limit. */
    mb_buf scratch;                   /* reused encode buffer */
    struct mb_post *_Atomic timer_batch; /* timers armed in this slice (sched.h): the owner
                                         pushes; it or the monitor at a hand-off takes all */
    mb_waittimer *wtimer;
    size_t mem_limit;                 /* 0: none; set before the pid exists (senders read it) */
    int timer_batch_n;
    bool out_due;                     /* it left frames for other nodes in this slice (runtime.h, flush_out) */
    bool in_match;                    /* inside a selective receive's match function */
    bool foreign_code;                /* it may run C code that calls it back (the FFI):
                                         never abandoned */

    /* The owner's, and read by others now and then. */
    _Atomic uint64_t timed_out_seq;   /* set by the wait timer when it fires */
    _Atomic bool trap_exit;
    _Atomic bool wake_missed;         /* a wake found it INSPECTED (mb_proc_inspected) */
    _Atomic uint16_t io_homes;        /* the loops it has been handed a socket or port on
                                         (io.h's mb_io_home_bit): set under its lock while
                                         not exiting, never cleared */
    _Atomic uint16_t listen_homes;    /* those of them where one was a listener, likewise */
    _Atomic uint32_t tables_owned;    /* shared tables it owns (table.h): changed under
                                         the tables' owner_lock, or by the owner itself */
    /* Whether it must end now (mb_proc_doomed): if it spins in compiled code
     * it is left there (sysmon.h). Not a flag set once: a signal that looked
     * fatal when queued may spare it when drained (unlinked, trapped). */
    _Atomic uint32_t ending;          /* queued exit signals that will end it (mb_signal_fate) */
    /* Leaving a doomed process where it is (sysmon.h): where the preemption
     * signal last found its thread, and the generated code the monitor saw
     * it in, which the signal's handler leaves at once (a sequence count,
     * odd while the monitor writes the bounds). */
    _Atomic uintptr_t stuck_pc;
    _Atomic uint32_t cut_seq;
    _Atomic uintptr_t cut_lo, cut_hi;
    uintptr_t nocut_lo, nocut_hi;     /* the monitor's own: the mapping it last found was
                                         no generated code (not read again while there) */
    _Atomic uint64_t await_ref;       /* the call this process waits on (0: none) */
    _Atomic mb_pid calling;           /* the server it waits on: the wait-for graph */

    /* owner */
    mb_saveq replies;                 /* the awaited call's reply, DOWN or deadlock, in order */
    double call_deadline;             /* the gen call it awaits (core.call_wait): likewise */
    mb_pid call_server;               /* that call's server, which holds its monitor (mb_call_monitored); 0: none */
    mb_ref call_ref;                  /* and the monitor's ref */
    _Atomic uint32_t doomed;          /* exit signals queued that nothing can spare it from ("kill"):
                                         never taken back, as it ends with the first of them
                                         (none counted for the host thread's, which goes on) */
    mb_msg *look_at, *look_prev;      /* the message a receive's match looks at, and the one before */
    bool look_gone;                   /* it: a removal inside the match keeps them right (mb_mailbox_drop) */
    mb_msg *refused;                  /* the last message a waiting receive's match refused */
    uint64_t refused_at;              /* (all before it too), at messages_out then (receive_api.c) */
    mb_pid serving_caller;            /* the call a gen_server's callback handles now (its caller */
    mb_ref serving_ref;               /* and ref; 0: none): its from sent anywhere is handed off */
    mb_arena arena;                   /* the memory of the kind's state (mb_proc_alloc) */
    mb_buf exit_reason;
    mb_buf tab_out;                   /* what a shared table's call copied out (bindings/table_api.c) */
    bool tab_out_busy;                /* a call's results are being read out of it */
    mb_target_kind target_kind;       /* what the kind starts from: */
    char *target;                     /* module spec or file path; also info.module */
    char *search_path;                /* where the kind finds code for it (the Lua kind:
                                         package.path, NUL, package.cpath, NUL); NULL:
                                         the kind's default. A spawn inherits it */
    mb_buf spawn_args;                /* freed once the process started */
    mb_buf start_term;                /* mb_spawn_opts's, likewise */

    /* Set by the system monitor before it hands off the scheduler running
     * p (sysmon.c); the stuck thread marks it done when the slice ends. */
    struct mb_orphan *orphan;

    /* lock */
    pthread_mutex_t lock;
    bool exiting;
    mb_pidvec links;
    mb_monvec monitors;               /* ref -> pid I monitor */
    mb_monvec monitored_by;           /* ref -> pid that monitors me */
    mb_monvec calls;                  /* ref -> caller, the monitors of calls to me: recorded by
                                         my drain from their requests (signal.h) */
    mb_monvec aliases;                /* active aliases (refs): messages through others drop */
    char *name;
    mb_tabbinds bound;                /* entries bound to it (tabbind.h): only it changes them */
    mb_tabcache tables_used;          /* the tables it used last (tabcache.h): its own */
    char *where;                      /* info.current_function (bindings/where.c), MB_WHERE_MAX
                                         bytes once a process first notes it (most never do):
                                         the owner writes it, and may read it unlocked; NULL: none */

    /* Room for the kind's own record, when it fits (the Lua kind's: its
     * state and coroutine, read at every slice): in the process's slot,
     * not a block of its own. Only the kind reads or writes it. */
    _Alignas(MB_CACHE_LINE) unsigned char kind_room[MB_CACHE_LINE];
} mb_proc;

enum { MB_NOGROW_CSTACK = 1, MB_NOGROW_DOOMED = 2 };

/* Whether p must end at once: an ending signal queued, or dying already. */
enum { MB_INTR_OFF, MB_INTR_ARMED, MB_INTR_ASKED };
#define MB_INTERRUPTED "interrupted (Ctrl-C)"

/* Whether p was asked to stop its evaluation; if so it is no longer asked. */
static inline bool mb_proc_take_interrupt(mb_proc *p) {
    int asked = MB_INTR_ASKED;
    return atomic_load_explicit(&p->interrupt, memory_order_relaxed) == MB_INTR_ASKED &&
           atomic_compare_exchange_strong(&p->interrupt, &asked, MB_INTR_ARMED);
}

static inline bool mb_proc_doomed(mb_proc *p) {
    return atomic_load_explicit(&p->ending, memory_order_relaxed) > 0 ||
           atomic_load_explicit(&p->must_end, memory_order_relaxed);
}

/* Whether p is gone as others see it: exiting, or an exit signal nothing
 * can spare it from ("kill") is queued to it. As Erlang's signals from one
 * sender arrive in order, a process that sent that signal itself then
 * finds p gone: mb.alive false, a call {"noproc"}, and no part of a
 * deadlock. (A link or monitor is still made to it, as its DOWN must come
 * after it released its name: see the closing note of the races audit.) */
static inline bool mb_proc_gone(mb_proc *p) {
    return atomic_load_explicit(&p->doomed, memory_order_relaxed) > 0 || atomic_load(&p->status) == MB_EXITING;
}

/* Allocate a process (not yet in the table). */
mb_proc *mb_proc_new(mb_runtime *rt);
/* Free everything the process still owns; called by the table on the last put. */
void mb_proc_free(mb_proc *p);

/* The counting allocator a kind creates its state with (Lua's lua_Alloc
 * signature): the process's arena, within mem_limit. */
void *mb_proc_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Make a waiting process runnable, from the thread running `from` (or from a
 * thread that is no scheduler when from == NULL). */
void mb_proc_wake(mb_proc *p, mb_sched *from);
/* Give back a waiting process whose stack or queue was read (its status
 * taken from MB_WAITING to MB_INSPECTED): it waits again, and is woken now
 * if a wake came meanwhile. */
void mb_proc_inspected(mb_proc *p, mb_sched *from);

/* Queue m for p and wake it. Takes ownership of m (freed if not queued).
 * Returns MB_DELIVER_OK, also when m was dropped as a send to a dead process
 * is, or MB_DELIVER_FULL when p's bound refused it (mailbox_bounds.h). */
enum { MB_DELIVER_OK = 0, MB_DELIVER_FULL = 1 };
int mb_proc_deliver(mb_proc *p, mb_msg *m, mb_sched *from);

/* Send a copy of bytes (an encoded term) to dest as a message of kind
 * from `from` (0: nobody), from the thread running s's slices (NULL: any
 * other). MB_DELIVER_OK, also when dest is gone (dropped, as OTP drops it),
 * MB_DELIVER_FULL when its bound refused it, -1 when out of memory. */
int mb_send(mb_runtime *rt, mb_sched *s, mb_pid from, mb_pid dest, mb_msg_kind kind, mb_ref ref,
            const void *bytes, size_t len);
/* The same for a message already built (a timer's): takes m, even when
 * dest is gone. */
int mb_send_msg(mb_runtime *rt, mb_sched *s, mb_pid dest, mb_msg *m);
/* mb_send from self, in its own turn, its message in a spare block when it
 * has one (mb_proc_msg). */
int mb_proc_send(mb_proc *self, mb_sched *s, mb_pid dest, mb_msg_kind kind, mb_ref ref,
                 const void *bytes, size_t len);

/* Message blocks reused by the process that took them: a server frees a
 * request and allocates a reply, a ring node frees what it got and sends
 * on, each a malloc and a free in another thread's arena (a message's
 * block is freed by its receiver's thread), which glibc then trims and
 * grows again. Owner only. mb_proc_msg: a message from self, in the last
 * block it kept if that holds len bytes, else a new one sized up to a
 * class that its next messages will fit; NULL if out of memory.
 * mb_proc_msg_done: m, taken by self, is done with: kept (a few small
 * blocks) or freed. */
mb_msg *mb_proc_msg(mb_proc *self, mb_msg_kind kind, mb_ref ref, const void *bytes, size_t len);
void mb_proc_msg_done(mb_proc *self, mb_msg *m);

/* p's DOWN, with its exit reason, to watcher for the monitor ref, from
 * the thread running from's slices (NULL: any other). */
void mb_proc_send_down(mb_proc *p, mb_sched *from, mb_pid watcher, mb_ref ref);

/* Aliases (OTP's): activate, deactivate (flushing what came through it). */
int mb_proc_alias(mb_proc *p, mb_ref ref);
void mb_proc_unalias(mb_proc *p, mb_ref ref);

/* After a WAIT: whether its timeout fired (and stop the timer). */
bool mb_proc_wait_timed_out(mb_proc *p);

/* The one road out: close the kind's state (a Lua state's finalizers may
 * still link or monitor), release the name, monitors and links, retire the
 * pid, then send EXIT and DOWN signals with exit_reason. Owner thread. */
void mb_proc_terminate(mb_proc *p);

int mb_pidvec_add(mb_pidvec *v, mb_pid pid);       /* no duplicates; -1 on OOM */
int mb_pidvec_remove(mb_pidvec *v, mb_pid pid);    /* 1 if it was there */
int mb_monvec_add(mb_monvec *v, mb_ref ref, mb_pid pid);        /* refs are unique; -1 on OOM */
int mb_monvec_take(mb_monvec *v, mb_ref ref, mb_pid *pid_out);  /* 1 if found; O(1) */
bool mb_monvec_has(const mb_monvec *v, mb_ref ref);
void mb_monvec_free(mb_monvec *v);

#endif
