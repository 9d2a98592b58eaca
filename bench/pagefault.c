/* bench/pagefault.c — what fresh memory costs the kernel to fault in, in
 * huge pages and in 4 KB pages: the measure host/core/pages.c takes of
 * each 2 MB slab to choose between them.
 *
 *   cc -O2 -o /tmp/pagefault bench/pagefault.c && /tmp/pagefault 256
 *
 * Maps MB megabytes (default 256) twice, once advised for huge pages and
 * once not, faults each 2 MB in with MADV_POPULATE_WRITE, then writes a
 * byte in each 4 KB page (as pages.c does), and prints what each step
 * took: ms per 2 MB and µs per 38 KB (a gen_server's start). Under a
 * hypervisor that shadows the guest's page tables, the first write to a
 * page the kernel has just filled still leaves the guest, once per page
 * mapped: once per 4 KB page, or once per huge page. Run it after the
 * machine has been idle for a while and again at once: under a hypervisor
 * that takes back a guest's free 2 MB blocks (free page reporting) the
 * first huge-page figure is the dear one. */
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

/* ms per 2 MB slab to fault size bytes in, in huge pages or not, and to
 * write each page once then; false: no memory. */
static int fault_in(size_t size, int huge, double *fault_ms, double *write_ms) {
    char *raw = mmap(NULL, size + SLAB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return 0;
    char *base = (char *)(((uintptr_t)raw + SLAB - 1) & ~(uintptr_t)(SLAB - 1));
    madvise(base, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    double slabs = (double)(size / SLAB), t0 = now_ms();
#ifdef MADV_POPULATE_WRITE
    madvise(base, size, MADV_POPULATE_WRITE);   /* where it fails, the writes fault the pages in */
#endif
    double t1 = now_ms();
    for (size_t i = 0; i < size; i += 4096) ((volatile char *)base)[i] = 1;
    double t2 = now_ms();
    munmap(raw, size + SLAB);
    *fault_ms = (t1 - t0) / slabs;
    *write_ms = (t2 - t1) / slabs;
    return 1;
}

int main(int argc, char **argv) {
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    if (mb < 2) mb = 2;
    size_t size = (mb / 2) * SLAB;
    const double per_start = 1e3 * 38.0 / 2048.0;   /* ms per 2 MB -> µs per 38 KB */
    printf("%-12s %22s %22s %14s\n", "", "fault in (ms/2 MB)", "first write (ms/2 MB)", "us per 38 KB");
    for (int huge = 1; huge >= 0; huge--) {
        double fault, write;
        if (!fault_in(size, huge, &fault, &write)) {
            fprintf(stderr, "pagefault: no memory for %zu MB\n", mb);
            return 1;
        }
        printf("%-12s %22.3f %22.3f %14.1f\n", huge ? "huge pages" : "4 KB pages", fault, write,
               (fault + write) * per_start);
    }
    return 0;
}
