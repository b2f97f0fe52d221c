/*
 * request.c — requests a module sends itself, outside any dialog
 * (sc_request, drachtio-srf's srf.request): built here, routed by the
 * transport set (§18.1.1), run by a client transaction, their responses
 * handed to the module's callback.
 *
 * Ownership: each outstanding request is a uac_t on its chain's list
 * until its transaction terminates; the chain counts it as pending, so a
 * reload keeps the old chain (and the module's code) until the answer
 * is in.  Dropping the list (chain freed at stop) silences callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "chain_impl.h"
#include "sc_log.h"

struct uac {
    sc_chain_t    *chain;
    sc_instance_t *inst;
    sc_response_cb cb;
    void          *arg;
    void         (*on_request)(sc_str_t sent, void *arg);
    sc_txn_t      *txn;         /* the current target's */
    unsigned       ntxns;       /* transactions not yet terminated */
    bool           final;       /* the final response was delivered */
    bool           answered;    /* a response came: no failover any more */
    sc_link_t      link;        /* on the chain's list */
    /* a host name: what to build again for each target (RFC 3263) */
    sc_out_t       out;
    sc_resolve_t  *resolving;
    sc_target_t    targets[SC_MAX_TARGETS];
    int            ntargets, at;
    bool           by_size;     /* the current went over TCP for its size only */
};

unsigned sc_response_status(const sc_response_t *r) { return r->status; }
sc_str_t sc_response_reason(const sc_response_t *r)
{
    return r->msg ? r->msg->reason : sc_str_cstr(r->reason);
}
sc_str_t sc_response_body(const sc_response_t *r)
{
    return r->msg ? r->msg->body : SC_STR_NULL;
}
sc_str_t sc_response_raw(const sc_response_t *r)
{
    return r->msg ? sc_str(r->msg->buf, r->msg->len) : SC_STR_NULL;
}
sc_str_t sc_response_header(const sc_response_t *r, const char *name)
{
    sc_hdr_t *h = r->msg ? sc_msg_find_header(r->msg, sc_str_cstr(name)) : NULL;
    return h ? h->value : SC_STR_NULL;
}

/* The module sees what left (sc_request_opts_t.on_request). */
static void sent(uac_t *u)
{
    if (u->on_request)
        u->on_request(sc_msg_serialize(sc_txn_request(u->txn)), u->arg);
}

static void uac_unlink(uac_t *u)
{
    sc_list_remove(&u->chain->uacs, &u->link);
}

static void deliver(uac_t *u, const sc_response_t *res)
{
    if (u->final)
        return;
    u->final = res->status >= 200;
    u->cb(res, u->arg);
}


static void uac_free(uac_t *u)
{
    if (u->resolving)
        sc_resolve_cancel(u->resolving);
    sc_out_copy_free(&u->out);
    free(u);
}

static bool send_next(uac_t *u);
static void on_txn(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg);

/* §18.1.1: TCP, taken for the size alone, refused or reset: the peer may
 * take UDP only (a phone); the same request to the same target over UDP */
static bool again_over_udp(uac_t *u, sc_txn_t *t)
{
    char err[256];
    sc_tp_route_t route;
    const sc_target_t *target = u->ntargets ? &u->targets[u->at - 1] : NULL;
    sc_msg_t *m = sc_out_again_over_udp(&u->chain->stack, &u->out, target, sc_txn_request(t), &route,
                                        err, sizeof(err));
    sc_txn_t *txn = m ? sc_txn_client_new(u->chain->stack.txns, m, &route.flow, on_txn, u) : NULL;
    if (txn == NULL) {
        sc_log(SC_LOG_INFO, "sc_request: %s: not again over UDP: %s", u->out.uri, m ? "cannot send" : err);
        return false;
    }
    sc_log(SC_LOG_INFO, "sc_request: %s: TCP failed for a large request: again over UDP", u->out.uri);
    u->txn = txn;
    u->ntxns++;
    u->by_size = false;
    sent(u);
    return true;
}

