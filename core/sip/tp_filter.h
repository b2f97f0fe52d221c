/*
 * tp_filter.h — sources refused in the kernel: a set of IPv4 and IPv6
 * addresses (each with its expiry) and a classic BPF socket filter
 * (SO_ATTACH_FILTER) on every UDP listener that drops the datagrams whose
 * network-layer source is in the set, before they are copied to user
 * space.  A module that blocks a source (the guard) puts it here; a
 * flood from it then costs the kernel's receive path only.
 *
 * The set belongs to the process (the server), not to a generation: a
 * reload keeps it.  At most SC_TP_FILTER_MAX addresses per family are
 * in the kernel (the program is a linear list); past that a source is
 * refused in user space only, as before.  Re-attaching the program is
 * rate-limited (at most once every SC_TP_FILTER_MIN_MS); expiry removes
 * an address at its time.
 */
#ifndef SC_TP_FILTER_H
#define SC_TP_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/filter.h>

#include <event2/event.h>

#define SC_TP_FILTER_MAX    64
#define SC_TP_FILTER_MIN_MS 100

/* A UDP socket of family AF_INET or AF_INET6 to filter (sc_udp_listen),
 * and its end (sc_udp_free). */
void sc_tp_filter_add_fd(struct event_base *base, int fd, int family);
void sc_tp_filter_remove_fd(int fd);

/* Refuses addr (its address; the port is ignored) for seconds (0: until
 * allowed); an IPv6 address with bits 1-127: its /bits network (0: the
 * address; IPv4 is always the address).  1 when it is dropped in the
 * kernel, 0 when the list is full (not in the kernel), -1 when addr is
 * no IPv4/IPv6 address. */
int  sc_tp_filter_refuse(const struct sockaddr *addr, unsigned bits, unsigned seconds);
/* Takes addr (/bits, as refused) out of the set (0), or -1 when it was
 * not in it. */
int  sc_tp_filter_allow(const struct sockaddr *addr, unsigned bits);
/* Addresses in the set now (of both families). */
size_t sc_tp_filter_count(void);

/* The program that drops a datagram from any of the n addresses (4 or 16
 * octets each, by family, in network order; IPv6 ones the networks of
 * bits[i] bits, bits NULL or 0: whole addresses) into out (room for cap
 * instructions).  The instructions written, or 0 when cap is too small. */
size_t sc_tp_filter_build(int family, const uint8_t (*addrs)[16], const unsigned *bits, size_t n,
                          struct sock_filter *out, size_t cap);
/* Room sc_tp_filter_build needs for n addresses (at most). */
#define SC_TP_FILTER_INSNS(n) ((n) * 13 + 2)

#endif
