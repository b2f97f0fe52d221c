/* test_dialog.c — the RFC 3261 §12 dialog state (core/sip/dialog.c):
 * creation at UAS and UAC, route sets in both directions, requests in
 * the dialog (loose and strict routing, CSeq), CSeq order, target
 * refresh, the table; and the digest client's answers (digest.c)
 * against RFC 2617's worked example. */
#include "sc_test.h"
#include "dialog.h"
#include "digest.h"

static const char INVITE[] =
    "INVITE sip:bob@192.0.2.4 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n"
    "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=1928\r\n"
    "To: Bob <sip:bob@example.com>\r\n"
    "Call-ID: a84b4c76e66710\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@192.0.2.1>\r\n"
    "Content-Length: 0\r\n\r\n";

static const char OK200[] =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n"
    "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=1928\r\n"
    "To: Bob <sip:bob@example.com>;tag=a6c85cf\r\n"
    "Call-ID: a84b4c76e66710\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:bob@192.0.2.4>\r\n"
    "Content-Length: 0\r\n\r\n";

static sc_str_t hval(const sc_msg_t *m, sc_hdr_id_t id)
{
    return m->hdr[id] ? m->hdr[id]->value : SC_STR_NULL;
}

START_TEST(uas_dialog_from_the_request)
{
    parsed_t p = sc_test_parse_str(INVITE);
    ck_assert_parse_ok(p);
    sc_dlg_t *d = sc_dlg_new_uas(p.msg, SC_STR_LIT("ourtag"), SC_STR_LIT("sip:us@192.0.2.4"));
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->call_id, "a84b4c76e66710");
    ck_assert_str_eq(d->local_tag, "ourtag");
    ck_assert_str_eq(d->remote_tag, "1928");
    ck_assert_str_eq(d->remote_target, "sip:alice@192.0.2.1");
    ck_assert_str_eq(d->remote_uri, "\"Alice\" <sip:alice@example.com>");
    ck_assert_str_eq(d->local_uri, "Bob <sip:bob@example.com>");
    /* §12.1.1: the route set is the Record-Route in order */
    ck_assert_str_eq(d->route, "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>");
    ck_assert_int_eq(d->remote_cseq, 314159);
    ck_assert_int_eq(d->local_cseq, 0);
    ck_assert_str_eq(d->id, "a84b4c76e66710;from-tag=1928");
    /* our BYE: To the caller with its tag, From us with ours, Route the set */
    sc_msg_t *bye = sc_dlg_request(d, SC_METHOD_BYE, SC_STR_NULL, 0);
    ck_assert_ptr_nonnull(bye);
    ck_assert_view(bye->ruri_str, "sip:alice@192.0.2.1");
    ck_assert_view(hval(bye, SC_HDR_TO), "\"Alice\" <sip:alice@example.com>;tag=1928");
    ck_assert_view(hval(bye, SC_HDR_FROM), "Bob <sip:bob@example.com>;tag=ourtag");
    ck_assert_view(hval(bye, SC_HDR_ROUTE), "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>");
    ck_assert_int_eq(bye->cseq.num, 1);
    ck_assert_view(bye->cseq.method_str, "BYE");
    sc_msg_free(bye);
    sc_dlg_free(d);
    sc_test_free(&p);
}
END_TEST

START_TEST(uac_dialog_reverses_the_route_set)
{
    parsed_t q = sc_test_parse_str(INVITE), r = sc_test_parse_str(OK200);
    sc_dlg_t *d = sc_dlg_new_uac(q.msg, r.msg);
    ck_assert_ptr_nonnull(d);
    ck_assert(d->uac);
    ck_assert_str_eq(d->local_tag, "1928");
    ck_assert_str_eq(d->remote_tag, "a6c85cf");
    ck_assert_str_eq(d->remote_target, "sip:bob@192.0.2.4");
    ck_assert_str_eq(d->route, "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>");
    ck_assert_str_eq(d->id, "a84b4c76e66710;from-tag=1928");
    /* the ACK keeps the INVITE's CSeq; the next request moves on */
    sc_msg_t *ack = sc_dlg_request(d, SC_METHOD_ACK, SC_STR_NULL, 314159);
    ck_assert_int_eq(ack->cseq.num, 314159);
    ck_assert_view(ack->cseq.method_str, "ACK");
    sc_msg_t *info = sc_dlg_request(d, SC_METHOD_INFO, SC_STR_NULL, 0);
    ck_assert_int_eq(info->cseq.num, 314160);
    sc_msg_t *ext = sc_dlg_request(d, SC_METHOD_OTHER, SC_STR_LIT("FOO"), 0);
    ck_assert_view(ext->method_str, "FOO");
    ck_assert_view(ext->cseq.method_str, "FOO");
    ck_assert_int_eq(ext->cseq.num, 314161);
    sc_msg_free(ack);
    sc_msg_free(info);
    sc_msg_free(ext);
    sc_dlg_free(d);
    /* no To tag or no Contact: no dialog */
    parsed_t bad = sc_test_parse_str("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\n"
                                     "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\n"
                                     "CSeq: 1 INVITE\r\nContact: <sip:b@h>\r\nContent-Length: 0\r\n\r\n");
    ck_assert_ptr_null(sc_dlg_new_uac(q.msg, bad.msg));
    sc_test_free(&bad);
    sc_test_free(&q);
    sc_test_free(&r);
}
END_TEST

