/* pages.h: where process arenas get their 4 KB chunks (pages.c).
 *
 * One pool per runtime. A chunk comes from the pool's free list, else from
 * the unused tail of its newest slab (mapped at once, faulted in with the
 * mapping), so a host whose processes grow takes one system call a slab,
 * not one a chunk (malloc's per-thread heaps grow page by page, an mprotect
 * each). A host's first slabs are small (256 KB), so that a small host
 * stays small; the next ones are a huge page each (2 MB, aligned, where the
 * kernel's THP gives one): one fault, and under a hypervisor that shadows
 * page tables one shadow entry, where 4 KB pages took 512. The next slab is
 * mapped ahead by a scheduler with nothing to run (mb_pages_ahead), so that
 * the cost of fresh pages is paid there. A process that ends gives its
 * chunks back in one go; those given back while more than MB_PAGES_KEEP
 * bytes are free have their pages handed to the kernel (they stay mapped,
 * and come back zeroed when reused), so an idle host does not hold the
 * memory of processes long gone. They go in batches of MB_PAGES_BATCH
 * chunks, adjacent ones in one call, or when a scheduler has nothing to
 * run: each call makes the kernel flush the TLB of every core the host
 * runs on, and a call per ending process cost ~250 us of CPU each (5000
 * gen_servers stopped at once: 0.9 s; 0.15 s in batches).
 *
 * Slots are blocks of one size: a Lua state's first block, its global
 * state (~6 KB, the same in every state of a host), too big for a chunk;
 * a process's record. From malloc, each grew a scheduler thread's heap by
 * an mprotect call and page faults (aligned_alloc, for a record, split
 * blocks besides), a sixth of the CPU of starting a gen_server. They are carved
 * from runs of MB_PAGES_SLOT_RUN chunks of the slabs (a run's whole chunks
 * left over are chunks again); the first one taken fixes their size. Slots given back past
 * MB_PAGES_SLOTS_KEEP bytes have the pages wholly inside them handed to
 * the kernel, in batches, as chunks do.
 * Any thread; a mutex guards the lists. */
#ifndef MB_PAGES_H
#define MB_PAGES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_PAGES_CHUNK 4096
#define MB_PAGES_KEEP ((size_t)64 << 20)   /* free chunks kept resident */
#define MB_PAGES_BATCH 2048                 /* chunks handed back to the kernel at once */
#define MB_PAGES_SMALL_SLAB ((size_t)256 << 10)   /* a host's first slabs, */
#define MB_PAGES_SMALL_SLABS 4                     /* this many */
#define MB_PAGES_HUGE_SLAB ((size_t)2 << 20)       /* the next ones: a huge page each, */
#define MB_PAGES_HUGE_RETRY 16                     /* or 4 KB pages while those fault in faster:
                                                      huge ones tried again after this many */
#define MB_PAGES_SLOT_RUN 64                       /* chunks: 256 KB, 42 slots of LuaJIT's */
#define MB_PAGES_SLOTS_KEEP ((size_t)16 << 20)     /* free slots kept resident */
#define MB_PAGES_SLOTS_BATCH 256                   /* slots whose pages go back at once */

typedef struct mb_slab {
    struct mb_slab *next;
    char *base;
    size_t size;
    bool small_pages;           /* a 2 MB slab mapped in 4 KB pages */
    struct mb_slab *next_small; /* on the list of those to make a huge page (mb_pages_collapse) */
    uint64_t fault_ns;          /* CPU time its pages took to fault in */
} mb_slab;

/* Slots of one size (mb_pages_get_slot); the pool's mutex guards them. */
typedef struct mb_slots {
    size_t size;                /* every slot's; 0 until the first is taken */
    char *bump, *end;           /* the unused part of the newest run */
    void **free;                /* given back, resident */
    size_t nfree, free_cap;
    void **cold;                /* given back, their pages gone to the kernel */
    size_t ncold, cold_cap;
    void **pending;             /* given back past MB_PAGES_SLOTS_KEEP bytes: pages to go */
    size_t npending, pending_cap;
} mb_slots;

typedef struct mb_pages {
    pthread_mutex_t lock;
    void *free;                 /* chunks given back, linked through their first word */
    size_t nfree;
    void **cold;                /* free chunks whose pages went back to the kernel */
    size_t ncold, cold_cap;
    void **pending;             /* free chunks past MB_PAGES_KEEP whose pages go back in
                                   the next batch (still resident: taken before the cold) */
    size_t npending, pending_cap;
    mb_slots states;            /* Lua states' global states (arena.h) */
    mb_slots procs;             /* process records (process.h) */
    char *bump, *end;           /* the unused tail of the newest slab */
    struct mb_slab *spare;      /* the next slab, mapped ahead; NULL: none yet */
    bool making;                /* a thread is mapping the spare */
    struct mb_slab *slabs;      /* every mapping, unmapped by mb_pages_destroy */
    size_t nslabs;              /* how many: the next one's size */
    /* What the latest 2 MB slab in huge pages [0] and in 4 KB pages [1] took
     * to fault in (0: none yet), and how many slabs in a row were mapped in
     * 4 KB pages: see next_slab in pages.c. */
    uint64_t fault_ns[2];
    unsigned small_run;
    bool thp;                   /* the kernel makes huge pages when asked (THP not "never") */
    struct mb_slab *small;      /* slabs in 4 KB pages, not yet made huge pages */
} mb_pages;

int mb_pages_init(mb_pages *pg);   /* -1: no mutex */
/* Unmap every slab: every chunk must have been given back or be dead. */
void mb_pages_destroy(mb_pages *pg);
/* Map the next slab ahead if there is none, or hand the chunks pending
 * release to the kernel: true if this call did either (a scheduler with
 * nothing to run, before it sleeps). */
bool mb_pages_ahead(mb_pages *pg);
/* Make one slab mapped in 4 KB pages a huge page, in place (its contents
 * kept, while processes use it): a host with nothing else to do. true:
 * there was one. */
bool mb_pages_collapse(mb_pages *pg);
/* A chunk of MB_PAGES_CHUNK bytes, 16-byte aligned; NULL: no memory. */
void *mb_pages_get(mb_pages *pg);
/* Give back the chunks of a list linked through their first word (NULL
 * ends it), first to last. */
void mb_pages_put_list(mb_pages *pg, void *first, void *last, size_t n);
/* A slot of sl (one of pg's) of at least n bytes, 16-byte aligned, at a
 * multiple of the slots' size from a page-aligned run's start; NULL: no
 * memory, or n is more than the size the first one fixed. */
void *mb_pages_get_slot(mb_pages *pg, mb_slots *sl, size_t n);
void mb_pages_put_slot(mb_pages *pg, mb_slots *sl, void *slot);

#endif
