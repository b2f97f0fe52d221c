/*
 * drachtio — lets unmodified drachtio-srf applications (Node.js) run on
 * sipchain: it speaks drachtio-server's control protocol
 * (../shared/reference/drachtio-wire-protocol.md) to applications that
 * connect (srf.connect) or that it connects to (srf.listen), and in the
 * chain it is middleware: a request for a method an application routed
 * goes to one of them (round robin); with none it passes on or gets 503.
 * Requests in a dialog an application runs go to that application (481
 * once it has gone).  Native modules before it (digest-auth, registrar)
 * run first, at C speed.
 *
 * Config:
 *   - module: drachtio
 *     listen: "127.0.0.1:9022"    # where applications connect ([::1]:9022 ...)
 *     secret: cymru               # what they authenticate with (required)
 *     no_app: reject              # no application for the method: reject (503) | next
 *     idle_timeout: 0             # s without a frame (srf pings with enablePing): 0 = off
 *     max_frame: 16777216         # bytes in one frame
 *     outbound: "tcp://127.0.0.1:4000"   # connect to a listening app per request instead
 *                                        # (tls://HOST:PORT: over TLS)
 *     tls:                        # the listener speaks TLS (srf.connect({tls: ...}))
 *       cert: app.pem             #   with this certificate chain and key;
 *       key: app.key
 *       ca: ca.pem                #   application certificates checked against it
 *       verify_client: false      #   (required when true); for tls:// outbound,
 *       verify: true              #   the application's certificate is checked
 *                                 #   against ca (else the system's CAs) unless false
 *     tags:                       # requests matching a rule go only to applications
 *       - { user_prefix: "+44", tag: uk }     # that authenticated with its tag
 *       - { domain: b.example.com, tag: b }   # (srf.connect({tags: [...]})); first match
 *     spammers:                   # drachtio-server's <spammers> (screen.c)
 *       action: reject            #   reject (status) | discard
 *       status: 603
 *       headers: { User-Agent: [ sipvicious ], To: [ "1001" ] }
 *     options_200: true           # OPTIONS no application routed: 200 (screen.c)
 *     options_user_agents: [ monitor ]   # OPTIONS from these: 200, always
 *     request_handlers:           # drachtio-server's <request-handlers> (router.c)
 *       - { method: INVITE, url: "http://127.0.0.1:8080/route", http_method: POST }
 *     http_timeout: 3000          # ms
 *     http_fallback: app          # the service failed: app | a status
 *     http_ca: /etc/ssl/routing-ca.pem   # https handlers: CA to check (default: system)
 *     http_verify: true           # false: no certificate check (unsafe)
 *
 * On SIGTERM (SC_EVENT_STOPPING) the control port closes and what
 * applications hold unanswered gets 503 at once: with no call up, the
 * server need not wait out its stop_timeout.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include <openssl/ssl.h>

#include "drachtio.h"
#include "router.h"
#include "screen.h"

#define MAX_TAG_RULES 64

/* tags: requests for a domain / user prefix go only to applications that
 * authenticated with a tag (srf.connect({tags: [...]})), first match. */
typedef struct {
    const char *domain, *user_prefix, *tag;
} tag_rule_t;

typedef struct {
    dr_conf_t   conf;
    dr_hub_t   *hub;
    tag_rule_t  rules[MAX_TAG_RULES];
    int         nrules;
    dr_screen_t screen;     /* spammers, OPTIONS */
    dr_router_t router;     /* request_handlers */
    bool        stopping;
} dr_inst_t;

