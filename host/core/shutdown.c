/* shutdown.c: ending the whole host in order (see shutdown.h). The order
 * itself (whom to signal, whom to wait for) is policy, in the process the
 * embedder names (mb_config.shutdown_target); this file starts it once, guards it with the
 * watchdog, catches the signals, and ends the OS process. */
#include "shutdown.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io.h"
#include "logger.h"
#include "process.h"
#include "runtime.h"
#include "sched.h"
#include "signal.h"
#include "spawn.h"


int mb_shutdown_init(mb_shutdown *sd, double timeout_ms) {
    atomic_init(&sd->status, -1);
    atomic_init(&sd->ordered, false);
    atomic_init(&sd->done, false);
    atomic_init(&sd->first, 0);
    atomic_init(&sd->host_exits, false);
    sd->timeout_ms = timeout_ms > 0 ? timeout_ms : MB_DEFAULT_SHUTDOWN_TIMEOUT_MS;
    if (pthread_mutex_init(&sd->mu, NULL)) return -1;
    if (pthread_cond_init(&sd->cv, NULL)) {
        pthread_mutex_destroy(&sd->mu);
        return -1;
    }
    return 0;
}

void mb_shutdown_destroy(mb_shutdown *sd) {
    pthread_mutex_destroy(&sd->mu);
    pthread_cond_destroy(&sd->cv);
}

int mb_shutdown_status(mb_runtime *rt) { return atomic_load(&rt->shutdown.status); }

/* Write s to stderr without stdio: another thread may hold stderr's lock
 * in a write that never ends, and this exit must not wait for it. */
