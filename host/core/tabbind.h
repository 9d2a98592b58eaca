/* tabbind.h: bound entries: shared-table objects that belong to a process
 * and go when it dies, before its signals (what moonbeam.registry keeps:
 * API.md, "Registry").
 *
 * An entry bound to p is an object of some key in a public table whose
 * value is the array {p, value}; p's record lists (table, key) for each.
 * Binding is one call with the insert, made on p's own thread, so p cannot
 * end between the two. mb_proc_terminate calls mb_tab_bound_died before any
 * EXIT or DOWN leaves: the objects of those keys still tagged p go (an
 * unregister, or another process's entry under the key, is left alone).
 * A binding whose table was deleted is dropped when found (the list's
 * growth, or the death).
 *
 * Threads: p->bound is under p->lock. Only p changes it (bind, unbind, its
 * death), so p reads it unlocked; mb_tab_bound_keys of another process
 * reads it under the lock. No table lock is held with p->lock. */
#ifndef MB_TABBIND_H
#define MB_TABBIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "pid.h"
#include "term.h"

typedef struct mb_proc mb_proc;
typedef struct mb_runtime mb_runtime;
typedef struct mb_table mb_table;

typedef struct mb_tabbind {
    uint64_t handle;   /* the table's */
    uint8_t *key;      /* canonical key bytes (tabkey.h), malloc'd */
    size_t klen;
} mb_tabbind;

typedef struct mb_tabbinds { mb_tabbind *v; uint32_t n, cap; } mb_tabbinds;

/* Insert {self, value} ({self} when value.n == 0) under key (canonical) in t, an acquired table, and
 * bind it to self. unique: only when no object has the key; otherwise
 * *holder is set to the holder's pid (self too) and nothing changes.
 * *holder is 0 when inserted. MB_TAB_OK, ENOMEM, or the store's error. */
int mb_tab_bind_insert(mb_proc *self, mb_table *t, mb_span key, mb_span value, bool unique, mb_pid *holder);
/* value (n == 0: none) replaces that of self's entry under a unique key;
 * MB_TAB_EMISSING when self holds no such entry. */
int mb_tab_bound_update(mb_proc *self, mb_table *t, mb_span key, mb_span value);
/* Remove self's objects of key in t, and their bindings. */
int mb_tab_unbind(mb_proc *self, mb_table *t, mb_span key);
/* pid's bound keys in the tables handles[0..n), in the order bound, appended
 * to out (canonical terms). A dead pid has none. 0, or -1 out of memory. */
int mb_tab_bound_keys(mb_runtime *rt, mb_pid pid, const uint64_t *handles, size_t n, mb_buf *out, size_t *count);
/* p is ending (mb_proc_terminate, before its signals). */
void mb_tab_bound_died(mb_proc *p);
void mb_tabbinds_free(mb_tabbinds *b);

#endif
