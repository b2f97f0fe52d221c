/*
 * b2bua — a back-to-back user agent as a thin layer over sc_b2bua_create:
 * this module picks B's target, ties the two legs together and enforces
 * the limits; the framework hides each leg from the other (B gets its own
 * Call-ID, Via, Contact; no Record-Route crosses).
 *
 * Where B is: in a registrar domain, the first route with a user_prefix
 * that matches, else the location service's best contact (its Path
 * becomes the outbound route), else (no binding) the first route that
 * matches at all, else 404; in any other domain the first static route
 * that matches (by domain and/or user prefix); else `target`; else the
 * Request-URI itself.  A route's target is B's next hop, an outbound
 * proxy (B's INVITE carries Route: <target;lr>) and B's Request-URI is
 * A's unchanged; `rewrite: host` gives B A's Request-URI with the
 * target's host and port, `rewrite: uri` the target itself (sent where
 * it says, no Route).
 *
 * Tied legs: a BYE on either ends the other; a re-INVITE (new SDP: hold,
 * unhold, a new offer) is offered to the other leg and its answer goes
 * back; INFO and UPDATE are passed across and answered with what the
 * other side answered; a CANCEL from A cancels B (the framework).
 *
 * Who B sees calling: A (RFC 3261 §8.1.1.3 / RFC 3323): B's From is A's
 * From (display name and URI; a tag of our own), B's To is A's To (the
 * address A dialled, not the contact B is reached at), as a phone's
 * caller display expects.  `anonymous: true` sends the RFC 3323
 * anonymous From instead; `from:` a configured one (a PBX's own number).
 * A From or To in `headers` wins over all of these.
 *
 * Limits: max_duration (s) ends a call with a BYE to both legs;
 * max_calls_per_caller refuses a caller (From address) past that many
 * calls at once with 403.  A call lives on the chain that made it (its
 * dialogs keep it) until it ends; the count of calls per caller is kept
 * across reloads, so the calls of before a SIGHUP still count after it.
 *
 * Config:
 *   - module: b2bua
 *     methods: [ INVITE ]
 *     target: "sip:pbx.example.com"     # optional
 *     routes: [ { domain: ..., user_prefix: ..., targets: [ ... ], rewrite: none } ]
 *                                       # rewrite: none | host | uri
 *     pass_failure: true
 *     pass_provisional: true
 *     headers: [ "X-Leg: B" ]            # added to B's INVITE
 *     proxy_request_headers: [ "X-Account" ]   # copied A → B
 *     proxy_response_headers: [ "X-Billing" ]  # copied B → A
 *     max_duration: 0                   # s; 0: none
 *     max_calls_per_caller: 0           # 0: none
 *     anonymous: false                  # true: From "Anonymous" <sip:anonymous@anonymous.invalid>
 *     from: "\"PBX\" <sip:pbx@example.com>"   # optional: B's From (else A's)
 *     final_timeout: 180                # s; timer C: B rings no longer
 *
 * B rings as long as it rings: A's INVITE waits for B's timers (timer B
 * when nothing comes back, 408; timer C once it rings: CANCEL, 408), not
 * for the core's request timeout.  A failure of A's leg (no PRACK, stop)
 * cancels B; a Session-Expires from A below Min-SE gets 422 (the core).
 */
#define _POSIX_C_SOURCE 200809L
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sipchain.h>

#define MAX_LIST   32
#define MAX_ROUTES 64

typedef enum { REWRITE_NONE, REWRITE_HOST, REWRITE_URI } rewrite_t;

typedef struct {
    const char *domain, *user_prefix, *target;
    rewrite_t   rewrite;
} route_t;

typedef struct caller {
    char          *who;
    unsigned       calls;
    struct caller *next;
} caller_t;

/* Calls up per caller, for max_calls_per_caller: kept across reloads
 * (sc_kept), so that calls of before a SIGHUP (which go on, on the chain
 * that made them) still count against their callers after it. */
typedef struct {
    caller_t *all;
} callers_t;

