/* bindings.h: what the binding files share. Every lua_* call that touches a
 * process's state lives under bindings/. */
#ifndef MBB_BINDINGS_H
#define MBB_BINDINGS_H

#include <lauxlib.h>
#include <lua.h>
#include "codec.h"
#include "core/io.h"
#include "core/process.h"
#include "core/runtime.h"
#include "state_pool.h"

/* The process this state belongs to; raises if it is none. */
/* The Lua kind of process (vm.c): what mb_spawn makes in a host started
 * from Lua. */
extern const mb_kind mbb_lua_kind;
/* Once per OS process, before the first host starts: the preemption
 * signal's handler. */
void mbb_lua_kind_init(void);

/* What a Lua process keeps (its p->state). */
typedef struct mbb_lua {
    lua_State *L, *co;                /* its state, and the coroutine its body runs in */
    int co_ref;                       /* co's registry ref: kept alive */
    const void *yield_through[2];     /* the state's pcall and xpcall: a preemption may yield across them */
    bool jit_looked;                  /* vm.c has seen it do enough work to compile (jit_when_busy) */
    bool gc_forced;                   /* a kill's signal set its collector's stepmul to 0 (preempt.c:
                                         force_gc_step) in this slice... */
    int gc_stepmul;                   /* ...and this is what it was: set back when the slice ends */
    size_t kept;                      /* bytes its state held after its last collection (collect_before_waiting) */
    uint8_t on_wake;                  /* what its yield is resumed with (mbb_wake) */
    bool raise_pending;               /* an error a wake met, for its next instruction (preempt.c) */
    bool ended_outside;               /* its body's coroutine ended while it waited (vm.c, run_body) */
    bool opening;                     /* inside lua_newstate, which cannot take a refusal (preempt.c) */
} mbb_lua;

/* What a Lua process's yield is resumed with: whether its wait did not
 * time out (core.wait); nothing (its caller looks again: gen_server's
 * loop); a call's reply that is one number or boolean, taken before the
 * resume (vm.c), which then allocates nothing and needs no protected call:
 * the process does not come back into the core for it; for mb.receive,
 * the message, the wake finishing the receive (receive_api.c); or the
 * values the yield kept on the stack (a message taken, send's true, when
 * the slice was used up). A preemption resumes with nothing. */
typedef enum mbb_wake { MBB_WAKE_TIMED, MBB_WAKE_QUIET, MBB_WAKE_OUTCOME, MBB_WAKE_RECEIVE, MBB_WAKE_KEPT } mbb_wake;
/* A call's reply that is one number or boolean, pushed onto co as
 * core.call_wait returns it, ending the call: 2; 0: none such (call_api.c). */
int mbb_take_scalar_outcome(mb_proc *self, lua_State *co);

/* The Lua kind's own, per host (rt->kind_data): where new states look for
 * modules. */
typedef struct mbb_lua_host {
    char *path, *cpath;               /* package.path, package.cpath; NULL: LuaJIT's default */
    struct mbb_module_cache *modules; /* compiled modules its states share (module_cache.c) */
    struct mbb_code_loaders *loaders; /* which processes loaded which of them (code_loaders.c) */
    mbb_state_pool pool;              /* states made ahead (state_pool.c) */
    mbb_state_pool gen_pool;          /* the same with moonbeam.gen_step loaded, for the
                                         starts of gen_servers, once one has looked there */
    /* moonbeam run's script's crash as its crash line would show it (an
     * error object's words, which its exit reason, sent as data, lacks):
     * written by the script's thread before its DOWN, read after it. */
    char first_crash[200];
    _Atomic bool first_crashed;
} mbb_lua_host;

/* The coroutine p's body runs in; NULL when p is not a started Lua process. */
static inline lua_State *mbb_co(const mb_proc *p) {
    const mbb_lua *lp = p->kind == &mbb_lua_kind ? p->state : NULL;
    return lp ? lp->co : NULL;
}

/* The caller's package.path and package.cpath, as a search_path
 * (core/process.h) into b, when a child would not get them anyway (its
 * parent's, else the host's): a script that set package.path spawns
 * processes that find what it finds. Returns whether b holds one. */
