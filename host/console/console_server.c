/* console_server.c: consoles inside a running host (see console_server.h).
 *
 * One thread of the server's own polls a wake-up pipe, the listening socket
 * (if any) and every terminal still connected. It accepts terminals, hands
 * each frame a terminal sends to that terminal's console process as a
 * message, writes the output a terminal was too slow to take, and looks
 * after console processes: when one ends while its terminal is still
 * there, it starts another. It never runs Lua.
 *
 * Output never waits for a terminal: a console process runs on a scheduler
 * thread, and a terminal that stops reading must not hold one. A frame
 * goes out at once if the socket takes it; what it does not take waits in
 * the connection's queue, and the server's thread writes it when there is
 * room. A terminal whose queue passes OUTPUT_CAP, or whose output does not
 * move for OUTPUT_STALL_MS, is dropped. Past OUTPUT_BEHIND the console
 * process holds its output back until the queue has emptied (see
 * mb_console_conn_behind) and what the terminal sends is not read, so a
 * terminal that reads slowly is slowed down, not dropped.
 *
 * Threads and ownership:
 * - s->lock guards the list of connections and the fields marked "lock".
 * - A connection is held by the server's list and by the console process
 *   that opened it (refs); whoever drops the last reference frees it. Only
 *   the server's thread removes connections from the list, so that thread
 *   may use the connections in it without the lock.
 * - c->wlock guards a connection's output side: the console process and
 *   the server's thread both write to a terminal, and frames stay whole and
 *   in order. Order: s->lock, then c->wlock. Nothing waits under either. */
#include "console_server.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/term.h"
#include "console_socket.h"
#include "console_wire.h"
#include "core/logger.h"
#include "core/runtime.h"
#include "core/signal.h"
#include "core/spawn.h"

#define KILL_LOOK_MS 20.0   /* how often tend looks while a console process is being killed */
#define INTERRUPT_GRACE_MS 1000.0   /* how long a Ctrl-C may wait to be taken before the kill */
#define TAKEOVER_MS 200.0           /* how long a kill may take to land before a new console takes over */
#define MAX_ORPHANS 4               /* killed console processes still in a call, per terminal */

/* The runtime keeps its console server under this key (runtime.h). */
static const char console_key;
#define MAX_FRAME_IN MB_CONSOLE_LINE_MAX   /* a terminal sends lines, not megabytes */
#define MAX_ATTACHED 128            /* terminals attached through the socket at once */
#define OUTPUT_CAP (1u << 20)       /* output queued for a terminal beyond this: it is dropped */
#define OUTPUT_BEHIND (256u << 10)  /* queued beyond this, the terminal is behind (see above) */
#define OUTPUT_STALL_MS 10000.0     /* queued output that does not move this long: dropped */
#define ACCEPT_RETRY_MS 200.0       /* out of file descriptors: accept again after this */
#define STARTING_POLL_MS 200.0      /* look again this soon while a console process starts */
#define RESTART_MAX 5               /* console processes started for one terminal ... */
#define RESTART_PERIOD_MS 10000.0   /* ... within this long, before the server gives up on it */

struct mb_console_conn {
    mb_console_server *srv;
    unsigned long id;
    int fd;
    char **setup;                   /* immutable: the console process's -l/-e list */
    int nsetup;
    bool attached;                  /* immutable: came through the socket */
    bool tty;                       /* immutable: the host's own terminal, a tty (live views) */
    pthread_mutex_t wlock;
    /* wlock */
    mb_wire_queue out;              /* frames its socket has not taken yet */
    double out_moved;               /* when out last moved, or began to wait */
    bool out_closed;                /* no more output: the terminal is gone or was dropped */
    bool drain_wanted;              /* the console process waits for out to empty ('W') */
    /* lock */
    mb_pid pid;                     /* its console process (0: none) */
    int refs;
    bool opened;                    /* pid holds the connection */
    bool ended;                     /* pid let go of it: it ended, or said goodbye */
    bool goodbye;                   /* the session is over: start no other console */
    bool end_asked;                 /* the terminal sent 'E' */
    bool client_gone;               /* the terminal hung up */
    double killed_at;               /* when pid was killed on the terminal's Ctrl-C (0: not) */
    /* Killed console processes that the kill cannot reach yet (a system
     * call that blocks: a FIFO's open, os.execute): another took over, and
     * each still holds the connection (a reference) until it ends. What
     * they write is dropped. */
    mb_pid orphans[MAX_ORPHANS];
    int norphans;
    double interrupt_at;            /* when pid was asked to stop its evaluation (0: not) */
    double restarts[RESTART_MAX];   /* when the last console processes started (a ring) */
    int nrestarts;
    mb_console_conn *next;
    /* the server's thread only */
    mb_buf in;                      /* bytes of a frame not complete yet */
    bool polled;                    /* the terminal is still connected */
};

