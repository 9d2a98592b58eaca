/* module_cache.h: compiled Lua modules shared by the host's states
 * (module_cache.c). */
#ifndef MOONBEAM_MODULE_CACHE_H
#define MOONBEAM_MODULE_CACHE_H

#include <lua.h>
#include <pthread.h>

typedef struct mbb_module_cache mbb_module_cache;

mbb_module_cache *mbb_module_cache_new(void);   /* NULL: out of memory */
void mbb_module_cache_free(mbb_module_cache *c);

struct mbb_code_loaders;

/* Put the cache's searcher at package.loaders[at] of L (the ones from at
 * on move up one); each load it makes in a process's state is noted in
 * loaders (may be NULL). */
void mbb_module_cache_install(lua_State *L, mbb_module_cache *c, struct mbb_code_loaders *loaders, int at);

/* Compile name's file (found on path) afresh, whatever the cache holds,
 * and keep it as the cached version. 1: pushed the file's own name
 * (realpath: the loaders' key, code_loaders.h) and the chunk; 0: pushed an
 * error message (not found, or a syntax error). */
int mbb_module_cache_compile(lua_State *L, mbb_module_cache *c, const char *name, const char *path);

/* Push a table {module = fingerprint} of the cached modules whose file
 * changed since it was compiled (a watcher's question), then one
 * {module = the package.path it was found on}. */
void mbb_module_cache_changed(lua_State *L, mbb_module_cache *c);

#endif