bool mbb_own_search_path(lua_State *L, mb_proc *self, mb_buf *b);
mb_proc *mbb_self(lua_State *L);
/* The process whose slice this thread is running (preempt.c), or NULL. */
extern __thread mb_proc *volatile mbb_running __attribute__((tls_model("initial-exec")));
/* The scheduler to credit with work this thread creates (NULL off-scheduler). */
static inline mb_sched *mbb_sched(mb_proc *p) { return p->ext ? NULL : p->sched; }

void mbb_push_pid(lua_State *L, mb_pid pid);
void mbb_push_ref(lua_State *L, mb_ref ref);
mb_pid mbb_check_pid(lua_State *L, int idx, const char *fn);
mb_ref mbb_check_ref(lua_State *L, int idx, const char *fn);
int mbb_is_pid(lua_State *L, int idx);
/* What the value at idx is, for an error message: a pid, a ref, a table
 * handle, a socket or a port as such, else its Lua type. */
const char *mbb_what_is(lua_State *L, int idx);
/* The pid at idx, or 0 when the value there is none. */
mb_pid mbb_to_pid(lua_State *L, int idx);
/* A pid or a registered name at idx; raises for an unknown name. */
mb_pid mbb_check_dest(lua_State *L, int idx, const char *fn);
/* The same for a value of type (lua_type's) looked at already. */
mb_pid mbb_check_dest_typed(lua_State *L, int idx, int type, const char *fn);
/* Give light userdata (pids and refs) their metatable in this state. */
void mbb_pid_type_init(lua_State *L);

/* Encode the value at idx into p->scratch, raising a clear error if
 * refused: what names the call and the value, "send: msg", and the error
 * reads "send: msg.f: cannot send a function with upvalues". */
void mbb_encode_or_raise(lua_State *L, mb_proc *p, int idx, const char *what);
void mbb_encode_typed_or_raise(lua_State *L, mb_proc *p, int idx, int type, const char *what);

/* Encode the value at idx as p's exit reason. One larger than the runtime's
 * max_message_size, which every link and monitor would get a copy of, is
 * replaced by a bounded {"error", "exit reason too large (N bytes): ...", tb}
 * (see vm.c). Returns 0, or -1 with err set (and no reason) when the value
 * cannot be sent at all. */
int mbb_set_exit_reason(lua_State *L, mb_proc *p, int idx, mb_encode_err *err);

/* Raise a Lua error carrying exactly the string s (no position prefix). */
int mbb_raise_plain(lua_State *L, const char *s);
/* The same, formatted as lua_pushfstring does: for "<call>: <what is
 * wrong>" errors that a Lua wrapper must not prefix with its own line. */
int mbb_raisef(lua_State *L, const char *fmt, ...);

/* Yield back to the scheduler because the process must end now. Raises in
 * states that cannot yield to a scheduler (see message_api.c). */
int mbb_exit_now(lua_State *L, mb_proc *p);
/* p is dying inside a coroutine of its own: from its next instruction on,
 * it leaves each level that cannot yield, then yields for good (preempt.c). */
void mbb_exit_soon(lua_State *L);
/* At p's coroutine's next instruction, raise the error on top of from
 * (popped; taken from the state's registry then), or, from NULL, the
 * console's Ctrl-C that p was asked (preempt.c). */
void mbb_raise_soon(mb_proc *p, lua_State *from);
/* Whether such an error is pending: then it is pushed onto L, and no
 * longer pending. */
bool mbb_take_raise(mb_proc *p, lua_State *L);
/* Make the registry slot mbb_raise_soon keeps the error in, so that it
 * allocates nothing (a new state, protected). */
void mbb_raise_prepare(lua_State *L);
/* Reply to caller's call ref with the value at idx, as core.reply does:
 * 0, 1 with err filled when the value cannot be sent, or -1: no memory.
 * caller is of this node (call_api.c). core.reply itself, for a caller on
 * another node. */
int mbb_reply_value(lua_State *L, mb_proc *self, mb_pid caller, mb_ref ref, int idx, mb_encode_err *err);
int mbb_reply_fn(lua_State *L);
/* core._c_exit, for a gen_server process's mb.exit (gen_api.c), which
 * must yield from its own frame (process_api.c). */
