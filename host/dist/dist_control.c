/* dist_control.c: what arrives on an open connection (see
 * dist_internal.h). A frame is 'p' (pass through), a control message, and
 * for some controls the message itself, each a term in the external format
 * (etf.h). Messages to a pid or a registered name of this node are
 * delivered (dist_term.h maps them); net_kernel's is_auth (what
 * net_adm:ping asks) is answered here unless a process took that name;
 * links and exit signals go to remote_link.c; other controls are
 * dropped. */
#include <string.h>
#include "core/call.h"
#include "core/names.h"
#include "core/process.h"
#include "core/runtime.h"
#include "dist_internal.h"
#include "etf.h"

enum { DOP_SEND = 2, DOP_REG_SEND = 6, DOP_MONITOR_P = 19, DOP_DEMONITOR_P = 20, DOP_MONITOR_P_EXIT = MB_DIST_MONITOR_P_EXIT };
#define PASS_THROUGH 112

/* {Tag, Reply} to a pid of the peer's: a SEND control {2, '', To} and the
 * message; to, tag: their terms as they arrived. */
static void reply_to(dist_conn *c, const uint8_t *to, size_t ton, const uint8_t *tag, size_t tagn,
                     const char *reply) {
    mb_buf b;
    mb_buf_init(&b);
    uint8_t len[4] = {0};
    int bad = mb_buf_put(&b, len, 4) || mb_buf_byte(&b, PASS_THROUGH) || mb_etf_put_version(&b) ||
              mb_etf_put_tuple(&b, 3) || mb_etf_put_int(&b, DOP_SEND) || mb_etf_put_atom(&b, "", 0) ||
              mb_buf_put(&b, to, ton) || mb_etf_put_version(&b) || mb_etf_put_tuple(&b, 2) ||
              mb_buf_put(&b, tag, tagn) || mb_etf_put_atom(&b, reply, strlen(reply));
    if (!bad) {
        size_t n = b.len - 4;
        b.p[0] = (uint8_t)(n >> 24), b.p[1] = (uint8_t)(n >> 16), b.p[2] = (uint8_t)(n >> 8), b.p[3] = (uint8_t)n;
        mb_dist_conn_write(c, b.p, b.len);
    } else {
        mb_dist_log("out of memory answering net_kernel");
    }
    mb_buf_free(&b);
}

/* gen_server's envelopes as moonbeam's gen_server reads them (its labels
 * are strings): {'$gen_call', {Pid, Tag}, Req} becomes {"$gen_call",
 * {pid, tag ref}, req} (gen.reply sends {Tag, Reply} back: call_api.c),
 * {'$gen_cast', Msg} becomes {"$gen_cast", msg}, and sys:terminate's
 * {system, {Pid, Tag}, {terminate, Reason}} (what gen_server:stop sends)
 * becomes {"$gen_sys", {pid, tag ref}, {"stop", reason, true}}: true asks
 * for the reply ok that sys waits for; sys:get_state's {system, From,
 * get_state} becomes {"$gen_sys", from, {"get_state"}}, answered with the
 * state. 1 when m (past its version byte) was one of them, converted into
 * b; 0 when not; -1 with *why. */
static int gen_envelope(dist_conn *c, mb_etf_rd *m, mb_buf *b, const char **why) {
    mb_etf_rd q = *m;
    uint32_t arity, two;
    if (mb_etf_tuple(&q, &arity)) return 0;
    const mb_dist_self *me = &c->d->me;
    if (arity == 2 && mb_etf_is_atom(&q, "$gen_cast")) {
        mb_etf_skip(&q);
        if (mb_put_tuple_head(b, 2) || mb_put_string(b, "$gen_cast", 9)) return *why = "out of memory", -1;
        return mb_dist_from_etf(me, &q, b, why) ? -1 : 1;
    }
    mb_etf_pid from;
    mb_ref tag;
    bool sys = arity == 3 && mb_etf_is_atom(&q, "system");
    if (arity != 3 || !(sys || mb_etf_is_atom(&q, "$gen_call")) || mb_etf_skip(&q) || mb_etf_tuple(&q, &two) ||
        two != 2 || mb_etf_pid_get(&q, &from) || !(tag = mb_dist_tag_of(me, &q)))
        return 0;
    mb_pid pid = mb_dist_pid_of(me, &from);
    if (!pid) return 0;
    /* sys's requests: terminate and get_state are the server's; any other
     * arrives as the message {"system", {pid, tag ref}, req} (its tag, an
     * [alias | Ref] since OTP 24, as the ref a reply needs). */
    mb_etf_rd r = q;
    bool stop = sys && mb_etf_tuple(&r, &two) == 0 && two == 2 && mb_etf_is_atom(&r, "terminate") && mb_etf_skip(&r) == 0;
    bool get_state = sys && !stop && mb_etf_is_atom(&q, "get_state");
    const char *label = !sys ? "$gen_call" : stop || get_state ? "$gen_sys" : "system";
    if (mb_put_tuple_head(b, 3) || mb_put_string(b, label, strlen(label)) || mb_put_tuple_head(b, 2) ||
        mb_put_id(b, MB_T_PID, pid) || mb_put_id(b, MB_T_REF, tag))
        return *why = "out of memory", -1;
    if (get_state) return mb_put_tuple_head(b, 1) || mb_put_string(b, "get_state", 9) ? (*why = "out of memory", -1) : 1;
    if (!stop) return mb_dist_from_etf(me, &q, b, why) ? -1 : 1;
    /* {"$gen_sys", from, {"stop", reason, true}}: the reason two levels down, one past a DOWN's */
    if (mb_put_tuple_head(b, 3) || mb_put_string(b, "stop", 4) || mb_dist_reason_of(c, &r, b, why, 1)) return -1;
    return mb_put_bool(b, true) ? (*why = "out of memory", -1) : 1;
}

