/* identity.c: the node's name and cookie (see identity.h). */
#include "identity.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

/* The host's full name: gethostname, made canonical when the resolver
 * knows a longer one (as erl's -name does without a host part). */
static int full_host(char *out, size_t n) {
    if (gethostname(out, n)) return -1;
    out[n - 1] = '\0';
    if (strchr(out, '.')) return 0;
    struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *ai;
    if (getaddrinfo(out, NULL, &hints, &ai) == 0) {
        if (ai->ai_canonname && strchr(ai->ai_canonname, '.')) snprintf(out, n, "%s", ai->ai_canonname);
        freeaddrinfo(ai);
    }
    return 0;
}

int mb_node_name(const char *arg, bool longname, char *out, size_t outlen, char *err, size_t errlen) {
    if (!*arg || *arg == '@') {
        snprintf(err, errlen, "a node name needs a name before '@'");
        return -1;
    }
    for (const char *c = arg; *c && *c != '@'; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
            snprintf(err, errlen, "a node's name has letters, digits, '_' and '-' only, not '%s'", arg);
            return -1;
        }
    if (strchr(arg, '@')) {
        if ((size_t)snprintf(out, outlen, "%s", arg) >= outlen) goto long_name;
        return 0;
    }
    char host[256];
    if (full_host(host, sizeof host)) {
        snprintf(err, errlen, "gethostname: %s", strerror(errno));
        return -1;
    }
    if (!longname) host[strcspn(host, ".")] = '\0';
    else if (!strchr(host, '.')) {
        snprintf(err, errlen, "--name needs a fully qualified host name; '%s' has no domain (give NAME@HOST)", host);
        return -1;
    }
    if ((size_t)snprintf(out, outlen, "%s@%s", arg, host) >= outlen) goto long_name;
    return 0;
long_name:
    snprintf(err, errlen, "the node name is too long");
    return -1;
}

/* Write a new cookie file at path, as erl does. */
static int create_cookie(const char *path, char *out, size_t outlen, char *err, size_t errlen) {
    uint8_t rnd[20];
    if (uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL)) {
        snprintf(err, errlen, "no randomness for a new cookie");
        return -1;
    }
    char c[21];
    for (int i = 0; i < 20; i++) c[i] = (char)('A' + rnd[i] % 26);
    c[20] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    if (fd < 0 || write(fd, c, 20) != 20) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    snprintf(out, outlen, "%s", c);
    return 0;
}

int mb_default_cookie(char *out, size_t outlen, char *err, size_t errlen) {
    const char *home = getenv("HOME");
    if (!home || !*home) {
        snprintf(err, errlen, "no HOME for ~/.erlang.cookie (give --cookie)");
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/.erlang.cookie", home);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return create_cookie(path, out, outlen, err, errlen);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        close(fd);
        snprintf(err, errlen, "%s must be accessible by its owner only", path);
        return -1;
    }
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    char *s = buf;
    while (isspace((unsigned char)*s)) s++;
    s[strcspn(s, "\r\n")] = '\0';
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1])) s[--len] = '\0';
    if (!len || len >= outlen) {
        snprintf(err, errlen, "%s holds no usable cookie", path);
        return -1;
    }
    memcpy(out, s, len + 1);
    return 0;
}
