/* runtime.c: bring a host up and take it down. */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include "blocking.h"
#include "io.h"
#include "logger.h"
#include "term.h"
#include "process.h"
#include "sched.h"

double mb_now_ms(void) { return (double)uv_hrtime() / 1e6; }

mb_ref mb_make_ref(mb_runtime *rt) {
    return MB_REF_BIT | (atomic_fetch_add(&rt->next_ref, 1) & MB_LOCAL_REF_MASK);
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

static mb_attachment *find_attachment(mb_runtime *rt, const void *key) {
    for (mb_attachment *a = atomic_load(&rt->attachments); a; a = a->next)
        if (a->key == key) return a;
    return NULL;
}

int mb_runtime_attach(mb_runtime *rt, const void *key, void *data, void (*on_forced_exit)(void *)) {
    mb_attachment *a = find_attachment(rt, key);
    if (!a) {
        if (!(a = calloc(1, sizeof *a))) return -1;
        a->key = key;
        a->on_forced_exit = on_forced_exit;
        a->next = atomic_load(&rt->attachments);
        while (!atomic_compare_exchange_weak(&rt->attachments, &a->next, a)) {}
    }
    atomic_store(&a->data, data);
    return 0;
}

void *mb_runtime_attached(mb_runtime *rt, const void *key) {
    mb_attachment *a = find_attachment(rt, key);
    return a ? atomic_load(&a->data) : NULL;
}

void mb_runtime_detach(mb_runtime *rt, const void *key) {
    mb_attachment *a = find_attachment(rt, key);
    if (a) atomic_store(&a->data, NULL);
}

/* One per CPU this process may run on (its affinity mask), not one per CPU
 * the machine has: a container limited to 2 of 64 gets 2. */
static int default_schedulers(void) {
    unsigned n = uv_available_parallelism();
    return n > 0 ? (int)n : 1;
}

/* A program started with stdin, stdout or stderr closed would have the
 * host's first descriptors (a loop's epoll, a wakeup's eventfd) take their
 * numbers: printing would write into them, and libuv refuses to close them.
 * Hold those numbers with /dev/null first, as daemons do. */
static int open_std_fds(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        int got = open("/dev/null", O_RDWR);
        if (got < 0) return -1;
        if (got != fd) {   /* a lower one was closed meanwhile: it is taken now */
            close(got);
            errno = EBADF;
            return -1;
        }
    }
    return 0;
}

mb_runtime *mb_runtime_start(const mb_config *cfg, char *err, size_t errlen) {
    if (open_std_fds()) {
        snprintf(err, errlen, "cannot open /dev/null for a closed stdin, stdout or stderr: %s", strerror(errno));
        return NULL;
    }
    /* Aligned: some of its fields have a cache line of their own. */
    mb_runtime *rt = aligned_alloc(_Alignof(mb_runtime), sizeof *rt);
    if (rt) memset(rt, 0, sizeof *rt);
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uint32_t maxp = cfg->max_processes ? cfg->max_processes : MB_DEFAULT_MAX_PROCESSES;
    int n = cfg->schedulers > 0 ? cfg->schedulers : default_schedulers();
    if (maxp > MB_MAX_SLOTS || maxp < 2) {
        /* The host's own process is one: with no room for another, nothing runs. */
        snprintf(err, errlen, "max_processes must be from 2 to %u", MB_MAX_SLOTS);
        free(rt);
        return NULL;
    }
    if (n > 1024) {
        snprintf(err, errlen, "at most 1024 schedulers");
        free(rt);
        return NULL;
    }
    int nblocking = cfg->blocking_threads > 0 ? cfg->blocking_threads
                  : n > MB_BLOCKING_MIN        ? n
                                               : MB_BLOCKING_MIN;
    if (nblocking > MB_BLOCKING_MAX) {
        snprintf(err, errlen, "at most %d blocking threads", MB_BLOCKING_MAX);
        free(rt);
        return NULL;
    }
    atomic_init(&rt->max_message_size,
                cfg->max_message_size ? cfg->max_message_size : MB_DEFAULT_MAX_MESSAGE);
    atomic_init(&rt->next_ref, 1);
    const char *log = getenv("MOONBEAM_CRASH_LOG");
    rt->crash_log = !(log && strcmp(log, "0") == 0);
    rt->kind = cfg->kind;
    rt->kind_data = cfg->kind_data;
    rt->shutdown_target = dup_or_null(cfg->shutdown_target);
    if ((cfg->shutdown_target && !rt->shutdown_target) || mb_proctab_init(&rt->procs, maxp)) {
        snprintf(err, errlen, "out of memory creating the process table");
        goto fail;
    }
    if (mb_shutdown_init(&rt->shutdown, cfg->shutdown_timeout_ms)) {
        snprintf(err, errlen, "cannot create the shutdown's lock");
        goto fail;
    }
    if (mb_pages_init(&rt->pages) || mb_names_init(&rt->names) || mb_timers_init(&rt->timers) ||
        mb_tables_init(&rt->tables)) {
        snprintf(err, errlen, "out of memory creating the registry");
        goto fail;
    }
    if (mb_io_init(rt)) {
        snprintf(err, errlen, "out of memory creating the I/O thread's queue");
        goto fail;
    }
    if (mb_logger_init(rt)) {
        snprintf(err, errlen, "out of memory creating the logger");
        goto fail;
    }
    if (mb_blocking_init(rt, nblocking)) {
        snprintf(err, errlen, "out of memory creating the blocking pool");
        goto fail;
    }
    if (mb_sched_start_all(rt, n)) {
        snprintf(err, errlen, "cannot start %d scheduler threads", n);
        goto fail;
    }
    return rt;
fail:
    mb_blocking_free(rt);
    mb_logger_free(rt);
    mb_io_free(rt);
    free(rt->shutdown_target);
    free(rt);
    return NULL;
}