struct mb_console_server {
    mb_runtime *rt;
    mb_proc *parent;
    char *target;                   /* what a console process runs */
    pthread_t thread;
    bool thread_started;
    int wake[2];                    /* a byte here: look at the connections again */
    int listen_fd;                  /* -1: no socket */
    char *path;
    mb_sockfile made;               /* the socket file made at path: only it is removed */
    double accept_retry_at;         /* the server's thread: accepting waits until then */
    bool accept_failing;            /* the server's thread: the accept error was reported */
    pthread_mutex_t lock;
    /* lock */
    mb_console_conn *conns;
    unsigned long next_id;
    bool stopping;
};

static void wake(mb_console_server *s) {
    ssize_t rc;
    do rc = write(s->wake[1], "w", 1);
    while (rc < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full, so the thread will look anyway. */
}

static void free_conn(mb_console_conn *c) {
    for (int i = 0; i < c->nsetup; i++) free(c->setup[i]);
    free(c->setup);
    mb_buf_free(&c->in);
    mb_wire_queue_free(&c->out);
    pthread_mutex_destroy(&c->wlock);
    if (c->fd >= 0) close(c->fd);
    free(c);
}

/* ---- output ------------------------------------------------------------ */

/* Write nothing more to c's terminal, and hang up on it (the server's
 * thread then sees it gone). wlock held. */
static void drop_output(mb_console_conn *c) {
    if (c->out_closed) return;
    c->out_closed = true;
    mb_wire_queue_free(&c->out);
    shutdown(c->fd, SHUT_RDWR);
}

/* Queue one frame for c's terminal and write what its socket takes now.
 * wlock held. Returns 0; 1 when output now waits for room (the server's
 * thread must be told to watch for it); -1 when the terminal is gone or
 * has fallen OUTPUT_CAP behind (it is dropped). */
static int put_output(mb_console_conn *c, char type, const void *p, size_t n) {
    if (c->out_closed) return -1;
    size_t pending = mb_wire_queue_pending(&c->out);
    if (pending + MB_WIRE_HEAD + n > OUTPUT_CAP || mb_wire_queue_put(&c->out, type, p, n)) {
        drop_output(c);
        return -1;
    }
    if (pending > 0) return 0;   /* the server's thread already waits for room */
    c->out_moved = mb_now_ms();
    if (mb_wire_queue_flush(&c->out, c->fd) < 0) {
        drop_output(c);
        return -1;
    }
    return mb_wire_queue_pending(&c->out) > 0;
}

/* ---- console processes ------------------------------------------------- */

/* Start a console process for c: moonbeam.console.serve(id, prev, why,
 * "attached", "terminal" (the host's own, a tty) or "local", setup...). s->lock is held, so the new process cannot open c before c->pid
 * names it. */
static int spawn_console(mb_console_server *s, mb_console_conn *c, mb_pid prev, const char *why) {
    mb_buf args;
    mb_buf_init(&args);
    char id[24];
    snprintf(id, sizeof id, "%lu", c->id);
    const char *kind = c->attached ? "attached" : c->tty ? "terminal" : "local";
    int bad = mb_buf_varint(&args, (uint64_t)(4 + c->nsetup)) || mb_put_string(&args, id, strlen(id)) ||
              (prev ? mb_put_id(&args, MB_T_PID, prev) : mb_buf_byte(&args, MB_T_NIL)) ||
              (why ? mb_put_string(&args, why, strlen(why)) : mb_buf_byte(&args, MB_T_NIL)) ||
              mb_put_string(&args, kind, strlen(kind));
    for (int i = 0; !bad && i < c->nsetup; i++) bad = mb_put_string(&args, c->setup[i], strlen(c->setup[i]));
    if (bad) {
        mb_buf_free(&args);
        return -1;
    }
    mb_spawn_opts o = {.target_kind = MB_TARGET_MODULE, .target = s->target, .args = args.p,
                       .args_len = args.len, .trap_exit = true};
    mb_pid pid;
    int rc = mb_spawn(s->parent, &o, &pid, NULL);
    mb_buf_free(&args);
    if (rc) return -1;
    c->pid = pid;
    c->opened = c->ended = false;
    c->restarts[c->nrestarts++ % RESTART_MAX] = mb_now_ms();
    return 0;
}

/* Whether starting another console process for c would be one too many. */
static bool restarting_too_often(mb_console_conn *c) {
    if (c->nrestarts < RESTART_MAX) return false;
    double oldest = c->restarts[c->nrestarts % RESTART_MAX];
    return mb_now_ms() - oldest < RESTART_PERIOD_MS;
}

/* The host's log says why a terminal lost its console (the terminal says
 * to look there): its process ended too often. */
static void report_give_up(mb_console_server *s, const mb_console_conn *c) {
    char msg[200];
    int n = snprintf(msg, sizeof msg,
                     "console: its process ended %d times within %.0f ms; that terminal's session is closed",
                     RESTART_MAX, RESTART_PERIOD_MS);
    mb_log_event ev = {.level = MB_LOG_ERROR, .pid = c->pid, .msg = msg,
                       .msg_len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1};
    mb_log(s->rt, &ev);
}

/* Send the message {"$console", type, payload} to pid. */
static void deliver(mb_console_server *s, mb_pid pid, char type, const uint8_t *p, size_t n) {
    if (!pid) return;
    mb_buf b;
    mb_buf_init(&b);
    char t[1] = {type};
    if (mb_put_tuple_head(&b, 3) || mb_put_string(&b, "$console", 8) || mb_put_string(&b, t, 1) ||
        mb_put_string(&b, (const char *)p, n)) {
        mb_buf_free(&b);
        fprintf(stderr, "moonbeam: console: out of memory\n");
        return;
    }
    if (mb_send(s->rt, NULL, 0, pid, MB_MSG_DATA, 0, b.p, b.len) < 0)
        fprintf(stderr, "moonbeam: console: out of memory\n");
    mb_buf_free(&b);
}

static void kill_console(mb_console_server *s, mb_pid pid) {
    mb_small_term kill = mb_small_str("kill");
    if (pid) mb_send_exit(s->rt, NULL, 0, pid, kill.b, kill.n);
}

/* Ctrl-C: ask pid to stop its evaluation (process.h, interrupt), which
 * keeps the console and its globals. false when it is not evaluating
 * anything that can be stopped so. */
static bool ask_interrupt(mb_console_server *s, mb_pid pid) {
    mb_proc *p = pid ? mb_proctab_get(&s->rt->procs, pid) : NULL;
    if (!p) return false;
    int armed = MB_INTR_ARMED;
    bool asked = atomic_compare_exchange_strong(&p->interrupt, &armed, MB_INTR_ASKED);
    mb_proctab_put(&s->rt->procs, pid);
    return asked;
}

/* Whether pid still has not taken the Ctrl-C it was asked (a long C call,
 * or compiled code that never looks at hooks). */
static bool interrupt_untaken(mb_console_server *s, mb_pid pid) {
    mb_proc *p = pid ? mb_proctab_get(&s->rt->procs, pid) : NULL;
    if (!p) return false;
    bool untaken = atomic_load(&p->interrupt) == MB_INTR_ASKED;
    mb_proctab_put(&s->rt->procs, pid);
    return untaken;
}

/* Tell the terminal the session is over, from the server's side. lock held. */
static void say_goodbye(mb_console_conn *c, const char *why) {
    if (why) mb_console_conn_write(c, 'O', why, strlen(why));
    mb_console_conn_write(c, 'X', NULL, 0);
    c->goodbye = true;
}

/* Orphans gone without letting go (left where they ran: sysmon.h) give up
 * their reference here. lock held. */
static void drop_dead_orphans(mb_console_server *s, mb_console_conn *c) {
    for (int i = 0; i < c->norphans;) {
        if (mb_proctab_alive(&s->rt->procs, c->orphans[i])) {
            i++;
            continue;
        }
        c->orphans[i] = c->orphans[--c->norphans];
        c->refs--;   /* the server still holds its own */
    }
}

/* c's console process was killed and is still there (blocked in a system
 * call the kill cannot cut short): the terminal gets a new one now, as
 * the reference promises within a second of the Ctrl-C's grace, and the
 * old one ends when its call returns. lock held. */
static void take_over(mb_console_server *s, mb_console_conn *c) {
    if (c->norphans == MAX_ORPHANS) return;   /* it waits for its kill, as before */
    mb_pid old = c->pid;
    if (c->opened && !c->ended) c->orphans[c->norphans++] = old;   /* its reference, until it lets go */
    c->killed_at = 0;
    if (spawn_console(s, c, old, "interrupted"))
        say_goodbye(c, "** cannot start a console process (out of memory or processes)\n");
}

/* Take pid off c's orphans; false when it is none. lock held. */
static bool let_go_orphan(mb_console_conn *c, mb_pid pid) {
    for (int i = 0; i < c->norphans; i++) {
        if (c->orphans[i] != pid) continue;
        c->orphans[i] = c->orphans[--c->norphans];
        return true;
    }
    return false;
}

/* Act on what changed: replace console processes that ended, and drop
 * connections nobody needs any more. The server's thread, lock held. */
static void tend(mb_console_server *s) {
    for (mb_console_conn **pp = &s->conns; *pp;) {
        mb_console_conn *c = *pp;
        bool alive = !c->pid || mb_proctab_alive(&s->rt->procs, c->pid);
        /* A process ended where it ran (a kill in compiled code: sysmon.h)
         * never ran the __gc that lets go of the connection: let go here.
         * (One that ends otherwise has let go before its pid is gone.) */
        if (c->opened && !c->ended && !alive) {
            c->ended = true;
            c->refs--;   /* the server still holds its own */
        }
        if (c->interrupt_at && (c->ended || !alive)) c->interrupt_at = 0;
        if (c->interrupt_at && mb_now_ms() - c->interrupt_at >= INTERRUPT_GRACE_MS) {
            c->interrupt_at = 0;
            if (interrupt_untaken(s, c->pid)) {
                c->killed_at = mb_now_ms();
                kill_console(s, c->pid);
            }
        }
        drop_dead_orphans(s, c);
        if (c->killed_at && alive && !c->client_gone && mb_now_ms() - c->killed_at >= TAKEOVER_MS) take_over(s, c);
        /* A process that died before it opened the connection never lets go. */
        bool dead = c->ended || (c->pid && !c->opened && !alive);
        if (dead && !c->goodbye && !c->client_gone && !s->stopping) {
            if (c->end_asked) {
                say_goodbye(c, NULL);
            } else if (restarting_too_often(c)) {
                say_goodbye(c, "** the console process keeps ending; giving up (see the host's log)\n");
                report_give_up(s, c);
            } else {
                const char *why = c->killed_at ? "interrupted" : "exited";
                c->killed_at = 0;
                if (spawn_console(s, c, c->pid, why))
                    say_goodbye(c, "** cannot start a console process (out of memory or processes)\n");
            }
        }
        if ((dead || c->goodbye) && c->client_gone) {
            *pp = c->next;
            if (--c->refs == 0) free_conn(c);
            continue;
        }
        pp = &c->next;
    }
}

/* ---- terminals --------------------------------------------------------- */

/* c's console process, unless it let go of c. */
static mb_pid console_of(mb_console_server *s, mb_console_conn *c) {
    pthread_mutex_lock(&s->lock);
    mb_pid pid = c->ended ? 0 : c->pid;
    pthread_mutex_unlock(&s->lock);
    return pid;
}

static void hang_up(mb_console_server *s, mb_console_conn *c) {
    c->polled = false;
    pthread_mutex_lock(&c->wlock);
    drop_output(c);
    bool waiting = c->drain_wanted;   /* for a terminal that will never catch up now */
    c->drain_wanted = false;
    pthread_mutex_unlock(&c->wlock);
    pthread_mutex_lock(&s->lock);
    c->client_gone = true;
    mb_pid pid = c->ended ? 0 : c->pid;
    pthread_mutex_unlock(&s->lock);
    /* An evaluation under way is stopped as by a Ctrl-C (killed if it does
     * not stop within the grace: tend), or it would run on for ever with
     * nobody to see it; the session's end then waits next in line. */
    if (ask_interrupt(s, pid)) {
        pthread_mutex_lock(&s->lock);
        c->interrupt_at = mb_now_ms();
        pthread_mutex_unlock(&s->lock);
        deliver(s, pid, 'I', NULL, 0);
    }
    if (waiting) deliver(s, pid, 'W', NULL, 0);
    deliver(s, pid, 'E', NULL, 0);   /* the console ends its session */
}

/* Write what c's socket takes now. A console process waiting for the
 * terminal to catch up is told once everything went. */
static void flush_terminal(mb_console_server *s, mb_console_conn *c) {
    pthread_mutex_lock(&c->wlock);
    ssize_t w = c->out_closed ? 0 : mb_wire_queue_flush(&c->out, c->fd);
    if (w > 0) c->out_moved = mb_now_ms();
    bool caught_up = w >= 0 && c->drain_wanted && mb_wire_queue_pending(&c->out) == 0;
    if (caught_up) c->drain_wanted = false;
    pthread_mutex_unlock(&c->wlock);
    if (w < 0) hang_up(s, c);
    else if (caught_up) deliver(s, console_of(s, c), 'W', NULL, 0);
}

/* What to wait for on c's socket: what the terminal sends, unless it is
 * behind (it must read first); room, while output waits. *stall_at: when
 * waiting output stalls, if it does. */
static short terminal_events(mb_console_conn *c, double *stall_at) {
    pthread_mutex_lock(&c->wlock);
    size_t pending = mb_wire_queue_pending(&c->out);
    double moved = c->out_moved;
    pthread_mutex_unlock(&c->wlock);
    short events = pending < OUTPUT_BEHIND ? POLLIN : 0;
    if (pending > 0) {
        events |= POLLOUT;
        *stall_at = moved + OUTPUT_STALL_MS;
    }
    return events;
}

/* Drop c if its output has not moved for OUTPUT_STALL_MS. */
static void drop_if_stalled(mb_console_conn *c, double now) {
    pthread_mutex_lock(&c->wlock);
    if (mb_wire_queue_pending(&c->out) > 0 && now - c->out_moved >= OUTPUT_STALL_MS) drop_output(c);
    pthread_mutex_unlock(&c->wlock);
}

static void on_frame(mb_console_server *s, mb_console_conn *c, char type, const uint8_t *p, size_t n) {
    pthread_mutex_lock(&s->lock);
    mb_pid pid = c->ended ? 0 : c->pid;
    if (type == 'E') c->end_asked = true;
    pthread_mutex_unlock(&s->lock);
    switch (type) {
    case 'I':
        /* Asked to stop where it runs; the message wakes it where it waits.
         * One that does not stop within the grace is killed (tend). */
        if (ask_interrupt(s, pid)) {
            pthread_mutex_lock(&s->lock);
            c->interrupt_at = mb_now_ms();
            pthread_mutex_unlock(&s->lock);
            deliver(s, pid, type, p, n);
        } else {
            pthread_mutex_lock(&s->lock);
            c->killed_at = mb_now_ms();
            pthread_mutex_unlock(&s->lock);
            kill_console(s, pid);
        }
        break;
    case 'L': case 'C': case 'K': case 'E':
        deliver(s, pid, type, p, n);
        break;
    default:
        break;   /* a newer terminal's frame: ignored */
    }
    if (!pid) wake(s);   /* between two console processes: tend() decides */
}

static void read_terminal(mb_console_server *s, mb_console_conn *c) {
    uint8_t tmp[16384];
    ssize_t r = recv(c->fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (r <= 0 || mb_buf_put(&c->in, tmp, (size_t)r)) {
        hang_up(s, c);
        return;
    }
    size_t off = 0;
    for (;;) {
        char type;
        const uint8_t *p;
        size_t len, used;
        const uint8_t *at = c->in.p + off;
        size_t left = c->in.len - off;
        if (left >= 5 && ((size_t)at[1] << 24 | (size_t)at[2] << 16 | (size_t)at[3] << 8 | at[4]) > MAX_FRAME_IN) {
            hang_up(s, c);   /* not a terminal of ours */
            return;
        }
        int rc = mb_wire_parse(at, left, &type, &p, &len, &used);
        if (rc < 0) {
            hang_up(s, c);
            return;
        }
        if (rc == 0) break;
        on_frame(s, c, type, p, len);
        off += used;
    }
    memmove(c->in.p, c->in.p + off, c->in.len - off);
    c->in.len -= off;
}

#define HUNG_UP_FIRST (-2)

/* A new terminal on fd: say hello, start its console process, and list it.
 * Returns 0; HUNG_UP_FIRST when the terminal was gone before its hello
 * (nothing to report); -1 out of memory or processes. fd is closed unless
 * it returns 0. */
static int add_conn(mb_console_server *s, int fd, bool attached, bool tty, const char *const *setup, int nsetup) {
    mb_console_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->srv = s;
    c->refs = 1;
    c->polled = true;
    c->attached = attached;
    c->tty = tty;
    if (pthread_mutex_init(&c->wlock, NULL)) {
        free(c);
        close(fd);
        return -1;
    }
    if (nsetup > 0) {
        c->setup = calloc((size_t)nsetup, sizeof *c->setup);
        for (int i = 0; c->setup && i < nsetup; i++, c->nsetup++)
            if (!(c->setup[i] = strdup(setup[i]))) break;
        if (!c->setup || c->nsetup < nsetup) {
            free_conn(c);
            return -1;
        }
    }
    /* c is nobody else's yet: no lock. */
    if (mb_wire_queue_put(&c->out, 'H', MB_WIRE_HELLO, strlen(MB_WIRE_HELLO))) {
        free_conn(c);
        return -1;
    }
    c->out_moved = mb_now_ms();
    if (mb_wire_queue_flush(&c->out, fd) < 0) {
        free_conn(c);
        return HUNG_UP_FIRST;
    }
    pthread_mutex_lock(&s->lock);
    c->id = ++s->next_id;
    if (s->stopping || spawn_console(s, c, 0, NULL)) {
        if (!s->stopping) say_goodbye(c, "** cannot start a console process (out of memory or processes)\n");
        pthread_mutex_unlock(&s->lock);
        free_conn(c);
        return -1;
    }
    c->next = s->conns;
    s->conns = c;
    pthread_mutex_unlock(&s->lock);
    wake(s);
    return 0;
}

/* Terminals attached through the socket and still there. */
static int attached_count(mb_console_server *s) {
    int n = 0;
    pthread_mutex_lock(&s->lock);
    for (mb_console_conn *c = s->conns; c; c = c->next) n += c->attached && !c->client_gone;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Say why a terminal is not served, and hang up. A new socket takes a few
 * bytes at once; if it does not, the terminal sees only the hang-up. */
static void turn_away(int fd, const char *why) {
    mb_wire_queue q;
    mb_wire_queue_init(&q);
    if (!mb_wire_queue_put(&q, 'H', MB_WIRE_HELLO, strlen(MB_WIRE_HELLO)) &&
        !mb_wire_queue_put(&q, 'O', why, strlen(why)))
        mb_wire_queue_flush(&q, fd);
    mb_wire_queue_free(&q);
    close(fd);
}

/* accept() failed. Out of file descriptors or memory (or worse), the
 * socket stays readable: retrying at once would spin, so accepting waits a
 * while, and the error is reported once. */
static void accept_failed(mb_console_server *s, int e) {
    if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED) return;   /* it went away first */
    s->accept_retry_at = mb_now_ms() + ACCEPT_RETRY_MS;
    if (!s->accept_failing)
        fprintf(stderr, "moonbeam: console socket: accept: %s (new consoles wait)\n", strerror(e));
    s->accept_failing = true;
}

static void accept_terminal(mb_console_server *s) {
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        accept_failed(s, errno);
        return;
    }
    s->accept_failing = false;
    if (!mb_console_peer_allowed(fd)) {
        close(fd);
        return;
    }
    if (attached_count(s) >= MAX_ATTACHED) {
        char why[96];
        snprintf(why, sizeof why, "** too many consoles are attached (at most %d); try again later\n", MAX_ATTACHED);
        turn_away(fd, why);
        return;
    }
    if (add_conn(s, fd, true, false, NULL, 0) == -1)
        fprintf(stderr, "moonbeam: console socket: cannot serve a new console\n");
}

/* ---- the server's thread ----------------------------------------------- */

/* The poll set: the wake-up pipe, the listening socket unless accepting
 * waits, and every terminal still connected, with who[i] the connection of
 * fds[i]. Grows *fds and *who as needed. Returns how many entries, 0 when
 * out of memory; *wake_at: the earliest time something is due (a console
 * process starting, output stalling, accepting again). s->lock held. */
static size_t poll_set(mb_console_server *s, struct pollfd **fds, mb_console_conn ***who, size_t *cap,
                       double now, double *wake_at) {
    size_t n = 2;
    for (mb_console_conn *c = s->conns; c; c = c->next) {
        n += c->polled;
        if (c->pid && !c->opened && !c->ended) *wake_at = fmin(*wake_at, now + STARTING_POLL_MS);
    }
    if (n > *cap) {
        size_t ncap = n * 2;
        struct pollfd *nf = realloc(*fds, ncap * sizeof **fds);
        if (nf) *fds = nf;
        mb_console_conn **nw = realloc(*who, ncap * sizeof **who);
        if (nw) *who = nw;
        if (!nf || !nw) return 0;
        *cap = ncap;
    }
    size_t k = 0;
    (*fds)[k++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
    if (s->listen_fd >= 0) {
        if (s->accept_retry_at <= now) (*fds)[k++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        else *wake_at = fmin(*wake_at, s->accept_retry_at);
    }
    for (mb_console_conn *c = s->conns; c; c = c->next) {
        if (!c->polled) continue;
        double stall_at = INFINITY;
        (*who)[k] = c;
        (*fds)[k++] = (struct pollfd){.fd = c->fd, .events = terminal_events(c, &stall_at)};
        *wake_at = fmin(*wake_at, stall_at);
        /* A kill under way: look again soon, its process may end without
         * letting go of the connection (tend). */
        if (c->killed_at && !c->ended) *wake_at = fmin(*wake_at, now + KILL_LOOK_MS);
        if (c->interrupt_at) *wake_at = fmin(*wake_at, c->interrupt_at + INTERRUPT_GRACE_MS);
    }
    return k;
}

static void serve_terminal(mb_console_server *s, mb_console_conn *c, short revents) {
    if (revents & (POLLIN | POLLHUP | POLLERR)) read_terminal(s, c);
    if (c->polled && (revents & POLLOUT)) flush_terminal(s, c);
}

static void *serve(void *arg) {
    mb_console_server *s = arg;
    struct pollfd *fds = NULL;
    mb_console_conn **who = NULL;
    size_t cap = 0;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        if (s->stopping) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        tend(s);
        double now = mb_now_ms(), wake_at = INFINITY;
        size_t k = poll_set(s, &fds, &who, &cap, now, &wake_at);
        pthread_mutex_unlock(&s->lock);
        if (k == 0) {   /* out of memory for the poll set: try again soon */
            usleep(100000);
            continue;
        }
        int timeout = isinf(wake_at) ? -1 : (int)ceil(fmax(0.0, wake_at - now));
        int rc = poll(fds, (nfds_t)k, timeout);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "moonbeam: console server: poll: %s\n", strerror(errno));
            usleep(100000);
            continue;
        }
        for (size_t i = 0; rc > 0 && i < k; i++) {
            if (!fds[i].revents) continue;
            if (fds[i].fd == s->wake[0]) {
                char buf[64];
                while (read(s->wake[0], buf, sizeof buf) > 0) {}
            } else if (fds[i].fd == s->listen_fd) {
                accept_terminal(s);
            } else {
                serve_terminal(s, who[i], fds[i].revents);
            }
        }
        now = mb_now_ms();
        for (size_t i = 0; i < k; i++)
            if (fds[i].events & POLLOUT) drop_if_stalled(who[i], now);   /* only terminals wait for room */
    }
    free(fds);
    free(who);
    return NULL;
}

