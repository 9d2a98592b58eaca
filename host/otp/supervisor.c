/* supervisor.c: OTP's supervisor as a native process (see supervisor.h).
 *
 * Work that takes several steps (start a child and await its ack; stop a
 * child: "shutdown", await its DOWN, kill after the timeout) is a queue of
 * jobs run in order; while a job waits, the supervisor waits with it, and
 * the mailbox keeps its order for later. When no job is pending, messages
 * are handled one by one: a child's EXIT (restart matrix, intensity,
 * strategy, backoff), the parent's EXIT, calls, and the sys stop request. */
#include "sup_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/call.h"
#include "core/log_format.h"
#include "core/term.h"
#include "core/term_text.h"
#include "core/mailbox_bounds.h"
#include "core/runtime.h"
#include "core/signal.h"

enum { JOB_DONE, JOB_WAIT, JOB_EXIT };

static const mb_kind sup_kind;

/* ---- small helpers ----------------------------------------------------- */

sup_job *sup_job_add(sup *s, sup_job_kind kind, sup_child *c) {
    sup_job *j = calloc(1, sizeof *j);
    if (!j) {
        fprintf(stderr, "moonbeam: supervisor %s: out of memory queueing work\n", s->path);
        return NULL;
    }
    j->kind = kind;
    j->c = c;
    if (s->jobs_tail) s->jobs_tail->next = j;
    else s->jobs = j;
    s->jobs_tail = j;
    return j;
}

static void job_free(sup_job *j);

static void job_pop(sup *s) {
    sup_job *j = s->jobs;
    s->jobs = j->next;
    if (!s->jobs) s->jobs_tail = NULL;
    job_free(j);
}

static void job_free(sup_job *j) {
    mb_buf_free(&j->data);
    free(j);
}

/* Drop every queued job. The one running now (it may be what decided to
 * clear) is only detached: sup_run frees it when it returns. */
static void jobs_clear(sup *s) {
    sup_job *j = s->jobs;
    while (j) {
        sup_job *next = j->next;
        if (j == s->running) s->running_detached = true;
        else job_free(j);
        j = next;
    }
    s->jobs = s->jobs_tail = NULL;
}

int sup_add_child(sup *s, sup_child *c) {
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 4;
        sup_child **k = realloc(s->kids, cap * sizeof *k);
        if (!k) return -1;
        s->kids = k;
        s->cap = cap;
    }
    c->seq = ++s->seq;
    s->kids[s->n++] = c;
    return 0;
}

static int index_of(sup *s, sup_child *c) {
    for (uint32_t k = 0; k < s->n; k++)
        if (s->kids[k] == c) return (int)k;
    return -1;
}

void sup_remove_child(sup *s, sup_child *c) {
    int k = index_of(s, c);
    if (k < 0) return;
    memmove(&s->kids[k], &s->kids[k + 1], (s->n - (uint32_t)k - 1) * sizeof *s->kids);
    s->n--;
    for (sup_job *j = s->jobs; j; j = j->next)
        if (j->c == c) j->c = NULL;
    sup_child_free(c);
}

sup_child *sup_by_pid(sup *s, mb_pid pid) {
    for (uint32_t k = 0; k < s->n; k++)
        if (s->kids[k]->pid == pid) return s->kids[k];
    return NULL;
}

sup_child *sup_by_exited_pid(sup *s, mb_pid pid) {
    for (uint32_t k = 0; k < s->n; k++)
        if (s->kids[k]->restarting && s->kids[k]->exited_pid == pid) return s->kids[k];
    return NULL;
}

sup_child *sup_by_id(sup *s, mb_span id) {
    const char *str;
    size_t n;
    if (!mb_term_str(id, &str, &n)) return NULL;
    for (uint32_t k = 0; k < s->n; k++)
        if (strlen(s->kids[k]->id) == n && memcmp(s->kids[k]->id, str, n) == 0) return s->kids[k];
    return NULL;
}

static void signal_exit(sup *s, mb_pid to, const char *reason) {
    mb_small_term r = mb_small_str(reason);
    mb_send_exit(s->p->rt, s->p->sched, s->p->pid, to, r.b, r.n);
}

