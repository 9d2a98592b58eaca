/* vm.c: the Lua kind of process (host/core/kind.h): starting it on a state
 * (made by lua_state.c, now or ahead), running a slice of it (preempt.c
 * runs its code where it can be stopped), turning how it ended into an exit
 * reason, and closing it. */
#include <luajit.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lualib.h>
#include "bindings.h"
#include "lua_state.h"
#include "preempt.h"
#include "core/log_format.h"
#include "core/sched.h"
#include "core/signal.h"

/* A started Lua process's own (its p->state). */
static inline mbb_lua *lua_of(mb_proc *p) { return p->state; }

/* ---- its state, made now or ahead (lua_state.c) ------------------------ */

/* A gen_server's body (moonbeam.gen_server's start, a supervisor's child):
 * moonbeam.gen_step's enter, which takes the short path where it can (see
 * there). Its state may come with that module loaded, off its start's
 * critical path (loading gen_server's was a third of starting one). */
#define GEN_SERVER_BODY "moonbeam.gen_server:enter"
#define GEN_STEP_MODULE "moonbeam.gen_step"   /* its enter is the body */

static bool is_gen_server(const mb_proc *p) {
    return p->target_kind == MB_TARGET_MODULE && p->target && strcmp(p->target, GEN_SERVER_BODY) == 0;
}

static int make_state(mb_proc *owner, mbb_lua *lp) {
    return mbb_state_new(owner, lp, is_gen_server(owner));
}
static int make_state_ahead(mb_proc *owner, mbb_lua *lp) { return mbb_state_new(owner, lp, false); }
static int make_gen_state_ahead(mb_proc *owner, mbb_lua *lp) { return mbb_state_new(owner, lp, true); }

/* The kind's work ahead (kind.h): a state for a pool, the gen_servers'
 * once one has started, the emptier first (the gen_servers' on a tie);
 * with the pools full, a kept state's garbage. A gen_server takes a plain
 * state when its own pool is empty, and loads the short path on its
 * start's critical path, keeping a boot function it never runs: with the
 * plain pool always filled first, 3,385 of 5,000 started back to back did
 * (410 took a state made for them, 1,205 made one); now 320-1,011 (2,244-
 * 3,811 and 726-1,745), and an idle one holds 35.9-36.3 KB, not 38.3. */
static bool lua_ahead(mb_runtime *rt) {
    mbb_lua_host *host = rt->kind_data;
    if (!host) return false;
    bool gen = mbb_state_pool_wanted(&host->gen_pool);
    bool gen_first = gen && mbb_state_pool_count(&host->gen_pool) <= mbb_state_pool_count(&host->pool);
    bool made = gen_first ? mbb_state_pool_fill(&host->gen_pool, rt, make_gen_state_ahead) ||
                                mbb_state_pool_fill(&host->pool, rt, make_state_ahead)
                          : mbb_state_pool_fill(&host->pool, rt, make_state_ahead) ||
                                (gen && mbb_state_pool_fill(&host->gen_pool, rt, make_gen_state_ahead));
    return made || mbb_state_pool_tidy(&host->pool) || (gen && mbb_state_pool_tidy(&host->gen_pool));
}

static void lua_drop_ahead(mb_runtime *rt) {
    mbb_lua_host *host = rt->kind_data;
    if (!host) return;
    mbb_state_pool_clear(&host->pool);
    mbb_state_pool_clear(&host->gen_pool);
}

/* Runs protected on p's prepared state: the boot function's arguments
 * (kind, target, args...) on the coroutine. */
typedef struct body_start {
    mb_proc *p;
    int nargs;   /* out: the values to resume with */
} body_start;

