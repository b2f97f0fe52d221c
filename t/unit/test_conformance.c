/*
 * test_conformance.c — every RFC 4475 torture message and every RFC 5118
 * IPv6 message, with the parsed values the RFCs talk about and, for the
 * invalid ones, the status and reason they are rejected with.
 *
 * The table below is checked against the corpus' INDEX.tsv files, so a
 * message cannot be left out and a verdict cannot drift.
 */
#include "sc_test.h"

#define D4475 "t/data/rfc4475/"
#define D5118 "t/data/rfc5118/wire/"

static sc_str_t hdr_value(const sc_msg_t *m, const char *name)
{
    sc_hdr_t *h = sc_msg_find_header(m, sc_str_cstr(name));
    ck_assert_msg(h != NULL, "no %s header", name);
    return h->value;
}

static sc_str_t unesc(sc_str_t v, char *buf)
{
    size_t n = sc_uri_unescape(v, buf);
    ck_assert(n != (size_t)-1);
    return sc_str(buf, n);
}

/* --- RFC 4475 §3.1.1 valid messages ------------------------------------ */

static void c_wsinv(const sc_msg_t *m)
{
    ck_assert_int_eq(m->method, SC_METHOD_INVITE);
    ck_assert_view(m->ruri.user, "vivekg");
    ck_assert_view(m->ruri.host, "chair-dnrc.example.com");
    ck_assert_view(m->ruri.params, ";unknownparam");
    ck_assert_view(m->to->uri.raw, "sip:vivekg@chair-dnrc.example.com");
    ck_assert_view(m->to->tag, "1918181833n");
    ck_assert(m->from->display_quoted);
    ck_assert_view(m->from->display, "J Rosenberg \\\\\\\"");
    ck_assert_view(m->from->tag, "98asjd8");
    ck_assert_int_eq(m->max_forwards, 68);
    ck_assert_view(m->call_id, "wsinv.ndaksdj@192.0.2.1");
    ck_assert_uint_eq(m->cseq.num, 9);
    ck_assert_int_eq(m->cseq.method, SC_METHOD_INVITE);
    ck_assert_uint_eq(m->content_length, 150);
    ck_assert_uint_eq(m->body.len, 150);
    ck_assert_uint_eq(sc_test_count_via(m), 3);
    ck_assert_view(m->via->transport, "UDP");
    ck_assert_view(m->via->host, "192.0.2.2");
    ck_assert_view(m->via->branch, "390skdjuw");
    ck_assert_view(m->via->next->transport, "TCP");
    ck_assert_view(m->via->next->host, "spindle.example.com");
    ck_assert_view(m->via->next->branch, "z9hG4bK9ikj8");
    ck_assert_view(m->via->next->next->host, "192.168.255.111");
    ck_assert_view(m->via->next->next->branch, "z9hG4bK30239");
    ck_assert_uint_eq(hdr_value(m, "Subject").len, 0);
    sc_str_t nf = hdr_value(m, "NewFangledHeader");
    ck_assert(nf.len > 16 && memcmp(nf.s, "newfangled value", 16) == 0);
    ck_assert(memmem(nf.s, nf.len, "continued newfangled value", 26) != NULL);
    ck_assert_view(hdr_value(m, "UnknownHeaderWithUnusualValue"), ";;,,;;,;");
    ck_assert_uint_eq(sc_test_count_addr(m->route), 1);
    ck_assert(m->route->uri.lr);
    ck_assert_view(m->route->uri.host, "services.example.com");
    ck_assert_uint_eq(sc_test_count_addr(m->contact), 1);
    ck_assert_view(m->contact->display, "Quoted string \\\"\\\"");
    ck_assert_int_eq(m->contact->q, 330);
    sc_str_t v;
    ck_assert(sc_param_find(m->contact->params, "newparam", &v));
    ck_assert_view(v, "newvalue");
    ck_assert(sc_param_find(m->contact->params, "secondparam", NULL));
    ck_assert_view(m->content_type.type, "application");
    ck_assert_view(m->content_type.subtype, "sdp");
}

