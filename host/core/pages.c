/* pages.c: the runtime's pool of arena chunks and slots (see pages.h). */
#include "pages.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Whether the kernel makes huge pages for memory that asks for them
 * (transparent huge pages "always" or "madvise"). MADV_COLLAPSE makes one
 * whatever that setting says, with compaction if need be: where it is
 * "never", or the kernel has none, no slab is mapped in 4 KB pages to be
 * collapsed later (next_slab). */
static bool thp_on(void) {
    char mode[64];
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return false;
    bool known = fgets(mode, sizeof mode, f) != NULL;
    fclose(f);
    return known && !strstr(mode, "[never]");
}

int mb_pages_init(mb_pages *pg) {
    memset(pg, 0, sizeof *pg);
    pg->thp = thp_on();
    return pthread_mutex_init(&pg->lock, NULL) ? -1 : 0;
}

void mb_pages_destroy(mb_pages *pg) {
    for (mb_slab *s = pg->slabs, *next; s; s = next) {
        next = s->next;
        munmap(s->base, s->size);
        free(s);
    }
    free(pg->cold);
    free(pg->pending);
    mb_slots *kinds[] = {&pg->states, &pg->procs};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        free(kinds[i]->free);
        free(kinds[i]->cold);
        free(kinds[i]->pending);
    }
    pthread_mutex_destroy(&pg->lock);
    memset(pg, 0, sizeof *pg);
}

/* How the next slab is to be mapped. */
typedef struct slab_plan {
    size_t size;
    bool small_pages;   /* a 2 MB slab in 4 KB pages */
} slab_plan;

/* The next slab: a host's first ones small, then 2 MB ones in huge pages,
 * unless 4 KB pages faulted in faster at their latest try. Under a
 * hypervisor that gives memory back to its host (free page reporting: the
 * guest's free 2 MB blocks are handed back after a few seconds unused), a
 * huge page made of such memory took ~3.3 ms to fault in and write where
 * one used a moment ago took 0.13 ms, and 2 MB of 4 KB pages ~3 ms either
 * way, most of it the first write to each page (bench/pagefault.c): a
 * gen_server's start, 38 KB of new memory, went from 18 to 57 µs when the
 * host's memory had been idle. Huge pages are tried again every
 * MB_PAGES_HUGE_RETRY slabs, 4 KB ones once after a huge slab that was
 * dearer than their last. A slab in 4 KB pages is made a huge page later,
 * when the host is idle (mb_pages_collapse): 1000 processes in 4 KB pages
 * passed a message round a ring ~6% slower (TLB misses). Lock held. */
static slab_plan next_slab(const mb_pages *pg) {
    if (pg->nslabs < MB_PAGES_SMALL_SLABS) return (slab_plan){MB_PAGES_SMALL_SLAB, false};
    bool small = pg->thp && pg->fault_ns[0] > pg->fault_ns[1] && pg->small_run < MB_PAGES_HUGE_RETRY;
    return (slab_plan){MB_PAGES_HUGE_SLAB, small};
}

/* Note what s's pages took (next_slab's measure). Lock held. */
static void note_fault_cost(mb_pages *pg, const mb_slab *s) {
    if (s->size != MB_PAGES_HUGE_SLAB) return;
    pg->fault_ns[s->small_pages] = s->fault_ns ? s->fault_ns : 1;
    pg->small_run = s->small_pages ? pg->small_run + 1 : 0;
}

static uint64_t thread_cpu_ns(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)) return 0;
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A mapping as planned (a 2 MB one aligned to its size), its pages
 * faulted in by one call, in bulk (the kernel zeroes each: the cost of
 * fresh memory, paid here rather than one fault at a time in a process's
 * slice), then each written once: under a hypervisor that shadows page
 * tables a page's first write costs microseconds more, which came at the
 * first store into each new chunk (26% of starting a gen_server on the
 * development VM). The thread's CPU time for it is noted: a thread
 * preempted meanwhile does not make the pages look dear. */
