/* test_dns.c — the DNS wire format (core/sip/dns_msg.c): the query as
 * RFC 1035 lays it out, answers with compressed names for A, AAAA, SRV
 * and NAPTR, refusal of malformed answers (truncation, pointer loops,
 * another id), and RFC 2782's SRV order. */
#include "sc_test.h"
#include "dns_msg.h"

#include <arpa/inet.h>

START_TEST(query_is_rfc1035)
{
    uint8_t q[512];
    size_t n = sc_dns_query(0x1234, "_sip._udp.example.com.", SC_DNS_SRV, q, sizeof(q));
    static const uint8_t want[] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                                    4, '_', 's', 'i', 'p', 4, '_', 'u', 'd', 'p',
                                    7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
                                    0, 33, 0, 1 };
    ck_assert_uint_eq(n, sizeof(want));
    ck_assert_mem_eq(q, want, n);
    ck_assert_uint_eq(sc_dns_query(1, "a..b", SC_DNS_A, q, sizeof(q)), 0);     /* empty label */
    ck_assert_uint_eq(sc_dns_query(1, "", SC_DNS_A, q, sizeof(q)), 0);
    char longlabel[80];
    memset(longlabel, 'x', 70);
    longlabel[70] = '\0';
    ck_assert_uint_eq(sc_dns_query(1, longlabel, SC_DNS_A, q, sizeof(q)), 0);
    ck_assert_uint_eq(sc_dns_query(1, "example.com", SC_DNS_A, q, 10), 0);     /* no room */
}
END_TEST

/* --- a response built by hand ------------------------------------------- */
static uint8_t r[1024];
static size_t rl;

static void put(const void *p, size_t n) { memcpy(r + rl, p, n); rl += n; }
static void put16(unsigned v) { r[rl++] = (uint8_t)(v >> 8); r[rl++] = (uint8_t)v; }
static void put_name(const char *dotted)
{
    for (const char *p = dotted; *p;) {
        const char *e = strchr(p, '.');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        r[rl++] = (uint8_t)l;
        put(p, l);
        p += l + (e != NULL);
    }
    r[rl++] = 0;
}
static void begin(unsigned id, unsigned an, unsigned ar, const char *qname, unsigned qtype)
{
    rl = 0;
    put16(id);
    put16(0x8180);          /* response, RD, RA, NOERROR */
    put16(1);
    put16(an);
    put16(0);
    put16(ar);
    put_name(qname);        /* at offset 12: pointers to it are 0xc00c */
    put16(qtype);
    put16(1);
}
static void rr_head(const uint8_t *owner, size_t olen, unsigned type, unsigned rdlen)
{
    put(owner, olen);
    put16(type);
    put16(1);
    put16(0);
    put16(300);             /* ttl */
    put16(rdlen);
}
static const uint8_t PTR_Q[] = { 0xc0, 0x0c };

START_TEST(parses_srv_with_compression_and_additional_a)
{
    begin(7, 2, 1, "_sip._udp.example.com", SC_DNS_SRV);
    /* SRV 10 60 5060 sip1.example.com (target partly compressed: "sip1" +
     * pointer to "example.com" at offset 12 + 5 + 5) */
    rr_head(PTR_Q, 2, SC_DNS_SRV, 6 + 5 + 2);
    put16(10); put16(60); put16(5060);
    r[rl++] = 4; put("sip1", 4); r[rl++] = 0xc0; r[rl++] = 22;
    rr_head(PTR_Q, 2, SC_DNS_SRV, 6 + 5 + 2);
    put16(20); put16(0); put16(5070);
    r[rl++] = 4; put("sip2", 4); r[rl++] = 0xc0; r[rl++] = 22;
    const uint8_t owner[] = { 4, 's', 'i', 'p', '1', 0xc0, 22 };
    rr_head(owner, sizeof(owner), SC_DNS_A, 4);
    put("\xc0\x00\x02\x0a", 4);
    sc_dns_rr_t rrs[8];
    int rc;
    ck_assert_int_eq(sc_dns_parse(r, rl, 7, &rc, rrs, 8), 3);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(rrs[0].type, SC_DNS_SRV);
    ck_assert_str_eq(rrs[0].name, "_sip._udp.example.com");
    ck_assert_int_eq(rrs[0].u.srv.priority, 10);
    ck_assert_int_eq(rrs[0].u.srv.weight, 60);
    ck_assert_int_eq(rrs[0].u.srv.port, 5060);
    ck_assert_str_eq(rrs[0].u.srv.target, "sip1.example.com");
    ck_assert_str_eq(rrs[1].u.srv.target, "sip2.example.com");
    ck_assert_int_eq(rrs[2].type, SC_DNS_A);
    ck_assert_str_eq(rrs[2].name, "sip1.example.com");
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &rrs[2].u.a, ip, sizeof(ip));
    ck_assert_str_eq(ip, "192.0.2.10");
    ck_assert_uint_eq(rrs[2].ttl, 300);
    /* the same bytes as an answer to another query id: not ours */
    ck_assert_int_eq(sc_dns_parse(r, rl, 8, &rc, rrs, 8), -1);
    /* every truncation is refused, none read past the end */
    for (size_t cut = 0; cut < rl; cut++)
        ck_assert_int_eq(sc_dns_parse(r, cut, 7, &rc, rrs, 8), -1);
}
END_TEST

