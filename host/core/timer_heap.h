/* timer_heap.h: a binary min-heap of due times, each node knowing its place,
 * so that one is taken out from anywhere in O(log n): the timer thread's
 * pending send_after timers (timer.c), fired in due order. The nodes are the
 * caller's, embedded in its records; the heap holds pointers to them. One
 * thread only. */
#ifndef MB_TIMER_HEAP_H
#define MB_TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_HEAP_NOWHERE ((size_t)-1)

typedef struct mb_heap_node {
    double due;         /* ms, on mb_now_ms's clock */
    size_t at;          /* its index in the heap, or MB_HEAP_NOWHERE */
    uint64_t seq;       /* its push's number: of two due at once, the first pushed comes first */
} mb_heap_node;

typedef struct mb_heap {
    mb_heap_node **v;
    size_t n, cap;
    uint64_t pushes;
} mb_heap;

/* Add n (not in the heap); -1: no memory, n stays out. */
int mb_heap_push(mb_heap *h, mb_heap_node *n);
/* Take n out of the heap (it must be in it). */
void mb_heap_remove(mb_heap *h, mb_heap_node *n);
/* The earliest, or NULL when empty. */
static inline mb_heap_node *mb_heap_top(const mb_heap *h) { return h->n ? h->v[0] : NULL; }
static inline bool mb_heap_holds(const mb_heap_node *n) { return n->at != MB_HEAP_NOWHERE; }
/* The array; the nodes are the caller's to free. */
void mb_heap_free(mb_heap *h);

#endif
