/* core_test.c: the runtime core alone, with no Lua in the program: a kind
 * of process written here (an echo), spawn, send, links and trapped exits,
 * monitors, exit signals, timers, shared tables, the chunk pool of process
 * arenas, and a clean stop. `make test` builds and
 * runs it, plainly and under the sanitizers; it prints one line per check
 * and "N passed, N failed" last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/arena.h"
#include "core/external.h"
#include "core/pages.h"
#include "core/mailbox_bounds.h"
#include "core/runtime.h"
#include "core/signal.h"
#include "core/spawn.h"
#include "core/table.h"
#include "core/tabkey.h"
#include "core/term.h"
#include "core/timer.h"
#include "dist/md5.h"

static int passed, failed;

static void check(bool ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (ok) passed++;
    else failed++;
}

/* ---- the echo kind -------------------------------------------------------
 * {pid, x}: sends x back to pid. "stop": ends with reason "normal".
 * "crash": ends with reason {"error", "crash"}. */

static void echo_exit(mb_proc *p, const char *crash) {
    p->exit_reason.len = 0;
    if (crash) {
        mb_put_tuple_head(&p->exit_reason, 2);
        mb_put_string(&p->exit_reason, "error", 5);
        mb_put_string(&p->exit_reason, crash, strlen(crash));
    }
    p->yield = MB_YIELD_EXIT;   /* an empty reason is "normal" */
}

static void echo_one(mb_proc *p, mb_msg *m) {
    mb_span t, to, x;
    if (mb_term_first(m->data, m->data + m->len, &t)) return;
    if (mb_term_is_str(t, "stop")) echo_exit(p, NULL);
    else if (mb_term_is_str(t, "crash")) echo_exit(p, "crash");
    else if (mb_term_index(t, 1, &to) && mb_term_index(t, 2, &x)) {
        uint64_t dest;
        if (mb_term_id(to, &dest)) mb_send(p->rt, p->sched, p->pid, (mb_pid)dest, MB_MSG_DATA, 0, x.p, x.n);
    }
}

static void echo_run(mb_proc *p) {
    if (p->yield == MB_YIELD_WAIT) mb_proc_wait_timed_out(p);
    p->yield = MB_YIELD_NONE;
    mb_signal_drain(p);
    for (int budget = 100; budget > 0; budget--) {
        if (p->dying) {   /* an exit signal: exit_reason says which */
            p->yield = MB_YIELD_EXIT;
            return;
        }
        mb_msg *m = p->save.head;
        if (!m) {
            p->wait_deadline = -1;
            p->yield = MB_YIELD_WAIT;
            return;
        }
        mb_saveq_remove(&p->save, NULL, m);
        mb_mailbox_taken(p, m);
        echo_one(p, m);
        free(m);
        if (p->yield == MB_YIELD_EXIT) return;
        mb_signal_drain(p);
    }
    p->yield = MB_YIELD_RESCHED;
}

static void echo_close(mb_proc *p) { p->state = NULL; }

static const mb_kind echo_kind = {.name = "echo", .run = echo_run, .close = echo_close};

/* ---- the nap kind ---------------------------------------------------------
 * Waits NAP_MS for nothing, on the loop of the scheduler that ran it, then
 * sends nap_to how many ms past its deadline it ran, and ends. */

#define NAP_MS 5.0
static mb_pid nap_to;
static double nap_due;   /* one nap at a time */

static void nap_run(mb_proc *p) {
    if (p->yield == MB_YIELD_WAIT && mb_proc_wait_timed_out(p)) {
        mb_buf b;
        mb_buf_init(&b);
        if (mb_put_number(&b, mb_now_ms() - nap_due) == 0)
            mb_send(p->rt, p->sched, p->pid, nap_to, MB_MSG_DATA, 0, b.p, b.len);
        mb_buf_free(&b);
        p->yield = MB_YIELD_EXIT;
        return;
    }
    if (p->yield != MB_YIELD_WAIT) nap_due = mb_now_ms() + NAP_MS;
    p->wait_deadline = nap_due;
    p->yield = MB_YIELD_WAIT;
}

static const mb_kind nap_kind = {.name = "nap", .run = nap_run, .close = echo_close};

/* ---- the test's own process (external.h) --------------------------------- */

static mb_proc *self;

/* The next message, or NULL after ms. The caller frees it. */
static mb_msg *next_message(double ms) {
    double deadline = mb_now_ms() + ms;
    for (;;) {
        mb_signal_drain(self);
        mb_msg *m = self->save.head;
        if (m) {
            mb_saveq_remove(&self->save, NULL, m);
            mb_mailbox_taken(self, m);
            return m;
        }
        if (!mb_external_wait(self, deadline) && mb_now_ms() >= deadline) return NULL;
    }
}

