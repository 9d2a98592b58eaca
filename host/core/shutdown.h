/* shutdown.h: ending the whole host in order, OTP's init:stop.
 *
 * A shutdown starts once, with the status the OS process is to end with:
 * from os.exit(code) in any process, or from SIGTERM (0) or SIGINT (130)
 * when the embedder catches them (mb_shutdown_catch_signals). It runs as a
 * process of its own, the embedder's mb_config.shutdown_target (for Lua,
 * moonbeam.shutdown:run, lua/moonbeam/shutdown.lua):
 * the first process gets exit signal "shutdown" and the shutdown waits for
 * every process linked to it, directly or not, to end (supervisors stop
 * their children newest first, trapping gen_servers run terminate). Then
 * the embedder's on_done runs (moonbeam run: main.c); with none (a host
 * started by `require`), the host's thread ends the OS process if it is
 * the one that called os.exit (LuaJIT's own os.exit, so `close` works),
 * else exit(status) does.
 *
 * A watchdog on the timer thread, which never runs a process, ends the OS process
 * with status 1 if the shutdown takes longer than its timeout; so does a
 * SIGINT while one is under way. Signals reach the timer thread's loop
 * through uv_signal: no moonbeam code runs in a signal handler.
 *
 * Threads: status, ordered, done and first are atomics anyone reads; the
 * uv handles belong to the timer thread (work reaches it as posts). */
#ifndef MB_SHUTDOWN_H
#define MB_SHUTDOWN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "pid.h"

typedef struct mb_runtime mb_runtime;
typedef struct mb_proc mb_proc;
typedef struct mb_sched mb_sched;

#define MB_DEFAULT_SHUTDOWN_TIMEOUT_MS 10000.0

typedef struct mb_shutdown {
    _Atomic int status;            /* -1 until a shutdown starts; then 0..255 */
    _Atomic bool ordered;          /* the shutdown knows whom it waits for: its first
                                      exit signal goes out next */
    _Atomic bool done;
    _Atomic mb_pid first;          /* moonbeam run's script; 0: the host's own process */
    _Atomic bool host_exits;       /* the host's thread waits in its os.exit to end the
                                      OS process itself (set before the start) */
    double timeout_ms;             /* set before the runtime starts schedulers */
    /* Set by the embedder before any shutdown can start; NULL: exit(status). */
    void (*on_done)(mb_runtime *rt, int status, void *ud);
    void *on_done_ud;
    pthread_mutex_t mu;            /* with cv: waiting for done and signals_rc */
    pthread_cond_t cv;
    int signals_rc;                /* mu: mb_shutdown_catch_signals' outcome (1: pending) */
    /* the timer thread only */
    uv_timer_t watchdog;
    uv_signal_t sigterm, sigint, sighup;
    bool watchdog_init, signals_init;
} mb_shutdown;

int mb_shutdown_init(mb_shutdown *sd, double timeout_ms);
void mb_shutdown_destroy(mb_shutdown *sd);

/* Start the shutdown with status (only the low 8 bits count), on behalf
 * of `from` (the calling process; NULL: the host's). Returns 1 when this
 * call started it, 0 when one was already under way (its status stands). */
int mb_shutdown_start(mb_runtime *rt, int status, mb_proc *from);

/* The status asked for, or -1 when no shutdown has started. */
int mb_shutdown_status(mb_runtime *rt);

/* As if the host's own process had ended with reason: each process linked
 * to it is unlinked and gets the exit signal, from the host's pid (so a
 * gen_server or supervisor it started takes it for its parent's). The
 * host's thread runs code that cannot be ended under it: this is how a
 * shutdown whose first process is the host's reaches what it started. */
void mb_shutdown_signal_host_links(mb_runtime *rt, mb_sched *s, const uint8_t *reason, size_t len);

/* From the shutdown process once every process it waited for has ended:
 * disarm the watchdog, wake mb_shutdown_wait, then on_done; without one,
 * first stop the I/O thread (the ports' programs die with the host), and
 * unless the host's thread ends the OS process (host_exits),
 * exit(status): it does not return then. */
void mb_shutdown_done(mb_runtime *rt);

/* Block this thread (no scheduler's) until the shutdown is done; returns
 * its status. */
int mb_shutdown_wait(mb_runtime *rt);

/* SIGTERM and SIGINT start the shutdown (status 0 and 130); a SIGINT
 * while one runs exits at once with status 1. For `moonbeam run`: a
 * library must leave a program's signals alone. Returns once they are
 * caught, or -1 when they cannot be. A SIGINT the shell set to be ignored
 * (a background job's) is caught too: the contract says what it does. */
int mb_shutdown_catch_signals(mb_runtime *rt);

/* End the OS process now with status 1, saying why on stderr; the console
 * socket goes too. Any thread. */
_Noreturn void mb_shutdown_force(mb_runtime *rt, const char *why);

#endif
