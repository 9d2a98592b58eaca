/* io.h: requests on sockets (moonbeam.net) and external programs
 * (moonbeam.port), and the I/O thread.
 *
 * libuv handles are not thread-safe and processes move between schedulers,
 * so every handle has one loop, and only the thread that runs that loop
 * touches it. TCP and unix stream sockets live on the schedulers' own loops
 * (netloop.h); UDP sockets and ports on the I/O thread's, a thread with a
 * loop of its own. A process submits a request (mb_io_submit) and, when the
 * request wants an answer, waits for it as a call waits for its reply: the
 * loop answers with mb_call_reply to (pid, ref), so the answer lands in the
 * process's reply slot and wakes it (call.h). Active mode data go to the
 * owner as ordinary messages.
 *
 * A handle says which loop it lives on (mb_io_home). Requests to the I/O
 * thread go through a mutex-guarded queue and a uv_async_send (mb_io_post);
 * everything in netudp.c and port.c runs on the I/O thread only, so a UDP
 * socket or port needs no lock. The thread starts on the first request.
 *
 * A process that comes to own a socket is marked with the socket's loop
 * (mb_proc.io_homes, under its lock, only while it is not exiting, as
 * shared tables do). Its death closes what it owns on each loop it was
 * marked with before its EXIT and DOWN go out: on its own scheduler's loop
 * at once, on the others by a request it waits for (io_wait.h). */
#ifndef MB_IO_H
#define MB_IO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pid.h"

typedef struct mb_runtime mb_runtime;
typedef struct mb_proc mb_proc;
typedef struct mb_io mb_io;
typedef struct mb_io_wait mb_io_wait;

typedef enum mb_io_op {
    MB_IO_LISTEN,      /* host (or path), port, opts -> socket */
    MB_IO_CONNECT,     /* host (or path), port, opts -> socket */
    MB_IO_ACCEPT,      /* handle -> socket */
    MB_IO_SEND,        /* handle, data -> true once below the high-water mark */
    MB_IO_RECV,        /* handle, n -> data */
    MB_IO_CANCEL,      /* (handle, ref) timed out: answers "timeout" if still pending */
    MB_IO_CLOSE,       /* handle -> true */
    MB_IO_SHUTDOWN,    /* handle -> true */
    MB_IO_SETOPTS,     /* handle, opts -> true */
    MB_IO_HANDOVER,    /* handle, to, opts (the active mode to restore) -> true */
    MB_IO_NAME,        /* handle, n: 1 peername, 0 sockname -> host, port */
    MB_IO_OWNER_DIED,  /* pid: close what it owns (no answer) */
    MB_IO_UDP_OPEN,    /* host, port, opts -> UDP socket (netudp.c) */
    MB_IO_SENDTO,      /* handle, host, port, data -> true */
    MB_IO_RECVFROM,    /* handle -> data, host, port */
    MB_IO_PORT_OPEN,   /* argc argv and envc env strings in data, host: cwd -> port (port.c) */
    MB_IO_PORT_WRITE,  /* handle, data -> true once written to the pipe */
    MB_IO_PORT_EOF,    /* handle -> true: stdin closed */
    MB_IO_PORT_KILL,   /* handle, n: the signal -> true */
} mb_io_op;

/* Options a request may carry; "unset" leaves a socket's as they are. */
#define MB_IO_UNSET (-1000)
#define MB_IO_ACTIVE_TRUE (-1)   /* active: 0 false, > 0 a count, this: true */
#define MB_IO_PACKET_LINE 'l'    /* packet: 0 raw, 1, 2, 4 or this */
typedef struct mb_io_opts {
    int active;                  /* MB_IO_UNSET, 0, MB_IO_ACTIVE_TRUE or a count */
    bool once;                   /* active "once": a count of 1 with no tcp_passive */
    int packet;                  /* MB_IO_UNSET, 0, 1, 2, 4, MB_IO_PACKET_LINE */
    long high_watermark;         /* bytes; MB_IO_UNSET */
    int backlog;                 /* listen; MB_IO_UNSET */
    int reuseaddr;               /* listen: 0, 1, MB_IO_UNSET (true) */
} mb_io_opts;

/* Sets *active and *once as o's active mode says, when it says one. As
 * gen_tcp's {active, N}: a count given to a socket still counting adds to
 * what is left of it (capped at INT_MAX). */
static inline void mb_io_set_active(int *active, bool *once, const mb_io_opts *o) {
    if (o->active == MB_IO_UNSET) return;
    if (o->active > 0 && !o->once && *active > 0 && !*once)
        *active = *active > INT_MAX - o->active ? INT_MAX : *active + o->active;
    else
        *active = o->active;
    *once = o->once;
}

