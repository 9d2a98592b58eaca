/* console_socket.h: the unix socket consoles attach through: made safely
 * (mode 0600 before anyone can connect; a stale socket replaced, a live one
 * or any other file refused), and who may connect. */
#ifndef MB_CONSOLE_SOCKET_H
#define MB_CONSOLE_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include "core/sockfile.h"

/* Listen on path; the listening fd, or -1 with a message in err. *made
 * says which file it is. */
int mb_console_listen(const char *path, mb_sockfile *made, char *err, size_t errlen);

/* Remove path if it is still the file made: another host may have put its
 * socket there since (this one's removed by hand), and that is not ours. */
void mb_console_unlisten(const char *path, mb_sockfile *made);

/* Whether the peer of a connected fd runs as this host's user, or root. */
bool mb_console_peer_allowed(int fd);

#endif
