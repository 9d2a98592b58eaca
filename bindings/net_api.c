/* net_api.c: moonbeam.net's requests to the sockets' loops (host/core/io.h).
 * Each function checks its arguments, builds a request, marks its ref as
 * the awaited reply (call.h) and posts it; lua/moonbeam/net.lua waits for
 * the answer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bindings.h"
#include "core/call.h"
#include "core/signal.h"
#include "core/io.h"

uint64_t mbb_check_io(lua_State *L, int idx, int kind, const char *fn) {
    uint64_t v = lua_type(L, idx) == LUA_TLIGHTUSERDATA ? (uint64_t)(uintptr_t)lua_touserdata(L, idx) : 0;
    if ((int)mb_value_kind(v) != kind)
        mbb_raisef(L, "%s: a %s expected, got %s", fn, kind == MB_VALUE_PORT ? "port" : "socket",
                   mb_value_kind(v) == MB_VALUE_PORT     ? "a port"
                   : mb_value_kind(v) == MB_VALUE_SOCKET ? "a socket"
                                                         : luaL_typename(L, idx));
    return v;
}

static uint64_t check_sock(lua_State *L, int idx, const char *fn) { return mbb_check_io(L, idx, MB_VALUE_SOCKET, fn); }

/* A socket or, for the steps of controlling_process, a port: what fn
 * (net.* or port.*) takes. */
static uint64_t check_sock_or_port(lua_State *L, int idx, const char *fn) {
    return mbb_check_io(L, idx, strncmp(fn, "port.", 5) == 0 ? MB_VALUE_PORT : MB_VALUE_SOCKET, fn);
}

mb_io_req *mbb_io_req(lua_State *L, mb_io_op op, size_t len, const char *fn) {
    mb_io_req *r = mb_io_req_new(op, len);
    if (!r) mbb_raisef(L, "%s: out of memory", fn);
    return r;
}
int mbb_io_post(lua_State *L, mb_io_req *r, const char *fn) {
    mb_proc *self = mbb_self(L);
    mb_pid chain[MB_MAX_CHAIN];
    /* A pool thread or a coroutine of the process's own cannot wait for
     * the answer (a wait there raises, message_api.c): refused before the
     * request goes, not after its loop did the work (a recv's data, an
     * accepted socket, a started program) for an answer nobody would take.
     * Every request, as whether one is answered at once depends on where
     * its socket lives and how full its buffer is. */
    if (mbb_push_cannot_wait(L, self, "call it")) {
        mb_io_req_free(r);
        return mbb_raisef(L, "%s: %s", fn, lua_tostring(L, -1));
    }
    r->pid = self->pid;
    r->ref = mb_make_ref(self->rt);
    mb_call_begin(self, 0, r->ref, chain);   /* no server: no cycle can form */
    mb_ref ref = r->ref;
    if (mb_io_submit(self, r)) {
        mb_call_end(self);
        return mbb_raisef(L, "%s: the host is stopping", fn);
    }
    mbb_push_ref(L, ref);
    return 1;
}

/* Whether the value at idx is an integer from lo to hi. */
static bool is_int_in(lua_State *L, int idx, lua_Number lo, lua_Number hi) {
    lua_Number n = lua_tonumber(L, idx);
    return lua_type(L, idx) == LUA_TNUMBER && n >= lo && n <= hi && n == floor(n);
}

/* Every key of the table at idx is a name in known (NULL-ended): a
 * misspelt option, or one the call does not take, raises, as gen_tcp's
 * badarg, rather than being left unread. */
void mbb_check_known(lua_State *L, int idx, const char *const *known, const char *fn) {
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        bool found = false;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (size_t i = 0; known[i] && !found; i++) found = strcmp(lua_tostring(L, -2), known[i]) == 0;
        if (found) continue;
        if (lua_type(L, -2) == LUA_TSTRING) mbb_raisef(L, "%s: unknown option '%s'", fn, lua_tostring(L, -2));
        mbb_raisef(L, "%s: opts keys are option names, got a %s key", fn, luaL_typename(L, -2));
    }
}

/* The options each call takes (docs/reference.md): udp_open checks the
 * listener's and refuses those UDP has not with its own message. */
static const char *const LISTEN_OPTS[] = {"active", "packet", "high_watermark", "backlog", "reuseaddr",
                                          "path", "host", NULL};
