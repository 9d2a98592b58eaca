/* nodetab.h: the pids and refs of other nodes this node has seen, each
 * given a 46-bit value of moonbeam's (pid.h: a remote pid or ref is an
 * entry and a generation), and the names of those nodes, each given a
 * number (the N of <N.x.y>; 0 is this node).
 *
 * A value must stay a plain light userdata (== and table keys work in
 * every state), so what Erlang sends (node, creation, numbers) is kept
 * here and the value only points at it. The table never learns when a
 * value is dropped; it holds up to 2^21 pids and 2^21 refs, and when full
 * it reuses its oldest entry with the next generation, so a value held
 * across 2^21 newer ones of its kind no longer resolves (what it is sent
 * to is then dropped, as to a dead process). Node names are kept for the
 * host's life.
 *
 * Any thread: one mutex guards it all. */
#ifndef MB_NODETAB_H
#define MB_NODETAB_H

#include <stdbool.h>
#include <stdint.h>
#include "core/pid.h"
#include "etf.h"

typedef struct mb_nodetab mb_nodetab;

/* A remote pid (words: id, serial) or ref (1 to 5 words), and its node. */
typedef struct mb_remote {
    uint32_t node;             /* the node's number */
    uint32_t creation;
    int nwords;
    uint32_t words[MB_ETF_MAX_REF_WORDS];
    bool alias_tag;            /* a ref that came as a call's tag [alias | Ref] (OTP 24+):
                                  a reply must carry the tag as it came */
} mb_remote;

mb_nodetab *mb_nodetab_new(const char *self);
void mb_nodetab_free(mb_nodetab *t);

/* The number of the node named (n bytes at) s, interned: 0 for this node,
 * -1 when out of memory. */
long mb_nodetab_node(mb_nodetab *t, const char *s, size_t n);
/* The name of node number i (NULL if unknown): copied into out. */
bool mb_nodetab_node_name(mb_nodetab *t, uint32_t i, char *out, size_t outlen);

/* The value for a remote pid or ref (0 when out of memory). */
mb_pid mb_nodetab_pid(mb_nodetab *t, const mb_remote *r);
mb_ref mb_nodetab_ref(mb_nodetab *t, const mb_remote *r);
/* What a remote pid or ref value stands for; false when its entry was
 * reused since (or it never was one). */
bool mb_nodetab_get(mb_nodetab *t, uint64_t v, mb_remote *out);

#endif
