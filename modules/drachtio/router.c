/* router.c — see router.h.  The HTTP exchange follows drachtio-server's
 * (pending-request-controller.cpp, request-handler.cpp): the handler URL
 * with "/" and a query string appended (method, domain, protocol,
 * source_address, fromUser, toUser, uriUser, contentType, uri and every
 * Request-URI parameter); POST also sends the SIP message as text/plain.
 * The answer is {"action": "reject"|"redirect"|"proxy"|"route",
 * "data": {...}}; one that is not such JSON gets 500, as there.  Each
 * lookup has its own connection, freed once it is over. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "json.h"
#include "router.h"

typedef struct {
    dr_router_t              *r;
    sc_req_t                 *req;      /* NULL once answered here (CANCEL, stop) */
    sc_res_t                 *res;
    struct evhttp_connection *conn;
    const dr_handler_t       *h;
    const char               *failed;   /* the HTTP error, for the log */
    bool                      dead;     /* over: freed by the reaper */
    bool                      tls;      /* https: why it failed may be the certificate */
    struct timeval            started;  /* (libevent says nothing of a connect that timed out) */
    dr_link_t                 link;
} lookup_t;

/* --- config ------------------------------------------------------------------ */

static int handler_conf(dr_handler_t *h, const sc_conf_node_t *n, char *err, size_t errlen)
{
    static const char *const keys[] = { "method", "url", "http_method", NULL };
    const sc_conf_node_t *v;
    if (sc_conf_check_keys(n, keys, err, errlen))
        return -1;
    h->method = "*";
    if ((v = sc_conf_get(n, "method")) && sc_conf_string(v, &h->method, err, errlen))
        return -1;
    if ((v = sc_conf_get(n, "url")) == NULL)
        return sc_conf_error(err, errlen, n, "drachtio: a request handler needs \"url\"");
    if (sc_conf_string(v, &h->url, err, errlen))
        return -1;
    if (strncmp(h->url, "tcp://", 6) == 0 || strncmp(h->url, "tls://", 6) == 0) {
        if (strchr(h->url + 6, ':') == NULL)
            return sc_conf_error(err, errlen, v, "drachtio: \"%s\" needs a port", h->url);
    } else {
        struct evhttp_uri *u = evhttp_uri_parse(h->url);
        const char *sch = u ? evhttp_uri_get_scheme(u) : NULL;
        bool ok = sch && (strcmp(sch, "http") == 0 || strcmp(sch, "https") == 0) &&
                  evhttp_uri_get_host(u) && evhttp_uri_get_host(u)[0];
        if (u)
            evhttp_uri_free(u);
        if (!ok)
            return sc_conf_error(err, errlen, v,
                                 "drachtio: a request handler's url must be http[s]://HOST[:PORT][/PATH], "
                                 "tcp://HOST:PORT or tls://HOST:PORT");
    }
    if ((v = sc_conf_get(n, "http_method"))) {
        const char *m;
        if (sc_conf_string(v, &m, err, errlen))
            return -1;
        if (strcmp(m, "GET") && strcmp(m, "POST"))
            return sc_conf_error(err, errlen, v, "drachtio: \"http_method\" must be GET or POST");
        h->post = strcmp(m, "POST") == 0;
    }
    return 0;
}

