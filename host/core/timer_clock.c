/* timer_clock.c: a loop's timers on a timerfd (see timer_clock.h). */
#include "timer_clock.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "runtime.h"

/* The furthest the timerfd is set: ~146 years of CLOCK_MONOTONIC. A timer
 * due later (send_after takes up to 2^53 ms) is looked at then, and set
 * again. */
#define CLOCK_MAX_NS 4.6e18

/* The soonest the timerfd is set after now, in ms: timers due closer
 * together fire in one wake-up. Set for each one, a burst of 30,000 due
 * within 50 ms was a wake-up, a read and a set of the timerfd apiece (and
 * a wake-up of each receiver's scheduler), and fell 75-135 ms behind at the
 * 99th percentile. A timer is then at most this much late for it. */
#define CLOCK_GRAIN_MS 0.05

void mb_clock_init(mb_timer_clock *c) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* The timerfd set for the earliest timer, if that changed; disarmed when
 * none is set. A microsecond on top: the fire must not read a time before
 * the due one through the rounding of ms in a double (a timer never fires
 * early). */
static void clock_arm(mb_timer_clock *c) {
    if (c->firing) return;
    mb_heap_node *top = mb_heap_top(&c->pending);
    double due = top ? top->due : 0;
    if (due == c->armed) return;
    struct itimerspec at = {{0, 0}, {0, 0}};
    if (top) {
        double soonest = mb_now_ms() + CLOCK_GRAIN_MS;
        double when = ceil((due > soonest ? due : soonest) * 1e6) + 1000;   /* ns on mb_now_ms's clock: CLOCK_MONOTONIC */
        uint64_t ns = (uint64_t)(when < CLOCK_MAX_NS ? (when > 1 ? when : 1) : CLOCK_MAX_NS);
        at.it_value.tv_sec = (time_t)(ns / 1000000000u);
        at.it_value.tv_nsec = (long)(ns % 1000000000u);
    }
    if (timerfd_settime(c->fd, TFD_TIMER_ABSTIME, &at, NULL) == 0) c->armed = due;
    else fprintf(stderr, "moonbeam: cannot set a timer clock: %s\n", strerror(errno));
}

int mb_clock_set(mb_timer_clock *c, mb_heap_node *n) {
    if (mb_heap_holds(n)) mb_heap_remove(&c->pending, n);
    int rc = mb_heap_push(&c->pending, n);
    if (!c->batched) clock_arm(c);
    return rc;
}

void mb_clock_unset(mb_timer_clock *c, mb_heap_node *n) {
    mb_heap_remove(&c->pending, n);
    if (!c->batched) clock_arm(c);
}

void mb_clock_fire_due(mb_timer_clock *c) {
    if (c->firing) return;   /* a fire that leads here again: the outer loop goes on */
    mb_heap_node *top = mb_heap_top(&c->pending);
    double now = top ? mb_now_ms() : 0;   /* no clock read for an empty clock (a busy loop's look) */
    if (top && top->due <= now) {
        c->firing = true;
        while ((top = mb_heap_top(&c->pending)) && top->due <= now) {
            mb_heap_remove(&c->pending, top);
            c->fire(top, now);
        }
        c->firing = false;
    }
    clock_arm(c);
}

static void on_clock(uv_poll_t *w, int status, int events) {
    (void)status;
    (void)events;
    mb_timer_clock *c = w->data;
    uint64_t expirations;
    if (read(c->fd, &expirations, sizeof expirations) == (ssize_t)sizeof expirations)
        c->armed = 0;   /* it went off: set for nothing now */
    mb_clock_fire_due(c);
}

int mb_clock_attach(mb_timer_clock *c, uv_loop_t *loop, mb_clock_fire_fn fire) {
    c->fire = fire;
    c->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (c->fd < 0) return -1;
    c->watch.data = c;
    if (uv_poll_init(loop, &c->watch, c->fd) == 0) {
        if (uv_poll_start(&c->watch, UV_READABLE, on_clock) == 0) return 0;
        uv_close((uv_handle_t *)&c->watch, NULL);   /* the loop's close finishes it */
    }
    close(c->fd);
    c->fd = -1;
    return -1;
}

void mb_clock_free(mb_timer_clock *c) {
    mb_heap_free(&c->pending);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}