/* Queue a reply (an encoded value) for a call from {to, ref}. */
void sup_reply(sup *s, mb_pid to, mb_ref ref, const mb_buf *value) {
    mb_buf b;
    mb_buf_init(&b);
    if (mb_buf_varint(&b, 1) || mb_buf_put(&b, value->p, value->len) ||
        mb_call_reply(s->p->rt, s->p->sched, to, ref, b.p, b.len))
        fprintf(stderr, "moonbeam: supervisor %s: out of memory replying\n", s->path);
    mb_buf_free(&b);
}

/* {err = reason} or {ok = pid} or true, in s->out. */
mb_buf *sup_out(sup *s) {
    s->out.len = 0;
    return &s->out;
}

void sup_reply_err(sup *s, mb_pid to, mb_ref ref, const char *why) {
    mb_buf *b = sup_out(s);
    mb_put_table_head(b, 0, 1);
    sup_put_reason(b, "err");
    sup_put_reason(b, why);
    sup_reply(s, to, ref, b);
}

void sup_reply_true(sup *s, mb_pid to, mb_ref ref) {
    mb_buf *b = sup_out(s);
    mb_put_bool(b, true);
    sup_reply(s, to, ref, b);
}

static bool reason_is_normal(mb_span r) { return mb_term_is_str(r, "normal"); }

/* "shutdown" or {"shutdown", detail}: OTP's shutdown and {shutdown, _},
 * a pair only. */
static bool reason_is_shutdown(mb_span r) {
    mb_span first;
    return mb_term_is_str(r, "shutdown") ||
           (mb_term_len(r) == 2 && mb_term_index(r, 1, &first) && mb_term_is_str(first, "shutdown"));
}

/* A short text for a reason in reports: a string, a table's first two
 * strings, a failed start's child and error, any other value as its text
 * (term_text.h); nested reasons
 * ({"shutdown", {"failed_to_start_child", id, r}}) as far as buf goes. */
static void describe(mb_span r, char *buf, size_t n) {
    const char *a, *b;
    size_t al, bl;
    mb_span x, y, z;
    if (mb_term_str(r, &a, &al)) {
        snprintf(buf, n, "%.*s", (int)(al < 200 ? al : 200), a);
        return;
    }
    if (!mb_term_index(r, 1, &x) || !mb_term_str(x, &a, &al)) {
        mb_term_text(r, buf, n);
        return;
    }
    int k = -1;
    if (mb_term_is_str(x, "failed_to_start_child") && mb_term_index(r, 2, &y) && mb_term_str(y, &b, &bl) &&
        mb_term_index(r, 3, &z)) {
        k = snprintf(buf, n, "child '%.*s' failed to start: ", (int)(bl < 60 ? bl : 60), b);
    } else if (mb_term_index(r, 2, &z) && mb_term_str(z, &b, &bl)) {
        snprintf(buf, n, "%.*s: %.*s", (int)(al < 60 ? al : 60), a, (int)(bl < 200 ? bl : 200), b);
        return;
    } else if (mb_term_index(r, 2, &z) && mb_term_type(z) == MB_T_TABLE) {
        k = snprintf(buf, n, "%.*s: ", (int)(al < 60 ? al : 60), a);
    } else {
        snprintf(buf, n, "%.*s", (int)(al < 60 ? al : 60), a);
        return;
    }
    if (k >= 0 && (size_t)k < n) describe(z, buf + k, n - (size_t)k);
}

/* ---- shutting down ------------------------------------------------------ */

/* Static children stop one at a time, newest first; dynamic ones all at
 * once under one timer (docs/semantics.md, "Supervisors", "Shutdown"). */
static void stop_all(sup *s) {
    if (s->strategy == ST_SIMPLE) {
        sup_job_add(s, J_STOP_DYNAMIC, NULL);
        return;
    }
    for (uint32_t k = s->n; k-- > 0;)
        if (s->kids[k]->pid) sup_job_add(s, J_STOP, s->kids[k]);
}

static void exit_with(sup *s, const uint8_t *reason, size_t len) {
    sup_job *j = sup_job_add(s, J_EXIT, NULL);
    if (j) mb_buf_put(&j->data, reason, len);
}

