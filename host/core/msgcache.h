/* msgcache.h: blocks of small messages kept by the thread that freed them,
 * for its next sends (msgcache.c).
 *
 * A process keeps two blocks of what it took for its own next sends
 * (mb_proc_msg); a server that takes a batch of casts frees the rest, and
 * its producer, which takes nothing, mallocs a block for each cast: two
 * calls into malloc's bins a message (glibc's per-thread cache holds seven
 * of a size), ~10% of a cast's instructions. A producer and its server run
 * in turns on one scheduler, so the blocks one frees are the ones the other
 * needs next: the thread keeps them. Only a scheduler's thread has a cache
 * (it lives in sched_main's frame, so a thread that lost its scheduler in a
 * hand-off keeps its own); every other thread mallocs and frees. */
#ifndef MB_MSGCACHE_H
#define MB_MSGCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mailbox.h"

#define MB_MSGCACHE_STEP 64      /* block payload sizes: 64, 128, 192, 256 */
#define MB_MSGCACHE_CLASSES 4
#define MB_MSGCACHE_BYTES ((size_t)256 << 10)   /* kept a thread, blocks and headers, at
                                                    most: a slice's batch of ~1000 casts fits */

typedef struct mb_msgcache {
    mb_msg *free[MB_MSGCACHE_CLASSES];   /* linked through next */
    size_t bytes;                        /* the size of all of them, headers too */
} mb_msgcache;

/* Give this thread c (sched_main's), or take it away (NULL) after
 * mb_msgcache_flush. */
void mb_msgcache_attach(mb_msgcache *c);
void mb_msgcache_flush(mb_msgcache *c);

/* A block that holds len payload bytes from this thread's cache, its
 * header not yet written; NULL: none kept (or len too big). */
mb_msg *mb_msgcache_get(size_t len);
/* Keep m (its payload size one of the cache's); false: not kept, the
 * caller frees it. */
bool mb_msgcache_put(mb_msg *m);

#endif
