/*
 * route_in.c — RFC 3261 §16.4 as a request arrives: a topmost Route
 * that names this server is ours to consume, before anything looks at
 * the request, so that every module sees it exactly as if it had come
 * without one (a phone with an outbound proxy set, RFC 3261 §8.1.2;
 * an in-dialog request along the route we record-routed).
 *
 * Every consecutive value naming us goes: where a request changed
 * transport or address family here, we record-routed twice (RFC 5658)
 * and both come back as Routes.
 */
#include "route_in.h"

int sc_route_consume_ours(sc_tp_set_t *set, sc_msg_t *m)
{
    int n = 0;
    while (m->route && sc_tp_route_is_local(set, &m->route->uri) && sc_msg_pop_route(m) == 0)
        n++;
    return n;
}
