/* test_uri.c — URI parsing and RFC 3261 §19.1.4 comparison. */
#include "sc_test.h"

static sc_uri_t must_parse(const char *text)
{
    sc_uri_t u;
    const char *bad = sc_uri_parse(&u, sc_str_cstr(text));
    ck_assert_msg(bad == NULL, "%s: %s", text, bad);
    return u;
}

static bool eq(const char *a, const char *b)
{
    sc_uri_t ua = must_parse(a), ub = must_parse(b);
    bool r = sc_uri_equal(&ua, &ub);
    ck_assert_msg(r == sc_uri_equal(&ub, &ua), "not symmetric: %s / %s", a, b);
    return r;
}

START_TEST(sip_uri_components_are_views_of_the_text)
{
    sc_uri_t u = must_parse("sips:bob:secret@[2001:db8::1]:5061;transport=tcp;lr;maddr=10.0.0.1"
                            ";ttl=5;user=phone;method=INVITE?Subject=hi&X=1");
    ck_assert_int_eq(u.scheme, SC_URI_SIPS);
    ck_assert_view(u.user, "bob");
    ck_assert_view(u.password, "secret");
    ck_assert(u.host_ipv6);
    ck_assert_view(u.host, "2001:db8::1");
    ck_assert_uint_eq(u.port, 5061);
    ck_assert_view(u.transport, "tcp");
    ck_assert(u.lr);
    ck_assert_view(u.maddr, "10.0.0.1");
    ck_assert_view(u.ttl, "5");
    ck_assert_view(u.user_param, "phone");
    ck_assert_view(u.method_param, "INVITE");
    ck_assert_view(u.headers, "Subject=hi&X=1");
    ck_assert_uint_eq(sc_uri_port_or_default(&u), 5061);
}
END_TEST

START_TEST(absent_port_is_zero_and_defaults_by_scheme)
{
    sc_uri_t u = must_parse("sip:example.com");
    ck_assert_uint_eq(u.port, 0);
    ck_assert(!u.has_user);
    ck_assert_uint_eq(sc_uri_port_or_default(&u), 5060);
    u = must_parse("sips:example.com");
    ck_assert_uint_eq(sc_uri_port_or_default(&u), 5061);
}
END_TEST

START_TEST(tel_uri_keeps_number_and_params)
{
    sc_uri_t u = must_parse("tel:+1-201-555-0123;phone-context=example.com");
    ck_assert_int_eq(u.scheme, SC_URI_TEL);
    ck_assert_view(u.user, "+1-201-555-0123");
    ck_assert_view(u.params, ";phone-context=example.com");
    sc_uri_t bad;
    ck_assert_ptr_nonnull(sc_uri_parse(&bad, SC_STR_LIT("tel:12@34")));
}
END_TEST

