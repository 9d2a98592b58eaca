/* stitch.c: sending a compiled loop's call of a C function back to the
 * interpreter, so that the hook a kill sets is called.
 *
 * LuaJIT compiles a loop around a C function it cannot compile (os.clock, a
 * C module's function) as traces stitched around the call: the trace ends
 * by calling the function through a continuation frame, and when the
 * function returns the continuation enters the next trace, which loops back.
 * The interpreter never runs such a loop, so the hook never fires; and the
 * preemption signal finds the thread inside the function nearly every time
 * (os.clock's is a system call), where leaving it would be unsafe. A kill of
 * `while os.clock() - t < 30 do end` waited for the loop's own end: 29 s.
 *
 * The continuation frame keeps the trace the loop came from, and the
 * continuation (LuaJIT's cont_stitch) takes a slot with no trace there as
 * "go on in the interpreter", as it does for a trace flushed meanwhile. So
 * for a process that must end, found in such a call, the signal's handler
 * clears that slot: the call itself goes on undisturbed, and returns into
 * the interpreter, where the hook ends the process at its next instruction.
 *
 * None of this is API, so a probe makes a stitched loop once and takes the
 * layout from it: with frames of two slots (LuaJIT's GC64 build), the C
 * function's base B, B[-1] its frame link (type FRAME_CONT), B[-2] the
 * function, B[-3] the pc the loop goes on at, B[-4] the continuation and
 * B[-5] the trace. When the probe does not see exactly that, nothing is
 * ever written (such loops are then killed only when they end). */
#include "stitch.h"

#include <lauxlib.h>
#include <lualib.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FRAME_TYPE_MASK 7u
#define FRAME_CONT 2u
#define PROBE_CALLS 2000   /* the probe's loop: compiled, and stitched, well before its end */
#define PROBE_SEEN 100     /* stitched calls the probe must see, all alike */
#define BASE_MARK 12345.5  /* the probe's argument, to find where L keeps its base */

static ptrdiff_t base_in_L = -1;   /* where a lua_State keeps its base */
static uint64_t cont_stitch;       /* the continuation's address; 0: unknown */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint64_t *base_of(lua_State *L) {
    uint64_t *b;
    memcpy(&b, (const char *)L + base_in_L, sizeof b);
    return b;
}

/* Called with BASE_MARK: the word of L that points to it, with the top one
 * slot after it. */
static int find_base(lua_State *L) {
    double mark = BASE_MARK;
    for (ptrdiff_t off = 0; off < 32 * (ptrdiff_t)sizeof(void *); off += (ptrdiff_t)sizeof(void *)) {
        const char *p, *top;
        memcpy(&p, (const char *)L + off, sizeof p);
        memcpy(&top, (const char *)L + off + sizeof p, sizeof top);
        if (!p || (uintptr_t)p % sizeof(double) || top != p + sizeof(double)) continue;
        if (memcmp(p, &mark, sizeof mark) == 0) {
            base_in_L = off;
            break;
        }
    }
    return 0;
}

typedef struct probe_seen {
    uint64_t cont;
    int calls, alike;
    bool differs;
} probe_seen;

/* The probe loop's C function: what a stitched call's frame holds. */
static int probe_call(lua_State *L) {
    probe_seen *s = lua_touserdata(L, lua_upvalueindex(1));
    const uint64_t *b = base_of(L);
    s->calls++;
    if ((b[-1] & FRAME_TYPE_MASK) != FRAME_CONT) return 0;   /* called by the interpreter */
    if (!b[-4] || !b[-5]) s->differs = true;
    else if (!s->cont) s->cont = b[-4];
    else if (s->cont != b[-4]) s->differs = true;
    s->alike++;
    return 0;
}

static void probe(void) {
    lua_State *L = luaL_newstate();
    if (!L) return;
    luaL_openlibs(L);   /* jit among them, on */
    lua_pushcfunction(L, find_base);
    lua_pushnumber(L, BASE_MARK);
    if (lua_pcall(L, 1, 0, 0) || base_in_L < 0) goto out;
    probe_seen seen = {0};
    if (luaL_loadstring(L, "local f, n = ... for _ = 1, n do f() end")) goto out;
    lua_pushlightuserdata(L, &seen);
    lua_pushcclosure(L, probe_call, 1);
    lua_pushinteger(L, PROBE_CALLS);
    if (lua_pcall(L, 2, 0, 0)) goto out;
    if (seen.calls == PROBE_CALLS && seen.alike >= PROBE_SEEN && !seen.differs) cont_stitch = seen.cont;
out:
    lua_close(L);
}

void mbb_stitch_init(void) { pthread_once(&once, probe); }

void mbb_unstitch(lua_State *L) {
    if (!cont_stitch || !L) return;
    uint64_t *b = base_of(L);
    if (b && (b[-1] & FRAME_TYPE_MASK) == FRAME_CONT && b[-4] == cont_stitch && b[-5])
        b[-5] = 0;   /* the number 0: no trace */
}
