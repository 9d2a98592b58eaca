/* preempt.c: a Lua process's code run where it can be stopped (see
 * preempt.h). The system monitor (host/core/sysmon.c) sends
 * MB_PREEMPT_SIGNAL to a thread whose slice runs long; its handler here sets
 * LuaJIT's count hook, which yields at a safe point, and for a process that
 * a queued exit signal ends, leaves its code for good where only LuaJIT's or
 * moonbeam's own code is on the stack. */
#include "preempt.h"

#include "on_trace.h"
#include "stitch.h"

#include <dlfcn.h>
#include <math.h>
#include <luajit.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include "bindings.h"
#include "yieldable.h"
#include "core/codemap.h"
#include "core/signal.h"
#include "core/sysmon.h"

#define PREEMPT_HOOK_COUNT 1000   /* instructions between looks, once asked */
/* Its next instruction: once a queued exit signal ends the process, once
 * it is past its memory limit (mbb_end_soon), for a wake's error
 * (mbb_raise_soon). A loop whose every instruction is a long builtin call
 * (a 12 ms s:rep) runs a few hundred instructions a second, and each
 * signal (one every look) sets the count afresh: a count of 1000 was never
 * reached. */
#define NEXT_HOOK_COUNT 1
/* Where a wake's error is kept until then. */
#define RAISE_KEY "moonbeam.raise_pending"

/* The process this thread is running a slice of, and where that slice
 * began, for the signal handler. */
__thread mb_proc *volatile mbb_running __attribute__((tls_model("initial-exec")));
static __thread sigjmp_buf *volatile slice_start __attribute__((tls_model("initial-exec")));

/* Where LuaJIT's own code and moonbeam's are loaded (found once, with the
 * signal handler): C functions there hold nothing outside a state while
 * they call Lua. */
static const void *luajit_base, *moonbeam_base;
/* The C math library's code: pure functions (sin, exp, pow), which hold
 * no lock and leave nothing half made. Compiled code that calls them
 * spends most of its time there, where the signal found it: a kill that
 * waited to find it in the machine code itself took up to 360 ms. */
static uintptr_t libm_lo, libm_hi;
/* LuaJIT's own code. Compiled code calls its helpers (a buffer's append
 * for table.concat, a string's making, a table's growth), and one that
 * allocates nothing new (table.concat whose result is unused) spends all
 * its time there, where no refusal reaches it: with more such loops than
 * cores, kills did not land in 3 s. A helper that compiled code called
 * holds nothing outside the state (LuaJIT takes no lock; its allocations
 * are our allocator's, whose code is not LuaJIT's, and libc's code is not
 * either), and the state is left for good. */
static uintptr_t luajit_lo, luajit_hi;
/* moonbeam's own code (its executable, or the core module). */
static uintptr_t moonbeam_lo, moonbeam_hi;

/* The bounds of the file mapping whose code holds addr, or none. */
static void code_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi) {
    uintptr_t l = 0, h = 0;
    if (!mb_codemap_find(addr, &l, &h) && l < h) {   /* a file's mapping, as it must be */
        *lo = l;
        *hi = h;
    }
}

static void find_bases(void) {
    Dl_info info;
    if (dladdr((void *)lua_pushnil, &info)) luajit_base = info.dli_fbase;
    if (dladdr((void *)mbb_lua_kind_init, &info)) moonbeam_base = info.dli_fbase;
    code_of((uintptr_t)mbb_lua_kind_init, &moonbeam_lo, &moonbeam_hi);
    double (*sine)(double) = sin;   /* an address in libm's code */
    code_of((uintptr_t)sine, &libm_lo, &libm_hi);
    /* Only a LuaJIT of its own (a shared library): linked into moonbeam,
     * the range would be moonbeam's code too. */
    if (luajit_base && luajit_base != moonbeam_base) code_of((uintptr_t)lua_pushnil, &luajit_lo, &luajit_hi);
}

/* Whether the signal found the thread in libm's or LuaJIT's code called by
 * compiled code (the trace's base is set while its C calls run): a C
 * module's function that calls libm may hold a lock of its own, and the
 * interpreter and its C functions look at the hook. */
