/* term_kinds.h: atoms, tuple/list/map tables and int64 cdata in Lua (see
 * term_kinds.c). */
#ifndef MBB_TERM_KINDS_H
#define MBB_TERM_KINDS_H

#include <stdint.h>
#include "core/term.h"

typedef struct lua_State lua_State;

#define MBB_ATOM 10   /* mbb_term_meta's answer for an atom */

/* What the table at idx is by its metatable: MB_KIND_TUPLE, _LIST, _MAP,
 * MBB_ATOM, or 0 (none, or another metatable). */
int mbb_term_meta(lua_State *L, int idx);
void mbb_push_atom(lua_State *L, const char *s, size_t n);
/* Mark the table at idx as one of MB_KIND_*. */
void mbb_set_kind(lua_State *L, int idx, int kind);
/* The value of the int64_t cdata at idx: 0, or -1 when it is not one. */
int mbb_int64_of(lua_State *L, int idx, int64_t *v);
void mbb_push_int64(lua_State *L, int64_t v);

#endif