static int start_body(lua_State *L) {
    body_start *b = lua_touserdata(L, 1);
    mb_proc *p = b->p;
    lua_settop(L, 0);
    if (p->search_path) mbb_set_search_path(L, p->search_path);
    lua_State *co = lua_of(p)->co;
    int head = 1, taken = 0;
    /* spawn_opt's via name to take (boot.lua): a table before the rest */
    if (p->start_term.len && !is_gen_server(p)) {
        if (mb_decode(co, p->start_term.p, p->start_term.len, 0)) luaL_error(L, "malformed spawn options");
        taken = 1;
    }
    mb_buf_free(&p->start_term);
    if (is_gen_server(p)) {   /* gen_step's enter in place of boot, which it needs none of */
        lua_getglobal(L, "require");
        lua_pushliteral(L, GEN_STEP_MODULE);
        lua_call(L, 1, 1);
        lua_getfield(L, -1, "enter");
        lua_settop(co, 0);
        lua_xmove(L, co, 1);
        head = 0;
    } else if (p->target_kind == MB_TARGET_MODULE) {
        /* "mod:fn" split here, not by a string method in boot (which would
         * open the string library in every gen_server) */
        lua_pushliteral(co, "module");
        const char *colon = strchr(p->target, ':');
        lua_pushlstring(co, p->target, colon ? (size_t)(colon - p->target) : strlen(p->target));
        lua_pushstring(co, colon ? colon + 1 : "");
        head = 3;
    } else if (p->target_kind == MB_TARGET_BYTECODE) {
        lua_pushliteral(co, "function");
    } else {
        lua_pushliteral(co, "file");
        lua_pushstring(co, p->target);
        head = 2;
    }
    int n = mb_decode_list(co, p->spawn_args.p, p->spawn_args.len, 1);
    if (n < 0) luaL_error(L, "malformed spawn arguments");
    mb_buf_free(&p->spawn_args);
    b->nargs = n + head + taken;
    return 0;
}

static void set_reason_str(mb_proc *p, const char *s) {
    p->exit_reason.len = 0;
    mb_put_string(&p->exit_reason, s, strlen(s));
}

/* {"error", msg}: how a process ends that the runtime had to stop. */
static void set_reason_error(mb_proc *p, const char *msg) {
    p->exit_reason.len = 0;
    mb_put_tuple_head(&p->exit_reason, 2);
    mb_put_string(&p->exit_reason, "error", 5);
    mb_put_string(&p->exit_reason, msg, strlen(msg));
}

/* p's state, made ahead or made now, and its body's arguments; returns
 * the number of values to resume with, or -1 with the exit reason set. */
static int create(mb_proc *p) {
    /* One cache line, not two, in the process's record: every slice reads it. */
    _Static_assert(sizeof(mbb_lua) <= sizeof p->kind_room, "a Lua process's record fits its room");
    mbb_lua *lp = (mbb_lua *)p->kind_room;
    memset(lp, 0, sizeof *lp);
    lp->co_ref = LUA_NOREF;
    mbb_lua_host *host = p->rt->kind_data;
    bool refill = false;
    bool ready = host && ((is_gen_server(p) && mbb_state_pool_take(&host->gen_pool, p, lp, &refill)) ||
                          mbb_state_pool_take(&host->pool, p, lp, &refill));
    if (refill) mb_sched_wake_idle(p->rt, p->sched);
    if (!ready && make_state(p, lp) && !lp->L) {
        set_reason_str(p, p->mem_exceeded ? "memory_limit" : "no_memory");
        return -1;
    }
    lua_State *L = lp->L;
    p->state = lp;   /* closed with p, whatever happens next */
    if (lua_gettop(L) == 0) {   /* prepared: no error waits on the stack */
        /* lua_cpcall, not pushcfunction and pcall: pushing the function
         * allocates, and the messages queued before p first ran may have
         * used its memory limit up; an allocation that fails outside a
         * protected call ends the host. */
        body_start b = {p, 0};
        if (lua_cpcall(L, start_body, &b) == 0) return b.nargs;
    }
    if (p->mem_exceeded) set_reason_str(p, "memory_limit");
    else {
        mb_buf b;
        mb_buf_init(&b);
        const char *msg = lua_tostring(L, -1);
        mb_put_tuple_head(&b, 2);
        mb_put_string(&b, "error", 5);
        mb_put_string(&b, msg ? msg : "cannot start", msg ? strlen(msg) : 12);
        p->exit_reason.len = 0;
        mb_buf_put(&p->exit_reason, b.p, b.len);
        mb_buf_free(&b);
    }
    return -1;
}

