/* test_msg.c — message parsing beyond the torture corpus: compact forms,
 * lists, framing, limits, the typed header parsers, the builder and the
 * identifier helpers. */
#include "sc_test.h"

#define REQ_HEAD                                                   \
    "INVITE sip:bob@biloxi.com SIP/2.0\r\n"                        \
    "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n" \
    "Max-Forwards: 70\r\n"                                         \
    "To: Bob <sip:bob@biloxi.com>\r\n"                             \
    "From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"       \
    "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"                 \
    "CSeq: 314159 INVITE\r\n"

START_TEST(compact_forms_and_any_case_map_to_the_same_headers)
{
    parsed_t p = sc_test_parse_str("OPTIONS sip:b@h SIP/2.0\r\n"
                                   "v: SIP/2.0/UDP h;branch=z9hG4bKa\r\n"
                                   "t: <sip:b@h>\r\nf: <sip:a@h>;tag=1\r\n"
                                   "i: abc\r\nCSEQ: 1 OPTIONS\r\nm: <sip:a@1.2.3.4>\r\n"
                                   "k: path, outbound\r\nc: text/plain\r\ns: hi\r\n"
                                   "e: gzip\r\no: presence\r\nl: 2\r\n\r\nab");
    ck_assert_parse_ok(p);
    sc_msg_t *m = p.msg;
    ck_assert_view(m->call_id, "abc");
    ck_assert_view(m->to->uri.user, "b");
    ck_assert_view(m->from->tag, "1");
    ck_assert_view(m->contact->uri.host, "1.2.3.4");
    ck_assert(sc_token_list_has(m->supported, "outbound"));
    ck_assert(sc_token_list_has(m->supported, "PATH"));
    ck_assert_view(m->content_type.subtype, "plain");
    ck_assert_int_eq(m->hdr[SC_HDR_SUBJECT]->id, SC_HDR_SUBJECT);
    ck_assert_ptr_nonnull(m->hdr[SC_HDR_CONTENT_ENCODING]);
    ck_assert_ptr_nonnull(m->hdr[SC_HDR_EVENT]);
    ck_assert_view(m->body, "ab");
    ck_assert_uint_eq(m->hdr_count, 12);
    sc_test_free(&p);
}
END_TEST

START_TEST(comma_lists_split_around_quotes_and_brackets)
{
    parsed_t p = sc_test_parse_str(REQ_HEAD
        "Contact: \"Smith, John\" <sip:j,s@a.com>;q=0.5, <sip:c@d>;expires=60\r\n"
        "Contact: sip:e@f\r\n"
        "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
        "Via: SIP/2.0/TCP a.com;branch=z9hG4bK1, SIP/2.0/TLS [::1]:5061;branch=z9hG4bK2\r\n"
        "Content-Length: 0\r\n\r\n");
    ck_assert_parse_ok(p);
    sc_msg_t *m = p.msg;
    ck_assert_uint_eq(sc_test_count_addr(m->contact), 3);
    ck_assert_view(m->contact->display, "Smith, John");
    ck_assert_view(m->contact->uri.user, "j,s");
    ck_assert_int_eq(m->contact->q, 500);
    ck_assert(m->contact->next->has_expires);
    ck_assert_uint_eq(m->contact->next->expires, 60);
    ck_assert_int_eq(m->contact->next->q, -1);
    ck_assert_view(m->contact->next->next->uri.user, "e");
    ck_assert_uint_eq(sc_test_count_addr(m->route), 2);
    ck_assert_view(m->route->next->uri.host, "p2.example.com");
    ck_assert_uint_eq(sc_test_count_via(m), 3);
    ck_assert_view(m->via->next->next->host, "::1");
    ck_assert_uint_eq(m->via->next->next->port, 5061);
    sc_test_free(&p);
}
END_TEST

