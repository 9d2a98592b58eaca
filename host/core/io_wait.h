/* io_wait.h: a dying owner waits for the loops that close its sockets.
 *
 * A process's sockets and ports are closed before its EXIT and DOWN go out
 * (io.h's mb_io_owner_died), so that whoever hears of the death can bind
 * the same address at once. Each socket's handle belongs to one loop's
 * thread, so the ending thread asks every other loop that may hold some
 * of them with an OWNER_DIED request carrying one of these, and waits
 * until each such request is done. A request is done when it is freed
 * (mb_io_req_free), whether it ran or was dropped because the host stops.
 *
 * Shared between threads: a mutex and a condition variable guard the
 * count; each request holds a reference and the waiter one, and the last
 * to let go frees it, so a waiter that gives up (the host stops) leaves
 * nothing dangling. */
#ifndef MB_IO_WAIT_H
#define MB_IO_WAIT_H

typedef struct mb_io_wait mb_io_wait;
typedef struct mb_runtime mb_runtime;
typedef struct mb_sched mb_sched;

/* Nothing to wait for yet; the caller holds the waiter's reference. NULL
 * on OOM. */
mb_io_wait *mb_io_wait_new(void);
/* One more request to wait for, which takes a reference: before it is
 * posted. */
void mb_io_wait_add(mb_io_wait *w);
/* A request carrying w is done (from any thread): drops its reference. */
void mb_io_wait_done(mb_io_wait *w);
/* Wait until every request added is done, or the host stops; then drop
 * the waiter's reference. here: the scheduler this thread serves (NULL:
 * none): its posts run meanwhile, so two loops whose threads wait for each
 * other both get on. Not from inside a post. */
void mb_io_wait_end(mb_io_wait *w, mb_runtime *rt, mb_sched *here);

#endif
