/* test_txn.c — the four RFC 3261 §17 state machines (with RFC 6026 and
 * RFC 4320) on a manual clock: every transition, every timer, the
 * matching rules, retransmission absorption, transport errors and the
 * cap on transactions in flight. */
#include "sc_test.h"
#include "txn.h"
#include "txn_done.h"

/* --- what the layer sends, and what it tells the TU -------------------- */
static int nsent;
static char sent[64][1024];
static bool send_fails;

static int record(void *ctx, const sc_source_t *flow, const char *buf, size_t len)
{
    (void)ctx;
    (void)flow;
    if (send_fails)
        return -1;
    if (nsent < 64) {
        size_t n = len < sizeof(sent[0]) - 1 ? len : sizeof(sent[0]) - 1;
        memcpy(sent[nsent], buf, n);
        sent[nsent][n] = '\0';
    }
    nsent++;
    return 0;
}

static int nev[5];
static unsigned last_status;

static void tu(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg)
{
    (void)t;
    (void)arg;
    nev[ev]++;
    if (msg)
        last_status = msg->status;
}

static sc_clock_t *clk;
static sc_txn_layer_t *layer;
static sc_source_t udp = { .kind = SC_TP_UDP, .peer = { .ip = "10.0.0.1", .port = 5070 } };
static sc_source_t tcp = { .kind = SC_TP_TCP, .peer = { .ip = "10.0.0.1", .port = 5070 } };

static void setup(void)
{
    nsent = 0;
    send_fails = false;
    memset(nev, 0, sizeof(nev));
    last_status = 0;
    clk = sc_clock_manual();
    layer = sc_txn_layer_new(clk, NULL, record, NULL);
}

static void teardown(void)
{
    sc_txn_layer_free(layer);
    sc_clock_free(clk);
}

static const char *first_line(int i)
{
    static char line[128];
    ck_assert_int_lt(i, nsent);
    size_t n = strcspn(sent[i], "\r");
    snprintf(line, sizeof(line), "%.*s", (int)n, sent[i]);
    return line;
}

/* --- messages ------------------------------------------------------------ */
static sc_msg_t *parse(const char *text, char **raw)
{
    size_t n = strlen(text);
    *raw = malloc(n);
    memcpy(*raw, text, n);
    sc_msg_t *m;
    sc_parse_err_t err;
    ck_assert_msg(sc_msg_parse(&m, *raw, n, SC_TRANSPORT_DGRAM, NULL, &err) == 0, "%s", err.reason);
    return m;
}

static char *request_text(const char *method, const char *branch, const char *to_tag,
                          const char *cseq_method)
{
    static char text[1024];
    snprintf(text, sizeof(text),
             "%s sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=%s\r\n"
             "To: <sip:bob@127.0.0.1>%s%s\r\nFrom: <sip:a@b>;tag=f1\r\nCall-ID: call-1\r\n"
             "CSeq: 7 %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
             method, branch, to_tag ? ";tag=" : "", to_tag ? to_tag : "",
             cseq_method ? cseq_method : method);
    return text;
}

/* Feeds a request to the server side; frees it unless a transaction took it. */
static sc_rx_t rx(const char *method, const char *branch, const char *to_tag, sc_txn_t **out,
                  const sc_source_t *flow)
{
    char *raw;
    sc_msg_t *m = parse(request_text(method, branch, to_tag, NULL), &raw);
    sc_txn_t *t;
    sc_rx_t r = sc_txn_server_receive(layer, flow, raw, m, &t);
    if (r != SC_RX_NEW) {
        sc_msg_free(m);
        free(raw);
    }
    if (out)
        *out = t;
    return r;
}

static int respond(sc_txn_t *t, unsigned status, const char *tag)
{
    sc_msg_t *r = sc_msg_new_response_to(sc_txn_request(t), status, SC_STR_NULL,
                                         sc_str_cstr(tag));
    int rc = sc_txn_respond(t, r);
    sc_msg_free(r);
    return rc;
}

/* A response as a server would send back to our client transaction. */
static int rx_response(sc_txn_t *t, unsigned status, const char *tag)
{
    sc_msg_t *r = sc_msg_new_response_to(sc_txn_request(t), status, SC_STR_NULL,
                                         sc_str_cstr(tag));
    sc_str_t bytes = sc_msg_serialize(r);
    char *raw;
    char *copy = strndup(bytes.s, bytes.len);
    sc_msg_t *m = parse(copy, &raw);
    int rc = sc_txn_client_receive(layer, m);
    sc_msg_free(m);
    sc_msg_free(r);
    free(raw);
    free(copy);
    return rc;
}

