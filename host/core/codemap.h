/* codemap.h: whether an address is in code generated at run time.
 *
 * A JIT's machine code lives in anonymous executable mappings; every
 * library's and the executable's code is mapped from a file. A thread
 * stopped at such an address holds no lock and is inside no C function
 * (sysmon.h: a process that must end while it spins in compiled code is
 * left there, its state abandoned). Reads /proc/self/maps. */
#ifndef MB_CODEMAP_H
#define MB_CODEMAP_H

#include <stdbool.h>
#include <stdint.h>

/* True if pc lies in an anonymous mapping that may execute. The bounds of
 * the mapping that holds pc, generated code or not, go to [*lo, *hi) (left
 * as they were when none does, or when the maps cannot be read). */
bool mb_codemap_find(uintptr_t pc, uintptr_t *lo, uintptr_t *hi);

#endif
