/* term_text.c: an encoded term as a short line of text (see term_text.h). */
#include "term_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pid.h"

#define MAX_DEPTH 4      /* levels of tables shown; deeper ones read {...} */
#define MAX_ITEMS 12     /* entries shown per table */
#define MAX_STRING 120   /* bytes of a string shown */

typedef struct text {
    char *p;
    size_t left;   /* room, the NUL included */
    bool full;
} text;

static void put(text *t, const char *s, size_t n) {
    if (t->full) return;
    if (n >= t->left) {
        n = t->left - 1;
        t->full = true;
    }
    memcpy(t->p, s, n);
    t->p += n;
    t->left -= n;
}

static void putf(text *t, const char *fmt, ...) {
    char s[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s, sizeof s, fmt, ap);
    va_end(ap);
    if (n > 0) put(t, s, (size_t)n < sizeof s ? (size_t)n : sizeof s - 1);
}

static void put_quoted(text *t, const char *s, size_t n) {
    size_t shown = n > MAX_STRING ? MAX_STRING : n;
    put(t, "\"", 1);
    for (size_t i = 0; i < shown && !t->full; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '"' ? "\\\"" : c == '\\' ? "\\\\" : NULL;
        if (esc) put(t, esc, 2);
        else if (c < 0x20 || c == 0x7f) putf(t, "\\%03u", c);
        else put(t, (const char *)&c, 1);
    }
    put(t, "\"", 1);
    if (shown < n) putf(t, "...(%zu bytes)", n);
}

/* The shortest of 14 to 17 digits that reads back as x (pretty's way). */
static void put_number(text *t, double x) {
    if (isnan(x)) return put(t, "nan", 3);
    if (isinf(x)) return x > 0 ? put(t, "inf", 3) : put(t, "-inf", 4);
    if (x == 0 && signbit(x)) return put(t, "-0", 2);
    if (mb_is_int53(x)) return putf(t, "%" PRId64, (int64_t)x);
    for (int digits = 14; digits <= 17; digits++) {
        char s[40];
        snprintf(s, sizeof s, "%.*g", digits, x);
        if (digits == 17 || strtod(s, NULL) == x) return put(t, s, strlen(s));
    }
}

static void put_id(text *t, int type, uint64_t v) {
    switch (type) {
    case MB_T_PID:
        if (mb_pid_is_remote(v)) return put(t, "<?.?.?>", 7);   /* its node's number is the distribution's */
        return putf(t, "<0.%u.%u>", mb_pid_slot(v), mb_pid_serial(v));
    case MB_T_REF:
        if (mb_ref_is_remote(v)) return put(t, "#Ref<?>", 7);
        return putf(t, "#Ref<0.%" PRIu64 ">", v & MB_LOCAL_REF_MASK);
    case MB_T_TAB:
        return putf(t, "#Table<%" PRIu64 ">", v & (MB_IO_BIT - 1));
    default:
        return putf(t, "#%s<%" PRIu64 ">", (v & MB_PORT_BIT) ? "Port" : "Socket", v & (MB_PORT_BIT - 1));
    }
}

static bool is_ident(const char *s, size_t n) {
    static const char *const reserved[] = {"and", "break", "do", "else", "elseif", "end", "false", "for",
                                           "function", "goto", "if", "in", "local", "nil", "not", "or",
                                           "repeat", "return", "then", "true", "until", "while"};
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strlen(reserved[i]) == n && memcmp(reserved[i], s, n) == 0) return false;
    return true;
}

static void put_value(text *t, mb_span v, int depth);

/* A table's entries: its array part, then its pairs; v.p at its tag. */
static void put_table(text *t, mb_span v, int depth) {
    const uint8_t *p = v.p + 1, *end = v.p + v.n;
    uint64_t narr, nhash;
    if (mb_varint_get(&p, end, &narr) || mb_varint_get(&p, end, &nhash)) return put(t, "{?}", 3);
    if (narr + nhash == 0) return put(t, "{}", 2);
    if (depth >= MAX_DEPTH) return put(t, "{...}", 5);
    put(t, "{", 1);
    uint64_t shown = 0;
    for (uint64_t i = 0; i < narr + nhash && !t->full; i++) {
        mb_span key = {NULL, 0}, val;
        if (i >= narr) {
            if (mb_term_first(p, end, &key)) break;
            p += key.n;
        }
        if (mb_term_first(p, end, &val)) break;
        p += val.n;
        if (shown == MAX_ITEMS) {
            putf(t, ", ...(%" PRIu64 " more)", narr + nhash - i);
            break;
        }
        if (shown++) put(t, ", ", 2);
        if (key.n) {
            const char *s;
            size_t n;
            if (mb_term_str(key, &s, &n) && is_ident(s, n)) {
                put(t, s, n);
            } else {
                put(t, "[", 1);
                put_value(t, key, depth + 1);
                put(t, "]", 1);
            }
            put(t, " = ", 3);
        }
        put_value(t, val, depth + 1);
    }
    put(t, "}", 1);
}

static void put_value(text *t, mb_span v, int depth) {
    const char *s;
    size_t n;
    double x;
    uint64_t id;
    int type = mb_term_type(v);
    switch (type) {
    case MB_T_NIL: return put(t, "nil", 3);
    case MB_T_FALSE: return put(t, "false", 5);
    case MB_T_TRUE: return put(t, "true", 4);
    case MB_T_INT:
    case MB_T_DOUBLE:
        if (mb_term_num(v, &x)) return put_number(t, x);
        break;
    case MB_T_STRING:
        if (mb_term_str(v, &s, &n)) return put_quoted(t, s, n);
        break;
    case MB_T_ATOM: {
        const uint8_t *p = v.p + 1;
        uint64_t len;
        if (mb_varint_get(&p, v.p + v.n, &len) || len > (uint64_t)(v.p + v.n - p)) break;
        put(t, "mb.atom(", 8);
        put_quoted(t, (const char *)p, (size_t)len);
        return put(t, ")", 1);
    }
    case MB_T_INT64: {
        int64_t i;
        if (v.n < 9) break;
        memcpy(&i, v.p + 1, 8);
        return putf(t, "%" PRId64 "LL", i);
    }
    case MB_T_PID:
    case MB_T_REF:
    case MB_T_TAB:
    case MB_T_IO:
        if (mb_term_id(v, &id)) return put_id(t, type, id);
        break;
    case MB_T_FUNCTION: return put(t, "function", 8);
    case MB_T_KIND:   /* a tuple, list or map from Erlang: shown as its table */
        if (v.n > 2) return put_table(t, (mb_span){v.p + 2, v.n - 2}, depth);
        break;
    case MB_T_TABLE: return put_table(t, v, depth);
    default: break;
    }
    put(t, "?", 1);
}

/* End t's text: a cut shows as "...". Its length. */
static size_t finish(text *t, char *buf, size_t n) {
    if (t->full && n > 4) {
        t->p = buf + n - 4;
        memcpy(t->p, "...", 3);
        t->p += 3;
    }
    *t->p = '\0';
    return (size_t)(t->p - buf);
}

size_t mb_term_text(mb_span v, char *buf, size_t n) {
    text t = {buf, n, false};
    put_value(&t, v, 0);
    return finish(&t, buf, n);
}

size_t mb_quote_text(const char *s, size_t len, char *buf, size_t n) {
    text t = {buf, n, false};
    put_quoted(&t, s, len);
    return finish(&t, buf, n);
}
