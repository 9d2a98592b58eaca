/* dist_api.c: the node's Lua API (docs/reference.md, "Nodes"): mb.node,
 * mb.nodes, and the request behind mb.connect (lua/moonbeam/init.lua waits
 * for its answer). */
#include <string.h>
#include "bindings.h"
#include "core/call.h"
#include "core/signal.h"
#include "dist/dist.h"
#include "dist/dist_term.h"
#include "term_kinds.h"

static const char *node_of(mb_dist *d, mb_pid server, char where[256]);

/* core.node([pid]) -> this node's name, "nonode@nohost" when not
 * distributed (as Erlang's node()); with a pid, the node it runs on (nil
 * for a remote pid this node no longer knows). */
static int l_node(lua_State *L) {
    mb_dist *d = mb_dist_of(mbb_self(L)->rt);
    mb_pid pid = lua_isnoneornil(L, 1) ? 0 : mbb_check_pid(L, 1, "node");
    char where[256];
    if (pid && mb_pid_is_remote(pid)) {
        const char *node = node_of(d, pid, where);
        if (node) lua_pushstring(L, node);
        else lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, d ? mb_dist_node(d) : "nonode@nohost");
    return 1;
}

/* core.nodes([kind]) -> the names of the connected nodes of that kind:
 * "visible" (the default), "hidden" or "connected" (both), as nodes/1. */
