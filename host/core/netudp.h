/* netudp.h: UDP sockets, on the I/O thread only (io.h).
 *
 * The UDP sockets of a runtime and what each request does to them. Every
 * function here runs on the I/O thread: no locks. */
#ifndef MB_NETUDP_H
#define MB_NETUDP_H

#include <stdbool.h>
#include <uv.h>
#include "io.h"

typedef struct mb_netudp mb_netudp;

/* The UDP sockets of rt, on loop (none yet). -1 on OOM. */
int mb_netudp_new(mb_netudp **out, mb_runtime *rt, uv_loop_t *loop);
/* Whether handle names an open UDP socket (else it is netsock.c's). */
bool mb_netudp_has(mb_netudp *nu, uint64_t handle);
/* Do what r asks (UDP_OPEN, SENDTO, RECVFROM, or a request on one of its
 * sockets: CANCEL, CLOSE, SETOPTS, HANDOVER, NAME); takes r. */
void mb_netudp_handle(mb_netudp *nu, mb_io_req *r);
/* pid died: close what it owns. */
void mb_netudp_owner_died(mb_netudp *nu, mb_pid pid);
/* The host stops: close every socket. */
void mb_netudp_close_all(mb_netudp *nu);
/* Once the loop has ended. */
void mb_netudp_free(mb_netudp *nu);

#endif