static mb_pid spawn_echo(bool link, mb_ref *monitor) {
    static const uint8_t no_args[] = {0};
    mb_spawn_opts o = {.kind = &echo_kind, .target = "echo", .args = no_args, .args_len = sizeof no_args,
                       .link = link, .monitor = monitor != NULL};
    mb_pid pid = 0;
    if (mb_spawn(self, &o, &pid, monitor)) return 0;
    return pid;
}

static int send_term(mb_pid to, const mb_buf *b) {
    return mb_send(self->rt, NULL, self->pid, to, MB_MSG_DATA, 0, b->p, b->len);
}

static int send_str(mb_pid to, const char *s) {
    mb_buf b;
    mb_buf_init(&b);
    int rc = mb_put_string(&b, s, strlen(s)) ? -1 : send_term(to, &b);
    mb_buf_free(&b);
    return rc;
}

/* Element i of the tuple in m (a span into m). */
static bool element(const mb_msg *m, uint32_t i, mb_span *out) {
    mb_span t;
    return mb_term_first(m->data, m->data + m->len, &t) == 0 && mb_term_index(t, i, out);
}

/* ---- the checks ---------------------------------------------------------- */

static void round_trips(void) {
    mb_pid echo = spawn_echo(false, NULL);
    check(echo != 0, "spawn a process of a kind of the program's own");
    int ok = 0;
    for (int i = 0; i < 1000; i++) {
        mb_buf b;
        mb_buf_init(&b);
        mb_put_tuple_head(&b, 2);
        mb_put_id(&b, MB_T_PID, self->pid);
        mb_put_number(&b, i);
        send_term(echo, &b);
        mb_buf_free(&b);
        mb_msg *m = next_message(5000);
        mb_span v;
        double x;
        if (m && mb_term_first(m->data, m->data + m->len, &v) == 0 && mb_term_num(v, &x) && x == i) ok++;
        free(m);
    }
    check(ok == 1000, "1000 round trips, each answer in order");
    send_str(echo, "stop");
}

static void monitors(void) {
    mb_ref ref;
    mb_pid echo = spawn_echo(false, &ref);
    send_str(echo, "stop");
    mb_msg *m = next_message(5000);
    mb_span tag, r;
    check(m && element(m, 1, &tag) && mb_term_is_str(tag, "DOWN") && element(m, 5, &r) &&
              mb_term_is_str(r, "normal") && m->ref == ref,
          "a monitor gets DOWN with reason normal");
    free(m);

    mb_small_term kill = mb_small_str("kill");
    echo = spawn_echo(false, &ref);
    mb_send_exit(self->rt, NULL, self->pid, echo, kill.b, kill.n);
    m = next_message(5000);
    check(m && element(m, 5, &r) && mb_term_is_str(r, "killed"), "exit(pid, \"kill\"): DOWN with reason killed");
    free(m);

    mb_small_term what = mb_small_id(MB_T_PID, echo);
    mb_monitor(self, echo, mb_make_ref(self->rt), what.b, what.n);
    m = next_message(5000);
    check(m && element(m, 5, &r) && mb_term_is_str(r, "noproc"), "monitoring a dead pid: DOWN with noproc");
    free(m);
}

static void links(void) {
    atomic_store(&self->trap_exit, true);
    mb_pid echo = spawn_echo(true, NULL);
    send_str(echo, "crash");
    mb_msg *m = next_message(5000);
    mb_span tag, from, r, err;
    uint64_t id;
    check(m && element(m, 1, &tag) && mb_term_is_str(tag, "EXIT") && element(m, 2, &from) &&
              mb_term_id(from, &id) && id == echo && element(m, 3, &r) && mb_term_index(r, 1, &err) &&
              mb_term_is_str(err, "error"),
          "a linked process's crash arrives as {\"EXIT\", pid, reason} when trapping");
    free(m);
    atomic_store(&self->trap_exit, false);
    check(mb_link(self, echo) == MB_LINK_NOPROC, "linking a dead pid: noproc");
}

/* A process is doomed while an exit signal that will end it is queued, and
 * no longer once that signal spared it: here, unlinked before it drained
 * the linked process's EXIT (OTP: no exit signal through a link after
 * unlink). A doomed process is left where it spins (sysmon.h): a stale
 * mark would end a spared one later. */
static void spared(void) {
    mb_pid echo = spawn_echo(true, NULL);
    send_str(echo, "crash");
    double until = mb_now_ms() + 5000;
    while (mb_proctab_alive(&self->rt->procs, echo) && mb_now_ms() < until) {}
    while (!mb_proc_doomed(self) && mb_now_ms() < until) {}   /* its EXIT, queued */
    check(mb_proc_doomed(self), "an abnormal exit through a link marks the process as ending");
    mb_unlink(self, echo);
    mb_signal_drain(self);
    check(!self->dying && !mb_proc_doomed(self), "unlinked before it drained: spared, and no longer marked");
}

