/* supervisor.h: supervisors as native processes (no Lua state).
 *
 * A supervisor is created from an encoded spec, built, checked and
 * normalised by lua/moonbeam/supervisor.lua: every field is there (backoff
 * and name only when given), and one missing is refused, not assumed:
 *   {strategy=, intensity=, period=, max_children=, children={child...}}
 *   child: {id=, type="worker"|"process"|"supervisor", restart=, shutdown=
 *           (ms, -1 infinity, -2 brutal_kill), name=, module=, arg=,
 *           start={"mod:fn", args...}, backoff={initial=, max=, factor=},
 *           spec={...nested supervisor spec...}}
 * It waits for {"$gen_start", ref, starter}, starts its children in order
 * and replies {"ok"} or {"stop", reason} to ref, as a gen_server does; it
 * answers calls (start_child, terminate_child, restart_child, delete_child,
 * which_children, count_children) and the sys stop request. */
#ifndef MB_SUPERVISOR_H
#define MB_SUPERVISOR_H

#include "core/process.h"

/* A new supervisor process (not yet in the table): NULL with err set if the
 * spec cannot be read. link: its starter will be its parent (its EXIT ends
 * the supervisor). path names it in reports ("app/jobs"). worker_target: the
 * function of the runtime's kind that runs a worker child, with arguments
 * (module, arg, supervisor pid, name): for Lua, gen_server's entry; nested
 * supervisors use the same. */
mb_proc *mb_sup_new(mb_runtime *rt, const uint8_t *spec, size_t len, bool link,
                    const char *path, const char *worker_target, char *err, size_t errlen);

#endif
