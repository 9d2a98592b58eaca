/* sockfile.c: a unix socket's file, by identity (see sockfile.h). */
#include "sockfile.h"

#include <sys/stat.h>
#include <unistd.h>

mb_sockfile mb_sockfile_at(const char *path) {
    struct stat st;
    if (lstat(path, &st) || !S_ISSOCK(st.st_mode)) return (mb_sockfile){0};
    return (mb_sockfile){st.st_dev, st.st_ino, st.st_ctim};
}

void mb_sockfile_remove(const char *path, const mb_sockfile *made) {
    if (!made->ino) return;
    mb_sockfile now = mb_sockfile_at(path);
    if (now.ino == made->ino && now.dev == made->dev && now.ctime.tv_sec == made->ctime.tv_sec &&
        now.ctime.tv_nsec == made->ctime.tv_nsec)
        unlink(path);
}
