/* test_guard.c — the mechanics of the guard module: the token bucket,
 * CIDR parsing and matching (IPv6 sources grouped by /64), the bounded
 * table and the User-Agent patterns.  The module's files are compiled in
 * here (they need only the public API, which libsccore.a has). */
#include "../../modules/guard/bucket.c"
#include "../../modules/guard/cidr.c"
#include "../../modules/guard/table.c"
#include "../../modules/guard/user_agent.c"

#include "sc_test.h"

START_TEST(bucket_lets_the_burst_through_then_the_rate)
{
    bucket_t b;
    bucket_fill(&b, 5, 1000);
    for (int i = 0; i < 5; i++)
        ck_assert(bucket_take(&b, 10, 5, 1000));
    ck_assert(!bucket_take(&b, 10, 5, 1000));
    ck_assert(!bucket_take(&b, 10, 5, 1099));     /* 10/s: one token per 100 ms */
    ck_assert(bucket_take(&b, 10, 5, 1100));
    ck_assert(!bucket_take(&b, 10, 5, 1100));
    /* a long pause refills to the burst, never past it */
    int n = 0;
    while (bucket_take(&b, 10, 5, 1000000))
        n++;
    ck_assert_int_eq(n, 5);
    /* a clock that goes back adds nothing */
    ck_assert(!bucket_take(&b, 10, 5, 500));
}
END_TEST

START_TEST(bucket_over_a_second_admits_rate_requests)
{
    bucket_t b;
    bucket_fill(&b, 1, 0);
    int n = 0;
    for (uint64_t t = 0; t < 1000; t++)           /* one request a millisecond */
        n += bucket_take(&b, 20, 1, t);
    ck_assert_int_ge(n, 20);
    ck_assert_int_le(n, 21);
}
END_TEST

static bool in(const char *range, const char *ip)
{
    cidr_t c;
    addr_t a;
    ck_assert_msg(cidr_parse(range, &c) == 0, "%s", range);
    ck_assert_msg(addr_parse(ip, &a) == 0, "%s", ip);
    return cidr_match(&c, &a);
}

START_TEST(cidr_matches_ipv4_and_ipv6_ranges)
{
    ck_assert(in("10.0.0.0/8", "10.255.255.255"));
    ck_assert(!in("10.0.0.0/8", "11.0.0.0"));
    ck_assert(in("192.0.2.7", "192.0.2.7"));
    ck_assert(!in("192.0.2.7", "192.0.2.8"));
    ck_assert(in("0.0.0.0/0", "203.0.113.9"));
    ck_assert(!in("0.0.0.0/0", "::1"));              /* a family never matches the other */
    ck_assert(in("2001:db8::/32", "2001:db8:ffff::1"));
    ck_assert(!in("2001:db8::/32", "2001:db9::1"));
    ck_assert(in("2001:db8:0:1::/64", "2001:db8:0:1:ffff:ffff:ffff:ffff"));
    ck_assert(!in("2001:db8:0:1::/64", "2001:db8:0:2::"));
    ck_assert(in("::/0", "::1"));
    ck_assert(in("192.168.0.0/23", "192.168.1.255"));
}
END_TEST

START_TEST(cidr_mapped_ipv4_is_ipv4)
{
    ck_assert(in("192.0.2.0/24", "::ffff:192.0.2.5"));
    ck_assert(in("::ffff:192.0.2.0/120", "192.0.2.200"));
    addr_t a;
    ck_assert_int_eq(addr_parse("::ffff:10.1.2.3", &a), 0);
    ck_assert_int_eq(a.family, 4);
}
END_TEST