int dr_router_conf(dr_router_t *r, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    *r = (dr_router_t){ .timeout_ms = 3000, .fallback = 500 };
    dr_list_init(&r->lookups);
    const sc_conf_node_t *n, *list = sc_conf_get(conf, "request_handlers");
    for (const sc_conf_node_t *e = list ? sc_conf_first(list) : NULL; e; e = sc_conf_next(e)) {
        if (r->n == DR_MAX_HANDLERS)
            return sc_conf_error(err, errlen, e, "drachtio: at most %d request handlers", DR_MAX_HANDLERS);
        if (handler_conf(&r->h[r->n++], e, err, errlen))
            return -1;
    }
    unsigned long v;
    if ((n = sc_conf_get(conf, "http_timeout"))) {
        if (sc_conf_uint(n, 60000, &v, err, errlen))
            return -1;
        if (v < 10)
            return sc_conf_error(err, errlen, n, "drachtio: \"http_timeout\" is in milliseconds, at least 10");
        r->timeout_ms = (unsigned)v;
    }
    if ((n = sc_conf_get(conf, "http_fallback"))) {
        const char *s;
        char ignore[8];
        if (sc_conf_string(n, &s, ignore, sizeof(ignore)) == 0 && strcmp(s, "app") == 0) {
            r->fallback = 0;
        } else {
            if (sc_conf_uint(n, 699, &v, ignore, sizeof(ignore)) || v < 300)
                return sc_conf_error(err, errlen, n, "drachtio: \"http_fallback\" must be app or a status 300-699");
            r->fallback = (unsigned)v;
        }
    }
    /* https handlers: the service's certificate is checked against
     * http_ca (a PEM file), else the system's CAs, and must name the
     * URL's host (SNI sent); http_verify: false skips it all (unsafe:
     * anyone on the path can then route the calls) */
    bool verify = true, https = false;
    const char *ca = NULL;
    if ((n = sc_conf_get(conf, "http_ca")) && sc_conf_string(n, &ca, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "http_verify")) && sc_conf_bool(n, &verify, err, errlen))
        return -1;
    for (int i = 0; i < r->n; i++)
        https = https || strncmp(r->h[i].url, "https://", 8) == 0;
    if (https) {
        char why[200];
        if ((r->ssl_ctx = sc_tls_client_ctx(verify ? ca : NULL, verify, why, sizeof(why))) == NULL)
            return sc_conf_error(err, errlen, sc_conf_get(conf, "http_ca") ? sc_conf_get(conf, "http_ca") : list,
                                 "drachtio: https request handlers: %s", why);
    }
    return 0;
}

/* --- the lookup ---------------------------------------------------------------- */

static void lookup_free(lookup_t *lk)
{
    dr_list_del(&lk->link);
    if (lk->conn)
        evhttp_connection_free(lk->conn);
    free(lk);
}

/* libevent must not free a connection inside its own callback: a lookup
 * that is over waits in the list, dead, for the reaper's next turn */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    dr_router_t *r = arg;
    (void)fd;
    (void)what;
    for (dr_link_t *l = r->lookups.next, *next; l != &r->lookups; l = next) {
        next = l->next;
        lookup_t *lk = DR_OF(l, lookup_t, link);
        if (lk->dead)
            lookup_free(lk);
    }
}

static void lookup_done(lookup_t *lk)
{
    static const struct timeval now = { 0, 0 };
    lk->dead = true;
    lk->req = NULL;
    event_add(lk->r->reaper, &now);
}

static void on_cancel(sc_req_t *req, sc_str_t cancel, void *arg)
{
    lookup_t *lk = arg;
    (void)req;
    (void)cancel;
    sc_res_send(lk->res, 487, NULL);
    lk->req = NULL;         /* the HTTP answer, when it comes, is ignored */
}

static void fallback(lookup_t *lk, const char *why)
{
    dr_router_t *r = lk->r;
    sc_instance_log(r->inst, SC_LOG_LEVEL_WARN, "request handler %s: %s; %s", lk->h->url, why,
                    r->fallback ? "answered by http_fallback" : "routed to the applications");
    if (r->fallback) {
        char reason[200];
        snprintf(reason, sizeof(reason), "Routing service failed (%s)", why);
        sc_res_send(lk->res, r->fallback, reason);
    } else {
        r->route_app(r->arg, lk->req, lk->res);
    }
}

/* Whether s may go into a SIP message as it is: no control characters
 * (a CR LF in a reason or a contact would forge header lines). */
static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* A string or an array of strings into list (NULL-terminated); -1 when
 * neither, or when one has control characters. */
static int string_list(const dr_json_t *j, const char **list, int max)
{
    int n = 0;
    if (j && j->type == DJ_STR && printable(j->str))
        list[n++] = j->str;
    else if (j && j->type == DJ_ARR)
        for (const dr_json_t *e = j->child; e; e = e->next) {
            if (e->type != DJ_STR || n == max - 1 || !printable(e->str))
                return -1;
            list[n++] = e->str;
        }
    else
        return -1;
    list[n] = NULL;
    return n ? 0 : -1;
}

static bool flag(const dr_json_t *data, const char *key, bool dflt)
{
    const dr_json_t *j = dr_json_get(data, key);
    return j && j->type == DJ_BOOL ? j->b : dflt;
}

