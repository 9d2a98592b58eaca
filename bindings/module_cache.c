/* module_cache.c: Lua modules found on package.path, kept compiled for every
 * state of the host.
 *
 * Every process is a Lua state of its own, so every process that requires a
 * module used to search the path (a failed open per template tried) and
 * parse the source again: a third of starting a gen_server by module name.
 * The first state to load a module from a file leaves its bytecode here
 * (lua_dump, debug information kept: errors and tracebacks still name the
 * file and line); the next ones load that, after one stat that shows the
 * file is unchanged (same inode, size and modification time), so an edited
 * module is compiled afresh. An entry is used only by a state whose
 * package.path is the one it was found with. mb.reload compiles a module
 * afresh whatever the cache holds (a file rewritten within the clock's
 * granularity keeps its size and time), and each load is noted in the
 * host's code_loaders, so that a reload knows which processes to tell. */
#include "module_cache.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "code_loaders.h"
#include "core/buf.h"
#include "core/process.h"
#include "core/runtime.h"

#define BUCKETS 64

typedef struct cached_module {
    struct cached_module *next;
    char *name, *path, *file;   /* module, package.path searched, file found */
    char *real;                 /* the file's own name (realpath): the loaders' key (code_loaders.h) */
    struct stat id;             /* the file when it was compiled */
    mb_buf code;
} cached_module;

struct mbb_module_cache {
    pthread_rwlock_t lock;
    cached_module *bucket[BUCKETS];
};

static unsigned hash(const char *s) {
    unsigned h = 2166136261u;   /* FNV-1a */
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % BUCKETS;
}

static void entry_free(cached_module *e) {
    free(e->name);
    free(e->path);
    free(e->file);
    free(e->real);
    mb_buf_free(&e->code);
    free(e);
}

