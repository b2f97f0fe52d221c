/* transport_udp.c — UDP listeners (RFC 3261 §18.1, §18.2). */
#include "transport_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define UDP_MAX 65536

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    sc_listener_t *l = arg;
    (void)what;
    /* Drain a bounded batch so one busy socket cannot starve timers. */
    for (int i = 0; i < 64; i++) {
        sc_source_t src = { .kind = SC_TP_UDP, .listener = l };
        src.peer.len = sizeof(src.peer.addr);
        ssize_t n = recvfrom(fd, l->buf, UDP_MAX, 0, (struct sockaddr *)&src.peer.addr,
                             &src.peer.len);
        if (n < 0)
            return;     /* EAGAIN, or an ICMP error reported on the socket */
        sc_peer_describe(&src.peer);
        l->cb(&src, l->buf, (size_t)n, l->arg);
    }
}

sc_listener_t *sc_udp_listen(struct event_base *base, const struct sockaddr *addr, socklen_t len,
                             sc_message_cb cb, void *arg, char *err, size_t errlen)
{
    sc_listener_t *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->buf = malloc(UDP_MAX)) == NULL) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->kind = SC_TP_UDP;
    l->cb = cb;
    l->arg = arg;
    l->base = base;
    l->fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        free(l->buf);
        free(l);
        return NULL;
    }
    int one = 1;
    if (addr->sa_family == AF_INET6)
        setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rcv = 4 << 20;
    setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    if (bind(l->fd, addr, len) < 0) {
        snprintf(err, errlen, "bind: %s", strerror(errno));
        sc_udp_free(l);
        return NULL;
    }
    l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, on_readable, l);
    if (l->ev == NULL || event_add(l->ev, NULL) < 0) {
        snprintf(err, errlen, "cannot watch socket");
        sc_udp_free(l);
        return NULL;
    }
    return l;
}

void sc_udp_free(sc_listener_t *l)
{
    if (l->ev)
        event_free(l->ev);
    close(l->fd);
    free(l->buf);
    free(l);
}

int sc_udp_send(sc_listener_t *l, const char *buf, size_t len, const struct sockaddr *to,
                socklen_t tolen)
{
    ssize_t n = sendto(l->fd, buf, len, 0, to, tolen);
    return n == (ssize_t)len ? 0 : -1;
}