START_TEST(reliable_1xx_without_contact_targets_the_request_uri)
{
    /* sofia-sip's rule: an early dialog from a provisional without
     * Contact targets the Request-URI (its PRACK goes there, along the
     * route set); a 2xx without Contact still makes none */
    parsed_t q = sc_test_parse_str(INVITE);
    parsed_t r = sc_test_parse_str("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n"
                                   "Record-Route: <sip:p1.example.com;lr>\r\n"
                                   "From: <sip:alice@example.com>;tag=1928\r\nTo: <sip:bob@example.com>;tag=e1\r\n"
                                   "Call-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\nRequire: 100rel\r\n"
                                   "RSeq: 1\r\nContent-Length: 0\r\n\r\n");
    ck_assert_parse_ok(r);
    sc_dlg_t *d = sc_dlg_new_uac(q.msg, r.msg);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->remote_target, "sip:bob@192.0.2.4");
    sc_msg_t *prack = sc_dlg_request(d, SC_METHOD_PRACK, SC_STR_NULL, 0);
    ck_assert_ptr_nonnull(prack);
    ck_assert_view(prack->ruri_str, "sip:bob@192.0.2.4");
    ck_assert_view(hval(prack, SC_HDR_ROUTE), "<sip:p1.example.com;lr>");
    sc_msg_free(prack);
    /* the 2xx's Contact then becomes the target */
    parsed_t ok = sc_test_parse_str(OK200);
    sc_dlg_confirm(d, ok.msg);
    ck_assert_str_eq(d->remote_target, "sip:bob@192.0.2.4");
    sc_dlg_free(d);
    parsed_t bad = sc_test_parse_str("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\n"
                                     "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\n"
                                     "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
    ck_assert_ptr_null(sc_dlg_new_uac(q.msg, bad.msg));
    /* no Record-Route either: the PRACK follows the INVITE's own Route
     * (an outbound proxy) to its Request-URI */
    parsed_t viaproxy = sc_test_parse_str("INVITE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb\r\n"
                                          "Route: <sip:out.example.com;lr>\r\nFrom: <sip:a@h>;tag=1\r\n"
                                          "To: <sip:bob@h>\r\nCall-ID: c2\r\nCSeq: 7 INVITE\r\n"
                                          "Contact: <sip:a@192.0.2.1>\r\nContent-Length: 0\r\n\r\n");
    parsed_t bare = sc_test_parse_str("SIP/2.0 183 Progress\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb\r\n"
                                      "From: <sip:a@h>;tag=1\r\nTo: <sip:bob@h>;tag=e2\r\nCall-ID: c2\r\n"
                                      "CSeq: 7 INVITE\r\nRSeq: 4\r\nRequire: 100rel\r\nContent-Length: 0\r\n\r\n");
    sc_dlg_t *e = sc_dlg_new_uac(viaproxy.msg, bare.msg);
    ck_assert_ptr_nonnull(e);
    sc_msg_t *p2 = sc_dlg_request(e, SC_METHOD_PRACK, SC_STR_NULL, 0);
    ck_assert_view(p2->ruri_str, "sip:bob@192.0.2.4");
    ck_assert_view(hval(p2, SC_HDR_ROUTE), "<sip:out.example.com;lr>");
    sc_msg_free(p2);
    sc_dlg_free(e);
    sc_test_free(&bare);
    sc_test_free(&viaproxy);
    sc_test_free(&bad);
    sc_test_free(&ok);
    sc_test_free(&r);
    sc_test_free(&q);
}
END_TEST

