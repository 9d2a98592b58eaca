/* code_loaders.c: for each file module, by its name and the file it was
 * loaded from, the pids of the processes whose state loaded it (the module
 * cache's searcher notes each load). A process with a package.path of its
 * own may have loaded another file by that name: a reload of one file is
 * not for it.
 *
 * A process's own package.loaded cannot be read from another thread, so
 * mb.reload asks here whom to send its code change request to. An entry is
 * never removed when a process ends: dead pids are pruned when a module's
 * list is full, before it grows, so a list stays within twice the number
 * of live loaders. A pid never comes back (its slot's serial changes), so
 * a stale one is only skipped. */
#include "code_loaders.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 64

typedef struct loaders_entry {
    struct loaders_entry *next;
    char *name, *file;
    mb_pid *pids;
    size_t n, cap;
} loaders_entry;

struct mbb_code_loaders {
    pthread_mutex_t lock;   /* guards every entry: loads are few per process */
    loaders_entry *bucket[BUCKETS];
};

static unsigned hash(const char *s) {
    unsigned h = 2166136261u;   /* FNV-1a */
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % BUCKETS;
}

mbb_code_loaders *mbb_code_loaders_new(void) {
    mbb_code_loaders *l = calloc(1, sizeof *l);
    if (l && pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l);
        return NULL;
    }
    return l;
}

void mbb_code_loaders_free(mbb_code_loaders *l) {
    if (!l) return;
    for (int i = 0; i < BUCKETS; i++) {
        for (loaders_entry *e = l->bucket[i], *next; e; e = next) {
            next = e->next;
            free(e->name);
            free(e->file);
            free(e->pids);
            free(e);
        }
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* name's entry, made if absent when make is set; NULL: none (or no memory). */
static loaders_entry *entry(mbb_code_loaders *l, const char *name, const char *file, int make) {
    unsigned b = hash(name);
    for (loaders_entry *e = l->bucket[b]; e; e = e->next)
        if (strcmp(e->name, name) == 0 && strcmp(e->file, file) == 0) return e;
    if (!make) return NULL;
    loaders_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(name)) || !(e->file = strdup(file))) {
        if (e) free(e->name);
        free(e);
        return NULL;
    }
    e->next = l->bucket[b];
    l->bucket[b] = e;
    return e;
}

static void prune(loaders_entry *e, mb_proctab *procs) {
    size_t kept = 0;
    for (size_t i = 0; i < e->n; i++)
        if (mb_proctab_alive(procs, e->pids[i])) e->pids[kept++] = e->pids[i];
    e->n = kept;
}

int mbb_code_loaders_add(mbb_code_loaders *l, mb_proctab *procs, const char *name, const char *file, mb_pid pid) {
    int rc = -1;
    pthread_mutex_lock(&l->lock);
    loaders_entry *e = entry(l, name, file, 1);
    if (e && e->n == e->cap) {
        prune(e, procs);
        if (e->n * 2 >= e->cap) {   /* still half full: grow */
            size_t cap = e->cap ? e->cap * 2 : 8;
            mb_pid *p = realloc(e->pids, cap * sizeof *p);
            if (p) {
                e->pids = p;
                e->cap = cap;
            }
        }
    }
    if (e && e->n < e->cap) {
        e->pids[e->n++] = pid;
        rc = 0;
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

int mbb_code_loaders_of(mbb_code_loaders *l, mb_proctab *procs, const char *name, const char *file, mb_pid **out,
                        size_t *n) {
    int rc = 0;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&l->lock);
    loaders_entry *e = entry(l, name, file, 0);
    if (e) prune(e, procs);
    if (e && e->n) {
        *out = malloc(e->n * sizeof **out);
        if (*out) {
            memcpy(*out, e->pids, e->n * sizeof **out);
            *n = e->n;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}