mbb_module_cache *mbb_module_cache_new(void) {
    mbb_module_cache *c = calloc(1, sizeof *c);
    if (c && pthread_rwlock_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void mbb_module_cache_free(mbb_module_cache *c) {
    if (!c) return;
    for (int i = 0; i < BUCKETS; i++) {
        cached_module *e = c->bucket[i];
        while (e) {
            cached_module *next = e->next;
            entry_free(e);
            e = next;
        }
    }
    pthread_rwlock_destroy(&c->lock);
    free(c);
}

static bool same_file(const struct stat *a, const struct stat *b) {
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Load name's cached bytecode onto L's stack if the cache has it for path
 * and its file is unchanged; the file's own name (realpath) into file (n
 * bytes). 1:
 * loaded; 0: not there (or stale); -1: the bytecode did not load (out of
 * memory: the error is on the stack). */
static int load_cached(mbb_module_cache *c, lua_State *L, const char *name, const char *path, char *file, size_t n) {
    int rc = 0;
    pthread_rwlock_rdlock(&c->lock);
    for (cached_module *e = c->bucket[hash(name)]; e; e = e->next) {
        if (strcmp(e->name, name) != 0 || strcmp(e->path, path) != 0) continue;
        struct stat now;
        if (stat(e->file, &now) == 0 && same_file(&now, &e->id)) {
            rc = luaL_loadbuffer(L, (const char *)e->code.p, e->code.len, e->name) == 0 ? 1 : -1;
            snprintf(file, n, "%s", e->real);
        }
        break;
    }
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

/* The first file path's templates give for name that can be opened, into
 * out (malloc'd), with its identity; NULL when none. */
static char *find_file(lua_State *L, const char *name, const char *path, struct stat *id) {
    const char *dotted = luaL_gsub(L, name, ".", "/");
    char *found = NULL;
    for (const char *t = path; *t && !found;) {
        const char *end = strchr(t, ';');
        size_t n = end ? (size_t)(end - t) : strlen(t);
        if (n > 0) {
            lua_pushlstring(L, t, n);
            const char *file = luaL_gsub(L, lua_tostring(L, -1), "?", dotted);
            if (stat(file, id) == 0 && S_ISREG(id->st_mode)) {
                FILE *f = fopen(file, "r");   /* readable, as the standard searcher asks */
                if (f) {
                    fclose(f);
                    found = strdup(file);
                }
            }
            lua_pop(L, 2);
        }
        t += n + (end ? 1 : 0);
    }
    lua_pop(L, 1);
    return found;
}

static int dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
    (void)L;
    return mb_buf_put(ud, p, n);
}

/* Keep the compiled chunk on top of L's stack for name; a failure to keep
 * it (memory) only costs the next state a parse. The file's own name
 * (realpath: a path that names it otherwise, "a/../a/m.lua", is the same
 * file) goes into real (n bytes). */
static void keep(mbb_module_cache *c, lua_State *L, const char *name, const char *path, char *file,
                 const struct stat *id, char *real, size_t n) {
    char *own = realpath(file, NULL);
    snprintf(real, n, "%s", own ? own : file);
    cached_module *e = calloc(1, sizeof *e);
    if (!e) {
        free(file);
        free(own);
        return;
    }
    e->file = file;
    e->real = own ? own : strdup(file);
    e->id = *id;
    mb_buf_init(&e->code);
    e->name = strdup(name);
    e->path = strdup(path);
    if (!e->name || !e->path || !e->real || lua_dump(L, dump_writer, &e->code) != 0 || e->code.len == 0) {
        entry_free(e);
        return;
    }
    unsigned b = hash(name);
    pthread_rwlock_wrlock(&c->lock);
    /* A stale entry for the same name and path goes: no state reads it now.
     * So do those of other paths that found the same file: each would be a
     * change for the watcher, and reload the file again (to every process
     * that loaded it: code_loaders.h). Their next require compiles it. */
    for (cached_module **at = &c->bucket[b]; *at;) {
        cached_module *old = *at;
        if (strcmp(old->name, name) == 0 && (strcmp(old->path, path) == 0 || strcmp(old->real, e->real) == 0)) {
            *at = old->next;
            entry_free(old);
        } else {
            at = &old->next;
        }
    }
    e->next = c->bucket[b];
    c->bucket[b] = e;
    pthread_rwlock_unlock(&c->lock);
}

/* Note that this state's process loaded name from file (a state that is no
 * process has nobody to tell). A lost note only means a reload misses it. */
static void note_load(lua_State *L, mbb_code_loaders *loaders, const char *name, const char *file) {
    void *ud;
    if (!loaders || lua_getallocf(L, &ud) != mb_proc_alloc) return;
    mb_proc *p = ud;
    (void)mbb_code_loaders_add(loaders, &p->rt->procs, name, file, p->pid);
}

/* package.loaders searcher, before LuaJIT's own Lua searcher: the module's
 * chunk from the cache, or from its file (then cached). A module not on the
 * path is left to LuaJIT's searcher, which says where it looked. */
static int search_cached(lua_State *L) {
    mbb_module_cache *c = lua_touserdata(L, lua_upvalueindex(1));
    mbb_code_loaders *loaders = lua_touserdata(L, lua_upvalueindex(2));
    const char *name = luaL_checkstring(L, 1);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    const char *path = lua_tostring(L, -1);
    if (!path) return lua_pushliteral(L, ""), 1;
    char file[PATH_MAX];
    int rc = load_cached(c, L, name, path, file, sizeof file);
    if (rc < 0) return lua_error(L);
    if (rc == 0) {
        struct stat id;
        char *found = find_file(L, name, path, &id);
        if (!found) return lua_pushliteral(L, ""), 1;
        if (luaL_loadfile(L, found) != 0) {
            lua_pushfstring(L, "error loading module '%s' from file '%s':\n\t%s", name, found, lua_tostring(L, -1));
            free(found);
            return lua_error(L);
        }
        keep(c, L, name, path, found, &id, file, sizeof file);   /* takes found */
    }
    note_load(L, loaders, name, file);
    return 1;
}

int mbb_module_cache_compile(lua_State *L, mbb_module_cache *c, const char *name, const char *path) {
    struct stat id;
    char *file = find_file(L, name, path, &id);
    if (!file) {
        lua_pushfstring(L, "module '%s' not found on package.path", name);
        return 0;
    }
    if (luaL_loadfile(L, file) != 0) {
        free(file);
        return 0;
    }
    char real[PATH_MAX];
    keep(c, L, name, path, file, &id, real, sizeof real);   /* takes file */
    lua_pushstring(L, real);
    lua_insert(L, -2);
    return 1;
}

/* What tells a version of a file from the next. */
static void push_fingerprint(lua_State *L, const struct stat *st) {
    lua_pushfstring(L, "%d.%d:%d:%d", (int)st->st_mtim.tv_sec, (int)st->st_mtim.tv_nsec, (int)st->st_size,
                    (int)st->st_ino);
}

/* The entries whose file changed, copied out under the lock. */
typedef struct changed {
    char **names, **paths;   /* module, and the package.path it was found on */
    struct stat *now;
    size_t n;
} changed;

static int fill_changed(lua_State *L) {
    const changed *ch = lua_touserdata(L, 3);
    for (size_t i = 0; i < ch->n; i++) {
        lua_pushstring(L, ch->names[i]);
        push_fingerprint(L, &ch->now[i]);
        lua_rawset(L, 1);
        lua_pushstring(L, ch->names[i]);
        lua_pushstring(L, ch->paths[i]);
        lua_rawset(L, 2);
    }
    return 0;
}

/* Gathered under the lock, put in the table after it: an allocation the
 * state refuses (its memory limit, a kill) raises out of a push, which must
 * not leave the lock held for every other state. */
void mbb_module_cache_changed(lua_State *L, mbb_module_cache *c) {
    lua_newtable(L);
    lua_newtable(L);
    lua_pushcfunction(L, fill_changed);
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -3);
    luaL_checkstack(L, 1, NULL);
    changed ch = {NULL, NULL, NULL, 0};
    size_t cap = 0;
    bool full = false;
    pthread_rwlock_rdlock(&c->lock);
    for (int i = 0; i < BUCKETS && !full; i++) {
        for (cached_module *e = c->bucket[i]; e && !full; e = e->next) {
            struct stat now;
            if (stat(e->file, &now) != 0 || same_file(&now, &e->id)) continue;
            if (ch.n == cap) {
                size_t more = cap ? 2 * cap : 8;
                char **names = realloc(ch.names, more * sizeof *names);
                if (names) ch.names = names;
                char **paths = names ? realloc(ch.paths, more * sizeof *paths) : NULL;
                if (paths) ch.paths = paths;
                struct stat *nows = paths ? realloc(ch.now, more * sizeof *nows) : NULL;
                if (nows) ch.now = nows;
                if (!names || !paths || !nows) {
                    full = true;
                    break;
                }
                cap = more;
            }
            if (!(ch.names[ch.n] = strdup(e->name))) {
                full = true;
                break;
            }
            if (!(ch.paths[ch.n] = strdup(e->path))) {
                free(ch.names[ch.n]);
                full = true;
                break;
            }
            ch.now[ch.n++] = now;
        }
    }
    pthread_rwlock_unlock(&c->lock);
    lua_pushlightuserdata(L, &ch);
    int rc = full ? LUA_ERRMEM : lua_pcall(L, 3, 0, 0);
    for (size_t i = 0; i < ch.n; i++) free(ch.names[i]), free(ch.paths[i]);
    free(ch.names);
    free(ch.paths);
    free(ch.now);
    if (full) luaL_error(L, "reload: out of memory");
    if (rc) lua_error(L);
}

void mbb_module_cache_install(lua_State *L, mbb_module_cache *c, mbb_code_loaders *loaders, int at) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaders");
    for (int i = (int)lua_objlen(L, -1); i >= at; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushlightuserdata(L, c);
    lua_pushlightuserdata(L, loaders);
    lua_pushcclosure(L, search_cached, 2);
    lua_rawseti(L, -2, at);
    lua_pop(L, 2);
}
