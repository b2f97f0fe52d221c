/* test_resolver.c — RFC 3263 §4 resolution (core/sip/resolver.c) on a
 * real event loop against a DNS server this test runs on loopback, with
 * canned NAPTR, SRV, A and AAAA records: NAPTR then SRV then address,
 * SRV without NAPTR, A/AAAA when a port is given, the hosts file first
 * (a name it knows asks nothing), numeric hosts without DNS; answers
 * positive and negative served from the cache; a server that never
 * answers (timeout, 408), one that answers SERVFAIL, and one that is not
 * there (port unreachable: at once). */
#include "sc_test.h"
#include "dns_msg.h"
#include "resolver.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <sys/time.h>
#include <unistd.h>

/* --- the test's DNS server ------------------------------------------------ */
typedef struct {
    const char *name;
    int         type;
    int         prio, weight, port;         /* SRV */
    const char *data;                       /* A/AAAA address, SRV target, NAPTR service */
    const char *repl;                       /* NAPTR replacement */
    bool        additional;
} rec_t;

static const rec_t zone[] = {
    { "example.test", SC_DNS_NAPTR, 10, 0, 0, "SIP+D2T", "_sip._tcp.example.test", false },
    { "example.test", SC_DNS_NAPTR, 20, 0, 0, "SIP+D2U", "_sip._udp.example.test", false },
    { "example.test", SC_DNS_NAPTR, 5, 0, 0, "E2U+sip", "nothing.example.test", false },
    { "_sip._tcp.example.test", SC_DNS_SRV, 20, 0, 5080, "sip2.example.test", NULL, false },
    { "_sip._tcp.example.test", SC_DNS_SRV, 10, 0, 5070, "sip1.example.test", NULL, false },
    { "sip1.example.test", SC_DNS_A, 0, 0, 0, "127.0.0.11", NULL, true },  /* sent along */
    { "sip2.example.test", SC_DNS_AAAA, 0, 0, 0, "::1", NULL, false },
    { "_sip._udp.nonaptr.test", SC_DNS_SRV, 1, 0, 5099, "box.nonaptr.test", NULL, false },
    { "box.nonaptr.test", SC_DNS_A, 0, 0, 0, "127.0.0.12", NULL, false },
    { "plain.test", SC_DNS_A, 0, 0, 0, "127.0.0.13", NULL, false },
    /* answered, but each after 80 ms */
    { "delayed.test", SC_DNS_NAPTR, 10, 0, 0, "SIP+D2U", "_sip._udp.delayed.test", false },
    { "_sip._udp.delayed.test", SC_DNS_SRV, 10, 0, 5060, "box.delayed.test", NULL, false },
    { "box.delayed.test", SC_DNS_A, 0, 0, 0, "127.0.0.14", NULL, false },
};

static uint8_t out[2048];
static size_t ol;
static int queries;

static void w16(unsigned v) { out[ol++] = (uint8_t)(v >> 8); out[ol++] = (uint8_t)v; }
static void wname(const char *n)
{
    while (*n) {
        const char *d = strchr(n, '.');
        size_t l = d ? (size_t)(d - n) : strlen(n);
        out[ol++] = (uint8_t)l;
        memcpy(out + ol, n, l);
        ol += l;
        n += l + (d != NULL);
    }
    out[ol++] = 0;
}
static void wrr(const rec_t *r)
{
    wname(r->name);
    w16((unsigned)r->type);
    w16(1);
    w16(0);
    w16(60);
    size_t len_at = ol;
    w16(0);
    size_t start = ol;
    if (r->type == SC_DNS_A) {
        inet_pton(AF_INET, r->data, out + ol);
        ol += 4;
    } else if (r->type == SC_DNS_AAAA) {
        inet_pton(AF_INET6, r->data, out + ol);
        ol += 16;
    } else if (r->type == SC_DNS_SRV) {
        w16((unsigned)r->prio);
        w16((unsigned)r->weight);
        w16((unsigned)r->port);
        wname(r->data);
    } else {
        w16((unsigned)r->prio);
        w16(10);
        out[ol++] = 1;
        out[ol++] = 'S';
        out[ol++] = (uint8_t)strlen(r->data);
        memcpy(out + ol, r->data, strlen(r->data));
        ol += strlen(r->data);
        out[ol++] = 0;
        wname(r->repl);
    }
    size_t rd = ol - start;
    out[len_at] = (uint8_t)(rd >> 8);
    out[len_at + 1] = (uint8_t)rd;
}

