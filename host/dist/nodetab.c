/* nodetab.c: remote pids, refs and node names (see nodetab.h). Each kind
 * is an array of entries that grows to 2^21, a hash index over them, and a
 * clock hand that reuses the oldest entry once the array is full. */
#include "nodetab.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES (1u << 21)
#define BUCKETS (1u << 16)
#define MAX_NODES 65535

typedef struct entry {
    mb_remote r;
    uint32_t gen;
    uint32_t next;             /* in its bucket: index + 1, 0 ends */
} entry;

typedef struct space {
    entry *e;
    uint32_t n, cap, hand;     /* used, allocated, next to reuse */
    uint32_t bucket[BUCKETS];  /* index + 1 of a chain's first */
    uint32_t gen_mask;
    uint64_t kind_bits;        /* the value's marks (pid.h) */
} space;

struct mb_nodetab {
    pthread_mutex_t lock;
    char **names;              /* names[0]: this node */
    uint32_t nnames, capnames;
    space pids, refs;
};

static uint32_t hash(const mb_remote *r) {
    uint64_t h = 1469598103934665603u;
    uint32_t parts[2 + MB_ETF_MAX_REF_WORDS] = {r->node ^ (uint32_t)r->alias_tag << 31, r->creation};
    memcpy(parts + 2, r->words, sizeof r->words);
    for (int i = 0; i < 2 + r->nwords; i++) h = (h ^ parts[i]) * 1099511628211u;
    return (uint32_t)(h ^ (h >> 32)) & (BUCKETS - 1);
}

static bool same(const mb_remote *a, const mb_remote *b) {
    return a->node == b->node && a->creation == b->creation && a->nwords == b->nwords &&
           a->alias_tag == b->alias_tag &&
           memcmp(a->words, b->words, (size_t)a->nwords * sizeof a->words[0]) == 0;
}

static void unchain(space *s, uint32_t i) {
    uint32_t *pp = &s->bucket[hash(&s->e[i].r)];
    while (*pp && *pp != i + 1) pp = &s->e[*pp - 1].next;
    if (*pp) *pp = s->e[i].next;
}

static uint64_t value(const space *s, uint32_t i) {
    return s->kind_bits | (uint64_t)s->e[i].gen << 21 | i;
}

/* Under the lock: the value for r in s, interning it; 0 on OOM. */
static uint64_t intern(space *s, const mb_remote *r) {
    uint32_t b = hash(r);
    for (uint32_t k = s->bucket[b]; k; k = s->e[k - 1].next)
        if (same(&s->e[k - 1].r, r)) return value(s, k - 1);
    uint32_t i;
    if (s->n < s->cap) {
        i = s->n++;
    } else if (s->cap < MAX_ENTRIES) {
        uint32_t cap = s->cap ? s->cap * 2 : 1024;
        entry *e = realloc(s->e, cap * sizeof *e);
        if (!e) return 0;
        memset(e + s->cap, 0, (cap - s->cap) * sizeof *e);
        s->e = e;
        s->cap = cap;
        i = s->n++;
    } else {
        i = s->hand;
        s->hand = (s->hand + 1) % MAX_ENTRIES;
        unchain(s, i);
        s->e[i].gen = (s->e[i].gen + 1) & s->gen_mask;
    }
    s->e[i].r = *r;
    s->e[i].next = s->bucket[b];
    s->bucket[b] = i + 1;
    return value(s, i);
}

mb_nodetab *mb_nodetab_new(const char *self) {
    mb_nodetab *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->names = malloc(8 * sizeof *t->names);
    t->capnames = 8;
    if (!t->names || !(t->names[0] = strdup(self)) || pthread_mutex_init(&t->lock, NULL)) {
        if (t->names) free(t->names[0]);
        free(t->names);
        free(t);
        return NULL;
    }
    t->nnames = 1;
    /* Remote pids: bit 44 and a 23-bit generation; refs: bits 45 and 43,
     * and 22 bits of generation (pid.h). */
    t->pids.kind_bits = MB_REMOTE_PID_BIT;
    t->pids.gen_mask = (1u << 23) - 1;
    t->refs.kind_bits = MB_REF_BIT | MB_REMOTE_REF_BIT;
    t->refs.gen_mask = (1u << 22) - 1;
    return t;
}

void mb_nodetab_free(mb_nodetab *t) {
    if (!t) return;
    for (uint32_t i = 0; i < t->nnames; i++) free(t->names[i]);
    free(t->names);
    free(t->pids.e);
    free(t->refs.e);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

long mb_nodetab_node(mb_nodetab *t, const char *s, size_t n) {
    pthread_mutex_lock(&t->lock);
    long found = -1;
    for (uint32_t i = 0; i < t->nnames && found < 0; i++)
        if (strlen(t->names[i]) == n && memcmp(t->names[i], s, n) == 0) found = i;
    if (found < 0 && t->nnames < MAX_NODES) {
        char **names = t->names;
        if (t->nnames == t->capnames) names = realloc(t->names, 2 * t->capnames * sizeof *names);
        char *copy = names ? strndup(s, n) : NULL;
        if (names && names != t->names) t->names = names, t->capnames *= 2;
        if (copy) {
            t->names[t->nnames] = copy;
            found = t->nnames++;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

bool mb_nodetab_node_name(mb_nodetab *t, uint32_t i, char *out, size_t outlen) {
    pthread_mutex_lock(&t->lock);
    bool ok = i < t->nnames;
    if (ok) snprintf(out, outlen, "%s", t->names[i]);
    pthread_mutex_unlock(&t->lock);
    return ok;
}

mb_pid mb_nodetab_pid(mb_nodetab *t, const mb_remote *r) {
    pthread_mutex_lock(&t->lock);
    uint64_t v = intern(&t->pids, r);
    pthread_mutex_unlock(&t->lock);
    return v;
}

mb_ref mb_nodetab_ref(mb_nodetab *t, const mb_remote *r) {
    pthread_mutex_lock(&t->lock);
    uint64_t v = intern(&t->refs, r);
    pthread_mutex_unlock(&t->lock);
    return v;
}

bool mb_nodetab_get(mb_nodetab *t, uint64_t v, mb_remote *out) {
    mb_value_kind_t k = mb_value_kind(v);
    space *s = k == MB_VALUE_PID && mb_pid_is_remote(v)   ? &t->pids
               : k == MB_VALUE_REF && mb_ref_is_remote(v) ? &t->refs
                                                          : NULL;
    if (!s) return false;
    uint32_t i = (uint32_t)(v & MB_REMOTE_ENTRY_MASK);
    pthread_mutex_lock(&t->lock);
    bool ok = i < s->n && value(s, i) == v;
    if (ok) *out = s->e[i].r;
    pthread_mutex_unlock(&t->lock);
    return ok;
}
