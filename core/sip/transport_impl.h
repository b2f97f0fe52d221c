/* transport_impl.h — the listener as the transport files share it. */
#ifndef SC_TRANSPORT_IMPL_H
#define SC_TRANSPORT_IMPL_H

#include "transport.h"

#include <time.h>

struct evconnlistener;
typedef struct ssl_ctx_st SSL_CTX;

/* Every transport of one event loop: its listeners, the owners of the
 * connections it opened itself (one per stream kind), and an index of
 * every open connection by peer address, so that a request to a peer
 * reuses the connection it came from (no new connection to a NATed
 * phone, RFC 5626 §3, RFC 3261 §18.1.1). */
#define SC_CONN_BUCKETS 4096
struct sc_tp_set {
    struct event_base *base;
    sc_message_cb      cb;
    void              *arg;
    sc_tp_opts_t       opts;
    sc_listener_t     *ls[64];
    int                nls;
    sc_listener_t     *out[3];      /* by kind: TCP and TLS */
    sc_conn_t         *index[SC_CONN_BUCKETS];
    sc_conn_lost_fn    lost;
    void              *lost_arg;
    sc_udp_unreach_fn  unreach;
    void              *unreach_arg;
    /* what else names us (tp_self.c): configured names, and the host's
     * own addresses for wildcard listeners (read again every few s) */
    char             **aliases;
    struct sockaddr_storage *ifaddrs;
    int                nifaddrs;
    time_t             ifaddrs_at;
    SSL_CTX           *client_ctx;  /* TLS out with no tls: listener: system CAs */
    /* the source address the kernel routes from towards a destination,
     * for wildcard listeners (tp_local.c): a small cache, so that a
     * request costs no socket and connect() per send */
    struct sc_src_route *routes;
};

struct sc_listener {
    sc_tp_kind_t       kind;
    sc_tp_set_t       *set;         /* NULL when not in a set (tests) */
    sc_peer_t          local;       /* bound address, described once: the Via
                                       sent-by, and what "us" means in a Route */
    bool               wildcard;    /* bound to 0.0.0.0 or :: */
    char              *advertise;   /* host written for us instead, or NULL */
    uint16_t           advertise_port;  /* 0: local.port */
    sc_message_cb      cb;
    void              *arg;
    struct event_base *base;
    /* UDP */
    int                fd;
    struct event      *ev;
    char              *buf;     /* 64 KiB a slot of a read batch: no datagram
                                   is ever truncated (transport_udp.c) */
    /* TCP */
    struct evconnlistener *lev;
    sc_tp_opts_t       opts;
    SSL_CTX           *ssl_ctx;     /* TLS listeners */
    SSL_CTX           *client_ctx;  /* TLS listeners: for connections we open */
    unsigned           nconns;
    sc_conn_t         *conns;   /* every open connection, for free */
    /* accepted connections (transport_tcp.c): those of each source, and
     * those no complete message has arrived on yet ("unproven"), least
     * recently active first */
    struct sc_src    **srcs;    /* hash buckets, allocated at the first accept */
    sc_conn_t         *unproven, *unproven_tail;
    struct event      *resume;      /* accepting again after out of descriptors */
    bool               paused;      /* graceful stop: never resume */
    time_t             guard_said;  /* the second the guard last logged */
    unsigned           guard_quiet; /* what it did not log since */
};

/* tp_local.c: our host:port for a message through l to or from peer:
 * l's advertise address, else l's own, else (l a wildcard) local when
 * given, else the route's source towards peer. */
void sc_tp_hostport(sc_tp_set_t *set, const sc_listener_t *l, const struct sockaddr *peer,
                    const sc_ip_t *local, char *out, size_t cap);
/* tp_local.c: the address the kernel sends from towards to (a connected
 * UDP socket's getsockname), cached a few seconds; port 0.  -1: no
 * route. */
int  sc_tp_route_source(sc_tp_set_t *set, const struct sockaddr *to, sc_ip_t *out);
void sc_tp_routes_free(sc_tp_set_t *set);
/* transport_tcp.c: the local address of c (getsockname when it opened). */
const sc_ip_t *sc_conn_local(const sc_conn_t *c);
/* transport_tcp.c: the listener (or connector) that owns c. */
const sc_listener_t *sc_conn_listener(const sc_conn_t *c);
/* transport_tcp.c: stop accepting and reading (graceful stop). */
void sc_tcp_pause(sc_listener_t *l);
/* transport_tcp.c: the set a connection belongs to, even once closed
 * (NULL for a listener outside a set). */
sc_tp_set_t *sc_conn_owner(const sc_conn_t *c);
/* transport_tcp.c: the open connection to a peer, or NULL. */
sc_conn_t *sc_conn_find(sc_tp_set_t *set, sc_tp_kind_t kind, const struct sockaddr *to);
/* transport_tcp.c: a new outbound connection (connecting; writes queue
 * until it is up), owned by the set.  NULL with err. */
sc_conn_t *sc_tcp_connect(sc_tp_set_t *set, sc_tp_kind_t kind, const struct sockaddr *to,
                          socklen_t len, const char *host, char *err, size_t errlen);
/* transport_tcp.c: frees an owner of outbound connections. */
void sc_tcp_free_connector(sc_listener_t *l);

#endif
