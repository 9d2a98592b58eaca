/* console.h: a console's terminal end, for `moonbeam` and `moonbeam attach`.
 *
 * The terminal edits lines (libedit, when stdin is a terminal), keeps the
 * history in ~/.moonbeam_history ($MOONBEAM_HISTORY overrides it; empty: no
 * history file), and speaks console_wire.h to a console process in a host:
 * the host decides what the prompt is and what completes a word; the
 * terminal shows what comes back. */
#ifndef MB_CONSOLE_H
#define MB_CONSOLE_H

/* Run a session over fd (connected to a console server) until it ends; fd
 * is closed. Returns the exit status for the shell: 0 when the session
 * ended (Ctrl-D), 1 when the host went away or fd is no console, 130 when
 * the user left a console that would not answer Ctrl-C. Not thread-safe:
 * libedit's readline state is the process's own, so one session at a time. */
int mb_console_terminal(int fd);

/* Connect to the console socket at path; -1 with a message on stderr.
 * Refuses, before it connects and again before anything is sent, a socket
 * that another user owns (unless this runs as root). */
int mb_console_connect(const char *path);

#endif