static bool in_helper_from_trace(lua_State *L, uintptr_t pc) {
    bool helper = (pc >= libm_lo && pc < libm_hi) || (pc >= luajit_lo && pc < luajit_hi);
    return helper && mbb_surely_on_trace(L);
}

/* Whether the signal found the thread where a stitched call's frame may
 * be written (stitch.c): outside LuaJIT's code and moonbeam's, which may be
 * moving the stack (its growth); only when both are known. */
static bool may_unstitch_at(uintptr_t pc) {
    bool known = moonbeam_lo < moonbeam_hi && (luajit_base == moonbeam_base || luajit_lo < luajit_hi);
    return pc && known && !(pc >= luajit_lo && pc < luajit_hi) && !(pc >= moonbeam_lo && pc < moonbeam_hi);
}

static bool ours(lua_CFunction fn) {
    Dl_info info;
    if (!fn) return true;   /* one of LuaJIT's fast functions */
    if (!dladdr((void *)fn, &info)) return false;
    return info.dli_fbase == luajit_base || info.dli_fbase == moonbeam_base;
}

/* What lies between this instruction and the process's body, from its
 * hook. A yield reaches the scheduler only with no C function between
 * (pcall and xpcall excepted, LuaJIT yields across them) and from the body's
 * own coroutine. A doomed process may be left where it is only if the C
 * functions between are LuaJIT's or moonbeam's: a C module's function that
 * called back into Lua may hold something of its own. */
typedef enum between { BETWEEN_NOTHING, BETWEEN_OURS, BETWEEN_FOREIGN } between;

static between what_is_between(mb_proc *p, lua_State *L) {
    const mbb_lua *lp = p->state;
    between b = L == lp->co ? BETWEEN_NOTHING : BETWEEN_OURS;   /* a coroutine of its own */
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sf", &ar)) return BETWEEN_FOREIGN;
        const void *fn = lua_topointer(L, -1);
        lua_CFunction cfn = lua_tocfunction(L, -1);
        lua_pop(L, 1);
        if (ar.what[0] != 'C' || fn == lp->yield_through[0] || fn == lp->yield_through[1]) continue;
        if (!ours(cfn)) return BETWEEN_FOREIGN;
        b = BETWEEN_OURS;
    }
    /* LuaJIT's own C frames that no stack level shows: an error handler's,
     * a finalizer's (yieldable.c). */
    if (b == BETWEEN_NOTHING && mbb_yieldable(L) == MBB_YIELD_CANNOT) b = BETWEEN_OURS;
    return b;
}

/* Whether a yield from here reaches the scheduler. lua_getstack(L, n)
 * walks n frames, so what_is_between costs the square of the stack's
 * depth: a kill took 470 ms to land in a loop 10,000 calls deep. Where the
 * state's C frame is known (yieldable.c) one look answers: only a frame
 * that a C function's call back into Lua entered stops a yield. */
static bool reaches_scheduler(mb_proc *p, lua_State *L) {
    if (L != ((const mbb_lua *)p->state)->co) return false;   /* a coroutine of its own */
    mbb_yield_test y = mbb_yieldable(L);
    if (y != MBB_YIELD_UNKNOWN) return y == MBB_YIELD_CAN;
    return what_is_between(p, L) == BETWEEN_NOTHING;
}

static void preempt_hook(lua_State *L, lua_Debug *ar);

/* Runs on the process's own thread, between two interpreted instructions.
 * Where the process cannot yield it keeps looking, unless a queued exit
 * signal ends it and only LuaJIT's or moonbeam's C functions are between
 * (what_is_between): then it is abandoned here, as in compiled code. Once
 * it yields, the slice ends as if it had called mb.yield (exit signals are
 * handled on resume). */
/* Not interrupted by our own signal's lua_sethook: LuaJIT's dispatch
 * update is not reentrant. count 0: no hook. */