static void timers(void) {
    mb_buf b;
    mb_buf_init(&b);
    mb_put_string(&b, "tick", 4);
    double t0 = mb_now_ms();
    mb_send_after(self->rt, NULL, 30, (mb_timer_dest){self->pid, NULL, NULL}, mb_msg_copy(MB_MSG_DATA, 0, 0, b.p, b.len));
    mb_ref cancelled = mb_send_after(self->rt, NULL, 10, (mb_timer_dest){self->pid, NULL, NULL}, mb_msg_copy(MB_MSG_DATA, 0, 0, b.p, b.len));
    mb_buf_free(&b);
    check(mb_cancel_timer(self->rt, cancelled) >= 0, "cancel a timer before it fires: the ms it had left");
    mb_msg *m = next_message(5000);
    double took = mb_now_ms() - t0;
    mb_span v;
    check(m && mb_term_first(m->data, m->data + m->len, &v) == 0 && mb_term_is_str(v, "tick") && took >= 29,
          "send_after(30): the message, no sooner");
    free(m);
    m = next_message(50);
    check(m == NULL, "the cancelled timer never fires");
    free(m);
}

/* Timers due at once come in the order they were set; each comes when due,
 * not a millisecond late (the timer thread's clock counts nanoseconds). */
static void timers_in_order(void) {
    mb_buf b;
    mb_buf_init(&b);
    const char *names[] = {"a", "b", "c"};
    double t0 = mb_now_ms();
    for (int i = 0; i < 3; i++) {
        b.len = 0;
        mb_put_string(&b, names[i], 1);
        mb_send_after(self->rt, NULL, 20, (mb_timer_dest){self->pid, NULL, NULL}, mb_msg_copy(MB_MSG_DATA, 0, 0, b.p, b.len));
    }
    mb_buf_free(&b);
    bool in_order = true;
    for (int i = 0; i < 3; i++) {
        mb_msg *m = next_message(5000);
        mb_span v;
        in_order = in_order && m && mb_term_first(m->data, m->data + m->len, &v) == 0 && mb_term_is_str(v, names[i]);
        free(m);
    }
    double took = mb_now_ms() - t0;
    check(in_order && took >= 20, "three timers due at once: in the order they were set, none early");
}

/* The timer heap (timer_heap.h): due order, ties in push order, removal
 * from anywhere. */
static void timer_heap(void) {
    enum { N = 500 };
    static mb_heap_node nodes[N];
    mb_heap h = {0};
    unsigned x = 12345;
    bool pushed = true;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        nodes[i].due = (double)(x >> 16 & 63);   /* many ties */
        pushed = pushed && mb_heap_push(&h, &nodes[i]) == 0;
    }
    for (int i = 0; i < N; i += 3) mb_heap_remove(&h, &nodes[i]);
    bool ordered = pushed, removed_out = true;
    for (int i = 0; i < N; i += 3) removed_out = removed_out && !mb_heap_holds(&nodes[i]);
    size_t left = 0;
    mb_heap_node *prev = NULL, *n;
    while ((n = mb_heap_top(&h)) != NULL) {
        mb_heap_remove(&h, n);
        ordered = ordered && (!prev || prev->due < n->due || (prev->due == n->due && n > prev));
        prev = n;
        left++;
    }
    mb_heap_free(&h);
    check(ordered && removed_out && left == N - (N + 2) / 3,
          "the timer heap: due order, ties in push order, a node taken out from the middle stays out");
}

static void dead_pid(void) {
    mb_pid echo = spawn_echo(false, NULL);
    send_str(echo, "stop");
    mb_ref ref = mb_make_ref(self->rt);
    mb_small_term what = mb_small_id(MB_T_PID, echo);
    mb_monitor(self, echo, ref, what.b, what.n);
    mb_msg *m = next_message(5000);   /* its DOWN (or noproc): it is gone now */
    free(m);
    check(send_str(echo, "hello") == MB_DELIVER_OK, "a send to a dead pid is dropped, not refused");
    check(next_message(20) == NULL, "and nothing comes back");
}

/* A host's process table (proctab.h): slots never used are handed out in
 * order, a full table refuses a spawn, and a freed slot comes back with a
 * new serial, so its old pid stays dead. A host of its own, for four. */
