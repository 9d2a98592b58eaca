/* netsock.h: TCP and unix stream sockets, on one loop (netloop.h).
 *
 * The sockets of one scheduler's loop, by handle, and what each request
 * does to them. Every function here runs on the thread that runs that
 * loop now: no locks. (The I/O thread has a table too, which never holds a
 * socket: it answers requests on handles it does not know.) */
#ifndef MB_NETSOCK_H
#define MB_NETSOCK_H

#include <uv.h>
#include "io.h"

typedef struct mb_netsock mb_netsock;

typedef struct mb_sched mb_sched;

/* The sockets of sched's loop (NULL: the I/O thread's), nothing opened
 * yet. -1 on OOM. */
int mb_netsock_new(mb_netsock **out, mb_runtime *rt, mb_sched *sched, uv_loop_t *loop);
/* Do what r asks; takes r. */
void mb_netsock_handle(mb_netsock *ns, mb_io_req *r);
/* The same for r posted by a process on r->back: what is answered at
 * once wakes it there, so a process that asks a socket on another loop
 * is not pulled over by each answer; what is answered later (data that
 * came, a connection accepted) wakes it on this loop, beside its socket. */
void mb_netsock_handle_posted(mb_netsock *ns, mb_io_req *r);
/* pid is dead: close every socket it owns. A listener's descriptor is
 * closed (and a unix listener's file removed) before this returns; a
 * connection's is once its queued writes went out (netsock.c's close). */
void mb_netsock_owner_died(mb_netsock *ns, mb_pid pid);
/* The host stops: close every socket (the loop then ends). */
void mb_netsock_close_all(mb_netsock *ns);
/* Whether it holds sockets or work in flight (its loop must be polled). */
bool mb_netsock_busy(const mb_netsock *ns);
/* Whether close_all ran: requests are dropped unanswered. */
bool mb_netsock_stopping(const mb_netsock *ns);
/* Once the loop has ended. */
void mb_netsock_free(mb_netsock *ns);

#endif
