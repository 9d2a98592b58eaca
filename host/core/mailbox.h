/* mailbox.h: a process's incoming queue.
 *
 * Two parts. The inbox is a lock-free multi-producer single-consumer queue
 * (Vyukov's intrusive MPSC with a sentinel node): any thread pushes with one
 * atomic exchange, only the owning process pops. The save queue is the
 * owner's private, ordered list of messages taken from the inbox but not yet
 * received: selective receive walks it, leaving what it skips in order.
 * Signals (exit, down) travel through the inbox too, so everything one
 * sender sends to one receiver arrives in the order it was sent. */
#ifndef MB_MAILBOX_H
#define MB_MAILBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pid.h"

typedef enum mb_msg_kind {
    MB_MSG_DATA,        /* an ordinary message: max_queue counts it, a full mailbox may drop it */
    MB_MSG_SYSTEM,      /* a message a full mailbox never drops nor counts against max_queue:
                           a trapped exit's {"EXIT", from, reason}, gen_server's start and stop */
    MB_MSG_DOWN,        /* a DOWN message (data), tagged with its ref so demonitor can flush it */
    MB_SIG_EXIT,        /* exit(pid, reason) from `from` */
    MB_SIG_LINK_EXIT,   /* a linked process `from` exited with reason */
    MB_SIG_DOWN,        /* a monitored process `from` exited; ref is the monitor */
    MB_MSG_REPLY,       /* a call's reply, for the caller's reply slot (ref: the call) */
    MB_MSG_DEADLOCK,    /* the call with this ref is part of a cycle; data: the chain */
    MB_MSG_ALIASED,     /* data sent through an alias (ref): dropped once it is inactive */
    MB_SIG_OVERFLOW,    /* the mailbox ends its owner (untrappable): reason queue_full or
                           memory_limit (mailbox_bounds.h) */
    MB_MSG_CODE,        /* a code change request (mb.reload): queued as a system message, taken
                           by the owner's next receive whatever it matches, never by a match */
    MB_MSG_CALL_DOWN,   /* the DOWN of a call's monitor of a process on another node (ref: the
                           call): its reply slot's while awaited, else dropped (the call is over,
                           and its demonitor may not have reached the other node yet) */
    MB_SIG_DEMONITOR,   /* the call `ref` of `from` is over: its monitor, which the receiver
                           holds (signal.h, mb_call_monitored), goes */
} mb_msg_kind;

typedef struct mb_msg {
    _Atomic(struct mb_msg *) next;
    uint8_t kind;
    uint8_t bounded;    /* counted in its receiver's queue_bounded (mailbox_bounds.h) */
    uint8_t ending;     /* an exit signal counted in its receiver's `ending`: its fate (signal.h) */
    uint8_t call_monitor; /* a call's request: it carries its caller's monitor of the receiver
                             (ref: the call's), until the receiver's drain records it; a
                             call's reply: the server took that monitor away with it */
    uint32_t cap;       /* the payload bytes its block holds: len, or more for a block
                           that is reused (process.h, mb_proc_msg) */
    mb_pid from;
    mb_ref ref;
    size_t len;
    uint8_t data[];
} mb_msg;

/* The size of a cache line: what a busy sender and its receiver must not
 * both write, lest each message move the line from one core to the other. */
#define MB_CACHE_LINE 64

typedef struct mb_inbox {
    _Atomic(mb_msg *) tail;   /* producers: exchange */
    mb_msg *head;             /* consumer only: on another line than the tail where the
                                 owner puts the inbox so (process.h) */
    mb_msg sentinel;          /* a producer writes it when the queue was empty */
} mb_inbox;

typedef struct mb_saveq {     /* owner only */
    mb_msg *head, *tail;
} mb_saveq;

/* A message of len payload bytes, uninitialised payload; NULL if out of memory. */
mb_msg *mb_msg_new(mb_msg_kind kind, mb_pid from, mb_ref ref, size_t len);
/* m's header for a message of len payload bytes, as mb_msg_new writes it;
 * its block (cap) stays what it is: a block used again. */
static inline void mb_msg_init(mb_msg *m, mb_msg_kind kind, mb_pid from, mb_ref ref, size_t len) {
    atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
    m->kind = (uint8_t)kind;
    m->bounded = 0;
    m->ending = 0;
    m->call_monitor = 0;
    m->from = from;
    m->ref = ref;
    m->len = len;
}
mb_msg *mb_msg_copy(mb_msg_kind kind, mb_pid from, mb_ref ref, const void *p, size_t len);
/* The bytes m takes, header included: what message_queue_bytes counts. */
static inline size_t mb_msg_size(const mb_msg *m) { return sizeof *m + m->len; }

void mb_inbox_init(mb_inbox *q);
/* Any thread. Returns whether the inbox looked empty before (a hint). */
void mb_inbox_push(mb_inbox *q, mb_msg *m);
/* Owner only. NULL when empty or when a producer is between its two steps. */
mb_msg *mb_inbox_pop(mb_inbox *q);
/* Any thread: whether anything waits (or is being pushed), without the
 * owner's head: a pop that raced a push can leave a message at the head
 * that only mb_inbox_nonempty sees. Inline, as the next: a receive asks
 * at every call, and mostly finds nothing new. */
static inline int mb_inbox_pushed(mb_inbox *q) {
    return atomic_load(&q->tail) != &q->sentinel || atomic_load(&q->sentinel.next) != NULL;
}
/* Owner only: the same, with the head. */
static inline int mb_inbox_nonempty(mb_inbox *q) {
    return q->head != &q->sentinel || mb_inbox_pushed(q);
}
void mb_inbox_free_all(mb_inbox *q);

void mb_saveq_append(mb_saveq *s, mb_msg *m);
/* Unlink m, whose predecessor is prev (NULL for the head). A message that
 * leaves its process's queue is counted out too: mb_mailbox_taken, or
 * mb_mailbox_drop to unlink, count and free (mailbox_bounds.h). */
void mb_saveq_remove(mb_saveq *s, mb_msg *prev, mb_msg *m);
void mb_saveq_free_all(mb_saveq *s);

#endif