static void set_hook(lua_State *L, int count) {
    sigset_t preempt, old;
    sigemptyset(&preempt);
    sigaddset(&preempt, MB_PREEMPT_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &preempt, &old);
    if (count) lua_sethook(L, preempt_hook, LUA_MASKCOUNT, count);
    else lua_sethook(L, NULL, 0, 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void mbb_clear_hook(lua_State *L) { set_hook(L, 0); }

/* One of the owner's flags, read a byte alone: the compiler merged the
 * hook's three into one 8-byte load, which took in must_end beside them,
 * the system monitor's to write (a race for ThreadSanitizer). */
static bool own_flag(const bool *f) { return __atomic_load_n(f, __ATOMIC_RELAXED); }

static void preempt_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    void *ud;
    if (lua_getallocf(L, &ud) != mb_proc_alloc) return;
    mb_proc *p = ud;
    if ((own_flag(&p->dying) || own_flag(&p->mem_exceeded)) && !own_flag(&p->in_blocking)) {
        /* Its exit began inside a coroutine of its own (mbb_exit_soon), or
         * it is past its memory_limit (mbb_end_soon; lua_run gives the
         * reason): out of each level that cannot yield, with the error it
         * would have met there, until the body can. */
        if (reaches_scheduler(p, L)) {
            mbb_clear_hook(L);
            mbb_exit_now(L, p);
        } else {
            mbb_raise_plain(L, p->dying ? "moonbeam: process is exiting" : "not enough memory");
        }
        return;
    }
    mbb_lua *lp = p->state;
    if (L == lp->co && mbb_take_raise(p, L)) {   /* a wake's error (mbb_raise_soon) */
        lua_error(L);
        return;
    }
    if (mb_proc_take_interrupt(p)) {
        /* An error can be raised where no yield can reach the scheduler. */
        mbb_clear_hook(L);
        mbb_raise_plain(L, MB_INTERRUPTED);
        return;
    }
    if (!reaches_scheduler(p, L)) {
        sigjmp_buf *start = slice_start;
        /* The walk only once it must end: who is between decides. */
        if (!p->foreign_code && start && mbb_running == p && mb_proc_doomed(p) &&
            what_is_between(p, L) == BETWEEN_OURS)
            siglongjmp(*start, 1);
        /* It goes on here: a look every instruction would walk its stack
         * at each. */
        if (lua_gethookcount(L) < PREEMPT_HOOK_COUNT) set_hook(L, PREEMPT_HOOK_COUNT);
        return;
    }
    mbb_clear_hook(L);
    p->budget = 0;   /* a whole slice of work, for its reductions */
    p->hogged = true;   /* behind those that wait on messages (sched.c) */
    p->yield = MB_YIELD_RESCHED;
    mbb_note_where(L, p);
    lua_yield(L, 0);
}

void mbb_exit_soon(lua_State *L) { set_hook(L, NEXT_HOOK_COUNT); }

/* The slot is made with the state and never emptied (false, not nil, when
 * nothing is pending): storing into it allocates nothing, so a wake whose
 * error is that memory was refused can still store that. */
void mbb_raise_prepare(lua_State *L) {
    lua_pushboolean(L, 0);
    lua_setfield(L, LUA_REGISTRYINDEX, RAISE_KEY);
}

void mbb_raise_soon(mb_proc *p, lua_State *from) {
    mbb_lua *lp = p->state;
    if (from) {
        lua_setfield(from, LUA_REGISTRYINDEX, RAISE_KEY);
        lp->raise_pending = true;
    }
    set_hook(lp->co, NEXT_HOOK_COUNT);
}

bool mbb_take_raise(mb_proc *p, lua_State *L) {
    mbb_lua *lp = p->state;
    if (!lp->raise_pending) return false;
    lp->raise_pending = false;
    mbb_clear_hook(L);
    lua_getfield(L, LUA_REGISTRYINDEX, RAISE_KEY);
    lua_pushboolean(L, 0);
    lua_setfield(L, LUA_REGISTRYINDEX, RAISE_KEY);
    return true;
}

/* ThreadSanitizer runs a handler late, at the end of the next intercepted
 * call, with the context of when the signal came: leaving from there would
 * leave inside libc. Under it a compiled loop is only handed off. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MB_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(MB_TSAN)
#define LEAVE_BY_SIGNAL 0
#else
#define LEAVE_BY_SIGNAL 1
#endif

/* Whether pc is in the code the monitor published for p (a consistent
 * reading of the bounds, or none: the next signal looks again). */
static bool in_cut(const mb_proc *p, uintptr_t pc) {
    /* Acquire loads, not a fence: ThreadSanitizer does not model fences. */
    uint32_t seq = atomic_load_explicit(&p->cut_seq, memory_order_acquire);
    if (seq & 1) return false;
    uintptr_t lo = atomic_load_explicit(&p->cut_lo, memory_order_acquire);
    uintptr_t hi = atomic_load_explicit(&p->cut_hi, memory_order_acquire);
    return atomic_load_explicit(&p->cut_seq, memory_order_relaxed) == seq && pc >= lo && pc < hi;
}

/* Where the signal found its thread. */
static uintptr_t interrupted_pc(const void *uctx) {
#if defined(__x86_64__)
    return (uintptr_t)((const ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)((const ucontext_t *)uctx)->uc_mcontext.pc;
#else
    (void)uctx;
    return 0;   /* unknown: such a process is only ever handed off */
#endif
}

/* A compiled loop whose builtin allocates nothing new (table.concat of the
 * same strings: the result is interned already) never meets the refusal.
 * But a trace that may allocate checks the collector's threshold at every
 * iteration: lowered to what the state holds, with steps unbounded
 * (stepmul 0), its next check runs the collector through its marking, and
 * LuaJIT never runs the atomic phase on a trace: the trace exits to the
 * interpreter, where the hook is due. Both lua_gc calls are plain stores
 * into the state (LuaJIT's lj_api.c), as lua_sethook's are; stepmul is set
 * back when the slice ends (take_refusal), for a process spared after all
 * (whose collector, stopped by collectgarbage("stop"), runs again). */
static void force_gc_step(mbb_lua *lp) {
    int was = lua_gc(lp->L, LUA_GCSETSTEPMUL, 0);
    if (!lp->gc_forced) {
        lp->gc_stepmul = was;
        lp->gc_forced = true;
    }
    lua_gc(lp->L, LUA_GCRESTART, 0);
}

/* The kind's refusable (kind.h): a state running compiled code cannot take
 * the allocator's error (on_trace.h). It gets the block, and its trace is
 * sent out to the interpreter at its next look at the collector, as a
 * doomed one is (force_gc_step), where the next refusal is taken, inside
 * a C function, or the process ends at its next instruction. Plain
 * stores, from inside the allocator. */
bool mbb_refusable(mb_proc *p) {
    /* A refusal inside lua_newstate, before LuaJIT has made its string
     * table, crashed the host: its "not enough memory" is a string made
     * there. Granted; the making's next allocation, protected, is refused
     * (a memory_limit between 6.3 and 10.4 KB segfaulted). p's own state
     * is made in its record's room (vm.c, create). */
    if (((mbb_lua *)p->kind_room)->opening) return false;
    mbb_lua *lp = p->state;
    if (!lp || !lp->L) return true;
    if (mbb_in_collector(lp->L)) return false;   /* the next allocation outside it is refused */
    if (mbb_on_trace(lp->L)) {
        force_gc_step(lp);
        return false;
    }
    /* Only a C function has the stack's top where LuaJIT's "not enough
     * memory" may go. In the interpreter (a table's growth, a
     * concatenation, or tostring's fast path making a string, which can
     * grow the string table by 256 KB) the LuaJIT this host runs on (2022)
     * writes that error where the top was last left, which can lie over a
     * live frame; the unwinder then crashed the host (LuaJIT fixed it in
     * November 2022). There a block past the memory limit is granted, and
     * the process ends at its next instruction, as a kill ends it. (A C
     * stack nearly used up is still refused there: granted, the recursion
     * through C that used it would go on, past the stack's end.) */
    if (p->mem_exceeded && !mbb_in_c_function(lp->L)) return !mbb_end_soon(p);
    return true;
}

/* The kind's end_soon (kind.h): past its memory limit, p ends at its next
 * interpreted instruction (the hook, below, as a kill ends it); compiled
 * code is sent out to the interpreter first (force_gc_step). Not while its
 * state is being made: there the refusal is taken (the making is
 * protected). Plain stores and lua_sethook, from inside the allocator, as
 * the preemption signal's handler does. */
bool mbb_end_soon(mb_proc *p) {
    mbb_lua *lp = p->state;
    if (!lp || !lp->L || !lp->co) return false;
    set_hook(lp->L, NEXT_HOOK_COUNT);
    if (mbb_on_trace(lp->L)) force_gc_step(lp);
    return true;
}

/* MB_PREEMPT_SIGNAL, sent by the monitor to the thread running a long slice.
 * Setting a hook is what LuaJIT's own interrupt handler does from a signal;
 * the hook does the rest on this thread at a safe point. The slice may have
 * ended before the signal came: then the hook preempts whatever runs here
 * next, at worst one early yield.
 * A process that a queued exit signal ends, found in compiled code, would
 * never reach the hook (stock LuaJIT's traces do not look at it): there the
 * thread holds no lock and is in no C code of the host's or of libc's, so it
 * leaves that code for good, back to where the slice began (abandon). The
 * monitor says which code that is (sysmon.c, cut_where_stuck) from where
 * this handler found the thread before: here, loads and stores only.
 * Found anywhere else, it is most likely inside one of LuaJIT's C functions
 * (a builtin such as string.rep or table.concat that a compiled loop calls
 * over and over), where leaving could leave a lock or half-made state
 * behind, and which never looks at the hook: its allocator refuses to grow
 * from now on (MB_NOGROW_DOOMED), so its next allocation raises "not enough
 * memory" and unwinds through LuaJIT as any error does, to a pcall (where
 * the hook, due at the next instruction, ends it) or out of the body; a
 * compiled loop that allocates nothing new is sent through the collector
 * (force_gc_step). One that neither allocates nor may (a plain find, a
 * table.concat whose result is unused) is left only if this handler
 * catches it between two calls. */
static void on_preempt_signal(int sig, siginfo_t *info, void *uctx) {
    (void)sig;
    (void)info;
    mb_proc *p = mbb_running;
    mbb_lua *lp = p ? p->state : NULL;
    if (!lp || !lp->L) return;
    sigjmp_buf *start = slice_start;
    bool doomed = mb_proc_doomed(p);
    if (start && doomed && !p->foreign_code) {
        uintptr_t pc = interrupted_pc(uctx);
        if (LEAVE_BY_SIGNAL) {
            if (in_cut(p, pc) || in_helper_from_trace(lp->L, pc)) siglongjmp(*start, 1);
            atomic_store_explicit(&p->stuck_pc, pc, memory_order_relaxed);
        }
        /* In a C function that a stitched trace called (stitch.c): it
         * returns to the interpreter, and the hook. */
        if (may_unstitch_at(pc) && mbb_in_c_function(lp->L)) mbb_unstitch(mbb_running_thread(lp->L));
        atomic_fetch_or_explicit(&p->no_growth, MB_NOGROW_DOOMED, memory_order_relaxed);
        force_gc_step(lp);
    }
    /* Set afresh even when set: LuaJIT's own dispatch update (a trace
     * recorded, a hook cleared) may have been under way when this signal
     * came, and left the hook set but not installed. */
    if (lua_gethookmask(lp->L) & LUA_MASKCOUNT) lua_sethook(lp->L, NULL, 0, 0);
    /* dying: mbb_exit_soon's; a console's Ctrl-C asked: taken at the next
     * instruction (a loop of C calls, os.execute's, runs few between two
     * looks, and 1000 of them took minutes) */
    bool soon = doomed || p->dying || atomic_load_explicit(&p->interrupt, memory_order_relaxed) == MB_INTR_ASKED;
    lua_sethook(lp->L, preempt_hook, LUA_MASKCOUNT, soon ? NEXT_HOOK_COUNT : PREEMPT_HOOK_COUNT);
}

static void install_preempt_handler(void) {
    find_bases();
    mbb_on_trace_init();
    mbb_stitch_init();
    mbb_yieldable_init();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_preempt_signal;
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(MB_PREEMPT_SIGNAL, &sa, NULL))
        fprintf(stderr, "moonbeam: no preemption signal handler; long slices are only handed off\n");
}

void mbb_lua_kind_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_preempt_handler);
}

