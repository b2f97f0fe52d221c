/* test_tp_local.c — what we write for ourselves (core/sip/tp_local.c):
 * a bound listener its address; a wildcard one the local address given
 * (where a request arrived), else the route's source towards the peer
 * (never 0.0.0.0 / ::); an advertise address instead of either, with its
 * port or the listener's; and an advertise address naming us in a Route. */
#include "sc_test.h"
#include "transport_impl.h"

#include <arpa/inet.h>
#include <unistd.h>

static struct event_base *base;
static sc_tp_set_t *set;

static void on_msg(const sc_source_t *src, char *buf, size_t len, void *arg)
{
    (void)src;
    (void)buf;
    (void)len;
    (void)arg;
}

static unsigned port;             /* a free one, for this test */

static unsigned free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, len) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void setup(void)
{
    base = event_base_new();
    set = sc_tp_set_new(base, on_msg, NULL);
    port = free_port();
}

static void teardown(void)
{
    sc_tp_set_free(set);
    event_base_free(base);
}

/* fmt: a listen address with %u for the port */
static sc_listener_t *listen_on(const char *fmt)
{
    struct sockaddr_storage a;
    socklen_t len;
    sc_tp_kind_t kind;
    char err[200], text[80];
    snprintf(text, sizeof(text), fmt, port);
    ck_assert_ptr_null(sc_listen_parse(text, &kind, &a, &len));
    sc_tp_opts_t o = { .limits = sc_parse_limits_default, .max_connections = 16 };
    sc_listener_t *l = sc_listen(base, kind, (struct sockaddr *)&a, len, &o, NULL, on_msg, NULL, err,
                                 sizeof(err));
    ck_assert_msg(l != NULL, "%s: %s", text, err);
    sc_tp_set_add(set, l);
    return l;
}

/* "host:PORT" with this test's port */
static const char *expect(const char *host)
{
    static char buf[SC_HOSTPORT_LEN];
    snprintf(buf, sizeof(buf), "%s:%u", host, port);
    return buf;
}

static void ip4(sc_ip_t *a, const char *ip)
{
    memset(a, 0, sizeof(*a));
    a->v4.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->v4.sin_addr);
}

START_TEST(bound_listener_is_its_address)
{
    sc_listener_t *l = listen_on("udp:127.0.0.1:%u");
    sc_ip_t peer;
    ip4(&peer, "127.0.0.1");
    char out[SC_HOSTPORT_LEN];
    sc_tp_hostport(set, l, &peer.sa, NULL, out, sizeof(out));
    ck_assert_str_eq(out, expect("127.0.0.1"));
    sc_listener_free(l);
}
END_TEST

START_TEST(wildcard_names_the_local_address)
{
    sc_listener_t *l = listen_on("udp:0.0.0.0:%u");
    ck_assert(l->wildcard);
    sc_ip_t peer, local;
    ip4(&peer, "127.0.0.1");
    char out[SC_HOSTPORT_LEN];
    /* no local given: the route's source towards the peer */
    sc_tp_hostport(set, l, &peer.sa, NULL, out, sizeof(out));
    ck_assert_str_eq(out, expect("127.0.0.1"));
    /* where a request arrived wins */
    ip4(&local, "127.0.0.9");
    sc_tp_hostport(set, l, &peer.sa, &local, out, sizeof(out));
    ck_assert_str_eq(out, expect("127.0.0.9"));
    /* the lookup is cached: the same answer, no second socket needed */
    sc_ip_t src;
    ck_assert_int_eq(sc_tp_route_source(set, &peer.sa, &src), 0);
    ck_assert_int_eq(src.v4.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    ck_assert_ptr_nonnull(set->routes);
    sc_listener_free(l);
}
END_TEST

START_TEST(wildcard_ipv6)
{
    sc_listener_t *l = listen_on("udp:[::]:%u");
    sc_ip_t peer;
    memset(&peer, 0, sizeof(peer));
    peer.v6.sin6_family = AF_INET6;
    peer.v6.sin6_addr = in6addr_loopback;
    char out[SC_HOSTPORT_LEN];
    sc_tp_hostport(set, l, &peer.sa, NULL, out, sizeof(out));
    ck_assert_str_eq(out, expect("[::1]"));
    sc_listener_free(l);
}
END_TEST

START_TEST(advertise_wins)
{
    sc_listener_t *l = listen_on("udp:0.0.0.0:%u");
    sc_ip_t peer, local;
    ip4(&peer, "127.0.0.1");
    ip4(&local, "127.0.0.9");
    char out[SC_HOSTPORT_LEN];
    ck_assert_int_eq(sc_listener_set_advertise(l, "203.0.113.7", 5080), 0);
    sc_tp_hostport(set, l, &peer.sa, &local, out, sizeof(out));
    ck_assert_str_eq(out, "203.0.113.7:5080");
    ck_assert(sc_tp_is_local(set, sc_str_cstr("203.0.113.7"), 5080));
    ck_assert(sc_tp_is_local(set, sc_str_cstr("203.0.113.7"), 0));
    ck_assert(!sc_tp_is_local(set, sc_str_cstr("203.0.113.7"), 5081));
    /* without a port: the listener's */
    ck_assert_int_eq(sc_listener_set_advertise(l, "sip.example.com", 0), 0);
    sc_tp_hostport(set, l, &peer.sa, &local, out, sizeof(out));
    ck_assert_str_eq(out, expect("sip.example.com"));
    ck_assert(sc_tp_is_local(set, sc_str_cstr("SIP.example.com"), 0));
    /* cleared: the local address again */
    ck_assert_int_eq(sc_listener_set_advertise(l, NULL, 0), 0);
    sc_tp_hostport(set, l, &peer.sa, &local, out, sizeof(out));
    ck_assert_str_eq(out, expect("127.0.0.9"));
    sc_listener_free(l);
}
END_TEST

static Suite *tp_local_suite(void)
{
    Suite *s = suite_create("tp_local");
    TCase *tc = tcase_create("tp_local");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bound_listener_is_its_address);
    tcase_add_test(tc, wildcard_names_the_local_address);
    tcase_add_test(tc, wildcard_ipv6);
    tcase_add_test(tc, advertise_wins);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(tp_local_suite)
