/* state_pool.c: Lua states made ahead, on schedulers with nothing to run,
 * so that a spawn finds its state's libraries opened and its body's
 * coroutine made (see state_pool.h). */
#include "state_pool.h"

#include <stdlib.h>
#include "bindings.h"
#include "lua_state.h"

typedef struct mbb_ready {
    mb_proc *holder;   /* the state's allocator ud and the owner of its arena */
    mbb_lua lua;
    bool tidy;   /* its garbage collected (mbb_state_pool_tidy) */
    bool collecting;   /* being collected, by the thread that tidies it: no take */
    struct mbb_ready *next;   /* on the spent list */
} mbb_ready;

int mbb_state_pool_init(mbb_state_pool *pool) {
    atomic_init(&pool->n, 0);
    atomic_init(&pool->asked, false);
    atomic_init(&pool->wanted, false);
    pool->making = 0;
    for (int i = 0; i < MBB_POOL_MAX; i++) pool->ready[i] = NULL;
    pool->spent = NULL;
    return pthread_mutex_init(&pool->lock, NULL) ? -1 : 0;
}

/* The holder and all its state had. */
static void ready_free(mbb_ready *r) {
    if (r->lua.L) lua_close(r->lua.L);
    mb_arena_release(&r->holder->arena);
    mb_proc_free(r->holder);
    free(r);
}

/* Free the spent list's entries (none of them holds a state). */
static void free_spent(mbb_state_pool *pool) {
    pthread_mutex_lock(&pool->lock);
    mbb_ready *r = pool->spent;
    pool->spent = NULL;
    pthread_mutex_unlock(&pool->lock);
    while (r) {
        mbb_ready *next = r->next;
        ready_free(r);
        r = next;
    }
}

void mbb_state_pool_clear(mbb_state_pool *pool) {
    pthread_mutex_lock(&pool->lock);
    int n = atomic_load_explicit(&pool->n, memory_order_relaxed);
    for (int i = 0; i < n; i++) ready_free(pool->ready[i]);
    atomic_store_explicit(&pool->n, 0, memory_order_relaxed);
    pthread_mutex_unlock(&pool->lock);
    free_spent(pool);
}

void mbb_state_pool_destroy(mbb_state_pool *pool) {
    mbb_state_pool_clear(pool);
    pthread_mutex_destroy(&pool->lock);
}

/* A place in the pool for a state about to be made; false: the pool is
 * full, counting those other schedulers are making. Two idle schedulers
 * that both saw room each made one, and the second was freed unused
 * (~20 µs of CPU: 33 in 8 runs of 20 bursts of spawns). */
static bool reserve(mbb_state_pool *pool) {
    pthread_mutex_lock(&pool->lock);
    bool room = atomic_load_explicit(&pool->n, memory_order_relaxed) + pool->making < MBB_POOL_MAX;
    if (room) pool->making++;
    pthread_mutex_unlock(&pool->lock);
    return room;
}

