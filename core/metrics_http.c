/* metrics_http.c — see metrics_http.h. */
#include "metrics_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "sc_auto_config.h"
#include "sc_json.h"
#include "sc_metrics.h"

struct sc_metrics_http {
    struct evhttp        *http;
    struct evconnlistener *listener;
    sc_server_state_fn    state;
    void                 *arg;
};

static void reply(struct evhttp_request *r, int code, const char *reason, const char *type,
                  const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        evhttp_send_error(r, 500, "out of memory");
        return;
    }
    evbuffer_add(b, body, len);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(r, code, reason, b);
    evbuffer_free(b);
}

static void on_metrics(struct evhttp_request *r, void *arg)
{
    sc_metrics_http_t *h = arg;
    sc_server_state_t st = { 0 };
    h->state(h->arg, &st);
    /* gauges read at scrape time: the server's own counts */
    sc_metric_set(sc_metric_gauge("sipchain_transactions", "SIP transactions in flight", NULL),
                  st.transactions);
    sc_metric_set(sc_metric_gauge("sipchain_transactions_unanswered",
                                  "SIP transactions with no final answer yet (what max_transactions bounds)", NULL),
                  st.transactions_busy);
    sc_metric_set(sc_metric_gauge("sipchain_dialogs", "dialogs held by the chain's modules", NULL),
                  st.dialogs);
    sc_metric_set(sc_metric_gauge("sipchain_uptime_seconds", "seconds since start", NULL),
                  (int64_t)(time(NULL) - st.started));
    size_t len;
    char *page = sc_metrics_render(&len);
    if (page == NULL) {
        evhttp_send_error(r, 500, "out of memory");
        return;
    }
    reply(r, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", page, len);
    free(page);
}

static void on_healthz(struct evhttp_request *r, void *arg)
{
    sc_metrics_http_t *h = arg;
    sc_server_state_t st = { 0 };
    h->state(h->arg, &st);
    if (st.stopping)
        reply(r, 503, "Service Unavailable", "text/plain", "stopping\n", 9);
    else
        reply(r, 200, "OK", "text/plain", "ok\n", 3);
}

static void iso_time(FILE *f, time_t t)
{
    struct tm tm;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    sc_json_string(f, buf);
}

static void on_status(struct evhttp_request *r, void *arg)
{
    sc_metrics_http_t *h = arg;
    sc_server_state_t st = { 0 };
    h->state(h->arg, &st);
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (f == NULL) {
        evhttp_send_error(r, 500, "out of memory");
        return;
    }
    fprintf(f, "{\"version\":\"%s\",\"pid\":%ld,\"uptime_s\":%ld,\"started\":", SC_VERSION,
            (long)getpid(), (long)(time(NULL) - st.started));
    iso_time(f, st.started);
    fputs(",\"config\":{\"file\":", f);
    sc_json_string(f, st.config_file);
    fputs(",\"loaded\":", f);
    iso_time(f, st.loaded);
    fprintf(f, ",\"reloads\":%u,\"reload_failures\":%u},\"state\":\"%s\",\"listeners\":[",
            st.reloads, st.reload_failures, st.stopping ? "stopping" : "serving");
    for (int i = 0; i < st.nlisteners; i++) {
        fputs(i ? "," : "", f);
        sc_json_string(f, st.listeners[i]);
    }
    fputs("],\"chain\":", f);
    if (st.chain)
        sc_chain_describe(st.chain, f);
    else
        fputs("[]", f);
    fprintf(f, ",\"transactions\":%u,\"dialogs\":%u}\n", st.transactions, st.dialogs);
    if (fclose(f) != 0) {
        free(body);
        evhttp_send_error(r, 500, "out of memory");
        return;
    }
    reply(r, 200, "OK", "application/json", body, len);
    free(body);
}

static void on_other(struct evhttp_request *r, void *arg)
{
    (void)arg;
    static const char text[] = "not found: try /metrics, /healthz or /status\n";
    reply(r, 404, "Not Found", "text/plain", text, sizeof(text) - 1);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evconnlistener_enable(arg);
}

/* accept() failed (out of descriptors, most likely: connections hoarded
 * on the SIP listeners): the waiting connection keeps the socket
 * readable, so accepting pauses 100 ms rather than spin the loop.  (The
 * callback's argument is evhttp's; the one-shot timer needs only the
 * listener, which lives until exit: metrics change only by restart.) */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    struct timeval tv = { .tv_usec = 100000 };
    (void)arg;
    evconnlistener_disable(lev);
    if (event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT, on_resume, lev, &tv) != 0)
        evconnlistener_enable(lev);
}

sc_metrics_http_t *sc_metrics_http_new(struct event_base *base, const struct sockaddr *addr,
                                       socklen_t len, sc_server_state_fn state, void *arg,
                                       char *err, size_t errlen)
{
    sc_metrics_http_t *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->http = evhttp_new(base)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(h);
        return NULL;
    }
    h->state = state;
    h->arg = arg;
    h->listener = evconnlistener_new_bind(base, NULL, NULL,
                                          LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                          64, addr, (int)len);
    if (h->listener == NULL) {
        snprintf(err, errlen, "%s", strerror(errno));
        sc_metrics_http_free(h);
        return NULL;
    }
    /* only GET and HEAD; a scrape is small, a slow client is cut off */
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(h->http, 8192);
    evhttp_set_max_body_size(h->http, 0);
    evhttp_set_timeout(h->http, 10);
    evhttp_set_cb(h->http, "/metrics", on_metrics, h);
    evhttp_set_cb(h->http, "/healthz", on_healthz, h);
    evhttp_set_cb(h->http, "/status", on_status, h);
    evhttp_set_gencb(h->http, on_other, h);
    evconnlistener_set_error_cb(h->listener, on_accept_error);
    if (evhttp_bind_listener(h->http, h->listener) == NULL) {
        snprintf(err, errlen, "cannot serve HTTP");
        sc_metrics_http_free(h);
        return NULL;
    }
    h->listener = NULL;             /* the bound socket is evhttp's now */
    return h;
}

void sc_metrics_http_free(sc_metrics_http_t *h)
{
    if (h == NULL)
        return;
    if (h->listener)
        evconnlistener_free(h->listener);
    if (h->http)
        evhttp_free(h->http);
    free(h);
}
