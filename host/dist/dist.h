/* dist.h: this host as a node of an Erlang cluster (Erlang's distribution
 * protocol; docs/reference.md, "Nodes").
 *
 * One thread with a libuv loop of its own owns everything distributed:
 * the listening socket, every connection to another node, the handshakes
 * (handshake.h) and the ticks. It follows the I/O thread's model (io.h):
 * processes post requests to a mutex-guarded queue and wake the loop
 * (core/wake.h); a request that wants an answer carries the asker's (pid,
 * ref), and the answer lands in the asker's reply slot (call.h). Nothing on
 * the loop blocks: the epmd lookup before a connection runs on libuv's
 * worker pool.
 *
 * Lifetime (as console_server.h): main.c starts it once the runtime runs,
 * stops it before the runtime stops, and frees it after. Starting registers
 * the name with epmd; the registration ends when the host does. */
#ifndef MB_DIST_H
#define MB_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/pid.h"

typedef struct mb_runtime mb_runtime;
typedef struct mb_dist mb_dist;
struct mb_proc;

typedef struct mb_dist_config {
    const char *node;       /* "name@host" */
    const char *cookie;     /* the only authentication between nodes */
    const char *address;    /* the address to listen on; NULL: every interface */
    int port;               /* 0: any free port (epmd tells peers which) */
    unsigned ticktime_s;    /* net_ticktime: silence after which a peer is dropped; 0: 60 */
} mb_dist_config;

/* Listen, register with epmd, start the thread, and attach to rt (where
 * mb_dist_of finds it). NULL with a message in err. */
mb_dist *mb_dist_start(mb_runtime *rt, const mb_dist_config *cfg, char *err, size_t errlen);
/* Close every connection and end the thread (the epmd registration goes
 * with it). Safe on NULL. */
void mb_dist_stop(mb_dist *d);
/* Free what is left, once the runtime stopped. Safe on NULL. */
void mb_dist_free(mb_dist *d);

/* The node rt runs as, or NULL when it is not distributed. Any thread. */
mb_dist *mb_dist_of(mb_runtime *rt);
const char *mb_dist_node(const mb_dist *d);
/* Which connected nodes mb_dist_nodes names, as Erlang's nodes/1: those
 * that published themselves (erlang:nodes()), hidden ones (erl -hidden, a
 * C node), or both. */
typedef enum { MB_NODES_VISIBLE = 1, MB_NODES_HIDDEN = 2, MB_NODES_CONNECTED = 3 } mb_nodes_kind;
/* The names of the nodes of that kind connected now, one after another,
 * each ending in '\0', into buf if they fit in cap bytes (*count of them
 * then). Returns the bytes they take: when more than cap, nothing was
 * written. */
size_t mb_dist_nodes(mb_dist *d, mb_nodes_kind kind, char *buf, size_t cap, size_t *count);
/* Connect to node (unless connected), answering (pid, ref) with {true} or
 * {false, reason} once up or failed. -1 when the host stops. */
int mb_dist_connect(mb_dist *d, const char *node, mb_pid pid, mb_ref ref);

/* Who this node is, for dist_term.h's conversions. Any thread. */
const struct mb_dist_self *mb_dist_me(const mb_dist *d);
/* Hand one whole frame (built with dist_term.h: a control message and a
 * message) to the connection with node, connecting first when there is
 * none; what cannot be delivered is dropped, as Erlang drops it. Takes
 * frame (malloc'd). -1 when the host stops (frame freed). from: the
 * sending process (NULL: none, as a timer's), whose frames in a slice go
 * out together at its end. */
int mb_dist_send_frame(mb_dist *d, struct mb_proc *from, const char *node, uint8_t *frame, size_t len);

/* A monitor of watcher's on a process of node: frame (a MONITOR_P) goes
 * there (connecting first); demonitor (a DEMONITOR_P) is kept to end it
 * (mb_dist_demonitor). The DOWN {"DOWN", ref, "process", target, reason}
 * comes when the process ends or the connection does ("noconnection"); a
 * call's monitor (call) sends it as MB_MSG_CALL_DOWN. Takes frame and
 * demonitor (malloc'd). -1 when the host stops (freed). */
int mb_dist_monitor(mb_dist *d, struct mb_proc *from, const char *node, mb_pid watcher, mb_ref ref, bool call, const uint8_t *target,
                    size_t ntarget, uint8_t *frame, size_t len, uint8_t *demonitor, size_t dlen);
/* End the remote monitor ref, if it is one still waiting. Once it returns,
 * no DOWN of ref's is on its way: one is queued for the watcher already,
 * or none comes (a flush after it finds every one). */
int mb_dist_demonitor(mb_dist *d, struct mb_proc *from, mb_ref ref);
/* What watcher's monitors of other nodes' processes name (a pid or
 * {name, node}; not a call's), appended to out as records of a 4-byte
 * length and the encoded term: mb.info's monitors. -1 when out of memory.
 * Safe on NULL (none). */
int mb_dist_monitors_of(mb_dist *d, mb_pid watcher, mb_buf *out);

/* The control messages of links, exit signals and monitors' ends (Erlang's op codes). */
enum { MB_DIST_LINK = 1, MB_DIST_SEND = 2, MB_DIST_EXIT = 3, MB_DIST_UNLINK = 4, MB_DIST_REG_SEND = 6, MB_DIST_EXIT2 = 8,
       MB_DIST_MONITOR_P_EXIT = 21, MB_DIST_UNLINK_ID = 35, MB_DIST_UNLINK_ID_ACK = 36 };
/* A link's remote half, or an exit signal, between local and the remote
 * pid remote: LINK (sent, connecting first; a connection that cannot be
 * made breaks the link with "noconnection"), UNLINK, EXIT (a linked local
 * process ended), EXIT2 (exit/2), MONITOR_P_EXIT (local, monitored by
 * remote under ref, ended); reason (EXIT, EXIT2, MONITOR_P_EXIT: a term in
 * the external format, malloc'd) is taken. -1 when the host stops (freed). */
int mb_dist_link_signal(mb_dist *d, int op, mb_pid local, mb_pid remote, mb_ref ref, uint8_t *reason, size_t len);
/* The runtime's remote_signal (runtime.h) while this host is a node. */
int mb_dist_remote_signal(struct mb_runtime *rt, mb_pid from, mb_pid dest, int kind, mb_ref ref,
                          const uint8_t *reason, size_t len);
/* The runtime's remote_named (runtime.h) while this host is a node. */
int mb_dist_remote_named(struct mb_runtime *rt, mb_pid from, const char *name, const char *node,
                         const uint8_t *msg, size_t len);

/* erlang:monitor_node: on (true), pid gets one {"nodedown", node} message
 * when the connection to node drops, or at once when it cannot be made
 * (an attempt is started when there is none); off (false) takes one such
 * monitor of pid's away. -1 when the host stops. */
int mb_dist_monitor_node(mb_dist *d, const char *node, mb_pid pid, bool on);
/* {"nodedown", node} to pid, as a message from nobody; -1 when out of memory. */
int mb_dist_send_nodedown(mb_runtime *rt, mb_pid pid, const char *node);

#endif
