/* bench/pagefault.c — what fresh memory costs the kernel to fault in, in
 * huge pages and in 4 KB pages: the measure host/core/pages.c takes of
 * each 2 MB slab to choose between them.
 *
 *   cc -O2 -o /tmp/pagefault bench/pagefault.c && /tmp/pagefault 256
 *
 * Maps MB megabytes (default 256) twice, once advised for huge pages and
 * once not, faults each 2 MB in with MADV_POPULATE_WRITE (as pages.c does)
 * and prints ms per 2 MB and µs per 38 KB (a gen_server's start). Run it
 * after the machine has been idle for a while and again at once: under a
 * hypervisor that takes back a guest's free 2 MB blocks (free page
 * reporting) the first huge-page figure is the dear one. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define SLAB ((size_t)2 << 20)

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ms per 2 MB slab to fault in size bytes, in huge pages or not; < 0: no memory. */
static double fault_in(size_t size, int huge) {
    char *raw = mmap(NULL, size + SLAB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return -1;
    char *base = (char *)(((uintptr_t)raw + SLAB - 1) & ~(uintptr_t)(SLAB - 1));
    madvise(base, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    double t0 = now_ms();
    for (size_t off = 0; off < size; off += SLAB) {
#ifdef MADV_POPULATE_WRITE
        if (madvise(base + off, SLAB, MADV_POPULATE_WRITE) == 0) continue;
#endif
        for (size_t i = 0; i < SLAB; i += 4096) base[off + i] = 1;
    }
    double ms = (now_ms() - t0) / (double)(size / SLAB);
    munmap(raw, size + SLAB);
    return ms;
}

int main(int argc, char **argv) {
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    if (mb < 2) mb = 2;
    size_t size = (mb / 2) * SLAB;
    for (int huge = 1; huge >= 0; huge--) {
        double ms = fault_in(size, huge);
        if (ms < 0) {
            fprintf(stderr, "pagefault: no memory for %zu MB\n", mb);
            return 1;
        }
        printf("%-12s %.3f ms per 2 MB, %.1f us per 38 KB\n", huge ? "huge pages" : "4 KB pages", ms,
               ms * 1e3 * 38.0 / 2048.0);
    }
    return 0;
}
