/* console_server.c: consoles inside a running host (see console_server.h).
 *
 * One thread of the server's own polls a wake-up pipe, the listening socket
 * (if any) and every terminal still connected. It accepts terminals, hands
 * each frame a terminal sends to that terminal's console process as a
 * message, and looks after console processes: when one ends while its
 * terminal is still there, it starts another. It never runs Lua.
 *
 * Threads and ownership:
 * - s->lock guards the list of connections and the fields marked "lock".
 * - A connection is held by the server's list and by the console process
 *   that opened it (refs); whoever drops the last reference frees it. Only
 *   the server's thread removes connections from the list, so that thread
 *   may use the connections in it without the lock.
 * - c->wlock keeps frames whole: the console process and the server's
 *   thread both write to a terminal. */
#include "console_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "codec.h"
#include "console_wire.h"
#include "runtime.h"
#include "signal.h"
#include "spawn.h"

#define CONSOLE_TARGET "moonbeam.console:serve"
#define MAX_FRAME_IN (1u << 20)     /* a terminal sends lines, not megabytes */
#define SEND_TIMEOUT_S 10           /* a terminal that reads nothing this long is hung up on */
#define RESTART_MAX 5               /* console processes started for one terminal ... */
#define RESTART_PERIOD_MS 10000.0   /* ... within this long, before the server gives up on it */

struct mb_console_conn {
    mb_console_server *srv;
    unsigned long id;
    int fd;
    char **setup;                   /* immutable: the console process's -l/-e list */
    int nsetup;
    bool attached;                  /* immutable: came through the socket */
    pthread_mutex_t wlock;
    /* lock */
    mb_pid pid;                     /* its console process (0: none) */
    int refs;
    bool opened;                    /* pid holds the connection */
    bool ended;                     /* pid let go of it: it ended, or said goodbye */
    bool goodbye;                   /* the session is over: start no other console */
    bool end_asked;                 /* the terminal sent 'E' */
    bool client_gone;               /* the terminal hung up */
    bool interrupted;               /* pid was killed on the terminal's Ctrl-C */
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
    pthread_t thread;
    bool thread_started;
    int wake[2];                    /* a byte here: look at the connections again */
    int listen_fd;                  /* -1: no socket */
    char *path;
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
    pthread_mutex_destroy(&c->wlock);
    if (c->fd >= 0) close(c->fd);
    free(c);
}

/* ---- console processes ------------------------------------------------- */

/* Start a console process for c: moonbeam.console.serve(id, prev, why,
 * "attached" or "local", setup...). s->lock is held, so the new process cannot open c before c->pid
 * names it. */
