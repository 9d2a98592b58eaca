/* log_format.h: a log event as a line: plain text for stderr and file
 * handlers, a JSON object for JSON handlers; and the JSON string escaping
 * the C reports (bindings/vm.c, host/otp/supervisor.c) build their fields
 * with. */
#ifndef MB_LOG_FORMAT_H
#define MB_LOG_FORMAT_H

#include <stddef.h>
#include "buf.h"
#include "logger.h"

/* Append ev, logged at time_ms (ms since the epoch), as kind's line (ending
 * in a newline). -1: no memory. */
int mb_log_format(mb_buf *b, mb_log_kind kind, const mb_log_event *ev, double time_ms);
/* Append s as a JSON string (quoted, escaped; bytes that are not UTF-8 are
 * kept as they are). -1: no memory. */
int mb_json_string(mb_buf *b, const char *s, size_t n);

/* Append {"k1":"v1",...}: n pairs of strings from kv (k1, v1, k2, v2...),
 * a NULL value left out. -1: no memory. */
int mb_json_object(mb_buf *b, const char *const *kv, size_t n);

#endif
