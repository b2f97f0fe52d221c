/* transport_udp.c — UDP listeners (RFC 3261 §18.1, §18.2). */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct sc_listener {
    int            fd;
    struct event  *ev;
    sc_datagram_cb cb;
    void          *arg;
    /* One datagram at a time; 64 KiB is the largest UDP payload, so no
     * datagram is ever truncated (a truncated one would be misframed). */
    char           buf[65536];
};

const char *sc_listen_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    if (strncmp(text, "udp:", 4) != 0) {
        if (strncmp(text, "tcp:", 4) == 0 || strncmp(text, "tls:", 4) == 0)
            return "only udp listeners are supported by this build";
        return "listen address must look like udp:HOST:PORT";
    }
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

void sc_peer_describe(sc_peer_t *p)
{
    if (p->addr.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&p->addr;
        inet_ntop(AF_INET6, &a->sin6_addr, p->ip, sizeof(p->ip));
        p->port = ntohs(a->sin6_port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&p->addr;
        inet_ntop(AF_INET, &a->sin_addr, p->ip, sizeof(p->ip));
        p->port = ntohs(a->sin_port);
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    sc_listener_t *l = arg;
    (void)what;
    /* Drain a bounded batch so one busy socket cannot starve timers. */
    for (int i = 0; i < 64; i++) {
        sc_peer_t from;
        from.len = sizeof(from.addr);
        ssize_t n = recvfrom(fd, l->buf, sizeof(l->buf), 0, (struct sockaddr *)&from.addr,
                             &from.len);
        if (n < 0)
            return;     /* EAGAIN, or an ICMP error reported on the socket */
        sc_peer_describe(&from);
        l->cb(l, l->buf, (size_t)n, &from, l->arg);
    }
}

sc_listener_t *sc_udp_listen(struct event_base *base, const struct sockaddr *addr,
                             socklen_t len, sc_datagram_cb cb, void *arg, char *err,
                             size_t errlen)
{
    sc_listener_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->cb = cb;
    l->arg = arg;
    l->fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
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
        close(l->fd);
        free(l);
        return NULL;
    }
    l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, on_readable, l);
    if (l->ev == NULL || event_add(l->ev, NULL) < 0) {
        snprintf(err, errlen, "cannot watch socket");
        sc_listener_free(l);
        return NULL;
    }
    return l;
}

void sc_listener_free(sc_listener_t *l)
{
    if (l == NULL)
        return;
    if (l->ev)
        event_free(l->ev);
    close(l->fd);
    free(l);
}

int sc_udp_send(sc_listener_t *l, const char *buf, size_t len, const struct sockaddr *to,
                socklen_t tolen)
{
    ssize_t n = sendto(l->fd, buf, len, 0, to, tolen);
    return n == (ssize_t)len ? 0 : -1;
}