static int flush_compiled_code(lua_State *L) {
    luaJIT_profile_stop(L);   /* its timer would go on writing into the freed state */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_FLUSH);
    return 0;
}

/* p must end by the exit signal queued for it, and its code stopped first
 * (left where it was, or ended by an error its allocator raised): it ends
 * with that signal's reason. */
void mbb_end_by_signal(mb_proc *p) {
    /* The signal that ends it is counted before it is queued: wait for it
     * to be there, so that p ends with its reason. */
    while (!p->dying && atomic_load_explicit(&p->ending, memory_order_relaxed) > 0) {
        if (!mb_signal_drain(p) && !p->dying) sched_yield();
    }
    if (!p->dying) {   /* the host stops, or spared after all: too late */
        p->exit_reason.len = 0;
        mb_put_string(&p->exit_reason, "killed", 6);
    }
    p->yield = MB_YIELD_EXIT;
}

/* The signal handler brought this thread back from p's compiled code (or
 * the hook from where p could not yield): p's coroutine stopped in the
 * middle of its code and can run nothing any more. Its machine code is freed here (a flush, on the main thread,
 * touches only the JIT's records; the collector is stopped first so that no
 * finalizer runs in a state caught mid-instruction); all the rest goes with
 * its arena (lua_close_proc), and its finalizers never run. It ends with the
 * reason of the signal that ended it. */