START_TEST(contact_in_name_addr_form)
{
    /* addr-spec: what follows the URI is header parameters, kept after
     * the '>'; a display name and several addresses survive */
    parsed_t p = sc_test_parse_str("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\n"
                                   "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\n"
                                   "CSeq: 1 INVITE\r\nContact: sip:u@192.0.2.9:5070;expires=60\r\n"
                                   "Contact: \"Bob B\" <sip:b@h;transport=tcp>;q=0.5\r\nContent-Length: 0\r\n\r\n");
    ck_assert_parse_ok(p);
    ck_assert_int_eq(sc_msg_contact_name_addr(p.msg), 0);
    ck_assert_view(hval(p.msg, SC_HDR_CONTACT),
                   "<sip:u@192.0.2.9:5070>;expires=60, \"Bob B\" <sip:b@h;transport=tcp>;q=0.5");
    ck_assert(p.msg->contact->angle);
    ck_assert_view(p.msg->contact->uri.raw, "sip:u@192.0.2.9:5070");
    ck_assert_int_eq(p.msg->contact->expires, 60);
    sc_test_free(&p);
    /* already in name-addr form, or "*": untouched */
    parsed_t q = sc_test_parse_str(INVITE);
    sc_str_t before = hval(q.msg, SC_HDR_CONTACT);
    ck_assert_int_eq(sc_msg_contact_name_addr(q.msg), 0);
    ck_assert(hval(q.msg, SC_HDR_CONTACT).s == before.s);
    sc_test_free(&q);
    ck_assert(sc_method_dialog_contact(SC_METHOD_INVITE) && sc_method_dialog_contact(SC_METHOD_UPDATE));
    ck_assert(!sc_method_dialog_contact(SC_METHOD_REGISTER));
}
END_TEST

START_TEST(strict_router_takes_the_request_uri)
{
    /* §12.2.1.1: the first route without lr becomes the Request-URI and
     * the remote target goes last in Route */
    static const char inv[] =
        "INVITE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n"
        "Record-Route: <sip:strict.example.com;maddr=192.0.2.9>, <sip:p2.example.com;lr>\r\n"
        "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: s1\r\n"
        "CSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.1>\r\nContent-Length: 0\r\n\r\n";
    parsed_t p = sc_test_parse_str(inv);
    sc_dlg_t *d = sc_dlg_new_uas(p.msg, SC_STR_LIT("t"), SC_STR_LIT("sip:us@h"));
    sc_msg_t *bye = sc_dlg_request(d, SC_METHOD_BYE, SC_STR_NULL, 0);
    ck_assert_view(bye->ruri_str, "sip:strict.example.com;maddr=192.0.2.9");
    ck_assert_view(hval(bye, SC_HDR_ROUTE), "<sip:p2.example.com;lr>, <sip:alice@192.0.2.1>");
    sc_msg_free(bye);
    sc_dlg_free(d);
    sc_test_free(&p);
}
END_TEST

START_TEST(cseq_order_and_target_refresh)
{
    parsed_t p = sc_test_parse_str(INVITE);
    sc_dlg_t *d = sc_dlg_new_uas(p.msg, SC_STR_LIT("t"), SC_STR_LIT("sip:us@h"));
    static const char fmt[] =
        "%s sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK%u\r\n"
        "From: <sip:alice@example.com>;tag=1928\r\nTo: <sip:bob@example.com>;tag=t\r\n"
        "Call-ID: a84b4c76e66710\r\nCSeq: %u %s\r\nContact: <sip:alice@192.0.2.77>\r\n"
        "Content-Length: 0\r\n\r\n";
    char buf[600];
    snprintf(buf, sizeof(buf), fmt, "INFO", 1u, 314160u, "INFO");
    parsed_t a = sc_test_parse_str(buf);
    ck_assert(sc_dlg_accept_cseq(d, a.msg));
    ck_assert_int_eq(d->remote_cseq, 314160);
    snprintf(buf, sizeof(buf), fmt, "INFO", 2u, 314100u, "INFO");
    parsed_t lower = sc_test_parse_str(buf);
    ck_assert(!sc_dlg_accept_cseq(d, lower.msg));      /* §12.2.2: 500 */
    ck_assert_int_eq(d->remote_cseq, 314160);
    snprintf(buf, sizeof(buf), fmt, "ACK", 3u, 1u, "ACK");
    parsed_t ack = sc_test_parse_str(buf);
    ck_assert(sc_dlg_accept_cseq(d, ack.msg));         /* not counted */
    ck_assert_int_eq(d->remote_cseq, 314160);
    snprintf(buf, sizeof(buf), fmt, "INVITE", 4u, 314161u, "INVITE");
    parsed_t re = sc_test_parse_str(buf);
    sc_dlg_refresh_target(d, re.msg);
    ck_assert_str_eq(d->remote_target, "sip:alice@192.0.2.77");
    sc_test_free(&a);
    sc_test_free(&lower);
    sc_test_free(&ack);
    sc_test_free(&re);
    sc_dlg_free(d);
    sc_test_free(&p);
}
END_TEST

