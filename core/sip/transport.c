/* transport.c — what UDP and TCP share: listen addresses, dispatch, replies. */
#include "transport_impl.h"

#include <event2/event.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/ssl.h>

#include "sc_log.h"

const char *sc_listen_parse(const char *text, sc_tp_kind_t *kind, struct sockaddr_storage *ss,
                            socklen_t *len)
{
    if (strncmp(text, "udp:", 4) == 0)
        *kind = SC_TP_UDP;
    else if (strncmp(text, "tcp:", 4) == 0)
        *kind = SC_TP_TCP;
    else if (strncmp(text, "tls:", 4) == 0)
        *kind = SC_TP_TLS;
    else
        return "listen address must look like udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT";
    const char *host = text + 4, *port;
    char h[INET6_ADDRSTRLEN + 2];
    size_t hl;
    if (*host == '[') {
        const char *close = strchr(host, ']');
        if (close == NULL || close[1] != ':')
            return "IPv6 address must be written [ADDR]:PORT";
        hl = (size_t)(close - host - 1);
        host++;
        port = close + 2;
    } else {
        const char *colon = strrchr(host, ':');
        if (colon == NULL)
            return "missing :PORT";
        hl = (size_t)(colon - host);
        port = colon + 1;
    }
    if (hl == 0 || hl >= sizeof(h))
        return "bad host";
    memcpy(h, host, hl);
    h[hl] = '\0';
    uint64_t p;
    if (!sc_str_to_u64(sc_str_cstr(port), 65535, &p) || p == 0)
        return "port must be 1-65535";
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof(*v6);
    } else {
        return "host must be a numeric IPv4 or IPv6 address";
    }
    return NULL;
}

const char *sc_tp_name(sc_tp_kind_t kind)
{
    return kind == SC_TP_TLS ? "tls" : kind == SC_TP_TCP ? "tcp" : "udp";
}

const char *sc_tp_via_name(sc_tp_kind_t kind)
{
    return kind == SC_TP_TLS ? "TLS" : kind == SC_TP_TCP ? "TCP" : "UDP";
}

/* Dotted quad of a (network order) into out: what inet_ntop writes,
 * without the sprintf glibc's takes (this runs for every datagram). */
static void ipv4_text(const struct in_addr *a, char *out)
{
    const unsigned char *b = (const unsigned char *)&a->s_addr;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            *out++ = (char)('0' + v / 100);
        if (v >= 10)
            *out++ = (char)('0' + v / 10 % 10);
        *out++ = (char)('0' + v % 10);
        *out++ = i < 3 ? '.' : '\0';
    }
}

