/* spawn.h: creating a process, from Lua (bindings) or from C (supervisors,
 * the console server).
 * The new process is linked and monitored before it can run, so neither
 * can miss its exit, and registered under its name before anyone can
 * look it up. */
#ifndef MB_SPAWN_H
#define MB_SPAWN_H

#include "process.h"

typedef struct mb_spawn_opts {
    const mb_kind *kind;         /* NULL: the runtime's (mb_config.kind) */
    mb_target_kind target_kind;  /* how the kind reads target: */
    const char *target;          /* module spec or path; "function" for bytecode */
    const uint8_t *args;         /* an encoded list (copied) */
    size_t args_len;
    bool link, monitor, trap_exit;
    mb_ref start_ref;            /* nonzero: monitored under this ref (monitor is set),
                                    and the parent awaits its reply (call.h) from before
                                    the process can run: gen_server's start */
    bool first;                  /* the host's first process (shutdown.h), so marked
                                    before it can run */
    size_t mem_limit;
    uint32_t max_queue;          /* 0: unbounded (mailbox_bounds.h) */
    uint8_t on_full;             /* mb_on_full */
    const char *name;            /* NULL: none */
    size_t name_len;
    const uint8_t *start_term;   /* an encoded term the kind reads before the process
                                    runs (copied; the Lua kind: spawn_opt's via name
                                    to take); NULL: none */
    size_t start_term_len;
    const char *search_path;     /* process.h's, search_path_len bytes; NULL: the parent's */
    size_t search_path_len;
} mb_spawn_opts;

enum { MB_SPAWN_OK = 0, MB_SPAWN_NOMEM = -1, MB_SPAWN_FULL = -2, MB_SPAWN_NAME_TAKEN = -3,
       MB_SPAWN_BAD_NAME = -4 /* not mb_name_valid: callers check first */ };

/* Spawn on behalf of parent (for links, monitors and locality). ref is set
 * when o->monitor. */
int mb_spawn(mb_proc *parent, const mb_spawn_opts *o, mb_pid *pid, mb_ref *ref);

/* Put a process made by hand (its kind and state set) in the table, linked to parent
 * if link, monitored by it if ref is not NULL, registered as name if not
 * NULL, and make it runnable. On failure p is freed. */
int mb_spawn_native(mb_proc *parent, mb_proc *p, bool link, mb_ref *ref, const char *name,
                    mb_pid *pid);

#endif
