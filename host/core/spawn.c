/* spawn.c: the one way processes come to be (see spawn.h). */
#include "spawn.h"

#include <stdlib.h>
#include <string.h>
#include "term.h"
#include "call.h"
#include "names.h"
#include "runtime.h"
#include "sched.h"
#include "signal.h"

static mb_sched *sched_of(mb_proc *p) { return p->ext ? NULL : p->sched; }

/* After insertion: name, link, monitor, then runnable. On failure the
 * process never ran and is removed. */
static int finish(mb_proc *parent, mb_proc *p, mb_pid pid, const mb_spawn_opts *o, mb_ref *ref) {
    mb_runtime *rt = parent->rt;
    if (o->name) {
        int rc = mb_names_register(rt, o->name, o->name_len, pid);
        if (rc) {
            mb_proctab_retire(&rt->procs, pid);
            return rc == MB_REG_TAKEN     ? MB_SPAWN_NAME_TAKEN
                 : rc == MB_REG_BADNAME ? MB_SPAWN_BAD_NAME
                                        : MB_SPAWN_NOMEM;
        }
    }
    if (o->link && mb_link(parent, pid)) {
        if (o->name) mb_names_release(rt, o->name, pid);
        mb_proctab_retire(&rt->procs, pid);
        return MB_SPAWN_NOMEM;
    }
    if (o->monitor) {
        *ref = o->start_ref ? o->start_ref : mb_make_ref(rt);
        mb_small_term what = mb_small_id(MB_T_PID, pid);
        if (mb_monitor(parent, pid, *ref, what.b, what.n)) {
            if (o->link) mb_unlink(parent, pid);
            if (o->name) mb_names_release(rt, o->name, pid);
            mb_proctab_retire(&rt->procs, pid);
            return MB_SPAWN_NOMEM;
        }
    }
    if (o->start_ref) {
        /* Nobody can wait on a process that never ran: no cycle to find. */
        mb_pid chain[MB_MAX_CHAIN];
        (void)mb_call_begin(parent, pid, o->start_ref, chain);
    }
    if (o->first) atomic_store(&rt->shutdown.first, pid);
    mb_sched_push(rt, sched_of(parent), p);
    return MB_SPAWN_OK;
}

/* The child's search_path: the one given, else its parent's. 0, or -1 when out of memory. */
static int set_search_path(mb_proc *p, const mb_proc *parent, const char *given, size_t len) {
    const char *from = given ? given : parent->search_path;
    if (!from) return 0;
    if (!given) len = strlen(from) + 1 + strlen(from + strlen(from) + 1) + 1;
    p->search_path = malloc(len);
    if (!p->search_path) return -1;
    memcpy(p->search_path, from, len);
    return 0;
}

int mb_spawn(mb_proc *parent, const mb_spawn_opts *o, mb_pid *pid, mb_ref *ref) {
    mb_proc *p = mb_proc_new(parent->rt);
    if (!p) return MB_SPAWN_NOMEM;
    p->kind = o->kind ? o->kind : parent->rt->kind;
    p->target_kind = o->target_kind;
    p->target = strdup(o->target);
    p->mem_limit = o->mem_limit;
    p->max_queue = o->max_queue;
    p->on_full = o->on_full;
    p->admits = o->max_queue || o->mem_limit;
    atomic_store(&p->trap_exit, o->trap_exit);
    if (!p->kind || !p->target || mb_buf_put(&p->spawn_args, o->args, o->args_len) ||
        (o->start_term && mb_buf_put(&p->start_term, o->start_term, o->start_term_len)) ||
        set_search_path(p, parent, o->search_path, o->search_path_len)) {
        mb_proc_free(p);
        return MB_SPAWN_NOMEM;
    }
    if (mb_proctab_insert(&parent->rt->procs, p, pid)) {
        mb_proc_free(p);
        return MB_SPAWN_FULL;
    }
    return finish(parent, p, *pid, o, ref);
}

int mb_spawn_native(mb_proc *parent, mb_proc *p, bool link, mb_ref *ref, const char *name,
                    mb_pid *pid) {
    /* A supervisor's children find code where its starter did. */
    if (!p->search_path && set_search_path(p, parent, NULL, 0)) {
        mb_proc_free(p);
        return MB_SPAWN_NOMEM;
    }
    if (mb_proctab_insert(&parent->rt->procs, p, pid)) {
        mb_proc_free(p);
        return MB_SPAWN_FULL;
    }
    mb_spawn_opts o = {.link = link, .monitor = ref != NULL, .name = name,
                       .name_len = name ? strlen(name) : 0};
    return finish(parent, p, *pid, &o, ref);   /* a failure retires p: freed */
}