START_TEST(via_separators_may_carry_whitespace_and_params_are_typed)
{
    parsed_t p = sc_test_parse_str("OPTIONS sip:b@h SIP/2.0\r\n"
        "Via: SIP / 2.0 / UDP host.example.com : 5070 ; branch = z9hG4bKx ; rport = 7000"
        " ; received=10.0.0.1 ; maddr=224.0.0.1 ; ttl=16\r\n"
        "To: <sip:b@h>\r\nFrom: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n");
    ck_assert_parse_ok(p);
    const sc_via_t *v = p.msg->via;
    ck_assert_view(v->host, "host.example.com");
    ck_assert_uint_eq(v->port, 5070);
    ck_assert_view(v->branch, "z9hG4bKx");
    ck_assert(v->has_rport);
    ck_assert_view(v->rport, "7000");
    ck_assert_view(v->received, "10.0.0.1");
    ck_assert_view(v->maddr, "224.0.0.1");
    ck_assert_int_eq(v->ttl, 16);
    sc_test_free(&p);
}
END_TEST

START_TEST(via_defects_are_named)
{
    static const struct { const char *via, *reason; } cases[] = {
        { "SIP/2.0/UDP", "Via: missing sent-by" },
        { "SIP/2.0 UDP h", "Via: malformed sent-protocol" },
        { "SIP/3.0/UDP h", "Via: unsupported protocol" },
        { "SIP/2.0/UDP h:99999", "Via: invalid port in sent-by" },
        { "SIP/2.0/UDP h;ttl=300", "Via: invalid ttl" },
        { "SIP/2.0/UDP h;rport=x", "Via: invalid rport" },
        { "SIP/2.0/UDP h;branch", "Via: branch without value" },
        { "SIP/2.0/UDP h,", "Via: empty Via value" },
        { "SIP/2.0/UDP h garbage", "Via: expected ';' before parameter" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[512];
        snprintf(buf, sizeof(buf), "OPTIONS sip:b@h SIP/2.0\r\nVia: %s\r\nTo: <sip:b@h>\r\n"
                 "From: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n", cases[i].via);
        parsed_t p = sc_test_parse_str(buf);
        ck_assert_msg(p.rc != 0 && strstr(p.err.reason, cases[i].reason), "%s: got \"%s\"",
                      cases[i].via, p.err.reason);
        ck_assert_uint_eq(p.err.status, 400);
        sc_test_free(&p);
    }
}
END_TEST

START_TEST(binary_body_is_framed_by_content_length_only)
{
    static const char msg[] = "MESSAGE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKb\r\n"
                              "To: <sip:b@h>\r\nFrom: <sip:a@h>;tag=1\r\nCall-ID: c\r\n"
                              "CSeq: 1 MESSAGE\r\nContent-Type: application/octet-stream\r\n"
                              "Content-Length: 6\r\n\r\n\0\n\r\n\0xTRAILING";
    parsed_t p = sc_test_parse_mem(msg, sizeof(msg) - 1, SC_TRANSPORT_DGRAM);
    ck_assert_parse_ok(p);
    ck_assert_uint_eq(p.msg->body.len, 6);
    ck_assert(memcmp(p.msg->body.s, "\0\n\r\n\0x", 6) == 0);
    sc_test_free(&p);
}
END_TEST

START_TEST(leading_crlf_and_bare_lf_are_tolerated)
{
    parsed_t p = sc_test_parse_str("\r\n\r\nSIP/2.0 180 Ringing\nVia: SIP/2.0/UDP h;branch=z9hG4bKb\n"
                                   "To: <sip:b@h>;tag=2\nFrom: <sip:a@h>;tag=1\nCall-ID: c\n"
                                   "CSeq: 1 INVITE\nContent-Length: 0\n\n");
    ck_assert_parse_ok(p);
    ck_assert(!p.msg->is_request);
    ck_assert_uint_eq(p.msg->status, 180);
    ck_assert_view(p.msg->reason, "Ringing");
    sc_test_free(&p);
}
END_TEST

START_TEST(message_level_defects_are_named)
{
    static const struct { const char *msg; unsigned status; const char *reason; } cases[] = {
        { "", 400, "Empty message" },
        { "OPTIONS sip:b@h SIP/2.0", 400, "Message has no header section" },
        { "OPTIONS sip:b@h SIP/2.1\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:b@h>\r\nFrom: <sip:a@h>\r\n"
          "Call-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n", 505, "SIP version not supported" },
        { "OPTIONS sip:b@h HTTP/1.1\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "Malformed SIP-Version" },
        { "OPT<IONS sip:b@h SIP/2.0\r\n\r\n", 400, "invalid method" },
        { "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:b@h>\r\nFrom: <sip:a@h>\r\n"
          "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: ten\r\n\r\n", 400, "Max-Forwards: not a number" },
        { "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:b@h>\r\nFrom: <sip:a@h>\r\n"
          "Call-ID: c\r\nCSeq: 4294967296 OPTIONS\r\n\r\n", 400, "CSeq: sequence number exceeds 2^32-1" },
        { "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:b@h>\r\nFrom: <sip:a@h>\r\n"
          "Call-ID: c\r\nCSeq: 1\r\n\r\n", 400, "CSeq: missing method" },
        { "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:b@h>\r\nFrom: <sip:a@h>\r\n"
          "Call-ID: has space\r\nCSeq: 1 OPTIONS\r\n\r\n", 400, "Call-ID: invalid character in Call-ID" },
        { "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:b@h>\r\nFrom: <sip:a@h>\r\n"
          "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContact: *, <sip:a@h>\r\n\r\n", 400, "Contact: '*' must be the only Contact" },
        { "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:b@h>\r\nFrom: <sip:a@h>\r\n"
          "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContact: <sip:a@h>;q=1.5\r\n\r\n", 400, "Contact: invalid q value" },
        { "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:b@h>\r\nFrom: <sip:a@h>\r\n"
          "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nRequire: a b\r\n\r\n", 400, "Require: invalid option tag" },
        { "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nBroken\r\n\r\n", 400, "no colon after \"Broken\"" },
        { "OPTIONS sip:b@h SIP/2.0\r\n Via: SIP/2.0/UDP h\r\n\r\n", 400, "Header line starts with whitespace" },
        { "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n", 400, "Header section not terminated" },
        { "SIP/2.0 99 Odd\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "Status code must be three digits" },
        { "SIP/2.0 700 Odd\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "Status code out of range" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parsed_t p = sc_test_parse_str(cases[i].msg);
        ck_assert_msg(p.rc != 0 && p.err.status == cases[i].status &&
                          strstr(p.err.reason, cases[i].reason),
                      "case %zu: got %u \"%s\", want %u \"%s\"", i, p.err.status, p.err.reason,
                      cases[i].status, cases[i].reason);
        sc_test_free(&p);
    }
}
END_TEST

START_TEST(contact_star_is_recognised)
{
    parsed_t p = sc_test_parse_str("REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                                   "To: <sip:a@h>\r\nFrom: <sip:a@h>;tag=1\r\nCall-ID: c\r\n"
                                   "CSeq: 2 REGISTER\r\nContact: *\r\nExpires: 0\r\n\r\n");
    ck_assert_parse_ok(p);
    ck_assert(p.msg->contact_star);
    ck_assert_ptr_null(p.msg->contact);
    ck_assert(p.msg->has_expires);
    ck_assert_uint_eq(p.msg->expires, 0);
    sc_test_free(&p);
}
END_TEST

START_TEST(limits_have_defined_outcomes)
{
    sc_parse_limits_t lim = { .max_size = 200, .max_headers = 50, .max_line = 1000 };
    const char *big = REQ_HEAD "Content-Length: 0\r\n\r\n";
    char *buf = strdup(big);
    sc_msg_t *m;
    sc_parse_err_t err;
    ck_assert_int_eq(sc_msg_parse(&m, buf, strlen(buf), SC_TRANSPORT_DGRAM, &lim, &err), -1);
    ck_assert_uint_eq(err.status, 513);
    ck_assert_str_eq(err.reason, "Message too large (limit 200 octets)");
    ck_assert_ptr_nonnull(m);               /* still addressable */
    ck_assert_ptr_nonnull(m->via);
    sc_msg_free(m);
    lim.max_size = 4096;
    lim.max_headers = 5;
    ck_assert_int_eq(sc_msg_parse(&m, buf, strlen(buf), SC_TRANSPORT_DGRAM, &lim, &err), -1);
    ck_assert_uint_eq(err.status, 400);
    ck_assert_str_eq(err.reason, "Too many header fields (limit 5)");
    sc_msg_free(m);
    free(buf);
    lim.max_headers = 50;
    lim.max_line = 40;
    buf = strdup(big);
    ck_assert_int_eq(sc_msg_parse(&m, buf, strlen(buf), SC_TRANSPORT_DGRAM, &lim, &err), -1);
    ck_assert_str_eq(err.reason, "Header line too long (limit 40 octets)");
    sc_msg_free(m);
    free(buf);
}
END_TEST

START_TEST(stream_framing_waits_splits_and_refuses)
{
    static const char two[] = REQ_HEAD "Content-Length: 4\r\n\r\nbody" REQ_HEAD "l: 0\r\n\r\n";
    sc_parse_err_t err;
    size_t first = sizeof(REQ_HEAD) - 1 + strlen("Content-Length: 4\r\n\r\nbody");
    const sc_parse_limits_t *lim = &sc_parse_limits_default;
    /* every strict prefix of the first message asks for more */
    for (size_t n = 0; n < first; n++)
        ck_assert_int_eq(sc_msg_frame(two, n, lim, &err), 0);
    ck_assert_int_eq(sc_msg_frame(two, first, lim, &err), (long)first);
    ck_assert_int_eq(sc_msg_frame(two, sizeof(two) - 1, lim, &err), (long)first);
    ck_assert_int_eq(sc_msg_frame(two + first, sizeof(two) - 1 - first, lim, &err),
                     (long)(sizeof(two) - 1 - first));

    static const char nocl[] = REQ_HEAD "\r\n";
    ck_assert_int_lt(sc_msg_frame(nocl, sizeof(nocl) - 1, lim, &err), 0);
    ck_assert_str_eq(err.reason, "Content-Length required on stream transport");
    static const char neg[] = REQ_HEAD "Content-Length: -1\r\n\r\n";
    ck_assert_int_lt(sc_msg_frame(neg, sizeof(neg) - 1, lim, &err), 0);
    ck_assert_str_eq(err.reason, "Content-Length is not a valid number");
    static const char conflict[] = REQ_HEAD "Content-Length: 1\r\nl: 2\r\n\r\nab";
    ck_assert_int_lt(sc_msg_frame(conflict, sizeof(conflict) - 1, lim, &err), 0);
    ck_assert_str_eq(err.reason, "Conflicting Content-Length headers");
    sc_parse_limits_t small = { .max_size = 300, .max_headers = 10, .max_line = 100 };
    static const char huge[] = REQ_HEAD "Content-Length: 1000\r\n\r\n";
    ck_assert_int_lt(sc_msg_frame(huge, sizeof(huge) - 1, &small, &err), 0);
    ck_assert_uint_eq(err.status, 513);

    /* folding is legal in Content-Length too */
    static const char folded[] = REQ_HEAD "Content-Length:\r\n  3\r\n\r\nabc";
    ck_assert_int_eq(sc_msg_frame(folded, sizeof(folded) - 1, lim, &err), (long)(sizeof(folded) - 1));
    /* a continuation line that looks like "l: 5" is part of Subject, not a
     * second Content-Length: it must not change the framing */
    static const char smuggle[] = REQ_HEAD "Subject: hi\r\n l: 5\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(sc_msg_frame(smuggle, sizeof(smuggle) - 1, lim, &err), (long)(sizeof(smuggle) - 1));

    parsed_t p = sc_test_parse_mem(nocl, sizeof(nocl) - 1, SC_TRANSPORT_STREAM);
    ck_assert_parse_err(p, 400, "Content-Length required on stream transport");
    sc_test_free(&p);
}
END_TEST

START_TEST(digest_credentials_of_rfc2617_parse)
{
    sc_digest_t d;
    ck_assert_ptr_null(sc_digest_parse(&d, SC_STR_LIT(
        "Digest username=\"Mufasa\", realm=\"testrealm@host.com\","
        " nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth,"
        " nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\","
        " opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"")));
    ck_assert(d.is_digest);
    ck_assert_view(d.username, "Mufasa");
    ck_assert_view(d.realm, "testrealm@host.com");
    ck_assert_view(d.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    ck_assert_view(d.uri, "/dir/index.html");
    ck_assert_view(d.qop, "auth");
    ck_assert_view(d.nc, "00000001");
    ck_assert_view(d.cnonce, "0a4f113b");
    ck_assert_view(d.response, "6629fae49393a05397450978507c4ef1");
    ck_assert_view(d.opaque, "5ccc069c403ebaf9f0171e9517f40e41");

    ck_assert_ptr_null(sc_digest_parse(&d, SC_STR_LIT(
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256,"
        " nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", stale=TRUE, userhash=true")));
    ck_assert_view(d.qop, "auth, auth-int");
    ck_assert_view(d.algorithm, "SHA-256");
    ck_assert_view(d.stale, "TRUE");
    ck_assert(d.userhash);

    ck_assert_str_eq(sc_digest_parse(&d, SC_STR_LIT("Digest realm")), "auth parameter without value");
    ck_assert_str_eq(sc_digest_parse(&d, SC_STR_LIT("Digest realm=\"x")), "unterminated quoted string");
    ck_assert_ptr_null(sc_digest_parse(&d, SC_STR_LIT("Bearer abc.def")));
    ck_assert(!d.is_digest);
}
END_TEST

START_TEST(date_accepts_only_rfc1123_gmt)
{
    time_t t;
    ck_assert_ptr_null(sc_date_parse(SC_STR_LIT("Sat, 13 Nov 2010 23:29:00 GMT"), &t));
    ck_assert_int_eq((long)t, 1289690940L);
    ck_assert_str_eq(sc_date_parse(SC_STR_LIT("Sat, 13 Nov 2010 23:29:00 UTC"), &t),
                     "time zone must be GMT");
    ck_assert_str_eq(sc_date_parse(SC_STR_LIT("Sat, 13 Foo 2010 23:29:00 GMT"), &t), "malformed date");
    ck_assert_str_eq(sc_date_parse(SC_STR_LIT("Sat, 13 Nov 2010 25:29:00 GMT"), &t), "date out of range");
    ck_assert_str_eq(sc_date_parse(SC_STR_LIT("yesterday"), &t), "malformed date");
}
END_TEST

START_TEST(scalar_parsers_bound_their_numbers)
{
    sc_cseq_t c;
    ck_assert_ptr_null(sc_cseq_parse(&c, SC_STR_LIT("4294967295 INVITE")));
    ck_assert_uint_eq(c.num, 4294967295u);
    ck_assert_str_eq(sc_cseq_parse(&c, SC_STR_LIT("4294967296 INVITE")),
                     "sequence number exceeds 2^32-1");
    ck_assert_str_eq(sc_cseq_parse(&c, SC_STR_LIT("x INVITE")), "sequence number is not a number");
    ck_assert_str_eq(sc_cseq_parse(&c, SC_STR_LIT("1 IN<VITE")), "invalid method");
    uint32_t d;
    ck_assert_ptr_null(sc_delta_seconds_parse(SC_STR_LIT("99999999999999"), &d));
    ck_assert_uint_eq(d, UINT32_MAX);
    ck_assert_str_eq(sc_delta_seconds_parse(SC_STR_LIT("-1"), &d), "not a number");
    sc_ctype_t ct;
    ck_assert_ptr_null(sc_ctype_parse(&ct, SC_STR_LIT("application / sdp ; charset=utf-8")));
    ck_assert_view(ct.subtype, "sdp");
    ck_assert_str_eq(sc_ctype_parse(&ct, SC_STR_LIT("application")), "missing '/' in media type");
}
END_TEST

START_TEST(built_request_serialises_with_correct_content_length)
{
    sc_msg_t *m = sc_msg_new_request(SC_METHOD_INVITE, SC_STR_NULL, SC_STR_LIT("sip:bob@biloxi.com"));
    ck_assert_ptr_nonnull(m);
    const char *bad;
    ck_assert_int_eq(sc_msg_add_header(m, SC_STR_LIT("Via"),
                                       SC_STR_LIT("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc"), &bad), 0);
    ck_assert_int_eq(sc_msg_add_header(m, SC_STR_LIT("From"), SC_STR_LIT("<sip:a@h>;tag=9"), &bad), 0);
    ck_assert_int_eq(sc_msg_add_header(m, SC_STR_LIT("To"), SC_STR_LIT("<sip:bob@biloxi.com>"), &bad), 0);
    ck_assert_int_eq(sc_msg_add_header(m, SC_STR_LIT("Call-ID"), SC_STR_LIT("xyz"), &bad), 0);
    ck_assert_int_eq(sc_msg_add_header(m, SC_STR_LIT("CSeq"), SC_STR_LIT("1 INVITE"), &bad), 0);
    ck_assert_int_eq(sc_msg_add_header(m, SC_STR_LIT("Content-Length"), SC_STR_LIT("999"), &bad), 0);
    ck_assert_int_eq(sc_msg_set_body(m, SC_STR_LIT("application/sdp"), SC_STR_LIT("v=0\r\n")), 0);
    ck_assert_view(m->via->branch, "z9hG4bKabc");
    ck_assert_uint_eq(m->cseq.num, 1);

    sc_str_t out = sc_msg_serialize(m);
    ck_assert_ptr_nonnull(memmem(out.s, out.len, "Content-Length: 5\r\n\r\nv=0\r\n", 26));
    ck_assert_ptr_null(memmem(out.s, out.len, "999", 3));
    ck_assert(memcmp(out.s, "INVITE sip:bob@biloxi.com SIP/2.0\r\n", 35) == 0);
    char small[8];
    ck_assert_uint_eq(sc_msg_print(m, small, sizeof(small)), out.len);

    parsed_t p = sc_test_parse_mem(out.s, out.len, SC_TRANSPORT_STREAM);
    ck_assert_parse_ok(p);
    ck_assert_view(p.msg->body, "v=0\r\n");
    ck_assert_view(p.msg->content_type.subtype, "sdp");
    sc_test_free(&p);
    sc_msg_free(m);
}
END_TEST

START_TEST(header_edits_keep_typed_views_in_step)
{
    parsed_t p = sc_test_parse_str(REQ_HEAD "Content-Length: 0\r\n\r\n");
    ck_assert_parse_ok(p);
    sc_msg_t *m = p.msg;
    const char *bad;
    ck_assert_int_eq(sc_msg_add_header_first(m, SC_STR_LIT("Via"),
                                             SC_STR_LIT("SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp"), &bad), 0);
    ck_assert_view(m->via->host, "proxy.example.com");
    ck_assert_view(m->via->next->host, "pc33.atlanta.com");
    ck_assert_uint_eq(sc_msg_remove_header(m, SC_STR_LIT("v")), 2);
    ck_assert_ptr_null(m->via);
    ck_assert_int_eq(sc_msg_replace_header(m, SC_STR_LIT("max-forwards"), SC_STR_LIT("69"), &bad), 0);
    ck_assert_int_eq(m->max_forwards, 69);
    ck_assert_int_eq(sc_msg_add_header(m, SC_STR_LIT("X-Evil"), SC_STR_LIT("a\r\nVia: x"), &bad), -1);
    ck_assert_str_eq(bad, "header value must not contain CR or LF");
    ck_assert_int_eq(sc_msg_add_header(m, SC_STR_LIT("Bad Name"), SC_STR_LIT("v"), &bad), -1);
    ck_assert_int_eq(sc_msg_add_header(m, SC_STR_LIT("CSeq"), SC_STR_LIT("2 INVITE"), &bad), -1);
    ck_assert_str_eq(bad, "header must appear only once");
    ck_assert_int_eq(sc_msg_replace_header(m, SC_STR_LIT("CSeq"), SC_STR_LIT("x"), &bad), -1);
    ck_assert_str_eq(bad, "sequence number is not a number");
    ck_assert_uint_eq(m->cseq.num, 314159);     /* the failed edit left no trace */
    ck_assert_int_eq(sc_msg_set_ruri(m, SC_STR_LIT("sip:carol@chicago.com"), &bad), 0);
    ck_assert_view(m->ruri.user, "carol");
    ck_assert_int_eq(sc_msg_set_ruri(m, SC_STR_LIT("nonsense"), &bad), -1);
    sc_str_t out = sc_msg_serialize(m);
    ck_assert(memcmp(out.s, "INVITE sip:carol@chicago.com SIP/2.0\r\n", 38) == 0);
    ck_assert_ptr_null(memmem(out.s, out.len, "Via:", 4));
    sc_test_free(&p);
}
END_TEST

START_TEST(response_to_request_follows_rfc3261_8_2_6)
{
    parsed_t p = sc_test_parse_str(REQ_HEAD
        "Via: SIP/2.0/UDP second.example.com;branch=z9hG4bK2\r\n"
        "Timestamp: 54\r\nContact: <sip:alice@pc33.atlanta.com>\r\n"
        "Content-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0");
    ck_assert_parse_ok(p);
    sc_msg_t *r = sc_msg_new_response_to(p.msg, 180, SC_STR_NULL, SC_STR_LIT("totag1"));
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(sc_test_count_via(r), 2);
    ck_assert_view(r->via->branch, "z9hG4bK776asdhds");
    ck_assert_view(r->via->next->host, "second.example.com");
    ck_assert_view(r->to->tag, "totag1");
    ck_assert_view(r->from->tag, "1928301774");
    ck_assert_view(r->call_id, "a84b4c76e66710@pc33.atlanta.com");
    ck_assert_uint_eq(r->cseq.num, 314159);
    ck_assert_ptr_null(r->hdr[SC_HDR_TIMESTAMP]);
    ck_assert_ptr_null(r->contact);
    ck_assert_uint_eq(r->body.len, 0);
    sc_str_t out = sc_msg_serialize(r);
    ck_assert(memcmp(out.s, "SIP/2.0 180 Ringing\r\n", 21) == 0);
    sc_msg_free(r);

    r = sc_msg_new_response_to(p.msg, 100, SC_STR_NULL, SC_STR_LIT("totag1"));
    ck_assert_uint_eq(r->to->tag.len, 0);       /* no tag on 100 */
    ck_assert_ptr_nonnull(r->hdr[SC_HDR_TIMESTAMP]);
    sc_msg_free(r);
    sc_test_free(&p);

    /* an existing To tag is kept, not replaced */
    p = sc_test_parse_str("BYE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\n"
                          "To: <sip:a@h>;tag=keep\r\nFrom: <sip:b@h>;tag=f\r\nCall-ID: c\r\n"
                          "CSeq: 2 BYE\r\n\r\n");
    r = sc_msg_new_response_to(p.msg, 200, SC_STR_LIT("Bye then"), SC_STR_LIT("other"));
    ck_assert_view(r->to->tag, "keep");
    ck_assert_view(r->reason, "Bye then");
    sc_msg_free(r);
    sc_test_free(&p);
    ck_assert_ptr_null(sc_msg_new_response(700, SC_STR_NULL));
}
END_TEST

START_TEST(tags_and_branches_are_random_and_recognisable)
{
    char a[17], b[17], br[33];
    sc_gen_tag(a, 16);
    sc_gen_tag(b, 16);
    ck_assert_uint_eq(strlen(a), 16);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 16);
    ck_assert_str_ne(a, b);
    sc_gen_branch(br, 32);
    ck_assert_uint_eq(strlen(br), 32);
    ck_assert(sc_branch_is_rfc3261(sc_str(br, 32)));
    ck_assert(!sc_branch_is_rfc3261(SC_STR_LIT("z9hG4bK")));
    ck_assert(!sc_branch_is_rfc3261(SC_STR_LIT("1234abcd")));
}
END_TEST

START_TEST(header_names_resolve_long_and_compact)
{
    ck_assert_int_eq(sc_hdr_lookup("call-id", 7), SC_HDR_CALL_ID);
    ck_assert_int_eq(sc_hdr_lookup("I", 1), SC_HDR_CALL_ID);
    ck_assert_int_eq(sc_hdr_lookup("WWW-AUTHENTICATE", 16), SC_HDR_WWW_AUTHENTICATE);
    ck_assert_int_eq(sc_hdr_lookup("X-Custom", 8), SC_HDR_OTHER);
    ck_assert_int_eq(sc_hdr_lookup("q", 1), SC_HDR_OTHER);
    ck_assert_str_eq(sc_hdr_name(SC_HDR_CALL_ID), "Call-ID");
    ck_assert_str_eq(sc_method_name(sc_method_from_str(SC_STR_LIT("SUBSCRIBE"))), "SUBSCRIBE");
    ck_assert_int_eq(sc_method_from_str(SC_STR_LIT("invite")), SC_METHOD_OTHER);
}
END_TEST

static Suite *msg_suite(void)
{
    Suite *s = suite_create("msg");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, compact_forms_and_any_case_map_to_the_same_headers);
    tcase_add_test(tc, comma_lists_split_around_quotes_and_brackets);
    tcase_add_test(tc, via_separators_may_carry_whitespace_and_params_are_typed);
    tcase_add_test(tc, via_defects_are_named);
    tcase_add_test(tc, binary_body_is_framed_by_content_length_only);
    tcase_add_test(tc, leading_crlf_and_bare_lf_are_tolerated);
    tcase_add_test(tc, message_level_defects_are_named);
    tcase_add_test(tc, contact_star_is_recognised);
    tcase_add_test(tc, limits_have_defined_outcomes);
    tcase_add_test(tc, stream_framing_waits_splits_and_refuses);
    tcase_add_test(tc, header_names_resolve_long_and_compact);
    suite_add_tcase(s, tc);
    tc = tcase_create("typed");
    tcase_add_test(tc, digest_credentials_of_rfc2617_parse);
    tcase_add_test(tc, date_accepts_only_rfc1123_gmt);
    tcase_add_test(tc, scalar_parsers_bound_their_numbers);
    suite_add_tcase(s, tc);
    tc = tcase_create("build");
    tcase_add_test(tc, built_request_serialises_with_correct_content_length);
    tcase_add_test(tc, header_edits_keep_typed_views_in_step);
    tcase_add_test(tc, response_to_request_follows_rfc3261_8_2_6);
    tcase_add_test(tc, tags_and_branches_are_random_and_recognisable);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(msg_suite)
