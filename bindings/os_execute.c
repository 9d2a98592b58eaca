/* os_execute.c: os.execute in a process's state (bindings.h).
 *
 * LuaJIT's calls system(), which ignores SIGINT and SIGQUIT in the whole
 * OS process until the command ends: while any process ran one, a Ctrl-C
 * was lost, neither shutting the host down (moonbeam run's first SIGINT)
 * nor interrupting the console. This one starts `/bin/sh -c command` with
 * posix_spawn and waits for that child alone, with the host's signal
 * handling left as it is; the child starts with every signal at its
 * default and none blocked (a scheduler thread blocks SIGPIPE, and
 * system()'s child kept that). It returns what LuaJIT's returns: the wait
 * status (0 for a command that exited 0), -1 when no child could be made,
 * and without a command whether a shell is there (1 or 0). */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bindings.h"

extern char **environ;

static pid_t spawn_shell(const char *command) {
    posix_spawnattr_t attr;
    if (posix_spawnattr_init(&attr)) return -1;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    pid_t pid = -1;
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    if (!posix_spawnattr_setsigmask(&attr, &none) && !posix_spawnattr_setsigdefault(&attr, &all) &&
        !posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) &&
        posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ) != 0)
        pid = -1;
    posix_spawnattr_destroy(&attr);
    return pid;
}

int mbb_os_execute(lua_State *L) {
    const char *command = luaL_optstring(L, 1, NULL);
    if (!command) {
        lua_pushinteger(L, access("/bin/sh", X_OK) == 0);
        return 1;
    }
    pid_t pid = spawn_shell(command);
    int status = -1;
    if (pid > 0)
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR) {
                status = -1;
                break;
            }
    lua_pushinteger(L, status);
    return 1;
}