int mbb_exit_fn(lua_State *L);

/* Block the process until something arrives or deadline (ms on the runtime
 * clock; < 0: none) passes: a yield, resumed as wake says (mbb_wake;
 * MBB_WAKE_TIMED: with whether it did not time out), the keep values on
 * top of the stack kept there meanwhile (message_api.c). */
int mbb_wait_for(lua_State *L, mb_proc *self, double deadline, mbb_wake wake, int keep);
/* Why the process running L cannot wait here (mbb_wait_for would raise;
 * not inside a match function, which is receive's error),
 * pushed as "<why>; <verb> <where to instead>"; 0 (nothing pushed) when it
 * can: for a call that refuses before it acts (a server's call, a stop,
 * a sleep), naming itself, rather than receive's error after it acted. */
int mbb_push_cannot_wait(lua_State *L, mb_proc *self, const char *verb);
/* Give the scheduler a turn, or end if an exit signal came (core.yield;
 * mb.send and mb.receive once the slice is used up): the keep values on
 * top are what the resume returns (MBB_WAKE_KEPT). Where no yield reaches
 * the scheduler (the host thread's process, a coroutine of the process's
 * own, mb.blocking's fn, Lua a C function called) the slice's budget
 * starts again instead, and they are returned at once (message_api.c). */
int mbb_give_turn(lua_State *L, mb_proc *self, int keep);

/* mb.receive (receive_api.c), and its end when the process is woken from
 * its wait: how many values the resume returns; -1: no resume (p->yield
 * says why: it waits on, or it is exiting). In the slice, as p's code. */
int mbb_receive(lua_State *L);
int mbb_receive_on_wake(mb_proc *p);
/* Push moonbeam.core's own field name (init.lua's functions the C side
 * calls: _table_dest, _take_code), or nil; a raw look (core.c). */
void mbb_push_core_field(lua_State *L, const char *name);
/* Take the message m out of p's save queue (prev: the one before it). */
void mbb_take_msg(mb_proc *p, mb_msg *prev, mb_msg *m);

/* Note where the process stops ("file:line" outside moonbeam's modules),
 * for info.current_function. On the process's own thread (where.c). */
void mbb_note_where(lua_State *L, mb_proc *p);
/* Read where a waiting process waits (taking it over for the moment, then
 * making it runnable; `from`: the caller's scheduler, or NULL). Does
 * nothing to a process that is not waiting, or has no Lua stack. */
void mbb_inspect_where(mb_proc *p, mb_sched *from);

/* Shared tables' results (table_api.c): the process's buffer a table
 * operation copies them into, emptied, and the decoding of the term at *q
 * (before end), advancing *q. */
mb_buf *mbb_tab_out(lua_State *L);
/* The results in b read: the process's buffer free for the next call. */
void mbb_tab_out_done(lua_State *L, mb_buf *b);
void mbb_push_stored(lua_State *L, const uint8_t **q, const uint8_t *end);

/* Each API area's C functions (NULL-terminated), for moonbeam.core, which
 * binds each on its first look-up (core.c). The raw forms of what
 * moonbeam's Lua side wraps (init.lua, api_rest.lua) are named _c_*: its
 * Lua functions own the API's names. */
extern const luaL_Reg mbb_process_fns[], mbb_message_fns[], mbb_names_fns[], mbb_timers_fns[],
    mbb_blocking_fns[], mbb_call_fns[], mbb_supervisor_fns[], mbb_console_fns[], mbb_shutdown_fns[],
    mbb_table_fns[], mbb_net_fns[], mbb_net_io_fns[], mbb_port_fns[], mbb_log_fns[], mbb_registry_fns[],
    mbb_reload_fns[], mbb_peek_fns[], mbb_dist_fns[], mbb_terms_fns[], mbb_gen_fns[];
/* moonbeam.net's and moonbeam.port's requests to the I/O thread (net_api.c):
 * the socket or port at idx (kind MB_VALUE_SOCKET or MB_VALUE_PORT), else
 * an error naming fn; a new request, raising on OOM; post r and push the
 * ref its answer will carry (r is taken). */
