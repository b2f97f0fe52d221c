/*
 * transport.h — SIP transports on libevent (RFC 3261 §18): UDP and TCP
 * listeners over IPv4 and IPv6.
 *
 * Every received message reaches the callback with its source: the peer
 * address and what a reply must go out through (the UDP socket, or the
 * TCP connection it came on, RFC 3261 §18.2.2).  The buffer is writable
 * (the parser unfolds in place) and valid only during the callback.
 */
#ifndef SC_TRANSPORT_H
#define SC_TRANSPORT_H

#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "sip_msg.h"

typedef struct sc_listener sc_listener_t;
typedef struct sc_conn sc_conn_t;
typedef struct sc_tp_set sc_tp_set_t;

/* SC_TP_ANY is only ever what a URI asks for when it names no transport
 * (no transport parameter, not sips:): sc_tp_route picks UDP when we
 * listen on it, else what we have (drachtio-server's choice). */
typedef enum { SC_TP_UDP, SC_TP_TCP, SC_TP_TLS, SC_TP_ANY } sc_tp_kind_t;

/* The longest advertise host (a name, an address, an [IPv6] reference),
 * and room for any "host:port" we write for ourselves. */
#define SC_ADVERTISE_MAX 63
#define SC_HOSTPORT_LEN  (SC_ADVERTISE_MAX + 8)

/* TLS material for a tls: listener (RFC 3261 §26.2.1; TLS 1.2 minimum). */
typedef struct {
    const char *cert;           /* PEM chain */
    const char *key;            /* PEM private key */
    const char *ca;             /* PEM CAs for client certificates, or NULL */
    bool        verify_client;  /* require a client certificate from ca */
    /* connections we open (RFC 5922 §7.2): the peer's certificate is
     * checked against server_ca (NULL: the system's CAs) and the host
     * name or address we connect to, unless no_verify_server; cert and
     * key are offered as our client certificate */
    const char *server_ca;
    bool        no_verify_server;
} sc_tls_opts_t;

typedef struct {
    struct sockaddr_storage addr;
    socklen_t               len;
    char                    ip[INET6_ADDRSTRLEN];  /* numeric, no brackets */
    uint16_t                port;
} sc_peer_t;

/* An IPv4 or IPv6 address with port, small enough to keep in every
 * source (a sockaddr_storage is 128 octets). */
typedef union {
    struct sockaddr     sa;
    struct sockaddr_in  v4;
    struct sockaddr_in6 v6;
} sc_ip_t;

typedef struct {
    sc_tp_kind_t   kind;
    sc_listener_t *listener;    /* UDP: the socket replies leave from */
    sc_conn_t     *conn;        /* TCP, TLS: the connection it arrived on */
    sc_peer_t      peer;
    /* UDP on a wildcard listener: our address at this end (where the
     * request arrived, IP_PKTINFO; or the route's source towards peer),
     * which datagrams along this flow leave from; sa_family 0: the
     * kernel's choice */
    sc_ip_t        local;
} sc_source_t;

typedef void (*sc_message_cb)(const sc_source_t *src, char *buf, size_t len, void *arg);

typedef struct {
    sc_parse_limits_t limits;           /* message size bound on streams */
    unsigned          idle_timeout_s;   /* TCP: close after this long idle */
    unsigned          max_connections;  /* TCP: refuse beyond this many */
    /* Connection slots cannot be hoarded (transport_tcp.c): accepted
     * connections of one source (an IPv4 address, an IPv6 /64) beyond
     * max_per_source are refused (0: no such limit); a message must be
     * complete within message_timeout_s of its first octet, a TLS
     * handshake within tls_handshake_timeout_s of the accept (0: no
     * limit). */
    unsigned          max_per_source;
    unsigned          message_timeout_s;
    unsigned          tls_handshake_timeout_s;
    /* RFC 3261 §18.1.1: a UDP request larger than this goes over TCP
     * when we listen on TCP (server.udp_mtu, drachtio's udp-mtu;
     * 0: SC_UDP_MTU_LIMIT) */
    unsigned          udp_mtu;
} sc_tp_opts_t;

