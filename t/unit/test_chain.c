/* test_chain.c — chain semantics with in-process modules and captured
 * answers: order, methods filter, async continuation, error middleware,
 * double answer, end of chain, the unanswered-request bound, and module
 * config errors. */
#include <event2/event.h>

#include "app.h"
#include "sc_test.h"

/* --- capture ---------------------------------------------------------- */
static unsigned sent_status[16];
static char sent_text[16][2048];
static int nsent;

/* What the transactions send; the 100 Trying an INVITE's transaction
 * sends by itself is not the chain's and not recorded. */
static int capture(void *ctx, const sc_source_t *flow, const char *buf, size_t len)
{
    (void)ctx;
    (void)flow;
    unsigned status = (unsigned)atoi(buf + 8);
    if (status == 100)
        return 0;
    if (nsent < 16) {
        sent_status[nsent] = status;
        size_t n = len < sizeof(sent_text[0]) - 1 ? len : sizeof(sent_text[0]) - 1;
        memcpy(sent_text[nsent], buf, n);
        sent_text[nsent][n] = '\0';
    }
    nsent++;
    return 0;
}

static struct event_base *base;
static sc_clock_t *clk;
/* A mutation applied to the request once parsed (NULL: none). */
static void (*mutate)(sc_msg_t *m);
static sc_txn_layer_t *txns;

static void setup(void)
{
    nsent = 0;
    mutate = NULL;
    base = event_base_new();
    clk = sc_clock_manual();
    txns = sc_txn_layer_new(clk, NULL, capture, NULL);
}

static void teardown(void)
{
    sc_txn_layer_free(txns);
    sc_clock_free(clk);
    event_base_free(base);
}

static void run(sc_chain_t *c, const char *method)
{
    static int branch;
    char text[512];
    int n = snprintf(text, sizeof(text),
                     "%s sip:svc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK%d;rport\r\n"
                     "To: <sip:svc@127.0.0.1>\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: c1\r\n"
                     "CSeq: 1 %s\r\nContent-Length: 0\r\n\r\n", method, ++branch, method);
    char *raw = malloc((size_t)n);
    memcpy(raw, text, (size_t)n);
    sc_msg_t *m;
    sc_parse_err_t err;
    ck_assert_int_eq(sc_msg_parse(&m, raw, (size_t)n, SC_TRANSPORT_DGRAM, NULL, &err), 0);
    if (mutate)
        mutate(m);
    sc_source_t src = { .kind = SC_TP_UDP };
    strcpy(src.peer.ip, "127.0.0.1");
    src.peer.port = 5070;
    sc_txn_t *t;
    ck_assert_int_eq(sc_txn_server_receive(txns, &src, raw, m, &t), SC_RX_NEW);
    sc_chain_run(c, t, &src);
}

/* --- modules ------------------------------------------------------------ */
static void mark_handle(sc_instance_t *in, sc_req_t *req, sc_res_t *res)
{
    sc_res_add_header(res, "X-Mark", sc_instance_data(in));
    sc_next(req);
}
static int mark_create(sc_instance_t *in, const sc_conf_node_t *c, char *e, size_t el)
{
    (void)c; (void)e; (void)el;
    static int k;
    sc_instance_set_data(in, (void *)(k++ % 2 ? "two" : "one"));
    return 0;
}
static const sc_module_t mark = { SC_MODULE_HEADER, .name = "mark", .create = mark_create,
                                  .handle = mark_handle };

static void ok_handle(sc_instance_t *in, sc_req_t *req, sc_res_t *res)
{
    (void)in; (void)req;
    sc_res_send(res, 200, NULL);
}
static const sc_module_t answer200 = { SC_MODULE_HEADER, .name = "answer200", .handle = ok_handle };

static sc_req_t *held;
static void hold_handle(sc_instance_t *in, sc_req_t *req, sc_res_t *res)
{
    (void)in; (void)res;
    held = req;                     /* finishes later */
}
static const sc_module_t hold = { SC_MODULE_HEADER, .name = "hold", .handle = hold_handle };

static void fail_handle(sc_instance_t *in, sc_req_t *req, sc_res_t *res)
{
    (void)in; (void)res;
    sc_fail(req, 502, "upstream gone");
}
static const sc_module_t failer = { SC_MODULE_HEADER, .name = "failer", .handle = fail_handle };