void sup_shut_down(sup *s, const uint8_t *reason, size_t len) {
    jobs_clear(s);
    stop_all(s);
    exit_with(s, reason, len);
}

/* The report, as a log event of level error (host/core/logger.h): its
 * line as it always read, and for JSON handlers its parts as fields. */
static void report_give_up(sup *s, sup_child *c, mb_span reason) {
    char why[300], msg[1024], restarts[32], period[32];
    describe(reason, why, sizeof why);
    snprintf(restarts, sizeof restarts, "%d", s->intensity);
    snprintf(period, sizeof period, "%.0f", s->period);
    int n = snprintf(msg, sizeof msg,
                     "=SUPERVISOR REPORT==== %s gave up: child '%s' needed more than %s restarts "
                     "in %s ms; last exit: %s. Shutting down %s and its children.",
                     s->path, c->id, restarts, period, why, s->path);
    const char *kv[] = {"report", "supervisor", "supervisor", s->path, "child", c->id, "intensity", restarts,
                        "period_ms", period, "last_exit", why};
    mb_buf f;
    mb_buf_init(&f);
    int bad = mb_json_object(&f, kv, 6);
    mb_log_event ev = {.level = MB_LOG_ERROR, .pid = s->p->pid, .msg = msg,
                       .msg_len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1,
                       .fields = bad ? NULL : (const char *)f.p, .fields_len = bad ? 0 : f.len};
    mb_log(s->p->rt, &ev);
    mb_buf_free(&f);
}

static void give_up(sup *s, sup_child *c, mb_span reason) {
    /* One report for a chain: a supervisor whose child supervisor gave up
     * (it exits "shutdown") stays quiet; the deepest one names the chain. */
    bool child_gave_up = c->type == CT_SUPERVISOR && mb_term_is_str(reason, "shutdown");
    if (s->p->rt->crash_log && !child_gave_up) report_give_up(s, c, reason);
    mb_small_term shutdown = mb_small_str("shutdown");
    sup_shut_down(s, shutdown.b, shutdown.n);
}

/* ---- restarts ----------------------------------------------------------- */

/* Record a restart; false when that makes more than intensity in period. */
static bool within_intensity(sup *s) {
    if (s->intensity == SUP_UNLIMITED) return true;   /* nothing to count */
    double now = mb_now_ms();
    uint32_t keep = 0;
    for (uint32_t i = 0; i < s->nrestarts; i++)
        if (now - s->restarts[i] <= s->period) s->restarts[keep++] = s->restarts[i];
    s->nrestarts = keep;
    if (s->nrestarts == s->rcap) {
        uint32_t cap = s->rcap ? s->rcap * 2 : 8;
        double *r = realloc(s->restarts, cap * sizeof *r);
        if (!r) return false;
        s->restarts = r;
        s->rcap = cap;
    }
    s->restarts[s->nrestarts++] = now;
    return s->nrestarts <= (uint32_t)s->intensity;
}

static double backoff(sup *s, sup_child *c) {
    if (c->bo_initial <= 0) return 0;
    if (mb_now_ms() - c->started_at > s->period) c->bo_count = 0;   /* it ran well: start over */
    double d = c->bo_initial * pow(c->bo_factor > 1 ? c->bo_factor : 1, c->bo_count++);
    return d < c->bo_max ? d : c->bo_max;
}

static void schedule(sup *s, sup_child *c, double delay) {
    if (delay <= 0 && !s->retrying) {
        sup_job *j = sup_job_add(s, J_START, c);
        if (j) j->purpose = P_RESTART;
        return;
    }
    c->restarting = true;
    c->restart_at = mb_now_ms() + delay;
}

/* Drop the queued restarts of the children from index from on: a group
 * restart that a member's failed start begins again supersedes them (the
 * children are scheduled anew, in start order), so none of those after the
 * failed one starts while it is down, as OTP's start stops at a failure. */
