/* console_wire.h: the frames between a console's terminal (console.c) and
 * its console process in a host (console_server.c), over a unix socket.
 *
 * A frame is one type byte, the payload's length as 4 bytes big-endian, then
 * the payload (at most MB_WIRE_MAX bytes). Text is UTF-8, never terminated.
 *
 *   terminal -> host
 *     'L'  a line the user typed (without its newline)
 *     'C'  complete: "<word>\n<the line before the word>", the word being
 *          the one before the cursor
 *     'K'  the line being edited was cancelled (Ctrl-C at the prompt)
 *     'I'  interrupt: Ctrl-C while an evaluation runs
 *     'E'  end of input (Ctrl-D): the console ends, the host stays up
 *
 *   host -> terminal
 *     'H'  hello, MB_WIRE_HELLO: the first frame on every connection
 *     'O'  output to show
 *     'P'  prompt: read one line with this prompt, and send it back
 *     'c'  the answer to 'C': candidates, one per line
 *     'X'  goodbye: the console process ended its session
 */
#ifndef MB_CONSOLE_WIRE_H
#define MB_CONSOLE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "core/buf.h"

#define MB_WIRE_MAX (16u << 20)
#define MB_WIRE_HEAD 5              /* the type byte and the length */
#define MB_CONSOLE_LINE_MAX (1u << 20)   /* a terminal's frame: lines, not megabytes */
#define MB_WIRE_HELLO "moonbeam-console 1"

/* Write one whole frame, waiting for the peer as long as it takes (the
 * terminal's side). Returns 0, or -1 with errno set (EPIPE when the peer is
 * gone: never a SIGPIPE). */
int mb_wire_write(int fd, char type, const void *payload, size_t len);

/* Frames on their way to a peer that may be slow to read (the host's side):
 * whole frames, oldest first, written without ever waiting. The caller
 * serializes access. */
typedef struct mb_wire_queue {
    mb_buf bytes;                   /* bytes.p[sent..len) are not written yet */
    size_t sent;
} mb_wire_queue;

void mb_wire_queue_init(mb_wire_queue *q);
void mb_wire_queue_free(mb_wire_queue *q);
/* The bytes queued and not written yet. */
size_t mb_wire_queue_pending(const mb_wire_queue *q);
/* Append one whole frame. Returns 0, or -1 with errno (EMSGSIZE, ENOMEM). */
int mb_wire_queue_put(mb_wire_queue *q, char type, const void *payload, size_t len);
/* Write as much as fd takes now, without waiting. Returns the bytes
 * written (0 when the socket is full), or -1 with errno when the peer is
 * gone. */
ssize_t mb_wire_queue_flush(mb_wire_queue *q, int fd);

/* Read one frame, blocking. Returns 0 with *type and payload filled (the
 * buffer is reset first), 1 at a clean end of stream, -1 on an error or a
 * malformed frame. */
int mb_wire_read(int fd, char *type, mb_buf *payload);

/* Find the first whole frame in the bytes p[0..n). Returns 1 with the
 * frame's type, payload (pointing into p) and *used, the bytes it spans;
 * 0 if the frame is not complete yet; -1 if it is malformed. */
int mb_wire_parse(const uint8_t *p, size_t n, char *type, const uint8_t **payload,
                  size_t *len, size_t *used);

#endif