static void on_txn(sc_txn_t *t, sc_txn_ev_t ev, const sc_msg_t *msg, void *arg)
{
    uac_t *u = arg;
    bool current = t == u->txn;
    if (ev == SC_TXN_EV_TRANSPORT_ERROR && current && !u->answered && u->by_size &&
        !u->out.udp_only && again_over_udp(u, t))
        return;
    /* §4.3 of RFC 3263: a timeout or transport error before any answer
     * moves on to the next target */
    if ((ev == SC_TXN_EV_TIMEOUT || ev == SC_TXN_EV_TRANSPORT_ERROR) && current && !u->answered &&
        u->at < u->ntargets && send_next(u))
        return;
    if (!current && ev != SC_TXN_EV_TERMINATED)
        return;
    switch (ev) {
    case SC_TXN_EV_RESPONSE: {
        sc_response_t r = { .msg = msg, .status = msg->status };
        u->answered = true;
        deliver(u, &r);
        break;
    }
    case SC_TXN_EV_TIMEOUT: {
        sc_response_t r = { .status = 408, .reason = "Request Timeout" };
        deliver(u, &r);
        break;
    }
    case SC_TXN_EV_TRANSPORT_ERROR: {
        sc_response_t r = { .status = 503, .reason = "Service Unavailable (transport error)" };
        deliver(u, &r);
        break;
    }
    case SC_TXN_EV_TERMINATED:
        if (--u->ntxns == 0 && u->resolving == NULL && (u->final || u->at >= u->ntargets)) {
            uac_unlink(u);
            uac_free(u);
        }
        break;
    default:
        break;
    }
}

/* Requests placed that the stop waits for: those still without their
 * final answer (or with a name left to resolve).  One answered only
 * waits out its transactions' tails (Timer K, an INVITE's Accepted or
 * Completed state), which deliver nothing more to its module (deliver()
 * ignores what follows the final): dropped at the stop, as the
 * proxies' (sc_chain_proxies_busy).  An INVITE's dialog, if one came
 * up, is the stop's to end with a BYE, not this transaction's. */
unsigned sc_chain_uacs_busy(const sc_chain_t *c)
{
    unsigned n = 0;
    for (const uac_t *u = sc_list_first(&c->uacs, uac_t, link); u; u = sc_list_next(u, uac_t, link))
        n += !u->final || u->resolving != NULL;
    return n;
}

void sc_chain_drop_uacs(sc_chain_t *c)
{
    uac_t *u;
    while ((u = sc_list_first(&c->uacs, uac_t, link)) != NULL) {
        sc_txn_set_tu(u->txn, NULL, NULL);      /* (an earlier target's ended already) */
        uac_unlink(u);
        uac_free(u);
    }
}

/* The destination a Request-URI names: numeric host, port, transport. */
int sc_uri_target(const sc_uri_t *u, struct sockaddr_storage *to, socklen_t *len,
                  sc_tp_kind_t *kind)
{
    char host[INET6_ADDRSTRLEN];
    if (u->host.len >= sizeof(host))
        return -1;
    memcpy(host, u->host.s, u->host.len);
    host[u->host.len] = '\0';
    uint16_t port = sc_uri_port_or_default(u);
    memset(to, 0, sizeof(*to));
    struct sockaddr_in *v4 = (struct sockaddr_in *)to;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)to;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof(*v6);
    } else {
        return -1;
    }
    /* no transport named: the transport layer picks (UDP when we have
     * it, else what we listen on) */
    *kind = u->scheme == SC_URI_SIPS || sc_str_caseeq_c(u->transport, "tls") ? SC_TP_TLS
          : sc_str_caseeq_c(u->transport, "tcp")                              ? SC_TP_TCP
          : u->transport.len                                                  ? SC_TP_UDP
                                                                              : SC_TP_ANY;
    return 0;
}

static bool given(const sc_out_t *o, const char *name)
{
    size_t n = strlen(name);
    for (const char *const *h = o->headers; h && *h; h++)
        if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
            return true;
    return false;
}

