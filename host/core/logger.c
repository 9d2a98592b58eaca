/* logger.c: the host's log (see logger.h): levels, the bounded queue, and
 * the writer thread with its handlers. How a line reads is log_format.c's. */
#include "logger.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "log_format.h"
#include "process.h"
#include "runtime.h"
#include "term.h"

enum { OP_LOG, OP_ADD, OP_REMOVE, OP_FLUSH };

/* A handler, owned by the writer thread once queued. */
typedef struct handler {
    struct handler *next;
    char *name, *path;           /* path NULL: stderr */
    mb_log_kind kind;
    int level;
    int fd;
} handler;

/* A queued entry: an event (its strings in data), or a change of handlers. */
typedef struct entry {
    struct entry *next;
    int op;
    size_t size;                 /* what it counts against MB_LOG_QUEUE_BYTES */
    double time_ms;
    mb_log_event ev;             /* OP_LOG; the strings point into data */
    handler *h;                  /* OP_ADD */
    mb_pid pid;                  /* OP_FLUSH: who is told, with ref */
    mb_ref ref;
    uint64_t seq;                /* its place in the queue, from 1 */
    char data[];                 /* OP_LOG's strings; OP_REMOVE's name */
} entry;

/* A handler's name and kind, as the loggers see them (under the lock). */
typedef struct shadow {
    char *name;
    mb_log_kind kind;
    bool file;
} shadow;

typedef struct modlevel {
    char *module;
    int level;
} modlevel;

struct mb_logger {
    mb_runtime *rt;
    pthread_mutex_t lock;        /* guards all but the atomics and the writer's own */
    pthread_cond_t drained;      /* the queue emptied and the writer wrote it (flush) */
    _Atomic uint32_t generation; /* logger.h: +4 a change, bit 0 a JSON handler, bit 1 module levels */
    _Atomic int level;           /* the host's */
    modlevel *mods;
    size_t nmods;
    shadow *shadows;
    size_t nshadows;
    entry *head, *tail;
    size_t nevents, bytes;       /* queued OP_LOG entries */
    uint64_t dropped;            /* ever */
    uint64_t posted;             /* the last entry's seq */
    _Atomic uint64_t done;       /* the seq the writer has handled up to */
    bool writing;                /* the writer holds a batch */
    bool stuck;                  /* a flush timed out: the writer is blocked in a write (a pipe nobody
                                    reads); the next waits do not wait again until it moves */
    bool finished;               /* the writer thread has closed up (mb_logger_stop waits for it) */
    _Atomic bool abandoned;      /* stopped without it: its thread may still use the logger, and
                                    tells no process of a flush (the runtime may be gone) */
    bool started, stopping, start_failed;
    /* the writer thread's own once started: */
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_signal_t hup;
    _Atomic bool hup_on;         /* read by the shutdown's own SIGHUP watch (mb_logger_takes_hup) */
    handler *handlers;
    uint64_t reported;           /* drops already said */
};

static const char *const level_names[MB_LOG_LEVELS] = {"debug", "info", "notice", "warning", "error"};

const char *mb_log_level_name(int level) {
    return level >= 0 && level < MB_LOG_LEVELS ? level_names[level] : "?";
}

int mb_log_level_parse(const char *s) {
    for (int i = 0; s && i < MB_LOG_LEVELS; i++)
        if (strcmp(s, level_names[i]) == 0) return i;
    return -1;
}

static double wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* ---- levels ------------------------------------------------------------- */

