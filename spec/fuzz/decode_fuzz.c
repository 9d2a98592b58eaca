/* decode_fuzz.c: libFuzzer target for the message decoder. Arbitrary bytes
 * must never crash it, leak, or hang it: they decode to a value or are
 * refused. Functions are refused here, as they are for any buffer this host
 * did not encode itself (see bindings/codec.h). A decoded value is encoded
 * again, and what the encoder writes must always decode. The bytes are also
 * tried as an argument list and as a call's or a cast's envelope (mb_decode_request). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../bindings/codec.h"

static lua_State *L;

/* The codec's embedding hook (codec.h): no gen_server here. */
void mb_codec_ref_sent(uint64_t ref) { (void)ref; }

typedef struct { const uint8_t *p; size_t n; int rc; } input;

static int roundtrip(lua_State *S) {
    input *in = lua_touserdata(S, 1);
    lua_settop(S, 0);
    if (mb_decode(S, in->p, in->n, 0)) {
        in->rc = -1;
        return 0;
    }
    mb_buf b;
    mb_buf_init(&b);
    mb_encode_err err;
    /* Re-encoding may refuse (e.g. NaN keys cannot come out of the decoder,
     * but deep tables built at the limit can): refusal is fine, a crash not. */
    if (mb_encode(S, 1, "msg", &b, (size_t)1 << 30, &err) == 0) {
        lua_settop(S, 0);
        if (mb_decode(S, b.p, b.len, 0)) abort();   /* our own bytes must decode */
    }
    mb_buf_free(&b);
    in->rc = 0;
    return 0;
}

/* The argument-list and envelope readers, on the same bytes. */
static int other_readers(lua_State *S) {
    input *in = lua_touserdata(S, 1);
    lua_settop(S, 0);
    if (mb_decode_list(S, in->p, in->n, 0) >= 0) lua_settop(S, 0);
    /* As gen_server's loop takes a call or a cast: what it takes for one
     * must be a message the decoder takes too. */
    int request = mb_decode_request(S, in->p, in->n, 0);
    lua_settop(S, 0);
    if (request > 0 && mb_decode(S, in->p, in->n, 0)) abort();
    lua_settop(S, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!L) {
        L = luaL_newstate();
        if (!L) abort();
        luaL_openlibs(L);   /* a process's state has require (int64 values load the FFI) */
    }
    input in = {data, size, 0};
    /* Protected, as in a process: the decoder may raise (out of memory). */
    lua_pushcfunction(L, roundtrip);
    lua_pushlightuserdata(L, &in);
    if (lua_pcall(L, 1, 0, 0)) lua_pop(L, 1);
    lua_pushcfunction(L, other_readers);
    lua_pushlightuserdata(L, &in);
    if (lua_pcall(L, 1, 0, 0)) lua_pop(L, 1);
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