typedef struct {
    sc_instance_t           *inst;
    const char              *target;
    route_t                  routes[MAX_ROUTES];
    int                      nroutes;
    bool                     pass_failure, pass_provisional, anonymous;
    const char              *from;      /* configured From for B, or NULL */
    const char              *headers[MAX_LIST + 1], *req_hdrs[MAX_LIST + 1], *res_hdrs[MAX_LIST + 1];
    unsigned long            max_duration, max_per_caller, final_timeout;
    const sc_location_api_t *loc;
    callers_t               *callers;
    struct call             *calls;     /* answered, both legs up: the management API's list */
} b2b_t;

typedef struct call {
    b2b_t         *b;
    sc_dialog_t   *a_leg, *b_leg;
    caller_t      *caller;
    struct event  *limit;
    sc_res_t      *pending_res;     /* a request passed across, waiting */
    sc_res_t      *a_res;           /* A's INVITE's answer, until B answered */
    time_t         since;           /* answered (on b->calls from then) */
    struct call   *prev, *next;
} call_t;

static void on_admin(sc_instance_t *inst, sc_admin_call_t *call, void *arg);

/* --- config ---------------------------------------------------------------- */

static int strings(const sc_conf_node_t *conf, const char *key, const char **out, char *err, size_t errlen)
{
    const sc_conf_node_t *n = sc_conf_get(conf, key);
    int k = 0;
    for (const sc_conf_node_t *x = sc_conf_first(n); x; x = sc_conf_next(x)) {
        if (k == MAX_LIST)
            return sc_conf_error(err, errlen, x, "at most %d entries", MAX_LIST);
        if (sc_conf_string(x, &out[k++], err, errlen))
            return -1;
    }
    out[k] = NULL;
    return 0;
}

static void *callers_make(void *arg)
{
    (void)arg;
    return calloc(1, sizeof(callers_t));
}

static void callers_drop(void *obj)
{
    callers_t *cs = obj;
    for (caller_t *c = cs->all, *n; c; c = n) {
        n = c->next;
        free(c->who);
        free(c);
    }
    free(cs);
}

