/* console.c: a console's terminal end (see console.h).
 *
 * The loop waits for frames from the host (console_wire.h): output is
 * shown, a prompt means "read a line", a goodbye ends the session. A line is
 * read with libedit's blocking readline() on this thread, the console's own
 * (libedit's callback mode mishandles arrow keys in Debian's version). Its
 * getc hook waits on stdin, on the host and on a self-pipe the signal
 * handlers write to, so while a line is being edited:
 * - output from the host (a linked process crashed) is shown above the
 *   prompt, which is drawn again;
 * - Ctrl-C ends readline() and the line is dropped; Ctrl-C during an
 *   evaluation asks the host to interrupt it instead;
 * - a host that goes away ends the session.
 * Tab asks the host for completions and waits for them (bounded).
 *
 * libedit's readline interface is process-global, and so is `T`, the one
 * session its callbacks work for. */
#include "console.h"

#include <editline/readline.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include "console/console_wire.h"

#define HISTORY_MAX 1000
#define HELLO_TIMEOUT_MS 5000
#define COMPLETE_TIMEOUT_MS 1000
/* Where a word to complete ends: Lua's operators and brackets, not . or : */
#define WORD_BREAKS " \t\n\"'`@$><=;|&{(,)[]+-*/%^~#"

typedef struct session {
    int fd;                 /* to the host */
    int sig[2];             /* self-pipe: 'I' for SIGINT, 'W' for SIGWINCH */
    int err[2];             /* while editing lines, fd 2 is err[1]: what the host's processes
                               write on stderr (crash reports) is shown above the prompt */
    int saved_err;          /* the real stderr meanwhile */
    bool tty;               /* stdin and stdout are a terminal: edit lines */
    bool editing;           /* inside readline() */
    bool interrupted;       /* Ctrl-C while editing */
    bool host_gone;         /* the host hung up or said goodbye while editing */
    bool goodbye;           /* ... and it was a goodbye */
    bool history_warned;
    bool resized;           /* the window changed while no line was edited */
    char *history;          /* the history file, or NULL */
    mb_buf frame;           /* the frame read last */
    mb_buf pending;         /* output that came while waiting for completions */
    char *prompt;           /* a prompt that came while editing (a new console process) */
    char **cands;           /* the host's completions */
    size_t ncands, next_cand;
    struct sigaction old_int, old_winch, old_term;
} session;

static session *T;
static volatile sig_atomic_t signal_fd = -1;
/* The terminal's settings before line editing changed them, for a signal
 * that ends the console (terminal_signal). */
static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

/* SIGTERM while lines are edited: the terminal was left in the editor's
 * raw mode, with no echo, in the shell the console ran from. Put back
 * (tcsetattr is async-signal-safe), then end as the signal would. (A
 * SIGHUP means the terminal is gone; the host's logger may take it.) */
static void terminal_signal(int signo) {
    if (tty_saved) tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    signal(signo, SIG_DFL);
    raise(signo);
}

static void on_signal(int signo) {
    int saved = errno;
    char c = signo == SIGINT ? 'I' : 'W';
    if (signal_fd >= 0 && write(signal_fd, &c, 1) < 0) {
        /* a full pipe already says so */
    }
    errno = saved;
}

static int send_frame(session *t, char type, const char *p, size_t n) {
    return mb_wire_write(t->fd, type, p, n);
}

/* A line typed or piped in. One longer than a console takes is not sent
 * (the host would hang up on a frame that big): it is said so here, and
 * an empty line goes instead, for the next prompt. */
static int send_line(session *t, const char *line, size_t n) {
    if (n <= MB_CONSOLE_LINE_MAX - 5) return send_frame(t, 'L', line, n);   /* 'L' frames carry a little more */
    fprintf(stderr, "** a line of %zu bytes is more than the console takes (1 MiB): not sent; "
                    "run big code from a file (dofile)\n", n);
    return send_frame(t, 'L', "", 0);
}

/* ---- showing output ---------------------------------------------------- */

static void show(session *t, const char *p, size_t n) {
    if (t->editing) fputs("\r\033[K", stdout);   /* over the prompt line */
    fwrite(p, 1, n, stdout);
    if (t->editing && n && p[n - 1] != '\n') fputc('\n', stdout);
    fflush(stdout);
    if (t->editing) rl_forced_update_display();
}

