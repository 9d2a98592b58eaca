/* sup_child.c: a supervisor's children: reading their specs, spawning
 * them, and describing them (which_children, count_children). */
#include "sup_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/term.h"
#include "core/runtime.h"
#include "core/names.h"
#include "core/spawn.h"


int sup_put_reason(mb_buf *b, const char *s) { return mb_put_string(b, s, strlen(s)); }

const char *const sup_strategy_names[] = {"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one", NULL};
const char *const sup_type_names[] = {"worker", "process", "supervisor", NULL};
const char *const sup_restart_names[] = {"permanent", "transient", "temporary", NULL};

int sup_field_choice(mb_span t, const char *k, const char *const *names) {
    mb_span v;
    if (!mb_term_field(t, k, &v)) return -1;
    for (int i = 0; names[i]; i++)
        if (mb_term_is_str(v, names[i])) return i;
    return -1;
}

bool sup_field_num(mb_span t, const char *k, double *x) {
    mb_span v;
    return mb_term_field(t, k, &v) && mb_term_num(v, x);
}

static int copy_span(mb_buf *b, mb_span v) { return mb_buf_put(b, v.p, v.n); }

/* {"via", registry name, key}: what moonbeam.registry reads as a via name. */
static bool is_via(mb_span v) {
    mb_span tag, reg, key;
    const char *s;
    size_t n;
    return mb_term_len(v) == 3 && mb_term_index(v, 1, &tag) && mb_term_is_str(tag, "via") &&
           mb_term_index(v, 2, &reg) && mb_term_str(reg, &s, &n) && n > 0 && mb_term_index(v, 3, &key);
}

sup_child *sup_child_parse(mb_span spec, char *err, size_t errlen) {
    sup_child *c = calloc(1, sizeof *c);
    mb_span v;
    if (!c) goto oom;
    if (!mb_term_field(spec, "id", &v) || !(c->id = mb_term_strdup(v))) {
        snprintf(err, errlen, "a child spec without a string id");
        goto fail;
    }
    if ((c->type = sup_field_choice(spec, "type", sup_type_names)) < 0) {
        snprintf(err, errlen, "child '%s': type must be \"worker\", \"process\" or \"supervisor\"", c->id);
        goto fail;
    }
    if ((c->restart = sup_field_choice(spec, "restart", sup_restart_names)) < 0) {
        snprintf(err, errlen, "child '%s': restart must be \"permanent\", \"transient\" or \"temporary\"", c->id);
        goto fail;
    }
    /* ms, SHUT_INFINITY or SHUT_BRUTAL; math.huge, or more than a timer
     * can be set for, is infinity. */
    bool has_shutdown = sup_field_num(spec, "shutdown", &c->shutdown);
    if (c->shutdown > MB_MAX_TIMEOUT_MS) c->shutdown = SHUT_INFINITY;
    if (!has_shutdown || !(c->shutdown >= 0 || c->shutdown == SHUT_INFINITY || c->shutdown == SHUT_BRUTAL)) {
        snprintf(err, errlen, "child '%s': shutdown must be ms >= 0, \"infinity\" or \"brutal_kill\"", c->id);
        goto fail;
    }
    if (mb_term_field(spec, "name", &v) && mb_term_type(v) == MB_T_TABLE) {
        if (!is_via(v) || c->type != CT_WORKER) {
            snprintf(err, errlen, "child '%s': a via name is {\"via\", registry, key}, for a worker", c->id);
            goto fail;
        }
        if (copy_span(&c->via, v)) goto oom;
    } else if (mb_term_field(spec, "name", &v)) {
        const char *s;
        size_t n;
        if (!mb_term_str(v, &s, &n) || !mb_name_valid(s, n)) {
            snprintf(err, errlen, "child '%s': name must be a non-empty string without NUL bytes", c->id);
            goto fail;
        }
        if (!(c->name = mb_term_strdup(v))) goto oom;
    }
    if (mb_term_field(spec, "backoff", &v)) {
        /* Delays a timer can be set for: no infinity, no NaN. */
        bool whole = sup_field_num(v, "initial", &c->bo_initial) && sup_field_num(v, "max", &c->bo_max) &&
                     sup_field_num(v, "factor", &c->bo_factor);
        if (!(whole && c->bo_initial > 0 && c->bo_initial <= c->bo_max && c->bo_max <= MB_MAX_TIMEOUT_MS &&
              c->bo_factor >= 1 && isfinite(c->bo_factor))) {
            snprintf(err, errlen, "child '%s': backoff must be finite ms > 0 (max >= initial, factor >= 1)", c->id);
            goto fail;
        }
    }
    switch (c->type) {
    case CT_WORKER:
        if (!mb_term_field(spec, "module", &v)) {
            snprintf(err, errlen, "child '%s' has no module", c->id);
            goto fail;
        }
        if (copy_span(&c->module, v)) goto oom;   /* run by the supervisor's worker_target */
        if (mb_term_field(spec, "arg", &v) && copy_span(&c->args, v)) goto oom;
        break;
    case CT_PROCESS: {
        mb_span start, target;
        if (!mb_term_field(spec, "start", &start) || !mb_term_index(start, 1, &target) ||
            !(c->target = mb_term_strdup(target))) {
            snprintf(err, errlen, "child '%s' has no start = {\"mod:fn\", args...}", c->id);
            goto fail;
        }
        uint32_t n = mb_term_len(start);
        if (mb_buf_varint(&c->args, n - 1)) goto oom;
        for (uint32_t i = 2; i <= n; i++)
            if (!mb_term_index(start, i, &v) || copy_span(&c->args, v)) goto oom;
        break;
    }
    case CT_SUPERVISOR:
        if (!mb_term_field(spec, "spec", &v) || copy_span(&c->nested, v)) {
            snprintf(err, errlen, "child '%s' has no nested spec", c->id);
            goto fail;
        }
        break;
    }
    return c;
oom:
    snprintf(err, errlen, "out of memory reading a child spec");
fail:
    sup_child_free(c);
    return NULL;
}

