/* logger.h: the host's log (moonbeam.logger): levels, handlers, and a
 * writer thread.
 *
 * A process never writes a log line itself: mb_log copies the event into a
 * bounded queue (a mutex held for a few pointer moves, no I/O) and wakes
 * the writer thread, which formats it for each handler and writes it. So a
 * handler on a slow disk, a full one or a pipe nobody reads holds up the
 * writer alone, never a process or a scheduler; when the queue is full
 * events are dropped and counted, and the writer says how many in a later
 * line. The writer is a thread of its own, not the I/O thread: a stuck
 * log file must not stall sockets.
 *
 * Levels and handlers are host-wide. Handlers are changed through the
 * queue too (mb_log_add_handler opens the file in the caller, to report
 * errors, and queues the handler), so an event goes to the handlers there
 * were when it was logged. The writer alone touches handlers' descriptors.
 * SIGHUP (while a handler has a file) reopens every file, for logrotate.
 *
 * Threads: everything here from any thread; the writer starts on first
 * use. */
#ifndef MB_LOGGER_H
#define MB_LOGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pid.h"

typedef struct mb_runtime mb_runtime;
typedef struct mb_logger mb_logger;

enum { MB_LOG_DEBUG, MB_LOG_INFO, MB_LOG_NOTICE, MB_LOG_WARNING, MB_LOG_ERROR, MB_LOG_LEVELS };
typedef enum { MB_LOG_STDERR, MB_LOG_FILE, MB_LOG_JSON } mb_log_kind;

/* The queue's bounds: past either, events are dropped (and counted). */
#define MB_LOG_QUEUE_EVENTS 10000
#define MB_LOG_QUEUE_BYTES (8u << 20)

/* One event, as its logger hands it over; every string is copied. */
typedef struct mb_log_event {
    int level;                 /* MB_LOG_* */
    mb_pid pid;                /* 0: the host itself */
    const char *name;          /* the process's registered name, or NULL */
    const char *where;         /* "file:line", or NULL */
    const char *msg;
    size_t msg_len;
    const char *detail;        /* more lines for plain handlers (a report's body), or NULL */
    size_t detail_len;
    const char *fields;        /* a JSON object ("{...}") whose members JSON handlers add, or NULL */
    size_t fields_len;
} mb_log_event;

int mb_logger_init(mb_runtime *rt);   /* MOONBEAM_LOG_LEVEL sets the level; -1: no memory */
/* Wait (at most ms) until what is queued now is written. */
void mb_logger_flush(mb_runtime *rt, double ms);
void mb_logger_stop(mb_runtime *rt);  /* writes what is queued, ends the writer */
void mb_logger_free(mb_runtime *rt);
/* Whether SIGHUP is the logger's now (a handler has a file to reopen). */
bool mb_logger_takes_hup(mb_runtime *rt);

/* Queue ev; false when it was dropped (the queue is full, or no writer). */
bool mb_log(mb_runtime *rt, const mb_log_event *ev);
/* The level events of module (a dotted name or a file; NULL: none) must
 * reach: its own, its nearest dotted parent's ("a" for "a.b.c"), else the
 * host's. */
int mb_log_level_of(mb_runtime *rt, const char *module);
/* Changes whenever a level or the handlers change: a logger that caches
 * levels reads it again. Bit 0: whether a JSON handler is there; bit 1:
 * whether any module has a level of its own. */
uint32_t mb_log_generation(mb_runtime *rt);
/* module NULL: the host's level. level -1: module goes back to its parent's. -1: no memory. */
int mb_log_set_level(mb_runtime *rt, const char *module, int level);
/* Add a handler (path: NULL for stderr; opened now, to append). 0; -1 with
 * why in err (the name is taken, the file cannot be opened). */
int mb_log_add_handler(mb_runtime *rt, const char *name, mb_log_kind kind, const char *path, int level,
                       char *err, size_t errlen);
/* 0, or -1 when no handler has that name. */
int mb_log_remove_handler(mb_runtime *rt, const char *name);
/* Tell pid {"$log_flushed", ref} through its alias ref (dropped once the
 * alias is gone) once everything queued before is written. -1: no memory. */
int mb_log_flush_to(mb_runtime *rt, mb_pid pid, mb_ref ref);
/* Whether everything queued so far is written (nothing queued, no batch
 * being written): a flush would be answered at once. */
bool mb_log_drained(mb_runtime *rt);

const char *mb_log_level_name(int level);
int mb_log_level_parse(const char *s);   /* -1 when s is no level */

#endif