static const char *const CONNECT_OPTS[] = {"active", "packet", "high_watermark", "path", NULL};
static const char *const SETOPTS_OPTS[] = {"active", "packet", "high_watermark", NULL};

/* opts.active, packet, high_watermark, backlog, reuseaddr into o. */
static void check_opts(lua_State *L, int idx, mb_io_opts *o, const char *const *known, const char *fn) {
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx)) mbb_raisef(L, "%s: opts must be a table, got %s", fn, luaL_typename(L, idx));
    mbb_check_known(L, idx, known, fn);
    lua_getfield(L, idx, "active");
    if (lua_type(L, -1) == LUA_TBOOLEAN) o->active = lua_toboolean(L, -1) ? MB_IO_ACTIVE_TRUE : 0;
    else if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "once") == 0) o->active = 1, o->once = true;
    else if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 1 && lua_tonumber(L, -1) <= 1e9 &&
             lua_tonumber(L, -1) == (int)lua_tonumber(L, -1))
        o->active = (int)lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1))
        mbb_raisef(L, "%s: active must be true, false, \"once\" or a count from 1 to 10^9", fn);
    lua_getfield(L, idx, "packet");
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "raw") == 0) o->packet = 0;
    else if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "line") == 0) o->packet = MB_IO_PACKET_LINE;
    else if (lua_type(L, -1) == LUA_TNUMBER && (lua_tonumber(L, -1) == 1 || lua_tonumber(L, -1) == 2 ||
                                                 lua_tonumber(L, -1) == 4))
        o->packet = (int)lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1)) mbb_raisef(L, "%s: packet must be \"raw\", \"line\", 1, 2 or 4", fn);
    /* Integers only: a fraction is refused, never truncated. */
    lua_getfield(L, idx, "high_watermark");
    if (is_int_in(L, -1, 1, 1e12)) o->high_watermark = (long)lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1)) mbb_raisef(L, "%s: high_watermark must be an integer number of bytes from 1 to 10^12", fn);
    lua_getfield(L, idx, "backlog");
    if (is_int_in(L, -1, 1, 65535)) o->backlog = (int)lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1)) mbb_raisef(L, "%s: backlog must be an integer from 1 to 65535", fn);
    lua_getfield(L, idx, "reuseaddr");
    if (lua_type(L, -1) == LUA_TBOOLEAN) o->reuseaddr = lua_toboolean(L, -1);
    else if (!lua_isnil(L, -1)) mbb_raisef(L, "%s: reuseaddr must be a boolean", fn);
    lua_pop(L, 5);
}

/* The host name or address at idx, a string: one with a NUL byte raises
 * (getaddrinfo would read it cut there, and reach another host). */
static const char *host_at(lua_State *L, int idx, const char *fn) {
    size_t n;
    const char *host = lua_tolstring(L, idx, &n);
    if (strlen(host) != n) mbb_raisef(L, "%s: host must be a string without NUL bytes", fn);
    return host;
}

/* Where to listen or connect: opts.path, or host and port. */
static int check_place(lua_State *L, mb_io_req *r, int host_idx, int port_idx, int opts_idx, const char *fn) {
    const char *host = NULL;
    if (opts_idx && lua_istable(L, opts_idx)) {   /* 0: no opts */
        lua_getfield(L, opts_idx, "path");
        if (lua_type(L, -1) == LUA_TSTRING) {
            size_t n;
            host = lua_tolstring(L, -1, &n);
            if (n == 0 || strlen(host) != n) return mbb_raisef(L, "%s: path must be a non-empty string without NUL", fn);
            r->path = true;
        } else if (!lua_isnil(L, -1)) {
            return mbb_raisef(L, "%s: path must be a non-empty string without NUL", fn);
        }
        if (!host && host_idx == 0) {
            lua_getfield(L, opts_idx, "host");
            if (lua_type(L, -1) == LUA_TSTRING) host = host_at(L, -1, fn);
            else if (!lua_isnil(L, -1)) return mbb_raisef(L, "%s: host must be a string", fn);
        }
    }
    if (!r->path) {
        if (host_idx) {
            if (lua_type(L, host_idx) != LUA_TSTRING)
                return mbb_raisef(L, "%s: host must be a string, got %s", fn, luaL_typename(L, host_idx));
            host = host_at(L, host_idx, fn);
        }
        lua_Number port = lua_type(L, port_idx) == LUA_TNUMBER ? lua_tonumber(L, port_idx) : -1;
        if (!(port >= (host_idx ? 1 : 0) && port <= 65535 && port == (int)port))
            return mbb_raisef(L, "%s: port must be a number from %d to 65535, got %s", fn, host_idx ? 1 : 0,
                              lua_type(L, port_idx) == LUA_TNUMBER ? lua_tostring(L, port_idx)
                                                                   : luaL_typename(L, port_idx));
        r->port = (int)port;
    }
    r->host = strdup(host ? host : "127.0.0.1");
    if (!r->host) return mbb_raisef(L, "%s: out of memory", fn);
    return 0;
}

