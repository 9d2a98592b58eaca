/* signal.c: links, monitors, exit signals, and how a process acts on them
 * when it drains its inbox. The rules are OTP's (docs/semantics.md, "Links and
 * exit signals", "Monitors"). */
#include "signal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "term.h"
#include "mailbox_bounds.h"
#include "runtime.h"

static void lock_pair(mb_proc *a, mb_proc *b) {
    if (a->pid < b->pid) {
        pthread_mutex_lock(&a->lock);
        pthread_mutex_lock(&b->lock);
    } else {
        pthread_mutex_lock(&b->lock);
        pthread_mutex_lock(&a->lock);
    }
}

static void unlock_pair(mb_proc *a, mb_proc *b) {
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_unlock(&b->lock);
}

/* The local half of a link (ref 0) or of a remote process's monitor
 * (its ref) in p's lists: add it, or take it away. */
static int half(mb_proc *p, mb_pid remote, mb_ref ref, bool add) {
    int rc = MB_LINK_OK;
    pthread_mutex_lock(&p->lock);
    if (!add && ref) mb_monvec_take(&p->monitored_by, ref, NULL);
    else if (!add) mb_pidvec_remove(&p->links, remote);
    else if (p->exiting) rc = MB_LINK_NOPROC;
    else if (ref ? mb_monvec_add(&p->monitored_by, ref, remote) : mb_pidvec_add(&p->links, remote)) rc = MB_LINK_NOMEM;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* half, on the process local names. */
static int remote_half(mb_runtime *rt, mb_pid local, mb_pid remote, mb_ref ref, bool add) {
    mb_proc *p = mb_proctab_get(&rt->procs, local);
    if (!p) return MB_LINK_NOPROC;
    int rc = half(p, remote, ref, add);
    mb_proctab_put(&rt->procs, local);
    return rc;
}

int mb_link_remote(mb_runtime *rt, mb_pid local, mb_pid remote) { return remote_half(rt, local, remote, 0, true); }

void mb_unlink_remote(mb_runtime *rt, mb_pid local, mb_pid remote) { remote_half(rt, local, remote, 0, false); }

int mb_monitor_remote(mb_runtime *rt, mb_pid target, mb_pid watcher, mb_ref ref) {
    return remote_half(rt, target, watcher, ref, true);
}

void mb_demonitor_remote(mb_runtime *rt, mb_pid target, mb_ref ref) { remote_half(rt, target, 0, ref, false); }

int mb_link(mb_proc *self, mb_pid other) {
    if (other == self->pid) return MB_LINK_OK;
    if (mb_pid_is_remote(other)) return mb_link_remote(self->rt, self->pid, other);
    mb_proc *t = mb_proctab_get(&self->rt->procs, other);
    if (!t) return MB_LINK_NOPROC;
    int rc = MB_LINK_OK;
    lock_pair(self, t);
    if (t->exiting) rc = MB_LINK_NOPROC;
    else if (mb_pidvec_add(&self->links, other)) rc = MB_LINK_NOMEM;
    else if (mb_pidvec_add(&t->links, self->pid)) {
        mb_pidvec_remove(&self->links, other);
        rc = MB_LINK_NOMEM;
    }
    unlock_pair(self, t);
    mb_proctab_put(&self->rt->procs, other);
    return rc;
}

void mb_unlink(mb_proc *self, mb_pid other) {
    mb_proc *t = mb_proctab_get(&self->rt->procs, other);
    if (!t) {
        pthread_mutex_lock(&self->lock);
        mb_pidvec_remove(&self->links, other);
        pthread_mutex_unlock(&self->lock);
        return;
    }
    if (t != self) {
        lock_pair(self, t);
        mb_pidvec_remove(&self->links, other);
        mb_pidvec_remove(&t->links, self->pid);
        unlock_pair(self, t);
    }
    mb_proctab_put(&self->rt->procs, other);
}

static int queue_noproc_down(mb_proc *self, mb_ref ref, const uint8_t *what, size_t what_len) {
    mb_small_term noproc = mb_small_str("noproc");
    mb_msg *m = mb_down_message(ref, what, what_len, noproc.b, noproc.n);
    if (!m) return MB_LINK_NOMEM;
    mb_proc_deliver(self, m, self->sched);
    return MB_LINK_NOPROC;
}

int mb_monitor(mb_proc *self, mb_pid target, mb_ref ref, const uint8_t *what, size_t what_len) {
    mb_proc *t = target ? mb_proctab_get(&self->rt->procs, target) : NULL;
    if (!t) return queue_noproc_down(self, ref, what, what_len);
    int rc = MB_LINK_OK;
    pthread_mutex_lock(&t->lock);
    if (t->exiting) rc = MB_LINK_NOPROC;
    else if (mb_monvec_add(&t->monitored_by, ref, self->pid)) rc = MB_LINK_NOMEM;
    pthread_mutex_unlock(&t->lock);
    mb_proctab_put(&self->rt->procs, target);
    if (rc == MB_LINK_NOPROC) return queue_noproc_down(self, ref, what, what_len);
    if (rc) return rc;
    pthread_mutex_lock(&self->lock);
    rc = mb_monvec_add(&self->monitors, ref, target) ? MB_LINK_NOMEM : MB_LINK_OK;
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int mb_call_monitored(mb_proc *self, mb_proc *server, mb_ref ref, const uint8_t *what, size_t what_len) {
    if (server) {
        self->call_server = server->pid;
        self->call_ref = ref;
        return MB_LINK_OK;
    }
    return queue_noproc_down(self, ref, what, what_len) == MB_LINK_NOMEM ? MB_LINK_NOMEM : MB_LINK_OK;
}

bool mb_call_monitor_take(mb_proc *server, mb_ref ref) {
    pthread_mutex_lock(&server->lock);
    bool found = mb_monvec_take(&server->calls, ref, NULL);
    pthread_mutex_unlock(&server->lock);
    return found;
}

/* Not the path of a call the server answers itself (that reply took the
 * monitor): a reply from elsewhere, a timeout, an error, the caller's end.
 * Taken at once if the server recorded it, so that what the server shows
 * is current when the call returns; else its request is still in the
 * server's inbox, and the signal, queued behind it, takes it there. */
void mb_call_demonitor(mb_proc *self) {
    if (!self->call_server) return;
    mb_runtime *rt = self->rt;
    mb_proc *t = mb_proctab_get(&rt->procs, self->call_server);
    if (t) {
        if (!mb_call_monitor_take(t, self->call_ref)) {
            mb_msg *m = mb_msg_new(MB_SIG_DEMONITOR, self->pid, self->call_ref, 0);
            if (m) mb_proc_deliver(t, m, self->sched);
            else fprintf(stderr, "moonbeam: out of memory ending a call's monitor\n");
        }
        mb_proctab_put(&rt->procs, self->call_server);
    }
    self->call_server = 0;
    self->call_ref = 0;
}

/* The monitor a request carries, recorded as the server takes it from its
 * inbox. Without memory for it, the caller gets a DOWN no_memory: its call
 * fails rather than wait on a monitor nobody holds. */
static void record_call(mb_proc *p, mb_msg *m) {
    m->call_monitor = 0;
    pthread_mutex_lock(&p->lock);
    int bad = mb_monvec_add(&p->calls, m->ref, m->from);
    pthread_mutex_unlock(&p->lock);
    if (!bad) return;
    mb_small_term why = mb_small_str("no_memory");
    if (mb_send(p->rt, p->sched, p->pid, m->from, MB_SIG_DOWN, m->ref, why.b, why.n) < 0)
        fprintf(stderr, "moonbeam: out of memory failing a call\n");
}

void mb_call_requests_orphaned(mb_proc *p) {
    if (atomic_load(&p->rt->stopping)) return;   /* every process is going: none to tell */
    mb_msg *m;
    while ((m = mb_inbox_pop(&p->inbox)) != NULL) mb_saveq_append(&p->save, m);
    for (m = p->save.head; m; m = atomic_load_explicit(&m->next, memory_order_relaxed))
        if (m->call_monitor && (m->kind == MB_MSG_DATA || m->kind == MB_MSG_SYSTEM)) mb_proc_send_down(p, NULL, m->from, m->ref);
}

static bool is_down_for(const mb_msg *m, void *ref) {
    return m->kind == MB_MSG_DOWN && m->ref == *(mb_ref *)ref;
}

int mb_demonitor(mb_proc *self, mb_ref ref, int flush) {
    mb_pid target = 0;
    pthread_mutex_lock(&self->lock);
    int found = mb_monvec_take(&self->monitors, ref, &target);
    pthread_mutex_unlock(&self->lock);
    if (found) {
        mb_proc *t = mb_proctab_get(&self->rt->procs, target);
        if (t) {
            pthread_mutex_lock(&t->lock);
            mb_monvec_take(&t->monitored_by, ref, NULL);
            pthread_mutex_unlock(&t->lock);
            mb_proctab_put(&self->rt->procs, target);
        }
    }
    if (flush) {
        mb_signal_drain(self);   /* a DOWN still in the inbox is dropped there */
        /* An active monitor's DOWN cannot be queued yet: only a monitor
         * that already fired needs the (mailbox-long) search. */
        if (!found) mb_mailbox_drop(self, is_down_for, &ref, false);
    }
    return found;
}

void mb_send_exit(mb_runtime *rt, mb_sched *s, mb_pid from, mb_pid dest,
                  const uint8_t *reason, size_t len) {
    if (mb_send(rt, s, from, dest, MB_SIG_EXIT, 0, reason, len) < 0)
        fprintf(stderr, "moonbeam: out of memory sending an exit signal\n");
}

mb_msg *mb_exit_message(mb_pid from, const uint8_t *reason, size_t len) {
    mb_buf b;
    mb_buf_init(&b);
    mb_msg *m = NULL;
    if (!mb_put_tuple_head(&b, 3) && !mb_put_string(&b, "EXIT", 4) &&
        !mb_put_id(&b, MB_T_PID, from) && !mb_buf_put(&b, reason, len))
        m = mb_msg_copy(MB_MSG_SYSTEM, from, 0, b.p, b.len);
    mb_buf_free(&b);
    return m;
}

mb_msg *mb_down_message(mb_ref ref, const uint8_t *what, size_t what_len,
                        const uint8_t *reason, size_t len) {
    mb_buf b;
    mb_buf_init(&b);
    mb_msg *m = NULL;
    if (!mb_put_tuple_head(&b, 5) && !mb_put_string(&b, "DOWN", 4) &&
        !mb_put_id(&b, MB_T_REF, ref) && !mb_put_string(&b, "process", 7) &&
        !mb_buf_put(&b, what, what_len) && !mb_buf_put(&b, reason, len))
        m = mb_msg_copy(MB_MSG_DOWN, 0, ref, b.p, b.len);
    mb_buf_free(&b);
    return m;
}

static void die(mb_proc *p, const uint8_t *reason, size_t len) {
    if (p->dying) return;
    p->dying = true;
    atomic_store_explicit(&p->must_end, true, memory_order_relaxed);
    p->exit_reason.len = 0;
    if (mb_buf_put(&p->exit_reason, reason, len))
        fprintf(stderr, "moonbeam: out of memory keeping an exit reason\n");
}

static void die_str(mb_proc *p, const char *s) {
    mb_buf b;
    mb_buf_init(&b);
    if (!mb_put_string(&b, s, strlen(s))) die(p, b.p, b.len);
    mb_buf_free(&b);
}

/* A reply, deadlock notice or DOWN for the awaited call goes to the reply
 * queue, not the save queue: the caller finds it in O(1). Returns 1 if m
 * was taken (kept or dropped). */
static int to_reply_slot(mb_proc *p, mb_msg *m) {
    uint64_t awaited = atomic_load_explicit(&p->await_ref, memory_order_relaxed);
    if (m->kind == MB_MSG_REPLY || m->kind == MB_MSG_DEADLOCK || m->kind == MB_MSG_CALL_DOWN) {
        if (m->ref != awaited || !awaited) {
            free(m);   /* late: the call is over */
            return 1;
        }
        /* The server's own reply took the call's monitor: nothing to take away. */
        if (m->call_monitor && m->ref == p->call_ref) p->call_server = 0;
        mb_saveq_append(&p->replies, m);
        return 1;
    }
    if (m->kind == MB_MSG_DOWN && awaited && m->ref == awaited) {
        mb_mailbox_taken(p, m);
        mb_saveq_append(&p->replies, m);
        return 1;
    }
    return 0;
}

/* A trapped exit becomes a message in the save queue, in place. */
static int trap(mb_proc *p, mb_msg *sig) {
    mb_msg *m = mb_exit_message(sig->from, sig->data, sig->len);
    if (!m) {
        fprintf(stderr, "moonbeam: out of memory trapping an exit; dropped\n");
        return 0;
    }
    mb_mailbox_count_in(p, m);
    mb_saveq_append(&p->save, m);
    return 1;
}

/* What an exit signal does to p, by OTP's rules: the one place they are
 * written (the drain acts on it, a delivery counts what will end p). */
typedef enum exit_action { EXIT_IGNORED, EXIT_TRAPPED, EXIT_ENDS, EXIT_KILLED } exit_action;

static exit_action exit_action_of(const mb_proc *p, const mb_msg *sig) {
    bool trapping = atomic_load_explicit(&p->trap_exit, memory_order_relaxed);
    bool normal = mb_encoded_name_is(sig->data, sig->len, "normal");   /* an atom from a node too */
    switch (sig->kind) {
    case MB_SIG_LINK_EXIT:
        return trapping ? EXIT_TRAPPED : normal ? EXIT_IGNORED : EXIT_ENDS;
    case MB_SIG_EXIT:
        if (mb_encoded_name_is(sig->data, sig->len, "kill")) return EXIT_KILLED;
        if (trapping) return EXIT_TRAPPED;
        return !normal || sig->from == p->pid ? EXIT_ENDS : EXIT_IGNORED;
    case MB_SIG_OVERFLOW:                      /* its mailbox ends it: no trapping */
        return EXIT_ENDS;
    default:
        return EXIT_IGNORED;
    }
}

int mb_signal_fate(const mb_proc *p, const mb_msg *sig) {
    exit_action a = exit_action_of(p, sig);
    if (a == EXIT_KILLED || sig->kind == MB_SIG_OVERFLOW) return MB_FATE_ENDS;
    return a == EXIT_ENDS ? MB_FATE_MAY_END : 0;
}

/* Returns how many messages the signal added to the save queue (0 or 1). */
static int handle_signal(mb_proc *p, mb_msg *sig) {
    int added = 0, found;
    switch (sig->kind) {
    case MB_SIG_LINK_EXIT:
        pthread_mutex_lock(&p->lock);
        found = mb_pidvec_remove(&p->links, sig->from);
        pthread_mutex_unlock(&p->lock);
        if (!found) break;                     /* unlinked meanwhile */
        /* fall through */
    case MB_SIG_EXIT:
    case MB_SIG_OVERFLOW:
        switch (exit_action_of(p, sig)) {
        case EXIT_KILLED: die_str(p, "killed"); break;
        case EXIT_ENDS: die(p, sig->data, sig->len); break;
        case EXIT_TRAPPED: added = trap(p, sig); break;
        case EXIT_IGNORED: break;
        }
        break;
    case MB_SIG_DEMONITOR:
        mb_call_monitor_take(p, sig->ref);
        break;
    case MB_SIG_DOWN: {
        pthread_mutex_lock(&p->lock);
        found = mb_monvec_take(&p->monitors, sig->ref, NULL);
        pthread_mutex_unlock(&p->lock);
        if (!found) {
            /* Demonitored meanwhile; or a call's monitor (kept by the
             * server alone), whose call is over unless it awaits this ref. */
            mb_ref awaited = atomic_load_explicit(&p->await_ref, memory_order_relaxed);
            if (!awaited || sig->ref != awaited) break;
            if (sig->ref == p->call_ref) p->call_server = 0;   /* it fired: nothing to take away */
        }
        mb_small_term what = mb_small_id(MB_T_PID, sig->from);
        mb_msg *m = mb_down_message(sig->ref, what.b, what.n, sig->data, sig->len);
        if (!m) {
            fprintf(stderr, "moonbeam: out of memory delivering a DOWN; dropped\n");
            break;
        }
        mb_mailbox_count_in(p, m);
        if (!to_reply_slot(p, m)) mb_saveq_append(&p->save, m);
        added = 1;
        break;
    }
    }
    return added;
}

int mb_signal_drain_inbox(mb_proc *p) {
    int added = 0;
    mb_msg *m;
    while (!p->dying && (m = mb_inbox_pop(&p->inbox)) != NULL) {
        if (m->kind == MB_MSG_REPLY || m->kind == MB_MSG_DEADLOCK || m->kind == MB_MSG_DOWN ||
            m->kind == MB_MSG_CALL_DOWN) {
            if (to_reply_slot(p, m)) {
                added++;
                continue;
            }
        }
        if (m->kind == MB_MSG_DATA || m->kind == MB_MSG_SYSTEM || m->kind == MB_MSG_DOWN ||
            m->kind == MB_MSG_ALIASED || m->kind == MB_MSG_CODE) {
            if (m->call_monitor) record_call(p, m);
            mb_saveq_append(&p->save, m);
            added++;
            continue;
        }
        atomic_fetch_sub(&p->sig_pending, 1);
        added += handle_signal(p, m);
        if (m->ending) atomic_fetch_sub_explicit(&p->ending, 1, memory_order_relaxed);
        free(m);
    }
    if (p->max_queue) mb_mailbox_trim(p);   /* drop_old makes room here */
    return added;
}
