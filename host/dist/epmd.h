/* epmd.h: the two things a node asks Erlang's port mapper daemon (epmd,
 * TCP port 4369 or $ERL_EPMD_PORT): to register its name and listening
 * port (ALIVE2_REQ; the registration lasts as long as that connection is
 * open), and where another node listens (PORT_PLEASE2_REQ).
 *
 * Both are short blocking exchanges: registration runs once, at start, on
 * the thread that starts the node; a lookup runs on libuv's worker pool
 * (dist.c), never on the distribution thread's loop. */
#ifndef MB_EPMD_H
#define MB_EPMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Register alive (the name's part before '@') as listening on port. If no
 * epmd answers on this host, start Debian's (`epmd -daemon`) and wait for
 * it to answer (a few seconds at most); the daemon outlives this host, as
 * it does for erl, and is never stopped by moonbeam. Returns the open
 * connection (close it to unregister) and the creation epmd gave, or -1
 * with a message in err (the name is taken, no epmd can be reached). */
int mb_epmd_register(const char *alive, int port, uint32_t *creation, char *err, size_t errlen);

/* The port where node alive listens on the host at addr (an IPv4 or IPv6
 * address in network form, from getaddrinfo), and its highest protocol
 * version: 0, or -1 (no epmd there, no such node, or no answer within
 * timeout_ms for a step: at most 5 s). */
int mb_epmd_lookup(const struct sockaddr *addr, const char *alive, int timeout_ms, int *port, int *version);

#endif
