/*
 * router.h — drachtio-server's request-handlers (outbound mode with HTTP
 * routing): for each new request of a method that has a handler, an
 * HTTP request (libevent's evhttp client) asks a web service where it
 * goes; its JSON answer routes it to an application (connect out to
 * `uri`, or an inbound application with `tag`), proxies, redirects or
 * rejects it.  A handler URL that is tcp:// or tls:// routes there with
 * no HTTP.  Nothing is cached (drachtio-server asks every time).  When
 * the web service fails (refused, timed out, not 2xx) the request takes
 * the fallback: the applications as without handlers, or a status.
 * An https:// handler is asked over TLS (bufferevent_openssl under
 * evhttp), its certificate checked against http_ca or the system's CAs
 * and for the URL's host; one refused is a failure: the fallback.
 */
#ifndef DR_ROUTER_H
#define DR_ROUTER_H

#include <stdbool.h>
#include <sipchain.h>

#include "drachtio.h"

#define DR_MAX_HANDLERS 16

typedef struct {
    const char *method;         /* "INVITE" ... or "*" (any other) */
    const char *url;            /* http://host[:port][/path], tcp://h:p, tls://h:p */
    bool        post;           /* POST with the SIP message as the body; else GET */
} dr_handler_t;

typedef struct dr_router dr_router_t;
/* The fallback "app": routes req as if no handler existed. */
typedef void (*dr_route_app_cb)(void *arg, sc_req_t *req, sc_res_t *res);

struct dr_router {
    dr_handler_t      h[DR_MAX_HANDLERS];
    int               n;
    unsigned          timeout_ms;   /* the whole HTTP exchange; 3000 as drachtio-server */
    unsigned          fallback;     /* 0: the applications; else this status */
    sc_instance_t    *inst;
    dr_hub_t         *hub;
    dr_route_app_cb   route_app;
    void             *arg;
    struct evdns_base *dns;         /* made on first need (a handler host that is a name) */
    dr_link_t         lookups;      /* HTTP requests in flight (and over, to free) */
    struct event     *reaper;       /* frees those over, outside libevent's callbacks */
    struct ssl_ctx_st *ssl_ctx;     /* https handlers: http_ca, http_verify */
};

/* request_handlers, http_timeout, http_fallback, http_ca, http_verify of conf. */
int  dr_router_conf(dr_router_t *r, const sc_conf_node_t *conf, char *err, size_t errlen);
/* Whether a handler takes req's method. */
bool dr_router_handles(const dr_router_t *r, sc_req_t *req);
/* Whether a handler takes req's method; if so req is routed (later). */
bool dr_router_route(dr_router_t *r, sc_req_t *req, sc_res_t *res);
/* Stop: lookups in flight answered 503 now; none started from now on. */
void dr_router_stop(dr_router_t *r);
void dr_router_free(dr_router_t *r);

#endif