START_TEST(table_finds_by_tags_and_by_id)
{
    sc_dlg_table_t *t = sc_dlg_table_new();
    parsed_t p = sc_test_parse_str(INVITE);
    enum { N = 5000 };
    static sc_dlg_t *ds[N];
    char tag[32];
    for (int i = 0; i < N; i++) {       /* enough to make the table grow */
        snprintf(tag, sizeof(tag), "t%d", i);
        ds[i] = sc_dlg_new_uas(p.msg, sc_str_cstr(tag), SC_STR_LIT("sip:us@h"));
        sc_dlg_table_add(t, ds[i]);
    }
    ck_assert_int_eq(sc_dlg_table_count(t), N);
    ck_assert_ptr_eq(sc_dlg_table_find(t, SC_STR_LIT("a84b4c76e66710"), SC_STR_LIT("t4321"),
                                       SC_STR_LIT("1928")), ds[4321]);
    ck_assert_ptr_null(sc_dlg_table_find(t, SC_STR_LIT("a84b4c76e66710"), SC_STR_LIT("t4321"),
                                         SC_STR_LIT("other")));
    /* a request in the dialog: To tag ours, From tag theirs */
    parsed_t bye = sc_test_parse_str(
        "BYE sip:us@h SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb\r\n"
        "From: <sip:alice@example.com>;tag=1928\r\nTo: <sip:bob@example.com>;tag=t17\r\n"
        "Call-ID: a84b4c76e66710\r\nCSeq: 314160 BYE\r\nContent-Length: 0\r\n\r\n");
    ck_assert_ptr_eq(sc_dlg_table_match(t, bye.msg), ds[17]);
    ck_assert_ptr_nonnull(sc_dlg_table_find_id(t, SC_STR_LIT("a84b4c76e66710;from-tag=1928")));
    ck_assert_ptr_null(sc_dlg_table_find_id(t, SC_STR_LIT("a84b4c76e66710;from-tag=nope")));
    ck_assert_ptr_null(sc_dlg_table_find_id(t, SC_STR_LIT("no separator")));
    for (int i = 0; i < N; i++) {
        sc_dlg_table_remove(t, ds[i]);
        sc_dlg_free(ds[i]);
    }
    ck_assert_int_eq(sc_dlg_table_count(t), 0);
    ck_assert_ptr_null(sc_dlg_table_match(t, bye.msg));
    sc_test_free(&bye);
    sc_test_free(&p);
    sc_dlg_table_free(t);
}
END_TEST

START_TEST(digest_answers_rfc2617_example)
{
    /* RFC 2617 §3.5: Mufasa / "Circle Of Life", qop=auth, nc=1; the
     * cnonce is ours (random), so recompute the expected response with
     * the cnonce we sent */
    parsed_t r = sc_test_parse_str(
        "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\n"
        "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        "WWW-Authenticate: Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
        "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n"
        "Content-Length: 0\r\n\r\n");
    sc_digest_t ch;
    sc_digest_alg_t alg;
    bool sess;
    ck_assert_int_eq(sc_digest_pick(r.msg, &ch, &alg, &sess), 0);
    ck_assert_int_eq(alg, SC_DIGEST_MD5);
    char out[600];
    ck_assert_uint_gt(sc_digest_answer(&ch, alg, sess, SC_STR_LIT("GET"), SC_STR_LIT("/dir/index.html"),
                                       "Mufasa", "Circle Of Life", 1, out, sizeof(out)), 0);
    char *cn = strstr(out, "cnonce=\"");
    ck_assert_ptr_nonnull(cn);
    char cnonce[40] = "";
    sscanf(cn + 8, "%39[^\"]", cnonce);
    char ha1[65], ha2[65], want[65], line[100];
    sc_str_t p1[] = { SC_STR_LIT("Mufasa"), SC_STR_LIT("testrealm@host.com"), SC_STR_LIT("Circle Of Life") };
    sc_digest_hex(SC_DIGEST_MD5, p1, 3, ha1);
    ck_assert_str_eq(ha1, "939e7578ed9e3c518a452acee763bce9");     /* RFC 2617 §3.5 */
    sc_str_t p2[] = { SC_STR_LIT("GET"), SC_STR_LIT("/dir/index.html") };
    sc_digest_hex(SC_DIGEST_MD5, p2, 2, ha2);
    ck_assert_str_eq(ha2, "39aff3a2bab6126f332b942af96d3366");
    sc_str_t p3[] = { sc_str_cstr(ha1), ch.nonce, SC_STR_LIT("00000001"), sc_str_cstr(cnonce),
                      SC_STR_LIT("auth"), sc_str_cstr(ha2) };
    sc_digest_hex(SC_DIGEST_MD5, p3, 6, want);
    snprintf(line, sizeof(line), "response=\"%s\"", want);
    ck_assert_ptr_nonnull(strstr(out, line));
    ck_assert_ptr_nonnull(strstr(out, "qop=auth, nc=00000001"));
    ck_assert_ptr_nonnull(strstr(out, "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    ck_assert_ptr_nonnull(strstr(out, "username=\"Mufasa\""));
    /* with the cnonce of the RFC's example, its response */
    sc_str_t rfc[] = { sc_str_cstr(ha1), ch.nonce, SC_STR_LIT("00000001"), SC_STR_LIT("0a4f113b"),
                       SC_STR_LIT("auth"), sc_str_cstr(ha2) };
    sc_digest_hex(SC_DIGEST_MD5, rfc, 6, want);
    ck_assert_str_eq(want, "6629fae49393a05397450978507c4ef1");
    sc_test_free(&r);
}
END_TEST

