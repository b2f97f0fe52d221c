/*
 * tp_self.c — what names this server: the test behind RFC 3261 §16.4
 * (a Route or Request-URI that is ours) and behind the proxy's loop
 * guard (never forward to ourselves).
 *
 * Hosts are compared as addresses, not as text, so that "::1", "[::1]"
 * and "0:0:0:0:0:0:0:1" are one host; names (the aliases an operator
 * gives for the DNS names and public addresses that reach us) compare
 * case-insensitively (RFC 3261 §19.1.4).  A listener on a wildcard
 * address is reached at any address of the host, so for it the host's
 * own addresses are read (getifaddrs) and kept a few seconds: a Route
 * check must not cost a netlink round trip per request.
 */
#include "transport_impl.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IFADDRS_TTL_S 5

static bool same_ip(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return false;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

static uint16_t port_of(const struct sockaddr *a)
{
    return ntohs(a->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
                                          : ((const struct sockaddr_in *)a)->sin_port);
}

/* The host's own addresses, for wildcard listeners. */
static void read_ifaddrs(sc_tp_set_t *set)
{
    time_t now = time(NULL);
    if (set->ifaddrs && now - set->ifaddrs_at < IFADDRS_TTL_S)
        return;
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0)
        return;                         /* keep what we had */
    int n = 0;
    for (struct ifaddrs *i = list; i; i = i->ifa_next)
        n += i->ifa_addr && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6);
    struct sockaddr_storage *a = calloc((size_t)n + 1, sizeof(*a));
    if (a != NULL) {
        int k = 0;
        for (struct ifaddrs *i = list; i && k < n; i = i->ifa_next)
            if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET)
                memcpy(&a[k++], i->ifa_addr, sizeof(struct sockaddr_in));
            else if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6)
                memcpy(&a[k++], i->ifa_addr, sizeof(struct sockaddr_in6));
        free(set->ifaddrs);
        set->ifaddrs = a;
        set->nifaddrs = k;
        set->ifaddrs_at = now;
    }
    freeifaddrs(list);
}

/* Is ip one of this host's addresses? */
static bool host_has(sc_tp_set_t *set, const struct sockaddr *ip)
{
    read_ifaddrs(set);
    for (int i = 0; i < set->nifaddrs; i++)
        if (same_ip(ip, &set->ifaddrs[i]))
            return true;
    return false;
}

/* Does a listener bound to l's address take what is sent to ip? */
static bool listener_takes(sc_tp_set_t *set, const sc_listener_t *l, const struct sockaddr *ip)
{
    if (l->local.addr.ss_family != ip->sa_family)
        return false;
    return l->wildcard ? host_has(set, ip) : same_ip(ip, &l->local.addr);
}

static bool listens_on_port(const sc_tp_set_t *set, uint16_t port)
{
    for (int i = 0; i < set->nls; i++)
        if (set->ls[i]->local.port == port)
            return true;
    return false;
}

/* a's address on a's port (port 0: on any port we listen on). */
static bool addr_is_local(sc_tp_set_t *set, const struct sockaddr *a, uint16_t port)
{
    for (int i = 0; i < set->nls; i++)
        if ((port == 0 || set->ls[i]->local.port == port) && listener_takes(set, set->ls[i], a))
            return true;
    return false;
}

bool sc_tp_addr_is_local(sc_tp_set_t *set, const struct sockaddr *a)
{
    return addr_is_local(set, a, port_of(a));
}

/* host (brackets or not) as an address with port, or false for a name. */
static bool numeric(sc_str_t host, uint16_t port, struct sockaddr_storage *out)
{
    char h[INET6_ADDRSTRLEN + 2];
    if (host.len >= 2 && host.s[0] == '[' && host.s[host.len - 1] == ']')
        host = sc_str(host.s + 1, host.len - 2);
    if (host.len == 0 || host.len >= sizeof(h))
        return false;
    memcpy(h, host.s, host.len);
    h[host.len] = '\0';
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return true;
    }
    if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return true;
    }
    return false;
}