static void drop_group_starts(sup *s, uint32_t from) {
    sup_job *prev = NULL, *j = s->jobs;
    while (j) {
        sup_job *next = j->next;
        int at = j->c ? index_of(s, j->c) : -1;
        if (j != s->running && j->kind == J_START && j->purpose == P_RESTART && at >= (int)from) {
            if (prev) prev->next = next;
            else s->jobs = next;
            if (s->jobs_tail == j) s->jobs_tail = prev;
            job_free(j);
        } else {
            prev = j;
        }
        j = next;
    }
}

void sup_child_exited(sup *s, sup_child *c, mb_span reason) {
    if (c->pid) c->exited_pid = c->pid;   /* a failed restart (pid 0) keeps the one before */
    c->pid = 0;
    bool quiet = reason_is_normal(reason) || reason_is_shutdown(reason);
    if (c->restart == R_TEMPORARY || (c->restart == R_TRANSIENT && quiet)) {
        if (c->restart == R_TEMPORARY || s->strategy == ST_SIMPLE) sup_remove_child(s, c);
        return;
    }
    if (!within_intensity(s)) {
        give_up(s, c, reason);
        return;
    }
    double delay = backoff(s, c);
    int at = index_of(s, c);
    switch (s->strategy) {
    case ST_ONE_FOR_ALL:
    case ST_REST_FOR_ONE: {
        uint32_t from = s->strategy == ST_ONE_FOR_ALL ? 0 : (uint32_t)at;
        drop_group_starts(s, from);
        for (uint32_t k = s->n; k-- > from;)
            if (s->kids[k]->pid) sup_job_add(s, J_STOP, s->kids[k]);
        for (uint32_t k = from; k < s->n; k++) {
            sup_child *o = s->kids[k];
            if (o->restart == R_TEMPORARY && o != c) sup_job_add(s, J_REMOVE, o);   /* bystander */
            else schedule(s, o, delay);
        }
        break;
    }
    default:
        schedule(s, c, delay);
    }
}

/* ---- jobs ------------------------------------------------------------- */

/* How a child's start ended, from what came back for it. */
typedef enum start_outcome {
    START_MALFORMED = -1,   /* not an ack we know */
    START_FAILED,           /* {"stop", reason}, or it died: the reason is in r */
    START_OK,
    START_IGNORED,          /* its init returned "ignore" */
    START_CALLED_US,        /* it called its supervisor from init: told it is a deadlock */
} start_outcome;

static start_outcome outcome_of(mb_msg *m, mb_span *r) {
    mb_span v, tag;
    const uint8_t *p = m->data, *end = m->data + m->len;
    if (m->kind == MB_MSG_DEADLOCK) return START_CALLED_US;
    if (m->kind == MB_MSG_REPLY) {
        uint64_t count;   /* the reply is a list of one */
        if (mb_term_list(p, end, &count, &p) || mb_term_first(p, end, &v) || !mb_term_index(v, 1, &tag))
            return START_MALFORMED;
        if (mb_term_is_str(tag, "ok")) return START_OK;
        if (mb_term_is_str(tag, "ignore")) return START_IGNORED;
        return mb_term_index(v, 2, r) ? START_FAILED : START_MALFORMED;
    }
    if (mb_term_first(p, end, &v) || !mb_term_index(v, 5, r)) return START_MALFORMED;   /* DOWN */
    return START_FAILED;
}

static void start_failed(sup *s, sup_job *j, mb_span reason) {
    sup_child *c = j->c;
    c->pid = 0;
    if (j->purpose == P_INIT) {
        /* {"failed_to_start_child", id, reason}: the ack; the exit wraps it in shutdown */
        mb_buf b;
        mb_buf_init(&b);
        mb_put_tuple_head(&b, 3);
        sup_put_reason(&b, "failed_to_start_child");
        sup_put_reason(&b, c->id);
        mb_buf_put(&b, reason.p, reason.n);
        jobs_clear(s);
        stop_all(s);
        sup_job *ack = sup_job_add(s, J_ACK, NULL);
        if (ack) mb_buf_put(&ack->data, b.p, b.len);
        mb_buf w;
        mb_buf_init(&w);
        mb_put_tuple_head(&w, 2);
        sup_put_reason(&w, "shutdown");
        mb_buf_put(&w, b.p, b.len);
        exit_with(s, w.p, w.len);
        mb_buf_free(&w);
        mb_buf_free(&b);
    } else if (j->purpose == P_REQUEST) {
        mb_buf *b = sup_out(s);
        mb_put_table_head(b, 0, 1);
        sup_put_reason(b, "err");
        mb_buf_put(b, reason.p, reason.n);
        sup_reply(s, j->to, j->ref, b);
        if (j->data.len) sup_remove_child(s, c);   /* start_child: the spec goes too */
    } else {
        /* A failed restart counts as another exit; the retry waits its turn
         * behind the mailbox, so the supervisor keeps answering. */
        s->retrying = true;
        sup_child_exited(s, c, reason);
        s->retrying = false;
    }
}

