/* codemap.c: is an address in code generated at run time? (codemap.h) */
#include "codemap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* One line of /proc/self/maps, read a character at a time (a line may be
 * longer than the buffer):
 *   lo-hi perms offset dev inode [pathname]
 * Generated code is in a mapping with inode 0 that is not the kernel's own
 * code or the stack. Its name is usually empty, but not always: the kernel
 * calls "[heap]" any mapping that touches the program break's range, and a
 * JIT that maps its code near the executable (LuaJIT does) may land there;
 * a program may name anonymous mappings ("[anon:...]"). */
static const char *const not_generated[] = {"[stack]", "[vdso]", "[vvar]", "[vsyscall]", "[uprobes]", NULL};

#define NAME_KEPT 16    /* enough of a name to compare with not_generated */

typedef struct map_line {
    int field;          /* 0 lo, 1 hi, 2 perms, 3 offset, 4 dev, 5 inode, 6 name */
    int perm;           /* characters of perms seen */
    uintptr_t lo, hi;
    bool exec, has_inode;
    int name_len;       /* characters of the name seen */
    char name[NAME_KEPT + 1];
} map_line;

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static void feed(map_line *l, char c) {
    switch (l->field) {
    case 0:
    case 1: {
        int d = hex_digit(c);
        if (d >= 0) {
            uintptr_t *v = l->field == 0 ? &l->lo : &l->hi;
            *v = *v << 4 | (uintptr_t)d;
        } else {
            l->field++;   /* '-' after lo, ' ' after hi */
        }
        break;
    }
    case 2:
        if (c == ' ') l->field++;
        else if (l->perm++ == 2) l->exec = c == 'x';
        break;
    case 3:
    case 4:
        if (c == ' ') l->field++;
        break;
    case 5:
        if (c == ' ') l->field++;
        else if (c != '0') l->has_inode = true;
        break;
    default:
        if (c == ' ' && l->name_len == 0) break;   /* the padding before it */
        if (l->name_len < NAME_KEPT) l->name[l->name_len] = c;
        l->name_len++;
        break;
    }
}

static bool generated(const map_line *l) {
    if (l->field < 5 || !l->exec || l->has_inode) return false;
    for (const char *const *n = not_generated; *n; n++)
        if (l->name_len < NAME_KEPT && strcmp(l->name, *n) == 0) return false;
    return true;
}

bool mb_codemap_find(uintptr_t pc, uintptr_t *lo, uintptr_t *hi) {
    bool found = false, done = false;
    int fd;
    do fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
        char buf[2048];
        map_line l = {0};
        while (!done) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            for (ssize_t i = 0; i < n && !done; i++) {
                if (buf[i] != '\n') {
                    feed(&l, buf[i]);
                    continue;
                }
                if (pc >= l.lo && pc < l.hi) {   /* mappings are in address order: one holds pc */
                    found = generated(&l);
                    *lo = l.lo;
                    *hi = l.hi;
                    done = true;
                } else if (l.lo > pc) {
                    done = true;
                }
                l = (map_line){0};
            }
        }
        close(fd);
    }
    return found;
}
