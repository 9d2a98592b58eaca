/* pid.h: what a pid and a ref are, as 64-bit values.
 *
 * Both travel through Lua as light userdata, so they must fit the 46 bits a
 * GC64 LuaJIT keeps for a light userdata without a segment lookup failing:
 *
 *   pid:   bit 45 clear | serial (24 bits) << 21 | slot (21 bits)
 *   ref:   bit 45 set   | bit 44 clear | counter (44 bits, wrapping)
 *   table: bit 45 set   | bit 44 set   | bit 43 clear | table id (43 bits;
 *          shared tables, table.h: ids are never reused)
 *   socket: bits 45, 44, 43 set | bit 42 clear | socket id (42 bits; io.h)
 *   port:   bits 45, 44, 43, 42 set | port id (42 bits; io.h)
 *
 * The serial makes a recycled slot not answer to an old pid until it wraps,
 * after 2^24 - 1 reuses of that slot; slots are reused first in, first out
 * (proctab.h), so that takes 2^24 times the free slots' count of spawns.
 * Wider serials would not fit: the slot bits cover max_processes (2^21).
 * Serials start at 1, so no pid is 0 (0 means "no pid" in the core). */
#ifndef MB_PID_H
#define MB_PID_H

#include <stdint.h>

typedef uint64_t mb_pid;
typedef uint64_t mb_ref;

#define MB_SLOT_BITS   21
#define MB_SERIAL_BITS 24
#define MB_MAX_SLOTS   (1u << MB_SLOT_BITS)
#define MB_SERIAL_MASK ((1u << MB_SERIAL_BITS) - 1)
#define MB_REF_BIT     (UINT64_C(1) << 45)
#define MB_TAB_BIT     (UINT64_C(1) << 44)
#define MB_IO_BIT      (UINT64_C(1) << 43)
#define MB_PORT_BIT    (UINT64_C(1) << 42)
#define MB_VALUE_LIMIT (UINT64_C(1) << 46)

static inline mb_pid mb_pid_make(uint32_t slot, uint32_t serial) {
    return ((uint64_t)(serial & MB_SERIAL_MASK) << MB_SLOT_BITS) | slot;
}
static inline uint32_t mb_pid_slot(mb_pid p) { return (uint32_t)(p & (MB_MAX_SLOTS - 1)); }
static inline uint32_t mb_pid_serial(mb_pid p) { return (uint32_t)(p >> MB_SLOT_BITS) & MB_SERIAL_MASK; }

/* What a light userdata value is. */
typedef enum mb_value_kind {
    MB_VALUE_OTHER, MB_VALUE_PID, MB_VALUE_REF, MB_VALUE_TABLE, MB_VALUE_SOCKET, MB_VALUE_PORT
} mb_value_kind_t;

static inline mb_value_kind_t mb_value_kind(uint64_t v) {
    if (v == 0 || v >= MB_VALUE_LIMIT) return MB_VALUE_OTHER;
    if (v & MB_REF_BIT) {
        if (!(v & MB_TAB_BIT)) return MB_VALUE_REF;
        if (!(v & MB_IO_BIT)) return MB_VALUE_TABLE;
        return (v & MB_PORT_BIT) ? MB_VALUE_PORT : MB_VALUE_SOCKET;
    }
    return mb_pid_serial(v) != 0 ? MB_VALUE_PID : MB_VALUE_OTHER;
}

#endif
