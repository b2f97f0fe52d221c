/*
 * hop.h — the next hop of a dialog, resolved once (RFC 3263).
 *
 * Requests inside a dialog go to one place: the first Route, else the
 * remote target.  When that is a host name it is resolved the first
 * time it is needed and the answer kept while the hop stays the same
 * (a target refresh to another name resolves again).  Callers that get
 * SC_HOP_WAIT park their message and try again when `ready` is called.
 */
#ifndef SC_HOP_H
#define SC_HOP_H

#include "chain_impl.h"

typedef struct {
    char         *name;         /* the hop URI text whose answer we hold or await */
    sc_target_t   target;       /* its first target (valid when resolved) */
    bool          resolved;
    char          why[300];     /* why it led nowhere, when it did ("": it did not) */
    sc_resolve_t *resolving;
    void        (*ready)(void *owner, bool ok);
    void         *owner;
} sc_hop_t;

enum { SC_HOP_FAIL = -1, SC_HOP_ROUTED = 0, SC_HOP_WAIT = 1 };

/* Routes m (whose size with our Via will be about size): SC_HOP_ROUTED
 * with *route set, SC_HOP_WAIT when DNS is under way (ready follows),
 * SC_HOP_FAIL with err. */
int  sc_hop_route(sc_hop_t *h, const sc_stack_t *st, const sc_msg_t *m, size_t size,
                  sc_tp_route_t *route, char *err, size_t errlen);
void sc_hop_fini(sc_hop_t *h);

#endif
