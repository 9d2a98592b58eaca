/* io.c: where a request goes (see io.h), and the I/O thread: its loop,
 * the request queue, starting and stopping, and what an owner's death
 * does. What a request does to a socket is netsock.c's, netudp.c's or
 * port.c's. */
#include "io.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "io_wait.h"
#include "netloop.h"
#include "netsock.h"
#include "netudp.h"
#include "port.h"
#include "process.h"
#include "runtime.h"

struct mb_io {
    mb_runtime *rt;
    pthread_mutex_t lock;        /* guards the queue, started and stopping */
    mb_io_req *head, *tail;
    bool started, stopping;
    _Atomic bool closing;        /* stopping, for readers without the lock */
    _Atomic uint64_t next_id;    /* handle ids, never reused */
    /* the I/O thread's own once started: */
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    mb_netsock *ns;
    mb_netudp *nu;
    mb_ports *pp;
};

mb_io_req *mb_io_req_new(mb_io_op op, size_t len) {
    /* Only the header zeroed: the data are the caller's to fill (a send's
     * are copied in at once). */
    mb_io_req *r = malloc(sizeof *r + MB_IO_HEADROOM + len);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->op = op;
    r->len = len;
    r->opts = (mb_io_opts){MB_IO_UNSET, false, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET};
    return r;
}

void mb_io_req_free(mb_io_req *r) {
    if (!r) return;
    if (r->wait) mb_io_wait_done(r->wait);   /* an owner's death: its closer waits for this */
    free(r->host);
    free(r);
}

uint64_t mb_io_new_handle(mb_runtime *rt, bool port, int home) {
    uint64_t id = (atomic_fetch_add(&rt->io->next_id, 1) + 1) & ((UINT64_C(1) << MB_IO_HOME_SHIFT) - 1);
    return MB_REF_BIT | MB_TAB_BIT | MB_IO_BIT | (port ? MB_PORT_BIT : 0) |
           ((uint64_t)home << MB_IO_HOME_SHIFT) | id;
}

bool mb_io_stopping(mb_runtime *rt) { return atomic_load(&rt->io->closing); }

int mb_io_init(mb_runtime *rt) {
    mb_io *io = calloc(1, sizeof *io);
    if (!io) return -1;
    if (pthread_mutex_init(&io->lock, NULL)) {
        free(io);
        return -1;
    }
    io->rt = rt;
    rt->io = io;
    return 0;
}

/* Which of netsock.c, netudp.c and port.c a request is for: by its op, or
 * for a request on a handle, by whose the handle is. */
static void route(mb_io *io, mb_io_req *r) {
    switch (r->op) {
    case MB_IO_UDP_OPEN: case MB_IO_SENDTO: case MB_IO_RECVFROM:
        mb_netudp_handle(io->nu, r);
        return;
    case MB_IO_PORT_OPEN: case MB_IO_PORT_WRITE: case MB_IO_PORT_EOF: case MB_IO_PORT_KILL:
        mb_ports_handle(io->pp, r);
        return;
    case MB_IO_OWNER_DIED:
        mb_netudp_owner_died(io->nu, r->pid);
        mb_ports_owner_died(io->pp, r->pid);
        mb_netsock_handle(io->ns, r);
        return;
    default:
        if (r->handle & MB_PORT_BIT) mb_ports_handle(io->pp, r);
        else if (r->handle && mb_netudp_has(io->nu, r->handle)) mb_netudp_handle(io->nu, r);
        else mb_netsock_handle(io->ns, r);
    }
}

/* The queue, taken whole; on stop, everything closes and the loop ends. */
static void on_wake(uv_async_t *a) {
    mb_io *io = a->data;
    pthread_mutex_lock(&io->lock);
    mb_io_req *r = io->head;
    io->head = io->tail = NULL;
    bool stopping = io->stopping;
    pthread_mutex_unlock(&io->lock);
    while (r) {
        mb_io_req *next = r->next;
        if (stopping) mb_io_req_free(r);   /* the host ends: nobody waits for answers */
        else route(io, r);
        r = next;
    }
    if (stopping) {
        mb_netsock_close_all(io->ns);
        mb_netudp_close_all(io->nu);
        mb_ports_close_all(io->pp);
        uv_close((uv_handle_t *)&io->wake, NULL);
    }
}

static void io_main(void *arg) {
    mb_io *io = arg;
    /* A write to a pipe or socket whose reader is gone fails with EPIPE
     * here instead of raising SIGPIPE, which would end the host. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    uv_run(&io->loop, UV_RUN_DEFAULT);   /* until on_wake closed everything */
}

/* Under io->lock: the loop, the wake-up and the thread. */
static int start(mb_io *io) {
    if (uv_loop_init(&io->loop)) return -1;
    if (uv_async_init(&io->loop, &io->wake, on_wake)) goto fail_loop;
    io->wake.data = io;
    if (mb_netsock_new(&io->ns, io->rt, NULL, &io->loop)) goto fail_async;
    if (mb_netudp_new(&io->nu, io->rt, &io->loop)) goto fail_ns;
    if (mb_ports_new(&io->pp, io->rt, &io->loop)) goto fail_nu;
    if (uv_thread_create(&io->thread, io_main, io)) goto fail_pp;
    io->started = true;
    return 0;
fail_pp:
    mb_ports_free(io->pp);
    io->pp = NULL;
fail_nu:
    mb_netudp_free(io->nu);
    io->nu = NULL;
fail_ns:
    mb_netsock_free(io->ns);
    io->ns = NULL;
fail_async:
    uv_close((uv_handle_t *)&io->wake, NULL);
    uv_run(&io->loop, UV_RUN_NOWAIT);
fail_loop:
    uv_loop_close(&io->loop);
    return -1;
}

