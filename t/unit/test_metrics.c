/* test_metrics.c — the metrics registry: one series per name and labels,
 * types kept apart, label escaping, the series cap, the text format, the
 * SIP counters' cache surviving a registry reset. */
#include <string.h>

#include "sc_test.h"
#include "sc_metrics.h"
#include "sip_metrics.h"

static char *page(void)
{
    size_t len;
    char *p = sc_metrics_render(&len);
    ck_assert(p != NULL);
    ck_assert_uint_eq(strlen(p), len);
    return p;
}

START_TEST(same_name_and_labels_is_the_same_series)
{
    sc_metric_t *a = sc_metric_counter("t_total", "help", "k=\"1\"");
    ck_assert_ptr_eq(a, sc_metric_counter("t_total", "other help", "k=\"1\""));
    ck_assert_ptr_ne(a, sc_metric_counter("t_total", "help", "k=\"2\""));
    ck_assert_ptr_null(sc_metric_gauge("t_total", "help", NULL));   /* one name, one type */
    sc_metric_add(a, 2);
    sc_metric_add(a, 3);
    sc_metric_add(NULL, 1);                                         /* harmless */
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "# HELP t_total help\n# TYPE t_total counter\nt_total{k=\"1\"} 5\nt_total{k=\"2\"} 0\n"));
    free(p);
    sc_metrics_free();
}
END_TEST

START_TEST(label_values_are_escaped)
{
    sc_metric_add(sc_metric_kv(SC_METRIC_COUNTER, "esc_total", "h", "reason", "a \"b\" \\ c\nd", NULL, NULL), 1);
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "esc_total{reason=\"a \\\"b\\\" \\\\ c\\nd\"} 1\n"));
    free(p);
    sc_metrics_free();
}
END_TEST

START_TEST(a_family_stops_growing_at_the_cap)
{
    char v[16];
    for (int i = 0; i < SC_METRIC_MAX_SERIES + 50; i++) {
        snprintf(v, sizeof(v), "%d", i);
        sc_metric_add(sc_metric_kv(SC_METRIC_COUNTER, "cap_total", "h", "v", v, NULL, NULL), 1);
    }
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "cap_total{other=\"true\"} 50\n"));
    ck_assert_ptr_null(strstr(p, "cap_total{v=\"128\"}"));
    free(p);
    sc_metrics_free();
}
END_TEST

START_TEST(histogram_buckets_are_cumulative)
{
    sc_metric_t *h = sc_metric_histogram("lat_seconds", "h", "m=\"x\"");
    sc_metric_observe(h, 0.000005);
    sc_metric_observe(h, 0.0007);
    sc_metric_observe(h, 3.0);
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "lat_seconds_bucket{m=\"x\",le=\"1e-05\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(p, "lat_seconds_bucket{m=\"x\",le=\"0.001\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(p, "lat_seconds_bucket{m=\"x\",le=\"0.25\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(p, "lat_seconds_bucket{m=\"x\",le=\"+Inf\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(p, "lat_seconds_count{m=\"x\"} 3\n"));
    free(p);
    sc_metrics_free();
}
END_TEST

START_TEST(sip_counters_survive_a_registry_reset)
{
    static const char opt[] = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                                   "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
                                   "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n";
    parsed_t r = sc_test_parse_mem(opt, sizeof(opt) - 1, SC_TRANSPORT_DGRAM);
    ck_assert_int_eq(r.rc, 0);
    sc_sipm_message(SC_SIPM_RX, r.msg);
    sc_metrics_free();                  /* the cached series are gone ... */
    sc_sipm_message(SC_SIPM_RX, r.msg); /* ... and found anew, not reused */
    sc_sipm_retransmission(SC_SIPM_TX);
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "sipchain_sip_requests_total{direction=\"received\",method=\"OPTIONS\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(p, "sipchain_sip_retransmissions_total{direction=\"sent\"} 1\n"));
    free(p);
    sc_metrics_free();
    sc_test_free(&r);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, same_name_and_labels_is_the_same_series);
    tcase_add_test(tc, label_values_are_escaped);
    tcase_add_test(tc, a_family_stops_growing_at_the_cap);
    tcase_add_test(tc, histogram_buckets_are_cumulative);
    tcase_add_test(tc, sip_counters_survive_a_registry_reset);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(metrics_suite)
