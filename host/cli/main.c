/* main.c: the moonbeam executable.
 *
 *   moonbeam [options]                        the interactive console
 *   moonbeam [options] run SCRIPT [ARGS...]   run SCRIPT as the first process
 *   moonbeam [options] -e CODE                run CODE as the first process
 *   moonbeam attach SOCKET                    a console inside a running host
 *
 * Exit status: 0 when the script (or the console session) ends well, 1 when
 * it fails or the host cannot start, 2 on a usage error; after a shutdown
 * (os.exit(code) in any process, or SIGTERM/SIGINT for run and -e: see
 * shutdown.h), its status: code, 0 for SIGTERM, 130 for SIGINT, 1 when it
 * was cut short. The host is the same
 * runtime `require "moonbeam"` starts: this thread's state becomes its "host"
 * process, which waits for the script's DOWN or, for the console, runs the
 * terminal (console.c) while a console process evaluates (console_server.c). */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <luajit.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../../bindings/bindings.h"
#include "core/blocking.h"
#include "console.h"
#include "console/console_server.h"
#include "core/version.h"
#include "dist/dist.h"
#include "dist/identity.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: moonbeam [options]                       the interactive console\n"
            "       moonbeam [options] run SCRIPT [ARGS...]  run SCRIPT as the first process\n"
            "       moonbeam [options] -e CODE               run CODE as the first process\n"
            "       moonbeam attach SOCKET                   a console inside a running host\n"
            "\n"
            "options:\n"
            "  -e CODE                run CODE first (in the console too, with -i)\n"
            "  -l MODULE              require MODULE first, as the global named like its\n"
            "                         last part (-l moonbeam.gen_server: gen_server)\n"
            "  -i                     open the console after -e\n"
            "  --schedulers N         scheduler threads (default: one per core)\n"
            "  --blocking-threads N   threads for mb.blocking calls (default: the\n"
            "                         larger of 4 and the schedulers)\n"
            "  --max-processes N      size of the process table, 2 or more (default 1048576)\n"
            "  --console-socket PATH  accept consoles (moonbeam attach PATH) on a unix\n"
            "                         socket created with mode 0600\n"
            "  --shutdown-timeout MS  how long an orderly shutdown (SIGTERM, SIGINT,\n"
            "                         os.exit) may take before the host exits with\n"
            "                         status 1 (default 10000)\n"
            "  --sname NAME           be node NAME@`hostname -s` of an Erlang cluster\n"
            "  --name NAME[@HOST]     be node NAME@HOST (default: this host's full name)\n"
            "  --cookie COOKIE        the cluster's cookie (default: ~/.erlang.cookie,\n"
            "                         created as erl does if missing)\n"
            "  --dist-address ADDR    accept nodes on this address only (default: all)\n"
            "  --dist-port N          accept nodes on this port (default: any free one)\n"
            "  --net-ticktime S       drop a node silent for S seconds (default 60)\n"
            "  --watch                reload a module (mb.reload) when its file changes;\n"
            "                         says what it did on stderr\n"
            "  -h, --help             this text\n"
            "  --version              the version\n"
            "\n"
            "Options may also follow `run` or `run SCRIPT`, up to the first argument\n"
            "that is not one (or `--`); the rest are the script's, in arg.\n"
            "\n"
            "SIGTERM, a first SIGINT, or SIGHUP (unless a log handler has a file to\n"
            "reopen) shuts the host down in order: the script's\n"
            "process gets exit signal \"shutdown\", supervisors stop their children,\n"
            "terminate callbacks run. os.exit(code) in any process does the same.\n"
            "A second SIGINT exits at once.\n"
            "\n"
            "exit status: 0 ok, 1 the script failed or the host could not start,\n"
            "2 usage error; after a shutdown: os.exit's code, 0 for SIGTERM, 130 for\n"
            "SIGINT, 129 for SIGHUP, 1 when it did not finish in time or was interrupted\n");
}

typedef enum mode { MODE_CONSOLE, MODE_RUN, MODE_EXEC, MODE_ATTACH } mode;

typedef struct options {
    long schedulers, blocking, max_procs, shutdown_ms;
    const char *socket;
    const char *node, *cookie, *dist_address;   /* --sname/--name, --cookie, --dist-address */
    bool longname;
    long dist_port, ticktime;
    const char **setup;   /* "l", MODULE and "e", CODE, in order */
    int nsetup;
    bool interactive, any_exec, watch;
    mode mode;
    const char *target;   /* the script, or the socket to attach to */
    int first_arg;        /* argv index of the script's first argument */
} options;

enum { OPT_NONE = 0, OPT_TAKEN = 1, OPT_EXIT = 2, OPT_BAD = -1 };