static void process_slots(void) {
    char err[160];
    mb_config cfg = {.schedulers = 1, .kind = &echo_kind, .max_processes = 4};
    mb_runtime *rt = mb_runtime_start(&cfg, err, sizeof err);
    check(rt != NULL, "a host for four processes starts");
    if (!rt) return;
    mb_proc *outer = self;
    self = mb_external_new(rt, "slots");   /* the first of the four */
    if (self) {
        mb_pid a = spawn_echo(false, NULL), b = spawn_echo(false, NULL), c = spawn_echo(false, NULL);
        check(a && b && c && mb_pid_slot(self->pid) < mb_pid_slot(a) && mb_pid_slot(a) < mb_pid_slot(b) &&
                  mb_pid_slot(b) < mb_pid_slot(c),
              "slots never used are handed out in order");
        check(spawn_echo(false, NULL) == 0, "a full process table refuses a spawn");
        mb_ref ref = mb_make_ref(rt);
        mb_small_term what = mb_small_id(MB_T_PID, b);
        mb_monitor(self, b, ref, what.b, what.n);
        send_str(b, "stop");
        free(next_message(5000));   /* its DOWN */
        mb_pid d = 0;
        for (double until = mb_now_ms() + 5000; !d && mb_now_ms() < until;)
            d = spawn_echo(false, NULL);   /* once the last reference to b is dropped */
        check(d && d != b && mb_pid_slot(d) == mb_pid_slot(b), "a freed slot comes back with a new serial");
        check(!mb_proctab_alive(&rt->procs, b) && mb_proctab_alive(&rt->procs, d), "and the old pid stays dead");
    }
    check(mb_runtime_stop(rt) == 0, "the host for four stops");
    self = outer;
}

/* ---- shared tables, from C (table.h, tabstore.h) ------------------------ */

/* A canonical key made of one number or one string, in b. */
static mb_span num_key(mb_buf *b, double x) {
    mb_buf raw;
    mb_buf_init(&raw);
    b->len = 0;
    const char *why;
    int rc = mb_put_number(&raw, x) || mb_tabkey_canon((mb_span){raw.p, raw.len}, b, &why);
    mb_buf_free(&raw);
    return rc ? (mb_span){NULL, 0} : (mb_span){b->p, b->len};
}

static mb_span str_term(mb_buf *b, const char *s) {
    b->len = 0;
    return mb_put_string(b, s, strlen(s)) ? (mb_span){NULL, 0} : (mb_span){b->p, b->len};
}

static void table_order(mb_runtime *rt) {
    mb_tab_opts o = {.type = MB_TAB_ORDERED_SET};
    uint64_t h = 0;
    mb_table *t = NULL;
    check(mb_table_new(rt, self->pid, &o, &h) == MB_TAB_OK && mb_value_kind(h) == MB_VALUE_TABLE,
          "tables: a new ordered_set has a handle of its own kind");
    check(mb_table_acquire(rt, h, self->pid, true, &t) == MB_TAB_OK, "tables: the owner may write");
    if (!t) return;
    mb_buf k, v, out;
    mb_buf_init(&k);
    mb_buf_init(&v);
    mb_buf_init(&out);
    bool ins;
    const double xs[] = {5, -1, 3.5, 0, 100};
    for (int i = 0; i < 5; i++)
        mb_tabstore_insert(&t->store, num_key(&k, xs[i]), str_term(&v, "x"), 0, MB_TAB_REPLACE, &ins);
    mb_tabstore_insert(&t->store, str_term(&k, "a string"), str_term(&v, "s"), 0, MB_TAB_REPLACE, &ins);
    mb_tabstore_insert(&t->store, num_key(&k, -0.0), str_term(&v, "zero"), 0, MB_TAB_REPLACE, &ins);
    size_t size, mem, n;
    mb_tabstore_stats(&t->store, &size, &mem);
    check(size == 6 && mem > 0, "tables: -0.0 and 0 are one key");
    double want[] = {-1, 0, 3.5, 5, 100}, got;
    bool found = true, in_order = true;
    out.len = 0;
    mb_tabstore_step(&t->store, MB_TAB_FIRST, (mb_span){NULL, 0}, &out, &found);
    for (int i = 0; i < 5 && found; i++) {
        mb_span key = {out.p, out.len};
        in_order = in_order && mb_term_num(key, &got) && got == want[i];
        k.len = 0;
        mb_buf_put(&k, out.p, out.len);
        out.len = 0;
        mb_tabstore_step(&t->store, MB_TAB_NEXT, (mb_span){k.p, k.len}, &out, &found);
    }
    check(in_order && found && mb_term_is_str((mb_span){out.p, out.len}, "a string"),
          "tables: first/next walk numbers in order, then strings");
    out.len = 0;
    check(mb_tabstore_range(&t->store, num_key(&k, 0), num_key(&v, 5), 0, &out, &n) == MB_TAB_OK && n == 3,
          "tables: a range is inclusive");
    double r = 0;
    check(mb_tabstore_counter(&t->store, str_term(&k, "n"), 2, &(double){40}, &r) == MB_TAB_OK && r == 42,
          "tables: update_counter starts from its default");
    mb_table_release(t);
    check(mb_table_acquire(rt, h, self->pid + 1, true, &t) == MB_TAB_EACCESS,
          "tables: another process may not write a protected table");
    check(mb_table_delete(rt, h, self->pid) == MB_TAB_OK && mb_table_acquire(rt, h, self->pid, false, &t) == MB_TAB_ENOTAB,
          "tables: a deleted table is gone");
    mb_buf_free(&k);
    mb_buf_free(&v);
    mb_buf_free(&out);
}