START_TEST(parses_naptr_and_aaaa)
{
    begin(9, 2, 0, "example.com", SC_DNS_NAPTR);
    static const char svc[] = "SIP+D2T";
    rr_head(PTR_Q, 2, SC_DNS_NAPTR, 4 + 2 + 8 + 1 + 2);
    put16(50); put16(50);
    r[rl++] = 1; r[rl++] = 'S';
    r[rl++] = 7; put(svc, 7);
    r[rl++] = 0;                                  /* empty regexp */
    r[rl++] = 0xc0; r[rl++] = 12;                 /* replacement: a pointer */
    rr_head(PTR_Q, 2, SC_DNS_AAAA, 16);
    put("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    sc_dns_rr_t rrs[4];
    int rc;
    ck_assert_int_eq(sc_dns_parse(r, rl, 9, &rc, rrs, 4), 2);
    ck_assert_int_eq(rrs[0].type, SC_DNS_NAPTR);
    ck_assert_int_eq(rrs[0].u.naptr.order, 50);
    ck_assert_str_eq(rrs[0].u.naptr.flags, "s");
    ck_assert_str_eq(rrs[0].u.naptr.service, "SIP+D2T");
    ck_assert_str_eq(rrs[0].u.naptr.replacement, "example.com");
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &rrs[1].u.aaaa, ip, sizeof(ip));
    ck_assert_str_eq(ip, "2001:db8::1");
    /* max bounds what is kept, not what is read */
    ck_assert_int_eq(sc_dns_parse(r, rl, 9, &rc, rrs, 1), 1);
}
END_TEST

START_TEST(refuses_loops_and_lies)
{
    sc_dns_rr_t rrs[4];
    int rc;
    /* an answer whose owner name points at itself */
    begin(3, 1, 0, "a.example", SC_DNS_A);
    size_t at = rl;
    r[rl++] = 0xc0; r[rl++] = (uint8_t)at;
    put16(1); put16(1); put16(0); put16(1); put16(4); put("\1\2\3\4", 4);
    ck_assert_int_eq(sc_dns_parse(r, rl, 3, &rc, rrs, 4), -1);
    /* an A record of 5 octets */
    begin(3, 1, 0, "a.example", SC_DNS_A);
    rr_head(PTR_Q, 2, SC_DNS_A, 5);
    put("\1\2\3\4\5", 5);
    ck_assert_int_eq(sc_dns_parse(r, rl, 3, &rc, rrs, 4), -1);
    /* a query, not a response */
    begin(3, 0, 0, "a.example", SC_DNS_A);
    r[2] &= 0x7f;
    ck_assert_int_eq(sc_dns_parse(r, rl, 3, &rc, rrs, 4), -1);
    /* NXDOMAIN: no records, the code said */
    begin(4, 0, 0, "nope.example", SC_DNS_A);
    r[3] = 0x83;
    ck_assert_int_eq(sc_dns_parse(r, rl, 4, &rc, rrs, 4), 0);
    ck_assert_int_eq(rc, 3);
}
END_TEST

static uint32_t seq[16];
static int seq_at;
static uint32_t next_rnd(void) { return seq[seq_at++]; }

START_TEST(srv_order_is_rfc2782)
{
    sc_dns_rr_t s[4];
    memset(s, 0, sizeof(s));
    unsigned prio[] = { 20, 10, 10, 10 }, weight[] = { 5, 0, 30, 70 }, port[] = { 1, 2, 3, 4 };
    for (int i = 0; i < 4; i++) {
        s[i].type = SC_DNS_SRV;
        s[i].u.srv.priority = (uint16_t)prio[i];
        s[i].u.srv.weight = (uint16_t)weight[i];
        s[i].u.srv.port = (uint16_t)port[i];
    }
    /* priority 10 first: running sums 0 (w0), 30, 100; a draw of 50
     * picks the weight-70 one, then of 0 the weight-0 one, then the last */
    seq_at = 0;
    seq[0] = 50;
    seq[1] = 0;
    sc_dns_srv_sort(s, 4, next_rnd);
    ck_assert_int_eq(s[0].u.srv.port, 4);
    ck_assert_int_eq(s[1].u.srv.port, 2);
    ck_assert_int_eq(s[2].u.srv.port, 3);
    ck_assert_int_eq(s[3].u.srv.port, 1);       /* priority 20 last */
}
END_TEST

static Suite *dns_suite(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("dns");
    tcase_add_test(tc, query_is_rfc1035);
    tcase_add_test(tc, parses_srv_with_compression_and_additional_a);
    tcase_add_test(tc, parses_naptr_and_aaaa);
    tcase_add_test(tc, refuses_loops_and_lies);
    tcase_add_test(tc, srv_order_is_rfc2782);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(dns_suite)