static int parse_count(const char *flag, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || v < min || v > max) {
        fprintf(stderr, "moonbeam: %s needs a number from %ld to %ld\n", flag, min, max);
        return OPT_BAD;
    }
    *out = v;
    return OPT_TAKEN;
}

static const char *value_of(int argc, char **argv, int *i) {
    return *i + 1 < argc ? argv[++*i] : NULL;
}

/* One option at argv[*i]. after_script: help and version belong to the script. */
static int parse_option(int argc, char **argv, int *i, options *o, bool after_script) {
    const char *a = argv[*i];
    if (!after_script && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
        usage(stdout);
        return OPT_EXIT;
    }
    if (!after_script && strcmp(a, "--version") == 0) {
        printf("moonbeam %s (%s)\n", MB_VERSION, LUAJIT_VERSION);
        return OPT_EXIT;
    }
    if (strcmp(a, "--schedulers") == 0) return parse_count(a, value_of(argc, argv, i), 1, 1024, &o->schedulers);
    if (strcmp(a, "--blocking-threads") == 0)
        return parse_count(a, value_of(argc, argv, i), 1, MB_BLOCKING_MAX, &o->blocking);
    if (strcmp(a, "--max-processes") == 0)
        return parse_count(a, value_of(argc, argv, i), 2, MB_MAX_SLOTS, &o->max_procs);
    if (strcmp(a, "--shutdown-timeout") == 0)
        return parse_count(a, value_of(argc, argv, i), 1, 86400000L, &o->shutdown_ms);
    if (strcmp(a, "--dist-port") == 0) return parse_count(a, value_of(argc, argv, i), 1, 65535, &o->dist_port);
    if (strcmp(a, "--net-ticktime") == 0) return parse_count(a, value_of(argc, argv, i), 1, 86400, &o->ticktime);
    if (strcmp(a, "--sname") == 0 || strcmp(a, "--name") == 0 || strcmp(a, "--cookie") == 0 ||
        strcmp(a, "--dist-address") == 0) {
        const char *v = value_of(argc, argv, i);
        if (!v || !*v) {
            fprintf(stderr, "moonbeam: %s needs a value\n", a);
            return OPT_BAD;
        }
        if (a[2] == 'c') o->cookie = v;
        else if (a[2] == 'd') o->dist_address = v;
        else o->node = v, o->longname = a[2] == 'n';
        return OPT_TAKEN;
    }
    if (strcmp(a, "--console-socket") == 0) {
        o->socket = value_of(argc, argv, i);
        if (!o->socket || !*o->socket) {
            fprintf(stderr, "moonbeam: --console-socket needs a path\n");
            return OPT_BAD;
        }
        return OPT_TAKEN;
    }
    if (strcmp(a, "-i") == 0) {
        o->interactive = true;
        return OPT_TAKEN;
    }
    if (strcmp(a, "--watch") == 0) {
        o->watch = true;
        return OPT_TAKEN;
    }
    if (strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0) {
        const char *v = value_of(argc, argv, i);
        if (!v || (a[1] == 'l' && !*v)) {
            fprintf(stderr, "moonbeam: %s needs %s\n", a, a[1] == 'e' ? "some code" : "a module name");
            return OPT_BAD;
        }
        const char **ns = realloc(o->setup, (size_t)(o->nsetup + 2) * sizeof *ns);
        if (!ns) {
            fprintf(stderr, "moonbeam: out of memory\n");
            return OPT_BAD;
        }
        o->setup = ns;
        o->setup[o->nsetup++] = a[1] == 'e' ? "e" : "l";
        o->setup[o->nsetup++] = v;
        o->any_exec |= a[1] == 'e';
        return OPT_TAKEN;
    }
    return OPT_NONE;
}

/* The options from argv[*i] on, up to the first argument that is not one
 * (or `--`, left there); *i ends on it. Returns as parse_args does. */
static int parse_options(int argc, char **argv, int *i, options *o) {
    for (; *i < argc && argv[*i][0] == '-' && argv[*i][1] && strcmp(argv[*i], "--") != 0; ++*i) {
        int rc = parse_option(argc, argv, i, o, false);
        if (rc == OPT_EXIT) return -1;
        if (rc == OPT_BAD) return 2;
        if (rc == OPT_NONE) {
            fprintf(stderr, "moonbeam: unknown option '%s' (moonbeam --help lists them)\n", argv[*i]);
            return 2;
        }
    }
    return 0;
}

