/* process_api.c: spawn, exit, links, monitors, and looking at processes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bindings.h"
#include "dist/dist.h"
#include "core/mailbox_bounds.h"
#include "core/names.h"
#include "core/sched.h"
#include "core/spawn.h"
#include "core/signal.h"

static void opt_bool(lua_State *L, int t, const char *k, bool *out) {
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1)) mbb_raisef(L, "spawn_opt: option '%s' must be a boolean", k);
        *out = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
}

/* _start_ref, gen_server.start's own option (not API): the new process is
 * monitored under this ref (mb.make_ref), and the spawner awaits its reply
 * (host/core/call.h) from before the process can run. The process gets the
 * ref with its arguments and acks its init to it without being told first:
 * one message and one wake-up less than {"$gen_start", ref, starter}. */
static void opt_start_ref(lua_State *L, int t, bool *monitor, mb_ref *ref) {
    lua_getfield(L, t, "_start_ref");
    if (!lua_isnil(L, -1)) {
        *ref = mbb_check_ref(L, -1, "spawn_opt: option '_start_ref'");
        *monitor = true;
    }
    lua_pop(L, 1);
}

/* max_queue and on_full (host/core/mailbox_bounds.h) from the options at t. */
static void opt_bounds(lua_State *L, int t, mb_spawn_opts *o) {
    lua_getfield(L, t, "max_queue");
    if (!lua_isnil(L, -1)) {
        /* Messages: an integer from 1 to 2^31-1, or math.huge for no bound (0). */
        lua_Number n = lua_tonumber(L, -1);
        bool unbounded = lua_type(L, -1) == LUA_TNUMBER && n == HUGE_VAL;
        if (!unbounded && (lua_type(L, -1) != LUA_TNUMBER || !(n >= 1 && n <= 2147483647.0) || n != floor(n)))
            mbb_raisef(L, "spawn_opt: max_queue must be an integer from 1 to 2^31-1, or math.huge");
        o->max_queue = unbounded ? 0 : (uint32_t)n;
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "on_full");
    if (!lua_isnil(L, -1)) {
        static const char *const modes[] = {"drop_new", "drop_old", "exit"};
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        int i = 0;
        while (i < 3 && strcmp(s, modes[i]) != 0) i++;
        if (i == 3) mbb_raisef(L, "spawn_opt: on_full must be \"drop_new\", \"drop_old\" or \"exit\"");
        o->on_full = (uint8_t)i;   /* in mb_on_full's order */
    }
    lua_pop(L, 1);
}

/* Encode the spawn arguments (for a function target, the function first)
 * into self->scratch. An unsendable one raises, named after fn and its
 * place in fn's own arguments: argno is the first one's. */
static void encode_args(lua_State *L, mb_proc *self, const char *fn, int target, int first_arg, int nargs,
                        int argno) {
    mb_encode_err err;
    size_t max = atomic_load(&self->rt->max_message_size);
    bool fn_target = lua_type(L, target) == LUA_TFUNCTION;
    int rc;
    self->scratch.len = 0;
    if (fn_target) {
        lua_pushvalue(L, target);
        lua_insert(L, first_arg);   /* encode (fn, args...) as one list */
        rc = mb_encode_list(L, first_arg, nargs + 1, "argument", &self->scratch, max, &err);
        lua_remove(L, first_arg);
    } else {
        rc = mb_encode_list(L, first_arg, nargs, "argument", &self->scratch, max, &err);
    }
    if (!rc) return;
    if (err.why == MB_ENC_NOMEM) mbb_raisef(L, "%s: out of memory", fn);
    const char *rest = err.msg + strlen("argument");   /* the path in it, and why */
    if (fn_target && err.item == 0) mbb_raisef(L, "%s: target%s", fn, rest);   /* too large */
    mbb_raisef(L, "%s: argument #%d%s", fn, argno + err.item - (fn_target ? 1 : 0), rest);
}

