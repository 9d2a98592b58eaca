/* names.c: name -> pid, a chained hash table under one lock. A process also
 * keeps its own name (under its lock) so dying can release it. */
#include "names.h"

#include <stdlib.h>
#include <string.h>
#include "process.h"
#include "runtime.h"

struct mb_name_entry {
    mb_name_entry *next;
    mb_pid pid;
    size_t len;
    char name[];
};

static uint64_t hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

int mb_names_init(mb_names *n) {
    n->nbuckets = 64;
    n->count = 0;
    n->buckets = calloc(n->nbuckets, sizeof *n->buckets);
    if (!n->buckets) return -1;
    if (pthread_mutex_init(&n->lock, NULL)) {
        free(n->buckets);
        return -1;
    }
    return 0;
}

void mb_names_destroy(mb_names *n) {
    for (size_t i = 0; i < n->nbuckets; i++) {
        mb_name_entry *e = n->buckets[i];
        while (e) {
            mb_name_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(n->buckets);
    pthread_mutex_destroy(&n->lock);
}

static mb_name_entry **find(mb_names *n, const char *name, size_t len) {
    mb_name_entry **pe = &n->buckets[hash(name, len) & (n->nbuckets - 1)];
    while (*pe && !((*pe)->len == len && memcmp((*pe)->name, name, len) == 0)) pe = &(*pe)->next;
    return pe;
}

static void grow(mb_names *n) {
    size_t nb = n->nbuckets * 2;
    mb_name_entry **b = calloc(nb, sizeof *b);
    if (!b) return;   /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < n->nbuckets; i++) {
        mb_name_entry *e = n->buckets[i];
        while (e) {
            mb_name_entry *next = e->next;
            size_t j = hash(e->name, e->len) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(n->buckets);
    n->buckets = b;
    n->nbuckets = nb;
}

bool mb_name_valid(const char *name, size_t len) {
    return name && len > 0 && memchr(name, '\0', len) == NULL;
}

int mb_names_register(mb_runtime *rt, const char *name, size_t len, mb_pid pid) {
    if (!mb_name_valid(name, len)) return MB_REG_BADNAME;
    mb_names *n = &rt->names;
    mb_proc *p = mb_proctab_get(&rt->procs, pid);
    if (!p) return MB_REG_NOPROC;
    int rc = MB_REG_OK;
    pthread_mutex_lock(&n->lock);
    mb_name_entry **pe = find(n, name, len);
    if (*pe) {
        rc = MB_REG_TAKEN;
        goto out;
    }
    pthread_mutex_lock(&p->lock);
    if (p->exiting) rc = MB_REG_NOPROC;
    else if (p->name) rc = MB_REG_HAS_NAME;
    else {
        mb_name_entry *e = malloc(sizeof *e + len + 1);
        char *own = malloc(len + 1);
        if (!e || !own) {
            free(e);
            free(own);
            rc = MB_REG_NOMEM;
        } else {
            memcpy(e->name, name, len);
            e->name[len] = '\0';
            memcpy(own, name, len);
            own[len] = '\0';
            e->len = len;
            e->pid = pid;
            e->next = NULL;
            *pe = e;
            p->name = own;
            if (++n->count > n->nbuckets) grow(n);
        }
    }
    pthread_mutex_unlock(&p->lock);
out:
    pthread_mutex_unlock(&n->lock);
    mb_proctab_put(&rt->procs, pid);
    return rc;
}

int mb_names_unregister(mb_runtime *rt, const char *name, size_t len) {
    mb_names *n = &rt->names;
    pthread_mutex_lock(&n->lock);
    mb_name_entry **pe = find(n, name, len), *e = *pe;
    if (!e) {
        pthread_mutex_unlock(&n->lock);
        return 0;
    }
    *pe = e->next;
    n->count--;
    mb_proc *p = mb_proctab_get(&rt->procs, e->pid);
    if (p) {
        pthread_mutex_lock(&p->lock);
        free(p->name);
        p->name = NULL;
        pthread_mutex_unlock(&p->lock);
        mb_proctab_put(&rt->procs, e->pid);
    }
    pthread_mutex_unlock(&n->lock);
    free(e);
    return 1;
}

void mb_names_release(mb_runtime *rt, const char *name, mb_pid pid) {
    mb_names *n = &rt->names;
    pthread_mutex_lock(&n->lock);
    mb_name_entry **pe = find(n, name, strlen(name)), *e = *pe;
    if (e && e->pid == pid) {
        *pe = e->next;
        n->count--;
        free(e);
    }
    pthread_mutex_unlock(&n->lock);
}

mb_pid mb_names_whereis(mb_runtime *rt, const char *name, size_t len) {
    mb_names *n = &rt->names;
    pthread_mutex_lock(&n->lock);
    mb_name_entry *e = *find(n, name, len);
    mb_pid pid = e ? e->pid : 0;
    pthread_mutex_unlock(&n->lock);
    return pid;
}

void mb_names_each(mb_runtime *rt, void (*fn)(const char *, size_t, mb_pid, void *), void *ud) {
    mb_names *n = &rt->names;
    pthread_mutex_lock(&n->lock);
    for (size_t i = 0; i < n->nbuckets; i++)
        for (mb_name_entry *e = n->buckets[i]; e; e = e->next) fn(e->name, e->len, e->pid, ud);
    pthread_mutex_unlock(&n->lock);
}
