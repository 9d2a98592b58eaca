/* netloop.c: stream sockets on the schedulers' loops (see netloop.h):
 * which loop a request goes to, and doing it in the asker's slice or
 * posting it there. What a request does to a socket is netsock.c's. */
#include "netloop.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include "io_wait.h"
#include "netsock.h"
#include "runtime.h"
#include "sched.h"

int mb_netloop_init(mb_sched *s) { return mb_netsock_new(&s->ns, s->rt, s, &s->loop); }

void mb_netloop_close(mb_sched *s) {
    if (s->ns) mb_netsock_close_all(s->ns);
}

void mb_netloop_drain(mb_sched *s, double until_ms) {
    if (!s->ns || !mb_netsock_busy(s->ns)) return;
    /* On the stopping thread, which may not block SIGPIPE as the
     * schedulers do: a write to a peer that has gone would end the host
     * (status 141). Blocked meanwhile, and one it raised taken, not left
     * pending for the unblocking. */
    sigset_t pipe, old;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    while (mb_netsock_busy(s->ns) && mb_now_ms() < until_ms) {
        if (uv_run(&s->loop, UV_RUN_NOWAIT)) continue;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    struct timespec none = {0, 0};
    while (sigtimedwait(&pipe, NULL, &none) == SIGPIPE) {}
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void mb_netloop_free(mb_sched *s) {
    mb_netsock_free(s->ns);
    s->ns = NULL;
}

bool mb_netloop_busy(mb_sched *s) { return mb_netsock_busy(s->ns); }

/* Posted: runs on s's loop. After the stop nobody waits for answers. */
static void on_loop(mb_sched *s, void *arg) {
    mb_io_req *r = arg;
    if (mb_netsock_stopping(s->ns)) mb_io_req_free(r);
    else mb_netsock_handle_posted(s->ns, r);
}

static int post(mb_sched *s, mb_io_req *r) {
    if (mb_sched_post(s, on_loop, r) == 0) return 0;
    mb_io_req_free(r);
    return -1;
}

/* Pin self's slice on s (CLAIMED, as the monitor pins one to look at it):
 * true only while self runs now on the thread that serves s, and from then
 * until unpin the monitor cannot hand s to another thread. A slice's word
 * is never reused, so a stale one (self ran there before, was stolen, or
 * lost s in a hand-off) fails. */
static bool pin(mb_proc *self, mb_sched *s) {
    if (self->ext || self->sched != s) return false;
    uint64_t w = self->slice_word;
    return (w & MB_SLICE_RUNNING) && atomic_compare_exchange_strong(&s->slice, &w, w | MB_SLICE_CLAIMED);
}

static void unpin(mb_proc *self, mb_sched *s) {
    atomic_store_explicit(&s->slice, self->slice_word, memory_order_release);
}

/* Where a request goes: its socket's loop, or for a new socket the
 * asker's scheduler (any, round robin, for a process off the schedulers). */
static mb_sched *target(mb_proc *self, const mb_io_req *r) {
    mb_runtime *rt = self->rt;
    int home = mb_io_home(r->handle);
    if (home > 0 && home <= rt->nscheds) return &rt->scheds[home - 1];
    if (r->handle == 0 && self->sched && !self->ext) return self->sched;
    return &rt->scheds[atomic_fetch_add(&rt->next_sched, 1) % (uint32_t)rt->nscheds];
}

int mb_netloop_submit(mb_proc *self, mb_io_req *r) {
    if (mb_io_stopping(self->rt)) {
        mb_io_req_free(r);
        return -1;
    }
    mb_sched *s = target(self, r);
    if (!pin(self, s)) {
        r->back = self->ext ? NULL : self->sched;
        return post(s, r);
    }
    mb_netsock_handle(s->ns, r);
    unpin(self, s);
    return 0;
}

void mb_netloop_owner_died(mb_runtime *rt, mb_pid pid, uint16_t homes, uint16_t waited, mb_sched *here,
                           mb_io_wait *w) {
    for (int i = 0; i < rt->nscheds; i++) {
        mb_sched *s = &rt->scheds[i];
        if (s == here || !(homes & mb_io_home_bit(i + 1))) continue;
        mb_io_req *r = mb_io_req_new(MB_IO_OWNER_DIED, 0);
        if (!r) {
            fprintf(stderr, "moonbeam: out of memory closing a dead process's sockets\n");
            continue;
        }
        r->pid = pid;
        mb_io_wait *rw = waited & mb_io_home_bit(i + 1) ? w : NULL;   /* connections only: not waited for */
        if (rw) mb_io_wait_add(rw);
        r->wait = rw;
        post(s, r);   /* a failure frees r, which tells w */
    }
    /* Ours last: the other loops close theirs meanwhile. */
    if (here && (homes & mb_io_home_bit(here->id + 1))) mb_netsock_owner_died(here->ns, pid);
}

void mb_netloop_broadcast(mb_runtime *rt, mb_io_req *r) {
    for (int i = 0; i < rt->nscheds; i++) {
        mb_io_req *c = mb_io_req_new(r->op, 0);
        if (!c) {
            fprintf(stderr, "moonbeam: out of memory telling the sockets' loops\n");
            continue;
        }
        c->pid = r->pid;
        c->ref = r->ref;
        c->handle = r->handle;
        post(&rt->scheds[i], c);   /* fails only out of memory: said above, or the stop closes all */
    }
    mb_io_req_free(r);
}