static int spawn_failed(lua_State *L, mb_proc *self, int rc, const char *fn, const char *name) {
    if (rc == MB_SPAWN_FULL)
        return mbb_raisef(L, "%s: too many processes (max_processes is %d)", fn, (int)self->rt->procs.size);
    if (rc == MB_SPAWN_NAME_TAKEN)
        return mbb_raisef(L, "%s: the name '%s' is already registered", fn, name);
    if (rc == MB_SPAWN_BAD_NAME)
        return mbb_raisef(L, "%s: name must be a non-empty string without NUL bytes", fn);
    return mbb_raisef(L, "%s: out of memory", fn);
}

static bool same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* bindings.h */
bool mbb_own_search_path(lua_State *L, mb_proc *self, mb_buf *b) {
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    lua_getfield(L, -1, "path");
    lua_getfield(L, -2, "cpath");
    const char *path = lua_tostring(L, -2), *cpath = lua_tostring(L, -1);
    const mbb_lua_host *host = self->rt->kind_data;
    const char *sp = self->search_path;
    const char *ipath = sp ? sp : host ? host->path : NULL;
    const char *icpath = sp ? sp + strlen(sp) + 1 : host ? host->cpath : NULL;
    bool own = path && cpath && !(same(path, ipath) && same(cpath, icpath));
    if (own && (mb_buf_put(b, path, strlen(path) + 1) || mb_buf_put(b, cpath, strlen(cpath) + 1))) {
        mb_buf_free(b);
        own = false;   /* no memory: the child gets the default paths */
    }
    lua_pop(L, 3);
    return own;
}

/* The target at 1, checked: "mod", "mod:fn" or an upvalue-free Lua function. */
static void check_target(lua_State *L, const char *fn) {
    int tt = lua_type(L, 1);
    if (tt == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 1, &n);
        if (n == 0 || s[0] == ':' || strlen(s) != n)
            mbb_raisef(L, "%s: a module name (\"mod\" or \"mod:fn\") expected", fn);
    } else if (tt == LUA_TFUNCTION) {
        if (lua_iscfunction(L, 1)) mbb_raisef(L, "%s: cannot spawn a C function", fn);
        if (lua_getupvalue(L, 1, 1))
            mbb_raisef(L, "%s: cannot spawn a function with upvalues (it is sent as bytecode to a new Lua state: require what it needs inside it)", fn);
    } else {
        mbb_raisef(L, "%s: a module name or an upvalue-free function expected, got %s", fn, luaL_typename(L, 1));
    }
}

/* _take_name, moonbeam.api_rest's own option (not API): {name, starter,
 * ref}, a via name the process takes before its target runs, and whom to
 * tell (lua/moonbeam/boot.lua), encoded onto the end of b. */
static void opt_take_name(lua_State *L, int t, mb_buf *b) {
    lua_getfield(L, t, "_take_name");
    if (!lua_isnil(L, -1)) {
        mb_encode_err err;
        if (!lua_istable(L, -1)) mbb_raisef(L, "spawn_opt: option '_take_name' must be a table");
        if (mb_encode(L, lua_gettop(L), "spawn_opt: _take_name", b, SIZE_MAX, &err)) mbb_raisef(L, "%s", err.msg);
    }
    lua_pop(L, 1);
}

/* spawn_opt's options, the table at 2, into o and the flags. */
static void read_opts(lua_State *L, mb_spawn_opts *o, bool *link, bool *monitor, bool *trap) {
    opt_bool(L, 2, "link", link);
    opt_bool(L, 2, "monitor", monitor);
    opt_start_ref(L, 2, monitor, &o->start_ref);
    opt_bool(L, 2, "trap_exit", trap);
    lua_getfield(L, 2, "memory_limit");
    if (!lua_isnil(L, -1)) {
        /* Bytes: an integer up to 2^53, or math.huge for no limit (0). */
        lua_Number lim = lua_tonumber(L, -1);
        bool unlimited = lua_type(L, -1) == LUA_TNUMBER && lim == HUGE_VAL;
        if (!unlimited && (lua_type(L, -1) != LUA_TNUMBER || !(lim >= 1024 && lim <= 9007199254740992.0) ||
                           lim != floor(lim)))
            mbb_raisef(L, "spawn_opt: memory_limit must be an integer number of bytes from 1024 to 2^53, or math.huge");
        o->mem_limit = unlimited ? 0 : (size_t)lim;
    }
    lua_pop(L, 1);
    opt_bounds(L, 2, o);
    lua_getfield(L, 2, "name");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) == LUA_TSTRING) o->name = lua_tolstring(L, -1, &o->name_len);
        if (!o->name || !mb_name_valid(o->name, o->name_len))
            mbb_raisef(L, "spawn_opt: name must be a non-empty string without NUL bytes");
    }
    lua_pop(L, 1);   /* the string stays alive: opts holds it */
}

