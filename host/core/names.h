/* names.h: the registry of process names (register/whereis).
 * Names are copied strings, freed when unregistered: never interned forever.
 * Lock order: the registry's lock before a process's lock. */
#ifndef MB_NAMES_H
#define MB_NAMES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include "pid.h"

typedef struct mb_name_entry mb_name_entry;

typedef struct mb_names {
    pthread_mutex_t lock;
    mb_name_entry **buckets;
    size_t nbuckets, count;
} mb_names;

typedef struct mb_runtime mb_runtime;

int mb_names_init(mb_names *n);
void mb_names_destroy(mb_names *n);

/* A name is a non-empty string without NUL bytes: a process keeps its name
 * as a C string, so one with a NUL could never be released. */
bool mb_name_valid(const char *name, size_t len);

enum { MB_REG_OK = 0, MB_REG_TAKEN = -1, MB_REG_NOPROC = -2, MB_REG_HAS_NAME = -3, MB_REG_NOMEM = -4,
       MB_REG_BADNAME = -5 };
/* MB_REG_BADNAME for a name that is not mb_name_valid: callers check first. */
int mb_names_register(mb_runtime *rt, const char *name, size_t len, mb_pid pid);
int mb_names_unregister(mb_runtime *rt, const char *name, size_t len);   /* 1 if it was registered */
/* Remove name only if it still maps to pid (a dying process's cleanup). */
void mb_names_release(mb_runtime *rt, const char *name, mb_pid pid);
mb_pid mb_names_whereis(mb_runtime *rt, const char *name, size_t len);   /* 0 if none */
/* Calls fn for each name (under the lock: fn must not call back in). */
void mb_names_each(mb_runtime *rt, void (*fn)(const char *, size_t, mb_pid, void *), void *ud);

#endif
