/* tablock.c: shard locks whose readers write no common line (tablock.h). */
#include "tablock.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lock.h"

#define WRITER_TRIES 100   /* of the shard's writer lock, before blocking */

/* The calling thread's line: a scheduler's id, or -1 for the others'. */
static _Thread_local int thread_line = -1;

void mb_tab_reader_thread(int id) { thread_line = id; }

int mb_tab_readers_init(mb_tab_readers *r, unsigned nscheds) {
    r->n = nscheds + 1;
    r->lines = aligned_alloc(sizeof(mb_tab_reader), r->n * sizeof(mb_tab_reader));
    if (!r->lines) return -1;
    for (unsigned i = 0; i < r->n; i++) atomic_init(&r->lines[i].n, 0);
    return 0;
}

void mb_tab_readers_free(mb_tab_readers *r) {
    free(r->lines);
    r->lines = NULL;
}

int mb_tab_lock_init(mb_tab_lock *l) {
    atomic_init(&l->writing, false);
    return mb_lock_init(&l->writer);
}

void mb_tab_lock_destroy(mb_tab_lock *l) { pthread_mutex_destroy(&l->writer); }

/* The thread's line of r: a scheduler's of another runtime, with more
 * schedulers than this table's, counts on the others'. */
static _Atomic uint32_t *my_count(mb_tab_readers *r) {
    unsigned i = thread_line >= 0 && (unsigned)thread_line < r->n - 1 ? (unsigned)thread_line : r->n - 1;
    return &r->lines[i].n;
}

/* A wait of a few hundred nanoseconds mostly (a read, a write); a long one
 * (a walk of a big shard, a table's delete) gives the CPU away, then sleeps
 * in steps of 50 µs. */
static void wait_step(unsigned i) {
    if (i < 256) {
        mb_cpu_relax();
    } else if (i < 512) {
        sched_yield();
    } else {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

void mb_tab_read_lock(mb_tab_readers *r, mb_tab_lock *l) {
    _Atomic uint32_t *n = my_count(r);
    for (;;) {
        /* Both seq_cst: the count is seen by a writer that raised its flag
         * before this look, or this look sees the flag (write_lock). */
        atomic_fetch_add(n, 1);
        if (!atomic_load(&l->writing)) return;
        atomic_fetch_sub_explicit(n, 1, memory_order_release);
        for (unsigned i = 0; atomic_load_explicit(&l->writing, memory_order_relaxed); i++) wait_step(i);
    }
}

void mb_tab_read_unlock(mb_tab_readers *r) { atomic_fetch_sub_explicit(my_count(r), 1, memory_order_release); }

void mb_tab_write_lock(mb_tab_readers *r, mb_tab_lock *l) {
    /* Tries for a while before the kernel: a write holds the shard for a
     * few hundred instructions, and a writer put to sleep came back
     * microseconds later, its sleep and wake-up the whole cost (two
     * processes updating one counter: 13,000 futex calls in 1M updates
     * with the adaptive mutex alone, a third of the rate). */
    for (int i = 0; i < WRITER_TRIES; i++) {
        /* Tried only when no writer holds it: a try is a write to the
         * line, which the holder then has to take back to let go. */
        if (!atomic_load_explicit(&l->writing, memory_order_relaxed) && pthread_mutex_trylock(&l->writer) == 0)
            goto held;
        for (int j = 0; j < 8; j++) mb_cpu_relax();
    }
    pthread_mutex_lock(&l->writer);
held:
    atomic_store(&l->writing, true);
    for (unsigned k = 0; k < r->n; k++)
        for (unsigned i = 0; atomic_load(&r->lines[k].n); i++) wait_step(i);
}

void mb_tab_write_unlock(mb_tab_lock *l) {
    atomic_store_explicit(&l->writing, false, memory_order_release);
    pthread_mutex_unlock(&l->writer);
}