/* ---- the server's life ------------------------------------------------- */

static void unlink_at_forced_exit(void *s) { mb_console_server_unlink(s); }

mb_console_server *mb_console_server_start(mb_runtime *rt, mb_proc *parent, const char *path,
                                           const char *target, char *err, size_t errlen) {
    mb_console_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->rt = rt;
    s->parent = parent;
    s->listen_fd = -1;
    s->wake[0] = s->wake[1] = -1;
    if (pthread_mutex_init(&s->lock, NULL)) {
        snprintf(err, errlen, "cannot create a mutex");
        free(s);
        return NULL;
    }
    if (!(s->target = strdup(target))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (path) {
        if (!(s->path = strdup(path))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if ((s->listen_fd = mb_console_listen(path, &s->made, err, errlen)) < 0) goto fail;
    }
    if (mb_runtime_attach(rt, &console_key, s, unlink_at_forced_exit)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    int rc = pthread_create(&s->thread, NULL, serve, s);
    if (rc) {
        snprintf(err, errlen, "cannot start the console thread: %s", strerror(rc));
        mb_runtime_detach(rt, &console_key);
        goto fail;
    }
    s->thread_started = true;
    return s;
fail:
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        mb_console_unlisten(path, &s->made);   /* and lets the file go */
    }
    if (s->wake[0] >= 0) close(s->wake[0]);
    if (s->wake[1] >= 0) close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s->target);
    free(s);
    return NULL;
}

int mb_console_server_add(mb_console_server *s, int fd, bool tty, const char *const *setup, int nsetup) {
    return add_conn(s, fd, false, tty, setup, nsetup) ? -1 : 0;
}

void mb_console_server_unlink(mb_console_server *s) {
    if (s && s->path) mb_console_unlisten(s->path, &s->made);   /* path never changes once the server runs */
}

void mb_console_server_stop(mb_console_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_mutex_unlock(&s->lock);
    wake(s);
    if (s->thread_started) pthread_join(s->thread, NULL);
    s->thread_started = false;
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
        mb_console_unlisten(s->path, &s->made);
    }
    pthread_mutex_lock(&s->lock);
    for (mb_console_conn *c = s->conns; c; c = c->next) {
        pthread_mutex_lock(&c->wlock);
        if (!c->out_closed) mb_wire_queue_flush(&c->out, c->fd);   /* the last words, if they fit */
        drop_output(c);   /* every terminal sees the host go */
        pthread_mutex_unlock(&c->wlock);
        c->client_gone = true;
    }
    pthread_mutex_unlock(&s->lock);
}