/* A spawn's share of a slice's budget of messages (mbb_slice_budget): a
 * new state takes about as long as SPAWN_COST messages. */
#define SPAWN_COST 50

/* core._c_spawn(target, how, ...) -> pid [, ref]. how is nil (mb.spawn),
 * "link" (spawn_link), "monitor" (spawn_monitor) or spawn_opt's table of
 * options: a word is no table whose options are looked up one by one, and
 * errors name the call the user made. */
static int l_spawn(lua_State *L) {
    mb_proc *self = mbb_self(L);
    int nargs = lua_gettop(L) - 2;
    if (nargs < 0) return mbb_raisef(L, "spawn: a target is required");
    int ht = lua_type(L, 2);
    bool link = false, monitor = false, trap = false;
    const char *fn = "spawn";
    if (ht == LUA_TSTRING) {
        link = strcmp(lua_tostring(L, 2), "link") == 0;
        monitor = !link;
        fn = link ? "spawn_link" : "spawn_monitor";
    } else if (ht == LUA_TTABLE) {
        fn = "spawn_opt";
    } else if (ht != LUA_TNIL) {
        return mbb_raisef(L, "spawn_opt: options must be a table, got %s", luaL_typename(L, 2));
    }
    check_target(L, fn);
    bool fn_target = lua_type(L, 1) == LUA_TFUNCTION;
    mb_spawn_opts o = {.target_kind = fn_target ? MB_TARGET_BYTECODE : MB_TARGET_MODULE,
                       .target = fn_target ? "function" : lua_tostring(L, 1)};
    if (ht == LUA_TTABLE) read_opts(L, &o, &link, &monitor, &trap);
    o.link = link;
    o.monitor = monitor;
    o.trap_exit = trap;
    /* spawn_opt's first argument for the target is its third, the others' their second */
    encode_args(L, self, fn, 1, 3, nargs, ht == LUA_TTABLE ? 3 : 2);
    size_t args_len = self->scratch.len;
    if (ht == LUA_TTABLE) opt_take_name(L, 2, &self->scratch);   /* after the arguments, in the same buffer */
    o.args = self->scratch.p;
    o.args_len = args_len;
    if (self->scratch.len > args_len) {
        o.start_term = self->scratch.p + args_len;
        o.start_term_len = self->scratch.len - args_len;
    }
    mb_buf sp;
    mb_buf_init(&sp);
    if (mbb_own_search_path(L, self, &sp)) {
        o.search_path = (const char *)sp.p;
        o.search_path_len = sp.len;
    }
    mb_pid pid;
    mb_ref ref = 0;
    int rc = mb_spawn(self, &o, &pid, &ref);
    mb_buf_free(&sp);
    if (rc) return spawn_failed(L, self, rc, fn, o.name);
    mbb_push_pid(L, pid);
    if (monitor) mbb_push_ref(L, ref);
    /* A spawn is cheap here, its first slice (a Lua state made) dear on the
     * scheduler: charged as that much work, a process that spawns in a loop
     * gives its turn after SPAWN_COST's share of a slice, behind its new
     * processes, which a slice of its added by the thousand, ahead of the
     * others' messages and timers (a sleep(100) took 3 s). */
    self->budget -= SPAWN_COST;
    if (self->budget <= 0) return mbb_give_turn(L, self, monitor ? 2 : 1);
    return monitor ? 2 : 1;
}

