/* msgcache.c: a scheduler thread's small message blocks (msgcache.h). */
#include "msgcache.h"

#include <stdlib.h>
#include "asan.h"

/* The thread's cache: a pointer into its sched_main's frame, or NULL. */
static _Thread_local mb_msgcache *cache;

void mb_msgcache_attach(mb_msgcache *c) {
#ifdef MB_ASAN
    (void)c;   /* every block malloc's own, so that ASan sees each use after free */
#else
    cache = c;
#endif
}

void mb_msgcache_flush(mb_msgcache *c) {
    for (int i = 0; i < MB_MSGCACHE_CLASSES; i++) {
        for (mb_msg *m = c->free[i], *next; m; m = next) {
            next = atomic_load_explicit(&m->next, memory_order_relaxed);
            free(m);
        }
        c->free[i] = NULL;
    }
    c->bytes = 0;
}

mb_msg *mb_msgcache_get(size_t len) {
    mb_msgcache *c = cache;
    if (!c || len > MB_MSGCACHE_STEP * MB_MSGCACHE_CLASSES) return NULL;
    size_t i = mb_msg_block_cap(len) / MB_MSGCACHE_STEP - 1;   /* the class mb_msgcache_put keeps it in */
    mb_msg *m = c->free[i];
    if (!m) return NULL;
    c->free[i] = atomic_load_explicit(&m->next, memory_order_relaxed);
    c->bytes -= sizeof *m + m->cap;
    return m;
}

bool mb_msgcache_put(mb_msg *m) {
    mb_msgcache *c = cache;
    size_t size = sizeof *m + m->cap;   /* the block, header and all */
    if (!c || c->bytes + size > MB_MSGCACHE_BYTES) return false;
    size_t i = m->cap / MB_MSGCACHE_STEP - 1;   /* its class: what it holds at least */
    atomic_store_explicit(&m->next, c->free[i], memory_order_relaxed);
    c->free[i] = m;
    c->bytes += size;
    return true;
}