/* ---- how a body ended -------------------------------------------------- */

#define REASON_PREVIEW 200         /* bytes of a too-large reason's text kept */
#define REASON_TRACEBACK 4096      /* bytes of its traceback kept */

/* Pushes {"error", "exit reason too large (N bytes): <preview>...", tb}
 * for the too-large reason at idx: what to preview is the reason itself
 * if it is a string, or its second element if that is one (a crash's
 * message); tb is its third element when that is a string (a crash's
 * traceback), cut to REASON_TRACEBACK bytes, else "" (an exit(reason)
 * has none): the shape of every crash's. With small, only
 * {"error", "exit reason too large (N bytes)"}. n == 0: size unknown. */
static void push_bounded_reason(lua_State *L, int idx, size_t n, size_t max, bool small) {
    char head[96];
    if (n) snprintf(head, sizeof head, "exit reason too large (%zu bytes)", n);
    else snprintf(head, sizeof head, "exit reason too large (more than %zu bytes)", max);
    lua_createtable(L, 3, 0);
    lua_pushliteral(L, "error");
    lua_rawseti(L, -2, 1);
    size_t len = 0;
    const char *text = NULL, *tb = NULL;
    if (!small && lua_type(L, idx) == LUA_TSTRING) {
        text = lua_tolstring(L, idx, &len);
    } else if (!small && lua_type(L, idx) == LUA_TTABLE) {
        lua_rawgeti(L, idx, 2);
        if (lua_type(L, -1) == LUA_TSTRING) text = lua_tolstring(L, -1, &len);   /* idx keeps it alive */
        lua_pop(L, 1);
        lua_rawgeti(L, idx, 3);
        size_t tl;
        if (lua_type(L, -1) == LUA_TSTRING) {
            tb = lua_tolstring(L, -1, &tl);
            lua_pushlstring(L, tb, tl < REASON_TRACEBACK ? tl : REASON_TRACEBACK);
            lua_rawseti(L, -3, 3);
        }
        lua_pop(L, 1);
    }
    if (!small && !tb) {
        lua_pushliteral(L, "");
        lua_rawseti(L, -2, 3);
    }
    if (text) lua_pushfstring(L, "%s: ", head);
    else lua_pushstring(L, head);
    if (text) {
        lua_pushlstring(L, text, len < REASON_PREVIEW ? len : REASON_PREVIEW);
        lua_pushstring(L, len > REASON_PREVIEW ? "..." : "");
        lua_concat(L, 3);
    }
    lua_rawseti(L, -2, 2);
}

int mbb_set_exit_reason(lua_State *L, mb_proc *p, int idx, mb_encode_err *err) {
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    size_t max = atomic_load_explicit(&p->rt->max_message_size, memory_order_relaxed);
    p->exit_reason.len = 0;
    if (mb_encode(L, idx, "reason", &p->exit_reason, max, err) == 0) return 0;
    if (err->why != MB_ENC_TOO_LARGE) return -1;
    /* Sendable but too large: measure it, then say so in a bounded reason. */
    mb_buf all;
    mb_buf_init(&all);
    mb_encode_err e2;
    int rc = mb_encode(L, idx, "reason", &all, SIZE_MAX, &e2);
    size_t n = all.len;
    mb_buf_free(&all);
    if (rc && e2.why == MB_ENC_REFUSED) {
        *err = e2;   /* not sendable at all, after the part that was too large */
        return -1;
    }
    if (rc) n = 0;   /* too large to measure */
    mb_buf_free(&p->exit_reason);   /* don't keep what a big attempt grew */
    push_bounded_reason(L, idx, n, max, false);
    if (mb_encode(L, -1, "reason", &p->exit_reason, max, err)) {
        lua_pop(L, 1);
        push_bounded_reason(L, idx, n, max, true);
        p->exit_reason.len = 0;
        if (mb_encode(L, -1, "reason", &p->exit_reason, SIZE_MAX, err)) {
            lua_pop(L, 1);
            p->exit_reason.len = 0;
            return -1;
        }
    }
    lua_pop(L, 1);
    return 0;
}

