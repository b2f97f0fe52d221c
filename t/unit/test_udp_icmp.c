/* test_udp_icmp.c — the ICMP errors UDP datagrams draw
 * (core/sip/transport_udp.c, IP_RECVERR / IPV6_RECVERR) on loopback, over
 * IPv4 and IPv6: a datagram to a port where nothing listens comes back as
 * "ICMP port unreachable" to the set's callback with the destination it
 * had, from the event loop; the next send to a live peer is not failed by
 * the earlier datagram's error; a message that arrives meanwhile is still
 * read. */
#include "sc_test.h"
#include "transport.h"

#include <arpa/inet.h>
#include <unistd.h>

static struct event_base *base;
static sc_tp_set_t *set;
static int nunreach, nmsg;
static struct sockaddr_storage unreach_to;
static char unreach_why[128];
static const sc_listener_t *unreach_l;

static void on_msg(const sc_source_t *src, char *buf, size_t len, void *arg)
{
    (void)src;
    (void)buf;
    (void)len;
    (void)arg;
    nmsg++;
}

static void on_unreach(void *arg, const sc_listener_t *l, const struct sockaddr *to, const char *why)
{
    (void)arg;
    nunreach++;
    unreach_l = l;
    memcpy(&unreach_to, to, to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in));
    snprintf(unreach_why, sizeof(unreach_why), "%s", why);
    event_base_loopbreak(base);
}

static void setup(void)
{
    base = event_base_new();
    set = sc_tp_set_new(base, on_msg, NULL);
    sc_tp_set_on_unreachable(set, on_unreach, NULL);
    nunreach = nmsg = 0;
    unreach_why[0] = '\0';
}

static void teardown(void)
{
    sc_tp_set_free(set);
    event_base_free(base);
}

/* a bound socket on ip (port 0: any) and its address */
static int bound(int family, const char *ip, struct sockaddr_storage *a, socklen_t *len)
{
    int fd = socket(family, SOCK_DGRAM, 0);
    memset(a, 0, sizeof(*a));
    if (family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)a;
        v6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &v6->sin6_addr);
        *len = sizeof(*v6);
    } else {
        struct sockaddr_in *v4 = (struct sockaddr_in *)a;
        v4->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &v4->sin_addr);
        *len = sizeof(*v4);
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)a, *len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    getsockname(fd, (struct sockaddr *)a, len);
    return fd;
}

static void loop_for(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void unreachable_reported(int family, const char *ip)
{
    struct sockaddr_storage la, dead, live;
    socklen_t ll, dl, vl;
    int fd = bound(family, ip, &la, &ll);
    if (fd < 0) {
        fprintf(stderr, "# no %s here: skipped\n", ip);
        return;
    }
    close(fd);
    char err[128];
    sc_listener_t *l = sc_listen(base, SC_TP_UDP, (struct sockaddr *)&la, ll, NULL, NULL, on_msg,
                                 NULL, err, sizeof(err));
    ck_assert_msg(l != NULL, "%s", err);
    sc_tp_set_add(set, l);
    int d = bound(family, ip, &dead, &dl);
    close(d);                                   /* a port nobody has */
    int peer = bound(family, ip, &live, &vl);
    ck_assert_int_ge(peer, 0);

    ck_assert_int_eq(sc_udp_send(l, "hello", 5, (struct sockaddr *)&dead, dl, NULL), 0);
    usleep(20000);                              /* the ICMP is back (loopback) */
    /* the error is not this send's: it goes out */
    ck_assert_int_eq(sc_udp_send(l, "live", 4, (struct sockaddr *)&live, vl, NULL), 0);
    char buf[16];
    ck_assert_int_eq(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 4);
    /* a message for us meanwhile */
    ck_assert_int_eq(sendto(peer, "OPTIONS", 7, 0, (struct sockaddr *)&la, ll), 7);
    loop_for(1000);
    ck_assert_int_eq(nunreach, 1);
    ck_assert_ptr_eq(unreach_l, l);
    ck_assert(sc_sockaddr_eq((struct sockaddr *)&unreach_to, (struct sockaddr *)&dead));
    char want[96];
    snprintf(want, sizeof(want), "ICMP port unreachable from %s", ip);
    ck_assert_str_eq(unreach_why, want);
    loop_for(50);
    ck_assert_int_eq(nmsg, 1);                  /* read, not lost behind the error */
    ck_assert_int_eq(nunreach, 1);              /* once */
    /* twice more: each reported */
    sc_udp_send(l, "a", 1, (struct sockaddr *)&dead, dl, NULL);
    sc_udp_send(l, "b", 1, (struct sockaddr *)&dead, dl, NULL);
    for (int i = 0; i < 10 && nunreach < 3; i++)
        loop_for(100);
    ck_assert_int_eq(nunreach, 3);
    close(peer);
    sc_listener_free(l);
}

START_TEST(ipv4_port_unreachable)
{
    unreachable_reported(AF_INET, "127.0.0.1");
}
END_TEST

START_TEST(ipv6_port_unreachable)
{
    unreachable_reported(AF_INET6, "::1");
}
END_TEST

static Suite *udp_icmp_suite(void)
{
    Suite *s = suite_create("udp_icmp");
    TCase *tc = tcase_create("udp_icmp");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ipv4_port_unreachable);
    tcase_add_test(tc, ipv6_port_unreachable);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(udp_icmp_suite)
