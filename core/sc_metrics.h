/* sc_metrics.h — the metrics registry behind the metrics page.
 *
 * Counters, gauges and histograms, each series named by a metric name and
 * its label text; asking for a series again returns the same one, so a
 * module re-created by a reload keeps counting where it was.  The public
 * calls (sc_metric_counter ...) are declared in sipchain.h; this header
 * adds what the core needs: labels built with escaping, rendering in the
 * Prometheus text format, and teardown.  Loop thread only: no locks. */
#ifndef SC_METRICS_H
#define SC_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include <sipchain.h>

typedef enum { SC_METRIC_COUNTER, SC_METRIC_GAUGE, SC_METRIC_HISTOGRAM } sc_metric_type_t;

/* The series of name with labels key1="value1"[,key2="value2"] (value
 * escaped as the exposition format wants; key2 may be NULL).  A family
 * holds at most SC_METRIC_MAX_SERIES series: past that, values that
 * arrive from the network (parse error reasons ...) share one series
 * labelled "other", so no peer can grow the page without bound. */
#define SC_METRIC_MAX_SERIES 128
sc_metric_t *sc_metric_kv(sc_metric_type_t type, const char *name, const char *help,
                          const char *key1, const char *value1, const char *key2,
                          const char *value2);

/* A link's view of the series of name with labels plus link="link"
 * (the public sc_instance_counter ...; labels must not hold a link of
 * their own: NULL).  Asking again with the same held list returns the
 * same view.  Updates through it reach the series, but for a gauge's
 * sc_metric_set, which only the newest view alive may make: a reload's
 * new instance of a link speaks for the series while the old one drains.
 * held: the holder's list, handed to sc_metric_release when it goes;
 * the newest view of a gauge gone, the next one's last set value is the
 * gauge's again, and the last gone (none asked for it without an
 * instance), the gauge leaves the page: no stale "now" of a link that
 * left the chain or moved.  Counters and histograms stay. */
sc_metric_t *sc_metric_view(sc_metric_type_t type, const char *name, const char *help,
                            const char *labels, const char *link, sc_metric_t **held);
void         sc_metric_release(sc_metric_t **held);

/* The whole page, malloc'd (free it); NULL when out of memory. */
char *sc_metrics_render(size_t *len);
/* The registry as one JSON object: {"family": {"type", "series": [{"labels":
 * {...}, "value"} or, for a histogram, {"labels", "count", "sum"}]}}. */
void  sc_metrics_render_json(FILE *f);

/* Frees every series (at exit, once nothing holds one) and moves the
 * generation on: a cache of series pointers compares it to know its
 * pointers are gone. */
void     sc_metrics_free(void);
unsigned sc_metrics_generation(void);

#endif
