/* sup_internal.h: what supervisor.c and sup_child.c share. A supervisor's
 * state belongs to its process: only the thread running it touches it. */
#ifndef MB_SUP_INTERNAL_H
#define MB_SUP_INTERNAL_H

#include "supervisor.h"
#include "core/term.h"

/* The spec's words, in the order of their names in sup_child.c. */
enum { ST_ONE_FOR_ONE, ST_ONE_FOR_ALL, ST_REST_FOR_ONE, ST_SIMPLE };
enum { CT_WORKER, CT_PROCESS, CT_SUPERVISOR };
enum { R_PERMANENT, R_TRANSIENT, R_TEMPORARY };
extern const char *const sup_strategy_names[], *const sup_type_names[], *const sup_restart_names[];
#define SUP_UNLIMITED (-1)       /* a count given as math.huge */
#define SHUT_INFINITY (-1.0)
#define SHUT_BRUTAL (-2.0)

typedef struct sup_child {
    char *id;
    int type, restart;
    double shutdown;             /* ms, SHUT_INFINITY or SHUT_BRUTAL */
    char *name;                  /* a worker's registered name, or NULL */
    mb_buf via;                  /* a worker's via name {"via", reg, key} (encoded), or empty:
                                    the worker registers itself (gen_server's enter) */
    char *target;                /* what to spawn: "moonbeam.gen_server:enter" or "mod:fn" */
    mb_buf module;               /* worker: the encoded module (name or table) */
    mb_buf args;                 /* worker: the encoded arg (empty: nil); process: an encoded list */
    mb_buf nested;               /* supervisor: the encoded spec */
    double bo_initial, bo_max, bo_factor;   /* restart backoff (finite); bo_initial 0: none */
    int bo_count;                /* restarts in a row, for exponential backoff */
    double started_at;
    mb_pid pid;                  /* 0: not running */
    mb_ref stop_ref;             /* the monitor of a group shutdown */
    mb_pid stopped_pid;          /* just stopped in a group: its EXIT is still to flush */
    bool restarting;             /* waits for restart_at */
    mb_pid exited_pid;           /* the pid it last ran as: a simple_one_for_one child
                                    waiting to restart is known by it (OTP's {restarting, Pid}) */
    double restart_at;
    uint64_t seq;                /* start order, for which_children */
} sup_child;

typedef enum { J_START, J_STOP, J_STOP_DYNAMIC, J_REPLY, J_EXIT, J_ACK, J_REMOVE } sup_job_kind;
enum { P_INIT, P_RESTART, P_REQUEST };

/* Where a job that waits is. */
typedef enum sup_phase {
    PHASE_NEW,                   /* not begun */
    PHASE_WAITING,               /* asked (a start, a shutdown), waiting until deadline */
    PHASE_KILLED,                /* its shutdown time ran out: killed, waiting for the DOWN */
} sup_phase;

typedef struct sup_job {
    struct sup_job *next;
    sup_job_kind kind;
    sup_child *c;
    int purpose;                 /* J_START: why it starts (P_*) */
    mb_pid to;                   /* whom to reply to (P_REQUEST, J_REPLY, J_ACK) */
    mb_ref ref;
    mb_buf data;                 /* J_REPLY: an encoded value; J_EXIT, J_ACK: a reason */
    sup_phase phase;
    mb_ref wait_ref;
    double deadline;
} sup_job;

typedef struct sup {
    mb_proc *p;
    char *path;
    char *worker_target;         /* what runs a worker child's module (mb_sup_new) */
    int strategy;
    int intensity;               /* restarts allowed in period; SUP_UNLIMITED: any */
    double period;
    int max_children;            /* simple_one_for_one; SUP_UNLIMITED: no limit */
    bool link, started;
    mb_pid parent;               /* the starter, when it linked */
    mb_pid starter;              /* who sent $gen_start, and its ref: the ack's address */
    mb_ref start_ref;
    bool restarts_first;         /* take turns: due restarts, then one message */
    bool retrying;               /* deciding after a failed restart: retry later */
    sup_child **kids;            /* in start order */
    uint32_t n, cap;
    sup_child *tmpl;             /* simple_one_for_one: the template */
    double *restarts;            /* when recent restarts happened */
    uint32_t nrestarts, rcap;
    uint64_t seq;
    sup_job *jobs, *jobs_tail;
    sup_job *running;            /* the job run_job is in, if any */
    bool running_detached;       /* ... and it was cleared while running */
    mb_buf out;                  /* scratch for replies */
} sup;

/* supervisor.c: children, jobs, replies, restarts. */
sup_job *sup_job_add(sup *s, sup_job_kind kind, sup_child *c);   /* NULL: no memory */
int sup_add_child(sup *s, sup_child *c);
void sup_remove_child(sup *s, sup_child *c);
sup_child *sup_by_pid(sup *s, mb_pid pid);
sup_child *sup_by_exited_pid(sup *s, mb_pid pid);   /* a restarting child, by its last pid */
sup_child *sup_by_id(sup *s, mb_span id);
mb_buf *sup_out(sup *s);                                  /* the reply scratch, emptied */
void sup_reply(sup *s, mb_pid to, mb_ref ref, const mb_buf *value);
void sup_reply_err(sup *s, mb_pid to, mb_ref ref, const char *why);   /* {err = why} */
void sup_reply_true(sup *s, mb_pid to, mb_ref ref);
void sup_shut_down(sup *s, const uint8_t *reason, size_t len);     /* stop all, then exit */
void sup_child_exited(sup *s, sup_child *c, mb_span reason);     /* restart it, or not */

/* sup_requests.c: one message, a table (a call, a sys request, an EXIT or
 * DOWN of a child). */
void sup_handle(sup *s, mb_span t);

/* sup_child.c. Specs come normalised by lua/moonbeam/supervisor.lua, every
 * field there (backoff and name only when given): a field missing or out of
 * its range is refused, never filled in here. */
/* Which of names (NULL-terminated) t[k] is; -1 when absent or none. */
int sup_field_choice(mb_span t, const char *k, const char *const *names);
/* t[k] as a number; false when absent or no number. */
bool sup_field_num(mb_span t, const char *k, double *x);
sup_child *sup_child_parse(mb_span spec, char *err, size_t errlen);
sup_child *sup_child_from_template(const sup_child *t, mb_span arg);
void sup_child_free(sup_child *c);
/* Spawn c linked to the supervisor. Returns 1 when it must still ack (a
 * worker or supervisor, monitored from birth: *ack holds the ref to await;
 * it waits for sup_child_go), 0 when it runs (a process), -1 with an
 * encoded reason in reason. */
int sup_child_spawn(sup *s, sup_child *c, mb_ref *ack, mb_buf *reason);
/* Tell a spawned worker or supervisor to start: {"$gen_start", ack, sup}.
 * Only once the supervisor awaits ack (mb_call_begin): a reply that comes
 * before is taken for a late one and dropped. -1: no memory. */
int sup_child_go(sup *s, sup_child *c, mb_ref ack);
/* Reply values, appended to b. */
void sup_encode_children(sup *s, mb_buf *b);
void sup_encode_counts(sup *s, mb_buf *b);
int sup_put_reason(mb_buf *b, const char *s);

#endif