static void catch_error(sc_instance_t *in, const sc_error_t *err, sc_req_t *req, sc_res_t *res)
{
    (void)in; (void)req;
    sc_res_send(res, err->status == 502 ? 503 : 500, err->reason);
}
static const sc_module_t catcher = { SC_MODULE_HEADER, .name = "catcher", .handle = mark_handle,
                                     .create = mark_create, .handle_error = catch_error };

static void twice_handle(sc_instance_t *in, sc_req_t *req, sc_res_t *res)
{
    (void)in;
    ck_assert_int_eq(sc_res_send(res, 180, NULL), 0);   /* provisional: fine */
    ck_assert_int_eq(sc_res_send(res, 200, NULL), 0);
    ck_assert_int_eq(sc_res_send(res, 486, NULL), -1);  /* second final: refused */
    sc_next(req);                                       /* ignored too */
}
static const sc_module_t twice = { SC_MODULE_HEADER, .name = "twice", .handle = twice_handle };

static int picky_create(sc_instance_t *in, const sc_conf_node_t *c, char *e, size_t el)
{
    (void)in;
    static const char *const keys[] = { "color", NULL };
    return sc_conf_check_keys(c, keys, e, el);
}
static const sc_module_t picky = { SC_MODULE_HEADER, .name = "picky", .create = picky_create };

/* services and events */
typedef struct { int (*twice)(int); } math_api_t;
static int twice_fn(int x) { return 2 * x; }
static const math_api_t math_api = { twice_fn };
static int pub_create(sc_instance_t *in, const sc_conf_node_t *c, char *e, size_t el)
{
    (void)c; (void)e; (void)el;
    return sc_service_publish(in, "math", &math_api);
}
static const sc_module_t publisher = { SC_MODULE_HEADER, .name = "publisher", .create = pub_create };

static const math_api_t *found;
static int seen_events, seen_value;
static void on_answered(const char *event, const void *data, void *arg)
{
    ck_assert_str_eq(event, "test:answered");
    seen_events++;
    seen_value = *(const int *)data + *(int *)arg;
}
static int user_start(sc_instance_t *in)
{
    found = sc_service_find(in, "math");
    ck_assert_ptr_null(sc_service_find(in, "nobody"));
    static int offset = 1000;
    return sc_event_subscribe(in, "test:answered", on_answered, &offset);
}
static void user_handle(sc_instance_t *in, sc_req_t *req, sc_res_t *res)
{
    (void)req;
    int v = found->twice(21);
    sc_event_emit(in, "test:answered", &v);
    sc_event_emit(in, "test:other", &v);            /* nobody listens */
    sc_res_send(res, 200, NULL);
}
static const sc_module_t user = { SC_MODULE_HEADER, .name = "user", .start = user_start,
                                  .handle = user_handle };

