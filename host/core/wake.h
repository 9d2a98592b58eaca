/* wake.h: waking a thread's libuv loop from any other thread.
 *
 * uv_async_send in Debian's libuv (1.44) marks the handle busy, writes the
 * loop's eventfd, then marks it done; the woken loop spins (and
 * sched_yields) until the sender is done. On a loaded machine the sender
 * is often preempted in between by the very thread it woke, so each wake
 * cost tens of microseconds of spinning on both sides (a third of the CPU
 * of a call between nodes, measured with perf). This is the same
 * coalescing wake without the spin: an eventfd of its own under a uv_poll
 * handle, and a pending flag so a burst of sends makes one write. The
 * schedulers and the timer thread (sched.c) and the distribution thread's
 * queue (host/dist/dist.c) are woken by it. */
#ifndef MB_WAKE_H
#define MB_WAKE_H

#include <stdatomic.h>
#include <uv.h>

typedef struct mb_wake {
    uv_poll_t poll;            /* first: the handle closes as part of the struct */
    int fd;                    /* the eventfd; -1 before init */
    _Atomic int pending;       /* a write is out that the loop has not read */
    void (*fn)(void *arg);     /* run on the loop's thread after each wake */
    void *arg;
} mb_wake;

/* On loop's thread, before any sender: fn(arg) runs on the loop after a
 * send. -1 on failure (mb_wake_free still closes what was opened). */
int mb_wake_init(uv_loop_t *loop, mb_wake *w, void (*fn)(void *), void *arg);
/* Any thread: fn runs on the loop once more, after this call (sends before
 * it runs coalesce). What fn must see is published before the call. */
void mb_wake_send(mb_wake *w);
/* The handle, to uv_close (with a NULL callback) on the loop's thread. */
static inline uv_handle_t *mb_wake_handle(mb_wake *w) { return (uv_handle_t *)&w->poll; }
/* Close the eventfd: once the handle is closed and no thread sends any more. */
void mb_wake_free(mb_wake *w);

#endif
