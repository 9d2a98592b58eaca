/* switch.c — the floor under a message hop: resuming a LuaJIT state.
 *
 * Every moonbeam process is a coroutine in a LuaJIT state of its own, and
 * every hop of a message ends in a resume of the receiver's state from C
 * and its yield back (a C function calling lua_yield, as a process waiting
 * for mail does). This times that pair alone, with no message, no mailbox
 * and no run queue, for one state resumed again and again (its memory stays
 * in cache) and for a ring of N states resumed in turn (each resume touches
 * a state the others have pushed out of cache, as a ring of processes does).
 * The states run interpreted, as such processes do. Prints RESULT lines
 * like the other benchmarks:
 *   switch_1_ns      resume + yield of one state, ns
 *   switch_ring_ns   the same over N states in turn, ns per resume
 *
 * Build: cc -O2 -o switch bench/switch.c $(pkg-config --cflags --libs luajit)
 * Usage: switch [rounds] [states]   (default 1000000 and 1000)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* What a process calls to wait for its next message: a yield from C. */
static int wait_for_mail(lua_State *L) { return lua_yield(L, 0); }

static const char body[] =
    "local wait = ...\n"
    "local hops = 0\n"
    "while true do hops = hops + 1; wait() end\n";

/* A state whose coroutine has started and waits in wait_for_mail. */
static lua_State *make_process(lua_State **co_out)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "switch: luaL_newstate failed\n");
        exit(1);
    }
    luaL_openlibs(L);
    /* Interpreted, as a moonbeam process that waits after every message
     * runs (docs/semantics.md): no compile inside the timed rounds. */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_State *co = lua_newthread(L);
    lua_pop(L, 1);
    lua_pushthread(co);                       /* kept from the GC by the registry */
    luaL_ref(co, LUA_REGISTRYINDEX);
    if (luaL_loadbuffer(co, body, sizeof body - 1, "process")) {
        fprintf(stderr, "switch: %s\n", lua_tostring(co, -1));
        exit(1);
    }
    lua_pushcfunction(co, wait_for_mail);
    if (lua_resume(co, 1) != LUA_YIELD) {
        fprintf(stderr, "switch: the body did not wait\n");
        exit(1);
    }
    *co_out = co;
    return L;
}

static void resume(lua_State *co)
{
    if (lua_resume(co, 0) != LUA_YIELD) {
        fprintf(stderr, "switch: a resume did not end in a yield\n");
        exit(1);
    }
}

/* ns per resume over n states resumed in turn, rounds resumes in all */
static double time_states(int n, long rounds)
{
    lua_State **L = malloc(sizeof *L * (size_t)n), **co = malloc(sizeof *co * (size_t)n);
    if (!L || !co) {
        fprintf(stderr, "switch: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < n; i++) L[i] = make_process(&co[i]);
    for (long r = 0; r < rounds / 10 + n; r++) resume(co[r % n]);   /* warm up (and JIT) */
    double t0 = now_ns();
    for (long r = 0; r < rounds; r++) resume(co[r % n]);
    double ns = (now_ns() - t0) / (double)rounds;
    for (int i = 0; i < n; i++) lua_close(L[i]);
    free(L);
    free(co);
    return ns;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 1000000;
    int states = argc > 2 ? atoi(argv[2]) : 1000;
    if (rounds < 1) rounds = 1;
    if (states < 1) states = 1;

    printf("RESULT\tswitch_1_ns\t%.1f\tns\n", time_states(1, rounds));
    printf("RESULT\tswitch_ring_ns\t%.1f\tns\n", time_states(states, rounds));
    return 0;
}