/* core.run_first(path, ...) or core.run_first(nil, "mod:fn", ...) -> pid,
 * ref: the first process of `moonbeam run` (a script, or the module
 * function that runs -l and -e first), monitored, and marked as the first
 * process before it can run: a shutdown begins with it (shutdown.h). */
static int l_run_first(lua_State *L) {
    mb_proc *self = mbb_self(L);
    bool file = !lua_isnil(L, 1);
    const char *target = luaL_checkstring(L, file ? 1 : 2);
    int first_arg = file ? 2 : 3;
    encode_args(L, self, "spawn", 1, first_arg, lua_gettop(L) - first_arg + 1, 2);
    mb_spawn_opts o = {.target_kind = file ? MB_TARGET_FILE : MB_TARGET_MODULE, .target = target,
                       .args = self->scratch.p, .args_len = self->scratch.len, .monitor = true,
                       .first = true};
    mb_pid pid;
    mb_ref ref = 0;
    int rc = mb_spawn(self, &o, &pid, &ref);
    if (rc) return spawn_failed(L, self, rc, "spawn", NULL);
    mbb_push_pid(L, pid);
    mbb_push_ref(L, ref);
    return 2;
}

/* core.first_crash() -> the first process's crash as its crash line would
 * show it (an error object's words), or nil: read once its DOWN came. */
static int l_first_crash(lua_State *L) {
    const mbb_lua_host *host = mbb_self(L)->rt->kind_data;
    if (atomic_load_explicit(&host->first_crashed, memory_order_acquire)) lua_pushstring(L, host->first_crash);
    else lua_pushnil(L);
    return 1;
}

static int l_self(lua_State *L) {
    mbb_push_pid(L, mbb_self(L)->pid);
    return 1;
}

