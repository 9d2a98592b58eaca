/* port.c: external programs on the I/O thread (see port.h).
 *
 * Output. stdout and stderr are read in chunks and sent to the owner as
 * {"port_data", p, s} and {"port_stderr", p, s}. {"port_exit", p, status}
 * comes last: once the program has exited and both pipes have ended.
 *
 * Flow control. After each chunk, if the owner's mailbox holds more than
 * MAILBOX_MAX bytes (of anything), the port stops reading its pipes; the
 * program then blocks on a full pipe. A timer looks every POLL_MS and
 * reads again once the mailbox is below half of that. So the host buffers
 * at most MAILBOX_MAX plus one chunk per pipe on a port's behalf. Not while
 * the owner waits in a write to the port: it cannot empty its mailbox
 * then, and a program that answers what it reads (cat) would block on its
 * full stdout and never take the rest of the write.
 *
 * Reaping. libuv's SIGCHLD handling waits for each child it spawned
 * (on_program_exit); the process handle closes there, so no zombie is left. When
 * the owner dies the program is SIGKILLed and its exit still reaped, only
 * nobody hears of it. When the host stops, each live program is SIGKILLed
 * and waited for at once.
 *
 * Life: a port's memory goes when its last libuv handle has closed. It is
 * "gone" (calls say "closed") from port_exit or its owner's death on.
 * Ports are few, so they are kept in a list. */
#include "port.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "io_answer.h"
#include "process.h"
#include "runtime.h"

#define READ_CHUNK (64 * 1024)
#define MAILBOX_MAX ((size_t)1 << 20)
#define POLL_MS 5

extern char **environ;

typedef struct port {
    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_timer_t poll;
    mb_ports *pp;
    struct port *next;       /* in pp->list until its memory goes */
    uint64_t id;
    mb_pid owner;
    int handles;             /* open libuv handles: freed at 0 */
    int status;              /* once exited */
    int owner_writes;        /* the owner's writes not yet taken: no pausing meanwhile */
    bool gone, exited, held, paused;
    bool in_open, out_open, err_open, proc_open;
} port;

typedef struct write_req {
    uv_write_t w;
    mb_ports *pp;
    struct port *p;          /* alive until this is answered: its pipe's close cancels it first */
    mb_io_req *r;
    bool by_owner;           /* counted in p->owner_writes */
} write_req;

struct mb_ports {
    mb_runtime *rt;
    uv_loop_t *loop;
    port *list;
    char buf[READ_CHUNK];    /* one chunk at a time: sent before the next read */
};

int mb_ports_new(mb_ports **out, mb_runtime *rt, uv_loop_t *loop) {
    mb_ports *pp = calloc(1, sizeof *pp);
    if (!pp) return -1;
    pp->rt = rt;
    pp->loop = loop;
    *out = pp;
    return 0;
}

void mb_ports_free(mb_ports *pp) { free(pp); }

static port *find(mb_ports *pp, uint64_t id) {
    for (port *p = pp->list; p; p = p->next)
        if (p->id == id && !p->gone) return p;
    return NULL;
}

/* ---- handles and their end ----------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
    port *p = h->data;
    if (--p->handles > 0) return;
    for (port **q = &p->pp->list; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    free(p);
}

static void close_h(void *h) {
    if (!uv_is_closing(h)) uv_close(h, on_handle_closed);
}

static void close_pipe(uv_pipe_t *pipe, bool *open) {
    if (!*open) return;
    *open = false;
    close_h(pipe);
}

/* No more messages: its pipes and timer close; the process handle closes
 * once it has exited (and is reaped). */
static void make_gone(port *p) {
    p->gone = true;
    close_pipe(&p->in, &p->in_open);
    close_pipe(&p->out, &p->out_open);
    close_pipe(&p->err, &p->err_open);
    close_h(&p->poll);
}

static void maybe_finish(port *p) {
    if (p->gone || !p->exited || p->out_open || p->err_open || p->held) return;
    mb_io_tell_num(p->pp->rt, NULL, p->owner, "port_exit", p->id, p->status);
    make_gone(p);
}

/* ---- reading, with flow control ----------------------------------------- */