sup_child *sup_child_from_template(const sup_child *t, mb_span arg) {
    sup_child *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = *t;
    c->name = NULL;   /* dynamic children share no name */
    mb_buf_init(&c->via);
    c->id = strdup(t->id);
    c->target = t->target ? strdup(t->target) : NULL;
    mb_buf_init(&c->module);
    mb_buf_init(&c->args);
    mb_buf_init(&c->nested);
    c->pid = 0;
    c->restarting = false;
    c->bo_count = 0;
    int bad = !c->id || (t->target && !c->target) || mb_buf_put(&c->module, t->module.p, t->module.len) ||
              mb_buf_put(&c->nested, t->nested.p, t->nested.len);
    if (!bad && c->type == CT_PROCESS) {
        /* The template's args, then arg's elements appended. */
        const uint8_t *end = t->args.p + t->args.len, *p = end;
        uint64_t n = 0;
        uint32_t extra = mb_term_len(arg);
        bad = (t->args.len && mb_term_list(t->args.p, end, &n, &p)) ||
              mb_buf_varint(&c->args, n + extra) || mb_buf_put(&c->args, p, (size_t)(end - p));
        mb_span v;
        for (uint32_t i = 1; !bad && i <= extra; i++) bad = !mb_term_index(arg, i, &v) || copy_span(&c->args, v);
    } else if (!bad) {   /* a worker's init arg: the one given, else the template's */
        bad = arg.n ? copy_span(&c->args, arg) : mb_buf_put(&c->args, t->args.p, t->args.len);
    }
    if (bad) {
        sup_child_free(c);
        return NULL;
    }
    return c;
}

void sup_child_free(sup_child *c) {
    if (!c) return;
    free(c->id);
    free(c->name);
    free(c->target);
    mb_buf_free(&c->via);
    mb_buf_free(&c->module);
    mb_buf_free(&c->args);
    mb_buf_free(&c->nested);
    free(c);
}

static int spawn_failure(mb_buf *reason, int rc, sup *s, sup_child *c) {
    reason->len = 0;
    if (rc == MB_SPAWN_NAME_TAKEN) {
        mb_pid other = mb_names_whereis(s->p->rt, c->name, strlen(c->name));
        if (mb_put_tuple_head(reason, 2) || sup_put_reason(reason, "already_started") ||
            mb_put_id(reason, MB_T_PID, other))
            return -1;
    } else {
        sup_put_reason(reason, rc == MB_SPAWN_FULL ? "system_limit" : "no_memory");
    }
    return -1;
}

