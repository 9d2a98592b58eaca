/* blocking.h: the pool of threads that run mb.blocking calls.
 *
 * A process that calls mb.blocking(fn, ...) yields MB_YIELD_BLOCKING; its
 * scheduler hands it here and moves on. A pool thread resumes the process's
 * own coroutine, which runs fn (its kind's run_blocking), and when
 * fn returns hands the process back to a run queue, or ends it there if it
 * must end (a kill that came meanwhile, a crash). While here the process is
 * on no scheduler: p->sched is NULL, so what it sends, spawns or arms is
 * credited to no scheduler, as a non-scheduler thread's is.
 *
 * Threads start on first use, up to the pool's size: at most that many
 * blocking calls run at once, the others wait their turn in FIFO order. */
#ifndef MB_BLOCKING_H
#define MB_BLOCKING_H

#include "process.h"

typedef struct mb_blocking mb_blocking;

/* Default size: max(MB_BLOCKING_MIN, schedulers). */
#define MB_BLOCKING_MIN 4
#define MB_BLOCKING_MAX 1024

/* Allocate rt->blocking for up to `threads` threads (none started). -1 on OOM. */
int mb_blocking_init(mb_runtime *rt, int threads);

/* From p's scheduler, as p's owner: queue p for a pool thread, starting one
 * if none is idle and the pool is not full. p belongs to the pool from here.
 * -1 when no thread runs or can be started, or a signal that ends p is
 * queued for it already: p stays the caller's. */
int mb_blocking_submit(mb_runtime *rt, mb_proc *p);

/* p was sent a signal that ends it: if it still waits in the queue for a
 * thread, it leaves the queue for a run queue, where it ends at once (its
 * fn never runs), instead of when a thread is free. From any thread. (A
 * signal that turns out to spare it after all, a link removed meanwhile,
 * leaves fn to run on a scheduler, as when no pool thread can be had.) */
void mb_blocking_hurry(mb_runtime *rt, mb_proc *p);

/* Stop the pool: idle threads end at once; one running a call ends when the
 * call returns, if it does within the grace period. Processes still queued
 * stay where they are (the runtime frees them). Returns -1 when a thread
 * still runs: it may still touch the process table and the schedulers, so
 * nothing may be freed. Schedulers may still submit after this (the process
 * then just waits). */
int mb_blocking_stop(mb_runtime *rt, double grace_ms);

/* Free the pool, once stopped and once no scheduler runs. */
void mb_blocking_free(mb_runtime *rt);

#endif