/* Put r (NULL: its making failed) in the place reserve gave. */
static void keep(mbb_state_pool *pool, mbb_ready *r) {
    pthread_mutex_lock(&pool->lock);
    pool->making--;
    if (r) {
        int n = atomic_load_explicit(&pool->n, memory_order_relaxed);
        pool->ready[n] = r;
        atomic_store_explicit(&pool->n, n + 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&pool->lock);
}

bool mbb_state_pool_fill(mbb_state_pool *pool, mb_runtime *rt, mbb_state_maker make) {
    if (atomic_load_explicit(&pool->n, memory_order_relaxed) >= MBB_POOL_MAX || !reserve(pool)) return false;
    atomic_store_explicit(&pool->asked, false, memory_order_relaxed);
    free_spent(pool);   /* at most one per state taken since the last fill */
    mbb_ready *r = calloc(1, sizeof *r);
    if (r) {
        r->lua.co_ref = LUA_NOREF;
        r->holder = mb_proc_new(rt);
        if (!r->holder || make(r->holder, &r->lua)) {
            if (r->holder) ready_free(r);
            else free(r);
            r = NULL;
        }
    }
    keep(pool, r);
    return r != NULL;
}

bool mbb_state_pool_tidy(mbb_state_pool *pool) {
    if (atomic_load_explicit(&pool->n, memory_order_relaxed) < MBB_POOL_MAX) return false;
    /* Marked while it is collected, so that no spawn takes it meanwhile;
     * the lock hands it over from the thread that made it. It stays
     * counted: taken out, it left room that another scheduler filled, and
     * one of the two states was made for nothing (freed as the pool was
     * full again). */
    mbb_ready *r = NULL;
    pthread_mutex_lock(&pool->lock);
    int n = atomic_load_explicit(&pool->n, memory_order_relaxed);
    for (int i = 0; i < n; i++) {
        if (pool->ready[i]->tidy) continue;
        r = pool->ready[i];
        r->tidy = r->collecting = true;
        break;
    }
    pthread_mutex_unlock(&pool->lock);
    if (!r) return false;
    /* Out of memory: left as it is, with no error on its stack, where a
     * process that took it found a state whose making failed (vm.c,
     * create) and ended with {"error", "not enough memory"}. */
    mbb_state_collect(r->lua.L);
    pthread_mutex_lock(&pool->lock);
    r->collecting = false;
    pthread_mutex_unlock(&pool->lock);
    return true;
}

bool mbb_state_pool_wanted(mbb_state_pool *pool) {
    return atomic_load_explicit(&pool->wanted, memory_order_relaxed);
}

int mbb_state_pool_count(mbb_state_pool *pool) { return atomic_load_explicit(&pool->n, memory_order_relaxed); }

bool mbb_state_pool_take(mbb_state_pool *pool, mb_proc *p, mbb_lua *lp, bool *refill) {
    if (!atomic_load_explicit(&pool->wanted, memory_order_relaxed))
        atomic_store_explicit(&pool->wanted, true, memory_order_relaxed);
    int n = atomic_load_explicit(&pool->n, memory_order_relaxed);
    if (n <= MBB_POOL_MAX / 2 && !atomic_exchange_explicit(&pool->asked, true, memory_order_relaxed)) *refill = true;
    if (n == 0) return false;
    mbb_ready *r = NULL;
    pthread_mutex_lock(&pool->lock);
    n = atomic_load_explicit(&pool->n, memory_order_relaxed);
    int i = n - 1;   /* the newest not being collected */
    while (i >= 0 && pool->ready[i]->collecting) i--;
    if (i >= 0) {
        size_t used = atomic_load_explicit(&pool->ready[i]->holder->mem_used, memory_order_relaxed);
        if (!p->mem_limit || used <= p->mem_limit) {
            r = pool->ready[i];
            pool->ready[i] = pool->ready[n - 1];
            atomic_store_explicit(&pool->n, n - 1, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&pool->lock);
    if (!r) return false;
    mb_proc *h = r->holder;
    p->arena = h->arena;   /* p's own is empty: it never ran */
    h->arena = (mb_arena){.pages = h->arena.pages};
    /* Added, not stored: p's count already holds the messages queued for it
     * before it first ran, and senders add to it meanwhile. (A store lost
     * them, and their release later wrapped the count round: every
     * allocation then failed, one outside a protected call too.) */
    atomic_fetch_add_explicit(&p->mem_used, atomic_load_explicit(&h->mem_used, memory_order_relaxed),
                              memory_order_relaxed);
    lua_setallocf(r->lua.L, mb_proc_alloc, p);
    *lp = r->lua;
    r->lua.L = NULL;
    pthread_mutex_lock(&pool->lock);
    r->next = pool->spent;
    pool->spent = r;
    pthread_mutex_unlock(&pool->lock);
    return true;
}