START_TEST(digest_prefers_sha256_and_refuses_unknown)
{
    parsed_t r = sc_test_parse_str(
        "SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\n"
        "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        "Proxy-Authenticate: Digest realm=\"r\", nonce=\"n1\", algorithm=MD5\r\n"
        "Proxy-Authenticate: Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256\r\n"
        "Content-Length: 0\r\n\r\n");
    sc_digest_t ch;
    sc_digest_alg_t alg;
    bool sess;
    ck_assert_int_eq(sc_digest_pick(r.msg, &ch, &alg, &sess), 0);
    ck_assert_int_eq(alg, SC_DIGEST_SHA256);
    ck_assert_view(ch.nonce, "n2");
    /* RFC 2069 form (no qop): H(HA1:nonce:HA2) with SHA-256 */
    char out[600], ha1[65], ha2[65], want[65], line[100];
    sc_digest_answer(&ch, alg, sess, SC_STR_LIT("INVITE"), SC_STR_LIT("sip:b@h"), "u", "p", 1, out,
                     sizeof(out));
    sc_str_t p1[] = { SC_STR_LIT("u"), SC_STR_LIT("r"), SC_STR_LIT("p") };
    sc_digest_hex(SC_DIGEST_SHA256, p1, 3, ha1);
    ck_assert_int_eq(strlen(ha1), 64);
    sc_str_t p2[] = { SC_STR_LIT("INVITE"), SC_STR_LIT("sip:b@h") };
    sc_digest_hex(SC_DIGEST_SHA256, p2, 2, ha2);
    sc_str_t p3[] = { sc_str_cstr(ha1), SC_STR_LIT("n2"), sc_str_cstr(ha2) };
    sc_digest_hex(SC_DIGEST_SHA256, p3, 3, want);
    snprintf(line, sizeof(line), "response=\"%s\"", want);
    ck_assert_ptr_nonnull(strstr(out, line));
    ck_assert_ptr_null(strstr(out, "qop="));
    sc_test_free(&r);
    parsed_t u = sc_test_parse_str(
        "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\n"
        "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=AKAv1-MD5\r\n"
        "WWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\n\r\n");
    ck_assert_int_eq(sc_digest_pick(u.msg, &ch, &alg, &sess), -1);
    sc_test_free(&u);
}
END_TEST

static Suite *dialog_suite(void)
{
    Suite *s = suite_create("dialog");
    TCase *tc = tcase_create("dialog");
    tcase_add_test(tc, uas_dialog_from_the_request);
    tcase_add_test(tc, uac_dialog_reverses_the_route_set);
    tcase_add_test(tc, strict_router_takes_the_request_uri);
    tcase_add_test(tc, reliable_1xx_without_contact_targets_the_request_uri);
    tcase_add_test(tc, contact_in_name_addr_form);
    tcase_add_test(tc, cseq_order_and_target_refresh);
    tcase_add_test(tc, table_finds_by_tags_and_by_id);
    tcase_add_test(tc, digest_answers_rfc2617_example);
    tcase_add_test(tc, digest_prefers_sha256_and_refuses_unknown);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(dialog_suite)
