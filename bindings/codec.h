/* codec.h: Lua values to terms and back (the format: host/core/term.h).
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
#include "core/pid.h"
#include "core/term.h"

typedef struct lua_State lua_State;

enum { MB_ENC_REFUSED, MB_ENC_TOO_LARGE, MB_ENC_NOMEM };

typedef struct mb_encode_err {
    char msg[256];
    int why;                     /* MB_ENC_*: TOO_LARGE is over max_size, sendable so far */
    int item;                    /* mb_encode_list: which value failed, from 0 */
} mb_encode_err;

/* Append the value at idx to b. root begins the error's path ("msg", or
 * with the call's name, "send: msg", which then costs a send nothing).
 * Returns 0, or -1 with err filled in, naming the path. May raise a Lua
 * error only on out-of-memory inside the state. */
int mb_encode(lua_State *L, int idx, const char *root, mb_buf *b,
              size_t max_size, mb_encode_err *err);

/* Told of each ref an encoding takes in (a message, a table's object):
 * defined by the code that embeds the codec (bindings/call_api.c: a
 * gen_server's from sent anywhere is handed off). */
void mb_codec_ref_sent(uint64_t ref);

/* mb_encode of a value whose type (lua_type's) the caller has looked at
 * already: a send's, whose every C API call is a tenth of a percent of a
 * ring hop. */
int mb_encode_typed(lua_State *L, int idx, int type, const char *root, mb_buf *b,
                    size_t max_size, mb_encode_err *err);

/* Append n values from idx on, nils included, after a count. An error
 * names the value root, and err->item says which one it was. */
int mb_encode_list(lua_State *L, int idx, int n, const char *root, mb_buf *b,
                   size_t max_size, mb_encode_err *err);

/* Push one decoded value. Returns 0, or -1 if the bytes are not one
 * well-formed value (the stack is then unchanged). */
int mb_decode(lua_State *L, const uint8_t *p, size_t len, int allow_functions);

/* Push the values of a list; returns their count, or -1 if malformed. */
int mb_decode_list(lua_State *L, const uint8_t *p, size_t len, int allow_functions);

/* gen_server's envelopes, taken without their tables. If p..p+len is
 * exactly {"$gen_call", {pid, ref}, request}, push pid, ref and request
 * and return MB_REQUEST_CALL (the caller makes from, {pid, ref}: a table
 * made in compiled Lua costs a fraction of one made through the C API); if
 * exactly {"$gen_cast", msg}, push msg, nil, nil and return
 * MB_REQUEST_CAST. 0 when
 * it is anything else (nothing pushed: decode it as a message); -1 if
 * malformed. */
enum { MB_REQUEST_CALL = 1, MB_REQUEST_CAST = 2 };

/* If p..p+len is one number or boolean, push it and return 1; else push
 * nothing and return 0. It allocates nothing, so it may push onto a
 * suspended coroutine outside any protected call (bindings/vm.c). */
int mb_decode_scalar(lua_State *L, const uint8_t *p, size_t len);
int mb_decode_request(lua_State *L, const uint8_t *p, size_t len, int allow_functions);

#endif
