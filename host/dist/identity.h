/* identity.h: who this node is: its full name and its cookie, as erl
 * derives them from -sname/-name and ~/.erlang.cookie. */
#ifndef MB_IDENTITY_H
#define MB_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

/* The full node name for --sname arg (longname false: arg@`hostname -s`)
 * or --name arg (arg@the host's full name), into out. An arg that has its
 * '@' already is taken as it is. 0, or -1 with a message in err. */
int mb_node_name(const char *arg, bool longname, char *out, size_t outlen, char *err, size_t errlen);

/* The cookie from $HOME/.erlang.cookie (its first line, blanks trimmed),
 * creating the file as erl does when it is missing: 20 random capital
 * letters, mode 0400. 0, or -1 with a message in err (unreadable, or
 * readable by others than its owner, which erl refuses too). */
int mb_default_cookie(char *out, size_t outlen, char *err, size_t errlen);

#endif