static int l_nodes(lua_State *L) {
    static const char *const kinds[] = {"visible", "hidden", "connected", NULL};
    static const mb_nodes_kind kind_of[] = {MB_NODES_VISIBLE, MB_NODES_HIDDEN, MB_NODES_CONNECTED};
    int k = 0;
    if (!lua_isnoneornil(L, 1)) {
        const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : "";
        while (kinds[k] && strcmp(kinds[k], s) != 0) k++;
        if (!kinds[k]) mbb_raisef(L, "nodes: kind must be \"visible\", \"hidden\" or \"connected\"");
    }
    mb_dist *d = mb_dist_of(mbb_self(L)->rt);
    size_t n = 0, cap = 1024, need;
    char *names = NULL;
    /* Into a buffer Lua owns (a raise frees it), grown while nodes come. */
    while (d && (need = mb_dist_nodes(d, kind_of[k], names = lua_newuserdata(L, cap), cap, &n)) > cap) {
        lua_pop(L, 1);
        cap = need * 2;
    }
    lua_createtable(L, (int)n, 0);
    const char *p = names;
    for (size_t i = 0; i < n; i++, p += strlen(p) + 1) {
        lua_pushstring(L, p);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* Why s (n bytes) is no node name, or NULL: name@host as Erlang splits it
 * (at the first '@', neither part empty), an atom (UTF-8; here 255 bytes
 * at most, as a node name is kept) and a C string (no NUL to cut it). */
static const char *node_name_fault(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    if (!at) return "it has no '@'";
    if (at == s) return "its name (before '@') is empty";
    if (at == s + n - 1) return "its host (after '@') is empty";
    if (memchr(s, '\0', n)) return "it holds a NUL byte";
    if (n > 255 || !mb_etf_atom_fits(s, n)) return "it is no atom (UTF-8 of 255 bytes at most)";
    return NULL;
}

/* The node name at idx, else raises under fn: a malformed name is a
 * mistake to report, not a node that merely cannot be reached (which
 * would answer false, a nodedown or a dropped message, silently). */
const char *mbb_check_node(lua_State *L, int idx, const char *fn) {
    if (lua_type(L, idx) != LUA_TSTRING)
        mbb_raisef(L, "%s: a node name (string) expected, got %s", fn, luaL_typename(L, idx));
    size_t n;
    const char *node = lua_tolstring(L, idx, &n);
    const char *fault = node_name_fault(node, n);
    if (fault) mbb_raisef(L, "%s: node must be name@host: %s", fn, fault);
    return node;
}

/* core.dist_check_node(node, fn): mbb_check_node for moonbeam's Lua (a
 * {name, node} that whereis, exit and gen_server take there). */
static int l_dist_check_node(lua_State *L) {
    mbb_check_node(L, 1, luaL_checkstring(L, 2));
    return 0;
}

/* core.dist_connect(node) -> true (this node), false (not distributed, or
 * node is no node name: as Erlang's net_kernel:connect_node, and the
 * contract's "true or false"), or the ref whose reply answers. */
static int l_dist_connect(lua_State *L) {
    if (lua_type(L, 1) != LUA_TSTRING)
        return mbb_raisef(L, "connect: a node name (string) expected, got %s", luaL_typename(L, 1));
    size_t n;
    const char *node = lua_tolstring(L, 1, &n);
    mb_proc *self = mbb_self(L);
    mb_dist *d = mb_dist_of(self->rt);
    if (!d || node_name_fault(node, n)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (strcmp(node, mb_dist_node(d)) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    mb_pid chain[MB_MAX_CHAIN];
    mb_ref ref = mb_make_ref(self->rt);
    mb_call_begin(self, 0, ref, chain);   /* no server: no cycle can form */
    if (mb_dist_connect(d, node, self->pid, ref)) {
        mb_call_end(self);
        lua_pushboolean(L, 0);
        return 1;
    }
    mbb_push_ref(L, ref);
    return 1;
}

/* core.monitor_node(node, [flag]) -> true: with flag true (the default),
 * one {"nodedown", node} message when the connection to node drops (at
 * once when it cannot be made, or this host is not a node; never for this
 * node itself); false takes one such monitor away. */
static int l_monitor_node(lua_State *L) {
    const char *node = mbb_check_node(L, 1, "monitor_node");
    if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TBOOLEAN)
        return mbb_raisef(L, "monitor_node: flag must be a boolean, got %s", luaL_typename(L, 2));
    bool on = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
    mb_proc *self = mbb_self(L);
    mb_dist *d = mb_dist_of(self->rt);
    /* This node never goes down, to itself: nothing to watch (as Erlang's
     * monitor_node(node(), true)), and no connection to itself to try. */
    if (strcmp(node, d ? mb_dist_node(d) : "nonode@nohost") == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (on && (!d || mb_dist_monitor_node(d, node, self->pid, true))) {
        if (mb_dist_send_nodedown(self->rt, self->pid, node)) return mbb_raisef(L, "monitor_node: out of memory");
    } else if (!on && d) {
        mb_dist_monitor_node(d, node, self->pid, false);   /* fails only when the host stops */
    }
    lua_pushboolean(L, 1);
    return 1;
}

static void monitor_with(lua_State *L, mb_proc *self, mb_dist *d, mb_pid server, const char *name,
                         const char *node, mb_ref ref, bool call);
static const char *node_of(mb_dist *d, mb_pid server, char where[256]);

/* A frame's length, into its first 4 bytes. */
static void fill_len(mb_buf *b) {
    size_t n = b->len - 4;
    b->p[0] = (uint8_t)(n >> 24), b->p[1] = (uint8_t)(n >> 16), b->p[2] = (uint8_t)(n >> 8), b->p[3] = (uint8_t)n;
}

/* b holds a frame's length (to fill), 'p' and a control message (and,
 * without version, the start of the message): append the term in
 * self->scratch, and hand the frame to the connection with
 * node (taking b's bytes). Raises when the message holds what cannot
 * cross (a function, a shared table...). */
/* Append the term in self->scratch to the frame in b (its version first
 * when version): NULL, or what it holds that cannot cross ("out of memory"
 * when that failed; b is freed then). */
static const char *append_term(mb_proc *self, mb_dist *d, mb_buf *b, bool version) {
    const char *why = NULL;
    mb_span msg = {self->scratch.p, self->scratch.len};
    if (version && mb_etf_put_version(b)) why = "out of memory";
    else mb_dist_to_etf(mb_dist_me(d), msg, b, &why);
    if (why) mb_buf_free(b);
    return why;
}

/* Hand the whole frame in b to the connection with node (taking b's bytes). */
static void send_built(mb_dist *d, mb_proc *self, const char *node, mb_buf *b) {
    fill_len(b);
    mb_dist_send_frame(d, self, node, b->p, b->len);   /* fails only when the host stops: dropped */
    mb_buf_init(b);
}

/* what: the message's name in an error ("send: msg"). */
static void send_frame(lua_State *L, mb_proc *self, mb_dist *d, const char *node, mb_buf *b, bool version,
                       const char *what) {
    const char *why = append_term(self, d, b, version);
    if (why) mbb_raisef(L, "%s: cannot go to another node: it holds %s", what, why);
    send_built(d, self, node, b);
}

/* The frame's start: length to fill, pass-through byte, version. */
static int frame_head(mb_buf *b) {
    static const uint8_t head[6] = {0, 0, 0, 0, 112, MB_ETF_VERSION};
    return mb_buf_put(b, head, sizeof head);
}

int mbb_dist_send(lua_State *L, mb_proc *self, mb_pid dest, const char *what) {
    mb_dist *d = mb_dist_of(self->rt);
    mb_remote r;
    char node[256];
    /* Not a node, or a pid this node no longer knows: dropped, as to a dead pid. */
    if (!d || !mb_nodetab_get(mb_dist_me(d)->tab, dest, &r) ||
        !mb_nodetab_node_name(mb_dist_me(d)->tab, r.node, node, sizeof node) || r.node == 0)
        return 0;
    mb_buf b;
    mb_buf_init(&b);
    /* SEND: {2, '', To} */
    if (frame_head(&b) || mb_etf_put_tuple(&b, 3) || mb_etf_put_int(&b, 2) || mb_etf_put_atom(&b, "", 0) ||
        mb_dist_put_pid(mb_dist_me(d), &b, dest)) {
        mb_buf_free(&b);
        return mbb_raisef(L, "send: out of memory");
    }
    send_frame(L, self, d, node, &b, true, what);
    return 0;
}

int mbb_dist_link(lua_State *L, mb_proc *self, mb_pid other, bool on) {
    mb_dist *d = mb_dist_of(self->rt);
    lua_pushboolean(L, 1);
    if (!on) {
        mb_unlink(self, other);
        if (d) mb_dist_link_signal(d, MB_DIST_UNLINK, self->pid, other, 0, NULL, 0);   /* fails only when the host stops */
        return 1;
    }
    int rc = mb_link(self, other);
    if (rc == MB_LINK_NOMEM) return mbb_raisef(L, "link: out of memory");
    if (rc == MB_LINK_OK && d && mb_dist_link_signal(d, MB_DIST_LINK, self->pid, other, 0, NULL, 0) == 0) return 1;
    /* Not a node, or the host stops: the link breaks at once, as one
     * whose connection cannot be made. */
    mb_small_term why = mb_small_str("noconnection");
    if (mb_send(self->rt, mbb_sched(self), other, self->pid, MB_SIG_LINK_EXIT, 0, why.b, why.n) < 0)
        return mbb_raisef(L, "link: out of memory");
    return 1;
}

int mbb_dist_reply(lua_State *L, mb_proc *self, mb_pid caller, mb_ref tag, int idx, const char *fn) {
    /* A nil reply leaves as the atom nil: Elixir's nil, and nil again in a
     * moonbeam caller (moonbeam.gen's remote_reply). */
    if (lua_isnil(L, idx)) {
        if (idx < 0) idx += lua_gettop(L) + 1;
        mbb_push_atom(L, "nil", 3);
        lua_replace(L, idx);
    }
    char what[64];
    snprintf(what, sizeof what, "%s: value", fn);
    mbb_encode_or_raise(L, self, idx, what);
    mb_dist *d = mb_dist_of(self->rt);
    mb_remote r;
    char node[256];
    if (!d || !mb_nodetab_get(mb_dist_me(d)->tab, caller, &r) ||
        !mb_nodetab_node_name(mb_dist_me(d)->tab, r.node, node, sizeof node) || r.node == 0)
        return 0;   /* a caller this node no longer knows: dropped */
    mb_buf b;
    mb_buf_init(&b);
    /* To a call tagged [alias | Ref] (OTP 24+), ALIAS_SEND {33, Self, Ref}:
     * a reply after the caller's timeout is dropped by its node, as OTP's
     * gen_server's is, instead of landing in the caller's mailbox; else
     * SEND {2, '', Caller}. Then {Tag, Reply}: send_frame adds the reply. */
    mb_ref alias;
    bool to_alias = mb_dist_alias_of(mb_dist_me(d), tag, &alias);
    if (frame_head(&b) || mb_etf_put_tuple(&b, 3) ||
        (to_alias ? mb_etf_put_int(&b, 33) || mb_dist_put_pid(mb_dist_me(d), &b, self->pid) ||
                        mb_dist_put_ref(mb_dist_me(d), &b, alias)
                  : mb_etf_put_int(&b, 2) || mb_etf_put_atom(&b, "", 0) ||
                        mb_dist_put_pid(mb_dist_me(d), &b, caller)) ||
        mb_etf_put_version(&b) || mb_etf_put_tuple(&b, 2) || mb_dist_put_tag(mb_dist_me(d), &b, tag)) {
        mb_buf_free(&b);
        return mbb_raisef(L, "reply: out of memory, or a call tag this node no longer knows");
    }
    send_frame(L, self, d, node, &b, false, what);
    return 0;
}

/* The call's frame, into b: SEND {2, '', Server} or REG_SEND {6, Self, '',
 * Name}; then {Label, {Self, Ref}, Req}, the label (at 2) an atom as
 * Erlang's gen expects, the request in self->scratch. NULL, or why it
 * cannot be made ("out of memory", or what the request holds that cannot
 * cross); b is freed then. */
static const char *call_frame(lua_State *L, mb_proc *self, mb_dist *d, mb_pid server, const char *name, mb_ref ref,
                              mb_buf *b) {
    size_t ln;
    const char *label = lua_tolstring(L, 2, &ln);
    const mb_dist_self *me = mb_dist_me(d);
    mb_buf_init(b);
    int bad = frame_head(b) || (server ? mb_etf_put_tuple(b, 3) || mb_etf_put_int(b, 2) ||
                                              mb_etf_put_atom(b, "", 0) || mb_dist_put_pid(me, b, server)
                                        : mb_etf_put_tuple(b, 4) || mb_etf_put_int(b, MB_DIST_REG_SEND) ||
                                              mb_dist_put_pid(me, b, self->pid) || mb_etf_put_atom(b, "", 0) ||
                                              mb_etf_put_atom(b, name, strlen(name))) ||
              mb_etf_put_version(b) || mb_etf_put_tuple(b, 3) || mb_etf_put_atom(b, label, ln) ||
              mb_etf_put_tuple(b, 2) || mb_dist_put_pid(me, b, self->pid) || mb_dist_put_call_tag(me, b, ref);
    if (bad) {
        mb_buf_free(b);
        return "out of memory";
    }
    return append_term(self, d, b, false);
}

int mbb_dist_call(lua_State *L, mb_proc *self, mb_pid server, const char *name, const char *node) {
    if (lua_isnoneornil(L, 3)) {   /* Erlang has no nil: the caller names its call (moonbeam.gen) */
        lua_pushnil(L);
        lua_pushliteral(L, "req: cannot go to another node: it is nil");
        return 2;
    }
    mb_encode_err err;
    self->scratch.len = 0;
    if (mb_encode(L, 3, "req", &self->scratch, atomic_load(&self->rt->max_message_size), &err)) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);   /* the caller names its call (moonbeam.gen) */
        return 2;
    }
    mb_dist *d = mb_dist_of(self->rt);
    mb_ref ref = mb_make_ref(self->rt);
    /* The frame is made before anything is set up: what Erlang's format
     * cannot carry (a function, NaN) is the caller's to name, as a req that
     * cannot be sent at all. */
    char where[256];
    if (server) node = node_of(d, server, where);
    mb_buf frame;
    mb_buf_init(&frame);
    const char *why = NULL;
    if (d && node) {
        why = call_frame(L, self, d, server, name, ref, &frame);
    } else if (d) {   /* nowhere to send it (noconnection comes): the request is still the caller's to name */
        why = append_term(self, d, &frame, false);
        if (!why) mb_buf_free(&frame);
    }
    if (why && strcmp(why, "out of memory") == 0) return mbb_raisef(L, "call: out of memory");
    if (why) {
        lua_pushnil(L);
        lua_pushfstring(L, "req: cannot go to another node: it holds %s", why);
        return 2;
    }
    mb_pid chain[MB_MAX_CHAIN];
    mb_call_begin(self, 0, ref, chain);   /* across nodes no wait-for graph: no cycle is seen */
    /* The server is monitored under the call's ref, as a local call's is:
     * its DOWN (noproc, its exit, noconnection) ends the wait. */
    monitor_with(L, self, d, server, name, node, ref, true);
    /* Not a node, or a pid this node no longer knows: nothing is sent
     * (there is no node to write our pid for); the monitor's DOWN
     * noconnection is already there. */
    if (d && node) send_built(d, self, node, &frame);
    mbb_push_ref(L, ref);
    lua_pushboolean(L, --self->budget <= 0 || self->dying);
    lua_pushboolean(L, 1);   /* remote: the caller demonitors when done */
    return 3;
}

/* The name of a {name, node} of another node: as a name here is (not
 * empty, no NUL: a C string would cut it and reach another process) and
 * as an atom is (well-formed UTF-8, which Erlang drops the connection
 * over otherwise; here 255 bytes at most). Raises under fn. */
const char *mbb_remote_name(lua_State *L, int idx, size_t *n, const char *fn) {
    const char *name = luaL_checklstring(L, idx, n);
    if (*n == 0 || memchr(name, '\0', *n)) mbb_raisef(L, "%s: name must be a non-empty string without NUL bytes", fn);
    if (*n > 255 || !mb_etf_atom_fits(name, *n))
        mbb_raisef(L, "%s: a name on another node is an atom: UTF-8 of 255 bytes at most", fn);
    return name;
}

/* core.dist_call_named(name, node, label, req) -> ref, over: a call to the
 * process registered as name on another node (gen.lua). */
static int l_dist_call_named(lua_State *L) {
    mb_proc *self = mbb_self(L);
    char name[256], node[256];
    size_t nn;
    const char *n = mbb_remote_name(L, 1, &nn, "gen_server.call"), *at = mbb_check_node(L, 2, "gen_server.call");
    luaL_checktype(L, 3, LUA_TSTRING);
    bool usable = mb_dist_of(self->rt) != NULL;
    snprintf(name, sizeof name, "%s", n);
    snprintf(node, sizeof node, "%s", at);
    /* label and req at 2 and 3, as call_send has them */
    lua_remove(L, 1);
    lua_pushnil(L);
    lua_replace(L, 1);
    return mbb_dist_call(L, self, 0, name, usable ? node : NULL);
}

/* A MONITOR_P (op 19) or DEMONITOR_P (20) frame {op, Self, To, Ref}: To
 * the remote pid server, or the atom name. */
static int monitor_frame(mb_dist *d, mb_buf *b, int op, mb_pid self, mb_pid server, const char *name, mb_ref ref) {
    const mb_dist_self *me = mb_dist_me(d);
    if (frame_head(b) || mb_etf_put_tuple(b, 4) || mb_etf_put_int(b, op) || mb_dist_put_pid(me, b, self) ||
        (server ? mb_dist_put_pid(me, b, server) : mb_etf_put_atom(b, name, strlen(name))) ||
        mb_dist_put_ref(me, b, ref))
        return -1;
    fill_len(b);
    return 0;
}

/* A monitor under ref of server (a remote pid) or name on node, for
 * self (a call's when call); when it cannot be made, its DOWN
 * "noconnection" at once. */
static void monitor_with(lua_State *L, mb_proc *self, mb_dist *d, mb_pid server, const char *name,
                         const char *node, mb_ref ref, bool call) {
    /* What the DOWN names: the pid, or {name, node}. */
    mb_buf target, mon, demon;
    mb_buf_init(&target), mb_buf_init(&mon), mb_buf_init(&demon);
    int bad = server ? mb_put_id(&target, MB_T_PID, server)
                     : mb_put_tuple_head(&target, 2) || mb_put_string(&target, name, strlen(name)) ||
                           mb_put_string(&target, node ? node : "", node ? strlen(node) : 0);
    if (!bad && d && node)
        bad = monitor_frame(d, &mon, 19, self->pid, server, name, ref) ||
              monitor_frame(d, &demon, 20, self->pid, server, name, ref);
    if (bad) {
        mb_buf_free(&target), mb_buf_free(&mon), mb_buf_free(&demon);
        mbb_raisef(L, "monitor: out of memory");
    }
    /* Not a node, a pid it no longer knows, or the host stops: DOWN noconnection at once. */
    if (!d || !node || mb_dist_monitor(d, self, node, self->pid, ref, call, target.p, target.len, mon.p, mon.len, demon.p, demon.len)) {
        if (d && node) mb_buf_init(&mon), mb_buf_init(&demon);   /* taken and freed */
        mb_buf why;
        mb_buf_init(&why);
        if (mb_put_tuple_head(&why, 5) || mb_put_string(&why, "DOWN", 4) || mb_put_id(&why, MB_T_REF, ref) ||
            mb_put_string(&why, "process", 7) || mb_buf_put(&why, target.p, target.len) ||
            mb_put_string(&why, "noconnection", 12) ||
            mb_send(self->rt, mbb_sched(self), 0, self->pid, call ? MB_MSG_CALL_DOWN : MB_MSG_DOWN, ref, why.p,
                    why.len) < 0) {
            mb_buf_free(&why), mb_buf_free(&target), mb_buf_free(&mon), mb_buf_free(&demon);
            mbb_raisef(L, "monitor: out of memory");
        }
        mb_buf_free(&why);
        mb_buf_free(&mon), mb_buf_free(&demon);
    }
    mb_buf_free(&target);
}

/* The node of a remote pid, into where; NULL when unknown. */
static const char *node_of(mb_dist *d, mb_pid server, char where[256]) {
    mb_remote r;
    if (server && d && mb_nodetab_get(mb_dist_me(d)->tab, server, &r) &&
        mb_nodetab_node_name(mb_dist_me(d)->tab, r.node, where, 256) && r.node != 0)
        return where;
    return NULL;
}

int mbb_dist_monitor(lua_State *L, mb_proc *self, mb_pid server, const char *name, const char *node) {
    mb_dist *d = mb_dist_of(self->rt);
    mb_ref ref = mb_make_ref(self->rt);
    char where[256];
    if (server) node = node_of(d, server, where);
    monitor_with(L, self, d, server, name, node, ref, false);
    mbb_push_ref(L, ref);
    return 1;
}

/* core.dist_monitor_named(name, node) -> ref: a monitor of the process
 * registered as name on another node (mb.monitor({name, node})). */
static int l_dist_monitor_named(lua_State *L) {
    size_t nn;
    const char *name = mbb_remote_name(L, 1, &nn, "monitor"), *node = mbb_check_node(L, 2, "monitor");
    return mbb_dist_monitor(L, mbb_self(L), 0, name, node);
}

/* core.dist_send_named(name, node, msg): msg to the process registered as
 * name on another node (mb.send({name, node}, msg) in init.lua). */
static int l_dist_send_named(lua_State *L) {
    mb_proc *self = mbb_self(L);
    size_t nn;
    const char *name = mbb_remote_name(L, 1, &nn, "send"), *node = mbb_check_node(L, 2, "send");
    if (lua_isnoneornil(L, 3)) return mbb_raisef(L, "send: a message cannot be nil");
    mbb_encode_or_raise(L, self, 3, "send: msg");
    mb_dist *d = mb_dist_of(self->rt);
    if (!d) return 0;   /* not a node: dropped */
    mb_buf b;
    mb_buf_init(&b);
    /* REG_SEND: {6, From, '', Name} */
    if (frame_head(&b) || mb_etf_put_tuple(&b, 4) || mb_etf_put_int(&b, 6) ||
        mb_dist_put_pid(mb_dist_me(d), &b, self->pid) || mb_etf_put_atom(&b, "", 0) ||
        mb_etf_put_atom(&b, name, nn)) {
        mb_buf_free(&b);
        return mbb_raisef(L, "send: a name of 1 to 255 characters expected");
    }
    send_frame(L, self, d, node, &b, true, "send: msg");
    return 0;
}

const luaL_Reg mbb_dist_fns[] = {{"node", l_node},
                                   {"nodes", l_nodes},
                                   {"dist_connect", l_dist_connect},
                                   {"dist_check_node", l_dist_check_node},
                                   {"monitor_node", l_monitor_node},
                                   {"dist_send_named", l_dist_send_named},
                                   {"dist_call_named", l_dist_call_named},
                                   {"dist_monitor_named", l_dist_monitor_named},
                                   {NULL, NULL}};