/* "udp:HOST:PORT", "tcp:HOST:PORT" or "tls:HOST:PORT", HOST numeric IPv4
 * or [IPv6].
 * Returns NULL or the reason it is not a listen address. */
const char *sc_listen_parse(const char *text, sc_tp_kind_t *kind, struct sockaddr_storage *addr,
                            socklen_t *len);

/* Binds and starts; tls is for SC_TP_TLS only.  NULL on failure with the
 * reason in err. */
sc_listener_t *sc_listen(struct event_base *base, sc_tp_kind_t kind, const struct sockaddr *addr,
                         socklen_t len, const sc_tp_opts_t *opts, const sc_tls_opts_t *tls,
                         sc_message_cb cb, void *arg, char *err, size_t errlen);
/* A TLS server context from t (certificate, key, client CA); NULL with
 * the reason in err. */
struct ssl_ctx_st *sc_tls_context(const sc_tls_opts_t *t, char *err, size_t errlen);
/* A TLS client context: the peer's certificate checked against ca (NULL:
 * the system's CAs) when verify; NULL with the reason in err. */
struct ssl_ctx_st *sc_tls_client_context(const char *ca, bool verify, char *err, size_t errlen);
/* The client context of a tls: listener (its server_ca, verification,
 * and its certificate offered as ours). */
struct ssl_ctx_st *sc_tls_listener_client_context(const sc_tls_opts_t *t, char *err, size_t errlen);
/* Checks TLS material by loading it (for config validation). */
int sc_tls_check(const sc_tls_opts_t *tls, char *err, size_t errlen);
/* New limits (and for TLS new certificates) after a reload: they apply
 * from the next message and connection on.  -1 with err when the TLS
 * material does not load; the old stays in use. */
int  sc_listener_update(sc_listener_t *l, const sc_tp_opts_t *opts, const sc_tls_opts_t *tls,
                        char *err, size_t errlen);
/* What we write for ourselves (Via sent-by, Record-Route, Contact) for
 * messages through l, instead of its own address: host (a name, an IPv4
 * address or an [IPv6] reference) and port (0: the listener's).  For a
 * server behind a 1:1 NAT (Kamailio's advertise, drachtio's external-ip).
 * NULL clears it.  -1: out of memory. */
int  sc_listener_set_advertise(sc_listener_t *l, const char *host, uint16_t port);
/* Is addr a wildcard (0.0.0.0, ::)? */
bool sc_addr_is_wildcard(const struct sockaddr *addr);
/* Stops reading new messages and accepting connections, but keeps the
 * sockets for answers still to go out (graceful stop). */
void sc_listener_pause(sc_listener_t *l);
/* Stops accepting and reading, closes every connection, frees. */
void sc_listener_free(sc_listener_t *l);

/* Sends a reply for a message from src: on TCP over src's connection, on
 * UDP to dest.  -1 when it could not be sent (connection gone, ...). */
int sc_source_reply(const sc_source_t *src, const char *buf, size_t len,
                    const struct sockaddr *dest, socklen_t destlen);

/* RFC 3261 §18.2.2 with RFC 3581 §4: turns the source of a request into
 * the path its responses take: on TCP/TLS the connection it came on; on
 * UDP the source address, at the source port when rport was asked for,
 * else at the port in sent-by (default 5060).  A top Via too broken to
 * read (RFC 4475 badinv01) leaves the source port. */
void sc_flow_for_response(sc_source_t *flow, const sc_via_t *via);
/* Sends along a flow: its connection, or its UDP socket to its peer. */
int  sc_flow_send(const sc_source_t *flow, const char *buf, size_t len);

/* A source kept beyond the message callback (an answer sent later) holds
 * its TCP connection: a connection closed meanwhile is freed only when
 * released, and replies to it fail cleanly instead of touching freed
 * memory. */
