/* term_text.h: an encoded term as a short line of text, for reports the
 * core writes itself (a supervisor's give-up report) where no Lua state is
 * at hand to pretty-print it (moonbeam.pretty does that for the console).
 *
 * It reads as moonbeam.pretty's one-line form: strings quoted, numbers
 * exact, pids <0.N.S>, atoms mb.atom("x"), a table's array part then its
 * other keys (as they were sent, not sorted). Depth, items per table and
 * string length are bounded; what does not fit in the buffer ends in
 * "...". */
#ifndef MB_TERM_TEXT_H
#define MB_TERM_TEXT_H

#include <stddef.h>
#include "term.h"

/* v's text in buf (n > 0 bytes, always NUL-terminated); returns its length. */
size_t mb_term_text(mb_span v, char *buf, size_t n);
/* The string s (len bytes) quoted so, in buf (n > 0 bytes, NUL-terminated):
 * "a\000b". Its length. */
size_t mb_quote_text(const char *s, size_t len, char *buf, size_t n);

#endif
