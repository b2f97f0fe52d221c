/*
 * proxy — a stateful RFC 3261 §16 proxy as a thin layer over
 * sc_proxy_request: this module only decides where a request goes.
 *
 *   1. a request inside a dialog (To tag) or with a Route past ours
 *      follows its Route set / Request-URI (loose routing), no lookup;
 *   2. a Request-URI in a domain the registrar serves: first the routes
 *      with a user_prefix (the first that matches wins over the location
 *      service: "numbers starting with 9 go to the PSTN gateway" in the
 *      local domain); else the location service's contacts (fork by q:
 *      parallel within a q, the next q when those failed; Path honoured,
 *      and a contact behind NAT reached where it registered from); an
 *      AOR with no binding goes to the first route that matches at all
 *      (e.g. one by domain only: users with no phone registered), else
 *      404; 480 when every contact failed;
 *   3. any other Request-URI: the first static route that matches (by
 *      domain and/or user prefix);
 *   4. anything else goes to its Request-URI, through the outbound proxy
 *      when one is set.
 *
 * A route's targets are next hops, like an outbound proxy: the request
 * goes to each target's address with its Request-URI unchanged (and the
 * target as its top Route when it is a SIP URI with ;lr), forked in
 * parallel or one after the other.  `rewrite: host` puts the target's
 * host and port in the Request-URI instead (user and parameters kept),
 * `rewrite: uri` makes the target the Request-URI; either way no Route
 * is added and the request goes where the new Request-URI says.
 *
 * Config:
 *   - module: proxy
 *     record_route: true
 *     follow_redirects: false
 *     provisional_timeout: 0          # s; sequential: next target when no 1xx
 *     final_timeout: 180              # s; timer C
 *     outbound_proxy: "sip:192.0.2.10:5060"   # for step 4 (optional)
 *     headers: [ "X-Proxied: sipchain" ]      # added to what goes out
 *     remove_headers: [ "X-Internal" ]        # taken off what goes out
 *     routes:
 *       - domain: pstn.example.com    # optional: the Request-URI host (any case)
 *         user_prefix: "+1"           # optional: the start of its user part
 *         targets: [ "sip:gw1.example.com", "sip:gw2.example.com;lr" ]
 *         parallel: false
 *         rewrite: none               # none | host | uri
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sipchain.h>

#define MAX_ROUTES  64
#define MAX_TARGETS 16
#define MAX_LINES   32
#define MAX_CONTACTS 16

typedef enum { REWRITE_NONE, REWRITE_HOST, REWRITE_URI } rewrite_t;

typedef struct {
    const char *domain, *user_prefix;
    const char *targets[MAX_TARGETS + 1];
    bool        parallel;
    rewrite_t   rewrite;
} route_t;

typedef struct {
    sc_proxy_opts_t          base;      /* record_route, timeouts, headers */
    const char              *outbound;
    char                    *outbound_route;    /* "<outbound;lr>" */
    const char              *add[MAX_LINES + 1], *drop[MAX_LINES + 1];
    route_t                  routes[MAX_ROUTES];
    int                      nroutes;
    const sc_location_api_t *loc;
} proxy_conf_t;

static int strings(const sc_conf_node_t *n, const char **out, int max, char *err, size_t errlen)
{
    int k = 0;
    for (const sc_conf_node_t *x = sc_conf_first(n); x; x = sc_conf_next(x)) {
        if (k == max)
            return sc_conf_error(err, errlen, x, "at most %d entries", max);
        if (sc_conf_string(x, &out[k++], err, errlen))
            return -1;
    }
    out[k] = NULL;
    return 0;
}

static int route_conf(route_t *r, const sc_conf_node_t *n, char *err, size_t errlen)
{
    static const char *const keys[] = { "domain", "user_prefix", "targets", "parallel", "rewrite", NULL };
    const sc_conf_node_t *k;
    if (sc_conf_check_keys(n, keys, err, errlen))
        return -1;
    if ((k = sc_conf_get(n, "domain")) && sc_conf_string(k, &r->domain, err, errlen))
        return -1;
    if ((k = sc_conf_get(n, "user_prefix")) && sc_conf_string(k, &r->user_prefix, err, errlen))
        return -1;
    if ((k = sc_conf_get(n, "parallel")) && sc_conf_bool(k, &r->parallel, err, errlen))
        return -1;
    const char *rw = "none";
    if ((k = sc_conf_get(n, "rewrite")) && sc_conf_string(k, &rw, err, errlen))
        return -1;
    if (strcmp(rw, "none") == 0)
        r->rewrite = REWRITE_NONE;
    else if (strcmp(rw, "host") == 0)
        r->rewrite = REWRITE_HOST;
    else if (strcmp(rw, "uri") == 0)
        r->rewrite = REWRITE_URI;
    else
        return sc_conf_error(err, errlen, k, "rewrite is none, host or uri, not \"%s\"", rw);
    if ((k = sc_conf_get(n, "targets")) == NULL)
        return sc_conf_error(err, errlen, n, "a route needs \"targets\"");
    if (strings(k, r->targets, MAX_TARGETS, err, errlen))
        return -1;
    if (r->targets[0] == NULL)
        return sc_conf_error(err, errlen, k, "\"targets\" must not be empty");
    for (int i = 0; r->targets[i]; i++) {
        sc_str_t user, host;
        if (sc_uri_user_host((sc_str_t){ r->targets[i], strlen(r->targets[i]) }, &user, &host) != 0)
            return sc_conf_error(err, errlen, k, "target \"%s\" is not a sip: or sips: URI", r->targets[i]);
    }
    if (!r->domain && !r->user_prefix)
        return sc_conf_error(err, errlen, n, "a route matches on \"domain\" and/or \"user_prefix\"");
    return 0;
}