void sc_peer_describe(sc_peer_t *p)
{
    if (p->addr.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&p->addr;
        inet_ntop(AF_INET6, &a->sin6_addr, p->ip, sizeof(p->ip));
        p->port = ntohs(a->sin6_port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&p->addr;
        ipv4_text(&a->sin_addr, p->ip);
        p->port = ntohs(a->sin_port);
    }
}

sc_listener_t *sc_listen(struct event_base *base, sc_tp_kind_t kind, const struct sockaddr *addr,
                         socklen_t len, const sc_tp_opts_t *opts, const sc_tls_opts_t *tls,
                         sc_message_cb cb, void *arg, char *err, size_t errlen)
{
    sc_listener_t *l = kind == SC_TP_UDP
        ? sc_udp_listen(base, addr, len, cb, arg, err, errlen)
        : sc_tcp_listen(base, addr, len, opts, kind == SC_TP_TLS ? tls : NULL, cb, arg, err, errlen);
    if (l) {
        memcpy(&l->local.addr, addr, len);
        l->local.len = len;
        sc_peer_describe(&l->local);
        l->wildcard = sc_addr_is_wildcard(addr);
    }
    return l;
}

void sc_listener_free(sc_listener_t *l)
{
    if (l == NULL)
        return;
    sc_tp_set_t *set = l->set;
    for (int i = 0; set && i < set->nls; i++)
        if (set->ls[i] == l) {
            set->ls[i] = set->ls[--set->nls];
            break;
        }
    free(l->advertise);
    l->advertise = NULL;
    if (l->kind != SC_TP_UDP)
        sc_tcp_free(l);
    else
        sc_udp_free(l);
}

int sc_listener_update(sc_listener_t *l, const sc_tp_opts_t *opts, const sc_tls_opts_t *tls,
                       char *err, size_t errlen)
{
    l->opts = *opts;
    if (l->kind != SC_TP_TLS)
        return 0;
    SSL_CTX *ctx = sc_tls_context(tls, err, errlen);
    SSL_CTX *cctx = ctx ? sc_tls_listener_client_context(tls, err, errlen) : NULL;
    if (cctx == NULL) {
        SSL_CTX_free(ctx);
        return -1;
    }
    SSL_CTX_free(l->ssl_ctx);       /* open connections keep their own reference */
    l->ssl_ctx = ctx;
    SSL_CTX_free(l->client_ctx);
    l->client_ctx = cctx;
    return 0;
}

void sc_listener_pause(sc_listener_t *l)
{
    if (l->kind == SC_TP_UDP)
        event_del(l->ev);
    else
        sc_tcp_pause(l);
}

int sc_source_reply(const sc_source_t *src, const char *buf, size_t len,
                    const struct sockaddr *dest, socklen_t destlen)
{
    if (src->kind == SC_TP_UDP)
        return sc_udp_send(src->listener, buf, len, dest, destlen, &src->local);
    if (sc_tcp_send(src->conn, buf, len) == 0)
        return 0;
    /* §18.2.2: the connection is gone: one to the address it came from
     * at the port in its sent-by */
    sc_tp_set_t *set = sc_conn_owner(src->conn);
    char err[200];
    sc_conn_t *c = set ? sc_conn_find(set, src->kind, dest) : NULL;
    if (set && c == NULL && (c = sc_tcp_connect(set, src->kind, dest, destlen, NULL, err, sizeof(err))) == NULL)
        sc_log(SC_LOG_INFO, "cannot reconnect to answer: %s", err);
    return c ? sc_tcp_send(c, buf, len) : -1;
}

static void set_port(sc_peer_t *p, uint16_t port)
{
    if (p->addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&p->addr)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)&p->addr)->sin_port = htons(port);
    p->port = port;
}

void sc_flow_for_response(sc_source_t *flow, const sc_via_t *via)
{
    if (via == NULL)
        return;
    uint16_t port = via->port ? via->port : flow->kind == SC_TP_TLS ? 5061 : 5060;
    if (flow->kind != SC_TP_UDP) {
        /* the connection it came on; should that be gone, a new one to
         * its address at the sent-by port (sc_source_reply) */
        set_port(&flow->peer, port);
        return;
    }
    char h[INET6_ADDRSTRLEN];
    struct sockaddr_storage m;
    memset(&m, 0, sizeof(m));
    if (via->maddr.len && via->maddr.len < sizeof(h)) {
        /* to the address in maddr, at the sent-by port (a numeric maddr;
         * a name there is not resolved) */
        memcpy(h, via->maddr.s, via->maddr.len);
        h[via->maddr.len] = '\0';
        struct sockaddr_in *v4 = (struct sockaddr_in *)&m;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&m;
        if (inet_pton(AF_INET, h, &v4->sin_addr) == 1 && flow->peer.addr.ss_family == AF_INET) {
            v4->sin_family = AF_INET;
            flow->peer.len = sizeof(*v4);
        } else if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1 && flow->peer.addr.ss_family == AF_INET6) {
            v6->sin6_family = AF_INET6;
            flow->peer.len = sizeof(*v6);
        } else {
            m.ss_family = AF_UNSPEC;
        }
        if (m.ss_family != AF_UNSPEC) {
            flow->peer.addr = m;
            sc_peer_describe(&flow->peer);
            set_port(&flow->peer, port);
            return;
        }
    }
    if (!via->has_rport)
        set_port(&flow->peer, port);
}

