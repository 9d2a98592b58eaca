/* wake.c: a loop's wake-up without uv_async's spin (see wake.h). */
#include "wake.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void on_readable(uv_poll_t *h, int status, int events) {
    (void)status, (void)events;
    mb_wake *w = (mb_wake *)h;
    uint64_t n;
    /* Read, then clear: a send after the clear writes again, and one that
     * saw the flag still set made its work visible before it looked. */
    while (read(w->fd, &n, sizeof n) < 0 && errno == EINTR) continue;
    atomic_store(&w->pending, 0);
    w->fn(w->arg);
}

int mb_wake_init(uv_loop_t *loop, mb_wake *w, void (*fn)(void *), void *arg) {
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->fd < 0) return -1;
    atomic_init(&w->pending, 0);
    w->fn = fn;
    w->arg = arg;
    if (uv_poll_init(loop, &w->poll, w->fd)) {
        close(w->fd);
        w->fd = -1;
        return -1;
    }
    if (uv_poll_start(&w->poll, UV_READABLE, on_readable)) {
        uv_close(mb_wake_handle(w), NULL);   /* the loop frees it when it runs its closes */
        return -1;
    }
    return 0;
}

void mb_wake_send(mb_wake *w) {
    if (atomic_exchange(&w->pending, 1)) return;   /* a wake is out already */
    uint64_t one = 1;
    /* Only EINTR can fail here: the counter cannot overflow with one write
     * per read. */
    while (write(w->fd, &one, sizeof one) < 0 && errno == EINTR) continue;
}

void mb_wake_free(mb_wake *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
}
