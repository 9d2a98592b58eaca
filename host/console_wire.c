/* console_wire.c: reading and writing console frames (see console_wire.h). */
#include "console_wire.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int mb_wire_write(int fd, char type, const void *payload, size_t len) {
    if (len > MB_WIRE_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    uint8_t head[5] = {(uint8_t)type, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                       (uint8_t)(len >> 8), (uint8_t)len};
    struct iovec iov[2] = {{head, sizeof head}, {(void *)payload, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    while (mh.msg_iovlen > 0) {
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        size_t done = (size_t)w;
        while (mh.msg_iovlen > 0 && done >= mh.msg_iov[0].iov_len) {
            done -= mh.msg_iov[0].iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen > 0) {
            mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + done;
            mh.msg_iov[0].iov_len -= done;
        }
    }
    return 0;
}

/* Read exactly n bytes: 0, 1 at end of stream before the first byte, -1. */
static int read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            if (got == 0) return 1;
            errno = EPROTO;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

int mb_wire_read(int fd, char *type, mb_buf *payload) {
    uint8_t head[5];
    int rc = read_full(fd, head, sizeof head);
    if (rc) return rc;
    size_t len = (size_t)head[1] << 24 | (size_t)head[2] << 16 | (size_t)head[3] << 8 | head[4];
    if (len > MB_WIRE_MAX) {
        errno = EPROTO;
        return -1;
    }
    payload->len = 0;
    if (mb_buf_reserve(payload, len + 1)) {
        errno = ENOMEM;
        return -1;
    }
    if (len && read_full(fd, payload->p, len)) {
        errno = errno ? errno : EPROTO;
        return -1;
    }
    payload->len = len;
    payload->p[len] = 0;   /* room was reserved: text payloads read as C strings */
    *type = (char)head[0];
    return 0;
}

int mb_wire_parse(const uint8_t *p, size_t n, char *type, const uint8_t **payload,
                  size_t *len, size_t *used) {
    if (n < 5) return 0;
    size_t l = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
    if (l > MB_WIRE_MAX) return -1;
    if (n - 5 < l) return 0;
    *type = (char)p[0];
    *payload = p + 5;
    *len = l;
    *used = 5 + l;
    return 1;
}
