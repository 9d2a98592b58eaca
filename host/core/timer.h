/* timer.h: send_after timers and receive timeouts, each on a clock of
 * timer_clock.h (a heap by due time and a timerfd set to the earliest, to
 * the nanosecond: libuv's timers count whole milliseconds of a clock read
 * once a loop turn, and a timer fired ~1 ms late at the median, 2.3 ms at
 * the 99th percentile).
 *
 * send_after timers live on the runtime's timer thread, so a scheduler busy
 * with a long slice never delays them. Cancelling from anywhere is a CAS on
 * a timer's state (pending -> cancelled or pending -> fired, one wins); the
 * heap is only ever touched by the timer thread. So a cancelled timer never
 * delivers.
 *
 * A receive timeout lives on the loop of the scheduler running the process:
 * a call whose reply comes in time stops it with no system call and no
 * cross-thread hop. */
#ifndef MB_TIMER_H
#define MB_TIMER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "mailbox.h"
#include "pid.h"
#include "timer_clock.h"

/* The longest delay a timer is set for, in ms (2^53, some 285,000 years: a
 * double still counts it in whole ms). A receive timeout or a supervisor's
 * deadline beyond it, or infinite, means no timer at all: it never fires.
 * send_after refuses delays beyond it. */
#define MB_MAX_TIMEOUT_MS 9007199254740992.0

typedef struct mb_timer mb_timer;
typedef struct mb_runtime mb_runtime;
typedef struct mb_sched mb_sched;
typedef struct mb_proc mb_proc;

typedef struct mb_timers {
    pthread_mutex_t lock;        /* the live send_after timers by ref */
    mb_timer **buckets;
    size_t nbuckets, count;
    mb_timer_clock clock;        /* the timers started: the timer thread's only */
    size_t sweep_at;             /* the clock's size at which its timers to ended
                                    processes are dropped (timer.c, sweep_gone) */
} mb_timers;

int mb_timers_init(mb_timers *t);
/* The timerfd and its watch on loop, the timer thread's (before it runs). */
int mb_timers_attach(mb_timers *t, uv_loop_t *loop);
/* The timer thread, after each turn of its loop: the timers due fire, and
 * the clock is set for the next (not while the host stops: the schedulers'
 * run queues are gone then, and the timers left are freed with the rest). */
void mb_timers_turn(mb_runtime *rt);
/* Once the timer thread's loop is closed: the timers still pending too. */
void mb_timers_destroy(mb_timers *t);

/* Where a timer's message goes: a pid, or a name resolved when it fires,
 * here (node NULL) or registered on another node (the runtime's
 * remote_named). The strings are malloc'd. */
typedef struct mb_timer_dest {
    mb_pid pid;
    char *name, *node;
} mb_timer_dest;

/* Deliver msg to dest after ms, from the runtime's timer thread. from: the
 * scheduled process arming it, whose timers start in one batch when its
 * slice ends (NULL: at once). Takes ownership of msg and dest's strings.
 * Returns the timer's ref, or 0 when out of memory. */
mb_ref mb_send_after(mb_runtime *rt, mb_proc *from, double ms, mb_timer_dest dest, mb_msg *msg);
/* As mb_send_after, then again every interval ms (> 0) until cancelled, or
 * until owner (a pid) or a pid dest of this node is gone. */
mb_ref mb_send_interval(mb_runtime *rt, mb_proc *from, mb_pid owner, double ms, double interval,
                        mb_timer_dest dest, mb_msg *msg);
/* Milliseconds left (>= 0) if the timer was pending, else -1 (to the next
 * message of an interval). */
double mb_cancel_timer(mb_runtime *rt, mb_ref ref);

/* Receive timeouts, for the process running on `s` now, on s's clock
 * (timer_clock.h), to the nanosecond. A deadline beyond MB_MAX_TIMEOUT_MS
 * from now is never armed. A wait that ends early leaves its timer set
 * (timer.c): it is reused, or fires for nothing. */
void mb_waittimer_arm(mb_proc *p, mb_sched *s, double deadline_ms);
/* s may be NULL (a blocking thread): the timer's release goes to its loop. */
void mb_waittimer_release(mb_proc *p, mb_sched *s);
/* s's clock for receive timeouts, on its loop (before its thread runs). */
int mb_waits_attach(mb_sched *s);
/* Once s's loop is closed: every receive timeout s still holds. */
void mb_waits_free_all(mb_sched *s);

#endif
