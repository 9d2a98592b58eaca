/* cstack.c: the calling thread's stack floor, found once per thread. */
#include "cstack.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define RESERVE_MIN ((size_t)256 << 10)
#define RESERVE_MAX ((size_t)4 << 20)

/* initial-exec: one load, no __tls_get_addr, on the allocator's path. */
static __thread uintptr_t stack_floor __attribute__((tls_model("initial-exec")));

/* The lowest address this thread may use before the reserve; 1 (never low)
 * when the thread's stack cannot be known. Stacks grow down on every
 * platform moonbeam builds on. */
static uintptr_t find_floor(void) {
    pthread_attr_t attr;
    void *lo;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr)) return 1;
    int rc = pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
    if (rc) return 1;
    size_t reserve = size / 8;
    if (reserve < RESERVE_MIN) reserve = RESERVE_MIN;
    if (reserve > RESERVE_MAX) reserve = RESERVE_MAX;
    return (uintptr_t)lo + reserve;
}

bool mb_cstack_low(void) {
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (!stack_floor) stack_floor = find_floor();
    return here < stack_floor;
}
