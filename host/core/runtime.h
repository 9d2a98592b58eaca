/* runtime.h: one moonbeam host: its process table, names, timers and
 * schedulers. Everything mutable lives in here; there are no globals. */
#ifndef MB_RUNTIME_H
#define MB_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kind.h"
#include "names.h"
#include "pages.h"
#include "pid.h"
#include "proctab.h"
#include "shutdown.h"
#include "table.h"
#include "timer.h"

typedef struct mb_sched mb_sched;
typedef struct mb_blocking mb_blocking;

typedef struct mb_config {
    int schedulers;              /* 0: one per core */
    int blocking_threads;        /* mb.blocking's pool; 0: max(4, schedulers) */
    uint32_t max_processes;      /* 0: MB_DEFAULT_MAX_PROCESSES */
    size_t max_message_size;     /* 0: MB_DEFAULT_MAX_MESSAGE */
    double shutdown_timeout_ms;  /* 0: MB_DEFAULT_SHUTDOWN_TIMEOUT_MS */
    const mb_kind *kind;         /* what mb_spawn makes (the Lua kind: bindings/vm.c) */
    void *kind_data;             /* the kind's own, per host (the embedder frees it after stop) */
    const char *shutdown_target; /* the process of kind that runs an orderly shutdown
                                    (shutdown.h); NULL: none, a shutdown is forced */
} mb_config;

/* Something a layer above the core keeps in a runtime (the console server)
 * under a key of its own. Records are only ever added while the runtime
 * runs, so they can be walked without a lock. */
typedef struct mb_attachment {
    const void *key;
    _Atomic(void *) data;                    /* NULL once detached */
    void (*on_forced_exit)(void *data);      /* the host exits at once (mb_shutdown_force):
                                                async-signal-safe work only */
    struct mb_attachment *next;
} mb_attachment;

#define MB_DEFAULT_MAX_PROCESSES (1u << 20)

struct mb_runtime;
/* Where an exit signal or a DOWN to a process of another node goes (the
 * distribution layer's, when this host is a node): kind is
 * MB_SIG_LINK_EXIT, MB_SIG_EXIT or MB_SIG_DOWN (ref: the monitor's, which
 * the remote watcher made: mb_monitor_remote), reason encoded; or
 * MB_MSG_DATA, a timer's message (reason: the message). Any thread. -1:
 * out of memory. */
typedef int (*mb_remote_signal_fn)(struct mb_runtime *rt, mb_pid from, mb_pid dest, int kind, mb_ref ref,
                                   const uint8_t *reason, size_t len);
/* Where a timer's message to {name, node} of another node goes (the
 * distribution layer's): msg encoded, from its sender. Any thread. -1: out
 * of memory. */
typedef int (*mb_remote_named_fn)(struct mb_runtime *rt, mb_pid from, const char *name, const char *node,
                                  const uint8_t *msg, size_t len);
/* What a process left for other nodes in its slice, sent (the distribution
 * layer's): called at the slice's end, on its thread, when p->out_due. */
typedef void (*mb_flush_out_fn)(struct mb_runtime *rt);


typedef struct mb_runtime {
    mb_proctab procs;
    mb_names names;
    mb_tables tables;              /* shared tables (table.h) */
    mb_pages pages;                /* the chunks of process arenas (pages.h) */
    mb_timers timers;
    mb_sched *scheds;
    int nscheds;
    mb_sched *timer_thread;        /* a loop of its own for send_after timers */
    struct mb_sysmon *sysmon;      /* preempts long slices, hands off stuck schedulers */
    _Atomic int orphans;           /* threads that lost their scheduler, still in a slice */
    mb_blocking *blocking;         /* the threads mb.blocking calls run on (blocking.h) */
    struct mb_io *io;              /* the thread that owns every socket (io.h) */
    struct mb_logger *logger;      /* levels, handlers and the log's writer (logger.h) */
    _Atomic size_t max_message_size;
    _Atomic bool stopping;
    bool crash_log;                /* print crashes to stderr (MOONBEAM_CRASH_LOG=0 mutes) */
    const mb_kind *kind;           /* mb_config's */
    void *kind_data;
    char *shutdown_target;
    _Atomic(mb_attachment *) attachments;
    _Atomic(mb_remote_signal_fn) remote_signal;   /* NULL: signals to remote pids are dropped */
    _Atomic(mb_remote_named_fn) remote_named;     /* NULL: timers' messages to remote names are dropped */
    _Atomic(mb_flush_out_fn) flush_out;           /* NULL: no node, nothing is ever left */
    mb_proc *host;                 /* the process of the thread that started the runtime
                                      (external); set once, before any shutdown can start */
    mb_shutdown shutdown;          /* ending the whole host in order (shutdown.h) */

    /* Written by every thread, each on a line of its own: a call's ref
     * taken on one core must not take from the others the line that every
     * send reads (max_message_size, stopping above), nor the one every
     * wake-up reads (sleepers). */
    _Alignas(MB_CACHE_LINE) _Atomic uint64_t next_ref;
    _Alignas(MB_CACHE_LINE) _Atomic int sleepers;   /* schedulers blocked in their loop */
    _Atomic int nappers;           /* sleepers that will look again within NAP_MS */
    _Atomic uint32_t next_sched;   /* round robin for work from non-scheduler threads */
} mb_runtime;

/* Start the schedulers. Returns NULL with a message in err on failure. */
mb_runtime *mb_runtime_start(const mb_config *cfg, char *err, size_t errlen);
/* Stop the schedulers, end every process, free everything: 0. -1 when a
 * thread still runs in a process's state after the grace periods: then
 * nothing it may touch is freed, the kind's data included. */
int mb_runtime_stop(mb_runtime *rt);

/* Keep data under key (a new key, or one detached before). -1: no memory. */
int mb_runtime_attach(mb_runtime *rt, const void *key, void *data, void (*on_forced_exit)(void *));
/* What is kept under key, or NULL. Any thread. */
void *mb_runtime_attached(mb_runtime *rt, const void *key);
void mb_runtime_detach(mb_runtime *rt, const void *key);

mb_ref mb_make_ref(mb_runtime *rt);
/* Milliseconds on the monotonic clock all deadlines use. */
double mb_now_ms(void);

#endif