int sc_flow_send(const sc_source_t *flow, const char *buf, size_t len)
{
    return sc_source_reply(flow, buf, len, (const struct sockaddr *)&flow->peer.addr,
                           flow->peer.len);
}

void sc_source_hold(sc_source_t *src)
{
    if (src->kind != SC_TP_UDP && src->conn)
        sc_conn_ref(src->conn);
}

void sc_source_release(sc_source_t *src)
{
    if (src->kind != SC_TP_UDP && src->conn)
        sc_conn_unref(src->conn);
}

/* --- the set of transports, and routing requests --------------------- */

bool sc_sockaddr_eq(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

sc_tp_set_t *sc_tp_set_new(struct event_base *base, sc_message_cb cb, void *arg)
{
    sc_tp_set_t *set = calloc(1, sizeof(*set));
    if (set == NULL)
        return NULL;
    set->base = base;
    set->cb = cb;
    set->arg = arg;
    set->opts.limits = sc_parse_limits_default;
    set->opts.max_connections = 4096;
    return set;
}

void sc_tp_set_free(sc_tp_set_t *set)
{
    if (set == NULL)
        return;
    for (int i = 0; i < set->nls; i++)
        set->ls[i]->set = NULL;
    for (int k = 0; k < 3; k++)
        if (set->out[k])
            sc_tcp_free_connector(set->out[k]);
    sc_tp_set_aliases(set, NULL);
    sc_tp_routes_free(set);
    free(set->ifaddrs);
    SSL_CTX_free(set->client_ctx);
    free(set);
}

void sc_tp_set_opts(sc_tp_set_t *set, const sc_tp_opts_t *opts)
{
    set->opts = *opts;
    for (int k = 0; k < 3; k++)
        if (set->out[k])
            set->out[k]->opts = *opts;
}

void sc_tp_set_on_unreachable(sc_tp_set_t *set, sc_udp_unreach_fn fn, void *arg)
{
    set->unreach = fn;
    set->unreach_arg = arg;
}

void sc_tp_set_on_lost(sc_tp_set_t *set, sc_conn_lost_fn fn, void *arg)
{
    set->lost = fn;
    set->lost_arg = arg;
}

void sc_tp_set_add(sc_tp_set_t *set, sc_listener_t *l)
{
    if (set->nls < (int)(sizeof(set->ls) / sizeof(set->ls[0]))) {
        set->ls[set->nls++] = l;
        l->set = set;
    }
}

/* The first listener of kind for the family of to. */
static sc_listener_t *listener_for(sc_tp_set_t *set, sc_tp_kind_t kind, const struct sockaddr *to)
{
    for (int i = 0; i < set->nls; i++)
        if (set->ls[i]->kind == kind && set->ls[i]->local.addr.ss_family == to->sa_family)
            return set->ls[i];
    return NULL;
}

/* The listener as configured (drachtio's hostports): its advertise
 * address when it has one. */
static void sentby_of(const sc_listener_t *l, char *out, size_t cap)
{
    const sc_peer_t *me = &l->local;
    if (l->advertise)
        snprintf(out, cap, "%s:%u", l->advertise, l->advertise_port ? l->advertise_port : me->port);
    else
        snprintf(out, cap, me->addr.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", me->ip, me->port);
}

size_t sc_tp_set_describe(const sc_tp_set_t *set, char *out, size_t cap)
{
    size_t n = 0;
    if (cap)
        out[0] = '\0';
    for (int i = 0; set && i < set->nls && n < cap; i++) {
        char hp[SC_HOSTPORT_LEN];
        sentby_of(set->ls[i], hp, sizeof(hp));
        int w = snprintf(out + n, cap - n, "%s%s/%s", n ? "," : "", sc_tp_name(set->ls[i]->kind), hp);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    return n;
}

void sc_source_sentby(const sc_source_t *src, char *out, size_t cap)
{
    const sc_listener_t *l = src->listener;
    const sc_ip_t *local = &src->local;
    if (l == NULL && src->conn) {
        local = sc_conn_local(src->conn);
        l = sc_conn_listener(src->conn);
        /* a connection we opened: a listener of its kind (else any of
         * its family) names us */
        sc_tp_set_t *set = l->set;
        const struct sockaddr *to = (const struct sockaddr *)&src->peer.addr;
        if (l->local.port == 0 && set) {
            const sc_listener_t *any = NULL;
            for (int i = 0; i < set->nls && any == NULL; i++)
                if (set->ls[i]->local.addr.ss_family == to->sa_family)
                    any = set->ls[i];
            const sc_listener_t *same = listener_for(set, src->kind, to);
            l = same ? same : any ? any : l;
        }
    }
    if (l)
        sc_tp_hostport(l->set, l, (const struct sockaddr *)&src->peer.addr, local, out, cap);
    else
        snprintf(out, cap, "invalid");
}

int sc_tp_route(sc_tp_set_t *set, sc_tp_kind_t want, const struct sockaddr *to, socklen_t len,
                size_t size, sc_tp_route_t *out, char *err, size_t errlen)
{
    return sc_tp_route_host(set, want, to, len, size, NULL, out, err, errlen);
}

bool sc_tp_has_conn(sc_tp_set_t *set, sc_tp_kind_t kind, const struct sockaddr *to)
{
    return sc_conn_find(set, kind, to) != NULL;
}

int sc_tp_route_host(sc_tp_set_t *set, sc_tp_kind_t want, const struct sockaddr *to, socklen_t len,
                     size_t size, const char *host, sc_tp_route_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    memcpy(&out->flow.peer.addr, to, len);
    out->flow.peer.len = len;
    sc_peer_describe(&out->flow.peer);
    /* a URI naming no transport: UDP when we have it, else what we have
     * (TCP before TLS), as drachtio-server does; one naming a transport
     * we lack fails with drachtio-server's words */
    sc_tp_kind_t kind = want;
    if (want == SC_TP_ANY)
        kind = listener_for(set, SC_TP_UDP, to) ? SC_TP_UDP
             : listener_for(set, SC_TP_TCP, to) ? SC_TP_TCP
             : listener_for(set, SC_TP_TLS, to) ? SC_TP_TLS : SC_TP_UDP;
    /* §18.1.1: too big for UDP goes over TCP, if this request can */
    unsigned mtu = set->opts.udp_mtu ? set->opts.udp_mtu : SC_UDP_MTU_LIMIT;
    if (kind == SC_TP_UDP && size > mtu && listener_for(set, SC_TP_TCP, to)) {
        kind = SC_TP_TCP;
        out->by_size = true;
    }
    sc_listener_t *via = listener_for(set, kind, to);
    if (kind == SC_TP_UDP) {
        if (via == NULL) {
            snprintf(err, errlen, SC_TP_UNAVAILABLE " (no UDP listener for %s)", out->flow.peer.ip);
            return -1;
        }
        out->flow.kind = SC_TP_UDP;
        out->flow.listener = via;
        /* a wildcard socket: the datagram leaves from the address the
         * Via names (the route's source) */
        if (via->wildcard && via->advertise == NULL)
            sc_tp_route_source(set, to, &out->flow.local);
    } else {
        /* a transport we do not listen on is one we do not offer: the
         * peer could not send its requests back (drachtio-server
         * refuses it too) */
        if (via == NULL) {
            snprintf(err, errlen, SC_TP_UNAVAILABLE " (no %s listener for %s)", sc_tp_via_name(kind),
                     out->flow.peer.ip);
            return -1;
        }
        sc_conn_t *c = sc_conn_find(set, kind, to);
        if (c == NULL && (c = sc_tcp_connect(set, kind, to, len, host, err, errlen)) == NULL)
            return -1;
        out->flow.kind = kind;
        out->flow.conn = c;
    }
    out->kind = kind;
    sc_tp_hostport(set, via, to, out->flow.kind == SC_TP_UDP ? &out->flow.local : sc_conn_local(out->flow.conn),
                   out->sentby, sizeof(out->sentby));
    return 0;
}
