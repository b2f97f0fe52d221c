/* test_metrics.c — the metrics registry: one series per name and labels,
 * types kept apart, label escaping, the series cap, the text format, the
 * SIP counters' cache surviving a registry reset, links' views. */
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

/* a link's views: the link label added, one series per link, the same
 * view when asked again, a link label of the module's own refused */
START_TEST(a_view_adds_the_link_label)
{
    sc_metric_t *east = NULL, *west = NULL;
    sc_metric_t *a = sc_metric_view(SC_METRIC_COUNTER, "v_total", "h", "reason=\"x\"", "east", &east);
    ck_assert_ptr_eq(a, sc_metric_view(SC_METRIC_COUNTER, "v_total", "h", "reason=\"x\"", "east", &east));
    sc_metric_t *b = sc_metric_view(SC_METRIC_COUNTER, "v_total", "h", "reason=\"x\"", "west", &west);
    ck_assert_ptr_null(sc_metric_view(SC_METRIC_COUNTER, "v_total", "h", "link=\"x\"", "east", &east));
    ck_assert_ptr_null(sc_metric_view(SC_METRIC_COUNTER, "v_total", "h", "a=\"1\",link=\"x\"", "east", &east));
    sc_metric_add(a, 2);
    sc_metric_add(b, 3);
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "v_total{reason=\"x\",link=\"east\"} 2\nv_total{reason=\"x\",link=\"west\"} 3\n"));
    free(p);
    sc_metric_release(&east);
    sc_metric_release(&west);
    ck_assert_ptr_null(east);
    p = page();     /* counters stay */
    ck_assert_ptr_nonnull(strstr(p, "v_total{reason=\"x\",link=\"west\"} 3\n"));
    free(p);
    sc_metrics_free();
}
END_TEST

/* a reload: the new instance's view continues the old one's counter */
START_TEST(a_counter_continues_across_generations)
{
    sc_metric_t *old = NULL, *new = NULL;
    sc_metric_add(sc_metric_view(SC_METRIC_COUNTER, "g_total", "h", NULL, "1", &old), 4);
    sc_metric_add(sc_metric_view(SC_METRIC_COUNTER, "g_total", "h", NULL, "1", &new), 1);
    sc_metric_release(&old);
    sc_metric_add(sc_metric_view(SC_METRIC_COUNTER, "g_total", "h", NULL, "1", &new), 1);
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "g_total{link=\"1\"} 6\n"));
    free(p);
    sc_metric_release(&new);
    sc_metrics_free();
}
END_TEST

/* sc_metric_set is the newest view's: the old instance draining cannot
 * overwrite it; the newest gone (a failed reload), the older's value
 * returns; the last gone, the gauge leaves the page */
START_TEST(a_gauge_is_set_by_the_newest_view)
{
    sc_metric_t *old = NULL, *new = NULL;
    sc_metric_t *o = sc_metric_view(SC_METRIC_GAUGE, "b", "h", NULL, "east", &old);
    sc_metric_set(o, 5);
    sc_metric_t *n = sc_metric_view(SC_METRIC_GAUGE, "b", "h", NULL, "east", &new);
    sc_metric_set(n, 7);
    sc_metric_set(o, 0);
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "b{link=\"east\"} 7\n"));
    free(p);
    sc_metric_release(&new);
    p = page();
    ck_assert_ptr_nonnull(strstr(p, "b{link=\"east\"} 0\n"));   /* o's last word */
    free(p);
    sc_metric_release(&old);
    p = page();
    ck_assert_ptr_null(strstr(p, "b{"));
    free(p);
    sc_metrics_free();
}
END_TEST

/* a gauge updated by contributions (the guard's blocks): each view's
 * adds count, the old's taking back its own as it goes */
START_TEST(a_gauge_sums_the_views_contributions)
{
    sc_metric_t *old = NULL, *new = NULL;
    sc_metric_t *o = sc_metric_view(SC_METRIC_GAUGE, "c", "h", NULL, "1", &old);
    sc_metric_add(o, 3);
    sc_metric_t *n = sc_metric_view(SC_METRIC_GAUGE, "c", "h", NULL, "1", &new);
    sc_metric_add(n, 2);
    sc_metric_add(o, -3);
    sc_metric_release(&old);
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "c{link=\"1\"} 2\n"));
    free(p);
    sc_metric_release(&new);
    sc_metrics_free();
}
END_TEST

/* a gauge also asked for without an instance stays (at its value) */
START_TEST(a_pinned_gauge_stays)
{
    sc_metric_t *held = NULL;
    sc_metric_set(sc_metric_view(SC_METRIC_GAUGE, "d", "h", NULL, "1", &held), 3);
    sc_metric_gauge("d", "h", "link=\"1\"");
    sc_metric_release(&held);
    char *p = page();
    ck_assert_ptr_nonnull(strstr(p, "d{link=\"1\"} 3\n"));
    free(p);
    sc_metrics_free();
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
    tcase_add_test(tc, a_view_adds_the_link_label);
    tcase_add_test(tc, a_counter_continues_across_generations);
    tcase_add_test(tc, a_gauge_is_set_by_the_newest_view);
    tcase_add_test(tc, a_gauge_sums_the_views_contributions);
    tcase_add_test(tc, a_pinned_gauge_stays);
    suite_add_tcase(s, tc);
    return s;
}

SC_TEST_MAIN(metrics_suite)