void mb_console_server_free(mb_console_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    bool held = false;
    while (s->conns) {
        mb_console_conn *c = s->conns;
        s->conns = c->next;
        if (--c->refs == 0) free_conn(c);
        else held = true;
    }
    pthread_mutex_unlock(&s->lock);
    /* A console process still holds a connection (its scheduler would not
     * stop): it may still let go of it, so the server must stay. */
    if (held) return;
    pthread_mutex_destroy(&s->lock);
    close(s->wake[0]);
    close(s->wake[1]);
    free(s->path);
    free(s->target);
    free(s);
}

/* ---- what a console process does --------------------------------------- */

mb_console_conn *mb_console_conn_open(mb_runtime *rt, const char *id, mb_pid self,
                                      char *err, size_t errlen) {
    mb_console_server *s = mb_runtime_attached(rt, &console_key);
    if (!s) {
        snprintf(err, errlen, "this host serves no consoles");
        return NULL;
    }
    char *end;
    unsigned long n = strtoul(id, &end, 10);
    if (*end) {
        snprintf(err, errlen, "bad console id '%s'", id);
        return NULL;
    }
    mb_console_conn *found = NULL;
    pthread_mutex_lock(&s->lock);
    for (mb_console_conn *c = s->conns; c; c = c->next) {
        if (c->id != n) continue;
        if (c->pid == self && !c->opened && !c->ended) {
            c->opened = true;
            c->refs++;
            found = c;
        }
        break;
    }
    pthread_mutex_unlock(&s->lock);
    if (!found) snprintf(err, errlen, "console %s is not this process's", id);
    return found;
}