/* An echo process owns a table; it ends: the heir (this program) gets the
 * table_transfer before the DOWN, or, heirless, the table is gone by then. */
static void table_owner_death(mb_runtime *rt, bool with_heir) {
    mb_ref ref;
    mb_pid echo = spawn_echo(false, &ref);
    mb_tab_opts o = {.type = MB_TAB_SET, .heir = with_heir ? self->pid : 0};
    uint64_t h = 0;
    mb_table *t = NULL;
    check(mb_table_new(rt, echo, &o, &h) == MB_TAB_OK, "tables: a table for another process");
    send_str(echo, "stop");
    mb_msg *m = next_message(5000);
    mb_span tag, th;
    uint64_t got = 0;
    if (with_heir) {
        check(m && element(m, 1, &tag) && mb_term_is_str(tag, "table_transfer") && element(m, 2, &th) &&
                  mb_term_id(th, &got) && got == h,
              "tables: the heir gets {\"table_transfer\", t, from} first");
        free(m);
        m = next_message(5000);
    }
    check(m && element(m, 1, &tag) && mb_term_is_str(tag, "DOWN"), "tables: then the owner's DOWN");
    free(m);
    int rc = mb_table_acquire(rt, h, self->pid, true, &t);
    if (with_heir) {
        check(rc == MB_TAB_OK, "tables: the heir owns the table");
        if (!rc) mb_table_release(t);
        mb_table_delete(rt, h, self->pid);
    } else {
        check(rc == MB_TAB_ENOTAB, "tables: without an heir the table is gone before the DOWN");
    }
}

static void tables(void) {
    table_order(self->rt);
    table_owner_death(self->rt, false);
    table_owner_death(self->rt, true);
}

/* ---- the chunk pool and the arenas on it --------------------------------- */

/* n chunks from pg linked into a list (first to last, NULL-ended), as an
 * arena gives them back; how many it got. */
static size_t take_list(mb_pages *pg, size_t n, char **first, char **last) {
    *first = *last = NULL;
    size_t got = 0;
    for (; got < n; got++) {
        char *x = mb_pages_get(pg);
        if (!x) break;
        memset(x, 0, sizeof(void *));
        if (*last) memcpy(*last, &x, sizeof x);
        else *first = x;
        *last = x;
    }
    return got;
}

/* Each 2 MB slab is mapped in 4 KB pages while huge ones faulted in dearer
 * at their latest try, and in huge pages again after MB_PAGES_HUGE_RETRY. */
static void page_size_choice(void) {
    mb_pages pg;
    check(mb_pages_init(&pg) == 0, "page size: a pool");
    while (pg.nslabs < MB_PAGES_SMALL_SLABS || pg.bump < pg.end) mb_pages_get(&pg);   /* the first, small slabs */
    pg.thp = true;   /* as where the kernel makes huge pages when asked */
    pg.fault_ns[0] = UINT64_MAX / 2;   /* huge pages: dear */
    pg.fault_ns[1] = 1;
    int small = 0, made = 0;
    bool huge_again = false;
    for (int i = 0; i <= MB_PAGES_HUGE_RETRY; i++) {
        if (!mb_pages_ahead(&pg) || !pg.spare || pg.spare->size != MB_PAGES_HUGE_SLAB || !pg.spare->fault_ns) break;
        made++;
        if (i < MB_PAGES_HUGE_RETRY) small += pg.spare->small_pages;
        else huge_again = !pg.spare->small_pages;
        while (pg.bump < pg.end) mb_pages_get(&pg);
        mb_pages_get(&pg);   /* from the spare */
    }
    check(made == MB_PAGES_HUGE_RETRY + 1, "page size: 2 MB slabs made ahead, their faulting in timed");
    check(small == MB_PAGES_HUGE_RETRY, "page size: 4 KB pages while huge ones were dearer");
    check(huge_again, "page size: huge pages tried again after a run of 4 KB ones");
    /* Those in 4 KB pages are made huge pages when the host is idle, their
     * contents kept. */
    char *kept = pg.small ? pg.small->base + 12345 : NULL;
    if (kept) *kept = 42;
    int collapsed = 0;
    while (mb_pages_collapse(&pg)) collapsed++;
    check(collapsed == small && !pg.small && kept && *kept == 42,
          "page size: each slab in 4 KB pages collapsed once, its contents kept");
    mb_pages_destroy(&pg);
    /* A kernel told to make no huge pages (THP "never") gets none from a
     * collapse either: every slab as it comes. */
    check(mb_pages_init(&pg) == 0, "page size: a pool");
    while (pg.nslabs < MB_PAGES_SMALL_SLABS || pg.bump < pg.end) mb_pages_get(&pg);
    pg.thp = false;
    pg.fault_ns[0] = UINT64_MAX / 2;
    pg.fault_ns[1] = 1;
    check(mb_pages_ahead(&pg) && pg.spare && !pg.spare->small_pages && !pg.small,
          "page size: no slab in 4 KB pages to collapse where THP is \"never\"");
    mb_pages_destroy(&pg);
}

