/* table.c: the registry of shared tables: handles, names, owners, heirs,
 * access rights, and what an owner's death does (see table.h). */
#include "table.h"

#include <stdio.h>
#include <string.h>
#include "process.h"
#include "proctab.h"
#include "runtime.h"
#include "term.h"

static uint64_t name_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static mb_tables_shard *shard_of(mb_tables *t, uint64_t handle) {
    return &t->shards[handle % MB_TABLES_SHARDS];
}

int mb_tables_init(mb_tables *t) {
    memset(t, 0, sizeof *t);
    atomic_init(&t->next_id, 1);
    t->nnamed_buckets = 64;
    if (!(t->named = calloc(t->nnamed_buckets, sizeof *t->named))) return -1;
    if (pthread_mutex_init(&t->owner_lock, NULL)) {
        free(t->named);
        return -1;
    }
    for (int i = 0; i < MB_TABLES_SHARDS; i++) {
        mb_tables_shard *sh = &t->shards[i];
        sh->nbuckets = 16;
        if (!(sh->buckets = calloc(sh->nbuckets, sizeof *sh->buckets)) || pthread_rwlock_init(&sh->lock, NULL)) {
            free(sh->buckets);
            while (i-- > 0) {
                free(t->shards[i].buckets);
                pthread_rwlock_destroy(&t->shards[i].lock);
            }
            pthread_mutex_destroy(&t->owner_lock);
            free(t->named);
            return -1;
        }
    }
    return 0;
}

static void table_free(mb_table *tb) {
    mb_tabstore_destroy(&tb->store);
    free(tb->name);
    free(tb);
}

void mb_tables_destroy(mb_tables *t) {
    for (int i = 0; i < MB_TABLES_SHARDS; i++) {
        mb_tables_shard *sh = &t->shards[i];
        for (size_t b = 0; b < sh->nbuckets; b++)
            for (mb_table *tb = sh->buckets[b], *next; tb; tb = next) {
                next = tb->next;
                table_free(tb);
            }
        free(sh->buckets);
        pthread_rwlock_destroy(&sh->lock);
    }
    free(t->named);
    pthread_mutex_destroy(&t->owner_lock);
}

void mb_table_release(mb_table *tb) {
    if (atomic_fetch_sub_explicit(&tb->refs, 1, memory_order_acq_rel) == 1) table_free(tb);
}

/* ---- the registry: handle -> table (a shard's lock) ----------------------- */

static mb_table **registry_find(mb_tables_shard *sh, uint64_t handle) {
    mb_table **link = &sh->buckets[(handle / MB_TABLES_SHARDS) & (sh->nbuckets - 1)];
    while (*link && (*link)->handle != handle) link = &(*link)->next;
    return link;
}

static void registry_grow(mb_tables_shard *sh) {
    size_t nb = sh->nbuckets * 2;
    mb_table **b = calloc(nb, sizeof *b);
    if (!b) return;   /* longer chains, still correct */
    for (size_t i = 0; i < sh->nbuckets; i++)
        for (mb_table *tb = sh->buckets[i], *next; tb; tb = next) {
            next = tb->next;
            mb_table **link = &b[(tb->handle / MB_TABLES_SHARDS) & (nb - 1)];
            tb->next = *link;
            *link = tb;
        }
    free(sh->buckets);
    sh->buckets = b;
    sh->nbuckets = nb;
}

static mb_table *registry_get(mb_tables *t, uint64_t handle) {
    mb_tables_shard *sh = shard_of(t, handle);
    pthread_rwlock_rdlock(&sh->lock);
    mb_table *tb = *registry_find(sh, handle);
    if (tb) atomic_fetch_add_explicit(&tb->refs, 1, memory_order_relaxed);
    pthread_rwlock_unlock(&sh->lock);
    return tb;
}

/* ---- names (owner_lock) ----------------------------------------------------- */

static mb_table **named_find(mb_tables *t, const char *name, size_t len) {
    mb_table **link = &t->named[name_hash(name, len) & (t->nnamed_buckets - 1)];
    while (*link && !((*link)->name_len == len && memcmp((*link)->name, name, len) == 0))
        link = &(*link)->next_named;
    return link;
}

static void named_grow(mb_tables *t) {
    size_t nb = t->nnamed_buckets * 2;
    mb_table **b = calloc(nb, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < t->nnamed_buckets; i++)
        for (mb_table *tb = t->named[i], *next; tb; tb = next) {
            next = tb->next_named;
            mb_table **link = &b[name_hash(tb->name, tb->name_len) & (nb - 1)];
            tb->next_named = *link;
            *link = tb;
        }
    free(t->named);
    t->named = b;
    t->nnamed_buckets = nb;
}