/* What came on the host's stderr, shown above the prompt. */
static void show_stderr(session *t) {
    char b[4096];
    ssize_t n;
    while ((n = read(t->err[0], b, sizeof b)) > 0) show(t, b, (size_t)n);
}

static void show_pending(session *t) {
    if (t->prompt) {
        rl_set_prompt(t->prompt);
        free(t->prompt);
        t->prompt = NULL;
        if (!t->pending.len && t->editing) {
            fputs("\r\033[K", stdout);
            fflush(stdout);
            rl_forced_update_display();
        }
    }
    if (t->pending.len) {
        show(t, (const char *)t->pending.p, t->pending.len);
        t->pending.len = 0;
    }
}

/* A frame that came while a line is edited. -1: the session is over. */
static int frame_while_editing(session *t) {
    char type;
    if (mb_wire_read(t->fd, &type, &t->frame)) {
        t->host_gone = true;
        return -1;
    }
    const char *p = (const char *)t->frame.p;
    size_t n = t->frame.len;
    switch (type) {
    case 'O':
        show(t, p, n);
        return 0;
    case 'P':   /* a new console process took over: its prompt */
        free(t->prompt);
        t->prompt = strdup(p);
        show_pending(t);
        return 0;
    case 'X':
        t->host_gone = t->goodbye = true;
        return -1;
    default:
        return 0;
    }
}

/* ---- reading keys ------------------------------------------------------ */

static int read_byte(void) {
    unsigned char b;
    for (;;) {
        ssize_t r = read(STDIN_FILENO, &b, 1);
        if (r == 1) return b;
        if (r < 0 && errno == EINTR) continue;
        return -1;
    }
}

/* One character: libedit takes what the hook returns as a wide character,
 * so UTF-8 is decoded here. */
static int read_char(void) {
    int b = read_byte();
    if (b < 0x80 || MB_CUR_MAX == 1) return b;
    int more = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : 0;
    if (more == 0) return b;
    int cp = b & (0x3f >> more);
    for (int i = 0; i < more; i++) {
        int c = read_byte();
        if (c < 0) return -1;
        if ((c & 0xc0) != 0x80) return 0xfffd;
        cp = cp << 6 | (c & 0x3f);
    }
    return cp;
}

/* libedit's getc hook. -1 ends readline(): at end of input, on Ctrl-C
 * (interrupted), or when the host is gone. */
static int session_getc(FILE *in) {
    (void)in;
    session *t = T;
    for (;;) {
        if (t->host_gone || t->interrupted) return -1;
        show_pending(t);
        struct pollfd fds[4] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                {.fd = t->sig[0], .events = POLLIN},
                                {.fd = t->fd, .events = POLLIN},
                                {.fd = t->err[0], .events = POLLIN}};
        if (poll(fds, 4, -1) < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (fds[3].revents) show_stderr(t);
        if (fds[1].revents) {
            char c;
            while (read(t->sig[0], &c, 1) == 1) {
                if (c == 'I') t->interrupted = true;
                else rl_resize_terminal();
            }
            if (t->interrupted) return -1;
        }
        if (fds[2].revents) {
            if (frame_while_editing(t) < 0) return -1;
            continue;
        }
        if (fds[0].revents) return read_char();
    }
}

/* ---- completion -------------------------------------------------------- */

static void free_cands(session *t) {
    for (size_t i = 0; i < t->ncands; i++) free(t->cands[i]);
    free(t->cands);
    t->cands = NULL;
    t->ncands = t->next_cand = 0;
}

static char *next_candidate(const char *text, int state) {
    session *t = T;
    if (state == 0) t->next_cand = 0;
    size_t n = strlen(text);
    while (t->next_cand < t->ncands) {
        const char *c = t->cands[t->next_cand++];
        if (strncmp(c, text, n) == 0) return strdup(c);
    }
    return NULL;
}

