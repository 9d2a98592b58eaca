/* tabstore.h: the entries of one shared table (table.h), in C, outside
 * every Lua state: keys (canonical, tabkey.h) and values as encoded terms.
 *
 * Layout and locks:
 * - set, bag, duplicate_bag: MB_TAB_SHARDS shards, each a hash table under
 *   its own lock (tablock.h: reads write no line that other cores do); a
 *   key's shard is its hash's low bits, its bucket the hash's high bits,
 *   and each chain is kept sorted by (hash, key bytes),
 *   a key's objects together in insertion order. So the whole table has a
 *   fixed order, (shard, hash, key), that growing a shard does not change:
 *   first/next always move forward and end.
 * - ordered_set: one skiplist under one lock (shards[0]'s): reads share
 *   it, writes take it alone.
 * - max_memory: one shard whatever the type (eviction removes entries of
 *   any key under the one write lock), and a least-recently-used list
 *   under lru_lock, which reads take inside their read lock to mark a use.
 *   Lock order: a shard's lock, then lru_lock; never two shards at once.
 * - objects, memory and ttl_entries are atomics, changed under the write
 *   lock of the shard concerned, read by anyone.
 * Expired entries (TTL) are invisible to every read; writes reclaim them
 * (the key they write, and a sweep of the shard every MB_TAB_SWEEP_MS),
 * and size/memory sweep before they count. */
#ifndef MB_TABSTORE_H
#define MB_TABSTORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "tablock.h"
#include "term.h"

#define MB_TAB_SHARDS 16
#define MB_TAB_SWEEP_MS 50.0

typedef enum mb_tab_type { MB_TAB_SET, MB_TAB_ORDERED_SET, MB_TAB_BAG, MB_TAB_DUPLICATE_BAG } mb_tab_type;

/* What a table operation returns (table.h adds its own after these). */
typedef enum mb_tab_err {
    MB_TAB_OK = 0,
    MB_TAB_ENOMEM,      /* out of memory */
    MB_TAB_ETOOBIG,     /* one entry larger than max_memory */
    MB_TAB_EMISSING,    /* update_counter without default, next/prev of a missing key */
    MB_TAB_ENOTNUM,     /* update_counter on a value that is not a number */
    MB_TAB_ERANGE,      /* update_counter's result at or beyond 2^53 in magnitude */
    MB_TAB_ENOTAB,      /* no such table (deleted, or its owner died) */
    MB_TAB_EACCESS,     /* the table's access does not allow it */
    MB_TAB_ENOTOWNER,   /* delete_table/give_away by another process */
    MB_TAB_ENAME,       /* the name is in use */
    MB_TAB_ENOPROC,     /* give_away to a process that is not alive */
    MB_TAB_ETYPE,       /* not for this type of table */
    MB_TAB_EOWNED,      /* give_away to the owner itself */
} mb_tab_err;

typedef struct mb_tab_entry mb_tab_entry;

typedef struct mb_tab_shard {
    mb_tab_lock lock;
    mb_tab_entry **buckets;   /* hashed types: 1 << bits chains */
    unsigned bits;
    size_t count;             /* objects here, expired included */
    double next_sweep;        /* ms (mb_now_ms) */
} mb_tab_shard;

typedef struct mb_tabstore {
    mb_tab_type type;
    size_t max_memory;        /* 0: no limit */
    unsigned nshards;
    mb_tab_shard shards[MB_TAB_SHARDS];
    mb_tab_entry *head;       /* ordered_set: the skiplist's head (no key) */
    int level;                /* ordered_set: levels in use; under shards[0]'s write lock */
    uint64_t rng;             /* likewise: the skiplist's coin */
    _Atomic size_t objects, memory, ttl_entries;
    _Atomic bool dead;        /* deleted: every operation fails (mb_tabstore_kill) */
    mb_tab_readers readers;   /* the shards' readers, a line a scheduler (tablock.h) */
    pthread_mutex_t lru_lock;
    mb_tab_entry *lru_new, *lru_old;   /* max_memory: most and least recently used */
} mb_tabstore;

/* nscheds: the runtime's schedulers, a line of readers each (tablock.h). */
int mb_tabstore_init(mb_tabstore *st, mb_tab_type type, size_t max_memory, unsigned nscheds);
void mb_tabstore_destroy(mb_tabstore *st);
/* The table is deleted: its entries freed now, and every operation from
 * now on fails with MB_TAB_ENOTAB (each looks under its shard's lock, which
 * the kill takes after it marks the store dead: an operation is wholly
 * before the delete or refused). What is left waits for the last
 * reference (mb_tabstore_destroy). */
void mb_tabstore_kill(mb_tabstore *st);

/* Results are appended to out as encoded terms, one after the other (a
 * copy: the caller decodes them with no lock held). key is canonical. */
enum { MB_TAB_REPLACE, MB_TAB_ONLY_NEW };
/* ttl_ms <= 0: no expiry. *inserted is false when ONLY_NEW found the key. */
int mb_tabstore_insert(mb_tabstore *st, mb_span key, mb_span value, double ttl_ms, int mode, bool *inserted);
/* The key's values, in insertion order; out may be NULL (member). */
int mb_tabstore_lookup(mb_tabstore *st, mb_span key, mb_buf *out, size_t *count);
/* Remove the key's objects; their values to out (may be NULL). */
int mb_tabstore_take(mb_tabstore *st, mb_span key, mb_buf *out, size_t *count);
/* Remove only the key's objects whose value is an array whose first
 * element is tag (an encoded term, compared bytewise): how a registry
 * removes one process's entries (tabbind.h). */
int mb_tabstore_take_tagged(mb_tabstore *st, mb_span key, mb_span tag, size_t *count);
int mb_tabstore_counter(mb_tabstore *st, mb_span key, double incr, const double *dflt, double *result);
enum { MB_TAB_FIRST, MB_TAB_NEXT, MB_TAB_LAST, MB_TAB_PREV };
/* A key to out, or *found false at the end. NEXT/PREV of a missing key:
 * the neighbour in order for ordered_set, MB_TAB_EMISSING otherwise. */
int mb_tabstore_step(mb_tabstore *st, int which, mb_span key, mb_buf *out, bool *found);
/* key, value, key, value...: ordered_set's from..to (inclusive), at most
 * limit (0: all) objects; to_list: every object, in order. */
int mb_tabstore_range(mb_tabstore *st, mb_span from, mb_span to, size_t limit, mb_buf *out, size_t *count);
int mb_tabstore_list(mb_tabstore *st, mb_buf *out, size_t *count);
/* Objects and bytes, expired entries reclaimed first. */
int mb_tabstore_stats(mb_tabstore *st, size_t *size, size_t *memory);

#endif
