/* tablock.h: the locks of a shared table's shards (tabstore.h), for
 * reads that many cores make at once.
 *
 * A read-write lock's readers all write its word: two processes reading
 * one table on two cores passed that line between the cores at every
 * read, and reads from two cores went hardly faster than from one. Here a
 * reader writes only its own thread's count (one cache line a scheduler,
 * for the whole table: the table's readers), then looks at its shard's
 * writing flag, which only writers write; a writer, one at a time per
 * shard, raises the flag and waits until every count is zero. That is
 * ETS's read_concurrency, always on. Writes pay for it: each reads every
 * scheduler's line, and waits for the reads of the table in progress, of
 * any shard (each the copy of one key's values, or one shard's walk).
 * A thread that is no scheduler (the host's own, the blocking pool's, one
 * that lost its scheduler) counts on the table's last line, shared.
 * Not reentrant: a thread holding a shard never takes one of the same
 * table again. */
#ifndef MB_TABLOCK_H
#define MB_TABLOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct mb_tab_reader {
    _Alignas(64) _Atomic uint32_t n;   /* reads in progress on this line's threads */
} mb_tab_reader;

typedef struct mb_tab_readers {
    mb_tab_reader *lines;   /* one a scheduler, then the others' */
    unsigned n;
} mb_tab_readers;

typedef struct mb_tab_lock {
    pthread_mutex_t writer;   /* the shard's writers, one at a time */
    _Atomic bool writing;     /* a writer holds the shard, or waits for its readers */
} mb_tab_lock;

/* 0, or -1 (no memory). */
int mb_tab_readers_init(mb_tab_readers *r, unsigned nscheds);
void mb_tab_readers_free(mb_tab_readers *r);
/* 0, or an error number. */
int mb_tab_lock_init(mb_tab_lock *l);
void mb_tab_lock_destroy(mb_tab_lock *l);

/* The calling thread counts its reads on scheduler id's line (id >= 0, a
 * scheduler's thread), or on the others' (id < 0). */
void mb_tab_reader_thread(int id);

void mb_tab_read_lock(mb_tab_readers *r, mb_tab_lock *l);
void mb_tab_read_unlock(mb_tab_readers *r);
void mb_tab_write_lock(mb_tab_readers *r, mb_tab_lock *l);
void mb_tab_write_unlock(mb_tab_lock *l);

#endif