static void start_ok(sup *s, sup_job *j) {
    sup_child *c = j->c;
    c->restarting = false;
    if (j->purpose != P_REQUEST) return;
    mb_buf *b = sup_out(s);
    mb_put_table_head(b, 0, 1);
    sup_put_reason(b, "ok");
    if (c->pid) mb_put_id(b, MB_T_PID, c->pid);
    else sup_put_reason(b, "ignore");
    sup_reply(s, j->to, j->ref, b);
}

static int job_start(sup *s, sup_job *j) {
    mb_proc *p = s->p;
    sup_child *c = j->c;
    if (!c) return JOB_DONE;
    if (j->phase == PHASE_NEW) {
        mb_ref ack;
        mb_buf reason;
        mb_buf_init(&reason);
        int rc = sup_child_spawn(s, c, &ack, &reason);
        if (rc == 0) start_ok(s, j);
        if (rc == -1) {
            mb_span r;
            if (mb_term_first(reason.p, reason.p + reason.len, &r) == 0) start_failed(s, j, r);
        }
        mb_buf_free(&reason);
        if (rc != 1) return JOB_DONE;
        mb_pid chain[MB_MAX_CHAIN];
        mb_call_begin(p, c->pid, ack, chain);
        j->wait_ref = ack;
        j->phase = PHASE_WAITING;
        if (sup_child_go(s, c, ack)) {   /* no memory: the child never starts */
            mb_call_end(p);
            mb_demonitor(p, ack, 1);
            mb_unlink(p, c->pid);
            signal_exit(s, c->pid, "kill");
            mb_small_term nomem = mb_small_str("no_memory");
            start_failed(s, j, (mb_span){nomem.b, nomem.n});
            return JOB_DONE;
        }
    }
    mb_signal_drain(p);
    for (mb_msg *m; (m = p->replies.head) != NULL;) {
        mb_saveq_remove(&p->replies, NULL, m);
        mb_span reason = {NULL, 0};
        start_outcome outcome = outcome_of(m, &reason);
        if (outcome == START_CALLED_US) {   /* it was told */
            free(m);
            continue;
        }
        mb_call_end(p);
        if (outcome == START_OK || outcome == START_IGNORED) {
            mb_demonitor(p, j->wait_ref, 1);
            if (outcome == START_IGNORED) {   /* kept, not running; a temporary or dynamic one goes */
                mb_unlink(p, c->pid);
                c->pid = 0;
            }
            start_ok(s, j);
            if (outcome == START_IGNORED && (c->restart == R_TEMPORARY || s->strategy == ST_SIMPLE))
                sup_remove_child(s, c);
        } else {
            mb_demonitor(p, j->wait_ref, 1);
            mb_small_term unknown = mb_small_str("unknown");
            mb_span dflt = {unknown.b, unknown.n};
            start_failed(s, j, outcome == START_FAILED ? reason : dflt);
        }
        free(m);
        return JOB_DONE;
    }
    return JOB_WAIT;
}

static bool is_exit_from(const mb_msg *m, void *pid) {
    mb_span t, tag, from;
    uint64_t id;
    return mb_term_first(m->data, m->data + m->len, &t) == 0 && mb_term_index(t, 1, &tag) &&
           mb_term_is_str(tag, "EXIT") && mb_term_index(t, 2, &from) && mb_term_id(from, &id) &&
           id == *(mb_pid *)pid;
}