int sc_msg_add_lines(sc_msg_t *m, const char *const *lines)
{
    for (const char *const *h = lines; h && *h; h++) {
        const char *colon = strchr(*h, ':');
        if (colon == NULL)
            return -1;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (sc_msg_add_header(m, sc_str(*h, (size_t)(colon - *h)), sc_str_cstr(v), NULL) != 0)
            return -1;
    }
    return 0;
}

/* The request without its Via (which needs the route, which needs the
 * size); host is ours as the peer will see it; agent the User-Agent
 * unless the module gave one (NULL: none). */
static sc_msg_t *build(const sc_out_t *o, sc_method_t method, const char *host, sc_tp_kind_t kind,
                       const char *agent)
{
    sc_msg_t *m = sc_msg_new_request(method, sc_str_cstr(o->method), sc_str_cstr(o->uri));
    if (m == NULL)
        return NULL;
    char tag[17], cid[80], line[600];
    int rc = 0;
    if (o->proxy) {
        snprintf(line, sizeof(line), "<%s;lr>", o->proxy);
        rc |= sc_msg_add_header(m, SC_STR_LIT("Route"), sc_str_cstr(line), NULL);
    }
    rc |= sc_msg_add_header(m, SC_STR_LIT("Max-Forwards"), SC_STR_LIT("70"), NULL);
    if (!given(o, "From")) {
        sc_gen_tag(tag, 16);
        snprintf(line, sizeof(line), "<sip:sipchain@%s>;tag=%s", host, tag);
        rc |= sc_msg_add_header(m, SC_STR_LIT("From"), sc_str_cstr(line), NULL);
    }
    if (!given(o, "To")) {
        snprintf(line, sizeof(line), "<%s>", o->uri);
        rc |= sc_msg_add_header(m, SC_STR_LIT("To"), sc_str_cstr(line), NULL);
    }
    if (!given(o, "Call-ID")) {
        sc_gen_tag(cid, 24);
        rc |= sc_msg_add_header(m, SC_STR_LIT("Call-ID"), sc_str_cstr(cid), NULL);
    }
    if (!given(o, "CSeq")) {
        snprintf(line, sizeof(line), "1 %s", o->method);
        rc |= sc_msg_add_header(m, SC_STR_LIT("CSeq"), sc_str_cstr(line), NULL);
    }
    /* a request that makes a dialog says where the dialog reaches us */
    if ((method == SC_METHOD_INVITE || method == SC_METHOD_SUBSCRIBE) && !given(o, "Contact")) {
        snprintf(line, sizeof(line), kind == SC_TP_UDP ? "<sip:%s>" : "<sip:%s;transport=%s>", host,
                 sc_tp_name(kind));
        rc |= sc_msg_add_header(m, SC_STR_LIT("Contact"), sc_str_cstr(line), NULL);
    }
    if (rc == 0)
        rc = sc_msg_add_lines(m, o->headers);
    if (rc == 0 && agent && !given(o, "User-Agent"))
        rc = sc_msg_add_header(m, SC_STR_LIT("User-Agent"), sc_str_cstr(agent), NULL);
    /* RFC 3261 §8.1.1.3: a request outside a dialog carries a new From
     * tag.  A module naming the From itself (drachtio-srf sends
     * "sip:caller@localhost") may leave it out: it gets ours. */
    if (rc == 0 && m->from && m->from->tag.len == 0) {
        size_t cap = m->from->raw.len + 32;
        char *v = malloc(cap);
        sc_gen_tag(tag, 16);
        if (v)
            snprintf(v, cap, "%.*s;tag=%s", SC_STR_FMT(m->from->raw), tag);
        rc = v ? sc_msg_replace_header(m, SC_STR_LIT("From"), sc_str_cstr(v), NULL) : -1;
        free(v);
    }
    if (rc == 0 && sc_method_dialog_contact(method))
        rc = sc_msg_contact_name_addr(m);   /* whatever form the module wrote */
    if (rc == 0 && o->body.len)
        rc = sc_msg_set_body(m, sc_str_cstr(o->content_type ? o->content_type : "text/plain"), o->body);
    if (rc != 0 || m->from == NULL || m->to == NULL || !m->has_cseq || m->call_id.len == 0) {
        sc_msg_free(m);
        return NULL;
    }
    return m;
}