static int px_create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "record_route", "follow_redirects", "provisional_timeout",
                                        "final_timeout", "outbound_proxy", "headers",
                                        "remove_headers", "routes", NULL };
    proxy_conf_t *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        return -1;
    sc_instance_set_data(inst, pc);
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    /* a proxy passes Require on to the UAS that will judge it (RFC 3261
     * §16: only Proxy-Require is a proxy's) */
    sc_instance_take_require(inst);
    const sc_conf_node_t *n;
    unsigned long v;
    if ((n = sc_conf_get(conf, "record_route")) && sc_conf_bool(n, &pc->base.record_route, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "follow_redirects")) && sc_conf_bool(n, &pc->base.follow_redirects, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "provisional_timeout"))) {
        if (sc_conf_uint(n, 600, &v, err, errlen))
            return -1;
        pc->base.provisional_timeout_s = (unsigned)v;
    }
    if ((n = sc_conf_get(conf, "final_timeout"))) {
        if (sc_conf_uint(n, 3600, &v, err, errlen))
            return -1;
        pc->base.final_timeout_s = (unsigned)v;
    }
    if ((n = sc_conf_get(conf, "outbound_proxy"))) {
        if (sc_conf_string(n, &pc->outbound, err, errlen))
            return -1;
        if (strncmp(pc->outbound, "sip:", 4) && strncmp(pc->outbound, "sips:", 5))
            return sc_conf_error(err, errlen, n, "outbound_proxy must be a sip: or sips: URI");
        size_t len = strlen(pc->outbound) + 8;
        if ((pc->outbound_route = malloc(len)) == NULL)
            return -1;
        snprintf(pc->outbound_route, len, "<%s;lr>", pc->outbound);
    }
    if ((n = sc_conf_get(conf, "headers"))) {
        if (strings(n, pc->add, MAX_LINES, err, errlen))
            return -1;
        for (int i = 0; pc->add[i]; i++)
            if (strchr(pc->add[i], ':') == NULL)
                return sc_conf_error(err, errlen, n, "\"%s\" is not \"Name: value\"", pc->add[i]);
        pc->base.headers = pc->add;
    }
    if ((n = sc_conf_get(conf, "remove_headers"))) {
        if (strings(n, pc->drop, MAX_LINES, err, errlen))
            return -1;
        pc->base.remove_headers = pc->drop;
    }
    if ((n = sc_conf_get(conf, "routes")))
        for (const sc_conf_node_t *r = sc_conf_first(n); r; r = sc_conf_next(r)) {
            if (pc->nroutes == MAX_ROUTES)
                return sc_conf_error(err, errlen, r, "at most %d routes", MAX_ROUTES);
            if (route_conf(&pc->routes[pc->nroutes++], r, err, errlen))
                return -1;
        }
    return 0;
}

static int px_start(sc_instance_t *inst)
{
    proxy_conf_t *pc = sc_instance_data(inst);
    pc->loc = sc_service_find(inst, SC_LOCATION_SERVICE);   /* none: no step 2 */
    return 0;
}

static void px_destroy(sc_instance_t *inst)
{
    proxy_conf_t *pc = sc_instance_data(inst);
    if (pc)
        free(pc->outbound_route);
    free(pc);
}

/* The first route that matches ruri; with by_prefix, only among the
 * routes with a user_prefix. */
static const route_t *static_route(const proxy_conf_t *pc, sc_str_t ruri, bool by_prefix)
{
    for (int i = 0; i < pc->nroutes; i++)
        if ((!by_prefix || pc->routes[i].user_prefix) &&
            sc_uri_matches(ruri, pc->routes[i].domain, pc->routes[i].user_prefix))
            return &pc->routes[i];
    return NULL;
}

/* Where host[:port] is in a sip:/sips: URI (with an IPv6 reference's
 * brackets): [*b, *e).  0, or -1 when it is not one. */
static int hostport(sc_str_t uri, const char **b, const char **e)
{
    sc_str_t user, host;
    if (sc_uri_user_host(uri, &user, &host) != 0)
        return -1;
    const char *p = host.s + host.len, *end = uri.s + uri.len;
    *b = host.s;
    if (p < end && *p == ']' && host.s > uri.s && host.s[-1] == '[') {
        (*b)--;
        p++;
    }
    if (p < end && *p == ':')
        for (p++; p < end && *p >= '0' && *p <= '9'; p++)
            ;
    *e = p;
    return 0;
}