static mb_slab *map_slab(slab_plan plan) {
    size_t size = plan.size;
    mb_slab *s = malloc(sizeof *s);
    if (!s) return NULL;
    size_t span = size == MB_PAGES_HUGE_SLAB ? 2 * size : size;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        free(s);
        return NULL;
    }
    char *base = raw;
    if (span > size) {
        base = (char *)(((uintptr_t)raw + size - 1) & ~(uintptr_t)(size - 1));
        if (base > raw) munmap(raw, (size_t)(base - raw));
        if (base + size < raw + span) munmap(base + size, (size_t)(raw + span - (base + size)));
        /* A kernel without THP maps 4 KB pages whatever is asked. */
        madvise(base, size, plan.small_pages ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
    }
    uint64_t t0 = thread_cpu_ns();
#ifdef MADV_POPULATE_WRITE
    madvise(base, size, MADV_POPULATE_WRITE);   /* Linux 5.14; before it, the loop faults them */
#endif
    for (size_t off = 0; off < size; off += MB_PAGES_CHUNK) ((volatile char *)base)[off] = 0;
    s->fault_ns = thread_cpu_ns() - t0;
    s->base = base;
    s->size = size;
    s->small_pages = plan.small_pages;
    s->next_small = NULL;
    return s;
}

/* The whole chunks from from (page-aligned) to to onto the free list, the
 * first of them to be taken first. Lock held. */
static void free_chunks(mb_pages *pg, char *from, char *to) {
    for (size_t i = (size_t)(to - from) / MB_PAGES_CHUNK; i-- > 0;) {
        char *c = from + i * MB_PAGES_CHUNK;
        memcpy(c, &pg->free, sizeof(void *));
        pg->free = c;
        pg->nfree++;
    }
}

/* The slab made ahead becomes the tail to take from; what the old tail
 * had left goes to the free list. Lock held. */
static void use_spare(mb_pages *pg) {
    if (pg->bump < pg->end) free_chunks(pg, pg->bump, pg->end);
    pg->bump = pg->spare->base;
    pg->end = pg->spare->base + pg->spare->size;
    pg->spare = NULL;
}

/* A chunk from what the pool holds, or NULL. Lock held. */
static void *take(mb_pages *pg) {
    void *c = NULL;
    if (pg->free) {
        c = pg->free;
        memcpy(&pg->free, c, sizeof(void *));
        pg->nfree--;
        return c;
    }
    if (pg->npending) return pg->pending[--pg->npending];   /* resident still: no fault */
    if (pg->bump >= pg->end && pg->spare) use_spare(pg);
    if (pg->bump < pg->end) {
        c = pg->bump;
        pg->bump += MB_PAGES_CHUNK;
    } else if (pg->ncold) {
        c = pg->cold[--pg->ncold];
    }
    return c;
}

/* Link s into the pool: as the spare (ahead), as the bump region if that
 * is used up, else as free chunks (another thread refilled meanwhile).
 * Lock held. */
static void install(mb_pages *pg, mb_slab *s, bool ahead) {
    note_fault_cost(pg, s);
    if (s->small_pages) {
        s->next_small = pg->small;
        pg->small = s;
    }
    s->next = pg->slabs;
    pg->slabs = s;
    pg->nslabs++;
    char *base = s->base;
    if (ahead && !pg->spare) {
        pg->spare = s;
    } else if (pg->bump >= pg->end) {
        pg->bump = base;
        pg->end = base + s->size;
    } else {
        free_chunks(pg, base, base + s->size);
    }
}

/* Room in the array *v (n used, *cap long) for more. Lock held. */
static bool room(void ***v, size_t n, size_t *cap, size_t more) {
    if (n + more <= *cap) return true;
    size_t c = *cap ? *cap : 1024;
    while (c < n + more) c *= 2;
    void **nv = realloc(*v, c * sizeof *nv);
    if (!nv) return false;
    *v = nv;
    *cap = c;
    return true;
}

static int by_address(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

/* Hand the pages of the n chunks at v to the kernel, a run of adjacent
 * chunks (a process's, taken from one slab in turn) in one call. */
static void release(void **v, size_t n) {
    qsort(v, n, sizeof *v, by_address);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && (char *)v[j] == (char *)v[j - 1] + MB_PAGES_CHUNK; j++) {}
        madvise(v[i], (j - i) * MB_PAGES_CHUNK, MADV_DONTNEED);
    }
}

/* The chunks pending release go to the kernel, then to the cold stack.
 * Called and returns with the lock held, which it lets go meanwhile: a
 * batch's calls take milliseconds, and other threads take chunks then.
 * false: there were none. */