/* Every argument is checked before the request is made: a raise after
 * would leak it. place: what check_place found. */
static int post_open(lua_State *L, mb_io_op op, mb_io_req *place, const mb_io_opts *o, const char *fn) {
    mb_io_req *r = mb_io_req_new(op, 0);
    if (!r) {
        free(place->host);
        return mbb_raisef(L, "%s: out of memory", fn);
    }
    r->host = place->host;
    r->port = place->port;
    r->path = place->path;
    r->opts = *o;
    return mbb_io_post(L, r, fn);
}

static int l_listen(lua_State *L) {
    mb_io_opts o = {MB_IO_UNSET, false, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET};
    check_opts(L, 2, &o, LISTEN_OPTS, "net.listen");
    mb_io_req place = {0};
    check_place(L, &place, 0, 1, 2, "net.listen");
    return post_open(L, MB_IO_LISTEN, &place, &o, "net.listen");
}

static int l_connect(lua_State *L) {
    mb_io_opts o = {MB_IO_UNSET, false, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET};
    check_opts(L, 3, &o, CONNECT_OPTS, "net.connect");
    bool path = false;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "path");
        path = !lua_isnil(L, -1);
        lua_pop(L, 1);
    }
    mb_io_req place = {0};
    check_place(L, &place, path ? 0 : 1, 2, 3, "net.connect");
    return post_open(L, MB_IO_CONNECT, &place, &o, "net.connect");
}

int mbb_io_post_on(lua_State *L, mb_io_op op, uint64_t h, const char *fn) {
    mb_io_req *r = mbb_io_req(L, op, 0, fn);
    r->handle = h;
    return mbb_io_post(L, r, fn);
}

int mbb_io_post_data(lua_State *L, mb_io_op op, uint64_t h, int idx, const char *fn) {
    if (lua_type(L, idx) != LUA_TSTRING)
        return mbb_raisef(L, "%s: data must be a string, got %s", fn, luaL_typename(L, idx));
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    mb_io_req *r = mbb_io_req(L, op, n, fn);
    memcpy(mb_io_req_data(r), s, n);
    r->handle = h;
    return mbb_io_post(L, r, fn);
}

/* A request on socket 1 with nothing else to it. */
static int on_sock(lua_State *L, mb_io_op op, const char *fn) { return mbb_io_post_on(L, op, check_sock(L, 1, fn), fn); }

static int l_accept(lua_State *L) { return on_sock(L, MB_IO_ACCEPT, "net.accept"); }
static int l_close(lua_State *L) { return on_sock(L, MB_IO_CLOSE, "net.close"); }

static int l_shutdown(lua_State *L) {
    if (lua_type(L, 2) != LUA_TSTRING || strcmp(lua_tostring(L, 2), "write") != 0)
        return mbb_raisef(L, "net.shutdown: how must be \"write\"");
    return on_sock(L, MB_IO_SHUTDOWN, "net.shutdown");
}

static int l_send(lua_State *L) {
    return mbb_io_post_data(L, MB_IO_SEND, check_sock(L, 1, "net.send"), 2, "net.send");
}

static int l_recv(lua_State *L) {
    uint64_t h = check_sock(L, 1, "net.recv");
    lua_Number n = 0;
    if (!lua_isnoneornil(L, 2)) {
        n = lua_type(L, 2) == LUA_TNUMBER ? lua_tonumber(L, 2) : -1;
        if (!(n >= 0) || isinf(n) || n != floor(n))
            return mbb_raisef(L, "net.recv: n must be a whole number >= 0");
        /* The bytes come back as one message: a larger n could only buffer
         * whatever the peer sends until memory runs out. */
        size_t max = atomic_load_explicit(&mbb_self(L)->rt->max_message_size, memory_order_relaxed);
        if (n > (lua_Number)max)
            return mbb_raisef(L, "net.recv: n must be at most %f bytes (the largest message)", (lua_Number)max);
    }
    mb_io_req *r = mbb_io_req(L, MB_IO_RECV, 0, "net.recv");
    r->handle = h;
    r->n = (size_t)n;
    return mbb_io_post(L, r, "net.recv");
}

