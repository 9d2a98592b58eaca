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
 * after 2^23 - 1 reuses of that slot; slots are reused first in, first out
 * (proctab.h), so that takes 2^23 times the free slots' count of spawns.
 * Wider serials would not fit: the slot bits cover max_processes (2^21).
 * Serials start at 1, so no pid is 0 (0 means "no pid" in the core).
 *
 * Pids and refs of other nodes (host/dist/nodetab.h) take the top bit of
 * the local forms' spaces, which local values never set:
 *
 *   remote pid: bit 45 clear | bit 44 set (a serial's top bit; local
 *               serials have 23 bits) | generation (23 bits) << 21 |
 *               entry (21 bits)
 *   remote ref: bit 45 set | bit 44 clear | bit 43 set (local refs count
 *               in 43 bits) | generation (22 bits) << 21 | entry (21 bits)
 *
 * The entry is a slot in the node's table of remote pids or refs seen,
 * which holds what Erlang sends (node, id, serial, creation; or node,
 * creation and up to 5 words); the generation makes a recycled entry not
 * answer to an old value. A remote pid is a pid for every check (it is no
 * local process: mb_proctab_get finds none); only the distribution layer
 * reads its entry. */
#ifndef MB_PID_H
#define MB_PID_H

#include <stdbool.h>
#include <stdint.h>

typedef uint64_t mb_pid;
typedef uint64_t mb_ref;

#define MB_SLOT_BITS   21
#define MB_SERIAL_BITS 24
#define MB_MAX_SLOTS   (1u << MB_SLOT_BITS)
#define MB_SERIAL_MASK ((1u << MB_SERIAL_BITS) - 1)
#define MB_LOCAL_SERIAL_MASK ((1u << (MB_SERIAL_BITS - 1)) - 1)   /* the top bit marks remote pids */
#define MB_REF_BIT     (UINT64_C(1) << 45)
#define MB_TAB_BIT     (UINT64_C(1) << 44)
#define MB_IO_BIT      (UINT64_C(1) << 43)
#define MB_PORT_BIT    (UINT64_C(1) << 42)
#define MB_VALUE_LIMIT (UINT64_C(1) << 46)
#define MB_REMOTE_PID_BIT (UINT64_C(1) << 44)
#define MB_REMOTE_REF_BIT (UINT64_C(1) << 43)
#define MB_LOCAL_REF_MASK (MB_REMOTE_REF_BIT - 1)
#define MB_REMOTE_ENTRY_MASK ((UINT64_C(1) << 21) - 1)

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

/* Whether a pid or a ref (of that kind already) is another node's. */
static inline bool mb_pid_is_remote(mb_pid p) { return (p & MB_REMOTE_PID_BIT) != 0; }
static inline bool mb_ref_is_remote(mb_ref r) { return (r & MB_REMOTE_REF_BIT) != 0; }

#endif
