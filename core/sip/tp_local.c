/*
 * tp_local.c — our address for one message: the one place that decides
 * what a Via sent-by, a Record-Route and a Contact say about us.
 *
 * A listener bound to one address is that address.  A listener on the
 * wildcard (0.0.0.0, ::) is reached at every address of the host, and the
 * peer must be given the one it can reach: for a message that arrived,
 * the address it arrived on (IP_PKTINFO / IPV6_PKTINFO on the datagram,
 * getsockname on a connection), for one we send, the source address the
 * kernel routes from towards the destination (connect() of a throwaway
 * UDP socket and getsockname: no packet leaves), which the datagram is
 * then made to leave from (IP_PKTINFO on sendmsg).  A listener with an
 * `advertise` address (a server behind 1:1 NAT) writes that instead,
 * whatever the local one.
 */
#include "transport_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sc_log.h"

#define ROUTES 256              /* cached destinations (direct-mapped) */
#define ROUTE_TTL_S 5           /* routes and addresses change rarely */

struct sc_src_route {
    sc_ip_t dst;                /* port 0 */
    sc_ip_t src;
    time_t  at;                 /* 0: empty */
};

bool sc_addr_is_wildcard(const struct sockaddr *a)
{
    if (a->sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr);
    return a->sa_family == AF_INET &&
           ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
}

int sc_listener_set_advertise(sc_listener_t *l, const char *host, uint16_t port)
{
    char *h = host ? strdup(host) : NULL;
    if (host && h == NULL)
        return -1;
    free(l->advertise);
    l->advertise = h;
    l->advertise_port = host ? port : 0;
    return 0;
}

/* The address only, port 0, so that every port to one host shares a
 * cache entry. */
static void ip_of(const struct sockaddr *a, sc_ip_t *out)
{
    memset(out, 0, sizeof(*out));
    if (a->sa_family == AF_INET6) {
        out->v6.sin6_family = AF_INET6;
        out->v6.sin6_addr = ((const struct sockaddr_in6 *)(const void *)a)->sin6_addr;
        out->v6.sin6_scope_id = ((const struct sockaddr_in6 *)(const void *)a)->sin6_scope_id;
    } else {
        out->v4.sin_family = AF_INET;
        out->v4.sin_addr = ((const struct sockaddr_in *)(const void *)a)->sin_addr;
    }
}

static unsigned slot_of(const sc_ip_t *d)
{
    const unsigned char *p = d->sa.sa_family == AF_INET6 ? (const unsigned char *)&d->v6.sin6_addr
                                                         : (const unsigned char *)&d->v4.sin_addr;
    size_t n = d->sa.sa_family == AF_INET6 ? 16 : 4;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % ROUTES;
}

int sc_tp_route_source(sc_tp_set_t *set, const struct sockaddr *to, sc_ip_t *out)
{
    sc_ip_t dst;
    ip_of(to, &dst);
    time_t now = time(NULL);
    struct sc_src_route *r = NULL;
    if (set->routes == NULL)
        set->routes = calloc(ROUTES, sizeof(*set->routes));
    if (set->routes) {
        r = &set->routes[slot_of(&dst)];
        if (r->at && now - r->at < ROUTE_TTL_S && memcmp(&r->dst, &dst, sizeof(dst)) == 0) {
            *out = r->src;
            return 0;
        }
    }
    /* connect() on a UDP socket only picks the route and source address */
    int fd = socket(to->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sc_ip_t probe = dst;
    if (probe.sa.sa_family == AF_INET6)
        probe.v6.sin6_port = htons(5060);   /* any port: no packet leaves */
    else
        probe.v4.sin_port = htons(5060);
    socklen_t len = probe.sa.sa_family == AF_INET6 ? sizeof(probe.v6) : sizeof(probe.v4);
    sc_ip_t src;
    socklen_t slen = sizeof(src);
    int rc = connect(fd, &probe.sa, len) == 0 && getsockname(fd, &src.sa, &slen) == 0 ? 0 : -1;
    int e = errno;
    close(fd);
    if (rc != 0) {
        sc_log(SC_LOG_DEBUG, "no route from a wildcard listener: %s", strerror(e));
        return -1;
    }
    ip_of(&src.sa, out);
    if (r) {
        r->dst = dst;
        r->src = *out;
        r->at = now;
    }
    return 0;
}

void sc_tp_routes_free(sc_tp_set_t *set)
{
    free(set->routes);
    set->routes = NULL;
}

void sc_tp_hostport(sc_tp_set_t *set, const sc_listener_t *l, const struct sockaddr *peer,
                    const sc_ip_t *local, char *out, size_t cap)
{
    if (l->advertise) {
        snprintf(out, cap, "%s:%u", l->advertise, l->advertise_port ? l->advertise_port : l->local.port);
        return;
    }
    sc_ip_t found;
    const sc_ip_t *me = NULL;
    if (l->wildcard || l->local.port == 0) {
        /* a wildcard listener, or the owner of connections we opened */
        if (local && local->sa.sa_family == peer->sa_family)
            me = local;
        else if (set && peer->sa_family && sc_tp_route_source(set, peer, &found) == 0)
            me = &found;
    }
    char ip[INET6_ADDRSTRLEN];
    if (me == NULL) {
        snprintf(out, cap, l->local.addr.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", l->local.ip,
                 l->local.port);
        return;
    }
    if (me->sa.sa_family == AF_INET6)
        inet_ntop(AF_INET6, &me->v6.sin6_addr, ip, sizeof(ip));
    else
        inet_ntop(AF_INET, &me->v4.sin_addr, ip, sizeof(ip));
    snprintf(out, cap, me->sa.sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, l->local.port);
}
