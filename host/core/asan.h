/* asan.h: MB_ASAN is defined in a build with AddressSanitizer, where the
 * allocators that keep freed blocks for reuse (arena.h, msgcache.h) give
 * each block back to malloc instead, so that ASan still sees every use
 * after free. (GCC says so with __SANITIZE_ADDRESS__, clang with
 * __has_feature.) */
#ifndef MB_ASAN_H
#define MB_ASAN_H

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MB_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(MB_ASAN)
#define MB_ASAN 1
#endif

#endif