/* The stop's watch over the processes' last finalizers (below): they are
 * the program's code, and one that never ends would hold the exit for
 * ever. Past the shutdown's timeout the host exits at once, as a shutdown
 * that does not finish does (status 1). */
typedef struct stop_watch {
    uv_mutex_t mu;
    uv_cond_t cv;
    bool done;
    mb_runtime *rt;
    uv_thread_t thread;
} stop_watch;

static void watch_main(void *arg) {
    stop_watch *w = arg;
    uint64_t left = (uint64_t)(w->rt->shutdown.timeout_ms * 1e6), t0 = uv_hrtime();
    uv_mutex_lock(&w->mu);
    while (!w->done) {
        uint64_t spent = uv_hrtime() - t0;
        if (spent >= left || uv_cond_timedwait(&w->cv, &w->mu, left - spent) == UV_ETIMEDOUT) break;
    }
    bool done = w->done;
    uv_mutex_unlock(&w->mu);
    if (done) return;
    char why[128];
    snprintf(why, sizeof why, "the processes' finalizers did not finish within %.0f ms; exiting now",
             w->rt->shutdown.timeout_ms);
    mb_shutdown_force(w->rt, why);
}

/* 0: watching (stop_watch_end ends it); -1: no watch could be set. */
static int stop_watch_start(stop_watch *w, mb_runtime *rt) {
    w->done = false;
    w->rt = rt;
    if (uv_mutex_init(&w->mu)) return -1;
    if (uv_cond_init(&w->cv)) {
        uv_mutex_destroy(&w->mu);
        return -1;
    }
    if (uv_thread_create(&w->thread, watch_main, w)) {
        uv_cond_destroy(&w->cv);
        uv_mutex_destroy(&w->mu);
        return -1;
    }
    return 0;
}

static void stop_watch_end(stop_watch *w) {
    uv_mutex_lock(&w->mu);
    w->done = true;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    uv_thread_join(&w->thread);
    uv_cond_destroy(&w->cv);
    uv_mutex_destroy(&w->mu);
}

static void collect(mb_pid pid, void *ud) {
    mb_buf *b = ud;
    mb_buf_put(b, &pid, sizeof pid);
}

int mb_runtime_stop(mb_runtime *rt) {
    if (!rt) return 0;
    /* What was logged so far is written even if the stop goes wrong. */
    mb_logger_flush(rt, 2000);
    /* The pool first: its threads hand processes back to the schedulers. */
    if (mb_blocking_stop(rt, 2000)) {
        /* A blocking call still runs, in a process's state, maybe sending:
         * free nothing it may touch; the schedulers only stop running. */
        atomic_store(&rt->stopping, true);
        for (int i = 0; i < rt->nscheds; i++) mb_wake_send(&rt->scheds[i].wakeup);
        mb_wake_send(&rt->timer_thread->wakeup);
        return -1;
    }
    /* Sockets close before the processes go: the I/O thread delivers to them. */
    mb_io_stop(rt);
    if (mb_sched_stop_all(rt)) return -1;   /* a thread still runs a process: free nothing under it */
    mb_blocking_free(rt);
    /* No thread runs processes now: end what is left without signals,
     * their finalizers run, watched. */
    stop_watch watch;
    bool watched = stop_watch_start(&watch, rt) == 0;
    mb_buf pids;
    mb_buf_init(&pids);
    mb_proctab_each(&rt->procs, collect, &pids);
    for (size_t i = 0; i + sizeof(mb_pid) <= pids.len; i += sizeof(mb_pid)) {
        mb_pid pid;
        memcpy(&pid, pids.p + i, sizeof pid);
        mb_proc *p = mb_proctab_get(&rt->procs, pid);
        if (!p) continue;
        if (p->kind) p->kind->close(p);
        mb_tabcache_release(&p->tables_used);   /* before the tables go */
        mb_proctab_retire(&rt->procs, pid);
        mb_proctab_put(&rt->procs, pid);
    }
    mb_buf_free(&pids);
    if (watched) stop_watch_end(&watch);
    if (rt->kind && rt->kind->drop_ahead) rt->kind->drop_ahead(rt);   /* before the pages go */
    /* Last: the processes' ends above may have logged. */
    mb_logger_stop(rt);
    mb_logger_free(rt);
    mb_io_free(rt);
    mb_tables_destroy(&rt->tables);
    mb_names_destroy(&rt->names);
    mb_timers_destroy(&rt->timers);
    mb_proctab_destroy(&rt->procs);
    mb_pages_destroy(&rt->pages);   /* every process's arena is released by now */
    mb_shutdown_destroy(&rt->shutdown);
    for (mb_attachment *a = atomic_load(&rt->attachments), *next; a; a = next) {
        next = a->next;
        free(a);
    }
    free(rt->shutdown_target);
    free(rt);
    return 0;
}
