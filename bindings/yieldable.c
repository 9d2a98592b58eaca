/* yieldable.c: whether lua_yield would succeed on a state now.
 *
 * The preemption hook (vm.c) yields from inside running Lua code. LuaJIT
 * lets it only where no C frame that cannot be resumed lies between the
 * hook and the coroutine's resume: an error handler (xpcall's, which LuaJIT
 * calls from its error machinery), a finalizer run by an allocation's GC
 * step, Lua called back through lua_call. Such frames do not show in
 * lua_getstack, and there lua_yield raises "attempt to yield across C-call
 * boundary" in place of the code's own error: the error an xpcall handler
 * was given became "error in error handling".
 *
 * Lua 5.3 has lua_isyieldable; LuaJIT 2.1 has the test only in Lua
 * (coroutine.isyieldable), and calling that from C would ask about the new
 * C frame of the call. Both read one field of the state, the current C
 * frame, whose lowest bit marks a frame a resume entered (CFRAME_RESUME in
 * lj_frame.h). This file finds that field once, by watching it: in a C
 * function that Lua code inside a resumed coroutine called it must hold a
 * C stack address close to the function's own locals with the bit set, in
 * one called through lua_call on a state that no resume entered the same
 * without it, and in a state that runs nothing, NULL. Where no field
 * behaves so (a LuaJIT of another make), mbb_yieldable says "unknown" and
 * the hook keeps to what lua_getstack shows. */

#include "yieldable.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CFRAME_RESUME 1u
#define SCAN_BYTES 96             /* a lua_State: 96 bytes with 64-bit references, 56 without */
#define NEAR_STACK (256 * 1024)   /* a C frame pointer vs. a local's address */

enum { OFFSET_UNKNOWN = -1 };

static int cframe_offset = OFFSET_UNKNOWN;

/* What one probe saw: the words of the state, and where its locals were. */
typedef struct probe_view {
    uintptr_t words[SCAN_BYTES / sizeof(uintptr_t)];
    uintptr_t local;
    int taken;
} probe_view;

static int probe(lua_State *L) {
    probe_view *v = lua_touserdata(L, lua_upvalueindex(1));
    const unsigned char *s = (const unsigned char *)L;
    for (size_t i = 0; i < SCAN_BYTES / sizeof(uintptr_t); i++) {
        uintptr_t w;
        memcpy(&w, s + i * sizeof w, sizeof w);
        v->words[i] = w;
    }
    v->local = (uintptr_t)&v;
    v->taken = 1;
    return 0;
}

static int near(uintptr_t frame, uintptr_t local) {
    frame &= ~(uintptr_t)3;   /* the low bits are flags */
    uintptr_t d = frame > local ? frame - local : local - frame;
    return frame != 0 && d < NEAR_STACK;
}

/* Fills in (resumed) a view from a C function Lua called inside a resumed
 * coroutine and (called) one through lua_call on the main state. */
static int take_views(lua_State *L, probe_view *resumed, probe_view *called, probe_view *idle) {
    lua_State *co = lua_newthread(L);
    if (!co) return -1;
    lua_pushlightuserdata(L, resumed);
    lua_pushcclosure(L, probe, 1);
    if (luaL_loadstring(L, "local f = ... f()") != 0) return -1;
    lua_insert(L, -2);   /* the chunk, then its argument */
    lua_xmove(L, co, 2);
    if (lua_resume(co, 1) != 0) return -1;
    lua_pushlightuserdata(L, called);
    lua_pushcclosure(L, probe, 1);
    if (lua_pcall(L, 0, 0, 0) != 0) return -1;
    /* co has ended: it runs nothing */
    const unsigned char *s = (const unsigned char *)co;
    for (size_t i = 0; i < SCAN_BYTES / sizeof(uintptr_t); i++)
        memcpy(&idle->words[i], s + i * sizeof(uintptr_t), sizeof(uintptr_t));
    return resumed->taken && called->taken ? 0 : -1;
}

void mbb_yieldable_init(void) {
    lua_State *L = luaL_newstate();
    if (!L) return;
    probe_view *views = calloc(3, sizeof *views);
    if (views && take_views(L, &views[0], &views[1], &views[2]) == 0) {
        const probe_view *r = &views[0], *c = &views[1], *idle = &views[2];
        int found = OFFSET_UNKNOWN, matches = 0;
        for (size_t i = 0; i < SCAN_BYTES / sizeof(uintptr_t); i++) {
            if (near(r->words[i], r->local) && (r->words[i] & CFRAME_RESUME) &&
                near(c->words[i], c->local) && !(c->words[i] & CFRAME_RESUME) && idle->words[i] == 0) {
                found = (int)(i * sizeof(uintptr_t));
                matches++;
            }
        }
        if (matches == 1) cframe_offset = found;
    }
    free(views);
    lua_close(L);
}

mbb_yield_test mbb_yieldable(lua_State *L) {
    if (cframe_offset == OFFSET_UNKNOWN) return MBB_YIELD_UNKNOWN;
    uintptr_t frame;
    memcpy(&frame, (const unsigned char *)L + cframe_offset, sizeof frame);
    return (frame & CFRAME_RESUME) ? MBB_YIELD_CAN : MBB_YIELD_CANNOT;
}
