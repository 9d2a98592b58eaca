/* packet.h: the framing of moonbeam.net's packet modes, as gen_tcp's:
 * raw (0), line ('l': up to and including '\n'), and 1, 2 or 4 byte
 * big-endian length prefixes. Pure functions over bytes. */
#ifndef MB_PACKET_H
#define MB_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A packet longer than this is an error (emsgsize), not a reason to buffer. */
#define MB_PACKET_MAX ((size_t)64 << 20)

/* The first packet in p[0..n): 1 with its payload at p[*off], *len bytes
 * long and *used bytes consumed; 0 when incomplete (or n == 0); -1 when
 * it is too long. Raw mode: everything there is one packet. ended: no more
 * will come, so a last line without its '\n' is a packet (not lost). */
int mb_packet_next(int mode, const uint8_t *p, size_t n, bool ended, size_t *off, size_t *len, size_t *used);

/* The length prefix for a len-byte payload in mode, written just before
 * data (which has that many bytes of headroom): how many bytes it took (0
 * for raw and line), or -1 when len does not fit. */
int mb_packet_prefix(int mode, uint8_t *data, size_t len);

#endif
