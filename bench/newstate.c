/* newstate.c — the floor under moonbeam's spawn: what one LuaJIT state costs.
 *
 * Times lua_newstate with a counting realloc allocator (what a moonbeam
 * process uses) plus the libraries a process needs (base, package, table,
 * string, math, bit, jit), then lua_close, averaged over many rounds.  Prints
 * RESULT lines like the other benchmarks:
 *   newstate_libs_us   create + open those libs + close, µs per state
 *   newstate_bare_us   create + close only
 *   newstate_all_us    create + luaL_openlibs (every standard lib) + close
 *   newstate_libs_kb   bytes the allocator holds after opening the libs, KB
 *
 * Build: cc -O2 -o newstate bench/newstate.c $(pkg-config --cflags --libs luajit)
 * Usage: newstate [rounds]   (default 10000)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

typedef struct { size_t bytes; } counter;

static void *count_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    counter *c = ud;
    if (nsize == 0) {
        if (ptr) c->bytes -= osize;
        free(ptr);
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) c->bytes += nsize - (ptr ? osize : 0);
    return p;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void open_lib(lua_State *L, const char *name, lua_CFunction f)
{
    /* LuaJIT wants luaopen_* called through lua_call, never directly. */
    lua_pushcfunction(L, f);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

enum mode { BARE, LIBS, ALL };

static lua_State *make_state(counter *c, enum mode m)
{
    lua_State *L = lua_newstate(count_alloc, c);
    if (!L) {
        fprintf(stderr, "newstate: lua_newstate failed (custom allocators "
                        "need a GC64 LuaJIT on x86-64)\n");
        exit(1);
    }
    if (m == LIBS) {
        open_lib(L, "", luaopen_base);
        open_lib(L, LUA_LOADLIBNAME, luaopen_package);
        open_lib(L, LUA_TABLIBNAME, luaopen_table);
        open_lib(L, LUA_STRLIBNAME, luaopen_string);
        open_lib(L, LUA_MATHLIBNAME, luaopen_math);
        open_lib(L, LUA_BITLIBNAME, luaopen_bit);
        open_lib(L, LUA_JITLIBNAME, luaopen_jit);
    } else if (m == ALL) {
        luaL_openlibs(L);
    }
    return L;
}

static double time_mode(enum mode m, int rounds)
{
    counter c = {0};
    for (int i = 0; i < rounds / 10 + 1; i++)      /* warm malloc up */
        lua_close(make_state(&c, m));
    double t0 = now_us();
    for (int i = 0; i < rounds; i++)
        lua_close(make_state(&c, m));
    return (now_us() - t0) / rounds;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 10000;
    if (rounds < 1) rounds = 1;

    printf("RESULT\tnewstate_libs_us\t%.2f\tus\n", time_mode(LIBS, rounds));
    printf("RESULT\tnewstate_bare_us\t%.2f\tus\n", time_mode(BARE, rounds));
    printf("RESULT\tnewstate_all_us\t%.2f\tus\n", time_mode(ALL, rounds));

    counter c = {0};
    lua_State *L = make_state(&c, LIBS);
    lua_gc(L, LUA_GCCOLLECT, 0);
    printf("RESULT\tnewstate_libs_kb\t%.1f\tKB\n", c.bytes / 1024.0);
    lua_close(L);
    return 0;
}
