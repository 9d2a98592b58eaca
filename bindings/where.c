/* where.c: where a process runs or waits, for mb.info's current_function:
 * "file:line" of the innermost frame outside moonbeam's own modules (with
 * none, the innermost of those modules: "moonbeam.gen_server"). Only the
 * thread that owns a process's state may walk its stack, so:
 * - a waiting process is read by mb.info itself, which takes it over for
 *   the moment (WAITING -> INSPECTED) and then gives it back waiting: a
 *   message, timeout or signal that came meanwhile noted its wake, and it
 *   is woken then (mb_proc_inspected). No cost on a wait, and none to the
 *   process read: a ps() over 50,000 idle processes ran each of them once.
 * - a process notes where it is when it is preempted, yields, or enters
 *   mb.blocking; a runnable or running process shows where it last
 *   stopped. */
#include <stdlib.h>
#include <string.h>
#include "core/sched.h"
#include "bindings.h"

/* moonbeam's own code: the embedded modules (loaded under their module
 * names), the boot chunk, and the modules' files where LUA_PATH finds them
 * (a require from a plain LuaJIT program, a LuaRocks tree). */
static bool is_moonbeam_source(const char *src) {
    if (src[0] == '@') {
        const char *file = src + 1;
        return strstr(file, "/moonbeam/") || strncmp(file, "moonbeam/", 9) == 0;
    }
    return strcmp(src, "moonbeam") == 0 || strncmp(src, "moonbeam.", 9) == 0 ||
           strcmp(src, "=boot") == 0 || strcmp(src, "=os.exit") == 0;
}

static void find_where(lua_State *L, char *here, size_t size) {
    here[0] = '\0';
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.what[0] == 'C') continue;
        if (is_moonbeam_source(ar.source)) {
            /* With nothing of the program's own on the stack (an idle
             * gen_server's loop), the innermost of moonbeam's modules past
             * the base API's wrappers (receive): moonbeam.gen_server. */
            if ((!here[0] || strcmp(here, "moonbeam") == 0) && ar.source[0] != '=')
                snprintf(here, size, "%s", ar.source[0] == '@'                       ? ar.short_src
                                           : strncmp(ar.source, "moonbeam.gen_", 13) == 0 ? "moonbeam.gen_server"
                                                                                        : ar.source);
            continue;
        }
        if (ar.currentline <= 0) continue;   /* bytecode stripped of its lines */
        snprintf(here, size, "%s:%d", ar.short_src, ar.currentline);
        break;
    }
}

/* Read p's stack and keep what it says. Only p's owner calls this (mb.info
 * owns p while it reads): the owner may read p->where unlocked, and a
 * process that stops where it stopped before takes no lock. */
static void update_where(lua_State *L, mb_proc *p) {
    char here[MB_WHERE_MAX];
    find_where(L, here, sizeof here);
    if (p->where ? strcmp(here, p->where) == 0 : !here[0]) return;
    /* Made on the first note: an idle process that was never looked at
     * does not carry it. No memory: the note is lost, not the process. */
    char *where = p->where ? p->where : malloc(MB_WHERE_MAX);
    if (!where) return;
    pthread_mutex_lock(&p->lock);
    memcpy(where, here, sizeof here);
    p->where = where;
    pthread_mutex_unlock(&p->lock);
}

void mbb_note_where(lua_State *L, mb_proc *p) { update_where(L, p); }

void mbb_inspect_where(mb_proc *p, mb_sched *from) {
    if (p->kind != &mbb_lua_kind) return;   /* their thread waits in C; C has no Lua stack */
    int expected = MB_WAITING;
    if (!atomic_compare_exchange_strong(&p->status, &expected, MB_INSPECTED)) return;
    /* Ours now: the thread that parked it is done with it, and a wake
     * cannot take it from us. Reading the stack allocates nothing. */
    update_where(mbb_co(p), p);
    mb_proc_inspected(p, from);
}
