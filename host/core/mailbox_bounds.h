/* mailbox_bounds.h: how much a process's mailbox may hold, and the counts
 * that say how much it holds (message_queue_len, message_queue_bytes).
 *
 * A process spawned with max_queue = N holds at most N ordinary messages
 * (MB_MSG_DATA and MB_MSG_ALIASED: sends, send_after, gen_server casts and
 * call requests). One more is handled by on_full:
 *   drop_new  refused: send returns false, "full" (gen.call: {"overloaded"}).
 *   drop_old  queued; the oldest ordinary message is dropped to make room
 *             when the owner next drains its inbox (every receive). An
 *             owner that does not receive meanwhile holds up to 2N; past
 *             that, new messages are refused as with drop_new.
 *   exit      dropped, and the owner exits with reason "queue_full".
 * Exit signals, DOWN messages, trapped EXITs and gen_server's start, stop
 * and sys requests (MB_MSG_SYSTEM), call replies and deadlock notices are
 * never dropped and never counted against N.
 *
 * memory_limit counts the bytes of the queued messages as well as those of
 * the Lua state: a delivery that would take a limited process past it ends
 * the process with reason "memory_limit", as Erlang's max_heap_size kills a
 * process whose heap (its messages included) grows too big. That message is
 * dropped, and like every later one until the process is gone, its sender
 * sees a successful send: as with a send to a process that is exiting, what
 * the sender learns is the process's exit, through its links and monitors.
 * The owner's allocator counts the queued bytes too (process.c).
 *
 * Counting, and its races. Senders add to the counts (one relaxed atomic
 * add each for queue_len and queue_bytes_in; one more for queue_bounded
 * when there is a bound) before they push, and undo the add when the
 * message is refused; the owner counts out what leaves the queue (received,
 * flushed, trimmed, moved to the reply slot): a subtraction from queue_len
 * and queue_bounded, and, the receive path's cheapest, a plain store to
 * queue_bytes_out, whose only writer it is. A count is therefore never
 * below what is queued, so drop_new and exit never let more than N be
 * queued; two racing senders may see each other's add that is about to be
 * undone and be refused with N - 1 queued. memory_limit reads the counts
 * and then adds: senders racing past the check together exceed the limit by
 * one message each, briefly (the next send, or the owner's next
 * allocation, ends the process). Nothing grows without bound. */
#ifndef MB_MAILBOX_BOUNDS_H
#define MB_MAILBOX_BOUNDS_H

#include "process.h"

typedef enum mb_on_full { MB_FULL_DROP_NEW, MB_FULL_DROP_OLD, MB_FULL_EXIT } mb_on_full;

enum { MB_ADMIT_QUEUE, MB_ADMIT_FULL, MB_ADMIT_DROP };

/* Sender, for an ordinary message m to p, which has a max_queue or a
 * memory_limit: MB_ADMIT_QUEUE (queue it; m->bounded says whether
 * queue_bounded counted it), MB_ADMIT_FULL (refused: tell the sender) or
 * MB_ADMIT_DROP (drop it silently: p is exiting, for this message or an
 * earlier one). Does not free m. */
int mb_mailbox_admit(mb_proc *p, mb_msg *m, mb_sched *from);

/* End p with reason: an untrappable signal, sent once; later deliveries see
 * queue_doomed and are dropped, so a flood at a process that takes long to
 * act on the signal (it runs a long C call) costs nothing. Any thread, p's
 * own allocator too (it takes no lock of p's). */
void mb_mailbox_doom(mb_proc *p, const char *reason, mb_sched *from);

/* Any thread: m is queued to p from now on (before it is pushed, or, for
 * the owner's own trapped EXITs and DOWNs, before it is appended). */
static inline void mb_mailbox_count_in(mb_proc *p, const mb_msg *m) {
    atomic_fetch_add_explicit(&p->messages_in, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->queue_bytes_in, mb_msg_size(m), memory_order_relaxed);
}

/* Owner: m has left the queue (received, or moved to the reply slot). The
 * caller unlinks and frees it. Plain stores (the owner is the only writer
 * of the totals out), release: a reader that sees a new total out sees the
 * adds in of the messages it counts (they came before their push, which
 * came before the owner's pop). */
static inline void mb_mailbox_taken(mb_proc *p, const mb_msg *m) {
    uint64_t n = atomic_load_explicit(&p->messages_out, memory_order_relaxed);
    atomic_store_explicit(&p->messages_out, n + 1, memory_order_release);
    size_t out = atomic_load_explicit(&p->queue_bytes_out, memory_order_relaxed);
    atomic_store_explicit(&p->queue_bytes_out, out + mb_msg_size(m), memory_order_release);
    if (m->bounded) atomic_fetch_sub_explicit(&p->queue_bounded, 1, memory_order_relaxed);
}

/* Owner: m is back in the queue it left (a call's DOWN whose monitor
 * outlives the call: call.h): mb_mailbox_taken undone. */
static inline void mb_mailbox_untaken(mb_proc *p, const mb_msg *m) {
    uint64_t n = atomic_load_explicit(&p->messages_out, memory_order_relaxed);
    atomic_store_explicit(&p->messages_out, n - 1, memory_order_release);
    size_t out = atomic_load_explicit(&p->queue_bytes_out, memory_order_relaxed);
    atomic_store_explicit(&p->queue_bytes_out, out - mb_msg_size(m), memory_order_release);
    if (m->bounded) atomic_fetch_add_explicit(&p->queue_bounded, 1, memory_order_relaxed);
}

/* Any thread: how many messages p has queued (message_queue_len). Out
 * first: both totals only grow, so in read after it is not below it. */
static inline uint32_t mb_mailbox_len(mb_proc *p) {
    uint64_t out = atomic_load_explicit(&p->messages_out, memory_order_acquire);
    uint64_t in = atomic_load_explicit(&p->messages_in, memory_order_relaxed);
    return (uint32_t)(in - out);
}

/* Any thread: the bytes of p's queued messages (message_queue_bytes). Out
 * first: both totals only grow, so in read after it is not below it. */
static inline size_t mb_mailbox_bytes(mb_proc *p) {
    size_t out = atomic_load_explicit(&p->queue_bytes_out, memory_order_acquire);
    size_t in = atomic_load_explicit(&p->queue_bytes_in, memory_order_relaxed);
    return in - out;
}

/* Owner: free the save queue's messages that match accepts (the first
 * only, unless all), counted out; returns how many went. */
int mb_mailbox_drop(mb_proc *p, bool (*match)(const mb_msg *, void *), void *ud, bool all);

/* Owner, after it drained its inbox: with drop_old, drop the oldest
 * ordinary messages past max_queue. Not while a selective receive walks the
 * save queue (p->in_match): that receive's own drain trimmed already. */
void mb_mailbox_trim(mb_proc *p);

#endif