START_TEST(malformed_uris_name_their_defect)
{
    static const struct {
        const char *uri, *reason;
    } cases[] = {
        { "example.com", "URI has no scheme" },
        { "sip:", "URI has nothing after the scheme" },
        { "sip:alice@", "URI has no host" },
        { "sip:host:0", "invalid port" },
        { "sip:host:65536", "invalid port" },
        { "sip:host:50a", "invalid port" },
        { "sip:2001:db8::1", "IPv6 address must be enclosed in []" },
        { "sip:[2001:db8::1", "'[' without ']' in URI host" },
        { "sip:[hello]", "invalid IPv6 reference" },
        { "sip:host;;lr", "empty URI parameter" },
        { "sip:host;lr;", "empty URI parameter" },
        { "sip:host;maddr=", "invalid URI parameter value" },
        { "sip:us er@host", "whitespace inside URI" },
        { "sip:a<b@host", "invalid character in URI" },
        { "sip:a\"b@host", "invalid character in URI" },
        { "sip:al%zzice@host", "invalid character in URI user part" },
        { "sip:alice:p@ss@host", "invalid character in URI host" },
        { "sip:host?x", "invalid URI header" },
        { "sip:ho$t", "invalid character in URI host" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sc_uri_t u;
        const char *bad = sc_uri_parse(&u, sc_str_cstr(cases[i].uri));
        ck_assert_msg(bad && strcmp(bad, cases[i].reason) == 0, "%s: got %s, want %s",
                      cases[i].uri, bad ? bad : "(ok)", cases[i].reason);
    }
}
END_TEST

START_TEST(unescape_decodes_once_and_rejects_broken_escapes)
{
    char out[32];
    size_t n = sc_uri_unescape(SC_STR_LIT("v%61lue%25%34%31"), out);
    ck_assert_uint_eq(n, 8);
    ck_assert(memcmp(out, "value%41", 8) == 0);
    ck_assert_uint_eq(sc_uri_unescape(SC_STR_LIT("a%4"), out), (size_t)-1);
    ck_assert_uint_eq(sc_uri_unescape(SC_STR_LIT("a%4g"), out), (size_t)-1);
    n = sc_uri_unescape(SC_STR_LIT("%00"), out);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(out[0], 0);
}
END_TEST

/* The equal pairs RFC 3261 §19.1.4 lists. */
START_TEST(rfc3261_equal_examples)
{
    ck_assert(eq("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"));
    ck_assert(eq("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
    ck_assert(eq("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
    ck_assert(eq("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"));
    ck_assert(eq("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                 "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"));
    ck_assert(eq("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                 "sip:alice@atlanta.com?priority=urgent&subject=project%20x"));
}
END_TEST

/* The not-equal pairs RFC 3261 §19.1.4 lists, and a few more. */
START_TEST(rfc3261_not_equal_examples)
{
    ck_assert(!eq("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"));
    ck_assert(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
    ck_assert(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
    ck_assert(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
    ck_assert(!eq("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));
    ck_assert(!eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
    ck_assert(!eq("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"));
    ck_assert(!eq("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
    ck_assert(!eq("sip:atlanta.com", "sip:@atlanta.com"));
    ck_assert(!eq("sip:alice:a@atlanta.com", "sip:alice@atlanta.com"));
    ck_assert(!eq("sip:a@h;maddr=1.2.3.4", "sip:a@h"));
    /* an escaped reserved character is not the literal one */
    ck_assert(!eq("sip:a%3Bb@h", "sip:a;b@h"));
}
END_TEST

START_TEST(ipv6_hosts_compare_as_addresses)
{
    ck_assert(eq("sip:[2001:db8::1]", "sip:[2001:DB8:0::1]"));
    ck_assert(!eq("sip:[2001:db8::1]", "sip:[2001:db8::2]"));
}
END_TEST

START_TEST(repeated_params_compare_by_first_occurrence)
{
    ck_assert(eq("sip:a@h;maddr=1.1;maddr=2.2", "sip:a@h;maddr=1.1;maddr=2.2"));
    ck_assert(eq("sip:a@h;maddr=1.1;maddr=2.2", "sip:a@h;maddr=1.1"));
}
END_TEST

START_TEST(domains_match_in_any_case_and_ipv6_with_or_without_brackets)
{
    ck_assert(sc_uri_matches(sc_str_cstr("sip:9123@PSTN.Example"), "pstn.example", NULL));
    ck_assert(sc_uri_matches(sc_str_cstr("sip:9123@pstn.example"), "PSTN.EXAMPLE", "9"));
    ck_assert(!sc_uri_matches(sc_str_cstr("sip:8123@pstn.example"), "pstn.example", "9"));
    ck_assert(sc_uri_matches(sc_str_cstr("sip:a@[::1]:5060"), "::1", NULL));
    ck_assert(sc_uri_matches(sc_str_cstr("sip:a@[::1]"), "[::1]", NULL));
    ck_assert(sc_uri_matches(sc_str_cstr("sip:a@[0:0::1]"), "::1", NULL));
    ck_assert(sc_uri_matches(sc_str_cstr("sip:a@[2001:DB8::1]"), "[2001:db8:0::1]", NULL));
    ck_assert(!sc_uri_matches(sc_str_cstr("sip:a@[::2]"), "::1", NULL));
    ck_assert(!sc_uri_matches(sc_str_cstr("sip:a@example.com"), "[example.com", NULL));
    ck_assert(sc_host_matches(sc_str_cstr("[::1]"), "::1"));
    ck_assert(sc_host_matches(sc_str_cstr("Example.COM"), "example.com"));
    char aor[64];
    ck_assert_int_gt(sc_uri_aor(sc_str_cstr("sip:u@[0:0:0::1]:5070"), aor, sizeof(aor)), 0);
    ck_assert_str_eq(aor, "sip:u@[::1]");
    ck_assert_int_gt(sc_uri_aor(sc_str_cstr("sip:u@[2001:DB8::A]"), aor, sizeof(aor)), 0);
    ck_assert_str_eq(aor, "sip:u@[2001:db8::a]");
}
END_TEST

static Suite *uri_suite(void)
{
    Suite *s = suite_create("uri");
    TCase *tc = tcase_create("uri");
    tcase_add_test(tc, sip_uri_components_are_views_of_the_text);
    tcase_add_test(tc, absent_port_is_zero_and_defaults_by_scheme);
    tcase_add_test(tc, tel_uri_keeps_number_and_params);
    tcase_add_test(tc, malformed_uris_name_their_defect);
    tcase_add_test(tc, unescape_decodes_once_and_rejects_broken_escapes);
    tcase_add_test(tc, rfc3261_equal_examples);
    tcase_add_test(tc, rfc3261_not_equal_examples);
    tcase_add_test(tc, ipv6_hosts_compare_as_addresses);
    tcase_add_test(tc, repeated_params_compare_by_first_occurrence);
    tcase_add_test(tc, domains_match_in_any_case_and_ipv6_with_or_without_brackets);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(uri_suite)
