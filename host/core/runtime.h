/* runtime.h: one moonbeam host: its process table, names, timers and
 * schedulers. Everything mutable lives in here; there are no globals. */
#ifndef MB_RUNTIME_H
#define MB_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "names.h"
#include "pid.h"
#include "proctab.h"
#include "shutdown.h"
#include "timer.h"

typedef struct mb_sched mb_sched;
typedef struct mb_blocking mb_blocking;

typedef struct mb_config {
    int schedulers;              /* 0: one per core */
    int blocking_threads;        /* mb.blocking's pool; 0: max(4, schedulers) */
    uint32_t max_processes;      /* 0: MB_DEFAULT_MAX_PROCESSES */
    size_t max_message_size;     /* 0: MB_DEFAULT_MAX_MESSAGE */
    const char *lua_path;        /* package.path for new states (NULL: LuaJIT's default) */
    const char *lua_cpath;
    double shutdown_timeout_ms;  /* 0: MB_DEFAULT_SHUTDOWN_TIMEOUT_MS */
} mb_config;

#define MB_DEFAULT_MAX_PROCESSES (1u << 20)

typedef struct mb_runtime {
    mb_proctab procs;
    mb_names names;
    mb_timers timers;
    mb_sched *scheds;
    int nscheds;
    mb_sched *timer_thread;        /* a loop of its own for send_after timers */
    struct mb_sysmon *sysmon;      /* preempts long slices, hands off stuck schedulers */
    _Atomic int orphans;           /* threads that lost their scheduler, still in a slice */
    mb_blocking *blocking;         /* the threads mb.blocking calls run on (blocking.h) */
    _Atomic size_t max_message_size;
    _Atomic uint64_t next_ref;
    _Atomic uint32_t next_sched;   /* round robin for work from non-scheduler threads */
    _Atomic int sleepers;          /* schedulers blocked in their loop */
    _Atomic int nappers;           /* sleepers that will look again within NAP_MS */
    _Atomic bool stopping;
    bool crash_log;                /* print crashes to stderr (MOONBEAM_CRASH_LOG=0 mutes) */
    struct mb_console_server *console;   /* consoles served (console_server.h), or NULL; set
                                            before the first console process exists */
    char *lua_path, *lua_cpath;
    mb_proc *host;                 /* the process of the thread that started the runtime
                                      (external); set once, before any shutdown can start */
    mb_shutdown shutdown;          /* ending the whole host in order (shutdown.h) */
} mb_runtime;

/* Start the schedulers. Returns NULL with a message in err on failure. */
mb_runtime *mb_runtime_start(const mb_config *cfg, char *err, size_t errlen);
/* Stop the schedulers, end every process, free everything. */
void mb_runtime_stop(mb_runtime *rt);

mb_ref mb_make_ref(mb_runtime *rt);
/* Milliseconds on the monotonic clock all deadlines use. */
double mb_now_ms(void);

#endif
