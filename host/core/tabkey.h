/* tabkey.h: keys and values of shared tables (table.h), read in their
 * encoded form (term.h): which terms may be keys, their canonical bytes,
 * their order, their hash.
 *
 * The order (API.md, "Shared tables"): numbers < strings < booleans < pids
 * < refs < table handles < arrays (< other tables < functions, which are
 * never keys). Numbers by value (-0.0 == 0), strings bytewise (a prefix
 * first), false < true, pids, refs and handles by their 64-bit value,
 * arrays element by element (a prefix first). Two keys are the same key
 * exactly when their canonical bytes are equal, so a hash of those bytes
 * serves the hashed tables and the order serves ordered_set. */
#ifndef MB_TABKEY_H
#define MB_TABKEY_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "term.h"

/* Append the canonical form of key to out: the same bytes, with -0.0 as
 * the integer 0. 0; -1 when it cannot be a key (*why says why: "NaN",
 * "a function", ...); -2 when out of memory. */
int mb_tabkey_canon(mb_span key, mb_buf *out, const char **why);
/* Append a value to out with every table's hash part in key order, so
 * that equal values have equal bytes (a bag compares values so).
 * 0; -1 when it holds a function (*why); -2 when out of memory. */
int mb_tabval_canon(mb_span v, mb_buf *out, const char **why);
/* Whether a value holds a function anywhere: they are never stored. */
int mb_tabval_check(mb_span v, const char **why);
/* <0, 0, >0: the order of two well-formed encoded terms. */
int mb_term_cmp(mb_span a, mb_span b);
/* A hash of canonical key bytes, mixed so that high and low bits are good. */
uint64_t mb_tabkey_hash(const uint8_t *p, size_t n);

#endif
