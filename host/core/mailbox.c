/* mailbox.c: the MPSC inbox and the save queue (see mailbox.h). */
#include "mailbox.h"

#include <stdlib.h>
#include <string.h>

mb_msg *mb_msg_new(mb_msg_kind kind, mb_pid from, mb_ref ref, size_t len) {
    mb_msg *m = malloc(sizeof *m + len);
    if (!m) return NULL;
    mb_msg_init(m, kind, from, ref, len);
    m->cap = (uint32_t)len;
    return m;
}

mb_msg *mb_msg_copy(mb_msg_kind kind, mb_pid from, mb_ref ref, const void *p, size_t len) {
    mb_msg *m = mb_msg_new(kind, from, ref, len);
    if (m && len) memcpy(m->data, p, len);
    return m;
}

void mb_inbox_init(mb_inbox *q) {
    atomic_store_explicit(&q->sentinel.next, NULL, memory_order_relaxed);
    q->head = &q->sentinel;
    atomic_store(&q->tail, &q->sentinel);
}

void mb_inbox_push(mb_inbox *q, mb_msg *m) {
    atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
    /* seq_cst: pairs with the consumer's status store before it sleeps
     * (the sender then reads the status; see process.c, mb_proc_wake). */
    mb_msg *prev = atomic_exchange(&q->tail, m);
    atomic_store_explicit(&prev->next, m, memory_order_release);
}

mb_msg *mb_inbox_pop(mb_inbox *q) {
    mb_msg *head = q->head;
    mb_msg *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &q->sentinel) {
        if (!next) return NULL;
        q->head = next;
        head = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        q->head = next;
        return head;
    }
    if (head != atomic_load(&q->tail)) return NULL;   /* a push is half done */
    mb_inbox_push(q, &q->sentinel);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        q->head = next;
        return head;
    }
    return NULL;
}

void mb_inbox_free_all(mb_inbox *q) {
    mb_msg *m;
    while ((m = mb_inbox_pop(q)) != NULL) free(m);
}

void mb_saveq_append(mb_saveq *s, mb_msg *m) {
    atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
    if (s->tail) atomic_store_explicit(&s->tail->next, m, memory_order_relaxed);
    else s->head = m;
    s->tail = m;
}

void mb_saveq_remove(mb_saveq *s, mb_msg *prev, mb_msg *m) {
    mb_msg *next = atomic_load_explicit(&m->next, memory_order_relaxed);
    if (prev) atomic_store_explicit(&prev->next, next, memory_order_relaxed);
    else s->head = next;
    if (s->tail == m) s->tail = prev;
}

void mb_saveq_free_all(mb_saveq *s) {
    mb_msg *m = s->head;
    while (m) {
        mb_msg *next = atomic_load_explicit(&m->next, memory_order_relaxed);
        free(m);
        m = next;
    }
    s->head = s->tail = NULL;
}