static sc_txn_t *client(const char *method, const sc_source_t *flow)
{
    char *raw;
    char branch[32];
    sc_gen_branch(branch, 20);
    sc_msg_t *m = parse(request_text(method, branch, NULL, NULL), &raw);
    /* the transaction keeps the message; give it bytes it owns */
    sc_msg_t *own = sc_msg_new_request(m->method, m->method_str, m->ruri_str);
    for (sc_hdr_t *h = m->hdr_first; h; h = h->next)
        sc_msg_add_header(own, h->name, h->value, NULL);
    sc_msg_free(m);
    free(raw);
    return sc_txn_client_new(layer, own, flow, tu, NULL);
}

/* --- NIST ------------------------------------------------------------------ */
START_TEST(nist_udp_full_cycle)
{
    sc_txn_t *t;
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKn1", NULL, &t, &udp), SC_RX_NEW);
    sc_txn_set_tu(t, tu, NULL);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_TRYING);
    ck_assert_int_eq(nsent, 0);
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKn1", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(nsent, 0);                 /* Trying: retransmission dropped */
    /* RFC 4320: no 100 before the client's E reaches T2 (3.5 s), then one */
    sc_clock_advance(clk, 3499);
    ck_assert_int_eq(nsent, 0);
    sc_clock_advance(clk, 1);
    ck_assert_int_eq(nsent, 1);
    ck_assert_str_eq(first_line(0), "SIP/2.0 100 Trying");
    ck_assert_int_eq(sc_txn_state(t), SC_TS_PROCEEDING);
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKn1", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(nsent, 2);                 /* Proceeding: the 100 again */
    ck_assert_int_eq(respond(t, 200, "tt"), 0);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_COMPLETED);
    ck_assert_str_eq(first_line(2), "SIP/2.0 200 OK");
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKn1", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_str_eq(first_line(3), "SIP/2.0 200 OK");
    ck_assert_int_eq(respond(t, 500, "tt"), -1); /* one final answer */
    sc_clock_advance(clk, 32000 - 1);           /* timer J = 64*T1 */
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 0);
    sc_clock_advance(clk, 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
    ck_assert_int_eq(sc_txn_count(layer), 0);
    /* after J a retransmission is a new request */
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKn1", NULL, &t, &udp), SC_RX_NEW);
}
END_TEST

/* Completed, held and heard by nobody but the layer: the transaction goes
 * to the store of answers (txn_done.h), which answers retransmissions
 * until timer J (memory per REGISTER during J). */
