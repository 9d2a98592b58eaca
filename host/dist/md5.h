/* md5.h: MD5 (RFC 1321), for the distribution handshake's digest only.
 * Erlang's handshake proves knowledge of the cookie with
 * MD5(cookie ++ decimal challenge); MD5 is no protection beyond that, and
 * moonbeam uses it for nothing else. */
#ifndef MB_MD5_H
#define MB_MD5_H

#include <stddef.h>
#include <stdint.h>

/* The 16-byte digest of n bytes at p. */
void mb_md5(const void *p, size_t n, uint8_t out[16]);

#endif
