/* console_wire.c: reading and writing console frames (see console_wire.h). */
#include "console_wire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void frame_head(uint8_t head[MB_WIRE_HEAD], char type, size_t len) {
    head[0] = (uint8_t)type;
    head[1] = (uint8_t)(len >> 24);
    head[2] = (uint8_t)(len >> 16);
    head[3] = (uint8_t)(len >> 8);
    head[4] = (uint8_t)len;
}

int mb_wire_write(int fd, char type, const void *payload, size_t len) {
    if (len > MB_WIRE_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    uint8_t head[MB_WIRE_HEAD];
    frame_head(head, type, len);
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

/* ---- the queue -------------------------------------------------------- */

/* A drained queue keeps at most this much memory: a burst of output is not
 * held for the rest of the session. */
#define QUEUE_KEEP (64u << 10)

void mb_wire_queue_init(mb_wire_queue *q) {
    mb_buf_init(&q->bytes);
    q->sent = 0;
}

void mb_wire_queue_free(mb_wire_queue *q) {
    mb_buf_free(&q->bytes);
    q->sent = 0;
}

size_t mb_wire_queue_pending(const mb_wire_queue *q) { return q->bytes.len - q->sent; }

/* Move what is not written yet to the front, once half the bytes are
 * written: each byte moves a bounded number of times. */
static void compact(mb_wire_queue *q) {
    if (q->sent == 0 || q->sent < mb_wire_queue_pending(q)) return;
    memmove(q->bytes.p, q->bytes.p + q->sent, mb_wire_queue_pending(q));
    q->bytes.len -= q->sent;
    q->sent = 0;
}

int mb_wire_queue_put(mb_wire_queue *q, char type, const void *payload, size_t len) {
    if (len > MB_WIRE_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    compact(q);
    uint8_t head[MB_WIRE_HEAD];
    frame_head(head, type, len);
    if (mb_buf_reserve(&q->bytes, sizeof head + len)) {
        errno = ENOMEM;
        return -1;
    }
    mb_buf_put(&q->bytes, head, sizeof head);   /* room was reserved: cannot fail */
    mb_buf_put(&q->bytes, payload, len);
    return 0;
}

ssize_t mb_wire_queue_flush(mb_wire_queue *q, int fd) {
    size_t done = 0;
    while (mb_wire_queue_pending(q) > 0) {
        ssize_t w = send(fd, q->bytes.p + q->sent, mb_wire_queue_pending(q), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return -1;
        }
        q->sent += (size_t)w;
        done += (size_t)w;
    }
    if (mb_wire_queue_pending(q) == 0) {
        if (q->bytes.cap > QUEUE_KEEP) mb_buf_free(&q->bytes);
        q->bytes.len = 0;
        q->sent = 0;
    }
    return (ssize_t)done;
}

/* ---- reading ----------------------------------------------------------- */

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
    uint8_t head[MB_WIRE_HEAD];
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
    if (n < MB_WIRE_HEAD) return 0;
    size_t l = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
    if (l > MB_WIRE_MAX) return -1;
    if (n - MB_WIRE_HEAD < l) return 0;
    *type = (char)p[0];
    *payload = p + MB_WIRE_HEAD;
    *len = l;
    *used = MB_WIRE_HEAD + l;
    return 1;
}
