/* tabbind.c: entries bound to a process, gone at its death (tabbind.h). */
#include "tabbind.h"

#include <stdlib.h>
#include <string.h>
#include "process.h"
#include "proctab.h"
#include "runtime.h"
#include "table.h"

/* The encoded pid every value of pid's entries starts with. */
static mb_span tag_of(mb_pid pid, uint8_t *room, size_t size) {
    mb_buf b = {room, 0, size};   /* 1 + 10 bytes at most: never grows */
    mb_put_id(&b, MB_T_PID, pid);
    return (mb_span){b.p, b.len};
}

static bool table_gone(mb_runtime *rt, uint64_t handle) {
    mb_table_info info;
    return !mb_table_info_of(rt, handle, &info);
}

/* Room for one more binding: stale ones (their table deleted) go first,
 * then the vector grows. On p's own thread. */
static int reserve(mb_proc *p) {
    mb_tabbinds *b = &p->bound;
    if (b->n < b->cap) return 0;
    uint32_t keep = 0;
    pthread_mutex_lock(&p->lock);
    for (uint32_t i = 0; i < b->n; i++) {
        if (table_gone(p->rt, b->v[i].handle)) free(b->v[i].key);
        else b->v[keep++] = b->v[i];
    }
    b->n = keep;
    pthread_mutex_unlock(&p->lock);
    if (b->n < b->cap && b->n <= b->cap / 2) return 0;   /* the purge made room enough */
    uint32_t cap = b->cap ? b->cap * 2 : 4;
    pthread_mutex_lock(&p->lock);   /* a reader of another thread may be in the old array */
    mb_tabbind *v = realloc(b->v, cap * sizeof *v);
    if (v) {
        b->v = v;
        b->cap = cap;
    }
    pthread_mutex_unlock(&p->lock);
    return v ? 0 : -1;
}

/* The holder of a unique key: the first element of its value; 0 if none. */
static int holder_of(mb_table *t, mb_span key, mb_pid *holder) {
    mb_buf out;
    mb_buf_init(&out);
    size_t count = 0;
    *holder = 0;
    int rc = mb_tabstore_lookup(&t->store, key, &out, &count);
    mb_span v, first;
    uint64_t id;
    if (!rc && count && mb_term_first(out.p, out.p + out.len, &v) == 0 && mb_term_index(v, 1, &first) &&
        mb_term_id(first, &id))
        *holder = id;
    mb_buf_free(&out);
    return rc;
}

int mb_tab_bind_insert(mb_proc *self, mb_table *t, mb_span key, mb_span value, bool unique, mb_pid *holder) {
    *holder = 0;
    mb_buf obj;
    mb_buf_init(&obj);
    uint8_t *kcopy = malloc(key.n ? key.n : 1);
    if (!kcopy || reserve(self) || mb_put_tuple_head(&obj, value.n ? 2 : 1) || mb_put_id(&obj, MB_T_PID, self->pid) ||
        mb_buf_put(&obj, value.p, value.n)) {
        free(kcopy);
        mb_buf_free(&obj);
        return MB_TAB_ENOMEM;
    }
    memcpy(kcopy, key.p, key.n);
    int rc;
    bool inserted = false;
    /* A unique key taken: tell by whom. If its holder left meanwhile, try again. */
    for (;;) {
        rc = mb_tabstore_insert(&t->store, key, (mb_span){obj.p, obj.len}, 0,
                                unique ? MB_TAB_ONLY_NEW : MB_TAB_REPLACE, &inserted);
        if (rc || inserted) break;
        if ((rc = holder_of(t, key, holder)) || *holder) break;
    }
    mb_buf_free(&obj);
    if (!inserted) {
        free(kcopy);
        return rc;
    }
    pthread_mutex_lock(&self->lock);
    self->bound.v[self->bound.n++] = (mb_tabbind){t->handle, kcopy, key.n};
    pthread_mutex_unlock(&self->lock);
    return MB_TAB_OK;
}

