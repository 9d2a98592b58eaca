/* term.h: reading encoded messages in C, without a Lua state.
 *
 * Native processes (supervisors) read specs and requests straight from the
 * codec's bytes (codec.h): a span is one encoded value; these functions
 * check it as they go and never read past its end. Sub-values are spans
 * into the same bytes, so they can be passed on (as spawn arguments) with
 * no re-encoding. */
#ifndef MB_TERM_H
#define MB_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

typedef struct mb_span {
    const uint8_t *p;
    size_t n;
} mb_span;

/* The span of the first value in [p, end), or -1 if malformed. */
int mb_term_first(const uint8_t *p, const uint8_t *end, mb_span *out);
int mb_term_type(mb_span v);                      /* an MB_T_* tag, -1 if empty */
bool mb_term_is_str(mb_span v, const char *s);
/* A string's bytes (not NUL-terminated); false if v is not a string. */
bool mb_term_str(mb_span v, const char **s, size_t *n);
/* A malloc'd NUL-terminated copy of a string value, or NULL. */
char *mb_term_strdup(mb_span v);
bool mb_term_num(mb_span v, double *x);
bool mb_term_id(mb_span v, uint64_t *id);        /* pid or ref */
/* Array part length of a table (0 for a non-table). */
uint32_t mb_term_len(mb_span t);
/* t[i] for 1 <= i <= len (array part); false if absent. */
bool mb_term_index(mb_span t, uint32_t i, mb_span *out);
/* t[key] for a string key in the hash part; false if absent. */
bool mb_term_field(mb_span t, const char *key, mb_span *out);

/* Writers for replies built in C (see codec.c for strings, ids, tuples). */
int mb_put_number(mb_buf *b, double x);
int mb_put_bool(mb_buf *b, bool v);
int mb_put_table_head(mb_buf *b, uint32_t narr, uint32_t nhash);

#endif
