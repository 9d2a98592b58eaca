/* io_answer.c: building and sending the I/O thread's answers and active
 * messages (see io_answer.h). */
#include "io_answer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include "call.h"
#include "runtime.h"
#include "term.h"

/* The list of n values, ok the first. */
static int head(mb_buf *b, unsigned n, bool ok) { return mb_buf_varint(b, n) || mb_put_bool(b, ok); }

static void out_of_memory(mb_runtime *rt, mb_sched *from, const mb_io_req *r) {
    static const uint8_t enomem[] = {2, MB_T_FALSE, MB_T_STRING, 6, 'e', 'n', 'o', 'm', 'e', 'm'};
    if (mb_call_reply(rt, from, r->pid, r->ref, enomem, sizeof enomem))
        fprintf(stderr, "moonbeam: out of memory answering a socket request\n");
}

/* Send b (built unless bad) as r's answer, and free it. */
static void send_answer(mb_runtime *rt, mb_sched *from, const mb_io_req *r, mb_buf *b, int bad) {
    if (bad || mb_call_reply(rt, from, r->pid, r->ref, b->p, b->len)) out_of_memory(rt, from, r);
    mb_buf_free(b);
}

void mb_io_fail(mb_runtime *rt, mb_sched *from, const mb_io_req *r, const char *reason) {
    mb_buf b;
    mb_buf_init(&b);
    send_answer(rt, from, r, &b, head(&b, 2, false) || mb_put_string(&b, reason, strlen(reason)));
}

void mb_io_fail_uv(mb_runtime *rt, mb_sched *from, const mb_io_req *r, int uv_err) {
    char name[32];
    snprintf(name, sizeof name, "%s", uv_err_name(uv_err));
    for (char *c = name; *c; c++) *c = (char)tolower((unsigned char)*c);
    mb_io_fail(rt, from, r, name);
}

/* {true} or {true, data}, built straight into the reply: no buffer to
 * grow, copy and free. A send's answer and a recv's, one each for every
 * request a server answers. */
static void answer_ok(mb_runtime *rt, mb_sched *from, const mb_io_req *r, bool has_data, const void *p, size_t n) {
    uint8_t len[MB_VARINT_MAX];
    size_t nlen = has_data ? mb_varint_encode(len, n) : 0;
    mb_msg *m = mb_msg_new(MB_MSG_REPLY, 0, r->ref, has_data ? 3 + nlen + n : 2);
    if (!m) {
        out_of_memory(rt, from, r);
        return;
    }
    uint8_t *d = m->data;
    *d++ = has_data ? 2 : 1;   /* the list's length, a one-byte varint */
    *d++ = MB_T_TRUE;
    if (has_data) {
        *d++ = MB_T_STRING;
        memcpy(d, len, nlen);
        if (n) memcpy(d + nlen, p, n);
    }
    mb_call_reply_msg(rt, from, r->pid, m);
}

void mb_io_ok(mb_runtime *rt, mb_sched *from, const mb_io_req *r) { answer_ok(rt, from, r, false, NULL, 0); }

void mb_io_ok_handle(mb_runtime *rt, mb_sched *from, const mb_io_req *r, uint64_t h) {
    mb_buf b;
    mb_buf_init(&b);
    send_answer(rt, from, r, &b, head(&b, 2, true) || mb_put_id(&b, MB_T_IO, h));
}

void mb_io_ok_data(mb_runtime *rt, mb_sched *from, const mb_io_req *r, const void *p, size_t n) {
    answer_ok(rt, from, r, true, p, n);
}

void mb_io_ok_name(mb_runtime *rt, mb_sched *from, const mb_io_req *r, const char *host, int port) {
    mb_buf b;
    mb_buf_init(&b);
    int bad = head(&b, port < 0 ? 2 : 3, true) || mb_put_string(&b, host, strlen(host));
    if (!bad && port >= 0) bad = mb_put_number(&b, port);
    send_answer(rt, from, r, &b, bad);
}

