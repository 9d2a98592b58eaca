/* handshake.h: the messages of Erlang's distribution handshake, version 6
 * (OTP 23 and later), built and parsed; the state machine that sends and
 * awaits them is dist.c's.
 *
 *   initiator A                       acceptor B
 *   'N' flags creation name   ->
 *                             <-      's' status ("ok", "nok", ...)
 *                             <-      'N' flags challenge creation name
 *   'r' challenge digest      ->
 *                             <-      'a' digest
 *
 * Each message is framed by a 2-byte big-endian length. A digest is
 * MD5(cookie ++ the challenge as a decimal string): each side proves it
 * knows the cookie for the other's challenge. */
#ifndef MB_HANDSHAKE_H
#define MB_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* The distribution flags (lib/kernel/include/dist.hrl). */
#define MB_DFLAG_PUBLISHED           UINT64_C(0x1)
#define MB_DFLAG_EXTENDED_REFERENCES UINT64_C(0x4)
#define MB_DFLAG_DIST_MONITOR        UINT64_C(0x8)
#define MB_DFLAG_FUN_TAGS            UINT64_C(0x10)
#define MB_DFLAG_DIST_MONITOR_NAME   UINT64_C(0x20)
#define MB_DFLAG_NEW_FUN_TAGS        UINT64_C(0x80)
#define MB_DFLAG_EXTENDED_PIDS_PORTS UINT64_C(0x100)
#define MB_DFLAG_EXPORT_PTR_TAG      UINT64_C(0x200)
#define MB_DFLAG_BIT_BINARIES        UINT64_C(0x400)
#define MB_DFLAG_NEW_FLOATS          UINT64_C(0x800)
#define MB_DFLAG_UTF8_ATOMS          UINT64_C(0x10000)
#define MB_DFLAG_MAP_TAG             UINT64_C(0x20000)
#define MB_DFLAG_BIG_CREATION        UINT64_C(0x40000)
#define MB_DFLAG_HANDSHAKE_23        UINT64_C(0x1000000)
#define MB_DFLAG_UNLINK_ID           UINT64_C(0x2000000)
#define MB_DFLAG_V4_NC               (UINT64_C(0x4) << 32)

/* OTP 25 refuses a peer that lacks any of these; so do we. */
#define MB_DFLAGS_MANDATORY                                                                   \
    (MB_DFLAG_EXTENDED_REFERENCES | MB_DFLAG_FUN_TAGS | MB_DFLAG_EXTENDED_PIDS_PORTS |     \
     MB_DFLAG_NEW_FUN_TAGS | MB_DFLAG_EXPORT_PTR_TAG | MB_DFLAG_BIT_BINARIES |             \
     MB_DFLAG_NEW_FLOATS | MB_DFLAG_UTF8_ATOMS | MB_DFLAG_MAP_TAG | MB_DFLAG_BIG_CREATION | \
     MB_DFLAG_HANDSHAKE_23)
/* What moonbeam advertises: the mandatory set (funs and bit strings are
 * read, and not carried: docs/reference.md), being a visible node, V4_NC,
 * whose full 32-bit pid fields carry moonbeam's 21-bit slots and serials
 * (pid.h), and monitors by pid and by name (remote_monitor.c for ours,
 * peer_monitor.c for the peer's), and the link protocol of OTP 23 and later
 * (UNLINK_ID, acknowledged: remote_link.c). Not spawn, aliases, fragments
 * or atom caches. */
#define MB_DFLAGS_OURS                                                                                   \
    (MB_DFLAGS_MANDATORY | MB_DFLAG_PUBLISHED | MB_DFLAG_V4_NC | MB_DFLAG_DIST_MONITOR |                 \
     MB_DFLAG_DIST_MONITOR_NAME | MB_DFLAG_UNLINK_ID)
/* A peer must also have V4_NC (OTP 24 and later do). */
#define MB_DFLAGS_REQUIRED (MB_DFLAGS_MANDATORY | MB_DFLAG_V4_NC)

#define MB_NODE_MAX 255   /* bytes of a node name, as an atom */

/* A peer's 'N' message: its name message or (with challenge) its
 * challenge message. */
typedef struct mb_hs_name {
    uint64_t flags;
    uint32_t challenge;
    uint32_t creation;
    char name[MB_NODE_MAX + 1];
} mb_hs_name;

/* Each appends one framed message to b; -1 when out of memory. */
int mb_hs_put_name(mb_buf *b, uint64_t flags, uint32_t creation, const char *name);
int mb_hs_put_status(mb_buf *b, const char *status);
int mb_hs_put_challenge(mb_buf *b, uint64_t flags, uint32_t challenge, uint32_t creation, const char *name);
int mb_hs_put_reply(mb_buf *b, uint32_t challenge, const uint8_t digest[16]);
int mb_hs_put_ack(mb_buf *b, const uint8_t digest[16]);

/* The body of one message (its frame's length removed), tag first. */
int mb_hs_parse_name(const uint8_t *p, size_t n, bool with_challenge, mb_hs_name *out);
/* 'r': the peer's challenge and its digest. */
int mb_hs_parse_reply(const uint8_t *p, size_t n, uint32_t *challenge, uint8_t digest[16]);
/* 'a': the digest. */
int mb_hs_parse_ack(const uint8_t *p, size_t n, uint8_t digest[16]);

void mb_hs_digest(const char *cookie, uint32_t challenge, uint8_t out[16]);
/* Whether two digests match, in time that does not depend on where they differ. */
bool mb_hs_digest_eq(const uint8_t a[16], const uint8_t b[16]);

#endif
