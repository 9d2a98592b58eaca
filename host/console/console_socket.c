/* console_socket.c: the unix socket consoles attach through (console_socket.h). */
#include "console_socket.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Listen on path, a unix socket of mode 0600. A socket nobody answers on
 * is a stale one from a host that died: it is replaced. */
int mb_console_listen(const char *path, mb_sockfile *made, char *err, size_t errlen) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "console socket path is too long (at most %zu bytes): %s",
                 sizeof sa.sun_path - 1, path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket; not replacing it", path);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            return -1;
        }
        int rc = connect(probe, (struct sockaddr *)&sa, sizeof sa);
        int e = errno;
        close(probe);
        if (rc == 0) {
            snprintf(err, errlen, "%s is in use by a running host", path);
            return -1;
        }
        if (e != ECONNREFUSED) {
            snprintf(err, errlen, "%s: %s", path, strerror(e));
            return -1;
        }
        if (unlink(path) && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
            return -1;
        }
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* Nobody can connect before listen(): the mode is 0600 by then. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa)) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (chmod(path, 0600) || listen(fd, SOMAXCONN)) {   /* a burst of attaches waits, not fails */
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    *made = mb_sockfile_at(path);
    return fd;
}

void mb_console_unlisten(const char *path, mb_sockfile *made) { mb_sockfile_remove(path, made); }

/* Only the host's own user (or root) may attach, whatever the file's mode. */
bool mb_console_peer_allowed(int fd) {
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len)) return false;
    return cr.uid == geteuid() || cr.uid == 0;
}