uint64_t mb_table_whereis(mb_runtime *rt, const char *name, size_t len) {
    mb_tables *t = &rt->tables;
    pthread_mutex_lock(&t->owner_lock);
    mb_table *tb = *named_find(t, name, len);
    uint64_t h = tb ? tb->handle : 0;
    pthread_mutex_unlock(&t->owner_lock);
    return h;
}

/* ---- ownership (owner_lock) ------------------------------------------------ */

/* Count one more table for pid, unless it is gone or exiting. */
static bool take_owner(mb_runtime *rt, mb_pid pid) {
    mb_proc *p = mb_proctab_get(&rt->procs, pid);
    if (!p) return false;
    pthread_mutex_lock(&p->lock);
    bool ok = !p->exiting;
    if (ok) atomic_fetch_add(&p->tables_owned, 1);
    pthread_mutex_unlock(&p->lock);
    mb_proctab_put(&rt->procs, pid);
    return ok;
}

static void drop_owner(mb_runtime *rt, mb_pid pid) {
    mb_proc *p = mb_proctab_get(&rt->procs, pid);
    if (!p) return;
    atomic_fetch_sub(&p->tables_owned, 1);
    mb_proctab_put(&rt->procs, pid);
}

int mb_table_new(mb_runtime *rt, mb_pid owner, const mb_tab_opts *o, uint64_t *handle) {
    mb_tables *t = &rt->tables;
    mb_table *tb = calloc(1, sizeof *tb);
    if (!tb) return MB_TAB_ENOMEM;
    if (mb_tabstore_init(&tb->store, o->type, o->max_memory, (unsigned)rt->nscheds)) {
        free(tb);
        return MB_TAB_ENOMEM;
    }
    if (o->name && !(tb->name = malloc(o->name_len + 1))) {
        table_free(tb);
        return MB_TAB_ENOMEM;
    }
    if (o->name) {
        memcpy(tb->name, o->name, o->name_len);
        tb->name[o->name_len] = '\0';
        tb->name_len = o->name_len;
    }
    tb->access = o->access;
    atomic_init(&tb->refs, 1);   /* the registry's */
    atomic_init(&tb->owner, owner);
    atomic_init(&tb->heir, o->heir);
    tb->handle = MB_REF_BIT | MB_TAB_BIT | (atomic_fetch_add(&t->next_id, 1) & (MB_IO_BIT - 1));

    pthread_mutex_lock(&t->owner_lock);
    int rc = MB_TAB_OK;
    if (tb->name && *named_find(t, tb->name, tb->name_len)) rc = MB_TAB_ENAME;
    else if (!take_owner(rt, owner)) rc = MB_TAB_ENOPROC;
    if (rc == MB_TAB_OK) {
        if (tb->name) {
            mb_table **link = named_find(t, tb->name, tb->name_len);
            *link = tb;
            if (++t->nnamed > 2 * t->nnamed_buckets) named_grow(t);
        }
        mb_tables_shard *sh = shard_of(t, tb->handle);
        pthread_rwlock_wrlock(&sh->lock);
        *registry_find(sh, tb->handle) = tb;
        if (++sh->count > 2 * sh->nbuckets) registry_grow(sh);
        pthread_rwlock_unlock(&sh->lock);
        *handle = tb->handle;
    }
    pthread_mutex_unlock(&t->owner_lock);
    if (rc) table_free(tb);
    return rc;
}

static bool may_use(const mb_table *tb, mb_pid caller, bool write) {
    mb_pid owner = atomic_load_explicit(&tb->owner, memory_order_relaxed);
    return caller == owner || tb->access == MB_TAB_PUBLIC || (tb->access == MB_TAB_PROTECTED && !write);
}

int mb_table_acquire(mb_runtime *rt, uint64_t handle, mb_pid caller, bool write, mb_table **out) {
    mb_table *tb = registry_get(&rt->tables, handle);
    if (!tb) return MB_TAB_ENOTAB;
    if (!may_use(tb, caller, write)) {
        mb_table_release(tb);
        return MB_TAB_EACCESS;
    }
    *out = tb;
    return MB_TAB_OK;
}

/* Slot i's reference dropped, the slots after it moved up. */
static void cache_drop(mb_tabcache *c, int i) {
    mb_table *tb = c->table[i];
    for (; i + 1 < MB_TABCACHE_SLOTS; i++) {
        c->handle[i] = c->handle[i + 1];
        c->table[i] = c->table[i + 1];
    }
    c->handle[i] = 0;
    c->table[i] = NULL;
    mb_table_release(tb);
}

/* tb (a reference of the caller's) at the front; the last slot's goes. */
static void cache_put(mb_tabcache *c, uint64_t handle, mb_table *tb) {
    mb_table *last = c->table[MB_TABCACHE_SLOTS - 1];
    for (int i = MB_TABCACHE_SLOTS - 1; i > 0; i--) {
        c->handle[i] = c->handle[i - 1];
        c->table[i] = c->table[i - 1];
    }
    c->handle[0] = handle;
    c->table[0] = tb;
    if (last) mb_table_release(last);
}