/* "5s", "500ms" (drachtio's timeouts) as whole seconds, rounded up. */
static unsigned seconds(const dr_json_t *data, const char *key, unsigned dflt)
{
    const dr_json_t *j = dr_json_get(data, key);
    if (j == NULL || j->type != DJ_STR)
        return dflt;
    char *end;
    unsigned long n = strtoul(j->str, &end, 10);
    return strcmp(end, "ms") == 0 ? (unsigned)((n + 999) / 1000) : (unsigned)n;
}

/* "route" with uri "host:port[;transport=tcp|tls]" (a "sip:" in front
 * is tolerated): connect out to the application there. */
static const char *route_uri(lookup_t *lk, const char *uri)
{
    char url[300];
    if (strncmp(uri, "sip:", 4) == 0)
        uri += 4;
    size_t n = strcspn(uri, ";");
    bool tls = strstr(uri + n, "transport=tls") != NULL;
    if (n == 0 || n > 200 || memchr(uri, ':', n) == NULL)
        return "'uri' is not host:port";
    snprintf(url, sizeof(url), "%s://%.*s", tls ? "tls" : "tcp", (int)n, uri);
    dr_inbound_connect(lk->r->hub, lk->req, lk->res, url);
    return NULL;
}

/* The answer's instruction carried out: NULL, or why it is malformed. */
static const char *act(lookup_t *lk, const dr_json_t *root)
{
    const dr_json_t *action = dr_json_get(root, "action"), *data = dr_json_get(root, "data");
    if (action == NULL || action->type != DJ_STR)
        return "missing or invalid 'action' attribute";
    if (data == NULL || data->type != DJ_OBJ)
        return "missing 'data' object";
    const char *a = action->str;
    if (strcmp(a, "reject") == 0) {
        const dr_json_t *st = dr_json_get(data, "status"), *rs = dr_json_get(data, "reason");
        if (st == NULL || st->type != DJ_NUM || st->num < 300 || st->num > 699)
            return "'status' is missing or not a number from 300 to 699";
        if (rs && rs->type == DJ_STR && !printable(rs->str))
            return "'reason' has control characters";
        sc_res_send(lk->res, (unsigned)st->num, rs && rs->type == DJ_STR && rs->str[0] ? rs->str : NULL);
        return NULL;
    }
    const char *list[17];
    if (strcmp(a, "redirect") == 0) {
        if (string_list(dr_json_get(data, "contact"), list, 17) != 0)
            return "'contact' must be a string or an array of strings";
        for (int i = 0; list[i]; i++) {
            char c[600];
            snprintf(c, sizeof(c), list[i][0] == '<' ? "%s" : "<%s>", list[i]);
            if (sc_res_add_header(lk->res, "Contact", c) != 0)
                return "a 'contact' that cannot be a Contact header";
        }
        sc_res_send(lk->res, 302, NULL);
        return NULL;
    }
    if (strcmp(a, "proxy") == 0) {
        if (string_list(dr_json_get(data, "destination"), list, 17) != 0)
            return "'destination' must be a string or an array of strings";
        sc_proxy_opts_t o = {
            .targets = list,
            .parallel = flag(data, "simultaneous", false),
            .record_route = flag(data, "recordRoute", false),
            .follow_redirects = flag(data, "followRedirects", true),
            .provisional_timeout_s = seconds(data, "provisionalTimeout", 5),
            .final_timeout_s = seconds(data, "finalTimeout", 60),
        };
        if (sc_proxy_request(lk->req, &o) != 0)
            sc_res_send(lk->res, 500, "Server Internal Error (cannot proxy to the destination)");
        return NULL;
    }
    if (strcmp(a, "route") == 0) {
        const dr_json_t *uri = dr_json_get(data, "uri"), *tag = dr_json_get(data, "tag");
        if (uri && uri->type == DJ_STR)
            return printable(uri->str) ? route_uri(lk, uri->str) : "'uri' has control characters";
        if (tag && tag->type == DJ_STR) {
            /* as drachtio-server (ClientController::selectClientForTag ->
             * selectClientForRequestOutsideDialog(method, tag)): among the
             * applications that routed this method, round robin, one with
             * the tag; none such is its outboundFailed: 480 */
            char verb[32];
            sc_str_t m = sc_req_method(lk->req);
            size_t n = m.len < sizeof(verb) - 1 ? m.len : sizeof(verb) - 1;
            for (size_t i = 0; i < n; i++)
                verb[i] = (char)(m.s[i] | 0x20);
            verb[n] = '\0';
            dr_conn_t *c = dr_hub_pick(lk->r->hub, verb, tag->str);
            if (c)
                dr_inbound(lk->r->hub, c, lk->req, lk->res, NULL);
            else
                sc_res_send(lk->res, 480, "No application with that tag routes this method");
            return NULL;
        }
        return "'uri' is missing or is not a string";
    }
    return "invalid 'action': valid values are 'reject', 'proxy', 'redirect' and 'route'";
}