static bool release_pending(mb_pages *pg) {
    if (!pg->npending) return false;
    void **batch = pg->pending;
    size_t k = pg->npending;
    pg->pending = NULL;
    pg->npending = pg->pending_cap = 0;
    pthread_mutex_unlock(&pg->lock);
    release(batch, k);
    pthread_mutex_lock(&pg->lock);
    if (room(&pg->cold, pg->ncold, &pg->cold_cap, k)) {
        memcpy(pg->cold + pg->ncold, batch, k * sizeof *batch);
        pg->ncold += k;
    } else {   /* no memory for the cold stack: free chunks all the same (they fault in afresh) */
        for (size_t i = 0; i < k; i++) {
            memcpy(batch[i], &pg->free, sizeof(void *));
            pg->free = batch[i];
        }
        pg->nfree += k;
    }
    free(batch);
    return true;
}

static bool release_slots_pending(mb_pages *pg, mb_slots *sl);

bool mb_pages_ahead(mb_pages *pg) {
    pthread_mutex_lock(&pg->lock);
    bool released = release_pending(pg);
    released |= release_slots_pending(pg, &pg->states);
    released |= release_slots_pending(pg, &pg->procs);
    if (released) {   /* an idle host keeps no batch half full */
        pthread_mutex_unlock(&pg->lock);
        return true;
    }
    bool make = !pg->spare && !pg->making;
    pg->making = make;
    slab_plan plan = next_slab(pg);
    pthread_mutex_unlock(&pg->lock);
    if (!make) return false;
    mb_slab *s = map_slab(plan);   /* outside the lock: the slow part */
    pthread_mutex_lock(&pg->lock);
    pg->making = false;
    if (s) install(pg, s, true);
    pthread_mutex_unlock(&pg->lock);
    return s != NULL;
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25   /* Linux 6.1; glibc's headers may not name it yet */
#endif

/* Whether every page of s is in memory: a collapse would fill the pages of
 * chunks handed back to the kernel (release) with zeroes again. */
static bool all_resident(const mb_slab *s) {
    unsigned char in[MB_PAGES_HUGE_SLAB / 4096];   /* a byte a page, of 4 KB or more */
    long page = sysconf(_SC_PAGESIZE);
    if (page < 4096 || s->size > MB_PAGES_HUGE_SLAB || mincore(s->base, s->size, in)) return false;
    for (size_t i = 0; i < s->size / (size_t)page; i++)
        if (!(in[i] & 1)) return false;
    return true;
}

bool mb_pages_collapse(mb_pages *pg) {
    pthread_mutex_lock(&pg->lock);
    mb_slab *s = pg->small;
    if (s) pg->small = s->next_small;
    pthread_mutex_unlock(&pg->lock);
    if (!s) return false;
    if (all_resident(s)) {
        /* Copied into a new huge page and remapped by the kernel; an older
         * kernel, or none free, leaves it in 4 KB pages. */
        madvise(s->base, s->size, MADV_HUGEPAGE);
        madvise(s->base, s->size, MADV_COLLAPSE);
    }
    return true;
}

void *mb_pages_get(mb_pages *pg) {
    pthread_mutex_lock(&pg->lock);
    void *c = take(pg);
    slab_plan plan = next_slab(pg);
    pthread_mutex_unlock(&pg->lock);
    if (c) return c;
    /* Mapped outside the lock: other threads take chunks meanwhile. */
    mb_slab *s = map_slab(plan);
    pthread_mutex_lock(&pg->lock);
    if (s) install(pg, s, false);
    c = take(pg);
    pthread_mutex_unlock(&pg->lock);
    return c;
}

void mb_pages_put_list(mb_pages *pg, void *first, void *last, size_t n) {
    if (!first) return;
    pthread_mutex_lock(&pg->lock);
    if ((pg->nfree + n) * MB_PAGES_CHUNK > MB_PAGES_KEEP && room(&pg->pending, pg->npending, &pg->pending_cap, n)) {
        /* Not linked through themselves: their pages are to go. */
        for (void *c = first; c; memcpy(&c, c, sizeof c)) pg->pending[pg->npending++] = c;
        if (pg->npending >= MB_PAGES_BATCH) release_pending(pg);
    } else {
        memcpy(last, &pg->free, sizeof(void *));
        pg->free = first;
        pg->nfree += n;
    }
    pthread_mutex_unlock(&pg->lock);
}

/* -- slots ---------------------------------------------------------------- */

/* n adjacent chunks of the newest slab's tail (the slab made ahead when
 * this one has fewer left); NULL: none. Lock held. */
static char *take_run(mb_pages *pg, size_t n) {
    size_t bytes = n * MB_PAGES_CHUNK;
    if ((size_t)(pg->end - pg->bump) < bytes && pg->spare) use_spare(pg);
    if ((size_t)(pg->end - pg->bump) < bytes) return NULL;
    char *run = pg->bump;
    pg->bump += bytes;
    return run;
}

/* A slot of sl from what the pool holds: resident ones first, then one
 * whose pages went (they fault in afresh), then a new one. NULL: no run
 * left. Lock held. */
static void *take_slot(mb_pages *pg, mb_slots *sl) {
    if (sl->nfree) return sl->free[--sl->nfree];
    if (sl->npending) return sl->pending[--sl->npending];
    if (sl->ncold) return sl->cold[--sl->ncold];
    if ((size_t)(sl->end - sl->bump) < sl->size) {
        /* What the last run has left, in whole chunks, is chunks again. */
        uintptr_t page = MB_PAGES_CHUNK - 1;
        if (sl->end) free_chunks(pg, (char *)(((uintptr_t)sl->bump + page) & ~page), sl->end);
        char *run = take_run(pg, MB_PAGES_SLOT_RUN);
        if (!run) return NULL;
        sl->bump = run;
        sl->end = run + MB_PAGES_SLOT_RUN * MB_PAGES_CHUNK;
    }
    void *slot = sl->bump;
    sl->bump += sl->size;
    return slot;
}

void *mb_pages_get_slot(mb_pages *pg, mb_slots *sl, size_t n) {
    size_t size = (n + 15) & ~(size_t)15;
    pthread_mutex_lock(&pg->lock);
    if (!sl->size) sl->size = size;
    if (size > sl->size) {
        pthread_mutex_unlock(&pg->lock);
        return NULL;
    }
    void *slot = take_slot(pg, sl);
    slab_plan plan = next_slab(pg);
    pthread_mutex_unlock(&pg->lock);
    if (slot) return slot;
    mb_slab *s = map_slab(plan);   /* outside the lock, as mb_pages_get */
    if (!s) return NULL;
    pthread_mutex_lock(&pg->lock);
    install(pg, s, true);   /* the spare, which take_run makes the tail */
    slot = take_slot(pg, sl);
    pthread_mutex_unlock(&pg->lock);
    return slot;
}

/* Hand the kernel the pages wholly inside the n slots at v (size bytes
 * each): adjacent slots in one call, and the pages they share with it. */
static void release_slots(void **v, size_t n, size_t size) {
    qsort(v, n, sizeof *v, by_address);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && (char *)v[j] == (char *)v[j - 1] + size; j++) {}
        uintptr_t page = MB_PAGES_CHUNK - 1;
        uintptr_t lo = ((uintptr_t)v[i] + page) & ~page, hi = ((uintptr_t)v[j - 1] + size) & ~page;
        if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
}