static int spawn_console(mb_console_server *s, mb_console_conn *c, mb_pid prev, const char *why) {
    mb_buf args;
    mb_buf_init(&args);
    char id[24];
    snprintf(id, sizeof id, "%lu", c->id);
    const char *kind = c->attached ? "attached" : "local";
    int bad = mb_buf_varint(&args, (uint64_t)(4 + c->nsetup)) || mb_put_string(&args, id, strlen(id)) ||
              (prev ? mb_put_id(&args, MB_T_PID, prev) : mb_buf_byte(&args, MB_T_NIL)) ||
              (why ? mb_put_string(&args, why, strlen(why)) : mb_buf_byte(&args, MB_T_NIL)) ||
              mb_put_string(&args, kind, strlen(kind));
    for (int i = 0; !bad && i < c->nsetup; i++) bad = mb_put_string(&args, c->setup[i], strlen(c->setup[i]));
    if (bad) {
        mb_buf_free(&args);
        return -1;
    }
    mb_spawn_opts o = {.kind = MB_TARGET_MODULE, .target = CONSOLE_TARGET, .args = args.p,
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
    mb_proc *proc = mb_proctab_get(&s->rt->procs, pid);
    if (proc) {
        mb_msg *m = mb_msg_copy(MB_MSG_DATA, 0, 0, b.p, b.len);
        if (m) mb_proc_deliver(proc, m, NULL);
        else fprintf(stderr, "moonbeam: console: out of memory\n");
        mb_proctab_put(&s->rt->procs, pid);
    }
    mb_buf_free(&b);
}

static void kill_console(mb_console_server *s, mb_pid pid) {
    uint8_t kill[8];
    mb_buf r = {kill, 0, sizeof kill};
    if (pid && !mb_put_string(&r, "kill", 4)) mb_send_exit(s->rt, NULL, 0, pid, r.p, r.len);
}

/* Tell the terminal the session is over, from the server's side. lock held. */
static void say_goodbye(mb_console_conn *c, const char *why) {
    if (why) mb_console_conn_write(c, 'O', why, strlen(why));
    mb_console_conn_write(c, 'X', NULL, 0);
    c->goodbye = true;
}

/* Act on what changed: replace console processes that ended, and drop
 * connections nobody needs any more. The server's thread, lock held. */
static void tend(mb_console_server *s) {
    for (mb_console_conn **pp = &s->conns; *pp;) {
        mb_console_conn *c = *pp;
        /* A process that died before it opened the connection never lets go. */
        bool dead = c->ended || (c->pid && !c->opened && !mb_proctab_alive(&s->rt->procs, c->pid));
        if (dead && !c->goodbye && !c->client_gone && !s->stopping) {
            if (c->end_asked) {
                say_goodbye(c, NULL);
            } else if (restarting_too_often(c)) {
                say_goodbye(c, "** the console process keeps ending; giving up (see the host's log)\n");
            } else {
                const char *why = c->interrupted ? "interrupted" : "exited";
                c->interrupted = false;
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

static void hang_up(mb_console_server *s, mb_console_conn *c) {
    c->polled = false;
    shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_lock(&s->lock);
    c->client_gone = true;
    mb_pid pid = c->ended ? 0 : c->pid;
    pthread_mutex_unlock(&s->lock);
    deliver(s, pid, 'E', NULL, 0);   /* the console ends its session */
}

static void on_frame(mb_console_server *s, mb_console_conn *c, char type, const uint8_t *p, size_t n) {
    pthread_mutex_lock(&s->lock);
    mb_pid pid = c->ended ? 0 : c->pid;
    if (type == 'I') c->interrupted = true;
    if (type == 'E') c->end_asked = true;
    pthread_mutex_unlock(&s->lock);
    switch (type) {
    case 'I':
        kill_console(s, pid);
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

/* A new terminal on fd: say hello, start its console process, and list it. */
static int add_conn(mb_console_server *s, int fd, bool attached, const char *const *setup, int nsetup) {
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
    struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) ||
        mb_wire_write(fd, 'H', MB_WIRE_HELLO, strlen(MB_WIRE_HELLO))) {
        free_conn(c);
        return -1;
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

/* Only the host's own user (or root) may attach, whatever the file's mode. */
static bool peer_allowed(int fd) {
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len)) return false;
    return cr.uid == geteuid() || cr.uid == 0;
}

static void accept_terminal(mb_console_server *s) {
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            fprintf(stderr, "moonbeam: console socket: accept: %s\n", strerror(errno));
        return;
    }
    if (!peer_allowed(fd)) {
        close(fd);
        return;
    }
    if (add_conn(s, fd, true, NULL, 0)) fprintf(stderr, "moonbeam: console socket: cannot serve a new console\n");
}

/* ---- the server's thread ----------------------------------------------- */

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
        size_t n = 2;
        bool starting = false;   /* a console process that has not opened its connection yet */
        for (mb_console_conn *c = s->conns; c; c = c->next) {
            n += c->polled;
            starting |= c->pid && !c->opened && !c->ended;
        }
        if (n > cap) {
            size_t ncap = n * 2;
            struct pollfd *nf = realloc(fds, ncap * sizeof *fds);
            if (nf) fds = nf;
            mb_console_conn **nw = realloc(who, ncap * sizeof *who);
            if (nw) who = nw;
            if (nf && nw) cap = ncap;
        }
        size_t k = 0;
        if (cap >= 2) {
            fds[k++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
            if (s->listen_fd >= 0) fds[k++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
            for (mb_console_conn *c = s->conns; c && k < cap; c = c->next) {
                if (!c->polled) continue;
                who[k] = c;
                fds[k++] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            }
        }
        pthread_mutex_unlock(&s->lock);
        if (k == 0) {   /* out of memory for the poll set: try again soon */
            usleep(100000);
            continue;
        }
        int rc = poll(fds, (nfds_t)k, starting ? 200 : -1);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "moonbeam: console server: poll: %s\n", strerror(errno));
            usleep(100000);
            continue;
        }
        if (rc <= 0) continue;
        for (size_t i = 0; i < k; i++) {
            if (!fds[i].revents) continue;
            if (fds[i].fd == s->wake[0]) {
                char buf[64];
                while (read(s->wake[0], buf, sizeof buf) > 0) {}
            } else if (fds[i].fd == s->listen_fd) {
                accept_terminal(s);
            } else {
                read_terminal(s, who[i]);
            }
        }
    }
    free(fds);
    free(who);
    return NULL;
}

/* ---- the socket -------------------------------------------------------- */

/* Listen on path, a unix socket of mode 0600. A socket nobody answers on
 * is a stale one from a host that died: it is replaced. */
static int listen_on(const char *path, char *err, size_t errlen) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "console socket path is too long (at most %zu bytes): %s",
                 sizeof sa.sun_path - 1, path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket; not replacing it", path);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            return -1;
        }
        int rc = connect(probe, (struct sockaddr *)&sa, sizeof sa);
        int e = errno;
        close(probe);
        if (rc == 0) {
            snprintf(err, errlen, "%s is in use by a running host", path);
            return -1;
        }
        if (e != ECONNREFUSED) {
            snprintf(err, errlen, "%s: %s", path, strerror(e));
            return -1;
        }
        if (unlink(path) && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
            return -1;
        }
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* Nobody can connect before listen(): the mode is 0600 by then. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa)) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (chmod(path, 0600) || listen(fd, 16)) {
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

/* ---- the server's life ------------------------------------------------- */

mb_console_server *mb_console_server_start(mb_runtime *rt, mb_proc *parent, const char *path,
                                           char *err, size_t errlen) {
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
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (path) {
        if (!(s->path = strdup(path))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if ((s->listen_fd = listen_on(path, err, errlen)) < 0) goto fail;
    }
    rt->console = s;
    int rc = pthread_create(&s->thread, NULL, serve, s);
    if (rc) {
        snprintf(err, errlen, "cannot start the console thread: %s", strerror(rc));
        rt->console = NULL;
        goto fail;
    }
    s->thread_started = true;
    return s;
fail:
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        unlink(path);
    }
    if (s->wake[0] >= 0) close(s->wake[0]);
    if (s->wake[1] >= 0) close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
    return NULL;
}

int mb_console_server_add(mb_console_server *s, int fd, const char *const *setup, int nsetup) {
    return add_conn(s, fd, false, setup, nsetup);
}

void mb_console_server_unlink(mb_console_server *s) {
    if (s && s->path) unlink(s->path);   /* path never changes once the server runs */
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
        unlink(s->path);
    }
    pthread_mutex_lock(&s->lock);
    for (mb_console_conn *c = s->conns; c; c = c->next) {
        shutdown(c->fd, SHUT_RDWR);   /* every terminal sees the host go */
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
    free(s);
}

/* ---- what a console process does --------------------------------------- */

mb_console_conn *mb_console_conn_open(mb_runtime *rt, const char *id, mb_pid self,
                                      char *err, size_t errlen) {
    mb_console_server *s = rt->console;
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

int mb_console_conn_write(mb_console_conn *c, char type, const void *p, size_t n) {
    pthread_mutex_lock(&c->wlock);
    int rc = mb_wire_write(c->fd, type, p, n);
    if (rc && (errno == EAGAIN || errno == EWOULDBLOCK)) shutdown(c->fd, SHUT_RDWR);   /* it stopped reading */
    pthread_mutex_unlock(&c->wlock);
    return rc;
}

bool mb_console_conn_gone(mb_console_conn *c) {
    pthread_mutex_lock(&c->srv->lock);
    bool gone = c->client_gone;
    pthread_mutex_unlock(&c->srv->lock);
    return gone;
}

void mb_console_conn_close(mb_console_conn *c, bool goodbye) {
    mb_console_server *s = c->srv;
    if (goodbye) mb_console_conn_write(c, 'X', NULL, 0);
    pthread_mutex_lock(&s->lock);
    c->ended = true;
    c->goodbye |= goodbye;
    bool last = --c->refs == 0;
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (last) free_conn(c);
    else if (!stopping) wake(s);
}
