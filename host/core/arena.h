/* arena.h: the allocator behind each process's Lua state.
 *
 * Lua tells the allocator an object's size when it frees or resizes it, so
 * objects need no malloc header: those up to MB_ARENA_MEDIUM are carved
 * from 4 KB chunks owned by the process (from the runtime's pool, pages.h),
 * by size class (multiples of 16 up to 256 bytes, of 64 up to 2 KB), with
 * a free list per class. Bigger blocks go to malloc, each with a header
 * that links it into the arena's list. (A new state's bytecode, stacks and
 * tables are a few dozen blocks of 256 bytes to 2 KB: from malloc, each
 * grew a scheduler thread's heap a page at a time, under its lock.)
 * Except a new arena's first block, when big (a Lua state's global state):
 * a slot of the pool's (pages.h).
 * Everything goes back in one sweep when the process ends, even what the
 * state never freed: a state abandoned in the middle of its code
 * (sysmon.h) is released that way.
 * Owner thread only. */
#ifndef MB_ARENA_H
#define MB_ARENA_H

#include <stddef.h>
#include "asan.h"

#define MB_ARENA_SMALL 256    /* up to here, classes 16 bytes apart */
#define MB_ARENA_MEDIUM 2048  /* up to here, MB_ARENA_STEP bytes apart; larger blocks come from malloc */
#define MB_ARENA_STEP 64
#define MB_ARENA_CLASSES (MB_ARENA_SMALL / 16 + (MB_ARENA_MEDIUM - MB_ARENA_SMALL) / MB_ARENA_STEP)

typedef struct mb_arena {
    void *chunks;                       /* singly linked through their first word */
    char *bump, *end;                   /* the unused tail of the newest chunk */
    void *free[MB_ARENA_CLASSES];
    struct mb_big *big;                 /* blocks from malloc, doubly linked */
    void *slot;                         /* its first block, from the pool's slots; or NULL */
    struct mb_pages *pages;             /* where chunks come from and go back to */
} mb_arena;

void *mb_arena_alloc_slow(mb_arena *a, size_t n);
void mb_arena_free_slow(mb_arena *a, void *p, size_t n);
void *mb_arena_realloc(mb_arena *a, void *p, size_t osize, size_t nsize);

/* The class that holds n bytes (n <= MB_ARENA_MEDIUM), and its size. */
static inline size_t mb_arena_class_of(size_t n) {
    if (n <= MB_ARENA_SMALL) return (n + 15) / 16 - 1;
    return MB_ARENA_SMALL / 16 + (n - MB_ARENA_SMALL + MB_ARENA_STEP - 1) / MB_ARENA_STEP - 1;
}

static inline size_t mb_arena_class_size(size_t c) {
    if (c < MB_ARENA_SMALL / 16) return (c + 1) * 16;
    return MB_ARENA_SMALL + (c - MB_ARENA_SMALL / 16 + 1) * MB_ARENA_STEP;
}

/* Inline: a Lua state allocates or frees on most things it does (a string,
 * a table, a closure), and a call into arena.c cost more than the free-list
 * pop or the bump it mostly does (a new state's ~700 allocations are nearly
 * all bumps: nothing was freed yet). */
static inline void *mb_arena_alloc(mb_arena *a, size_t n) {
#ifndef MB_ASAN   /* there every object is a block of its own (arena.c) */
    if (n <= MB_ARENA_MEDIUM) {
        size_t c = mb_arena_class_of(n);
        char *p = a->free[c];
        if (p) {
            __builtin_memcpy(&a->free[c], p, sizeof(void *));
            return p;
        }
        size_t size = mb_arena_class_size(c);
        p = a->bump;
        if ((size_t)(a->end - p) >= size) {
            a->bump = p + size;
            return p;
        }
    }
#endif
    return mb_arena_alloc_slow(a, n);
}

static inline void mb_arena_free(mb_arena *a, void *p, size_t n) {
#ifndef MB_ASAN
    if (p && n <= MB_ARENA_MEDIUM) {
        size_t c = mb_arena_class_of(n);
        __builtin_memcpy(p, &a->free[c], sizeof(void *));
        a->free[c] = p;
        return;
    }
#endif
    mb_arena_free_slow(a, p, n);
}
/* Release every chunk and every big block: all the arena holds (the
 * arena stays bound to its pool). */
void mb_arena_release(mb_arena *a);

#endif
