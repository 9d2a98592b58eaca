/* netloop.h: TCP and unix stream sockets on the schedulers' own loops.
 *
 * Each scheduler's loop has a socket table (netsock.h). A socket lives on
 * the loop that opened or accepted it, and its handle says which (io.h's
 * mb_io_home): a request on it goes there. A new socket (listen, connect)
 * opens on the asker's scheduler. A request from a process running now on
 * that loop's thread is done at once, inside its slice (no thread hop, no
 * wake-up: buffered data answer at once, a send is written at once); from
 * anywhere else (a process another scheduler runs, one that was stolen, an
 * external process, a blocking thread) it is posted to that loop
 * (mb_sched_post). "That loop's thread" is whoever serves the scheduler now
 * (mb_sched_hand_off): the asker pins its own slice for the moment it
 * touches the loop, so the monitor cannot hand the loop to another thread
 * meanwhile.
 *
 * What comes later (data, a connection, a drained send) wakes its process
 * on the socket's scheduler, so an owner tends to run where its sockets
 * are; an answer made at once to a posted request wakes the asker where
 * it asked from (netsock.h's mb_netsock_handle_posted). */
#ifndef MB_NETLOOP_H
#define MB_NETLOOP_H

#include <stdbool.h>
#include "io.h"

typedef struct mb_sched mb_sched;

/* s's socket table, before its thread starts. -1 on OOM. */
int mb_netloop_init(mb_sched *s);
/* After s's thread is joined: close every socket (answering who waits). */
void mb_netloop_close(mb_sched *s);
/* After mb_netloop_close on every loop: run s's loop (no thread runs it
 * now) until what its sockets had queued has gone out, each within its
 * close's bound (netsock.c), or until until_ms (mb_now_ms) at the latest. */
void mb_netloop_drain(mb_sched *s, double until_ms);
/* Once s's loop is closed. */
void mb_netloop_free(mb_sched *s);
/* Whether s's loop holds sockets: it is then polled at every look, not
 * only when a timer is due. */
bool mb_netloop_busy(mb_sched *s);

/* A stream request of self's (takes r): done now or posted. -1 when the
 * host stops or memory runs out (r freed). */
int mb_netloop_submit(mb_proc *self, mb_io_req *r);
/* r (its pid and ref) to every loop: a timed-out connect, wherever it
 * was started. Takes r. */
void mb_netloop_broadcast(mb_runtime *rt, mb_io_req *r);
/* pid is dead: close what it owns on each scheduler's loop that homes
 * marks (io.h's mb_io_home_bit). On here's (the scheduler this thread
 * serves, or NULL) at once; to the others an OWNER_DIED request is posted,
 * added to w (NULL: none) for the caller to wait on. */
void mb_netloop_owner_died(mb_runtime *rt, mb_pid pid, uint16_t homes, uint16_t waited, mb_sched *here,
                           mb_io_wait *w);

#endif