static int tag_rules(dr_inst_t *di, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    const sc_conf_node_t *list = sc_conf_get(conf, "tags");
    for (const sc_conf_node_t *r = list ? sc_conf_first(list) : NULL; r; r = sc_conf_next(r)) {
        static const char *const keys[] = { "domain", "user_prefix", "tag", NULL };
        if (di->nrules == MAX_TAG_RULES)
            return sc_conf_error(err, errlen, r, "drachtio: at most %d tag rules", MAX_TAG_RULES);
        tag_rule_t *t = &di->rules[di->nrules++];
        const sc_conf_node_t *n;
        if (sc_conf_check_keys(r, keys, err, errlen) ||
            ((n = sc_conf_get(r, "domain")) && sc_conf_string(n, &t->domain, err, errlen)) ||
            ((n = sc_conf_get(r, "user_prefix")) && sc_conf_string(n, &t->user_prefix, err, errlen)))
            return -1;
        if ((n = sc_conf_get(r, "tag")) == NULL)
            return sc_conf_error(err, errlen, r, "drachtio: a tags rule needs \"tag\"");
        if (sc_conf_string(n, &t->tag, err, errlen))
            return -1;
        if (t->domain == NULL && t->user_prefix == NULL)
            return sc_conf_error(err, errlen, r, "drachtio: a tags rule matches on \"domain\" and/or \"user_prefix\"");
    }
    return 0;
}

/* The tls: map: a server context when it names a certificate, a client
 * context for tls:// outbound; both checked now (sipchain -t). */
static int tls_conf(dr_conf_t *c, const sc_conf_node_t *conf, bool routing, char *err, size_t errlen)
{
    const sc_conf_node_t *t = sc_conf_get(conf, "tls"), *n;
    const char *cert = NULL, *key = NULL, *ca = NULL;
    bool verify_client = false, verify = true;
    /* request handlers may route to a tls:// application */
    bool out_tls = routing || (c->outbound && strncmp(c->outbound, "tls://", 6) == 0);
    if (t) {
        static const char *const keys[] = { "cert", "key", "ca", "verify_client", "verify", NULL };
        if (sc_conf_check_keys(t, keys, err, errlen) ||
            ((n = sc_conf_get(t, "cert")) && sc_conf_string(n, &cert, err, errlen)) ||
            ((n = sc_conf_get(t, "key")) && sc_conf_string(n, &key, err, errlen)) ||
            ((n = sc_conf_get(t, "ca")) && sc_conf_string(n, &ca, err, errlen)) ||
            ((n = sc_conf_get(t, "verify_client")) && sc_conf_bool(n, &verify_client, err, errlen)) ||
            ((n = sc_conf_get(t, "verify")) && sc_conf_bool(n, &verify, err, errlen)))
            return -1;
        if ((cert == NULL) != (key == NULL))
            return sc_conf_error(err, errlen, t, "drachtio: tls needs both \"cert\" and \"key\"");
        if (cert == NULL && !out_tls)
            return sc_conf_error(err, errlen, t, "drachtio: tls without \"cert\" is for tls:// outbound only");
    }
    char why[300];
    if (cert && (c->srv_ctx = sc_tls_server_ctx(cert, key, ca, verify_client, why, sizeof(why))) == NULL)
        return sc_conf_error(err, errlen, t, "drachtio: tls: %s", why);
    if (out_tls && (c->cli_ctx = sc_tls_client_ctx(ca, verify, why, sizeof(why))) == NULL)
        return sc_conf_error(err, errlen, t ? t : conf, "drachtio: tls: %s", why);
    return 0;
}

