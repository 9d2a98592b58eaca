/* sockfile.h: a unix socket's file, held by the listener that made it, so
 * that it removes only that file: by its close the path may name another
 * listener's socket, or any other file. An O_PATH descriptor on the file
 * keeps its inode from being given to another file meanwhile (ext4 gives
 * a new file the inode just freed), so device and inode tell it exactly,
 * whatever was done to it (a chmod included). With no descriptor to spare,
 * device and inode alone: the file is still removed at the close. */
#ifndef MB_SOCKFILE_H
#define MB_SOCKFILE_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct mb_sockfile {
    bool held;
    int fd;       /* O_PATH, on the socket file made (-1: none could be opened) */
    dev_t dev;    /* the file's device and inode */
    ino_t ino;
} mb_sockfile;

/* Hold the socket file at path (call right after the bind); none held if
 * it cannot be opened, or is no socket. */
mb_sockfile mb_sockfile_at(const char *path);

/* Remove path if it is still the socket held, and let it go. */
void mb_sockfile_remove(const char *path, mb_sockfile *made);

#endif
