/* route_in.h — RFC 3261 §16.4 on arrival: our own Route values consumed. */
#ifndef SC_ROUTE_IN_H
#define SC_ROUTE_IN_H

#include "transport.h"

/* Takes off every topmost Route value that names this server (any of
 * its listeners by address, or an alias; any transport parameter).
 * Returns how many were taken. */
int sc_route_consume_ours(sc_tp_set_t *set, sc_msg_t *m);

#endif