static int drachtio_create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err,
                           size_t errlen)
{
    static const char *const keys[] = { "listen", "secret", "no_app", "idle_timeout", "max_frame",
                                        "outbound", "tls", "tags", "spammers", "options_200",
                                        "options_user_agents", "request_handlers", "http_timeout",
                                        "http_fallback", "http_ca", "http_verify", NULL };
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    dr_inst_t *di = calloc(1, sizeof(*di));
    if (di == NULL)
        return -1;
    sc_instance_set_data(inst, di);
    /* as with drachtio-server: Require is the application's to judge */
    sc_instance_take_require(inst);
    dr_conf_t *c = &di->conf;
    *c = (dr_conf_t){ .listen = "127.0.0.1:9022", .reject_no_app = true, .max_frame = 16u << 20 };
    const sc_conf_node_t *n;
    unsigned long v;
    if ((n = sc_conf_get(conf, "listen")) && sc_conf_string(n, &c->listen, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "secret")) == NULL)
        return sc_conf_error(err, errlen, conf, "drachtio: \"secret\" is required");
    if (sc_conf_string(n, &c->secret, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "no_app"))) {
        const char *s;
        if (sc_conf_string(n, &s, err, errlen))
            return -1;
        if (strcmp(s, "reject") && strcmp(s, "next"))
            return sc_conf_error(err, errlen, n, "\"no_app\" must be reject or next");
        c->reject_no_app = strcmp(s, "reject") == 0;
    }
    if ((n = sc_conf_get(conf, "idle_timeout"))) {
        if (sc_conf_uint(n, 86400, &v, err, errlen))
            return -1;
        c->idle_timeout_s = (unsigned)v;
    }
    if ((n = sc_conf_get(conf, "max_frame"))) {
        if (sc_conf_uint(n, 1ul << 30, &v, err, errlen))
            return -1;
        if (v < 1024)
            return sc_conf_error(err, errlen, n, "\"max_frame\" must be at least 1024");
        c->max_frame = v;
    }
    if ((n = sc_conf_get(conf, "outbound"))) {
        if (sc_conf_string(n, &c->outbound, err, errlen))
            return -1;
        if ((strncmp(c->outbound, "tcp://", 6) != 0 && strncmp(c->outbound, "tls://", 6) != 0) ||
            strchr(c->outbound + 6, ':') == NULL)
            return sc_conf_error(err, errlen, n, "\"outbound\" must be tcp://HOST:PORT or tls://HOST:PORT");
    }
    if (dr_screen_conf(&di->screen, conf, err, errlen) || dr_router_conf(&di->router, conf, err, errlen))
        return -1;
    return tls_conf(c, conf, di->router.n > 0, err, errlen) || tag_rules(di, conf, err, errlen) ? -1 : 0;
}

/* cdr:* events to the applications that routed them. */
static void on_cdr(const char *event, const void *data, void *arg)
{
    dr_inst_t *di = arg;
    const sc_cdr_t *cdr = data;
    if (di->hub == NULL)
        return;
    char leader[200];
    if (strcmp(event, "cdr:attempt") == 0)
        snprintf(leader, sizeof(leader), "%s|%s|%s", event, cdr->source, cdr->time);
    else
        snprintf(leader, sizeof(leader), "%s|%s|%s|%s", event, cdr->source, cdr->time,
                 strcmp(event, "cdr:start") == 0 ? cdr->role : cdr->reason);
    for (dr_link_t *l = di->hub->conns.next; l != &di->hub->conns; l = l->next) {
        dr_conn_t *c = DR_OF(l, dr_conn_t, link);
        if (c->authed && dr_conn_routes(c, event))
            dr_send(c, leader, cdr->msg);
    }
}

/* SIGTERM: no new application connections or requests from now on; what
 * applications hold unanswered, and routing lookups, get 503 now, so
 * that with no call up the server exits at once (not after stop_timeout). */
static void on_stopping(const char *event, const void *data, void *arg)
{
    dr_inst_t *di = arg;
    (void)event;
    (void)data;
    di->stopping = true;
    dr_router_stop(&di->router);
    if (di->hub)
        dr_hub_stop(di->hub);
}

static void route_app(void *arg, sc_req_t *req, sc_res_t *res);

