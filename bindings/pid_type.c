/* pid_type.c: pids, refs, shared table, socket and port handles as light
 * userdata, with one metatable so they print as <0.42.7>, #Ref<0.N>,
 * #Table<N>, #Socket<N> and #Port<N>. Light userdata compare by value and work
 * as table keys, in every state, after any number of crossings. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include "bindings.h"
#include "core/names.h"
#include "dist/dist.h"
#include "dist/nodetab.h"
#include "dist/dist_term.h"

void mbb_push_pid(lua_State *L, mb_pid pid) { lua_pushlightuserdata(L, (void *)(uintptr_t)pid); }
void mbb_push_ref(lua_State *L, mb_ref ref) { lua_pushlightuserdata(L, (void *)(uintptr_t)ref); }

static uint64_t value_of(lua_State *L, int idx) {
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA ? (uint64_t)(uintptr_t)lua_touserdata(L, idx) : 0;
}

int mbb_is_pid(lua_State *L, int idx) { return mb_value_kind(value_of(L, idx)) == MB_VALUE_PID; }

mb_pid mbb_to_pid(lua_State *L, int idx) {
    uint64_t v = value_of(L, idx);
    return mb_value_kind(v) == MB_VALUE_PID ? v : 0;
}

const char *mbb_what_is(lua_State *L, int idx) {
    if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) {
        mb_value_kind_t k = mb_value_kind(value_of(L, idx));
        if (k == MB_VALUE_PID) return "a pid";
        if (k == MB_VALUE_REF) return "a ref";
        if (k == MB_VALUE_TABLE) return "a table handle";
        if (k == MB_VALUE_SOCKET) return "a socket";
        if (k == MB_VALUE_PORT) return "a port";
    }
    return luaL_typename(L, idx);
}

mb_pid mbb_check_pid(lua_State *L, int idx, const char *fn) {
    uint64_t v = value_of(L, idx);
    if (mb_value_kind(v) != MB_VALUE_PID) mbb_raisef(L, "%s: a pid expected, got %s", fn, mbb_what_is(L, idx));
    return v;
}

mb_ref mbb_check_ref(lua_State *L, int idx, const char *fn) {
    uint64_t v = value_of(L, idx);
    if (mb_value_kind(v) != MB_VALUE_REF) mbb_raisef(L, "%s: a ref expected, got %s", fn, mbb_what_is(L, idx));
    return v;
}

mb_pid mbb_check_dest(lua_State *L, int idx, const char *fn) {
    return mbb_check_dest_typed(L, idx, lua_type(L, idx), fn);
}

mb_pid mbb_check_dest_typed(lua_State *L, int idx, int type, const char *fn) {
    if (type == LUA_TLIGHTUSERDATA) {
        uint64_t v = (uint64_t)(uintptr_t)lua_touserdata(L, idx);
        if (mb_value_kind(v) == MB_VALUE_PID) return v;
    } else if (type == LUA_TSTRING) {
        size_t n;
        const char *name = lua_tolstring(L, idx, &n);
        mb_pid pid = mb_names_whereis(mbb_self(L)->rt, name, n);
        if (pid) return pid;
        /* No name is found: only now is it worth asking whether it is one. */
        if (!mb_name_valid(name, n)) mbb_raisef(L, "%s: name must be a non-empty string without NUL bytes", fn);
        return mbb_raisef(L, "%s: no process is registered as '%s'", fn, name);
    }
    return mbb_raisef(L, "%s: a pid or registered name expected, got %s", fn, mbb_what_is(L, idx));
}

/* Another node's pid <N.id.serial> or ref #Ref<N.words, last first>, N
 * its node's number here (host/dist/nodetab.h); one whose entry was
 * reused since prints with "?" for its numbers. */
static int remote_tostring(lua_State *L, uint64_t v) {
    mb_dist *d = mb_dist_of(mbb_self(L)->rt);
    mb_remote r;
    bool pid = mb_value_kind(v) == MB_VALUE_PID;
    if (!d || !mb_nodetab_get(mb_dist_me(d)->tab, v, &r)) {
        lua_pushstring(L, pid ? "<?.?.?>" : "#Ref<?>");
        return 1;
    }
    char s[96];
    if (pid) {
        snprintf(s, sizeof s, "<%u.%u.%u>", r.node, r.words[0], r.words[1]);
    } else {
        int k = snprintf(s, sizeof s, "#Ref<%u", r.node);
        for (int i = r.nwords - 1; i >= 0; i--) k += snprintf(s + k, sizeof s - (size_t)k, ".%u", r.words[i]);
        snprintf(s + k, sizeof s - (size_t)k, ">");
    }
    lua_pushstring(L, s);
    return 1;
}

static int pid_tostring(lua_State *L) {
    uint64_t v = (uint64_t)(uintptr_t)lua_touserdata(L, 1);
    switch (mb_value_kind(v)) {
    case MB_VALUE_PID:
        if (mb_pid_is_remote(v)) return remote_tostring(L, v);
        lua_pushfstring(L, "<0.%d.%d>", (int)mb_pid_slot(v), (int)mb_pid_serial(v));
        break;
    case MB_VALUE_REF: {
        if (mb_ref_is_remote(v)) return remote_tostring(L, v);
        char s[48];
        snprintf(s, sizeof s, "#Ref<0.%" PRIu64 ">", v & MB_LOCAL_REF_MASK);
        lua_pushstring(L, s);
        break;
    }
    case MB_VALUE_TABLE: {
        char s[48];
        snprintf(s, sizeof s, "#Table<%" PRIu64 ">", v & (MB_IO_BIT - 1));
        lua_pushstring(L, s);
        break;
    }
    case MB_VALUE_SOCKET:
    case MB_VALUE_PORT: {
        char s[48];
        snprintf(s, sizeof s, "#%s<%" PRIu64 ">", mb_value_kind(v) == MB_VALUE_PORT ? "Port" : "Socket",
                 v & (MB_PORT_BIT - 1));
        lua_pushstring(L, s);
        break;
    }
    default:
        lua_pushfstring(L, "userdata: %p", lua_touserdata(L, 1));
    }
    return 1;
}

void mbb_pid_type_init(lua_State *L) {
    lua_pushlightuserdata(L, NULL);
    if (lua_getmetatable(L, -1)) {   /* already set (a re-require) */
        lua_pop(L, 2);
        return;
    }
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, pid_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "pid");
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}

int mbb_raise_plain(lua_State *L, const char *s) {
    lua_pushstring(L, s);
    return lua_error(L);
}

int mbb_raisef(lua_State *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

void mbb_encode_or_raise(lua_State *L, mb_proc *p, int idx, const char *what) {
    mbb_encode_typed_or_raise(L, p, idx, lua_type(L, idx), what);
}

void mbb_encode_typed_or_raise(lua_State *L, mb_proc *p, int idx, int type, const char *what) {
    mb_encode_err err;
    mb_buf_reuse(&p->scratch);
    size_t max = atomic_load_explicit(&p->rt->max_message_size, memory_order_relaxed);
    if (mb_encode_typed(L, idx, type, what, &p->scratch, max, &err)) mbb_raisef(L, "%s", err.msg);
}
