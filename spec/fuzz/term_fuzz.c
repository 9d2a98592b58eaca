/* term_fuzz.c: libFuzzer target for the core's term reader (host/core/
 * term.h), built without LuaJIT: what native processes (supervisors) read
 * from messages. Arbitrary bytes must never make it read past the end,
 * crash or hang: every value found is walked, every string, number, id,
 * element and field read. */
#include <stdint.h>
#include <stdlib.h>
#include "core/term.h"

static unsigned walk(mb_span v, int depth) {
    unsigned seen = 1;
    const char *s;
    size_t n;
    double x;
    uint64_t id;
    (void)mb_term_str(v, &s, &n);
    (void)mb_term_num(v, &x);
    (void)mb_term_id(v, &id);
    (void)mb_term_is_str(v, "kill");
    free(mb_term_strdup(v));
    if (mb_term_type(v) != MB_T_TABLE || depth > MB_MAX_DEPTH) return seen;
    uint32_t len = mb_term_len(v);
    mb_span e;
    for (uint32_t i = 1; i <= len + 1; i++)
        if (mb_term_index(v, i, &e)) seen += walk(e, depth + 1);
    if (mb_term_field(v, "children", &e)) seen += walk(e, depth + 1);
    return seen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    mb_span v;
    while (p < end && mb_term_first(p, end, &v) == 0 && v.n > 0) {
        walk(v, 0);
        p = v.p + v.n;
    }
    uint64_t count;
    const uint8_t *first;
    (void)mb_term_list(data, end, &count, &first);
    return 0;
}