static int drachtio_start(sc_instance_t *inst)
{
    dr_inst_t *di = sc_instance_data(inst);
    char err[300];
    di->hub = dr_hub_get(inst, &di->conf, err, sizeof(err));
    if (di->hub == NULL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "%s", err);
        return -1;
    }
    static const char *const events[] = { "cdr:attempt", "cdr:start", "cdr:stop" };
    for (size_t i = 0; i < 3; i++)
        if (sc_event_subscribe(inst, events[i], on_cdr, di) != 0)
            return -1;
    di->router.inst = inst;
    di->router.hub = di->hub;
    di->router.route_app = route_app;
    di->router.arg = di;
    return sc_event_subscribe(inst, SC_EVENT_STOPPING, on_stopping, di);
}

static void drachtio_handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    dr_inst_t *di = sc_instance_data(inst);
    dr_hub_t *h = di->hub;
    h->inst = inst;
    if (di->stopping || h->stopping) {
        sc_str_t m = sc_req_method(req);
        if (m.len == 3 && memcmp(m.s, "ACK", 3) == 0)
            sc_req_drop(req);           /* an ACK is never answered */
        else
            sc_res_send(res, 503, "Server Stopping");
        return;
    }
    if (dr_screen_spam(&di->screen, inst, req, res))
        return;
    /* In a dialog, but none of ours (the core hands those over as dialog
     * events): with no_app next it is the next module's; else as
     * drachtio-server: one an application proxied with recordRoute
     * follows its Route set, one for us gets 481 (§12.2.2). */
    if (sc_req_to_tag(req).len) {
        static const sc_proxy_opts_t along_route;
        if (!di->conf.reject_no_app)
            sc_next(req);
        else if (sc_req_next_hop_is_us(req))
            sc_res_send(res, 481, "Call/Transaction Does Not Exist");
        else if (sc_proxy_request(req, &along_route) != 0)
            sc_res_send(res, 500, "Server Internal Error (cannot forward along the Route set)");
        return;
    }
    /* drachtio-server's order: spammers, OPTIONS pings, then routing */
    bool routed = di->conf.outbound || dr_router_handles(&di->router, req) || dr_hub_routed(h, "options");
    if (dr_screen_options(&di->screen, req, res, routed))
        return;
    if (dr_router_route(&di->router, req, res))
        return;
    route_app(di, req, res);
}

/* To the applications: the outbound one, or a connected one that routed
 * the method (tags rules first); none: 503 or the next link. */
static void route_app(void *arg, sc_req_t *req, sc_res_t *res)
{
    dr_inst_t *di = arg;
    dr_hub_t *h = di->hub;
    if (di->conf.outbound) {
        dr_inbound(h, NULL, req, res, NULL);
        return;
    }
    char verb[32];
    sc_str_t m = sc_req_method(req);
    size_t n = m.len < sizeof(verb) - 1 ? m.len : sizeof(verb) - 1;
    for (size_t i = 0; i < n; i++)
        verb[i] = (char)tolower((unsigned char)m.s[i]);
    verb[n] = '\0';
    const char *tag = NULL;
    for (int i = 0; i < di->nrules && tag == NULL; i++)
        if (sc_uri_matches(sc_req_uri(req), di->rules[i].domain, di->rules[i].user_prefix))
            tag = di->rules[i].tag;
    dr_conn_t *c = dr_hub_pick(h, verb, tag);
    if (c)
        dr_inbound(h, c, req, res, NULL);
    else if (di->conf.reject_no_app)
        sc_res_send(res, 503, "No application connected for this method");
    else
        sc_next(req);
}

static void drachtio_destroy(sc_instance_t *inst)
{
    dr_inst_t *di = sc_instance_data(inst);
    if (di == NULL)
        return;
    dr_router_free(&di->router);
    dr_screen_free(&di->screen);
    dr_hub_put(di->hub, inst);
    SSL_CTX_free(di->conf.srv_ctx);     /* connections made with them hold their own reference */
    SSL_CTX_free(di->conf.cli_ctx);
    free(di);
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER,
    .name = "drachtio",
    .version = "1.0",
    .create = drachtio_create,
    .start = drachtio_start,
    .handle = drachtio_handle,
    .destroy = drachtio_destroy,
};
