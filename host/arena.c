/* arena.c: size-class allocation for process states (see arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 4096
#define HEADER 16   /* keeps objects 16-byte aligned after the link word */

/* Under AddressSanitizer every object gets malloc, so overflows inside a
 * state are still caught. */
#if defined(__SANITIZE_ADDRESS__)
void *mb_arena_alloc(mb_arena *a, size_t n) { (void)a; return malloc(n); }
void mb_arena_free(mb_arena *a, void *p, size_t n) { (void)a; (void)n; free(p); }
void *mb_arena_realloc(mb_arena *a, void *p, size_t osize, size_t nsize) {
    (void)a;
    (void)osize;
    return realloc(p, nsize);
}
void mb_arena_release(mb_arena *a) { (void)a; }
#else

static size_t class_of(size_t n) { return (n + 15) / 16 - 1; }

void *mb_arena_alloc(mb_arena *a, size_t n) {
    if (n > MB_ARENA_SMALL) return malloc(n);
    size_t c = class_of(n), size = (c + 1) * 16;
    void *p = a->free[c];
    if (p) {
        memcpy(&a->free[c], p, sizeof(void *));
        return p;
    }
    if ((size_t)(a->end - a->bump) < size) {
        char *chunk = malloc(CHUNK);
        if (!chunk) return NULL;
        memcpy(chunk, &a->chunks, sizeof(void *));
        a->chunks = chunk;
        a->bump = chunk + HEADER;
        a->end = chunk + CHUNK;
    }
    p = a->bump;
    a->bump += size;
    return p;
}

void mb_arena_free(mb_arena *a, void *p, size_t n) {
    if (!p) return;
    if (n > MB_ARENA_SMALL) {
        free(p);
        return;
    }
    size_t c = class_of(n);
    memcpy(p, &a->free[c], sizeof(void *));
    a->free[c] = p;
}

void *mb_arena_realloc(mb_arena *a, void *p, size_t osize, size_t nsize) {
    if (osize > MB_ARENA_SMALL && nsize > MB_ARENA_SMALL) return realloc(p, nsize);
    if (osize <= MB_ARENA_SMALL && nsize <= MB_ARENA_SMALL && class_of(osize) == class_of(nsize))
        return p;
    void *np = mb_arena_alloc(a, nsize);
    if (!np) return NULL;
    memcpy(np, p, osize < nsize ? osize : nsize);
    mb_arena_free(a, p, osize);
    return np;
}

void mb_arena_release(mb_arena *a) {
    void *c = a->chunks;
    while (c) {
        void *next;
        memcpy(&next, c, sizeof next);
        free(c);
        c = next;
    }
    memset(a, 0, sizeof *a);
}
#endif