static struct event_base *base;

typedef struct {
    int                     fd;
    struct sockaddr_storage to;
    socklen_t               tolen;
    size_t                  len;
    uint8_t                 buf[2048];
} later_t;

static void send_later(evutil_socket_t fd, short what, void *arg)
{
    later_t *l = arg;
    (void)fd;
    (void)what;
    sendto(l->fd, l->buf, l->len, 0, (struct sockaddr *)&l->to, l->tolen);
    free(l);
}

static void on_query(evutil_socket_t fd, short what, void *arg)
{
    uint8_t q[512];
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    (void)what;
    (void)arg;
    ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
    if (n < 17)
        return;
    queries++;
    char name[256] = "";
    size_t p = 12, o = 0;
    while (p < (size_t)n && q[p]) {
        if (o)
            name[o++] = '.';
        memcpy(name + o, q + p + 1, q[p]);
        o += q[p];
        p += q[p] + 1;
    }
    name[o] = '\0';
    int type = q[p + 1] << 8 | q[p + 2];
    if (strcmp(name, "silent.test") == 0)
        return;                                 /* a server that never answers */
    if (strcmp(name, "fail.test") == 0) {       /* SERVFAIL */
        q[2] |= 0x80;
        q[3] = (q[3] & 0xf0) | 2;
        sendto(fd, q, (size_t)n, 0, (struct sockaddr *)&from, fl);
        return;
    }
    int an = 0, ar = 0;
    for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++) {
        if (strcmp(zone[i].name, name) == 0 && zone[i].type == type)
            an++;
        if (type == SC_DNS_SRV && zone[i].additional)
            ar++;
    }
    ol = 0;
    out[ol++] = q[0];
    out[ol++] = q[1];
    w16(an || ar ? 0x8180 : 0x8183);            /* NXDOMAIN when nothing */
    w16(1);
    w16((unsigned)an);
    w16(0);
    w16((unsigned)ar);
    memcpy(out + ol, q + 12, p + 5 - 12);       /* the question */
    ol += p + 5 - 12;
    for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
        if (strcmp(zone[i].name, name) == 0 && zone[i].type == type)
            wrr(&zone[i]);
    for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]) && type == SC_DNS_SRV; i++)
        if (zone[i].additional)
            wrr(&zone[i]);
    if (strstr(name, "delayed.test")) {
        later_t *l = malloc(sizeof(*l));
        l->fd = fd;
        memcpy(&l->to, &from, sizeof(from));
        l->tolen = fl;
        l->len = ol;
        memcpy(l->buf, out, ol);
        struct timeval tv = { 0, 80000 };
        event_base_once(base, -1, EV_TIMEOUT, send_later, l, &tv);
        return;
    }
    sendto(fd, out, ol, 0, (struct sockaddr *)&from, fl);
}

/* --- the fixture ----------------------------------------------------------- */
static sc_resolver_t *res;
static int dns_fd;
static struct event *dns_ev;
static char hosts_path[64];

static struct {
    bool        called;
    sc_target_t t[SC_MAX_TARGETS];
    int         n;
    char        why[128];
} got;

static void on_resolved(const sc_target_t *t, int n, const char *why, void *arg)
{
    (void)arg;
    got.called = true;
    got.n = n;
    memcpy(got.t, t, sizeof(*t) * (size_t)n);
    snprintf(got.why, sizeof(got.why), "%s", why ? why : "");
    event_base_loopbreak(base);
}