/* Ask the host; wait for its answer at most COMPLETE_TIMEOUT_MS. */
static int fetch_candidates(session *t, const char *word) {
    size_t wlen = strlen(word);
    size_t before = (size_t)rl_point >= wlen ? (size_t)rl_point - wlen : 0;
    mb_buf req;
    mb_buf_init(&req);
    int bad = mb_buf_put(&req, word, wlen) || mb_buf_byte(&req, '\n') ||
              mb_buf_put(&req, rl_line_buffer, before);
    if (bad || send_frame(t, 'C', (const char *)req.p, req.len)) {
        mb_buf_free(&req);
        return -1;
    }
    mb_buf_free(&req);
    for (int waited = 0; waited < COMPLETE_TIMEOUT_MS; waited += 50) {
        struct pollfd pf = {.fd = t->fd, .events = POLLIN};
        int rc = poll(&pf, 1, 50);
        if (rc < 0 && errno != EINTR) return -1;
        if (rc <= 0) continue;
        char type;
        if (mb_wire_read(t->fd, &type, &t->frame)) {
            t->host_gone = true;
            return -1;
        }
        const char *p = (const char *)t->frame.p;
        if (type == 'O') {
            if (mb_buf_put(&t->pending, p, t->frame.len)) continue;   /* no memory: dropped */
        } else if (type == 'P') {
            free(t->prompt);
            t->prompt = strdup(p);
        } else if (type == 'X') {
            t->host_gone = t->goodbye = true;
            return -1;
        } else if (type == 'c') {
            for (const char *s = p; *s;) {
                const char *e = strchr(s, '\n');
                size_t len = e ? (size_t)(e - s) : strlen(s);
                if (len) {
                    char **nc = realloc(t->cands, (t->ncands + 1) * sizeof *nc);
                    if (!nc) return -1;
                    t->cands = nc;
                    if (!(t->cands[t->ncands] = strndup(s, len))) return -1;
                    t->ncands++;
                }
                s += len + (e != NULL);
            }
            return 0;
        }
    }
    return -1;
}

static char **complete(const char *text, int start, int end) {
    (void)start;
    (void)end;
    session *t = T;
    rl_attempted_completion_over = 1;   /* never file names */
    free_cands(t);
    if (fetch_candidates(t, text) || t->ncands == 0) return NULL;
    return rl_completion_matches(text, next_candidate);
}

/* ---- history ----------------------------------------------------------- */

static char *history_file(void) {
    const char *env = getenv("MOONBEAM_HISTORY");
    if (env) return *env ? strdup(env) : NULL;
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home) return NULL;
    size_t n = strlen(home) + sizeof "/.moonbeam_history";
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/.moonbeam_history", home);
    return path;
}

/* Append one entry to the history file in libedit's format (a signature
 * line, then one strvis(3)-encoded entry per line). libedit's own
 * append_history(1) writes two entries in this version; and one write()
 * per entry on O_APPEND keeps the lines of two consoles apart. */
static int append_entry(const char *path, const char *line) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    mb_buf b;
    mb_buf_init(&b);
    int bad = 0;
    if (lseek(fd, 0, SEEK_END) == 0) bad = mb_buf_put(&b, "_HiStOrY_V2_\n", 13);
    for (const unsigned char *p = (const unsigned char *)line; *p && !bad; p++) {
        char esc[5];
        if (*p == '\\') bad = mb_buf_put(&b, "\\\\", 2);
        else if (*p <= ' ' || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\%03o", *p);
            bad = mb_buf_put(&b, esc, 4);
        } else bad = mb_buf_byte(&b, *p);
    }
    bad = bad || mb_buf_byte(&b, '\n');
    ssize_t w = bad ? -1 : write(fd, b.p, b.len);
    bool whole = w >= 0 && (size_t)w == b.len;
    mb_buf_free(&b);
    close(fd);
    return whole ? 0 : -1;
}

static void remember(session *t, const char *line) {
    const char *s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return;
    add_history(line);
    if (t->history && append_entry(t->history, line) && !t->history_warned) {
        fprintf(stderr, "moonbeam: cannot write the history to %s\n", t->history);
        t->history_warned = true;
    }
}

/* ---- the session ------------------------------------------------------- */

/* fd 2 becomes a pipe this thread reads (show_stderr): a crash report
 * written by a process while a line is edited lands above the prompt, and
 * the prompt is drawn again, instead of on the line being typed. */
static int capture_stderr(session *t) {
    fflush(stderr);
    if (pipe2(t->err, O_CLOEXEC)) return -1;
    if (fcntl(t->err[0], F_SETFL, O_NONBLOCK) || (t->saved_err = fcntl(2, F_DUPFD_CLOEXEC, 0)) < 0 ||
        dup2(t->err[1], 2) < 0)
        return -1;
    return 0;
}

