/* arena.c: size-class allocation for process states (see arena.h). */
#include "arena.h"
#include "pages.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK MB_PAGES_CHUNK
#define HEADER 16   /* keeps objects 16-byte aligned after the link word */

/* A block from malloc; the object follows the header. */
typedef struct mb_big {
    struct mb_big *prev, *next;
} mb_big;
_Static_assert(sizeof(mb_big) <= HEADER, "a big block's header keeps 16-byte alignment");

static void *big_alloc(mb_arena *a, size_t n) {
    mb_big *b = malloc(HEADER + n);
    if (!b) return NULL;
    b->prev = NULL;
    b->next = a->big;
    if (a->big) a->big->prev = b;
    a->big = b;
    return (char *)b + HEADER;
}

static mb_big *big_of(void *p) { return (mb_big *)((char *)p - HEADER); }

static void big_unlink(mb_arena *a, mb_big *b) {
    if (b->prev) b->prev->next = b->next;
    else a->big = b->next;
    if (b->next) b->next->prev = b->prev;
}

static void big_free(mb_arena *a, void *p) {
    mb_big *b = big_of(p);
    big_unlink(a, b);
    free(b);
}

static void *big_realloc(mb_arena *a, void *p, size_t n) {
    mb_big *old = big_of(p);
    mb_big *b = realloc(old, HEADER + n);
    if (!b) return NULL;   /* the old block stays, linked */
    if (b->prev) b->prev->next = b;
    else a->big = b;
    if (b->next) b->next->prev = b;
    return (char *)b + HEADER;
}

static void big_release(mb_arena *a) {
    for (mb_big *b = a->big, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->big = NULL;
}

#ifdef MB_ASAN
/* Under AddressSanitizer every object is a block of its own, so overflows
 * inside a state are still caught (asan.h). */
void *mb_arena_alloc_slow(mb_arena *a, size_t n) { return big_alloc(a, n); }
void mb_arena_free_slow(mb_arena *a, void *p, size_t n) {
    (void)n;
    if (p) big_free(a, p);
}
void *mb_arena_realloc(mb_arena *a, void *p, size_t osize, size_t nsize) {
    (void)osize;
    return big_realloc(a, p, nsize);
}
void mb_arena_release(mb_arena *a) { big_release(a); }   /* its pool stays */
#else

#define SMALL_CLASSES (MB_ARENA_SMALL / 16)

/* The largest class no bigger than n bytes (n >= 16, a multiple of 16). */
static size_t class_within(size_t n) {
    if (n < MB_ARENA_SMALL + MB_ARENA_STEP) return n >= MB_ARENA_SMALL ? SMALL_CLASSES - 1 : n / 16 - 1;
    size_t k = (n - MB_ARENA_SMALL) / MB_ARENA_STEP;
    if (k > MB_ARENA_CLASSES - SMALL_CLASSES) k = MB_ARENA_CLASSES - SMALL_CLASSES;
    return SMALL_CLASSES + k - 1;
}

/* The newest chunk's unused tail, too short for the block asked for, goes
 * to the free lists as blocks of the largest classes it holds, rather than
 * to waste (a multiple of 16 bytes: down to the smallest class). */
static void keep_tail(mb_arena *a) {
    size_t left = (size_t)(a->end - a->bump);
    while (left >= 16) {
        size_t c = class_within(left), size = mb_arena_class_size(c);
        memcpy(a->bump, &a->free[c], sizeof(void *));
        a->free[c] = a->bump;
        a->bump += size;
        left -= size;
    }
}

/* A freed medium block at least size bytes long, the largest there is,
 * made the tail to carve from: medium blocks freed (a buffer that grew, a
 * table resized) serve smaller ones rather than wait for their own size.
 * false: none. */
static bool carve_freed(mb_arena *a, size_t size) {
    for (size_t c = MB_ARENA_CLASSES; c-- > SMALL_CLASSES && mb_arena_class_size(c) >= size;) {
        char *p = a->free[c];
        if (!p) continue;
        memcpy(&a->free[c], p, sizeof(void *));
        a->bump = p;
        a->end = p + mb_arena_class_size(c);
        return true;
    }
    return false;
}

/* A chunk from the pool made the tail to carve from; false: no memory. */
static bool new_chunk(mb_arena *a) {
    char *chunk = mb_pages_get(a->pages);
    if (!chunk) return false;
    memcpy(chunk, &a->chunks, sizeof(void *));
    a->chunks = chunk;
    a->bump = chunk + HEADER;
    a->end = chunk + CHUNK;
    return true;
}

/* A big block: a slot if it is the arena's first block, else malloc's. */
static void *big_or_slot(mb_arena *a, size_t n) {
    if (!a->chunks && !a->big && !a->slot && a->bump == a->end) {
        a->slot = mb_pages_get_slot(a->pages, &a->pages->states, n);
        if (a->slot) return a->slot;
    }
    return big_alloc(a, n);
}

/* A block that neither its class's free list nor the newest chunk's
 * unused tail had (mb_arena_alloc took it from those), or a big one. */
void *mb_arena_alloc_slow(mb_arena *a, size_t n) {
    if (n > MB_ARENA_MEDIUM) return big_or_slot(a, n);
    size_t size = mb_arena_class_size(mb_arena_class_of(n));
    if ((size_t)(a->end - a->bump) < size) {
        keep_tail(a);
        if (!carve_freed(a, size) && !new_chunk(a)) return NULL;
    }
    void *p = a->bump;
    a->bump += size;
    return p;
}

/* A big block, or nothing (mb_arena_free keeps the others). */
void mb_arena_free_slow(mb_arena *a, void *p, size_t n) {
    if (p && n > MB_ARENA_MEDIUM && p != a->slot) big_free(a, p);   /* the slot goes with the arena */
}

void *mb_arena_realloc(mb_arena *a, void *p, size_t osize, size_t nsize) {
    if (osize > MB_ARENA_MEDIUM && nsize > MB_ARENA_MEDIUM && p != a->slot) return big_realloc(a, p, nsize);
    if (osize <= MB_ARENA_MEDIUM && nsize <= MB_ARENA_MEDIUM &&
        mb_arena_class_of(osize) == mb_arena_class_of(nsize))
        return p;
    void *np = mb_arena_alloc(a, nsize);
    if (!np) return NULL;
    memcpy(np, p, osize < nsize ? osize : nsize);
    mb_arena_free(a, p, osize);
    return np;
}

void mb_arena_release(mb_arena *a) {
    void *last = NULL;
    size_t n = 0;
    for (void *c = a->chunks; c; n++) {
        last = c;
        memcpy(&c, c, sizeof c);
    }
    mb_pages_put_list(a->pages, a->chunks, last, n);
    if (a->slot) mb_pages_put_slot(a->pages, &a->pages->states, a->slot);
    big_release(a);
    mb_pages *pages = a->pages;
    memset(a, 0, sizeof *a);
    a->pages = pages;
}
#endif
