/* signal.h: links, monitors and exit signals (OTP's semantics).
 *
 * Signals travel through the receiver's inbox like messages, so they keep
 * per-sender order. A process handles them when it drains its inbox into
 * its save queue (mb_signal_drain): trapped exits and DOWNs become messages
 * in place, fatal ones mark the process dying. */
#ifndef MB_SIGNAL_H
#define MB_SIGNAL_H

#include "process.h"

/* Results of link and monitor (MB_SIG_* are signals, mailbox.h). */
enum { MB_LINK_OK = 0, MB_LINK_NOPROC = -1, MB_LINK_NOMEM = -2 };

int mb_link(mb_proc *self, mb_pid other);
void mb_unlink(mb_proc *self, mb_pid other);
/* A link's local half, to a process of another node (its node keeps the
 * other half): when local ends, its exit signal goes to remote through
 * the runtime's remote_signal. Any thread. */
int mb_link_remote(mb_runtime *rt, mb_pid local, mb_pid remote);
void mb_unlink_remote(mb_runtime *rt, mb_pid local, mb_pid remote);
/* A monitor of local's by a process of another node (watcher, remote),
 * under its ref: when target ends, the DOWN goes to watcher through the
 * runtime's remote_signal with the exit reason. MB_LINK_NOPROC when
 * target is not alive. Any thread. */
int mb_monitor_remote(mb_runtime *rt, mb_pid target, mb_pid watcher, mb_ref ref);
void mb_demonitor_remote(mb_runtime *rt, mb_pid target, mb_ref ref);
/* Monitor target; on a dead target, queues DOWN noproc at once (the "what"
 * element is encoded in what/what_len). */
int mb_monitor(mb_proc *self, mb_pid target, mb_ref ref, const uint8_t *what, size_t what_len);
/* Returns 1 if the monitor was active. flush: drop a DOWN already queued. */
int mb_demonitor(mb_proc *self, mb_ref ref, int flush);
/* A call's monitor of its server (call.h) travels with its request: the
 * request's call_monitor, under the call's ref. The server's drain records
 * it in the server's calls as it takes the request from its inbox; the
 * server's own reply takes it away (mb_call_monitor_take, which marks the
 * reply so), else the caller does (mb_call_demonitor: a reply from another
 * process, a timeout, an error, the caller's exit), or its DEMONITOR signal
 * if the request is still in the inbox. A server that ends sends a DOWN for
 * each as it ends, and for each request left in its inbox once nobody holds
 * it any more (no sender is then between its push and its release of the
 * server, so none is missed). A call the server answers
 * takes no lock but the server's own: a busy server's lock was the line all
 * its callers wrote. The caller's record is self->call_server and call_ref;
 * the server's DOWN reaches its reply slot while the call awaits ref, and
 * is dropped after it (mb_signal_drain).
 *
 * mb_call_monitored: the request is in server's inbox (server: the process
 * the caller holds, mb_proctab_get), or server is gone (NULL): then a DOWN
 * noproc is queued at once, as mb_monitor does. MB_LINK_OK, or
 * MB_LINK_NOMEM. */
int mb_call_monitored(mb_proc *self, mb_proc *server, mb_ref ref, const uint8_t *what, size_t what_len);
/* The monitor of the call ref that server holds goes (the server's own
 * reply, the caller's demonitor or its signal): whether it held it. */
bool mb_call_monitor_take(mb_proc *server, mb_ref ref);
/* The call's monitor goes (its call is over), if there is one. */
void mb_call_demonitor(mb_proc *self);
/* p ended, and nobody holds it any more (mb_proc_free): a DOWN with its
 * reason to the caller of each request it never took. With no sender left
 * between its push and its release of p, every request pushed is there. */
void mb_call_requests_orphaned(mb_proc *p);

/* exit(dest, reason) from `from` (0 for the runtime itself). */
void mb_send_exit(mb_runtime *rt, mb_sched *s, mb_pid from, mb_pid dest,
                  const uint8_t *reason, size_t len);

/* Move the inbox into the save queue, acting on signals. Returns the number
 * of messages added; p->dying is set if a signal ended the process. An
 * empty inbox is seen here, with no call: a receive drains at each look,
 * and a process that has just sent mostly finds nothing new (a ring's hop:
 * 55 instructions of the call and a pop that found nothing). A bounded
 * mailbox always goes in: its drop_old trim may be due without a message
 * (one still on its way, or a match function that held the trim off). */
int mb_signal_drain_inbox(mb_proc *p);
static inline int mb_signal_drain(mb_proc *p) {
    if (!p->max_queue && !mb_inbox_nonempty(&p->inbox)) return 0;
    return mb_signal_drain_inbox(p);
}

/* What the signal sig, queued for p, will do to p when p drains it (the
 * rules of the drain, read from any thread): MB_FATE_MAY_END, it ends p
 * unless a link removed or trap_exit set meanwhile spares it; MB_FATE_ENDS,
 * nothing can ("kill", a full mailbox's); 0, it does not end p. A process
 * that spins in compiled code never drains: the monitor leaves it there
 * (sysmon.h). */
enum { MB_FATE_MAY_END = 1, MB_FATE_ENDS = 2 };
int mb_signal_fate(const mb_proc *p, const mb_msg *sig);

/* Build the message {"EXIT", from, reason} or {"DOWN", ref, "process", what, reason}. */
mb_msg *mb_exit_message(mb_pid from, const uint8_t *reason, size_t len);
mb_msg *mb_down_message(mb_ref ref, const uint8_t *what, size_t what_len,
                        const uint8_t *reason, size_t len);

#endif