/* fd 2 is the real stderr again; what the pipe still held goes there. */
static void release_stderr(session *t) {
    if (t->saved_err >= 0) {
        fflush(stderr);
        dup2(t->saved_err, 2);
        close(t->saved_err);
        t->saved_err = -1;
    }
    if (t->err[0] >= 0) {
        char b[4096];
        ssize_t n;
        while ((n = read(t->err[0], b, sizeof b)) > 0)
            if (write(2, b, (size_t)n) < 0) break;
    }
    for (int i = 0; i < 2; i++) {
        if (t->err[i] >= 0) close(t->err[i]);
        t->err[i] = -1;
    }
}

static int start_editing(session *t) {
    if (capture_stderr(t)) return -1;
    if (pipe2(t->sig, O_CLOEXEC | O_NONBLOCK)) return -1;
    signal_fd = t->sig[1];
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &t->old_int) || sigaction(SIGWINCH, &sa, &t->old_winch)) return -1;
    tty_saved = t->tty && tcgetattr(STDIN_FILENO, &saved_tty) == 0;
    struct sigaction end = {.sa_handler = terminal_signal};
    sigemptyset(&end.sa_mask);
    if (sigaction(SIGTERM, &end, &t->old_term)) return -1;
    setlocale(LC_CTYPE, "");
    rl_readline_name = "moonbeam";
    rl_catch_signals = 0;   /* libedit's handlers would kill(0, sig) the whole group */
    rl_catch_sigwinch = 0;
    rl_getc_function = session_getc;
    rl_attempted_completion_function = complete;
    rl_basic_word_break_characters = WORD_BREAKS;
    rl_completion_append_character = '\0';
    rl_instream = stdin;
    rl_outstream = stdout;
    if (rl_initialize()) return -1;
    stifle_history(HISTORY_MAX);
    t->history = history_file();
    if (t->history && read_history(t->history) == 0 && history_length >= HISTORY_MAX)
        write_history(t->history);   /* keep the file as short as the list */
    using_history();
    return 0;
}

static void stop_editing(session *t) {
    release_stderr(t);
    if (t->sig[0] < 0) return;
    sigaction(SIGINT, &t->old_int, NULL);
    sigaction(SIGWINCH, &t->old_winch, NULL);
    sigaction(SIGTERM, &t->old_term, NULL);
    tty_saved = 0;
    signal_fd = -1;
    close(t->sig[0]);
    close(t->sig[1]);
    t->sig[0] = t->sig[1] = -1;
}

/* Read one line with prompt and send it (or what happened instead).
 * -1: the session is over (see t->goodbye). */
static int read_line(session *t, const char *prompt) {
    if (!t->tty) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, stdin);
        int rc;
        if (n < 0) {
            rc = send_frame(t, 'E', NULL, 0);
        } else {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
            rc = send_line(t, line, (size_t)n);
        }
        free(line);
        return rc;
    }
    if (t->resized) rl_resize_terminal();
    t->resized = false;
    t->editing = true;
    t->interrupted = false;
    char *line = readline(prompt);
    t->editing = false;
    if (t->host_gone) {
        free(line);
        show_pending(t);
        return -1;
    }
    show_pending(t);
    if (t->interrupted) {
        free(line);
        fputs("^C\n", stdout);
        fflush(stdout);
        return send_frame(t, 'K', NULL, 0);
    }
    if (!line) {
        fputs("\n", stdout);
        fflush(stdout);
        return send_frame(t, 'E', NULL, 0);
    }
    remember(t, line);
    int rc = send_line(t, line, strlen(line));
    free(line);
    return rc;
}

/* The first frame must be the hello of a console server. */
static int hello(session *t) {
    struct pollfd pf = {.fd = t->fd, .events = POLLIN};
    int rc;
    do rc = poll(&pf, 1, HELLO_TIMEOUT_MS);
    while (rc < 0 && errno == EINTR);
    char type;
    if (rc <= 0 || mb_wire_read(t->fd, &type, &t->frame) || type != 'H' ||
        strcmp((const char *)t->frame.p, MB_WIRE_HELLO) != 0) {
        fprintf(stderr, "moonbeam: no moonbeam console answers there\n");
        return -1;
    }
    return 0;
}