/* {Ref, Reply} for a call dest awaits (gen.call to another node: its
 * gen_server answers this way): into dest's reply slot, as a local
 * server's reply goes (call.h). 1 when it was that, or the answer to a
 * call that has ended (timed out, or its server went): dropped then, so
 * that it never reaches the caller's mailbox, as a local late reply. */
static int call_reply(dist_conn *c, mb_pid dest, mb_etf_rd *m) {
    mb_etf_rd q = *m;
    uint32_t arity;
    mb_etf_ref e;
    if (mb_etf_tuple(&q, &arity) || arity != 2 || mb_etf_ref_get(&q, &e)) return 0;
    mb_ref ref = mb_dist_ref_of(&c->d->me, &e);
    bool call_tag = mb_dist_is_call_tag(&c->d->me, &e);
    mb_proc *p = mb_proctab_get(&c->d->rt->procs, dest);
    if (!p) return call_tag;
    bool awaited = ref && atomic_load(&p->await_ref) == ref;
    mb_proctab_put(&c->d->rt->procs, dest);
    if (!awaited) return call_tag;
    mb_buf *b = mb_dist_conn_term(c);
    const char *why = NULL;
    if (mb_buf_varint(b, 1)) why = "out of memory";   /* a list of one value */
    else mb_dist_from_etf(&c->d->me, &q, b, &why);
    if (why) mb_dist_log("a reply from %s dropped: it holds %s, which moonbeam does not carry", c->peer, why);
    else if (mb_call_reply(c->d->rt, NULL, dest, ref, b->p, b->len)) mb_dist_log("out of memory: a reply dropped");
    return 1;
}

/* The message at m (its version byte next) to a local process: dropped,
 * as Erlang drops it, when dest is not one (or no longer runs). */
static void deliver(dist_conn *c, mb_pid dest, mb_etf_rd *m) {
    if (!dest || mb_pid_is_remote(dest)) return;
    const char *why = NULL;
    if (mb_etf_version(m)) why = "malformed";
    else if (call_reply(c, dest, m)) return;
    mb_buf *b = mb_dist_conn_term(c);
    if (!why && gen_envelope(c, m, b, &why) == 0) mb_dist_from_etf(&c->d->me, m, b, &why);
    if (why) mb_dist_log("a message from %s dropped: it holds %s, which moonbeam does not carry", c->peer, why);
    else if (mb_send(c->d->rt, NULL, 0, dest, MB_MSG_DATA, 0, b->p, b->len) < 0)
        mb_dist_log("out of memory: a message from %s dropped", c->peer);
}

/* A message to net_kernel: {'$gen_call', {From, Tag}, {is_auth, Node}} is
 * answered yes (the connection passed the handshake: that is the
 * authentication). Anything else net_kernel would do is not ours. */
static void net_kernel(dist_conn *c, mb_etf_rd *m) {
    uint32_t arity;
    const uint8_t *from, *tag;
    size_t fromn, tagn;
    if (mb_etf_version(m) || mb_etf_tuple(m, &arity) || arity != 3 || !mb_etf_is_atom(m, "$gen_call") ||
        mb_etf_skip(m) || mb_etf_tuple(m, &arity) || arity != 2 || mb_etf_span(m, &from, &fromn) ||
        mb_etf_span(m, &tag, &tagn) || mb_etf_tuple(m, &arity) || arity != 2 || !mb_etf_is_atom(m, "is_auth"))
        return;
    if (from[0] != MB_ETF_NEW_PID && from[0] != MB_ETF_PID) return;
    reply_to(c, from, fromn, tag, tagn, "yes");
}