int mb_table_use(mb_proc *p, uint64_t handle, bool write, mb_table **out) {
    mb_tabcache *c = &p->tables_used;
    mb_table *tb = NULL;
    for (int i = 0; i < MB_TABCACHE_SLOTS; i++) {
        if (c->handle[i] != handle) continue;
        tb = c->table[i];
        /* Ids are never reused: a deleted table's handle stays dead. */
        if (atomic_load_explicit(&tb->store.dead, memory_order_acquire)) {
            cache_drop(c, i);
            return MB_TAB_ENOTAB;
        }
        break;
    }
    if (!tb) {
        if (!(tb = registry_get(&p->rt->tables, handle))) return MB_TAB_ENOTAB;
        cache_put(c, handle, tb);
    }
    if (!may_use(tb, p->pid, write)) return MB_TAB_EACCESS;
    *out = tb;
    return MB_TAB_OK;
}

void mb_tabcache_release(mb_tabcache *c) {
    for (int i = 0; i < MB_TABCACHE_SLOTS; i++) {
        if (c->table[i]) mb_table_release(c->table[i]);
        c->table[i] = NULL;
        c->handle[i] = 0;
    }
}

/* Out of the registry and the names (owner_lock held); the registry's
 * reference is the caller's to drop. */
static void unregister(mb_tables *t, mb_table *tb) {
    if (tb->name) {
        mb_table **link = named_find(t, tb->name, tb->name_len);
        if (*link == tb) {
            *link = tb->next_named;
            t->nnamed--;
        }
    }
    mb_tables_shard *sh = shard_of(t, tb->handle);
    pthread_rwlock_wrlock(&sh->lock);
    mb_table **link = registry_find(sh, tb->handle);
    if (*link == tb) {
        *link = tb->next;
        sh->count--;
    }
    pthread_rwlock_unlock(&sh->lock);
}

int mb_table_delete(mb_runtime *rt, uint64_t handle, mb_pid caller) {
    mb_tables *t = &rt->tables;
    mb_table *tb = registry_get(t, handle);
    if (!tb) return MB_TAB_ENOTAB;
    pthread_mutex_lock(&t->owner_lock);
    int rc = MB_TAB_OK;
    if (!*registry_find(shard_of(t, handle), handle)) rc = MB_TAB_ENOTAB;   /* deleted meanwhile */
    else if (atomic_load(&tb->owner) != caller) rc = MB_TAB_ENOTOWNER;
    else {
        unregister(t, tb);
        drop_owner(rt, caller);
    }
    pthread_mutex_unlock(&t->owner_lock);
    if (rc == MB_TAB_OK) {
        mb_tabstore_kill(&tb->store);   /* its entries now, whoever still holds it */
        mb_table_release(tb);           /* the registry's */
    }
    mb_table_release(tb);
    return rc;
}

/* {"table_transfer", t, from}; the message is lost only for want of memory. */
static void send_transfer(mb_runtime *rt, mb_sched *s, uint64_t handle, mb_pid from, mb_pid to) {
    uint8_t bytes[64];
    mb_buf b = {bytes, 0, sizeof bytes};   /* at most 1+2 + 16 + 11 + 11 bytes: never grows */
    mb_put_tuple_head(&b, 3);
    mb_put_string(&b, "table_transfer", 14);
    mb_put_id(&b, MB_T_TAB, handle);
    mb_put_id(&b, MB_T_PID, from);
    /* A notice of the runtime's, as a DOWN: a full mailbox neither drops
     * it nor ends its owner for it (the table would go with it). */
    if (mb_send(rt, s, from, to, MB_MSG_SYSTEM, 0, b.p, b.len) < 0)
        fprintf(stderr, "moonbeam: out of memory sending a table_transfer\n");
}

int mb_table_give_away(mb_runtime *rt, mb_sched *s, uint64_t handle, mb_pid caller, mb_pid to) {
    mb_tables *t = &rt->tables;
    mb_table *tb = registry_get(t, handle);
    if (!tb) return MB_TAB_ENOTAB;
    pthread_mutex_lock(&t->owner_lock);
    int rc = MB_TAB_OK;
    if (!*registry_find(shard_of(t, handle), handle)) rc = MB_TAB_ENOTAB;
    else if (atomic_load(&tb->owner) != caller) rc = MB_TAB_ENOTOWNER;
    else if (to == caller) rc = MB_TAB_EOWNED;   /* as ETS: no transfer message to itself */
    else if (!take_owner(rt, to)) rc = MB_TAB_ENOPROC;
    else {
        atomic_store(&tb->owner, to);
        drop_owner(rt, caller);
    }
    pthread_mutex_unlock(&t->owner_lock);
    if (rc == MB_TAB_OK) send_transfer(rt, s, handle, caller, to);
    mb_table_release(tb);
    return rc;
}