int sc_route_request(const sc_stack_t *st, const sc_msg_t *m, size_t size, sc_tp_route_t *route,
                     char *err, size_t errlen)
{
    const sc_uri_t *hop = m->route ? &m->route->uri : &m->ruri;
    struct sockaddr_storage to;
    socklen_t len;
    sc_tp_kind_t kind;
    if ((hop->scheme != SC_URI_SIP && hop->scheme != SC_URI_SIPS) ||
        sc_uri_target(hop, &to, &len, &kind) != 0) {
        snprintf(err, errlen, "cannot send to %.*s: the host must be a numeric sip: or sips: address",
                 SC_STR_FMT(hop->raw));
        return -1;
    }
    char host[256];
    snprintf(host, sizeof(host), "%.*s", SC_STR_FMT(hop->host));
    return sc_tp_route_host(st->tps, kind, (struct sockaddr *)&to, len, size, host, route, err, errlen);
}

int sc_push_via(sc_msg_t *m, const sc_tp_route_t *route)
{
    char branch[32], via[SC_HOSTPORT_LEN + 80];
    sc_gen_branch(branch, 24);
    snprintf(via, sizeof(via), "SIP/2.0/%s %s;branch=%s;rport", sc_tp_via_name(route->kind),
             route->sentby, branch);
    return sc_msg_add_header_first(m, SC_STR_LIT("Via"), sc_str_cstr(via), NULL);
}

/* Builds o for the route to target (or, target NULL, to its next hop,
 * which must then be numeric). */