/* Drop an EXIT from pid still queued (it died before we unlinked). */
static void flush_exit(mb_proc *p, mb_pid pid) {
    mb_mailbox_drop(p, is_exit_from, &pid, false);
}

static int job_stop(sup *s, sup_job *j) {
    mb_proc *p = s->p;
    sup_child *c = j->c;
    if (!c || !c->pid) return JOB_DONE;
    if (j->phase == PHASE_NEW) {
        /* Monitor, unlink, then ask: a child that ignores "shutdown" is
         * killed when its time is up. */
        j->wait_ref = mb_make_ref(p->rt);
        mb_small_term what = mb_small_id(MB_T_PID, c->pid);
        mb_pid chain[MB_MAX_CHAIN];
        mb_call_begin(p, c->pid, j->wait_ref, chain);
        mb_monitor(p, c->pid, j->wait_ref, what.b, what.n);
        mb_unlink(p, c->pid);
        signal_exit(s, c->pid, c->shutdown == SHUT_BRUTAL ? "kill" : "shutdown");
        j->deadline = c->shutdown >= 0 ? mb_now_ms() + c->shutdown : -1;
        j->phase = PHASE_WAITING;
    }
    mb_signal_drain(p);
    for (mb_msg *m; (m = p->replies.head) != NULL;) {
        mb_saveq_remove(&p->replies, NULL, m);
        bool down = m->kind == MB_MSG_DOWN;
        free(m);
        if (!down) continue;
        mb_call_end(p);
        flush_exit(p, c->pid);
        c->pid = 0;
        return JOB_DONE;
    }
    if (j->phase == PHASE_WAITING && j->deadline >= 0 && mb_now_ms() >= j->deadline) {
        signal_exit(s, c->pid, "kill");
        j->phase = PHASE_KILLED;
    }
    p->wait_deadline = j->phase == PHASE_WAITING ? j->deadline : -1;
    return JOB_WAIT;
}

/* A DOWN for one of the group's monitors: that child is gone. */
static bool group_down(const mb_msg *m, void *ud) {
    sup *s = ud;
    if (m->kind != MB_MSG_DOWN) return false;
    for (uint32_t k = 0; k < s->n; k++) {
        sup_child *c = s->kids[k];
        if (c->pid && c->stop_ref == m->ref) {
            c->stopped_pid = c->pid;   /* its EXIT is flushed after this walk */
            c->pid = 0;
            return true;
        }
    }
    return false;
}

static int job_stop_dynamic(sup *s, sup_job *j) {
    mb_proc *p = s->p;
    double shutdown = s->tmpl ? s->tmpl->shutdown : 5000;
    if (j->phase == PHASE_NEW) {
        for (uint32_t k = 0; k < s->n; k++) {
            sup_child *c = s->kids[k];
            if (!c->pid) continue;
            c->stop_ref = mb_make_ref(p->rt);
            mb_small_term what = mb_small_id(MB_T_PID, c->pid);
            mb_monitor(p, c->pid, c->stop_ref, what.b, what.n);
            mb_unlink(p, c->pid);
            signal_exit(s, c->pid, shutdown == SHUT_BRUTAL ? "kill" : "shutdown");
        }
        j->deadline = shutdown >= 0 ? mb_now_ms() + shutdown : -1;
        j->phase = PHASE_WAITING;
    }
    mb_signal_drain(p);
    mb_mailbox_drop(p, group_down, s, true);
    for (uint32_t k = 0; k < s->n; k++) {
        if (!s->kids[k]->stopped_pid) continue;
        flush_exit(p, s->kids[k]->stopped_pid);
        s->kids[k]->stopped_pid = 0;
    }
    bool left = false;
    for (uint32_t k = 0; k < s->n && !left; k++) left = s->kids[k]->pid != 0;
    if (!left) return JOB_DONE;
    if (j->phase == PHASE_WAITING && j->deadline >= 0 && mb_now_ms() >= j->deadline) {
        for (uint32_t k = 0; k < s->n; k++)
            if (s->kids[k]->pid) signal_exit(s, s->kids[k]->pid, "kill");
        j->phase = PHASE_KILLED;
    }
    p->wait_deadline = j->phase == PHASE_WAITING ? j->deadline : -1;
    return JOB_WAIT;
}

