/* dist_term.h: Erlang's terms (etf.h) to moonbeam's (core/term.h) and
 * back, by the mapping of docs/reference.md ("Nodes"), with pids and refs
 * of either node made values of this one (nodetab.h). Any thread. */
#ifndef MB_DIST_TERM_H
#define MB_DIST_TERM_H

#include "core/buf.h"
#include "core/term.h"
#include "etf.h"
#include "nodetab.h"

/* Who this node is, for its own pids and refs on the wire. */
typedef struct mb_dist_self {
    const char *node;
    uint32_t creation;
    mb_nodetab *tab;
} mb_dist_self;

/* One Erlang term at r (advanced past it) appended to b as a moonbeam
 * term. -1 with *why: what is not carried ("a port", "an improper list",
 * ...), malformed, or out of memory. */
int mb_dist_from_etf(const mb_dist_self *me, mb_etf_rd *r, mb_buf *b, const char **why);
/* The same for a term that lands depth levels down in what b holds (a
 * reason inside {"shutdown", reason}): MB_MAX_DEPTH counts from b's top. */
int mb_dist_from_etf_at(const mb_dist_self *me, mb_etf_rd *r, mb_buf *b, const char **why, int depth);
/* One moonbeam term (v) appended to b in the external format (no version
 * byte). -1 with *why. */
int mb_dist_to_etf(const mb_dist_self *me, mb_span v, mb_buf *b, const char **why);

/* A pid or ref of this node or another, on the wire: -1 when out of
 * memory, or a remote value whose entry was reused. */
int mb_dist_put_pid(const mb_dist_self *me, mb_buf *b, mb_pid pid);
int mb_dist_put_ref(const mb_dist_self *me, mb_buf *b, mb_ref ref);
/* Our ref (a local one) as the tag of a call we make: its answer, {Tag,
 * Reply}, is then told from a message that holds our ref by chance, and
 * one that comes after the call ended is dropped (mb_dist_is_call_tag). */
int mb_dist_put_call_tag(const mb_dist_self *me, mb_buf *b, mb_ref ref);
/* A call's tag as the caller sent it: a plain ref, or [alias | Ref] for
 * a ref mb_dist_tag_of made of such a tag. */
int mb_dist_put_tag(const mb_dist_self *me, mb_buf *b, mb_ref ref);
/* Whether the call tag ref came as [alias | Ref]; if so, *alias: Ref, the
 * alias a reply goes to (OTP 24+ callers: once the call timed out, the
 * alias is gone and the reply with it, not left in the caller's mailbox). */
bool mb_dist_alias_of(const mb_dist_self *me, mb_ref ref, mb_ref *alias);
/* The ref value of a call's tag at r (a ref, or [alias | Ref]); 0 when it
 * is neither (or out of memory). */
mb_ref mb_dist_tag_of(const mb_dist_self *me, mb_etf_rd *r);
/* The value of a pid or ref read from the wire (0 when out of memory). */
mb_pid mb_dist_pid_of(const mb_dist_self *me, const mb_etf_pid *p);
mb_ref mb_dist_ref_of(const mb_dist_self *me, const mb_etf_ref *r);
/* Whether r is a tag mb_dist_put_call_tag wrote. */
bool mb_dist_is_call_tag(const mb_dist_self *me, const mb_etf_ref *r);

#endif