int mb_logger_init(mb_runtime *rt) {
    mb_logger *lg = calloc(1, sizeof *lg);
    if (!lg) return -1;
    lg->shadows = calloc(1, sizeof *lg->shadows);
    char *def = strdup("default");
    if (!lg->shadows || !def || pthread_mutex_init(&lg->lock, NULL)) goto fail;
    if (pthread_cond_init(&lg->drained, NULL)) {
        pthread_mutex_destroy(&lg->lock);
        goto fail;
    }
    /* The default handler, stderr; the writer makes its own on start. */
    lg->shadows[0] = (shadow){def, MB_LOG_STDERR, false};
    lg->nshadows = 1;
    lg->rt = rt;
    const char *env = getenv("MOONBEAM_LOG_LEVEL");
    int level = env && *env ? mb_log_level_parse(env) : MB_LOG_INFO;
    if (level < 0) {
        fprintf(stderr, "moonbeam: MOONBEAM_LOG_LEVEL=%s is no level (debug, info, notice, warning, error); "
                        "using info\n", env);
        level = MB_LOG_INFO;
    }
    atomic_init(&lg->level, level);
    atomic_init(&lg->generation, 4);
    rt->logger = lg;
    return 0;
fail:
    free(def);
    free(lg->shadows);
    free(lg);
    return -1;
}

uint32_t mb_log_generation(mb_runtime *rt) { return atomic_load(&rt->logger->generation); }

static void changed(mb_logger *lg) {   /* under the lock */
    bool json = false;
    for (size_t i = 0; i < lg->nshadows; i++) json |= lg->shadows[i].kind == MB_LOG_JSON;
    uint32_t g = atomic_load(&lg->generation);
    atomic_store(&lg->generation, ((g + 4) & ~3u) | (json ? 1u : 0u) | (lg->nmods ? 2u : 0u));
}

int mb_log_level_of(mb_runtime *rt, const char *module) {
    mb_logger *lg = rt->logger;
    int level = atomic_load(&lg->level);
    if (!module) return level;
    size_t best = 0, n = strlen(module);
    pthread_mutex_lock(&lg->lock);
    for (size_t i = 0; i < lg->nmods; i++) {
        const char *m = lg->mods[i].module;
        size_t k = strlen(m);
        /* itself, or a parent: "a" covers "a.b", not "ab" */
        if (k > best && k <= n && memcmp(m, module, k) == 0 && (k == n || module[k] == '.')) {
            best = k;
            level = lg->mods[i].level;
        }
    }
    pthread_mutex_unlock(&lg->lock);
    return level;
}

int mb_log_set_level(mb_runtime *rt, const char *module, int level) {
    mb_logger *lg = rt->logger;
    pthread_mutex_lock(&lg->lock);
    int rc = 0;
    if (!module) {
        atomic_store(&lg->level, level);
    } else {
        size_t i = 0;
        while (i < lg->nmods && strcmp(lg->mods[i].module, module) != 0) i++;
        if (i < lg->nmods && level < 0) {
            free(lg->mods[i].module);
            lg->mods[i] = lg->mods[--lg->nmods];
        } else if (i < lg->nmods) {
            lg->mods[i].level = level;
        } else if (level >= 0) {
            modlevel *m = realloc(lg->mods, (lg->nmods + 1) * sizeof *m);
            char *name = m ? strdup(module) : NULL;
            if (m) lg->mods = m;
            if (name) lg->mods[lg->nmods++] = (modlevel){name, level};
            else rc = -1;
        }
    }
    changed(lg);
    pthread_mutex_unlock(&lg->lock);
    return rc;
}

/* ---- the writer --------------------------------------------------------- */

/* The whole of b to fd; a failure (a full disk, a closed pipe) loses this
 * line for this handler only. */
static void write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        p += k;
        n -= (size_t)k;
    }
}

/* O_NONBLOCK for the open only: a FIFO nobody reads would block it (and
 * add_handler's scheduler with it, for ever); it is ENXIO then. Writes
 * block as before, on the writer thread alone. */
