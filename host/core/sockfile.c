/* sockfile.c: a unix socket's file, held and known by identity (see
 * sockfile.h). */
#include "sockfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

mb_sockfile mb_sockfile_at(const char *path) {
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) return (mb_sockfile){true, fd};
    if (fd >= 0) close(fd);
    return (mb_sockfile){false, -1};
}

void mb_sockfile_remove(const char *path, mb_sockfile *made) {
    if (!made->held) return;
    struct stat held, now;
    if (fstat(made->fd, &held) == 0 && lstat(path, &now) == 0 && now.st_dev == held.st_dev &&
        now.st_ino == held.st_ino)
        unlink(path);
    close(made->fd);
    *made = (mb_sockfile){false, -1};
}