/* PORT_OPEN: where the program's stderr goes. */
enum { MB_IO_STDERR_SEPARATE, MB_IO_STDERR_MERGE, MB_IO_STDERR_DISCARD };

/* One request, in one allocation with its data. MB_IO_HEADROOM bytes lie
 * free before data, for a packet mode's length prefix. */
#define MB_IO_HEADROOM 4
typedef struct mb_io_req {
    struct mb_io_req *next;      /* in the queue; then netsock.c's own */
    mb_io_op op;
    mb_pid pid;                  /* who asks, and who the answer goes to */
    struct mb_sched *back;       /* posted from a process on this scheduler (or NULL):
                                    an answer made at once wakes it there (netloop.c) */
    mb_ref ref;                  /* the answer's ref (the asker awaits it) */
    uint64_t handle;
    mb_pid to;                   /* HANDOVER: the new owner */
    int port;
    bool path;                   /* host is a unix socket's path */
    size_t n;                    /* RECV: bytes wanted (0: what is there); NAME: peer */
    int argc, envc;              /* PORT_OPEN: strings in data: argv, then "K=V" */
    int stdio;                   /* PORT_OPEN: MB_IO_STDERR_* */
    mb_io_opts opts;
    char *host;                  /* malloc'd, or NULL */
    bool written, parked;        /* SEND: written (its buffer is free), waiting below the mark */
    struct mb_io_req *park_next;
    mb_io_wait *wait;            /* OWNER_DIED: told when r is freed (done or dropped) */
    size_t len;
    uint8_t data[];              /* MB_IO_HEADROOM + len bytes */
} mb_io_req;

/* A request of op with room for len data bytes (uninitialised), or NULL. */
mb_io_req *mb_io_req_new(mb_io_op op, size_t len);
void mb_io_req_free(mb_io_req *r);
static inline uint8_t *mb_io_req_data(mb_io_req *r) { return r->data + MB_IO_HEADROOM; }

/* Allocate rt->io (no thread started). -1 on OOM. */
int mb_io_init(mb_runtime *rt);
/* A request of self's (taking it), sent where its handle lives (a new
 * stream socket: self's scheduler; UDP and ports: the I/O thread). -1 when
 * it cannot run (the host stops, out of memory): r is freed. */
int mb_io_submit(mb_proc *self, mb_io_req *r);
/* Hand r to the I/O thread (taking it), starting the thread if need be.
 * -1 when it cannot run (the host stops, no thread): r is freed. */
int mb_io_post(mb_runtime *rt, mb_io_req *r);
/* Whether mb_io_stop began: no more requests. */
bool mb_io_stopping(mb_runtime *rt);
/* From mb_proc_terminate, once p is marked exiting and before its signals:
 * close its sockets and ports, on every loop it was handed one on, and
 * return once they are closed (a connection's queued writes may still be
 * flushing: its handle is out of the table and shut down for writing).
 * Its unix listeners' files are removed by then. p->sched: the scheduler
 * this thread serves, NULL for none (a pool thread, or one that lost its
 * scheduler in p's slice). Waits for the host's other loops to look at
 * their posts; returns at once for a process that never owned one. */
void mb_io_owner_died(mb_proc *p);
/* Close the I/O thread's sockets and ports (their programs killed and
 * reaped) and end it; later requests fail. (The schedulers' sockets close
 * when they stop: mb_sched_stop_all.) A second call does nothing. Then
 * free. */
void mb_io_stop(mb_runtime *rt);
void mb_io_free(mb_runtime *rt);

/* On the loop home (mb_io_home): make pid the owner of what it is handed
 * (marks it with home, so its death closes them; a listener, so its death
 * waits for that: mb_io_owner_died). false when pid is gone or exiting:
 * close it. */
bool mb_io_adopt(mb_runtime *rt, mb_pid pid, int home, bool listener);

/* A new socket or port handle value (pid.h): bits 31..41 carry its home,
 * the loop it lives on (0 the I/O thread, i + 1 scheduler i), the low 31
 * bits a count (handles are not reused before it wraps). */
#define MB_IO_HOME_SHIFT 31
uint64_t mb_io_new_handle(mb_runtime *rt, bool port, int home);
static inline int mb_io_home(uint64_t h) { return (int)((h >> MB_IO_HOME_SHIFT) & 0x7FF); }
/* A home's bit in mb_proc.io_homes: homes 0 to 14 each their own; every
 * later one (scheduler 14 on) shares the last, and a process marked with
 * it has all of those loops asked at its death. */
static inline uint16_t mb_io_home_bit(int home) { return (uint16_t)(1u << (home < 15 ? home : 15)); }

#endif