sc_msg_t *sc_out_build_for(const sc_stack_t *st, const sc_out_t *o, const sc_target_t *target,
                           sc_tp_route_t *route, char *err, size_t errlen)
{
    sc_uri_t uri;
    const char *bad = sc_uri_parse(&uri, sc_str_cstr(o->uri));
    if (bad || (uri.scheme != SC_URI_SIP && uri.scheme != SC_URI_SIPS)) {
        snprintf(err, errlen, "cannot send to %s: %s", o->uri, bad ? bad : "not a sip: or sips: URI");
        return NULL;
    }
    sc_method_t method = sc_method_from_str(sc_str_cstr(o->method));
    sc_msg_t *m = build(o, method, "sipchain.invalid", SC_TP_UDP, st->agent);
    if (m == NULL) {
        snprintf(err, errlen, "cannot build %s (bad header?)", o->method);
        return NULL;
    }
    /* the size decides the transport, which decides our address in From,
     * Contact and Via: route on a draft, then build for real */
    size_t size = o->udp_only ? 0 : sc_msg_print(m, NULL, 0) + 160;   /* with the Via to come */
    int rc = target ? sc_tp_route(st->tps, target->kind, (const struct sockaddr *)&target->addr,
                                  target->len, size, route, err, errlen)
                    : sc_route_request(st, m, size, route, err, errlen);
    sc_msg_free(m);
    if (rc != 0)
        return NULL;
    if ((m = build(o, method, route->sentby, route->kind, st->agent)) == NULL || sc_push_via(m, route) != 0) {
        sc_msg_free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return m;
}

sc_msg_t *sc_out_build(const sc_stack_t *st, const sc_out_t *o, sc_tp_route_t *route, char *err,
                       size_t errlen)
{
    return sc_out_build_for(st, o, NULL, route, err, errlen);
}

sc_msg_t *sc_out_again_over_udp(const sc_stack_t *st, sc_out_t *o, const sc_target_t *target,
                                const sc_msg_t *first, sc_tp_route_t *route, char *err,
                                size_t errlen)
{
    o->udp_only = true;
    sc_msg_t *m = sc_out_build_for(st, o, target, route, err, errlen);
    if (m == NULL)
        return NULL;
    char cseq[64];
    snprintf(cseq, sizeof(cseq), "%u %.*s", first->cseq.num, SC_STR_FMT(first->cseq.method_str));
    const sc_hdr_t *from = sc_msg_find_header(first, SC_STR_LIT("From"));
    if (route->kind != SC_TP_UDP || from == NULL ||
        sc_msg_replace_header(m, SC_STR_LIT("Call-ID"), first->call_id, NULL) != 0 ||
        sc_msg_replace_header(m, SC_STR_LIT("From"), from->value, NULL) != 0 ||
        sc_msg_replace_header(m, SC_STR_LIT("CSeq"), sc_str_cstr(cseq), NULL) != 0) {
        snprintf(err, errlen, "cannot build it again for UDP");
        sc_msg_free(m);
        return NULL;
    }
    return m;
}

/* Whether the next hop of o (its proxy, else its URI) needs DNS. */
bool sc_out_needs_dns(const sc_out_t *o, sc_uri_t *hop)
{
    struct sockaddr_storage to;
    socklen_t len;
    sc_tp_kind_t kind;
    const char *text = o->proxy ? o->proxy : o->uri;
    return sc_uri_parse(hop, sc_str_cstr(text)) == NULL &&
           (hop->scheme == SC_URI_SIP || hop->scheme == SC_URI_SIPS) &&
           sc_uri_target(hop, &to, &len, &kind) != 0;
}

/* --- a request to a host name: resolved (RFC 3263), then sent to each
 * target in turn while they fail with a transport error or timeout
 * (§4.3) ----------------------------------------------------------------- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void sc_out_copy_free(sc_out_t *o)
{
    free((char *)o->method);
    free((char *)o->uri);
    free((char *)o->content_type);
    free((char *)o->proxy);
    free((char *)o->body.s);
    for (char **h = (char **)o->headers; h && *h; h++)
        free(*h);
    free((char **)o->headers);
    memset(o, 0, sizeof(*o));
}

int sc_out_copy(sc_out_t *dst, const sc_out_t *o)
{
    size_t n = 0;
    while (o->headers && o->headers[n])
        n++;
    char **h = calloc(n + 1, sizeof(*h));
    char *body = o->body.len ? malloc(o->body.len) : NULL;
    *dst = (sc_out_t){ .method = dup_or_null(o->method), .uri = dup_or_null(o->uri),
                       .content_type = dup_or_null(o->content_type), .headers = (const char *const *)h,
                       .body = { body, o->body.len }, .proxy = dup_or_null(o->proxy) };
    bool ok = h && dst->method && dst->uri && (o->body.len == 0 || body) &&
              (o->proxy == NULL || dst->proxy);
    for (size_t i = 0; ok && i < n; i++)
        ok = (h[i] = strdup(o->headers[i])) != NULL;
    if (ok && body)
        memcpy(body, o->body.s, o->body.len);
    if (!ok)
        sc_out_copy_free(dst);
    return ok ? 0 : -1;
}

/* Sends to the next target; false when none is left or none can be
 * sent to. */
static bool send_next(uac_t *u)
{
    char err[256];
    while (u->at < u->ntargets) {
        sc_tp_route_t route;
        const sc_target_t *t = &u->targets[u->at++];
        sc_msg_t *m = sc_out_build_for(&u->chain->stack, &u->out, t, &route, err, sizeof(err));
        sc_txn_t *txn = m ? sc_txn_client_new(u->chain->stack.txns, m, &route.flow, on_txn, u) : NULL;
        if (txn) {
            u->txn = txn;
            u->ntxns++;
            u->by_size = route.by_size;
            sent(u);
            return true;
        }
        sc_log(SC_LOG_INFO, "sc_request: %s: target %d of %d: %s", u->out.uri, u->at, u->ntargets,
               m ? "cannot send" : err);
    }
    return false;
}

static void on_resolved(const sc_target_t *t, int n, const char *why, void *arg)
{
    uac_t *u = arg;
    u->resolving = NULL;
    memcpy(u->targets, t, sizeof(*t) * (size_t)n);
    u->ntargets = n;
    if (!send_next(u)) {
        char reason[400];
        unsigned status = n ? 503 : sc_resolve_fail_status(why);
        snprintf(reason, sizeof(reason), "%s (%s)",
                 status == 408 ? "Request Timeout" : "Service Unavailable",
                 n ? "no target reachable" : why);
        deliver(u, &(sc_response_t){ .status = status, .reason = reason });
        uac_unlink(u);
        uac_free(u);
    }
}

const char *sc_instance_error(const sc_instance_t *inst)
{
    return inst ? inst->error : "";
}

void sc_instance_set_error(sc_instance_t *inst, const char *why)
{
    if (strncmp(why, SC_TP_UNAVAILABLE, strlen(SC_TP_UNAVAILABLE)) == 0)
        why = SC_TP_UNAVAILABLE;        /* the detail went to the log */
    snprintf(inst->error, sizeof(inst->error), "%s", why);
}

int sc_request(sc_instance_t *inst, const sc_request_opts_t *o, sc_response_cb cb, void *arg)
{
    sc_chain_t *c = inst->chain;
    char err[256];
    if (c->stack.txns == NULL || o->method == NULL || o->uri == NULL || cb == NULL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: no method, URI or callback");
        return -1;
    }
    sc_method_t method = sc_method_from_str(sc_str_cstr(o->method));
    if (method == SC_METHOD_INVITE || method == SC_METHOD_ACK || method == SC_METHOD_CANCEL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: %s needs a dialog or a transaction",
                        o->method);
        return -1;
    }
    sc_out_t out = { .method = o->method, .uri = o->uri, .headers = o->headers,
                     .content_type = o->content_type, .body = o->body };
    sc_uri_t hop;
    if (sc_out_needs_dns(&out, &hop)) {
        uac_t *u = calloc(1, sizeof(*u));
        if (u == NULL || c->stack.resolver == NULL || sc_out_copy(&u->out, &out) != 0) {
            sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: %s %s: %s", o->method, o->uri,
                            u && c->stack.resolver == NULL ? "no resolver" : "out of memory");
            free(u);
            return -1;
        }
        *u = (uac_t){ .chain = c, .inst = inst, .cb = cb, .arg = arg, .out = u->out,
                      .on_request = o->on_request };
        sc_list_push(&c->uacs, &u->link);
        u->resolving = sc_resolve(c->stack.resolver, &hop, false, on_resolved, u);
        if (u->resolving == NULL) {
            uac_unlink(u);
            uac_free(u);
            return -1;
        }
        return 0;
    }
    sc_tp_route_t route;
    sc_msg_t *m = sc_out_build(&c->stack, &out, &route, err, sizeof(err));
    uac_t *u = m ? calloc(1, sizeof(*u)) : NULL;
    /* kept to build again over UDP should TCP, taken for the size, fail */
    if (u && route.by_size && sc_out_copy(&u->out, &out) != 0) {
        free(u);
        u = NULL;
    }
    if (u == NULL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: %s %s: %s", o->method, o->uri,
                        m ? "out of memory" : err);
        sc_instance_set_error(inst, m ? "out of memory" : err);
        sc_msg_free(m);
        return -1;
    }
    *u = (uac_t){ .chain = c, .inst = inst, .cb = cb, .arg = arg, .on_request = o->on_request,
                  .out = u->out, .by_size = route.by_size };
    u->txn = sc_txn_client_new(c->stack.txns, m, &route.flow, on_txn, u);
    if (u->txn == NULL) {
        sc_instance_log(inst, SC_LOG_LEVEL_ERROR, "sc_request: %s %s: cannot send", o->method,
                        o->uri);
        uac_free(u);
        return -1;
    }
    u->ntxns = 1;
    sc_list_push(&c->uacs, &u->link);
    sent(u);
    return 0;
}