/* The crash as a log event (host/core/logger.h), level error: its first
 * line as the crash log always read, the traceback below it, and for JSON
 * handlers the fields report, target, reason and traceback. */
/* Where an error was raised, when its message starts with it ("file:line:
 * ...", as error() writes it): "file:line" into where; else false. */
static bool where_of(const char *msg, char *where, size_t size) {
    for (const char *c = strchr(msg, ':'); c; c = strchr(c + 1, ':')) {
        const char *d = c + 1;
        while (*d >= '0' && *d <= '9') d++;
        if (d == c + 1 || *d != ':') continue;
        size_t n = (size_t)(d - msg);
        if (c == msg || n >= size || memchr(msg, '\n', n)) return false;
        memcpy(where, msg, n);
        where[n] = '\0';
        return true;
    }
    return false;
}

/* Else the traceback's first level that is not C's. */
static bool traceback_where(const char *tb, char *where, size_t size) {
    for (const char *l = strchr(tb, '\n'); l; l = strchr(l + 1, '\n')) {
        const char *level = l[1] == '\t' ? l + 2 : l + 1;
        if (strncmp(level, "[C]", 3) != 0) return where_of(level, where, size);
    }
    return false;
}

static void log_crash(mb_proc *p, const char *shown, const char *traceback) {
    const char *target = p->target ? p->target : "?";
    char msg[400];
    int n = snprintf(msg, sizeof msg, "process <0.%d.%d> (%s) crashed: %s", (int)mb_pid_slot(p->pid),
                     (int)mb_pid_serial(p->pid), target, shown);
    const char *tb = traceback ? traceback : "";
    /* file:line for JSON handlers (the line shows it in the reason) */
    char where[256];
    const char *fields[] = {"report", "crash", "target", target, "reason", shown, "traceback", tb, "where", where};
    mb_buf f;
    mb_buf_init(&f);
    int bad = mb_json_object(&f, fields, where_of(shown, where, sizeof where) || traceback_where(tb, where, sizeof where)
                                             ? 5 : 4);
    pthread_mutex_lock(&p->lock);
    mb_log_event ev = {.level = MB_LOG_ERROR, .pid = p->pid, .name = p->name, .msg = msg,
                       .msg_len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1,
                       .detail = tb, .detail_len = strlen(tb),
                       .fields = bad ? NULL : (const char *)f.p, .fields_len = bad ? 0 : f.len};
    mb_log(p->rt, &ev);
    pthread_mutex_unlock(&p->lock);
    mb_buf_free(&f);
}

/* The error value at idx as moonbeam.report's words: an atom as
 * mb.atom("x"), a table rendered (bounded) rather than by its first strings.
 * Protected: false when that fails (near the memory limit), and the plainer
 * rendering of build_crash is used. */
static bool words_of(lua_State *L, int idx, char *out, size_t size) {
    int top = lua_gettop(L);
    idx = idx < 0 ? top + idx + 1 : idx;
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonbeam.report");
    bool ok = lua_pcall(L, 1, 1, 0) == 0 && lua_istable(L, -1);
    if (ok) {
        lua_getfield(L, -1, "words");
        lua_pushvalue(L, idx);
        lua_pushinteger(L, (lua_Integer)size - 1);
        ok = lua_pcall(L, 2, 1, 0) == 0 && lua_type(L, -1) == LUA_TSTRING;
        if (ok) snprintf(out, size, "%s", lua_tostring(L, -1));
    }
    lua_settop(L, top);
    return ok;
}

/* The message of a body that ended while it waited (run_body). */
#define ENDED_OUTSIDE "the body's coroutine ended while it waited, resumed by the process's own code"