static int bb_create(sc_instance_t *inst, const sc_conf_node_t *conf, char *err, size_t errlen)
{
    static const char *const keys[] = { "target", "routes", "pass_failure", "pass_provisional", "headers",
                                        "proxy_request_headers", "proxy_response_headers",
                                        "max_duration", "max_calls_per_caller", "anonymous", "from",
                                        "final_timeout", NULL };
    b2b_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -1;
    sc_instance_set_data(inst, b);
    b->inst = inst;
    b->pass_failure = b->pass_provisional = true;
    if (sc_conf_check_keys(conf, keys, err, errlen))
        return -1;
    if (sc_admin_register(inst, "calls", on_admin, b) != 0)
        return -1;
    const sc_conf_node_t *n;
    if ((n = sc_conf_get(conf, "target")) && sc_conf_string(n, &b->target, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "pass_failure")) && sc_conf_bool(n, &b->pass_failure, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "pass_provisional")) && sc_conf_bool(n, &b->pass_provisional, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "anonymous")) && sc_conf_bool(n, &b->anonymous, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "from"))) {
        if (sc_conf_string(n, &b->from, err, errlen))
            return -1;
        if (strpbrk(b->from, "\r\n") || strchr(b->from, ':') == NULL)
            return sc_conf_error(err, errlen, n, "from is a From value with a SIP URI, one line");
        if (b->anonymous)
            return sc_conf_error(err, errlen, n, "\"from\" and \"anonymous: true\": one or the other");
    }
    if ((n = sc_conf_get(conf, "max_duration")) && sc_conf_uint(n, 86400 * 7, &b->max_duration, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "final_timeout")) && sc_conf_uint(n, 3600, &b->final_timeout, err, errlen))
        return -1;
    if ((n = sc_conf_get(conf, "max_calls_per_caller")) &&
        sc_conf_uint(n, 1000000, &b->max_per_caller, err, errlen))
        return -1;
    if (strings(conf, "headers", b->headers, err, errlen) ||
        strings(conf, "proxy_request_headers", b->req_hdrs, err, errlen) ||
        strings(conf, "proxy_response_headers", b->res_hdrs, err, errlen))
        return -1;
    if ((b->callers = sc_kept(inst, "callers", callers_make, callers_drop, NULL)) == NULL)
        return -1;
    static const char *const rkeys[] = { "domain", "user_prefix", "targets", "rewrite", NULL };
    for (const sc_conf_node_t *r = sc_conf_first(sc_conf_get(conf, "routes")); r; r = sc_conf_next(r)) {
        if (b->nroutes == MAX_ROUTES)
            return sc_conf_error(err, errlen, r, "at most %d routes", MAX_ROUTES);
        route_t *rt = &b->routes[b->nroutes++];
        const sc_conf_node_t *k;
        if (sc_conf_check_keys(r, rkeys, err, errlen))
            return -1;
        if ((k = sc_conf_get(r, "domain")) && sc_conf_string(k, &rt->domain, err, errlen))
            return -1;
        if ((k = sc_conf_get(r, "user_prefix")) && sc_conf_string(k, &rt->user_prefix, err, errlen))
            return -1;
        const sc_conf_node_t *t = sc_conf_first(sc_conf_get(r, "targets"));
        if (t == NULL)
            return sc_conf_error(err, errlen, r, "a route needs \"targets\" (the first is called)");
        if (sc_conf_string(t, &rt->target, err, errlen))
            return -1;
        sc_str_t user, host;
        if (sc_uri_user_host((sc_str_t){ rt->target, strlen(rt->target) }, &user, &host) != 0)
            return sc_conf_error(err, errlen, t, "target \"%s\" is not a sip: or sips: URI", rt->target);
        const char *rw = "none";
        if ((k = sc_conf_get(r, "rewrite")) && sc_conf_string(k, &rw, err, errlen))
            return -1;
        if (strcmp(rw, "none") == 0)
            rt->rewrite = REWRITE_NONE;
        else if (strcmp(rw, "host") == 0)
            rt->rewrite = REWRITE_HOST;
        else if (strcmp(rw, "uri") == 0)
            rt->rewrite = REWRITE_URI;
        else
            return sc_conf_error(err, errlen, k, "rewrite is none, host or uri, not \"%s\"", rw);
        if (!rt->domain && !rt->user_prefix)
            return sc_conf_error(err, errlen, r, "a route matches on \"domain\" and/or \"user_prefix\"");
    }
    return 0;
}

static int bb_start(sc_instance_t *inst)
{
    b2b_t *b = sc_instance_data(inst);
    b->loc = sc_service_find(inst, SC_LOCATION_SERVICE);
    return 0;
}

static void bb_destroy(sc_instance_t *inst)
{
    b2b_t *b = sc_instance_data(inst);
    if (b == NULL)
        return;
    if (b->callers)
        sc_kept_release(inst, "callers", b->callers, callers_drop);
    free(b);
}

/* --- the call ---------------------------------------------------------------- */

static void call_end(call_t *c)
{
    if (c->since) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->b->calls = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    if (c->limit)
        event_free(c->limit);
    if (c->caller && --c->caller->calls == 0) {
        /* a caller with no call up is forgotten: the table, kept across
         * reloads, holds the callers of the calls up, not every caller
         * ever seen */
        for (caller_t **pp = &c->b->callers->all; *pp; pp = &(*pp)->next)
            if (*pp == c->caller) {
                *pp = c->caller->next;
                free(c->caller->who);
                free(c->caller);
                break;
            }
    }
    free(c);
}

static void on_bye_answered(const sc_response_t *r, void *arg)
{
    (void)r;
    (void)arg;
}

static void hang_up(call_t *c)
{
    sc_dialog_t *a = c->a_leg, *b = c->b_leg;
    c->a_leg = c->b_leg = NULL;
    if (a)
        sc_dialog_destroy(a, NULL, on_bye_answered, NULL);
    if (b)
        sc_dialog_destroy(b, NULL, on_bye_answered, NULL);
    call_end(c);
}

