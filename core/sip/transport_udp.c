/* transport_udp.c — UDP listeners (RFC 3261 §18.1, §18.2), and the ICMP
 * errors our datagrams draw (ip(7) IP_RECVERR, ipv6(7) IPV6_RECVERR). */
#include "transport_impl.h"
#include "tp_filter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UDP_MAX   65536
#define UDP_BATCH 32        /* datagrams a recvmmsg reads */
#define UDP_TURN  64        /* datagrams a loop turn reads */

/* What an ICMP error means for the next hop: unreachable (a transport
 * error, RFC 3261 §18.4) or NULL (packet too big, TTL exceeded, ...:
 * not a verdict on the peer). */
static const char *unreachable_what(const struct sock_extended_err *ee)
{
    if (ee->ee_origin == SO_EE_ORIGIN_ICMP && ee->ee_type == ICMP_DEST_UNREACH) {
        switch (ee->ee_code) {
        case ICMP_PORT_UNREACH: return "port unreachable";
        case ICMP_HOST_UNREACH: case ICMP_HOST_UNKNOWN: case ICMP_HOST_ISOLATED:
            return "host unreachable";
        case ICMP_NET_UNREACH: case ICMP_NET_UNKNOWN: return "network unreachable";
        case ICMP_PROT_UNREACH: return "protocol unreachable";
        case ICMP_NET_ANO: case ICMP_HOST_ANO: case ICMP_PKT_FILTERED:
            return "administratively prohibited";
        default: return NULL;           /* ICMP_FRAG_NEEDED: path MTU */
        }
    }
    if (ee->ee_origin == SO_EE_ORIGIN_ICMP6 && ee->ee_type == ICMP6_DST_UNREACH) {
        switch (ee->ee_code) {
        case ICMP6_DST_UNREACH_NOPORT: return "port unreachable";
        case ICMP6_DST_UNREACH_ADDR: return "host unreachable";
        case ICMP6_DST_UNREACH_NOROUTE: return "network unreachable";
        case ICMP6_DST_UNREACH_ADMIN: return "administratively prohibited";
        default: return NULL;
        }
    }
    return NULL;
}

/* Reads the socket's error queue dry: each ICMP unreachable goes to the
 * set's callback with the destination the datagram had. */
static void drain_errors(sc_listener_t *l)
{
    for (int i = 0; i < 64; i++) {
        union {
            struct sockaddr_storage ss;
            struct sockaddr         sa;
        } to;
        char data[64];
        union {
            char           buf[512];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = { data, sizeof(data) };
        struct msghdr mh = { .msg_name = &to.ss, .msg_namelen = sizeof(to.ss), .msg_iov = &iov,
                             .msg_iovlen = 1, .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf) };
        memset(&to, 0, sizeof(to));
        if (recvmsg(l->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                  (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)))
                continue;
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(c), sizeof(ee));
            const char *what = unreachable_what(&ee);
            if (what == NULL || mh.msg_namelen == 0)
                continue;
            /* the ICMP's sender, after the structure (SO_EE_OFFENDER) */
            union {
                struct sockaddr_storage ss;
                struct sockaddr_in      v4;
                struct sockaddr_in6     v6;
            } off;
            char from[INET6_ADDRSTRLEN] = "", why[INET6_ADDRSTRLEN + 48];
            size_t have = c->cmsg_len - CMSG_LEN(0);
            if (have >= sizeof(ee) + sizeof(struct sockaddr_in)) {
                memset(&off, 0, sizeof(off));
                memcpy(&off, CMSG_DATA(c) + sizeof(ee),
                       have - sizeof(ee) < sizeof(off) ? have - sizeof(ee) : sizeof(off));
                if (off.ss.ss_family == AF_INET)
                    inet_ntop(AF_INET, &off.v4.sin_addr, from, sizeof(from));
                else if (off.ss.ss_family == AF_INET6)
                    inet_ntop(AF_INET6, &off.v6.sin6_addr, from, sizeof(from));
            }
            snprintf(why, sizeof(why), "ICMP %s%s%s", what, from[0] ? " from " : "", from);
            if (l->set && l->set->unreach)
                l->set->unreach(l->set->unreach_arg, l, &to.sa, why);
        }
    }
}

/* The address a datagram arrived on (a wildcard socket asks for it):
 * answers leave from it and name it, so that a host with several
 * addresses answers from the one it was asked on. */
static void arrived_on(const sc_listener_t *l, struct msghdr *mh, sc_ip_t *local)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            local->v4.sin_family = AF_INET;
            local->v4.sin_addr = pi.ipi_addr;
            local->v4.sin_port = htons(l->local.port);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            local->v6.sin6_family = AF_INET6;
            local->v6.sin6_addr = pi.ipi6_addr;
            local->v6.sin6_port = htons(l->local.port);
            /* a link-local address is one only on its interface */
            if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
                local->v6.sin6_scope_id = pi.ipi6_ifindex;
        }
    }
}