/* The host's slabs in 4 KB pages are made huge pages once it is idle, a
 * few ms each: the scheduler that does it still runs its loop's timers
 * between two (a receive timeout armed there is not held up by them all). */
static void collapse_keeps_timers(mb_runtime *rt) {
    enum { SLABS = 64 };
    mb_pages *pg = &rt->pages;
    size_t per_slab = MB_PAGES_HUGE_SLAB / MB_PAGES_CHUNK, n = 0;
    char *first = NULL, *last = NULL;
    pthread_mutex_lock(&pg->lock);
    bool thp = pg->thp;
    pg->thp = true;   /* as where the kernel makes huge pages when asked */
    pthread_mutex_unlock(&pg->lock);
    for (int i = 0; i < SLABS; i++) {
        pthread_mutex_lock(&pg->lock);
        pg->fault_ns[0] = UINT64_MAX / 2;   /* huge pages dear: the next slab in 4 KB pages */
        pg->fault_ns[1] = 1;
        pg->small_run = 0;
        pthread_mutex_unlock(&pg->lock);
        char *f, *l;
        size_t got = take_list(pg, per_slab, &f, &l);
        if (!got) break;
        if (last) memcpy(last, &f, sizeof f);
        else first = f;
        last = l;
        n += got;
    }
    size_t small = 0;
    pthread_mutex_lock(&pg->lock);
    for (mb_slab *s = pg->small; s; s = s->next_small) small++;
    pg->fault_ns[0] = pg->fault_ns[1] = 0;
    pg->thp = thp;
    pthread_mutex_unlock(&pg->lock);
    check(small >= SLABS / 2, "collapse: slabs in 4 KB pages to make huge pages");
    nap_to = self->pid;
    mb_spawn_opts o = {.kind = &nap_kind, .target = "nap", .args = (const uint8_t[]){0}, .args_len = 1};
    mb_pid pid = 0;
    double late = -1;
    if (mb_spawn(self, &o, &pid, NULL) == MB_SPAWN_OK) {
        mb_msg *m = next_message(5000);
        mb_span v;
        if (!m || mb_term_first(m->data, m->data + m->len, &v) || !mb_term_num(v, &late)) late = -1;
        free(m);
    }
    char what[128];
    snprintf(what, sizeof what, "collapse: a receive timeout on the collapsing scheduler's loop %.1f ms late", late);
    check(late >= 0 && late < 50, what);
    mb_pages_put_list(pg, first, last, n);
}