static void on_limit(evutil_socket_t fd, short what, void *arg)
{
    call_t *c = arg;
    (void)fd;
    (void)what;
    sc_instance_log(c->b->inst, SC_LOG_LEVEL_INFO, "%s: max_duration (%lu s) reached: ending the call",
                    sc_dialog_id(c->a_leg), c->b->max_duration);
    hang_up(c);
}

/* The other leg answered what we passed across: the same goes back. */
static void on_other_answered(const sc_response_t *r, void *arg)
{
    call_t *c = arg;
    unsigned st = sc_response_status(r);
    if (st < 200 || c->pending_res == NULL)
        return;
    sc_str_t body = sc_response_body(r);
    if (body.len) {
        sc_str_t ct = sc_response_header(r, "Content-Type");
        char type[128];
        snprintf(type, sizeof(type), "%.*s", (int)ct.len, ct.s);
        sc_res_set_body(c->pending_res, ct.len ? type : "application/sdp", body);
    }
    sc_res_send(c->pending_res, st, NULL);
    c->pending_res = NULL;
}

static void on_leg(sc_dialog_t *d, sc_dialog_event_t ev, sc_req_t *req, sc_res_t *res, void *arg)
{
    call_t *c = arg;
    sc_dialog_t *other = d == c->a_leg ? c->b_leg : c->a_leg;
    if (ev == SC_DIALOG_DESTROY) {              /* a BYE on one leg ends the other */
        if (d == c->a_leg)
            c->a_leg = NULL;
        else
            c->b_leg = NULL;
        hang_up(c);
        return;
    }
    if (other == NULL || c->pending_res) {      /* one request across at a time */
        sc_res_send(res, 491, NULL);
        return;
    }
    sc_str_t body = sc_req_body(req);
    int rc;
    c->pending_res = res;
    if (ev == SC_DIALOG_MODIFY) {               /* re-INVITE: hold, unhold, a new offer */
        char *sdp = strndup(body.s ? body.s : "", body.len);
        rc = sdp ? sc_dialog_modify(other, sdp, on_other_answered, c) : -1;
        free(sdp);
    } else {                                    /* INFO, UPDATE */
        sc_str_t ct = sc_req_header(req, "Content-Type");
        char type[128];
        snprintf(type, sizeof(type), "%.*s", (int)ct.len, ct.s);
        sc_request_opts_t o = { .method = ev == SC_DIALOG_INFO ? "INFO" : "UPDATE",
                                .content_type = ct.len ? type : NULL, .body = body };
        rc = sc_dialog_request(other, &o, on_other_answered, c);
    }
    if (rc != 0) {
        c->pending_res = NULL;
        sc_res_send(res, 500, "Server Internal Error (cannot reach the other leg)");
    }
}

static void tie(call_t *c, sc_dialog_t *d)
{
    static const sc_dialog_event_t evs[] = { SC_DIALOG_DESTROY, SC_DIALOG_MODIFY, SC_DIALOG_INFO,
                                             SC_DIALOG_UPDATE };
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        sc_dialog_on(d, evs[i], on_leg, c);
}

static void on_b2b(sc_dialog_t *uas, sc_dialog_t *uac, const sc_response_t *r, void *arg)
{
    call_t *c = arg;
    if (uas == NULL) {                          /* B failed */
        unsigned st = sc_response_status(r);
        if (!c->b->pass_failure && st != 487) { /* A hears of it from us */
            char why[80];
            snprintf(why, sizeof(why), "Temporarily Unavailable (the callee answered %u)", st);
            sc_res_send(c->a_res, 480, why);
        }
        call_end(c);
        return;
    }
    c->a_leg = uas;
    c->b_leg = uac;
    tie(c, uas);
    tie(c, uac);
    c->since = time(NULL);
    c->next = c->b->calls;
    if (c->next)
        c->next->prev = c;
    c->b->calls = c;
    if (c->b->max_duration) {
        c->limit = evtimer_new(sc_instance_base(c->b->inst), on_limit, c);
        struct timeval tv = { (time_t)c->b->max_duration, 0 };
        if (c->limit)
            evtimer_add(c->limit, &tv);
    }
}

