/* tabstore.c: one table's entries: hashed shards or a skiplist, TTL and
 * least-recently-used eviction (see tabstore.h for the locks and order). */
#include "tabstore.h"

#include <math.h>
#include <string.h>
#include "runtime.h"
#include "tabkey.h"

#define MAX_LEVEL 24
#define MIN_BITS 3

/* One object. Owned by its table's structure; freed when unlinked. */
struct mb_tab_entry {
    mb_tab_entry *next;                /* hashed: the chain */
    mb_tab_entry *lru_prev, *lru_next; /* max_memory: toward newer, toward older */
    uint64_t hash;
    double expires;                    /* ms; 0: never */
    size_t klen, vlen, size;           /* size: what memory() counts for it */
    int level;                         /* links in fwd: see links_for */
    mb_tab_entry *fwd[];               /* then klen key bytes, vlen value bytes */
};

static uint8_t *key_bytes(const mb_tab_entry *e) { return (uint8_t *)(e->fwd + e->level); }
static mb_span key_of(const mb_tab_entry *e) { return (mb_span){key_bytes(e), e->klen}; }
static mb_span value_of(const mb_tab_entry *e) { return (mb_span){key_bytes(e) + e->klen, e->vlen}; }
static bool hashed(const mb_tabstore *st) { return st->type != MB_TAB_ORDERED_SET; }
static bool expired(const mb_tab_entry *e, double now) { return e->expires > 0 && now >= e->expires; }
static bool grouped(const mb_tabstore *st) { return st->type == MB_TAB_BAG || st->type == MB_TAB_DUPLICATE_BAG; }

/* A bag's objects of one key lie together in their chain, in the order
 * they came: a group. Its first object holds its last in its one link,
 * fwd[0] (links_for): a duplicate_bag's new object goes after it at once,
 * and a walk to another key steps over the whole group, where both walked
 * it object by object (20,000 objects of one key made an insert ~60 us; a
 * registry's subscribers to one topic are such a group). Here: the last
 * object of the group e is the first of (e itself in a set). */
static mb_tab_entry *group_end(const mb_tabstore *st, const mb_tab_entry *e) {
    return grouped(st) ? e->fwd[0] : (mb_tab_entry *)e;
}

static size_t entry_size(int level, size_t klen, size_t vlen) {
    return sizeof(mb_tab_entry) + (size_t)level * sizeof(mb_tab_entry *) + klen + vlen;
}

static mb_tab_entry *entry_new(int level, mb_span key, uint64_t hash, mb_span value, double expires) {
    size_t size = entry_size(level, key.n, value.n);
    mb_tab_entry *e = malloc(size);
    if (!e) return NULL;
    memset(e, 0, sizeof *e + (size_t)level * sizeof(mb_tab_entry *));
    e->hash = hash;
    e->expires = expires;
    e->klen = key.n;
    e->vlen = value.n;
    e->size = size;
    e->level = level;
    memcpy(key_bytes(e), key.p, key.n);
    memcpy(key_bytes(e) + key.n, value.p, value.n);
    return e;
}

/* ---- order ---------------------------------------------------------------- */

/* A hashed table's order: (hash, key bytes). */
static int hcmp(const mb_tab_entry *e, uint64_t hash, mb_span key) {
    if (e->hash != hash) return e->hash < hash ? -1 : 1;
    int c = memcmp(key_bytes(e), key.p, e->klen < key.n ? e->klen : key.n);
    if (c) return c < 0 ? -1 : 1;
    return e->klen < key.n ? -1 : e->klen > key.n;
}

static int ecmp(const mb_tabstore *st, const mb_tab_entry *e, uint64_t hash, mb_span key) {
    return hashed(st) ? hcmp(e, hash, key) : mb_term_cmp(key_of(e), key);
}

static bool same_key(const mb_tab_entry *a, const mb_tab_entry *b) {
    return a->klen == b->klen && memcmp(key_bytes(a), key_bytes(b), a->klen) == 0;
}

static mb_tab_shard *shard_of(mb_tabstore *st, uint64_t hash) {
    return &st->shards[hash & (st->nshards - 1)];
}

static mb_tab_entry **bucket_of(mb_tab_shard *sh, uint64_t hash) {
    return &sh->buckets[hash >> (64 - sh->bits)];
}

/* ordered_set: update[i] is the last node before key at level i; returns
 * the first node >= key. */