static void pages(void) {
    mb_pages pg;
    check(mb_pages_init(&pg) == 0, "pages: a pool");
    char *a = mb_pages_get(&pg), *b = mb_pages_get(&pg);
    check(a && b && a != b && ((uintptr_t)a & 15) == 0, "pages: distinct aligned chunks");
    memset(a, 1, MB_PAGES_CHUNK);   /* whole chunks are writable */
    memcpy(a, &b, sizeof b);   /* a -> b: a list of two */
    memset(b, 0, sizeof(void *));
    mb_pages_put_list(&pg, a, b, 2);
    char *c = mb_pages_get(&pg), *d = mb_pages_get(&pg);
    check(c == a && d == b, "pages: chunks given back are used again first");
    check(mb_pages_ahead(&pg) && pg.spare && !mb_pages_ahead(&pg), "pages: one slab is mapped ahead, once");
    char *spare = pg.spare->base;
    while (pg.bump < pg.end) mb_pages_get(&pg);   /* what is left of the first slab */
    check(mb_pages_get(&pg) == spare && !pg.spare, "pages: the next chunk after a slab comes from the spare");
    /* More than MB_PAGES_KEEP given back at once: kept, but cold. */
    size_t n = MB_PAGES_KEEP / MB_PAGES_CHUNK + 1;
    char *first, *prev;
    take_list(&pg, n, &first, &prev);
    check(pg.nslabs > MB_PAGES_SMALL_SLABS && pg.slabs->size == MB_PAGES_HUGE_SLAB &&
              ((uintptr_t)pg.slabs->base & (MB_PAGES_HUGE_SLAB - 1)) == 0,
          "pages: past the first slabs, each is a huge page's size, aligned to it");
    mb_pages_put_list(&pg, first, prev, n);
    check(pg.ncold == n && pg.nfree == 0, "pages: past the bound, given-back chunks lose their pages");
    char *e = mb_pages_get(&pg);
    check(e != NULL, "pages: and still serve");
    memset(e, 2, MB_PAGES_CHUNK);
    /* Past the bound a few at a time: held for the next batch (resident
     * still, and served first), handed over when the pool is idle. */
    char *x = mb_pages_get(&pg);
    size_t keep = MB_PAGES_KEEP / MB_PAGES_CHUNK, got = take_list(&pg, keep, &first, &prev);
    mb_pages_put_list(&pg, first, prev, got);   /* exactly the bound: free, resident */
    size_t cold = pg.ncold;
    memset(x, 4, MB_PAGES_CHUNK);
    memset(x, 0, sizeof(void *));
    mb_pages_put_list(&pg, x, x, 1);
    check(got == keep && pg.nfree == keep && pg.npending == 1 && pg.ncold == cold && x[MB_PAGES_CHUNK - 1] == 4,
          "pages: a chunk past the bound waits for a batch, its pages kept");
    check(mb_pages_ahead(&pg) && pg.npending == 0 && pg.ncold == cold + 1,
          "pages: an idle pool hands a batch begun to the kernel");

    mb_arena ar = {.pages = &pg};
    void *small = mb_arena_alloc(&ar, 24), *mid = mb_arena_alloc(&ar, 200), *big = mb_arena_alloc(&ar, 5000);
    check(small && mid && big, "arena: small and big blocks");
    memset(mid, 3, 200);
    void *moved = mb_arena_realloc(&ar, mid, 200, 205);
    check(moved && ((char *)moved)[199] == 3, "arena: a resize keeps the contents");
#if !defined(__SANITIZE_ADDRESS__)   /* there every block is malloc's own */
    check(moved == mid, "arena: a resize within a class stays in place");
    mb_arena_free(&ar, moved, 205);
    check(mb_arena_alloc(&ar, 195) == mid, "arena: a freed block serves its class again");
    /* Medium blocks (up to MB_ARENA_MEDIUM) come from chunks too, not malloc. */
    const void *big_list = ar.big;
    void *m1 = mb_arena_alloc(&ar, 1000);
    check(m1 && ar.big == big_list, "arena: a medium block is carved from a chunk");
    check(mb_arena_realloc(&ar, m1, 1000, 1020) == m1, "arena: a medium resize within its class stays");
    mb_arena_free(&ar, m1, 1020);
    check(mb_arena_alloc(&ar, 1010) == m1, "arena: a freed medium block serves its class again");
    mb_arena_free(&ar, m1, 1010);
    int carved = 0;   /* smaller blocks come from it once the chunk's tail is used up */
    for (int i = 0; i < 400 && !carved; i++) {
        char *q = mb_arena_alloc(&ar, 48);
        carved = q >= (char *)m1 && q < (char *)m1 + 1010;
    }
    check(carved, "arena: a freed medium block serves smaller ones");
#endif
    /* Blocks of every size up to past the medium bound, each filled with its
     * own byte: none overlaps another (a chunk's tail is carved into the
     * classes it holds), and each keeps its contents. */
    enum { NBLOCKS = 400 };
    static unsigned char *blocks[NBLOCKS];
    for (int i = 0; i < NBLOCKS; i++) {
        size_t n = 16 + (size_t)i * 7 % (MB_ARENA_MEDIUM + 64);
        blocks[i] = mb_arena_alloc(&ar, n);
        if (blocks[i]) memset(blocks[i], i & 0xff, n);
    }
    int intact = 1;
    for (int i = 0; i < NBLOCKS; i++) {
        size_t n = 16 + (size_t)i * 7 % (MB_ARENA_MEDIUM + 64);
        for (size_t k = 0; blocks[i] && k < n; k++) intact &= blocks[i][k] == (i & 0xff);
        intact &= blocks[i] != NULL;
    }
    check(intact, "arena: blocks of every size keep their contents");
    for (int i = 0; i < NBLOCKS; i += 2) mb_arena_free(&ar, blocks[i], 16 + (size_t)i * 7 % (MB_ARENA_MEDIUM + 64));
    mb_arena_release(&ar);
    check(ar.pages == &pg && ar.chunks == NULL && ar.big == NULL, "arena: released, still bound to its pool");
    mb_pages_destroy(&pg);
}

/* A state's first block, when big, is a slot; slots given back serve the
 * next arenas; past the bound their pages go to the kernel. */