int mb_console_conn_send(mb_console_conn *c, mb_pid from, char type, const void *p, size_t n) {
    pthread_mutex_lock(&c->srv->lock);
    bool current = c->pid == from;   /* not an orphan (take_over) */
    pthread_mutex_unlock(&c->srv->lock);
    return current ? mb_console_conn_write(c, type, p, n) : -1;
}

int mb_console_conn_write(mb_console_conn *c, char type, const void *p, size_t n) {
    pthread_mutex_lock(&c->wlock);
    int rc = put_output(c, type, p, n);
    pthread_mutex_unlock(&c->wlock);
    if (rc == 1) wake(c->srv);   /* to watch for room */
    return rc < 0 ? -1 : 0;
}

/* wlock held. */
static bool is_behind(mb_console_conn *c) {
    return !c->out_closed && mb_wire_queue_pending(&c->out) > OUTPUT_BEHIND;
}

bool mb_console_conn_behind(mb_console_conn *c) {
    pthread_mutex_lock(&c->wlock);
    bool behind = is_behind(c);
    pthread_mutex_unlock(&c->wlock);
    return behind;
}

bool mb_console_conn_tell_when_caught_up(mb_console_conn *c) {
    pthread_mutex_lock(&c->wlock);
    bool behind = is_behind(c);
    if (behind) c->drain_wanted = true;
    pthread_mutex_unlock(&c->wlock);
    return behind;
}

bool mb_console_conn_gone(mb_console_conn *c) {
    pthread_mutex_lock(&c->srv->lock);
    bool gone = c->client_gone;
    pthread_mutex_unlock(&c->srv->lock);
    return gone;
}

void mb_console_conn_close(mb_console_conn *c, mb_pid from, bool goodbye) {
    mb_console_server *s = c->srv;
    pthread_mutex_lock(&s->lock);
    bool current = c->pid == from;
    pthread_mutex_unlock(&s->lock);
    if (goodbye && current) mb_console_conn_write(c, 'X', NULL, 0);   /* our reference keeps c */
    pthread_mutex_lock(&s->lock);
    if (!let_go_orphan(c, from)) {   /* an old console's going changes nothing else */
        c->ended = true;
        c->goodbye |= goodbye;
    }
    bool last = --c->refs == 0;
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (last) free_conn(c);
    else if (!stopping) wake(s);
}
