/* netsock.h: TCP and unix stream sockets, on the I/O thread only (io.h).
 *
 * The sockets of a runtime, by handle, and what each request does to them.
 * Every function here runs on the I/O thread: no locks. */
#ifndef MB_NETSOCK_H
#define MB_NETSOCK_H

#include <uv.h>
#include "io.h"

typedef struct mb_netsock mb_netsock;

/* The sockets of rt, on loop (nothing opened yet). -1 on OOM. */
int mb_netsock_new(mb_netsock **out, mb_runtime *rt, uv_loop_t *loop);
/* Do what r asks; takes r. */
void mb_netsock_handle(mb_netsock *ns, mb_io_req *r);
/* The host stops: close every socket (the loop then ends). */
void mb_netsock_close_all(mb_netsock *ns);
/* Once the loop has ended. */
void mb_netsock_free(mb_netsock *ns);

#endif