/* {"error", message, traceback}, built on the main state (the coroutine is dead). */
static int build_crash(lua_State *L) {
    mb_proc *p = lua_touserdata(L, 1);
    lua_State *co = ((mbb_lua *)p->state)->co;
    lua_settop(L, 0);
    lua_createtable(L, 3, 0);
    lua_pushliteral(L, "error");
    lua_rawseti(L, -2, 1);
    if (((mbb_lua *)p->state)->ended_outside) {   /* no error of its own on co (run_body) */
        lua_pushliteral(L, ENDED_OUTSIDE);
    } else {
        lua_pushvalue(co, -1);
        lua_xmove(co, L, 1);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "nil");
    }
    lua_rawseti(L, -2, 2);
    luaL_traceback(L, co, NULL, 0);
    lua_rawseti(L, -2, 3);
    mb_encode_err err;
    if (mbb_set_exit_reason(L, p, 1, &err)) {
        /* The error value itself cannot be sent: keep its printable form,
         * its __tostring if it has one (an error object's message). */
        int top = lua_gettop(L);
        lua_rawgeti(L, 1, 2);
        if (!luaL_callmeta(L, -1, "__tostring") || lua_type(L, -1) != LUA_TSTRING) {
            lua_settop(L, top + 1);
            lua_pushfstring(L, "(an error value of type %s)", luaL_typename(L, -1));
        }
        lua_rawseti(L, 1, 2);
        lua_settop(L, top);
        if (mbb_set_exit_reason(L, p, 1, &err)) set_reason_str(p, "crashed");
    }
    /* The first process's end is reported once, by whoever waits for it
     * (moonbeam run: cli.lua), crash log or not: its words are left there. */
    bool first = p->pid == atomic_load(&p->rt->shutdown.first);
    if (first || p->rt->crash_log) {
        lua_rawgeti(L, 1, 2);
        lua_rawgeti(L, 1, 3);
        /* A table error value shows its first strings: {"timeout"}. */
        char shown[200];
        if (lua_isstring(L, -2)) {
            snprintf(shown, sizeof shown, "%s", lua_tostring(L, -2));
        } else if (words_of(L, -2, shown, sizeof shown)) {
            /* shown as the value it is */
        } else if (luaL_callmeta(L, -2, "__tostring")) {   /* an error table's words */
            snprintf(shown, sizeof shown, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
            lua_pop(L, 1);
        } else {
            size_t at = (size_t)snprintf(shown, sizeof shown, "{");
            for (int i = 1; i <= 3 && lua_istable(L, -2); i++) {
                lua_rawgeti(L, -2, i);
                if (lua_isstring(L, -1) && at < sizeof shown)
                    at += (size_t)snprintf(shown + at, sizeof shown - at, "%s\"%.60s\"", i > 1 ? ", " : "",
                                           lua_tostring(L, -1));
                lua_pop(L, 1);
            }
            if (at < sizeof shown) snprintf(shown + at, sizeof shown - at, "}");
        }
        if (first) {
            mbb_lua_host *host = p->rt->kind_data;
            snprintf(host->first_crash, sizeof host->first_crash, "%s", shown);
            atomic_store_explicit(&host->first_crashed, true, memory_order_release);
        } else {
            log_crash(p, shown, lua_tostring(L, -1));
        }
    }
    return 0;
}

static void crashed(mb_proc *p) {
    mbb_lua *lp = p->state;
    lua_State *L = lp->L;
    /* No collection while the reason is made: a finalizer's error raised
     * there (LuaJIT passes it on to the allocation that ran it) took the
     * crash's place, as "crashed", and nothing was logged. The state ends
     * after this; its garbage goes with it. */
    lua_gc(L, LUA_GCSTOP, 0);
    if (lua_cpcall(L, build_crash, p)) {   /* a crash near the memory limit: allocate under protection */
        lua_pop(L, 1);
        if (p->mem_exceeded) set_reason_str(p, "memory_limit");
        else set_reason_str(p, "crashed");
    }
}

/* crashed, as a slice's code (mbb_run_leavable): the error value's __tostring
 * is Lua code that may spin, and must end when p is killed as any other. */
static int crash_reason(mb_proc *p, int unused) {
    (void)unused;
    crashed(p);
    return 0;
}

/* After a slice: a process whose allocator refused to grow (memory_limit,
 * or the C stack nearly used up) ends, even if its code caught the error:
 * it would only fail again. */