static void c_intmeth(const sc_msg_t *m)
{
    ck_assert_int_eq(m->method, SC_METHOD_OTHER);
    ck_assert_view(m->method_str, "!interesting-Method0123456789_*+`.%indeed'~");
    ck_assert_view(m->ruri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    ck_assert_view(m->ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    ck_assert_view(m->ruri.host, "example.com");
    ck_assert_uint_eq(m->to->display.len, 20);
    ck_assert(memcmp(m->to->display.s, "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f", 20) == 0);
    ck_assert_view(m->from->display, "token1~` token2'+_ token3*%!.-");
    ck_assert_view(m->from->tag, "_token~1'+`*%!-.");
    ck_assert_view(m->call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    ck_assert_view(m->cseq.method_str, "!interesting-Method0123456789_*+`.%indeed'~");
    ck_assert_int_eq(m->max_forwards, 255);
    ck_assert_view(m->via->branch, "z9hG4bK-.!%66*_+`'~");
    ck_assert_view(hdr_value(m, "extensionHeader-!.%*+_`'~"),
                   "\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb");
    ck_assert_uint_eq(m->body.len, 0);
}

static void c_esc01(const sc_msg_t *m)
{
    char b[128];
    ck_assert_view(m->ruri.user, "sips%3Auser%40example.com");
    ck_assert_view(unesc(m->ruri.user, b), "sips:user@example.com");
    ck_assert_view(m->ruri.host, "example.net");
    ck_assert_view(unesc(m->to->uri.user, b), "user");
    ck_assert_view(unesc(m->from->uri.user, b), "I have spaces");
    ck_assert_view(unesc(m->contact->uri.user, b), "caller");
    /* escaped uri-param names still count: %6C%72 is lr */
    ck_assert(m->contact->uri.lr);
    /* decoded once, never twice: value%2541 -> value%41, not valueA */
    sc_str_t p = m->contact->uri.params, n, v;
    bool seen = false;
    while (sc_uri_param_next(&p, &n, &v) == 1)
        if (v.s) {
            ck_assert_view(unesc(n, b), "name");
            ck_assert_view(unesc(v, b), "value%41");
            seen = true;
        }
    ck_assert(seen);
    sc_uri_t u;
    ck_assert_ptr_null(sc_uri_parse(&u, SC_STR_LIT("sip:caller@host5.example.net;lr;name=value%2541")));
    ck_assert(sc_uri_equal(&u, &m->contact->uri));
    ck_assert_uint_eq(m->body.len, 150);
}

static void c_escnull(const sc_msg_t *m)
{
    char b[64];
    sc_str_t u = unesc(m->to->uri.user, b);
    ck_assert_uint_eq(u.len, 11);
    ck_assert(memcmp(u.s, "null-\0-null", 11) == 0);
    ck_assert_uint_eq(sc_test_count_addr(m->contact), 2);
    ck_assert_uint_eq(unesc(m->contact->uri.user, b).len, 1);
    ck_assert_uint_eq(unesc(m->contact->next->uri.user, b).len, 2);
    ck_assert(!sc_uri_equal(&m->contact->uri, &m->contact->next->uri));
    ck_assert_uint_eq(m->content_length, 0);
}

static void c_esc02(const sc_msg_t *m)
{
    ck_assert_int_eq(m->method, SC_METHOD_OTHER);
    ck_assert_view(m->method_str, "RE%47IST%45R");
    ck_assert_view(m->to->display, "%Z%45");
    ck_assert_uint_eq(sc_test_count_addr(m->contact), 2);
    ck_assert_view(m->contact->uri.host, "host1.example.com");
    ck_assert_view(m->contact->next->uri.host, "host3.example.com");
    sc_hdr_t *h = sc_msg_find_header(m, SC_STR_LIT("C%6Fntact"));
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(h->id, SC_HDR_OTHER);
    ck_assert_view(m->via->branch, "z9hG4bK209%fzsnel234");
}

static void c_lwsdisp(const sc_msg_t *m)
{
    ck_assert_view(m->from->display, "caller");
    ck_assert(!m->from->display_quoted);
    ck_assert_view(m->from->uri.user, "caller");
    ck_assert_view(m->from->tag, "323");
}

static void c_longreq(const sc_msg_t *m)
{
    ck_assert_uint_eq(sc_test_count_via(m), 34);
    const sc_via_t *v = m->via;
    ck_assert_view(v->host, "sip33.example.com");
    while (v->next)
        v = v->next;
    ck_assert_view(v->host, "host.example.com");
    ck_assert_view(v->received, "192.0.2.5");
    ck_assert(v->branch.len > 100);
    ck_assert(m->to->display.len > 90);
    ck_assert_uint_eq(m->to->uri.port, 6000);
    ck_assert(m->from->tag.len > 100);
    ck_assert(m->to->uri.params.len > 300);
    ck_assert(m->call_id.len > 100);
    ck_assert_uint_eq(m->content_length, 150);
    ck_assert_uint_eq(m->body.len, 150);
    ck_assert_uint_eq(m->len, 3515);
}

static void c_dblreq(const sc_msg_t *m)
{
    ck_assert_int_eq(m->method, SC_METHOD_REGISTER);
    ck_assert_view(m->call_id, "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
    ck_assert_uint_eq(m->content_length, 0);
    ck_assert_uint_eq(m->body.len, 0);
    ck_assert_uint_eq(sc_test_count_via(m), 1);
    ck_assert_view(m->contact->uri.host, "host.example.com");
    /* the trailing INVITE lookalike is not part of the message */
    ck_assert(m->hdr[SC_HDR_CONTENT_TYPE] == NULL);
}

static void c_semiuri(const sc_msg_t *m)
{
    ck_assert_view(m->ruri.user, "user;par=u%40example.net");
    ck_assert_view(m->ruri.host, "example.com");
    ck_assert_uint_eq(m->ruri.params.len, 0);
    sc_str_t acc = hdr_value(m, "Accept");
    ck_assert(memmem(acc.s, acc.len, "message/sipfrag", 15) != NULL);
}

static void c_transports(const sc_msg_t *m)
{
    const char *want[] = { "UDP", "SCTP", "TLS", "UNKNOWN", "TCP" };
    const sc_via_t *v = m->via;
    for (int i = 0; i < 5; i++, v = v->next) {
        ck_assert_ptr_nonnull(v);
        ck_assert(sc_str_eq_c(v->transport, want[i]));
    }
    ck_assert_ptr_null(v);
    ck_assert_view(m->call_id, "transports.kijh4akdnaqjkwendsasfdj");
}

static void c_mpart01(const sc_msg_t *m)
{
    ck_assert_int_eq(m->method, SC_METHOD_MESSAGE);
    ck_assert_uint_eq(m->content_length, 553);
    ck_assert_uint_eq(m->body.len, 553);
    ck_assert_ptr_nonnull(memchr(m->body.s, '\0', m->body.len));
    ck_assert_view(m->content_type.type, "multipart");
    ck_assert_view(m->content_type.subtype, "mixed");
    sc_str_t b;
    ck_assert(sc_param_find(m->content_type.params, "boundary", &b));
    ck_assert_view(b, "7a9cbec02ceef655");
    ck_assert(m->via->has_rport);
    ck_assert_uint_eq(m->via->rport.len, 0);
    ck_assert_uint_eq(m->via->port, 5070);
    time_t t;
    ck_assert_ptr_null(sc_date_parse(hdr_value(m, "Date"), &t));
    ck_assert_int_eq((long)t, 1129351496L);   /* 2005-10-15 04:44:56 UTC */
    ck_assert_uint_eq(sc_test_count_addr(m->route), 1);
}

static void c_unreason(const sc_msg_t *m)
{
    ck_assert(!m->is_request);
    ck_assert_uint_eq(m->status, 200);
    ck_assert(m->reason.len > 14 && memcmp(m->reason.s, "= 2**3 * 5**2 ", 14) == 0);
    ck_assert_uint_eq(m->body.len, 154);
}

static void c_noreason(const sc_msg_t *m)
{
    ck_assert_uint_eq(m->status, 100);
    ck_assert_uint_eq(m->reason.len, 0);
    ck_assert_view(m->to->tag, "902jndnke3");
}

/* --- RFC 4475 §3.1.2 invalid messages that need more than a status ----- */

static void c_scalar02(const sc_msg_t *m)
{
    /* the CSeq is the error; Expires and contact expires merely saturate */
    ck_assert(m->has_expires);
    ck_assert_uint_eq(m->expires, UINT32_MAX);
    ck_assert(m->contact->has_expires);
    ck_assert_uint_eq(m->contact->expires, 280297596632815ULL > UINT32_MAX ? UINT32_MAX : 0);
    ck_assert_int_eq(m->max_forwards, 255);
}

static void c_baddate(const sc_msg_t *m)
{
    time_t t;
    const char *bad = sc_date_parse(hdr_value(m, "Date"), &t);
    ck_assert_ptr_nonnull(bad);
    ck_assert_str_eq(bad, "time zone must be GMT");
}

static void c_badbranch(const sc_msg_t *m)
{
    ck_assert(m->via->has_branch);
    ck_assert_view(m->via->branch, "z9hG4bK");
    ck_assert(!sc_branch_is_rfc3261(m->via->branch));
}

/* --- RFC 4475 §3.3 / §3.4 --------------------------------------------- */

static void c_unkscm(const sc_msg_t *m)
{
    ck_assert_int_eq(m->ruri.scheme, SC_URI_OTHER);
    ck_assert_view(m->ruri.scheme_str, "nobodyKnowsThisScheme");
    ck_assert_view(m->ruri.opaque, "totallyopaquecontent");
}

static void c_novelsc(const sc_msg_t *m)
{
    ck_assert_int_eq(m->ruri.scheme, SC_URI_OTHER);
    ck_assert_view(m->ruri.scheme_str, "soap.beep");
}

static void c_unksm2(const sc_msg_t *m)
{
    ck_assert_view(m->to->uri.scheme_str, "isbn");
    ck_assert_int_eq(m->to->uri.scheme, SC_URI_OTHER);
    ck_assert_view(m->from->uri.scheme_str, "http");
    ck_assert_view(m->contact->uri.scheme_str, "name");
}

static void c_bext01(const sc_msg_t *m)
{
    ck_assert_view(m->require->tok, "nothingSupportsThis");
    ck_assert_view(m->require->next->tok, "nothingSupportsThisEither");
    ck_assert_ptr_null(m->require->next->next);
    ck_assert_view(m->proxy_require->tok, "noProxiesSupportThis");
    ck_assert_view(m->proxy_require->next->tok, "norDoAnyProxiesSupportThis");
}

static void c_invut(const sc_msg_t *m)
{
    ck_assert_view(m->content_type.subtype, "unknownformat");
    ck_assert_uint_eq(m->body.len, 40);
}

static void c_regaut01(const sc_msg_t *m)
{
    ck_assert_ptr_nonnull(m->authorization);
    ck_assert(!m->authorization->is_digest);
    ck_assert_view(m->authorization->scheme, "NoOneKnowsThisScheme");
    ck_assert_view(m->authorization->params, "opaque-data=here");
}

static void c_bcast(const sc_msg_t *m)
{
    ck_assert_uint_eq(m->status, 200);
    ck_assert_view(m->via->next->host, "255.255.255.255");
}

static void c_zeromf(const sc_msg_t *m)
{
    ck_assert_int_eq(m->max_forwards, 0);
}

static void c_cparam01(const sc_msg_t *m)
{
    ck_assert(!m->contact->angle);
    ck_assert_uint_eq(m->contact->uri.params.len, 0);
    ck_assert_view(m->contact->params, ";unknownparam");
}

static void c_cparam02(const sc_msg_t *m)
{
    ck_assert(m->contact->angle);
    ck_assert_view(m->contact->uri.params, ";unknownparam");
    ck_assert_uint_eq(m->contact->params.len, 0);
}

static void c_regescrt(const sc_msg_t *m)
{
    ck_assert_uint_eq(sc_test_count_addr(m->contact), 1);
    ck_assert_view(m->contact->uri.headers, "Route=%3Csip:sip.example.com%3E");
}

static void c_sdp01(const sc_msg_t *m)
{
    ck_assert_view(hdr_value(m, "Accept"), "text/nobodyKnowsThis");
}

static void c_inv2543(const sc_msg_t *m)
{
    ck_assert(!m->via->has_branch);
    ck_assert_uint_eq(m->from->tag.len, 0);
    ck_assert_int_eq(m->max_forwards, -1);
    ck_assert(!m->has_content_length);
    ck_assert_uint_eq(m->body.len, 105);
    ck_assert_view(m->record_route->uri.maddr, "ss1.example.com");
    /* addr-spec form: ";user=phone" is a header parameter of To, while in
     * From's <...> it is a uri-parameter (RFC 3261 §20.10) */
    sc_str_t v;
    ck_assert(sc_param_find(m->to->params, "user", &v));
    ck_assert_view(v, "phone");
    ck_assert_uint_eq(m->to->uri.user_param.len, 0);
    ck_assert_view(m->from->uri.user_param, "phone");
}

/* --- RFC 5118 ---------------------------------------------------------- */

static void c_ipv6_good(const sc_msg_t *m)
{
    ck_assert(m->ruri.host_ipv6);
    ck_assert_view(m->ruri.host, "2001:db8::10");
    ck_assert(m->via->host_ipv6);
    ck_assert_view(m->via->host, "2001:db8::9:1");
    ck_assert_view(m->contact->uri.host, "2001:db8::1");
}

static void c_port_ambiguous(const sc_msg_t *m)
{
    ck_assert_view(m->ruri.host, "2001:db8::10:5070");
    ck_assert_uint_eq(m->ruri.port, 0);
}

static void c_port_unambiguous(const sc_msg_t *m)
{
    ck_assert_view(m->ruri.host, "2001:db8::10");
    ck_assert_uint_eq(m->ruri.port, 5070);
}

static void c_recv_delim(const sc_msg_t *m)
{
    ck_assert_view(m->via->received, "2001:db8::9:255");
    ck_assert_view(m->via->branch, "z9hG4bKas3-111");
}

static void c_recv_nodelim(const sc_msg_t *m)
{
    ck_assert_view(m->via->received, "2001:db8::9:255");
    ck_assert_view(m->via->branch, "z9hG4bKas3");
}

static void c_ipv6_sdp(const sc_msg_t *m)
{
    ck_assert_uint_eq(m->body.len, 251);
    ck_assert_ptr_nonnull(memmem(m->body.s, m->body.len, "IN IP6 2001:db8::20", 19));
}

static void c_mult_ip_hdr(const sc_msg_t *m)
{
    const sc_via_t *v = m->via;
    ck_assert_view(v->host, "2001:db8::9:1");
    ck_assert_uint_eq(v->port, 6050);
    ck_assert_view(v->next->host, "192.0.2.1");
    ck_assert(!v->next->host_ipv6);
    ck_assert_view(v->next->next->host, "2001:db8::9:255");
    ck_assert_view(v->next->next->received, "192.0.2.200");
    ck_assert_view(v->next->next->transport, "TCP");
}

static void c_mult_ip_sdp(const sc_msg_t *m)
{
    ck_assert_uint_eq(m->body.len, 189);
}

static void c_v4mapped(const sc_msg_t *m)
{
    ck_assert_view(m->via->host, "::ffff:192.0.2.10");
    ck_assert_uint_eq(m->via->port, 19823);
    ck_assert_view(m->via->next->host, "::ffff:192.0.2.2");
    ck_assert_view(m->contact->uri.host, "::ffff:192.0.2.2");
    ck_assert_view(m->contact->display, "T. desk phone");
    ck_assert_uint_eq(m->body.len, 245);
}

static void c_3colons(const sc_msg_t *m)
{
    ck_assert_view(m->ruri.host, "2001:db8:::192.0.2.1");
    ck_assert(sc_uri_equal(&m->ruri, &m->to->uri));
}

static void c_2colons(const sc_msg_t *m)
{
    ck_assert_view(m->ruri.host, "2001:db8::192.0.2.1");
    ck_assert(sc_uri_equal(&m->ruri, &m->to->uri));
}

typedef struct {
    const char *name;           /* as in INDEX.tsv */
    const char *path;
    unsigned    status;         /* 0: the parser accepts it */
    const char *reason;         /* a substring of the reason phrase */
    void      (*check)(const sc_msg_t *m);
} conf_case_t;

static const conf_case_t cases[] = {
    { "wsinv", D4475 "wsinv.dat", 0, NULL, c_wsinv },
    { "intmeth", D4475 "intmeth.dat", 0, NULL, c_intmeth },
    { "esc01", D4475 "esc01.dat", 0, NULL, c_esc01 },
    { "escnull", D4475 "escnull.dat", 0, NULL, c_escnull },
    { "esc02", D4475 "esc02.dat", 0, NULL, c_esc02 },
    { "lwsdisp", D4475 "lwsdisp.dat", 0, NULL, c_lwsdisp },
    { "longreq", D4475 "longreq.dat", 0, NULL, c_longreq },
    { "dblreq", D4475 "dblreq.dat", 0, NULL, c_dblreq },
    { "semiuri", D4475 "semiuri.dat", 0, NULL, c_semiuri },
    { "transports", D4475 "transports.dat", 0, NULL, c_transports },
    { "mpart01", D4475 "mpart01.dat", 0, NULL, c_mpart01 },
    { "unreason", D4475 "unreason.dat", 0, NULL, c_unreason },
    { "noreason", D4475 "noreason.dat", 0, NULL, c_noreason },
    { "badinv01", D4475 "badinv01.dat", 400, "Via: empty parameter", NULL },
    { "clerr", D4475 "clerr.dat", 400, "Content-Length exceeds datagram", NULL },
    { "ncl", D4475 "ncl.dat", 400, "Content-Length: not a valid number", NULL },
    { "scalar02", D4475 "scalar02.dat", 400, "CSeq: sequence number exceeds 2^32-1", c_scalar02 },
    { "scalarlg", D4475 "scalarlg.dat", 400, "CSeq: sequence number exceeds 2^32-1", NULL },
    { "quotbal", D4475 "quotbal.dat", 400, "To: unterminated quoted display name", NULL },
    { "ltgtruri", D4475 "ltgtruri.dat", 400, "Request-URI must not be enclosed in <>", NULL },
    { "lwsruri", D4475 "lwsruri.dat", 400, "Whitespace inside Request-URI", NULL },
    { "lwsstart", D4475 "lwsstart.dat", 400, "Extra whitespace in Request-Line", NULL },
    { "trws", D4475 "trws.dat", 400, "Trailing whitespace in Request-Line", NULL },
    { "escruri", D4475 "escruri.dat", 400, "Request-URI must not contain headers", NULL },
    /* Date matters to nobody in the parser: the message is accepted and
     * the Date parser names the defect for whoever reads Date. */
    { "baddate", D4475 "baddate.dat", 0, NULL, c_baddate },
    { "regbadct", D4475 "regbadct.dat", 400, "Contact: URI with headers must be enclosed in <>", NULL },
    { "badaspec", D4475 "badaspec.dat", 400, "To: whitespace inside <>", NULL },
    { "baddn", D4475 "baddn.dat", 400, "Header section not terminated", NULL },
    { "badvers", D4475 "badvers.dat", 505, "SIP version not supported", NULL },
    { "mismatch01", D4475 "mismatch01.dat", 400, "CSeq method does not match request method", NULL },
    { "mismatch02", D4475 "mismatch02.dat", 501, "CSeq method does not match request method", NULL },
    { "bigcode", D4475 "bigcode.dat", 400, "Status code must be three digits", NULL },
    { "badbranch", D4475 "badbranch.dat", 0, NULL, c_badbranch },
    { "insuf", D4475 "insuf.dat", 400, "Missing From header", NULL },
    { "unkscm", D4475 "unkscm.dat", 0, NULL, c_unkscm },
    { "novelsc", D4475 "novelsc.dat", 0, NULL, c_novelsc },
    { "unksm2", D4475 "unksm2.dat", 0, NULL, c_unksm2 },
    { "bext01", D4475 "bext01.dat", 0, NULL, c_bext01 },
    { "invut", D4475 "invut.dat", 0, NULL, c_invut },
    { "regaut01", D4475 "regaut01.dat", 0, NULL, c_regaut01 },
    { "multi01", D4475 "multi01.dat", 400, "CSeq: header must appear only once", NULL },
    { "mcl01", D4475 "mcl01.dat", 400, "Content-Length: conflicting values", NULL },
    { "bcast", D4475 "bcast.dat", 0, NULL, c_bcast },
    { "zeromf", D4475 "zeromf.dat", 0, NULL, c_zeromf },
    { "cparam01", D4475 "cparam01.dat", 0, NULL, c_cparam01 },
    { "cparam02", D4475 "cparam02.dat", 0, NULL, c_cparam02 },
    { "regescrt", D4475 "regescrt.dat", 0, NULL, c_regescrt },
    { "sdp01", D4475 "sdp01.dat", 0, NULL, c_sdp01 },
    { "inv2543", D4475 "inv2543.dat", 0, NULL, c_inv2543 },
    { "test", D4475 "test.dat", 400, "Request-Line has no SIP-Version", NULL },

    { "ipv6-good", D5118 "ipv6-good.dat", 0, NULL, c_ipv6_good },
    { "ipv6-bad", D5118 "ipv6-bad.dat", 400, "Request-URI: IPv6 address must be enclosed in []", NULL },
    { "port-ambiguous", D5118 "port-ambiguous.dat", 0, NULL, c_port_ambiguous },
    { "port-unambiguous", D5118 "port-unambiguous.dat", 0, NULL, c_port_unambiguous },
    { "via-received-param-with-delim", D5118 "via-received-param-with-delim.dat", 0, NULL, c_recv_delim },
    { "via-received-param-no-delim", D5118 "via-received-param-no-delim.dat", 0, NULL, c_recv_nodelim },
    { "ipv6-in-sdp", D5118 "ipv6-in-sdp.dat", 0, NULL, c_ipv6_sdp },
    { "mult-ip-in-header", D5118 "mult-ip-in-header.dat", 0, NULL, c_mult_ip_hdr },
    { "mult-ip-in-sdp", D5118 "mult-ip-in-sdp.dat", 0, NULL, c_mult_ip_sdp },
    { "ipv4-mapped-ipv6", D5118 "ipv4-mapped-ipv6.dat", 0, NULL, c_v4mapped },
    { "ipv6-bug-abnf-3-colons", D5118 "ipv6-bug-abnf-3-colons.dat", 0, NULL, c_3colons },
    { "ipv6-correct-abnf-2-colons", D5118 "ipv6-correct-abnf-2-colons.dat", 0, NULL, c_2colons },
};

#define NCASES (int)(sizeof(cases) / sizeof(cases[0]))

START_TEST(each_message_gets_its_verdict_and_values)
{
    const conf_case_t *c = &cases[_i];
    parsed_t p = sc_test_parse_file(c->path);
    if (c->status == 0) {
        ck_assert_msg(p.rc == 0, "%s: parse failed: %u %s", c->name, p.err.status, p.err.reason);
    } else {
        ck_assert_msg(p.rc != 0, "%s: parse unexpectedly succeeded", c->name);
        ck_assert_msg(p.err.status == c->status, "%s: status %u, want %u (%s)", c->name,
                      p.err.status, c->status, p.err.reason);
        ck_assert_msg(strstr(p.err.reason, c->reason) != NULL, "%s: reason \"%s\" lacks \"%s\"",
                      c->name, p.err.reason, c->reason);
    }
    if (c->check) {
        ck_assert_msg(p.msg != NULL, "%s: no message to check", c->name);
        c->check(p.msg);
    }
    sc_test_free(&p);
}
END_TEST

/* Every row of both INDEX.tsv files has a case, and the case agrees with
 * the verdict: valid and valid-but-tricky are accepted by the parser,
 * invalid is rejected (baddate: by the Date parser, see above). */
static void check_index(const char *path, int *seen)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[2048];
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));   /* header row */
    while (fgets(line, sizeof(line), f)) {
        char *name = strtok(line, "\t");
        strtok(NULL, "\t");
        char *verdict = strtok(NULL, "\t");
        ck_assert_ptr_nonnull(verdict);
        int k;
        for (k = 0; k < NCASES; k++)
            if (strcmp(cases[k].name, name) == 0)
                break;
        ck_assert_msg(k < NCASES, "INDEX names %s but no test covers it", name);
        seen[k]++;
        bool invalid = strcmp(verdict, "invalid") == 0;
        if (strcmp(name, "baddate") != 0)
            ck_assert_msg(invalid == (cases[k].status != 0), "%s: verdict %s but status %u", name,
                          verdict, cases[k].status);
    }
    fclose(f);
}

START_TEST(index_rows_all_have_a_case_with_the_same_verdict)
{
    int seen[NCASES] = { 0 };
    check_index("t/data/rfc4475/INDEX.tsv", seen);
    check_index("t/data/rfc5118/INDEX.tsv", seen);
    for (int k = 0; k < NCASES; k++)
        ck_assert_msg(seen[k] == 1, "%s listed %d times", cases[k].name, seen[k]);
    ck_assert_int_eq(NCASES, 62);
}
END_TEST

START_TEST(baddn_with_its_missing_crlf_restored_fails_on_the_display_name)
{
    parsed_t p = sc_test_parse_file(D4475 "variants/baddn.terminated.dat");
    ck_assert_parse_err(p, 400, "From: display name with special characters must be quoted");
    sc_test_free(&p);
}
END_TEST

/* The archive bytes of RFC 5118 (bare LF, wrong Content-Lengths, open
 * header sections) behave as the corpus README says. */
START_TEST(rfc5118_archive_form_behaves_as_documented)
{
    static const struct {
        const char *name;
        const char *reason;
    } raw[] = {
        { "ipv6-good", NULL }, { "port-ambiguous", NULL }, { "port-unambiguous", NULL },
        { "via-received-param-with-delim", NULL }, { "via-received-param-no-delim", NULL },
        { "mult-ip-in-header", NULL }, { "ipv4-mapped-ipv6", NULL },
        { "ipv6-bad", "IPv6 address must be enclosed in []" },
        { "ipv6-in-sdp", "Content-Length exceeds datagram" },
        { "mult-ip-in-sdp", "Content-Length exceeds datagram" },
        { "ipv6-bug-abnf-3-colons", "Header section not terminated" },
        { "ipv6-correct-abnf-2-colons", "Header section not terminated" },
    };
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "t/data/rfc5118/%s.dat", raw[i].name);
        parsed_t p = sc_test_parse_file(path);
        if (raw[i].reason == NULL)
            ck_assert_msg(p.rc == 0, "%s: %s", raw[i].name, p.err.reason);
        else
            ck_assert_msg(p.rc != 0 && strstr(p.err.reason, raw[i].reason), "%s: got \"%s\"",
                          raw[i].name, p.err.reason);
        sc_test_free(&p);
    }
}
END_TEST

