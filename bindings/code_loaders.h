/* code_loaders.h: which processes loaded which file module (code_loaders.c),
 * so that mb.reload knows whom to tell. */
#ifndef MBB_CODE_LOADERS_H
#define MBB_CODE_LOADERS_H

#include <stddef.h>
#include "core/pid.h"
#include "core/proctab.h"

typedef struct mbb_code_loaders mbb_code_loaders;

mbb_code_loaders *mbb_code_loaders_new(void);   /* NULL: out of memory */
void mbb_code_loaders_free(mbb_code_loaders *l);

/* Note that pid loaded module name from file (as its package.path named
 * it). Any thread. Dead pids are pruned here (procs: the host's table).
 * -1: out of memory (the note is lost). */
int mbb_code_loaders_add(mbb_code_loaders *l, mb_proctab *procs, const char *name, const char *file, mb_pid pid);

/* The live pids that loaded name from file, in *out (malloc'd, the caller
 * frees; NULL when none), their number in *n. -1: out of memory. */
int mbb_code_loaders_of(mbb_code_loaders *l, mb_proctab *procs, const char *name, const char *file, mb_pid **out,
                        size_t *n);

#endif