/* The Request-URI with target's host and port: out, or NULL when either
 * is not a SIP URI or it does not fit. */
static const char *with_host_of(sc_str_t ruri, const char *target, char *out, size_t outlen)
{
    const char *rb, *re, *tb, *te;
    if (hostport(ruri, &rb, &re) != 0 || hostport((sc_str_t){ target, strlen(target) }, &tb, &te) != 0)
        return NULL;
    int n = snprintf(out, outlen, "%.*s%.*s%.*s", (int)(rb - ruri.s), ruri.s, (int)(te - tb), tb,
                     (int)(ruri.s + ruri.len - re), re);
    return n > 0 && (size_t)n < outlen ? out : NULL;
}

/* Reach a contact where it registered from when it registered a flow
 * (RFC 5626), over a connection (TCP, TLS), or its Contact names an
 * address that cannot be reached from outside its network (RFC 1918,
 * RFC 6598, RFC 4193, link-local): a phone behind NAT.  Anything else (a third-party registration, a public
 * address) is reached at its Contact. */
static bool behind_nat(const sc_location_t *l)
{
    if (l->received == NULL)
        return false;
    /* a TCP or TLS connection it registered over is the way to it while
     * it is open (the core falls back to the Contact once it is gone) */
    if (l->reg_id >= 0 || strncmp(l->received, "tcp:", 4) == 0 || strncmp(l->received, "tls:", 4) == 0)
        return true;
    sc_str_t user, host;
    sc_uri_user_host((sc_str_t){ l->uri, strlen(l->uri) }, &user, &host);
    unsigned a, b;
    char h[64];
    snprintf(h, sizeof(h), "%.*s", (int)host.len, host.s);
    if (sscanf(h, "%u.%u.", &a, &b) == 2)
        return a == 10 || (a == 172 && b >= 16 && b < 32) || (a == 192 && b == 168) ||
               (a == 100 && b >= 64 && b < 128) || (a == 169 && b == 254);
    return strchr(h, ':') && (strncasecmp(h, "fc", 2) == 0 || strncasecmp(h, "fd", 2) == 0 ||
                              strncasecmp(h, "fe80:", 5) == 0);
}

static void px_handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    proxy_conf_t *pc = sc_instance_data(inst);
    sc_proxy_opts_t o = pc->base;
    sc_str_t ruri = sc_req_uri(req);
    char uri[1024];
    snprintf(uri, sizeof(uri), "%.*s", (int)ruri.len, ruri.s);
    sc_location_t contacts[MAX_CONTACTS];
    const route_t *r;
    /* 1: in a dialog, or pre-routed: its Route set decides */
    bool routed = sc_req_to_tag(req).len > 0 || sc_req_header(req, "Route").len > 0;
    bool local = !routed && pc->loc && pc->loc->serves(pc->loc, uri);
    /* 2 and 3: in a registrar domain a route by user prefix comes first */
    r = routed ? NULL : static_route(pc, ruri, local);
    if (local && r == NULL) {                                           /* 2 */
        int n = pc->loc->lookup(pc->loc, uri, contacts, MAX_CONTACTS);
        if (n == 0 && (r = static_route(pc, ruri, false)) == NULL) {
            sc_res_send(res, 404, "Not Found (no registered contact)");
            return;
        }
        o.ncontacts = n < MAX_CONTACTS ? n : MAX_CONTACTS;
        for (int i = 0; i < o.ncontacts; i++)
            if (!behind_nat(&contacts[i]))
                contacts[i].received = NULL;    /* its Contact is reachable as it is */
        o.contacts = n > 0 ? contacts : NULL;
    }
    char rewritten[MAX_TARGETS][1024];
    const char *ruris[MAX_TARGETS + 1];
    if (r != NULL) {                                                    /* 2, 3: a route */
        o.ncontacts = 0;
        o.contacts = NULL;
        o.parallel = r->parallel;
        if (r->rewrite == REWRITE_NONE) {
            o.next_hops = r->targets;           /* the Request-URI as it is */
        } else if (r->rewrite == REWRITE_URI) {
            o.targets = r->targets;
        } else {
            int k = 0;
            for (int i = 0; r->targets[i]; i++)
                if (with_host_of(ruri, r->targets[i], rewritten[k], sizeof(rewritten[k])))
                    ruris[k] = rewritten[k], k++;
            ruris[k] = NULL;
            if (k == 0) {
                sc_res_send(res, 500, "Server Internal Error (cannot rewrite the Request-URI)");
                return;
            }
            o.targets = ruris;
        }
    } else if (!routed && !local && pc->outbound) {                     /* 4 */
        contacts[0] = (sc_location_t){ .uri = uri, .path = pc->outbound_route, .q = 1000, .reg_id = -1 };
        o.contacts = contacts;
        o.ncontacts = 1;
    }
    if (sc_proxy_request(req, &o) != 0)
        sc_res_send(res, 500, "Server Internal Error (cannot forward)");
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER,
    .name = "proxy",
    .version = "1.0",
    .create = px_create,
    .start = px_start,
    .handle = px_handle,
    .destroy = px_destroy,
};
