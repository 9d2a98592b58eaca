/* table.h: shared tables (API.md, "Shared tables"): the registry of every
 * table in a runtime, their names, owners, heirs and access rights. The
 * entries themselves live in each table's store (tabstore.h).
 *
 * A table is known by its handle, a 46-bit value (pid.h: MB_TAB_BIT) that
 * crosses states as MB_T_TAB (term.h); ids are never reused, so a deleted
 * table's handle stays dead. Threads and locks:
 * - The registry is MB_TABLES_SHARDS shards by id, each under a rwlock:
 *   finding a table for an operation takes one shard's read lock and a
 *   reference, so reads from many schedulers share no lock exclusively.
 * - owner_lock orders ownership changes (new, delete_table, give_away, an
 *   owner's death) and guards the names. Lock order: owner_lock, then a
 *   registry shard, then a process's lock.
 * - A table is freed when its last reference goes: the registry's (dropped
 *   on delete) and one per operation in flight.
 * - A process counts the tables it owns (mb_proc.tables_owned): its death
 *   (mb_tables_owner_died, called by mb_proc_terminate before any EXIT or
 *   DOWN leaves) looks at the registry only when it owns some. A table is
 *   given only to a process that is not exiting (checked under its lock),
 *   so none is handed to a process whose death already looked. */
#ifndef MB_TABLE_H
#define MB_TABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pid.h"
#include "tabcache.h"
#include "tabstore.h"

#define MB_TABLES_SHARDS 16

typedef struct mb_runtime mb_runtime;
typedef struct mb_sched mb_sched;
typedef struct mb_proc mb_proc;

typedef enum mb_tab_access { MB_TAB_PROTECTED, MB_TAB_PUBLIC, MB_TAB_PRIVATE } mb_tab_access;

typedef struct mb_tab_opts {
    mb_tab_type type;
    mb_tab_access access;
    mb_pid heir;                /* 0: none */
    size_t max_memory;          /* 0: no limit */
    const char *name;           /* NULL: unnamed */
    size_t name_len;
} mb_tab_opts;

typedef struct mb_table {
    uint64_t handle;
    struct mb_table *next;      /* the registry shard's chain (its lock) */
    struct mb_table *next_named;/* the names' chain (owner_lock) */
    _Atomic uint32_t refs;
    _Atomic mb_pid owner;       /* written under owner_lock */
    _Atomic mb_pid heir;        /* likewise */
    mb_tab_access access;
    char *name;                 /* NULL: unnamed; immutable */
    size_t name_len;
    mb_tabstore store;
} mb_table;

typedef struct mb_tables_shard {
    pthread_rwlock_t lock;
    mb_table **buckets;
    size_t nbuckets, count;
} mb_tables_shard;

typedef struct mb_tables {
    mb_tables_shard shards[MB_TABLES_SHARDS];
    pthread_mutex_t owner_lock;
    mb_table **named;           /* name -> table, under owner_lock */
    size_t nnamed_buckets, nnamed;
    _Atomic uint64_t next_id;
} mb_tables;

int mb_tables_init(mb_tables *t);
/* Every table left, freed; no thread may use them any more. */
void mb_tables_destroy(mb_tables *t);

/* A new table owned by owner. MB_TAB_OK, ENAME, ENOMEM, ENOPROC (owner
 * exiting). */
int mb_table_new(mb_runtime *rt, mb_pid owner, const mb_tab_opts *o, uint64_t *handle);
/* The handle of a named table, or 0. */
uint64_t mb_table_whereis(mb_runtime *rt, const char *name, size_t len);
/* The table for an operation of caller's: reading, or writing when write.
 * On MB_TAB_OK *out holds a reference: mb_table_release it. ENOTAB, EACCESS. */
int mb_table_acquire(mb_runtime *rt, uint64_t handle, mb_pid caller, bool write, mb_table **out);
void mb_table_release(mb_table *t);
/* The same for an operation of p's, from p's thread, through p's cache of
 * the tables it used last (tabcache.h): the reference is the cache's, and
 * the caller drops none. A deleted table's store refuses its operations
 * (MB_TAB_ENOTAB) from the delete on, a reference left or not. */
int mb_table_use(mb_proc *p, uint64_t handle, bool write, mb_table **out);
/* The owner's: ENOTAB, ENOTOWNER. */
int mb_table_delete(mb_runtime *rt, uint64_t handle, mb_pid caller);
/* The owner's: to gets {"table_transfer", t, caller}; ENOPROC when to is
 * not alive (or exiting). s: the thread's scheduler (NULL: any thread). */
int mb_table_give_away(mb_runtime *rt, mb_sched *s, uint64_t handle, mb_pid caller, mb_pid to);
/* p is ending (mb_proc_terminate, before its signals): each table it owns
 * goes to its heir if that lives (with the message), else is deleted. */
void mb_tables_owner_died(mb_proc *p);

/* What the console and printing show of a table. */
typedef struct mb_table_info {
    uint64_t handle;
    bool named;                 /* its name: mb_table_name */
    mb_pid owner, heir;
    mb_tab_type type;
    mb_tab_access access;
    size_t size, memory, max_memory;
} mb_table_info;
/* false when no such table. */
bool mb_table_info_of(mb_runtime *rt, uint64_t handle, mb_table_info *out);
/* The table's whole name appended to out; false when it has none, is gone,
 * or no memory. */
bool mb_table_name(mb_runtime *rt, uint64_t handle, mb_buf *out);
/* fn for every table, in no order; fn may not call into tables. */
void mb_tables_each(mb_runtime *rt, void (*fn)(const mb_table_info *, void *), void *ud);

const char *mb_tab_strerror(int rc);

#endif