static void abandon(mb_proc *p) {
    sigset_t preempt;
    sigemptyset(&preempt);
    sigaddset(&preempt, MB_PREEMPT_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &preempt, NULL);   /* blocked in the handler we left */
    p->abandoned = true;
    p->in_match = false;
    lua_State *L = ((mbb_lua *)p->state)->L;
    lua_gc(L, LUA_GCSTOP, 0);
    if (lua_cpcall(L, flush_compiled_code, NULL))   /* inside a finalizer: LuaJIT refuses */
        fprintf(stderr, "moonbeam: the compiled code of a killed process stays allocated\n");
    mbb_end_by_signal(p);
}

/* Whether p's allocator refused to grow because it must end (the signal's
 * handler, on_preempt_signal); it grows again from here, for its
 * finalizers. After p's code ran, with mbb_running cleared: no handler
 * sets it again. */
static bool take_refusal(mb_proc *p) {
    atomic_signal_fence(memory_order_seq_cst);   /* after mbb_running's store */
    /* Only this thread's signal handler sets the bit, and not once
     * mbb_running is cleared: a look first, no locked write a slice. */
    uint8_t was = atomic_load_explicit(&p->no_growth, memory_order_relaxed);
    if (!(was & MB_NOGROW_DOOMED)) return false;   /* the handler forces a collection only with the bit */
    atomic_fetch_and_explicit(&p->no_growth, (uint8_t)~MB_NOGROW_DOOMED, memory_order_relaxed);
    mbb_lua *lp = ((mbb_lua *)p->state);
    if (lp->gc_forced) {   /* spared after all, it collects at its own pace again */
        lp->gc_forced = false;
        lua_gc(lp->L, LUA_GCSETSTEPMUL, lp->gc_stepmul);
    }
    return true;
}

