/* port_api.c: moonbeam.port's requests to the I/O thread (host/core/io.h,
 * port.h). Each function checks its arguments, builds a request and posts
 * it (net_api.c's mbb_io_post); lua/moonbeam/port.lua waits for the answer. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "bindings.h"

static uint64_t check_port(lua_State *L, int idx, const char *fn) { return mbb_check_io(L, idx, MB_VALUE_PORT, fn); }

/* The string at idx (no NUL inside: it becomes a C string), else raise. */
static size_t check_cstring(lua_State *L, int idx, const char *fn, const char *what) {
    size_t n;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
    if (!s || strlen(s) != n) mbb_raisef(L, "%s: %s must be a string without NUL", fn, what);
    return n;
}

/* argv's strings, then "K=V" for each pair of env (the table at index env,
 * or 0: none), each with its NUL, written at out (NULL: only counted).
 * Returns their bytes; *argc and *envc say how many. One at a time on the
 * stack: an argv of 10,000 strings overflowed a C function's 8,000 slots. */
static size_t gather(lua_State *L, int env, char *out, int *argc, int *envc) {
    size_t bytes = 0, k, v;
    int n = (int)lua_objlen(L, 1);
    if (n < 1) mbb_raisef(L, "port.open: argv must be a non-empty array of strings");
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        k = check_cstring(L, -1, "port.open", "each argv element");
        if (out) memcpy(out + bytes, lua_tostring(L, -1), k + 1);
        bytes += k + 1;
        lua_pop(L, 1);
    }
    *argc = n;
    *envc = 0;
    if (!env) return bytes;
    for (lua_pushnil(L); lua_next(L, env); lua_pop(L, 1)) {
        k = check_cstring(L, -2, "port.open", "each env name");
        v = check_cstring(L, -1, "port.open", "each env value");
        if (k == 0 || strchr(lua_tostring(L, -2), '=')) mbb_raisef(L, "port.open: an env name must be non-empty, without '='");
        if (out) {
            memcpy(out + bytes, lua_tostring(L, -2), k);
            out[bytes + k] = '=';
            memcpy(out + bytes + k + 1, lua_tostring(L, -1), v + 1);
        }
        bytes += k + v + 2;
        (*envc)++;
    }
    return bytes;
}

/* core.port_open(argv, opts) */
static int l_open(lua_State *L) {
    if (!lua_istable(L, 1)) return mbb_raisef(L, "port.open: argv must be a non-empty array of strings");
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    if (!lua_istable(L, 2)) return mbb_raisef(L, "port.open: opts must be a table, got %s", luaL_typename(L, 2));
    lua_settop(L, 2);
    static const char *const known[] = {"cwd", "env", "stderr", NULL};
    mbb_check_known(L, 2, known, "port.open");
    int stdio = MB_IO_STDERR_SEPARATE;
    lua_getfield(L, 2, "stderr");
    const char *mode = lua_tostring(L, -1);
    if (mode && strcmp(mode, "merge") == 0 && lua_type(L, -1) == LUA_TSTRING) stdio = MB_IO_STDERR_MERGE;
    else if (mode && strcmp(mode, "discard") == 0 && lua_type(L, -1) == LUA_TSTRING) stdio = MB_IO_STDERR_DISCARD;
    else if (!lua_isnil(L, -1) && !(mode && strcmp(mode, "separate") == 0 && lua_type(L, -1) == LUA_TSTRING))
        return mbb_raisef(L, "port.open: stderr must be \"separate\", \"merge\" or \"discard\"");
    lua_getfield(L, 2, "cwd");
    if (!lua_isnil(L, -1)) check_cstring(L, -1, "port.open", "cwd");
    lua_getfield(L, 2, "env");
    lua_settop(L, 5);   /* 3: stderr, 4: cwd, 5: env */
    if (!lua_isnil(L, 5) && !lua_istable(L, 5)) return mbb_raisef(L, "port.open: env must be a table of names to strings");
    int env = lua_isnil(L, 5) ? 0 : 5, argc, envc;
    size_t bytes = gather(L, env, NULL, &argc, &envc);   /* checked and counted */
    char *cwd = lua_isnil(L, 4) ? NULL : strdup(lua_tostring(L, 4));
    if (!lua_isnil(L, 4) && !cwd) return mbb_raisef(L, "port.open: out of memory");
    mb_io_req *r = mb_io_req_new(MB_IO_PORT_OPEN, bytes);
    if (!r) {
        free(cwd);
        return mbb_raisef(L, "port.open: out of memory");
    }
    gather(L, env, (char *)mb_io_req_data(r), &argc, &envc);   /* written: the same, in the same order */
    r->host = cwd;
    r->argc = argc;
    r->envc = envc;
    r->stdio = stdio;
    return mbb_io_post(L, r, "port.open");
}

static int l_write(lua_State *L) {
    return mbb_io_post_data(L, MB_IO_PORT_WRITE, check_port(L, 1, "port.write"), 2, "port.write");
}

static int l_close_stdin(lua_State *L) {
    return mbb_io_post_on(L, MB_IO_PORT_EOF, check_port(L, 1, "port.close_stdin"), "port.close_stdin");
}

static const struct { const char *name; int sig; } SIGNALS[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT}, {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH}, {"SEGV", SIGSEGV},
    {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"ILL", SIGILL},   {"TRAP", SIGTRAP}, {"SYS", SIGSYS},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"CHLD", SIGCHLD}, {"POLL", SIGPOLL},
};

/* A signal's number from a number or a name ("TERM" or "SIGTERM"); 0 if none. */
static int signal_of(lua_State *L, int idx) {
    if (lua_isnoneornil(L, idx)) return SIGTERM;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, idx);
        return n >= 1 && n <= 64 && n == (int)n ? (int)n : 0;
    }
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : "";
    if (strncmp(s, "SIG", 3) == 0) s += 3;
    for (size_t i = 0; i < sizeof SIGNALS / sizeof SIGNALS[0]; i++)
        if (strcmp(s, SIGNALS[i].name) == 0) return SIGNALS[i].sig;
    return 0;
}

static int l_kill(lua_State *L) {
    uint64_t h = check_port(L, 1, "port.kill");
    int sig = signal_of(L, 2);
    if (!sig) return mbb_raisef(L, "port.kill: signal must be a number from 1 to 64 or a name such as \"TERM\"");
    mb_io_req *r = mbb_io_req(L, MB_IO_PORT_KILL, 0, "port.kill");
    r->handle = h;
    r->n = (size_t)sig;
    return mbb_io_post(L, r, "port.kill");
}

const luaL_Reg mbb_port_fns[] = {{"port_open", l_open},
                                   {"port_write", l_write},
                                   {"port_close_stdin", l_close_stdin},
                                   {"port_kill", l_kill},
                                   {NULL, NULL}};
