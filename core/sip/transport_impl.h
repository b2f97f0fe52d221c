/* transport_impl.h — the listener as the transport files share it. */
#ifndef SC_TRANSPORT_IMPL_H
#define SC_TRANSPORT_IMPL_H

#include "transport.h"

struct evconnlistener;

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
    unsigned           nconns;
    sc_conn_t         *conns;   /* every open connection, for free */
};

#endif