START_TEST(nist_completed_compact)
{
    sc_txn_t *t;
    ck_assert_int_eq(rx("REGISTER", "z9hG4bKc1", NULL, &t, &udp), SC_RX_NEW);
    sc_txn_set_tu(t, tu, NULL);
    sc_txn_ref(t);                              /* a TU holding it, as the chain does */
    ck_assert_int_eq(respond(t, 200, "ct"), 0);
    sc_clock_advance(clk, 10);
    ck_assert_ptr_nonnull(sc_txn_request(t));   /* held: kept whole */
    sc_txn_set_tu(t, NULL, NULL);               /* the TU lets go */
    sc_txn_unref(t);
    ck_assert_int_eq(sc_txn_count_compact(layer), 0);   /* not while it may be on the stack */
    sc_clock_advance(clk, 1);
    ck_assert_int_eq(sc_txn_count_compact(layer), 1);   /* then compact */
    ck_assert_int_eq(sc_txn_count(layer), 1);           /* still there for timer J */
    ck_assert_int_eq(rx("REGISTER", "z9hG4bKc1", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(nsent, 2);
    ck_assert_str_eq(first_line(1), "SIP/2.0 200 OK");   /* the same answer again */
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKc1", NULL, &t, &udp), SC_RX_NEW);   /* another method */
    ck_assert_int_eq(sc_txn_count(layer), 2);
    sc_clock_advance(clk, 32000 - 11 - 1);
    ck_assert_int_eq(sc_txn_count(layer), 2);
    sc_clock_advance(clk, 1);                   /* timer J ends the compact one */
    ck_assert_int_eq(sc_txn_count(layer), 1);
    ck_assert_int_eq(rx("REGISTER", "z9hG4bKc1", NULL, NULL, &udp), SC_RX_NEW);
}
END_TEST

/* A registrar's worth of compact transactions: records span several of
 * the store's blocks, each retransmission gets its own answer, they end
 * oldest first, and do not count against max_transactions. */
START_TEST(nist_compact_many)
{
    enum { N = 3000 };
    sc_txn_conf_t c = sc_txn_conf_default;
    c.max_txns = 2;
    sc_txn_layer_set_conf(layer, &c);
    char branch[32], body[32];
    for (int i = 0; i < N; i++) {
        sc_txn_t *t;
        snprintf(branch, sizeof(branch), "z9hG4bKm%d", i);
        snprintf(body, sizeof(body), "tag%d", i);
        ck_assert_int_eq(rx("REGISTER", branch, NULL, &t, &udp), SC_RX_NEW);
        ck_assert_int_eq(respond(t, 200, body), 0);
        sc_clock_advance(clk, 10);              /* compact; 30 s for all */
    }
    ck_assert_int_eq(sc_txn_count_compact(layer), N);
    for (int i = 0; i < N; i += 997) {
        snprintf(branch, sizeof(branch), "z9hG4bKm%d", i);
        snprintf(body, sizeof(body), "tag=tag%d\r", i);
        nsent = 0;
        ck_assert_int_eq(rx("REGISTER", branch, NULL, NULL, &udp), SC_RX_ABSORBED);
        ck_assert_int_eq(nsent, 1);
        ck_assert_ptr_nonnull(strstr(sent[0], body));
    }
    sc_clock_advance(clk, 32000 + 995 - N * 10);    /* the first hundred (1 s) expired */
    ck_assert_int_eq(sc_txn_count(layer), N - 100);
    ck_assert_int_eq(rx("REGISTER", "z9hG4bKm99", NULL, NULL, &udp), SC_RX_NEW);
    ck_assert_int_eq(rx("REGISTER", "z9hG4bKm100", NULL, NULL, &udp), SC_RX_ABSORBED);
    sc_clock_advance(clk, N * 10);
    ck_assert_int_eq(sc_txn_count(layer), 1);
}
END_TEST

/* The store keys records by the answer's own copy of the branch, host
 * and method when it has one, by a copy of its own when it has not; a
 * host matches without regard to case (§17.2.3), the rest exactly. */
START_TEST(done_store_keys)
{
    sc_txn_done_t *d = sc_txn_done_new(clk);
    const char *out = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h.example;branch=z9hG4bKin\r\n"
                      "CSeq: 1 REGISTER\r\n\r\n";
    sc_txn_done_key_t in = { .hash = 7, .branch = sc_str_cstr("z9hG4bKin"),
                             .host = sc_str_cstr("h.example"), .method = sc_str_cstr("REGISTER"),
                             .port = 5060 };
    sc_txn_done_key_t away = { .hash = 7, .branch = sc_str_cstr("z9hG4bKaway"),
                               .host = sc_str_cstr("other.example"), .method = sc_str_cstr("MESSAGE"),
                               .port = 5060 };
    ck_assert_int_eq(sc_txn_done_add(d, &in, &udp, out, strlen(out), 100), 0);
    ck_assert_int_eq(sc_txn_done_add(d, &away, &udp, out, strlen(out), 100), 0);
    ck_assert_int_eq(sc_txn_done_count(d), 2);
    ck_assert(sc_txn_done_answer(d, &away, record, NULL));
    ck_assert_int_eq(nsent, 1);
    ck_assert_str_eq(sent[0], out);
    sc_txn_done_key_t k = in;
    k.host = sc_str_cstr("H.Example");
    ck_assert(sc_txn_done_answer(d, &k, record, NULL));
    k = in;
    k.branch = sc_str_cstr("z9hG4bKIN");
    ck_assert(!sc_txn_done_answer(d, &k, record, NULL));
    k = in;
    k.port = 5061;
    ck_assert(!sc_txn_done_answer(d, &k, record, NULL));
    k = away;
    k.method = sc_str_cstr("REGISTER");
    ck_assert(!sc_txn_done_answer(d, &k, record, NULL));
    ck_assert_int_eq(nsent, 2);
    sc_clock_advance(clk, 100);
    ck_assert_int_eq(sc_txn_done_count(d), 0);
    ck_assert(!sc_txn_done_answer(d, &in, record, NULL));
    sc_txn_done_free(d);
}
END_TEST

START_TEST(nist_rfc4320_rules)
{
    sc_txn_t *t;
    ck_assert_int_eq(rx("REGISTER", "z9hG4bKn2", NULL, &t, &udp), SC_RX_NEW);
    ck_assert_int_eq(respond(t, 180, "x"), -1); /* no provisional but 100 */
    ck_assert_int_eq(nsent, 0);
    ck_assert_int_eq(respond(t, 100, NULL), 0);
    ck_assert_int_eq(respond(t, 200, "x"), 0);
    sc_clock_advance(clk, 10000);
    ck_assert_int_eq(nsent, 2);                 /* no late RFC 4320 100 */
}
END_TEST

START_TEST(nist_reliable_ends_at_once)
{
    sc_txn_t *t;
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKn3", NULL, &t, &tcp), SC_RX_NEW);
    sc_txn_set_tu(t, tu, NULL);
    sc_clock_advance(clk, 10000);
    ck_assert_int_eq(nsent, 0);                 /* no 100 over TCP */
    ck_assert_int_eq(respond(t, 200, "x"), 0);
    sc_clock_advance(clk, 0);                   /* J = 0 */
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
}
END_TEST

/* --- IST -------------------------------------------------------------------- */
START_TEST(ist_non2xx_retransmits_until_ack)
{
    sc_txn_t *t;
    ck_assert_int_eq(rx("INVITE", "z9hG4bKi1", NULL, &t, &udp), SC_RX_NEW);
    sc_txn_set_tu(t, tu, NULL);
    ck_assert_int_eq(nsent, 1);                 /* 100 at once (§17.2.1) */
    ck_assert_str_eq(first_line(0), "SIP/2.0 100 Trying");
    ck_assert_int_eq(rx("INVITE", "z9hG4bKi1", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(nsent, 2);
    ck_assert_int_eq(respond(t, 180, "to1"), 0);
    ck_assert_int_eq(rx("INVITE", "z9hG4bKi1", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(nsent, 4);
    ck_assert_str_eq(first_line(3), "SIP/2.0 180 Ringing");
    ck_assert_int_eq(respond(t, 486, "to1"), 0);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_COMPLETED);
    nsent = 0;
    /* timer G: 500, 1000, 2000, 4000, 4000 (capped at T2) */
    unsigned at[] = { 500, 1500, 3500, 7500, 11500 };
    uint64_t now = 0;
    for (int i = 0; i < 5; i++) {
        sc_clock_advance(clk, at[i] - now - 1);
        ck_assert_int_eq(nsent, i);
        sc_clock_advance(clk, 1);
        ck_assert_int_eq(nsent, i + 1);
        ck_assert_str_eq(first_line(i), "SIP/2.0 486 Busy Here");
        now = at[i];
    }
    ck_assert_int_eq(rx("INVITE", "z9hG4bKi1", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(nsent, 6);                 /* retransmitted INVITE: 486 again */
    ck_assert_int_eq(rx("ACK", "z9hG4bKi1", "to1", NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_CONFIRMED);
    sc_clock_advance(clk, 4999);                /* timer I = T4 */
    ck_assert_int_eq(nsent, 6);                 /* G stopped */
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 0);
    sc_clock_advance(clk, 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TIMEOUT], 0);
}
END_TEST

START_TEST(ist_timer_h_without_ack)
{
    sc_txn_t *t;
    rx("INVITE", "z9hG4bKi2", NULL, &t, &tcp);
    sc_txn_set_tu(t, tu, NULL);
    respond(t, 404, "x");
    sc_clock_advance(clk, 60000);
    ck_assert_int_eq(nsent, 2);                 /* 100, 404: no G on TCP */
    ck_assert_int_eq(nev[SC_TXN_EV_TIMEOUT], 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
}
END_TEST

START_TEST(ist_accepted_rfc6026)
{
    sc_txn_t *t, *acked;
    rx("INVITE", "z9hG4bKi3", NULL, &t, &udp);
    sc_txn_set_tu(t, tu, NULL);
    ck_assert_int_eq(respond(t, 200, "to3"), 0);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_ACCEPTED);
    int before = nsent;
    ck_assert_int_eq(rx("INVITE", "z9hG4bKi3", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(nsent, before);            /* the TU retransmits 2xx, not us */
    ck_assert_int_eq(respond(t, 200, "to3"), 0); /* ... through the transaction */
    ck_assert_int_eq(nsent, before + 1);
    ck_assert_int_eq(respond(t, 486, "to3"), -1);
    /* an ACK with the INVITE's branch is handed to the TU */
    ck_assert_int_eq(rx("ACK", "z9hG4bKi3", "to3", &acked, &udp), SC_RX_ACK);
    ck_assert_ptr_eq(acked, t);
    /* an ACK with a new branch (the usual 2xx ACK) matches nothing */
    ck_assert_int_eq(rx("ACK", "z9hG4bKother", "to3", &acked, &udp), SC_RX_ACK);
    ck_assert_ptr_null(acked);
    sc_clock_advance(clk, 31999);               /* timer L */
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 0);
    sc_clock_advance(clk, 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
}
END_TEST

/* A proxy that relayed the 2xx forgets the request: the transaction
 * still matches retransmissions, ACKs and CANCELs by its key. */
START_TEST(ist_forgets_request_in_accepted)
{
    sc_txn_t *t, *acked;
    rx("INVITE", "z9hG4bKf1", NULL, &t, &udp);
    sc_txn_forget_request(t);                   /* Proceeding: kept */
    ck_assert_ptr_nonnull(sc_txn_request(t));
    ck_assert_int_eq(respond(t, 200, "tf"), 0);
    sc_txn_forget_request(t);
    ck_assert_ptr_null(sc_txn_request(t));
    int before = nsent;
    ck_assert_int_eq(rx("INVITE", "z9hG4bKf1", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(nsent, before);
    ck_assert_int_eq(rx("ACK", "z9hG4bKf1", "tf", &acked, &udp), SC_RX_ACK);
    ck_assert_ptr_eq(acked, t);
    char *raw;
    sc_msg_t *m = parse(request_text("CANCEL", "z9hG4bKf1", NULL, NULL), &raw);
    ck_assert_ptr_eq(sc_txn_find_cancelled(layer, m), t);
    sc_msg_free(m);
    free(raw);
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKf1", NULL, NULL, &udp), SC_RX_NEW);  /* not INVITE's */
    ck_assert_int_eq(rx("INVITE", "z9hG4bKf2", NULL, NULL, &udp), SC_RX_NEW);   /* another branch */
    sc_clock_advance(clk, 32000);               /* timer L still ends it */
    ck_assert_int_eq(sc_txn_count(layer), 2);
}
END_TEST

START_TEST(cancel_matches_invite)
{
    sc_txn_t *inv, *can;
    rx("INVITE", "z9hG4bKc1", NULL, &inv, &udp);
    ck_assert_int_eq(rx("CANCEL", "z9hG4bKc1", NULL, &can, &udp), SC_RX_NEW);
    ck_assert_ptr_ne(can, inv);                 /* its own transaction */
    ck_assert_ptr_eq(sc_txn_find_cancelled(layer, sc_txn_request(can)), inv);
    char *raw;
    sc_msg_t *m = parse(request_text("CANCEL", "z9hG4bKc2", NULL, NULL), &raw);
    ck_assert_ptr_null(sc_txn_find_cancelled(layer, m));
    sc_msg_free(m);
    free(raw);
    ck_assert_int_eq(sc_txn_count(layer), 2);
}
END_TEST

START_TEST(rfc2543_fallback)
{
    sc_txn_t *t, *other;
    /* a branch without the magic cookie: matched on R-URI, tags, Call-ID,
     * CSeq and the whole top Via */
    ck_assert_int_eq(rx("INVITE", "old1", NULL, &t, &udp), SC_RX_NEW);
    ck_assert_int_eq(rx("INVITE", "old1", NULL, NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(rx("INVITE", "old2", NULL, &other, &udp), SC_RX_NEW);
    ck_assert_ptr_ne(other, t);
    respond(t, 486, "ours");
    ck_assert_int_eq(rx("ACK", "old1", "theirs", NULL, &udp), SC_RX_ACK);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_COMPLETED);
    ck_assert_int_eq(rx("ACK", "old1", "ours", NULL, &udp), SC_RX_ABSORBED);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_CONFIRMED);
}
END_TEST

START_TEST(overload_cap)
{
    sc_txn_conf_t c = sc_txn_conf_default;
    c.max_txns = 2;
    sc_txn_layer_set_conf(layer, &c);
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKo1", NULL, NULL, &udp), SC_RX_NEW);
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKo2", NULL, NULL, &udp), SC_RX_NEW);
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKo3", NULL, NULL, &udp), SC_RX_OVERLOAD);
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKo1", NULL, NULL, &udp), SC_RX_ABSORBED);
}
END_TEST

START_TEST(overload_counts_only_unanswered)
{
    sc_txn_conf_t c = sc_txn_conf_default;
    c.max_txns = 2;
    sc_txn_layer_set_conf(layer, &c);
    sc_txn_t *t;
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKu1", NULL, &t, &udp), SC_RX_NEW);
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKu2", NULL, NULL, &udp), SC_RX_NEW);
    ck_assert_int_eq(rx("OPTIONS", "z9hG4bKu3", NULL, NULL, &udp), SC_RX_OVERLOAD);
    /* in a dialog, or a CANCEL: work in progress, admitted */
    ck_assert_int_eq(rx("BYE", "z9hG4bKu4", "dlg", NULL, &udp), SC_RX_NEW);
    ck_assert_int_eq(rx("CANCEL", "z9hG4bKu5", NULL, NULL, &udp), SC_RX_NEW);
    ck_assert_uint_eq(sc_txn_busy(layer), 4);
    /* one answered: it waits out timer J, and no longer counts */
    sc_txn_set_tu(t, tu, NULL);
    ck_assert_int_eq(respond(t, 200, "x"), 0);
    ck_assert_uint_eq(sc_txn_busy(layer), 3);
    ck_assert_uint_gt(sc_txn_count(layer), sc_txn_busy(layer));     /* still there */
    ck_assert_int_eq(rx("BYE", "z9hG4bKu6", "dlg", NULL, &udp), SC_RX_NEW);
    ck_assert_int_eq(rx("BYE", "z9hG4bKu7", "dlg", NULL, &udp), SC_RX_OVERLOAD);   /* twice the limit */
}
END_TEST

START_TEST(server_transport_error)
{
    sc_txn_t *t;
    rx("OPTIONS", "z9hG4bKe1", NULL, &t, &tcp);
    sc_txn_set_tu(t, tu, NULL);
    send_fails = true;
    ck_assert_int_eq(respond(t, 200, "x"), -1);
    ck_assert_int_eq(nev[SC_TXN_EV_TRANSPORT_ERROR], 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
    ck_assert_int_eq(sc_txn_count(layer), 0);
}
END_TEST

/* --- ICT ------------------------------------------------------------------- */
START_TEST(ict_timer_a_and_b)
{
    sc_txn_t *t = client("INVITE", &udp);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_CALLING);
    /* A doubles without cap: 500, 1500, 3500, 7500, 15500, 31500; B at 32000 */
    sc_clock_advance(clk, 31999);
    ck_assert_int_eq(nsent, 7);
    ck_assert_int_eq(nev[SC_TXN_EV_TIMEOUT], 0);
    sc_clock_advance(clk, 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TIMEOUT], 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
    ck_assert_int_eq(sc_clock_armed(clk), 0);
}
END_TEST

START_TEST(ict_abandoned_in_proceeding)
{
    sc_txn_t *t = client("INVITE", &udp);
    ck_assert_int_eq(rx_response(t, 180, "callee"), 1);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_PROCEEDING);
    ck_assert_uint_eq(sc_txn_count(layer), 1);
    sc_txn_abandon(t);                          /* 64*T1 after a CANCEL nobody answered */
    ck_assert_uint_eq(sc_txn_count(layer), 0);
    ck_assert_uint_eq(sc_txn_busy(layer), 0);
    ck_assert_int_eq(sc_clock_armed(clk), 0);
}
END_TEST

START_TEST(ict_non2xx_acked_by_transaction)
{
    sc_txn_t *t = client("INVITE", &udp);
    ck_assert_int_eq(rx_response(t, 180, "callee"), 1);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_PROCEEDING);
    ck_assert_int_eq(last_status, 180);
    sc_clock_advance(clk, 60000);               /* no A, no B in Proceeding */
    ck_assert_int_eq(nsent, 1);
    ck_assert_int_eq(rx_response(t, 486, "callee"), 1);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_COMPLETED);
    ck_assert_int_eq(nev[SC_TXN_EV_RESPONSE], 2);
    ck_assert_int_eq(nsent, 2);
    ck_assert_str_eq(first_line(1), "ACK sip:bob@127.0.0.1 SIP/2.0");
    ck_assert_ptr_nonnull(strstr(sent[1], "tag=callee"));
    ck_assert_ptr_nonnull(strstr(sent[1], "CSeq: 7 ACK"));
    char branch[64];
    snprintf(branch, sizeof(branch), "%.*s", (int)strcspn(strstr(sent[1], "branch="), "\r;"),
             strstr(sent[1], "branch="));
    ck_assert_ptr_nonnull(strstr(sent[0], branch));     /* the INVITE's branch */
    ck_assert_int_eq(rx_response(t, 486, "callee"), 1);
    ck_assert_int_eq(nsent, 3);                 /* ACK again, */
    ck_assert_int_eq(nev[SC_TXN_EV_RESPONSE], 2);   /* not passed up */
    sc_clock_advance(clk, 32000);               /* timer D */
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
}
END_TEST

START_TEST(ict_accepted_passes_every_2xx)
{
    sc_txn_t *t = client("INVITE", &tcp);
    ck_assert_int_eq(rx_response(t, 200, "leg1"), 1);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_ACCEPTED);
    ck_assert_int_eq(rx_response(t, 200, "leg2"), 1);      /* a fork */
    ck_assert_int_eq(nev[SC_TXN_EV_RESPONSE], 2);
    ck_assert_int_eq(rx_response(t, 180, "leg3"), 1);
    ck_assert_int_eq(nev[SC_TXN_EV_RESPONSE], 2);
    ck_assert_int_eq(nsent, 1);                 /* the TU ACKs 2xx, not us */
    sc_clock_advance(clk, 31999);               /* timer M */
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 0);
    sc_clock_advance(clk, 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
}
END_TEST

START_TEST(ict_forgets_request_in_accepted)
{
    sc_txn_t *t = client("INVITE", &udp);
    sc_msg_t *r = sc_msg_new_response_to(sc_txn_request(t), 200, SC_STR_NULL, sc_str_cstr("leg2"));
    char *fork = strndup(sc_msg_serialize(r).s, sc_msg_serialize(r).len);
    sc_msg_free(r);
    ck_assert_int_eq(rx_response(t, 200, "leg1"), 1);
    sc_txn_forget_request(t);
    ck_assert_ptr_null(sc_txn_request(t));
    char *raw;
    sc_msg_t *m = parse(fork, &raw);
    ck_assert_int_eq(sc_txn_client_receive(layer, m), 1);  /* a fork's 2xx still matched */
    ck_assert_int_eq(nev[SC_TXN_EV_RESPONSE], 2);
    sc_msg_free(m);
    free(raw);
    free(fork);
    sc_clock_advance(clk, 32000);               /* timer M */
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
}
END_TEST

/* --- NICT ------------------------------------------------------------------ */
START_TEST(nict_timer_e_and_k)
{
    sc_txn_t *t = client("OPTIONS", &udp);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_TRYING);
    /* E: 500, 1000, 2000, 4000 (T2) -> sends at 500, 1500, 3500, 7500 */
    sc_clock_advance(clk, 7500);
    ck_assert_int_eq(nsent, 5);
    ck_assert_int_eq(rx_response(t, 100, NULL), 1);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_PROCEEDING);
    sc_clock_advance(clk, 4000);                /* Proceeding: every T2 */
    ck_assert_int_eq(nsent, 6);
    ck_assert_int_eq(rx_response(t, 200, "x"), 1);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_COMPLETED);
    ck_assert_int_eq(rx_response(t, 200, "x"), 1);
    ck_assert_int_eq(nev[SC_TXN_EV_RESPONSE], 2);   /* the 100 and one 200 */
    sc_clock_advance(clk, 4999);                /* K = T4 */
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 0);
    ck_assert_int_eq(nsent, 6);
    sc_clock_advance(clk, 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
}
END_TEST

START_TEST(nict_timer_f)
{
    sc_txn_conf_t c = sc_txn_conf_default;
    c.t1_ms = 100;                              /* configurable T1: F = 6.4 s */
    sc_txn_layer_set_conf(layer, &c);
    client("MESSAGE", &udp);
    sc_clock_advance(clk, 6399);
    ck_assert_int_eq(nev[SC_TXN_EV_TIMEOUT], 0);
    sc_clock_advance(clk, 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TIMEOUT], 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
}
END_TEST

START_TEST(client_matching)
{
    sc_txn_t *t = client("INVITE", &tcp);
    /* a response whose CSeq method differs (CANCEL's) is not the INVITE's */
    char *raw;
    sc_msg_t *m = parse(request_text("INVITE", "z9hG4bKnone", NULL, NULL), &raw);
    sc_msg_t *r = sc_msg_new_response_to(m, 200, SC_STR_NULL, SC_STR_LIT("x"));
    char *raw2;
    sc_str_t b = sc_msg_serialize(r);
    char *copy = strndup(b.s, b.len);
    sc_msg_t *resp = parse(copy, &raw2);
    ck_assert_int_eq(sc_txn_client_receive(layer, resp), 0);
    sc_msg_free(resp); free(raw2); free(copy); sc_msg_free(r); sc_msg_free(m); free(raw);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_CALLING);
}
END_TEST

START_TEST(client_transport_error)
{
    send_fails = true;
    ck_assert_ptr_null(client("INVITE", &udp));
    ck_assert_int_eq(sc_txn_count(layer), 0);
    send_fails = false;
    sc_txn_t *t = client("OPTIONS", &udp);
    (void)t;
    send_fails = true;
    sc_clock_advance(clk, 500);                 /* E's retransmission fails */
    ck_assert_int_eq(nev[SC_TXN_EV_TRANSPORT_ERROR], 1);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 1);
}
END_TEST

/* ICMP unreachable for a UDP address: the client transactions to it
 * that heard nothing end now; one that had a provisional, one to another
 * address or port, one from another socket, and server transactions stay */
START_TEST(udp_unreachable_fails_clients)
{
    sc_listener_t *sock = (sc_listener_t *)(uintptr_t)0x1, *other = (sc_listener_t *)(uintptr_t)0x2;
    sc_source_t to = udp, port2 = udp, via2 = udp;
    struct sockaddr_in *a = (struct sockaddr_in *)&to.peer.addr;
    a->sin_family = AF_INET;
    a->sin_port = htons(5070);
    a->sin_addr.s_addr = htonl(0x0a000001);
    to.peer.len = sizeof(*a);
    to.listener = sock;
    port2 = to;
    ((struct sockaddr_in *)&port2.peer.addr)->sin_port = htons(5071);
    via2 = to;
    via2.listener = other;
    sc_txn_t *inv = client("INVITE", &to);
    sc_txn_t *opt = client("OPTIONS", &to);
    sc_txn_t *ringing = client("INVITE", &to);
    sc_txn_t *elsewhere = client("INVITE", &port2);
    sc_txn_t *othersock = client("INVITE", &via2);
    sc_txn_t *srv;
    ck_assert_int_eq(rx("INVITE", "z9hG4bKsrv1", NULL, &srv, &to), SC_RX_NEW);
    ck_assert_int_eq(rx_response(ringing, 180, "r"), 1);
    ck_assert_int_eq(nev[SC_TXN_EV_RESPONSE], 1);
    ck_assert_uint_eq(sc_txn_udp_unreachable(layer, sock, (struct sockaddr *)a), 2);
    ck_assert_int_eq(nev[SC_TXN_EV_TRANSPORT_ERROR], 2);
    ck_assert_int_eq(nev[SC_TXN_EV_TERMINATED], 2);
    ck_assert_int_eq(sc_txn_state(ringing), SC_TS_PROCEEDING);
    ck_assert_int_eq(sc_txn_state(elsewhere), SC_TS_CALLING);
    ck_assert_int_eq(sc_txn_state(othersock), SC_TS_CALLING);
    ck_assert_int_eq(sc_txn_state(srv), SC_TS_PROCEEDING);
    (void)inv;
    (void)opt;
    /* any socket: the one from the other listener too */
    ck_assert_uint_eq(sc_txn_udp_unreachable(layer, NULL, (struct sockaddr *)a), 1);
    ck_assert_int_eq(sc_txn_state(elsewhere), SC_TS_CALLING);
    ck_assert_uint_eq(sc_txn_udp_unreachable(layer, NULL, (struct sockaddr *)a), 0);
}
END_TEST

START_TEST(cancel_derived)
{
    sc_txn_t *t = client("INVITE", &udp);
    sc_msg_t *c = sc_msg_cancel_for(sc_txn_request(t));
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->method, SC_METHOD_CANCEL);
    ck_assert(sc_str_eq(c->via->branch, sc_txn_request(t)->via->branch));
    ck_assert_int_eq(c->cseq.num, 7);
    ck_assert_int_eq(c->cseq.method, SC_METHOD_CANCEL);
    sc_txn_t *ct = sc_txn_client_new(layer, c, &udp, tu, NULL);
    ck_assert_ptr_nonnull(ct);                  /* its own client transaction */
    ck_assert_int_eq(sc_txn_count(layer), 2);
    ck_assert_int_eq(rx_response(ct, 200, "x"), 1);
    ck_assert_int_eq(sc_txn_state(ct), SC_TS_COMPLETED);
    ck_assert_int_eq(sc_txn_state(t), SC_TS_CALLING);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("txn");
    TCase *tc = tcase_create("txn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, nist_udp_full_cycle);
    tcase_add_test(tc, nist_completed_compact);
    tcase_add_test(tc, nist_compact_many);
    tcase_add_test(tc, done_store_keys);
    tcase_add_test(tc, nist_rfc4320_rules);
    tcase_add_test(tc, nist_reliable_ends_at_once);
    tcase_add_test(tc, ist_non2xx_retransmits_until_ack);
    tcase_add_test(tc, ist_timer_h_without_ack);
    tcase_add_test(tc, ist_accepted_rfc6026);
    tcase_add_test(tc, ist_forgets_request_in_accepted);
    tcase_add_test(tc, cancel_matches_invite);
    tcase_add_test(tc, rfc2543_fallback);
    tcase_add_test(tc, overload_cap);
    tcase_add_test(tc, overload_counts_only_unanswered);
    tcase_add_test(tc, server_transport_error);
    tcase_add_test(tc, ict_timer_a_and_b);
    tcase_add_test(tc, ict_abandoned_in_proceeding);
    tcase_add_test(tc, ict_non2xx_acked_by_transaction);
    tcase_add_test(tc, ict_accepted_passes_every_2xx);
    tcase_add_test(tc, ict_forgets_request_in_accepted);
    tcase_add_test(tc, nict_timer_e_and_k);
    tcase_add_test(tc, nict_timer_f);
    tcase_add_test(tc, client_matching);
    tcase_add_test(tc, client_transport_error);
    tcase_add_test(tc, udp_unreachable_fails_clients);
    tcase_add_test(tc, cancel_derived);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(suite)
