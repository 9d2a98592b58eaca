/* codemap.h: whether an address is in code generated at run time.
 *
 * A JIT's machine code lives in anonymous executable mappings; every
 * library's and the executable's code is mapped from a file. A thread
 * interrupted at such an address holds no lock and is inside no C function
 * (sysmon.h: a process killed while it spins in compiled code is left there
 * and its state abandoned). Reads /proc/self/maps with open, read and close
 * only, into a buffer on the stack: async-signal-safe, for a signal handler. */
#ifndef MB_CODEMAP_H
#define MB_CODEMAP_H

#include <stdbool.h>
#include <stdint.h>

/* True if pc lies in an anonymous mapping that may execute. False when it
 * does not, or when the maps cannot be read. */
bool mb_codemap_is_generated(uintptr_t pc);

#endif
