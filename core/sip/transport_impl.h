/* transport_impl.h — the listener as the transport files share it. */
#ifndef SC_TRANSPORT_IMPL_H
#define SC_TRANSPORT_IMPL_H

#include "transport.h"

struct evconnlistener;
typedef struct ssl_ctx_st SSL_CTX;

struct sc_listener {
    sc_tp_kind_t       kind;
    sc_message_cb      cb;
    void              *arg;
    struct event_base *base;
    /* UDP */
    int                fd;
    struct event      *ev;
    char              *buf;     /* 64 KiB: no datagram is ever truncated */
    /* TCP */
    struct evconnlistener *lev;
    sc_tp_opts_t       opts;
    SSL_CTX           *ssl_ctx;     /* TLS listeners */
    unsigned           nconns;
    sc_conn_t         *conns;   /* every open connection, for free */
};

/* transport_tcp.c: stop accepting and reading (graceful stop). */
void sc_tcp_pause(sc_listener_t *l);

/* tls.c: a server context for a tls: listener, or NULL with err. */
SSL_CTX *sc_tls_context(const sc_tls_opts_t *tls, char *err, size_t errlen);

#endif
