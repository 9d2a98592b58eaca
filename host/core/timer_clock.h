/* timer_clock.h: timers of one libuv loop, to the nanosecond: a heap of them
 * by due time (timer_heap.h) and a timerfd set to the earliest, watched by
 * the loop. libuv's own timers count whole milliseconds of a clock read once
 * a loop turn: they fired ~1 ms late at the median. The timer thread's
 * send_after timers and each scheduler's receive timeouts are on one each.
 * The nodes are the caller's (timer.c's records); fire is called for each
 * one due, taken out of the heap. The loop's thread only. */
#ifndef MB_TIMER_CLOCK_H
#define MB_TIMER_CLOCK_H

#include <stdbool.h>
#include <uv.h>
#include "timer_heap.h"

typedef void (*mb_clock_fire_fn)(mb_heap_node *n, double now);

typedef struct mb_timer_clock {
    mb_heap pending;          /* the timers set, by due time */
    int fd;                   /* the timerfd (-1: not attached) */
    uv_poll_t watch;          /* on the loop */
    double armed;             /* the due time fd is set for; 0: unset */
    bool firing;              /* in mb_clock_fire_due: it sets fd once, at its end */
    bool batched;             /* set and unset leave fd: the owner calls
                                 mb_clock_fire_due after each turn of its loop */
    mb_clock_fire_fn fire;
} mb_timer_clock;

/* A clock that holds nothing yet and watches no loop. */
void mb_clock_init(mb_timer_clock *c);
/* Its timerfd, watched by loop; fire(node, now) for each timer due. */
int mb_clock_attach(mb_timer_clock *c, uv_loop_t *loop, mb_clock_fire_fn fire);
/* Set n for n->due (taken out first if it was set); -1: no memory, n is
 * out. A batched clock is set for it at the next mb_clock_fire_due. */
int mb_clock_set(mb_timer_clock *c, mb_heap_node *n);
/* Take n out (it must be in). */
void mb_clock_unset(mb_timer_clock *c, mb_heap_node *n);
/* Every timer due by now fires, in due order. */
void mb_clock_fire_due(mb_timer_clock *c);
/* Once the loop is closed: the heap's array and the timerfd; the nodes
 * still in it are the caller's, freed first (c->pending.v[0..n)). */
void mb_clock_free(mb_timer_clock *c);

#endif