/* Fills o; returns -1 to exit 0 (help, version), 0 to go on, 2 on a usage error. */
static int parse_args(int argc, char **argv, options *o) {
    int i = 1;
    int rc = parse_options(argc, argv, &i, o);
    if (rc) return rc;
    if (i >= argc) {
        o->mode = o->any_exec && !o->interactive ? MODE_EXEC : MODE_CONSOLE;
        return 0;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "attach") == 0) {
        if (i + 1 >= argc || !*argv[i + 1]) {
            fprintf(stderr, "moonbeam: attach needs the path of a console socket\n");
            return 2;
        }
        if (i + 2 < argc) {
            fprintf(stderr, "moonbeam: attach takes one argument, the socket's path\n");
            return 2;
        }
        if (i > 1) {
            fprintf(stderr, "moonbeam: options do not apply to attach (the host has its own)\n");
            return 2;
        }
        o->mode = MODE_ATTACH;
        o->target = argv[i + 1];
        return 0;
    }
    if (strcmp(cmd, "run") != 0) {
        fprintf(stderr, "moonbeam: unknown command '%s' (commands: run SCRIPT, attach SOCKET)\n", cmd);
        return 2;
    }
    /* Options may come between run and the script too (run --watch app.lua,
     * run --sname n app.lua), and `--` before the script. */
    i++;
    if ((rc = parse_options(argc, argv, &i, o))) return rc;
    if (i < argc && strcmp(argv[i], "--") == 0) i++;
    i--;   /* argv[i + 1] is the script */
    if (i + 1 >= argc) {
        fprintf(stderr, "moonbeam: run needs a script\n");
        return 2;
    }
    if (o->interactive) {
        fprintf(stderr, "moonbeam: -i opens the console; it does not go with run\n");
        return 2;
    }
    o->mode = MODE_RUN;
    o->target = argv[i + 1];
    for (i += 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        int rc = parse_option(argc, argv, &i, o, true);
        if (rc == OPT_BAD) return 2;
        if (rc == OPT_NONE) break;
        if (o->interactive) {
            fprintf(stderr, "moonbeam: -i opens the console; it does not go with run\n");
            return 2;
        }
    }
    o->first_arg = i;
    return 0;
}

/* Runs protected: start the runtime; this state becomes the host process. */
static int start_host(lua_State *L) {
    mb_proc **self = lua_touserdata(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonbeam");
    lua_call(L, 1, 0);
    *self = mbb_self(L);
    return 0;
}

/* Runs protected: moonbeam.cli.run({script=, prelude=}, args...). */
/* The error at the top of L's stack, on stderr after "moonbeam: " (once:
 * the runtime's own errors, raised to a require'd host, carry it already). */
static void say_lua_error(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    if (!msg) msg = "(an error that is no string)";
    if (strncmp(msg, "moonbeam: ", 10) == 0) msg += 10;
    fprintf(stderr, "moonbeam: %s\n", msg);
}

static int run_script(lua_State *L) {
    const options *o = lua_touserdata(L, 1);
    char **argv = lua_touserdata(L, 2);
    int argc = (int)lua_tointeger(L, 3);
    lua_settop(L, 0);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonbeam.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "run");
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, o->watch);
    lua_setfield(L, -2, "watch");
    if (o->target) {
        lua_pushstring(L, o->target);
        lua_setfield(L, -2, "script");
    }
    lua_createtable(L, o->nsetup, 0);
    for (int k = 0; k < o->nsetup; k++) {
        lua_pushstring(L, o->setup[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "prelude");
    int n = 1;
    for (int k = o->first_arg; o->mode == MODE_RUN && k < argc; k++, n++) {
        luaL_checkstack(L, 1, "too many arguments");
        lua_pushstring(L, argv[k]);
    }
    lua_call(L, n, 1);
    return 1;
}

static lua_State *new_state(const options *o) {
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    luaL_openlibs(L);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)o->schedulers);
    lua_setfield(L, -2, "schedulers");
    lua_pushinteger(L, (lua_Integer)o->blocking);
    lua_setfield(L, -2, "blocking_threads");
    lua_pushinteger(L, (lua_Integer)o->max_procs);
    lua_setfield(L, -2, "max_processes");
    lua_pushinteger(L, (lua_Integer)o->shutdown_ms);
    lua_setfield(L, -2, "shutdown_timeout");
    lua_setfield(L, LUA_REGISTRYINDEX, "moonbeam.config");
    /* The core and the Lua modules are built in: never load another copy. */
    mbb_install_searcher(L);
    return L;
}

/* Make this host a node when --sname or --name asks (dist.h). */
static int start_node(mb_runtime *rt, const options *o, mb_dist **out) {
    char node[256], cookie[256], err[512];
    if (o->cookie && strlen(o->cookie) >= sizeof cookie) {
        fprintf(stderr, "moonbeam: the cookie is too long\n");
        return -1;
    }
    if (mb_node_name(o->node, o->longname, node, sizeof node, err, sizeof err) ||
        (!o->cookie && mb_default_cookie(cookie, sizeof cookie, err, sizeof err))) {
        fprintf(stderr, "moonbeam: %s\n", err);
        return -1;
    }
    mb_dist_config cfg = {node, o->cookie ? o->cookie : cookie, o->dist_address, (int)o->dist_port,
                          (unsigned)o->ticktime};
    *out = mb_dist_start(rt, &cfg, err, sizeof err);
    if (!*out) fprintf(stderr, "moonbeam: cannot start node %s: %s\n", node, err);
    return *out ? 0 : -1;
}