static void setup(void)
{
    base = event_base_new();
    dns_fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(dns_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(dns_fd, (struct sockaddr *)&a, &al);
    dns_ev = event_new(base, dns_fd, EV_READ | EV_PERSIST, on_query, NULL);
    event_add(dns_ev, NULL);
    snprintf(hosts_path, sizeof(hosts_path), "/tmp/sc-hosts-%d", (int)getpid());
    FILE *f = fopen(hosts_path, "w");
    fputs("# test hosts\n127.0.0.20   fromhosts.test alias.test\n::1 six.test\n", f);
    fclose(f);
    sc_dns_conf_t c = { .nservers = 1, .hosts_file = hosts_path, .timeout_ms = 100, .attempts = 2 };
    memcpy(&c.servers[0], &a, sizeof(a));
    c.server_len[0] = sizeof(a);
    res = sc_resolver_new(base, &c);
    memset(&got, 0, sizeof(got));
    queries = 0;
}

static void teardown(void)
{
    sc_resolver_free(res);
    event_free(dns_ev);
    close(dns_fd);
    event_base_free(base);
    unlink(hosts_path);
}

static void run(const char *uri_text, bool tls)
{
    sc_uri_t u;
    ck_assert_ptr_null(sc_uri_parse(&u, sc_str_cstr(uri_text)));
    memset(&got, 0, sizeof(got));
    ck_assert_ptr_nonnull(sc_resolve(res, &u, tls, on_resolved, NULL));
    ck_assert(!got.called);             /* never from inside sc_resolve */
    struct timeval bound = { 3, 0 };
    event_base_loopexit(base, &bound);
    event_base_dispatch(base);
    ck_assert(got.called);
}

static void target_is(int i, sc_tp_kind_t kind, const char *ip, int port)
{
    char buf[INET6_ADDRSTRLEN];
    const sc_target_t *t = &got.t[i];
    ck_assert_int_eq(t->kind, kind);
    if (t->addr.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const void *)&t->addr;
        inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof(buf));
        ck_assert_int_eq(ntohs(v4->sin_port), port);
    } else {
        const struct sockaddr_in6 *v6 = (const void *)&t->addr;
        inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof(buf));
        ck_assert_int_eq(ntohs(v6->sin6_port), port);
    }
    ck_assert_str_eq(buf, ip);
}

START_TEST(naptr_then_srv_then_addresses)
{
    run("sip:alice@example.test", false);
    /* NAPTR order 10 (SIP+D2T) wins; E2U is not ours; SRV priority 10
     * first (its A came along in the answer), then 20 (AAAA asked) */
    ck_assert_int_eq(got.n, 2);
    target_is(0, SC_TP_TCP, "127.0.0.11", 5070);
    target_is(1, SC_TP_TCP, "::1", 5080);
}
END_TEST

START_TEST(srv_without_naptr)
{
    run("sip:bob@nonaptr.test", false);
    ck_assert_int_eq(got.n, 1);
    target_is(0, SC_TP_UDP, "127.0.0.12", 5099);
}
END_TEST

START_TEST(port_given_means_address_only)
{
    run("sip:plain.test:5077", false);
    ck_assert_int_eq(got.n, 1);
    target_is(0, SC_TP_UDP, "127.0.0.13", 5077);
    ck_assert_int_eq(queries, 1);       /* just the A */
    /* transport given, no port: that transport's SRV, none, the A on 5060 */
    run("sip:plain.test;transport=tcp", false);
    ck_assert_int_eq(got.n, 1);
    target_is(0, SC_TP_TCP, "127.0.0.13", 5060);
    /* sips: TLS on 5061 */
    run("sips:plain.test", true);
    target_is(0, SC_TP_TLS, "127.0.0.13", 5061);
}
END_TEST