static size_t owner_backlog(port *p) {
    mb_runtime *rt = p->pp->rt;
    mb_proc *o = mb_proctab_get(&rt->procs, p->owner);
    if (!o) return 0;
    size_t in = atomic_load_explicit(&o->queue_bytes_in, memory_order_relaxed);
    size_t out = atomic_load_explicit(&o->queue_bytes_out, memory_order_relaxed);
    mb_proctab_put(&rt->procs, p->owner);
    return in > out ? in - out : 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    port *p = h->data;
    *buf = uv_buf_init(p->pp->buf, sizeof p->pp->buf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void read_pipe(uv_pipe_t *pipe, bool open, bool want) {
    if (!open) return;
    /* Either call fails only on a closing handle, which reads no more anyway. */
    if (want) uv_read_start((uv_stream_t *)pipe, on_alloc, on_read);
    else uv_read_stop((uv_stream_t *)pipe);
}

static void update_reading(port *p) {
    bool want = !p->gone && !p->held && !p->paused;
    read_pipe(&p->out, p->out_open, want);
    read_pipe(&p->err, p->err_open, want);
}

/* Whether the owner's mailbox holds more than limit bytes from this port
 * and may be let empty first: not while the owner waits in a write to it. */
static bool owner_behind(port *p, size_t limit) { return p->owner_writes == 0 && owner_backlog(p) > limit; }

static void on_poll(uv_timer_t *t) {
    port *p = t->data;
    if (owner_behind(p, MAILBOX_MAX / 2)) return;
    p->paused = false;
    uv_timer_stop(t);   /* cannot fail */
    update_reading(p);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
    port *p = st->data;
    bool is_out = st == (uv_stream_t *)&p->out;
    if (nread < 0) {   /* the end, or an error: either way nothing more comes */
        close_pipe(is_out ? &p->out : &p->err, is_out ? &p->out_open : &p->err_open);
        maybe_finish(p);
        return;
    }
    if (nread == 0) return;
    mb_io_tell_data(p->pp->rt, NULL, p->owner, is_out ? "port_data" : "port_stderr", p->id, buf->base, (size_t)nread);
    if (owner_behind(p, MAILBOX_MAX) && uv_timer_start(&p->poll, on_poll, POLL_MS, POLL_MS) == 0) {
        p->paused = true;
        update_reading(p);
    }
}

static void on_program_exit(uv_process_t *proc, int64_t status, int term_signal) {
    port *p = proc->data;
    p->exited = true;
    p->status = term_signal ? 128 + term_signal : (int)status;
    p->proc_open = false;
    close_h(proc);
    maybe_finish(p);
}

/* ---- open ------------------------------------------------------------------ */

/* The environment: ours, with each "K=V" of adds replacing K or added. */
static char **make_env(char **adds, int n) {
    size_t have = 0;
    while (environ[have]) have++;
    char **env = malloc((have + (size_t)n + 1) * sizeof *env);
    if (!env) return NULL;
    memcpy(env, environ, have * sizeof *env);
    for (int i = 0; i < n; i++) {
        size_t klen = strcspn(adds[i], "=") + 1;
        size_t k = 0;
        while (k < have && strncmp(env[k], adds[i], klen) != 0) k++;
        env[k] = adds[i];
        if (k == have) have++;
    }
    env[have] = NULL;
    return env;
}

/* The request's strings: argc of argv, then envc "K=V", into one array. */
static char **split(mb_io_req *r) {
    char **v = malloc(((size_t)r->argc + (size_t)r->envc + 1) * sizeof *v);
    if (!v) return NULL;
    char *s = (char *)mb_io_req_data(r);
    for (int i = 0; i < r->argc + r->envc; i++) {
        v[i] = s;
        s += strlen(s) + 1;
    }
    v[r->argc + r->envc] = NULL;
    return v;
}

/* Spawn p's program as r says; 0, or a libuv error (p's handles are then
 * closing, and p goes with them). */
static int spawn(port *p, mb_io_req *r, char **strs, char **env) {
    mb_ports *pp = p->pp;
    uv_stdio_container_t stdio[3];
    uv_process_options_t o = {0};
    char *argv0 = strs[r->argc];
    strs[r->argc] = NULL;   /* argv ends here; env strings follow */
    o.file = strs[0];
    o.args = strs;
    o.env = env;
    o.cwd = r->host;
    o.exit_cb = on_program_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&p->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out;
    stdio[2].flags = UV_IGNORE;   /* discard: libuv gives it /dev/null */
    uv_file merged[2] = {-1, -1};
    int rc = 0;
    if (r->stdio == MB_IO_STDERR_SEPARATE) {
        stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[2].data.stream = (uv_stream_t *)&p->err;
    } else if (r->stdio == MB_IO_STDERR_MERGE) {
        /* One pipe of ours for both: the program's stdout and stderr are its write end. */
        if ((rc = uv_pipe(merged, 0, 0)) || (rc = uv_pipe_open(&p->out, merged[0]))) goto done;
        merged[0] = -1;
        stdio[1].flags = stdio[2].flags = UV_INHERIT_FD;
        stdio[1].data.fd = stdio[2].data.fd = merged[1];
    }
    p->proc.data = p;
    rc = uv_spawn(pp->loop, &p->proc, &o);
    p->handles++;   /* the process handle needs closing even when the spawn failed */
    p->proc_open = true;
done:
    strs[r->argc] = argv0;
    if (merged[0] >= 0) close(merged[0]);
    if (merged[1] >= 0) close(merged[1]);
    return rc;
}

/* The three pipes; on failure those made close with the rest (make_gone). */
static int init_pipes(port *p) {
    uv_pipe_t *pipes[3] = {&p->in, &p->out, &p->err};
    bool *open[3] = {&p->in_open, &p->out_open, &p->err_open};
    for (int i = 0; i < 3; i++) {
        int rc = uv_pipe_init(p->pp->loop, pipes[i], 0);
        if (rc) return rc;
        p->handles++;
        *open[i] = true;
    }
    return 0;
}

static void req_open(mb_ports *pp, mb_io_req *r) {
    port *p = calloc(1, sizeof *p);
    char **strs = split(r);
    char **env = strs ? make_env(strs + r->argc, r->envc) : NULL;
    if (!p || !env) {
        free(p);
        free(strs);   /* env is NULL */
        mb_io_fail(pp->rt, NULL, r, "enomem");
        return;
    }
    p->pp = pp;
    p->in.data = p->out.data = p->err.data = p->poll.data = p;
    int rc = uv_timer_init(pp->loop, &p->poll);
    if (rc) {   /* nothing of libuv's holds p yet */
        free(p);
        free(env);
        free(strs);
        mb_io_fail_uv(pp->rt, NULL, r, rc);
        return;
    }
    p->handles = 1;
    p->next = pp->list;
    pp->list = p;
    rc = init_pipes(p);
    if (rc == 0) rc = spawn(p, r, strs, env);
    free(env);
    free(strs);
    if (rc) {
        p->exited = true;
        make_gone(p);
        if (p->proc_open) close_h(&p->proc);
        mb_io_fail_uv(pp->rt, NULL, r, rc);
        return;
    }
    if (r->stdio != MB_IO_STDERR_SEPARATE) close_pipe(&p->err, &p->err_open);
    p->id = mb_io_new_handle(pp->rt, true, 0);
    p->owner = r->pid;
    if (!mb_io_adopt(pp->rt, r->pid, 0, false)) {   /* the owner is gone: as if it died owning it */
        (void)uv_process_kill(&p->proc, SIGKILL);   /* ESRCH: it has exited already */
        make_gone(p);
        return;
    }
    mb_io_ok_handle(pp->rt, NULL, r, p->id);
    update_reading(p);
}

/* ---- requests on a port ----------------------------------------------------- */

static void on_written(uv_write_t *w, int status) {
    write_req *wr = (write_req *)w;
    if (wr->by_owner) wr->p->owner_writes--;
    if (status < 0) mb_io_fail(wr->pp->rt, NULL, wr->r, "closed");   /* EPIPE, or stdin closed meanwhile */
    else mb_io_ok(wr->pp->rt, NULL, wr->r);
    mb_io_req_free(wr->r);
    free(wr);
}

/* Any process may write; the answer comes once the pipe took it all,
 * which is how a writer waits for a program that reads slowly. */
static bool req_write(mb_ports *pp, port *p, mb_io_req *r) {
    if (!p->in_open) {
        mb_io_fail(pp->rt, NULL, r, "closed");
        return false;
    }
    write_req *wr = malloc(sizeof *wr);
    if (!wr) {
        mb_io_fail(pp->rt, NULL, r, "enomem");
        return false;
    }
    wr->pp = pp;
    wr->p = p;
    wr->r = r;
    wr->by_owner = r->pid == p->owner;
    uv_buf_t buf = uv_buf_init((char *)mb_io_req_data(r), (unsigned)r->len);
    int rc = uv_write(&wr->w, (uv_stream_t *)&p->in, &buf, 1, on_written);
    if (rc) {
        free(wr);
        mb_io_fail(pp->rt, NULL, r, "closed");
        return false;
    }
    if (wr->by_owner && p->owner_writes++ == 0 && p->paused) on_poll(&p->poll);   /* read again now */
    return true;
}

static void on_stdin_flushed(uv_shutdown_t *req, int status) {
    (void)status;
    port *p = req->handle->data;
    free(req);
    close_h(&p->in);
}

/* Writes already queued go first; then the program reads its end. */
static void req_eof(mb_ports *pp, port *p, mb_io_req *r) {
    if (p->in_open) {
        p->in_open = false;
        uv_shutdown_t *req = malloc(sizeof *req);
        if (!req || uv_shutdown(req, (uv_stream_t *)&p->in, on_stdin_flushed)) {
            free(req);
            close_h(&p->in);
        }
    }
    mb_io_ok(pp->rt, NULL, r);
}

static void req_kill(mb_ports *pp, port *p, mb_io_req *r) {
    int rc = p->exited ? 0 : uv_process_kill(&p->proc, (int)r->n);
    if (rc) mb_io_fail_uv(pp->rt, NULL, r, rc);
    else mb_io_ok(pp->rt, NULL, r);
}

/* controlling_process's steps: hold (SETOPTS active = false, answering
 * the mode replaced) while the old owner forwards what it has, then
 * HANDOVER, which releases the hold. */
static void req_hold(mb_ports *pp, port *p, mb_io_req *r) {
    bool was = !p->held;
    if (r->opts.active != MB_IO_UNSET) p->held = r->opts.active == 0;
    mb_io_ok_2(pp->rt, NULL, r, was ? MB_IO_ACTIVE_TRUE : 0, false);
    update_reading(p);
    maybe_finish(p);
}

static void req_handover(mb_ports *pp, port *p, mb_io_req *r) {
    if (!mb_io_adopt(pp->rt, r->to, 0, false)) {   /* the new owner is gone: as if it died owning it */
        mb_io_ok(pp->rt, NULL, r);
        if (!p->exited) (void)uv_process_kill(&p->proc, SIGKILL);   /* ESRCH: it has exited */
        make_gone(p);
        return;
    }
    p->owner = r->to;
    mb_io_forward(pp->rt, NULL, r);   /* then the answer, as netsock.c's */
    mb_io_ok(pp->rt, NULL, r);
    p->held = r->opts.active == 0;
    update_reading(p);
    maybe_finish(p);
}

void mb_ports_handle(mb_ports *pp, mb_io_req *r) {
    if (r->op == MB_IO_PORT_OPEN) {
        req_open(pp, r);
        mb_io_req_free(r);
        return;
    }
    port *p = find(pp, r->handle);
    if (!p) {
        mb_io_fail(pp->rt, NULL, r, "closed");
        mb_io_req_free(r);
        return;
    }
    if (r->op == MB_IO_PORT_WRITE) {
        if (!req_write(pp, p, r)) mb_io_req_free(r);
        return;
    }
    if (p->owner != r->pid) {
        mb_io_fail(pp->rt, NULL, r, "not_owner");
        mb_io_req_free(r);
        return;
    }
    switch (r->op) {
    case MB_IO_PORT_EOF: req_eof(pp, p, r); break;
    case MB_IO_PORT_KILL: req_kill(pp, p, r); break;
    case MB_IO_SETOPTS: req_hold(pp, p, r); break;
    case MB_IO_HANDOVER: req_handover(pp, p, r); break;
    default: mb_io_fail(pp->rt, NULL, r, "einval"); break;   /* a socket's call on a port */
    }
    mb_io_req_free(r);
}

void mb_ports_owner_died(mb_ports *pp, mb_pid pid) {
    for (port *p = pp->list; p; p = p->next)
        if (p->owner == pid && !p->gone) {
            /* Failing (ESRCH) only when it exited and on_program_exit is to come. */
            if (!p->exited) (void)uv_process_kill(&p->proc, SIGKILL);
            make_gone(p);
        }
}

void mb_ports_close_all(mb_ports *pp) {
    for (port *p = pp->list; p; p = p->next) {
        if (!p->exited && p->proc_open) {
            /* The loop ends with this: reap now, or the child stays a zombie. */
            kill(p->proc.pid, SIGKILL);
            waitpid(p->proc.pid, NULL, 0);
            p->exited = true;
            close_h(&p->proc);
        }
        if (!p->gone) make_gone(p);
    }
}