static bool ended_by_allocator(mb_proc *p) {
    bool cstack = atomic_load_explicit(&p->no_growth, memory_order_relaxed) & MB_NOGROW_CSTACK;
    if (!p->mem_exceeded && !cstack) return false;
    if (p->mem_exceeded) set_reason_str(p, "memory_limit");
    else set_reason_error(p, "C stack overflow");
    p->yield = MB_YIELD_EXIT;
    return true;
}

/* ---- the compiler, for processes that work --------------------------- */

/* Opening the jit library is what turns LuaJIT's compiler on in a state,
 * and compiling pays only for code that runs long between waits. Opening
 * it detects the CPU (cpuid, a trap to the hypervisor on a virtual machine:
 * ~30 us of a ~45 us state here), and each state compiles into machine code
 * of its own, switched writable and back by an mprotect per trace, which a
 * host with many threads pays again on every core (~36 us each here). A
 * process that waits after every message gains nothing for it: its loop
 * cannot be a trace across the wait. Measured on a ring of 1000 processes,
 * 1000 to 20000 hops each (bench/ring.lua): 0.5-1.4 M hops/s with the
 * compiler, 1.9-2.0 M without; a producer's casting loop runs 4x faster
 * with it (bench/gen_cast.lua).
 *
 * So a process runs interpreted until it shows a loop's work: a slice that
 * used up its budget of messages or ran until preempted (4 ms), or, made of
 * short slices, JIT_AFTER_RUNTIME_US of CPU time (the system monitor's
 * samples: a busy server). A process that touches jit (or requires it)
 * opens it at once. */
#define JIT_AFTER_RUNTIME_US 10000

/* Opened as a first touch of jit would (mbb_stdlib_opener), unless the
 * process opened it itself. */
static int open_jit(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    lua_getfield(L, -1, LUA_JITLIBNAME);
    if (lua_isnil(L, -1)) mbb_stdlib_opener(LUA_JITLIBNAME)(L);
    return 0;
}

/* Between slices, so nothing of the state runs; p->budget is still what
 * the last slice left (none: it used the budget up, or was preempted). A
 * failure (memory) leaves it interpreted; the allocator's flag ends it if
 * it was the limit. */
static void jit_when_busy(mb_proc *p) {
    mbb_lua *lp = lua_of(p);
    if (lp->jit_looked ||
        (p->budget > 0 && atomic_load_explicit(&p->runtime_us, memory_order_relaxed) < JIT_AFTER_RUNTIME_US))
        return;
    lp->jit_looked = true;
    if (lua_cpcall(lp->L, open_jit, NULL)) lua_pop(lp->L, 1);
}

/* LuaJIT collects as a state allocates: garbage left by a process's last
 * work stays until it allocates again, and a process that then waits for
 * long (an idle connection, a server between bursts) holds it all the
 * while: a connection that echoed 64 KB kept 112 KB. So a process about to
 * wait collects once its state has grown to twice what it held after the
 * last collection (and past IDLE_GC_FLOOR): the work LuaJIT's own pace
 * (a cycle when the heap doubles) would do anyway, done where the process
 * has nothing else to do. Not past IDLE_GC_CEILING: a big heap's whole
 * collection would hold the scheduler for long, and its garbage is a small
 * share of what it keeps; LuaJIT's incremental steps see to it. */
#define IDLE_GC_FLOOR (64 * 1024)
#define IDLE_GC_CEILING (1024 * 1024)

/* Protected: the collection runs the process's finalizers, and LuaJIT
 * throws a finalizer's error (one it raised, or memory its allocator
 * refused) out of the collection; outside a protected call that exited the
 * host. No code of the process is there to take it: it is dropped, and a
 * refusal ends the process as any other does (ended_by_allocator). */
static void collect_before_waiting(mb_proc *p) {
    mbb_lua *lp = lua_of(p);
    size_t used = atomic_load_explicit(&p->mem_used, memory_order_relaxed);
    if (used < IDLE_GC_FLOOR || used > IDLE_GC_CEILING || used < 2 * lp->kept) return;
    mbb_state_collect(lp->L);
    lp->kept = atomic_load_explicit(&p->mem_used, memory_order_relaxed);
    ended_by_allocator(p);
}

