/* console_server.h: consoles inside a running host.
 *
 * A console is a connection (one end of a socketpair for `moonbeam`'s own
 * terminal, or a client of the unix socket that `--console-socket PATH`
 * opens for `moonbeam attach`) and a process running moonbeam.console:serve
 * that evaluates what is typed there. The server's thread forwards each
 * frame a terminal sends (console_wire.h) to its console process as the
 * message {"$console", type, payload}; the console process writes its own
 * frames back (mb_console_conn_write). A console process that ends while its
 * terminal is still there (killed, or interrupted by Ctrl-C) is replaced by
 * a new one; the terminal never sees its console die.
 *
 * Lifetime: main.c starts the server after the runtime, stops it before the
 * runtime stops, and frees it after (console processes hold connections
 * until their Lua states close). */
#ifndef MB_CONSOLE_SERVER_H
#define MB_CONSOLE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include "core/process.h"

typedef struct mb_console_server mb_console_server;
typedef struct mb_console_conn mb_console_conn;

/* Start the server's thread. parent is the process console processes are
 * spawned on behalf of (the host's own); target, what each of them runs (a
 * target of the runtime's kind, given the connection's id and setup). path:
 * a unix socket to listen on, created with mode 0600; refused when it exists
 * and is not a stale socket. NULL: no socket (connections come from
 * mb_console_server_add). Attaches itself to rt (runtime.h), where
 * mb_console_conn_open finds it. Returns NULL with a message in err. */
mb_console_server *mb_console_server_start(mb_runtime *rt, mb_proc *parent, const char *path,
                                           const char *target, char *err, size_t errlen);

/* Serve a console on fd (the server owns it from now on). tty: its
 * terminal is a tty (the console may redraw a live view). setup: strings
 * handed to the console process when it starts (moonbeam.console's -l/-e
 * list). Returns 0, or -1 (fd is closed then). */
int mb_console_server_add(mb_console_server *s, int fd, bool tty, const char *const *setup, int nsetup);

/* Stop accepting, remove the socket file, and hang up on every terminal.
 * Console processes keep running until the runtime stops. */
void mb_console_server_stop(mb_console_server *s);

/* Remove the socket file, and nothing else: for an exit that cannot wait
 * (mb_shutdown_force). Any thread. */
void mb_console_server_unlink(mb_console_server *s);

/* Free what is left; call after the runtime stopped (no console process
 * holds a connection any more). */
void mb_console_server_free(mb_console_server *s);

/* From a console process: the connection with this id, if the caller is
 * its console process and has not opened it yet. NULL with a message in err. */
mb_console_conn *mb_console_conn_open(mb_runtime *rt, const char *id, mb_pid self,
                                      char *err, size_t errlen);
/* Write one frame to the terminal, never waiting for it: what its socket
 * does not take now is queued. -1 when the terminal is gone, or is
 * dropped because it fell too far behind. */
int mb_console_conn_write(mb_console_conn *c, char type, const void *p, size_t n);
/* The same for a console process, from: -1 when it is no longer the
 * terminal's (another took over while it was stuck in a call). */
int mb_console_conn_send(mb_console_conn *c, mb_pid from, char type, const void *p, size_t n);
/* Whether the terminal is behind on its output: the console process should
 * not write more until it caught up. False once the terminal is gone. */
bool mb_console_conn_behind(mb_console_conn *c);
/* If the terminal is behind, arrange for the console process to get the
 * message {"$console", "W", ""} when it has caught up, or is gone, and
 * return true. */
bool mb_console_conn_tell_when_caught_up(mb_console_conn *c);
/* Whether the terminal hung up. */
bool mb_console_conn_gone(mb_console_conn *c);
/* from lets go of the connection. goodbye: the session ended (Ctrl-D), the
 * terminal is told so and no new console process is started for it (not
 * for a console another took over from). */
void mb_console_conn_close(mb_console_conn *c, mb_pid from, bool goodbye);

#endif
