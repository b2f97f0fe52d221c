/* test_dns_cache.c — the resolver's cache of DNS answers
 * (core/sip/dns_cache.c) with a clock driven by hand: an answer is
 * served until its TTL runs out and not after, a negative answer for the
 * SOA's TTL (RFC 2308 §5) or the configured default, capped at max_ttl;
 * SERVFAIL and TTL 0 are never kept; names compare case-insensitively;
 * beyond its size the expired go first, then the oldest. */
#include "sc_test.h"
#include "dns_cache.h"

#include <arpa/inet.h>

static sc_dns_rr_t a_rr(const char *name, const char *ip, uint32_t ttl)
{
    sc_dns_rr_t rr;
    memset(&rr, 0, sizeof(rr));
    rr.type = SC_DNS_A;
    rr.ttl = ttl;
    snprintf(rr.name, sizeof(rr.name), "%s", name);
    inet_pton(AF_INET, ip, &rr.u.a);
    return rr;
}

START_TEST(ttl_of_answers)
{
    sc_dns_rr_t rrs[3] = { a_rr("a.test", "192.0.2.1", 300), a_rr("a.test", "192.0.2.2", 60),
                           a_rr("b.test", "192.0.2.3", 120) };
    /* positive: the least TTL of every record (additional ones too) */
    ck_assert_uint_eq(sc_dns_answer_ttl(0, rrs, 3, -1, 30, 3600), 60);
    ck_assert_uint_eq(sc_dns_answer_ttl(0, rrs, 1, -1, 30, 3600), 300);
    ck_assert_uint_eq(sc_dns_answer_ttl(0, rrs, 1, -1, 30, 100), 100);      /* capped */
    /* negative: the SOA's when there is one, else the default */
    ck_assert_uint_eq(sc_dns_answer_ttl(3, NULL, 0, 900, 30, 3600), 900);
    ck_assert_uint_eq(sc_dns_answer_ttl(3, NULL, 0, -1, 30, 3600), 30);
    ck_assert_uint_eq(sc_dns_answer_ttl(0, NULL, 0, 5, 30, 3600), 5);      /* NODATA */
    ck_assert_uint_eq(sc_dns_answer_ttl(3, NULL, 0, 7200, 30, 3600), 3600);
    /* failures are not answers */
    ck_assert_uint_eq(sc_dns_answer_ttl(2, NULL, 0, 900, 30, 3600), 0);
    ck_assert_uint_eq(sc_dns_answer_ttl(5, rrs, 1, -1, 30, 3600), 0);
}
END_TEST

START_TEST(served_until_ttl_runs_out)
{
    sc_dns_cache_t *c = sc_dns_cache_new(16);
    sc_dns_rr_t rrs[2] = { a_rr("box.test", "192.0.2.1", 60), a_rr("box.test", "192.0.2.2", 60) };
    sc_dns_rr_t got[4];
    int rcode = -1;
    ck_assert_int_eq(sc_dns_cache_get(c, "box.test", SC_DNS_A, 1000, &rcode, got, 4), -1);
    sc_dns_cache_put(c, "box.test", SC_DNS_A, 0, rrs, 2, 60, 1000);
    ck_assert_int_eq(sc_dns_cache_get(c, "BOX.Test", SC_DNS_A, 1000, &rcode, got, 4), 2);
    ck_assert_int_eq(rcode, 0);
    ck_assert_mem_eq(&got[1].u.a, &rrs[1].u.a, sizeof(got[1].u.a));
    /* another type of the same name is another entry */
    ck_assert_int_eq(sc_dns_cache_get(c, "box.test", SC_DNS_AAAA, 1000, &rcode, got, 4), -1);
    /* at most max copied */
    ck_assert_int_eq(sc_dns_cache_get(c, "box.test", SC_DNS_A, 1000, &rcode, got, 1), 1);
    ck_assert_int_eq(sc_dns_cache_get(c, "box.test", SC_DNS_A, 60999, &rcode, got, 4), 2);
    ck_assert_int_eq(sc_dns_cache_get(c, "box.test", SC_DNS_A, 61000, &rcode, got, 4), -1);
    ck_assert_uint_eq(sc_dns_cache_count(c), 0);        /* the expired one went */
    /* a negative answer: no records, its rcode */
    sc_dns_cache_put(c, "nowhere.test", SC_DNS_NAPTR, 3, NULL, 0, 30, 0);
    ck_assert_int_eq(sc_dns_cache_get(c, "nowhere.test", SC_DNS_NAPTR, 29999, &rcode, got, 4), 0);
    ck_assert_int_eq(rcode, 3);
    ck_assert_int_eq(sc_dns_cache_get(c, "nowhere.test", SC_DNS_NAPTR, 30000, &rcode, got, 4), -1);
    /* TTL 0: not kept, and it replaces what was */
    sc_dns_cache_put(c, "box.test", SC_DNS_A, 0, rrs, 2, 60, 0);
    sc_dns_cache_put(c, "box.test", SC_DNS_A, 0, rrs, 2, 0, 10);
    ck_assert_int_eq(sc_dns_cache_get(c, "box.test", SC_DNS_A, 10, &rcode, got, 4), -1);
    /* a newer answer replaces the older */
    sc_dns_cache_put(c, "box.test", SC_DNS_A, 0, rrs, 2, 60, 0);
    sc_dns_cache_put(c, "box.test", SC_DNS_A, 0, rrs + 1, 1, 5, 0);
    ck_assert_int_eq(sc_dns_cache_get(c, "box.test", SC_DNS_A, 10, &rcode, got, 4), 1);
    ck_assert_int_eq(sc_dns_cache_get(c, "box.test", SC_DNS_A, 5000, &rcode, got, 4), -1);
    sc_dns_cache_free(c);
}
END_TEST

