/* handshake.c: the distribution handshake's messages (see handshake.h). */
#include "handshake.h"

#include <stdio.h>
#include <string.h>
#include "md5.h"

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One frame: length, then the body of n bytes at body. */
static int frame(mb_buf *b, const uint8_t *body, size_t n) {
    uint8_t len[2];
    put16(len, (uint32_t)n);
    return mb_buf_put(b, len, 2) || mb_buf_put(b, body, n);
}

/* 'N', flags, [challenge], creation, name length, name. */
static int name_msg(mb_buf *b, uint64_t flags, const uint32_t *challenge, uint32_t creation, const char *name) {
    size_t nn = strlen(name);
    if (nn > MB_NODE_MAX) return -1;
    uint8_t m[1 + 8 + 4 + 4 + 2 + MB_NODE_MAX];
    size_t k = 0;
    m[k++] = 'N';
    put32(m + k, (uint32_t)(flags >> 32));
    put32(m + k + 4, (uint32_t)flags);
    k += 8;
    if (challenge) {
        put32(m + k, *challenge);
        k += 4;
    }
    put32(m + k, creation);
    put16(m + k + 4, (uint32_t)nn);
    k += 6;
    memcpy(m + k, name, nn);
    return frame(b, m, k + nn);
}

int mb_hs_put_name(mb_buf *b, uint64_t flags, uint32_t creation, const char *name) {
    return name_msg(b, flags, NULL, creation, name);
}

int mb_hs_put_challenge(mb_buf *b, uint64_t flags, uint32_t challenge, uint32_t creation, const char *name) {
    return name_msg(b, flags, &challenge, creation, name);
}

int mb_hs_put_status(mb_buf *b, const char *status) {
    uint8_t m[32];
    size_t n = strlen(status);
    if (n >= sizeof m) return -1;
    m[0] = 's';
    memcpy(m + 1, status, n);
    return frame(b, m, 1 + n);
}

int mb_hs_put_reply(mb_buf *b, uint32_t challenge, const uint8_t digest[16]) {
    uint8_t m[21];
    m[0] = 'r';
    put32(m + 1, challenge);
    memcpy(m + 5, digest, 16);
    return frame(b, m, sizeof m);
}

int mb_hs_put_ack(mb_buf *b, const uint8_t digest[16]) {
    uint8_t m[17];
    m[0] = 'a';
    memcpy(m + 1, digest, 16);
    return frame(b, m, sizeof m);
}

int mb_hs_parse_name(const uint8_t *p, size_t n, bool with_challenge, mb_hs_name *out) {
    size_t fixed = 1 + 8 + (with_challenge ? 4 : 0) + 4 + 2;
    if (n < fixed || p[0] != 'N') return -1;
    out->flags = (uint64_t)get32(p + 1) << 32 | get32(p + 5);
    size_t k = 9;
    out->challenge = 0;
    if (with_challenge) {
        out->challenge = get32(p + k);
        k += 4;
    }
    out->creation = get32(p + k);
    size_t nn = (size_t)p[k + 4] << 8 | p[k + 5];
    k += 6;
    /* The name ends the message (nothing else is defined after it). */
    if (nn == 0 || nn > MB_NODE_MAX || nn > n - k || memchr(p + k, '\0', nn) || !memchr(p + k, '@', nn))
        return -1;
    memcpy(out->name, p + k, nn);
    out->name[nn] = '\0';
    return 0;
}

int mb_hs_parse_reply(const uint8_t *p, size_t n, uint32_t *challenge, uint8_t digest[16]) {
    if (n != 21 || p[0] != 'r') return -1;
    *challenge = get32(p + 1);
    memcpy(digest, p + 5, 16);
    return 0;
}

int mb_hs_parse_ack(const uint8_t *p, size_t n, uint8_t digest[16]) {
    if (n != 17 || p[0] != 'a') return -1;
    memcpy(digest, p + 1, 16);
    return 0;
}

void mb_hs_digest(const char *cookie, uint32_t challenge, uint8_t out[16]) {
    char s[MB_NODE_MAX + 16];
    size_t cn = strnlen(cookie, MB_NODE_MAX);
    memcpy(s, cookie, cn);
    int dn = snprintf(s + cn, sizeof s - cn, "%u", (unsigned)challenge);
    mb_md5(s, cn + (size_t)dn, out);
}

bool mb_hs_digest_eq(const uint8_t a[16], const uint8_t b[16]) {
    uint8_t diff = 0;
    for (int i = 0; i < 16; i++) diff |= a[i] ^ b[i];
    return diff == 0;
}
