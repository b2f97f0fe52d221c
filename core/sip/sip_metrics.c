/* sip_metrics.c — see sip_metrics.h. */
#include "sip_metrics.h"

#include <stdio.h>
#include <string.h>

#include "sc_metrics.h"

#define NMETHODS (SC_METHOD_UPDATE + 1)

static const char *const DIR[] = { "received", "sent" };
static const char *const CLASS[] = { "1xx", "2xx", "3xx", "4xx", "5xx", "6xx" };

/* cached series; cleared when the registry is freed (see sc_metrics.h) */
static struct {
    unsigned     gen;
    sc_metric_t *req[2][NMETHODS];
    sc_metric_t *res[2][NMETHODS][6];
    sc_metric_t *retx[2];
} cache;

static void fresh(void)
{
    if (cache.gen != sc_metrics_generation()) {
        memset(&cache, 0, sizeof(cache));
        cache.gen = sc_metrics_generation();
    }
}

static const char *method_label(sc_method_t m)
{
    return m == SC_METHOD_OTHER ? "other" : sc_method_name(m);
}

void sc_sipm_message(sc_sipm_dir_t dir, const sc_msg_t *m)
{
    fresh();
    if (m->is_request) {
        sc_method_t k = m->method < NMETHODS ? m->method : SC_METHOD_OTHER;
        sc_metric_t **s = &cache.req[dir][k];
        if (*s == NULL)
            *s = sc_metric_kv(SC_METRIC_COUNTER, "sipchain_sip_requests_total",
                              "SIP requests by direction and method (retransmissions not counted)",
                              "direction", DIR[dir], "method", method_label(k));
        sc_metric_add(*s, 1);
        return;
    }
    if (m->status < 100 || m->status > 699 || !m->has_cseq)
        return;
    sc_method_t k = m->cseq.method < NMETHODS ? m->cseq.method : SC_METHOD_OTHER;
    unsigned c = m->status / 100 - 1;
    sc_metric_t **s = &cache.res[dir][k][c];
    if (*s == NULL) {
        char labels[96];
        snprintf(labels, sizeof(labels), "direction=\"%s\",method=\"%s\",class=\"%s\"", DIR[dir],
                 method_label(k), CLASS[c]);
        *s = sc_metric_counter("sipchain_sip_responses_total",
                               "SIP responses by direction, CSeq method and status class "
                               "(retransmissions not counted)", labels);
    }
    sc_metric_add(*s, 1);
}

void sc_sipm_retransmission(sc_sipm_dir_t dir)
{
    fresh();
    if (cache.retx[dir] == NULL)
        cache.retx[dir] = sc_metric_kv(SC_METRIC_COUNTER, "sipchain_sip_retransmissions_total",
                                       "SIP retransmissions received (absorbed) and sent",
                                       "direction", DIR[dir], NULL, NULL);
    sc_metric_add(cache.retx[dir], 1);
}
