/* epmd.c: registering with epmd and asking it where a node listens (see
 * epmd.h). Requests are a 2-byte length and the request; the answers are
 * unframed. */
#include "epmd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ALIVE2_REQ = 120, ALIVE2_X_RESP = 118, ALIVE2_RESP = 121, PORT_PLEASE2_REQ = 122, PORT2_RESP = 119 };
#define IO_TIMEOUT_MS 5000      /* a local epmd answers at once; a dead host must not hang us */
#define START_WAIT_MS 15000     /* how long a freshly started epmd may take to listen (a loaded machine) */

static int epmd_port(void) {
    const char *s = getenv("ERL_EPMD_PORT");
    int p = s ? atoi(s) : 0;
    return p > 0 && p < 65536 ? p : 4369;
}

/* A connected socket to epmd at addr (whose port is replaced), or -1
 * (errno says why; ETIMEDOUT past timeout_ms: a host that drops what is
 * sent to it must not hold the caller for TCP's minutes). */
static int dial(const struct sockaddr *addr, int timeout_ms) {
    struct sockaddr_storage ss;
    socklen_t len;
    if (addr->sa_family == AF_INET6) {
        len = sizeof(struct sockaddr_in6);
        memcpy(&ss, addr, len);
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)epmd_port());
    } else {
        len = sizeof(struct sockaddr_in);
        memcpy(&ss, addr, len);
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)epmd_port());
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int e = 0;
    if (connect(fd, (struct sockaddr *)&ss, len)) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd pf = {fd, POLLOUT, 0};
            int rc;
            while ((rc = poll(&pf, 1, timeout_ms)) < 0 && errno == EINTR) {}
            socklen_t el = sizeof e;
            if (rc == 0) e = ETIMEDOUT;
            else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el)) e = errno;
        }
    }
    int flags = fcntl(fd, F_GETFL);   /* blocking again: io_all polls before each step */
    if (!e && (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK))) e = errno;
    if (e) {
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* All n bytes, or -1 (error, end, or timeout_ms without progress). */
static int io_all(int fd, void *buf, size_t n, bool writing, int timeout_ms) {
    uint8_t *p = buf;
    while (n > 0) {
        struct pollfd pf = {fd, writing ? POLLOUT : POLLIN, 0};
        int rc = poll(&pf, 1, timeout_ms);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return -1;
        ssize_t k = writing ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

/* `epmd -daemon`, waited for (it forks into the background and returns). */
static int start_epmd(void) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execlp("epmd", "epmd", "-daemon", (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A connection to this host's epmd, starting one if none answers. */
static int dial_local(char *err, size_t errlen) {
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = dial((struct sockaddr *)&lo, IO_TIMEOUT_MS);
    if (fd >= 0 || errno != ECONNREFUSED) goto out;
    if (start_epmd()) {
        snprintf(err, errlen, "no epmd answers, and `epmd -daemon` could not be started");
        return -1;
    }
    /* The daemon listens a moment after its parent returned: poll, bounded
     * by the clock (a loaded machine may take seconds). */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
        fd = dial((struct sockaddr *)&lo, IO_TIMEOUT_MS);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (fd < 0 && (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < START_WAIT_MS);
out:
    if (fd < 0) snprintf(err, errlen, "cannot reach epmd on port %d: %s", epmd_port(), strerror(errno));
    return fd;
}

int mb_epmd_register(const char *alive, int port, uint32_t *creation, char *err, size_t errlen) {
    size_t an = strlen(alive);
    if (an == 0 || an > 255) {
        snprintf(err, errlen, "a node name must have 1 to 255 characters before '@'");
        return -1;
    }
    int fd = dial_local(err, errlen);
    if (fd < 0) return -1;
    /* ALIVE2_REQ: port, node type 77 (a normal node), protocol 0 (TCP/IPv4),
     * highest and lowest version 6, the name, no extra. */
    uint8_t req[2 + 13 + 255];
    size_t n = 13 + an;
    put16(req, (unsigned)n);
    req[2] = ALIVE2_REQ;
    put16(req + 3, (unsigned)port);
    req[5] = 77;
    req[6] = 0;
    put16(req + 7, 6);
    put16(req + 9, 6);
    put16(req + 11, (unsigned)an);
    memcpy(req + 13, alive, an);
    put16(req + 13 + an, 0);
    uint8_t resp[6];
    if (io_all(fd, req, 2 + n, true, IO_TIMEOUT_MS) || io_all(fd, resp, 2, false, IO_TIMEOUT_MS)) goto broken;
    if (resp[0] != ALIVE2_X_RESP && resp[0] != ALIVE2_RESP) goto broken;
    if (resp[1] != 0) {
        snprintf(err, errlen, "the name '%s' is already registered with epmd (another node runs)", alive);
        close(fd);
        return -1;
    }
    size_t cn = resp[0] == ALIVE2_X_RESP ? 4 : 2;
    if (io_all(fd, resp + 2, cn, false, IO_TIMEOUT_MS)) goto broken;
    *creation = cn == 4 ? (uint32_t)resp[2] << 24 | (uint32_t)resp[3] << 16 | (uint32_t)get16(resp + 4)
                        : get16(resp + 2);
    return fd;
broken:
    snprintf(err, errlen, "epmd did not answer the registration");
    close(fd);
    return -1;
}

int mb_epmd_lookup(const struct sockaddr *addr, const char *alive, int timeout_ms, int *port, int *version) {
    if (timeout_ms <= 0 || timeout_ms > IO_TIMEOUT_MS) timeout_ms = IO_TIMEOUT_MS;
    size_t an = strlen(alive);
    if (an == 0 || an > 255) return -1;
    int fd = dial(addr, timeout_ms);
    if (fd < 0) return -1;
    uint8_t req[3 + 255];
    put16(req, (unsigned)(1 + an));
    req[2] = PORT_PLEASE2_REQ;
    memcpy(req + 3, alive, an);
    /* PORT2_RESP: code, result; on success port, type, protocol, highest
     * and lowest version (then the name and extra, unread). */
    uint8_t resp[10];
    int rc = -1;
    if (io_all(fd, req, 3 + an, true, timeout_ms) || io_all(fd, resp, 2, false, timeout_ms) ||
        resp[0] != PORT2_RESP || resp[1] != 0)
        goto out;
    if (io_all(fd, resp + 2, 8, false, timeout_ms)) goto out;
    *port = (int)get16(resp + 2);
    *version = (int)get16(resp + 6);
    rc = 0;
out:
    close(fd);
    return rc;
}
