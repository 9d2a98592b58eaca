/* sockfile.c: a unix socket's file, held and known by identity (see
 * sockfile.h). */
#include "sockfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

mb_sockfile mb_sockfile_at(const char *path) {
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 ? fstat(fd, &st) == 0 : lstat(path, &st) == 0) {
        /* No descriptor to spare: known by device and inode alone, which
         * a file made there after its removal might share. */
        if (S_ISSOCK(st.st_mode)) return (mb_sockfile){true, fd, st.st_dev, st.st_ino};
    }
    if (fd >= 0) close(fd);
    return (mb_sockfile){false, -1, 0, 0};
}

void mb_sockfile_remove(const char *path, mb_sockfile *made) {
    if (!made->held) return;
    struct stat now;
    if (lstat(path, &now) == 0 && now.st_dev == made->dev && now.st_ino == made->ino) unlink(path);
    if (made->fd >= 0) close(made->fd);
    *made = (mb_sockfile){false, -1, 0, 0};
}