int sup_child_spawn(sup *s, sup_child *c, mb_ref *ack, mb_buf *reason) {
    mb_proc *p = s->p;
    mb_pid pid;
    int rc;
    *ack = 0;
    if (c->type == CT_SUPERVISOR) {
        char err[160], path[256];
        snprintf(path, sizeof path, "%s/%s", s->path, c->id);
        mb_proc *np = mb_sup_new(p->rt, c->nested.p, c->nested.len, true, path, s->worker_target,
                                 err, sizeof err);
        if (!np) {
            reason->len = 0;
            mb_put_tuple_head(reason, 2);
            sup_put_reason(reason, "bad_spec");
            sup_put_reason(reason, err);
            return -1;
        }
        rc = mb_spawn_native(p, np, true, ack, c->name, &pid);
        if (rc) return spawn_failure(reason, rc, s, c);
    } else {
        mb_buf args;
        mb_buf_init(&args);
        int bad;
        if (c->type == CT_WORKER) {
            bad = mb_buf_varint(&args, 4) || mb_buf_put(&args, c->module.p, c->module.len) ||
                  (c->args.len ? mb_buf_put(&args, c->args.p, c->args.len) : mb_buf_byte(&args, MB_T_NIL)) ||
                  mb_put_id(&args, MB_T_PID, p->pid) ||
                  (c->name ? mb_put_string(&args, c->name, strlen(c->name))
                   : c->via.len ? mb_buf_put(&args, c->via.p, c->via.len)
                                : mb_buf_byte(&args, MB_T_NIL));
        } else {
            bad = mb_buf_put(&args, c->args.p, c->args.len);
        }
        if (bad) {
            mb_buf_free(&args);
            return spawn_failure(reason, MB_SPAWN_NOMEM, s, c);
        }
        const char *target = c->type == CT_WORKER ? s->worker_target : c->target;
        mb_spawn_opts o = {.target_kind = MB_TARGET_MODULE, .target = target, .args = args.p,
                           .args_len = args.len, .link = true, .name = c->name,
                           .name_len = c->name ? strlen(c->name) : 0,
                           .monitor = c->type == CT_WORKER};
        rc = mb_spawn(p, &o, &pid, ack);
        mb_buf_free(&args);
        if (rc) return spawn_failure(reason, rc, s, c);
    }
    c->pid = pid;
    c->started_at = mb_now_ms();
    return c->type == CT_PROCESS ? 0 : 1;
}

int sup_child_go(sup *s, sup_child *c, mb_ref ack) {
    mb_proc *p = s->p;
    mb_buf m;
    mb_buf_init(&m);
    int bad = mb_put_tuple_head(&m, 3) || mb_put_string(&m, "$gen_start", 10) || mb_put_id(&m, MB_T_REF, ack) ||
              mb_put_id(&m, MB_T_PID, p->pid);
    /* A system message: a full mailbox never drops a start. */
    if (!bad) bad = mb_send(p->rt, p->sched, p->pid, c->pid, MB_MSG_SYSTEM, 0, m.p, m.len) != MB_DELIVER_OK;
    mb_buf_free(&m);
    return bad ? -1 : 0;
}

static const char *type_name(int t) {
    return t == CT_SUPERVISOR ? "supervisor" : t == CT_PROCESS ? "process" : "worker";
}

static const char *restart_name(int r) {
    return r == R_TEMPORARY ? "temporary" : r == R_TRANSIENT ? "transient" : "permanent";
}

/* {{id=, pid=, type=, restart=}, ...}, newest first. */
void sup_encode_children(sup *s, mb_buf *b) {
    mb_put_table_head(b, s->n, 0);
    for (uint32_t k = s->n; k-- > 0;) {
        sup_child *c = s->kids[k];
        bool has_pid = c->pid || c->restarting;
        mb_put_table_head(b, 0, has_pid ? 4 : 3);
        sup_put_reason(b, "id");
        sup_put_reason(b, c->id);
        if (c->pid) {
            sup_put_reason(b, "pid");
            mb_put_id(b, MB_T_PID, c->pid);
        } else if (c->restarting) {
            sup_put_reason(b, "pid");
            sup_put_reason(b, "restarting");
        }
        sup_put_reason(b, "type");
        sup_put_reason(b, type_name(c->type));
        sup_put_reason(b, "restart");
        sup_put_reason(b, restart_name(c->restart));
    }
}

void sup_encode_counts(sup *s, mb_buf *b) {
    uint32_t active = 0, sups = 0;
    for (uint32_t k = 0; k < s->n; k++) {
        if (s->kids[k]->pid) active++;
        if (s->kids[k]->type == CT_SUPERVISOR) sups++;
    }
    mb_put_table_head(b, 0, 4);
    sup_put_reason(b, "specs");
    mb_put_number(b, s->n);
    sup_put_reason(b, "active");
    mb_put_number(b, active);
    sup_put_reason(b, "supervisors");
    mb_put_number(b, sups);
    sup_put_reason(b, "workers");
    mb_put_number(b, s->n - sups);
}