START_TEST(cidr_refuses_what_is_not_a_range)
{
    cidr_t c;
    const char *bad[] = { "", "/8", "10.0.0.0/", "10.0.0.0/33", "2001:db8::/129", "10.0.0.1/8",
                          "2001:db8::1/64", "example.com", "10.0.0.0/8x", "10.0.0.0/-1", "1.2.3",
                          "::ffff:10.0.0.0/95" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cidr_parse(bad[i], &c) != 0, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(ipv6_sources_group_by_their_64)
{
    addr_t a, b, other;
    addr_parse("2001:db8:0:1::1", &a);
    addr_parse("2001:db8:0:1:aaaa:bbbb:cccc:dddd", &b);
    addr_parse("2001:db8:0:2::1", &other);
    addr_mask(&a, 64);
    addr_mask(&b, 64);
    addr_mask(&other, 64);
    ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
    ck_assert(memcmp(&a, &other, sizeof(a)) != 0);
    char text[64];
    addr_format(&a, text, sizeof(text));
    ck_assert_str_eq(text, "2001:db8:0:1::");
}
END_TEST

static int evictions;
static uint8_t evicted_first;
static void on_evict(entry_t *e, void *arg)
{
    (void)arg;
    if (evictions++ == 0)
        evicted_first = e->key[1];
}

static void key_of(unsigned i, uint8_t key[KEY_LEN])
{
    memset(key, 0, KEY_LEN);
    key[0] = 4;
    memcpy(key + 1, &i, sizeof(i));
}

START_TEST(table_stays_bounded_and_reuses_the_least_recent)
{
    table_t *t = table_new(100, on_evict, NULL);
    ck_assert(t != NULL);
    uint8_t k[KEY_LEN];
    for (unsigned i = 0; i < 100; i++) {
        key_of(i, k);
        table_add(t, k)->refused = i;
    }
    key_of(0, k);
    ck_assert(table_find(t, k) != NULL);            /* 0 is now the most recent */
    evictions = 0;
    for (unsigned i = 100; i < 10100; i++) {        /* a flood of new sources */
        key_of(i, k);
        ck_assert(table_find(t, k) == NULL);
        table_add(t, k);
        ck_assert_uint_le(table_count(t), 100);
    }
    ck_assert_int_eq(evictions, 10000);
    ck_assert_uint_eq(evicted_first, 1);            /* 1 was the oldest, not 0 */
    key_of(10099, k);
    ck_assert(table_find(t, k) != NULL);
    key_of(0, k);
    ck_assert(table_find(t, k) == NULL);
    table_free(t);
}
END_TEST

START_TEST(user_agents_match_anywhere_in_any_case)
{
    guard_conf_t c = { .user_agents = (const char **)guard_default_user_agents };
    while (guard_default_user_agents[c.nuser_agents])
        c.nuser_agents++;
    ck_assert(guard_user_agent_refused(&c, sc_str_cstr("friendly-scanner")));
    ck_assert(guard_user_agent_refused(&c, sc_str_cstr("SIPVicious 0.3.4")));
    ck_assert(guard_user_agent_refused(&c, sc_str_cstr("VaxSIPUserAgent/3.1")));
    ck_assert(!guard_user_agent_refused(&c, sc_str_cstr("Linphone/5.2 (belle-sip)")));
    ck_assert(!guard_user_agent_refused(&c, sc_str_cstr("")));
    ck_assert(!guard_user_agent_refused(&c, sc_str("friendly-scanne", 15)));
}
END_TEST

static Suite *guard_suite(void)
{
    Suite *s = suite_create("guard");
    TCase *tc = tcase_create("guard");
    tcase_add_test(tc, bucket_lets_the_burst_through_then_the_rate);
    tcase_add_test(tc, bucket_over_a_second_admits_rate_requests);
    tcase_add_test(tc, cidr_matches_ipv4_and_ipv6_ranges);
    tcase_add_test(tc, cidr_mapped_ipv4_is_ipv4);
    tcase_add_test(tc, cidr_refuses_what_is_not_a_range);
    tcase_add_test(tc, ipv6_sources_group_by_their_64);
    tcase_add_test(tc, table_stays_bounded_and_reuses_the_least_recent);
    tcase_add_test(tc, user_agents_match_anywhere_in_any_case);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(guard_suite)
