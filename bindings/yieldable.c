/* yieldable.c: whether lua_yield would succeed on a state now.
 *
 * The preemption hook (preempt.c) yields from inside running Lua code. LuaJIT
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
#include <string.h>

#define CFRAME_RESUME 1u
#define SCAN_WORDS 12             /* a lua_State: 96 bytes with 64-bit references, 56 without */
#define NEAR_STACK (256 * 1024)   /* a C frame pointer vs. a local's address */

enum { OFFSET_UNKNOWN = -1 };

static int cframe_offset = OFFSET_UNKNOWN;   /* found once, at start: a constant of the LuaJIT loaded */

/* What one look at a state saw: its words, and where the looker's locals
 * were (0: never looked). */
typedef struct view {
    uintptr_t words[SCAN_WORDS];
    uintptr_t local;
} view;

static void look(view *v, lua_State *L) {
    memcpy(v->words, L, sizeof v->words);
    v->local = (uintptr_t)&v;
}

/* The C function the probes run: a look at the state it was called on. */
static int probe(lua_State *L) {
    look(lua_touserdata(L, lua_upvalueindex(1)), L);
    return 0;
}

static int near(uintptr_t frame, uintptr_t local) {
    frame &= ~(uintptr_t)3;   /* the low bits are flags */
    uintptr_t d = frame > local ? frame - local : local - frame;
    return frame != 0 && d < NEAR_STACK;
}

/* Looks from a C function Lua called inside a resumed coroutine
 * (resumed), from one lua_call called on the main state (called), and at
 * the coroutine once it has ended (idle). */
static int take_views(lua_State *L, view *resumed, view *called, view *idle) {
    lua_State *co = lua_newthread(L);
    lua_pushlightuserdata(L, resumed);
    lua_pushcclosure(L, probe, 1);
    if (luaL_loadstring(L, "local f = ... f()") != 0) return -1;
    lua_insert(L, -2);   /* the chunk, then its argument */
    lua_xmove(L, co, 2);
    if (lua_resume(co, 1) != 0) return -1;
    lua_pushlightuserdata(L, called);
    lua_pushcclosure(L, probe, 1);
    if (lua_pcall(L, 0, 0, 0) != 0) return -1;
    look(idle, co);
    return 0;
}

void mbb_yieldable_init(void) {
    lua_State *L = luaL_newstate();
    if (!L) return;
    view r = {0}, c = {0}, idle = {0};
    if (take_views(L, &r, &c, &idle) == 0) {
        int found = OFFSET_UNKNOWN, matches = 0;
        for (int i = 0; i < SCAN_WORDS; i++) {
            if (near(r.words[i], r.local) && (r.words[i] & CFRAME_RESUME) && near(c.words[i], c.local) &&
                !(c.words[i] & CFRAME_RESUME) && idle.words[i] == 0) {
                found = i * (int)sizeof(uintptr_t);
                matches++;
            }
        }
        if (matches == 1) cframe_offset = found;
    }
    lua_close(L);
}

mbb_yield_test mbb_yieldable(lua_State *L) {
    if (cframe_offset == OFFSET_UNKNOWN) return MBB_YIELD_UNKNOWN;
    uintptr_t frame;
    memcpy(&frame, (const unsigned char *)L + cframe_offset, sizeof frame);
    return (frame & CFRAME_RESUME) ? MBB_YIELD_CAN : MBB_YIELD_CANNOT;
}
