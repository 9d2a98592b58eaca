/* module_cache.h: compiled Lua modules shared by the host's states
 * (module_cache.c). */
#ifndef MOONBEAM_MODULE_CACHE_H
#define MOONBEAM_MODULE_CACHE_H

#include <lua.h>
#include <pthread.h>

typedef struct mbb_module_cache mbb_module_cache;

mbb_module_cache *mbb_module_cache_new(void);   /* NULL: out of memory */
void mbb_module_cache_free(mbb_module_cache *c);

/* Put the cache's searcher at package.loaders[at] of L (the ones from at
 * on move up one). */
void mbb_module_cache_install(lua_State *L, mbb_module_cache *c, int at);

#endif
