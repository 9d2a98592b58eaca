/* tabcache.h: the shared tables a process used last, each with a
 * reference held (table.h, mb_table_use).
 *
 * Found in the registry at every operation, a table cost a shard's read
 * lock and a reference taken and dropped: four atomic writes to lines
 * that every process using the table writes too, so two processes reading
 * one table on two cores passed those lines to and fro at each lookup
 * (2.9 M lookups/s from two, against 3.7 M from one). Kept here, a table
 * costs a look at its dead flag (tabstore.h): a line only read. A deleted
 * table's entries go at its delete (mb_tabstore_kill); what a reference
 * here keeps is its empty record, until the process uses the handle again
 * (which fails as a deleted table's does) or ends.
 * Owner only: the process, and its end (mb_tabcache_release). */
#ifndef MB_TABCACHE_H
#define MB_TABCACHE_H

#include <stdint.h>

#define MB_TABCACHE_SLOTS 4

struct mb_table;

typedef struct mb_tabcache {
    uint64_t handle[MB_TABCACHE_SLOTS];   /* 0: an empty slot */
    struct mb_table *table[MB_TABCACHE_SLOTS];
} mb_tabcache;

/* Every reference the cache holds dropped; it is empty after. */
void mb_tabcache_release(mb_tabcache *c);

#endif