/* Reads up to UDP_TURN datagrams a loop turn (one busy socket must not
 * starve timers and other sockets), UDP_BATCH at a time with one
 * recvmmsg each: under a flood the system call, not the parser, was the
 * cost of a dropped datagram. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    sc_listener_t *l = arg;
    (void)what;
    for (int round = 0; round < UDP_TURN / UDP_BATCH; round++) {
        sc_source_t src[UDP_BATCH];
        struct iovec iov[UDP_BATCH];
        struct mmsghdr mm[UDP_BATCH];
        /* a wildcard socket asks where each datagram arrived (arrived_on) */
        union {
            char           buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
            struct cmsghdr align;
        } ctl[UDP_BATCH];
        for (int i = 0; i < UDP_BATCH; i++) {
            src[i] = (sc_source_t){ .kind = SC_TP_UDP, .listener = l };
            iov[i].iov_base = l->buf + (size_t)i * UDP_MAX;
            iov[i].iov_len = UDP_MAX;
            memset(&mm[i], 0, sizeof(mm[i]));
            mm[i].msg_hdr.msg_name = &src[i].peer.addr;
            mm[i].msg_hdr.msg_namelen = sizeof(src[i].peer.addr);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
            if (l->wildcard) {
                mm[i].msg_hdr.msg_control = ctl[i].buf;
                mm[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
            }
        }
        int n = recvmmsg(fd, mm, UDP_BATCH, 0, NULL);
        if (n < 0) {
            /* an ICMP error reported (ECONNREFUSED ...), or a wake-up
             * with no data: the error queue (EPOLLERR stays up while it
             * holds anything); after data, EAGAIN leaves it to the next
             * turn, which EPOLLERR brings */
            int e = errno;
            bool again = e == EAGAIN || e == EWOULDBLOCK;
            if (!again || round == 0)
                drain_errors(l);
            if (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EACCES)
                continue;       /* reported once: data may follow */
            return;
        }
        for (int i = 0; i < n; i++) {
            socklen_t alen = mm[i].msg_hdr.msg_namelen;
            if (alen > sizeof(src[i].peer.addr))
                alen = sizeof(src[i].peer.addr);
            src[i].peer.len = alen;
            sc_peer_describe(&src[i].peer);
            if (l->wildcard)
                arrived_on(l, &mm[i].msg_hdr, &src[i].local);
            l->cb(&src[i], iov[i].iov_base, mm[i].msg_len, l->arg);
        }
        if (n < UDP_BATCH)
            return;             /* drained */
    }
}

sc_listener_t *sc_udp_listen(struct event_base *base, const struct sockaddr *addr, socklen_t len,
                             sc_message_cb cb, void *arg, char *err, size_t errlen)
{
    sc_listener_t *l = calloc(1, sizeof(*l));
    /* a whole datagram in each slot of a batch: 2 MiB of address space,
     * of which only what datagrams fill is ever touched */
    if (l == NULL || (l->buf = malloc((size_t)UDP_BATCH * UDP_MAX)) == NULL) {
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
    /* ICMP errors to the error queue, so a dead next hop is a transport
     * error now, not timer B or F later */
    if (addr->sa_family == AF_INET6)
        setsockopt(l->fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
    else
        setsockopt(l->fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
    /* a wildcard socket learns the address each datagram came to, and
     * sends from the one it is told (sc_udp_send) */
    if (sc_addr_is_wildcard(addr)) {
        l->wildcard = true;
        if (addr->sa_family == AF_INET6)
            setsockopt(l->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
        else
            setsockopt(l->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
    }
    if (bind(l->fd, addr, len) < 0) {
        snprintf(err, errlen, "bind: %s", strerror(errno));
        sc_udp_free(l);
        return NULL;
    }
    sc_tp_filter_add_fd(base, l->fd, addr->sa_family);   /* refused sources dropped in the kernel */
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
    sc_tp_filter_remove_fd(l->fd);
    close(l->fd);
    free(l->buf);
    free(l);
}

int sc_udp_send(sc_listener_t *l, const char *buf, size_t len, const struct sockaddr *to,
                socklen_t tolen, const sc_ip_t *from)
{
    union {
        char           buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { (void *)buf, len };
    struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = &iov,
                         .msg_iovlen = 1 };
    /* a wildcard socket: from the address our Via names (ip(7)
     * IP_PKTINFO ipi_spec_dst, ipv6(7) IPV6_PKTINFO) */
    if (l->wildcard && from && from->sa.sa_family == to->sa_family) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        struct cmsghdr *c = (struct cmsghdr *)ctl.buf;
        if (from->sa.sa_family == AF_INET6) {
            struct in6_pktinfo pi = { .ipi6_addr = from->v6.sin6_addr,
                                      .ipi6_ifindex = from->v6.sin6_scope_id };
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(c), &pi, sizeof(pi));
            mh.msg_controllen = CMSG_SPACE(sizeof(pi));
        } else {
            struct in_pktinfo pi = { .ipi_spec_dst = from->v4.sin_addr };
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(c), &pi, sizeof(pi));
            mh.msg_controllen = CMSG_SPACE(sizeof(pi));
        }
    }
    ssize_t n = sendmsg(l->fd, &mh, 0);
    /* an ICMP error for an earlier datagram (to anyone) is reported by
     * the next send: not this one's failure, so once more; the error
     * itself is read off the queue from the loop (drain_errors) */
    if (n < 0 && (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH ||
                  errno == EACCES))
        n = sendmsg(l->fd, &mh, 0);
    return n == (ssize_t)len ? 0 : -1;
}
