/* port.h: external programs (moonbeam.port), on the I/O thread only (io.h).
 *
 * A port is a child process started with uv_spawn, its stdin, stdout and
 * stderr pipes, and an owner who hears of its output and its exit. Every
 * function here runs on the I/O thread: no locks. */
#ifndef MB_PORT_H
#define MB_PORT_H

#include <uv.h>
#include "io.h"

typedef struct mb_ports mb_ports;

/* The ports of rt, on loop (none yet). -1 on OOM. */
int mb_ports_new(mb_ports **out, mb_runtime *rt, uv_loop_t *loop);
/* Do what r asks (PORT_OPEN, PORT_WRITE, PORT_EOF, PORT_KILL, or SETOPTS /
 * HANDOVER / CLOSE on a port); takes r. */
void mb_ports_handle(mb_ports *pp, mb_io_req *r);
/* pid died: SIGKILL its ports' programs; their exits are reaped unheard. */
void mb_ports_owner_died(mb_ports *pp, mb_pid pid);
/* The host stops: SIGKILL every program, reap it, close every pipe. */
void mb_ports_close_all(mb_ports *pp);
/* Once the loop has ended. */
void mb_ports_free(mb_ports *pp);

#endif