void sc_source_hold(sc_source_t *src);
void sc_source_release(sc_source_t *src);

/* --- sending requests ------------------------------------------------
 * The set of transports requests leave through.  Listeners added to it
 * are its sockets; connections they accept are indexed so a request to
 * that peer goes back over them; it opens new TCP connections itself. */
sc_tp_set_t *sc_tp_set_new(struct event_base *base, sc_message_cb cb, void *arg);
/* Closes the connections it opened; the listeners must be gone. */
void         sc_tp_set_free(sc_tp_set_t *set);
void         sc_tp_set_opts(sc_tp_set_t *set, const sc_tp_opts_t *opts);
void         sc_tp_set_add(sc_tp_set_t *set, sc_listener_t *l);
/* Called when a connection of the set fails or is closed by the peer,
 * so that what was sent over it learns of it (§17.1.4). */
typedef void (*sc_conn_lost_fn)(void *arg, const sc_conn_t *c);
void         sc_tp_set_on_lost(sc_tp_set_t *set, sc_conn_lost_fn fn, void *arg);
/* Called when a UDP datagram a listener of the set sent drew an ICMP
 * port, host or network unreachable (or administratively prohibited):
 * the UDP sockets ask for these (IP_RECVERR, IPV6_RECVERR) and read them
 * off their error queue, from the event loop, never inside a send.  to
 * is where the datagram went; why says what came back ("ICMP port
 * unreachable from 192.0.2.1").  "Packet too big" and the like are not
 * reported. */
typedef void (*sc_udp_unreach_fn)(void *arg, const sc_listener_t *l, const struct sockaddr *to,
                                  const char *why);
void         sc_tp_set_on_unreachable(sc_tp_set_t *set, sc_udp_unreach_fn fn, void *arg);
/* Same family, port and address. */
bool         sc_sockaddr_eq(const struct sockaddr *a, const struct sockaddr *b);

/* Where a request goes and what its Via says. */
typedef struct {
    sc_source_t  flow;          /* the path: UDP socket + address, or connection */
    sc_tp_kind_t kind;          /* the transport chosen */
    char         sentby[SC_HOSTPORT_LEN];    /* our host:port for the Via */
    bool         by_size;       /* UDP was asked for: TCP only for its size */
} sc_tp_route_t;

/* RFC 3261 §18.1.1 for one request of size octets to peer to over the
 * transport asked for (SC_TP_ANY: UDP when we listen on it, else TCP,
 * else TLS); one we do not listen on for to's family fails with err
 * starting SC_TP_UNAVAILABLE: a UDP request larger than udp_mtu (1300, 200
 * octets under the 1500 MTU, by default) goes over TCP when we listen on
 * TCP (for this request only: the next
 * small one is UDP again; size 0 keeps UDP: the flow a phone registered
 * over, RFC 5626, or a retry after TCP was refused); TCP and TLS reuse the open connection to the
 * peer, else TCP opens one.  0, or -1 with err (no socket of that
 * transport and family, ...). */
int  sc_tp_route(sc_tp_set_t *set, sc_tp_kind_t want, const struct sockaddr *to, socklen_t len,
                 size_t size, sc_tp_route_t *out, char *err, size_t errlen);
/* The same, naming the host the URI gave (NULL: none but the address):
 * a TLS connection opened for it sends it as SNI and checks the peer's
 * certificate against it (RFC 5922 §7.2), else against the address. */
int  sc_tp_route_host(sc_tp_set_t *set, sc_tp_kind_t want, const struct sockaddr *to, socklen_t len,
                      size_t size, const char *host, sc_tp_route_t *out, char *err, size_t errlen);
/* Is a connection of that kind to that peer open (a registered TCP or
 * TLS flow still there)? */