static int run_job(sup *s, sup_job *j) {
    mb_proc *p = s->p;
    p->wait_deadline = -1;
    switch (j->kind) {
    case J_START: return job_start(s, j);
    case J_STOP: return job_stop(s, j);
    case J_STOP_DYNAMIC: return job_stop_dynamic(s, j);
    case J_REMOVE:
        if (j->c) sup_remove_child(s, j->c);
        return JOB_DONE;
    case J_REPLY:
        sup_reply(s, j->to, j->ref, &j->data);
        return JOB_DONE;
    case J_ACK: {
        /* To whoever started us: {"ok"}, or {"stop", reason} before we exit. */
        j->to = s->starter;
        j->ref = s->start_ref;
        mb_buf *b = sup_out(s);
        if (j->data.len) {
            mb_put_tuple_head(b, 2);
            sup_put_reason(b, "stop");
            mb_buf_put(b, j->data.p, j->data.len);
        } else {
            mb_put_tuple_head(b, 1);
            sup_put_reason(b, "ok");
        }
        sup_reply(s, j->to, j->ref, b);
        return JOB_DONE;
    }
    case J_EXIT:
        p->exit_reason.len = 0;
        mb_buf_put(&p->exit_reason, j->data.p, j->data.len);
        p->dying = true;
        return JOB_EXIT;
    }
    return JOB_DONE;
}

/* Before $gen_start, only that message is taken; the rest keep waiting. */
static mb_msg *next_message(sup *s, mb_msg **prev_out) {
    mb_msg *prev = NULL;
    for (mb_msg *m = s->p->save.head; m; prev = m, m = atomic_load_explicit(&m->next, memory_order_relaxed)) {
        mb_span t, tag;
        if (!s->started && (mb_term_first(m->data, m->data + m->len, &t) || !mb_term_index(t, 1, &tag) ||
                            !mb_term_is_str(tag, "$gen_start")))
            continue;
        *prev_out = prev;
        return m;
    }
    return NULL;
}

/* Due delayed restarts become start jobs, in start order; returns the next
 * due time still ahead (or -1). */
static double due_restarts(sup *s) {
    double now = mb_now_ms(), next = -1;
    for (uint32_t k = 0; k < s->n; k++) {
        sup_child *c = s->kids[k];
        if (!c->restarting) continue;
        if (c->restart_at <= now) {
            c->restarting = false;
            sup_job *j = sup_job_add(s, J_START, c);
            if (j) j->purpose = P_RESTART;
            c->restarting = true;   /* still shown as restarting until it runs */
        } else if (next < 0 || c->restart_at < next) {
            next = c->restart_at;
        }
    }
    return next;
}

static void sup_run(mb_proc *p) {
    sup *s = p->state;
    if (p->yield == MB_YIELD_WAIT) mb_proc_wait_timed_out(p);
    p->yield = MB_YIELD_NONE;
    mb_signal_drain(p);
    for (int budget = 256; budget > 0; budget--) {
        if (p->dying) {
            p->yield = MB_YIELD_EXIT;
            return;
        }
        if (s->jobs) {
            sup_job *j = s->jobs;
            s->running = j;
            s->running_detached = false;
            int r = run_job(s, j);
            s->running = NULL;
            if (s->running_detached) job_free(j);   /* cleared while it ran */
            else if (r != JOB_WAIT) job_pop(s);
            if (r == JOB_WAIT && !s->running_detached) {
                p->yield = MB_YIELD_WAIT;
                return;
            }
            if (r == JOB_EXIT) {
                p->yield = MB_YIELD_EXIT;
                return;
            }
            continue;
        }
        /* Due restarts and messages take turns, so a child that keeps
         * failing to start never keeps calls waiting. */
        double next = -1;
        if (s->started && s->restarts_first) {
            next = due_restarts(s);
            s->restarts_first = false;
            if (s->jobs) continue;
        }
        mb_msg *prev, *m = next_message(s, &prev);
        if (!m) {
            next = s->started ? due_restarts(s) : -1;
            if (s->jobs) continue;
            p->wait_deadline = next;
            p->yield = MB_YIELD_WAIT;
            return;
        }
        s->restarts_first = true;
        mb_saveq_remove(&p->save, prev, m);
        mb_mailbox_taken(p, m);
        mb_span t;
        if (mb_term_first(m->data, m->data + m->len, &t) == 0 && mb_term_type(t) == MB_T_TABLE) sup_handle(s, t);
        free(m);
        mb_signal_drain(p);
    }
    p->yield = MB_YIELD_RESCHED;
}

