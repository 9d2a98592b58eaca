/* external.h: processes driven by an OS thread of their own.
 *
 * The program that starts a runtime (a Lua script that required moonbeam,
 * moonbeam's own main, a test in C) takes part as a process: it has a pid,
 * a mailbox, links and monitors, but no scheduler runs it. Its thread
 * blocks on a condition variable where a scheduled process would yield;
 * a delivery wakes it (process.c). */
#ifndef MB_EXTERNAL_H
#define MB_EXTERNAL_H

#include "process.h"

/* A new external process in rt's table, running (its thread is the
 * caller's); name is what info shows as its module. NULL: no memory, or the
 * table is full. */
mb_proc *mb_external_new(mb_runtime *rt, const char *name);

/* Block p's thread until a message may have arrived (1) or until deadline,
 * in ms on mb_now_ms's clock (0 on timeout); deadline < 0: no timeout. */
int mb_external_wait(mb_proc *p, double deadline);

#endif