/* A rejected request still yields what a 400 must be addressed with. */
START_TEST(rejected_request_keeps_what_the_answer_needs)
{
    parsed_t p = sc_test_parse_file(D4475 "lwsruri.dat");
    ck_assert_ptr_nonnull(p.msg);
    ck_assert_ptr_nonnull(p.msg->via);
    ck_assert_view(p.msg->via->branch, "z9hG4bKkdjuw2395");
    ck_assert_ptr_nonnull(p.msg->from);
    ck_assert_ptr_nonnull(p.msg->to);
    ck_assert(p.msg->has_cseq);
    sc_msg_t *r = sc_msg_new_response_to(p.msg, p.err.status, sc_str_cstr(p.err.reason),
                                         SC_STR_LIT("x1"));
    ck_assert_ptr_nonnull(r);
    sc_str_t out = sc_msg_serialize(r);
    ck_assert(memmem(out.s, out.len, "SIP/2.0 400 Whitespace inside Request-URI\r\n", 43) != NULL);
    sc_msg_free(r);
    sc_test_free(&p);
}
END_TEST

static Suite *conformance_suite(void)
{
    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create("rfc4475+rfc5118");
    tcase_add_loop_test(tc, each_message_gets_its_verdict_and_values, 0, NCASES);
    tcase_add_test(tc, index_rows_all_have_a_case_with_the_same_verdict);
    tcase_add_test(tc, baddn_with_its_missing_crlf_restored_fails_on_the_display_name);
    tcase_add_test(tc, rfc5118_archive_form_behaves_as_documented);
    tcase_add_test(tc, rejected_request_keeps_what_the_answer_needs);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(conformance_suite)