/* As release_pending, for sl's slots. Lock held, let go meanwhile. */
static bool release_slots_pending(mb_pages *pg, mb_slots *sl) {
    if (!sl->npending) return false;
    void **batch = sl->pending;
    size_t k = sl->npending, size = sl->size;
    sl->pending = NULL;
    sl->npending = sl->pending_cap = 0;
    pthread_mutex_unlock(&pg->lock);
    release_slots(batch, k, size);
    pthread_mutex_lock(&pg->lock);
    /* No room: the slots are lost to the pool until the host ends (their
     * slabs are unmapped then). */
    if (room(&sl->cold, sl->ncold, &sl->cold_cap, k)) {
        memcpy(sl->cold + sl->ncold, batch, k * sizeof *batch);
        sl->ncold += k;
    }
    free(batch);
    return true;
}

void mb_pages_put_slot(mb_pages *pg, mb_slots *sl, void *slot) {
    pthread_mutex_lock(&pg->lock);
    if ((sl->nfree + 1) * sl->size <= MB_PAGES_SLOTS_KEEP) {
        /* No room for its pointer: lost to the pool until the host ends. */
        if (room(&sl->free, sl->nfree, &sl->free_cap, 1)) sl->free[sl->nfree++] = slot;
    } else if (room(&sl->pending, sl->npending, &sl->pending_cap, 1)) {
        sl->pending[sl->npending++] = slot;
        if (sl->npending >= MB_PAGES_SLOTS_BATCH) release_slots_pending(pg, sl);
    }
    pthread_mutex_unlock(&pg->lock);
}