int mb_io_post(mb_runtime *rt, mb_io_req *r) {
    mb_io *io = rt->io;
    r->next = NULL;
    pthread_mutex_lock(&io->lock);
    if (io->stopping || (!io->started && start(io))) {
        pthread_mutex_unlock(&io->lock);
        mb_io_req_free(r);
        return -1;
    }
    if (io->tail) io->tail->next = r;
    else io->head = r;
    io->tail = r;
    pthread_mutex_unlock(&io->lock);
    /* uv_async_send is safe from any thread, and coalesces. */
    return uv_async_send(&io->wake) ? -1 : 0;
}

int mb_io_submit(mb_proc *self, mb_io_req *r) {
    switch (r->op) {
    case MB_IO_LISTEN: case MB_IO_CONNECT:
        return mb_netloop_submit(self, r);
    case MB_IO_UDP_OPEN: case MB_IO_PORT_OPEN:
        return mb_io_post(self->rt, r);
    case MB_IO_CANCEL:
        if (r->handle == 0) {   /* a connect's: its loop is the one it started on */
            if (mb_io_stopping(self->rt)) {
                mb_io_req_free(r);
                return -1;
            }
            mb_netloop_broadcast(self->rt, r);
            return 0;
        }
        break;
    default:
        break;
    }
    return mb_io_home(r->handle) ? mb_netloop_submit(self, r) : mb_io_post(self->rt, r);
}

bool mb_io_adopt(mb_runtime *rt, mb_pid pid, int home, bool listener) {
    mb_proc *p = mb_proctab_get(&rt->procs, pid);
    if (!p) return false;
    pthread_mutex_lock(&p->lock);
    bool ok = !p->exiting;
    if (ok) atomic_fetch_or(&p->io_homes, mb_io_home_bit(home));
    if (ok && listener) atomic_fetch_or(&p->listen_homes, mb_io_home_bit(home));
    pthread_mutex_unlock(&p->lock);
    mb_proctab_put(&rt->procs, pid);
    return ok;
}

/* Every loop p was marked with closes what p owned there; p's thread waits
 * for the I/O thread's and for those of other schedulers where it had a
 * listener (io_wait.h), so those fds are closed before its signals go
 * out: whoever hears of the death can listen on the same address. Not for
 * the others': its connections' close lingers for their queued data
 * anyway, and a scheduler busy with a slice looks at its posts only
 * between slices (1000 owners of connections killed beside two busy
 * processes stalled the dying ones' scheduler ~3 s).
 * The marks were read after p was marked exiting (under its lock, as
 * mb_io_adopt sets them): a loop that adopts for p later closes what it
 * was handed itself. A failed post (the host stops) frees its request,
 * which ends the wait for it; the stop closes everything anyway. */
void mb_io_owner_died(mb_proc *p) {
    uint16_t homes = atomic_load(&p->io_homes);
    if (!homes) return;
    mb_runtime *rt = p->rt;
    mb_io_wait *w = mb_io_wait_new();
    if (!w) fprintf(stderr, "moonbeam: out of memory: a dead process's sockets close after its signals\n");
    if (homes & mb_io_home_bit(0)) {
        mb_io_req *r = mb_io_req_new(MB_IO_OWNER_DIED, 0);
        if (r) {
            r->pid = p->pid;
            if (w) mb_io_wait_add(w);
            r->wait = w;
            mb_io_post(rt, r);
        } else {
            fprintf(stderr, "moonbeam: out of memory closing a dead process's ports\n");
        }
    }
    mb_netloop_owner_died(rt, p->pid, homes, atomic_load(&p->listen_homes), p->sched, w);
    if (w) mb_io_wait_end(w, rt, p->sched);
}

void mb_io_stop(mb_runtime *rt) {
    mb_io *io = rt->io;
    if (!io) return;
    pthread_mutex_lock(&io->lock);
    bool started = io->started;
    /* Only the first caller ends the thread: the shutdown of a require'd
     * host stops it before the OS process ends, the runtime's stop may
     * come after (os.exit(code, true)), and a thread is joined once. */
    bool first = !io->stopping;
    io->stopping = true;
    atomic_store(&io->closing, true);
    pthread_mutex_unlock(&io->lock);
    if (!started || !first) return;
    if (uv_async_send(&io->wake) == 0) uv_thread_join(&io->thread);
    else fprintf(stderr, "moonbeam: cannot wake the I/O thread to stop it\n");
}

void mb_io_free(mb_runtime *rt) {
    mb_io *io = rt->io;
    if (!io) return;
    if (io->started) {
        mb_netsock_free(io->ns);
        mb_netudp_free(io->nu);
        mb_ports_free(io->pp);
        if (uv_loop_close(&io->loop)) fprintf(stderr, "moonbeam: the I/O loop still had handles at exit\n");
    }
    for (mb_io_req *r = io->head, *next; r; r = next) {
        next = r->next;
        mb_io_req_free(r);
    }
    pthread_mutex_destroy(&io->lock);
    free(io);
    rt->io = NULL;
}