/* --- the management resource, "calls" ------------------------------------
 *   GET    /v1/calls        the answered calls of this link: both legs
 *   DELETE /v1/calls/ID     ends one (ID: A's dialog id): BYE to both sides */

static void put_leg(sc_admin_call_t *call, const char *name, sc_dialog_t *d)
{
    sc_admin_printf(call, ",\"%s\":{\"dialog\":", name);
    sc_admin_json_str(call, (sc_str_t){ sc_dialog_id(d), strlen(sc_dialog_id(d)) });
    sc_admin_printf(call, ",\"call_id\":");
    sc_admin_json_str(call, sc_dialog_call_id(d));
    sc_admin_printf(call, ",\"local_uri\":");
    sc_admin_json_str(call, sc_dialog_local_uri(d));
    sc_admin_printf(call, ",\"remote_uri\":");
    sc_admin_json_str(call, sc_dialog_remote_uri(d));
    sc_admin_printf(call, "}");
}

static void on_admin(sc_instance_t *inst, sc_admin_call_t *call, void *arg)
{
    b2b_t *b = arg;
    const char *m = sc_admin_method(call), *id = sc_admin_item(call);
    if (id[0] == '\0') {
        if (strcmp(m, "GET") != 0) {
            sc_admin_fail(call, 405, "%s is not allowed on the list: GET it, or DELETE one call", m);
            return;
        }
        time_t now = time(NULL);
        sc_admin_reply(call, 200);
        sc_admin_printf(call, "{\"calls\":[");
        for (call_t *c = b->calls; c; c = c->next) {
            if (c->a_leg == NULL || c->b_leg == NULL)
                continue;
            sc_admin_printf(call, "%s{\"id\":", c == b->calls ? "" : ",");
            sc_admin_json_str(call, (sc_str_t){ sc_dialog_id(c->a_leg), strlen(sc_dialog_id(c->a_leg)) });
            sc_admin_printf(call, ",\"duration_s\":%ld", (long)(now - c->since));
            put_leg(call, "a", c->a_leg);
            put_leg(call, "b", c->b_leg);
            sc_admin_printf(call, "}");
        }
        sc_admin_printf(call, "]}\n");
        return;
    }
    if (strcmp(m, "DELETE") != 0) {
        sc_admin_fail(call, 405, "%s is not allowed on a call: DELETE ends it", m);
        return;
    }
    for (call_t *c = b->calls; c; c = c->next)
        if (c->a_leg && strcmp(sc_dialog_id(c->a_leg), id) == 0) {
            sc_instance_log(inst, SC_LOG_LEVEL_INFO, "%s: ended through the management API", id);
            hang_up(c);
            sc_admin_reply(call, 200);
            sc_admin_printf(call, "{\"ended\":");
            sc_admin_json_str(call, (sc_str_t){ id, strlen(id) });
            sc_admin_printf(call, "}\n");
            return;
        }
    sc_admin_fail(call, 404, "no call \"%s\" (GET /v1/calls lists them)", id);
}

/* --- who B sees calling ------------------------------------------------------ */

/* "Name: " + an address header value v without its tag parameter (a
 * parameter of the header, after the URI's '>' or, without <>, after the
 * URI), into out; false when it does not fit. */
static bool without_tag(const char *name, sc_str_t v, char *out, size_t cap)
{
    size_t at = 0;
    const char *gt = v.len ? memchr(v.s, '>', v.len) : NULL;
    if (gt)
        at = (size_t)(gt - v.s) + 1;
    else if (v.len && memchr(v.s, ';', v.len))
        at = (size_t)((const char *)memchr(v.s, ';', v.len) - v.s);
    size_t tag = v.len, end = v.len;
    for (size_t i = at; i < v.len; i++)
        if (v.s[i] == ';') {
            size_t j = i + 1;
            while (j < v.len && (v.s[j] == ' ' || v.s[j] == '\t'))
                j++;
            if (v.len - j >= 3 && strncasecmp(v.s + j, "tag", 3) == 0 &&
                (j + 3 == v.len || v.s[j + 3] == '=' || v.s[j + 3] == ' ' || v.s[j + 3] == ';')) {
                tag = i;
                for (end = j; end < v.len && v.s[end] != ';'; end++)
                    ;
                break;
            }
        }
    int n = snprintf(out, cap, "%s: %.*s%.*s", name, (int)tag, v.s, (int)(v.len - end), v.s + end);
    return n > 0 && (size_t)n < cap;
}

