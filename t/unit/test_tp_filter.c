/* test_tp_filter.c — the refused sources' socket filter (tp_filter.c):
 * the program's shape, and the program attached to a UDP socket on
 * 127.0.0.1 dropping what 127.0.0.2 sends while 127.0.0.3 gets through
 * (all of 127/8 is loopback on Linux); IPv6 on ::1 when there is one. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sc_test.h"
#include "tp_filter.h"

static int udp(int family, const char *ip, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &a->sin_addr);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        len = sizeof(*a);
    }
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void send_to(int fd, int family, const char *ip, uint16_t port, const char *what)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, ip, &a->sin_addr);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        len = sizeof(*a);
    }
    ck_assert_int_eq(sendto(fd, what, strlen(what), 0, (struct sockaddr *)&ss, len), (ssize_t)strlen(what));
}

/* What arrived, in order, as one string ("" when nothing); waits a little
 * for loopback delivery. */
static void drain(int fd, char *out, size_t cap)
{
    out[0] = '\0';
    usleep(50000);
    char buf[64];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
        buf[n] = '\0';
        strncat(out, buf, cap - strlen(out) - 1);
    }
}

static void sa4(struct sockaddr_in *a, const char *ip)
{
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
}

START_TEST(program_shape_ipv4_and_ipv6)
{
    static struct sock_filter p[SC_TP_FILTER_INSNS(SC_TP_FILTER_MAX)];
    uint8_t a[2][16] = { { 192, 0, 2, 7 }, { 198, 51, 100, 1 } };
    size_t n = sc_tp_filter_build(AF_INET, (const uint8_t (*)[16])a, NULL, 2, p, 64);
    ck_assert_uint_eq(n, 5);                        /* ld, jeq, jeq, accept, drop */
    ck_assert_uint_eq(p[0].code, BPF_LD | BPF_W | BPF_ABS);
    ck_assert_uint_eq(p[0].k, (uint32_t)SKF_NET_OFF + 12);
    ck_assert_uint_eq(p[1].k, 0xc0000207u);
    ck_assert_uint_eq(p[1].jt, 2);                  /* to the drop */
    ck_assert_uint_eq(p[2].jt, 1);
    ck_assert_uint_eq(p[3].k, 0xffffffffu);
    ck_assert_uint_eq(p[4].k, 0);
    /* too little room, too many addresses */
    ck_assert_uint_eq(sc_tp_filter_build(AF_INET, (const uint8_t (*)[16])a, NULL, 2, p, 4), 0);
    ck_assert_uint_eq(sc_tp_filter_build(AF_INET, (const uint8_t (*)[16])a, NULL, SC_TP_FILTER_MAX + 1, p,
                                         sizeof(p) / sizeof(p[0])), 0);
    /* IPv6: a whole address is 4 x (ld, jeq) and a drop; a /64 2 x */
    uint8_t b[2][16] = { { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, { 0x20, 0x01, 0x0d, 0xb8, 0, 1 } };
    unsigned bits[2] = { 128, 64 };
    n = sc_tp_filter_build(AF_INET6, (const uint8_t (*)[16])b, bits, 2, p, sizeof(p) / sizeof(p[0]));
    ck_assert_uint_eq(n, 9 + 5 + 1);
    ck_assert_uint_eq(p[0].k, (uint32_t)SKF_NET_OFF + 8);
    ck_assert_uint_eq(p[1].k, 0x20010db8u);
    ck_assert_uint_eq(p[1].jf, 7);                  /* to the next block */
    ck_assert_uint_eq(p[7].jf, 1);
    ck_assert_uint_eq(p[8].k, 0);                   /* drop */
    ck_assert_uint_eq(p[12].jf, 1);
    ck_assert_uint_eq(p[14].k, 0xffffffffu);        /* accept */
}
END_TEST

START_TEST(attached_it_drops_only_the_refused_source)
{
    uint16_t port, p2, p3;
    int srv = udp(AF_INET, "127.0.0.1", &port);
    int s2 = udp(AF_INET, "127.0.0.2", &p2);
    int s3 = udp(AF_INET, "127.0.0.3", &p3);
    ck_assert(srv >= 0 && s2 >= 0 && s3 >= 0);
    struct event_base *base = event_base_new();
    sc_tp_filter_add_fd(base, srv, AF_INET);
    struct sockaddr_in a;
    sa4(&a, "127.0.0.2");
    ck_assert_int_eq(sc_tp_filter_refuse((struct sockaddr *)&a, 0, 60), 1);
    ck_assert_uint_eq(sc_tp_filter_count(), 1);
    send_to(s2, AF_INET, "127.0.0.1", port, "two;");
    send_to(s3, AF_INET, "127.0.0.1", port, "three;");
    char got[256];
    drain(srv, got, sizeof(got));
    ck_assert_str_eq(got, "three;");
    /* allowed again: the change waits for SC_TP_FILTER_MIN_MS, on the loop */
    ck_assert_int_eq(sc_tp_filter_allow((struct sockaddr *)&a, 0), 0);
    ck_assert_int_eq(sc_tp_filter_allow((struct sockaddr *)&a, 0), -1);
    struct timeval tv = { 0, (SC_TP_FILTER_MIN_MS + 50) * 1000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    send_to(s2, AF_INET, "127.0.0.1", port, "two;");
    drain(srv, got, sizeof(got));
    ck_assert_str_eq(got, "two;");
    /* expiry: refused for 1 s, then let in without a call */
    ck_assert_int_eq(sc_tp_filter_refuse((struct sockaddr *)&a, 0, 1), 1);
    tv = (struct timeval){ 0, (SC_TP_FILTER_MIN_MS + 50) * 1000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    send_to(s2, AF_INET, "127.0.0.1", port, "two;");
    drain(srv, got, sizeof(got));
    ck_assert_str_eq(got, "");
    tv = (struct timeval){ 1, 200000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    ck_assert_uint_eq(sc_tp_filter_count(), 0);
    send_to(s2, AF_INET, "127.0.0.1", port, "two;");
    drain(srv, got, sizeof(got));
    ck_assert_str_eq(got, "two;");
    sc_tp_filter_remove_fd(srv);
    close(srv), close(s2), close(s3);
    event_base_free(base);
}
END_TEST

START_TEST(the_list_is_bounded)
{
    struct sockaddr_in a;
    char ip[32];
    for (int i = 0; i < SC_TP_FILTER_MAX; i++) {
        snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
        sa4(&a, ip);
        ck_assert_int_eq(sc_tp_filter_refuse((struct sockaddr *)&a, 0, 0), 1);
    }
    sa4(&a, "10.0.1.1");
    ck_assert_int_eq(sc_tp_filter_refuse((struct sockaddr *)&a, 0, 0), 0);   /* full */
    sa4(&a, "10.0.0.1");
    ck_assert_int_eq(sc_tp_filter_refuse((struct sockaddr *)&a, 0, 0), 1);   /* there already */
    struct sockaddr un = { .sa_family = AF_UNIX };
    ck_assert_int_eq(sc_tp_filter_refuse(&un, 0, 0), -1);
    for (int i = 0; i < SC_TP_FILTER_MAX; i++) {
        snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
        sa4(&a, ip);
        ck_assert_int_eq(sc_tp_filter_allow((struct sockaddr *)&a, 0), 0);
    }
    ck_assert_uint_eq(sc_tp_filter_count(), 0);
}
END_TEST

START_TEST(ipv6_network_dropped_on_loopback)
{
    uint16_t port, pc;
    int srv = udp(AF_INET6, "::1", &port);
    int c = udp(AF_INET6, "::1", &pc);
    if (srv < 0 || c < 0)
        return;                                     /* no IPv6 loopback here */
    struct event_base *base = event_base_new();
    sc_tp_filter_add_fd(base, srv, AF_INET6);
    struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
    inet_pton(AF_INET6, "::ffff:0:0", &a.sin6_addr);    /* another /64 than ::1's */
    ck_assert_int_eq(sc_tp_filter_refuse((struct sockaddr *)&a, 0, 60), 1);
    char got[256];
    send_to(c, AF_INET6, "::1", port, "one;");
    drain(srv, got, sizeof(got));
    ck_assert_str_eq(got, "one;");
    ck_assert_int_eq(sc_tp_filter_allow((struct sockaddr *)&a, 0), 0);
    inet_pton(AF_INET6, "::", &a.sin6_addr);            /* ::/64 holds ::1 */
    ck_assert_int_eq(sc_tp_filter_refuse((struct sockaddr *)&a, 64, 60), 1);
    struct timeval tv = { 0, (SC_TP_FILTER_MIN_MS + 50) * 1000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    send_to(c, AF_INET6, "::1", port, "one;");
    drain(srv, got, sizeof(got));
    ck_assert_str_eq(got, "");
    ck_assert_int_eq(sc_tp_filter_allow((struct sockaddr *)&a, 64), 0);
    sc_tp_filter_remove_fd(srv);
    close(srv), close(c);
    event_base_free(base);
}
END_TEST

static Suite *tp_filter_suite(void)
{
    Suite *s = suite_create("tp_filter");
    TCase *tc = tcase_create("tp_filter");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, program_shape_ipv4_and_ipv6);
    tcase_add_test(tc, attached_it_drops_only_the_refused_source);
    tcase_add_test(tc, the_list_is_bounded);
    tcase_add_test(tc, ipv6_network_dropped_on_loopback);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(tp_filter_suite)
