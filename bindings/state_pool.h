/* state_pool.h: Lua states made ahead of the spawns that use them
 * (state_pool.c). */
#ifndef MBB_STATE_POOL_H
#define MBB_STATE_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "core/process.h"

#define MBB_POOL_MAX 8   /* states kept ready; each holds ~35 KB */

typedef struct mbb_lua mbb_lua;
struct mbb_ready;

/* A state is made on a holder process of its own (its allocator's ud,
 * owning its arena), not in the process table; taking it moves the arena
 * and the allocator to the spawned process. The mutex hands a state from
 * the thread that made it to the one that takes it: each is single-owner
 * on either side of it. What a take leaves of the entry (the holder and
 * the entry itself, from the maker's malloc arena) goes back on the spent
 * list, which the next fill frees: freed by the taker, it locked the
 * maker's arena against the maker's own mallocs (a futex call every other
 * start of a gen_server, back to back on two schedulers). */
typedef struct mbb_state_pool {
    pthread_mutex_t lock;
    struct mbb_ready *ready[MBB_POOL_MAX];
    struct mbb_ready *spent;   /* taken entries not yet freed, under lock */
    _Atomic int n;   /* written under lock; read without, as a hint */
    int making;      /* places reserved by schedulers making a state now, under lock */
    _Atomic bool asked;   /* a refill was asked for and has not begun */
    _Atomic bool wanted;  /* a spawn has looked here: worth filling (mbb_state_pool_wanted) */
} mbb_state_pool;

/* make(holder, lp): a new state on holder's arena into lp; 0, or -1
 * (lp->L, if set, is closed by the pool). */
typedef int (*mbb_state_maker)(mb_proc *holder, mbb_lua *lp);

int mbb_state_pool_init(mbb_state_pool *pool);   /* -1: no mutex */
/* Close every state kept (their arenas go back to the runtime's pages,
 * so before those go: mb_kind's drop_ahead). */
void mbb_state_pool_clear(mbb_state_pool *pool);
/* The same, and the mutex: no thread may use the pool after. */
void mbb_state_pool_destroy(mbb_state_pool *pool);
/* Make one state ahead if the pool is not full (a scheduler with nothing to
 * run). true: one was made. */
bool mbb_state_pool_fill(mbb_state_pool *pool, mb_runtime *rt, mbb_state_maker make);
/* With the pool full, collect the garbage of one kept state that has not
 * had it collected yet (its making's: ~1.6 KB an idle process would keep
 * until it allocates again). Left out of making a state: back-to-back
 * spawns keep every scheduler busy, and a collection there was a fifth of
 * starting a gen_server. true: one was collected. */
bool mbb_state_pool_tidy(mbb_state_pool *pool);
/* A ready state for p (a process that never ran, with its empty arena)
 * into lp: its memory now counts as p's and is p's arena. false: none, or
 * more than p's memory limit already. *refill set true (never false): the
 * pool is down to half (or empty) and nobody was asked yet: the caller
 * should wake an idle scheduler to fill it. */
bool mbb_state_pool_take(mbb_state_pool *pool, mb_proc *p, mbb_lua *lp, bool *refill);
/* Whether a take has looked here yet: a pool for one kind of process is
 * filled only once such a process has been started. */
bool mbb_state_pool_wanted(mbb_state_pool *pool);
/* How many states it holds now (a hint: others take and fill meanwhile). */
int mbb_state_pool_count(mbb_state_pool *pool);

#endif
