/* msgcache.h: the blocks small messages are written in, and those a
 * scheduler thread keeps for its next sends (msgcache.c).
 *
 * A small message's block holds 64 to 256 payload bytes, sized up to a
 * multiple of 64, so that a block fits the next message of its class (a
 * reply where a request was). A process keeps two blocks of what it took
 * for its own next sends (mb_proc_msg); past those, a block goes to its
 * thread's cache. A server that takes a batch of casts freed the rest, and
 * its producer, which takes nothing, malloc'd a block for each cast: two
 * calls into malloc's bins a message (glibc's per-thread cache holds seven
 * of a size), ~10% of a cast's instructions. A producer and its server run
 * in turns on one scheduler, so the blocks one frees are the ones the other
 * needs next. Only a scheduler's thread has a cache (it lives in
 * sched_main's frame, so a thread that lost its scheduler in a hand-off
 * keeps its own), and none under ASan (asan.h); every other thread mallocs
 * and frees. */
#ifndef MB_MSGCACHE_H
#define MB_MSGCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mailbox.h"

#define MB_MSGCACHE_STEP 64      /* small blocks' payload sizes: 64, 128, 192, 256 */
#define MB_MSGCACHE_CLASSES 4
#define MB_MSGCACHE_BYTES ((size_t)256 << 10)   /* kept a thread, blocks and headers, at
                                                    most: a slice's batch of ~1000 casts fits */

typedef struct mb_msgcache {
    mb_msg *free[MB_MSGCACHE_CLASSES];   /* class i: blocks of at least (i + 1) * STEP bytes */
    size_t bytes;                        /* the size of all of them, headers too */
} mb_msgcache;

/* The payload bytes of a new block for a message of len bytes. */
static inline size_t mb_msg_block_cap(size_t len) {
    if (len > MB_MSGCACHE_STEP * MB_MSGCACHE_CLASSES) return len;
    return len ? (len + MB_MSGCACHE_STEP - 1) / MB_MSGCACHE_STEP * MB_MSGCACHE_STEP : MB_MSGCACHE_STEP;
}

/* Whether a block of cap payload bytes is a small one, kept for another
 * message (a process's spares, a thread's cache) rather than freed. */
static inline bool mb_msg_block_small(size_t cap) {
    return cap >= MB_MSGCACHE_STEP && cap <= MB_MSGCACHE_STEP * MB_MSGCACHE_CLASSES;
}

/* Give this thread c (sched_main's), or take it away (NULL) after
 * mb_msgcache_flush. */
void mb_msgcache_attach(mb_msgcache *c);
void mb_msgcache_flush(mb_msgcache *c);

/* A block that holds len payload bytes from this thread's cache, its
 * header not yet written; NULL: none kept (or len too big). */
mb_msg *mb_msgcache_get(size_t len);
/* Keep m, a small block (mb_msg_block_small); false: not kept, the caller
 * frees it. */
bool mb_msgcache_put(mb_msg *m);

#endif