void mb_io_ok_2(mb_runtime *rt, mb_sched *from, const mb_io_req *r, double x, double y) {
    mb_buf b;
    mb_buf_init(&b);
    send_answer(rt, from, r, &b, head(&b, 3, true) || mb_put_number(&b, x) || mb_put_number(&b, y));
}

void mb_io_ok_dgram(mb_runtime *rt, mb_sched *from, const mb_io_req *r, const void *p, size_t n, const char *host, int port) {
    mb_buf b;
    mb_buf_init(&b);
    send_answer(rt, from, r, &b, head(&b, 4, true) || mb_put_string(&b, p, n) ||
                               mb_put_string(&b, host, strlen(host)) || mb_put_number(&b, port));
}

int mb_io_addr_name(const struct sockaddr *sa, char host[64], int *port) {
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        *port = ntohs(a->sin6_port);
        return uv_ip6_name(a, host, 64);
    }
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    *port = ntohs(a->sin_port);
    return uv_ip4_name(a, host, 64);
}

/* Send the message built in b (unless bad) to owner, and free b: data as
 * an ordinary message, else as one no full mailbox drops (io_answer.h). */
static int tell(mb_runtime *rt, mb_sched *from, mb_pid owner, mb_buf *b, int bad, bool data) {
    int rc = bad ? -1 : mb_send(rt, from, 0, owner, data ? MB_MSG_DATA : MB_MSG_SYSTEM, 0, b->p, b->len);
    mb_buf_free(b);
    return rc < 0 ? -1 : 0;
}

int mb_io_tell_udp(mb_runtime *rt, mb_sched *from, mb_pid owner, uint64_t h, const char *host, int port, const void *s, size_t n) {
    mb_buf b;
    mb_buf_init(&b);
    return tell(rt, from, owner, &b,
                mb_put_tuple_head(&b, 5) || mb_put_string(&b, "udp", 3) || mb_put_id(&b, MB_T_IO, h) ||
                    mb_put_string(&b, host, strlen(host)) || mb_put_number(&b, port) || mb_put_string(&b, s, n),
                true);
}

int mb_io_tell_num(mb_runtime *rt, mb_sched *from, mb_pid owner, const char *tag, uint64_t h, double x) {
    mb_buf b;
    mb_buf_init(&b);
    return tell(rt, from, owner, &b,
                mb_put_tuple_head(&b, 3) || mb_put_string(&b, tag, strlen(tag)) || mb_put_id(&b, MB_T_IO, h) ||
                    mb_put_number(&b, x),
                false);
}

/* {tag, h} or {tag, h, s} (s NULL: none). */
static int tell_tagged(mb_runtime *rt, mb_sched *from, mb_pid owner, const char *tag, uint64_t h, const void *s,
                       size_t n, bool data) {
    mb_buf b;
    mb_buf_init(&b);
    int bad = mb_put_tuple_head(&b, s ? 3 : 2) || mb_put_string(&b, tag, strlen(tag)) ||
              mb_put_id(&b, MB_T_IO, h) || (s && mb_put_string(&b, s, n));
    return tell(rt, from, owner, &b, bad, data);
}

void mb_io_forward(mb_runtime *rt, mb_sched *from, mb_io_req *r) {
    const uint8_t *p = mb_io_req_data(r), *end = p + r->len;
    while (end - p >= 5) {
        uint32_t len;
        bool data = p[0] != 0;
        memcpy(&len, p + 1, sizeof len);
        p += 5;
        if ((size_t)(end - p) < len) break;
        if (mb_send(rt, from, 0, r->to, data ? MB_MSG_DATA : MB_MSG_SYSTEM, 0, p, len) < 0)
            fprintf(stderr, "moonbeam: out of memory handing a socket's messages over\n");
        p += len;
    }
}

int mb_io_tell_data(mb_runtime *rt, mb_sched *from, mb_pid owner, const char *tag, uint64_t h, const void *s, size_t n) {
    return tell_tagged(rt, from, owner, tag, h, s, n, true);
}

int mb_io_tell(mb_runtime *rt, mb_sched *from, mb_pid owner, const char *tag, uint64_t h, const void *s, size_t n) {
    return tell_tagged(rt, from, owner, tag, h, s, n, false);
}
