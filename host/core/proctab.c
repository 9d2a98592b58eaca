/* proctab.c: slots, serials and reference counts (see proctab.h). */
#include "proctab.h"

#include <stdlib.h>
#include "process.h"

#define ALIVE      (UINT64_C(1) << 31)
#define REFS_MASK  (ALIVE - 1)
#define SERIAL(w)  ((uint32_t)((w) >> 32))

/* The slots are left as calloc made them: a slot never used reads as
 * serial 0, which no pid has, and is given serial 1 when first handed out.
 * Touching them all here cost the kernel's zeroing of every page of a
 * table sized for the most processes a host may hold (24 MB for the
 * default million) at every start. */
int mb_proctab_init(mb_proctab *t, uint32_t size) {
    if (size == 0 || size > MB_MAX_SLOTS) return -1;
    t->slots = calloc(size, sizeof *t->slots);
    if (!t->slots) return -1;
    t->size = size;
    atomic_init(&t->used_hwm, 0);
    atomic_init(&t->count, 0);
    t->free_head = t->free_tail = UINT32_MAX;
    if (pthread_mutex_init(&t->free_lock, NULL)) {
        free(t->slots);
        return -1;
    }
    return 0;
}

void mb_proctab_destroy(mb_proctab *t) {
    pthread_mutex_destroy(&t->free_lock);
    free(t->slots);
    t->slots = NULL;
}

int mb_proctab_insert(mb_proctab *t, mb_proc *p, mb_pid *pid_out) {
    /* Slots never used first, in order; then freed ones, oldest first. */
    pthread_mutex_lock(&t->free_lock);
    uint32_t i = atomic_load(&t->used_hwm);
    if (i < t->size) {
        atomic_store(&t->used_hwm, i + 1);
    } else {
        i = t->free_head;
        if (i == UINT32_MAX) {
            pthread_mutex_unlock(&t->free_lock);
            return -1;
        }
        t->free_head = t->slots[i].next_free;
        if (t->free_head == UINT32_MAX) t->free_tail = UINT32_MAX;
    }
    pthread_mutex_unlock(&t->free_lock);

    mb_slot *s = &t->slots[i];
    uint64_t w = atomic_load(&s->word);
    if (SERIAL(w) == 0) w = (uint64_t)1 << 32;   /* never used */
    mb_pid pid = mb_pid_make(i, SERIAL(w));
    p->pid = pid;
    atomic_store(&s->proc, p);
    atomic_store(&s->word, (w & ~(ALIVE | REFS_MASK)) | ALIVE | 1);
    atomic_fetch_add(&t->count, 1);
    *pid_out = pid;
    return 0;
}

mb_proc *mb_proctab_get(mb_proctab *t, mb_pid pid) {
    if (mb_value_kind(pid) != MB_VALUE_PID) return NULL;
    uint32_t i = mb_pid_slot(pid);
    if (i >= t->size) return NULL;
    mb_slot *s = &t->slots[i];
    uint64_t w = atomic_load(&s->word);
    for (;;) {
        if ((SERIAL(w) & MB_SERIAL_MASK) != mb_pid_serial(pid) || !(w & ALIVE)) return NULL;
        if (atomic_compare_exchange_weak(&s->word, &w, w + 1)) break;
    }
    return atomic_load(&s->proc);
}

void mb_proctab_ref(mb_proctab *t, mb_pid pid) {
    atomic_fetch_add(&t->slots[mb_pid_slot(pid)].word, 1);
}

static void slot_release(mb_proctab *t, uint32_t i) {
    mb_slot *s = &t->slots[i];
    mb_proc *p = atomic_load(&s->proc);
    atomic_store(&s->proc, NULL);
    mb_proc_free(p);
    /* The next serial; 0 is skipped so that no pid is ever 0. */
    uint64_t w = atomic_load(&s->word);
    uint32_t serial = (SERIAL(w) + 1) & MB_LOCAL_SERIAL_MASK;
    if (serial == 0) serial = 1;
    atomic_store(&s->word, (uint64_t)serial << 32);
    pthread_mutex_lock(&t->free_lock);   /* to the back of the queue */
    s->next_free = UINT32_MAX;
    if (t->free_tail == UINT32_MAX) t->free_head = i;
    else t->slots[t->free_tail].next_free = i;
    t->free_tail = i;
    pthread_mutex_unlock(&t->free_lock);
}

void mb_proctab_put(mb_proctab *t, mb_pid pid) {
    uint32_t i = mb_pid_slot(pid);
    uint64_t w = atomic_fetch_sub(&t->slots[i].word, 1) - 1;
    if ((w & REFS_MASK) == 0 && !(w & ALIVE)) slot_release(t, i);
}

void mb_proctab_retire(mb_proctab *t, mb_pid pid) {
    uint32_t i = mb_pid_slot(pid);
    atomic_fetch_and(&t->slots[i].word, ~(uint64_t)ALIVE);
    atomic_fetch_sub(&t->count, 1);
    mb_proctab_put(t, pid);
}

int mb_proctab_alive(mb_proctab *t, mb_pid pid) {
    if (mb_value_kind(pid) != MB_VALUE_PID) return 0;
    uint32_t i = mb_pid_slot(pid);
    if (i >= t->size) return 0;
    uint64_t w = atomic_load(&t->slots[i].word);
    return (SERIAL(w) & MB_SERIAL_MASK) == mb_pid_serial(pid) && (w & ALIVE);
}

uint32_t mb_proctab_each(mb_proctab *t, void (*fn)(mb_pid, void *), void *ud) {
    uint32_t hwm = atomic_load(&t->used_hwm), n = 0;
    for (uint32_t i = 0; i < hwm; i++) {
        uint64_t w = atomic_load(&t->slots[i].word);
        if (!(w & ALIVE)) continue;
        if (fn) fn(mb_pid_make(i, SERIAL(w)), ud);
        n++;
    }
    return n;
}