/* Runs fn(p, arg) on this thread as p's own code: where the preemption
 * signal may leave it (on_preempt_signal, preempt_hook) and its allocator
 * may be told to refuse. -1: it was left (abandoned); else fn's result.
 * refused: whether the allocator was told to refuse meanwhile (p must end:
 * whatever fn did after that, p ends by its signal). */
int mbb_run_leavable(mb_proc *p, int (*fn)(mb_proc *, int), int arg, bool *refused) {
    sigjmp_buf start;
    mbb_running = p;
    if (sigsetjmp(start, 0)) {   /* savemask 0: no system call a slice */
        slice_start = NULL;
        mbb_running = NULL;
        take_refusal(p);
        abandon(p);
        return -1;
    }
    slice_start = &start;
    int st = fn(p, arg);
    slice_start = NULL;
    mbb_running = NULL;
    *refused = take_refusal(p);
    return st;
}

/* One slice of Lua; counts its reductions: one, and one a message. -1: the
 * slice was abandoned (on_preempt_signal). */
int mbb_resume_slice(mb_proc *p, int (*body)(mb_proc *, int), int arg, bool *refused) {
    int st = mbb_run_leavable(p, body, arg, refused);
    if (st < 0) return -1;
    int used = mbb_slice_budget() - (p->budget > 0 ? p->budget : 0);
    atomic_store_explicit(&p->reductions,
                          atomic_load_explicit(&p->reductions, memory_order_relaxed) + 1 + (uint64_t)used,
                          memory_order_relaxed);
    return st;
}
