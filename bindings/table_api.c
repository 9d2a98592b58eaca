/* table_api.c: shared tables (host/core/table.h) for Lua: the C half of
 * moonbeam.table (lua/moonbeam/table.lua keeps the options and select).
 * Each function checks its arguments, encodes the key and value into the
 * process's scratch buffer, calls the core, and decodes the copy it made
 * into this state with no lock held. Errors read "tab.<call>: <what>". */
#include <math.h>
#include <string.h>
#include "bindings.h"
#include "core/table.h"
#include "core/tabkey.h"
#include "core/term_text.h"

#define OUT_MT "moonbeam.table.out"

static int out_gc(lua_State *L) {
    mb_buf_free(lua_touserdata(L, 1));
    return 0;
}

/* The buffer results are copied into: the process's (mb_proc.tab_out),
 * freed with it, so an error raised while decoding leaks nothing. (Kept
 * in the state's registry under a string key, it cost a string's hashing
 * and interning at every call: 130 of a lookup's 1,960 instructions.)
 * While one call's results are read out of it, a __gc finalizer that the
 * reading's allocations run may call a table function too: that call gets
 * a buffer of its own, left on the stack for the collector to free. (One
 * buffer for both, the finalizer's results overwrote, or moved, what the
 * first call was reading.) A call that raises before mbb_tab_out_done
 * leaves the process's buffer marked until its next slice (vm.c). */
