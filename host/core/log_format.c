/* log_format.c: how a log event reads (see log_format.h).
 *
 * Plain: "2026-12-03T16:51:00.123Z error <0.42.7> (cache) cache.lua:12: msg",
 * then the event's detail lines (a report's body) as they are.
 * JSON: {"time":..,"level":..,"pid":..,"name":..,"where":..,"msg":..} with
 * the event's own fields added after them. */
#include "log_format.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int put_str(mb_buf *b, const char *s) { return mb_buf_put(b, s, strlen(s)); }

/* ISO 8601, UTC, with milliseconds. */
static int put_time(mb_buf *b, double time_ms) {
    time_t secs = (time_t)(time_ms / 1000);
    int ms = (int)(time_ms - (double)secs * 1000);
    struct tm tm;
    char s[64];
    if (!gmtime_r(&secs, &tm)) return put_str(b, "?");
    size_t n = strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(s + n, sizeof s - n, ".%03dZ", ms < 0 ? 0 : ms > 999 ? 999 : ms);
    return put_str(b, s);
}

static int put_pid(mb_buf *b, mb_pid pid) {
    char s[32];
    snprintf(s, sizeof s, "<0.%u.%u>", mb_pid_slot(pid), mb_pid_serial(pid));
    return put_str(b, s);
}

/* The length of the well-formed UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    /* The second byte's range is narrower after E0, ED, F0 and F4: no
     * overlong forms, surrogates or code points past U+10FFFF. */
    unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (len > 1 && (s[1] < lo || s[1] > hi)) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* Bytes above 0x7F as they are where they are UTF-8, else "\ufffd" each:
 * a JSON line is UTF-8 (RFC 8259), and a message may hold any bytes. */
static int put_utf8(mb_buf *b, const unsigned char *s, size_t n, size_t *used) {
    size_t len = utf8_len(s, n);
    *used = len ? len : 1;
    return len ? mb_buf_put(b, s, len) : put_str(b, "\\ufffd");
}

int mb_json_string(mb_buf *b, const char *s, size_t n) {
    if (mb_buf_byte(b, '"')) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *e = NULL;
        if (c >= 0x80) {
            size_t used;
            if (put_utf8(b, (const unsigned char *)s + i, n - i, &used)) return -1;
            i += used - 1;
            continue;
        }
        if (c == '"') e = "\\\"";
        else if (c == '\\') e = "\\\\";
        else if (c == '\n') e = "\\n";
        else if (c == '\r') e = "\\r";
        else if (c == '\t') e = "\\t";
        else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            e = esc;
        }
        if (e ? put_str(b, e) : mb_buf_byte(b, c)) return -1;
    }
    return mb_buf_byte(b, '"');
}

int mb_json_object(mb_buf *b, const char *const *kv, size_t n) {
    bool first = true;
    if (mb_buf_byte(b, '{')) return -1;
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[2 * i], *v = kv[2 * i + 1];
        if (!v) continue;
        if ((!first && mb_buf_byte(b, ',')) || mb_json_string(b, k, strlen(k)) || mb_buf_byte(b, ':') ||
            mb_json_string(b, v, strlen(v)))
            return -1;
        first = false;
    }
    return mb_buf_byte(b, '}');
}

/* One line an event: a line break in the message, a registered name or a
 * chunk name is written as \n (or \r), so none can pass for further events
 * or lines. */
static int put_one_line(mb_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n' || c == '\r' ? put_str(b, c == '\n' ? "\\n" : "\\r") : mb_buf_byte(b, (uint8_t)c)) return -1;
    }
    return 0;
}

static int plain(mb_buf *b, const mb_log_event *ev, double time_ms) {
    if (put_time(b, time_ms) || mb_buf_byte(b, ' ') || put_str(b, mb_log_level_name(ev->level)) ||
        mb_buf_byte(b, ' ') || put_pid(b, ev->pid))
        return -1;
    if (ev->name && (put_str(b, " (") || put_one_line(b, ev->name, strlen(ev->name)) || mb_buf_byte(b, ')'))) return -1;
    if (ev->where && (mb_buf_byte(b, ' ') || put_one_line(b, ev->where, strlen(ev->where)) || mb_buf_byte(b, ':')))
        return -1;
    if (mb_buf_byte(b, ' ') || put_one_line(b, ev->msg, ev->msg_len)) return -1;
    if (ev->detail_len && (mb_buf_byte(b, '\n') || mb_buf_put(b, ev->detail, ev->detail_len))) return -1;
    return mb_buf_byte(b, '\n');
}

static int json(mb_buf *b, const mb_log_event *ev, double time_ms) {
    if (put_str(b, "{\"time\":\"") || put_time(b, time_ms) || put_str(b, "\",\"level\":\"") ||
        put_str(b, mb_log_level_name(ev->level)) || put_str(b, "\",\"pid\":\"") || put_pid(b, ev->pid) ||
        mb_buf_byte(b, '"'))
        return -1;
    if (ev->name && (put_str(b, ",\"name\":") || mb_json_string(b, ev->name, strlen(ev->name)))) return -1;
    if (ev->where && (put_str(b, ",\"where\":") || mb_json_string(b, ev->where, strlen(ev->where)))) return -1;
    if (put_str(b, ",\"msg\":") || mb_json_string(b, ev->msg, ev->msg_len)) return -1;
    /* The fields object's members, after ours: "{}" adds none. */
    if (ev->fields && ev->fields_len > 2 && ev->fields[0] == '{' && ev->fields[ev->fields_len - 1] == '}') {
        /* lua-cjson passes a string's bytes as they are: bytes above 0x7F
         * are inside its strings, where "\ufffd" may stand for one. */
        const unsigned char *f = (const unsigned char *)ev->fields;
        if (mb_buf_byte(b, ',')) return -1;
        for (size_t i = 1, used; i < ev->fields_len - 1; i += used) {
            if (f[i] < 0x80) {
                used = 1;
                if (mb_buf_byte(b, f[i])) return -1;
            } else if (put_utf8(b, f + i, ev->fields_len - 1 - i, &used)) {
                return -1;
            }
        }
    }
    return put_str(b, "}\n");
}

int mb_log_format(mb_buf *b, mb_log_kind kind, const mb_log_event *ev, double time_ms) {
    return kind == MB_LOG_JSON ? json(b, ev, time_ms) : plain(b, ev, time_ms);
}