static void on_error(enum evhttp_request_error e, void *arg)
{
    lookup_t *lk = arg;
    lk->failed = e == EVREQ_HTTP_TIMEOUT ? "timed out" : e == EVREQ_HTTP_EOF ? "connection closed"
               : e == EVREQ_HTTP_INVALID_HEADER ? "an invalid HTTP answer"
               : e == EVREQ_HTTP_BUFFER_ERROR ? "connection failed" : "request failed";
}

/* An https lookup with no answer: whether the certificate was refused
 * (then why says so). */
static bool tls_failure(lookup_t *lk, char *why, size_t cap)
{
    struct bufferevent *bev = lk->tls ? evhttp_connection_get_bufferevent(lk->conn) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    long v = ssl && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v == X509_V_OK)
        return false;
    snprintf(why, cap, "TLS: certificate refused (%s)", X509_verify_cert_error_string(v));
    return true;
}

/* No answer and no error from libevent: a failure while connecting
 * (its error callback is not called then); a timeout when it took
 * http_timeout. */
static const char *connect_failure(lookup_t *lk)
{
    struct timeval now, d;
    event_base_gettimeofday_cached(sc_instance_base(lk->r->inst), &now);
    timersub(&now, &lk->started, &d);
    long ms = (long)d.tv_sec * 1000 + d.tv_usec / 1000;
    return ms + 50 >= (long)lk->r->timeout_ms ? "timed out" : "connection failed";
}

static void on_done(struct evhttp_request *hr, void *arg)
{
    lookup_t *lk = arg;
    int code = hr ? evhttp_request_get_response_code(hr) : 0;
    if (lk->req == NULL) {
        lookup_done(lk);
        return;
    }
    sc_req_on_cancel(lk->req, NULL, NULL);
    if (code < 200 || code > 299) {
        char why[160];
        if (code)
            snprintf(why, sizeof(why), "HTTP status %d", code);
        else if (!tls_failure(lk, why, sizeof(why)))
            snprintf(why, sizeof(why), "%s", lk->failed ? lk->failed : connect_failure(lk));
        fallback(lk, why);
        lookup_done(lk);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(hr);
    size_t len = evbuffer_get_length(in);
    const char *why = NULL;
    dr_json_t *root = dr_json_parse((const char *)evbuffer_pullup(in, -1), len, &why);
    if (root && (why = act(lk, root)) == NULL) {
        dr_json_free(root);
        lookup_done(lk);
        return;
    }
    dr_json_free(root);
    sc_instance_log(lk->r->inst, SC_LOG_LEVEL_WARN, "request handler %s answered badly: %s",
                    lk->h->url, why);
    sc_res_send(lk->res, 500, "Server Internal Error (bad routing answer)");
    lookup_done(lk);
}

static void add_pair(struct evbuffer *b, const char *k, sc_str_t v, bool *first)
{
    char *val = malloc(v.len + 1), *enc;
    if (val == NULL)
        return;
    if (v.len)
        memcpy(val, v.s, v.len);
    val[v.len] = '\0';
    if ((enc = evhttp_uriencode(val, -1, 0)) != NULL)
        evbuffer_add_printf(b, "%c%s=%s", *first ? '?' : '&', k, enc);
    *first = false;
    free(enc);
    free(val);
}

static sc_str_t cstr(const char *s) { return (sc_str_t){ s, strlen(s) }; }

/* The handler's path, "/", the query string of drachtio-server. */
static char *target(const struct evhttp_uri *u, sc_req_t *req)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        return NULL;
    const char *path = evhttp_uri_get_path(u);
    evbuffer_add_printf(b, "%s/", path && *path ? path : "");
    if (evhttp_uri_get_query(u))            /* a query of its own stays first */
        evbuffer_add_printf(b, "?%s&", evhttp_uri_get_query(u));
    bool first = evhttp_uri_get_query(u) == NULL;
    sc_str_t ruri = sc_req_uri(req), ru = { 0 }, rh = { 0 }, fu = { 0 }, tu = { 0 }, h;
    sc_uri_user_host(ruri, &ru, &rh);
    sc_uri_user_host(sc_req_from_uri(req), &fu, &h);
    sc_uri_user_host(sc_req_to_uri(req), &tu, &h);
    sc_str_t ct = sc_req_header(req, "Content-Type");     /* its type, no parameters */
    const char *semi = ct.len ? memchr(ct.s, ';', ct.len) : NULL;
    if (semi)
        ct.len = (size_t)(semi - ct.s);
    while (ct.len && (ct.s[ct.len - 1] == ' ' || ct.s[ct.len - 1] == '\t'))
        ct.len--;
    add_pair(b, "method", sc_req_method(req), &first);
    add_pair(b, "domain", rh, &first);
    add_pair(b, "protocol", cstr(sc_req_transport(req)), &first);
    add_pair(b, "source_address", cstr(sc_req_source_ip(req)), &first);
    add_pair(b, "fromUser", fu, &first);
    add_pair(b, "toUser", tu, &first);
    add_pair(b, "uriUser", ru, &first);
    add_pair(b, "contentType", ct, &first);
    add_pair(b, "uri", ruri, &first);
    /* the Request-URI's parameters: after the host part, up to ? */
    const char *at = memchr(ruri.s, '@', ruri.len), *p = at ? at : ruri.s;
    const char *end = ruri.s + ruri.len, *q = memchr(p, '?', (size_t)(end - p));
    if (q)
        end = q;
    for (p = memchr(p, ';', (size_t)(end - p)); p && p < end;) {
        const char *s = p + 1, *e = memchr(s, ';', (size_t)(end - s));
        if (e == NULL)
            e = end;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        char key[64];
        size_t kn = (size_t)((eq ? eq : e) - s);
        if (kn && kn < sizeof(key)) {
            snprintf(key, sizeof(key), "%.*s", (int)kn, s);
            add_pair(b, key, eq ? (sc_str_t){ eq + 1, (size_t)(e - eq - 1) } : (sc_str_t){ "", 0 }, &first);
        }
        p = e;
    }
    size_t n = evbuffer_get_length(b);
    char *out = malloc(n + 1);
    if (out) {
        evbuffer_remove(b, out, n);
        out[n] = '\0';
    }
    evbuffer_free(b);
    return out;
}