static mb_tab_entry *skip_search(mb_tabstore *st, mb_span key, mb_tab_entry **update) {
    mb_tab_entry *x = st->head;
    for (int i = st->level - 1; i >= 0; i--) {
        while (x->fwd[i] && mb_term_cmp(key_of(x->fwd[i]), key) < 0) x = x->fwd[i];
        if (update) update[i] = x;
    }
    return x->fwd[0];
}

/* The first object with this key (maybe expired), or NULL. */
static mb_tab_entry *find(mb_tabstore *st, mb_tab_shard *sh, uint64_t hash, mb_span key) {
    mb_tab_entry *e;
    if (hashed(st)) {
        e = *bucket_of(sh, hash);
        while (e && hcmp(e, hash, key) < 0) e = group_end(st, e)->next;
    } else {
        e = skip_search(st, key, NULL);
    }
    return e && ecmp(st, e, hash, key) == 0 ? e : NULL;
}

static mb_tab_entry *after(const mb_tabstore *st, const mb_tab_entry *e) {
    return hashed(st) ? e->next : e->fwd[0];
}

/* ---- the least-recently-used list (max_memory) --------------------------- */

static void lru_unlink(mb_tabstore *st, mb_tab_entry *e) {
    if (e->lru_prev) e->lru_prev->lru_next = e->lru_next;
    else st->lru_new = e->lru_next;
    if (e->lru_next) e->lru_next->lru_prev = e->lru_prev;
    else st->lru_old = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push(mb_tabstore *st, mb_tab_entry *e) {
    e->lru_prev = NULL;
    e->lru_next = st->lru_new;
    if (st->lru_new) st->lru_new->lru_prev = e;
    st->lru_new = e;
    if (!st->lru_old) st->lru_old = e;
}

/* A use: lookups call it under a read lock, hence the mutex. */
static void lru_touch(mb_tabstore *st, mb_tab_entry *e) {
    if (!st->max_memory) return;
    pthread_mutex_lock(&st->lru_lock);
    lru_unlink(st, e);
    lru_push(st, e);
    pthread_mutex_unlock(&st->lru_lock);
}

/* ---- linking and unlinking (under the shard's write lock) ----------------- */

static void account(mb_tabstore *st, mb_tab_shard *sh, mb_tab_entry *e, bool add) {
    if (add) {
        sh->count++;
        atomic_fetch_add(&st->objects, 1);
        atomic_fetch_add(&st->memory, e->size);
        if (e->expires > 0) atomic_fetch_add(&st->ttl_entries, 1);
    } else {
        sh->count--;
        atomic_fetch_sub(&st->objects, 1);
        atomic_fetch_sub(&st->memory, e->size);
        if (e->expires > 0) atomic_fetch_sub(&st->ttl_entries, 1);
    }
    if (!st->max_memory) return;
    pthread_mutex_lock(&st->lru_lock);
    if (add) lru_push(st, e);
    else lru_unlink(st, e);
    pthread_mutex_unlock(&st->lru_lock);
}

static int random_level(mb_tabstore *st) {
    int level = 1;
    for (;;) {
        st->rng ^= st->rng << 13;
        st->rng ^= st->rng >> 7;
        st->rng ^= st->rng << 17;
        if ((st->rng & 3) || level == MAX_LEVEL) return level;
        level++;
    }
}

/* A new object's links: an ordered_set's in its skiplist (the coin is the
 * lock holder's), a bag's one (group_end), a set's none. */
static int links_for(mb_tabstore *st) {
    return !hashed(st) ? random_level(st) : grouped(st) ? 1 : 0;
}

/* Rehash into twice the buckets. Chains are sorted by hash, and a bucket
 * is the hash's top bits, so each chain splits in order into two. */
static void grow(mb_tab_shard *sh) {
    unsigned bits = sh->bits + 1;
    mb_tab_entry **nb = calloc((size_t)1 << bits, sizeof *nb);
    if (!nb) return;   /* longer chains, still correct */
    for (size_t i = 0; i < ((size_t)1 << sh->bits); i++) {
        mb_tab_entry **tail[2] = {&nb[2 * i], &nb[2 * i + 1]};
        for (mb_tab_entry *e = sh->buckets[i], *next; e; e = next) {
            next = e->next;
            int half = (int)((e->hash >> (64 - bits)) & 1);
            e->next = NULL;
            *tail[half] = e;
            tail[half] = &e->next;
        }
    }
    free(sh->buckets);
    sh->buckets = nb;
    sh->bits = bits;
}

/* Link a new object after every object <= its key (a bag's group grows at
 * its end). For set and ordered_set the key must be absent. */
static void link_entry(mb_tabstore *st, mb_tab_shard *sh, mb_tab_entry *e) {
    if (hashed(st)) {
        mb_tab_entry **link = bucket_of(sh, e->hash);
        while (*link && hcmp(*link, e->hash, key_of(e)) < 0) link = &group_end(st, *link)->next;
        mb_tab_entry *first = grouped(st) && *link && hcmp(*link, e->hash, key_of(e)) == 0 ? *link : NULL;
        if (first) {   /* a bag's group: after its last */
            link = &group_end(st, first)->next;
            first->fwd[0] = e;
        } else if (grouped(st)) {
            e->fwd[0] = e;   /* a group of one */
        }
        e->next = *link;
        *link = e;
    } else {
        mb_tab_entry *update[MAX_LEVEL];
        skip_search(st, key_of(e), update);
        for (int i = st->level; i < e->level; i++) update[i] = st->head;
        if (e->level > st->level) st->level = e->level;
        for (int i = 0; i < e->level; i++) {
            e->fwd[i] = update[i]->fwd[i];
            update[i]->fwd[i] = e;
        }
    }
    account(st, sh, e, true);
    if (hashed(st) && sh->count > ((size_t)2 << sh->bits)) grow(sh);
}

/* Where e is linked (hashed): the link that points at it, found by
 * stepping over the groups of other keys; the object before it (NULL: it
 * heads its bucket); the first object of its key (e, or one before it). */
typedef struct place {
    mb_tab_entry **link, *prev, *first;
} place;

static place place_of(const mb_tabstore *st, mb_tab_shard *sh, const mb_tab_entry *e) {
    place at = {bucket_of(sh, e->hash), NULL, NULL};
    while (*at.link != e && hcmp(*at.link, e->hash, key_of(e)) < 0) {
        at.prev = group_end(st, *at.link);
        at.link = &at.prev->next;
    }
    at.first = *at.link;
    while (*at.link != e) {
        at.prev = *at.link;
        at.link = &at.prev->next;
    }
    return at;
}

static void unlink_entry(mb_tabstore *st, mb_tab_shard *sh, mb_tab_entry *e) {
    if (hashed(st)) {
        place at = place_of(st, sh, e);
        if (grouped(st)) {   /* the group's first and last, without e */
            if (at.first != e) {
                if (at.first->fwd[0] == e) at.first->fwd[0] = at.prev;
            } else if (e->next && same_key(e->next, e)) {
                e->next->fwd[0] = e->fwd[0];
            }
        }
        *at.link = e->next;
    } else {
        mb_tab_entry *update[MAX_LEVEL];
        skip_search(st, key_of(e), update);
        for (int i = 0; i < e->level; i++) update[i]->fwd[i] = e->fwd[i];
        while (st->level > 1 && !st->head->fwd[st->level - 1]) st->level--;
    }
    account(st, sh, e, false);
}

static void drop_entry(mb_tabstore *st, mb_tab_shard *sh, mb_tab_entry *e) {
    unlink_entry(st, sh, e);
    free(e);
}

/* Put e where old is (a replacement keeps a bag object's place). */
static void replace_entry(mb_tabstore *st, mb_tab_shard *sh, mb_tab_entry *old, mb_tab_entry *e) {
    if (hashed(st)) {
        place at = place_of(st, sh, old);
        e->next = old->next;
        *at.link = e;
        if (grouped(st)) {   /* e takes old's place in its group */
            if (at.first == old) e->fwd[0] = old->fwd[0] == old ? e : old->fwd[0];
            else if (at.first->fwd[0] == old) at.first->fwd[0] = e;
        }
        account(st, sh, old, false);
        account(st, sh, e, true);
    } else {
        unlink_entry(st, sh, old);
        link_entry(st, sh, e);
    }
    free(old);
}

/* Reclaim the key's expired objects. */
static void purge_key(mb_tabstore *st, mb_tab_shard *sh, uint64_t hash, mb_span key, double now) {
    if (!atomic_load(&st->ttl_entries)) return;
    mb_tab_entry *e = find(st, sh, hash, key);
    while (e && ecmp(st, e, hash, key) == 0) {
        mb_tab_entry *next = after(st, e);
        if (expired(e, now)) drop_entry(st, sh, e);
        e = next;
    }
}

static void sweep(mb_tabstore *st, mb_tab_shard *sh, double now) {
    sh->next_sweep = now + MB_TAB_SWEEP_MS;
    if (!atomic_load(&st->ttl_entries)) return;
    if (hashed(st)) {
        for (size_t i = 0; i < ((size_t)1 << sh->bits); i++)
            for (mb_tab_entry *e = sh->buckets[i], *next; e; e = next) {
                next = e->next;
                if (expired(e, now)) drop_entry(st, sh, e);
            }
    } else {
        for (mb_tab_entry *e = st->head->fwd[0], *next; e; e = next) {
            next = e->fwd[0];
            if (expired(e, now)) drop_entry(st, sh, e);
        }
    }
}

/* Evict the least recently used until memory fits (max_memory tables
 * have one shard, held for writing). keep is never evicted. */
static void fit(mb_tabstore *st, mb_tab_shard *sh, mb_tab_entry *keep, double now) {
    if (!st->max_memory || atomic_load(&st->memory) <= st->max_memory) return;
    sweep(st, sh, now);
    while (atomic_load(&st->memory) > st->max_memory) {
        mb_tab_entry *victim = st->lru_old;   /* the lists change only under our write lock */
        if (victim == keep) victim = victim->lru_prev;
        if (!victim) break;
        drop_entry(st, sh, victim);
    }
}

/* ---- the operations ------------------------------------------------------ */

int mb_tabstore_init(mb_tabstore *st, mb_tab_type type, size_t max_memory, unsigned nscheds) {
    memset(st, 0, sizeof *st);
    if (mb_tab_readers_init(&st->readers, nscheds)) return -1;
    st->type = type;
    st->max_memory = max_memory;
    st->nshards = type == MB_TAB_ORDERED_SET || max_memory ? 1 : MB_TAB_SHARDS;
    st->level = 1;
    st->rng = 0x9e3779b97f4a7c15ull;
    if (pthread_mutex_init(&st->lru_lock, NULL)) {
        mb_tab_readers_free(&st->readers);
        return -1;
    }
    unsigned done = 0;
    for (; done < st->nshards; done++) {
        mb_tab_shard *sh = &st->shards[done];
        sh->bits = MIN_BITS;
        if (hashed(st) && !(sh->buckets = calloc((size_t)1 << MIN_BITS, sizeof *sh->buckets))) break;
        if (mb_tab_lock_init(&sh->lock)) {
            free(sh->buckets);
            break;
        }
    }
    if (done == st->nshards && (hashed(st) || (st->head = calloc(1, entry_size(MAX_LEVEL, 0, 0))))) {
        if (st->head) st->head->level = MAX_LEVEL;
        return 0;
    }
    st->nshards = done;
    mb_tabstore_destroy(st);
    return -1;
}

/* Every object of shard sh freed, its chains left empty (the skiplist's,
 * in shards[0], with it). Its write lock held, or no other thread. */
static void free_objects(mb_tabstore *st, mb_tab_shard *sh) {
    for (size_t i = 0; sh->buckets && i < ((size_t)1 << sh->bits); i++) {
        for (mb_tab_entry *e = sh->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
        sh->buckets[i] = NULL;
    }
    sh->count = 0;
    if (sh != &st->shards[0] || !st->head) return;
    for (mb_tab_entry *e = st->head->fwd[0], *next; e; e = next) {
        next = e->fwd[0];
        free(e);
    }
    memset(st->head->fwd, 0, MAX_LEVEL * sizeof *st->head->fwd);
    st->level = 1;
}

void mb_tabstore_destroy(mb_tabstore *st) {
    for (unsigned s = 0; s < st->nshards; s++) {
        mb_tab_shard *sh = &st->shards[s];
        free_objects(st, sh);
        free(sh->buckets);
        mb_tab_lock_destroy(&sh->lock);
    }
    free(st->head);
    pthread_mutex_destroy(&st->lru_lock);
    mb_tab_readers_free(&st->readers);
    st->nshards = 0;
    st->head = NULL;
}

void mb_tabstore_kill(mb_tabstore *st) {
    atomic_store(&st->dead, true);
    for (unsigned s = 0; s < st->nshards; s++) {
        mb_tab_shard *sh = &st->shards[s];
        mb_tab_write_lock(&st->readers, &sh->lock);
        free_objects(st, sh);
        mb_tab_write_unlock(&sh->lock);
    }
    pthread_mutex_lock(&st->lru_lock);
    st->lru_new = st->lru_old = NULL;
    pthread_mutex_unlock(&st->lru_lock);
    atomic_store(&st->objects, 0);
    atomic_store(&st->memory, 0);
    atomic_store(&st->ttl_entries, 0);
}

/* sh locked, to read or to write (tablock.h); MB_TAB_ENOTAB, and nothing
 * locked, once the table is deleted (mb_tabstore_kill). */
static void unlock_shard(mb_tabstore *st, mb_tab_shard *sh, bool write) {
    if (write) mb_tab_write_unlock(&sh->lock);
    else mb_tab_read_unlock(&st->readers);
}

static int lock_shard(mb_tabstore *st, mb_tab_shard *sh, bool write) {
    if (write) mb_tab_write_lock(&st->readers, &sh->lock);
    else mb_tab_read_lock(&st->readers, &sh->lock);
    if (!atomic_load_explicit(&st->dead, memory_order_relaxed)) return MB_TAB_OK;
    unlock_shard(st, sh, write);
    return MB_TAB_ENOTAB;
}

/* The time for an operation under a shard's lock: the clock only where
 * a TTL counts (an object of this shard's with one was counted under the
 * lock held now); 0, which no expiry is at or before, elsewhere. A clock
 * read was a tenth of a counter's update. */
static double now_for(const mb_tabstore *st, double ttl_ms) {
    return ttl_ms > 0 || atomic_load_explicit(&st->ttl_entries, memory_order_relaxed) ? mb_now_ms() : 0;
}

static uint64_t hash_of(const mb_tabstore *st, mb_span key) {
    return hashed(st) ? mb_tabkey_hash(key.p, key.n) : 0;
}

/* Under the write lock: where the new object goes. */
static int insert_locked(mb_tabstore *st, mb_tab_shard *sh, mb_tab_entry *e, int mode, bool *inserted) {
    mb_tab_entry *old = find(st, sh, e->hash, key_of(e));
    *inserted = true;
    if (old && mode == MB_TAB_ONLY_NEW) {
        *inserted = false;
        free(e);
        return MB_TAB_OK;
    }
    if (st->type == MB_TAB_BAG) {   /* the same value again: replaced in place (its TTL) */
        while (old && same_key(old, e) &&
               !(old->vlen == e->vlen && memcmp(key_bytes(old) + old->klen, key_bytes(e) + e->klen, e->vlen) == 0))
            old = after(st, old);
        if (old && !same_key(old, e)) old = NULL;
    } else if (st->type == MB_TAB_DUPLICATE_BAG) {
        old = NULL;
    }
    if (old) replace_entry(st, sh, old, e);
    else link_entry(st, sh, e);
    return MB_TAB_OK;
}

int mb_tabstore_insert(mb_tabstore *st, mb_span key, mb_span value, double ttl_ms, int mode, bool *inserted) {
    uint64_t hash = hash_of(st, key);
    mb_tab_shard *sh = shard_of(st, hash);
    if (lock_shard(st, sh, true)) return MB_TAB_ENOTAB;
    double now = now_for(st, ttl_ms);
    int level = links_for(st);
    mb_tab_entry *e = NULL;
    if (st->max_memory) {
        /* Too big whatever its skiplist level (random): the same insert
         * fits or not every time. One that fits at the least level but not
         * at its own takes fewer links. */
        if (entry_size(level ? 1 : 0, key.n, value.n) > st->max_memory) {
            unlock_shard(st, sh, true);
            return MB_TAB_ETOOBIG;
        }
        while (level > 1 && entry_size(level, key.n, value.n) > st->max_memory) level--;
    }
    if (!(e = entry_new(level, key, hash, value, ttl_ms > 0 ? now + ttl_ms : 0))) {
        unlock_shard(st, sh, true);
        return MB_TAB_ENOMEM;
    }
    if (now >= sh->next_sweep) sweep(st, sh, now);
    /* Expired objects of the key go first where they would count: an
     * insert_new, a bag's value already there. A duplicate_bag's insert
     * looks at none (it appends), and its expired ones are invisible until
     * a sweep: purging them walked the key's whole group at each insert. */
    if (st->type != MB_TAB_DUPLICATE_BAG || mode == MB_TAB_ONLY_NEW) purge_key(st, sh, hash, key, now);
    int rc = insert_locked(st, sh, e, mode, inserted);
    if (*inserted) fit(st, sh, e, now);
    unlock_shard(st, sh, true);
    return rc;
}

static int put_value(mb_buf *out, const mb_tab_entry *e) {
    return out && mb_buf_put(out, value_of(e).p, e->vlen) ? -1 : 0;
}

/* Whether e's value is an array whose first element is exactly tag (a
 * whole term: its bytes end where it does). A registry's entry, {pid,
 * value}, is told by its first bytes: a process's death looks at every
 * object of each key it held, and a topic may hold thousands. */
static bool tagged(const mb_tab_entry *e, mb_span tag) {
    mb_span v = value_of(e), first;
    if (v.n >= 3 + tag.n && v.p[0] == MB_T_TABLE && v.p[1] > 0 && v.p[1] < 0x80 && v.p[2] == 0)
        return memcmp(v.p + 3, tag.p, tag.n) == 0;   /* a short array's head, no hash part */
    return mb_term_index(v, 1, &first) && first.n == tag.n && memcmp(first.p, tag.p, tag.n) == 0;
}

/* A key's live objects (those tagged tag, when tag is non-NULL): copied to
 * out (may be NULL), and removed when take (a write lock; a lookup's read
 * lock marks each a use). */
static int key_objects(mb_tabstore *st, mb_span key, const mb_span *tag, mb_buf *out, size_t *count, bool take) {
    uint64_t hash = hash_of(st, key);
    mb_tab_shard *sh = shard_of(st, hash);
    int rc = MB_TAB_OK;
    *count = 0;
    if (lock_shard(st, sh, take)) return MB_TAB_ENOTAB;
    double now = now_for(st, 0);
    if (take) purge_key(st, sh, hash, key, now);
    mb_tab_entry *e = find(st, sh, hash, key);
    /* A key's objects end at its group's last: no key compared on the way. */
    for (mb_tab_entry *last = e ? group_end(st, e) : NULL, *next; e; e = next) {
        next = e == last ? NULL : after(st, e);
        if (expired(e, now) || (tag && !tagged(e, *tag))) continue;
        if (put_value(out, e)) {   /* nothing taken past what was copied */
            rc = MB_TAB_ENOMEM;
            break;
        }
        if (take) drop_entry(st, sh, e);
        else if (out) lru_touch(st, e);
        (*count)++;
    }
    unlock_shard(st, sh, take);
    return rc;
}

int mb_tabstore_lookup(mb_tabstore *st, mb_span key, mb_buf *out, size_t *count) {
    return key_objects(st, key, NULL, out, count, false);
}

int mb_tabstore_take(mb_tabstore *st, mb_span key, mb_buf *out, size_t *count) {
    return key_objects(st, key, NULL, out, count, true);
}

int mb_tabstore_take_tagged(mb_tabstore *st, mb_span key, mb_span tag, size_t *count) {
    return key_objects(st, key, &tag, NULL, count, true);
}

int mb_tabstore_counter(mb_tabstore *st, mb_span key, double incr, const double *dflt, double *result) {
    uint64_t hash = hash_of(st, key);
    mb_tab_shard *sh = shard_of(st, hash);
    uint8_t num[16];
    mb_buf nb = {num, 0, sizeof num};   /* a number takes at most 10 bytes: never grows */
    int rc = MB_TAB_OK;
    if (lock_shard(st, sh, true)) return MB_TAB_ENOTAB;
    double now = now_for(st, 0);
    purge_key(st, sh, hash, key, now);
    mb_tab_entry *old = find(st, sh, hash, key);
    double x = 0;
    if (!old && !dflt) rc = MB_TAB_EMISSING;
    else if (old && !mb_term_num(value_of(old), &x)) rc = MB_TAB_ENOTNUM;
    if (rc) goto out;
    *result = (old ? x : *dflt) + incr;
    /* Past 2^53 a double loses integers (2^53 + 1 rounds to 2^53), so a
     * counter there would drop updates silently, or reach infinity: refuse,
     * leaving the stored value as it was. The test also catches NaN. */
    if (!(fabs(*result) < 0x1p53)) {
        rc = MB_TAB_ERANGE;
        goto out;
    }
    mb_put_number(&nb, *result);
    if (old && old->vlen == nb.len) {   /* same size: rewritten in place */
        memcpy(key_bytes(old) + old->klen, num, nb.len);
        lru_touch(st, old);
        goto out;
    }
    int level = old ? old->level : links_for(st);
    if (st->max_memory && entry_size(level, key.n, nb.len) > st->max_memory) {
        rc = MB_TAB_ETOOBIG;
        goto out;
    }
    mb_tab_entry *e = entry_new(level, key, hash, (mb_span){num, nb.len}, old ? old->expires : 0);
    if (!e) {
        rc = MB_TAB_ENOMEM;
        goto out;
    }
    if (old) replace_entry(st, sh, old, e);
    else link_entry(st, sh, e);
    fit(st, sh, e, now);
out:
    unlock_shard(st, sh, true);
    return rc;
}

/* ---- walking ------------------------------------------------------------- */

static int put_key(mb_buf *out, const mb_tab_entry *e, bool *found) {
    *found = true;
    return mb_buf_put(out, key_bytes(e), e->klen) ? MB_TAB_ENOMEM : MB_TAB_OK;
}

/* Hashed: the first live object past (hash, key) in shard s (from its
 * start when key.n == 0). */
static mb_tab_entry *hashed_after(const mb_tabstore *st, mb_tab_shard *sh, uint64_t hash, mb_span key, double now) {
    size_t nb = (size_t)1 << sh->bits;
    size_t i = key.n ? hash >> (64 - sh->bits) : 0;
    for (; i < nb; i++) {
        for (mb_tab_entry *e = sh->buckets[i]; e;) {
            if (key.n && hcmp(e, hash, key) <= 0) {   /* a group at or before key, whole */
                e = group_end(st, e)->next;
                continue;
            }
            if (!expired(e, now)) return e;
            e = e->next;
        }
    }
    return NULL;
}

static bool live_key(mb_tabstore *st, mb_tab_shard *sh, uint64_t hash, mb_span key, double now) {
    for (mb_tab_entry *e = find(st, sh, hash, key); e && ecmp(st, e, hash, key) == 0; e = after(st, e))
        if (!expired(e, now)) return true;
    return false;
}

/* set and bags: FIRST/LAST and NEXT/PREV are the same walk (as in ETS). */
static int hashed_step(mb_tabstore *st, mb_span key, mb_buf *out, bool *found, double now) {
    uint64_t hash = key.n ? hash_of(st, key) : 0;
    unsigned s = key.n ? (unsigned)(hash & (st->nshards - 1)) : 0;
    *found = false;
    if (key.n) {
        mb_tab_shard *sh = &st->shards[s];
        if (lock_shard(st, sh, false)) return MB_TAB_ENOTAB;
        bool live = live_key(st, sh, hash, key, now);
        mb_tab_entry *e = live ? hashed_after(st, sh, hash, key, now) : NULL;
        int rc = e ? put_key(out, e, found) : MB_TAB_OK;
        unlock_shard(st, sh, false);
        if (!live) return MB_TAB_EMISSING;
        if (e) return rc;
        s++;
    }
    for (; s < st->nshards; s++) {
        mb_tab_shard *sh = &st->shards[s];
        if (lock_shard(st, sh, false)) return MB_TAB_ENOTAB;
        mb_tab_entry *e = hashed_after(st, sh, 0, (mb_span){NULL, 0}, now);
        int rc = e ? put_key(out, e, found) : MB_TAB_OK;
        unlock_shard(st, sh, false);
        if (e) return rc;
    }
    return MB_TAB_OK;
}

/* ordered_set: the last live node < key (any key when key.n == 0). */
/* The last node whose key is < key (key.n == 0: the last of all); the
 * head when none. */
static mb_tab_entry *node_before(mb_tabstore *st, mb_span key) {
    mb_tab_entry *x = st->head;
    for (int i = st->level - 1; i >= 0; i--)
        while (x->fwd[i] && (!key.n || mb_term_cmp(key_of(x->fwd[i]), key) < 0)) x = x->fwd[i];
    return x;
}

/* The last live node before key. The list has no back links: an expired
 * predecessor (a read-mostly table keeps them until a write sweeps) is
 * stepped over by searching before its key, a few times, then by one walk
 * from the start; a walk each time made a backward walk over a table
 * whose every other key had expired quadratic. */
static mb_tab_entry *skip_before(mb_tabstore *st, mb_span key, double now) {
    mb_tab_entry *x = node_before(st, key);
    for (int tries = 0; x != st->head && expired(x, now); tries++) {
        if (tries == 16) {   /* many expired in a row */
            mb_tab_entry *best = NULL;
            for (mb_tab_entry *e = st->head->fwd[0]; e && e != x; e = e->fwd[0])
                if (!expired(e, now)) best = e;
            return best;
        }
        x = node_before(st, key_of(x));
    }
    return x == st->head ? NULL : x;
}

int mb_tabstore_step(mb_tabstore *st, int which, mb_span key, mb_buf *out, bool *found) {
    double now = mb_now_ms();
    if (hashed(st)) return hashed_step(st, which == MB_TAB_FIRST || which == MB_TAB_LAST ? (mb_span){NULL, 0} : key, out, found, now);
    mb_tab_shard *sh = &st->shards[0];
    mb_tab_entry *e = NULL;
    *found = false;
    if (lock_shard(st, sh, false)) return MB_TAB_ENOTAB;
    switch (which) {
    case MB_TAB_FIRST: e = st->head->fwd[0]; break;
    case MB_TAB_NEXT:
        e = skip_search(st, key, NULL);
        if (e && mb_term_cmp(key_of(e), key) == 0) e = e->fwd[0];
        break;
    case MB_TAB_LAST: e = skip_before(st, (mb_span){NULL, 0}, now); break;
    case MB_TAB_PREV: e = skip_before(st, key, now); break;
    }
    if (which == MB_TAB_FIRST || which == MB_TAB_NEXT)
        while (e && expired(e, now)) e = e->fwd[0];
    int rc = e ? put_key(out, e, found) : MB_TAB_OK;
    unlock_shard(st, sh, false);
    return rc;
}

static int put_pair(mb_buf *out, const mb_tab_entry *e) {
    return mb_buf_put(out, key_bytes(e), e->klen + e->vlen) ? -1 : 0;   /* key, then value */
}

int mb_tabstore_range(mb_tabstore *st, mb_span from, mb_span to, size_t limit, mb_buf *out, size_t *count) {
    mb_tab_shard *sh = &st->shards[0];
    double now = mb_now_ms();
    int rc = MB_TAB_OK;
    *count = 0;
    if (lock_shard(st, sh, false)) return MB_TAB_ENOTAB;
    for (mb_tab_entry *e = skip_search(st, from, NULL); e && mb_term_cmp(key_of(e), to) <= 0; e = e->fwd[0]) {
        if (limit && *count >= limit) break;
        if (expired(e, now)) continue;
        if (put_pair(out, e)) {
            rc = MB_TAB_ENOMEM;
            break;
        }
        (*count)++;
    }
    unlock_shard(st, sh, false);
    return rc;
}

int mb_tabstore_list(mb_tabstore *st, mb_buf *out, size_t *count) {
    double now = mb_now_ms();
    *count = 0;
    for (unsigned s = 0; s < st->nshards; s++) {   /* one shard at a time: no snapshot of all */
        mb_tab_shard *sh = &st->shards[s];
        int rc = MB_TAB_OK;
        if (lock_shard(st, sh, false)) return MB_TAB_ENOTAB;
        size_t nb = hashed(st) ? (size_t)1 << sh->bits : 1;
        for (size_t i = 0; i < nb && !rc; i++)
            for (mb_tab_entry *e = hashed(st) ? sh->buckets[i] : st->head->fwd[0]; e && !rc; e = after(st, e)) {
                if (expired(e, now)) continue;
                if (put_pair(out, e)) rc = MB_TAB_ENOMEM;
                else (*count)++;
            }
        unlock_shard(st, sh, false);
        if (rc) return rc;
    }
    return MB_TAB_OK;
}

int mb_tabstore_stats(mb_tabstore *st, size_t *size, size_t *memory) {
    *size = *memory = 0;
    if (atomic_load(&st->ttl_entries)) {
        double now = mb_now_ms();
        for (unsigned s = 0; s < st->nshards; s++) {
            if (lock_shard(st, &st->shards[s], true)) return MB_TAB_ENOTAB;
            sweep(st, &st->shards[s], now);
            unlock_shard(st, &st->shards[s], true);
        }
    }
    /* A max_memory table's insert counts its object, then evicts, under
     * its one shard's write lock: read under that lock, never between. */
    mb_tab_shard *sh = st->max_memory ? &st->shards[0] : NULL;
    if (sh && lock_shard(st, sh, false)) return MB_TAB_ENOTAB;
    *size = atomic_load(&st->objects);
    *memory = atomic_load(&st->memory);
    if (sh) unlock_shard(st, sh, false);
    return atomic_load(&st->dead) ? MB_TAB_ENOTAB : MB_TAB_OK;
}