typedef struct table_vec { mb_table **v; size_t n, cap; } table_vec;

static int vec_push(table_vec *v, mb_table *tb) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        mb_table **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return -1;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = tb;
    return 0;
}

/* Every table (owner 0) or those of owner, each with a reference. */
static void collect(mb_tables *t, mb_pid owner, table_vec *out) {
    for (int i = 0; i < MB_TABLES_SHARDS; i++) {
        mb_tables_shard *sh = &t->shards[i];
        pthread_rwlock_rdlock(&sh->lock);
        for (size_t b = 0; b < sh->nbuckets; b++)
            for (mb_table *tb = sh->buckets[b]; tb; tb = tb->next)
                if ((!owner || atomic_load(&tb->owner) == owner) && vec_push(out, tb) == 0)
                    atomic_fetch_add(&tb->refs, 1);
        pthread_rwlock_unlock(&sh->lock);
    }
}

void mb_tables_owner_died(mb_proc *p) {
    if (!atomic_load(&p->tables_owned)) return;
    mb_runtime *rt = p->rt;
    mb_tables *t = &rt->tables;
    table_vec v = {NULL, 0, 0};
    pthread_mutex_lock(&t->owner_lock);   /* no give_away to p from here: it is exiting */
    collect(t, p->pid, &v);
    for (size_t i = 0; i < v.n; i++) {
        mb_table *tb = v.v[i];
        mb_pid heir = atomic_load(&tb->heir);
        atomic_fetch_sub(&p->tables_owned, 1);
        if (heir && heir != p->pid && take_owner(rt, heir)) {
            atomic_store(&tb->owner, heir);
            atomic_store(&tb->heir, 0);
            send_transfer(rt, p->sched, tb->handle, p->pid, heir);
        } else {
            unregister(t, tb);
            mb_tabstore_kill(&tb->store);
            mb_table_release(tb);   /* the registry's */
        }
    }
    pthread_mutex_unlock(&t->owner_lock);
    for (size_t i = 0; i < v.n; i++) mb_table_release(v.v[i]);
    free(v.v);
}

/* ---- what people see ------------------------------------------------------ */

static void info_of(mb_table *tb, mb_table_info *out) {
    out->handle = tb->handle;
    out->named = tb->name != NULL;
    out->owner = atomic_load(&tb->owner);
    out->heir = atomic_load(&tb->heir);
    out->type = tb->store.type;
    out->access = tb->access;
    out->max_memory = tb->store.max_memory;
    mb_tabstore_stats(&tb->store, &out->size, &out->memory);
}

bool mb_table_info_of(mb_runtime *rt, uint64_t handle, mb_table_info *out) {
    mb_table *tb = registry_get(&rt->tables, handle);
    if (!tb) return false;
    info_of(tb, out);
    mb_table_release(tb);
    return true;
}

bool mb_table_name(mb_runtime *rt, uint64_t handle, mb_buf *out) {
    mb_table *tb = registry_get(&rt->tables, handle);
    if (!tb) return false;
    bool ok = tb->name && mb_buf_put(out, tb->name, tb->name_len) == 0;
    mb_table_release(tb);
    return ok;
}

void mb_tables_each(mb_runtime *rt, void (*fn)(const mb_table_info *, void *), void *ud) {
    table_vec v = {NULL, 0, 0};
    collect(&rt->tables, 0, &v);
    for (size_t i = 0; i < v.n; i++) {
        mb_table_info info;
        info_of(v.v[i], &info);
        mb_table_release(v.v[i]);
        fn(&info, ud);
    }
    free(v.v);
}

const char *mb_tab_strerror(int rc) {
    switch (rc) {
    case MB_TAB_OK: return "ok";
    case MB_TAB_ENOMEM: return "out of memory";
    case MB_TAB_ETOOBIG: return "the entry is larger than the table's max_memory";
    case MB_TAB_EMISSING: return "the key is not in the table";
    case MB_TAB_ENOTNUM: return "the value is not a number";
    case MB_TAB_ERANGE: return "the result would be out of range (-2^53 < n < 2^53)";
    case MB_TAB_ENOTAB: return "the table does not exist (deleted, or its owner died)";
    case MB_TAB_EACCESS: return "the table's access does not allow this process";
    case MB_TAB_ENOTOWNER: return "only the table's owner may";
    case MB_TAB_ENAME: return "the name is in use";
    case MB_TAB_ENOPROC: return "the process is not alive";
    case MB_TAB_ETYPE: return "not for this type of table";
    case MB_TAB_EOWNED: return "the process owns the table already";
    default: return "unknown error";
    }
}
