/* io_answer.h: what a socket's loop sends to processes: the answer to a
 * request (into the asker's reply slot, call.h), and active-mode messages.
 * from: the scheduler whose loop sends (a process woken is queued there,
 * beside its socket), or NULL from the I/O thread.
 *
 * An answer is a list of values, written below in braces: {true,
 * values...} (at most three) or {false, reason}; lua/moonbeam/net.lua
 * returns the values, or nil and the reason. A failure to build one (out
 * of memory) answers {false, "enomem"}, which needs no allocation. */
#ifndef MB_IO_ANSWER_H
#define MB_IO_ANSWER_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "io.h"

typedef struct mb_runtime mb_runtime;
typedef struct mb_sched mb_sched;

/* {false, reason}; reason a short word ("closed", "timeout", "not_owner"). */
void mb_io_fail(mb_runtime *rt, mb_sched *from, const mb_io_req *r, const char *reason);
/* {false, name}, name: libuv's error name in lower case ("econnrefused"). */
void mb_io_fail_uv(mb_runtime *rt, mb_sched *from, const mb_io_req *r, int uv_err);
void mb_io_ok(mb_runtime *rt, mb_sched *from, const mb_io_req *r);                       /* {true} */
void mb_io_ok_handle(mb_runtime *rt, mb_sched *from, const mb_io_req *r, uint64_t h);    /* {true, h} */
void mb_io_ok_data(mb_runtime *rt, mb_sched *from, const mb_io_req *r, const void *p, size_t n);  /* {true, s} */
/* {true, host, port}; port < 0: {true, host} (a unix socket's path). */
void mb_io_ok_name(mb_runtime *rt, mb_sched *from, const mb_io_req *r, const char *host, int port);
/* {true, a, b}: two numbers. */
void mb_io_ok_2(mb_runtime *rt, mb_sched *from, const mb_io_req *r, double a, double b);

/* {true, data, host, port}: a datagram (recvfrom). */
void mb_io_ok_dgram(mb_runtime *rt, mb_sched *from, const mb_io_req *r, const void *p, size_t n, const char *host, int port);

/* An IP address's text and port, from sa (IPv4 or IPv6): 0, or a libuv error. */
struct sockaddr;
int mb_io_addr_name(const struct sockaddr *sa, char host[64], int *port);

/* The messages to a socket's or a port's owner, from nobody. -1 when out
 * of memory. Data (bytes, a datagram, a program's output) goes as an
 * ordinary message, which a full mailbox drops (mailbox_bounds.h); a
 * change of state (closed, an error, passive again, a program's exit) as
 * one it never drops, as it does not a DOWN: an owner that missed its
 * socket's or program's end would wait for ever. */

/* {"udp", h, host, port, s}: data. */
int mb_io_tell_udp(mb_runtime *rt, mb_sched *from, mb_pid owner, uint64_t h, const char *host, int port, const void *s, size_t n);
/* {tag, h, s}: data ("tcp", "port_data", "port_stderr"). */
int mb_io_tell_data(mb_runtime *rt, mb_sched *from, mb_pid owner, const char *tag, uint64_t h, const void *s, size_t n);
/* {tag, h, x}: a change of state with a number (port_exit's status). */
int mb_io_tell_num(mb_runtime *rt, mb_sched *from, mb_pid owner, const char *tag, uint64_t h, double x);
/* {tag, h} or {tag, h, s} (s NULL: none): a change of state. */
int mb_io_tell(mb_runtime *rt, mb_sched *from, mb_pid owner, const char *tag, uint64_t h, const void *s, size_t n);

/* A handover's moved messages (r's data: records of a kind byte, 1 for
 * data, a length and an encoded message; bindings/net_api.c) to the new
 * owner r->to, in order: sent by the loop once the owner changed, so the
 * new owner that reads one owns the socket already. Data as data, the
 * rest as changes of state, as they first came. */
void mb_io_forward(mb_runtime *rt, mb_sched *from, mb_io_req *r);

#endif