static void slots(void) {
    mb_pages pg;
    check(mb_pages_init(&pg) == 0, "slots: a pool");
#if !defined(__SANITIZE_ADDRESS__)   /* there every block is malloc's own */
    enum { GLOBAL = 6240 };   /* about a LuaJIT global state's size */
    mb_arena ar = {.pages = &pg};
    char *g = mb_arena_alloc(&ar, GLOBAL);
    check(g && g == ar.slot && ((uintptr_t)g & 15) == 0 && ar.big == NULL, "slots: a new arena's big first block is a slot");
    memset(g, 5, GLOBAL);
    char *small = mb_arena_alloc(&ar, 40), *big = mb_arena_alloc(&ar, GLOBAL);
    check(small && (small < g || small >= g + GLOBAL) && big && ar.big != NULL && big != g,
          "slots: the blocks after it are the arena's own, a big one malloc's");
    mb_arena_free(&ar, big, GLOBAL);
    mb_arena_free(&ar, g, GLOBAL);   /* a state's close frees it before the release */
    check(g[GLOBAL - 1] == 5, "slots: a slot stays the arena's until its release");
    mb_arena_release(&ar);
    check(ar.slot == NULL && pg.states.nfree == 1, "slots: a released arena gives its slot back");
    char *again = mb_arena_alloc(&ar, GLOBAL - 100);
    check(again == g, "slots: a slot given back serves the next state");
    mb_arena_release(&ar);
    check(mb_pages_get_slot(&pg, &pg.states, GLOBAL + 16) == NULL, "slots: one size, fixed by the first");
    /* Past the bound: the pages of a batch go to the kernel; an idle pool
     * hands over a batch begun. */
    size_t n = MB_PAGES_SLOTS_KEEP / pg.states.size + MB_PAGES_SLOTS_BATCH + 1, got = 0;
    static char *held[MB_PAGES_SLOTS_KEEP / GLOBAL + MB_PAGES_SLOTS_BATCH + 1];
    int apart = 1;
    for (; got < n && got < sizeof held / sizeof *held; got++) {
        held[got] = mb_pages_get_slot(&pg, &pg.states, GLOBAL);
        if (!held[got]) break;
        memset(held[got], 7, GLOBAL);
        for (size_t k = 0; k < got && k < 64; k++) apart &= held[got] != held[got - 1 - k];
    }
    check(got == n && apart, "slots: as many distinct slots as asked for");
    for (size_t i = 0; i + 1 < n; i++) mb_pages_put_slot(&pg, &pg.states, held[i]);
    check(pg.states.nfree == MB_PAGES_SLOTS_KEEP / pg.states.size && held[0][GLOBAL - 1] == 7 &&
              pg.states.npending == 0 && pg.states.ncold == MB_PAGES_SLOTS_BATCH,
          "slots: kept resident within the bound, past it a batch's pages go to the kernel");
    mb_pages_put_slot(&pg, &pg.states, held[n - 1]);
    check(pg.states.npending == 1 && mb_pages_ahead(&pg) && pg.states.npending == 0 &&
              pg.states.ncold == MB_PAGES_SLOTS_BATCH + 1,
          "slots: an idle pool hands a batch begun to the kernel");
    /* The pages wholly inside a slot whose pages went read zero again. */
    size_t pages_zero = 0, pages_kept = 0;
    for (size_t i = n - 1 - MB_PAGES_SLOTS_BATCH; i < n; i++) {
        uintptr_t page = MB_PAGES_CHUNK - 1, at = ((uintptr_t)held[i] + page) & ~page;
        for (; at + MB_PAGES_CHUNK <= (uintptr_t)held[i] + pg.states.size; at += MB_PAGES_CHUNK) {
            const char *q = (const char *)at;
            if (q[0] == 0 && q[MB_PAGES_CHUNK - 1] == 0) pages_zero++;
            else pages_kept++;
        }
    }
    check(pages_zero > MB_PAGES_SLOTS_BATCH / 2 && pages_kept == 0, "slots: the pages inside them are the kernel's again");
#endif
    mb_pages_destroy(&pg);
}

/* The distribution handshake's digest: RFC 1321's test suite (A.5). */
static void md5(void) {
    static const struct { const char *in, *hex; } suite[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"}};
    for (size_t i = 0; i < sizeof suite / sizeof *suite; i++) {
        uint8_t d[16];
        char hex[33];
        mb_md5(suite[i].in, strlen(suite[i].in), d);
        for (int j = 0; j < 16; j++) snprintf(hex + 2 * j, 3, "%02x", d[j]);
        char what[96];
        snprintf(what, sizeof what, "md5 of \"%.40s\" (%zu bytes)", suite[i].in, strlen(suite[i].in));
        check(strcmp(hex, suite[i].hex) == 0, what);
    }
}

int main(void) {
    char err[160];
    mb_config cfg = {.schedulers = 2, .kind = &echo_kind};
    mb_runtime *rt = mb_runtime_start(&cfg, err, sizeof err);
    if (!rt) {
        fprintf(stderr, "core_test: %s\n", err);
        return 1;
    }
    self = mb_external_new(rt, "core_test");
    check(self != NULL, "the program takes part as an external process");
    if (self) {
        round_trips();
        monitors();
        links();
        spared();
        timers();
        timers_in_order();
        dead_pid();
        tables();
        collapse_keeps_timers(rt);
    }
    process_slots();
    pages();
    page_size_choice();
    slots();
    md5();
    timer_heap();
    check(mb_runtime_stop(rt) == 0, "the runtime stops and frees everything");
    printf("\n%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