static void say(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void exit_at_alarm(int sig) {
    (void)sig;
    _exit(1);
}

_Noreturn void mb_shutdown_force(mb_runtime *rt, const char *why) {
    /* stderr itself may be a pipe nobody reads: what follows gets a second. */
    signal(SIGALRM, exit_at_alarm);
    alarm(1);
    char line[256];
    snprintf(line, sizeof line, "moonbeam: %s\n", why);
    say(line);
    for (mb_attachment *a = atomic_load(&rt->attachments); a; a = a->next) {
        void *data = atomic_load(&a->data);
        if (data && a->on_forced_exit) a->on_forced_exit(data);
    }
    /* What the program printed is worth keeping, unless stdout is stuck. */
    if (ftrylockfile(stdout) == 0) {
        fflush_unlocked(stdout);
        funlockfile(stdout);
    }
    _exit(1);
}

/* ---- on the timer thread ------------------------------------------------ */

static void on_watchdog(uv_timer_t *t) {
    mb_runtime *rt = t->data;
    if (atomic_load(&rt->shutdown.done)) return;
    char why[128];
    snprintf(why, sizeof why, "the shutdown did not finish within %.0f ms; exiting now",
             rt->shutdown.timeout_ms);
    mb_shutdown_force(rt, why);
}

static void arm_watchdog(mb_sched *s, void *arg) {
    mb_runtime *rt = arg;
    mb_shutdown *sd = &rt->shutdown;
    if (atomic_load(&sd->done)) return;
    if (!sd->watchdog_init) {
        if (uv_timer_init(&s->loop, &sd->watchdog)) {
            fprintf(stderr, "moonbeam: cannot time the shutdown\n");
            return;
        }
        sd->watchdog.data = rt;
        sd->watchdog_init = true;
    }
    uv_timer_start(&sd->watchdog, on_watchdog, (uint64_t)sd->timeout_ms, 0);
}

static void disarm_watchdog(mb_sched *s, void *arg) {
    (void)s;
    mb_runtime *rt = arg;
    if (rt->shutdown.watchdog_init) uv_timer_stop(&rt->shutdown.watchdog);
}

static void on_signal(uv_signal_t *h, int signum) {
    mb_runtime *rt = h->data;
    /* A second one ends it at once, even once the processes are gone: the
     * last log lines' writing (up to 2 s, to a slow or stuck handler) is
     * not to be waited for either. */
    if (signum == SIGINT && mb_shutdown_status(rt) >= 0) mb_shutdown_force(rt, "interrupted during the shutdown; exiting now");
    /* SIGHUP: the terminal is gone; the host ends as on SIGTERM (its
     * terminates run, its console socket goes), with the status a shell
     * gives a hangup's death. While a log handler has a file, SIGHUP is
     * logrotate's: the logger reopens it, and the host goes on. */
    if (signum == SIGHUP && mb_logger_takes_hup(rt)) return;
    mb_shutdown_start(rt, signum == SIGINT ? 130 : signum == SIGHUP ? 129 : 0, NULL);
}

static void start_signals(mb_sched *s, void *arg) {
    mb_runtime *rt = arg;
    mb_shutdown *sd = &rt->shutdown;
    int rc = -1;
    uv_signal_t *watched[] = {&sd->sigterm, &sd->sigint, &sd->sighup};
    const int signums[] = {SIGTERM, SIGINT, SIGHUP};
    size_t n = sizeof watched / sizeof *watched, made = 0;
    while (!sd->signals_init && made < n && uv_signal_init(&s->loop, watched[made]) == 0) watched[made++]->data = rt;
    if (made == n) {
        sd->signals_init = true;
        rc = 0;
        for (size_t i = 0; i < n; i++)
            if (uv_signal_start(watched[i], on_signal, signums[i])) rc = -1;
    } else {
        while (made > 0) uv_close((uv_handle_t *)watched[--made], NULL);
    }
    pthread_mutex_lock(&sd->mu);
    sd->signals_rc = rc;
    pthread_cond_broadcast(&sd->cv);
    pthread_mutex_unlock(&sd->mu);
}

int mb_shutdown_catch_signals(mb_runtime *rt) {
    mb_shutdown *sd = &rt->shutdown;
    /* Wait until they are caught: one that came before would be lost (an
     * ignored SIGINT) or end the OS process at once (SIGTERM). */
    pthread_mutex_lock(&sd->mu);
    sd->signals_rc = 1;
    pthread_mutex_unlock(&sd->mu);
    if (mb_sched_post(rt->timer_thread, start_signals, rt)) return -1;
    pthread_mutex_lock(&sd->mu);
    while (sd->signals_rc == 1) pthread_cond_wait(&sd->cv, &sd->mu);
    int rc = sd->signals_rc;
    pthread_mutex_unlock(&sd->mu);
    return rc;
}

/* ---- starting and ending -------------------------------------------------- */

int mb_shutdown_start(mb_runtime *rt, int status, mb_proc *from) {
    mb_shutdown *sd = &rt->shutdown;
    int none = -1;
    if (!atomic_compare_exchange_strong(&sd->status, &none, status & 0xff)) return 0;
    if (mb_sched_post(rt->timer_thread, arm_watchdog, rt))
        fprintf(stderr, "moonbeam: out of memory timing the shutdown\n");
    mb_proc *parent = from ? from : rt->host;
    static const uint8_t no_args[] = {0};   /* an empty list */
    mb_spawn_opts o = {.target_kind = MB_TARGET_MODULE, .target = rt->shutdown_target, .args = no_args,
                       .args_len = sizeof no_args};
    mb_pid pid;
    if (!rt->shutdown_target) mb_shutdown_force(rt, "this host has no process to run a shutdown");
    int rc = parent ? mb_spawn(parent, &o, &pid, NULL) : MB_SPAWN_NOMEM;
    if (rc == MB_SPAWN_FULL) mb_shutdown_force(rt, "cannot start the shutdown: the process table is full");
    if (rc) mb_shutdown_force(rt, "cannot start the shutdown: out of memory");
    return 1;
}

void mb_shutdown_signal_host_links(mb_runtime *rt, mb_sched *s, const uint8_t *reason, size_t len) {
    mb_proc *host = rt->host;
    if (!host) return;
    pthread_mutex_lock(&host->lock);
    mb_pidvec links = {NULL, 0, 0};
    int bad = 0;
    for (uint32_t i = 0; !bad && i < host->links.n; i++) bad = mb_pidvec_add(&links, host->links.v[i]);
    pthread_mutex_unlock(&host->lock);
    if (bad) fprintf(stderr, "moonbeam: out of memory signalling the host's links\n");
    for (uint32_t i = 0; i < links.n; i++) {
        mb_unlink(host, links.v[i]);
        mb_send_exit(rt, s, host->pid, links.v[i], reason, len);
    }
    free(links.v);
}

void mb_shutdown_done(mb_runtime *rt) {
    mb_shutdown *sd = &rt->shutdown;
    /* With no embedder to stop the runtime (a host started by require),
     * the OS process ends next (exit, or the host's own os.exit) without
     * its stop: kill the ports' programs here, or they outlive it. */
    if (!sd->on_done) mb_io_stop(rt);
    pthread_mutex_lock(&sd->mu);
    atomic_store(&sd->done, true);
    pthread_cond_broadcast(&sd->cv);
    pthread_mutex_unlock(&sd->mu);
    /* Should the post fail, the watchdog finds done set and does nothing. */
    mb_sched_post(rt->timer_thread, disarm_watchdog, rt);
    int status = mb_shutdown_status(rt);
    mb_logger_flush(rt, 2000);   /* the host may end right after: its last reports first */
    if (sd->on_done) sd->on_done(rt, status, sd->on_done_ud);
    else if (!atomic_load(&sd->host_exits)) exit(status);
}

int mb_shutdown_wait(mb_runtime *rt) {
    mb_shutdown *sd = &rt->shutdown;
    pthread_mutex_lock(&sd->mu);
    while (!atomic_load(&sd->done)) pthread_cond_wait(&sd->cv, &sd->mu);
    pthread_mutex_unlock(&sd->mu);
    return mb_shutdown_status(rt);
}
