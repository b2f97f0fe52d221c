/*
 * hop.c — a dialog's next hop resolved once and remembered (hop.h).
 * Only the first target is kept: RFC 3263 §4.3 failover belongs to the
 * request that opens the dialog; inside it the peer is one host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hop.h"
#include "sc_log.h"

void sc_hop_fini(sc_hop_t *h)
{
    if (h->resolving)
        sc_resolve_cancel(h->resolving);
    free(h->name);
    h->name = NULL;
    h->resolving = NULL;
    h->resolved = false;
}

static void on_resolved(const sc_target_t *t, int n, const char *why, void *arg)
{
    sc_hop_t *h = arg;
    h->resolving = NULL;
    h->resolved = n > 0;
    snprintf(h->why, sizeof(h->why), "%s", n > 0 || why == NULL ? "" : why);
    if (n > 0)
        h->target = t[0];
    else
        sc_log(SC_LOG_INFO, "dialog hop %s: %s", h->name, why);
    h->ready(h->owner, n > 0);
}

int sc_hop_route(sc_hop_t *h, const sc_stack_t *st, const sc_msg_t *m, size_t size,
                 sc_tp_route_t *route, char *err, size_t errlen)
{
    const sc_uri_t *hop = m->route ? &m->route->uri : &m->ruri;
    struct sockaddr_storage to;
    socklen_t len;
    sc_tp_kind_t kind;
    char host[256];                     /* TLS: the name to ask for and check */
    snprintf(host, sizeof(host), "%.*s", SC_STR_FMT(hop->host));
    if ((hop->scheme == SC_URI_SIP || hop->scheme == SC_URI_SIPS) &&
        sc_uri_target(hop, &to, &len, &kind) == 0)          /* numeric: no DNS */
        return sc_tp_route_host(st->tps, kind, (struct sockaddr *)&to, len, size, host, route, err,
                                errlen) == 0 ? SC_HOP_ROUTED : SC_HOP_FAIL;
    if (hop->scheme != SC_URI_SIP && hop->scheme != SC_URI_SIPS) {
        snprintf(err, errlen, "cannot send to %.*s: not a sip: or sips: URI", SC_STR_FMT(hop->raw));
        return SC_HOP_FAIL;
    }
    if (h->name && strlen(h->name) == hop->raw.len && memcmp(h->name, hop->raw.s, hop->raw.len) == 0) {
        if (h->resolving)
            return SC_HOP_WAIT;
        if (!h->resolved) {
            snprintf(err, errlen, "%s: %s", h->name, h->why[0] ? h->why : "no address");
            return SC_HOP_FAIL;
        }
        return sc_tp_route_host(st->tps, h->target.kind, (const struct sockaddr *)&h->target.addr,
                                h->target.len, size, host, route, err, errlen) == 0
                   ? SC_HOP_ROUTED : SC_HOP_FAIL;
    }
    sc_hop_fini(h);                     /* a new hop (target refresh): ask again */
    if (st->resolver == NULL || (h->name = strndup(hop->raw.s, hop->raw.len)) == NULL ||
        (h->resolving = sc_resolve(st->resolver, hop, false, on_resolved, h)) == NULL) {
        snprintf(err, errlen, "cannot resolve %.*s", SC_STR_FMT(hop->raw));
        return SC_HOP_FAIL;
    }
    return SC_HOP_WAIT;
}