static bool has_header(const char *const *lines, const char *name)
{
    size_t n = strlen(name);
    for (; lines && *lines; lines++)
        if (strncasecmp(*lines, name, n) == 0 && ((*lines)[n] == ':' || (*lines)[n] == ' '))
            return true;
    return false;
}

/* --- where B is ---------------------------------------------------------------- */

static caller_t *caller_of(b2b_t *b, const char *who)
{
    for (caller_t *c = b->callers->all; c; c = c->next)
        if (strcmp(c->who, who) == 0)
            return c;
    caller_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->who = strdup(who)) == NULL) {
        free(c);
        return NULL;
    }
    c->next = b->callers->all;
    b->callers->all = c;
    return c;
}

/* The first route that matches ruri; with by_prefix, only among the
 * routes with a user_prefix. */
static const route_t *find_route(const b2b_t *b, sc_str_t ruri, bool by_prefix)
{
    for (int i = 0; i < b->nroutes; i++)
        if ((!by_prefix || b->routes[i].user_prefix) &&
            sc_uri_matches(ruri, b->routes[i].domain, b->routes[i].user_prefix))
            return &b->routes[i];
    return NULL;
}

/* Where host[:port] is in a sip:/sips: URI (with an IPv6 reference's
 * brackets): [*s, *e).  0, or -1 when it is not one. */
static int hostport_of(sc_str_t uri, const char **s, const char **e)
{
    sc_str_t user, host;
    if (sc_uri_user_host(uri, &user, &host) != 0)
        return -1;
    const char *p = host.s + host.len, *end = uri.s + uri.len;
    *s = host.s;
    if (p < end && *p == ']' && host.s > uri.s && host.s[-1] == '[')
        (*s)--, p++;
    if (p < end && *p == ':')
        while (++p < end && *p >= '0' && *p <= '9')
            ;
    *e = p;
    return 0;
}

/* B's Request-URI and outbound proxy for route rt and A's Request-URI:
 * 0, or -1 when it cannot be written. */
static int route_to(const route_t *rt, sc_str_t ruri, char *target, size_t tlen, char *proxy, size_t plen)
{
    sc_str_t t = { rt->target, strlen(rt->target) };
    const char *rs, *re, *ts, *te;
    int n;
    switch (rt->rewrite) {
    case REWRITE_URI:
        n = snprintf(target, tlen, "%s", rt->target);
        return n > 0 && (size_t)n < tlen ? 0 : -1;
    case REWRITE_HOST:
        if (hostport_of(ruri, &rs, &re) || hostport_of(t, &ts, &te))
            return -1;
        n = snprintf(target, tlen, "%.*s%.*s%.*s", (int)(rs - ruri.s), ruri.s, (int)(te - ts), ts,
                     (int)(ruri.s + ruri.len - re), re);
        return n > 0 && (size_t)n < tlen ? 0 : -1;
    default:                        /* A's Request-URI, the target as the next hop */
        n = snprintf(target, tlen, "%.*s", (int)ruri.len, ruri.s);
        if (n <= 0 || (size_t)n >= tlen || strlen(rt->target) >= plen)
            return -1;
        /* its ;lr is the one the Route gets */
        const char *lr = strstr(rt->target, ";lr");
        if (lr && (lr[3] == '\0' || lr[3] == ';' || lr[3] == '?'))
            snprintf(proxy, plen, "%.*s%s", (int)(lr - rt->target), rt->target, lr + 3);
        else
            snprintf(proxy, plen, "%s", rt->target);
        return 0;
    }
}

