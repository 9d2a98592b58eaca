/* sup_requests.c: what a supervisor does with a message: the API's calls
 * (start_child, terminate_child, restart_child, delete_child,
 * which_children, count_children), the sys requests it answers, and its
 * children's EXIT and DOWN. The jobs they queue run in supervisor.c. */
#include "sup_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/mailbox_bounds.h"
#include "core/runtime.h"

/* ---- messages ----------------------------------------------------------- */

static void handle_request(sup *s, mb_pid to, mb_ref ref, mb_span req) {
    mb_span op, x;
    mb_term_index(req, 1, &op);
    bool has_x = mb_term_index(req, 2, &x);
    if (mb_term_is_str(op, "which_children")) {
        sup_encode_children(s, sup_out(s));
        sup_reply(s, to, ref, &s->out);
    } else if (mb_term_is_str(op, "count_children")) {
        sup_encode_counts(s, sup_out(s));
        sup_reply(s, to, ref, &s->out);
    } else if (mb_term_is_str(op, "start_child")) {
        /* {op, spec, arg, bad}: a table that looks like a spec comes
         * checked (spec, or false and bad, the client's bad_spec) and as it
         * was given (arg), which a simple_one_for_one takes as it is. */
        sup_child *c;
        mb_span arg, bad;
        if (s->strategy == ST_SIMPLE) {
            uint32_t running = 0;
            for (uint32_t k = 0; k < s->n; k++) running += s->kids[k]->pid != 0 || s->kids[k]->restarting;
            if (s->max_children != SUP_UNLIMITED && running >= (uint32_t)s->max_children)
                return sup_reply_err(s, to, ref, "max_children");
            if (mb_term_index(req, 3, &arg)) x = arg, has_x = true;
            if (has_x && s->tmpl->type == CT_PROCESS && mb_term_type(x) != MB_T_TABLE) {
                /* Its elements are appended to the template's args: a
                 * string or a number has none, and was dropped unseen. */
                mb_buf *b = sup_out(s);
                if (mb_put_table_head(b, 0, 1) || sup_put_reason(b, "err") || mb_put_tuple_head(b, 3) ||
                    sup_put_reason(b, "bad_spec") || sup_put_reason(b, "arg") ||
                    sup_put_reason(b, "must be a table of arguments for a process template"))
                    return sup_reply_err(s, to, ref, "bad_child_spec");
                return sup_reply(s, to, ref, b);
            }
            c = sup_child_from_template(s->tmpl, has_x ? x : (mb_span){NULL, 0});
        } else {
            char err[160];
            mb_span id;
            if (mb_term_index(req, 4, &bad)) {
                mb_buf *b = sup_out(s);
                if (mb_put_table_head(b, 0, 1) || sup_put_reason(b, "err") || mb_buf_put(b, bad.p, bad.n))
                    return sup_reply_err(s, to, ref, "bad_child_spec");
                return sup_reply(s, to, ref, b);
            }
            sup_child *old = has_x && mb_term_field(x, "id", &id) ? sup_by_id(s, id) : NULL;
            if (old && old->pid) {
                mb_buf *b = sup_out(s);
                mb_put_table_head(b, 0, 1);
                sup_put_reason(b, "err");
                mb_put_tuple_head(b, 2);
                sup_put_reason(b, "already_started");
                mb_put_id(b, MB_T_PID, old->pid);
                return sup_reply(s, to, ref, b);
            }
            if (old) return sup_reply_err(s, to, ref, "already_present");
            c = has_x ? sup_child_parse(x, err, sizeof err) : NULL;
        }
        if (!c || sup_add_child(s, c)) {
            sup_child_free(c);
            return sup_reply_err(s, to, ref, "bad_child_spec");
        }
        sup_job *j = sup_job_add(s, J_START, c);
        if (!j) return;
        j->purpose = P_REQUEST;
        j->to = to;
        j->ref = ref;
        mb_buf_byte(&j->data, 1);   /* marks "the spec came with this request" */
    } else if (mb_term_is_str(op, "terminate_child")) {
        uint64_t pid;
        sup_child *c;
        if (s->strategy == ST_SIMPLE) {
            /* By pid only; a pid already gone is fine (docs/reference.md, terminate_child). */
            if (mb_term_type(x) != MB_T_PID || !mb_term_id(x, &pid)) return sup_reply_err(s, to, ref, "simple_one_for_one");
            c = sup_by_pid(s, pid);
            if (!c && (c = sup_by_exited_pid(s, pid)) != NULL && !c->pid) {
                /* Waiting to restart, its start not begun: it goes now,
                 * and a start queued for it with it (sup_remove_child). */
                sup_remove_child(s, c);
                return sup_reply_true(s, to, ref);
            }
            if (!c && !mb_proctab_alive(&s->p->rt->procs, pid)) return sup_reply_true(s, to, ref);
        } else {
            c = sup_by_id(s, x);
        }
        if (!c) return sup_reply_err(s, to, ref, "not_found");
        c->restarting = false;
        sup_job_add(s, J_STOP, c);
        if (s->strategy == ST_SIMPLE || c->restart == R_TEMPORARY) sup_job_add(s, J_REMOVE, c);
        sup_job *r = sup_job_add(s, J_REPLY, NULL);
        if (r) {
            r->to = to;
            r->ref = ref;
            mb_put_bool(&r->data, true);
        }
    } else if (mb_term_is_str(op, "restart_child") || mb_term_is_str(op, "delete_child")) {
        bool restart = mb_term_is_str(op, "restart_child");
        if (s->strategy == ST_SIMPLE) return sup_reply_err(s, to, ref, "simple_one_for_one");
        sup_child *c = sup_by_id(s, x);
        if (!c) return sup_reply_err(s, to, ref, "not_found");
        if (c->pid) return sup_reply_err(s, to, ref, "running");
        if (c->restarting) return sup_reply_err(s, to, ref, "restarting");
        if (!restart) {
            sup_remove_child(s, c);
            return sup_reply_true(s, to, ref);
        }
        sup_job *j = sup_job_add(s, J_START, c);
        if (!j) return;
        j->purpose = P_REQUEST;
        j->to = to;
        j->ref = ref;
    } else {
        sup_reply_err(s, to, ref, "unknown_request");
    }
}