/* An alias "name" or "name:port" ("[v6]:port") against host:port. */
static bool alias_names(const char *alias, sc_str_t host, uint16_t port, const sc_tp_set_t *set)
{
    const char *colon = alias[0] == '[' ? strstr(alias, "]:") : strrchr(alias, ':');
    if (colon && alias[0] == '[')
        colon++;
    if (colon && alias[0] != '[' && strchr(alias, ':') != colon)
        colon = NULL;                   /* a bare IPv6 address: no port */
    size_t nl = colon ? (size_t)(colon - alias) : strlen(alias);
    sc_str_t name = sc_str(alias, nl);
    if (name.len >= 2 && name.s[0] == '[')
        name = sc_str(name.s + 1, name.len - 2);
    if (host.len >= 2 && host.s[0] == '[')
        host = sc_str(host.s + 1, host.len - 2);
    struct sockaddr_storage a, b;
    bool same = numeric(name, 0, &a) && numeric(host, 0, &b)
                    ? same_ip((const struct sockaddr *)&a, &b)
                    : sc_str_caseeq(name, host);
    if (!same)
        return false;
    if (port == 0)
        return true;
    return colon ? (uint16_t)atoi(colon + 1) == port : listens_on_port(set, port);
}

/* A listener's advertise address: what we write for ourselves, so what
 * comes back (a Route from our Record-Route) names us. */
static bool advertised(const sc_tp_set_t *set, sc_str_t host, uint16_t port)
{
    for (int i = 0; i < set->nls; i++) {
        const sc_listener_t *l = set->ls[i];
        if (l->advertise == NULL)
            continue;
        sc_str_t name = sc_str_cstr(l->advertise), h = host;
        if (name.len >= 2 && name.s[0] == '[')
            name = sc_str(name.s + 1, name.len - 2);
        if (h.len >= 2 && h.s[0] == '[')
            h = sc_str(h.s + 1, h.len - 2);
        struct sockaddr_storage a, b;
        bool same = numeric(name, 0, &a) && numeric(h, 0, &b)
                        ? same_ip((const struct sockaddr *)&a, &b)
                        : sc_str_caseeq(name, h);
        if (same && (port == 0 || port == (l->advertise_port ? l->advertise_port : l->local.port)))
            return true;
    }
    return false;
}

bool sc_tp_is_local(sc_tp_set_t *set, sc_str_t host, uint16_t port)
{
    struct sockaddr_storage a;
    if (numeric(host, port, &a) && addr_is_local(set, (const struct sockaddr *)&a, port))
        return true;
    if (advertised(set, host, port))
        return true;
    for (char **al = set->aliases; al && *al; al++)
        if (alias_names(*al, host, port, set))
            return true;
    return false;
}

bool sc_tp_uri_is_local(sc_tp_set_t *set, const sc_uri_t *u)
{
    if (u->scheme != SC_URI_SIP && u->scheme != SC_URI_SIPS)
        return false;
    uint16_t port = u->port;
    if (port == 0)      /* a target's missing port is the default one */
        port = u->scheme == SC_URI_SIPS || sc_str_caseeq_c(u->transport, "tls") ? 5061 : 5060;
    return sc_tp_is_local(set, u->host, port);
}

bool sc_tp_route_is_local(sc_tp_set_t *set, const sc_uri_t *u)
{
    if (u->scheme != SC_URI_SIP && u->scheme != SC_URI_SIPS)
        return false;
    return sc_tp_is_local(set, u->host, u->port);    /* none: any port of ours */
}

int sc_tp_set_aliases(sc_tp_set_t *set, const char *const *aliases)
{
    for (char **al = set->aliases; al && *al; al++)
        free(*al);
    free(set->aliases);
    set->aliases = NULL;
    size_t n = 0;
    while (aliases && aliases[n])
        n++;
    if (n == 0)
        return 0;
    if ((set->aliases = calloc(n + 1, sizeof(char *))) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((set->aliases[i] = strdup(aliases[i])) == NULL)
            return -1;
    return 0;
}