START_TEST(bounded)
{
    sc_dns_cache_t *c = sc_dns_cache_new(3);
    sc_dns_rr_t rr = a_rr("x.test", "192.0.2.1", 60);
    sc_dns_rr_t got[1];
    int rcode;
    sc_dns_cache_put(c, "short.test", SC_DNS_A, 0, &rr, 1, 1, 0);   /* expires at 1 s */
    sc_dns_cache_put(c, "one.test", SC_DNS_A, 0, &rr, 1, 60, 0);
    sc_dns_cache_put(c, "two.test", SC_DNS_A, 0, &rr, 1, 60, 0);
    /* full: the expired one goes first */
    sc_dns_cache_put(c, "three.test", SC_DNS_A, 0, &rr, 1, 60, 2000);
    ck_assert_uint_eq(sc_dns_cache_count(c), 3);
    ck_assert_int_eq(sc_dns_cache_get(c, "one.test", SC_DNS_A, 2000, &rcode, got, 1), 1);
    /* full, none expired: the oldest goes */
    sc_dns_cache_put(c, "four.test", SC_DNS_A, 0, &rr, 1, 60, 2000);
    ck_assert_uint_eq(sc_dns_cache_count(c), 3);
    ck_assert_int_eq(sc_dns_cache_get(c, "one.test", SC_DNS_A, 2000, &rcode, got, 1), -1);
    ck_assert_int_eq(sc_dns_cache_get(c, "two.test", SC_DNS_A, 2000, &rcode, got, 1), 1);
    ck_assert_int_eq(sc_dns_cache_get(c, "four.test", SC_DNS_A, 2000, &rcode, got, 1), 1);
    sc_dns_cache_free(c);
    /* size 0: nothing kept */
    c = sc_dns_cache_new(0);
    sc_dns_cache_put(c, "one.test", SC_DNS_A, 0, &rr, 1, 60, 0);
    ck_assert_int_eq(sc_dns_cache_get(c, "one.test", SC_DNS_A, 0, &rcode, got, 1), -1);
    sc_dns_cache_free(c);
}
END_TEST

/* RFC 2308 §5: the SOA of a negative answer says how long it holds */
START_TEST(negative_ttl_from_soa)
{
    static const uint8_t nx[] = {
        0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 1, 0, 0,
        4, 'n', 'o', 'n', 'e', 4, 't', 'e', 's', 't', 0, 0, 35, 0, 1,      /* none.test NAPTR */
        0xc0, 17, 0, 6, 0, 1, 0, 0, 0x0e, 0x10, 0, 29,                     /* test SOA TTL 3600 */
        2, 'n', 's', 0xc0, 17,                                              /* ns.test */
        1, 'h', 0xc0, 17,                                                   /* h.test */
        0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x03, 0x84, 0, 0x09, 0x3a, 0x80,
        0, 0, 0, 120,                                                       /* MINIMUM 120 */
    };
    ck_assert_int_eq(sc_dns_negative_ttl(nx, sizeof(nx)), 120);
    uint8_t low[sizeof(nx)];
    memcpy(low, nx, sizeof(nx));
    low[33] = 0;
    low[34] = 0;
    low[35] = 0;
    low[36] = 10;                                                           /* TTL 10 < MINIMUM */
    ck_assert_int_eq(sc_dns_negative_ttl(low, sizeof(low)), 10);
    ck_assert_int_eq(sc_dns_negative_ttl(nx, 30), -1);                    /* cut short */
    uint8_t none[] = { 0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0,
                       4, 'n', 'o', 'n', 'e', 4, 't', 'e', 's', 't', 0, 0, 35, 0, 1 };
    ck_assert_int_eq(sc_dns_negative_ttl(none, sizeof(none)), -1);        /* no SOA */
}
END_TEST

static Suite *dns_cache_suite(void)
{
    Suite *s = suite_create("dns_cache");
    TCase *tc = tcase_create("dns_cache");
    tcase_add_test(tc, ttl_of_answers);
    tcase_add_test(tc, served_until_ttl_runs_out);
    tcase_add_test(tc, bounded);
    tcase_add_test(tc, negative_ttl_from_soa);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(dns_cache_suite)
