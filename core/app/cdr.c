/*
 * cdr.c — the cdr:attempt / cdr:start / cdr:stop events (drachtio's
 * CDRs), built from the message that caused them and emitted on the
 * chain whose module (or whose request) the call belongs to.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "chain_impl.h"

void sc_cdr_emit(const sc_chain_t *c, const char *event, const char *source, const char *role,
                 const char *reason, unsigned status, const sc_msg_t *m, const char *user)
{
    struct timeval tv;
    struct tm tm;
    char when[32];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    sc_cdr_t cdr = { .source = source, .time = when, .role = role, .reason = reason, .status = status,
                     .user = user };
    if (m) {            /* NULL: a call that ended before any message went */
        cdr.msg = m->buf ? sc_str(m->buf, m->len) : sc_msg_serialize(m);
        cdr.call_id = m->call_id;
        cdr.from = m->hdr[SC_HDR_FROM] ? m->hdr[SC_HDR_FROM]->value : SC_STR_NULL;
        cdr.to = m->hdr[SC_HDR_TO] ? m->hdr[SC_HDR_TO]->value : SC_STR_NULL;
    }
    if (strcmp(event, "cdr:stop") == 0)
        sc_metric_add(sc_metric_kv(SC_METRIC_COUNTER, "sipchain_calls_total",
                                   "call attempts ended, by CDR outcome (a B2BUA call is two)",
                                   "reason", reason ? reason : "unknown", NULL, NULL),
                      1);
    sc_chain_emit(c, event, &cdr);
}
