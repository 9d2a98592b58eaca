/* call.h: what the core does for gen_server's call protocol.
 *
 * A caller marks the ref it awaits (an alias: replies with any other ref are
 * dropped before they are queued) and the server it waits on. Replies and
 * the DOWN of the call's monitor land in the caller's reply slot, so a call
 * costs O(1) however many messages wait in its mailbox. The "waits on"
 * edges form the wait-for graph: a call that would close a cycle is refused
 * and every caller on the cycle is told, so all of them fail at once with
 * {"deadlock", chain} instead of timing out one after another. */
#ifndef MB_CALL_H
#define MB_CALL_H

#include "process.h"

#define MB_MAX_CHAIN 64

/* Start waiting on `ref` from `server`. Returns 0, or the length of the
 * cycle found (chain filled: self, server, ..., self); the callers on it
 * have been sent deadlock notices. */
int mb_call_begin(mb_proc *self, mb_pid server, mb_ref ref, mb_pid *chain);
/* The same, with the server's process the caller holds (mb_proctab_get), one
 * not gone (mb_proc_gone): a gone one waits on nobody. */
int mb_call_begin_on(mb_proc *self, mb_proc *server, mb_ref ref, mb_pid *chain);
/* Stop waiting: late replies are dropped from now on. */
void mb_call_end(mb_proc *self);
/* Before mb_call_end: the awaited monitor's DOWN, if it came during the
 * call, back into the mailbox, for a monitor that outlives the call (a
 * spawn_opt's with monitor = true). Owner only. */
void mb_call_keep_down(mb_proc *self);
/* The server of call `ref` of `caller` answered it with noreply: the reply
 * may come later from anyone it handed `from` to (a helper, a later
 * callback), so the caller's wait is no longer an edge of the wait-for
 * graph. A cycle through it might not be one: OTP's timeout decides, as
 * it would there; a false "deadlock" would fail a call that works there. */
void mb_call_deferred(mb_runtime *rt, mb_pid caller, mb_ref ref);
/* Send a reply for call `ref` to `caller` (dropped if the call is over). */
int mb_call_reply(mb_runtime *rt, mb_sched *from, mb_pid caller, mb_ref ref,
                  const uint8_t *data, size_t len);
/* The same with the reply already built as m (MB_MSG_REPLY, m->ref the
 * call's), which it takes in every case; never fails. */
void mb_call_reply_msg(mb_runtime *rt, mb_sched *from, mb_pid caller, mb_msg *m);

#endif
