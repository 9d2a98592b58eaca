/* shutdown_api.c: what os.exit and the shutdown process (both in
 * lua/moonbeam/shutdown.lua) need from the core's host/core/shutdown.c. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "bindings.h"
#include "core/runtime.h"
#include "core/shutdown.h"

/* os.exit's argument as a status: true 0, false 1, a number as C exit
 * takes it, none 0. */
static int exit_status(lua_State *L, int idx) {
    if (lua_isboolean(L, idx)) return lua_toboolean(L, idx) ? EXIT_SUCCESS : EXIT_FAILURE;
    if (lua_isnoneornil(L, idx)) return EXIT_SUCCESS;
    if (!lua_isnumber(L, idx))   /* "3" is 3, as LuaJIT's own os.exit takes it */
        return mbb_raisef(L, "os.exit: code must be a number or a boolean, got %s", luaL_typename(L, idx));
    return (int)lua_tointeger(L, idx);
}

/* core.shutdown_start([code]) -> started, ordered, host: whether this call
 * started the shutdown, whether its first exit signal already went out,
 * and whether the caller is the host's own thread. */
static int l_shutdown_start(lua_State *L) {
    mb_proc *self = mbb_self(L);
    int status = exit_status(L, 1);
    /* The host's thread goes on to wait, then ends the OS process itself. */
    if (self->ext) atomic_store(&self->rt->shutdown.host_exits, true);
    int started = mb_shutdown_start(self->rt, status, self);
    lua_pushboolean(L, started);
    lua_pushboolean(L, atomic_load(&self->rt->shutdown.ordered));
    lua_pushboolean(L, self->ext != NULL);
    return 3;
}

/* core.shutdown_status() -> the status asked for, or nil. */
static int l_shutdown_status(lua_State *L) {
    int st = mb_shutdown_status(mbb_self(L)->rt);
    if (st < 0) lua_pushnil(L);
    else lua_pushinteger(L, st);
    return 1;
}

/* core.shutdown_wait() -> status, once the shutdown is done. Only the
 * host's own thread may block like this. */
static int l_shutdown_wait(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (!self->ext) return mbb_raisef(L, "shutdown_wait: only the host's own thread can wait like this");
    if (mb_shutdown_status(self->rt) < 0) return mbb_raisef(L, "shutdown_wait: no shutdown is under way");
    lua_pushinteger(L, mb_shutdown_wait(self->rt));
    return 1;
}

/* core.shutdown_plan() -> first, host: the pids the shutdown starts from
 * (first is the host's when no first process was marked). */
static int l_shutdown_plan(lua_State *L) {
    mb_runtime *rt = mbb_self(L)->rt;
    mb_pid first = atomic_load(&rt->shutdown.first);
    mb_pid host = rt->host ? rt->host->pid : 0;
    if (first || host) mbb_push_pid(L, first ? first : host);
    else lua_pushnil(L);
    if (host) mbb_push_pid(L, host);
    else lua_pushnil(L);
    return 2;
}

/* core.shutdown_order(): the shutdown knows whom it waits for and sends
 * its first exit signal next; os.exit from now on ends its caller at once. */
static int l_shutdown_order(lua_State *L) {
    atomic_store(&mbb_self(L)->rt->shutdown.ordered, true);
    return 0;
}

/* core.shutdown_host_links(reason): the host's links get exit signal
 * reason from the host, as if it had ended. */
static int l_shutdown_host_links(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (lua_isnoneornil(L, 1)) return mbb_raisef(L, "shutdown_host_links: an exit reason is required");
    mbb_encode_or_raise(L, self, 1, "shutdown_host_links: reason");
    mb_shutdown_signal_host_links(self->rt, mbb_sched(self), self->scratch.p, self->scratch.len);
    return 0;
}

/* core.shutdown_done() -> true, unless the OS process ends here (see
 * mb_shutdown_done). */
static int l_shutdown_done(lua_State *L) {
    mb_runtime *rt = mbb_self(L)->rt;
    if (mb_shutdown_status(rt) < 0) return mbb_raisef(L, "shutdown_done: no shutdown is under way");
    mb_shutdown_done(rt);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.last_words(s, [ms]) -> whether all of s went to standard error
 * within ms (default 1000). moonbeam run's report of how its script ended
 * must not keep the host from exiting with its status when stderr takes
 * nothing (a pipe nobody reads): written a pipe's atomic size at a time,
 * each once poll says there is room. A reader that is gone is no SIGPIPE
 * (it would end the host with 141): blocked meanwhile, and one the write
 * raised taken back. */
static int l_last_words(lua_State *L) {
    size_t n, off = 0;
    const char *s = luaL_checklstring(L, 1, &n);
    double deadline = mb_now_ms() + luaL_optnumber(L, 2, 1000);
    sigset_t pipe, old;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    while (off < n) {
        double left = deadline - mb_now_ms();
        struct pollfd pfd = {STDERR_FILENO, POLLOUT, 0};
        int ready = left > 0 ? poll(&pfd, 1, (int)left + 1) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0 || !(pfd.revents & POLLOUT)) break;
        ssize_t w = write(STDERR_FILENO, s + off, n - off < PIPE_BUF ? n - off : PIPE_BUF);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    struct timespec none = {0, 0};
    if (!sigismember(&old, SIGPIPE))
        while (sigtimedwait(&pipe, NULL, &none) > 0) {}
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    lua_pushboolean(L, off == n);
    return 1;
}

const luaL_Reg mbb_shutdown_fns[] = {
        {"last_words", l_last_words},
        {"shutdown_start", l_shutdown_start}, {"shutdown_status", l_shutdown_status},
        {"shutdown_wait", l_shutdown_wait}, {"shutdown_plan", l_shutdown_plan},
        {"shutdown_order", l_shutdown_order},
        {"shutdown_host_links", l_shutdown_host_links}, {"shutdown_done", l_shutdown_done},
        {NULL, NULL}};