START_TEST(hosts_file_and_numeric_need_no_dns)
{
    run("sip:x@alias.test:5000", false);
    ck_assert_int_eq(got.n, 1);
    target_is(0, SC_TP_UDP, "127.0.0.20", 5000);
    run("sip:x@six.test:5001;transport=tcp", false);
    target_is(0, SC_TP_TCP, "::1", 5001);
    run("sip:x@192.0.2.7", false);
    target_is(0, SC_TP_UDP, "192.0.2.7", 5060);
    ck_assert_int_eq(queries, 0);
    struct sockaddr_storage a;
    socklen_t l;
    ck_assert_int_eq(sc_hosts_lookup(hosts_path, "FromHosts.test", AF_INET, &a, &l), 0);
    ck_assert_int_eq(sc_hosts_lookup(hosts_path, "fromhosts.test", AF_INET6, &a, &l), -1);
    ck_assert_int_eq(sc_hosts_lookup(hosts_path, "test", 0, &a, &l), -1);
}
END_TEST

START_TEST(no_such_name_and_no_answer)
{
    run("sip:x@nowhere.test:5060", false);
    ck_assert_int_eq(got.n, 0);
    ck_assert_str_eq(got.why, "DNS: no such domain nowhere.test");
    ck_assert_uint_eq(sc_resolve_fail_status(got.why), 503);
    /* the name servers never answer: retried (attempts 2), then given up
     * on at once, not query after query (SRV, A, AAAA ...) */
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    run("sip:x@silent.test", false);
    gettimeofday(&t1, NULL);
    ck_assert_int_eq(got.n, 0);
    ck_assert_str_eq(got.why, "DNS timeout: no answer from the name servers within 200 ms (NAPTR silent.test)");
    ck_assert_uint_eq(sc_resolve_fail_status(got.why), 408);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    ck_assert_int_lt(ms, 400);
    ck_assert_int_ge(queries, 3);       /* retried */
    /* SERVFAIL: the next server (the same one here) at once, then why */
    run("sip:x@fail.test:5060", false);
    ck_assert_int_eq(got.n, 0);
    ck_assert_ptr_nonnull(strstr(got.why, "answered SERVFAIL (A fail.test)"));
    ck_assert_uint_eq(sc_resolve_fail_status(got.why), 503);
}
END_TEST

START_TEST(answers_are_cached)
{
    run("sip:alice@example.test", false);
    ck_assert_int_eq(got.n, 2);
    int asked = queries;
    ck_assert_int_eq(asked, 4);         /* NAPTR, SRV, AAAA sip2 (A sip1 came along, A sip2 too) */
    run("sip:alice@example.test", false);
    ck_assert_int_eq(got.n, 2);
    target_is(0, SC_TP_TCP, "127.0.0.11", 5070);
    target_is(1, SC_TP_TCP, "::1", 5080);
    ck_assert_int_eq(queries, asked);   /* nothing asked again within the TTL */
    unsigned long sent, cached;
    sc_resolver_stats(res, &sent, &cached);
    ck_assert_uint_eq(sent, (unsigned long)asked);
    ck_assert_uint_ge(cached, 3);
    /* negative answers too */
    run("sip:x@nowhere.test:5060", false);
    asked = queries;
    run("sip:x@nowhere.test:5060", false);
    ck_assert_str_eq(got.why, "DNS: no such domain nowhere.test");
    ck_assert_int_eq(queries, asked);
}
END_TEST

START_TEST(hosts_name_asks_no_naptr)
{
    run("sip:x@alias.test", false);
    ck_assert_int_eq(got.n, 1);
    target_is(0, SC_TP_UDP, "127.0.0.20", 5060);
    run("sip:x@fromhosts.test;transport=tcp", false);
    target_is(0, SC_TP_TCP, "127.0.0.20", 5060);
    ck_assert_int_eq(queries, 0);
}
END_TEST