static void handle_sys(sup *s, mb_pid to, mb_ref ref, mb_span req) {
    mb_span op, reason;
    mb_term_index(req, 1, &op);
    if (mb_term_is_str(op, "stop") && mb_term_index(req, 2, &reason)) {
        sup_shut_down(s, reason.p, reason.n);
    } else if (mb_term_is_str(op, "get_state")) {
        sup_encode_children(s, sup_out(s));
        sup_reply(s, to, ref, &s->out);
    } else if (mb_term_is_str(op, "get_status")) {
        mb_buf *b = sup_out(s);
        mb_put_table_head(b, 0, 5);
        sup_put_reason(b, "pid");
        mb_put_id(b, MB_T_PID, s->p->pid);
        sup_put_reason(b, "module");
        sup_put_reason(b, "supervisor");
        sup_put_reason(b, "status");
        sup_put_reason(b, "running");
        sup_put_reason(b, "message_queue_len");
        mb_put_number(b, mb_mailbox_len(s->p));
        sup_put_reason(b, "state");
        sup_encode_children(s, b);
        sup_reply(s, to, ref, b);
    } else {
        sup_reply_err(s, to, ref, "unknown system request");
    }
}

void sup_handle(sup *s, mb_span t) {
    mb_span tag, a, b;
    uint64_t pid, ref;
    if (!mb_term_index(t, 1, &tag)) return;
    bool two = mb_term_index(t, 2, &a) && mb_term_index(t, 3, &b);
    if (mb_term_is_str(tag, "EXIT") && two && mb_term_id(a, &pid)) {
        if (s->parent && pid == s->parent) return sup_shut_down(s, b.p, b.n);
        sup_child *c = sup_by_pid(s, pid);
        if (c) sup_child_exited(s, c, b);
    } else if (mb_term_is_str(tag, "$gen_start") && two && mb_term_id(a, &ref) && mb_term_id(b, &pid)) {
        s->started = true;
        s->starter = pid;
        s->start_ref = ref;
        if (s->link) s->parent = pid;
        for (uint32_t k = 0; k < s->n; k++) {
            sup_job *j = sup_job_add(s, J_START, s->kids[k]);
            if (j) j->purpose = P_INIT;
        }
        sup_job_add(s, J_ACK, NULL);
    } else if ((mb_term_is_str(tag, "$gen_call") || mb_term_is_str(tag, "$gen_sys")) && two) {
        mb_span from_pid, from_ref;
        if (!mb_term_index(a, 1, &from_pid) || !mb_term_id(from_pid, &pid) ||
            !mb_term_index(a, 2, &from_ref) || !mb_term_id(from_ref, &ref))
            return;
        if (mb_term_is_str(tag, "$gen_call")) handle_request(s, pid, ref, b);
        else handle_sys(s, pid, ref, b);
    }
}