mb_buf *mbb_tab_out(lua_State *L) {
    mb_proc *p = mbb_self(L);
    if (!p->tab_out_busy) {
        p->tab_out_busy = true;
        mb_buf_reuse(&p->tab_out);
        return &p->tab_out;
    }
    mb_buf *b = lua_newuserdata(L, sizeof *b);
    mb_buf_init(b);
    if (luaL_newmetatable(L, OUT_MT)) {
        lua_pushcfunction(L, out_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

void mbb_tab_out_done(lua_State *L, mb_buf *b) {
    mb_proc *p = mbb_self(L);
    if (b == &p->tab_out) p->tab_out_busy = false;
}

static uint64_t check_table(lua_State *L, int idx, const char *fn) {
    uint64_t v = lua_type(L, idx) == LUA_TLIGHTUSERDATA ? (uint64_t)(uintptr_t)lua_touserdata(L, idx) : 0;
    if (mb_value_kind(v) != MB_VALUE_TABLE)
        mbb_raisef(L, "tab.%s: a table handle expected, got %s", fn, luaL_typename(L, idx));
    return v;
}

static int fail(lua_State *L, const char *fn, int rc) {
    return mbb_raisef(L, "tab.%s: %s", fn, mb_tab_strerror(rc));
}

/* The table at 1, for a read or a write. The reference is the process's
 * cache's (host/core/tabcache.h): an error raised from here on keeps none. */
static mb_table *acquire(lua_State *L, const char *fn, bool write) {
    mb_table *t = NULL;
    int rc = mb_table_use(mbb_self(L), check_table(L, 1, fn), write, &t);
    if (rc) fail(L, fn, rc);
    return t;
}

static void check_rc(lua_State *L, const char *fn, int rc) {
    if (rc) fail(L, fn, rc);
}

/* check_rc for a call that took out (mbb_tab_out): given back before a raise. */
static void check_out_rc(lua_State *L, mb_buf *out, const char *fn, int rc) {
    if (!rc) return;
    if (out) mbb_tab_out_done(L, out);
    fail(L, fn, rc);
}

/* Encode the value at idx at the end of p->scratch; its offset. */
static size_t encode_at(lua_State *L, mb_proc *p, int idx, const char *fn, const char *what) {
    size_t at = p->scratch.len;
    mb_encode_err err;
    size_t max = atomic_load_explicit(&p->rt->max_message_size, memory_order_relaxed);
    int type = lua_type(L, idx);   /* looked at once: every key and value comes here */
    if (type == LUA_TNIL || type == LUA_TNONE) mbb_raisef(L, "tab.%s: %s is nil", fn, what);
    if (mb_encode_typed(L, idx, type, what, &p->scratch, max, &err)) mbb_raisef(L, "tab.%s: %s", fn, err.msg);
    return at;
}

/* The canonical key of the argument at idx, in p->scratch: [*at, len). */
static size_t key_arg(lua_State *L, mb_proc *p, int idx, const char *fn, const char *what) {
    size_t raw = encode_at(L, p, idx, fn, what);
    size_t at = p->scratch.len;
    const char *why = "not a key";
    mb_span k = {p->scratch.p + raw, at - raw};
    int rc = mb_tabkey_canon(k, &p->scratch, &why);
    if (rc) {
        if (rc == -2) fail(L, fn, MB_TAB_ENOMEM);
        mbb_raisef(L, "tab.%s: bad %s: %s", fn, what, why);
    }
    return at;
}

static mb_span span_at(mb_proc *p, size_t from, size_t to) { return (mb_span){p->scratch.p + from, to - from}; }

void mbb_push_stored(lua_State *L, const uint8_t **q, const uint8_t *end) {
    mb_span v;
    if (mb_term_first(*q, end, &v) || mb_decode(L, v.p, v.n, 0)) mbb_raisef(L, "tab: a stored term could not be read");
    *q += v.n;
}

static const char *const type_names[] = {"set", "ordered_set", "bag", "duplicate_bag", NULL};
static const char *const access_names[] = {"protected", "public", "private", NULL};

/* core.tab_new(name|nil, type, access, heir|nil, max_memory) -> handle
 * (moonbeam.table checked the options). */
/* "tab.new: the name "x" is in use", the name quoted whole: a NUL byte or
 * another control byte as \ddd, as moonbeam.pretty writes it. */
static int name_in_use(lua_State *L, const char *name, size_t n) {
    char quoted[256];
    mb_quote_text(name, n, quoted, sizeof quoted);
    return mbb_raisef(L, "tab.new: the name %s is in use", quoted);
}

static int l_new(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_tab_opts o = {0};
    if (!lua_isnil(L, 1)) {
        o.name = luaL_checklstring(L, 1, &o.name_len);
        if (o.name_len == 0) mbb_raisef(L, "tab.new: the name must be a non-empty string");
    }
    o.type = (mb_tab_type)luaL_checkoption(L, 2, "set", type_names);
    o.access = (mb_tab_access)luaL_checkoption(L, 3, "protected", access_names);
    if (!lua_isnil(L, 4)) o.heir = mbb_check_pid(L, 4, "tab.new: heir");
    lua_Number mm = luaL_optnumber(L, 5, 0);
    o.max_memory = mm > 0 ? (size_t)mm : 0;
    uint64_t h;
    int rc = mb_table_new(self->rt, self->pid, &o, &h);
    if (rc == MB_TAB_ENAME) return name_in_use(L, o.name, o.name_len);
    if (rc) return fail(L, "new", rc);
    lua_pushlightuserdata(L, (void *)(uintptr_t)h);
    return 1;
}

static int l_whereis(lua_State *L) {
    size_t n;
    const char *name = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &n) : NULL;
    if (!name || n == 0) return mbb_raisef(L, "tab.whereis: the name must be a non-empty string");
    uint64_t h = mb_table_whereis(mbb_self(L)->rt, name, n);
    if (h) lua_pushlightuserdata(L, (void *)(uintptr_t)h);
    else lua_pushnil(L);
    return 1;
}

static int insert(lua_State *L, const char *fn, int mode) {
    mb_proc *self = mbb_self(L);
    double ttl = 0;
    if (!lua_isnoneornil(L, 4)) {   /* insert_new's too: an expiring lock */
        /* As a timeout: "infinity", math.huge or more than a timer can be
         * set for is none at all (the object is permanent). */
        bool infinity = lua_type(L, 4) == LUA_TSTRING && strcmp(lua_tostring(L, 4), "infinity") == 0;
        if (!infinity && lua_type(L, 4) != LUA_TNUMBER)
            return mbb_raisef(L, "tab.%s: ttl_ms must be a number > 0 or \"infinity\", got %s", fn, luaL_typename(L, 4));
        if (!infinity && !(lua_tonumber(L, 4) > 0))   /* 0, negative or NaN: the value says which */
            return mbb_raisef(L, "tab.%s: ttl_ms must be a number > 0 or \"infinity\", got %g", fn, lua_tonumber(L, 4));
        ttl = infinity || lua_tonumber(L, 4) > MB_MAX_TIMEOUT_MS ? 0 : lua_tonumber(L, 4);
    }
    mb_table *t = acquire(L, fn, true);
    self->scratch.len = 0;
    size_t k = key_arg(L, self, 2, fn, "key");
    size_t rawv = encode_at(L, self, 3, fn, "value");
    size_t v = self->scratch.len;
    const char *why = "";
    int rc = t->store.type == MB_TAB_BAG ? mb_tabval_canon(span_at(self, rawv, v), &self->scratch, &why)
                                         : mb_tabval_check(span_at(self, rawv, v), &why);
    if (rc) {
        if (rc == -2) fail(L, fn, MB_TAB_ENOMEM);
        return mbb_raisef(L, "tab.%s: bad value: %s", fn, why);
    }
    if (t->store.type != MB_TAB_BAG) v = rawv;
    bool inserted;
    rc = mb_tabstore_insert(&t->store, span_at(self, k, rawv), span_at(self, v, self->scratch.len), ttl, mode, &inserted);
    check_rc(L, fn, rc);
    lua_pushboolean(L, inserted);
    return 1;
}

static int l_insert(lua_State *L) { return insert(L, "insert", MB_TAB_REPLACE); }
static int l_insert_new(lua_State *L) { return insert(L, "insert_new", MB_TAB_ONLY_NEW); }

static bool is_bag(const mb_table *t) { return t->store.type == MB_TAB_BAG || t->store.type == MB_TAB_DUPLICATE_BAG; }

/* Push what came out for a key: the value or nil, or a bag's array. */
static void push_values(lua_State *L, bool bag, const mb_buf *out, size_t count) {
    const uint8_t *q = out->p, *end = out->p + out->len;
    if (!bag) {
        if (count) mbb_push_stored(L, &q, end);
        else lua_pushnil(L);
        return;
    }
    lua_createtable(L, (int)count, 0);
    for (size_t i = 0; i < count; i++) {
        mbb_push_stored(L, &q, end);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

/* lookup, member, take, delete: one key, read or removed. */
static int by_key(lua_State *L, const char *fn, bool write, bool want_values) {
    mb_proc *self = mbb_self(L);
    mb_table *t = acquire(L, fn, write);
    self->scratch.len = 0;
    size_t k = key_arg(L, self, 2, fn, "key");
    size_t count;
    mb_span key = span_at(self, k, self->scratch.len);
    mb_buf *out = want_values ? mbb_tab_out(L) : NULL;
    int rc = write ? mb_tabstore_take(&t->store, key, out, &count) : mb_tabstore_lookup(&t->store, key, out, &count);
    check_out_rc(L, out, fn, rc);
    bool bag = is_bag(t);
    if (want_values) {
        push_values(L, bag, out, count);
        mbb_tab_out_done(L, out);
    } else {
        lua_pushboolean(L, write || count > 0);
    }
    return 1;
}

static int l_lookup(lua_State *L) { return by_key(L, "lookup", false, true); }
static int l_member(lua_State *L) { return by_key(L, "member", false, false); }
static int l_take(lua_State *L) { return by_key(L, "take", true, true); }
static int l_delete(lua_State *L) { return by_key(L, "delete", true, false); }

static int l_update_counter(lua_State *L) {
    mb_proc *self = mbb_self(L);
    /* Each type looked at once: a counter's update is a few C API calls. */
    int incr_type = lua_type(L, 3), dflt_type = lua_type(L, 4);
    bool has_dflt = dflt_type != LUA_TNONE && dflt_type != LUA_TNIL;
    if (incr_type != LUA_TNUMBER) return mbb_raisef(L, "tab.update_counter: incr must be a number, got %s", luaL_typename(L, 3));
    if (has_dflt && dflt_type != LUA_TNUMBER)
        return mbb_raisef(L, "tab.update_counter: default must be a number, got %s", luaL_typename(L, 4));
    double incr = lua_tonumber(L, 3), dflt = has_dflt ? lua_tonumber(L, 4) : 0, result = 0;
    /* A counter stays a finite number: NaN or an infinity would stick. */
    if (!isfinite(incr)) return mbb_raisef(L, "tab.update_counter: incr must be a finite number, got %g", incr);
    if (!isfinite(dflt)) return mbb_raisef(L, "tab.update_counter: default must be a finite number, got %g", dflt);
    mb_table *t = acquire(L, "update_counter", true);
    if (is_bag(t)) check_rc(L, "update_counter", MB_TAB_ETYPE);
    self->scratch.len = 0;
    size_t k = key_arg(L, self, 2, "update_counter", "key");
    int rc = mb_tabstore_counter(&t->store, span_at(self, k, self->scratch.len), incr, has_dflt ? &dflt : NULL, &result);
    check_rc(L, "update_counter", rc);
    lua_pushnumber(L, result);
    return 1;
}

static int step(lua_State *L, const char *fn, int which) {
    mb_proc *self = mbb_self(L);
    mb_table *t = acquire(L, fn, false);
    self->scratch.len = 0;
    size_t k = which == MB_TAB_NEXT || which == MB_TAB_PREV ? key_arg(L, self, 2, fn, "key") : 0;
    bool found;
    mb_buf *out = mbb_tab_out(L);
    int rc = mb_tabstore_step(&t->store, which, span_at(self, k, self->scratch.len), out, &found);
    check_out_rc(L, out, fn, rc);
    push_values(L, false, out, found);
    mbb_tab_out_done(L, out);
    return 1;
}

static int l_first(lua_State *L) { return step(L, "first", MB_TAB_FIRST); }
static int l_next(lua_State *L) { return step(L, "next", MB_TAB_NEXT); }
static int l_last(lua_State *L) { return step(L, "last", MB_TAB_LAST); }
static int l_prev(lua_State *L) { return step(L, "prev", MB_TAB_PREV); }

/* An array of {key, value} from count pairs in out. */
static void push_pairs(lua_State *L, const mb_buf *out, size_t count) {
    lua_createtable(L, (int)count, 0);
    const uint8_t *q = out->p, *end = out->p + out->len;
    for (size_t i = 0; i < count; i++) {
        lua_createtable(L, 2, 0);
        for (int j = 1; j <= 2; j++) {
            mbb_push_stored(L, &q, end);
            lua_rawseti(L, -2, j);
        }
        lua_rawseti(L, -2, (int)i + 1);
    }
}

static size_t check_limit(lua_State *L, int idx, const char *fn) {
    if (lua_isnoneornil(L, idx)) return 0;
    lua_Number n = lua_type(L, idx) == LUA_TNUMBER ? lua_tonumber(L, idx) : -1;
    if (!(n >= 1) || isinf(n) || n != floor(n)) mbb_raisef(L, "tab.%s: limit must be an integer >= 1", fn);
    /* An integer beyond what any table can hold is no limit (and beyond
     * SIZE_MAX it cannot be converted). */
    return n >= 0x1p53 ? 0 : (size_t)n;
}

static int l_range(lua_State *L) {
    mb_proc *self = mbb_self(L);
    size_t limit = check_limit(L, 4, "range");
    mb_table *t = acquire(L, "range", false);
    if (t->store.type != MB_TAB_ORDERED_SET) check_rc(L, "range", MB_TAB_ETYPE);
    self->scratch.len = 0;
    size_t from = key_arg(L, self, 2, "range", "from");
    size_t to = key_arg(L, self, 3, "range", "to");
    /* from's raw encoding sits between the two: only the canonical spans count */
    size_t from_end = from;
    mb_span fs;
    if (mb_term_first(self->scratch.p + from, self->scratch.p + self->scratch.len, &fs) == 0) from_end = from + fs.n;
    size_t count;
    mb_buf *out = mbb_tab_out(L);
    int rc = mb_tabstore_range(&t->store, span_at(self, from, from_end), span_at(self, to, self->scratch.len),
                               limit, out, &count);
    check_out_rc(L, out, "range", rc);
    push_pairs(L, out, count);
    mbb_tab_out_done(L, out);
    return 1;
}

/* Every object, as {key, value} pairs; fn names the user's call in errors. */
static int list(lua_State *L, const char *fn) {
    mb_table *t = acquire(L, fn, false);
    size_t count;
    mb_buf *out = mbb_tab_out(L);
    check_out_rc(L, out, fn, mb_tabstore_list(&t->store, out, &count));
    push_pairs(L, out, count);
    mbb_tab_out_done(L, out);
    return 1;
}

static int l_to_list(lua_State *L) { return list(L, "to_list"); }
/* what moonbeam.table's select filters */
static int l_select_list(lua_State *L) { return list(L, "select"); }

static int stats(lua_State *L, const char *fn, bool memory) {
    mb_table *t = acquire(L, fn, false);
    size_t size, bytes;
    check_rc(L, fn, mb_tabstore_stats(&t->store, &size, &bytes));
    lua_pushnumber(L, (lua_Number)(memory ? bytes : size));
    return 1;
}

static int l_size(lua_State *L) { return stats(L, "size", false); }
static int l_memory(lua_State *L) { return stats(L, "memory", true); }

static int l_delete_table(lua_State *L) {
    mb_proc *self = mbb_self(L);
    int rc = mb_table_delete(self->rt, check_table(L, 1, "delete_table"), self->pid);
    if (rc) return fail(L, "delete_table", rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_give_away(lua_State *L) {
    mb_proc *self = mbb_self(L);
    uint64_t h = check_table(L, 1, "give_away");
    mb_pid to = mbb_check_pid(L, 2, "tab.give_away");
    int rc = mb_table_give_away(self->rt, mbb_sched(self), h, self->pid, to);
    if (rc) return fail(L, "give_away", rc);
    lua_pushboolean(L, 1);
    return 1;
}

static void push_info(lua_State *L, const mb_table_info *i) {
    lua_createtable(L, 0, 9);
    lua_pushlightuserdata(L, (void *)(uintptr_t)i->handle);
    lua_setfield(L, -2, "table");
    mb_proc *self = mbb_self(L);
    self->scratch.len = 0;   /* the process's own buffer: nothing leaks if a push fails */
    if (i->named && mb_table_name(self->rt, i->handle, &self->scratch)) {
        lua_pushlstring(L, (const char *)self->scratch.p, self->scratch.len);
        lua_setfield(L, -2, "name");
    }
    mbb_push_pid(L, i->owner);
    lua_setfield(L, -2, "owner");
    if (i->heir) {
        mbb_push_pid(L, i->heir);
        lua_setfield(L, -2, "heir");
    }
    lua_pushstring(L, type_names[i->type]);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, access_names[i->access]);
    lua_setfield(L, -2, "access");
    lua_pushnumber(L, (lua_Number)i->size);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (lua_Number)i->memory);
    lua_setfield(L, -2, "memory");
    if (i->max_memory) {
        lua_pushnumber(L, (lua_Number)i->max_memory);
        lua_setfield(L, -2, "max_memory");
    }
}

/* core.tab_info(t) -> {table=, name=, owner=, heir=, type=, access=, size=,
 * memory=, max_memory=} or nil */
static int l_info(lua_State *L) {
    mb_table_info i;
    if (!mb_table_info_of(mbb_self(L)->rt, check_table(L, 1, "info"), &i)) lua_pushnil(L);
    else push_info(L, &i);
    return 1;
}

typedef struct { mb_buf b; size_t n; } info_list;

static void collect_info(const mb_table_info *i, void *ud) {
    info_list *l = ud;
    if (mb_buf_put(&l->b, i, sizeof *i) == 0) l->n++;
}

/* core.tab_all() -> an array of what tab_info returns, every table */
static int l_all(lua_State *L) {
    info_list l = {{NULL, 0, 0}, 0};
    mb_tables_each(mbb_self(L)->rt, collect_info, &l);
    mb_buf *out = mbb_tab_out(L);   /* the process's: nothing leaks if a push fails */
    int rc = mb_buf_put(out, l.b.p, l.n * sizeof(mb_table_info));
    mb_buf_free(&l.b);
    check_out_rc(L, out, "all", rc ? MB_TAB_ENOMEM : MB_TAB_OK);
    lua_createtable(L, (int)l.n, 0);
    for (size_t k = 0; k < l.n; k++) {
        mb_table_info i;
        memcpy(&i, out->p + k * sizeof i, sizeof i);
        push_info(L, &i);
        lua_rawseti(L, -2, (int)k + 1);
    }
    mbb_tab_out_done(L, out);
    return 1;
}

const luaL_Reg mbb_table_fns[] = {
        {"tab_new", l_new}, {"tab_whereis", l_whereis}, {"tab_insert", l_insert},
        {"tab_insert_new", l_insert_new}, {"tab_lookup", l_lookup}, {"tab_member", l_member},
        {"tab_take", l_take}, {"tab_delete", l_delete}, {"tab_update_counter", l_update_counter},
        {"tab_first", l_first}, {"tab_next", l_next}, {"tab_last", l_last}, {"tab_prev", l_prev},
        {"tab_range", l_range}, {"tab_to_list", l_to_list}, {"tab_select_list", l_select_list}, {"tab_size", l_size},
        {"tab_memory", l_memory}, {"tab_delete_table", l_delete_table},
        {"tab_give_away", l_give_away}, {"tab_info", l_info}, {"tab_all", l_all}, {NULL, NULL}};
