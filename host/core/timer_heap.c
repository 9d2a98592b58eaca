/* timer_heap.c: a min-heap of due times with removal by place (see
 * timer_heap.h). */
#include "timer_heap.h"

#include <stdlib.h>

/* Whether a fires before b. */
static bool before(const mb_heap_node *a, const mb_heap_node *b) {
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void place(mb_heap *h, size_t i, mb_heap_node *n) {
    h->v[i] = n;
    n->at = i;
}

/* Move the node at i towards the root while it is due before its parent. */
static void sift_up(mb_heap *h, size_t i) {
    mb_heap_node *n = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(n, h->v[parent])) break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, n);
}

/* Move the node at i towards the leaves while a child is due before it. */
static void sift_down(mb_heap *h, size_t i) {
    mb_heap_node *n = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(h->v[c + 1], h->v[c])) c++;
        if (!before(h->v[c], n)) break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, n);
}

int mb_heap_push(mb_heap *h, mb_heap_node *n) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 256;
        mb_heap_node **v = realloc(h->v, cap * sizeof *v);
        if (!v) return -1;
        h->v = v;
        h->cap = cap;
    }
    n->seq = h->pushes++;
    h->v[h->n] = n;
    n->at = h->n++;
    sift_up(h, n->at);
    return 0;
}

void mb_heap_remove(mb_heap *h, mb_heap_node *n) {
    size_t i = n->at;
    n->at = MB_HEAP_NOWHERE;
    mb_heap_node *last = h->v[--h->n];
    if (i == h->n) return;   /* it was the last */
    place(h, i, last);
    if (i > 0 && before(last, h->v[(i - 1) / 2])) sift_up(h, i);
    else sift_down(h, i);
}

void mb_heap_free(mb_heap *h) {
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
