/* metrics_http.h — the operator's HTTP endpoint (server.metrics), served
 * by libevent's evhttp on the event loop:
 *   /metrics  the metrics registry in the Prometheus text format;
 *   /healthz  200 "ok" while serving, 503 "stopping" once a stop began;
 *   /status   JSON: version, pid, uptime, config file and its load time,
 *             reloads, listeners, the chain's modules and versions,
 *             transactions and dialogs in flight.
 * Everything it shows it asks the server for at request time. */
#ifndef SC_METRICS_HTTP_H
#define SC_METRICS_HTTP_H

#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "app.h"

#define SC_STATUS_MAX_LISTEN 32

typedef struct {
    const char       *config_file;
    time_t            started, loaded;     /* process start, last good (re)load */
    unsigned          reloads, reload_failures;
    bool              stopping;
    int               nlisteners;
    const char       *listeners[SC_STATUS_MAX_LISTEN];
    const sc_chain_t *chain;
    unsigned          transactions, dialogs;
    unsigned          transactions_busy;  /* of those, not answered yet */
} sc_server_state_t;

typedef void (*sc_server_state_fn)(void *arg, sc_server_state_t *out);

typedef struct sc_metrics_http sc_metrics_http_t;

/* Listens on addr (TCP); NULL with the reason in err. */
sc_metrics_http_t *sc_metrics_http_new(struct event_base *base, const struct sockaddr *addr,
                                       socklen_t len, sc_server_state_fn state, void *arg,
                                       char *err, size_t errlen);
void sc_metrics_http_free(sc_metrics_http_t *h);

#endif