static bool numeric(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* An HTTP connection to host:port; for https over a TLS bufferevent
 * that sends SNI (a name) and checks the certificate names host (a
 * name or an address, RFC 6125 / RFC 2818 §3.1) when verifying. */
static struct evhttp_connection *connection(dr_router_t *r, struct event_base *base, const char *host,
                                            unsigned short port, bool tls)
{
    struct evdns_base *dns = numeric(host) ? NULL : r->dns;
    if (!tls)
        return evhttp_connection_base_new(base, dns, host, port);
    SSL *ssl = r->ssl_ctx ? SSL_new(r->ssl_ctx) : NULL;
    if (ssl == NULL)
        return NULL;
    bool ok = numeric(host) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1
                            : SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
    struct bufferevent *bev = ok ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                                  BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
                                 : NULL;
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    /* the answer is framed (Content-Length or chunked), and Connection:
     * close: a peer that closes without close_notify loses nothing */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    struct evhttp_connection *c = evhttp_connection_base_bufferevent_new(base, dns, bev, host, port);
    if (c == NULL)
        bufferevent_free(bev);          /* (frees ssl: BEV_OPT_CLOSE_ON_FREE) */
    return c;
}

/* 0, or -1 when it could not be started (the caller falls back). */
static int lookup_start(dr_router_t *r, const dr_handler_t *hd, sc_req_t *req, sc_res_t *res)
{
    struct event_base *base = sc_instance_base(r->inst);
    if (r->reaper == NULL && (r->reaper = evtimer_new(base, on_reap, r)) == NULL)
        return -1;
    struct evhttp_uri *u = evhttp_uri_parse(hd->url);
    lookup_t *lk = u ? calloc(1, sizeof(*lk)) : NULL;
    char *path = lk ? target(u, req) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    int port = u ? evhttp_uri_get_port(u) : -1;
    if (host && !numeric(host) && r->dns == NULL)
        r->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    bool tls = u && strcmp(evhttp_uri_get_scheme(u), "https") == 0;
    int dport = tls ? 443 : 80;
    if (path == NULL || (!numeric(host) && r->dns == NULL) ||
        (lk->conn = connection(r, base, host, (unsigned short)(port > 0 ? port : dport), tls)) == NULL) {
        free(path);
        free(lk);
        if (u)
            evhttp_uri_free(u);
        return -1;
    }
    *lk = (lookup_t){ .r = r, .req = req, .res = res, .conn = lk->conn, .h = hd, .tls = tls };
    event_base_gettimeofday_cached(base, &lk->started);
    struct timeval tv = { r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000 };
    evhttp_connection_set_timeout_tv(lk->conn, &tv);
    evhttp_connection_set_retries(lk->conn, 0);
    struct evhttp_request *hr = evhttp_request_new(on_done, lk);
    int rc = -1;
    if (hr) {
        evhttp_request_set_error_cb(hr, on_error);
        struct evkeyvalq *hdrs = evhttp_request_get_output_headers(hr);
        char hosthdr[300];          /* RFC 7230 §5.4: the port when not 80, IPv6 in [] */
        bool v6 = strchr(host, ':') != NULL;
        if (port > 0 && port != dport)
            snprintf(hosthdr, sizeof(hosthdr), v6 ? "[%s]:%d" : "%s:%d", host, port);
        else
            snprintf(hosthdr, sizeof(hosthdr), v6 ? "[%s]" : "%s", host);
        evhttp_add_header(hdrs, "Host", hosthdr);
        evhttp_add_header(hdrs, "Accept", "application/json");
        evhttp_add_header(hdrs, "Connection", "close");
        if (hd->post) {
            sc_str_t raw = sc_req_raw(req);
            evhttp_add_header(hdrs, "Content-Type", "text/plain; charset=UTF-8");
            evbuffer_add(evhttp_request_get_output_buffer(hr), raw.s, raw.len);
        }
        rc = evhttp_make_request(lk->conn, hr, hd->post ? EVHTTP_REQ_POST : EVHTTP_REQ_GET, path);
    }
    free(path);
    evhttp_uri_free(u);
    if (rc != 0) {          /* (evhttp_make_request freed hr) */
        evhttp_connection_free(lk->conn);
        free(lk);
        return -1;
    }
    dr_list_add(&r->lookups, &lk->link);
    sc_req_on_cancel(req, on_cancel, lk);
    return 0;
}

/* The handler for method m: its own, else the "*" one; NULL when none. */
static const dr_handler_t *handler_for(const dr_router_t *r, sc_str_t m)
{
    for (int i = 0; i < r->n; i++)
        if (strlen(r->h[i].method) == m.len && strncasecmp(r->h[i].method, m.s, m.len) == 0)
            return &r->h[i];
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->h[i].method, "*") == 0)
            return &r->h[i];
    return NULL;
}

