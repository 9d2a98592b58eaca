/* main.c: the moonbeam executable.
 *
 *   moonbeam [options] run SCRIPT [ARGS...]   run SCRIPT as the first process
 *
 * Exit status: 0 when the script returns, 1 when it fails, 2 on a usage
 * error. The host itself is the same runtime `require "moonbeam"` starts:
 * this thread becomes a process that waits for the script's DOWN. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <luajit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../bindings/bindings.h"

#define MOONBEAM_VERSION "0.1.0"

static void usage(FILE *out) {
    fprintf(out,
            "usage: moonbeam [options] run SCRIPT [ARGS...]\n"
            "\n"
            "Runs SCRIPT as the first moonbeam process; exits when it returns.\n"
            "\n"
            "options:\n"
            "  --schedulers N      scheduler threads (default: one per core)\n"
            "  --max-processes N   size of the process table (default 1048576)\n"
            "  --help              this text\n"
            "  --version           the version\n"
            "\n"
            "exit status: 0 ok, 1 the script failed, 2 usage error\n");
}

static int parse_count(const char *flag, const char *s, long max, long *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || v < 1 || v > max) {
        fprintf(stderr, "moonbeam: %s needs a number from 1 to %ld\n", flag, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int load_embedded(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const mbb_embedded *e = mbb_find_embedded(name);
    if (!e) return luaL_error(L, "no embedded module '%s'", name);
    if (luaL_loadbuffer(L, (const char *)e->code, e->size, name)) return lua_error(L);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    return 1;
}

/* Runs protected: require moonbeam.cli and call run(script, args...). */
static int run_script(lua_State *L) {
    int n = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonbeam.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "run");
    for (int i = 1; i <= n; i++) lua_pushvalue(L, i);
    lua_call(L, n, 1);
    return 1;
}

int main(int argc, char **argv) {
    long schedulers = 0, max_procs = 0;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("moonbeam %s (%s)\n", MOONBEAM_VERSION, LUAJIT_VERSION);
            return 0;
        } else if (strcmp(a, "--schedulers") == 0) {
            if (parse_count(a, i + 1 < argc ? argv[++i] : NULL, 1024, &schedulers)) return 2;
        } else if (strcmp(a, "--max-processes") == 0) {
            if (parse_count(a, i + 1 < argc ? argv[++i] : NULL, MB_MAX_SLOTS, &max_procs)) return 2;
        } else if (a[0] == '-') {
            fprintf(stderr, "moonbeam: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            break;
        }
    }
    if (i >= argc || strcmp(argv[i], "run") != 0 || i + 1 >= argc) {
        if (i < argc && strcmp(argv[i], "run") != 0)
            fprintf(stderr, "moonbeam: unknown command '%s'\n", argv[i]);
        else if (i < argc)
            fprintf(stderr, "moonbeam: run needs a script\n");
        usage(stderr);
        return 2;
    }
    const char *script = argv[i + 1];

    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "moonbeam: cannot create a Lua state\n");
        return 1;
    }
    luaL_openlibs(L);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)schedulers);
    lua_setfield(L, -2, "schedulers");
    lua_pushinteger(L, (lua_Integer)max_procs);
    lua_setfield(L, -2, "max_processes");
    lua_setfield(L, LUA_REGISTRYINDEX, "moonbeam.config");
    /* The core and the Lua modules are built in: never load another copy. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_moonbeam_core);
    lua_setfield(L, -2, "moonbeam.core");
    for (const mbb_embedded *e = mbb_embedded_modules; e->name; e++) {
        lua_pushcfunction(L, load_embedded);
        lua_setfield(L, -2, e->name);
    }
    lua_pop(L, 2);

    lua_pushcfunction(L, run_script);
    lua_pushstring(L, script);
    for (int k = i + 2; k < argc; k++) lua_pushstring(L, argv[k]);
    int status = 1;
    if (lua_pcall(L, argc - i - 1, 1, 0)) {
        fprintf(stderr, "moonbeam: %s\n", lua_tostring(L, -1));
    } else {
        status = (int)lua_tointeger(L, -1);
    }
    lua_close(L);
    return status;
}