static void sup_close(mb_proc *p) {
    sup *s = p->state;
    if (!s) return;
    jobs_clear(s);
    for (uint32_t k = 0; k < s->n; k++) sup_child_free(s->kids[k]);
    sup_child_free(s->tmpl);
    free(s->kids);
    free(s->restarts);
    free(s->path);
    free(s->worker_target);
    mb_buf_free(&s->out);
    free(s);
    p->state = NULL;
}

static const mb_kind sup_kind = {.name = "supervisor", .run = sup_run, .close = sup_close};

/* ---- creation ----------------------------------------------------------- */

/* A count (intensity, max_children): an integer 0 <= n <= 2^31-1, or
 * math.huge for SUP_UNLIMITED. False when it is neither, or absent. */
static bool count_field(mb_span t, const char *k, int *out) {
    double x;
    if (!sup_field_num(t, k, &x)) return false;
    if (x == HUGE_VAL) {
        *out = SUP_UNLIMITED;
        return true;
    }
    if (!(x >= 0 && x <= 2147483647.0) || x != floor(x)) return false;
    *out = (int)x;
    return true;
}

mb_proc *mb_sup_new(mb_runtime *rt, const uint8_t *spec, size_t len, bool link,
                    const char *path, const char *worker_target, char *err, size_t errlen) {
    mb_span t, v;
    if (mb_term_first(spec, spec + len, &t) || mb_term_type(t) != MB_T_TABLE) {
        snprintf(err, errlen, "a supervisor spec must be a table");
        return NULL;
    }
    sup *s = calloc(1, sizeof *s);
    mb_proc *p = mb_proc_new(rt);
    if (!s || !p || !(s->path = strdup(path)) || !(s->worker_target = strdup(worker_target)) ||
        !(p->target = strdup("supervisor"))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->p = p;
    s->link = link;
    if ((s->strategy = sup_field_choice(t, "strategy", sup_strategy_names)) < 0) {
        snprintf(err, errlen, "strategy must be one_for_one, one_for_all, rest_for_one or simple_one_for_one");
        goto fail;
    }
    if (!count_field(t, "intensity", &s->intensity)) {
        snprintf(err, errlen, "intensity must be an integer from 0 to 2^31-1, or math.huge");
        goto fail;
    }
    if (!count_field(t, "max_children", &s->max_children)) {
        snprintf(err, errlen, "max_children must be an integer from 0 to 2^31-1, or math.huge");
        goto fail;
    }
    double x;
    if (!(sup_field_num(t, "period", &x) && x > 0)) {
        snprintf(err, errlen, "period must be a number of ms > 0");
        goto fail;
    }
    s->period = x;
    mb_span kids;
    uint32_t n = mb_term_field(t, "children", &kids) ? mb_term_len(kids) : 0;
    for (uint32_t i = 1; i <= n; i++) {
        mb_term_index(kids, i, &v);
        sup_child *c = sup_child_parse(v, err, errlen);
        if (!c) goto fail;
        if (s->strategy == ST_SIMPLE) {
            s->tmpl = c;
            break;
        }
        if (sup_add_child(s, c)) {
            sup_child_free(c);
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    p->kind = &sup_kind;
    p->state = s;
    atomic_store(&p->trap_exit, true);
    return p;
fail:
    if (s) {
        for (uint32_t k = 0; k < s->n; k++) sup_child_free(s->kids[k]);
        sup_child_free(s->tmpl);
        free(s->kids);
        free(s->path);
        free(s->worker_target);
        free(s);
    }
    if (p) mb_proc_free(p);
    return NULL;
}