/* An exit reason at r as this contract writes them: an atom as a string
 * ("normal", "noproc", "killed"), {shutdown, Detail} as {"shutdown",
 * detail}, anything else mapped as a message. */
int mb_dist_reason_of(dist_conn *c, mb_etf_rd *r, mb_buf *b, const char **why, int depth) {
    mb_etf_atom a;
    mb_etf_rd q = *r;
    if (mb_etf_atom_get(&q, &a) == 0) {
        *r = q;
        return mb_put_string(b, a.s, a.n) ? (*why = "out of memory", -1) : 0;
    }
    uint32_t arity;
    q = *r;
    if (mb_etf_tuple(&q, &arity) == 0 && arity == 2 && mb_etf_is_atom(&q, "shutdown") && mb_etf_skip(&q) == 0) {
        if (mb_put_tuple_head(b, 2) || mb_put_string(b, "shutdown", 8)) return *why = "out of memory", -1;
        *r = q;
        return mb_dist_from_etf_at(&c->d->me, r, b, why, depth + 1);
    }
    return mb_dist_from_etf_at(&c->d->me, r, b, why, depth);
}

/* MONITOR_P_EXIT {21, FromProc, ToPid, Ref, Reason}: a monitored process
 * of the peer's ended; its watcher here gets the DOWN. */
static void monitor_exit(dist_conn *c, mb_etf_rd *r) {
    mb_etf_ref e;
    if (mb_etf_skip(r) || mb_etf_skip(r) || mb_etf_ref_get(r, &e)) return;
    mb_ref ref = mb_dist_ref_of(&c->d->me, &e);
    mb_buf b;
    mb_buf_init(&b);
    const char *why = NULL;
    if (mb_dist_reason_of(c, r, &b, &why, 0)) {
        mb_buf_free(&b);
        mb_small_term w = mb_small_str("unknown");   /* a reason moonbeam cannot carry */
        mb_remote_mon_down(c->d, ref, w.b, w.n);
        return;
    }
    mb_remote_mon_down(c->d, ref, b.p, b.len);
    mb_buf_free(&b);
}

void mb_dist_control(dist_conn *c, const uint8_t *p, size_t n) {
    if (p[0] != PASS_THROUGH) {
        mb_dist_log("node %s sent a frame this node cannot read (atom cache or fragments were not offered)",
                    c->peer);
        mb_dist_conn_close(c, "protocol error");
        return;
    }
    mb_etf_rd r = {p + 1, p + n};
    uint32_t arity;
    int64_t op;
    if (mb_etf_version(&r) || mb_etf_tuple(&r, &arity) || arity < 1 || mb_etf_int(&r, &op)) {
        mb_dist_log("node %s sent a malformed control message", c->peer);
        mb_dist_conn_close(c, "protocol error");
        return;
    }
    if (op == DOP_REG_SEND && arity == 4) {
        mb_etf_atom name;
        if (mb_etf_skip(&r) || mb_etf_skip(&r) || mb_etf_atom_get(&r, &name)) return;
        mb_pid dest = mb_names_whereis(c->d->rt, name.s, name.n);
        if (!dest && name.n == 10 && memcmp(name.s, "net_kernel", 10) == 0) net_kernel(c, &r);
        else deliver(c, dest, &r);
    } else if (op == DOP_MONITOR_P && arity == 4) {
        mb_peer_mon_add(c, &r);
    } else if (op == DOP_DEMONITOR_P && arity == 4) {
        mb_peer_mon_remove(c, &r);
    } else if (op == DOP_MONITOR_P_EXIT && arity == 5) {
        monitor_exit(c, &r);
    } else if ((op == MB_DIST_LINK || op == MB_DIST_UNLINK) && arity == 3) {
        mb_remote_link_control(c, (int)op, &r);
    } else if ((op == MB_DIST_EXIT || op == MB_DIST_EXIT2 || op == MB_DIST_UNLINK_ID) && arity == 4) {
        mb_remote_link_control(c, (int)op, &r);
    } else if (op == DOP_SEND && arity == 3) {
        mb_etf_pid to;
        if (mb_etf_skip(&r) || mb_etf_pid_get(&r, &to)) return;
        deliver(c, mb_dist_pid_of(&c->d->me, &to), &r);
    }
}