bool dr_router_handles(const dr_router_t *r, sc_req_t *req)
{
    return handler_for(r, sc_req_method(req)) != NULL;
}

bool dr_router_route(dr_router_t *r, sc_req_t *req, sc_res_t *res)
{
    const dr_handler_t *hd = handler_for(r, sc_req_method(req));
    if (hd == NULL)
        return false;
    if (strncmp(hd->url, "tcp://", 6) == 0 || strncmp(hd->url, "tls://", 6) == 0) {   /* the app there, no HTTP */
        dr_inbound_connect(r->hub, req, res, hd->url);
        return true;
    }
    if (lookup_start(r, hd, req, res) != 0) {
        lookup_t tmp = { .r = r, .req = req, .res = res, .h = hd };
        fallback(&tmp, "cannot start the HTTP request");
    }
    return true;
}

void dr_router_stop(dr_router_t *r)
{
    while (r->lookups.next && r->lookups.next != &r->lookups) {
        lookup_t *lk = DR_OF(r->lookups.next, lookup_t, link);
        if (lk->req && !lk->dead) {
            sc_req_on_cancel(lk->req, NULL, NULL);
            sc_res_send(lk->res, 503, "Server Stopping");
        }
        lookup_free(lk);
    }
}

void dr_router_free(dr_router_t *r)
{
    while (r->lookups.next && r->lookups.next != &r->lookups)
        lookup_free(DR_OF(r->lookups.next, lookup_t, link));
    if (r->reaper)
        event_free(r->reaper);
    if (r->dns)
        evdns_base_free(r->dns, 0);
    SSL_CTX_free(r->ssl_ctx);           /* connections hold their own reference */
    r->ssl_ctx = NULL;
    r->dns = NULL;
    r->reaper = NULL;
}