bool sc_tp_has_conn(sc_tp_set_t *set, sc_tp_kind_t kind, const struct sockaddr *to);
/* --- what names this server (tp_self.c) ------------------------------
 * host:port names us when host is a listener's address (in any of its
 * textual forms: "::1", "[::1]", "0:0::1"; for a wildcard listener any
 * address of this host), or one of the set's aliases (names compared
 * case-insensitively), and port is that listener's.  Port 0 (none
 * written) is any port we listen on: a phone given "sip:proxy.example"
 * as its outbound proxy finds our port by DNS SRV and writes none in
 * its Route.  An alias with a port names us at that port only. */
bool sc_tp_is_local(sc_tp_set_t *set, sc_str_t host, uint16_t port);
/* A sip:/sips: URI naming us by its host and port; its transport
 * parameter is not compared.  As a target (a Request-URI, a contact) a
 * missing port is the default one (5060, 5061 for sips: or
 * transport=tls): a phone at sip:bob@OUR-ADDRESS is on 5060, not us on
 * another port.  As a Route (RFC 3261 §16.4) a missing port is any port
 * we listen on: an outbound proxy found by DNS SRV is written without
 * one. */
bool sc_tp_uri_is_local(sc_tp_set_t *set, const sc_uri_t *u);
bool sc_tp_route_is_local(sc_tp_set_t *set, const sc_uri_t *u);
/* Is the address one we listen on (the loop guard: nothing we forward
 * may go to ourselves)? */
bool sc_tp_addr_is_local(sc_tp_set_t *set, const struct sockaddr *a);
/* The names (and "name:port"s) that also mean us (server.aliases);
 * NULL-terminated, copied; NULL clears them. */
int  sc_tp_set_aliases(sc_tp_set_t *set, const char *const *aliases);

/* Our host:port as the peer of src reaches us (Contact, Via,
 * Record-Route): the listener's advertise address, else the address the
 * message arrived on (tp_local.c). */
void sc_source_sentby(const sc_source_t *src, char *out, size_t cap);
/* Every listener as "kind/host:port", comma-separated (drachtio's
 * hostports): the length written. */
size_t sc_tp_set_describe(const sc_tp_set_t *set, char *out, size_t cap);

/* The error text when the transport a request asks for (or, asking for
 * none, any) has no listener of the destination's family: drachtio-
 * server's words, which applications match on. */
#define SC_TP_UNAVAILABLE "requested protocol/transport not available"

/* The size above which §18.1.1 moves a UDP request to TCP by default. */
#define SC_UDP_MTU_LIMIT 1300

/* "udp", "tcp", "tls" (URI transport= values, logs); "UDP", "TCP",
 * "TLS" (a Via's sent-protocol). */
const char *sc_tp_name(sc_tp_kind_t kind);
const char *sc_tp_via_name(sc_tp_kind_t kind);

/* Fills a sc_peer_t's text fields from its address. */
void sc_peer_describe(sc_peer_t *p);

/* --- inside the transport layer -------------------------------------- */
sc_listener_t *sc_udp_listen(struct event_base *base, const struct sockaddr *addr, socklen_t len,
                             sc_message_cb cb, void *arg, char *err, size_t errlen);
sc_listener_t *sc_tcp_listen(struct event_base *base, const struct sockaddr *addr, socklen_t len,
                             const sc_tp_opts_t *opts, const sc_tls_opts_t *tls, sc_message_cb cb,
                             void *arg, char *err, size_t errlen);
void sc_udp_free(sc_listener_t *l);
void sc_tcp_free(sc_listener_t *l);
/* from: the local address it leaves from (a wildcard socket, IP_PKTINFO);
 * NULL or family 0: the kernel's choice. */
int  sc_udp_send(sc_listener_t *l, const char *buf, size_t len, const struct sockaddr *to,
                 socklen_t tolen, const sc_ip_t *from);
int  sc_tcp_send(sc_conn_t *c, const char *buf, size_t len);
void sc_conn_ref(sc_conn_t *c);
void sc_conn_unref(sc_conn_t *c);

#endif
