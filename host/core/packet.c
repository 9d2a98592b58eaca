/* packet.c: packet framing (see packet.h). */
#include "packet.h"

#include <string.h>

int mb_packet_next(int mode, const uint8_t *p, size_t n, bool ended, size_t *off, size_t *len, size_t *used) {
    if (n == 0) return 0;
    if (mode == 0) {
        *off = 0;
        *len = *used = n;
        return 1;
    }
    if (mode == 'l') {
        const uint8_t *nl = memchr(p, '\n', n);
        if (!nl && n > MB_PACKET_MAX) return -1;
        if (!nl && !ended) return 0;
        *off = 0;
        *len = *used = nl ? (size_t)(nl - p) + 1 : n;
        return 1;
    }
    size_t h = (size_t)mode;
    if (n < h) return 0;
    size_t body = 0;
    for (size_t i = 0; i < h; i++) body = body << 8 | p[i];
    if (body > MB_PACKET_MAX) return -1;
    if (n - h < body) return 0;
    *off = h;
    *len = body;
    *used = h + body;
    return 1;
}

int mb_packet_prefix(int mode, uint8_t *data, size_t len) {
    if (mode != 1 && mode != 2 && mode != 4) return 0;
    if ((mode < 4 && len >> (8 * mode)) || len > MB_PACKET_MAX) return -1;
    for (int i = 1; i <= mode; i++) data[-i] = (uint8_t)(len >> (8 * (i - 1)));
    return mode;
}
