/* codec.h: the message format, from a Lua value to bytes and back.
 *
 * Every message crosses from one Lua state to another as one buffer. The
 * format (all integers little-endian; n = unsigned LEB128 varint):
 *
 *   0x00 nil            (only in argument lists, never inside a table)
 *   0x01 false | 0x02 true
 *   0x03 integer        zigzag varint; only for exact integers |x| <= 2^53
 *   0x04 double         8 raw bytes: keeps -0.0, NaN and infinities
 *   0x05 string         n length, bytes (binary-safe)
 *   0x06 table          n array count, n hash count, array values, key/value pairs
 *   0x07 pid | 0x08 ref n value
 *   0x09 function       n length, LuaJIT bytecode of an upvalue-free function
 *
 * Refused when encoding (the error names the path, "msg.a.b: ..."): nil
 * outside argument lists, C functions and functions with upvalues, userdata,
 * coroutines, cdata, cycles, nesting beyond MB_MAX_DEPTH, and tables with a
 * metatable (their raw contents would arrive without the behaviour).
 *
 * The decoder trusts nothing: counts are bounded by the bytes left, depth by
 * MB_MAX_DEPTH, and it returns an error instead of reading past the end.
 * Bytecode is the exception: LuaJIT does not verify it, so decoding functions
 * is allowed only for buffers this host encoded itself (allow_functions). */
#ifndef MB_CODEC_H
#define MB_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "pid.h"

typedef struct lua_State lua_State;

#define MB_MAX_DEPTH 100                       /* nesting of tables in one message */
#define MB_DEFAULT_MAX_MESSAGE (64u << 20)      /* bytes; runtime-configurable */

enum {
    MB_T_NIL, MB_T_FALSE, MB_T_TRUE, MB_T_INT, MB_T_DOUBLE,
    MB_T_STRING, MB_T_TABLE, MB_T_PID, MB_T_REF, MB_T_FUNCTION
};

enum { MB_ENC_REFUSED, MB_ENC_TOO_LARGE, MB_ENC_NOMEM };

typedef struct mb_encode_err {
    char msg[256];
    int why;                     /* MB_ENC_*: TOO_LARGE is over max_size, sendable so far */
} mb_encode_err;

/* Append the value at idx to b. root names the value in errors ("msg",
 * "argument #2"). Returns 0, or -1 with err filled in, naming the path. May
 * raise a Lua error only on out-of-memory inside the state. */
int mb_encode(lua_State *L, int idx, const char *root, mb_buf *b,
              size_t max_size, mb_encode_err *err);

/* Append n values from idx on, nils included, after a count. */
int mb_encode_list(lua_State *L, int idx, int n, mb_buf *b,
                   size_t max_size, mb_encode_err *err);

/* Push one decoded value. Returns 0, or -1 if the bytes are not one
 * well-formed value (the stack is then unchanged). */
int mb_decode(lua_State *L, const uint8_t *p, size_t len, int allow_functions);

/* Push the values of a list; returns their count, or -1 if malformed. */
int mb_decode_list(lua_State *L, const uint8_t *p, size_t len, int allow_functions);

/* Writers for messages the core builds itself (EXIT and DOWN tuples). */
int mb_put_string(mb_buf *b, const char *s, size_t n);
int mb_put_id(mb_buf *b, int tag, uint64_t v);
int mb_put_tuple_head(mb_buf *b, unsigned n);

/* Whether an encoded value is exactly the string s. */
int mb_encoded_is(const uint8_t *p, size_t len, const char *s);

#endif