/* What p's yield is resumed with (mbb_wake), on its coroutine: how many
 * values; -1: no resume (receive's wake found nothing yet, or p exits:
 * p->yield says which). A coroutine resumed from a C function's yield has
 * room for them (LuaJIT gave that function LUA_MINSTACK slots, and shrinks
 * no stack to less than a quarter used). */
static int wake_values(mb_proc *p, bool waited) {
    mbb_lua *lp = lua_of(p);
    mbb_wake wake = lp->on_wake;
    lp->on_wake = MBB_WAKE_TIMED;
    if (wake == MBB_WAKE_KEPT) return lua_gettop(lp->co);
    if (!waited) return 0;   /* a turn given up, a preemption */
    switch (wake) {
    case MBB_WAKE_TIMED:
        lua_pushboolean(lp->co, !mb_proc_wait_timed_out(p));
        return 1;
    case MBB_WAKE_OUTCOME: return mbb_take_scalar_outcome(p, lp->co);
    case MBB_WAKE_RECEIVE: return mbb_receive_on_wake(p);
    default: return 0;
    }
}

/* The slice's code: the body's first run (nargs: its arguments), or its
 * resume from a yield (nargs RESUME_WAITED when it waited, RESUME_TURN when
 * it gave up its turn). In the slice: a receive's wake may run the
 * process's Lua code (receive_api.c). */
enum { RESUME_TURN = -1, RESUME_WAITED = -2 };

static int run_body(mb_proc *p, int nargs) {
    mbb_lua *lp = lua_of(p);
    if (nargs < 0) {
        nargs = wake_values(p, nargs == RESUME_WAITED);   /* after the budget: a take counts in it */
        if (nargs < 0) return LUA_YIELD;
        /* The process's own code may have resumed its body's coroutine
         * while it waited (a match function at the wake, a finalizer:
         * coroutine.running() in the body is that coroutine), and the body
         * may have ended there. lua_resume of a coroutine that did not
         * yield makes its error message outside any protected call: a
         * refused allocation (its memory limit, a kill) exited the host.
         * Such a body is over: it crashes (build_crash says why). */
        if (lua_status(lp->co) != LUA_YIELD) {
            lp->ended_outside = true;
            return LUA_ERRRUN;
        }
    }
    int st = lua_resume(lp->co, nargs);
    /* The body returned from the receive at once, before the instruction
     * that was to raise the wake's error: it crashes with it. */
    if (st == 0 && mbb_take_raise(p, lp->co)) st = LUA_ERRRUN;
    return st;
}

/* The kind's slice (kind.h). */
static void run_slice(mb_proc *p) {
    int nargs = 0;
    bool fresh = !p->state;
    if (fresh) {
        nargs = create(p);
        if (nargs < 0) {
            p->yield = MB_YIELD_EXIT;
            return;
        }
    } else {
        jit_when_busy(p);
        nargs = p->yield == MB_YIELD_WAIT ? RESUME_WAITED : RESUME_TURN;
    }
    if (atomic_load_explicit(&p->sig_pending, memory_order_relaxed)) mb_signal_drain(p);
    if (p->dying) {
        p->yield = MB_YIELD_EXIT;
        return;
    }
    p->budget = mbb_slice_budget();
    p->yield = MB_YIELD_NONE;
    p->tab_out_busy = false;   /* a table call that raised left it marked (table_api.c) */
    /* A console's Ctrl-C asked while it was off its scheduler (a C call the
     * monitor handed the scheduler off from): taken at its first instruction. */
    if (atomic_load_explicit(&p->interrupt, memory_order_relaxed) == MB_INTR_ASKED) mbb_exit_soon(lua_of(p)->L);
    bool refused;
    int st = mbb_resume_slice(p, run_body, nargs, &refused);
    if (st < 0) return;   /* abandoned: p->yield is MB_YIELD_EXIT */
    if (refused && st != LUA_YIELD) {   /* the refusal's error ended the body */
        mbb_clear_hook(lua_of(p)->L);   /* its finalizers run unhooked */
        mbb_end_by_signal(p);
        return;
    }
    if (ended_by_allocator(p)) return;
    if (st == LUA_YIELD) {
        if (p->yield == MB_YIELD_NONE) {   /* a bare coroutine.yield() at the top */
            lua_settop(lua_of(p)->co, 0);
            p->yield = MB_YIELD_RESCHED;
        }
        if (p->dying) p->yield = MB_YIELD_EXIT;
        else if (p->yield == MB_YIELD_WAIT) collect_before_waiting(p);
        return;
    }
    p->yield = MB_YIELD_EXIT;
    if (p->dying) return;              /* mb.exit from a nested coroutine */
    if (st == 0) set_reason_str(p, "normal");
    else if (mbb_run_leavable(p, crash_reason, 0, &refused) >= 0 && refused) mbb_end_by_signal(p);
}