static void bb_handle(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    b2b_t *b = sc_instance_data(inst);
    sc_str_t m = sc_req_method(req);
    if (m.len != 6 || memcmp(m.s, "INVITE", 6) != 0) {
        sc_next(req);
        return;
    }
    char uri[1024], target[1024], who[512], route[1024] = "";
    sc_str_t ruri = sc_req_uri(req);
    snprintf(uri, sizeof(uri), "%.*s", (int)ruri.len, ruri.s);
    snprintf(target, sizeof(target), "%s", b->target ? b->target : uri);
    bool local = b->loc && b->loc->serves(b->loc, uri);
    const route_t *rt = find_route(b, ruri, local);     /* local: by user prefix first */
    if (local && rt == NULL) {
        sc_location_t l;
        if (b->loc->lookup(b->loc, uri, &l, 1) > 0) {
            snprintf(target, sizeof(target), "%s", l.uri);
            const char *lt, *gt;
            if (l.path && (lt = strchr(l.path, '<')) && (gt = strchr(lt, '>')))
                snprintf(route, sizeof(route), "%.*s", (int)(gt - lt - 1), lt + 1);
        } else if ((rt = find_route(b, ruri, false)) == NULL) {    /* no binding */
            sc_res_send(res, 404, "Not Found (no registered contact)");
            return;
        }
    }
    if (rt && route_to(rt, ruri, target, sizeof(target), route, sizeof(route)) != 0) {
        sc_res_send(res, 500, "Server Internal Error (cannot route the Request-URI)");
        return;
    }
    sc_str_t from = sc_req_from_uri(req);
    if (sc_uri_aor(from, who, sizeof(who)) < 0)
        snprintf(who, sizeof(who), "%.*s", (int)from.len, from.s);
    caller_t *caller = b->max_per_caller ? caller_of(b, who) : NULL;
    if (caller && caller->calls >= b->max_per_caller) {
        char why[96];
        snprintf(why, sizeof(why), "Forbidden (at most %lu calls at once)", b->max_per_caller);
        sc_res_send(res, 403, why);
        return;
    }
    call_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        sc_res_send(res, 500, NULL);
        return;
    }
    c->b = b;
    c->a_res = res;
    /* B sees A calling (the From and To A sent), unless hidden */
    const char *hdrs[MAX_LIST + 3];
    char from_line[1024], to_line[1024];
    int nh = 0;
    if (!has_header(b->headers, "From")) {
        if (b->anonymous)
            snprintf(from_line, sizeof(from_line), "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>");
        else if (b->from)
            snprintf(from_line, sizeof(from_line), "From: %s", b->from);
        else if (!without_tag("From", sc_req_header(req, "From"), from_line, sizeof(from_line)))
            from_line[0] = '\0';
        if (from_line[0])
            hdrs[nh++] = from_line;
    }
    if (!has_header(b->headers, "To") && without_tag("To", sc_req_header(req, "To"), to_line, sizeof(to_line)))
        hdrs[nh++] = to_line;
    for (int i = 0; b->headers[i]; i++)
        hdrs[nh++] = b->headers[i];
    hdrs[nh] = NULL;
    sc_b2bua_opts_t o = SC_B2BUA_OPTS_INIT;
    o.uri = target;
    o.headers = hdrs;
    o.proxy_request_headers = b->req_hdrs;
    o.proxy_response_headers = b->res_hdrs;
    o.pass_failure = b->pass_failure;
    o.pass_provisional = b->pass_provisional;
    o.proxy = route[0] ? route : NULL;
    o.final_timeout_s = (unsigned)b->final_timeout;
    if ((c->caller = caller) != NULL)
        caller->calls++;                /* before: B's answer may come at once */
    if (sc_b2bua_create(req, res, &o, on_b2b, c) == NULL) {
        call_end(c);
        sc_res_send(res, 500, "Server Internal Error (cannot call B)");
    }
}

const sc_module_t sc_module = {
    SC_MODULE_HEADER,
    .name = "b2bua",
    .version = "1.0",
    .create = bb_create,
    .start = bb_start,
    .handle = bb_handle,
    .destroy = bb_destroy,
};