/* core.net_take() -> n, ok, values...: the awaited answer (io_answer.h: a
 * list of ok and at most three values, n of them in all), taken from the
 * reply slot with the call then over; 0 while it has not come. Values on
 * the stack, not in a table: most requests are answered at once, and this
 * is their whole cost in Lua. */
static int l_take(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_signal_drain(self);
    mb_msg *m = self->replies.head;
    lua_pushinteger(L, 0);
    if (!m) return 1;
    int n = m->kind == MB_MSG_REPLY ? mb_decode_list(L, m->data, m->len, 0) : -1;
    mb_saveq_remove(&self->replies, NULL, m);
    free(m);
    if (n < 1 || n > 4) return mbb_raisef(L, "net: malformed answer");
    mb_call_end(self);
    lua_pushinteger(L, n);
    lua_replace(L, -n - 2);
    return n + 1;
}

/* core.net_cancel(s or nil, ref): the wait for ref timed out. */
static int l_cancel(lua_State *L) {
    uint64_t h = lua_isnil(L, 1) ? 0 : check_sock(L, 1, "net");
    mb_ref ref = mbb_check_ref(L, 2, "net");
    mb_io_req *r = mbb_io_req(L, MB_IO_CANCEL, 0, "net");
    r->handle = h;
    r->pid = mbb_self(L)->pid;
    r->ref = ref;
    if (mb_io_submit(mbb_self(L), r)) return mbb_raisef(L, "net: the host is stopping");
    return 0;
}

/* core.net_setopts(s, opts, [fn]): with fn, controlling_process's first
 * step (s as fn takes it: a socket or a port), answering the active mode
 * replaced; without, net.setopts on a socket. */
static int l_setopts(lua_State *L) {
    const char *fn = lua_isstring(L, 3) ? lua_tostring(L, 3) : "net.setopts";
    uint64_t h = check_sock_or_port(L, 1, fn);
    if (!lua_istable(L, 2)) return mbb_raisef(L, "%s: opts must be a table, got %s", fn, luaL_typename(L, 2));
    mb_io_opts o = {MB_IO_UNSET, false, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET};
    check_opts(L, 2, &o, SETOPTS_OPTS, fn);
    mb_io_req *r = mbb_io_req(L, MB_IO_SETOPTS, 0, "net.setopts");
    r->handle = h;
    r->opts = o;
    r->n = lua_isstring(L, 3);
    return mbb_io_post(L, r, fn);
}

/* Whether message m (a tag-first table) carries data ("tcp", "udp",
 * "port_data", "port_stderr"), not a change of state (io_answer.h). */
static bool is_data_message(lua_State *L, int m) {
    lua_rawgeti(L, m, 1);
    const char *tag = lua_tostring(L, -1);
    bool data = tag && (strcmp(tag, "tcp") == 0 || strcmp(tag, "udp") == 0 || strcmp(tag, "port_data") == 0 ||
                        strcmp(tag, "port_stderr") == 0);
    lua_pop(L, 1);
    return data;
}

/* The moved messages (array at idx) as records (mb_io_forward's form), one
 * Lua string each in a table pushed on the stack (what raises leaves no
 * malloc'd block behind); their total size. */
static size_t encode_moved(lua_State *L, mb_proc *self, int idx) {
    size_t total = 0;
    int n = lua_istable(L, idx) ? (int)lua_objlen(L, idx) : 0;
    lua_createtable(L, n, 0);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        mbb_encode_or_raise(L, self, lua_gettop(L), "net.controlling_process: a queued message");
        uint8_t head[5] = {is_data_message(L, lua_gettop(L))};
        uint32_t len = (uint32_t)self->scratch.len;
        memcpy(head + 1, &len, sizeof len);
        lua_pop(L, 1);
        lua_pushlstring(L, (const char *)head, sizeof head);
        lua_pushlstring(L, (const char *)self->scratch.p, len);
        lua_concat(L, 2);
        lua_rawseti(L, -2, i);
        total += sizeof head + (size_t)len;
    }
    return total;
}

/* core.net_handover(s, pid, active, once, moved): the owner is pid, which
 * then gets the messages of the array moved (the caller's queued ones about
 * s) from the loop, and whose active mode is restored to (active, once). */