static int run(session *t) {
    bool interrupting = false;   /* 'I' sent, and no prompt since */
    for (;;) {
        struct pollfd fds[3] = {{.fd = t->fd, .events = POLLIN}, {.fd = t->sig[0], .events = POLLIN},
                                {.fd = t->err[0], .events = POLLIN}};
        if (poll(fds, t->sig[0] >= 0 ? 3 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            perror("moonbeam: poll");
            return 1;
        }
        if (t->sig[0] >= 0 && fds[2].revents) show_stderr(t);
        if (t->sig[0] >= 0 && fds[1].revents) {
            char c;
            bool sigint = false;
            while (read(t->sig[0], &c, 1) == 1) {
                sigint |= c == 'I';
                t->resized |= c == 'W';
            }
            if (sigint && interrupting) {
                fputs("\nmoonbeam: the console does not answer; leaving it\n", stderr);
                return 130;
            }
            if (sigint) {
                fputs("\n", stdout);   /* the terminal echoed ^C */
                fflush(stdout);
                interrupting = true;
                if (send_frame(t, 'I', NULL, 0)) {
                    fputs("moonbeam: the host closed the console\n", stderr);
                    return 1;
                }
            }
        }
        if (!fds[0].revents) continue;
        char type;
        if (mb_wire_read(t->fd, &type, &t->frame)) {
            fputs("moonbeam: the host closed the console\n", stderr);
            return 1;
        }
        switch (type) {
        case 'O':
            show(t, (const char *)t->frame.p, t->frame.len);
            break;
        case 'P': {
            interrupting = false;
            char *prompt = strdup((const char *)t->frame.p);
            int rc = prompt ? read_line(t, prompt) : -1;
            free(prompt);
            if (rc < 0) {
                if (t->goodbye) return 0;
                fputs("moonbeam: the host closed the console\n", stderr);
                return 1;
            }
            break;
        }
        case 'X':
            return 0;
        default:
            break;   /* 'c' too late, or a newer host's frame */
        }
    }
}

int mb_console_terminal(int fd) {
    session t = {.fd = fd, .sig = {-1, -1}, .err = {-1, -1}, .saved_err = -1};
    mb_buf_init(&t.frame);
    mb_buf_init(&t.pending);
    T = &t;
    t.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    int status = 1;
    if (hello(&t) == 0) {
        if (t.tty && start_editing(&t)) {
            perror("moonbeam: cannot set up line editing");
            t.tty = false;
            stop_editing(&t);
        }
        status = run(&t);
    }
    stop_editing(&t);
    free_cands(&t);
    free(t.prompt);
    free(t.history);
    mb_buf_free(&t.frame);
    mb_buf_free(&t.pending);
    close(fd);
    T = NULL;
    return status;
}

/* What is typed in a console goes to whoever listens: only a host of the
 * user's own is trusted with it (root trusts any). The socket file is
 * checked before connecting, and the listening process once connected
 * (the file could be replaced in between). */
static bool trusted_owner(uid_t owner) {
    uid_t me = geteuid();
    return owner == me || me == 0;
}

/* 0 when path may be connected to; -1 with a message. A path that cannot
 * be read is left to connect() to report. */
static int check_socket_file(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return 0;
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "moonbeam: %s is not a socket\n", path);
        return -1;
    }
    if (!trusted_owner(st.st_uid)) {
        fprintf(stderr,
                "moonbeam: %s belongs to uid %u, not to you (uid %u); not attaching to another user's host\n",
                path, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    return 0;
}

/* 0 when the process listening on fd may be trusted; -1 with a message. */
static int check_listener(int fd, const char *path) {
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len)) {
        fprintf(stderr, "moonbeam: cannot tell who listens on %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!trusted_owner(cr.uid)) {
        fprintf(stderr,
                "moonbeam: the host on %s runs as uid %u, not as you (uid %u); not attaching to another user's host\n",
                path, (unsigned)cr.uid, (unsigned)geteuid());
        return -1;
    }
    return 0;
}

int mb_console_connect(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "moonbeam: socket path is too long: %s\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (check_socket_file(path)) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("moonbeam: socket");
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        int e = errno;
        close(fd);
        if (e == ECONNREFUSED)
            fprintf(stderr, "moonbeam: no host is listening on %s (a stale socket)\n", path);
        else
            fprintf(stderr, "moonbeam: cannot connect to %s: %s\n", path, strerror(e));
        return -1;
    }
    if (check_listener(fd, path)) {
        close(fd);
        return -1;
    }
    return fd;
}
