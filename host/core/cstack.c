/* cstack.c: the calling thread's stack floor, found once per thread. */
#include "cstack.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define RESERVE_MIN ((size_t)256 << 10)
#define RESERVE_MAX ((size_t)4 << 20)

__thread uintptr_t mb_cstack_floor __attribute__((tls_model("initial-exec")));

/* The lowest address this thread may use before the reserve; 1 (never low)
 * when the thread's stack cannot be known. Stacks grow down on every
 * platform moonbeam builds on. */
uintptr_t mb_cstack_find_floor(void) {
    pthread_attr_t attr;
    void *lo;
    size_t size;
    uintptr_t floor = 1;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
            size_t reserve = size / 8;
            if (reserve < RESERVE_MIN) reserve = RESERVE_MIN;
            if (reserve > RESERVE_MAX) reserve = RESERVE_MAX;
            floor = (uintptr_t)lo + reserve;
        }
        pthread_attr_destroy(&attr);
    }
    mb_cstack_floor = floor;
    return floor;
}