static int l_handover(lua_State *L) {
    /* The setopts step before it checked s as the caller's call takes it. */
    uint64_t v = lua_type(L, 1) == LUA_TLIGHTUSERDATA ? (uint64_t)(uintptr_t)lua_touserdata(L, 1) : 0;
    uint64_t h = mb_value_kind(v) == MB_VALUE_PORT ? v : check_sock(L, 1, "net.controlling_process");
    mb_pid to = mbb_check_pid(L, 2, "net.controlling_process");
    int active = (int)luaL_checknumber(L, 3);
    size_t moved = encode_moved(L, mbb_self(L), 5);
    mb_io_req *r = mbb_io_req(L, MB_IO_HANDOVER, moved, "net.controlling_process");
    uint8_t *out = mb_io_req_data(r);
    for (int i = 1; i <= (int)lua_objlen(L, -1); i++) {
        size_t len;
        lua_rawgeti(L, -1, i);
        const char *rec = lua_tolstring(L, -1, &len);
        memcpy(out, rec, len);
        out += len;
        lua_pop(L, 1);
    }
    r->handle = h;
    r->to = to;
    r->opts.active = active;
    r->opts.once = lua_tonumber(L, 4) != 0;   /* as setopts answered it: 0 or 1, and 0 is true in Lua */
    return mbb_io_post(L, r, "net.controlling_process");
}

static int l_name(lua_State *L) {
    const char *fn = lua_toboolean(L, 2) ? "net.peername" : "net.sockname";
    uint64_t h = check_sock(L, 1, fn);
    mb_io_req *r = mbb_io_req(L, MB_IO_NAME, 0, fn);
    r->handle = h;
    r->n = lua_toboolean(L, 2);
    return mbb_io_post(L, r, fn);
}

/* ---- UDP ---------------------------------------------------------------- */

static int l_udp_open(lua_State *L) {
    mb_io_opts o = {MB_IO_UNSET, false, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET, MB_IO_UNSET};
    check_opts(L, 2, &o, LISTEN_OPTS, "net.udp_open");
    if (o.packet != MB_IO_UNSET || o.backlog != MB_IO_UNSET || o.high_watermark != MB_IO_UNSET)
        return mbb_raisef(L, "net.udp_open: UDP takes only host, active and reuseaddr");
    mb_io_req place = {0};
    check_place(L, &place, 0, 1, 2, "net.udp_open");
    if (place.path) {
        free(place.host);
        return mbb_raisef(L, "net.udp_open: UDP takes only host, active and reuseaddr");
    }
    return post_open(L, MB_IO_UDP_OPEN, &place, &o, "net.udp_open");
}

static int l_sendto(lua_State *L) {
    uint64_t h = check_sock(L, 1, "net.sendto");
    if (lua_type(L, 4) != LUA_TSTRING)
        return mbb_raisef(L, "net.sendto: data must be a string, got %s", luaL_typename(L, 4));
    mb_io_req place = {0};
    check_place(L, &place, 2, 3, 0, "net.sendto");
    size_t n;
    const char *s = lua_tolstring(L, 4, &n);
    mb_io_req *r = mb_io_req_new(MB_IO_SENDTO, n);
    if (!r) {
        free(place.host);
        return mbb_raisef(L, "net.sendto: out of memory");
    }
    memcpy(mb_io_req_data(r), s, n);
    r->handle = h;
    r->host = place.host;
    r->port = place.port;
    return mbb_io_post(L, r, "net.sendto");
}

static int l_recvfrom(lua_State *L) { return on_sock(L, MB_IO_RECVFROM, "net.recvfrom"); }

/* What a socket's owner that only sends and receives calls (moonbeam.net's
 * own part): opened alone, so that such a process does not carry the rest. */
const luaL_Reg mbb_net_io_fns[] = {{"net_send", l_send},   {"net_recv", l_recv},     {"net_close", l_close},
                                   {"net_take", l_take},   {"net_cancel", l_cancel}, {NULL, NULL}};

const luaL_Reg mbb_net_fns[] = {
        {"net_listen", l_listen},     {"net_connect", l_connect}, {"net_accept", l_accept},
        {"net_shutdown", l_shutdown}, {"net_setopts", l_setopts}, {"net_handover", l_handover},
        {"net_name", l_name},         {"net_udp_open", l_udp_open}, {"net_sendto", l_sendto},
        {"net_recvfrom", l_recvfrom}, {NULL, NULL}};