/* A shutdown is over (shutdown.h). run and -e: the host process in
 * cli.lua waits for it and returns its status. */
static void shutdown_done_run(mb_runtime *rt, int status, void *ud) {
    (void)rt, (void)status, (void)ud;
}

/* The console: hang up this thread's terminal (ud: a socket sharing its
 * connection, open until the runtime stopped); main then takes the
 * shutdown's status. */
static void shutdown_done_console(mb_runtime *rt, int status, void *ud) {
    (void)rt, (void)status;
    shutdown(*(int *)ud, SHUT_RDWR);
}

/* The console on this terminal: a console process in this host, and this
 * thread at the terminal. hangup: where a shutdown reaches the terminal
 * (see shutdown_done_console); main closes it. */
static int console_here(mb_console_server *srv, const options *o, int *hangup) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
        perror("moonbeam: socketpair");
        return 1;
    }
    *hangup = fcntl(sv[1], F_DUPFD_CLOEXEC, 0);
    if (*hangup < 0) perror("moonbeam: dup");
    bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (mb_console_server_add(srv, sv[0], tty, o->setup, o->nsetup)) {
        fprintf(stderr, "moonbeam: cannot start the console\n");
        close(sv[1]);
        return 1;
    }
    return mb_console_terminal(sv[1]);
}

int main(int argc, char **argv) {
    options o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        if (rc == 2)
            fputs("usage: moonbeam [options] [run SCRIPT [ARGS...] | attach SOCKET]"
                  " (moonbeam --help tells more)\n", stderr);
        free(o.setup);
        return rc < 0 ? 0 : rc;
    }
    if (o.mode == MODE_ATTACH) {
        int fd = mb_console_connect(o.target);
        return fd < 0 ? 1 : mb_console_terminal(fd);
    }

    int status = 1;
    lua_State *L = new_state(&o);
    if (!L) {
        fprintf(stderr, "moonbeam: cannot create a Lua state\n");
        free(o.setup);
        return 1;
    }
    mb_proc *self = NULL;
    mb_console_server *srv = NULL;
    mb_dist *dist = NULL;
    mb_runtime *rt = NULL;
    int hangup = -1;
    if (lua_cpcall(L, start_host, &self)) {
        say_lua_error(L);
        goto done;
    }
    rt = self->rt;
    /* Before any process can start a shutdown: this thread ends the OS
     * process once it is over, not the shutdown's own. */
    if (o.mode == MODE_CONSOLE) {
        rt->shutdown.on_done = shutdown_done_console;
        rt->shutdown.on_done_ud = &hangup;
    } else {
        rt->shutdown.on_done = shutdown_done_run;
        if (mb_shutdown_catch_signals(rt)) {
            fprintf(stderr, "moonbeam: cannot catch SIGTERM, SIGINT and SIGHUP\n");
            goto done;
        }
    }
    if (o.node ? start_node(rt, &o, &dist) : (o.cookie || o.dist_address || o.dist_port || o.ticktime) ?
                  (fprintf(stderr, "moonbeam: --cookie and the --dist options need --sname or --name\n"), -1) : 0) {
        status = 2;
        goto done;
    }
    char err[256];
    if ((o.socket || o.mode == MODE_CONSOLE) &&
        !(srv = mb_console_server_start(self->rt, self, o.socket, "moonbeam.console:serve", err,
                                              sizeof err))) {
        fprintf(stderr, "moonbeam: %s\n", err);
        goto done;
    }
    if (o.mode == MODE_CONSOLE) {
        status = console_here(srv, &o, &hangup);
    } else {
        lua_pushcfunction(L, run_script);
        lua_pushlightuserdata(L, &o);
        lua_pushlightuserdata(L, argv);
        lua_pushinteger(L, argc);
        if (lua_pcall(L, 3, 1, 0)) say_lua_error(L);
        else status = (int)lua_tointeger(L, -1);
    }
    /* A shutdown under way decides the status, once it is over (its
     * watchdog ends the OS process if it never is). */
    if (mb_shutdown_status(rt) >= 0) status = mb_shutdown_wait(rt);
done:
    mb_console_server_stop(srv);   /* the socket goes */
    mb_dist_stop(dist);            /* connections close, epmd forgets the name */
    lua_close(L);
    mb_console_server_free(srv);
    mb_dist_free(dist);
    if (hangup >= 0) close(hangup);
    free(o.setup);
    return status;
}
