/* on_trace.c: whether a Lua state is running compiled code, or its
 * collector or a trace's exit handler.
 *
 * A process's allocator refuses memory to end it (its memory limit, an exit
 * signal that must stop a builtin, a C stack nearly used up), and LuaJIT
 * raises "not enough memory". Raised from compiled code, that error is
 * reported from a frame LuaJIT has not written back (L->base is stale
 * there): the LuaJIT this host runs on (Debian 12's, of 2022) reads the
 * frame's function from it and crashes; LuaJIT fixed that in 2023 (it now
 * takes the trace's base first). So no allocation is refused while compiled
 * code runs (process.c, mb_kind's refusable): the trace is sent out to the
 * interpreter instead, where the next one is.
 *
 * The public API does not say whether a trace runs. LuaJIT's global state
 * keeps its base (jit_base, NULL off trace) three words after the panic
 * function, which lua_atpanic sets: a state made once with a known panic
 * function shows where that lies, and that the words around it are what
 * they must be (the running state or none, then no trace), else nothing is assumed
 * and every state counts as on trace (no refusal: slower kills of builtins,
 * looser memory limits; never a crash).
 *
 * Nor is one refused while the collector runs: a trace sent out for it
 * (preempt.c, force_gc_step) has the exit handler drive the collector,
 * whose string table resize then raised from frames the unwinder cannot
 * cross, and the host crashed (a compiled loop making strings, killed).
 * The VM's state word says where the state is; it lies a fixed distance
 * before the panic function in this LuaJIT's global state, which the probe
 * checks (inside a C function it must say so). */
#include "on_trace.h"

#include <lauxlib.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SCAN_WORDS 512   /* the global state's words looked through: 4 KB */

static ptrdiff_t g_in_L = -1;       /* where a lua_State keeps its global state */
static ptrdiff_t jit_base_in_g = -1;
static ptrdiff_t cur_L_in_g = -1;
static ptrdiff_t vmstate_in_g = -1;

/* The VM's state word (vmstate): where this LuaJIT's global state keeps
 * it, before the panic function, and the values it takes (~LJ_VMST_*:
 * C function, collector, trace exit handler). */
#define VMSTATE_BEFORE_PANIC 168
#define VMSTATE_C (~1)
#define VMSTATE_GC (~2)
#define VMSTATE_EXIT (~3)
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *word_at(const void *base, ptrdiff_t off) {
    void *w;
    memcpy(&w, (const char *)base + off, sizeof w);
    return w;
}

/* The global state: the word of L that points to a block starting with
 * the allocator lua_getallocf reports (the global state's first fields). */
static ptrdiff_t find_g(lua_State *L) {
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);
    for (ptrdiff_t off = 0; off < 64; off += (ptrdiff_t)sizeof(void *)) {
        void *g = word_at(L, off);
        if (!g || (uintptr_t)g % sizeof(void *)) continue;
        lua_Alloc gf;
        memcpy(&gf, g, sizeof gf);
        if (gf == f && word_at(g, sizeof(void *)) == ud) return off;
    }
    return -1;
}

/* The probe's panic function: a value to look for, never called. */
static int probe_panic(lua_State *L) {
    (void)L;
    return 0;
}

static int32_t vmstate_at(const void *g, ptrdiff_t off) {
    int32_t v;
    memcpy(&v, (const char *)g + off, sizeof v);
    return v;
}

/* Run by lua_cpcall: a C function, so the state word says so. */
static int probe_vmstate(lua_State *L) {
    ptrdiff_t *off = lua_touserdata(L, 1);
    if (vmstate_at(word_at(L, g_in_L), *off) != VMSTATE_C) *off = -1;
    return 0;
}

static void probe(void) {
    lua_State *L = luaL_newstate();
    if (!L) return;
    lua_atpanic(L, probe_panic);
    ptrdiff_t goff = find_g(L);
    if (goff >= 0) {
        void *g = word_at(L, goff);
        for (ptrdiff_t off = 0; off < SCAN_WORDS * (ptrdiff_t)sizeof(void *); off += (ptrdiff_t)sizeof(void *)) {
            lua_CFunction w;
            memcpy(&w, (const char *)g + off, sizeof w);
            if (w != probe_panic) continue;
            /* panic, two bytecode words, cur_L (this state or none yet),
             * jit_base (none) */
            ptrdiff_t cur = off + 2 * (ptrdiff_t)sizeof(void *), base = cur + (ptrdiff_t)sizeof(void *);
            void *cur_L = word_at(g, cur);
            if ((cur_L == (void *)L || cur_L == NULL) && word_at(g, base) == NULL) {
                g_in_L = goff;
                jit_base_in_g = base;
                cur_L_in_g = cur;
                ptrdiff_t vm = off - VMSTATE_BEFORE_PANIC;
                if (vm >= 0 && !lua_cpcall(L, probe_vmstate, &vm) && vm >= 0) vmstate_in_g = vm;
            }
            break;
        }
    }
    lua_close(L);
}

void mbb_on_trace_init(void) { pthread_once(&once, probe); }

bool mbb_surely_on_trace(lua_State *L) {
    return jit_base_in_g >= 0 && word_at(word_at(L, g_in_L), jit_base_in_g) != NULL;
}

bool mbb_on_trace(lua_State *L) { return jit_base_in_g < 0 || mbb_surely_on_trace(L); }

bool mbb_in_collector(lua_State *L) {
    if (vmstate_in_g < 0) return true;
    int32_t v = vmstate_at(word_at(L, g_in_L), vmstate_in_g);
    return v == VMSTATE_GC || v == VMSTATE_EXIT;
}

bool mbb_in_c_function(lua_State *L) {
    return vmstate_in_g >= 0 && vmstate_at(word_at(L, g_in_L), vmstate_in_g) == VMSTATE_C;
}

lua_State *mbb_running_thread(lua_State *L) {
    if (cur_L_in_g < 0) return NULL;
    return word_at(word_at(L, g_in_L), cur_L_in_g);
}