static int open_log(const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
    int fl = fd >= 0 ? fcntl(fd, F_GETFL) : 0;
    if (fl >= 0 && fd >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

static void emit(mb_logger *lg, const mb_log_event *ev, double time_ms) {
    mb_buf b;
    mb_buf_init(&b);
    for (handler *h = lg->handlers; h; h = h->next) {
        if (ev->level < h->level) continue;
        b.len = 0;
        if (mb_log_format(&b, h->kind, ev, time_ms)) continue;   /* no memory: this line is lost */
        write_all(h->fd, b.p, b.len);
    }
    mb_buf_free(&b);
}

static void handler_free(handler *h) {
    if (h->path && h->fd >= 0) close(h->fd);
    free(h->name);
    free(h->path);
    free(h);
}

/* Reopen every file (logrotate moved it away). */
static void on_hup(uv_signal_t *s, int signum) {
    (void)signum;
    mb_logger *lg = s->data;
    for (handler *h = lg->handlers; h; h = h->next) {
        if (!h->path) continue;
        int fd = open_log(h->path);
        if (fd < 0) continue;   /* keeps writing where it did */
        close(h->fd);
        h->fd = fd;
    }
}

/* SIGHUP is caught only while a handler has a file: otherwise it does
 * what it did before (a plain luajit host's own choice). */
static void watch_hup(mb_logger *lg) {
    bool files = false;
    for (handler *h = lg->handlers; h; h = h->next) files |= h->path != NULL;
    if (files && !lg->hup_on) lg->hup_on = uv_signal_start(&lg->hup, on_hup, SIGHUP) == 0;
    else if (!files && lg->hup_on) lg->hup_on = uv_signal_stop(&lg->hup) != 0;
}

bool mb_logger_takes_hup(mb_runtime *rt) { return rt->logger && rt->logger->hup_on; }

static void run_entry(mb_logger *lg, entry *e) {
    if (e->op == OP_LOG) {
        emit(lg, &e->ev, e->time_ms);
    } else if (e->op == OP_ADD) {
        handler **tail = &lg->handlers;
        while (*tail) tail = &(*tail)->next;
        *tail = e->h;
        e->h = NULL;
        watch_hup(lg);
    } else if (e->op == OP_REMOVE) {
        for (handler **ph = &lg->handlers; *ph; ph = &(*ph)->next) {
            if (strcmp((*ph)->name, e->data) != 0) continue;
            handler *h = *ph;
            *ph = h->next;
            handler_free(h);
            break;
        }
        watch_hup(lg);
    } else {
        mb_buf b;
        mb_buf_init(&b);
        if (atomic_load(&lg->abandoned)) {
            /* the host's stop left this writer behind: no process to tell */
        } else if (mb_put_tuple_head(&b, 2) || mb_put_string(&b, "$log_flushed", 12) || mb_put_id(&b, MB_T_REF, e->ref) ||
                   mb_send(lg->rt, NULL, 0, e->pid, MB_MSG_ALIASED, e->ref, b.p, b.len) < 0)
            fprintf(stderr, "moonbeam: logger: out of memory telling a process the log is flushed\n");
        mb_buf_free(&b);
    }
}

static void free_entries(entry *e) {
    while (e) {
        entry *next = e->next;
        if (e->h) handler_free(e->h);
        free(e);
        e = next;
    }
}

/* Stopping, and everything written: close up. */
static void close_up(mb_logger *lg) {
    while (lg->handlers) {
        handler *h = lg->handlers;
        lg->handlers = h->next;
        handler_free(h);
    }
    if (lg->hup_on) uv_signal_stop(&lg->hup);
    uv_close((uv_handle_t *)&lg->hup, NULL);
    uv_close((uv_handle_t *)&lg->wake, NULL);
}

/* The queue, a batch at a time, outside the lock: a write that blocks
 * holds up no logger. Then the drops since the last batch, said once. One
 * batch a turn of the loop, the next asked by waking it again: a SIGHUP
 * (on_hup) is seen between two batches; it waited for the queue to empty,
 * which loggers faster than the files never let happen. */
static void on_wake(uv_async_t *a) {
    mb_logger *lg = a->data;
    pthread_mutex_lock(&lg->lock);
    entry *batch = lg->head;
    lg->head = lg->tail = NULL;
    lg->nevents = lg->bytes = 0;
    uint64_t dropped = lg->dropped;
    bool stopping = lg->stopping;
    lg->writing = batch != NULL;
    lg->stuck = false;   /* it moves */
    if (!batch) pthread_cond_broadcast(&lg->drained);
    pthread_mutex_unlock(&lg->lock);
    if (!batch && dropped == lg->reported) {
        if (stopping) close_up(lg);
        return;
    }
    for (entry *e = batch; e; e = e->next) {
        /* A flush's own place counts as done before its answer goes: a
         * flush after that answer finds nothing pending. */
        if (e->op == OP_FLUSH) atomic_store(&lg->done, e->seq);
        run_entry(lg, e);
        atomic_store(&lg->done, e->seq);
    }
    free_entries(batch);
    if (dropped > lg->reported) {
        char msg[160];
        int n = snprintf(msg, sizeof msg, "logger: %llu events dropped: the handlers were behind",
                         (unsigned long long)(dropped - lg->reported));
        mb_log_event ev = {.level = MB_LOG_WARNING, .where = NULL, .msg = msg, .msg_len = (size_t)n};
        emit(lg, &ev, wall_ms());
        lg->reported = dropped;
    }
    uv_async_send(a);   /* more may have come: the next turn looks */
}

static void writer_main(void *arg) {
    mb_logger *lg = arg;
    /* A pipe whose reader is gone fails with EPIPE here instead of
     * raising SIGPIPE, which would end the host. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    uv_run(&lg->loop, UV_RUN_DEFAULT);
    pthread_mutex_lock(&lg->lock);
    lg->finished = true;
    pthread_cond_broadcast(&lg->drained);
    pthread_mutex_unlock(&lg->lock);
}

/* Under the lock: the loop, its handles, the stderr handler, the thread. */
static int start(mb_logger *lg) {
    if (lg->start_failed) return -1;
    handler *h = calloc(1, sizeof *h);
    if (!h || !(h->name = strdup("default"))) goto fail_h;
    h->kind = MB_LOG_STDERR;
    h->fd = STDERR_FILENO;
    h->level = MB_LOG_DEBUG;
    if (uv_loop_init(&lg->loop)) goto fail_h;
    if (uv_async_init(&lg->loop, &lg->wake, on_wake)) goto fail_loop;
    if (uv_signal_init(&lg->loop, &lg->hup)) goto fail_async;
    lg->wake.data = lg->hup.data = lg;
    lg->handlers = h;
    if (uv_thread_create(&lg->thread, writer_main, lg)) goto fail_signal;
    lg->started = true;
    return 0;
fail_signal:
    lg->handlers = NULL;
    uv_close((uv_handle_t *)&lg->hup, NULL);
fail_async:
    uv_close((uv_handle_t *)&lg->wake, NULL);
    uv_run(&lg->loop, UV_RUN_NOWAIT);
fail_loop:
    uv_loop_close(&lg->loop);
fail_h:
    if (h) free(h->name);
    free(h);
    lg->start_failed = true;
    fprintf(stderr, "moonbeam: cannot start the logger's thread: log events are dropped\n");
    return -1;
}

/* Queue e (counted against the bounds when counted); false when dropped. */
static bool post(mb_logger *lg, entry *e, bool counted) {
    pthread_mutex_lock(&lg->lock);
    bool ok = !lg->stopping && (lg->started || start(lg) == 0) &&
              (!counted || (lg->nevents < MB_LOG_QUEUE_EVENTS && lg->bytes + e->size <= MB_LOG_QUEUE_BYTES));
    if (ok) {
        e->next = NULL;
        e->seq = ++lg->posted;
        if (lg->tail) lg->tail->next = e;
        else lg->head = e;
        lg->tail = e;
        if (counted) lg->nevents++, lg->bytes += e->size;
    } else if (counted) {
        lg->dropped++;
    }
    pthread_mutex_unlock(&lg->lock);
    if (!ok) {
        free_entries(e);
        return false;
    }
    uv_async_send(&lg->wake);   /* any thread; coalesces */
    return true;
}

/* Copy s (n bytes) to *at and NUL-end it; returns the copy. */
static char *copy(char **at, const char *s, size_t n) {
    char *c = *at;
    memcpy(c, s, n);
    c[n] = '\0';
    *at += n + 1;
    return c;
}

bool mb_log(mb_runtime *rt, const mb_log_event *ev) {
    size_t nl = ev->name ? strlen(ev->name) : 0, wl = ev->where ? strlen(ev->where) : 0;
    size_t size = nl + wl + ev->msg_len + ev->detail_len + ev->fields_len + 5;
    entry *e = calloc(1, sizeof *e + size);
    if (!e) {
        pthread_mutex_lock(&rt->logger->lock);
        rt->logger->dropped++;
        pthread_mutex_unlock(&rt->logger->lock);
        return false;
    }
    e->op = OP_LOG;
    e->size = sizeof *e + size;
    e->time_ms = wall_ms();
    e->ev = *ev;
    char *at = e->data;
    e->ev.name = ev->name ? copy(&at, ev->name, nl) : NULL;
    e->ev.where = ev->where ? copy(&at, ev->where, wl) : NULL;
    e->ev.msg = copy(&at, ev->msg ? ev->msg : "", ev->msg_len);
    e->ev.detail = copy(&at, ev->detail ? ev->detail : "", ev->detail_len);
    e->ev.fields = ev->fields ? copy(&at, ev->fields, ev->fields_len) : NULL;
    return post(rt->logger, e, true);
}

/* ---- handlers ----------------------------------------------------------- */

/* Whether a handler has the name. Lock held. */
static bool name_taken(const mb_logger *lg, const char *name) {
    for (size_t i = 0; i < lg->nshadows; i++)
        if (strcmp(lg->shadows[i].name, name) == 0) return true;
    return false;
}

int mb_log_add_handler(mb_runtime *rt, const char *name, mb_log_kind kind, const char *path, int level,
                       char *err, size_t errlen) {
    mb_logger *lg = rt->logger;
    entry *e = calloc(1, sizeof *e);
    handler *h = calloc(1, sizeof *h);
    shadow sh = {strdup(name), kind, path != NULL};
    if (!e || !h || !sh.name || !(h->name = strdup(name)) || (path && !(h->path = strdup(path)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    h->kind = kind;
    h->level = level;
    h->fd = -1;   /* none yet: handler_free closes nothing */
    /* Looked at before the file is opened (made): a refused handler leaves
     * no file behind. Looked at again below, under the lock that adds it. */
    pthread_mutex_lock(&lg->lock);
    bool taken = name_taken(lg, name);
    pthread_mutex_unlock(&lg->lock);
    if (taken) {
        snprintf(err, errlen, "a handler named '%s' exists", name);
        goto fail;
    }
    h->fd = path ? open_log(path) : STDERR_FILENO;
    if (h->fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    e->op = OP_ADD;
    e->h = h;
    pthread_mutex_lock(&lg->lock);
    taken = name_taken(lg, name);
    shadow *s = taken ? NULL : realloc(lg->shadows, (lg->nshadows + 1) * sizeof *s);
    if (s) {
        lg->shadows = s;
        s[lg->nshadows++] = sh;
        changed(lg);
    }
    pthread_mutex_unlock(&lg->lock);
    if (!s) {
        snprintf(err, errlen, taken ? "a handler named '%s' exists" : "out of memory", name);
        e->h = NULL;
        goto fail;
    }
    if (!post(lg, e, false)) {
        snprintf(err, errlen, "the logger's thread does not run (the host stops, or it could not start)");
        return -1;
    }
    return 0;
fail:
    if (h) handler_free(h);
    free(e);
    free(sh.name);
    return -1;
}

int mb_log_remove_handler(mb_runtime *rt, const char *name) {
    mb_logger *lg = rt->logger;
    size_t n = strlen(name);
    entry *e = calloc(1, sizeof *e + n + 1);
    if (!e) return -1;
    e->op = OP_REMOVE;
    memcpy(e->data, name, n + 1);
    pthread_mutex_lock(&lg->lock);
    size_t i = 0;
    while (i < lg->nshadows && strcmp(lg->shadows[i].name, name) != 0) i++;
    bool found = i < lg->nshadows;
    if (found) {
        free(lg->shadows[i].name);
        lg->shadows[i] = lg->shadows[--lg->nshadows];
        changed(lg);
    }
    pthread_mutex_unlock(&lg->lock);
    if (!found) {
        free(e);
        return -1;
    }
    post(lg, e, false);
    return 0;
}

int mb_log_flush_to(mb_runtime *rt, mb_pid pid, mb_ref ref) {
    entry *e = calloc(1, sizeof *e);
    if (!e) return -1;
    e->op = OP_FLUSH;
    e->pid = pid;
    e->ref = ref;
    return post(rt->logger, e, false) ? 0 : -1;
}

bool mb_log_drained(mb_runtime *rt) {
    mb_logger *lg = rt->logger;
    if (!lg) return true;
    pthread_mutex_lock(&lg->lock);
    bool drained = atomic_load(&lg->done) == lg->posted;
    pthread_mutex_unlock(&lg->lock);
    return drained;
}

/* ---- the end ------------------------------------------------------------ */

static struct timespec after_ms(double ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)((ms - (double)(long long)(ms / 1000) * 1000) * 1e6);
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    return until;
}

void mb_logger_flush(mb_runtime *rt, double ms) {
    mb_logger *lg = rt->logger;
    if (!lg) return;
    struct timespec until = after_ms(ms);
    pthread_mutex_lock(&lg->lock);
    while (lg->started && !lg->stuck && (lg->head || lg->writing))
        if (pthread_cond_timedwait(&lg->drained, &lg->lock, &until) == ETIMEDOUT) lg->stuck = true;
    pthread_mutex_unlock(&lg->lock);
}

/* How long the stop waits for a writer still writing what was queued. */
#define STOP_WAIT_MS 2000.0

void mb_logger_stop(mb_runtime *rt) {
    mb_logger *lg = rt->logger;
    if (!lg) return;
    pthread_mutex_lock(&lg->lock);
    bool started = lg->started;
    lg->stopping = true;
    pthread_mutex_unlock(&lg->lock);
    if (!started) return;
    if (uv_async_send(&lg->wake)) {
        fprintf(stderr, "moonbeam: cannot wake the logger's thread to stop it\n");
        atomic_store(&lg->abandoned, true);
        return;
    }
    /* A writer blocked for good (a handler's pipe that nobody reads, stderr
     * included) would hold the host's exit for ever: it is waited for a
     * while, then left with what it had queued, and the logger with it.
     * Nothing is said: stderr may be that pipe. */
    struct timespec until = after_ms(STOP_WAIT_MS);
    pthread_mutex_lock(&lg->lock);
    while (!lg->finished && !lg->stuck)
        if (pthread_cond_timedwait(&lg->drained, &lg->lock, &until) == ETIMEDOUT) break;
    bool finished = lg->finished;
    pthread_mutex_unlock(&lg->lock);
    if (!finished) {
        atomic_store(&lg->abandoned, true);
        return;
    }
    uv_thread_join(&lg->thread);
    if (uv_loop_close(&lg->loop)) fprintf(stderr, "moonbeam: the logger's loop still had handles at exit\n");
    lg->started = false;
}

void mb_logger_free(mb_runtime *rt) {
    mb_logger *lg = rt->logger;
    if (!lg) return;
    if (atomic_load(&lg->abandoned)) {   /* its thread may wake from its write: it keeps what it uses */
        rt->logger = NULL;
        return;
    }
    free_entries(lg->head);
    while (lg->handlers) {
        handler *h = lg->handlers;
        lg->handlers = h->next;
        handler_free(h);
    }
    for (size_t i = 0; i < lg->nmods; i++) free(lg->mods[i].module);
    for (size_t i = 0; i < lg->nshadows; i++) free(lg->shadows[i].name);
    free(lg->mods);
    free(lg->shadows);
    pthread_cond_destroy(&lg->drained);
    pthread_mutex_destroy(&lg->lock);
    free(lg);
    rt->logger = NULL;
}