static sc_chain_t *chain_of(const sc_module_t *const *mods, int n)
{
    char err[256];
    sc_chain_t *c = sc_chain_build_static(mods, NULL, n, base, 404, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_int_eq(sc_chain_start(c, err, sizeof(err)), 0);
    return c;
}

START_TEST(links_run_in_order_and_share_the_answer)
{
    const sc_module_t *mods[] = { &mark, &mark, &answer200 };
    sc_chain_t *c = chain_of(mods, 3);
    run(c, "OPTIONS");
    ck_assert_int_eq(nsent, 1);
    ck_assert_uint_eq(sent_status[0], 200);
    char *one = strstr(sent_text[0], "X-Mark: one"), *two = strstr(sent_text[0], "X-Mark: two");
    ck_assert(one && two && one < two);
    ck_assert_uint_eq(sc_chain_pending(c), 0);
    sc_chain_free(c);
}
END_TEST

START_TEST(end_of_chain_gets_the_default)
{
    const sc_module_t *mods[] = { &mark };
    sc_chain_t *c = chain_of(mods, 1);
    run(c, "INFO");
    ck_assert_int_eq(nsent, 1);
    ck_assert_uint_eq(sent_status[0], 404);
    ck_assert_uint_eq(sc_chain_pending(c), 0);
    sc_chain_free(c);
}
END_TEST

START_TEST(methods_filter_skips_a_link)
{
    sc_conf_node_t entry = { .kind = SC_CONF_MAP, .file = "x", .line = 1, .col = 1 };
    sc_conf_node_t methods = { .kind = SC_CONF_SEQ, .key = "methods", .file = "x" };
    sc_conf_node_t info = { .kind = SC_CONF_SCALAR, .value = "INFO", .file = "x" };
    methods.children = &info;
    entry.children = &methods;
    const sc_module_t *mods[] = { &answer200 };
    const sc_conf_node_t *confs[] = { &entry };
    char err[256];
    sc_chain_t *c = sc_chain_build_static(mods, confs, 1, base, 404, err, sizeof(err));
    ck_assert_ptr_nonnull(c);
    run(c, "OPTIONS");
    ck_assert_uint_eq(sent_status[0], 404);     /* answer200 only sees INFO */
    run(c, "INFO");
    ck_assert_uint_eq(sent_status[1], 200);
    sc_chain_free(c);
}
END_TEST

START_TEST(a_handler_may_finish_later)
{
    const sc_module_t *mods[] = { &hold, &answer200 };
    sc_chain_t *c = chain_of(mods, 2);
    held = NULL;
    run(c, "OPTIONS");
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(nsent, 0);
    ck_assert_uint_eq(sc_chain_pending(c), 1);
    sc_next(held);                              /* e.g. from a timer */
    ck_assert_int_eq(nsent, 1);
    ck_assert_uint_eq(sent_status[0], 200);
    ck_assert_uint_eq(sc_chain_pending(c), 0);
    sc_chain_free(c);
}
END_TEST

START_TEST(failure_goes_to_the_next_error_handler)
{
    const sc_module_t *mods[] = { &failer, &mark, &catcher };
    sc_chain_t *c = chain_of(mods, 3);
    run(c, "OPTIONS");
    ck_assert_int_eq(nsent, 1);
    ck_assert_uint_eq(sent_status[0], 503);
    ck_assert_ptr_nonnull(strstr(sent_text[0], "SIP/2.0 503 upstream gone"));
    ck_assert_ptr_null(strstr(sent_text[0], "X-Mark"));     /* mark was skipped */
    sc_chain_free(c);

    const sc_module_t *alone[] = { &failer };
    c = chain_of(alone, 1);
    run(c, "OPTIONS");
    ck_assert_uint_eq(sent_status[1], 502);                 /* nobody caught it */
    sc_chain_free(c);
}
END_TEST

START_TEST(a_second_final_answer_is_ignored)
{
    const sc_module_t *mods[] = { &twice, &answer200 };
    sc_chain_t *c = chain_of(mods, 2);
    run(c, "INVITE");
    ck_assert_int_eq(nsent, 2);
    ck_assert_uint_eq(sent_status[0], 180);
    ck_assert_uint_eq(sent_status[1], 200);
    ck_assert_uint_eq(sc_chain_pending(c), 0);
    sc_chain_free(c);
}
END_TEST

START_TEST(an_unanswered_request_gets_500_and_is_freed_on_the_late_call)
{
    const sc_module_t *mods[] = { &hold };
    sc_chain_t *c = chain_of(mods, 1);
    sc_chain_set_request_timeout(c, 1);
    held = NULL;
    run(c, "OPTIONS");
    struct timeval tv = { .tv_sec = 2 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    ck_assert_int_eq(nsent, 1);
    ck_assert_uint_eq(sent_status[0], 500);
    ck_assert_uint_eq(sc_chain_pending(c), 1);  /* the module still holds it */
    sc_next(held);                               /* its late call lets go */
    ck_assert_int_eq(nsent, 1);
    ck_assert_uint_eq(sc_chain_pending(c), 0);
    sc_chain_free(c);
}
END_TEST

static sc_res_t *held_res;
static void ring_handle(sc_instance_t *in, sc_req_t *req, sc_res_t *res)
{
    (void)in;
    held = req;
    held_res = res;
    sc_res_send(res, 180, NULL);    /* rings; answers later */
}
static const sc_module_t ring = { SC_MODULE_HEADER, .name = "ring", .handle = ring_handle };

START_TEST(a_ringing_invite_outlives_the_request_timeout)
{
    const sc_module_t *mods[] = { &ring };
    sc_chain_t *c = chain_of(mods, 1);
    sc_chain_set_request_timeout(c, 1);
    held = NULL;
    run(c, "INVITE");
    struct timeval tv = { .tv_sec = 2 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    ck_assert_int_eq(nsent, 1);                  /* the 180, no 500 */
    ck_assert_uint_eq(sent_status[0], 180);
    sc_res_send(held_res, 200, NULL);            /* answered after a while */
    ck_assert_int_eq(nsent, 2);
    ck_assert_uint_eq(sent_status[1], 200);
    ck_assert_uint_eq(sc_chain_pending(c), 0);
    sc_chain_free(c);
}
END_TEST

START_TEST(stop_answers_waiting_requests_503)
{
    const sc_module_t *mods[] = { &hold };
    sc_chain_t *c = chain_of(mods, 1);
    run(c, "OPTIONS");
    sc_chain_free(c);
    ck_assert_int_eq(nsent, 1);
    ck_assert_uint_eq(sent_status[0], 503);
}
END_TEST

/* A header no answer can repeat (the parser lets none such through;
 * this stands for whatever else might make an answer unbuildable): a
 * Via whose name is no token, poked in after the parse. */
static void unrepeatable_via(sc_msg_t *m)
{
    m->hdr[SC_HDR_VIA]->name = sc_str_cstr("V a");
}

START_TEST(an_answer_that_cannot_be_built_ends_the_request)
{
    const sc_module_t *mods[] = { &answer200 };
    sc_chain_t *c = chain_of(mods, 1);
    mutate = unrepeatable_via;
    run(c, "OPTIONS");
    ck_assert_int_eq(nsent, 0);                     /* nothing could be sent */
    ck_assert_uint_eq(sc_chain_pending(c), 0);      /* but nothing is held */
    ck_assert_uint_eq(sc_txn_count(txns), 0);       /* its transaction ended */
    sc_chain_free(c);
}
END_TEST

START_TEST(module_config_errors_name_the_key)
{
    sc_conf_node_t entry = { .kind = SC_CONF_MAP, .file = "c.yaml", .line = 3, .col = 5 };
    sc_conf_node_t k = { .kind = SC_CONF_SCALAR, .key = "colour", .value = "red", .file = "c.yaml",
                         .line = 4, .col = 13, .key_line = 4, .key_col = 5 };
    entry.children = &k;
    const sc_module_t *mods[] = { &picky };
    const sc_conf_node_t *confs[] = { &entry };
    char err[256];
    ck_assert_ptr_null(sc_chain_build_static(mods, confs, 1, base, 404, err, sizeof(err)));
    ck_assert_str_eq(err, "c.yaml:4:5: unknown key \"colour\"");
    /* a module without create accepts only the core's keys */
    const sc_module_t *plain[] = { &answer200 };
    ck_assert_ptr_null(sc_chain_build_static(plain, confs, 1, base, 404, err, sizeof(err)));
    ck_assert_str_eq(err, "c.yaml:4:5: unknown key \"colour\"");
}
END_TEST

START_TEST(modules_meet_through_services_and_events)
{
    const sc_module_t *mods[] = { &user, &publisher };   /* order does not matter: start runs after every create */
    sc_chain_t *c = chain_of(mods, 2);
    ck_assert_ptr_eq(found, &math_api);
    run(c, "OPTIONS");
    ck_assert_uint_eq(sent_status[0], 200);
    ck_assert_int_eq(seen_events, 1);
    ck_assert_int_eq(seen_value, 1042);
    sc_chain_free(c);

    /* a second publisher of the same name is refused at create */
    const sc_module_t *dup[] = { &publisher, &publisher };
    char err[256];
    ck_assert_ptr_null(sc_chain_build_static(dup, NULL, 2, base, 404, err, sizeof(err)));
}
END_TEST

static Suite *chain_suite(void)
{
    Suite *s = suite_create("chain");
    TCase *tc = tcase_create("chain");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, links_run_in_order_and_share_the_answer);
    tcase_add_test(tc, end_of_chain_gets_the_default);
    tcase_add_test(tc, methods_filter_skips_a_link);
    tcase_add_test(tc, a_handler_may_finish_later);
    tcase_add_test(tc, failure_goes_to_the_next_error_handler);
    tcase_add_test(tc, a_second_final_answer_is_ignored);
    tcase_add_test(tc, an_unanswered_request_gets_500_and_is_freed_on_the_late_call);
    tcase_add_test(tc, a_ringing_invite_outlives_the_request_timeout);
    tcase_add_test(tc, stop_answers_waiting_requests_503);
    tcase_add_test(tc, an_answer_that_cannot_be_built_ends_the_request);
    tcase_add_test(tc, module_config_errors_name_the_key);
    tcase_add_test(tc, modules_meet_through_services_and_events);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(chain_suite)