/* a name server address where nothing listens: its ICMP port unreachable
 * ends the query at once, not after the timeout */
START_TEST(server_not_there)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);                          /* a port nobody has */
    sc_dns_conf_t c = { .nservers = 1, .hosts_file = hosts_path, .timeout_ms = 2000, .attempts = 2 };
    memcpy(&c.servers[0], &a, sizeof(a));
    c.server_len[0] = sizeof(a);
    sc_resolver_free(res);
    res = sc_resolver_new(base, &c);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    run("sip:x@example.test", false);
    gettimeofday(&t1, NULL);
    ck_assert_int_eq(got.n, 0);
    ck_assert_ptr_nonnull(strstr(got.why, "DNS: name server unreachable (127.0.0.1:"));
    ck_assert_ptr_nonnull(strstr(got.why, "Connection refused) (NAPTR example.test)"));
    ck_assert_uint_eq(sc_resolve_fail_status(got.why), 503);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    ck_assert_int_lt(ms, 500);
}
END_TEST

/* two servers, the first silent: the first query waits for it once, the
 * rest go to the one that answered */
START_TEST(answering_server_asked_first)
{
    int mute = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in m = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(mute, (struct sockaddr *)&m, sizeof(m)), 0);
    socklen_t ml = sizeof(m);
    getsockname(mute, (struct sockaddr *)&m, &ml);
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    getsockname(dns_fd, (struct sockaddr *)&a, &al);
    sc_dns_conf_t c = { .nservers = 2, .hosts_file = hosts_path, .timeout_ms = 100, .attempts = 2 };
    memcpy(&c.servers[0], &m, sizeof(m));
    c.server_len[0] = sizeof(m);
    memcpy(&c.servers[1], &a, sizeof(a));
    c.server_len[1] = sizeof(a);
    sc_resolver_free(res);
    res = sc_resolver_new(base, &c);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    run("sip:alice@example.test", false);       /* four queries */
    gettimeofday(&t1, NULL);
    ck_assert_int_eq(got.n, 2);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    ck_assert_int_ge(ms, 100);                  /* one timeout */
    ck_assert_int_lt(ms, 200);                  /* not one per query */
    ck_assert_int_eq(queries, 4);
    close(mute);
}
END_TEST

/* every query answered within its timeout, but the resolution as a whole
 * is bounded by what one query may take (timeout x attempts x servers) */
START_TEST(resolution_bounded_as_a_whole)
{
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    run("sip:x@delayed.test", false);           /* 3 queries x 80 ms > 200 ms */
    gettimeofday(&t1, NULL);
    ck_assert_int_eq(got.n, 0);
    ck_assert_msg(strncmp(got.why, "DNS timeout: resolution not done within 200 ms (", 48) == 0, "%s", got.why);
    ck_assert_uint_eq(sc_resolve_fail_status(got.why), 408);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    ck_assert_int_ge(ms, 195);
    ck_assert_int_lt(ms, 235);
    /* what was answered is cached: the next try gets further */
    run("sip:x@delayed.test", false);
    ck_assert_int_eq(got.n, 1);
    target_is(0, SC_TP_UDP, "127.0.0.14", 5060);
}
END_TEST

static Suite *resolver_suite(void)
{
    Suite *s = suite_create("resolver");
    TCase *tc = tcase_create("resolver");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, naptr_then_srv_then_addresses);
    tcase_add_test(tc, srv_without_naptr);
    tcase_add_test(tc, port_given_means_address_only);
    tcase_add_test(tc, hosts_file_and_numeric_need_no_dns);
    tcase_add_test(tc, no_such_name_and_no_answer);
    tcase_add_test(tc, answers_are_cached);
    tcase_add_test(tc, hosts_name_asks_no_naptr);
    tcase_add_test(tc, server_not_there);
    tcase_add_test(tc, answering_server_asked_first);
    tcase_add_test(tc, resolution_bounded_as_a_whole);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(resolver_suite)
