/* sockfile.h: a unix socket's file, known by what it is, so that a listener
 * removes only the file it made: by its close the path may name another
 * listener's socket, or any other file. A file system may give a new file
 * the inode of one just removed (ext4 does), so its change time counts
 * too, to the nanosecond, and only a socket is ever removed. */
#ifndef MB_SOCKFILE_H
#define MB_SOCKFILE_H

#include <sys/types.h>
#include <time.h>

typedef struct mb_sockfile {
    dev_t dev;
    ino_t ino;
    struct timespec ctime;
} mb_sockfile;

/* The file at path now (ino 0: none): call right after the bind. */
mb_sockfile mb_sockfile_at(const char *path);

/* Remove path if it is still the socket made. */
void mb_sockfile_remove(const char *path, const mb_sockfile *made);

#endif
