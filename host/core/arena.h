/* arena.h: the allocator behind each process's Lua state.
 *
 * Lua tells the allocator an object's size when it frees or resizes it, so
 * objects need no malloc header: those up to MB_ARENA_MEDIUM are carved
 * from 4 KB chunks owned by the process (from the runtime's pool, pages.h),
 * by size class (multiples of 16 up to 256 bytes, of 128 up to 2 KB), with
 * a free list per class. Bigger blocks go to malloc, each with a header
 * that links it into the arena's list. (A new state's bytecode, stacks and
 * tables are a few dozen blocks of 256 bytes to 2 KB: from malloc, each
 * grew a scheduler thread's heap a page at a time, under its lock.)
 * Everything goes back in one sweep when the process ends, even what the
 * state never freed: a state abandoned in the middle of its code
 * (sysmon.h) is released that way.
 * Owner thread only. */
#ifndef MB_ARENA_H
#define MB_ARENA_H

#include <stddef.h>

#define MB_ARENA_SMALL 256    /* up to here, classes 16 bytes apart */
#define MB_ARENA_MEDIUM 2048  /* up to here, 128 bytes apart; larger blocks come from malloc */
#define MB_ARENA_CLASSES (MB_ARENA_SMALL / 16 + (MB_ARENA_MEDIUM - MB_ARENA_SMALL) / 128)

typedef struct mb_arena {
    void *chunks;                       /* singly linked through their first word */
    char *bump, *end;                   /* the unused tail of the newest chunk */
    void *free[MB_ARENA_CLASSES];
    struct mb_big *big;                 /* blocks from malloc, doubly linked */
    struct mb_pages *pages;             /* where chunks come from and go back to */
} mb_arena;

void *mb_arena_alloc(mb_arena *a, size_t n);
void mb_arena_free(mb_arena *a, void *p, size_t n);
void *mb_arena_realloc(mb_arena *a, void *p, size_t osize, size_t nsize);
/* Release every chunk and every big block: all the arena holds (the
 * arena stays bound to its pool). */
void mb_arena_release(mb_arena *a);

#endif