int mb_tab_bound_update(mb_proc *self, mb_table *t, mb_span key, mb_span value) {
    /* A unique registry's partition is a set: t may be another kind when
     * the registry was restarted as a duplicate one since the caller
     * looked (its entry there is none of a unique key's). */
    if (t->store.type != MB_TAB_SET) return MB_TAB_EMISSING;
    mb_pid holder;
    int rc = holder_of(t, key, &holder);
    if (rc) return rc;
    /* Only self removes or replaces its entry: nothing changes it between. */
    if (holder != self->pid) return MB_TAB_EMISSING;
    mb_buf obj;
    mb_buf_init(&obj);
    bool inserted;
    rc = mb_put_tuple_head(&obj, value.n ? 2 : 1) || mb_put_id(&obj, MB_T_PID, self->pid) ||
                 mb_buf_put(&obj, value.p, value.n)
             ? MB_TAB_ENOMEM
             : mb_tabstore_insert(&t->store, key, (mb_span){obj.p, obj.len}, 0, MB_TAB_REPLACE, &inserted);
    mb_buf_free(&obj);
    return rc;
}

static bool same(const mb_tabbind *b, uint64_t handle, mb_span key) {
    return b->handle == handle && b->klen == key.n && memcmp(b->key, key.p, key.n) == 0;
}

int mb_tab_unbind(mb_proc *self, mb_table *t, mb_span key) {
    uint8_t room[16];
    size_t count;
    int rc = mb_tabstore_take_tagged(&t->store, key, tag_of(self->pid, room, sizeof room), &count);
    if (rc) return rc;
    mb_tabbinds *b = &self->bound;
    uint32_t keep = 0;
    pthread_mutex_lock(&self->lock);
    for (uint32_t i = 0; i < b->n; i++) {
        if (same(&b->v[i], t->handle, key)) free(b->v[i].key);
        else b->v[keep++] = b->v[i];
    }
    b->n = keep;
    pthread_mutex_unlock(&self->lock);
    return MB_TAB_OK;
}

static bool listed(uint64_t h, const uint64_t *handles, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (handles[i] == h) return true;
    return false;
}

int mb_tab_bound_keys(mb_runtime *rt, mb_pid pid, const uint64_t *handles, size_t n, mb_buf *out, size_t *count) {
    *count = 0;
    mb_proc *p = mb_proctab_get(&rt->procs, pid);
    if (!p) return 0;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    for (uint32_t i = 0; !rc && i < p->bound.n; i++) {
        const mb_tabbind *b = &p->bound.v[i];
        if (!listed(b->handle, handles, n)) continue;
        rc = mb_buf_put(out, b->key, b->klen);
        if (!rc) (*count)++;
    }
    pthread_mutex_unlock(&p->lock);
    mb_proctab_put(&rt->procs, pid);
    return rc ? -1 : 0;
}

void mb_tab_bound_died(mb_proc *p) {
    pthread_mutex_lock(&p->lock);
    mb_tabbinds b = p->bound;
    memset(&p->bound, 0, sizeof p->bound);
    pthread_mutex_unlock(&p->lock);
    uint8_t room[16];
    mb_span tag = tag_of(p->pid, room, sizeof room);
    for (uint32_t i = 0; i < b.n; i++) {
        mb_table *t;
        size_t count;
        /* Only public tables are bound to (a write then): a deleted one is skipped. */
        if (mb_table_acquire(p->rt, b.v[i].handle, p->pid, true, &t) == MB_TAB_OK) {
            mb_tabstore_take_tagged(&t->store, (mb_span){b.v[i].key, b.v[i].klen}, tag, &count);
            mb_table_release(t);
        }
    }
    mb_tabbinds_free(&b);
}

void mb_tabbinds_free(mb_tabbinds *b) {
    for (uint32_t i = 0; i < b->n; i++) free(b->v[i].key);
    free(b->v);
    memset(b, 0, sizeof *b);
}