/* core.exit(reason) or core.exit(dest, reason) */
static int l_exit(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (lua_gettop(L) < 2) {
        if (lua_isnoneornil(L, 1)) return mbb_raisef(L, "exit: a reason is required");
        /* Too large a reason is not raised: the process exits with a
         * bounded one (mbb_set_exit_reason), as it would crashing. */
        mb_encode_err err;
        if (mbb_set_exit_reason(L, self, 1, &err)) return mbb_raisef(L, "exit: %s", err.msg);
        self->dying = true;
        return mbb_exit_now(L, self);
    }
    mb_pid dest = mbb_check_dest(L, 1, "exit");
    if (lua_isnil(L, 2)) return mbb_raisef(L, "exit: an exit reason is required");
    mbb_encode_or_raise(L, self, 2, "exit: reason");
    mb_send_exit(self->rt, mbb_sched(self), self->pid, dest, self->scratch.p, self->scratch.len);
    if (dest == self->pid) {
        mb_signal_drain(self);
        if (self->dying) return mbb_exit_now(L, self);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_link(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid other = mbb_check_pid(L, 1, "link");
    if (mb_pid_is_remote(other)) return mbb_dist_link(L, self, other, true);   /* another node's */
    int rc = mb_link(self, other);
    if (rc == MB_LINK_NOMEM) return mbb_raisef(L, "link: out of memory");
    if (rc == MB_LINK_NOPROC) {
        if (!atomic_load(&self->trap_exit)) return mbb_raise_plain(L, "noproc");
        mb_small_term noproc = mb_small_str("noproc");
        mb_msg *m = mb_exit_message(other, noproc.b, noproc.n);
        if (!m) return mbb_raisef(L, "link: out of memory");
        mb_proc_deliver(self, m, mbb_sched(self));
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_unlink(lua_State *L) {
    mb_pid other = mbb_check_pid(L, 1, "unlink");
    if (mb_pid_is_remote(other)) return mbb_dist_link(L, mbb_self(L), other, false);
    mb_unlink(mbb_self(L), other);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.monitor(pid_or_name) -> ref. A name is resolved once, now. A table
 * is a via name that named no one (mb.monitor resolved it): its DOWN, with
 * the name, comes at once. */
static int l_monitor(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid target = 0;
    mb_buf what;
    mb_buf_init(&what);
    int bad;
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t n;
        const char *name = lua_tolstring(L, 1, &n);
        if (!mb_name_valid(name, n)) return mbb_raisef(L, "monitor: name must be a non-empty string without NUL bytes");
        target = mb_names_whereis(self->rt, name, n);
        bad = target ? mb_put_id(&what, MB_T_PID, target) : mb_put_string(&what, name, n);
    } else if (lua_type(L, 1) == LUA_TTABLE) {
        mbb_encode_or_raise(L, self, 1, "monitor: name");
        bad = mb_buf_put(&what, self->scratch.p, self->scratch.len);
    } else {
        target = mbb_to_pid(L, 1);
        if (!target) return mbb_raisef(L, "monitor: a pid or a name expected, got %s", mbb_what_is(L, 1));
        if (mb_pid_is_remote(target)) return mbb_dist_monitor(L, self, target, NULL, NULL);   /* another node's */
        bad = mb_put_id(&what, MB_T_PID, target);
    }
    mb_ref ref = mb_make_ref(self->rt);
    int rc = bad ? MB_LINK_NOMEM : mb_monitor(self, target, ref, what.p, what.len);
    mb_buf_free(&what);
    if (rc == MB_LINK_NOMEM) return mbb_raisef(L, "monitor: out of memory");
    mbb_push_ref(L, ref);
    return 1;
}

static int l_demonitor(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_ref ref = mbb_check_ref(L, 1, "demonitor");
    mb_dist *d = mb_dist_of(self->rt);
    /* A monitor of another node's process, if it is one: ended first, so
     * that the flush below finds a DOWN the distribution sent meanwhile. */
    if (d) mb_dist_demonitor(d, self, ref);
    mb_demonitor(self, ref, lua_toboolean(L, 2));
    lua_pushboolean(L, 1);
    return 1;
}

static int l_trap_exit(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (!lua_isboolean(L, 1)) return mbb_raisef(L, "trap_exit: flag must be a boolean, got %s", luaL_typename(L, 1));
    bool old = atomic_exchange(&self->trap_exit, (bool)lua_toboolean(L, 1));
    lua_pushboolean(L, old);
    return 1;
}

/* The pid at 1, of this node: another node's raises, as Erlang's
 * is_process_alive and process_info do (only that node knows; false or nil
 * would say a live process has ended). */
static mb_pid check_local_pid(lua_State *L, const char *fn) {
    mb_pid pid = mbb_check_pid(L, 1, fn);
    if (mb_pid_is_remote(pid))
        mbb_raisef(L, "%s: a pid of another node: only that node knows (monitor it)", fn);
    return pid;
}

/* A counted reference to pid's process, or NULL when it is gone or an exit
 * signal that nothing can spare it from ("kill") is queued to it: as
 * Erlang's is_process_alive and process_info, which see the caller's own
 * exit signals to it handled first, alive and info say a process is gone
 * right after exit(p, "kill"), and of one exiting. (Not one that may spare
 * it: a trap_exit set before it drains it would make them say alive again.) */
static mb_proc *live_process(mb_runtime *rt, mb_pid pid) {
    mb_proc *p = mb_proctab_get(&rt->procs, pid);
    if (p && mb_proc_gone(p)) {
        mb_proctab_put(&rt->procs, pid);
        return NULL;
    }
    return p;
}

static int l_alive(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid pid = check_local_pid(L, "alive");
    mb_proc *p = live_process(self->rt, pid);
    if (p) mb_proctab_put(&self->rt->procs, pid);
    lua_pushboolean(L, p != NULL);
    return 1;
}

static int l_is_pid(lua_State *L) {
    lua_pushboolean(L, mbb_is_pid(L, 1));
    return 1;
}

static int l_make_ref(lua_State *L) {
    mbb_push_ref(L, mb_make_ref(mbb_self(L)->rt));
    return 1;
}

static void push_pid_array(lua_State *L, const mb_pid *v, uint32_t n) {
    lua_createtable(L, (int)n, 0);
    for (uint32_t i = 0; i < n; i++) {
        mbb_push_pid(L, v[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

static void push_mon_pids(lua_State *L, const mb_monvec *m) {
    lua_createtable(L, (int)m->n, 0);
    for (uint32_t i = 0; i < m->n; i++) {
        mbb_push_pid(L, m->v[i].pid);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

/* To the array on top: what pid's monitors of other nodes' processes name
 * (mb_dist_monitors_of, newest first), after its local ones, oldest first
 * as those are. */
static void push_remote_monitors(lua_State *L, mb_runtime *rt, mb_pid pid) {
    mb_buf b;
    mb_buf_init(&b);
    int bad = mb_dist_monitors_of(mb_dist_of(rt), pid, &b);
    lua_pushlstring(L, (const char *)b.p, b.len);   /* Lua's copy: a decode that raises leaks nothing */
    mb_buf_free(&b);
    if (bad) mbb_raisef(L, "info: out of memory");
    size_t len, i = 0;
    const uint8_t *p = (const uint8_t *)lua_tolstring(L, -1, &len);
    int base = (int)lua_objlen(L, -2), n = 0;
    while (len - i >= 4) {   /* each onto the stack, the oldest last */
        uint32_t k;
        memcpy(&k, p + i, sizeof k);
        i += 4;
        if (len - i < k) break;
        luaL_checkstack(L, 1, "info: monitors");
        if (mb_decode(L, p + i, k, 0) == 0) n++;
        i += k;
    }
    for (int j = 1; j <= n; j++) lua_rawseti(L, -2 - (n - j) - 1, base + j);   /* the top, oldest, first */
    lua_pop(L, 1);
}

static const char *status_name(int s) {
    switch (s) {
    case MB_RUNNABLE: return "runnable";
    case MB_RUNNING: return "running";
    case MB_WAITING:
    case MB_INSPECTED: return "waiting";
    default: return "exiting";
    }
}

/* core.info(pid) -> table or nil; core._info_any(pid), the same for a
 * process being killed too (the shutdown's walk of the tree, which waits
 * for it and its links). */
static int info_of(lua_State *L, bool doomed_too) {
    mb_proc *self = mbb_self(L);
    mb_pid pid = check_local_pid(L, "info");
    mb_proc *p = doomed_too ? mb_proctab_get(&self->rt->procs, pid) : live_process(self->rt, pid);
    if (!p) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 12);
    lua_pushstring(L, status_name(atomic_load(&p->status)));
    lua_setfield(L, -2, "status");
    lua_pushnumber(L, mb_mailbox_len(p));
    lua_setfield(L, -2, "message_queue_len");
    lua_pushnumber(L, (lua_Number)mb_mailbox_bytes(p));
    lua_setfield(L, -2, "message_queue_bytes");
    lua_pushnumber(L, (lua_Number)atomic_load(&p->messages_in));
    lua_setfield(L, -2, "messages_in");
    lua_pushnumber(L, (lua_Number)atomic_load_explicit(&p->reductions, memory_order_relaxed));
    lua_setfield(L, -2, "reductions");
    lua_pushnumber(L, floor((lua_Number)atomic_load_explicit(&p->runtime_us, memory_order_relaxed) / 1000));
    lua_setfield(L, -2, "runtime");
    /* The Lua state's bytes, plus the process's own record: a process that
     * has not run yet still costs something. */
    size_t mem = atomic_load_explicit(&p->mem_used, memory_order_relaxed) + sizeof *p;
    if (p->ext && p == self) mem = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
    lua_pushnumber(L, (lua_Number)mem);
    lua_setfield(L, -2, "memory");
    lua_pushboolean(L, atomic_load(&p->trap_exit));
    lua_setfield(L, -2, "trap_exit");
    lua_pushstring(L, p->target ? p->target : (p->ext ? "host" : "?"));
    lua_setfield(L, -2, "module");
    mbb_push_pid(L, pid);
    lua_setfield(L, -2, "pid");
    /* Copy what the lock guards, then build tables without holding it
     * (a table allocation may raise). */
    if (p == self) mbb_note_where(L, self);   /* here: the call to info itself */
    else mbb_inspect_where(p, mbb_sched(self));
    pthread_mutex_lock(&p->lock);
    mb_pidvec links = {NULL, 0, 0};
    mb_monvec mons = {0}, by = {0};
    char *name = p->name ? strdup(p->name) : NULL;
    char where[MB_WHERE_MAX] = "";
    if (p->where) memcpy(where, p->where, sizeof where);
    int ok = 1;
    for (uint32_t i = 0; ok && i < p->links.n; i++) ok = !mb_pidvec_add(&links, p->links.v[i]);
    for (uint32_t i = 0; ok && i < p->monitors.n; i++)
        ok = !mb_monvec_add(&mons, p->monitors.v[i].ref, p->monitors.v[i].pid);
    for (uint32_t i = 0; ok && i < p->monitored_by.n; i++)
        ok = !mb_monvec_add(&by, p->monitored_by.v[i].ref, p->monitored_by.v[i].pid);
    for (uint32_t i = 0; ok && i < p->calls.n; i++)   /* the callers of the calls it took */
        ok = !mb_monvec_add(&by, p->calls.v[i].ref, p->calls.v[i].pid);
    pthread_mutex_unlock(&p->lock);
    mb_proctab_put(&self->rt->procs, pid);
    if (name) lua_pushstring(L, name);
    else lua_pushnil(L);
    lua_setfield(L, -2, "registered_name");
    if (where[0]) {
        lua_pushstring(L, where);
        lua_setfield(L, -2, "current_function");
    }
    push_pid_array(L, links.v, links.n);
    lua_setfield(L, -2, "links");
    push_mon_pids(L, &mons);
    push_remote_monitors(L, self->rt, pid);
    lua_setfield(L, -2, "monitors");
    push_mon_pids(L, &by);
    lua_setfield(L, -2, "monitored_by");
    free(name);
    free(links.v);
    mb_monvec_free(&mons);
    mb_monvec_free(&by);
    if (!ok) return mbb_raisef(L, "info: out of memory");
    return 1;
}

static int l_info(lua_State *L) { return info_of(L, false); }
static int l_info_any(lua_State *L) { return info_of(L, true); }

static void collect_pid(mb_pid pid, void *ud) {
    mb_buf_put(ud, &pid, sizeof pid);
}

/* core.processes() -> array of pids */
static int l_processes(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_buf b;
    mb_buf_init(&b);
    mb_proctab_each(&self->rt->procs, collect_pid, &b);
    size_t n = b.len / sizeof(mb_pid);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        mb_pid pid;
        memcpy(&pid, b.p + i * sizeof pid, sizeof pid);
        mbb_push_pid(L, pid);
        lua_rawseti(L, -2, (int)i + 1);
    }
    mb_buf_free(&b);
    return 1;
}

static int l_process_count(lua_State *L) {
    lua_pushnumber(L, atomic_load(&mbb_self(L)->rt->procs.count));
    return 1;
}

int mbb_exit_fn(lua_State *L) { return l_exit(L); }

const luaL_Reg mbb_process_fns[] = {
        {"_c_spawn", l_spawn}, {"run_first", l_run_first}, {"first_crash", l_first_crash}, {"self", l_self}, {"_c_exit", l_exit},
        {"link", l_link}, {"unlink", l_unlink}, {"_c_monitor", l_monitor},
        {"demonitor", l_demonitor}, {"trap_exit", l_trap_exit}, {"alive", l_alive},
        {"make_ref", l_make_ref}, {"is_pid", l_is_pid}, {"info", l_info}, {"_info_any", l_info_any}, {"processes", l_processes},
        {"process_count", l_process_count}, {NULL, NULL}};