/* Close p's state: its finalizers run. Not one left in the middle of its
 * code (abandoned): its memory goes with the arena, unvisited. */
static void close_state(mb_proc *p) {
    mbb_lua *lp = p->state;
    if (lp && lp->L && !p->abandoned) lua_close(lp->L);
    if (lp) lp->L = NULL;
}

/* The kind's run: a slice of p. An ending process's state is closed in its
 * last slice, so that finalizers that take their time are the slice's, and
 * the monitor hands the scheduler off from them as from any long slice;
 * closed after it (mb_proc_terminate), they held the scheduler's thread,
 * and with it the timers and processes queued there. */
static void lua_run(mb_proc *p) {
    run_slice(p);
    if (p->yield == MB_YIELD_EXIT) close_state(p);
}

/* The kind's end: the state and all the memory it had. */
static void lua_close_proc(mb_proc *p) {
    close_state(p);
    p->state = NULL;
    mb_arena_release(&p->arena);   /* also what a state that failed to start left */
}

/* The blocking pool's half of mb.blocking (host/core/blocking.h): resume p, which
 * yielded MB_YIELD_BLOCKING in core._blocking_enter, until its fn has
 * returned and core._blocking_leave yielded MB_YIELD_UNBLOCK. On return
 * p->yield is MB_YIELD_RESCHED (back to the schedulers, where the wrapper
 * returns fn's results) or MB_YIELD_EXIT (with the exit reason set). */
static void lua_run_blocking(mb_proc *p) {
    lua_State *co = lua_of(p)->co;
    if (atomic_load_explicit(&p->sig_pending, memory_order_relaxed)) mb_signal_drain(p);
    if (p->dying) {   /* killed while it waited for a thread: fn never runs */
        p->yield = MB_YIELD_EXIT;
        return;
    }
    p->budget = mbb_slice_budget();
    p->tab_out_busy = false;
    p->in_blocking = true;
    lua_pushboolean(co, 1);   /* _blocking_enter's result: run fn here */
    int nargs = 1, st;
    for (;;) {
        p->yield = MB_YIELD_NONE;
        st = lua_resume(co, nargs);
        nargs = 0;
        if (st != LUA_YIELD || p->yield == MB_YIELD_UNBLOCK || p->mem_exceeded ||
            (atomic_load_explicit(&p->no_growth, memory_order_relaxed) & MB_NOGROW_CSTACK))
            break;
        /* Any other yield (a bare coroutine.yield in fn) gives a turn to
         * nobody here: fn goes on. */
        if (p->yield == MB_YIELD_NONE) lua_settop(co, 0);
    }
    p->in_blocking = false;
    if (ended_by_allocator(p)) return;
    if (st == LUA_YIELD) {
        /* A kill that came while fn ran takes effect now that it returned. */
        p->yield = p->dying ? MB_YIELD_EXIT : MB_YIELD_RESCHED;
        return;
    }
    p->yield = MB_YIELD_EXIT;
    if (p->dying) return;
    if (st == 0) set_reason_str(p, "normal");
    else crashed(p);
}

const mb_kind mbb_lua_kind = {
    .name = "lua",
    .run = lua_run,
    .run_blocking = lua_run_blocking,
    .close = lua_close_proc,
    .preemptible = true,
    .ahead = lua_ahead,
    .drop_ahead = lua_drop_ahead,
    .refusable = mbb_refusable,
    .end_soon = mbb_end_soon,
};