uint64_t mbb_check_io(lua_State *L, int idx, int kind, const char *fn);
mb_io_req *mbb_io_req(lua_State *L, mb_io_op op, size_t len, const char *fn);
int mbb_io_post(lua_State *L, mb_io_req *r, const char *fn);
/* Post op on handle h; the same carrying the string at idx (else raise). */
int mbb_io_post_on(lua_State *L, mb_io_op op, uint64_t h, const char *fn);
int mbb_io_post_data(lua_State *L, mb_io_op op, uint64_t h, int idx, const char *fn);
/* The name of a {name, node} of another node at idx, as an atom can carry
 * it (dist_api.c); raises under fn. */
const char *mbb_remote_name(lua_State *L, int idx, size_t *n, const char *fn);
/* The node name (name@host) at idx (dist_api.c); raises under fn. */
const char *mbb_check_node(lua_State *L, int idx, const char *fn);
/* Raise, naming fn, at a key of the table at idx that is not in known
 * (NULL-ended): an option the call does not take, misspelt or not. */
void mbb_check_known(lua_State *L, int idx, const char *const *known, const char *fn);
/* Send self->scratch to a pid of another node (dist_api.c): 0, or raises. */
int mbb_dist_send(lua_State *L, mb_proc *self, mb_pid dest, const char *what);   /* what: "send: msg" */
/* link (on) or unlink a remote pid: the local half here, the remote half
 * on its node; a link that cannot be made breaks with "noconnection".
 * Pushes true. */
int mbb_dist_link(lua_State *L, mb_proc *self, mb_pid other, bool on);
/* A call (core.call_send's: label at 2, request at 3) to a pid of another
 * node, or (server 0) to the process registered as name on node: pushes
 * the ref its reply will carry, over and true; or nil and the error of a
 * request that cannot be sent ("req: ..."), as a local call's. */
int mbb_dist_call(lua_State *L, mb_proc *self, mb_pid server, const char *name, const char *node);
/* mb.monitor of a process of another node: a pid (server), or name on
 * node; pushes the ref (dist_api.c). */
int mbb_dist_monitor(lua_State *L, mb_proc *self, mb_pid server, const char *name, const char *node);
/* gen.reply to a caller of another node: {Tag, value at idx} (dist_api.c),
 * nil as the atom nil; an unsendable value raises "<fn>: value: ...". */
int mbb_dist_reply(lua_State *L, mb_proc *self, mb_pid caller, mb_ref tag, int idx, const char *fn);

/* Replace exit in the os table at idx with moonbeam's (shutdown.lua): the
 * whole host ends in order. The function it replaces is kept for a host's
 * own thread to end with. */
void mbb_install_exit(lua_State *L, int idx);
/* os.execute in a process's state: system()'s result, without its
 * ignoring SIGINT in the whole host meanwhile (os_execute.c). */
int mbb_os_execute(lua_State *L);
/* collectgarbage in a process's state: LuaJIT's, but a process that must
 * end ends there (a compiled loop around it never met a kill: collectgarbage.c). */
int mbb_collectgarbage(lua_State *L);

/* Embedded bytecode of the Lua modules every process may require. */
typedef struct mbb_embedded {
    const char *name;
    const unsigned char *code;
    size_t size;
} mbb_embedded;
extern const mbb_embedded mbb_embedded_modules[];   /* sorted by name, as strcmp */
extern const size_t mbb_n_embedded;
const mbb_embedded *mbb_find_embedded(const char *name);
/* Put one searcher right after package.preload that finds moonbeam.core,
 * the embedded modules and the standard libraries: the built-in copy is
 * always the one loaded, and a state pays for one function, not a preload
 * entry per module. */
void mbb_install_searcher(lua_State *L);
/* luaopen_* of a standard library by name, or NULL. */
lua_CFunction mbb_stdlib_opener(const char *name);
/* The loader the built-in searcher gives for name, or NULL. */
lua_CFunction mbb_builtin_loader(const char *name);

int luaopen_moonbeam_core(lua_State *L);
int mbb_slice_budget(void);

#endif
