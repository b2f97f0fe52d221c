/*
 * transport.h — SIP transports on libevent (RFC 3261 §18).  Today: UDP
 * listeners over IPv4 and IPv6.  A received datagram is handed to the
 * callback with its source address; the buffer is writable (the parser
 * unfolds in place) and valid only during the callback.
 */
#ifndef SC_TRANSPORT_H
#define SC_TRANSPORT_H

#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "sip_msg.h"

typedef struct sc_listener sc_listener_t;

typedef struct {
    struct sockaddr_storage addr;
    socklen_t               len;
    char                    ip[INET6_ADDRSTRLEN];  /* numeric, no brackets */
    uint16_t                port;
} sc_peer_t;

typedef void (*sc_datagram_cb)(sc_listener_t *l, char *buf, size_t len, const sc_peer_t *from,
                               void *arg);

/* "udp:HOST:PORT" with HOST an IPv4 address or a bracketed IPv6 one.
 * Fills addr; returns NULL or the reason it is not a listen address. */
const char *sc_listen_parse(const char *text, struct sockaddr_storage *addr, socklen_t *len);

/* Binds and starts reading.  NULL on failure, with the reason in err. */
sc_listener_t *sc_udp_listen(struct event_base *base, const struct sockaddr *addr,
                             socklen_t len, sc_datagram_cb cb, void *arg, char *err,
                             size_t errlen);
/* Stops reading (graceful stop) and closes. */
void sc_listener_free(sc_listener_t *l);
/* Sends one datagram from this listener's socket; -1 with errno set. */
int  sc_udp_send(sc_listener_t *l, const char *buf, size_t len, const struct sockaddr *to,
                 socklen_t tolen);
/* Fills a sc_peer_t's text fields from its address. */
void sc_peer_describe(sc_peer_t *p);

#endif
