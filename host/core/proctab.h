/* proctab.h: the process table, pid -> process in O(1) without a global lock.
 *
 * Each slot has one 64-bit atomic word: serial (32) | alive (1) | refs (31).
 * A lookup increments refs with a CAS only while the serial matches and the
 * alive bit is set, so it can never touch a freed process: the process is
 * freed by whoever drops refs to zero, after which the serial moves on.
 * The table's own reference is the alive one; mb_proctab_retire clears the
 * bit (lookups fail from then on) and drops it.
 *
 * Free slots are handed out first in, first out (the never used ones
 * first, in order): a freed slot comes back only after every other free
 * slot was used, so an old pid's serial is reached again only after about
 * free slots x 2^23 spawns, not after 2^23 restarts of one process. */
#ifndef MB_PROCTAB_H
#define MB_PROCTAB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "pid.h"

typedef struct mb_proc mb_proc;

typedef struct mb_slot {
    _Atomic uint64_t word;
    _Atomic(mb_proc *) proc;
    uint32_t next_free;          /* guarded by the table's free_lock */
} mb_slot;

typedef struct mb_proctab {
    mb_slot *slots;
    uint32_t size;
    _Atomic uint32_t used_hwm;   /* slots [0, hwm) have ever been used */
    _Atomic uint32_t count;      /* live processes */
    pthread_mutex_t free_lock;
    uint32_t free_head, free_tail;   /* the free queue; UINT32_MAX: empty */
} mb_proctab;

int mb_proctab_init(mb_proctab *t, uint32_t size);
void mb_proctab_destroy(mb_proctab *t);

/* Give p a slot; sets p's pid. Returns -1 when the table is full. The new
 * entry starts alive with one reference (the table's). */
int mb_proctab_insert(mb_proctab *t, mb_proc *p, mb_pid *pid_out);

/* A counted reference to the live process with this pid, or NULL. */
mb_proc *mb_proctab_get(mb_proctab *t, mb_pid pid);
/* Take one more reference to a pid already held. */
void mb_proctab_ref(mb_proctab *t, mb_pid pid);
/* Drop a reference; the last one frees the process (mb_proc_free) and the slot. */
void mb_proctab_put(mb_proctab *t, mb_pid pid);
/* Clear the alive bit (lookups fail from now on) and drop the table's ref. */
void mb_proctab_retire(mb_proctab *t, mb_pid pid);
int mb_proctab_alive(mb_proctab *t, mb_pid pid);

/* Calls fn for each live pid; returns how many. */
uint32_t mb_proctab_each(mb_proctab *t, void (*fn)(mb_pid, void *), void *ud);

#endif
